/* server.c — start-up order, signal handling and shutdown. */
#include "server.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "auth.h"
#include "crypto.h"
#include "http.h"
#include "audit.h"
#include "evidence.h"
#include "kms.h"
#include "leases.h"
#include "ratelimit.h"
#include "rotation.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "workers.h"

#define WRITERS 8
#define WRITERS_QUEUE_MAX 4096

struct sigctx {
	struct event_base *base;
	struct app *app;
};

/* SIGHUP: read plugins.conf again; keep the old registry on any error.
 * Requests in flight keep the registry they hold. */
static void reload_plugins(struct app *app)
{
	struct registry *r = NULL;
	struct sd_err err;

	if (app->cfg->plugins_file[0] == '\0') {
		log_info("SIGHUP: no plugins file to reload");
		return;
	}
	sd_err_clear(&err);
	if (registry_load(app->cfg->plugins_file, &r, &err) != 0) {
		log_error("SIGHUP: plugins not reloaded, keeping the current set: %s", err.msg);
		return;
	}
	leases_set_registry(app, r);
	log_info("SIGHUP: plugins reloaded: %zu plugin(s), %zu role(s)", r->nplugins, r->nroles);
	{
		struct evidence_event ev;
		char detail[64];
		memset(&ev, 0, sizeof(ev));
		snprintf(detail, sizeof(detail), "%zu plugin(s), %zu role(s)", r->nplugins, r->nroles);
		ev.actor = "system:sighup";
		ev.action = "plugin.reload";
		ev.detail = detail;
		if (evidence_record(app, &ev, &err) != 0)
			log_error("SIGHUP: evidence not recorded: %s", err.msg);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sigctx *c = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload_plugins(c->app);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(c->base);
}

/* Record the active KEK in the registry the first time it is used. */
static int register_kek(struct store_txn *t, void *arg, struct sd_err *err)
{
	const char *id = arg;
	char key[128], val[256], ts[32];
	char *old = NULL;
	int rc;

	snprintf(key, sizeof(key), "kek/%s", id);
	rc = store_meta_get(t, key, &old, err);
	free(old);
	if (rc != SD_ENOTFOUND)
		return rc;
	sd_rfc3339(sd_now_us(), ts);
	snprintf(val, sizeof(val), "{\"provider\":\"local\",\"state\":\"active\",\"created_at\":\"%s\"}", ts);
	return store_meta_put(t, key, val, err);
}

int server_run(struct sd_config *cfg, server_ready_fn ready, void *arg)
{
	struct app app;
	struct sd_err err;
	struct http_server *http = NULL;
	struct event_base *base = NULL;
	struct event *sigs[3] = { NULL, NULL, NULL };
	struct sigctx sc;
	const int signums[3] = { SIGINT, SIGTERM, SIGHUP };
	int rc = 1;

	memset(&app, 0, sizeof(app));
	app.audit_fd = -1;
	sd_err_clear(&err);
	app.cfg = cfg;
	log_set_level((enum log_level)cfg->log_level);
	sd_harden_process();
	umask(077); /* everything we and Berkeley DB create is private */
	sd_json_use_wiping_allocator();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file size limit is an error (EFBIG), not a kill */
	if (evthread_use_pthreads() != 0 || crypto_init(&err) != 0) {
		log_error("start-up: %s", err.msg[0] ? err.msg : "libevent threads unavailable");
		return 1;
	}
	/* Signals first: a SIGTERM that arrives while we start must shut us
	 * down cleanly, not kill us mid-way. */
	base = event_base_new();
	sc.base = base;
	sc.app = &app;
	for (int i = 0; i < 3 && base != NULL; i++) {
		sigs[i] = evsignal_new(base, signums[i], on_signal, &sc);
		event_add(sigs[i], NULL);
	}
	if (store_open(cfg->data_dir, &app.store, &err) != 0) {
		log_error("storage: %s", err.msg);
		goto out;
	}
	store_set_min_free(app.store, (unsigned long long)cfg->min_free_mb << 20);
	if ((app.kms = kms_local_open(cfg->data_dir, &err)) == NULL) {
		log_error("keys: %s", err.msg);
		goto out;
	}
	if (evidence_init(&app, &err) != 0) {
		log_error("evidence: %s", err.msg);
		goto out;
	}
	if (rotation_init(&app, &err) != 0) {
		log_error("rotation: %s", err.msg);
		goto out;
	}
	if (audit_open(&app, &err) != 0) {
		log_error("audit: %s", err.msg);
		goto out;
	}
	if (store_run(app.store, register_kek, (void *)kms_active_kek_id(app.kms), &err) != 0) {
		log_error("KEK registry: %s", err.msg);
		goto out;
	}
	if ((app.auth = auth_new(cfg, &err)) == NULL) {
		log_error("auth: %s", err.msg);
		goto out;
	}
	if ((app.metrics = metrics_new()) == NULL || (app.ratelimit = ratelimit_new()) == NULL)
		goto out;
	/* Writes commit on these threads; the more commit at once, the more
	 * share one log flush (core/store.c). */
	if ((app.writers = workers_new(WRITERS, WRITERS_QUEUE_MAX)) == NULL)
		goto out;
	if (leases_start(&app, &err) != 0) {
		log_error("plugins: %s", err.msg);
		goto out;
	}
	if ((http = http_start(&app, &err)) == NULL) {
		log_error("http: %s", err.msg);
		goto out;
	}
	log_info("listening on %s (port %d, %s)", cfg->listen, http_port(http),
		 cfg->tls_cert[0] ? "TLS" : "plain HTTP");
	if (ready != NULL)
		ready(&app, http_port(http), arg);
	event_base_dispatch(base);
	rc = 0;
out:
	app.stopping = 1;
	plugin_set_stopping();
	log_info("stopping: event loops");
	http_halt(http);
	log_info("stopping: workers and background thread");
	leases_stop(&app); /* in-flight provider calls finish; their replies are queued */
	workers_free(app.writers);
	app.writers = NULL; /* so do in-flight writes */
	log_info("stopping: connections and storage");
	http_stop(http);
	leases_free(&app);
	for (int i = 0; i < 3; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (base)
		event_base_free(base);
	auth_free(app.auth);
	kms_free(app.kms);
	evidence_cleanup(&app);
	audit_close(&app);
	rotation_cleanup();
	store_close(app.store);
	metrics_free(app.metrics);
	ratelimit_free(app.ratelimit);
	log_info("stopped");
	crypto_cleanup();
	return rc;
}
