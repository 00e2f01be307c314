/* rotation.c — rotation hooks and strategies. */
#include "rotation.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "path.h"
#include "store.h"
#include "b64.h"
#include "idem.h"
#include "leases.h"
#include "plugin.h"
#include "workers.h"
#include "secrets.h"
#include "util.h"

#define POLICY_LEN_MIN 8
#define POLICY_LEN_MAX 1024

int rotation_policy_parse(const char *policy, size_t *length, char classes[64], struct sd_err *err)
{
	char buf[256], *p, *save = NULL;

	*length = 32;
	snprintf(classes, 64, "lower upper digit symbol");
	if (policy == NULL || policy[0] == '\0')
		return 0;
	if (sd_strlcpy(buf, policy, sizeof(buf)) != 0)
		return sd_err_set(err, SD_EINVAL, "rotation_policy is too long");
	for (p = strtok_r(buf, " ;", &save); p != NULL; p = strtok_r(NULL, " ;", &save)) {
		uint64_t n;
		if (strncmp(p, "length=", 7) == 0) {
			if (sd_parse_u64(p + 7, POLICY_LEN_MAX, &n) != 0 || n < POLICY_LEN_MIN)
				return sd_err_set(err, SD_EINVAL, "rotation_policy length must be %d to %d",
						  POLICY_LEN_MIN, POLICY_LEN_MAX);
			*length = (size_t)n;
		} else if (strncmp(p, "classes=", 8) == 0) {
			char *c, *s2 = NULL;
			classes[0] = '\0';
			for (c = strtok_r(p + 8, ",", &s2); c != NULL; c = strtok_r(NULL, ",", &s2)) {
				if (strcmp(c, "lower") && strcmp(c, "upper") && strcmp(c, "digit") && strcmp(c, "symbol"))
					return sd_err_set(err, SD_EINVAL,
							  "rotation_policy classes are lower, upper, digit, symbol");
				strncat(classes, c, 63 - strlen(classes));
				strncat(classes, " ", 63 - strlen(classes));
			}
			if (classes[0] == '\0')
				return sd_err_set(err, SD_EINVAL, "rotation_policy classes must name at least one class");
		} else {
			return sd_err_set(err, SD_EINVAL,
					  "rotation_policy takes length=N and classes=lower,upper,digit,symbol");
		}
	}
	return 0;
}

/* --- the webhook key ------------------------------------------------------------------ */

static char webhook_key[65]; /* hex; the shared secret of signatures */

int rotation_init(struct app *app, struct sd_err *err)
{
	char file[PATH_MAX + 32];
	unsigned char raw[32];
	struct stat st;
	int fd;

	snprintf(file, sizeof(file), "%s/keys/webhook.key", app->cfg->data_dir);
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return sd_err_set(err, SD_EINTERNAL, "random generator failed");
		sd_hex(raw, sizeof(raw), webhook_key);
		OPENSSL_cleanse(raw, sizeof(raw));
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, webhook_key, 64) != 64 || fsync(fd) != 0) {
			if (fd >= 0)
				close(fd);
			return sd_err_set(err, SD_EDOWN, "cannot create %s", file);
		}
		close(fd);
		return 0;
	}
	if (fd < 0)
		return sd_err_set(err, SD_EDOWN, "cannot open %s: %s", file, strerror(errno));
	if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0 || read(fd, webhook_key, 64) != 64) {
		close(fd);
		return sd_err_set(err, SD_EDOWN, "%s must be 64 hex characters readable by its owner only", file);
	}
	close(fd);
	webhook_key[64] = '\0';
	return 0;
}

void rotation_cleanup(void)
{
	OPENSSL_cleanse(webhook_key, sizeof(webhook_key));
}

/* --- hooks ---------------------------------------------------------------------------- */

struct job {
	struct app *app;
	char tenant[SD_TENANT_MAX + 1];
	char path[SD_PATH_MAX + 1];
	char actor[SD_ACTOR_MAX + 1];
	char request_id[256];
	char reason[513];
	int has_reason;
	int strategy;
	int64_t expect_due_us;
	struct idem idem;
	char hook[600];
	char policy[256];
	uint64_t current;
	/* outcome */
	int rc;
	struct sd_err err;
	json_t *reply;
	rotation_done_fn done;
	void *arg;
};

struct buf {
	char *p;
	size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	char *np;

	if (b->len + add > 64 * 1024)
		return 0; /* answers are small: refuse anything large */
	np = realloc(b->p, b->len + add + 1);
	if (np == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

/* Called by libcurl about once a second even when nothing moves: a call that
 * waits for an endpoint that does not answer is aborted at shutdown instead of
 * holding a worker (and the server's exit) for the whole timeout. */
static int webhook_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			    curl_off_t ulnow)
{
	(void)arg;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return plugin_stopping() ? 1 : 0;
}

/* POST body to url, signed; the answer as a JSON object in *out. */
static int webhook_call(const char *url, json_t *body, json_t **out, struct sd_err *err)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS), sig[80], hdr[128], ts[32];
	unsigned char mac[32];
	unsigned int ml = 32;
	struct curl_slist *h = NULL;
	struct buf b = { NULL, 0 };
	long status = 0;
	CURL *c = curl_easy_init();
	CURLcode cc;
	int rc = 0;

	*out = NULL;
	if (text == NULL || c == NULL) {
		rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto out;
	}
	snprintf(ts, sizeof(ts), "%lld", (long long)(sd_now_us() / 1000000));
	/* signature over "timestamp.body", like Stripe's, so that a captured
	 * request cannot be replayed with another timestamp */
	{
		EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
		EVP_MAC_CTX *mc = m ? EVP_MAC_CTX_new(m) : NULL;
		OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0), OSSL_PARAM_END };
		size_t outl = 0;
		if (mc == NULL || EVP_MAC_init(mc, (const unsigned char *)webhook_key, 64, p) != 1 ||
		    EVP_MAC_update(mc, (const unsigned char *)ts, strlen(ts)) != 1 ||
		    EVP_MAC_update(mc, (const unsigned char *)".", 1) != 1 ||
		    EVP_MAC_update(mc, (const unsigned char *)text, strlen(text)) != 1 ||
		    EVP_MAC_final(mc, mac, &outl, sizeof(mac)) != 1)
			rc = sd_err_set(err, SD_EINTERNAL, "cannot sign the webhook request");
		ml = (unsigned int)outl;
		EVP_MAC_CTX_free(mc);
		EVP_MAC_free(m);
		if (rc != 0)
			goto out;
	}
	memcpy(sig, "sha256=", 7);
	sd_hex(mac, ml < 32 ? ml : 32, sig + 7);
	h = curl_slist_append(h, "Content-Type: application/json");
	snprintf(hdr, sizeof(hdr), "X-Secretsd-Signature: %s", sig);
	h = curl_slist_append(h, hdr);
	snprintf(hdr, sizeof(hdr), "X-Secretsd-Timestamp: %s", ts);
	h = curl_slist_append(h, hdr);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, webhook_progress);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = sd_err_set(err, SD_EDOWN, "webhook call aborted: server stopping");
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = sd_err_set(err, SD_EDOWN, "webhook unreachable: %s", curl_easy_strerror(cc));
		goto out;
	}
	if (status < 200 || status > 299) {
		rc = sd_err_set(err, status >= 500 ? SD_EDOWN : SD_EINVAL, "webhook answered HTTP %ld", status);
		goto out;
	}
	*out = b.p ? json_loads(b.p, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc = sd_err_set(err, SD_EINVAL, "webhook answer is not a JSON object");
	}
out:
	if (b.p != NULL)
		sd_wipe_free(b.p, b.len + 1);
	curl_slist_free_all(h);
	if (c != NULL)
		curl_easy_cleanup(c);
	if (text != NULL)
		sd_json_free(text);
	return rc;
}

/* Obtain the new value from the hook (applying it where the hook does). */
static int hook_value(struct job *j, unsigned char **value, size_t *len, struct sd_err *err)
{
	*value = NULL;
	*len = 0;
	/* A job still queued at shutdown must not start a provider call or a
	 * webhook now: the workers drain their whole queue before the process
	 * exits. Nothing has changed yet, so this is a plain failure. */
	if (plugin_stopping())
		return sd_err_set(err, SD_EDOWN, "server stopping");
	if (strcmp(j->hook, "generate") == 0) {
		char classes[64];
		size_t n;
		int rc = rotation_policy_parse(j->policy[0] ? j->policy : NULL, &n, classes, err);
		if (rc != 0)
			return rc;
		*value = malloc(n + 1);
		if (*value == NULL || plugin_host()->password((char *)*value, n + 1, n, classes) != SD_POK)
			return sd_err_set(err, SD_EINTERNAL, "cannot generate a value");
		*len = n;
		return 0;
	}
	if (strncmp(j->hook, "plugin:", 7) == 0) {
		char name[SD_NAME_MAX + 1], *new_value = NULL;
		const char *slash = strchr(j->hook + 7, '/'), *account;
		struct registry *reg;
		struct plugin *p;
		struct plugin_call call;
		struct sd_kv kv[3];
		int prc;

		if (slash == NULL || slash == j->hook + 7 || (size_t)(slash - (j->hook + 7)) > SD_NAME_MAX ||
		    slash[1] == '\0')
			return sd_err_set(err, SD_EINVAL, "rotation_hook plugin:<name>/<account> is malformed");
		memcpy(name, j->hook + 7, (size_t)(slash - (j->hook + 7)));
		name[slash - (j->hook + 7)] = '\0';
		account = slash + 1;
		reg = leases_registry(j->app);
		p = registry_plugin(reg, name);
		if (p == NULL || p->desc->rotate == NULL) {
			registry_release(reg);
			return sd_err_set(err, SD_EINVAL, "plugin %s is not loaded or cannot rotate static accounts",
					  name);
		}
		kv[0].key = "role";
		kv[0].value = "";
		kv[1].key = "account";
		kv[1].value = account;
		kv[2].key = NULL;
		kv[2].value = NULL;
		plugin_call_init(&call, j->app->cfg->lease_call_timeout_ms);
		prc = p->desc->rotate(p->state, &call.call, kv, account, &new_value);
		if (prc == SD_POK && new_value != NULL) {
			*len = strlen(new_value);
			*value = (unsigned char *)strdup(new_value);
			p->desc->free_str(new_value);
			registry_release(reg);
			return *value ? 0 : sd_err_set(err, SD_EINTERNAL, "out of memory");
		}
		if (new_value != NULL)
			p->desc->free_str(new_value);
		registry_release(reg);
		prc = plugin_result(prc == SD_POK ? SD_PINTERNAL : prc);
		return sd_err_set(err, prc == SD_ENOTFOUND ? SD_EINVAL : prc, "plugin %s: %s", name,
				  call.err[0] ? call.err : "rotate failed");
	}
	if (strncmp(j->hook, "webhook:", 8) == 0) {
		json_t *body = json_pack("{s:s, s:s, s:s, s:I}", "step", "create", "tenant", j->tenant, "path",
					 j->path, "current_version", (json_int_t)j->current), *ans = NULL;
		const char *b64;
		size_t bl;
		int rc = webhook_call(j->hook + 8, body, &ans, err);
		json_decref(body);
		if (rc != 0)
			return rc;
		b64 = json_string_value(json_object_get(ans, "value_b64"));
		bl = b64 ? strlen(b64) : 0;
		if (b64 == NULL || bl > B64_ENC_LEN(SD_VALUE_MAX) || (*value = malloc(B64_DEC_MAX(bl) + 1)) == NULL ||
		    b64_decode(b64, bl, *value, len) != 0) {
			json_decref(ans);
			free(*value);
			*value = NULL;
			return sd_err_set(err, SD_EINVAL, "webhook answer has no valid value_b64");
		}
		json_decref(ans);
		return 0;
	}
	return sd_err_set(err, SD_EINVAL, "unknown rotation_hook '%.100s' (generate, plugin:<name>/<account>, "
					  "webhook:<url>)", j->hook);
}

/* The staged test step: only webhooks have one. */
static int hook_test(struct job *j, uint64_t version, struct sd_err *err)
{
	json_t *body, *ans = NULL;
	int rc;

	if (strncmp(j->hook, "webhook:", 8) != 0)
		return 0;
	if (plugin_stopping()) /* the caller marks the pending version failed */
		return sd_err_set(err, SD_EDOWN, "server stopping");
	body = json_pack("{s:s, s:s, s:s, s:I}", "step", "test", "tenant", j->tenant, "path", j->path,
			 "pending_version", (json_int_t)version);
	rc = webhook_call(j->hook + 8, body, &ans, err);
	json_decref(body);
	if (rc == 0 && !json_is_true(json_object_get(ans, "ok")))
		rc = sd_err_set(err, SD_EINVAL, "webhook did not confirm the new value");
	json_decref(ans);
	return rc;
}

/* One rotation per secret at a time: a hook that changes a password at a
 * provider must not run twice concurrently for the same secret. */
#define INFLIGHT_MAX 64
static pthread_mutex_t inflight_mu = PTHREAD_MUTEX_INITIALIZER;
static char inflight[INFLIGHT_MAX][SD_TENANT_MAX + SD_PATH_MAX + 2];

static int inflight_add(const char *tenant, const char *path)
{
	char key[sizeof(inflight[0])];
	int slot = -1;

	snprintf(key, sizeof(key), "%s/%s", tenant, path);
	pthread_mutex_lock(&inflight_mu);
	for (int i = 0; i < INFLIGHT_MAX; i++) {
		if (inflight[i][0] == '\0') {
			if (slot < 0)
				slot = i;
		} else if (strcmp(inflight[i], key) == 0) {
			slot = -2;
			break;
		}
	}
	if (slot >= 0)
		sd_strlcpy(inflight[slot], key, sizeof(inflight[0]));
	pthread_mutex_unlock(&inflight_mu);
	return slot >= 0 ? 0 : slot == -2 ? -1 : -2;
}

static void inflight_del(const char *tenant, const char *path)
{
	char key[sizeof(inflight[0])];

	snprintf(key, sizeof(key), "%s/%s", tenant, path);
	pthread_mutex_lock(&inflight_mu);
	for (int i = 0; i < INFLIGHT_MAX; i++)
		if (strcmp(inflight[i], key) == 0)
			inflight[i][0] = '\0';
	pthread_mutex_unlock(&inflight_mu);
}

static json_t *rotate_reply(void *arg, uint64_t version, int64_t created_us)
{
	struct job *j = arg;

	(void)created_us;
	return json_pack("{s:s, s:I, s:I, s:s}", "path", j->path, "new_version", (json_int_t)version,
			 "previous_version", (json_int_t)j->current, "strategy",
			 j->strategy == ROTATE_STAGED ? "staged" : "immediate");
}

static void rotate_work(void *arg)
{
	struct job *j = arg;
	struct secret_write w;
	unsigned char *value = NULL;
	size_t len = 0;
	uint64_t version = 0;
	int64_t created;
	char step[16] = "create";

	sd_err_clear(&j->err);
	j->rc = hook_value(j, &value, &len, &j->err);
	if (j->rc != 0) {
		char why[SD_ERR_MSG_MAX];
		sd_strlcpy(why, j->err.msg, sizeof(why));
		sd_err_set(&j->err, j->rc, "rotation failed at step create (nothing changed): %s", why);
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.tenant = j->tenant;
	w.path = j->path;
	w.actor = j->actor;
	w.value = value;
	w.value_len = len;
	w.has_cas = 1; /* a write since we looked is a conflict, not a lost update */
	w.cas = j->current;
	w.request_id = j->request_id;
	w.reason = j->has_reason ? j->reason : NULL;
	w.expect_due_us = j->expect_due_us;
	w.pending = j->strategy == ROTATE_STAGED;
	w.action = w.pending ? "secret.rotate.staged" : "secret.rotate";
	j->rc = secrets_write(j->app, &w, &version, &created, &j->err);
	if (j->rc != 0)
		goto out;
	if (j->strategy == ROTATE_STAGED) {
		sd_crash_point("rotate_after_pending");
		snprintf(step, sizeof(step), "test");
		j->rc = hook_test(j, version, &j->err);
		if (j->rc == 0) {
			snprintf(step, sizeof(step), "promote");
			j->rc = secrets_finish_staged(j->app, j->tenant, j->path, version, 1, j->current, j->actor,
						      j->request_id, w.reason, NULL, &j->err);
		}
		if (j->rc != 0) {
			struct sd_err e2;
			char why[SD_ERR_MSG_MAX];
			sd_strlcpy(why, j->err.msg, sizeof(why));
			if (j->rc != SD_ECONFLICT) /* a superseded version is already marked failed */
				secrets_finish_staged(j->app, j->tenant, j->path, version, 0, 0, j->actor,
						      j->request_id, w.reason, why, &e2);
			sd_err_set(&j->err, j->rc, "staged rotation failed at step %s (version %llu marked failed; "
						   "version %llu stays current): %s",
				   step, (unsigned long long)version, (unsigned long long)j->current, why);
			goto out;
		}
	}
	j->reply = rotate_reply(j, version, created);
out:
	if (value != NULL)
		sd_wipe_free(value, len + 1);
	if (j->idem.active) {
		if (j->rc == 0) {
			char *text = json_dumps(j->reply, JSON_COMPACT);
			struct sd_err e2;
			if (text != NULL)
				idem_end(j->app, j->tenant, &j->idem, 200, text, &e2);
			sd_json_free(text);
		} else {
			idem_abort(j->app, j->tenant, &j->idem);
		}
	}
}

static void rotate_done(void *arg)
{
	struct job *j = arg;

	inflight_del(j->tenant, j->path);
	j->done(j->arg, j->rc, &j->err, j->reply);
	json_decref(j->reply);
	idem_free(&j->idem);
	free(j);
}

int rotation_start(struct app *app, struct event_base *base, const struct rotate_request *q,
		   rotation_done_fn done, void *arg, struct sd_err *err)
{
	struct secret_value cur;
	struct job *j;
	json_t *meta = NULL;
	const char *hook, *policy;
	int rc;

	/* The current version (and its metadata) must exist: rotating creates the next. */
	if ((rc = secrets_read(app, q->tenant, q->path, 0, &cur, err)) != 0)
		return rc;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		secret_value_free(&cur);
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	}
	j->app = app;
	j->current = cur.version;
	if (cur.metadata != NULL)
		meta = json_loads(cur.metadata, 0, NULL);
	secret_value_free(&cur);
	hook = meta ? json_string_value(json_object_get(meta, "rotation_hook")) : NULL;
	policy = meta ? json_string_value(json_object_get(meta, "rotation_policy")) : NULL;
	sd_strlcpy(j->hook, hook ? hook : "generate", sizeof(j->hook));
	sd_strlcpy(j->policy, policy ? policy : "", sizeof(j->policy));
	json_decref(meta);
	sd_strlcpy(j->tenant, q->tenant, sizeof(j->tenant));
	sd_strlcpy(j->path, q->path, sizeof(j->path));
	sd_strlcpy(j->actor, q->actor, sizeof(j->actor));
	sd_strlcpy(j->request_id, q->request_id ? q->request_id : "", sizeof(j->request_id));
	if (q->reason != NULL) {
		sd_strlcpy(j->reason, q->reason, sizeof(j->reason));
		j->has_reason = 1;
	}
	j->strategy = q->strategy;
	j->expect_due_us = q->expect_due_us;
	j->done = done;
	j->arg = arg;
	if (q->idem != NULL) {
		j->idem = *q->idem;
		j->idem.body = NULL;
		rc = idem_begin(app, q->tenant, &j->idem, err);
		if (rc == IDEM_REPLAY) {
			q->idem->status = j->idem.status;
			q->idem->body = j->idem.body;
			q->idem->body_len = j->idem.body_len;
			free(j);
			return IDEM_REPLAY;
		}
		if (rc != 0) {
			free(j);
			return rc;
		}
	}
	if ((rc = inflight_add(j->tenant, j->path)) != 0) {
		idem_abort(app, q->tenant, &j->idem);
		free(j);
		if (rc == -2)
			return sd_err_set(err, SD_EDOWN, "too many rotations running; try again");
		return sd_err_set(err, SD_ECONFLICT, "a rotation of this secret is already running");
	}
	if (workers_submit(leases_workers(app), rotate_work, rotate_done, base, j) != 0) {
		inflight_del(j->tenant, j->path);
		idem_abort(app, q->tenant, &j->idem);
		free(j);
		return sd_err_set(err, SD_EDOWN, "workers are busy; try again");
	}
	return 0;
}
/* --- schedules -------------------------------------------------------------------------- */

#define DUE_BATCH 16
#define RETRY_S 60

static atomic_ullong scheduled_ok, scheduled_failed;

struct due_item {
	char tenant[SD_TENANT_MAX + 1];
	char path[SD_PATH_MAX + 1];
	int64_t due;
};

struct due_ctx {
	struct due_item items[DUE_BATCH];
	int n;
	int64_t now;
};

static int due_visit(const char *tenant, const char *path, const struct store_head *h, void *arg)
{
	struct due_ctx *c = arg;

	if (c->n >= DUE_BATCH)
		return 1;
	sd_strlcpy(c->items[c->n].tenant, tenant, sizeof(c->items[0].tenant));
	sd_strlcpy(c->items[c->n].path, path, sizeof(c->items[0].path));
	c->items[c->n].due = h->next_rotation_us;
	c->n++;
	return 0;
}

static int due_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct due_ctx *c = arg;

	c->n = 0;
	return store_heads_rotation_due(t, c->now, due_visit, c, err);
}

struct sched_ctx {
	struct app *app;
	char tenant[SD_TENANT_MAX + 1];
	char path[SD_PATH_MAX + 1];
	int64_t due;
};

static void sched_done(void *arg, int rc, const struct sd_err *err, json_t *reply)
{
	struct sched_ctx *sc = arg;

	(void)reply;
	if (rc == 0) {
		atomic_fetch_add(&scheduled_ok, 1);
		log_info("rotated %s/%s on schedule", sc->tenant, sc->path);
	} else if (plugin_stopping()) {
		/* not a failure of the hook: still due, so the next start does it */
		log_info("scheduled rotation of %s/%s left for the next start: %s", sc->tenant, sc->path,
			 err ? err->msg : "server stopping");
	} else if (rc != SD_ECONFLICT) {
		/* retried a minute later, with a new value each time */
		struct sd_err e2;
		atomic_fetch_add(&scheduled_failed, 1);
		log_warn("scheduled rotation of %s/%s failed (retrying in %d s): %s", sc->tenant, sc->path, RETRY_S,
			 err ? err->msg : "?");
		secrets_reschedule(sc->app, sc->tenant, sc->path, sc->due, sd_now_us() + RETRY_S * 1000000LL, &e2);
	}
	free(sc);
}

void rotation_run_due(struct app *app)
{
	struct due_ctx *c = calloc(1, sizeof(*c));
	struct sd_err err;

	if (c == NULL)
		return;
	c->now = sd_now_us();
	if (store_run(app->store, due_txn, c, &err) != 0) {
		log_warn("rotation schedule: %s", err.msg);
		free(c);
		return;
	}
	for (int i = 0; i < c->n; i++) {
		struct sched_ctx *sc = calloc(1, sizeof(*sc));
		struct rotate_request q;
		int rc;

		if (sc == NULL)
			break;
		sc->app = app;
		sd_strlcpy(sc->tenant, c->items[i].tenant, sizeof(sc->tenant));
		sd_strlcpy(sc->path, c->items[i].path, sizeof(sc->path));
		sc->due = c->items[i].due;
		memset(&q, 0, sizeof(q));
		q.tenant = sc->tenant;
		q.path = sc->path;
		q.actor = "system:scheduler";
		q.reason = "scheduled";
		q.strategy = ROTATE_IMMEDIATE;
		q.expect_due_us = sc->due;
		sd_err_clear(&err);
		/* the hook runs on a worker; a due secret whose rotation is still
		 * running is found again but fails its expect_due check */
		rc = rotation_start(app, NULL, &q, sched_done, sc, &err);
		if (rc != 0)
			sched_done(sc, rc, &err, NULL);
	}
	free(c);
}

void rotation_metrics_render(struct evbuffer *out)
{
	evbuffer_add_printf(out,
			    "# TYPE secretsd_rotations_scheduled_total counter\nsecretsd_rotations_scheduled_total %llu\n"
			    "# TYPE secretsd_rotations_scheduled_failed_total counter\n"
			    "secretsd_rotations_scheduled_failed_total %llu\n",
			    atomic_load(&scheduled_ok), atomic_load(&scheduled_failed));
}
