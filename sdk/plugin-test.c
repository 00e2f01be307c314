/* plugin-test.c — secretsd-plugin-test, the conformance kit for plugins.
 *
 *   secretsd-plugin-test PLUGIN.so CONFIG
 *
 * CONFIG is in plugins.conf format: one [plugin NAME] section (its path,
 * sha256, sha256_file and enabled keys are ignored) and one or more
 * [role NAME] sections using it. The kit loads PLUGIN.so as the server
 * does: it writes a temporary copy of CONFIG whose [plugin NAME] points at
 * PLUGIN.so, pinned to the file's SHA-256, and reads it with the host's own
 * registry_load (so settings are parsed, checked and defaulted by the host
 * code; errors name CONFIG's lines). Then it calls the plugin like the lease
 * engine does and prints one line per check, "ok - ..." or "not ok - ...",
 * comments as "# ...", and last "N passed, M failed". Exit status 0 only
 * when every check passed, 1 otherwise, 2 on a usage error.
 *
 * The backend must be up: every call is made for real (credentials are
 * created and revoked). Run it under ASan (make BUILD=build/asan SAN=1
 * build/asan/secretsd-plugin-test) to see leaks in the plugin, fini included.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "leases.h"
#include "plugin.h"
#include "util.h"

#define KIT_TIMEOUT_MS 30000                 /* deadline of ordinary calls */
#define KIT_LATE_BOUND_NS 2000000000LL       /* a passed deadline: answer within 2 s */
#define KIT_THREADS 4
#define KIT_ROUNDS 10                        /* issue+revoke per thread */
#define KIT_CREDS_MAX 256                    /* fields looked at in one creds array */
#define KIT_SETTINGS_MAX 64                  /* the host's SETTINGS_MAX */
#define KIT_CONF_MAX (1024 * 1024)           /* bytes of CONFIG */
#define KIT_ELF_MAX (512L * 1024 * 1024)     /* bytes of PLUGIN.so */
#define KIT_GUARD 64                         /* bytes after err that must stay untouched */
#define KIT_HANDLE_MAX (sizeof(((struct lease *)0)->handle) - 1)

/* --- reporting ------------------------------------------------------------------ */

static int npass, nfail;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

/* Print "ok - WHAT" or "not ok - WHAT: WHY" (why may be NULL or ""). */
static void __attribute__((format(printf, 3, 4))) result(int ok, const char *why, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_mu);
	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok && why != NULL && why[0] != '\0')
		printf(": %s", why);
	printf("\n");
	fflush(stdout);
	if (ok)
		npass++;
	else
		nfail++;
	pthread_mutex_unlock(&out_mu);
}

static void __attribute__((format(printf, 1, 2))) note(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_mu);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
}

/* Append "; "-separated text to a fixed buffer, truncating. */
static void __attribute__((format(printf, 3, 4))) add_why(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 3 >= cap)
		return;
	if (n > 0) {
		memcpy(buf + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

static const char *code_name(int rc)
{
	static const char *n[] = { "SD_POK", "SD_PINVAL", "SD_PDOWN", "SD_PDENIED", "SD_PNOTFOUND",
				   "SD_PTIMEOUT", "SD_PINTERNAL" };
	return rc <= 0 && rc >= SD_PINTERNAL ? n[-rc] : "not an SD_P* code";
}

/* --- calls: every result and err buffer is checked ---------------------------------- */

/* A host call context with a guard after err: a plugin writing past
 * err_cap changes the guard. */
struct kit_call {
	struct plugin_call pc;
	unsigned char guard[KIT_GUARD];
};

static atomic_int calls_made, failures_seen, bad_codes, bad_errs, overruns;

static struct sd_call *kcall(struct kit_call *k, int64_t timeout_ms)
{
	plugin_call_init(&k->pc, timeout_ms);
	memset(k->guard, 0xa5, sizeof(k->guard));
	return &k->pc.call;
}

/* Check what a call left in its context; returns rc. */
static int kdone(struct kit_call *k, int rc, const char *role, const char *what)
{
	const char *err = k->pc.err;
	size_t cap = k->pc.call.err_cap;

	atomic_fetch_add(&calls_made, 1);
	for (size_t i = 0; i < sizeof(k->guard); i++)
		if (k->guard[i] != 0xa5) {
			atomic_fetch_add(&overruns, 1);
			note("%s: %s wrote past err_cap (%zu bytes)", role, what, cap);
			break;
		}
	if (rc > SD_POK || rc < SD_PINTERNAL) {
		atomic_fetch_add(&bad_codes, 1);
		note("%s: %s returned %d, which is not an SD_P* code", role, what, rc);
	}
	if (rc != SD_POK) {
		atomic_fetch_add(&failures_seen, 1);
		if (memchr(err, '\0', cap) == NULL) {
			atomic_fetch_add(&bad_errs, 1);
			note("%s: %s failed (%s) leaving err without a NUL within err_cap", role, what, code_name(rc));
		} else if (err[0] == '\0') {
			atomic_fetch_add(&bad_errs, 1);
			note("%s: %s failed (%s) without a reason in err", role, what, code_name(rc));
		}
	}
	return rc;
}

/* "SD_PDOWN: reason" for a failed call, into buf. */
static const char *why_call(const struct kit_call *k, int rc, char *buf, size_t cap)
{
	const char *err = k->pc.err;
	int n = (int)strnlen(err, k->pc.call.err_cap);

	snprintf(buf, cap, "%s%s%.*s", code_name(rc), n > 0 ? ": " : "", n, err);
	return buf;
}

static int revoked_ok(int rc)
{
	return rc == SD_POK || rc == SD_PNOTFOUND;
}

static void lease_id(char out[LEASE_ID_LEN + 1])
{
	if (sd_random_hex(out, LEASE_ID_LEN / 2) != 0) {
		fprintf(stderr, "secretsd-plugin-test: no random bytes\n");
		exit(2);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- files ----------------------------------------------------------------------------- */

/* Read a whole file of at most max bytes into a malloc'd buffer (NUL added). */
static char *slurp(const char *file, long max, size_t *len, char *why, size_t cap)
{
	FILE *f = fopen(file, "rbe");
	char *buf = NULL;
	long n;

	if (f == NULL) {
		snprintf(why, cap, "cannot open %s: %s", file, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > max || fseek(f, 0, SEEK_SET) != 0) {
		snprintf(why, cap, "%s is unreadable or larger than %ld bytes", file, max);
		goto out;
	}
	if ((buf = malloc((size_t)n + 1)) == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		snprintf(why, cap, "cannot read %s", file);
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	*len = (size_t)n;
out:
	fclose(f);
	return buf;
}

static int sha256_hex(const unsigned char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = sizeof(md);

	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* --- ELF: only the entry symbol is exported -------------------------------------------- */

static int allowed_export(const char *name)
{
	static const char *exact[] = { SD_PLUGIN_ENTRY, "_init", "_fini", "__bss_start", "_edata", "_end",
				       "__bss_start__", "_bss_end__", "__bss_end__", "__end__", NULL };
	static const char *prefix[] = { "__gcov", "__llvm_", "__asan", "__ubsan", "__lsan", "__sanitizer",
					"__odr_asan", "__tsan", NULL };

	for (const char **e = exact; *e; e++)
		if (strcmp(name, *e) == 0)
			return 1;
	for (const char **p = prefix; *p; p++)
		if (strncmp(name, *p, strlen(*p)) == 0)
			return 1;
	return 0;
}

/* Check the file is a shared object for this host and list the defined,
 * visible symbols of .dynsym other than the allowed ones into extra. */
/* (ELF64_ST_* and ELF32_ST_* are the same bit fields.) */
static void check_elf(const unsigned char *b, size_t len, const char *file)
{
	const ElfW(Ehdr) *eh = (const void *)b;
	const ElfW(Shdr) *sh, *dynsym = NULL, *strtab;
	char why[512] = "", extra[1024] = "";
	int has_entry = 0, nextra = 0;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) {
		result(0, "not an ELF file", "elf: %s is an ELF shared object for this host", file);
		return;
	}
	if (eh->e_ident[EI_CLASS] != (__ELF_NATIVE_CLASS == 64 ? ELFCLASS64 : ELFCLASS32) ||
	    eh->e_ident[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB))
		snprintf(why, sizeof(why), "ELF class or byte order differs from this host's");
	else if (eh->e_type != ET_DYN)
		snprintf(why, sizeof(why), "ELF type %u, not a shared object (ET_DYN)", eh->e_type);
	else if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff > len ||
		 eh->e_shnum > (len - eh->e_shoff) / sizeof(ElfW(Shdr)))
		snprintf(why, sizeof(why), "no readable section headers");
	result(why[0] == '\0', why, "elf: %s is an ELF shared object for this host", file);
	if (why[0] != '\0')
		return;

	sh = (const void *)(b + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_DYNSYM)
			dynsym = &sh[i];
	if (dynsym == NULL || dynsym->sh_link >= eh->e_shnum || dynsym->sh_entsize != sizeof(ElfW(Sym)) ||
	    dynsym->sh_offset > len || dynsym->sh_size > len - dynsym->sh_offset) {
		result(0, "no readable .dynsym", "elf: only %s is exported", SD_PLUGIN_ENTRY);
		return;
	}
	strtab = &sh[dynsym->sh_link];
	if (strtab->sh_offset > len || strtab->sh_size > len - strtab->sh_offset || strtab->sh_size == 0 ||
	    b[strtab->sh_offset + strtab->sh_size - 1] != '\0') {
		result(0, "unreadable .dynstr", "elf: only %s is exported", SD_PLUGIN_ENTRY);
		return;
	}
	const ElfW(Sym) *sym = (const void *)(b + dynsym->sh_offset);
	const char *str = (const char *)b + strtab->sh_offset;
	size_t nsym = dynsym->sh_size / sizeof(ElfW(Sym));
	for (size_t i = 1; i < nsym; i++) {
		int bind = ELF64_ST_BIND(sym[i].st_info), vis = ELF64_ST_VISIBILITY(sym[i].st_other);
		const char *name;
		if (sym[i].st_shndx == SHN_UNDEF || sym[i].st_name >= strtab->sh_size)
			continue;
		if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
			continue;
		if (vis == STV_HIDDEN || vis == STV_INTERNAL)
			continue;
		name = str + sym[i].st_name;
		if (strcmp(name, SD_PLUGIN_ENTRY) == 0 && ELF64_ST_TYPE(sym[i].st_info) == STT_FUNC)
			has_entry = 1;
		if (allowed_export(name))
			continue;
		if (nextra++ < 8)
			add_why(extra, sizeof(extra), "%s", name);
	}
	if (nextra > 8)
		add_why(extra, sizeof(extra), "and %d more", nextra - 8);
	result(has_entry, "the function is not in .dynsym", "elf: %s is exported", SD_PLUGIN_ENTRY);
	if (nextra > 0)
		snprintf(why, sizeof(why), "also exports %s (build with -fvisibility=hidden)", extra);
	result(nextra == 0, why, "elf: only %s is exported", SD_PLUGIN_ENTRY);
}

/* --- CONFIG: find the plugin section, write the temporary conf ------------------------ */

struct kitconf {
	char name[SD_NAME_MAX + 1];  /* of [plugin NAME] */
	int nplugins, nroles;
	char dir[64];                /* the temporary folder */
	char file[128];              /* dir/plugins.conf */
	int *map;                    /* line of the temporary file -> line of CONFIG */
	size_t nmap;
};

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Parse a header "[kind name]" in place; returns 1 and sets kind/name. */
static int header(char *s, char **kind, char **name)
{
	char *end = strchr(s, ']');

	if (s[0] != '[' || end == NULL)
		return 0;
	*end = '\0';
	*kind = trim(s + 1);
	*name = *kind + strcspn(*kind, " \t");
	if (**name != '\0')
		*(*name)++ = '\0';
	*name = trim(*name);
	return 1;
}

static int map_line(struct kitconf *kc, int orig)
{
	int *m = realloc(kc->map, (kc->nmap + 1) * sizeof(*m));

	if (m == NULL)
		return -1;
	kc->map = m;
	kc->map[kc->nmap++] = orig;
	return 0;
}

/* Copy CONFIG into a temporary plugins.conf: the plugin section's path and
 * pin are replaced by the plugin under test (right after the header, so
 * they map to the header's line); every other line is kept as is. */
static int write_conf(const char *conf, const char *so, const char *hex, struct kitconf *kc, char *why,
		      size_t cap)
{
	static const char *ignored[] = { "path", "sha256", "sha256_file", "enabled", NULL };
	size_t len;
	char *text = slurp(conf, KIT_CONF_MAX, &len, why, cap), *line, *next, copy[4096];
	FILE *out = NULL;
	int lineno = 0, in_plugin = 0, rc = -1;

	if (text == NULL)
		return -1;
	snprintf(kc->dir, sizeof(kc->dir), "%s/secretsd-plugin-test-XXXXXX",
		 getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 32 ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(kc->dir) == NULL) {
		snprintf(why, cap, "cannot make a temporary folder: %s", strerror(errno));
		kc->dir[0] = '\0';
		goto out;
	}
	snprintf(kc->file, sizeof(kc->file), "%s/plugins.conf", kc->dir);
	if ((out = fopen(kc->file, "we")) == NULL) {
		snprintf(why, cap, "cannot write %s: %s", kc->file, strerror(errno));
		goto out;
	}
	for (line = text; line != NULL && *line != '\0'; line = next) {
		char *s, *kind, *name, *eq;
		size_t n;
		int blank = 0;
		next = strchr(line, '\n');
		n = next ? (size_t)(next - line) : strlen(line);
		if (next)
			next++;
		lineno++;
		if (map_line(kc, lineno) != 0)
			goto nomem;
		if (n >= sizeof(copy)) {
			fprintf(out, "%.*s\n", (int)n, line); /* the host refuses it with the line */
			continue;
		}
		memcpy(copy, line, n);
		copy[n] = '\0';
		s = trim(copy);
		if (header(s, &kind, &name)) {
			in_plugin = strcmp(kind, "plugin") == 0;
			kc->nroles += strcmp(kind, "role") == 0;
			fprintf(out, "%.*s\n", (int)n, line);
			if (!in_plugin)
				continue;
			if (kc->nplugins++ == 0)
				sd_strlcpy(kc->name, name, sizeof(kc->name));
			fprintf(out, "path = %s\nsha256 = %s\n", so, hex);
			if (map_line(kc, lineno) != 0 || map_line(kc, lineno) != 0)
				goto nomem;
			continue;
		}
		if (in_plugin && (eq = strchr(s, '=')) != NULL) {
			*eq = '\0';
			s = trim(s);
			for (const char **k = ignored; *k; k++)
				if (strcmp(s, *k) == 0)
					blank = 1;
			if (blank)
				note("%s:%d: '%s' is ignored: the kit tests %s", conf, lineno, s, so);
		}
		/* A blank line keeps the numbers of the lines after it. */
		fprintf(out, "%.*s\n", blank ? 0 : (int)n, line);
	}
	if (fflush(out) != 0 || ferror(out)) {
		snprintf(why, cap, "cannot write %s", kc->file);
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	snprintf(why, cap, "out of memory");
out:
	if (out != NULL)
		fclose(out);
	OPENSSL_cleanse(copy, sizeof(copy)); /* settings may hold passwords */
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

static void remove_conf(struct kitconf *kc)
{
	if (kc->file[0] != '\0')
		unlink(kc->file);
	if (kc->dir[0] != '\0')
		rmdir(kc->dir);
	free(kc->map);
}

/* Turn "TMPFILE:LINE: reason" into "CONFIG:LINE: reason". */
static void unmap_error(const struct kitconf *kc, const char *conf, const char *msg, char *out, size_t cap)
{
	size_t n = strlen(kc->file);
	char *end;
	long line;

	if (strncmp(msg, kc->file, n) == 0 && msg[n] == ':') {
		line = strtol(msg + n + 1, &end, 10);
		if (end != msg + n + 1 && *end == ':' && line >= 1 && (size_t)line <= kc->nmap) {
			snprintf(out, cap, "%s:%d%s", conf, kc->map[line - 1], end);
			return;
		}
	}
	snprintf(out, cap, "%s", msg);
}

/* --- the descriptor ------------------------------------------------------------------- */

static int key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.';
}

/* The host's type rules (core/plugin.c type_ok), for declared defaults. */
static int value_ok(int type, const char *v)
{
	int64_t d;
	uint64_t u;

	switch (type) {
	case SD_SET_INT:
		return sd_parse_u64(v[0] == '-' ? v + 1 : v, INT64_MAX, &u) == 0;
	case SD_SET_BOOL:
		return !strcmp(v, "true") || !strcmp(v, "false") || !strcmp(v, "yes") || !strcmp(v, "no") ||
		       !strcmp(v, "1") || !strcmp(v, "0");
	case SD_SET_DURATION:
		return sd_parse_duration(v, &d) == 0;
	case SD_SET_URL:
		return strstr(v, "://") != NULL && v[0] != ':';
	default:
		return 1;
	}
}

static void check_settings(const struct sd_setting *s, int is_role)
{
	static const char *plugin_reserved[] = { "path", "sha256", "sha256_file", "enabled", NULL };
	static const char *role_reserved[] = { "plugin", "default_ttl_s", "max_ttl_s", "path", "role", NULL };
	const char *what = is_role ? "role" : "plugin";
	char why[1024] = "";
	int i;

	for (i = 0; s != NULL && s[i].name != NULL && i <= KIT_SETTINGS_MAX; i++) {
		const char *n = s[i].name;
		size_t k;
		for (k = 0; n[k] && key_char(n[k]); k++)
			;
		if (k == 0 || n[k] != '\0')
			add_why(why, sizeof(why), "'%.64s' is not a plugins.conf key ([A-Za-z0-9_.-]+)", n);
		for (const char **r = is_role ? role_reserved : plugin_reserved; *r; r++)
			if (strcmp(n, *r) == 0)
				add_why(why, sizeof(why), "'%s' is reserved by the host", n);
		for (int j = 0; j < i; j++)
			if (strcmp(s[j].name, n) == 0)
				add_why(why, sizeof(why), "'%.64s' is declared twice", n);
		if (s[i].type < SD_SET_STRING || s[i].type > SD_SET_URL)
			add_why(why, sizeof(why), "'%.64s' has unknown type %d", n, s[i].type);
		else if (s[i].default_value != NULL && !value_ok(s[i].type, s[i].default_value))
			add_why(why, sizeof(why), "the default of '%.64s' is not of its type", n);
		if (s[i].required && s[i].default_value != NULL)
			add_why(why, sizeof(why), "'%.64s' is required but has a default", n);
		if (s[i].required != 0 && s[i].required != 1)
			add_why(why, sizeof(why), "'%.64s' has required %d, not 0 or 1", n, s[i].required);
	}
	if (i > KIT_SETTINGS_MAX)
		add_why(why, sizeof(why), "more than %d settings", KIT_SETTINGS_MAX);
	result(why[0] == '\0', why, "settings: %s settings are well formed (%d declared)", what, i);
}

/* Check the descriptor on our own dlopen of the file, member by member,
 * reading only what struct_size covers. The library stays open until the
 * process ends: the host's later dlopen of the same file (inode) gets this
 * mapping, and LeakSanitizer can then name the plugin's frames at exit,
 * after the host's dlclose. */
static void check_desc(const char *so, const char *section)
{
	const size_t size_1_0 = offsetof(struct sd_plugin, free_str) + sizeof(void (*)(char *));
	const struct sd_plugin *d;
	sd_plugin_entry_fn entry;
	char why[512] = "";
	void *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);

	if (dl == NULL) {
		result(0, dlerror(), "abi: the file can be dlopen()ed");
		return;
	}
	*(void **)&entry = dlsym(dl, SD_PLUGIN_ENTRY);
	if (entry == NULL) {
		result(0, "no such symbol", "abi: %s() returns a descriptor", SD_PLUGIN_ENTRY);
		return;
	}
	d = entry();
	result(d != NULL, "it returned NULL", "abi: %s() returns a descriptor", SD_PLUGIN_ENTRY);
	if (d == NULL)
		return;
	snprintf(why, sizeof(why), "%u", d->abi_major);
	result(d->abi_major == SD_ABI_MAJOR, why, "abi: abi_major is the host's %d", SD_ABI_MAJOR);
	snprintf(why, sizeof(why), "%u.%u", d->abi_major, d->abi_minor);
	result(d->abi_minor <= SD_ABI_MINOR, why, "abi: abi_minor is at most the host's %d", SD_ABI_MINOR);
	snprintf(why, sizeof(why), "%u bytes", d->struct_size);
	result(d->struct_size >= size_1_0, why, "abi: struct_size covers the 1.0 descriptor (%zu bytes)",
	       size_1_0);
	if (d->struct_size < size_1_0 || d->abi_major != SD_ABI_MAJOR) {
		note("the rest of the descriptor is not read");
		return;
	}
	note("plugin %s version %s, ABI %u.%u", d->name ? d->name : "(null)",
	     d->version ? d->version : "(null)", d->abi_major, d->abi_minor);
	snprintf(why, sizeof(why), "it is '%.64s'", d->name ? d->name : "(null)");
	result(d->name != NULL && strcmp(d->name, section) == 0, why, "abi: name matches [plugin %s]",
	       section);
	snprintf(why, sizeof(why), "kind %d", d->kind);
	result(d->kind == SD_KIND_LEASE, why, "abi: kind is SD_KIND_LEASE");
	why[0] = '\0';
	if (d->init == NULL)
		add_why(why, sizeof(why), "init");
	if (d->fini == NULL)
		add_why(why, sizeof(why), "fini");
	if (d->health == NULL)
		add_why(why, sizeof(why), "health");
	if (d->issue == NULL)
		add_why(why, sizeof(why), "issue");
	if (d->renew == NULL)
		add_why(why, sizeof(why), "renew");
	if (d->revoke == NULL)
		add_why(why, sizeof(why), "revoke");
	if (d->free_kv == NULL)
		add_why(why, sizeof(why), "free_kv");
	if (d->free_str == NULL)
		add_why(why, sizeof(why), "free_str");
	if (why[0] != '\0') {
		char missing[512];
		snprintf(missing, sizeof(missing), "NULL: %s", why);
		sd_strlcpy(why, missing, sizeof(why));
	}
	result(why[0] == '\0', why, "abi: mandatory callbacks are set");
	check_settings(d->plugin_settings, 0);
	check_settings(d->role_settings, 1);
}

/* --- calls ------------------------------------------------------------------------------ */

struct target {
	const struct sd_plugin *d;
	void *state;
};

/* Count fields up to KIT_CREDS_MAX; *terminated says whether the NULL key
 * was found within them. */
static size_t creds_count(const struct sd_kv *creds, int *terminated)
{
	size_t n;

	*terminated = 0;
	for (n = 0; creds != NULL && n < KIT_CREDS_MAX; n++)
		if (creds[n].key == NULL) {
			*terminated = 1;
			break;
		}
	return n;
}

static void check_creds(const char *role, const struct sd_kv *creds, const char *handle)
{
	char why[512] = "", fields[512] = "";
	int terminated, empty = 0, dup = 0;
	size_t n = creds_count(creds, &terminated);

	if (creds == NULL)
		snprintf(why, sizeof(why), "creds is NULL");
	else if (!terminated)
		snprintf(why, sizeof(why), "no NULL key within %d fields", KIT_CREDS_MAX);
	else if (n == 0)
		snprintf(why, sizeof(why), "no fields");
	result(why[0] == '\0', why, "%s: issue returns a non-empty, NULL-terminated creds array", role);
	if (why[0] != '\0')
		return;
	why[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (creds[i].key[0] == '\0' || creds[i].value == NULL)
			empty++;
		for (size_t j = 0; j < i; j++)
			if (strcmp(creds[i].key, creds[j].key) == 0) {
				dup++;
				add_why(why, sizeof(why), "'%.64s'", creds[i].key);
			}
		snprintf(fields + strlen(fields), sizeof(fields) - strlen(fields), "%s%.64s", i ? ", " : "",
			 creds[i].key);
	}
	note("%s: fields %s", role, fields);
	result(empty == 0, "an empty key or a NULL value", "%s: issue creds have non-empty keys and values",
	       role);
	result(dup == 0, why, "%s: issue creds have no duplicate key", role);
	if (kv_get(creds, "_revocable") != NULL)
		note("%s: _revocable = %s", role, kv_get(creds, "_revocable"));
	snprintf(why, sizeof(why), "%zu bytes", handle ? strlen(handle) : 0);
	result(handle == NULL || strlen(handle) <= KIT_HANDLE_MAX, why,
	       "%s: issue handle is NULL or fits the host's lease record (%zu bytes)", role,
	       (size_t)KIT_HANDLE_MAX);
}

static void issue_outputs_free(const struct target *t, struct sd_kv *creds, char *handle)
{
	if (creds != NULL)
		t->d->free_kv(creds);
	if (handle != NULL)
		t->d->free_str(handle);
}

/* issue, renew, revoke (three times), as the lease engine calls them. */
static void lifecycle(const struct target *t, const struct role *ro)
{
	const struct sd_kv *rs = ro->settings;
	const char *R = ro->name;
	struct kit_call k;
	struct sd_kv *creds = NULL;
	char *handle = NULL, id[LEASE_ID_LEN + 1], buf[512];
	int64_t now = sd_now_us(), exp = now + ro->default_ttl_s * 1000000, want = exp;
	int rc, late;

	lease_id(id);
	note("%s: lease %s, ttl %lld s", R, id, (long long)ro->default_ttl_s);
	rc = t->d->issue(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, &exp, &creds, &handle);
	late = sd_now_us() > k.pc.deadline_us;
	kdone(&k, rc, R, "issue");
	result(rc == SD_POK && !late, late ? "answered after its deadline" : why_call(&k, rc, buf, sizeof(buf)),
	       "%s: issue returns SD_POK", R);
	if (rc != SD_POK) {
		issue_outputs_free(t, creds, handle);
		/* Nothing should be left; make sure of it. */
		kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, NULL), R, "revoke");
		note("%s: the rest of this role's lifecycle is skipped", R);
		return;
	}
	check_creds(R, creds, handle);
	snprintf(buf, sizeof(buf), "%lld s from now", (long long)((exp - sd_now_us()) / 1000000));
	result(exp > sd_now_us(), buf, "%s: issue leaves an expiry in the future", R);
	if (exp != want)
		note("%s: the plugin set its own expiry (%lld s from now)", R, (long long)((exp - now) / 1000000));

	rc = kdone(&k, t->d->renew(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, handle, exp + 60 * 1000000LL),
		   R, "renew");
	if (rc == SD_PINVAL)
		note("%s: renew cannot extend (allowed): %s", R, why_call(&k, rc, buf, sizeof(buf)));
	result(rc == SD_POK || rc == SD_PINVAL, why_call(&k, rc, buf, sizeof(buf)),
	       "%s: renew to a later expiry returns SD_POK (or SD_PINVAL: cannot extend)", R);

	rc = kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, handle), R, "revoke");
	result(rc == SD_POK, why_call(&k, rc, buf, sizeof(buf)), "%s: revoke returns SD_POK", R);
	rc = kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, handle), R, "revoke");
	result(revoked_ok(rc), why_call(&k, rc, buf, sizeof(buf)),
	       "%s: revoke again is idempotent (SD_POK or SD_PNOTFOUND)", R);
	rc = kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, NULL), R, "revoke");
	result(revoked_ok(rc), why_call(&k, rc, buf, sizeof(buf)),
	       "%s: revoke with handle NULL after revoke returns SD_POK or SD_PNOTFOUND", R);
	issue_outputs_free(t, creds, handle);
}

/* A crash before the host saw the handle: revoke by lease id alone must
 * find and remove what issue created. */
static void crash_recovery(const struct target *t, const struct role *ro)
{
	const char *R = ro->name;
	const struct sd_kv *rs = ro->settings;
	struct kit_call k;
	struct sd_kv *creds = NULL;
	char *handle = NULL, id[LEASE_ID_LEN + 1], buf[512];
	int64_t exp = sd_now_us() + ro->default_ttl_s * 1000000;
	int rc;

	lease_id(id);
	rc = kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, NULL), R, "revoke");
	result(revoked_ok(rc), why_call(&k, rc, buf, sizeof(buf)),
	       "%s: revoke of a lease never issued returns SD_POK or SD_PNOTFOUND", R);

	lease_id(id);
	rc = kdone(&k, t->d->issue(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, &exp, &creds, &handle), R, "issue");
	if (rc != SD_POK) {
		result(0, why_call(&k, rc, buf, sizeof(buf)),
		       "%s: revoke with handle NULL removes a fresh credential (crash recovery)", R);
		issue_outputs_free(t, creds, handle);
		return;
	}
	rc = kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, NULL), R, "revoke");
	if (rc == SD_PNOTFOUND)
		snprintf(buf, sizeof(buf), "SD_PNOTFOUND: the credential was not found by its lease id (derive "
					   "every name from the lease id)");
	else
		why_call(&k, rc, buf, sizeof(buf));
	result(rc == SD_POK, buf, "%s: revoke with handle NULL removes a fresh credential (crash recovery)",
	       R);
	/* Clean up with the handle in case it did not. */
	rc = kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, handle), R, "revoke");
	result(revoked_ok(rc), why_call(&k, rc, buf, sizeof(buf)),
	       "%s: revoke with the handle after that returns SD_POK or SD_PNOTFOUND", R);
	issue_outputs_free(t, creds, handle);
}

/* An issue whose deadline has passed must give up quickly. */
static void passed_deadline(const struct target *t, const struct role *ro)
{
	const char *R = ro->name;
	const struct sd_kv *rs = ro->settings;
	struct kit_call k;
	struct sd_kv *creds = NULL;
	char *handle = NULL, id[LEASE_ID_LEN + 1], buf[512];
	int64_t exp = sd_now_us() + ro->default_ttl_s * 1000000;
	uint64_t t0, ns;
	int rc;

	lease_id(id);
	t0 = mono_ns();
	rc = t->d->issue(t->state, kcall(&k, 0), id, rs, &exp, &creds, &handle);
	ns = mono_ns() - t0;
	kdone(&k, rc, R, "issue past its deadline");
	snprintf(buf, sizeof(buf), "took %llu ms", (unsigned long long)(ns / 1000000));
	result(ns <= (uint64_t)KIT_LATE_BOUND_NS, buf, "%s: issue with a passed deadline returns within 2 s",
	       R);
	note("%s: issue with a passed deadline: %s in %llu ms", R, code_name(rc),
	     (unsigned long long)(ns / 1000000));
	if (rc == SD_POK) {
		/* The host counts it as failed and revokes it: so do we. */
		rc = kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, handle), R, "revoke");
		result(revoked_ok(rc), why_call(&k, rc, buf, sizeof(buf)),
		       "%s: the credential issued past its deadline is revoked", R);
	} else {
		kdone(&k, t->d->revoke(t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, NULL), R, "revoke");
	}
	issue_outputs_free(t, creds, handle);
}

/* --- threads ------------------------------------------------------------------------------ */

struct worker {
	pthread_t tid;
	const struct target *t;
	const struct role *ro;
	int failed;
	char first[300];
	unsigned char digest[KIT_ROUNDS][32];
	int ndigest;
};

/* SHA-256 of the creds, to tell leases apart without keeping secrets. */
static void creds_digest(const struct sd_kv *creds, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int terminated;
	size_t n = creds_count(creds, &terminated);

	memset(out, 0, 32);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *v = creds[i].value ? creds[i].value : "";
		EVP_DigestUpdate(ctx, creds[i].key, strlen(creds[i].key) + 1);
		EVP_DigestUpdate(ctx, v, strlen(v) + 1);
	}
	EVP_DigestFinal_ex(ctx, out, NULL);
out:
	EVP_MD_CTX_free(ctx);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct sd_kv *rs = w->ro->settings;
	struct kit_call k;
	char buf[256];

	for (int i = 0; i < KIT_ROUNDS; i++) {
		struct sd_kv *creds = NULL;
		char *handle = NULL, id[LEASE_ID_LEN + 1];
		int64_t exp = sd_now_us() + w->ro->default_ttl_s * 1000000;
		int rc;

		lease_id(id);
		rc = kdone(&k, w->t->d->issue(w->t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, &exp, &creds, &handle),
			   w->ro->name, "issue (threads)");
		if (rc == SD_POK) {
			creds_digest(creds, w->digest[w->ndigest++]);
			rc = kdone(&k, w->t->d->revoke(w->t->state, kcall(&k, KIT_TIMEOUT_MS), id, rs, handle),
				   w->ro->name, "revoke (threads)");
			if (rc != SD_POK && w->failed++ == 0)
				snprintf(w->first, sizeof(w->first), "revoke %s", why_call(&k, rc, buf, sizeof(buf)));
		} else if (w->failed++ == 0) {
			snprintf(w->first, sizeof(w->first), "issue %s", why_call(&k, rc, buf, sizeof(buf)));
		}
		issue_outputs_free(w->t, creds, handle);
	}
	return NULL;
}

static void threads(const struct target *t, const struct role *ro)
{
	struct worker w[KIT_THREADS];
	char why[512] = "";
	int failed = 0, started = 0, dups = 0, total = 0;

	memset(w, 0, sizeof(w));
	for (int i = 0; i < KIT_THREADS; i++) {
		w[i].t = t;
		w[i].ro = ro;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
			break;
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	for (int i = 0; i < started; i++) {
		failed += w[i].failed;
		if (w[i].failed > 0 && why[0] == '\0')
			snprintf(why, sizeof(why), "%d failed, the first: %s", w[i].failed, w[i].first);
	}
	if (started < KIT_THREADS)
		snprintf(why, sizeof(why), "cannot start threads");
	result(failed == 0 && started == KIT_THREADS, why,
	       "threads: %d threads x %d issue+revoke on role %s all succeed", KIT_THREADS, KIT_ROUNDS,
	       ro->name);
	for (int i = 0; i < started; i++)
		for (int a = 0; a < w[i].ndigest; a++) {
			total++;
			for (int j = 0; j <= i; j++)
				for (int b = 0; b < (j == i ? a : w[j].ndigest); b++)
					dups += memcmp(w[i].digest[a], w[j].digest[b], 32) == 0;
		}
	snprintf(why, sizeof(why), "%d of %d leases got the same credentials as another", dups, total);
	result(dups == 0, why, "threads: concurrent leases get distinct credentials");
	OPENSSL_cleanse(w, sizeof(w));
}

/* --- main --------------------------------------------------------------------------------- */

static void run_calls(const char *conf, struct registry *r, struct plugin *p)
{
	struct target t = { p->desc, p->state };
	const struct role *first = NULL;
	struct kit_call k;
	char buf[512];
	int rc, nroles = 0;

	for (size_t i = 0; i < r->nroles; i++)
		nroles += r->roles[i].plugin == p;
	snprintf(buf, sizeof(buf), "none in %s", conf);
	result(nroles > 0, buf, "conf: at least one [role] uses plugin %s", p->name);

	rc = kdone(&k, t.d->health(t.state, kcall(&k, KIT_TIMEOUT_MS)), "plugin", "health");
	result(rc == SD_POK, why_call(&k, rc, buf, sizeof(buf)), "health: returns SD_POK");
	if (rc != SD_POK) {
		note("the backend must be up for the kit: the calls are skipped");
		return;
	}
	snprintf(buf, sizeof(buf), "err is \"%.*s\"", (int)strnlen(k.pc.err, k.pc.call.err_cap), k.pc.err);
	result(k.pc.err[0] == '\0', buf, "health: writes nothing to err on success");

	for (size_t i = 0; i < r->nroles; i++) {
		const struct role *ro = &r->roles[i];
		if (ro->plugin != p)
			continue;
		if (first == NULL)
			first = ro;
		lifecycle(&t, ro);
		crash_recovery(&t, ro);
		passed_deadline(&t, ro);
	}
	if (first != NULL)
		threads(&t, first);
	result(atomic_load(&bad_codes) == 0, "see the notes above",
	       "results: every call returned SD_POK or an SD_P* code (%d calls)", atomic_load(&calls_made));
	result(atomic_load(&bad_errs) == 0, "see the notes above",
	       "errors: every failed call left a reason in err, NUL-terminated within err_cap (%d failures)",
	       atomic_load(&failures_seen));
	result(atomic_load(&overruns) == 0, "see the notes above", "errors: no call wrote past err_cap");
}

int main(int argc, char **argv)
{
	struct kitconf kc;
	struct registry *r = NULL;
	struct plugin *p = NULL;
	struct sd_err err;
	char so[PATH_MAX], hex[65], why[SD_ERR_MSG_MAX + PATH_MAX] = "";
	unsigned char *image;
	size_t len = 0;

	memset(&kc, 0, sizeof(kc));
	sd_err_clear(&err);
	if (argc != 3) {
		fprintf(stderr, "usage: secretsd-plugin-test PLUGIN.so CONFIG\n");
		return 2;
	}
	if (realpath(argv[1], so) == NULL) {
		fprintf(stderr, "secretsd-plugin-test: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	image = (unsigned char *)slurp(so, KIT_ELF_MAX, &len, why, sizeof(why));
	if (image == NULL || sha256_hex(image, len, hex) != 0) {
		result(0, why[0] ? why : "cannot hash it", "file: %s is readable", so);
		free(image);
		goto done;
	}
	note("%s sha256 %s", so, hex);
	check_elf(image, len, so);
	free(image);

	if (write_conf(argv[2], so, hex, &kc, why, sizeof(why)) != 0 || kc.nplugins != 1) {
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "it has %d", kc.nplugins);
		result(0, why, "conf: %s has exactly one [plugin NAME] section", argv[2]);
		goto done;
	}
	result(1, NULL, "conf: %s has exactly one [plugin NAME] section", argv[2]);

	check_desc(so, kc.name);
	if (plugin_open(so, NULL, &p, &err) != 0) {
		result(0, err.msg, "load: the host's plugin_open accepts the plugin");
		goto done;
	}
	result(1, NULL, "load: the host's plugin_open accepts the plugin");
	plugin_close(p); /* before registry_load opens it again */

	if (registry_load(kc.file, &r, &err) != 0) {
		unmap_error(&kc, argv[2], err.msg, why, sizeof(why));
		result(0, why, "conf: the host's registry_load reads %s and inits the plugin", argv[2]);
		goto done;
	}
	result(1, NULL, "conf: the host's registry_load reads %s and inits the plugin", argv[2]);
	p = registry_plugin(r, kc.name);
	if (p == NULL) {
		result(0, "disabled or missing", "conf: plugin %s is loaded", kc.name);
		goto done;
	}
	run_calls(argv[2], r, p);
	registry_release(r); /* fini: leaks in the plugin show up under ASan */
	r = NULL;
	result(1, NULL, "fini: the plugin was finalised and unloaded");
done:
	registry_release(r);
	remove_conf(&kc);
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail == 0 ? 0 : 1;
}
