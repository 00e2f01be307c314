/* audit.c — the request audit log. */
#include "audit.h"

#include <errno.h>
#include <event2/http.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "http.h"
#include "jsonx.h"
#include "log.h"
#include "route.h"
#include "util.h"

int audit_open(struct app *app, struct sd_err *err)
{
	const char *f = app->cfg->audit_log;
	char def[PATH_MAX + 16];

	app->audit_fd = -1;
	if (strcmp(f, "off") == 0) {
		log_warn("audit log is off");
		return 0;
	}
	if (strcmp(f, "-") == 0) {
		app->audit_fd = dup(STDOUT_FILENO);
		return app->audit_fd < 0 ? sd_err_set(err, SD_EDOWN, "cannot use stdout for the audit log") : 0;
	}
	if (f[0] == '\0') {
		snprintf(def, sizeof(def), "%s/audit.log", app->cfg->data_dir);
		f = def;
	}
	app->audit_fd = open(f, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (app->audit_fd < 0)
		return sd_err_set(err, SD_EDOWN, "cannot open the audit log %s: %s", f, strerror(errno));
	return 0;
}

void audit_close(struct app *app)
{
	if (app->audit_fd >= 0)
		close(app->audit_fd);
	app->audit_fd = -1;
}

/* The path as the client sent it, with any byte outside printable ASCII
 * shown as '?' (the log is JSON, which must be UTF-8). */
static void printable_path(const char *in, char *out, size_t cap)
{
	size_t i = 0;

	for (; in[i] != '\0' && i + 1 < cap; i++)
		out[i] = (unsigned char)in[i] >= 0x20 && (unsigned char)in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

static const char *method_name(int m)
{
	return m == EVHTTP_REQ_GET ? "GET"
	       : m == EVHTTP_REQ_POST ? "POST"
	       : m == EVHTTP_REQ_DELETE ? "DELETE"
	       : m == EVHTTP_REQ_HEAD ? "HEAD" : "OTHER";
}

/* Room for the longest line: tenant and actor escaped (6 bytes a byte at
 * worst), path and request id (printable ASCII: 2 at worst), a numeric
 * client address and the fixed part. */
#define AUDIT_LINE_MAX 8192

/* A member with a string value. */
static void member(struct jsonx_out *o, const char *key, const char *val)
{
	jsonx_out_key(o, key);
	jsonx_out_str(o, val, strlen(val));
}

/* One line, written as json_dumps(JSON_COMPACT) wrote it when the line was
 * a jansson object: the same members in the same order, the same escapes. */
static int emit(struct http_req *r, const char *phase, int status)
{
	char path[1024], line[AUDIT_LINE_MAX];
	struct evhttp_connection *evcon;
	struct jsonx_out o;
	char ts[32], *addr = NULL;
	ev_uint16_t port = 0;
	ssize_t n;

	if (r->app->audit_fd < 0 || r->route == R_HEALTH || r->route == R_READY || r->route == R_METRICS)
		return 0; /* probes and scrapes are not requests on secrets */
	sd_now_rfc3339_ms(ts);
	evcon = r->gone ? NULL : evhttp_request_get_connection(r->ev);
	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &port);
	printable_path(r->path, path, sizeof(path));
	jsonx_out_init(&o, line, sizeof(line) - 1); /* room for the newline */
	jsonx_out_raw(&o, "{", 1);
	member(&o, "time", ts);
	member(&o, "phase", phase);
	member(&o, "tenant", r->who.tenant);
	member(&o, "actor", r->who.sub);
	member(&o, "route", route_name(r->route));
	member(&o, "path", path);
	member(&o, "request_id", r->reqid);
	member(&o, "client", addr ? addr : "");
	member(&o, "method", method_name(r->method));
	if (status > 0) {
		jsonx_out_key(&o, "status");
		jsonx_out_int(&o, status);
	}
	jsonx_out_raw(&o, "}", 1);
	if (o.failed) { /* not UTF-8, or over the cap: not with the names auth.c accepts */
		log_error("audit log: cannot render the line for request %s", r->reqid);
		return -1;
	}
	line[o.len++] = '\n';
	n = write(r->app->audit_fd, line, o.len);
	if (n != (ssize_t)o.len) {
		log_error("audit log: cannot write (%s)", n < 0 ? strerror(errno) : "short write");
		atomic_store(&r->app->audit_failing, 1);
		return -1;
	}
	atomic_store(&r->app->audit_failing, 0);
	return 0;
}

int audit_attempt(struct http_req *r)
{
	return emit(r, "attempt", 0);
}

int audit_reply(struct http_req *r, int status)
{
	return emit(r, "reply", status);
}
