/* route_leases.c — short-lived credentials:
 *   POST   {base}/leases                  issue {"role","ttl_s"}      leases:issue:ROLE
 *   GET    {base}/leases?role=&after=&limit=   list                  admin
 *   GET    {base}/leases/{id}             read (no credentials)      holder or admin
 *   POST   {base}/leases/{id}/renew       {"increment_s"}            holder or admin
 *   DELETE {base}/leases/{id}             revoke                     holder or admin
 * and the leased form of GET {base}/secrets/{path} for a role with `path`. */
#include <event2/http.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "b64.h"
#include "http.h"
#include "idem.h"
#include "jsonx.h"
#include "leases.h"
#include "route.h"
#include "scope.h"
#include "util.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000

static int is_admin(const struct http_req *r)
{
	return scopes_is_admin(&r->who.scopes);
}

/* The lease id in the path ("ID" or "ID/renew"). */
static void lease_id_of(const struct http_req *r, char out[LEASE_ID_LEN + 1])
{
	size_t n = strcspn(r->rest, "/");

	if (n > LEASE_ID_LEN)
		n = 0;
	memcpy(out, r->rest, n);
	out[n] = '\0';
}

static void on_issued(void *arg, int rc, const struct sd_err *err, const struct lease *l,
		      const struct sd_kv *creds)
{
	struct http_req *r = arg;
	json_t *o;

	if (rc != 0) {
		http_reply_error(r, err);
	} else {
		o = lease_issue_reply(l, creds);
		http_reply_json(r, 200, o);
	}
	http_async_finish(r);
}

void route_lease_issue(struct http_req *r)
{
	static const char *const fields[] = { "role", "ttl_s", NULL };
	static const char *const params[] = { NULL };
	struct sd_err err;
	struct idem idem;
	json_t *body = NULL, *role, *ttl;
	json_int_t ttl_s = 0;
	int rc;

	idem_init(&idem, r);
	if (http_query_check(r, params) != 0)
		return;
	sd_err_clear(&err);
	if (jsonx_parse_object((const char *)r->body, r->body_len, &body, &err) != 0 ||
	    jsonx_only_fields(body, fields, &err) != 0)
		goto fail;
	role = json_object_get(body, "role");
	if (!json_is_string(role) || json_string_length(role) == 0 || json_string_length(role) > SD_NAME_MAX) {
		sd_err_set(&err, SD_EINVAL, "field 'role' is required: a role name of 1 to %d bytes", SD_NAME_MAX);
		goto fail;
	}
	ttl = json_object_get(body, "ttl_s");
	if (ttl != NULL) {
		if (!json_is_integer(ttl) || json_integer_value(ttl) <= 0 ||
		    json_integer_value(ttl) > 10LL * 365 * 86400) {
			sd_err_set(&err, SD_EINVAL, "field 'ttl_s' must be a positive integer number of seconds");
			goto fail;
		}
		ttl_s = json_integer_value(ttl);
	}
	if (!scopes_allow(&r->who.scopes, SCOPE_LEASES_ISSUE, json_string_value(role))) {
		sd_err_set(&err, SD_EFORBIDDEN, "token lacks leases:issue scope for role '%.64s'",
			   json_string_value(role));
		goto fail;
	}
	rc = leases_issue(r->app, http_req_base(r), r->who.tenant, r->who.sub, json_string_value(role),
			  (int64_t)ttl_s, &idem, on_issued, r, &err);
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

/* The lease l may be touched by r: its holder, or an admin. */
static int may_touch(struct http_req *r, const struct lease *l)
{
	if (is_admin(r) || strcmp(l->holder, r->who.sub) == 0)
		return 1;
	http_reply_errf(r, SD_EFORBIDDEN, "only the lease's holder or an admin may do this");
	return 0;
}

static int load(struct http_req *r, struct lease *l)
{
	char id[LEASE_ID_LEN + 1];
	struct sd_err err;

	lease_id_of(r, id);
	sd_err_clear(&err);
	if (leases_get(r->app, r->who.tenant, id, l, &err) != 0) {
		http_reply_error(r, &err);
		return -1;
	}
	return may_touch(r, l) ? 0 : -1;
}

void route_lease_read(struct http_req *r)
{
	static const char *const params[] = { NULL };
	struct lease l;

	if (http_query_check(r, params) != 0 || load(r, &l) != 0)
		return;
	http_reply_json(r, 200, lease_json(&l));
}

static void on_renewed(void *arg, int rc, const struct sd_err *err, const struct lease *l,
		       const struct sd_kv *creds)
{
	struct http_req *r = arg;

	(void)creds;
	if (rc != 0)
		http_reply_error(r, err);
	else
		http_reply_json(r, 200, lease_json(l));
	http_async_finish(r);
}

void route_lease_renew(struct http_req *r)
{
	static const char *const fields[] = { "increment_s", NULL };
	static const char *const params[] = { NULL };
	struct sd_err err;
	struct lease l;
	json_t *body = NULL, *inc;
	int64_t increment = 0;

	if (http_query_check(r, params) != 0 || load(r, &l) != 0)
		return;
	sd_err_clear(&err);
	if (r->body_len > 0 && (jsonx_parse_object((const char *)r->body, r->body_len, &body, &err) != 0 ||
				jsonx_only_fields(body, fields, &err) != 0))
		goto fail;
	inc = body ? json_object_get(body, "increment_s") : NULL;
	if (inc != NULL) {
		if (!json_is_integer(inc) || json_integer_value(inc) <= 0 ||
		    json_integer_value(inc) > 10LL * 365 * 86400) {
			sd_err_set(&err, SD_EINVAL, "field 'increment_s' must be a positive integer number of seconds");
			goto fail;
		}
		increment = json_integer_value(inc);
	}
	if (leases_renew(r->app, http_req_base(r), r->who.tenant, l.id, increment, r->who.sub, r->reqid,
			 on_renewed, r, &err) != 0)
		goto fail;
	http_go_async(r);
	json_decref(body);
	return;
fail:
	json_decref(body);
	http_reply_error(r, &err);
}

static void on_revoked(void *arg, int rc, const struct sd_err *err, const struct lease *l,
		       const struct sd_kv *creds)
{
	struct http_req *r = arg;

	(void)creds;
	(void)l;
	if (rc != 0)
		http_reply_error(r, err);
	else
		http_reply_raw(r, 204, "application/json", "", 0);
	http_async_finish(r);
}

void route_lease_revoke(struct http_req *r)
{
	static const char *const params[] = { NULL };
	struct sd_err err;
	struct lease l;
	int rc;

	if (http_query_check(r, params) != 0 || load(r, &l) != 0)
		return;
	sd_err_clear(&err);
	rc = leases_revoke(r->app, http_req_base(r), r->who.tenant, l.id, r->who.sub, r->reqid, on_revoked, r,
			   &err);
	if (rc == LEASE_ALREADY_OVER)
		http_reply_raw(r, 204, "application/json", "", 0);
	else if (rc != 0)
		http_reply_error(r, &err);
	else
		http_go_async(r);
}

void route_lease_list(struct http_req *r)
{
	static const char *const params[] = { "role", "after", "limit", NULL };
	const char *role, *after, *limit;
	struct sd_err err;
	uint64_t n = LIST_LIMIT_DEFAULT;
	json_t *doc;

	if (http_query_check(r, params) != 0)
		return;
	if (!is_admin(r)) {
		http_reply_errf(r, SD_EFORBIDDEN, "listing leases needs the admin scope");
		return;
	}
	role = http_query(r, "role");
	after = http_query(r, "after");
	limit = http_query(r, "limit");
	if (limit != NULL && (sd_parse_u64(limit, LIST_LIMIT_MAX, &n) != 0 || n == 0)) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'limit' must be an integer from 1 to %d",
				LIST_LIMIT_MAX);
		return;
	}
	if (after != NULL && !lease_id_valid(after)) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'after' must be a lease id returned as 'next'");
		return;
	}
	sd_err_clear(&err);
	if (leases_list(r->app, r->who.tenant, role, after, (unsigned)n, &doc, &err) != 0) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, doc);
}

/* --- GET {base}/secrets/{role path}: a fresh lease as a secret ------------------------- */

static void on_secret_issued(void *arg, int rc, const struct sd_err *err, const struct lease *l,
			     const struct sd_kv *creds)
{
	struct http_req *r = arg;
	json_t *c, *o;
	char *text, *b64;
	size_t len;

	if (rc != 0) {
		http_reply_error(r, err);
		http_async_finish(r);
		return;
	}
	c = lease_issue_reply(l, creds);
	/* the value is the credential alone; lease fields go beside it */
	json_object_del(c, "expires_at");
	json_object_del(c, "lease_id");
	json_object_del(c, "role");
	json_object_del(c, "ttl_s");
	json_object_del(c, "revocable");
	text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(c);
	len = text ? strlen(text) : 0;
	b64 = text ? malloc(B64_ENC_LEN(len)) : NULL;
	if (b64 == NULL) {
		http_reply_errf(r, SD_EINTERNAL, "out of memory");
	} else {
		b64_encode((const unsigned char *)text, len, b64);
		char ts[32];
		sd_rfc3339(l->expires_us, ts);
		o = json_pack("{s:s, s:i, s:I, s:s, s:s, s:s}", "value_b64", b64, "version", 1, "lease_ttl_s",
			      (json_int_t)l->ttl_s, "lease_id", l->id, "expires_at", ts, "role", l->role);
		http_reply_json(r, 200, o);
		sd_wipe_free(b64, B64_ENC_LEN(len));
	}
	if (text != NULL) {
		OPENSSL_cleanse(text, len);
		sd_json_free(text);
	}
	http_async_finish(r);
}

int route_secret_read_leased(struct http_req *r)
{
	struct registry *reg = leases_registry(r->app);
	const struct role *role = registry_role_by_path(reg, r->rest);
	char name[SD_NAME_MAX + 1];
	struct sd_err err;

	if (role == NULL) {
		registry_release(reg);
		return 0;
	}
	sd_strlcpy(name, role->name, sizeof(name));
	registry_release(reg);
	if (r->method != EVHTTP_REQ_GET) { /* HEAD must not mint a credential */
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Allow", "GET");
		http_reply_errf(r, SD_EMETHOD, "only GET issues a lease at this path");
		return 1;
	}
	sd_err_clear(&err);
	if (leases_issue(r->app, http_req_base(r), r->who.tenant, r->who.sub, name, 0, NULL,
			 on_secret_issued, r, &err) != 0) {
		http_reply_error(r, &err);
		return 1;
	}
	http_go_async(r);
	return 1;
}
