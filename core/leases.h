/* leases.h — short-lived credentials minted by provider plugins.
 *
 * A lease is committed as pending before the provider is called and made
 * active after; the provider derives every name from the lease id, so a
 * crash at any point leaves a record the reaper can find and revoke. The
 * reaper revokes expired leases within a few seconds, retries failures with
 * backoff and, after LEASE_ATTEMPTS_MAX failures, marks revoke_failed. */
#ifndef SD_LEASES_H
#define SD_LEASES_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"
#include "plugin.h"

#define LEASE_ID_LEN 24
#define LEASE_ATTEMPTS_MAX 8

enum lease_state {
	LEASE_PENDING = 0,
	LEASE_ACTIVE,
	LEASE_EXPIRED,
	LEASE_REVOKED,
	LEASE_REVOKE_FAILED,
};

struct lease {
	char id[LEASE_ID_LEN + 1];
	char role[SD_NAME_MAX + 1];
	char plugin[SD_NAME_MAX + 1];
	char holder[257];
	int state;
	int64_t created_us, expires_us, max_expires_us, revoked_us, next_attempt_us;
	int64_t ttl_s;
	int attempts;
	int revoke_requested;   /* revoked on request rather than by expiry */
	int revocable;          /* 0 when the provider cannot revoke early (STS) */
	char handle[512];
	char last_error[256];
};

struct app;
struct event_base;

/* Start the worker pool, the reaper and health threads. Leases left pending
 * by a crash are made due at once. */
int leases_start(struct app *app, struct sd_err *err);
/* Stop threads (in-flight calls finish first; their completions are queued
 * on the event loops). */
void leases_stop(struct app *app);
/* Free the engine and its plugins, once those completions have run. */
void leases_free(struct app *app);

/* The current registry, held: release with registry_release. */
struct registry *leases_registry(struct app *app);
/* Replace the registry (SIGHUP). Plugins still used by live leases of the
 * old one stay loaded until those are gone. */
void leases_set_registry(struct app *app, struct registry *r);

/* Result of an asynchronous call, delivered on the event loop `base`. For
 * issue, creds (provider fields) is owned by the callee and valid during the
 * callback only. */
typedef void (*lease_done_fn)(void *arg, int rc, const struct sd_err *err, const struct lease *l,
			      const struct sd_kv *creds);

/* With an active idem: returns IDEM_REPLAY (no callback) when the key's
 * stored reply is to be replayed (only while that lease is active). */
struct idem;
int leases_issue(struct app *app, struct event_base *base, const char *tenant, const char *holder,
		 const char *role, int64_t ttl_s, struct idem *idem, lease_done_fn done, void *arg,
		 struct sd_err *err);
/* The reply to an issued lease (credential fields plus lease fields). */
json_t *lease_issue_reply(const struct lease *l, const struct sd_kv *creds);
int leases_renew(struct app *app, struct event_base *base, const char *tenant, const char *id,
		 int64_t increment_s, const char *actor, const char *request_id, lease_done_fn done,
		 void *arg, struct sd_err *err);
/* Returns LEASE_ALREADY_OVER (and no callback) when the lease was already
 * revoked or expired. */
#define LEASE_ALREADY_OVER 2
int leases_revoke(struct app *app, struct event_base *base, const char *tenant, const char *id,
		  const char *actor, const char *request_id, lease_done_fn done, void *arg,
		  struct sd_err *err);

int leases_get(struct app *app, const char *tenant, const char *id, struct lease *out,
	       struct sd_err *err);
/* {"leases":[...],"next":...} of a tenant, optionally one role. */
int leases_list(struct app *app, const char *tenant, const char *role, const char *after,
		unsigned limit, json_t **out, struct sd_err *err);
/* The API view of a lease (no credentials). */
json_t *lease_json(const struct lease *l);
const char *lease_state_name(int state);
/* Whether an id has the shape of a lease id. */
int lease_id_valid(const char *id);

/* The worker pool for blocking work (provider calls, webhooks). */
struct workers *leases_workers(struct app *app);

/* 0 when every enabled plugin's backend answered its last health check. */
int leases_ready(struct app *app, struct sd_err *err);
struct evbuffer;
void leases_metrics_render(struct app *app, struct evbuffer *out);

#endif
