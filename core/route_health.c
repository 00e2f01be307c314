/* route_health.c — GET /health, /ready and /metrics (no auth). */
#include <event2/buffer.h>
#include <stdlib.h>

#include "app.h"
#include "http.h"
#include "kms.h"
#include "leases.h"
#include "rotation.h"
#include "metrics.h"
#include "route.h"
#include "store.h"

void route_health(struct http_req *r)
{
	http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void route_ready(struct http_req *r)
{
	struct sd_err err;

	sd_err_clear(&err);
	if (r->app->stopping) {
		http_reply_errf(r, SD_EDOWN, "shutting down");
		return;
	}
	if (store_health(r->app->store, &err) != 0) {
		http_reply_errf(r, SD_EDOWN, "storage: %s", err.msg);
		return;
	}
	if (r->app->kms->ops->health(r->app->kms->ctx, &err) != 0) {
		http_reply_errf(r, SD_EDOWN, "keys: %s", err.msg);
		return;
	}
	if (atomic_load(&r->app->audit_failing)) {
		http_reply_errf(r, SD_EDOWN, "audit log cannot be written");
		return;
	}
	if (leases_ready(r->app, &err) != 0) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}

void route_metrics(struct http_req *r)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *text;

	metrics_render(r->app->metrics, b);
	store_metrics_render(r->app->store, b);
	leases_metrics_render(r->app, b);
	http_metrics_render(b);
	rotation_metrics_render(b);
	len = evbuffer_get_length(b);
	text = malloc(len + 1);
	if (text == NULL) {
		evbuffer_free(b);
		http_reply_errf(r, SD_EINTERNAL, "out of memory");
		return;
	}
	evbuffer_remove(b, text, len);
	evbuffer_free(b);
	http_reply_raw(r, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}
