/* http.h — the HTTP core: event-loop threads, request state, replies.
 *
 * N threads, each with its own event_base and evhttp accepting on one shared
 * listening socket. A request is handled on the loop that received it;
 * handlers reply exactly once through http_reply_*(). */
#ifndef SD_HTTP_H
#define SD_HTTP_H

#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "err.h"

#define SD_REQID_MAX 255

struct evhttp_request;
struct app;

struct http_req {
	struct evhttp_request *ev;
	struct app *app;
	int method;                    /* EVHTTP_REQ_* */
	const char *path;              /* request path, raw (not percent-decoded) */
	const char *rest;              /* the path after the route's prefix */
	struct evkeyvalq query;        /* decoded query parameters */
	int query_ok;
	char reqid[SD_REQID_MAX + 1];  /* echoed or generated X-Request-Id */
	int reqid_from_client;         /* the client sent it (an idempotency key on POST/DELETE) */
	unsigned char *body;           /* private copy, NUL-terminated, wiped at the end */
	size_t body_len;
	struct principal who;          /* set by the router after auth */
	int route;                     /* enum route */
	int status;
	uint64_t t0;
	int async;                     /* the handler will reply later */
	int gone;                      /* the client went away while we worked */
};

struct http_server;

/* Bind cfg->listen and start the loop threads. */
struct http_server *http_start(struct app *app, struct sd_err *err);
/* Stop the loops (no request is served after this). */
void http_halt(struct http_server *s);
/* Halt if needed, deliver replies queued meanwhile, free everything. */
void http_stop(struct http_server *s);
/* Connection counters for /metrics. */
struct evbuffer;
void http_metrics_render(struct evbuffer *out);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *s);

/* Reply with a JSON body; takes ownership of body. The serialised bytes are
 * wiped when the connection has written them. */
void http_reply_json(struct http_req *r, int status, json_t *body);
/* Reply with JSON text the caller rendered (len bytes, without the final
 * newline, which is added); takes ownership of text, a malloc'd buffer
 * holding nothing beyond those len bytes: they are wiped and the buffer
 * freed when the connection has written them (or at once when the reply is
 * not sent), so the text may hold a secret. */
void http_reply_json_text(struct http_req *r, int status, char *text, size_t len);
/* Reply with the spec's error body for e->code and e->msg. */
void http_reply_error(struct http_req *r, const struct sd_err *e);
/* Same, built in place. */
void http_reply_errf(struct http_req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reply with a non-JSON body (text for /metrics). */
void http_reply_raw(struct http_req *r, int status, const char *ctype, const char *data,
		    size_t len);

/* Asynchronous handlers: call http_go_async before returning from the
 * handler, then reply (on the same loop thread) and call http_async_finish,
 * which frees r. If the client disconnects meanwhile, replies are dropped. */
void http_go_async(struct http_req *r);
void http_async_finish(struct http_req *r);
/* The event loop that owns the request (for workers_submit). */
struct event_base *http_req_base(struct http_req *r);

/* A decoded query parameter, or NULL. */
const char *http_query(struct http_req *r, const char *name);
/* 0 when every query parameter is in allowed (NULL-terminated) and none is
 * repeated; otherwise replies 400 and returns -1. */
int http_query_check(struct http_req *r, const char *const *allowed);

#endif
