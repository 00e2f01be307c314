/* test_plugin.c — loading plugins (core/plugin.c): the ABI checks refuse
 * each broken test plugin with a reason naming the problem, the SHA-256 pin
 * is checked on the file that is loaded, plugins.conf is read against the
 * declared settings with file:line in every error, `secretsd plugin check`,
 * the host services table, and the conformance kit (sdk/plugin-test.c) run
 * on a good and a misbehaving plugin.
 *
 * The test plugins are tests/plugins/NAME.c, built to BUILD/test-plugins/; BUILD
 * is the parent of this binary's folder (build or build/asan). When the
 * sanitizer tree has no test plugins, the plain build's are used (a plain
 * plugin loads into an ASan process; the reverse does not hold). */
#include "testutil.h"

#include <dlfcn.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin.h"

static char g_build[PATH_MAX]; /* build or build/asan */

/* --- helpers ---------------------------------------------------------------------- */

static int exists(const char *file)
{
	struct stat st;

	return stat(file, &st) == 0;
}

/* BUILD/REL, else build/REL (see the top). */
static void built(char out[PATH_MAX], const char *rel)
{
	snprintf(out, PATH_MAX, "%s/%s", g_build, rel);
	if (!exists(out))
		snprintf(out, PATH_MAX, "build/%s", rel);
	if (!exists(out))
		fail_msg("%s is not built (make all)", out);
}

/* Absolute path of test plugin NAME. */
static void tp(char out[PATH_MAX], const char *name)
{
	char rel[128], tmp[PATH_MAX];

	snprintf(rel, sizeof(rel), "test-plugins/%s.so", name);
	built(tmp, rel);
	assert_non_null(realpath(tmp, out));
}

static void sha256_file_hex(const char *file, char hex[65], unsigned char raw[32])
{
	FILE *f = fopen(file, "rb");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[65536], md[32];
	size_t n;

	assert_non_null(f);
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		assert_int_equal(EVP_DigestUpdate(ctx, buf, n), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, md, NULL), 1);
	EVP_MD_CTX_free(ctx);
	fclose(f);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (raw != NULL)
		memcpy(raw, md, 32);
}

static void write_text(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

struct fixture {
	char dir[64];
	char conf[128]; /* dir/plugins.conf */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(make_tmpdir(f->dir));
	snprintf(f->conf, sizeof(f->conf), "%s/plugins.conf", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir);
	free(f);
	return 0;
}

/* Write f->conf: "[plugin SECTION]", "path = <test plugin "test-plugins/good_minimal.so">" and
 * "sha256 = <its pin>" on lines 1-3, then rest from line 4. */
static void conf_for(struct fixture *f, const char *section, const char *so, const char *rest)
{
	char file[PATH_MAX], hex[65], text[8192];

	tp(file, so);
	sha256_file_hex(file, hex, NULL);
	snprintf(text, sizeof(text), "[plugin %s]\npath = %s\nsha256 = %s\n%s", section, file, hex, rest);
	write_text(f->conf, text);
}

/* Load f->conf expecting failure; the message must be exactly
 * "<conf>:<rest_of_message>". */
static void load_fails_with(struct fixture *f, const char *want_after_file)
{
	struct registry *r = NULL;
	struct sd_err err;
	char want[SD_ERR_MSG_MAX];

	sd_err_clear(&err);
	assert_int_not_equal(registry_load(f->conf, &r, &err), 0);
	assert_null(r);
	snprintf(want, sizeof(want), "%s:%s", f->conf, want_after_file);
	assert_string_equal(err.msg, want);
}

static void open_fails_with(const char *so, const char *needle)
{
	struct plugin *p = NULL;
	struct sd_err err;
	char file[PATH_MAX];

	tp(file, so);
	sd_err_clear(&err);
	assert_int_not_equal(plugin_open(file, NULL, &p, &err), 0);
	assert_null(p);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", err.msg, needle);
	if (strstr(err.msg, file) == NULL)
		fail_msg("'%s' does not name the file", err.msg);
}

/* --- plugin_open: the ABI checks -------------------------------------------------------- */

static void test_open_refuses_another_abi_major_naming_both_versions(void **state)
{
	char want[128];

	(void)state;
	snprintf(want, sizeof(want), "refused: ABI major 2, this host speaks %d", SD_ABI_MAJOR);
	open_fails_with("abi_wrong_major", want);
}

static void test_open_refuses_a_newer_abi_minor(void **state)
{
	char want[128];

	(void)state;
	snprintf(want, sizeof(want), "refused: ABI %d.%d is newer than this host's %d.%d", SD_ABI_MAJOR,
		 SD_ABI_MINOR + 1, SD_ABI_MAJOR, SD_ABI_MINOR);
	open_fails_with("abi_newer_minor", want);
}

static void test_open_refuses_a_descriptor_shorter_than_abi_1_0(void **state)
{
	char want[128];

	(void)state;
	snprintf(want, sizeof(want), "refused: descriptor is %zu bytes, ABI 1.0 needs %zu",
		 offsetof(struct sd_plugin, free_str), offsetof(struct sd_plugin, free_str) + sizeof(void *));
	open_fails_with("abi_short_struct", want);
}

static void test_open_refuses_a_lease_plugin_without_revoke(void **state)
{
	(void)state;
	open_fails_with("abi_missing_callback", "refused: missing mandatory callback for a lease plugin");
	open_fails_with("abi_missing_callback", "revoke");
}

static void test_open_refuses_a_file_without_the_entry_symbol(void **state)
{
	(void)state;
	open_fails_with("abi_no_entry", "does not export secretsd_plugin_v1");
}

static void test_open_refuses_an_entry_point_returning_null(void **state)
{
	(void)state;
	open_fails_with("abi_null_desc", "refused: entry point returned no descriptor");
}

static void test_open_refuses_a_setting_of_unknown_type_naming_it(void **state)
{
	(void)state;
	open_fails_with("abi_bad_setting", "refused: role setting 'size' has an unknown type");
}

static void test_open_refuses_a_file_that_is_not_a_shared_object(void **state)
{
	struct fixture *f = *state;
	struct plugin *p = NULL;
	struct sd_err err;
	char file[128];

	snprintf(file, sizeof(file), "%s/text.so", f->dir);
	write_text(file, "not an ELF file\n");
	assert_int_not_equal(plugin_open(file, NULL, &p, &err), 0);
	assert_non_null(strstr(err.msg, "cannot load"));
	snprintf(file, sizeof(file), "%s/missing.so", f->dir);
	assert_int_not_equal(plugin_open(file, NULL, &p, &err), 0);
	assert_non_null(strstr(err.msg, "cannot open"));
	assert_int_not_equal(plugin_open(f->dir, NULL, &p, &err), 0);
	assert_non_null(strstr(err.msg, "is not a regular file"));
	assert_null(p);
}

/* --- plugin_open: the pin ------------------------------------------------------------------ */

static void test_open_refuses_a_wrong_pin_showing_the_file_hash(void **state)
{
	struct plugin *p = NULL;
	struct sd_err err;
	unsigned char pin[32];
	char file[PATH_MAX], hex[65], want[512];

	(void)state;
	tp(file, "good_minimal");
	sha256_file_hex(file, hex, pin);
	pin[31] ^= 1;
	assert_int_not_equal(plugin_open(file, pin, &p, &err), 0);
	assert_null(p);
	snprintf(want, sizeof(want), "%s does not match its sha256 pin (file is %s, pin is ", file, hex);
	if (strstr(err.msg, want) == NULL)
		fail_msg("'%s' does not contain '%s'", err.msg, want);
}

static void test_open_loads_with_the_right_pin_without_init(void **state)
{
	struct plugin *p = NULL;
	struct sd_err err;
	unsigned char pin[32];
	char file[PATH_MAX], hex[65];

	(void)state;
	tp(file, "good_minimal");
	sha256_file_hex(file, hex, pin);
	assert_int_equal(plugin_open(file, pin, &p, &err), 0);
	assert_string_equal(p->name, "good_minimal");
	assert_string_equal(p->desc->name, "good_minimal");
	assert_memory_equal(p->sha256, pin, 32);
	assert_null(p->state);
	assert_null(p->settings);
	plugin_close(p);
}

static void test_open_refuses_a_file_replaced_after_pinning(void **state)
{
	struct fixture *f = *state;
	struct plugin *p = NULL;
	struct sd_err err;
	unsigned char pin[32];
	char good[PATH_MAX], other[PATH_MAX], file[128], tmp[128], hex[65];

	tp(good, "good_minimal");
	tp(other, "abi_init_fails"); /* a valid plugin with other bytes */
	snprintf(file, sizeof(file), "%s/plugin.so", f->dir);
	snprintf(tmp, sizeof(tmp), "%s/plugin.so.new", f->dir);
	copy_file(good, file);
	sha256_file_hex(file, hex, pin);

	copy_file(other, tmp); /* a new file renamed over the pinned name */
	assert_int_equal(rename(tmp, file), 0);
	assert_int_not_equal(plugin_open(file, pin, &p, &err), 0);
	assert_non_null(strstr(err.msg, "does not match its sha256 pin"));

	copy_file(good, file); /* back, then rewritten in place (same inode) */
	assert_int_equal(plugin_open(file, pin, &p, &err), 0);
	plugin_close(p);
	p = NULL;
	copy_file(other, file);
	assert_int_not_equal(plugin_open(file, pin, &p, &err), 0);
	assert_non_null(strstr(err.msg, "does not match its sha256 pin"));
	assert_null(p);
}

/* What is mapped is the descriptor that was hashed, not the name opened
 * again: glibc records the name given to dlopen. */
static void test_open_maps_the_file_through_the_descriptor_it_hashed(void **state)
{
	struct plugin *p = NULL;
	struct sd_err err;
	Dl_info info;
	char file[PATH_MAX];

	(void)state;
	tp(file, "good_minimal");
	assert_int_equal(plugin_open(file, NULL, &p, &err), 0);
	assert_int_not_equal(dladdr(p->desc, &info), 0);
	if (strncmp(info.dli_fname, "/proc/self/fd/", 14) != 0)
		fail_msg("loaded as %s", info.dli_fname);
	plugin_close(p);
}

/* Two plugins open at once: each must be its own library. (dlopen of
 * "/proc/self/fd/N" returns an already loaded object of that same name, so
 * a second plugin opened on a reused fd number gets the first one.) */
static void test_open_of_a_second_plugin_loads_that_plugin_not_the_first(void **state)
{
	struct plugin *a = NULL, *b = NULL;
	struct sd_err err;
	char fa[PATH_MAX], fb[PATH_MAX];
	int rc;

	(void)state;
	tp(fa, "good_minimal");
	tp(fb, "kit_misbehaving");
	assert_int_equal(plugin_open(fa, NULL, &a, &err), 0);
	rc = plugin_open(fb, NULL, &b, &err);
	if (rc == 0 && strcmp(b->desc->name, "kit_misbehaving") != 0) {
		char name[64];
		snprintf(name, sizeof(name), "%s", b->desc->name);
		plugin_close(b);
		plugin_close(a);
		fail_msg("opening %s gave the descriptor of '%s'", fb, name);
	}
	assert_int_equal(rc, 0);
	assert_ptr_not_equal(a->desc, b->desc);
	plugin_close(b);
	plugin_close(a);
}

/* --- registry_load ------------------------------------------------------------------------ */

static void test_registry_loads_a_valid_conf_and_fills_defaults(void **state)
{
	struct fixture *f = *state;
	struct registry *r = NULL;
	const struct role *small, *big;
	struct plugin *p;
	struct sd_err err;

	conf_for(f, "good_minimal", "good_minimal",
		 "dsn = postgres://db.example/x\n"
		 "\n"
		 "[role small]\n"
		 "plugin = good_minimal\n"
		 "path = db/small\n"
		 "\n"
		 "[role big]\n"
		 "plugin = good_minimal\n"
		 "size = 7\n"
		 "default_ttl_s = 10m\n"
		 "max_ttl_s = 2h\n");
	if (registry_load(f->conf, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r->nplugins, 1);
	assert_int_equal(r->nroles, 2);
	p = registry_plugin(r, "good_minimal");
	assert_non_null(p);
	assert_non_null(p->state); /* init ran */
	assert_string_equal(kv_get(p->settings, "dsn"), "postgres://db.example/x");
	assert_null(kv_get(p->settings, "path"));
	assert_null(kv_get(p->settings, "sha256"));

	small = registry_role(r, "small");
	assert_non_null(small);
	assert_ptr_equal(small->plugin, p);
	assert_string_equal(kv_get(small->settings, "size"), "3");
	assert_string_equal(kv_get(small->settings, "role"), "small");
	assert_null(kv_get(small->settings, "plugin"));
	assert_null(kv_get(small->settings, "path"));
	assert_int_equal(small->default_ttl_s, 3600);
	assert_int_equal(small->max_ttl_s, 86400);
	assert_string_equal(small->path, "db/small");
	assert_ptr_equal(registry_role_by_path(r, "db/small"), small);

	big = registry_role(r, "big");
	assert_non_null(big);
	assert_string_equal(kv_get(big->settings, "size"), "7");
	assert_string_equal(kv_get(big->settings, "role"), "big");
	assert_int_equal(big->default_ttl_s, 600);
	assert_int_equal(big->max_ttl_s, 7200);
	assert_string_equal(big->path, "");
	assert_null(registry_role(r, "nope"));
	assert_null(registry_role_by_path(r, ""));
	registry_release(r);
}

static void test_registry_refuses_an_unknown_plugin_setting(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal", "dsn = pg://db/x\nx = 1\n");
	load_fails_with(f, "5: plugin good_minimal has no plugin setting 'x'");
}

static void test_registry_refuses_an_unknown_role_setting(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal",
		 "dsn = pg://db/x\n[role r]\nplugin = good_minimal\ncolour = red\n");
	load_fails_with(f, "7: plugin good_minimal has no role setting 'colour'");
}

static void test_registry_refuses_a_missing_required_setting_at_the_section_line(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal", "\n[role r]\nplugin = good_minimal\n");
	load_fails_with(f, "1: [plugin good_minimal] needs setting 'dsn'");
}

static void test_registry_refuses_values_of_the_wrong_type(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal",
		 "dsn = pg://db/x\n[role r]\nplugin = good_minimal\nsize = abc\n");
	load_fails_with(f, "7: 'size' must be an integer");
	conf_for(f, "good_minimal", "good_minimal", "dsn = db.example\n");
	load_fails_with(f, "4: 'dsn' must be a URL");
}

static void test_registry_surfaces_a_check_rejection_with_file_and_line(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal",
		 "dsn = pg://db/x\n[role r]\nplugin = good_minimal\nsize = 11\n");
	load_fails_with(f, "5: [role r]: size must be 0 to 10");
}

static void test_registry_refuses_a_section_defined_twice(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal",
		 "dsn = pg://db/x\n[role r]\nplugin = good_minimal\n[role r]\nplugin = good_minimal\n");
	load_fails_with(f, "7: [role r] is defined twice");
}

static void test_registry_refuses_a_key_set_twice(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal", "dsn = pg://db/x\ndsn = pg://db/y\n");
	load_fails_with(f, "5: 'dsn' is set twice in [plugin good_minimal]");
}

static void test_registry_refuses_a_role_on_a_missing_plugin(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal", "dsn = pg://db/x\n[role r]\nplugin = nothere\n");
	load_fails_with(f, "6: no [plugin nothere] for role r");
}

static void test_registry_skips_roles_on_a_disabled_plugin(void **state)
{
	struct fixture *f = *state;
	struct registry *r = NULL;
	struct sd_err err;

	conf_for(f, "good_minimal", "good_minimal",
		 "enabled = false\n[role r]\nplugin = good_minimal\n"); /* no dsn: not even read */
	if (registry_load(f->conf, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r->nplugins, 0);
	assert_int_equal(r->nroles, 0);
	assert_null(registry_role(r, "r"));
	assert_null(registry_plugin(r, "good_minimal"));
	registry_release(r);
}

static void test_registry_refuses_a_default_ttl_above_the_max(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal",
		 "dsn = pg://db/x\n[role r]\nplugin = good_minimal\ndefault_ttl_s = 2h\nmax_ttl_s = 1h\n");
	load_fails_with(f, "5: [role r] default_ttl_s is larger than max_ttl_s");
}

static void test_registry_refuses_an_invalid_role_path(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal",
		 "dsn = pg://db/x\n[role r]\nplugin = good_minimal\npath = db/../x\n");
	load_fails_with(f, "7: path: path segments '.' and '..' are not allowed");
}

static void test_registry_refuses_two_roles_with_the_same_path(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal",
		 "dsn = pg://db/x\n"
		 "[role r1]\nplugin = good_minimal\npath = db/x\n"
		 "[role r2]\nplugin = good_minimal\npath = db/x\n");
	load_fails_with(f, "10: path db/x is already role r1's");
}

static void test_registry_refuses_both_sha256_and_sha256_file(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "good_minimal", "good_minimal", "sha256_file = pin.txt\ndsn = pg://db/x\n");
	load_fails_with(f, "1: [plugin good_minimal] needs exactly one of sha256 or sha256_file");
}

static void test_registry_reads_the_pin_from_sha256_file_next_to_the_conf(void **state)
{
	struct fixture *f = *state;
	struct registry *r = NULL;
	struct sd_err err;
	char file[PATH_MAX], hex[65], text[PATH_MAX + 256], pinfile[128];

	tp(file, "good_minimal");
	sha256_file_hex(file, hex, NULL);
	snprintf(pinfile, sizeof(pinfile), "%s/pin.txt", f->dir);
	snprintf(text, sizeof(text), "%s  good_minimal.so\n", hex); /* sha256sum's format */
	write_text(pinfile, text);
	snprintf(text, sizeof(text), "[plugin good_minimal]\npath = %s\nsha256_file = pin.txt\ndsn = pg://db/x\n",
		 file);
	write_text(f->conf, text);
	if (registry_load(f->conf, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(registry_plugin(r, "good_minimal"));
	registry_release(r);
}

static void test_registry_refuses_a_pin_mismatch_at_the_path_line(void **state)
{
	struct fixture *f = *state;
	struct registry *r = NULL;
	struct sd_err err;
	char file[PATH_MAX], hex[65], text[PATH_MAX + 256], want[PATH_MAX + 256];

	tp(file, "good_minimal");
	sha256_file_hex(file, hex, NULL);
	snprintf(text, sizeof(text), "[plugin good_minimal]\npath = %s\nsha256 = %064d\ndsn = pg://db/x\n", file, 0);
	write_text(f->conf, text);
	assert_int_not_equal(registry_load(f->conf, &r, &err), 0);
	snprintf(want, sizeof(want), "%s:2: %s does not match its sha256 pin (file is %s", f->conf, file, hex);
	if (strstr(err.msg, want) != err.msg)
		fail_msg("'%s' does not start with '%s'", err.msg, want);
}

static void test_registry_refuses_a_plugin_named_otherwise_than_its_section(void **state)
{
	struct fixture *f = *state;
	char file[PATH_MAX], want[PATH_MAX + 128];

	tp(file, "good_minimal");
	conf_for(f, "other", "good_minimal", "dsn = pg://db/x\n");
	snprintf(want, sizeof(want), "2: %s is plugin 'good_minimal', not 'other'", file);
	load_fails_with(f, want);
}

static void test_registry_reports_an_init_failure_with_its_reason(void **state)
{
	struct fixture *f = *state;

	conf_for(f, "abi_init_fails", "abi_init_fails", "dsn = pg://db/x\n");
	load_fails_with(f, "1: plugin abi_init_fails failed to start: boom");
}

/* Two [plugin] sections, as a server with PostgreSQL and MySQL has. */
static void test_registry_loads_two_plugins(void **state)
{
	struct fixture *f = *state;
	struct registry *r = NULL;
	struct sd_err err;
	char file[PATH_MAX], hex[65], text[PATH_MAX + 256];

	tp(file, "kit_misbehaving");
	sha256_file_hex(file, hex, NULL);
	snprintf(text, sizeof(text), "dsn = pg://db/x\n\n[plugin kit_misbehaving]\npath = %s\nsha256 = %s\n",
		 file, hex);
	conf_for(f, "good_minimal", "good_minimal", text);
	if (registry_load(f->conf, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r->nplugins, 2);
	assert_string_equal(registry_plugin(r, "good_minimal")->desc->name, "good_minimal");
	assert_string_equal(registry_plugin(r, "kit_misbehaving")->desc->name, "kit_misbehaving");
	registry_release(r);
}

/* SIGHUP: a new registry is loaded while the old one is still held. The
 * upgraded file (other bytes, new pin) must be what the new one maps. */
static void test_registry_reload_maps_the_new_file_not_the_old_one(void **state)
{
	struct fixture *f = *state;
	struct registry *old = NULL, *cur = NULL;
	struct sd_err err;
	Dl_info a, b;
	char good[PATH_MAX], file[128], tmp[128], hex[65], text[512];
	FILE *c;

	tp(good, "good_minimal");
	snprintf(file, sizeof(file), "%s/gm.so", f->dir);
	snprintf(tmp, sizeof(tmp), "%s/gm.so.new", f->dir);
	copy_file(good, file);
	sha256_file_hex(file, hex, NULL);
	snprintf(text, sizeof(text), "[plugin good_minimal]\npath = gm.so\nsha256 = %s\ndsn = pg://db/x\n", hex);
	write_text(f->conf, text);
	if (registry_load(f->conf, &old, &err) != 0)
		fail_msg("%s", err.msg);

	copy_file(good, tmp); /* the "upgrade": same plugin, one byte more */
	assert_non_null(c = fopen(tmp, "a"));
	fputc(0, c);
	fclose(c);
	assert_int_equal(rename(tmp, file), 0);
	sha256_file_hex(file, hex, NULL);
	snprintf(text, sizeof(text), "[plugin good_minimal]\npath = gm.so\nsha256 = %s\ndsn = pg://db/x\n", hex);
	write_text(f->conf, text);
	if (registry_load(f->conf, &cur, &err) != 0) {
		registry_release(old);
		fail_msg("%s", err.msg);
	}
	assert_int_not_equal(dladdr(registry_plugin(old, "good_minimal")->desc, &a), 0);
	assert_int_not_equal(dladdr(registry_plugin(cur, "good_minimal")->desc, &b), 0);
	if (a.dli_fbase == b.dli_fbase) {
		registry_release(cur);
		registry_release(old);
		fail_msg("the reloaded registry runs the old mapping of %s", file);
	}
	registry_release(cur);
	registry_release(old);
}

/* --- secretsd plugin check ------------------------------------------------------------------ */

static char *check_output(const char *so, int *rc)
{
	FILE *out = tmpfile();
	char file[PATH_MAX], *buf = calloc(1, 8192);
	size_t n;

	assert_non_null(out);
	assert_non_null(buf);
	tp(file, so);
	*rc = plugin_check_cli(file, out);
	rewind(out);
	n = fread(buf, 1, 8191, out);
	buf[n] = '\0';
	fclose(out);
	return buf;
}

static void test_plugin_check_describes_a_loadable_plugin(void **state)
{
	char file[PATH_MAX], hex[65], want[128];
	int rc;
	char *out = check_output("good_minimal", &rc);

	(void)state;
	tp(file, "good_minimal");
	sha256_file_hex(file, hex, NULL);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "name:     good_minimal\n"));
	assert_non_null(strstr(out, "version:  0.1-test\n"));
	assert_non_null(strstr(out, "kind:     lease\n"));
	snprintf(want, sizeof(want), "abi:      %d.%d (host %d.%d)\n", SD_ABI_MAJOR, SD_ABI_MINOR,
		 SD_ABI_MAJOR, SD_ABI_MINOR);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "sha256:   %s\n", hex);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, " check init fini health issue renew revoke free_kv free_str"));
	assert_non_null(strstr(out, "dsn"));
	assert_non_null(strstr(out, "required, secret"));
	assert_non_null(strstr(out, "size"));
	assert_non_null(strstr(out, "optional, default 3"));
	assert_non_null(strstr(out, "loadable: yes\n"));
	free(out);
}

static void test_plugin_check_says_why_a_plugin_cannot_load(void **state)
{
	int rc;
	char *out = check_output("abi_wrong_major", &rc);

	(void)state;
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(out, "cannot load: "));
	assert_non_null(strstr(out, "ABI major 2"));
	assert_null(strstr(out, "loadable: yes"));
	free(out);
	out = check_output("abi_no_entry", &rc);
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(out, "cannot load: "));
	free(out);
}

/* --- the host services table ------------------------------------------------------------------ */

static int in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

static void test_host_table_says_this_abi(void **state)
{
	const struct sd_host *h = plugin_host();

	(void)state;
	assert_int_equal(h->abi_major, SD_ABI_MAJOR);
	assert_int_equal(h->abi_minor, SD_ABI_MINOR);
	assert_int_equal(h->struct_size, sizeof(struct sd_host));
	assert_non_null(h->log);
	assert_non_null(h->random_bytes);
	assert_non_null(h->now_us);
	assert_non_null(h->password);
	assert_non_null(h->cancelled);
	assert_non_null(h->deadline_us);
}

static void test_host_password_default_is_letters_and_digits_of_each_class(void **state)
{
	const struct sd_host *h = plugin_host();
	static const char *lower = "abcdefghijklmnopqrstuvwxyz", *upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
			  *digit = "0123456789";
	char pw[64], prev[64] = "";

	(void)state;
	for (int round = 0; round < 200; round++) {
		int l = 0, u = 0, d = 0;
		memset(pw, 'Z', sizeof(pw));
		assert_int_equal(h->password(pw, sizeof(pw), 3 + round % 40, NULL), SD_POK);
		assert_int_equal(strlen(pw), 3 + round % 40);
		for (char *c = pw; *c; c++) {
			l += in_set(*c, lower);
			u += in_set(*c, upper);
			d += in_set(*c, digit);
		}
		assert_true(l > 0 && u > 0 && d > 0);
		assert_int_equal(l + u + d, strlen(pw)); /* nothing else, no symbol */
		assert_string_not_equal(pw, prev);
		memcpy(prev, pw, sizeof(pw));
	}
}

static void test_host_password_with_symbols_uses_only_sql_and_url_safe_ones(void **state)
{
	const struct sd_host *h = plugin_host();
	static const char *sym = "-_.~";
	char pw[8];
	int seen[4] = { 0, 0, 0, 0 };

	(void)state;
	for (int round = 0; round < 500; round++) {
		int l = 0, u = 0, d = 0, s = 0;
		assert_int_equal(h->password(pw, sizeof(pw), 4, "lower upper digit symbol"), SD_POK);
		assert_int_equal(strlen(pw), 4);
		for (char *c = pw; *c; c++) {
			l += *c >= 'a' && *c <= 'z';
			u += *c >= 'A' && *c <= 'Z';
			d += *c >= '0' && *c <= '9';
			s += in_set(*c, sym);
			if (in_set(*c, sym))
				seen[strchr(sym, *c) - sym] = 1;
		}
		/* 4 characters, 4 classes: exactly one of each. */
		assert_int_equal(l, 1);
		assert_int_equal(u, 1);
		assert_int_equal(d, 1);
		assert_int_equal(s, 1);
	}
	assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
	assert_int_equal(h->password(pw, sizeof(pw), 6, "digit"), SD_POK);
	assert_int_equal(strspn(pw, "0123456789"), 6);
}

static void test_host_password_refuses_what_cannot_be_done(void **state)
{
	const struct sd_host *h = plugin_host();
	char pw[2048];

	(void)state;
	assert_int_equal(h->password(pw, 16, 16, NULL), SD_PINVAL);        /* no room for the NUL */
	assert_int_equal(h->password(pw, sizeof(pw), 2, NULL), SD_PINVAL); /* 3 classes in 2 */
	assert_int_equal(h->password(pw, sizeof(pw), 8, ""), SD_PINVAL);   /* no class */
	assert_int_equal(h->password(pw, sizeof(pw), 8, "emoji"), SD_PINVAL);
	assert_int_equal(h->password(pw, sizeof(pw), 1025, NULL), SD_PINVAL);
	assert_int_equal(h->password(pw, sizeof(pw), 1024, NULL), SD_POK);
	assert_int_equal(strlen(pw), 1024);
}

static void test_call_with_a_passed_deadline_is_cancelled(void **state)
{
	const struct sd_host *h = plugin_host();
	struct plugin_call c;
	int64_t before = h->now_us();

	(void)state;
	plugin_call_init(&c, 0);
	assert_int_equal(h->cancelled(&c.call), 1);
	plugin_call_init(&c, -1000);
	assert_int_equal(h->cancelled(&c.call), 1);
	plugin_call_init(&c, 60000);
	assert_int_equal(h->cancelled(&c.call), 0);
	assert_true(h->deadline_us(&c.call) >= before + 60000000LL);
	assert_true(h->deadline_us(&c.call) <= h->now_us() + 60000000LL);
	assert_ptr_equal(c.call.err, c.err);
	assert_int_equal(c.call.err_cap, sizeof(c.err));
	assert_int_equal(c.err[0], '\0');
}

/* --- the conformance kit ------------------------------------------------------------------------ */

/* Run the kit on BUILD/so_rel (see the top) with conf; returns its exit
 * status and its stdout (malloc'd). A plain kit cannot load ASan plugins:
 * when the kit comes from build/, so does the plugin. */
static char *run_kit(const char *so_rel, const char *conf, int *status)
{
	char kit[PATH_MAX], rel[PATH_MAX], so[PATH_MAX], cmd[3 * PATH_MAX], *buf = calloc(1, 65536);
	const char *dir = g_build;
	size_t n = 0, got;
	FILE *p;
	int st;

	assert_non_null(buf);
	snprintf(kit, sizeof(kit), "%s/secretsd-plugin-test", g_build);
	if (!exists(kit)) {
		dir = "build";
		snprintf(kit, sizeof(kit), "build/secretsd-plugin-test");
	}
	if (!exists(kit))
		fail_msg("%s is not built (make all)", kit);
	snprintf(rel, sizeof(rel), "%s/%s", dir, so_rel);
	if (!exists(rel))
		snprintf(rel, sizeof(rel), "build/%s", so_rel);
	if (realpath(rel, so) == NULL)
		fail_msg("%s is not built (make all)", rel);
	snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s'", kit, so, conf);
	assert_non_null(p = popen(cmd, "r"));
	while (n < 65535 && (got = fread(buf + n, 1, 65535 - n, p)) > 0)
		n += got;
	st = pclose(p);
	assert_true(WIFEXITED(st));
	*status = WEXITSTATUS(st);
	return buf;
}

static int count_lines(const char *out, const char *prefix)
{
	int n = 0;

	for (const char *l = out; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += strncmp(l, prefix, strlen(prefix)) == 0;
	return n;
}

static void want_line(const char *out, const char *start)
{
	const char *l = out;

	for (; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, start, strlen(start)) == 0)
			return;
	fail_msg("no line starting with '%s' in:\n%s", start, out);
}

/* The last line is "N passed, M failed" with M == failed. */
static void want_summary(const char *out, int failed)
{
	const char *last = out + strlen(out);
	int p = -1, m = -1;
	char tail[32];

	assert_true(last > out && last[-1] == '\n');
	for (last -= 1; last > out && last[-1] != '\n'; last--)
		;
	assert_int_equal(sscanf(last, "%d passed, %d failed%31s", &p, &m, tail), 2);
	assert_int_equal(m, failed);
	assert_int_equal(p, count_lines(out, "ok - "));
	assert_int_equal(m, count_lines(out, "not ok - "));
}

static void test_kit_passes_the_example_plugin(void **state)
{
	int status;
	char *out;

	(void)state;
	out = run_kit("plugins/example.so", "tests/plugins/example.conf", &status);
	if (status != 0)
		fail_msg("exit %d:\n%s", status, out);
	want_summary(out, 0);
	want_line(out, "ok - threads: 4 threads x 10 issue+revoke");
	want_line(out, "ok - example_greeting: revoke returns SD_POK");
	free(out);
}

static void test_kit_passes_good_minimal(void **state)
{
	struct fixture *f = *state;
	int status;
	char *out;

	write_text(f->conf, "[plugin good_minimal]\ndsn = pg://db/x\n\n[role r]\nplugin = good_minimal\nsize = 10\n");
	out = run_kit("test-plugins/good_minimal.so", f->conf, &status);
	if (status != 0)
		fail_msg("exit %d:\n%s", status, out);
	want_summary(out, 0);
	free(out);
}

static void test_kit_flags_each_misbehaviour(void **state)
{
	struct fixture *f = *state;
	int status;
	char *out;

	write_text(f->conf, "[plugin kit_misbehaving]\n[role r1]\nplugin = kit_misbehaving\nmode = a\n");
	out = run_kit("test-plugins/kit_misbehaving.so", f->conf, &status);
	assert_int_equal(status, 1);
	want_line(out, "not ok - elf: only secretsd_plugin_v1 is exported: also exports kit_misbehaving_debug");
	want_line(out, "not ok - settings: role settings are well formed (2 declared): 'mode' is required but "
		       "has a default; 'mode' is declared twice");
	want_line(out, "not ok - health: writes nothing to err on success: err is \"all good\"");
	want_line(out, "not ok - r1: issue creds have no duplicate key: 'username'");
	want_line(out, "not ok - r1: revoke again is idempotent (SD_POK or SD_PNOTFOUND): SD_PDOWN");
	want_line(out, "# r1: revoke failed (SD_PDOWN) without a reason in err");
	want_line(out, "# r1: revoke failed (SD_PNOTFOUND) leaving err without a NUL within err_cap");
	want_line(out, "not ok - r1: revoke with handle NULL removes a fresh credential (crash recovery)");
	want_line(out, "not ok - r1: issue with a passed deadline returns within 2 s: took 2");
	want_line(out, "not ok - errors: every failed call left a reason in err");
	want_line(out, "ok - r1: the credential issued past its deadline is revoked");
	want_summary(out, 8);
	free(out);
}

static void test_kit_names_the_config_line_of_a_refused_setting(void **state)
{
	struct fixture *f = *state;
	char want[256];
	int status;
	char *out;

	write_text(f->conf, "[plugin good_minimal]\npath = elsewhere.so\nbogus = 1\n[role r]\nplugin = good_minimal\n");
	out = run_kit("test-plugins/good_minimal.so", f->conf, &status);
	assert_int_equal(status, 1);
	snprintf(want, sizeof(want), "# %s:2: 'path' is ignored", f->conf);
	want_line(out, want);
	snprintf(want, sizeof(want),
		 "not ok - conf: the host's registry_load reads %s and inits the plugin: %s:3: plugin "
		 "good_minimal has no plugin setting 'bogus'",
		 f->conf, f->conf);
	want_line(out, want);
	want_summary(out, 1);
	free(out);
}

static void test_kit_fails_a_plugin_the_host_refuses(void **state)
{
	struct fixture *f = *state;
	int status;
	char *out;

	write_text(f->conf, "[plugin abi_wrong_major]\n[role r]\nplugin = abi_wrong_major\n");
	out = run_kit("test-plugins/abi_wrong_major.so", f->conf, &status);
	assert_int_equal(status, 1);
	want_line(out, "not ok - abi: abi_major is the host's 1: 2");
	want_line(out, "not ok - load: the host's plugin_open accepts the plugin");
	want_summary(out, 2);
	free(out);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], *slash;

	(void)argc;
	/* build/tests/test_plugin -> build; build/asan/tests/test_plugin -> build/asan */
	snprintf(self, sizeof(self), "%s", argv[0]);
	for (int up = 0; up < 2; up++) {
		slash = strrchr(self, '/');
		if (slash == NULL) {
			snprintf(self, sizeof(self), up == 0 ? ".." : ".");
			break;
		}
		*slash = '\0';
	}
	snprintf(g_build, sizeof(g_build), "%s", self[0] ? self : "/");

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_refuses_another_abi_major_naming_both_versions),
		T(test_open_refuses_a_newer_abi_minor),
		T(test_open_refuses_a_descriptor_shorter_than_abi_1_0),
		T(test_open_refuses_a_lease_plugin_without_revoke),
		T(test_open_refuses_a_file_without_the_entry_symbol),
		T(test_open_refuses_an_entry_point_returning_null),
		T(test_open_refuses_a_setting_of_unknown_type_naming_it),
		T(test_open_refuses_a_file_that_is_not_a_shared_object),
		T(test_open_refuses_a_wrong_pin_showing_the_file_hash),
		T(test_open_loads_with_the_right_pin_without_init),
		T(test_open_refuses_a_file_replaced_after_pinning),
		T(test_open_maps_the_file_through_the_descriptor_it_hashed),
		T(test_open_of_a_second_plugin_loads_that_plugin_not_the_first),
		T(test_registry_loads_a_valid_conf_and_fills_defaults),
		T(test_registry_refuses_an_unknown_plugin_setting),
		T(test_registry_refuses_an_unknown_role_setting),
		T(test_registry_refuses_a_missing_required_setting_at_the_section_line),
		T(test_registry_refuses_values_of_the_wrong_type),
		T(test_registry_surfaces_a_check_rejection_with_file_and_line),
		T(test_registry_refuses_a_section_defined_twice),
		T(test_registry_refuses_a_key_set_twice),
		T(test_registry_refuses_a_role_on_a_missing_plugin),
		T(test_registry_skips_roles_on_a_disabled_plugin),
		T(test_registry_refuses_a_default_ttl_above_the_max),
		T(test_registry_refuses_an_invalid_role_path),
		T(test_registry_refuses_two_roles_with_the_same_path),
		T(test_registry_refuses_both_sha256_and_sha256_file),
		T(test_registry_reads_the_pin_from_sha256_file_next_to_the_conf),
		T(test_registry_refuses_a_pin_mismatch_at_the_path_line),
		T(test_registry_refuses_a_plugin_named_otherwise_than_its_section),
		T(test_registry_reports_an_init_failure_with_its_reason),
		T(test_registry_loads_two_plugins),
		T(test_registry_reload_maps_the_new_file_not_the_old_one),
		T(test_plugin_check_describes_a_loadable_plugin),
		T(test_plugin_check_says_why_a_plugin_cannot_load),
		T(test_host_table_says_this_abi),
		T(test_host_password_default_is_letters_and_digits_of_each_class),
		T(test_host_password_with_symbols_uses_only_sql_and_url_safe_ones),
		T(test_host_password_refuses_what_cannot_be_done),
		T(test_call_with_a_passed_deadline_is_cancelled),
		T(test_kit_passes_the_example_plugin),
		T(test_kit_passes_good_minimal),
		T(test_kit_flags_each_misbehaviour),
		T(test_kit_names_the_config_line_of_a_refused_setting),
		T(test_kit_fails_a_plugin_the_host_refuses),
	};
#undef T
	return cmocka_run_group_tests_name("plugin", tests, NULL, NULL);
}
