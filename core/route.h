/* route.h — the routes of the API, their names (metrics labels) and handlers. */
#ifndef SD_ROUTE_H
#define SD_ROUTE_H

struct http_req;

enum route {
	R_UNKNOWN = 0,
	R_HEALTH,
	R_READY,
	R_METRICS,
	R_SECRET_READ,
	R_SECRET_WRITE,
	R_SECRET_DELETE,
	R_SECRET_LIST,
	R_METADATA,
	R_UNDELETE,
	R_LEASE_ISSUE,
	R_LEASE_LIST,
	R_LEASE_READ,
	R_LEASE_RENEW,
	R_LEASE_REVOKE,
	R_ROTATE,
	R_EVIDENCE,
	R_COUNT
};

#define SD_API_BASE "/api/v1/trust/secrets"

const char *route_name(int route);

/* Choose the route for r (method, path), authenticate when the route needs
 * it, and call its handler. Always replies. */
void router_dispatch(struct http_req *r);

/* Handlers: each replies exactly once. */
void route_health(struct http_req *r);
void route_ready(struct http_req *r);
void route_metrics(struct http_req *r);
void route_secret_read(struct http_req *r);
void route_secret_write(struct http_req *r);
void route_secret_delete(struct http_req *r);
void route_secret_list(struct http_req *r);
void route_metadata(struct http_req *r);
void route_undelete(struct http_req *r);
void route_lease_issue(struct http_req *r);
void route_lease_list(struct http_req *r);
void route_lease_read(struct http_req *r);
void route_lease_renew(struct http_req *r);
void route_lease_revoke(struct http_req *r);
void route_rotate(struct http_req *r);
void route_evidence(struct http_req *r);
/* GET of a secret path that a role claims: issue a lease and reply (async).
 * Returns 1 when it handled r, 0 when the path is an ordinary secret. */
int route_secret_read_leased(struct http_req *r);

#endif
