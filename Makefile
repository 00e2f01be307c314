# secretsd — build, run and test.
#   make          build the server, the core library and the plugins
#   make run      install what is missing, build, start on 127.0.0.1:8420 with ./data
#   make test     install what is missing, build, run unit + integration + sanitizer tiers
#   make deps     install system packages (apt, pip) idempotently
#   make clean / make install PREFIX=/usr/local

BUILD   ?= build
PREFIX  ?= /usr/local
PYTHON  ?= python3
SAN     ?=
CC      ?= cc

# libdb5.3-dev ships no .pc file; mk/pkgconfig has one. (make 4.3's $(shell)
# does not see exported variables, so the path is passed on each call.)
PKGCONF := PKG_CONFIG_PATH=$(CURDIR)/mk/pkgconfig:$(PKG_CONFIG_PATH) pkg-config
PKGS    := libevent libevent_pthreads libevent_openssl jansson libssl libcrypto libcurl inih libdb-5.3

CFLAGS_BASE := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation \
               -D_GNU_SOURCE -Iinclude -Icore -g -MMD -MP -fPIC
# Test builds (the default) compile in crash points that only act when
# SECRETSD_CRASH_AT names them; RELEASE=1 (used by `make install`) leaves them out.
ifeq ($(SAN),1)
  CFLAGS_OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -DSD_TEST_BUILD=1
  LDFLAGS_SAN := -fsanitize=address,undefined
else ifeq ($(RELEASE),1)
  CFLAGS_OPT := -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
  LDFLAGS_SAN := -Wl,-z,relro,-z,now
else
  CFLAGS_OPT := -O2 -DSD_TEST_BUILD=1
  LDFLAGS_SAN :=
endif

PKG_CFLAGS := $(shell $(PKGCONF) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKGCONF) --libs $(PKGS) 2>/dev/null)
CFLAGS  = $(CFLAGS_BASE) $(CFLAGS_OPT) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  = $(PKG_LIBS) -lpthread -ldl -lm
LDFLAGS = $(LDFLAGS_SAN)

CORE_SRC  := $(filter-out core/main.c,$(wildcard core/*.c))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SDK_TEST_SRC := $(wildcard sdk/tests/test_*.c)
SDK_TEST_BIN := $(SDK_TEST_SRC:sdk/tests/%.c=$(BUILD)/tests/sdk_%)

# Plugins: one folder each under plugins/; plugins/NAME/plugin.mk may set
# NAME_PKGS (pkg-config names) and NAME_LIBS. Built with hidden visibility:
# only the entry symbol is exported.
PLUGINS    := $(notdir $(patsubst %/,%,$(wildcard plugins/*/)))
PLUGIN_SO  := $(PLUGINS:%=$(BUILD)/plugins/%.so)
SDK_SRC    := $(wildcard sdk/lib/*.c)
SDK_OBJ    := $(SDK_SRC:%.c=$(BUILD)/%.o)
TEST_PLUGIN_SRC := $(wildcard tests/plugins/*.c)
TEST_PLUGIN_SO  := $(TEST_PLUGIN_SRC:tests/plugins/%.c=$(BUILD)/test-plugins/%.so)
PLUGIN_CFLAGS = $(CFLAGS_BASE) $(CFLAGS_OPT) -fvisibility=hidden -Isdk/include $(EXTRA_CFLAGS)
-include $(wildcard plugins/*/plugin.mk)

.PHONY: all deps run test unit integration sanitize clean install docs-check
all: $(BUILD)/secretsd $(PLUGIN_SO) $(TEST_PLUGIN_SO) $(if $(wildcard sdk/plugin-test.c),$(BUILD)/secretsd-plugin-test)

deps:
	@bash tools/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libsecretsd.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/secretsd: $(BUILD)/core/main.o $(BUILD)/libsecretsd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libsecretsd_sdk.a: $(SDK_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sdk/%.o: sdk/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -c $< -o $@

.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(wildcard plugins/$$*/*.c plugins/$$*/*.h) $(BUILD)/libsecretsd_sdk.a include/secretsd/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(shell $(PKGCONF) --cflags $($*_PKGS) 2>/dev/null) -shared -o $@ \
		$(filter %.c,$^) $(BUILD)/libsecretsd_sdk.a $(LDFLAGS_SAN) \
		$(shell $(PKGCONF) --libs $($*_PKGS) 2>/dev/null) $($*_LIBS)
	sha256sum $@ | cut -d' ' -f1 > $@.sha256

$(BUILD)/test-plugins/%.so: tests/plugins/%.c $(BUILD)/libsecretsd_sdk.a include/secretsd/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -o $@ $< $(BUILD)/libsecretsd_sdk.a $(LDFLAGS_SAN)

$(BUILD)/secretsd-plugin-test: $(BUILD)/sdk/plugin-test.o $(BUILD)/libsecretsd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libsecretsd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell $(PKGCONF) --libs cmocka)

# deps first, then a fresh make that sees the installed libraries
run: deps
	@$(MAKE) --no-print-directory all
	@bash tools/run-dev.sh $(BUILD)/secretsd

$(BUILD)/tests/sdk_%: sdk/tests/%.c $(BUILD)/libsecretsd_sdk.a
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(shell $(PKGCONF) --cflags cmocka) -o $@ $< $(BUILD)/libsecretsd_sdk.a $(LDFLAGS_SAN) $(shell $(PKGCONF) --libs cmocka) $(shell $(PKGCONF) --libs libcrypto)

# Unit tests run from the repository root so that they find ../shared/vectors.
unit: all $(UNIT_BIN) $(SDK_TEST_BIN)
	@set -e; for t in $(UNIT_BIN) $(SDK_TEST_BIN); do echo "== $$t"; $$t; done

integration: all
	SECRETSD_BIN=$(CURDIR)/$(BUILD)/secretsd $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration tests/docs

sanitize:
	$(MAKE) BUILD=build/asan SAN=1 unit integration

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(MAKE) sanitize
	$(MAKE) contract
	$(MAKE) fuzz-smoke

install:
	$(MAKE) BUILD=build/release RELEASE=1 all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/secretsd $(DESTDIR)$(PREFIX)/lib/secretsd/plugins
	install -m 0755 build/release/secretsd $(DESTDIR)$(PREFIX)/bin/secretsd
	install -m 0644 include/secretsd/*.h sdk/include/secretsd/*.h $(DESTDIR)$(PREFIX)/include/secretsd/
	install -m 0644 build/release/libsecretsd_sdk.a $(DESTDIR)$(PREFIX)/lib/
	for p in build/release/plugins/*.so; do install -m 0755 $$p $(DESTDIR)$(PREFIX)/lib/secretsd/plugins/; done

# make bench: secretsd against OpenBao and a libevent ceiling, on loopback
# (bench/, results in bench/results/<date>.json and docs/benchmarks.md).
# SCALE=1 adds reads over 1,000,000 secrets; BENCH_ARGS go to bench/run.py.
# Its extra dependencies (OpenBao, perf, strace) come from bench/deps.sh, not
# from `make deps`: `make test` needs none of them.
.PHONY: bench
bench: deps
	@$(MAKE) --no-print-directory all
	@bash bench/deps.sh
	@mkdir -p $(BUILD)/bench
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -o $(BUILD)/bench/loadgen bench/loadgen.c -lpthread
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -o $(BUILD)/bench/ceiling bench/ceiling.c \
		$(shell $(PKGCONF) --cflags --libs libevent libevent_pthreads) -lpthread
	$(PYTHON) bench/run.py --build $(BUILD) $(if $(filter 1,$(SCALE)),--scale) $(BENCH_ARGS)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- fuzzing: libFuzzer targets in tests/fuzz/ (see tests/fuzz/README.md) ------------
#   make fuzz          every target for FUZZ_SECONDS each (default 300)
#   make fuzz-smoke    replay tests/fuzz/regressions/, then every target for
#                      FUZZ_SMOKE_SECONDS each (default 30); part of `make test`
# clang builds the core with ASan+UBSan and coverage into build/fuzz/; the
# seed corpora are copied to build/fuzz/corpus-work/, never written back.
FUZZ_CC            ?= clang
FUZZ_BUILD         := build/fuzz
FUZZ_SECONDS       ?= 300
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_NAMES         := http json jwt scope config plugins evidence $(if $(wildcard sdk/lib/sigv4.c),sigv4)
FUZZ_BINS          := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/bin/fuzz_%)
FUZZ_PLUGIN        := $(CURDIR)/$(FUZZ_BUILD)/plain/test-plugins/good_minimal.so
FUZZ_CFLAGS         = -std=c11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -Werror \
                      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                      -Iinclude -Icore -Isdk/include $(PKG_CFLAGS) -DFUZZ_PLUGIN_SO='"$(FUZZ_PLUGIN)"'

.PHONY: fuzz fuzz-smoke fuzz-build
# The core and SDK with coverage; the plugin that the http and plugins
# targets dlopen without it (libFuzzer cannot follow a module that is
# unloaded and loaded again).
fuzz-build:
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SAN=1 \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link -Wno-unknown-warning-option" \
		$(FUZZ_BUILD)/libsecretsd.a $(FUZZ_BUILD)/libsecretsd_sdk.a
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD)/plain CC=$(FUZZ_CC) SAN=1 \
		EXTRA_CFLAGS="-Wno-unknown-warning-option" $(FUZZ_BUILD)/plain/test-plugins/good_minimal.so
	$(MAKE) --no-print-directory $(FUZZ_BINS)

$(FUZZ_BUILD)/bin/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_BUILD)/libsecretsd.a $(FUZZ_BUILD)/libsecretsd_sdk.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_BUILD)/libsecretsd.a $(FUZZ_BUILD)/libsecretsd_sdk.a $(LDLIBS)

fuzz: fuzz-build
	bash tests/fuzz/run.sh long $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-smoke: fuzz-build
	bash tests/fuzz/run.sh smoke $(FUZZ_SMOKE_SECONDS) $(FUZZ_NAMES)

# --- reliability: valgrind and the API contract (issue #8) ------------------------------
#   make check-valgrind  a short integration subset (VALGRIND_TESTS) against
#                        $(BUILD)/secretsd under valgrind memcheck; fails on any
#                        memcheck error (invalid read/write, uninitialised use,
#                        bad free, definite leak); logs in $(BUILD)/valgrind-logs/
#   make contract        schemathesis against docs/openapi.yaml and a live server
#                        (tests/contract/; CONTRACT_EXAMPLES, CONTRACT_SEED)
VALGRIND_TESTS ?= tests/integration/test_secrets_api.py tests/integration/test_leases_api.py
# This test counts every line of the plugin's state file, and under valgrind the
# module outlives its 30 s leases, whose reaper revocations add lines meanwhile.
VALGRIND_PYTEST_ARGS ?= --deselect tests/integration/test_leases_api.py::test_reading_a_role_path_needs_secrets_read_on_that_path
.PHONY: check-valgrind contract
check-valgrind: all
	@command -v valgrind >/dev/null || { echo "check-valgrind: valgrind is not installed (apt-get install valgrind)"; exit 1; }
	@rm -rf $(BUILD)/valgrind-logs && mkdir -p $(BUILD)/valgrind-logs
	@install -m 0755 tests/valgrind/secretsd.sh $(BUILD)/secretsd-valgrind
	@rc=0; SECRETSD_BIN=$(CURDIR)/$(BUILD)/secretsd-valgrind SECRETSD_START_TIMEOUT=180 \
	  SECRETSD_VALGRIND_SUPP=$(CURDIR)/tests/valgrind/secretsd.supp \
	  SECRETSD_VALGRIND_LOGS=$(CURDIR)/$(BUILD)/valgrind-logs \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(VALGRIND_PYTEST_ARGS) $(VALGRIND_TESTS) || rc=$$?; \
	n=$$(ls $(BUILD)/valgrind-logs | wc -l); \
	bad=$$(grep -LE 'ERROR SUMMARY: 0 errors' $(BUILD)/valgrind-logs/*.log 2>/dev/null); \
	if [ -n "$$bad" ]; then \
	  echo "check-valgrind: memcheck errors (or a process that did not finish) in:"; \
	  for f in $$bad; do echo "== $$f"; grep -vE '^==[0-9]+== *$$' $$f | head -200; done; rc=1; \
	else echo "check-valgrind: $$n process(es) ran under memcheck: no errors, no definite leaks"; fi; \
	exit $$rc

contract: all
	@$(PYTHON) -c 'import schemathesis' 2>/dev/null || bash tools/deps.sh
	SECRETSD_BIN=$(CURDIR)/$(BUILD)/secretsd $(PYTHON) -m pytest -q -p no:cacheprovider tests/contract
