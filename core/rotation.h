/* rotation.h — POST {base}/admin/rotate/{path}: run a secret's rotation hook.
 *
 * The hook comes from the secret's metadata "rotation_hook" (default
 * "generate": a new random value by metadata "rotation_policy", e.g.
 * "length=40 classes=lower,upper,digit,symbol"; default 32 characters of all
 * classes, from OpenSSL's CSPRNG). Strategies: immediate (the new version is
 * current when the call returns) and staged (pending, applied, tested, then
 * promoted). Every rotation appends evidence with actor and reason. */
#ifndef SD_ROTATION_H
#define SD_ROTATION_H

#include <jansson.h>

#include "err.h"

enum { ROTATE_IMMEDIATE = 1, ROTATE_STAGED = 2 };

struct app;
struct idem;

struct rotate_request {
	const char *tenant, *path, *actor, *request_id, *reason;
	int strategy;
	struct idem *idem;
	int64_t expect_due_us;   /* scheduler: rotate only for this due time */
};

/* Rotate every secret whose schedule is due (a bounded batch), as
 * system:scheduler. Called from the background thread. */
void rotation_run_due(struct app *app);
struct evbuffer;
void rotation_metrics_render(struct evbuffer *out);

/* On success *reply is {"path","new_version","previous_version","strategy"};
 * IDEM_REPLAY when q->idem holds a stored reply. */
int rotation_rotate(struct app *app, const struct rotate_request *q, json_t **reply, struct sd_err *err);

/* Parse a rotation_policy; 0 or SD_EINVAL naming the problem. */
int rotation_policy_parse(const char *policy, size_t *length, char classes[64], struct sd_err *err);

#endif
