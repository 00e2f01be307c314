/* rotation.h — POST {base}/admin/rotate/{path}: run a secret's rotation hook.
 *
 * Hooks (metadata "rotation_hook"):
 *   generate                   a new random value by metadata "rotation_policy"
 *                              ("length=40 classes=lower,upper,digit,symbol";
 *                              default 32 characters of all classes)
 *   plugin:<name>/<account>    a provider plugin's rotate() sets a new password
 *                              for a static account and returns it
 *   webhook:<url>              POST {"step":"create",...} signed with
 *                              HMAC-SHA256 (X-Secretsd-Signature); the endpoint
 *                              answers {"value_b64":...}; staged rotations then
 *                              POST {"step":"test",...} and need {"ok":true}
 * Strategies: immediate (the new version is current when the call returns)
 * and staged (written as pending, applied, tested, then promoted; on any
 * failure the pending version is marked failed, the current one stays, and
 * the error names the step). Hooks run on the worker pool. Every step
 * appends evidence. Metadata "rotation" (a period) schedules rotations. */
#ifndef SD_ROTATION_H
#define SD_ROTATION_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"

enum { ROTATE_IMMEDIATE = 1, ROTATE_STAGED = 2 };

struct app;
struct idem;
struct event_base;
struct evbuffer;

struct rotate_request {
	const char *tenant, *path, *actor, *request_id, *reason;
	int strategy;
	struct idem *idem;        /* optional */
	int64_t expect_due_us;    /* scheduler: rotate only for this due time */
};

/* Called on the loop `base` (or, with base NULL, on the worker) with the
 * outcome: rc 0 and reply {"path","new_version","previous_version","strategy"},
 * or an error. reply is owned by the callee. */
typedef void (*rotation_done_fn)(void *arg, int rc, const struct sd_err *err, json_t *reply);

/* Start a rotation. Returns 0 when done will be called; IDEM_REPLAY when
 * q->idem holds a stored reply (no call); an error otherwise (no call). */
int rotation_start(struct app *app, struct event_base *base, const struct rotate_request *q,
		   rotation_done_fn done, void *arg, struct sd_err *err);

/* Parse a rotation_policy; 0 or SD_EINVAL naming the problem. */
int rotation_policy_parse(const char *policy, size_t *length, char classes[64], struct sd_err *err);

/* Load (creating on first start) DATA_DIR/keys/webhook.key, the shared
 * secret of webhook signatures (64 hex characters). */
int rotation_init(struct app *app, struct sd_err *err);
void rotation_cleanup(void);

/* Start rotations whose schedule is due (a bounded batch), as
 * system:scheduler. Called from the background thread. */
void rotation_run_due(struct app *app);
void rotation_metrics_render(struct evbuffer *out);

#endif
