/* route_admin.c — admin endpoints (scope admin, own tenant only):
 *   GET  {base}/admin/evidence?path=&action=&since=&limit=   the evidence chain
 *   POST {base}/admin/rotate/{path}  {"strategy","reason"}   rotate a secret now */
#include <string.h>

#include "app.h"
#include "evidence.h"
#include "http.h"
#include "idem.h"
#include "jsonx.h"
#include "path.h"
#include "rotation.h"
#include "route.h"
#include "scope.h"
#include "util.h"

#define EVIDENCE_LIMIT_DEFAULT 100
#define EVIDENCE_LIMIT_MAX 1000

static int require_admin(struct http_req *r)
{
	if (scopes_is_admin(&r->who.scopes))
		return 0;
	http_reply_errf(r, SD_EFORBIDDEN, "this endpoint needs the admin scope");
	return -1;
}

void route_evidence(struct http_req *r)
{
	static const char *const params[] = { "path", "action", "since", "limit", NULL };
	const char *path, *action, *since, *limit;
	uint64_t s = 1, n = EVIDENCE_LIMIT_DEFAULT;
	struct sd_err err;
	json_t *doc;

	if (require_admin(r) != 0 || http_query_check(r, params) != 0)
		return;
	path = http_query(r, "path");
	action = http_query(r, "action");
	since = http_query(r, "since");
	limit = http_query(r, "limit");
	sd_err_clear(&err);
	if (path != NULL && path_check(path, &err) != 0) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'path': %s", err.msg);
		return;
	}
	if (action != NULL && (action[0] == '\0' || strlen(action) > 64)) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'action' must be 1 to 64 bytes");
		return;
	}
	if (since != NULL && (sd_parse_u64(since, INT64_MAX, &s) != 0 || s == 0)) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'since' must be a positive sequence number");
		return;
	}
	if (limit != NULL && (sd_parse_u64(limit, EVIDENCE_LIMIT_MAX, &n) != 0 || n == 0)) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'limit' must be an integer from 1 to %d",
				EVIDENCE_LIMIT_MAX);
		return;
	}
	if (evidence_query(r->app, r->who.tenant, path, action, s, (unsigned)n, &doc, &err) != 0) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, doc);
}

static void on_rotated(void *arg, int rc, const struct sd_err *err, json_t *reply)
{
	struct http_req *r = arg;

	if (rc != 0)
		http_reply_error(r, err);
	else
		http_reply_json(r, 200, json_incref(reply));
	http_async_finish(r);
}

void route_rotate(struct http_req *r)
{
	static const char *const fields[] = { "strategy", "reason", NULL };
	static const char *const params[] = { NULL };
	struct rotate_request q;
	struct sd_err err;
	struct idem idem;
	json_t *body = NULL, *v;
	int rc;

	idem_init(&idem, r);
	if (require_admin(r) != 0 || http_query_check(r, params) != 0)
		goto out;
	sd_err_clear(&err);
	memset(&q, 0, sizeof(q));
	q.strategy = ROTATE_IMMEDIATE;
	if (r->body_len > 0 && (jsonx_parse_object((const char *)r->body, r->body_len, &body, &err) != 0 ||
				jsonx_only_fields(body, fields, &err) != 0))
		goto fail;
	v = body ? json_object_get(body, "strategy") : NULL;
	if (v != NULL) {
		const char *s = json_string_value(v);
		if (s != NULL && strcmp(s, "immediate") == 0)
			q.strategy = ROTATE_IMMEDIATE;
		else if (s != NULL && strcmp(s, "staged") == 0)
			q.strategy = ROTATE_STAGED;
		else {
			sd_err_set(&err, SD_EINVAL, "field 'strategy' must be \"immediate\" or \"staged\"");
			goto fail;
		}
	}
	v = body ? json_object_get(body, "reason") : NULL;
	if (v != NULL && (!json_is_string(v) || json_string_length(v) > 512)) {
		sd_err_set(&err, SD_EINVAL, "field 'reason' must be a string of at most 512 bytes");
		goto fail;
	}
	q.reason = v ? json_string_value(v) : NULL;
	q.tenant = r->who.tenant;
	q.path = r->rest;
	q.actor = r->who.sub;
	q.request_id = r->reqid;
	q.idem = &idem;
	rc = rotation_start(r->app, http_req_base(r), &q, on_rotated, r, &err);
	if (rc == IDEM_REPLAY) {
		idem_reply(r, &idem);
		goto out;
	}
	if (rc != 0)
		goto fail;
	http_go_async(r);
	goto out;
fail:
	http_reply_error(r, &err);
out:
	json_decref(body);
	idem_free(&idem);
}
