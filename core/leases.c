/* leases.c — the lease engine: issue, renew, revoke through plugins on the
 * worker pool; the reaper thread that revokes what expired; plugin health. */
#include "leases.h"

#include <event2/buffer.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>

#include "app.h"
#include "auth.h"
#include "evidence.h"
#include "idem.h"
#include "rotation.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "workers.h"

#define WORKERS 8
#define QUEUE_MAX 1024
#define INFLIGHT_MAX 256
#define REAP_BATCH 64
#define HEALTH_EVERY_US (5 * 1000000LL)
#define HEALTH_TIMEOUT_MS 2000

struct leases {
	struct app *app;
	struct workers *workers;
	pthread_mutex_t reg_mu;
	struct registry *reg;
	struct registry **retired;   /* old registries kept for their plugins */
	size_t nretired;
	pthread_t reaper;
	int reaper_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	char inflight[INFLIGHT_MAX][SD_TENANT_MAX + LEASE_ID_LEN + 2];
	atomic_ullong issued, issue_failed, revoked, expired, revoke_errors, revoke_failed;
};

static int64_t call_timeout_ms(struct app *app)
{
	return app->cfg->lease_call_timeout_ms;
}

/* --- records ------------------------------------------------------------------- */

const char *lease_state_name(int s)
{
	static const char *n[] = { "pending", "active", "expired", "revoked", "revoke_failed" };
	return s >= 0 && s <= LEASE_REVOKE_FAILED ? n[s] : "unknown";
}

static int state_of(const char *name)
{
	for (int s = 0; s <= LEASE_REVOKE_FAILED; s++)
		if (strcmp(name, lease_state_name(s)) == 0)
			return s;
	return -1;
}

int lease_id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++)
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
			return 0;
	return n == LEASE_ID_LEN;
}

static int64_t due_of(const struct lease *l, struct app *app)
{
	if (l->state != LEASE_PENDING && l->state != LEASE_ACTIVE)
		return 0;
	if (l->next_attempt_us > 0)
		return l->next_attempt_us;
	if (l->state == LEASE_PENDING) /* the issuing call may wait in the queue, then run to its deadline */
		return l->created_us + (2 * call_timeout_ms(app) + 30000) * 1000;
	return l->expires_us;
}

static char *lease_encode(const struct lease *l)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:b, s:b, s:s, s:s}",
			      "id", l->id, "role", l->role, "plugin", l->plugin, "holder", l->holder,
			      "state", lease_state_name(l->state), "created_us", (json_int_t)l->created_us,
			      "expires_us", (json_int_t)l->expires_us, "max_expires_us",
			      (json_int_t)l->max_expires_us, "revoked_us", (json_int_t)l->revoked_us,
			      "next_attempt_us", (json_int_t)l->next_attempt_us, "ttl_s", (json_int_t)l->ttl_s,
			      "attempts", l->attempts, "revoke_requested", l->revoke_requested, "revocable",
			      l->revocable, "handle", l->handle, "last_error", l->last_error);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	char *copy = s ? strdup(s) : NULL;

	json_decref(o);
	sd_json_free(s);
	return copy;
}

static int lease_decode(const char *rec, struct lease *l)
{
	json_t *o = json_loads(rec, 0, NULL);
	const char *id = NULL, *role = NULL, *plugin = NULL, *holder = NULL, *state = NULL, *handle = NULL,
		   *last = NULL;
	json_int_t c = 0, e = 0, m = 0, r = 0, n = 0, t = 0;
	int attempts = 0, rr = 0, rv = 1, rc;

	memset(l, 0, sizeof(*l));
	if (o == NULL)
		return -1;
	rc = json_unpack(o, "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:b, s:b, s:s, s:s}",
			 "id", &id, "role", &role, "plugin", &plugin, "holder", &holder, "state", &state,
			 "created_us", &c, "expires_us", &e, "max_expires_us", &m, "revoked_us", &r,
			 "next_attempt_us", &n, "ttl_s", &t, "attempts", &attempts, "revoke_requested", &rr,
			 "revocable", &rv, "handle", &handle, "last_error", &last);
	if (rc == 0) {
		sd_strlcpy(l->id, id, sizeof(l->id));
		sd_strlcpy(l->role, role, sizeof(l->role));
		sd_strlcpy(l->plugin, plugin, sizeof(l->plugin));
		sd_strlcpy(l->holder, holder, sizeof(l->holder));
		sd_strlcpy(l->handle, handle, sizeof(l->handle));
		sd_strlcpy(l->last_error, last, sizeof(l->last_error));
		l->state = state_of(state);
		l->created_us = c;
		l->expires_us = e;
		l->max_expires_us = m;
		l->revoked_us = r;
		l->next_attempt_us = n;
		l->ttl_s = t;
		l->attempts = attempts;
		l->revoke_requested = rr;
		l->revocable = rv;
	}
	json_decref(o);
	return rc == 0 && l->state >= 0 ? 0 : -1;
}

/* What a lease write does with the request's idempotency key. */
enum { IDEM_NONE = 0, IDEM_START, IDEM_FINISH, IDEM_RELEASE };

struct put_ctx {
	struct app *app;
	const char *tenant;
	const struct lease *l;
	struct idem *idem;
	int idem_op;
	const char *reply;  /* IDEM_FINISH: the reply to store */
	const struct evidence_event *ev; /* appended in the same transaction, or NULL */
};

/* Fill ev for lease l. */
static void lease_event(struct evidence_event *ev, const char *tenant, const struct lease *l,
			const char *actor, const char *action, const char *outcome, const char *detail,
			const char *request_id)
{
	memset(ev, 0, sizeof(*ev));
	ev->tenant = tenant;
	ev->actor = actor;
	ev->action = action;
	ev->role = l->role;
	ev->lease_id = l->id;
	ev->outcome = outcome;
	ev->detail = detail && detail[0] ? detail : NULL;
	ev->request_id = request_id && request_id[0] ? request_id : NULL;
}

static int put_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct put_ctx *c = arg;
	char *rec;
	int rc = 0;

	if (c->idem_op == IDEM_START && (rc = idem_check(t, c->app, c->tenant, c->idem, err)) != 0)
		return rc; /* replay or conflict: nothing is written */
	rec = lease_encode(c->l);
	if (rec == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	rc = store_lease_put(t, c->tenant, c->l->id, due_of(c->l, c->app), rec, err);
	free(rec);
	if (rc == 0 && c->idem_op == IDEM_START)
		rc = idem_record(t, c->app, c->tenant, c->idem, 0, c->l->id, 1, err);
	else if (rc == 0 && c->idem_op == IDEM_FINISH)
		rc = idem_record(t, c->app, c->tenant, c->idem, 200, c->reply, 0, err);
	else if (rc == 0 && c->idem_op == IDEM_RELEASE)
		rc = idem_release(t, c->app, c->tenant, c->idem, err);
	if (rc == 0 && c->ev != NULL)
		rc = evidence_append(t, c->app, c->ev, err);
	return rc;
}

static int lease_put(struct app *app, const char *tenant, const struct lease *l, struct sd_err *err)
{
	struct put_ctx c = { app, tenant, l, NULL, IDEM_NONE, NULL, NULL };

	return store_run(app->store, put_txn, &c, err);
}

static int lease_put_idem(struct app *app, const char *tenant, const struct lease *l, struct idem *idem,
			  int op, const char *reply, const struct evidence_event *ev, struct sd_err *err)
{
	struct put_ctx c = { app, tenant, l, idem, idem != NULL && idem->active ? op : IDEM_NONE, reply, ev };

	return store_run(app->store, put_txn, &c, err);
}

/* The reply to an issued lease: the provider's fields (minus host-only "_"
 * keys), access_key/secret_key as the spec names them, and the lease. */
json_t *lease_issue_reply(const struct lease *l, const struct sd_kv *creds)
{
	json_t *o = json_object();
	const char *user = NULL, *pass = NULL;
	char ts[32];

	for (const struct sd_kv *kv = creds; kv && kv->key; kv++) {
		if (kv->key[0] == '_' || kv->value == NULL)
			continue;
		json_object_set_new(o, kv->key, json_string(kv->value));
		if (strcmp(kv->key, "username") == 0)
			user = kv->value;
		if (strcmp(kv->key, "password") == 0)
			pass = kv->value;
	}
	if (json_object_get(o, "access_key") == NULL && user != NULL)
		json_object_set_new(o, "access_key", json_string(user));
	if (json_object_get(o, "secret_key") == NULL && pass != NULL)
		json_object_set_new(o, "secret_key", json_string(pass));
	sd_rfc3339(l->expires_us, ts);
	json_object_set_new(o, "expires_at", json_string(ts));
	json_object_set_new(o, "lease_id", json_string(l->id));
	json_object_set_new(o, "role", json_string(l->role));
	json_object_set_new(o, "ttl_s", json_integer((json_int_t)l->ttl_s));
	if (!l->revocable)
		json_object_set_new(o, "revocable", json_false());
	return o;
}

struct get_ctx {
	const char *tenant, *id;
	struct lease *l;
};

static int get_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct get_ctx *c = arg;
	char *rec = NULL;
	int rc = store_lease_get(t, c->tenant, c->id, 0, &rec, err);

	if (rc == SD_ENOTFOUND)
		return sd_err_set(err, SD_ENOTFOUND, "lease not found");
	if (rc == 0 && lease_decode(rec, c->l) != 0)
		rc = sd_err_set(err, SD_EINTERNAL, "corrupt lease record");
	free(rec);
	return rc;
}

int leases_get(struct app *app, const char *tenant, const char *id, struct lease *out,
	       struct sd_err *err)
{
	struct get_ctx c = { tenant, id, out };

	if (!lease_id_valid(id))
		return sd_err_set(err, SD_ENOTFOUND, "lease not found");
	return store_run(app->store, get_txn, &c, err);
}

json_t *lease_json(const struct lease *l)
{
	char created[32], expires[32], maxexp[32];
	json_t *o;

	sd_rfc3339(l->created_us, created);
	sd_rfc3339(l->expires_us, expires);
	sd_rfc3339(l->max_expires_us, maxexp);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:i}", "lease_id", l->id, "role", l->role,
		      "state", lease_state_name(l->state), "created_at", created, "expires_at", expires,
		      "max_expires_at", maxexp, "ttl_s", (json_int_t)l->ttl_s, "revocable", l->revocable,
		      "revoke_attempts", l->attempts);
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "holder", json_string(l->holder));
	if (l->revoked_us > 0) {
		sd_rfc3339(l->revoked_us, created);
		json_object_set_new(o, "revoked_at", json_string(created));
	}
	if (l->last_error[0])
		json_object_set_new(o, "last_error", json_string(l->last_error));
	return o;
}

/* --- registry --------------------------------------------------------------------- */

struct registry *leases_registry(struct app *app)
{
	struct leases *L = app->leases;
	struct registry *r;

	pthread_mutex_lock(&L->reg_mu);
	r = L->reg;
	registry_hold(r);
	pthread_mutex_unlock(&L->reg_mu);
	return r;
}

void leases_set_registry(struct app *app, struct registry *r)
{
	struct leases *L = app->leases;
	struct registry **nr;

	pthread_mutex_lock(&L->reg_mu);
	/* Keep the old registry alive: leases it issued are revoked through its
	 * plugins until the process ends (bounded by reloads). */
	nr = realloc(L->retired, (L->nretired + 1) * sizeof(*nr));
	if (nr != NULL) {
		L->retired = nr;
		L->retired[L->nretired++] = L->reg;
	} else {
		registry_release(L->reg);
	}
	L->reg = r;
	pthread_mutex_unlock(&L->reg_mu);
}

/* The plugin and role settings to revoke l with: the current registry's,
 * else a retired one's. Holds and returns the registry it came from. */
static struct registry *resolve(struct leases *L, const struct lease *l, struct plugin **p,
				const struct sd_kv **role_kv)
{
	struct registry *found = NULL;

	pthread_mutex_lock(&L->reg_mu);
	for (ssize_t i = -1; i < (ssize_t)L->nretired && found == NULL; i++) {
		struct registry *r = i < 0 ? L->reg : L->retired[L->nretired - 1 - (size_t)i];
		struct plugin *pl = registry_plugin(r, l->plugin);
		const struct role *ro;
		if (pl == NULL)
			continue;
		ro = registry_role(r, l->role);
		*p = pl;
		*role_kv = ro != NULL && ro->plugin == pl ? ro->settings : NULL;
		found = r;
		registry_hold(r);
	}
	pthread_mutex_unlock(&L->reg_mu);
	return found;
}

/* --- in-flight set: one revocation per lease at a time ------------------------------ */

static int inflight_add(struct leases *L, const char *tenant, const char *id)
{
	char key[sizeof(L->inflight[0])];
	int free_slot = -1;

	snprintf(key, sizeof(key), "%s/%s", tenant, id);
	pthread_mutex_lock(&L->mu);
	for (int i = 0; i < INFLIGHT_MAX; i++) {
		if (L->inflight[i][0] == '\0') {
			if (free_slot < 0)
				free_slot = i;
		} else if (strcmp(L->inflight[i], key) == 0) {
			pthread_mutex_unlock(&L->mu);
			return -1;
		}
	}
	if (free_slot >= 0)
		sd_strlcpy(L->inflight[free_slot], key, sizeof(L->inflight[0]));
	pthread_mutex_unlock(&L->mu);
	return free_slot >= 0 ? 0 : -1;
}

static void inflight_del(struct leases *L, const char *tenant, const char *id)
{
	char key[sizeof(L->inflight[0])];

	snprintf(key, sizeof(key), "%s/%s", tenant, id);
	pthread_mutex_lock(&L->mu);
	for (int i = 0; i < INFLIGHT_MAX; i++)
		if (strcmp(L->inflight[i], key) == 0)
			L->inflight[i][0] = '\0';
	pthread_mutex_unlock(&L->mu);
}

/* --- issue ------------------------------------------------------------------------ */

struct job {
	struct app *app;
	struct registry *reg;
	struct plugin *plugin;
	const struct sd_kv *role_kv;
	char tenant[SD_TENANT_MAX + 1];
	struct lease l;
	struct plugin_call call;
	int prc;
	int64_t expires;
	struct sd_kv *creds;
	char *handle;
	lease_done_fn done;
	void *arg;
	struct idem idem;   /* issue: the request's idempotency key (and request id) */
	char actor[257];    /* who asked (renew, revoke); "" = the system */
	struct sd_kv fallback_kv[2]; /* {"role", name} when the role is gone from plugins.conf */
	/* issue: what issue_record decided, for issue_done to answer */
	int reply_rc;
	struct sd_err reply_err;
	int reply_creds;
};


static void issue_record(struct job *j);

static void issue_work(void *arg)
{
	struct job *j = arg;
	const struct sd_plugin *d = j->plugin->desc;

	plugin_call_init(&j->call, call_timeout_ms(j->app));
	j->expires = j->l.expires_us;
	j->prc = d->issue(j->plugin->state, &j->call.call, j->l.id, j->role_kv, &j->expires, &j->creds,
			  &j->handle);
	if (j->prc == SD_POK && sd_now_us() > j->call.deadline_us) {
		j->prc = SD_PTIMEOUT;
		snprintf(j->call.err, sizeof(j->call.err), "provider answered after the deadline");
	}
	if (j->prc != SD_POK && j->call.err[0] == '\0')
		snprintf(j->call.err, sizeof(j->call.err), "provider failed (%d)", j->prc);
	if (j->prc == SD_PDOWN || j->prc == SD_PTIMEOUT)
		atomic_store(&j->plugin->healthy, 0);
	else if (j->prc == SD_POK)
		atomic_store(&j->plugin->healthy, 1);
	issue_record(j);
}

static void job_free(struct job *j)
{
	const struct sd_plugin *d = j->plugin ? j->plugin->desc : NULL;

	if (j->creds != NULL && d != NULL)
		d->free_kv(j->creds);
	if (j->handle != NULL && d != NULL)
		d->free_str(j->handle);
	registry_release(j->reg);
	idem_free(&j->idem);
	OPENSSL_cleanse(j, sizeof(*j));
	free(j);
}

/* After the provider call, on the worker thread: record the lease as
 * active (or failed) and decide the answer, so that the event loop, which
 * serves reads meanwhile, never waits for these log flushes. */
static void issue_record(struct job *j)
{
	struct leases *L = j->app->leases;
	struct sd_err err;
	int rc;

	sd_err_clear(&err);
	if (j->prc == SD_POK) {
		const char *rv = kv_get(j->creds, "_revocable");
		sd_crash_point("lease_after_issue");
		j->l.state = LEASE_ACTIVE;
		if (j->expires > sd_now_us() && j->expires != j->l.expires_us) {
			j->l.expires_us = j->expires; /* the provider fixed its own expiry */
			if (j->l.max_expires_us < j->expires)
				j->l.max_expires_us = j->expires;
		}
		j->l.revocable = !(rv != NULL && strcmp(rv, "false") == 0);
		if (j->handle != NULL)
			sd_strlcpy(j->l.handle, j->handle, sizeof(j->l.handle));
		struct evidence_event ev;
		lease_event(&ev, j->tenant, &j->l, j->l.holder, "lease.issue", "ok", NULL, j->idem.request_id);
		if (j->idem.active) {
			json_t *reply = lease_issue_reply(&j->l, j->creds);
			char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
			json_decref(reply);
			rc = text ? lease_put_idem(j->app, j->tenant, &j->l, &j->idem, IDEM_FINISH, text, &ev, &err)
				  : sd_err_set(&err, SD_EINTERNAL, "out of memory");
			if (text != NULL) {
				OPENSSL_cleanse(text, strlen(text));
				sd_json_free(text);
			}
		} else {
			rc = lease_put_idem(j->app, j->tenant, &j->l, NULL, IDEM_NONE, NULL, &ev, &err);
		}
		if (rc != 0) {
			/* The record stays pending and due: the reaper revokes it. */
			log_error("lease %s: issued but not recorded (%s); it will be revoked", j->l.id, err.msg);
			j->reply_rc = SD_EDOWN;
			j->reply_err = err;
		} else {
			atomic_fetch_add(&L->issued, 1);
			j->reply_rc = 0;
			j->reply_creds = 1;
		}
	} else {
		atomic_fetch_add(&L->issue_failed, 1);
		/* Nothing should be left, but a timeout may have left something:
		 * revoke (idempotent) through the reaper to be sure. */
		sd_strlcpy(j->l.last_error, j->call.err, sizeof(j->l.last_error));
		j->l.next_attempt_us = sd_now_us();
		j->l.revoke_requested = 1;
		/* the key is released: a retry with it may try again */
		{
			struct evidence_event ev;
			lease_event(&ev, j->tenant, &j->l, j->l.holder, "lease.issue", "failed", j->call.err,
				    j->idem.request_id);
			lease_put_idem(j->app, j->tenant, &j->l, &j->idem, IDEM_RELEASE, NULL, &ev, &err);
		}
		/* The caller's request was fine whatever the provider said: an
		 * unreachable provider is 503 (try again later), one that refused
		 * (its configuration, a policy, permissions) is 500 with its reason. */
		rc = j->prc == SD_PDOWN || j->prc == SD_PTIMEOUT ? SD_EDOWN : SD_EINTERNAL;
		sd_err_set(&err, rc, "provider %s: %s", j->plugin->name, j->call.err);
		log_warn("lease for role %s failed: %s", j->l.role, err.msg);
		j->reply_rc = err.code;
		j->reply_err = err;
	}
}

/* On the request's event loop: answer. */
static void issue_done(void *arg)
{
	struct job *j = arg;

	j->done(j->arg, j->reply_rc, j->reply_rc ? &j->reply_err : NULL, &j->l,
		j->reply_creds ? j->creds : NULL);
	job_free(j);
}

/* A replayed lease reply is given only while its lease is active. */
static int replay_if_active(struct app *app, const char *tenant, struct idem *idem, struct sd_err *err)
{
	json_t *o = json_loadb(idem->body, idem->body_len, 0, NULL);
	const char *id = o ? json_string_value(json_object_get(o, "lease_id")) : NULL;
	struct lease l;
	int rc = IDEM_REPLAY;

	if (id == NULL)
		rc = sd_err_set(err, SD_EINTERNAL, "stored reply has no lease id");
	else if (leases_get(app, tenant, id, &l, err) != 0)
		rc = err->code;
	else if (l.state != LEASE_ACTIVE || l.expires_us <= sd_now_us())
		rc = sd_err_set(err, SD_ECONFLICT, "the lease issued for this X-Request-Id is %s; use a new key",
				l.state == LEASE_ACTIVE ? "expired" : lease_state_name(l.state));
	json_decref(o);
	return rc;
}

int leases_issue(struct app *app, struct event_base *base, const char *tenant, const char *holder,
		 const char *role_name, int64_t ttl_s, struct idem *idem, lease_done_fn done, void *arg,
		 struct sd_err *err)
{
	struct leases *L = app->leases;
	struct registry *reg = leases_registry(app);
	const struct role *role = registry_role(reg, role_name);
	unsigned char rnd[LEASE_ID_LEN / 2];
	struct job *j;
	int64_t now = sd_now_us();
	int rc;

	if (role == NULL) {
		registry_release(reg);
		return sd_err_set(err, SD_ENOTFOUND, "no role named '%.64s'", role_name);
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		registry_release(reg);
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	}
	j->app = app;
	j->reg = reg;
	j->plugin = role->plugin;
	j->role_kv = role->settings;
	j->done = done;
	j->arg = arg;
	sd_strlcpy(j->tenant, tenant, sizeof(j->tenant));
	if (ttl_s <= 0)
		ttl_s = role->default_ttl_s;
	if (ttl_s > role->max_ttl_s)
		ttl_s = role->max_ttl_s;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		job_free(j);
		return sd_err_set(err, SD_EINTERNAL, "random generator failed");
	}
	sd_hex(rnd, sizeof(rnd), j->l.id);
	sd_strlcpy(j->l.role, role->name, sizeof(j->l.role));
	sd_strlcpy(j->l.plugin, role->plugin->name, sizeof(j->l.plugin));
	sd_strlcpy(j->l.holder, holder, sizeof(j->l.holder));
	j->l.state = LEASE_PENDING;
	j->l.created_us = now;
	j->l.ttl_s = ttl_s;
	j->l.expires_us = now + ttl_s * 1000000;
	j->l.max_expires_us = now + role->max_ttl_s * 1000000;
	j->l.revocable = 1;
	if (idem != NULL) {
		j->idem = *idem;
		j->idem.body = NULL;
	}
	/* Pending first: a crash from here on leaves a record to revoke. */
	rc = lease_put_idem(app, tenant, &j->l, &j->idem, IDEM_START, NULL, NULL, err);
	if (rc == IDEM_REPLAY) {
		/* hand the stored reply to the caller's idem */
		idem->status = j->idem.status;
		idem->body = j->idem.body;
		idem->body_len = j->idem.body_len;
		j->idem.body = NULL;
		job_free(j);
		return replay_if_active(app, tenant, idem, err);
	}
	if (rc != 0) {
		job_free(j);
		return err->code;
	}
	if (workers_submit(L->workers, issue_work, issue_done, base, j) != 0) {
		j->l.state = LEASE_REVOKED;
		j->l.revoked_us = now;
		sd_strlcpy(j->l.last_error, "not issued: workers busy", sizeof(j->l.last_error));
		lease_put(app, tenant, &j->l, err);
		job_free(j);
		return sd_err_set(err, SD_EDOWN, "provider workers are busy; try again");
	}
	return 0;
}

/* --- renew ---------------------------------------------------------------------------- */

static void renew_work(void *arg)
{
	struct job *j = arg;

	plugin_call_init(&j->call, call_timeout_ms(j->app));
	j->prc = j->plugin->desc->renew(j->plugin->state, &j->call.call, j->l.id, j->role_kv,
					 j->l.handle[0] ? j->l.handle : NULL, j->expires);
	if (j->prc != SD_POK && j->call.err[0] == '\0')
		snprintf(j->call.err, sizeof(j->call.err), "provider failed (%d)", j->prc);
}

struct renew_ctx {
	struct app *app;
	struct job *j;
};

static int renew_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct renew_ctx *c = arg;
	struct job *j = c->j;
	struct lease cur;
	char *rec = NULL, *out;
	int rc = store_lease_get(t, j->tenant, j->l.id, 1, &rec, err);

	if (rc != 0)
		return rc;
	rc = lease_decode(rec, &cur);
	free(rec);
	if (rc != 0)
		return sd_err_set(err, SD_EINTERNAL, "corrupt lease record");
	if (cur.state != LEASE_ACTIVE || cur.revoke_requested)
		return sd_err_set(err, SD_ECONFLICT, "lease is %s", lease_state_name(cur.state));
	cur.expires_us = j->expires;
	cur.ttl_s = (j->expires - sd_now_us()) / 1000000;
	j->l = cur;
	out = lease_encode(&cur);
	if (out == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	rc = store_lease_put(t, j->tenant, cur.id, due_of(&cur, c->app), out, err);
	free(out);
	if (rc == 0) {
		struct evidence_event ev;
		lease_event(&ev, j->tenant, &cur, j->actor[0] ? j->actor : cur.holder, "lease.renew", "ok", NULL,
			    j->idem.request_id);
		rc = evidence_append(t, c->app, &ev, err);
	}
	return rc;
}

static void renew_done(void *arg)
{
	struct job *j = arg;
	struct renew_ctx c = { j->app, j };
	struct sd_err err;
	int rc;

	sd_err_clear(&err);
	if (j->prc != SD_POK) {
		rc = plugin_result(j->prc);
		sd_err_set(&err, rc == SD_ENOTFOUND ? SD_ECONFLICT : rc, "provider %s: %s", j->plugin->name,
			   j->call.err);
		j->done(j->arg, err.code, &err, &j->l, NULL);
	} else if ((rc = store_run(j->app->store, renew_txn, &c, &err)) != 0) {
		j->done(j->arg, rc, &err, &j->l, NULL);
	} else {
		j->done(j->arg, 0, NULL, &j->l, NULL);
	}
	job_free(j);
}

/* A job for lease l. When its plugin is not loaded: NULL with err, unless
 * allow_missing (the reaper), which gets a job whose revocation fails, so
 * that the attempt is counted and the lease ends in revoke_failed rather
 * than blocking the queue. */
static struct job *job_for_ex(struct app *app, const char *tenant, const struct lease *l,
			      int allow_missing, struct sd_err *err)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		sd_err_set(err, SD_EINTERNAL, "out of memory");
		return NULL;
	}
	j->app = app;
	j->l = *l;
	sd_strlcpy(j->tenant, tenant, sizeof(j->tenant));
	j->reg = resolve(app->leases, l, &j->plugin, &j->role_kv);
	if (j->role_kv == NULL) {
		j->fallback_kv[0].key = "role";
		j->fallback_kv[0].value = j->l.role;
		j->role_kv = j->fallback_kv;
	}
	if (j->reg == NULL && !allow_missing) {
		sd_err_set(err, SD_EDOWN, "plugin %s is not loaded", l->plugin);
		free(j);
		return NULL;
	}
	return j;
}

static struct job *job_for(struct app *app, const char *tenant, const struct lease *l, struct sd_err *err)
{
	return job_for_ex(app, tenant, l, 0, err);
}

int leases_renew(struct app *app, struct event_base *base, const char *tenant, const char *id,
		 int64_t increment_s, const char *actor, const char *request_id, lease_done_fn done,
		 void *arg, struct sd_err *err)
{
	struct lease l;
	struct job *j;
	int64_t now = sd_now_us(), want;

	if (leases_get(app, tenant, id, &l, err) != 0)
		return err->code;
	if (l.state != LEASE_ACTIVE || l.revoke_requested || l.expires_us <= now)
		return sd_err_set(err, SD_ECONFLICT, "lease is %s; only an active lease can be renewed",
				  l.expires_us <= now && l.state == LEASE_ACTIVE ? "expired" : lease_state_name(l.state));
	if (increment_s <= 0) {
		struct registry *reg = leases_registry(app);
		const struct role *role = registry_role(reg, l.role);
		increment_s = role != NULL ? role->default_ttl_s : 3600;
		registry_release(reg);
	}
	want = now + increment_s * 1000000;
	if (want > l.max_expires_us)
		want = l.max_expires_us; /* capped at the role's max lifetime from issue */
	if (want < l.expires_us)
		want = l.expires_us;
	if ((j = job_for(app, tenant, &l, err)) == NULL)
		return err->code;
	sd_strlcpy(j->actor, actor ? actor : "", sizeof(j->actor));
	sd_strlcpy(j->idem.request_id, request_id ? request_id : "", sizeof(j->idem.request_id));
	j->expires = want;
	j->done = done;
	j->arg = arg;
	if (workers_submit(app->leases->workers, renew_work, renew_done, base, j) != 0) {
		job_free(j);
		return sd_err_set(err, SD_EDOWN, "provider workers are busy; try again");
	}
	return 0;
}

/* --- revoke --------------------------------------------------------------------------- */

static void revoke_work(void *arg)
{
	struct job *j = arg;

	plugin_call_init(&j->call, call_timeout_ms(j->app));
	if (!j->l.revocable) {
		j->prc = SD_POK; /* the provider cannot revoke early; expiry does it */
		return;
	}
	if (plugin_stopping()) { /* left to the next start (see revoke_done) */
		j->prc = SD_PDOWN;
		snprintf(j->call.err, sizeof(j->call.err), "server stopping");
		return;
	}
	if (j->plugin == NULL) {
		j->prc = SD_PDOWN;
		snprintf(j->call.err, sizeof(j->call.err), "plugin %s is not loaded", j->l.plugin);
		return;
	}
	j->prc = j->plugin->desc->revoke(j->plugin->state, &j->call.call, j->l.id, j->role_kv,
					  j->l.handle[0] ? j->l.handle : NULL);
	if (j->prc == SD_PNOTFOUND)
		j->prc = SD_POK;
	if (j->prc != SD_POK && j->call.err[0] == '\0')
		snprintf(j->call.err, sizeof(j->call.err), "provider failed (%d)", j->prc);
}

struct finish_ctx {
	struct app *app;
	struct job *j;
	int failed_now;
};

static int64_t backoff_us(struct app *app, int attempts)
{
	int64_t base = app->cfg->lease_retry_base_ms * 1000, d = base;
	unsigned char r;

	for (int i = 1; i < attempts && d < 60 * 1000000LL; i++)
		d *= 2;
	if (d > 60 * 1000000LL)
		d = 60 * 1000000LL;
	if (RAND_bytes(&r, 1) == 1)
		d += d * r / 1024; /* up to +25% jitter */
	return d;
}

static int finish_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct finish_ctx *c = arg;
	struct job *j = c->j;
	struct lease cur;
	char *rec = NULL, *out;
	int64_t now = sd_now_us();
	int rc = store_lease_get(t, j->tenant, j->l.id, 1, &rec, err);

	c->failed_now = 0;
	if (rc != 0)
		return rc;
	rc = lease_decode(rec, &cur);
	free(rec);
	if (rc != 0)
		return sd_err_set(err, SD_EINTERNAL, "corrupt lease record");
	if (j->prc == SD_POK) {
		cur.state = cur.revoke_requested || cur.state == LEASE_PENDING || cur.state == LEASE_REVOKE_FAILED
				    ? LEASE_REVOKED : LEASE_EXPIRED;
		cur.revoked_us = now;
		cur.next_attempt_us = 0;
	} else {
		cur.attempts++;
		sd_strlcpy(cur.last_error, j->call.err, sizeof(cur.last_error));
		if (cur.state == LEASE_REVOKE_FAILED) {
			cur.next_attempt_us = 0; /* an operator's retry failed: it stays given up */
		} else if (cur.attempts >= LEASE_ATTEMPTS_MAX) {
			cur.state = LEASE_REVOKE_FAILED;
			cur.next_attempt_us = 0;
			c->failed_now = 1;
		} else {
			cur.next_attempt_us = now + backoff_us(c->app, cur.attempts);
		}
	}
	j->l = cur;
	out = lease_encode(&cur);
	if (out == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	rc = store_lease_put(t, j->tenant, cur.id, due_of(&cur, c->app), out, err);
	free(out);
	if (rc == 0 && (j->prc == SD_POK || c->failed_now)) {
		struct evidence_event ev;
		const char *action = c->failed_now ? "lease.revoke_failed"
				     : cur.state == LEASE_EXPIRED ? "lease.expire" : "lease.revoke";
		lease_event(&ev, j->tenant, &cur, j->actor[0] ? j->actor : "system:reaper", action,
			    c->failed_now ? "failed" : "ok", c->failed_now ? cur.last_error : NULL,
			    j->idem.request_id);
		rc = evidence_append(t, c->app, &ev, err);
	}
	return rc;
}

/* Record the outcome of a revocation; runs on the loop (API) or a worker (reaper). */
static void revoke_done(void *arg)
{
	struct job *j = arg;
	struct leases *L = j->app->leases;
	struct finish_ctx c = { j->app, j, 0 };
	struct sd_err err;
	int rc;

	sd_err_clear(&err);
	if (j->prc != SD_POK && plugin_stopping()) {
		/* Not called, or cancelled, because we are stopping: that is no
		 * failed attempt (counting it would give up on a lease after a few
		 * restarts). The record stays as it is, due for the reaper of the
		 * next start (a DELETE recorded revoke_requested with a due time). */
		inflight_del(L, j->tenant, j->l.id);
		if (j->done != NULL) {
			sd_err_set(&err, SD_EDOWN, "server stopping; the revocation will be retried after restart");
			j->done(j->arg, err.code, &err, &j->l, NULL);
		}
		job_free(j);
		return;
	}
	rc = store_run(j->app->store, finish_txn, &c, &err);
	inflight_del(L, j->tenant, j->l.id);
	if (rc == 0 && j->prc == SD_POK) {
		atomic_fetch_add(j->l.state == LEASE_EXPIRED ? &L->expired : &L->revoked, 1);
		log_info("lease %s (%s) %s", j->l.id, j->l.role, lease_state_name(j->l.state));
	} else if (rc == 0) {
		atomic_fetch_add(&L->revoke_errors, 1);
		if (c.failed_now) {
			atomic_fetch_add(&L->revoke_failed, 1);
			log_error("lease %s (%s): revocation failed %d times, giving up: %s", j->l.id, j->l.role,
				  j->l.attempts, j->l.last_error);
		} else {
			log_warn("lease %s (%s): revocation attempt %d failed: %s", j->l.id, j->l.role,
				 j->l.attempts, j->l.last_error);
		}
	}
	if (j->done != NULL) {
		if (rc == 0 && j->prc != SD_POK) {
			rc = plugin_result(j->prc);
			sd_err_set(&err, rc == SD_EINVAL ? SD_EDOWN : rc, "provider %s: %s (%s)", j->l.plugin,
				   j->call.err, j->l.state == LEASE_REVOKE_FAILED ? "the lease stays revoke_failed"
										 : "will retry");
		}
		j->done(j->arg, rc == 0 ? 0 : err.code, rc == 0 ? NULL : &err, &j->l, NULL);
	}
	job_free(j);
}

/* Start revoking l: on the loop `base` with done, or (reaper) on a worker. */
static int revoke_start(struct app *app, struct event_base *base, const char *tenant,
			const struct lease *l, const char *actor, const char *request_id,
			lease_done_fn done, void *arg, struct sd_err *err)
{
	struct job *j;

	if (inflight_add(app->leases, tenant, l->id) != 0)
		return sd_err_set(err, SD_ECONFLICT, "a revocation of this lease is already running");
	if ((j = job_for_ex(app, tenant, l, done == NULL, err)) == NULL) {
		inflight_del(app->leases, tenant, l->id);
		return err->code;
	}
	j->done = done;
	j->arg = arg;
	sd_strlcpy(j->actor, actor ? actor : "", sizeof(j->actor));
	sd_strlcpy(j->idem.request_id, request_id ? request_id : "", sizeof(j->idem.request_id));
	if (workers_submit(app->leases->workers, revoke_work, revoke_done, base, j) != 0) {
		inflight_del(app->leases, tenant, l->id);
		job_free(j);
		return sd_err_set(err, SD_EDOWN, "provider workers are busy; try again");
	}
	return 0;
}

struct request_ctx {
	struct app *app;
	const char *tenant, *id;
	struct lease l;
};

static int request_revoke_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct request_ctx *c = arg;
	char *rec = NULL, *out;
	int rc = store_lease_get(t, c->tenant, c->id, 1, &rec, err);

	if (rc == SD_ENOTFOUND)
		return sd_err_set(err, SD_ENOTFOUND, "lease not found");
	if (rc != 0)
		return rc;
	rc = lease_decode(rec, &c->l);
	free(rec);
	if (rc != 0)
		return sd_err_set(err, SD_EINTERNAL, "corrupt lease record");
	if (c->l.state != LEASE_ACTIVE && c->l.state != LEASE_PENDING)
		return 0; /* already over (nothing to do), or revoke_failed (retried once, not indexed) */
	if (c->l.state == LEASE_PENDING && c->l.next_attempt_us == 0)
		return sd_err_set(err, SD_ECONFLICT, "the lease is still being issued; try again in a moment");
	c->l.revoke_requested = 1;
	/* If we die before the provider answers, the reaper takes over. */
	c->l.next_attempt_us = sd_now_us() + (call_timeout_ms(c->app) + 5000) * 1000;
	out = lease_encode(&c->l);
	if (out == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	rc = store_lease_put(t, c->tenant, c->id, due_of(&c->l, c->app), out, err);
	free(out);
	return rc;
}

int leases_revoke(struct app *app, struct event_base *base, const char *tenant, const char *id,
		  const char *actor, const char *request_id, lease_done_fn done, void *arg,
		  struct sd_err *err)
{
	struct request_ctx c;

	memset(&c, 0, sizeof(c));
	c.app = app;
	c.tenant = tenant;
	c.id = id;

	if (!lease_id_valid(id))
		return sd_err_set(err, SD_ENOTFOUND, "lease not found");
	if (store_run(app->store, request_revoke_txn, &c, err) != 0)
		return err->code;
	if (c.l.state != LEASE_ACTIVE && c.l.state != LEASE_PENDING && c.l.state != LEASE_REVOKE_FAILED)
		return LEASE_ALREADY_OVER; /* idempotent: already revoked or expired */
	/* revoke_failed: the reaper gave up; an explicit DELETE calls the
	 * provider once more (it answers 503 and the lease stays given up if
	 * that fails too) */
	return revoke_start(app, base, tenant, &c.l, actor, request_id, done, arg, err);
}

/* --- list ----------------------------------------------------------------------------- */

struct list_ctx {
	const char *role;
	unsigned limit;
	json_t *arr;
	char last[LEASE_ID_LEN + 1];
	int more;
};

static int list_visit(const char *tenant, const char *id, const char *rec, void *arg)
{
	struct list_ctx *c = arg;
	struct lease l;

	(void)tenant;
	if (json_array_size(c->arr) >= c->limit) {
		c->more = 1;
		return 1;
	}
	if (lease_decode(rec, &l) != 0)
		return 0;
	if (c->role != NULL && strcmp(l.role, c->role) != 0)
		return 0;
	sd_strlcpy(c->last, id, sizeof(c->last));
	json_array_append_new(c->arr, lease_json(&l));
	return 0;
}

struct list_txn_ctx {
	const char *tenant, *after;
	struct list_ctx *c;
};

static int list_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct list_txn_ctx *x = arg;

	json_array_clear(x->c->arr);
	x->c->more = 0;
	return store_leases_each(t, x->tenant, x->after, list_visit, x->c, err);
}

int leases_list(struct app *app, const char *tenant, const char *role, const char *after,
		unsigned limit, json_t **out, struct sd_err *err)
{
	struct list_ctx c = { role, limit, json_array(), "", 0 };
	struct list_txn_ctx x = { tenant, after, &c };

	if (store_run(app->store, list_txn, &x, err) != 0) {
		json_decref(c.arr);
		return err->code;
	}
	*out = json_pack("{s:o, s:o}", "leases", c.arr, "next", c.more ? json_string(c.last) : json_null());
	return 0;
}

/* --- reaper and health ----------------------------------------------------------------- */

struct due_item {
	char tenant[SD_TENANT_MAX + 1];
	struct lease l;
};

struct due_ctx {
	struct due_item items[REAP_BATCH];
	int n;
	int64_t now;
	int pending_only;     /* start-up: only pending leases, all of them */
	int64_t adopt_since;  /* ... not already adopted in this pass */
};

static int due_visit(const char *tenant, const char *id, const char *rec, void *arg)
{
	struct due_ctx *c = arg;
	struct lease l;

	(void)id;
	if (c->n >= REAP_BATCH)
		return 1;
	if (lease_decode(rec, &l) != 0)
		return 0;
	if (c->pending_only && (l.state != LEASE_PENDING || l.next_attempt_us >= c->adopt_since))
		return 0;
	sd_strlcpy(c->items[c->n].tenant, tenant, sizeof(c->items[0].tenant));
	c->items[c->n].l = l;
	c->n++;
	return 0;
}

static int due_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct due_ctx *c = arg;

	c->n = 0;
	return store_leases_due(t, c->now, due_visit, c, err);
}

static void reap_once(struct app *app)
{
	struct due_ctx *c = calloc(1, sizeof(*c));
	struct sd_err err;

	if (c == NULL)
		return;
	c->now = sd_now_us();
	if (store_run(app->store, due_txn, c, &err) == 0)
		for (int i = 0; i < c->n; i++)
			revoke_start(app, NULL, c->items[i].tenant, &c->items[i].l, NULL, NULL, NULL, NULL, &err);
	free(c);
}

static void health_once(struct app *app)
{
	struct registry *r = leases_registry(app);

	for (size_t i = 0; i < r->nplugins; i++) {
		struct plugin *p = r->plugins[i];
		struct plugin_call call;
		int prc;

		plugin_call_init(&call, HEALTH_TIMEOUT_MS);
		prc = p->desc->health(p->state, &call.call);
		if (prc != SD_POK && atomic_load(&p->healthy))
			log_warn("plugin %s: backend down: %s", p->name, call.err);
		else if (prc == SD_POK && !atomic_load(&p->healthy))
			log_info("plugin %s: backend is back", p->name);
		sd_strlcpy(p->health_msg, call.err, sizeof(p->health_msg));
		atomic_store(&p->healthy, prc == SD_POK);
	}
	registry_release(r);
}

static void *reaper_main(void *arg)
{
	struct app *app = arg;
	struct leases *L = app->leases;
	int64_t last_health = 0, last_collect = 0;

	pthread_mutex_lock(&L->mu);
	while (!L->stopping) {
		struct timespec ts;

		sd_mono_deadline(&ts, app->cfg->reaper_interval_ms);
		pthread_cond_timedwait(&L->cv, &L->mu, &ts);
		if (L->stopping)
			break;
		pthread_mutex_unlock(&L->mu);
		reap_once(app);
		rotation_run_due(app);
		if (sd_now_us() - last_collect >= 60 * 1000000LL) {
			idem_collect(app);
			last_collect = sd_now_us();
		}
		if (sd_now_us() - last_health >= HEALTH_EVERY_US) {
			health_once(app);
			last_health = sd_now_us();
		}
		pthread_mutex_lock(&L->mu);
	}
	pthread_mutex_unlock(&L->mu);
	return NULL;
}

/* Leases a crash left pending are due now: the process that issued them is gone. */
static int adopt_orphans(struct app *app, struct sd_err *err)
{
	struct due_ctx *c = calloc(1, sizeof(*c));
	int rc = 0, total = 0;

	if (c == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	c->pending_only = 1;
	c->now = INT64_MAX;
	c->adopt_since = sd_now_us();
	for (;;) {
		if ((rc = store_run(app->store, due_txn, c, err)) != 0 || c->n == 0)
			break;
		for (int i = 0; i < c->n; i++) {
			c->items[i].l.next_attempt_us = sd_now_us();
			c->items[i].l.state = LEASE_PENDING;
			if ((rc = lease_put(app, c->items[i].tenant, &c->items[i].l, err)) != 0)
				break;
		}
		total += c->n;
		if (rc != 0 || c->n < REAP_BATCH)
			break;
	}
	if (total > 0)
		log_info("%d lease(s) left pending by a previous process will be revoked", total);
	free(c);
	return rc;
}

int leases_start(struct app *app, struct sd_err *err)
{
	struct leases *L = calloc(1, sizeof(*L));
	struct registry *reg = NULL;

	if (L == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	app->leases = L;
	L->app = app;
	pthread_mutex_init(&L->reg_mu, NULL);
	pthread_mutex_init(&L->mu, NULL);
	if (sd_cond_init_mono(&L->cv) != 0)
		return sd_err_set(err, SD_EINTERNAL, "no monotonic condition variable");
	if (app->cfg->plugins_file[0] != '\0') {
		if (registry_load(app->cfg->plugins_file, &reg, err) != 0)
			return err->code;
		log_info("plugins: %zu plugin(s), %zu role(s) from %s", reg->nplugins, reg->nroles,
			 app->cfg->plugins_file);
	} else {
		reg = registry_empty();
	}
	L->reg = reg;
	L->workers = workers_new(WORKERS, QUEUE_MAX);
	if (L->reg == NULL || L->workers == NULL)
		return sd_err_set(err, SD_EINTERNAL, "cannot start the lease workers");
	if (adopt_orphans(app, err) != 0)
		return err->code;
	health_once(app);
	if (pthread_create(&L->reaper, NULL, reaper_main, app) != 0)
		return sd_err_set(err, SD_EINTERNAL, "cannot start the reaper");
	L->reaper_running = 1;
	return 0;
}

void leases_stop(struct app *app)
{
	struct leases *L = app->leases;

	if (L == NULL)
		return;
	if (L->reaper_running) {
		pthread_mutex_lock(&L->mu);
		L->stopping = 1;
		pthread_cond_signal(&L->cv);
		pthread_mutex_unlock(&L->mu);
		pthread_join(L->reaper, NULL);
	}
	workers_free(L->workers);
	L->workers = NULL;
}

/* After the event loops have run the replies the workers queued (http_stop):
 * those completions still use L and its plugins. */
void leases_free(struct app *app)
{
	struct leases *L = app->leases;

	if (L == NULL)
		return;
	for (size_t i = 0; i < L->nretired; i++)
		registry_release(L->retired[i]);
	free(L->retired);
	registry_release(L->reg);
	pthread_mutex_destroy(&L->reg_mu);
	pthread_mutex_destroy(&L->mu);
	pthread_cond_destroy(&L->cv);
	free(L);
	app->leases = NULL;
}

struct workers *leases_workers(struct app *app)
{
	return app->leases->workers;
}

int leases_ready(struct app *app, struct sd_err *err)
{
	struct registry *r = leases_registry(app);
	int rc = 0;

	for (size_t i = 0; i < r->nplugins && rc == 0; i++)
		if (!atomic_load(&r->plugins[i]->healthy))
			rc = sd_err_set(err, SD_EDOWN, "plugin %s: backend down", r->plugins[i]->name);
	registry_release(r);
	return rc;
}

void leases_metrics_render(struct app *app, struct evbuffer *out)
{
	struct leases *L = app->leases;
	struct registry *r;

	if (L == NULL)
		return;
	evbuffer_add_printf(out,
			    "# TYPE secretsd_leases_issued_total counter\nsecretsd_leases_issued_total %llu\n"
			    "# TYPE secretsd_leases_issue_failed_total counter\nsecretsd_leases_issue_failed_total %llu\n"
			    "# TYPE secretsd_leases_revoked_total counter\nsecretsd_leases_revoked_total %llu\n"
			    "# TYPE secretsd_leases_expired_total counter\nsecretsd_leases_expired_total %llu\n"
			    "# TYPE secretsd_lease_revoke_errors_total counter\nsecretsd_lease_revoke_errors_total %llu\n"
			    "# TYPE secretsd_leases_revoke_failed_total counter\nsecretsd_leases_revoke_failed_total %llu\n"
			    "# TYPE secretsd_workers_busy gauge\nsecretsd_workers_busy %d\n",
			    atomic_load(&L->issued), atomic_load(&L->issue_failed), atomic_load(&L->revoked),
			    atomic_load(&L->expired), atomic_load(&L->revoke_errors),
			    atomic_load(&L->revoke_failed), workers_busy(L->workers));
	r = leases_registry(app);
	evbuffer_add_printf(out, "# TYPE secretsd_plugin_up gauge\n");
	for (size_t i = 0; i < r->nplugins; i++)
		evbuffer_add_printf(out, "secretsd_plugin_up{plugin=\"%s\"} %d\n", r->plugins[i]->name,
				    atomic_load(&r->plugins[i]->healthy));
	registry_release(r);
}
