/* config.h — the server's settings: defaults, the `serve` INI file, dev mode. */
#ifndef SD_CONFIG_H
#define SD_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SD_DEFAULT_PORT 8420
#define SD_TENANT_LIMITS_MAX 64

/* Endpoint classes for rate limits. */
enum rl_class { RL_READ = 0, RL_WRITE, RL_LEASE, RL_ADMIN, RL_UNAUTH, RL_CLASSES };

struct sd_config {
	/* [server] */
	char listen[256];          /* host:port */
	char data_dir[PATH_MAX];   /* absolute after config_finish() */
	int threads;               /* event-loop threads; 0 = number of cores */
	char tls_cert[PATH_MAX];   /* PEM; TLS is on when both are set */
	char tls_key[PATH_MAX];
	int log_level;             /* enum log_level */
	char audit_log[PATH_MAX];  /* "" = DATA_DIR/audit.log, "-" = stdout, "off" */
	/* [auth] */
	char jwks_file[PATH_MAX];
	char jwks_url[1024];
	char issuer[256];
	char audience[256];
	char tenant_claim[64];
	int leeway_s;
	/* [limits] */
	size_t max_body_bytes;      /* request body cap (413 beyond) */
	size_t max_header_bytes;    /* request header cap */
	int request_timeout_s;      /* read/write timeout of a connection */
	int header_timeout_s;       /* a new connection's first request headers must arrive within this */
	double rate_rps;            /* per-tenant default; 0 = off */
	int rate_burst;
	double class_rps[RL_CLASSES];  /* per endpoint class; < 0 = rate_rps */
	int class_burst[RL_CLASSES];
	struct {
		char name[65];
		double rps[RL_CLASSES + 1]; /* [RL_CLASSES] = all classes; < 0 = unset */
		int burst[RL_CLASSES + 1];
	} tenants[SD_TENANT_LIMITS_MAX];  /* [tenant NAME] overrides */
	int ntenants;
	int max_connections;
	int min_free_mb;             /* writes refused (503) below this much free space on the data volume */
	/* [secrets] */
	int64_t default_lease_ttl_s;
	int max_versions;
	/* [leases] */
	int64_t lease_call_timeout_ms;  /* deadline of one provider call */
	int64_t lease_retry_base_ms;    /* first revocation retry delay (doubles) */
	int64_t reaper_interval_ms;     /* how often the reaper looks for due leases */
	/* set by the CLI, not the file */
	int dev;                   /* dev mode: plain HTTP, dev issuer */
	char plugins_file[PATH_MAX];
};

/* Fill c with the defaults. */
void config_defaults(struct sd_config *c);

/* Read an INI file over the current values of c. On error returns SD_EINVAL
 * with "FILE:LINE: reason" in err. */
int config_load(struct sd_config *c, const char *file, struct sd_err *err);

/* Apply one setting ("section", "name", "value"); used by config_load and by
 * command-line options. */
int config_set(struct sd_config *c, const char *section, const char *name,
	       const char *value, struct sd_err *err);

/* Check cross-field rules and make data_dir absolute. */
int config_finish(struct sd_config *c, struct sd_err *err);

/* Parse "RPS[:BURST]" (the --rate-limit option). */
int config_parse_rate(const char *s, double *rps, int *burst);

/* The limit that applies to tenant (NULL for unauthenticated) and class. */
void config_rate_for(const struct sd_config *c, const char *tenant, int cls, double *rps, int *burst);
const char *rl_class_name(int cls);

#endif
