/* app.h — the state a request handler can reach. One instance per process. */
#ifndef SD_APP_H
#define SD_APP_H

#include <stdatomic.h>

#include "config.h"

struct store;
struct kms;
struct auth;
struct metrics;
struct leases;
struct ratelimit;
struct evidence;
struct workers;

struct app {
	struct sd_config *cfg;
	struct store *store;     /* Berkeley DB environment (core/store.c) */
	struct kms *kms;         /* key-encryption-key provider (core/kms.c) */
	struct auth *auth;       /* token verification (core/auth.c) */
	struct metrics *metrics; /* counters for /metrics (core/metrics.c) */
	struct leases *leases;   /* lease engine, plugin registry (core/leases.c) */
	struct ratelimit *ratelimit; /* per-tenant and per-address limits */
	struct evidence *evidence;   /* evidence chain HMAC key (core/evidence.c) */
	struct workers *writers;     /* store write transactions (group commit) */
	int audit_fd;                /* audit log, -1 = off (core/audit.c) */
	atomic_int audit_failing;    /* the last audit write failed (/ready says so) */
	atomic_int stopping;
};

#endif
