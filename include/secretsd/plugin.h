/* secretsd/plugin.h — the provider plugin ABI. This header is the spec.
 *
 * ABI changelog (newest first; a minor adds at the end of a struct, a major
 * breaks):
 *   1.0  2026-11-29  First version: lease plugins (issue, renew, revoke,
 *                    optional rotate), kms kind reserved, host services
 *                    table (log, random, clock, password, cancellation).
 *
 * How a plugin is loaded
 *   The host dlopen()s the file (RTLD_NOW | RTLD_LOCAL) after checking its
 *   SHA-256 against the pin in plugins.conf, then calls the one exported
 *   symbol:
 *
 *       const struct sd_plugin *secretsd_plugin_v1(void);
 *
 *   The descriptor it returns must stay valid and constant until the
 *   library is unloaded. The host refuses the plugin when abi_major differs
 *   from SD_ABI_MAJOR, when abi_minor is newer than the host's, when
 *   struct_size is smaller than the 1.0 descriptor, or when a mandatory
 *   callback is NULL. Build plugins with -fvisibility=hidden and export only
 *   the entry symbol (SD_PLUGIN_EXPORT below).
 *
 * What crosses the boundary
 *   Only C strings (NUL-terminated UTF-8), integers and NULL-terminated
 *   key/value arrays (struct sd_kv, the last element has key == NULL). No
 *   jansson, OpenSSL, libevent or other third-party type ever crosses, so a
 *   plugin built against other versions of those libraries, or written in
 *   another language with a C ABI, still loads.
 *
 * Threads and time
 *   init, fini and check run on one thread, never concurrently with any
 *   other call. health, issue, renew, revoke and rotate run on the host's
 *   worker threads, several at once: they must be thread-safe with respect
 *   to the plugin's state. They may block (network, database), but must
 *   honour the call's deadline: poll host->cancelled(call) in loops and pass
 *   host->deadline_us(call) on to network timeouts. A call that returns
 *   after its deadline is treated as failed (and, for issue, revoked).
 *
 * Results
 *   Every callback that returns int returns SD_OK (0) or one of the negative
 *   SD_P* codes below, and on failure writes a short human-readable reason
 *   into call->err (at most call->err_cap bytes including the NUL; never a
 *   secret). The host maps SD_PDOWN to 503 dependency_down, SD_PINVAL and
 *   SD_PDENIED to a clear error naming the reason, SD_PNOTFOUND to success
 *   for revoke.
 */
#ifndef SECRETSD_PLUGIN_H
#define SECRETSD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SD_ABI_MAJOR 1
#define SD_ABI_MINOR 0

#if defined(__GNUC__)
#define SD_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SD_PLUGIN_EXPORT
#endif

/* --- results ---------------------------------------------------------------- */

enum sd_presult {
	SD_POK = 0,
	SD_PINVAL = -1,    /* bad settings, role or request: the operator's to fix */
	SD_PDOWN = -2,     /* the backend cannot be reached or is failing: retry later */
	SD_PDENIED = -3,   /* the backend refused (permissions, policy) */
	SD_PNOTFOUND = -4, /* the thing to revoke does not exist (revoke: counts as done) */
	SD_PTIMEOUT = -5,  /* the deadline passed */
	SD_PINTERNAL = -6, /* anything else */
};

/* --- key/value arrays --------------------------------------------------------- */

/* A NULL-terminated array of these carries settings, role parameters and
 * credentials: { {"k1","v1"}, {"k2","v2"}, {NULL,NULL} }. */
struct sd_kv {
	const char *key;
	const char *value;
};

/* --- settings a plugin declares ------------------------------------------------ */

enum sd_setting_type {
	SD_SET_STRING = 1,
	SD_SET_INT = 2,      /* decimal, fits int64 */
	SD_SET_BOOL = 3,     /* true/false */
	SD_SET_DURATION = 4, /* seconds, or 30m, 12h, 90d */
	SD_SET_URL = 5,      /* scheme://... */
};

/* One setting, in [plugin NAME] (plugin_settings) or [role NAME]
 * (role_settings). The host parses plugins.conf once, refuses unknown
 * names, missing required ones and values of the wrong type with the file
 * and line, fills defaults, and hands the plugin the result as sd_kv arrays.
 * Arrays of these end with an element whose name is NULL. */
struct sd_setting {
	const char *name;
	int type;                  /* enum sd_setting_type */
	int required;              /* 1: must be given (default ignored) */
	const char *default_value; /* NULL: none */
	int secret;                /* 1: never logged or shown by `plugin check` */
	const char *help;          /* one line for `secretsd plugin check` */
};

/* --- the host services table ---------------------------------------------------- */

struct sd_call;

enum sd_log_level { SD_LOG_DEBUG = 0, SD_LOG_INFO = 1, SD_LOG_WARN = 2, SD_LOG_ERROR = 3 };

/* Handed to init; valid until fini returns. Append-only: a plugin built for
 * minor N may use the members of minor N only after checking struct_size. */
struct sd_host {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size;  /* sizeof(struct sd_host) as the host knows it */
	/* Log one line (never a secret). Thread-safe. */
	void (*log)(int level, const char *plugin, const char *msg);
	/* Fill buf with len bytes from a CSPRNG. 0 or SD_PINTERNAL. */
	int (*random_bytes)(unsigned char *buf, size_t len);
	/* Wall clock, microseconds since the epoch. */
	int64_t (*now_us)(void);
	/* Write a random password of len characters (len < out_cap) into out,
	 * NUL-terminated, with at least one of each class named in classes
	 * ("lower", "upper", "digit", "symbol", space-separated; NULL = all
	 * but symbol). Uses only characters safe in SQL literals and URLs. */
	int (*password)(char *out, size_t out_cap, size_t len, const char *classes);
	/* 1 when the call should stop now: its deadline passed, or the server
	 * is shutting down. */
	int (*cancelled)(const struct sd_call *call);
	/* The call's deadline, microseconds since the epoch. */
	int64_t (*deadline_us)(const struct sd_call *call);
};

/* One call into the plugin. The host owns it; err is where the plugin
 * writes its reason on failure. */
struct sd_call {
	uint32_t struct_size;
	char *err;        /* the plugin writes a NUL-terminated reason here */
	size_t err_cap;
	const void *host_private; /* opaque: pass the call back to host functions */
};

/* --- outputs a plugin allocates ----------------------------------------------------- */

/* issue returns credentials as a NULL-terminated sd_kv array it allocated,
 * and a revoke handle string; the host gives both back to the plugin's
 * free_kv / free_str when done (the host wipes nothing it does not own:
 * free_kv must wipe credential values before freeing them). */

/* --- the descriptor ----------------------------------------------------------------- */

enum sd_plugin_kind { SD_KIND_LEASE = 1, SD_KIND_KMS = 2 };

struct sd_plugin {
	/* Must come first, in this order, in every version. */
	uint32_t abi_major;   /* SD_ABI_MAJOR the plugin was built with */
	uint32_t abi_minor;   /* SD_ABI_MINOR the plugin was built with */
	uint32_t struct_size; /* sizeof(struct sd_plugin) the plugin was built with */

	const char *name;     /* [a-z0-9_]+, matches [plugin NAME] */
	const char *version;  /* the plugin's own version, free text */
	int kind;             /* enum sd_plugin_kind */

	/* Settings of [plugin NAME] and of each [role NAME] using it. */
	const struct sd_setting *plugin_settings;
	const struct sd_setting *role_settings;

	/* Optional. Called after the host checked names and types, with the
	 * plugin settings (role == NULL) or once per role (role != NULL, plugin
	 * settings given too). Check combinations the types cannot express.
	 * Pure: no I/O. Returns SD_POK or SD_PINVAL with a reason in err. */
	int (*check)(const struct sd_kv *plugin, const struct sd_kv *role, char *err,
		     size_t err_cap);

	/* Mandatory. Create the plugin's state from its settings. host and the
	 * strings in settings stay valid until fini; the plugin may keep
	 * pointers to them. Must not contact the backend (health does). */
	int (*init)(const struct sd_host *host, const struct sd_kv *settings, void **state,
		    char *err, size_t err_cap);

	/* Mandatory. Free everything init made. No call is running. */
	void (*fini)(void *state);

	/* Mandatory. Contact the backend and report whether it works: SD_POK or
	 * SD_PDOWN. The host calls it every few seconds (from one thread, with a
	 * short deadline) and serves /ready from the last answer: keep it cheap. */
	int (*health)(void *state, struct sd_call *call);

	/* Mandatory for kind lease. Create a credential for lease_id under
	 * role, valid until expires_at_us.
	 *   lease_id  [0-9a-f]{24}; derive every name you create from it (the
	 *             host may later call revoke with only the lease id, after
	 *             a crash, before it saw your handle).
	 *   creds     out: credential fields, e.g. {"username","password"} or
	 *             {"access_key","secret_key","session_token"}; allocated by
	 *             the plugin, freed by its free_kv.
	 *   handle    out: optional string the host stores and passes to renew
	 *             and revoke (NULL allowed); freed by free_str.
	 *   expires   in/out: the host's expiry; a plugin whose backend fixes
	 *             its own (STS) writes that back.
	 * On failure nothing may be left behind: undo what was created. */
	int (*issue)(void *state, struct sd_call *call, const char *lease_id,
		     const struct sd_kv *role, int64_t *expires_at_us, struct sd_kv **creds,
		     char **handle);

	/* Mandatory for kind lease. Extend the credential to expires_at_us.
	 * SD_PINVAL when the backend cannot extend (the lease keeps its old
	 * expiry). */
	int (*renew)(void *state, struct sd_call *call, const char *lease_id,
		     const struct sd_kv *role, const char *handle, int64_t expires_at_us);

	/* Mandatory for kind lease. Destroy the credential. Idempotent: a
	 * credential that no longer exists is SD_POK (or SD_PNOTFOUND). handle
	 * is NULL when the host never received one (crash during issue). role
	 * always holds "role" = the role's name; when the role was removed from
	 * plugins.conf since issue, that is all it holds, so fall back to your
	 * default revocation. The host also calls revoke after any failed
	 * issue (a timeout may have left something behind). */
	int (*revoke)(void *state, struct sd_call *call, const char *lease_id,
		      const struct sd_kv *role, const char *handle);

	/* Optional (static accounts). Set a new password for account and
	 * return it in *new_value (free_str frees it). */
	int (*rotate)(void *state, struct sd_call *call, const struct sd_kv *role,
		      const char *account, char **new_value);

	/* Mandatory when issue or rotate is set. Wipe and free outputs. */
	void (*free_kv)(struct sd_kv *kv);
	void (*free_str)(char *s);
};

/* The entry point every plugin exports. */
typedef const struct sd_plugin *(*sd_plugin_entry_fn)(void);
#define SD_PLUGIN_ENTRY "secretsd_plugin_v1"

#ifdef __cplusplus
}
#endif

#endif
