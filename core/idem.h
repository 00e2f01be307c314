/* idem.h — X-Request-Id as an idempotency key on POST and DELETE.
 *
 * Scoped to the tenant, kept 24 h. The result is stored in the same
 * transaction as the effect, so a crash cannot separate them: call
 * idem_check first and idem_record last inside the effect's transaction.
 * Same key and same request (method, path, query, body): the stored status
 * and body are replayed with Idempotent-Replayed: true and nothing happens
 * again. Same key, other request: 409. Bodies are stored sealed (they may
 * hold credentials). */
#ifndef SD_IDEM_H
#define SD_IDEM_H

#include <stddef.h>

#include "err.h"

#define IDEM_TTL_US (24LL * 3600 * 1000000)
/* An in-progress record older than this was left by a process that died. */
#define IDEM_IN_PROGRESS_MAX_US (15LL * 60 * 1000000)
#define IDEM_REPLAY 1

struct app;
struct http_req;
struct store_txn;

struct idem {
	int active;               /* the client sent a key on a POST or DELETE */
	char key[256];
	char request_id[256];     /* the request's X-Request-Id either way (for evidence) */
	unsigned char hash[32];
	/* filled by idem_check on a replay */
	int status;
	char *body;               /* plaintext, wiped by idem_free */
	size_t body_len;
	int in_progress;
};

/* Set up from the request (inactive for GET or without a client key). */
void idem_init(struct idem *i, struct http_req *r);
void idem_free(struct idem *i);

/* 0: go ahead; IDEM_REPLAY: i->status/body hold the stored result;
 * SD_ECONFLICT: the key was used for another request (or the same one is
 * still running). Locks the key until the transaction ends. */
int idem_check(struct store_txn *t, struct app *app, const char *tenant, struct idem *i,
	       struct sd_err *err);
/* Store the result of this request under the key. in_progress marks a
 * request whose result comes later (a lease being issued). */
int idem_record(struct store_txn *t, struct app *app, const char *tenant, const struct idem *i,
		int status, const char *body, int in_progress, struct sd_err *err);

/* Free the key again (the request failed before any effect). */
int idem_release(struct store_txn *t, struct app *app, const char *tenant, const struct idem *i,
		 struct sd_err *err);

/* For effects of several transactions (rotation): begin marks the key in
 * progress (or returns IDEM_REPLAY / SD_ECONFLICT), end stores the result,
 * abort frees the key. Each is a transaction of its own. */
int idem_begin(struct app *app, const char *tenant, struct idem *i, struct sd_err *err);
int idem_end(struct app *app, const char *tenant, struct idem *i, int status, const char *body,
	     struct sd_err *err);
void idem_abort(struct app *app, const char *tenant, struct idem *i);

/* Reply with the stored result and Idempotent-Replayed: true. */
void idem_reply(struct http_req *r, const struct idem *i);

/* Delete records older than 24 h (a bounded batch); returns how many. */
int idem_collect(struct app *app);

#endif
