/* fuzz_plugins.c — plugins.conf (registry_load, core/plugin.c: the INI
 * reader conf_parse, pins, declared settings, roles).
 *
 * The input is written as DIR/plugins.conf. DIR also holds gm.so (the test
 * plugin tests/plugins/good_minimal.c, built without coverage: plugin
 * dsn (url, required); role size (int 0..10)) and gm.sha256 (its pin),
 * so seeds can load a real plugin with "path = gm.so" and
 * "sha256_file = gm.sha256" and reach the role sections. When the plugin
 * was not built, the parse-error paths are still fuzzed.
 *
 * Invariants: a refusal is SD_EINVAL (or SD_EINTERNAL) naming the file; an
 * accepted registry has plugins and roles with valid names, default_ttl_s
 * <= max_ttl_s, role paths unique, every role's plugin among the
 * registry's, and lookups by name and by path find what it holds. */
#include <openssl/evp.h>

#include "fuzz_common.h"

#include "log.h"
#include "path.h"
#include "plugin.h"

#ifndef FUZZ_PLUGIN_SO
#define FUZZ_PLUGIN_SO ""
#endif

static char conf[PATH_MAX];

static void install_plugin(void)
{
	char dst[PATH_MAX], pin[PATH_MAX], hex[66];
	unsigned char md[32], buf[65536];
	unsigned int n = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	FILE *in = fopen(FUZZ_PLUGIN_SO, "rb"), *out;
	size_t got;

	if (in == NULL) {
		fprintf(stderr, "fuzz_plugins: %s not found: only the parse errors are fuzzed\n", FUZZ_PLUGIN_SO);
		EVP_MD_CTX_free(m);
		return;
	}
	fz_path(dst, sizeof(dst), "gm.so");
	out = fopen(dst, "wb");
	if (out == NULL || m == NULL || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1)
		fz_fail("cannot copy the plugin");
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0) {
		fwrite(buf, 1, got, out);
		EVP_DigestUpdate(m, buf, got);
	}
	fclose(in);
	fclose(out);
	EVP_DigestFinal_ex(m, md, &n);
	EVP_MD_CTX_free(m);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\n';
	fz_path(pin, sizeof(pin), "gm.sha256");
	fz_write_file(pin, hex, 65, 0600);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level((enum log_level)(LOG_ERROR + 1));
	fz_stdin_null();
	fz_tmpdir("plugins");
	fz_path(conf, sizeof(conf), "plugins.conf");
	install_plugin();
	return 0;
}

static int name_ok(const char *s, int dash)
{
	size_t n = strlen(s);

	if (n == 0 || n > SD_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || (dash && *s == '-')))
			return 0;
	return 1;
}

static void check_registry(const struct registry *r)
{
	struct sd_err err;

	for (size_t i = 0; i < r->nplugins; i++) {
		if (r->plugins[i] == NULL || !name_ok(r->plugins[i]->name, 0) || r->plugins[i]->desc == NULL)
			fz_fail("plugin %zu is not a loaded, named plugin", i);
		if (registry_plugin(r, r->plugins[i]->name) != r->plugins[i])
			fz_fail("registry_plugin does not find plugin %s", r->plugins[i]->name);
	}
	for (size_t i = 0; i < r->nroles; i++) {
		const struct role *ro = &r->roles[i];
		int found = 0;
		if (!name_ok(ro->name, 1))
			fz_fail("role %zu has a bad name", i);
		if (ro->default_ttl_s <= 0 || ro->default_ttl_s > ro->max_ttl_s)
			fz_fail("role %s: default_ttl_s %lld, max_ttl_s %lld", ro->name, (long long)ro->default_ttl_s,
				(long long)ro->max_ttl_s);
		for (size_t k = 0; k < r->nplugins; k++)
			found |= r->plugins[k] == ro->plugin;
		if (!found)
			fz_fail("role %s uses a plugin outside the registry", ro->name);
		if (registry_role(r, ro->name) != ro)
			fz_fail("registry_role does not find role %s", ro->name);
		if (ro->path[0] != '\0') {
			sd_err_clear(&err);
			if (path_check(ro->path, &err) != 0)
				fz_fail("role %s has an invalid path '%s'", ro->name, ro->path);
			if (registry_role_by_path(r, ro->path) != ro)
				fz_fail("role path %s is not unique or not found", ro->path);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry *r = NULL;
	struct sd_err err;
	int rc;

	fz_write_file(conf, data, size, 0600);
	sd_err_clear(&err);
	rc = registry_load(conf, &r, &err);
	if (rc != 0) {
		if ((rc != SD_EINVAL && rc != SD_EINTERNAL) || strstr(err.msg, conf) == NULL)
			fz_fail("registry_load refused with %d and message '%s'", rc, err.msg);
		if (r != NULL)
			fz_fail("registry_load failed but set its result");
		return 0;
	}
	if (r == NULL)
		fz_fail("registry_load succeeded without a registry");
	check_registry(r);
	registry_release(r);
	return 0;
}
