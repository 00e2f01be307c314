/* plugin.h — loading provider plugins and reading plugins.conf.
 *
 * plugins.conf (INI):
 *   [plugin NAME]   path = FILE.so (relative to the conf file's folder),
 *                   sha256 = HEX (or sha256_file = FILE holding it),
 *                   enabled = true|false, then the plugin's own settings
 *   [role NAME]     plugin = NAME, default_ttl_s, max_ttl_s, optional
 *                   path (a secret path that issues this role's lease on
 *                   GET), then the plugin's role settings
 * The file is parsed once; each plugin is checked against its pin through
 * the same open file descriptor it is loaded from, its descriptor checked,
 * its declared settings enforced with file and line in every error. */
#ifndef SD_PLUGIN_H
#define SD_PLUGIN_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <secretsd/plugin.h>

#include "err.h"
#include "path.h"

#define SD_NAME_MAX 63

struct plugin {
	char name[SD_NAME_MAX + 1];
	char file[PATH_MAX];
	unsigned char sha256[32];
	void *dl;
	int memfd;                   /* the sealed copy dlopen'ed (open while loaded) */
	const struct sd_plugin *desc;
	void *state;                 /* from desc->init */
	struct sd_kv *settings;      /* owned, NULL-terminated */
	atomic_int refs;             /* registries and live leases holding it */
	atomic_int healthy;          /* last health result: 1 ok, 0 down */
	char health_msg[256];
};

struct role {
	char name[SD_NAME_MAX + 1];
	struct plugin *plugin;
	int64_t default_ttl_s;
	int64_t max_ttl_s;
	char path[SD_PATH_MAX + 1];  /* "" when none */
	struct sd_kv *settings;      /* owned; role settings plus "role" = name */
};

struct registry {
	struct plugin **plugins;
	size_t nplugins;
	struct role *roles;
	size_t nroles;
	atomic_int refs;
};

/* Open a plugin file, check its SHA-256 against pin (32 bytes; NULL = do
 * not check, for `plugin check`), dlopen it through the same descriptor,
 * and check its descriptor against this host's ABI. The plugin is not
 * initialised. */
int plugin_open(const char *file, const unsigned char *pin, struct plugin **out, struct sd_err *err);
/* fini (if initialised), dlclose, free. */
void plugin_close(struct plugin *p);

/* Read plugins.conf, load, check and init every enabled plugin and role. */
int registry_load(const char *conf, struct registry **out, struct sd_err *err);
/* An empty registry (no plugins.conf). */
struct registry *registry_empty(void);
void registry_hold(struct registry *r);
/* Drop a reference; the last one closes plugins nobody else holds. */
void registry_release(struct registry *r);
const struct role *registry_role(const struct registry *r, const char *name);
const struct role *registry_role_by_path(const struct registry *r, const char *path);
struct plugin *registry_plugin(const struct registry *r, const char *name);

void plugin_hold(struct plugin *p);
void plugin_release(struct plugin *p);

/* `secretsd plugin check FILE.so`: print the descriptor and whether this
 * host can load it. Returns 0 when it can. */
int plugin_check_cli(const char *file, FILE *out);

/* From now on host->cancelled() is true for every call (shutdown). */
void plugin_set_stopping(void);

/* Non-zero once plugin_set_stopping was called (the server is stopping). */
int plugin_stopping(void);

/* The host services table handed to every plugin. */
const struct sd_host *plugin_host(void);

/* A call context with a deadline; err receives the plugin's reason. */
struct plugin_call {
	struct sd_call call;
	int64_t deadline_us;
	char err[256];
};
void plugin_call_init(struct plugin_call *c, int64_t timeout_ms);
/* Map a plugin result to ours (SD_PDOWN -> SD_EDOWN, ...). */
int plugin_result(int prc);

/* Lookup in a NULL-terminated kv array. */
const char *kv_get(const struct sd_kv *kv, const char *key);
void kv_free(struct sd_kv *kv);

#endif
