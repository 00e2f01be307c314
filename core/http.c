/* http.c — event-loop threads on one listening socket, request lifecycle,
 * caps, X-Request-Id and replies. Routing lives in router.c. */
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "audit.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "util.h"

struct conn;

struct http_thread {
	pthread_t tid;
	struct event_base *base;
	struct evhttp *http;
	struct http_server *srv;
	struct conn *conns;     /* connections of this loop (conn_sweep) */
	struct event *sweep;
	struct evhttp_bound_socket *bound; /* its listener, until http_stop */
};

static void conn_served(struct http_thread *t, struct evhttp_request *ev);

struct http_server {
	struct app *app;
	int fd;
	int port;
	int nthreads;
	struct http_thread *threads;
	SSL_CTX *ssl;
	atomic_int conns;               /* open connections */
	atomic_ullong conns_refused;    /* over max_connections */
	atomic_ullong conns_slow;       /* dropped for slow headers */
	int halted;
};

static struct http_server *the_server; /* for /metrics */

/* --- replies ------------------------------------------------------------ */

/* The reply when even the error could not be built. */
static const char oom[] = "{\"error\":\"internal_error\",\"message\":\"out of memory\"}";

static void wipe_cleanup(const void *data, size_t len, void *arg)
{
	void (*free_fn)(void *) = arg;

	OPENSSL_cleanse((void *)data, len);
	free_fn((void *)data);
}

static void add_common_headers(struct http_req *r, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "X-Request-Id", r->reqid);
	evhttp_add_header(h, "Cache-Control", "no-store");
}

static void send_reply(struct http_req *r, int status, struct evbuffer *body)
{
	const char *reason = NULL;

	if (audit_reply(r, status) != 0 && (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD) &&
	    !r->gone) {
		/* a read that cannot be recorded is not answered */
		evbuffer_drain(body, evbuffer_get_length(body));
		json_t *o = json_pack("{s:s, s:s, s:s}", "error", "dependency_down", "message",
				      "audit log unavailable", "request_id", r->reqid);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s != NULL) {
			evbuffer_add(body, s, strlen(s));
			sd_json_free(s);
		}
		json_decref(o);
		status = 503;
	}
	if (r->gone) {
		r->status = status;
		return;
	}
	switch (status) {
	case 405: reason = "Method Not Allowed"; break;
	case 409: reason = "Conflict"; break;
	case 413: reason = "Payload Too Large"; break;
	case 429: reason = "Too Many Requests"; break;
	case 503: reason = "Service Unavailable"; break;
	default: break;
	}
	r->status = status;
	evhttp_send_reply(r->ev, status, reason, body);
}

/* Send text (len bytes, a JSON body without its newline) and own it: it is
 * wiped and released with release() once the connection has written it, or
 * at once when it cannot be sent. */
static void reply_text(struct http_req *r, int status, char *text, size_t len, void (*release)(void *))
{
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL || evbuffer_add_reference(buf, text, len, wipe_cleanup, (void *)release) != 0) {
		OPENSSL_cleanse(text, len);
		release(text);
		if (buf != NULL)
			evbuffer_free(buf);
		http_reply_raw(r, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	evbuffer_add(buf, "\n", 1);
	add_common_headers(r, "application/json");
	send_reply(r, status, buf);
	evbuffer_free(buf);
}

void http_reply_json(struct http_req *r, int status, json_t *body)
{
	json_malloc_t m;
	json_free_t f;
	char *s;

	if (r->status != 0) { /* a handler bug: reply once */
		json_decref(body);
		return;
	}
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (s == NULL) {
		http_reply_raw(r, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	json_get_alloc_funcs(&m, &f);
	reply_text(r, status, s, strlen(s), f);
}

void http_reply_json_text(struct http_req *r, int status, char *text, size_t len)
{
	if (r->status != 0) { /* a handler bug: reply once */
		sd_wipe_free(text, len);
		return;
	}
	reply_text(r, status, text, len, free);
}

/* Messages may quote what the client sent (a field name, a parameter):
 * keep them printable ASCII so that they are always valid JSON strings. */
static void printable(const char *in, char *out, size_t cap)
{
	size_t i = 0;

	for (; in[i] != '\0' && i + 1 < cap; i++)
		out[i] = (unsigned char)in[i] >= 0x20 && (unsigned char)in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

void http_reply_error(struct http_req *r, const struct sd_err *e)
{
	int code = e->code == SD_OK ? SD_EINTERNAL : e->code;
	char msg[SD_ERR_MSG_MAX];
	json_t *o;

	if (code == SD_EDEADLOCK || code == SD_ECRYPTO)
		code = SD_EINTERNAL;
	printable(e->msg[0] ? e->msg : sd_err_name(code), msg, sizeof(msg));
	o = json_pack("{s:s, s:s, s:s}", "error", sd_err_name(code), "message", msg, "request_id", r->reqid);
	if (code == SD_EMETHOD) {
		/* Allow was set by the router */
	}
	http_reply_json(r, sd_err_status(code), o);
}

void http_reply_errf(struct http_req *r, int code, const char *fmt, ...)
{
	struct sd_err e;
	va_list ap;

	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	http_reply_error(r, &e);
}

void http_reply_raw(struct http_req *r, int status, const char *ctype, const char *data, size_t len)
{
	struct evbuffer *buf;

	if (r->status != 0)
		return;
	buf = evbuffer_new();
	evbuffer_add(buf, data, len);
	add_common_headers(r, ctype);
	send_reply(r, status, buf);
	evbuffer_free(buf);
}

const char *http_query(struct http_req *r, const char *name)
{
	return r->query_ok ? evhttp_find_header(&r->query, name) : NULL;
}

int http_query_check(struct http_req *r, const char *const *allowed)
{
	struct evkeyval *kv, *kv2;

	if (!r->query_ok) {
		http_reply_errf(r, SD_EINVAL, "malformed query string");
		return -1;
	}
	TAILQ_FOREACH(kv, &r->query, next) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(kv->key, *a) == 0)
				ok = 1;
		if (!ok) {
			http_reply_errf(r, SD_EINVAL, "unknown query parameter '%.64s'", kv->key);
			return -1;
		}
		for (kv2 = TAILQ_NEXT(kv, next); kv2; kv2 = TAILQ_NEXT(kv2, next))
			if (strcmp(kv->key, kv2->key) == 0) {
				http_reply_errf(r, SD_EINVAL, "query parameter '%.64s' given twice", kv->key);
				return -1;
			}
	}
	return 0;
}

/* --- request lifecycle ---------------------------------------------------- */

static int reqid_valid(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e || n >= SD_REQID_MAX)
			return 0;
	return n > 0;
}

/* A generated request id: 16 random bytes as 32 lowercase hex characters.
 * The bytes come from a pool per thread, filled 4 KB (256 ids) at a time:
 * RAND_bytes per request cost a DRBG call and a getpid syscall (OpenSSL's
 * fork check) each time. A forked child drops the pool it inherited, so
 * that it never repeats its parent's ids. On failure out is left as it is. */
#define REQID_BYTES 16
#define REQID_POOL 4096

static _Thread_local unsigned char reqid_pool[REQID_POOL];
static _Thread_local size_t reqid_next = REQID_POOL; /* REQID_POOL: empty */
static pthread_once_t reqid_once = PTHREAD_ONCE_INIT;

static void reqid_forked(void)
{
	reqid_next = REQID_POOL;
}

static void reqid_init(void)
{
	pthread_atfork(NULL, NULL, reqid_forked);
}

static void reqid_generate(char out[2 * REQID_BYTES + 1])
{
	pthread_once(&reqid_once, reqid_init);
	if (reqid_next == REQID_POOL) {
		if (RAND_bytes(reqid_pool, REQID_POOL) != 1)
			return;
		reqid_next = 0;
	}
	sd_hex(reqid_pool + reqid_next, REQID_BYTES, out);
	reqid_next += REQID_BYTES;
}

/* Overwrite the connection's copy of the request body in place. */
static void wipe_evbuffer(struct evbuffer *b)
{
	struct evbuffer_iovec small[16], *v = small;
	int n = evbuffer_peek(b, -1, NULL, NULL, 0);

	if (n > 16 && (v = malloc(sizeof(*v) * (size_t)n)) == NULL)
		return;
	n = evbuffer_peek(b, -1, NULL, v, n);
	for (int i = 0; i < n; i++)
		OPENSSL_cleanse(v[i].iov_base, v[i].iov_len);
	if (v != small)
		free(v);
}

static void req_finish(struct http_req *r)
{
	if (r->status == 0 && !r->gone) { /* every handler replies; this is a last guard */
		log_error("no reply for %s (request %s)", r->path, r->reqid);
		http_reply_errf(r, SD_EINTERNAL, "no reply");
	}
	metrics_observe(r->app->metrics, r->route, r->gone ? 499 : r->status, sd_mono_ns() - r->t0);
	if (!r->gone)
		wipe_evbuffer(evhttp_request_get_input_buffer(r->ev));
	if (r->body != NULL)
		sd_wipe_free(r->body, r->body_len + 1);
	evhttp_clear_headers(&r->query);
	/* r holds no secret (the body copy was wiped above; the principal is
	 * names and scopes): no need to wipe 5 KB on every request */
	free(r);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct http_req *r = arg;

	(void)evcon;
	r->gone = 1;
}

void http_go_async(struct http_req *r)
{
	r->async = 1;
	evhttp_connection_set_closecb(evhttp_request_get_connection(r->ev), on_conn_close, r);
}

void http_async_finish(struct http_req *r)
{
	if (!r->gone)
		evhttp_connection_set_closecb(evhttp_request_get_connection(r->ev), NULL, NULL);
	req_finish(r);
}

struct event_base *http_req_base(struct http_req *r)
{
	return evhttp_connection_get_base(evhttp_request_get_connection(r->ev));
}

static void on_request(struct evhttp_request *ev, void *arg)
{
	struct http_thread *t = arg;
	struct app *app = t->srv->app;
	struct http_req *rp = calloc(1, sizeof(*rp));
	const struct evhttp_uri *uri;
	const char *q, *rid;
	struct evbuffer *in;
	size_t len;

	if (rp == NULL) {
		evhttp_send_error(ev, 503, "out of memory");
		return;
	}
	rp->ev = ev;
	rp->app = app;
	rp->t0 = sd_mono_ns();
	rp->method = evhttp_request_get_command(ev);
	conn_served(t, ev);
	TAILQ_INIT(&rp->query);

	rid = evhttp_find_header(evhttp_request_get_input_headers(ev), "X-Request-Id");
	if (rid != NULL && reqid_valid(rid)) {
		sd_strlcpy(rp->reqid, rid, sizeof(rp->reqid));
		rp->reqid_from_client = 1;
	} else
		reqid_generate(rp->reqid);

	uri = evhttp_request_get_evhttp_uri(ev);
	rp->path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (rp->path == NULL || rp->path[0] == '\0')
		rp->path = "/";
	q = uri ? evhttp_uri_get_query(uri) : NULL;
	rp->query_ok = (q == NULL || evhttp_parse_query_str(q, &rp->query) == 0);

	in = evhttp_request_get_input_buffer(ev);
	len = evbuffer_get_length(in);
	if (t->srv->halted) {
		/* http_stop's last pass: a request that arrived on an open
		 * connection after the loops stopped is not served */
		evhttp_add_header(evhttp_request_get_output_headers(ev), "Connection", "close");
		http_reply_errf(rp, SD_EDOWN, "server stopping");
	} else if (rid != NULL && !reqid_valid(rid)) {
		http_reply_errf(rp, SD_EINVAL,
				"X-Request-Id must be 1 to 255 printable ASCII characters without spaces");
	} else if (len > app->cfg->max_body_bytes) {
		http_reply_errf(rp, SD_ETOOBIG, "request body is larger than %zu bytes",
				app->cfg->max_body_bytes);
	} else {
		rp->body = malloc(len + 1);
		if (rp->body == NULL) {
			http_reply_errf(rp, SD_EINTERNAL, "out of memory");
		} else {
			evbuffer_copyout(in, rp->body, len);
			rp->body[len] = '\0';
			rp->body_len = len;
			router_dispatch(rp);
		}
	}
	if (!rp->async)
		req_finish(rp);
}

/* --- connections: cap and header deadline ----------------------------------
 *
 * libevent 2.1's evhttp has no connection limit and only per-read timeouts,
 * so a client sending one byte every few seconds would hold a connection
 * forever. Each loop keeps a list of the bufferevents it handed to evhttp
 * (holding a reference so that a freed one is recognisable: evhttp clears
 * its callbacks) and sweeps it a few times a second: a connection whose
 * first request has not arrived in time, or that is over the cap, is shut
 * down; one that evhttp has freed is released. (A filtering bufferevent
 * would see every byte, but filters lose wake-ups under evhttp with
 * threads in libevent 2.1.) */

#define SWEEP_MS 250

struct conn {
	struct bufferevent *bev;
	uint64_t born_ns;
	int served;   /* a request arrived on it */
	int refuse;   /* over the cap: shut down at the next sweep */
	struct conn *next;
};

static struct conn *conn_find(struct http_thread *t, struct bufferevent *bev)
{
	for (struct conn *c = t->conns; c != NULL; c = c->next)
		if (c->bev == bev)
			return c;
	return NULL;
}

static void conn_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct http_thread *t = arg;
	struct http_server *s = t->srv;
	uint64_t now = sd_mono_ns(), limit = (uint64_t)s->app->cfg->header_timeout_s * 1000000000u;
	struct conn **pp = &t->conns;

	(void)fd;
	(void)what;
	while (*pp != NULL) {
		struct conn *c = *pp;
		bufferevent_data_cb rcb;
		bufferevent_event_cb ecb;
		void *cbarg;

		bufferevent_getcb(c->bev, &rcb, NULL, &ecb, &cbarg);
		if (rcb == NULL && ecb == NULL) { /* evhttp is done with it */
			*pp = c->next;
			bufferevent_decref(c->bev);
			atomic_fetch_sub(&s->conns, 1);
			free(c);
			continue;
		}
		if (c->refuse || (!c->served && now - c->born_ns > limit)) {
			evutil_socket_t sock = bufferevent_getfd(c->bev);
			if (!c->refuse)
				atomic_fetch_add(&s->conns_slow, 1);
			c->refuse = 0;
			c->served = 1; /* once */
			if (sock >= 0)
				shutdown(sock, SHUT_RDWR); /* evhttp sees the end and frees it */
		}
		pp = &c->next;
	}
}

static struct bufferevent *conn_bevcb(struct event_base *base, void *arg)
{
	struct http_thread *t = arg;
	struct http_server *s = t->srv;
	struct bufferevent *bev;
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (s->ssl != NULL) {
		SSL *ssl = SSL_new(s->ssl);
		bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
							   BEV_OPT_CLOSE_ON_FREE)
			  : NULL;
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL) {
		free(c);
		return NULL;
	}
	bufferevent_incref(bev);
	c->bev = bev;
	c->born_ns = sd_mono_ns();
	if (atomic_fetch_add(&s->conns, 1) >= s->app->cfg->max_connections) {
		c->refuse = 1;
		atomic_fetch_add(&s->conns_refused, 1);
	}
	c->next = t->conns;
	t->conns = c;
	return bev;
}

/* A request arrived: its connection is no longer waiting for headers. A
 * CONNECT gets its answer and then the connection is shut at the next sweep
 * (evhttp would otherwise keep it open, as a tunnel that never starts). */
static void conn_served(struct http_thread *t, struct evhttp_request *ev)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct conn *c = evcon ? conn_find(t, evhttp_connection_get_bufferevent(evcon)) : NULL;

	if (c != NULL) {
		c->served = 1;
		if (evhttp_request_get_command(ev) == EVHTTP_REQ_CONNECT)
			c->refuse = 1;
	}
}

void http_metrics_render(struct evbuffer *out)
{
	struct http_server *s = the_server;

	if (s == NULL)
		return;
	evbuffer_add_printf(out,
			    "# TYPE secretsd_connections_open gauge\nsecretsd_connections_open %d\n"
			    "# TYPE secretsd_connections_refused_total counter\nsecretsd_connections_refused_total %llu\n"
			    "# TYPE secretsd_connections_slow_dropped_total counter\nsecretsd_connections_slow_dropped_total %llu\n",
			    atomic_load(&s->conns), atomic_load(&s->conns_refused), atomic_load(&s->conns_slow));
}

/* --- TLS ------------------------------------------------------------------ */

static SSL_CTX *tls_context(const struct sd_config *c, struct sd_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		sd_err_set(err, SD_EINVAL, "TLS: cannot create a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
		sd_err_set(err, SD_EINVAL, "TLS: cannot load certificate %s", c->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		sd_err_set(err, SD_EINVAL, "TLS: cannot load key %s or it does not match the certificate",
			   c->tls_key);
		goto fail;
	}
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* --- listening socket and threads ------------------------------------------ */

static int split_hostport(const char *listen, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon = strrchr(listen, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	hl = (size_t)(colon - listen);
	if (hl > 1 && listen[0] == '[' && listen[hl - 1] == ']') {
		listen++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hn || strlen(colon + 1) >= pn)
		return -1;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1); /* length checked above */
	return 0;
}

static int bind_socket(const char *addr, int *port_out, struct sd_err *err)
{
	char host[256], port[16];
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, rc;

	if (split_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0) {
		sd_err_set(err, SD_EINVAL, "listen address '%s' is not HOST:PORT", addr);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		sd_err_set(err, SD_EINVAL, "listen address '%s': %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0 ||
	    evutil_make_socket_nonblocking(fd) != 0)
		goto fail;
	freeaddrinfo(ai);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
fail:
	sd_err_set(err, SD_EINVAL, "cannot listen on %s: %s", addr, strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

static void *thread_main(void *arg)
{
	struct http_thread *t = arg;

	if (t != &t->srv->threads[0])
		sd_test_delay("loop_start");
	event_base_loop(t->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int thread_setup(struct http_server *s, struct http_thread *t, struct sd_err *err)
{
	const struct sd_config *c = s->app->cfg;
	struct timeval tv = { c->request_timeout_s, 0 };
	int fd;

	t->srv = s;
	t->base = event_base_new();
	t->http = t->base ? evhttp_new(t->base) : NULL;
	if (t->http == NULL)
		return sd_err_set(err, SD_EINTERNAL, "cannot create an event loop");
	/* evhttp's own caps are unlimited by default. Its body cap answers with
	 * an HTML 413 before reading the body; ours (in on_request) answers in
	 * JSON. The HTML answer is only for bodies over twice our cap. */
	evhttp_set_max_headers_size(t->http, (ev_ssize_t)c->max_header_bytes);
	evhttp_set_max_body_size(t->http, (ev_ssize_t)c->max_body_bytes * 2);
	evhttp_set_timeout_tv(t->http, &tv);
	/* Every method reaches the router, which answers 405 in JSON: the
	 * known ones and (all bits set) the type libevent gives a method token
	 * it does not know, which would otherwise be its own HTML 501. */
	evhttp_set_allowed_methods(t->http, 0xffff);
	evhttp_set_gencb(t->http, on_request, t);
	evhttp_set_bevcb(t->http, conn_bevcb, t);
	t->sweep = event_new(t->base, -1, EV_PERSIST, conn_sweep, t);
	if (t->sweep == NULL)
		return sd_err_set(err, SD_EINTERNAL, "cannot create the connection sweeper");
	{
		struct timeval iv = { 0, SWEEP_MS * 1000 };
		event_add(t->sweep, &iv);
	}
	/* Each evhttp closes the socket it accepts on, so each gets a dup. */
	fd = dup(s->fd);
	if (fd < 0 || (t->bound = evhttp_accept_socket_with_handle(t->http, fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return sd_err_set(err, SD_EINTERNAL, "cannot accept on the listening socket");
	}
	return 0;
}

struct http_server *http_start(struct app *app, struct sd_err *err)
{
	struct http_server *s;
	long ncpu;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		sd_err_set(err, SD_EINTERNAL, "out of memory");
		return NULL;
	}
	s->app = app;
	s->fd = -1;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	s->nthreads = app->cfg->threads > 0 ? app->cfg->threads : (ncpu > 0 ? (int)ncpu : 1);
	if (app->cfg->tls_cert[0] != '\0' && (s->ssl = tls_context(app->cfg, err)) == NULL)
		goto fail;
	s->fd = bind_socket(app->cfg->listen, &s->port, err);
	if (s->fd < 0)
		goto fail;
	s->threads = calloc((size_t)s->nthreads, sizeof(*s->threads));
	if (s->threads == NULL)
		goto fail;
	for (int i = 0; i < s->nthreads; i++)
		if (thread_setup(s, &s->threads[i], err) != 0)
			goto fail;
	the_server = s;
	for (int i = 0; i < s->nthreads; i++)
		if (pthread_create(&s->threads[i].tid, NULL, thread_main, &s->threads[i]) != 0) {
			sd_err_set(err, SD_EINTERNAL, "cannot start thread");
			/* threads already started are stopped by http_stop */
			s->nthreads = i;
			http_stop(s);
			return NULL;
		}
	return s;
fail:
	if (s->threads != NULL)
		for (int i = 0; i < s->nthreads; i++) {
			if (s->threads[i].http)
				evhttp_free(s->threads[i].http);
			if (s->threads[i].base)
				event_base_free(s->threads[i].base);
		}
	free(s->threads);
	if (s->fd >= 0)
		close(s->fd);
	if (s->ssl)
		SSL_CTX_free(s->ssl);
	free(s);
	return NULL;
}

int http_port(const struct http_server *s)
{
	return s->port;
}

void http_halt(struct http_server *s)
{
	if (s == NULL || s->halted)
		return;
	/* loopexit, not loopbreak: it is an event in the base, so a loop that
	 * has not started yet (a thread not scheduled since http_start) still
	 * sees it; event_base_loop clears a break that came before it. */
	for (int i = 0; i < s->nthreads; i++)
		event_base_loopexit(s->threads[i].base, NULL);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i].tid, NULL);
	s->halted = 1;
}

void http_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	http_halt(s);
	sd_test_delay("last_pass");
	for (int i = 0; i < s->nthreads; i++) {
		struct http_thread *t = &s->threads[i];
		struct timeval cap = { 2, 0 };

		/* Replies that workers queued after the loops stopped. No new
		 * connection is accepted meanwhile (a pass goes on as long as
		 * there is work, which steady traffic would never let end), a
		 * request on an open one is answered 503, and the pass ends
		 * within 2 s whatever happens. */
		if (t->bound != NULL)
			evhttp_del_accept_socket(t->http, t->bound);
		t->bound = NULL;
		event_base_loopexit(t->base, &cap);
		event_base_loop(t->base, EVLOOP_NONBLOCK);
		evhttp_free(t->http);
		while (t->conns != NULL) {
			struct conn *c = t->conns;
			t->conns = c->next;
			bufferevent_decref(c->bev);
			free(c);
		}
		event_free(t->sweep);
		event_base_free(t->base);
	}
	free(s->threads);
	close(s->fd);
	if (s->ssl)
		SSL_CTX_free(s->ssl);
	the_server = NULL;
	free(s);
}
