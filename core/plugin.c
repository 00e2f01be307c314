/* plugin.c — loading plugins (pinned, through one descriptor), checking
 * their descriptors, reading plugins.conf against their declared settings,
 * and the host services table. */
#include "plugin.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* The size of the 1.0 descriptor: anything smaller is refused. */
#define DESC_1_0_SIZE (offsetof(struct sd_plugin, free_str) + sizeof(void (*)(char *)))
#define SETTINGS_MAX 64

/* --- kv helpers ------------------------------------------------------------- */

const char *kv_get(const struct sd_kv *kv, const char *key)
{
	for (; kv != NULL && kv->key != NULL; kv++)
		if (strcmp(kv->key, key) == 0)
			return kv->value;
	return NULL;
}

void kv_free(struct sd_kv *kv)
{
	if (kv == NULL)
		return;
	for (struct sd_kv *p = kv; p->key != NULL; p++) {
		free((char *)p->key);
		sd_wipe_free_str((char *)p->value);
	}
	free(kv);
}

/* --- host services ------------------------------------------------------------ */

static void host_log(int level, const char *plugin, const char *msg)
{
	if (level < SD_LOG_DEBUG || level > SD_LOG_ERROR)
		level = SD_LOG_INFO;
	log_msg((enum log_level)level, "plugin %.64s: %.512s", plugin ? plugin : "?", msg ? msg : "");
}

static int host_random(unsigned char *buf, size_t len)
{
	return len > INT32_MAX || RAND_bytes(buf, (int)len) != 1 ? SD_PINTERNAL : SD_POK;
}

static int64_t host_now(void)
{
	return sd_now_us();
}

static int host_password(char *out, size_t cap, size_t len, const char *classes)
{
	static const char *sets[4] = { "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
				       "0123456789", "-_.~" };
	static const char *names[4] = { "lower", "upper", "digit", "symbol" };
	char alphabet[128] = "";
	int use[4] = { 1, 1, 1, 0 }, nuse = 0;
	size_t alen;

	if (classes != NULL) {
		for (int i = 0; i < 4; i++)
			use[i] = strstr(classes, names[i]) != NULL;
	}
	for (int i = 0; i < 4; i++)
		if (use[i]) {
			strcat(alphabet, sets[i]);
			nuse++;
		}
	alen = strlen(alphabet);
	if (nuse == 0 || len < (size_t)nuse || len >= cap || len > 1024)
		return SD_PINVAL;
	for (;;) {
		int seen[4] = { 0, 0, 0, 0 }, ok = 1;
		for (size_t i = 0; i < len; i++) {
			unsigned char b;
			do { /* rejection sampling: no modulo bias */
				if (RAND_bytes(&b, 1) != 1)
					return SD_PINTERNAL;
			} while (b >= 256 - (256 % alen));
			out[i] = alphabet[b % alen];
			for (int k = 0; k < 4; k++)
				if (use[k] && strchr(sets[k], out[i]))
					seen[k] = 1;
		}
		out[len] = '\0';
		for (int k = 0; k < 4; k++)
			if (use[k] && !seen[k])
				ok = 0;
		if (ok)
			return SD_POK;
	}
}

static atomic_int stopping;

void plugin_set_stopping(void)
{
	atomic_store(&stopping, 1);
}

int plugin_stopping(void)
{
	return atomic_load(&stopping);
}

static int host_cancelled(const struct sd_call *call)
{
	const struct plugin_call *c = (const struct plugin_call *)call;

	return atomic_load(&stopping) || (call != NULL && sd_now_us() >= c->deadline_us);
}

static int64_t host_deadline(const struct sd_call *call)
{
	const struct plugin_call *c = (const struct plugin_call *)call;

	return call != NULL ? c->deadline_us : sd_now_us();
}

static const struct sd_host host_table = {
	.abi_major = SD_ABI_MAJOR,
	.abi_minor = SD_ABI_MINOR,
	.struct_size = sizeof(struct sd_host),
	.log = host_log,
	.random_bytes = host_random,
	.now_us = host_now,
	.password = host_password,
	.cancelled = host_cancelled,
	.deadline_us = host_deadline,
};

const struct sd_host *plugin_host(void)
{
	return &host_table;
}

void plugin_call_init(struct plugin_call *c, int64_t timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->call.struct_size = sizeof(c->call);
	c->call.err = c->err;
	c->call.err_cap = sizeof(c->err);
	c->call.host_private = c;
	c->deadline_us = sd_now_us() + timeout_ms * 1000;
}

int plugin_result(int prc)
{
	switch (prc) {
	case SD_POK: return SD_OK;
	case SD_PDOWN:
	case SD_PTIMEOUT: return SD_EDOWN;
	case SD_PNOTFOUND: return SD_ENOTFOUND;
	case SD_PINVAL:
	case SD_PDENIED: return SD_EINVAL;
	default: return SD_EINTERNAL;
	}
}

/* --- loading -------------------------------------------------------------------- */

static int name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > SD_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static int settings_ok(const struct sd_setting *s, const char *what, struct sd_err *err)
{
	for (int i = 0; s != NULL && s[i].name != NULL; i++) {
		if (i >= SETTINGS_MAX)
			return sd_err_set(err, SD_EINVAL, "plugin declares more than %d %s", SETTINGS_MAX, what);
		if (s[i].type < SD_SET_STRING || s[i].type > SD_SET_URL)
			return sd_err_set(err, SD_EINVAL, "%s '%.64s' has an unknown type", what, s[i].name);
	}
	return 0;
}

/* Check a descriptor against this host; the message says why not. */
static int check_desc(const struct sd_plugin *d, struct sd_err *err)
{
	if (d == NULL)
		return sd_err_set(err, SD_EINVAL, "entry point returned no descriptor");
	if (d->abi_major != SD_ABI_MAJOR)
		return sd_err_set(err, SD_EINVAL, "ABI major %u, this host speaks %u", d->abi_major, SD_ABI_MAJOR);
	if (d->abi_minor > SD_ABI_MINOR)
		return sd_err_set(err, SD_EINVAL, "ABI %u.%u is newer than this host's %u.%u", d->abi_major,
				  d->abi_minor, SD_ABI_MAJOR, SD_ABI_MINOR);
	if (d->struct_size < DESC_1_0_SIZE)
		return sd_err_set(err, SD_EINVAL, "descriptor is %u bytes, ABI 1.0 needs %zu", d->struct_size,
				  (size_t)DESC_1_0_SIZE);
	if (!name_ok(d->name) || strchr(d->name, '-') != NULL)
		return sd_err_set(err, SD_EINVAL, "plugin name must be 1-63 of [a-z0-9_]");
	if (d->kind != SD_KIND_LEASE && d->kind != SD_KIND_KMS)
		return sd_err_set(err, SD_EINVAL, "unknown plugin kind %d", d->kind);
	if (d->init == NULL || d->fini == NULL || d->health == NULL)
		return sd_err_set(err, SD_EINVAL, "missing mandatory callback (init, fini or health)");
	if (d->kind == SD_KIND_LEASE &&
	    (d->issue == NULL || d->renew == NULL || d->revoke == NULL || d->free_kv == NULL ||
	     d->free_str == NULL))
		return sd_err_set(err, SD_EINVAL,
				  "missing mandatory callback for a lease plugin (issue, renew, revoke, free_kv or free_str)");
	if (d->kind == SD_KIND_KMS)
		return sd_err_set(err, SD_EINVAL, "kms plugins are not supported by this host yet");
	if (settings_ok(d->plugin_settings, "plugin setting", err) != 0 ||
	    settings_ok(d->role_settings, "role setting", err) != 0)
		return err->code;
	return 0;
}

/* Copy fd into a new sealed memfd while hashing what was copied. The
 * library is loaded from the memfd: exactly the bytes that were hashed, with
 * an identity of its own (glibc reuses an already-loaded object whose path
 * string or inode matches, so neither the file nor /proc/self/fd/N of it
 * would be safe to load twice). Returns the memfd or -1. */
static int copy_and_hash(int fd, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[65536];
	unsigned int n = 32;
	ssize_t got;
	int mfd = memfd_create("secretsd-plugin", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (ctx == NULL || mfd < 0 || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto fail;
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1 || write(mfd, buf, (size_t)got) != got)
			goto fail;
	}
	if (got != 0 || EVP_DigestFinal_ex(ctx, out, &n) != 1 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
		goto fail;
	EVP_MD_CTX_free(ctx);
	return mfd;
fail:
	EVP_MD_CTX_free(ctx);
	if (mfd >= 0)
		close(mfd);
	return -1;
}

int plugin_open(const char *file, const unsigned char *pin, struct plugin **out, struct sd_err *err)
{
	struct plugin *p = NULL;
	struct stat st;
	char fdpath[64], have[65], want[65];
	sd_plugin_entry_fn entry;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sd_err_set(err, SD_EINVAL, "cannot open %s: %s", file, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return sd_err_set(err, SD_EINVAL, "%s is not a regular file", file);
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		close(fd);
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	}
	p->memfd = -1;
	sd_strlcpy(p->file, file, sizeof(p->file));
	p->memfd = copy_and_hash(fd, p->sha256);
	if (p->memfd < 0) {
		sd_err_set(err, SD_EINVAL, "cannot read %s", file);
		goto fail;
	}
	if (pin != NULL && CRYPTO_memcmp(pin, p->sha256, 32) != 0) {
		sd_hex(p->sha256, 32, have);
		sd_hex(pin, 32, want);
		sd_err_set(err, SD_EINVAL, "%s does not match its sha256 pin (file is %s, pin is %s)", file,
			   have, want);
		goto fail;
	}
	/* Load what was hashed: the sealed copy, never the name again. The
	 * memfd stays open while the library is loaded, so its path is unique. */
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", p->memfd);
	p->dl = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
	if (p->dl == NULL) {
		sd_err_set(err, SD_EINVAL, "cannot load %s: %s", file, dlerror());
		goto fail;
	}
	*(void **)&entry = dlsym(p->dl, SD_PLUGIN_ENTRY);
	if (entry == NULL) {
		sd_err_set(err, SD_EINVAL, "%s does not export %s", file, SD_PLUGIN_ENTRY);
		goto fail;
	}
	p->desc = entry();
	if (check_desc(p->desc, err) != 0) {
		char why[SD_ERR_MSG_MAX];
		sd_strlcpy(why, err->msg, sizeof(why));
		sd_err_set(err, SD_EINVAL, "%s refused: %s", file, why);
		goto fail;
	}
	sd_strlcpy(p->name, p->desc->name, sizeof(p->name));
	atomic_init(&p->refs, 1);
	atomic_init(&p->healthy, 1);
	close(fd);
	*out = p;
	return 0;
fail:
	close(fd);
	if (p->dl)
		dlclose(p->dl);
	if (p->memfd >= 0)
		close(p->memfd);
	free(p);
	return err->code;
}

void plugin_close(struct plugin *p)
{
	if (p == NULL)
		return;
	if (p->state != NULL)
		p->desc->fini(p->state);
	if (p->dl)
		dlclose(p->dl);
	if (p->memfd >= 0)
		close(p->memfd);
	kv_free(p->settings);
	free(p);
}

void plugin_hold(struct plugin *p)
{
	atomic_fetch_add(&p->refs, 1);
}

void plugin_release(struct plugin *p)
{
	if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1)
		plugin_close(p);
}

/* --- plugins.conf ------------------------------------------------------------------- */

struct entry {
	char *key, *value;
	int line;
};

struct section {
	int is_role;
	char name[SD_NAME_MAX + 1];
	int line;
	struct entry *e;
	size_t n;
};

struct conf {
	const char *file;
	char dir[PATH_MAX];
	struct section *s;
	size_t n;
};

static void conf_free(struct conf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		for (size_t k = 0; k < c->s[i].n; k++) {
			free(c->s[i].e[k].key);
			sd_wipe_free_str(c->s[i].e[k].value);
		}
		free(c->s[i].e);
	}
	free(c->s);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Parse the INI text; sections must be [plugin NAME] or [role NAME]. */
static int conf_parse(struct conf *c, struct sd_err *err)
{
	FILE *f = fopen(c->file, "re");
	char line[4096];
	int lineno = 0, rc = 0;
	struct section *cur = NULL;

	if (f == NULL)
		return sd_err_set(err, SD_EINVAL, "%s: cannot open: %s", c->file, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq;
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			rc = sd_err_set(err, SD_EINVAL, "%s:%d: line longer than %zu bytes", c->file, lineno,
					sizeof(line) - 2);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']'), *kind, *name;
			struct section *ns;
			if (end == NULL || trim(end + 1)[0] != '\0') {
				rc = sd_err_set(err, SD_EINVAL, "%s:%d: malformed section header", c->file, lineno);
				break;
			}
			*end = '\0';
			kind = trim(s + 1);
			name = kind + strcspn(kind, " \t");
			if (*name)
				*name++ = '\0';
			name = trim(name);
			if ((strcmp(kind, "plugin") != 0 && strcmp(kind, "role") != 0) || !name_ok(name)) {
				rc = sd_err_set(err, SD_EINVAL,
						"%s:%d: sections are [plugin NAME] or [role NAME], NAME of [a-z0-9_-]",
						c->file, lineno);
				break;
			}
			for (size_t i = 0; i < c->n; i++)
				if (c->s[i].is_role == (kind[0] == 'r') && strcmp(c->s[i].name, name) == 0) {
					rc = sd_err_set(err, SD_EINVAL, "%s:%d: [%s %s] is defined twice", c->file,
							lineno, kind, name);
					goto out;
				}
			ns = realloc(c->s, (c->n + 1) * sizeof(*c->s));
			if (ns == NULL) {
				rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
				break;
			}
			c->s = ns;
			cur = &c->s[c->n++];
			memset(cur, 0, sizeof(*cur));
			cur->is_role = kind[0] == 'r';
			cur->line = lineno;
			sd_strlcpy(cur->name, name, sizeof(cur->name));
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL || cur == NULL) {
			rc = sd_err_set(err, SD_EINVAL, "%s:%d: %s", c->file, lineno,
					cur == NULL ? "setting outside a section" : "expected key = value");
			break;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		if (*key == '\0') {
			rc = sd_err_set(err, SD_EINVAL, "%s:%d: empty key", c->file, lineno);
			break;
		}
		for (size_t k = 0; k < cur->n; k++)
			if (strcmp(cur->e[k].key, key) == 0) {
				rc = sd_err_set(err, SD_EINVAL, "%s:%d: '%s' is set twice in [%s %s]", c->file, lineno,
						key, cur->is_role ? "role" : "plugin", cur->name);
				goto out;
			}
		struct entry *ne = realloc(cur->e, (cur->n + 1) * sizeof(*cur->e));
		if (ne == NULL) {
			rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
			break;
		}
		cur->e = ne;
		cur->e[cur->n].key = strdup(key);
		cur->e[cur->n].value = strdup(val);
		cur->e[cur->n].line = lineno;
		cur->n++;
	}
out:
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return rc;
}

static const struct entry *sec_get(const struct section *s, const char *key)
{
	for (size_t k = 0; k < s->n; k++)
		if (strcmp(s->e[k].key, key) == 0)
			return &s->e[k];
	return NULL;
}

static int type_ok(int type, const char *v)
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

static const char *type_name(int type)
{
	static const char *n[] = { "?", "a string", "an integer", "true or false", "a duration", "a URL" };
	return type >= 1 && type <= 5 ? n[type] : "?";
}

static int is_reserved(const char *key, int is_role)
{
	static const char *plugin_keys[] = { "path", "sha256", "sha256_file", "enabled", NULL };
	static const char *role_keys[] = { "plugin", "default_ttl_s", "max_ttl_s", "path", NULL };
	for (const char **k = is_role ? role_keys : plugin_keys; *k; k++)
		if (strcmp(*k, key) == 0)
			return 1;
	return 0;
}

/* Build the kv array for a section against declared settings. */
static int build_kv(const struct conf *c, const struct section *s, const struct sd_setting *decl,
		    const char *plugin_name, struct sd_kv **out, struct sd_err *err)
{
	size_t n = 0, cap = s->n + SETTINGS_MAX + 2;
	struct sd_kv *kv = calloc(cap, sizeof(*kv));

	if (kv == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	for (size_t k = 0; k < s->n; k++) {
		const struct entry *e = &s->e[k];
		const struct sd_setting *d = NULL;
		if (is_reserved(e->key, s->is_role))
			continue;
		for (int i = 0; decl != NULL && decl[i].name != NULL; i++)
			if (strcmp(decl[i].name, e->key) == 0)
				d = &decl[i];
		if (d == NULL) {
			kv_free(kv);
			return sd_err_set(err, SD_EINVAL, "%s:%d: plugin %s has no %s setting '%s'", c->file,
					  e->line, plugin_name, s->is_role ? "role" : "plugin", e->key);
		}
		if (!type_ok(d->type, e->value)) {
			kv_free(kv);
			return sd_err_set(err, SD_EINVAL, "%s:%d: '%s' must be %s", c->file, e->line, e->key,
					  type_name(d->type));
		}
		kv[n].key = strdup(e->key);
		kv[n].value = strdup(e->value);
		n++;
	}
	for (int i = 0; decl != NULL && decl[i].name != NULL; i++) {
		if (sec_get(s, decl[i].name) != NULL)
			continue;
		if (decl[i].required) {
			kv_free(kv);
			return sd_err_set(err, SD_EINVAL, "%s:%d: [%s %s] needs setting '%s'", c->file, s->line,
					  s->is_role ? "role" : "plugin", s->name, decl[i].name);
		}
		if (decl[i].default_value != NULL) {
			kv[n].key = strdup(decl[i].name);
			kv[n].value = strdup(decl[i].default_value);
			n++;
		}
	}
	if (s->is_role) {
		kv[n].key = strdup("role");
		kv[n].value = strdup(s->name);
		n++;
	}
	*out = kv;
	return 0;
}

static int parse_pin(const struct conf *c, const struct section *s, unsigned char pin[32],
		     struct sd_err *err)
{
	const struct entry *e = sec_get(s, "sha256"), *ef = sec_get(s, "sha256_file");
	char buf[128], path[PATH_MAX];
	const char *hex;
	int line;

	if ((e == NULL) == (ef == NULL))
		return sd_err_set(err, SD_EINVAL, "%s:%d: [plugin %s] needs exactly one of sha256 or sha256_file",
				  c->file, s->line, s->name);
	if (e != NULL) {
		hex = e->value;
		line = e->line;
	} else {
		FILE *f;
		size_t n;
		if (ef->value[0] == '/')
			snprintf(path, sizeof(path), "%s", ef->value);
		else
			snprintf(path, sizeof(path), "%s/%s", c->dir, ef->value);
		f = fopen(path, "re");
		if (f == NULL)
			return sd_err_set(err, SD_EINVAL, "%s:%d: cannot open sha256_file %s", c->file, ef->line, path);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		buf[strcspn(buf, " \t\r\n")] = '\0';
		hex = buf;
		line = ef->line;
	}
	if (strlen(hex) != 64)
		return sd_err_set(err, SD_EINVAL, "%s:%d: sha256 must be 64 hex digits", c->file, line);
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &v) != 1)
			return sd_err_set(err, SD_EINVAL, "%s:%d: sha256 must be 64 hex digits", c->file, line);
		pin[i] = (unsigned char)v;
	}
	return 0;
}

static int bool_value(const char *v)
{
	return !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1");
}

static int load_plugin_section(const struct conf *c, const struct section *s, struct plugin **out,
			       struct sd_err *err)
{
	const struct entry *pe = sec_get(s, "path"), *en = sec_get(s, "enabled");
	unsigned char pin[32];
	char file[PATH_MAX], why[SD_ERR_MSG_MAX], perr[256] = "";
	struct plugin *p = NULL;
	int rc;

	*out = NULL;
	if (en != NULL && !type_ok(SD_SET_BOOL, en->value))
		return sd_err_set(err, SD_EINVAL, "%s:%d: 'enabled' must be true or false", c->file, en->line);
	if (en != NULL && !bool_value(en->value))
		return 0; /* disabled: not loaded, roles on it are skipped */
	if (pe == NULL)
		return sd_err_set(err, SD_EINVAL, "%s:%d: [plugin %s] needs 'path'", c->file, s->line, s->name);
	if ((rc = parse_pin(c, s, pin, err)) != 0)
		return rc;
	if (pe->value[0] == '/')
		snprintf(file, sizeof(file), "%s", pe->value);
	else
		snprintf(file, sizeof(file), "%s/%s", c->dir, pe->value);
	if (plugin_open(file, pin, &p, err) != 0) {
		sd_strlcpy(why, err->msg, sizeof(why));
		return sd_err_set(err, SD_EINVAL, "%s:%d: %s", c->file, pe->line, why);
	}
	if (strcmp(p->name, s->name) != 0) {
		rc = sd_err_set(err, SD_EINVAL, "%s:%d: %s is plugin '%s', not '%s'", c->file, pe->line, file,
				p->name, s->name);
		goto fail;
	}
	if ((rc = build_kv(c, s, p->desc->plugin_settings, p->name, &p->settings, err)) != 0)
		goto fail;
	if (p->desc->check != NULL && p->desc->check(p->settings, NULL, perr, sizeof(perr)) != SD_POK) {
		rc = sd_err_set(err, SD_EINVAL, "%s:%d: [plugin %s]: %.200s", c->file, s->line, s->name, perr);
		goto fail;
	}
	if (p->desc->init(plugin_host(), p->settings, &p->state, perr, sizeof(perr)) != SD_POK) {
		p->state = NULL;
		rc = sd_err_set(err, SD_EINVAL, "%s:%d: plugin %s failed to start: %.200s", c->file, s->line,
				s->name, perr);
		goto fail;
	}
	*out = p;
	return 0;
fail:
	plugin_close(p);
	return rc;
}

static int load_role_section(const struct conf *c, const struct section *s, struct registry *r,
			     const struct conf *all, int *skipped, struct sd_err *err)
{
	const struct entry *pe = sec_get(s, "plugin"), *e;
	struct role *role = &r->roles[r->nroles];
	struct plugin *p;
	char perr[256] = "";
	int64_t v;

	*skipped = 0;
	if (pe == NULL)
		return sd_err_set(err, SD_EINVAL, "%s:%d: [role %s] needs 'plugin'", c->file, s->line, s->name);
	p = registry_plugin(r, pe->value);
	if (p == NULL) {
		for (size_t i = 0; i < all->n; i++)
			if (!all->s[i].is_role && strcmp(all->s[i].name, pe->value) == 0) {
				log_info("role %s skipped: plugin %s is disabled", s->name, pe->value);
				*skipped = 1;
				return 0;
			}
		return sd_err_set(err, SD_EINVAL, "%s:%d: no [plugin %s] for role %s", c->file, pe->line, pe->value,
				  s->name);
	}
	memset(role, 0, sizeof(*role));
	sd_strlcpy(role->name, s->name, sizeof(role->name));
	role->plugin = p;
	role->default_ttl_s = 3600;
	role->max_ttl_s = 86400;
	if ((e = sec_get(s, "default_ttl_s")) != NULL) {
		if (sd_parse_duration(e->value, &v) != 0 || v <= 0)
			return sd_err_set(err, SD_EINVAL, "%s:%d: default_ttl_s must be a positive duration",
					  c->file, e->line);
		role->default_ttl_s = v;
	}
	if ((e = sec_get(s, "max_ttl_s")) != NULL) {
		if (sd_parse_duration(e->value, &v) != 0 || v <= 0)
			return sd_err_set(err, SD_EINVAL, "%s:%d: max_ttl_s must be a positive duration", c->file,
					  e->line);
		role->max_ttl_s = v;
	}
	if (role->default_ttl_s > role->max_ttl_s)
		return sd_err_set(err, SD_EINVAL, "%s:%d: [role %s] default_ttl_s is larger than max_ttl_s", c->file,
				  s->line, s->name);
	if ((e = sec_get(s, "path")) != NULL) {
		struct sd_err perr2;
		if (path_check(e->value, &perr2) != 0)
			return sd_err_set(err, SD_EINVAL, "%s:%d: path: %s", c->file, e->line, perr2.msg);
		for (size_t i = 0; i < r->nroles; i++)
			if (strcmp(r->roles[i].path, e->value) == 0)
				return sd_err_set(err, SD_EINVAL, "%s:%d: path %s is already role %s's", c->file,
						  e->line, e->value, r->roles[i].name);
		sd_strlcpy(role->path, e->value, sizeof(role->path));
	}
	if (build_kv(c, s, p->desc->role_settings, p->name, &role->settings, err) != 0)
		return err->code;
	if (p->desc->check != NULL && p->desc->check(p->settings, role->settings, perr, sizeof(perr)) != SD_POK) {
		kv_free(role->settings);
		role->settings = NULL;
		return sd_err_set(err, SD_EINVAL, "%s:%d: [role %s]: %.200s", c->file, s->line, s->name, perr);
	}
	r->nroles++;
	return 0;
}

struct registry *registry_empty(void)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (r != NULL)
		atomic_init(&r->refs, 1);
	return r;
}

int registry_load(const char *file, struct registry **out, struct sd_err *err)
{
	struct conf c;
	struct registry *r = registry_empty();
	char tmp[PATH_MAX];
	int rc = 0, skipped;

	memset(&c, 0, sizeof(c));
	c.file = file;
	sd_strlcpy(tmp, file, sizeof(tmp));
	sd_strlcpy(c.dir, dirname(tmp), sizeof(c.dir));
	if (r == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	if ((rc = conf_parse(&c, err)) != 0)
		goto fail;
	r->plugins = calloc(c.n + 1, sizeof(*r->plugins));
	r->roles = calloc(c.n + 1, sizeof(*r->roles));
	if (r->plugins == NULL || r->roles == NULL) {
		rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < c.n; i++) {
		struct plugin *p;
		if (c.s[i].is_role)
			continue;
		if ((rc = load_plugin_section(&c, &c.s[i], &p, err)) != 0)
			goto fail;
		if (p != NULL)
			r->plugins[r->nplugins++] = p;
	}
	for (size_t i = 0; i < c.n; i++) {
		if (!c.s[i].is_role)
			continue;
		if ((rc = load_role_section(&c, &c.s[i], r, &c, &skipped, err)) != 0)
			goto fail;
	}
	conf_free(&c);
	*out = r;
	return 0;
fail:
	conf_free(&c);
	registry_release(r);
	return rc;
}

void registry_hold(struct registry *r)
{
	atomic_fetch_add(&r->refs, 1);
}

void registry_release(struct registry *r)
{
	if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	for (size_t i = 0; i < r->nroles; i++)
		kv_free(r->roles[i].settings);
	for (size_t i = 0; i < r->nplugins; i++)
		plugin_release(r->plugins[i]);
	free(r->roles);
	free(r->plugins);
	free(r);
}

const struct role *registry_role(const struct registry *r, const char *name)
{
	for (size_t i = 0; i < r->nroles; i++)
		if (strcmp(r->roles[i].name, name) == 0)
			return &r->roles[i];
	return NULL;
}

const struct role *registry_role_by_path(const struct registry *r, const char *path)
{
	for (size_t i = 0; i < r->nroles; i++)
		if (r->roles[i].path[0] != '\0' && strcmp(r->roles[i].path, path) == 0)
			return &r->roles[i];
	return NULL;
}

struct plugin *registry_plugin(const struct registry *r, const char *name)
{
	for (size_t i = 0; i < r->nplugins; i++)
		if (strcmp(r->plugins[i]->name, name) == 0)
			return r->plugins[i];
	return NULL;
}

/* --- plugin check ---------------------------------------------------------------------- */

static void print_settings(FILE *out, const char *title, const struct sd_setting *s)
{
	static const char *types[] = { "?", "string", "int", "bool", "duration", "url" };

	fprintf(out, "%s:\n", title);
	if (s == NULL || s[0].name == NULL)
		fprintf(out, "  (none)\n");
	for (int i = 0; s != NULL && s[i].name != NULL && i < SETTINGS_MAX; i++) {
		int show_default = s[i].default_value != NULL && !s[i].secret;
		fprintf(out, "  %-24s %-9s %s%s%s%s%s%s\n", s[i].name,
			types[s[i].type >= 1 && s[i].type <= 5 ? s[i].type : 0],
			s[i].required ? "required" : "optional", s[i].secret ? ", secret" : "",
			show_default ? ", default " : "", show_default ? s[i].default_value : "",
			s[i].help ? "  - " : "", s[i].help ? s[i].help : "");
	}
}

int plugin_check_cli(const char *file, FILE *out)
{
	struct plugin *p = NULL;
	struct sd_err err;
	char hex[65];

	sd_err_clear(&err);
	if (plugin_open(file, NULL, &p, &err) != 0) {
		fprintf(out, "%s\ncannot load: %s\n", file, err.msg);
		return 1;
	}
	sd_hex(p->sha256, 32, hex);
	fprintf(out, "file:     %s\nsha256:   %s\nname:     %s\nversion:  %s\nkind:     %s\n"
		     "abi:      %u.%u (host %u.%u)\ncallbacks:%s%s%s%s%s%s%s\n",
		file, hex, p->desc->name, p->desc->version ? p->desc->version : "?",
		p->desc->kind == SD_KIND_LEASE ? "lease" : "kms", p->desc->abi_major, p->desc->abi_minor,
		SD_ABI_MAJOR, SD_ABI_MINOR, p->desc->check ? " check" : "", " init fini health",
		p->desc->issue ? " issue" : "", p->desc->renew ? " renew" : "", p->desc->revoke ? " revoke" : "",
		p->desc->rotate ? " rotate" : "", p->desc->free_kv ? " free_kv free_str" : "");
	print_settings(out, "plugin settings", p->desc->plugin_settings);
	print_settings(out, "role settings", p->desc->role_settings);
	fprintf(out, "loadable: yes\n");
	plugin_close(p);
	return 0;
}
