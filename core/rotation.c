/* rotation.c — rotation hooks and strategies. */
#include "rotation.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "path.h"
#include "store.h"
#include "idem.h"
#include "plugin.h"
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

struct reply_ctx {
	const struct rotate_request *q;
	uint64_t previous;
};

static json_t *rotate_reply(void *arg, uint64_t version, int64_t created_us)
{
	struct reply_ctx *c = arg;

	(void)created_us;
	return json_pack("{s:s, s:I, s:I, s:s}", "path", c->q->path, "new_version", (json_int_t)version,
			 "previous_version", (json_int_t)c->previous, "strategy",
			 c->q->strategy == ROTATE_STAGED ? "staged" : "immediate");
}

int rotation_rotate(struct app *app, const struct rotate_request *q, json_t **reply, struct sd_err *err)
{
	struct reply_ctx rctx = { q, 0 };
	struct secret_value cur;
	struct secret_write w;
	json_t *meta = NULL, *hook;
	const char *hook_s = "generate";
	char classes[64], *value = NULL;
	size_t length;
	uint64_t version;
	int64_t created;
	int rc;

	/* The current version (and its metadata) must exist: rotating creates the next. */
	rc = secrets_read(app, q->tenant, q->path, 0, &cur, err);
	if (rc != 0)
		return rc;
	if (cur.metadata != NULL)
		meta = json_loads(cur.metadata, 0, NULL);
	hook = meta ? json_object_get(meta, "rotation_hook") : NULL;
	if (hook != NULL && json_is_string(hook))
		hook_s = json_string_value(hook);
	if (strcmp(hook_s, "generate") != 0) {
		rc = sd_err_set(err, SD_EINVAL, "rotation hook '%.100s' is not available on this server yet; "
						"use generate", hook_s);
		goto out;
	}
	rc = rotation_policy_parse(meta ? json_string_value(json_object_get(meta, "rotation_policy")) : NULL,
				   &length, classes, err);
	if (rc != 0)
		goto out;
	value = malloc(length + 1);
	if (value == NULL || plugin_host()->password(value, length + 1, length, classes) != SD_POK) {
		rc = sd_err_set(err, SD_EINTERNAL, "cannot generate a value");
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.tenant = q->tenant;
	w.path = q->path;
	w.actor = q->actor;
	w.value = (const unsigned char *)value;
	w.value_len = length;
	w.has_cas = 1; /* a concurrent write since we read makes this a conflict, not a lost update */
	w.cas = cur.version;
	w.idem = q->idem;
	w.request_id = q->request_id;
	w.reason = q->reason;
	w.action = q->strategy == ROTATE_STAGED ? "secret.rotate.staged" : "secret.rotate";
	w.expect_due_us = q->expect_due_us;
	rctx.previous = cur.version;
	w.make_reply = rotate_reply;
	w.reply_arg = &rctx;
	rc = secrets_write(app, &w, &version, &created, err);
	if (rc == 0)
		*reply = rotate_reply(&rctx, version, created);
out:
	if (value != NULL)
		sd_wipe_free(value, length + 1);
	json_decref(meta);
	secret_value_free(&cur);
	return rc;
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
		struct rotate_request q;
		json_t *reply = NULL;
		int rc;

		memset(&q, 0, sizeof(q));
		q.tenant = c->items[i].tenant;
		q.path = c->items[i].path;
		q.actor = "system:scheduler";
		q.reason = "scheduled";
		q.strategy = ROTATE_IMMEDIATE;
		q.expect_due_us = c->items[i].due;
		sd_err_clear(&err);
		rc = rotation_rotate(app, &q, &reply, &err);
		json_decref(reply);
		if (rc == 0) {
			atomic_fetch_add(&scheduled_ok, 1);
			log_info("rotated %s/%s on schedule", q.tenant, q.path);
		} else if (rc != SD_ECONFLICT) {
			/* retried a minute later, with a new value each time */
			struct sd_err e2;
			atomic_fetch_add(&scheduled_failed, 1);
			log_warn("scheduled rotation of %s/%s failed (retrying in %d s): %s", q.tenant, q.path,
				 RETRY_S, err.msg);
			secrets_reschedule(app, q.tenant, q.path, q.expect_due_us,
					   sd_now_us() + RETRY_S * 1000000LL, &e2);
		}
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
