/* router.c — maps method and path to a route, authenticates, dispatches. */
#include <event2/http.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "audit.h"
#include "auth.h"
#include "http.h"
#include "leases.h"
#include "ratelimit.h"
#include "util.h"
#include <stdio.h>
#include "path.h"
#include "route.h"

static const char *const names[R_COUNT] = {
	[R_UNKNOWN] = "unknown",
	[R_HEALTH] = "health",
	[R_READY] = "ready",
	[R_METRICS] = "metrics",
	[R_SECRET_READ] = "secret_read",
	[R_SECRET_WRITE] = "secret_write",
	[R_SECRET_DELETE] = "secret_delete",
	[R_SECRET_LIST] = "secret_list",
	[R_METADATA] = "metadata_read",
	[R_UNDELETE] = "secret_undelete",
	[R_LEASE_ISSUE] = "lease_issue",
	[R_LEASE_LIST] = "lease_list",
	[R_LEASE_READ] = "lease_read",
	[R_LEASE_RENEW] = "lease_renew",
	[R_LEASE_REVOKE] = "lease_revoke",
	[R_ROTATE] = "admin_rotate",
	[R_EVIDENCE] = "admin_evidence",
};

const char *route_name(int route)
{
	return route >= 0 && route < R_COUNT && names[route] ? names[route] : "unknown";
}

enum { M_GET = 1, M_POST = 2, M_DELETE = 4 };

/* One resource: its path prefix, what follows it (nothing, a secret path, a
 * lease id), and the route per method. */
enum { TAIL_NONE = 0, TAIL_PATH = 1, TAIL_LEASE = 2, TAIL_LEASE_RENEW = 3 };

struct resource {
	const char *prefix;
	int has_path;
	int auth;
	int get, post, del;
};

static const struct resource resources[] = {
	{ "/health", 0, 0, R_HEALTH, 0, 0 },
	{ "/ready", 0, 0, R_READY, 0, 0 },
	{ "/metrics", 0, 0, R_METRICS, 0, 0 },
	{ SD_API_BASE "/secrets", 0, 1, R_SECRET_LIST, 0, 0 },
	{ SD_API_BASE "/secrets/", 1, 1, R_SECRET_READ, R_SECRET_WRITE, R_SECRET_DELETE },
	{ SD_API_BASE "/metadata/", 1, 1, R_METADATA, 0, 0 },
	{ SD_API_BASE "/undelete/", 1, 1, 0, R_UNDELETE, 0 },
	{ SD_API_BASE "/leases", 0, 1, R_LEASE_LIST, R_LEASE_ISSUE, 0 },
	/* "leases/ID/renew" is matched before "leases/ID" (see find_resource) */
	{ SD_API_BASE "/leases/", TAIL_LEASE_RENEW, 1, 0, R_LEASE_RENEW, 0 },
	{ SD_API_BASE "/leases/", TAIL_LEASE, 1, R_LEASE_READ, 0, R_LEASE_REVOKE },
	{ SD_API_BASE "/admin/rotate/", TAIL_PATH, 1, 0, R_ROTATE, 0 },
	{ SD_API_BASE "/admin/evidence", 0, 1, R_EVIDENCE, 0, 0 },
};

typedef void (*handler_fn)(struct http_req *);

static const handler_fn handlers[R_COUNT] = {
	[R_HEALTH] = route_health,
	[R_READY] = route_ready,
	[R_METRICS] = route_metrics,
	[R_SECRET_READ] = route_secret_read,
	[R_SECRET_WRITE] = route_secret_write,
	[R_SECRET_DELETE] = route_secret_delete,
	[R_SECRET_LIST] = route_secret_list,
	[R_METADATA] = route_metadata,
	[R_UNDELETE] = route_undelete,
	[R_LEASE_ISSUE] = route_lease_issue,
	[R_LEASE_LIST] = route_lease_list,
	[R_LEASE_READ] = route_lease_read,
	[R_LEASE_RENEW] = route_lease_renew,
	[R_LEASE_REVOKE] = route_lease_revoke,
	[R_ROTATE] = route_rotate,
	[R_EVIDENCE] = route_evidence,
};

static const struct resource *find_resource(const char *path, const char **rest)
{
	for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		const struct resource *res = &resources[i];
		size_t n = strlen(res->prefix);
		if (res->has_path == TAIL_LEASE_RENEW) {
			const char *slash;
			if (strncmp(path, res->prefix, n) == 0 && (slash = strchr(path + n, '/')) != NULL &&
			    strcmp(slash, "/renew") == 0) {
				*rest = path + n;
				return res;
			}
		} else if (res->has_path) {
			if (strncmp(path, res->prefix, n) == 0) {
				*rest = path + n;
				return res;
			}
		} else if (strcmp(path, res->prefix) == 0) {
			*rest = "";
			return res;
		}
	}
	return NULL;
}

/* Rate-limit class of each route (-1: not limited). */
static int route_class(int route)
{
	switch (route) {
	case R_SECRET_READ:
	case R_SECRET_LIST:
	case R_METADATA:
		return RL_READ;
	case R_SECRET_WRITE:
	case R_SECRET_DELETE:
	case R_UNDELETE:
		return RL_WRITE;
	case R_LEASE_ISSUE:
	case R_LEASE_READ:
	case R_LEASE_RENEW:
	case R_LEASE_REVOKE:
		return RL_LEASE;
	case R_LEASE_LIST:
	case R_ROTATE:
	case R_EVIDENCE:
		return RL_ADMIN;
	default:
		return -1;
	}
}

static void set_rate_headers(struct http_req *r, const struct rl_info *info)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	char v[32];

	snprintf(v, sizeof(v), "%d", info->limit);
	evhttp_add_header(h, "RateLimit-Limit", v);
	snprintf(v, sizeof(v), "%d", info->remaining);
	evhttp_add_header(h, "RateLimit-Remaining", v);
	snprintf(v, sizeof(v), "%d", info->reset_s);
	evhttp_add_header(h, "RateLimit-Reset", v);
}

static void reply_429(struct http_req *r, const struct rl_info *info, const char *who)
{
	char v[32];

	snprintf(v, sizeof(v), "%d", info->retry_after_s);
	evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", v);
	http_reply_errf(r, SD_ERATE, "rate limit exceeded for %s; retry after %d s", who, info->retry_after_s);
}

/* Key of the unauthenticated bucket: the client's address. */
static void peer_key(struct http_req *r, char *out, size_t n)
{
	char *addr = NULL;
	ev_uint16_t port;

	evhttp_connection_get_peer(evhttp_request_get_connection(r->ev), &addr, &port);
	snprintf(out, n, "\x1fip\x1f%s", addr ? addr : "?");
}

/* Per-tenant, per-class limit after authentication. */
static int rate_check(struct http_req *r)
{
	int cls = route_class(r->route);
	struct rl_info info;
	char key[128];
	double rps;
	int burst;

	if (cls < 0)
		return 0;
	config_rate_for(r->app->cfg, r->who.tenant, cls, &rps, &burst);
	if (rps <= 0)
		return 0;
	snprintf(key, sizeof(key), "%s\x1f%s", r->who.tenant, rl_class_name(cls));
	if (ratelimit_take(r->app->ratelimit, key, rps, burst, sd_now_us(), &info)) {
		set_rate_headers(r, &info);
		return 0;
	}
	set_rate_headers(r, &info);
	reply_429(r, &info, rl_class_name(cls));
	return -1;
}

static void reply_405(struct http_req *r, const struct resource *res)
{
	char allow[32] = "";

	if (res->get)
		strcat(allow, "GET, HEAD");
	if (res->post)
		strcat(allow, allow[0] ? ", POST" : "POST");
	if (res->del)
		strcat(allow, allow[0] ? ", DELETE" : "DELETE");
	evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Allow", allow);
	http_reply_errf(r, SD_EMETHOD, "method not allowed; allowed: %s", allow);
}

static int authenticate(struct http_req *r)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization");
	struct sd_err err;
	struct rl_info info;
	char key[128];
	double rps;
	int burst;

	/* An address that keeps failing is slowed down before any signature math. */
	config_rate_for(r->app->cfg, NULL, RL_UNAUTH, &rps, &burst);
	peer_key(r, key, sizeof(key));
	if (rps > 0 && ratelimit_limited(r->app->ratelimit, key, rps, burst, sd_now_us())) {
		ratelimit_take(r->app->ratelimit, key, rps, burst, sd_now_us(), &info);
		reply_429(r, &info, "unauthenticated requests from this address");
		return -1;
	}

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		if (rps > 0)
			ratelimit_take(r->app->ratelimit, key, rps, burst, sd_now_us(), &info);
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "WWW-Authenticate",
				  "Bearer realm=\"secretsd\"");
		http_reply_errf(r, SD_EUNAUTH, "a bearer token is required");
		return -1;
	}
	h += 7;
	while (*h == ' ')
		h++;
	sd_err_clear(&err);
	if (auth_verify(r->app->auth, h, strlen(h), &r->who, &err) != 0) {
		if (rps > 0)
			ratelimit_take(r->app->ratelimit, key, rps, burst, sd_now_us(), &info);
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "WWW-Authenticate",
				  "Bearer realm=\"secretsd\", error=\"invalid_token\"");
		http_reply_errf(r, SD_EUNAUTH, "invalid token: %s", err.msg);
		return -1;
	}
	return 0;
}

void router_dispatch(struct http_req *r)
{
	const struct resource *res;
	struct sd_err err;
	int route = 0;

	res = find_resource(r->path, &r->rest);
	if (res == NULL) {
		http_reply_errf(r, SD_ENOTFOUND, "no such endpoint");
		return;
	}
	switch (r->method) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		route = res->get;
		break;
	case EVHTTP_REQ_POST:
		route = res->post;
		break;
	case EVHTTP_REQ_DELETE:
		route = res->del;
		break;
	default:
		break;
	}
	if (route == 0) {
		reply_405(r, res);
		return;
	}
	r->route = route;
	if (res->auth && (authenticate(r) != 0 || rate_check(r) != 0))
		return;
	if ((r->method == EVHTTP_REQ_POST || r->method == EVHTTP_REQ_DELETE) && audit_attempt(r) != 0) {
		http_reply_errf(r, SD_EDOWN, "audit log unavailable; the request was not carried out");
		return;
	}
	if (res->has_path == TAIL_PATH && path_check(r->rest, &err) != 0) {
		http_reply_error(r, &err);
		return;
	}
	if (res->has_path == TAIL_LEASE || res->has_path == TAIL_LEASE_RENEW) {
		char id[LEASE_ID_LEN + 1];
		size_t n = strcspn(r->rest, "/");
		if (n != LEASE_ID_LEN || (res->has_path == TAIL_LEASE && r->rest[n] != '\0')) {
			http_reply_errf(r, SD_ENOTFOUND, "lease not found");
			return;
		}
		memcpy(id, r->rest, n);
		id[n] = '\0';
		if (!lease_id_valid(id)) {
			http_reply_errf(r, SD_ENOTFOUND, "lease not found");
			return;
		}
	}
	handlers[route](r);
}
