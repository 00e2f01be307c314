/* audit.h — one JSON line per request: time, tenant, actor, method, route,
 * path, status, request id, client address. Never a value or a token.
 * Written to [server] audit_log (default DATA_DIR/audit.log; "-" = stdout;
 * "off" = none). A request that cannot be recorded fails with 503. */
#ifndef SD_AUDIT_H
#define SD_AUDIT_H

#include "err.h"

struct app;
struct http_req;

int audit_open(struct app *app, struct sd_err *err);
void audit_close(struct app *app);

/* Before a change (POST, DELETE) runs: record the attempt; -1 when the
 * log cannot be written (the caller answers 503 and does nothing). */
int audit_attempt(struct http_req *r);
/* When the reply goes out: record its status; -1 when the log cannot be
 * written. */
int audit_reply(struct http_req *r, int status);

#endif
