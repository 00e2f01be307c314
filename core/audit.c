/* audit.c — the request audit log. */
#include "audit.h"

#include <errno.h>
#include <event2/http.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "http.h"
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

static int emit(struct http_req *r, const char *phase, int status)
{
	char path[1024];
	struct evhttp_connection *evcon;
	char ts[40], *addr = NULL, *line;
	struct timespec now;
	struct tm tm;
	ev_uint16_t port = 0;
	json_t *o;
	ssize_t n;
	size_t len;

	if (r->app->audit_fd < 0 || r->route == R_HEALTH || r->route == R_READY || r->route == R_METRICS)
		return 0; /* probes and scrapes are not requests on secrets */
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + 19, sizeof(ts) - 19, ".%03ldZ", now.tv_nsec / 1000000);
	evcon = r->gone ? NULL : evhttp_request_get_connection(r->ev);
	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &port);
	printable_path(r->path, path, sizeof(path));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "time", ts, "phase", phase, "tenant",
		      r->who.tenant, "actor", r->who.sub, "route", route_name(r->route), "path", path,
		      "request_id", r->reqid, "client", addr ? addr : "");
	if (o == NULL)
		return -1;
	json_object_set_new(o, "method", json_string(r->method == EVHTTP_REQ_GET ? "GET"
						     : r->method == EVHTTP_REQ_POST ? "POST"
						     : r->method == EVHTTP_REQ_DELETE ? "DELETE"
						     : r->method == EVHTTP_REQ_HEAD ? "HEAD" : "OTHER"));
	if (status > 0)
		json_object_set_new(o, "status", json_integer(status));
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (line == NULL)
		return -1;
	len = strlen(line);
	line[len] = '\n'; /* json_dumps leaves room: the NUL becomes the newline */
	n = write(r->app->audit_fd, line, len + 1);
	line[len] = '\0';
	sd_json_free(line);
	if (n != (ssize_t)(len + 1)) {
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
