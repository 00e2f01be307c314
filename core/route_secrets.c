/* route_secrets.c — the secrets endpoints:
 *   POST   {base}/secrets/{path}              write the next version
 *   GET    {base}/secrets/{path}[?version=n]  read
 *   DELETE {base}/secrets/{path}[?version=n]  soft-delete a version
 *   POST   {base}/undelete/{path}?version=n   restore a deleted version
 *   GET    {base}/metadata/{path}             versions and metadata
 *   GET    {base}/secrets?prefix=&owner=&after=&limit=   list readable paths */
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "b64.h"
#include "idem.h"
#include "http.h"
#include "jsonx.h"
#include "path.h"
#include "route.h"
#include "scope.h"
#include "secrets.h"
#include "util.h"
#include "workers.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000

/* 403 unless the caller's scopes allow kind on the request's path. */
static int require(struct http_req *r, enum scope_kind kind)
{
	if (scopes_allow(&r->who.scopes, kind, r->rest))
		return 0;
	http_reply_errf(r, SD_EFORBIDDEN, "token lacks %s scope for this path",
			kind == SCOPE_SECRETS_READ ? "secrets:read" : "secrets:write");
	return -1;
}

/* ?version=n: 0 when absent (unless required), else a positive integer. */
static int version_param(struct http_req *r, int required, uint64_t *out)
{
	const char *v = http_query(r, "version");
	uint64_t n;

	*out = 0;
	if (v == NULL) {
		if (!required)
			return 0;
		http_reply_errf(r, SD_EINVAL, "query parameter 'version' is required");
		return -1;
	}
	if (sd_parse_u64(v, SD_VERSION_MAX, &n) != 0 || n == 0) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'version' must be a positive integer");
		return -1;
	}
	*out = n;
	return 0;
}

static int json_body(struct http_req *r, json_t **out)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
	struct sd_err err;

	if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0) {
		http_reply_errf(r, SD_EINVAL, "Content-Type must be application/json");
		return -1;
	}
	sd_err_clear(&err);
	if (jsonx_parse_object((const char *)r->body, r->body_len, out, &err) != 0) {
		http_reply_error(r, &err);
		return -1;
	}
	return 0;
}

/* ttl (len bytes: a metadata.ttl value) if it is a positive duration,
 * else the default. */
static int64_t ttl_or_default(struct http_req *r, const char *ttl, size_t len)
{
	char d[24];
	int64_t v;

	if (ttl == NULL || len >= sizeof(d)) /* absent, or too long for a duration */
		return r->app->cfg->default_lease_ttl_s;
	memcpy(d, ttl, len);
	d[len] = '\0';
	return sd_parse_duration(d, &v) == 0 && v > 0 ? v : r->app->cfg->default_lease_ttl_s;
}

/* metadata.ttl of an already parsed metadata object, else the default. */
static int64_t lease_ttl(struct http_req *r, json_t *meta)
{
	json_t *t = meta ? json_object_get(meta, "ttl") : NULL;

	if (t == NULL || !json_is_string(t))
		return r->app->cfg->default_lease_ttl_s;
	return ttl_or_default(r, json_string_value(t), strlen(json_string_value(t)));
}

/* A write runs its transaction on the writers pool, not on the event loop:
 * a loop thread waiting for the disk would serve no reads meanwhile, and
 * the more writers commit at once, the more of them one log flush covers
 * (group commit, core/store.c). The job owns everything the transaction
 * reads; the request stays alive (async) until the reply. */
struct write_job {
	struct http_req *r;
	struct secret_write w;
	struct idem idem;
	json_t *body;              /* holds w.metadata */
	unsigned char *value;
	size_t value_cap;
	uint64_t version;
	int64_t created;
	int rc;
	struct sd_err err;
};

static void write_job_free(struct write_job *j)
{
	if (j->value != NULL)
		sd_wipe_free(j->value, j->value_cap);
	json_decref(j->body);
	idem_free(&j->idem);
	free(j);
}

static void write_work(void *arg)
{
	struct write_job *j = arg;

	j->rc = secrets_write(j->r->app, &j->w, &j->version, &j->created, &j->err);
}

static void write_done(void *arg)
{
	struct write_job *j = arg;
	struct http_req *r = j->r;

	if (j->rc == IDEM_REPLAY) {
		idem_reply(r, &j->idem);
	} else if (j->rc != 0) {
		http_reply_error(r, &j->err);
	} else {
		sd_crash_point("write_after_commit");
		http_reply_json(r, 200, secrets_write_reply(j->version, j->created));
	}
	write_job_free(j);
	http_async_finish(r);
}

void route_secret_write(struct http_req *r)
{
	static const char *const fields[] = { "value_b64", "metadata", "cas", NULL };
	static const char *const params[] = { NULL };
	struct write_job *j;
	struct sd_err err;
	json_t *body = NULL, *val, *meta;
	size_t b64len;
	int rc;

	if (require(r, SCOPE_SECRETS_WRITE) != 0 || http_query_check(r, params) != 0 ||
	    json_body(r, &body) != 0)
		return;
	sd_err_clear(&err);
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		json_decref(body);
		sd_err_set(&err, SD_EINTERNAL, "out of memory");
		http_reply_error(r, &err);
		return;
	}
	j->r = r;
	j->body = body;
	idem_init(&j->idem, r);
	if (jsonx_only_fields(body, fields, &err) != 0)
		goto fail;
	val = json_object_get(body, "value_b64");
	if (val == NULL || !json_is_string(val)) {
		sd_err_set(&err, SD_EINVAL, "field 'value_b64' is required and must be a base64 string");
		goto fail;
	}
	b64len = json_string_length(val);
	if (b64len > B64_ENC_LEN(SD_VALUE_MAX)) {
		sd_err_set(&err, SD_ETOOBIG, "value is larger than %d bytes", SD_VALUE_MAX);
		goto fail;
	}
	j->value_cap = B64_DEC_MAX(b64len) + 1;
	j->value = malloc(j->value_cap);
	if (j->value == NULL) {
		sd_err_set(&err, SD_EINTERNAL, "out of memory");
		goto fail;
	}
	if (b64_decode(json_string_value(val), b64len, j->value, &j->w.value_len) != 0) {
		sd_err_set(&err, SD_EINVAL, "field 'value_b64' is not valid base64 (RFC 4648, padded)");
		goto fail;
	}
	meta = json_object_get(body, "metadata");
	if (meta != NULL && secrets_check_metadata(meta, &err) != 0)
		goto fail;
	if (meta != NULL && !scopes_is_admin(&r->who.scopes)) {
		/* plugin: and webhook: hooks act with the server's own credentials
		 * (a provider's root account, any reachable URL): admins only */
		const char *hook = json_string_value(json_object_get(meta, "rotation_hook"));
		if (hook != NULL && strcmp(hook, "generate") != 0) {
			sd_err_set(&err, SD_EFORBIDDEN,
				   "setting metadata.rotation_hook to anything but generate needs the admin scope");
			goto fail;
		}
	}
	rc = jsonx_get_uint(body, "cas", SD_VERSION_MAX, &j->w.cas, &err);
	if (rc < 0)
		goto fail;
	j->w.has_cas = rc;
	j->w.tenant = r->who.tenant;
	j->w.path = r->rest;
	j->w.actor = r->who.sub;
	j->w.value = j->value;
	j->w.metadata = meta;
	j->w.idem = &j->idem;
	j->w.request_id = r->reqid;
	http_go_async(r);
	if (workers_submit(r->app->writers, write_work, write_done, http_req_base(r), j) != 0) {
		sd_err_set(&err, SD_EDOWN, "too many writes waiting; try again");
		http_reply_error(r, &err);
		write_job_free(j);
		http_async_finish(r);
	}
	return;
fail:
	http_reply_error(r, &err);
	write_job_free(j);
}

/* A read's stored metadata as reply text, and its lease TTL. The stored
 * text is used as it is when it is exactly what json_dumps would write for
 * it (secrets_write stores it that way), else it is parsed and written
 * again as before ({} when it does not parse). *text is then a new string
 * and *dumped is set (sd_json_free it). Returns -1 when out of memory. */
static int read_metadata(struct http_req *r, const char *meta, const char **text, size_t *len,
			 int *dumped, int64_t *ttl)
{
	const char *t;
	json_t *m;
	char *s;
	size_t tl;

	*dumped = 0;
	if (meta == NULL) {
		*text = "{}";
		*len = 2;
		*ttl = r->app->cfg->default_lease_ttl_s;
		return 0;
	}
	*len = strlen(meta);
	if (jsonx_canonical_strings(meta, *len, "ttl", &t, &tl)) {
		/* an escaped character is never part of a duration */
		*text = meta;
		*ttl = t != NULL && memchr(t, '\\', tl) == NULL ? ttl_or_default(r, t, tl)
								: r->app->cfg->default_lease_ttl_s;
		return 0;
	}
	m = json_loads(meta, 0, NULL);
	if (m == NULL)
		m = json_object();
	*ttl = lease_ttl(r, m);
	s = m ? json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(m);
	if (s == NULL)
		return -1;
	*text = s;
	*len = strlen(s);
	*dumped = 1;
	return 0;
}

/* The reply to a read, rendered into one buffer byte for byte as json_dumps
 * wrote it from a jansson object:
 *   {"value_b64":"...","version":N,"lease_ttl_s":N,"created_at":"...","metadata":{...}}
 * The base64 is encoded in place (it needs no escaping), so the value has
 * no other copy than this buffer, which http_reply_json_text wipes once it
 * is written. */
static void read_reply(struct http_req *r, const struct secret_value *v)
{
	const char *meta;
	struct jsonx_out o;
	size_t mlen, cap;
	char ts[32], *buf, *b64;
	int64_t ttl;
	int dumped;

	if (read_metadata(r, v->metadata, &meta, &mlen, &dumped, &ttl) != 0) {
		http_reply_errf(r, SD_EINTERNAL, "out of memory");
		return;
	}
	sd_rfc3339(v->created_us, ts);
	/* the member names, punctuation and two integers fit in 128 bytes */
	cap = 128 + B64_ENC_LEN(v->len) + JSONX_STR_MAX(strlen(ts)) + mlen;
	buf = malloc(cap);
	if (buf == NULL) {
		http_reply_errf(r, SD_EINTERNAL, "out of memory");
		goto out;
	}
	jsonx_out_init(&o, buf, cap);
	jsonx_out_raw(&o, "{", 1);
	jsonx_out_key(&o, "value_b64");
	jsonx_out_raw(&o, "\"", 1);
	b64 = jsonx_out_room(&o, B64_ENC_LEN(v->len));
	if (b64 != NULL)
		o.len += b64_encode(v->value, v->len, b64);
	jsonx_out_raw(&o, "\"", 1);
	jsonx_out_key(&o, "version");
	jsonx_out_int(&o, (int64_t)v->version);
	jsonx_out_key(&o, "lease_ttl_s");
	jsonx_out_int(&o, ttl);
	jsonx_out_key(&o, "created_at");
	jsonx_out_str(&o, ts, strlen(ts));
	jsonx_out_key(&o, "metadata");
	jsonx_out_raw(&o, meta, mlen);
	jsonx_out_raw(&o, "}", 1);
	if (o.failed) { /* cap counts every part: cannot happen */
		sd_wipe_free(buf, cap);
		http_reply_errf(r, SD_EINTERNAL, "cannot render the reply");
		goto out;
	}
	http_reply_json_text(r, 200, buf, o.len);
out:
	if (dumped)
		sd_json_free((char *)meta);
}

void route_secret_read(struct http_req *r)
{
	static const char *const params[] = { "version", NULL };
	struct secret_value v;
	struct sd_err err;
	uint64_t version;

	if (require(r, SCOPE_SECRETS_READ) != 0 || http_query_check(r, params) != 0 ||
	    version_param(r, 0, &version) != 0)
		return;
	if (route_secret_read_leased(r))
		return;
	sd_err_clear(&err);
	if (secrets_read(r->app, r->who.tenant, r->rest, version, &v, &err) != 0) {
		http_reply_error(r, &err);
		return;
	}
	read_reply(r, &v);
	secret_value_free(&v);
}

typedef int (*state_fn)(struct app *, const char *, const char *, uint64_t, const struct actor *,
			struct idem *, struct sd_err *);

/* Delete or undelete, with the idempotency key; replies 204. */
static void state_change(struct http_req *r, uint64_t version, state_fn fn)
{
	struct actor who = { r->who.sub, r->reqid };
	struct sd_err err;
	struct idem idem;
	int rc;

	sd_err_clear(&err);
	idem_init(&idem, r);
	rc = fn(r->app, r->who.tenant, r->rest, version, &who, &idem, &err);
	if (rc == IDEM_REPLAY)
		idem_reply(r, &idem);
	else if (rc != 0)
		http_reply_error(r, &err);
	else
		http_reply_raw(r, 204, "application/json", "", 0);
	idem_free(&idem);
}

void route_secret_delete(struct http_req *r)
{
	static const char *const params[] = { "version", NULL };
	uint64_t version;

	if (require(r, SCOPE_SECRETS_WRITE) != 0 || http_query_check(r, params) != 0 ||
	    version_param(r, 0, &version) != 0)
		return;
	state_change(r, version, secrets_delete);
}

void route_undelete(struct http_req *r)
{
	static const char *const params[] = { "version", NULL };
	uint64_t version;

	if (require(r, SCOPE_SECRETS_WRITE) != 0 || http_query_check(r, params) != 0 ||
	    version_param(r, 1, &version) != 0)
		return;
	state_change(r, version, secrets_undelete);
}

void route_metadata(struct http_req *r)
{
	static const char *const params[] = { NULL };
	struct sd_err err;
	json_t *doc;

	if (require(r, SCOPE_SECRETS_READ) != 0 || http_query_check(r, params) != 0)
		return;
	sd_err_clear(&err);
	if (secrets_metadata(r->app, r->who.tenant, r->rest, &doc, &err) != 0) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, doc);
}

/* A prefix is a path, possibly ending in '/' or in a partial segment. */
static int prefix_ok(const char *p)
{
	if (strlen(p) > SD_PATH_MAX)
		return 0;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-' || *p == '/'))
			return 0;
	return 1;
}

void route_secret_list(struct http_req *r)
{
	static const char *const params[] = { "prefix", "owner", "after", "limit", NULL };
	struct secret_list q;
	struct sd_err err;
	const char *limit;
	uint64_t n = LIST_LIMIT_DEFAULT;
	json_t *doc;

	if (http_query_check(r, params) != 0)
		return;
	if (!scopes_has_kind(&r->who.scopes, SCOPE_SECRETS_READ)) {
		http_reply_errf(r, SD_EFORBIDDEN, "token has no secrets:read scope");
		return;
	}
	memset(&q, 0, sizeof(q));
	q.tenant = r->who.tenant;
	q.scopes = &r->who.scopes;
	q.prefix = http_query(r, "prefix");
	q.owner = http_query(r, "owner");
	q.after = http_query(r, "after");
	limit = http_query(r, "limit");
	if (q.prefix == NULL)
		q.prefix = "";
	sd_err_clear(&err);
	if (!prefix_ok(q.prefix)) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'prefix' must be a path prefix");
		return;
	}
	if (q.owner != NULL && (q.owner[0] == '\0' || strlen(q.owner) > 512)) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'owner' must be 1 to 512 bytes");
		return;
	}
	if (q.after != NULL && path_check(q.after, &err) != 0) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'after' must be a path returned as 'next'");
		return;
	}
	if (limit != NULL && (sd_parse_u64(limit, LIST_LIMIT_MAX, &n) != 0 || n == 0)) {
		http_reply_errf(r, SD_EINVAL, "query parameter 'limit' must be an integer from 1 to %d",
				LIST_LIMIT_MAX);
		return;
	}
	q.limit = (unsigned)n;
	if (secrets_list(r->app, &q, &doc, &err) != 0) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, doc);
}
