/* secrets.c — versioned secrets: write, read, delete, undelete, metadata, list. */
#include "secrets.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "crypto.h"
#include "evidence.h"
#include "idem.h"
#include "path.h"
#include "scope.h"
#include "store.h"
#include "util.h"

/* --- metadata ---------------------------------------------------------------- */

static const char *version_state_name(int s)
{
	switch (s) {
	case VERSION_ACTIVE: return "active";
	case VERSION_DELETED: return "deleted";
	case VERSION_PENDING: return "pending";
	case VERSION_FAILED: return "failed";
	default: return "unknown";
	}
}

static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int secrets_check_metadata(json_t *m, struct sd_err *err)
{
	const char *key;
	json_t *v;
	int64_t ttl;

	if (!json_is_object(m))
		return sd_err_set(err, SD_EINVAL, "field 'metadata' must be an object of strings");
	if (json_object_size(m) > SD_META_KEYS_MAX)
		return sd_err_set(err, SD_EINVAL, "field 'metadata' has more than %d keys", SD_META_KEYS_MAX);
	json_object_foreach(m, key, v) {
		size_t kl = strlen(key);
		if (kl == 0 || kl > SD_META_KEY_MAX || !printable(key))
			return sd_err_set(err, SD_EINVAL,
					  "metadata keys must be 1 to %d printable bytes", SD_META_KEY_MAX);
		if (!json_is_string(v))
			return sd_err_set(err, SD_EINVAL, "metadata.%.128s must be a string", key);
		if (json_string_length(v) > SD_META_VALUE_MAX || strlen(json_string_value(v)) != json_string_length(v) ||
		    !printable(json_string_value(v)))
			return sd_err_set(err, SD_EINVAL, "metadata.%.128s must be at most %d printable bytes",
					  key, SD_META_VALUE_MAX);
	}
	v = json_object_get(m, "rotation");
	if (v != NULL && (sd_parse_duration(json_string_value(v), &ttl) != 0 || ttl <= 0))
		return sd_err_set(err, SD_EINVAL,
				  "metadata.rotation must be a positive period: seconds, or 30m, 12h, 90d");
	v = json_object_get(m, "ttl");
	if (v != NULL && (sd_parse_duration(json_string_value(v), &ttl) != 0 || ttl <= 0))
		return sd_err_set(err, SD_EINVAL,
				  "metadata.ttl must be a positive duration: seconds, or 30m, 12h, 90d");
	return 0;
}

/* --- write -------------------------------------------------------------------- */

/* When a secret with metadata "rotation" (a period) written at now is next
 * due: now + period + jitter of up to 5% (at most 5 minutes), so that
 * secrets written together do not all rotate in the same second. */
static int64_t next_rotation(const char *metadata, int64_t now)
{
	json_t *m = metadata ? json_loads(metadata, 0, NULL) : NULL;
	const char *r = m ? json_string_value(json_object_get(m, "rotation")) : NULL;
	int64_t period, jitter = 0, due = 0;
	uint32_t rnd;

	if (r != NULL && sd_parse_duration(r, &period) == 0 && period > 0) {
		int64_t span = period * 1000000 / 20;
		if (span > 300 * 1000000LL)
			span = 300 * 1000000LL;
		if (span > 0 && RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) == 1)
			jitter = (int64_t)(rnd % (uint64_t)span);
		due = now + period * 1000000 + jitter;
	}
	json_decref(m);
	return due;
}

struct write_ctx {
	struct app *app;
	const struct secret_write *w;
	const char *metadata;   /* canonical text, or NULL to keep */
	const char *owner;
	uint64_t version;
	uint64_t previous;
	int64_t now;
};

static int write_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct write_ctx *c = arg;
	const struct secret_write *w = c->w;
	struct store_head h;
	struct store_version v;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	int rc, exists;

	if (w->idem != NULL && (rc = idem_check(t, c->app, w->tenant, w->idem, err)) != 0)
		return rc; /* a replay, or a conflicting reuse of the key */
	rc = store_head_get(t, w->tenant, w->path, 1, &h, err);
	if (rc != 0 && rc != SD_ENOTFOUND)
		return rc;
	exists = rc == 0;
	if (!exists) {
		memset(&h, 0, sizeof(h));
		h.created_us = c->now;
	}
	if (w->expect_due_us != 0 && h.next_rotation_us != w->expect_due_us) {
		rc = sd_err_set(err, SD_ECONFLICT, "already rotated for this due time");
		goto out;
	}
	if (w->has_cas && w->cas != h.current) {
		rc = sd_err_set(err, SD_ECONFLICT, "cas %llu does not match the current version %llu",
				(unsigned long long)w->cas, (unsigned long long)h.current);
		goto out;
	}
	if (h.latest >= SD_VERSION_MAX) {
		rc = sd_err_set(err, SD_ECONFLICT, "version numbers are exhausted for this path");
		goto out;
	}
	c->previous = h.current;
	c->version = h.latest + 1;
	rc = envelope_seal(c->app->kms, w->tenant, w->path, c->version, w->value, w->value_len, &blob,
			   &blob_len, err);
	if (rc != 0)
		goto out;
	memset(&v, 0, sizeof(v));
	v.version = c->version;
	v.state = w->pending ? VERSION_PENDING : VERSION_ACTIVE;
	v.created_us = c->now;
	sd_strlcpy(v.created_by, w->actor, sizeof(v.created_by));
	v.envelope = blob;
	v.envelope_len = blob_len;
	if ((rc = store_version_put(t, w->tenant, w->path, &v, err)) != 0)
		goto out;
	h.latest = c->version;
	if (!w->pending)
		h.current = c->version;
	if (h.oldest == 0)
		h.oldest = 1;
	/* Destroy versions beyond max_versions, oldest first; never the current. */
	while (h.latest - h.oldest + 1 > (uint64_t)c->app->cfg->max_versions && h.oldest < h.current) {
		if ((rc = store_version_del(t, w->tenant, w->path, h.oldest, err)) != 0)
			goto out;
		h.oldest++;
	}
	h.updated_us = c->now;
	if (c->metadata != NULL) {
		free(h.metadata);
		h.metadata = strdup(c->metadata);
		if (h.metadata == NULL) {
			rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
			goto out;
		}
		sd_strlcpy(h.owner, c->owner ? c->owner : "", sizeof(h.owner));
	}
	if (!w->pending)
		h.next_rotation_us = next_rotation(h.metadata, c->now);
	rc = store_head_put(t, w->tenant, w->path, &h, err);
	if (rc == 0) {
		struct evidence_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.tenant = w->tenant;
		ev.actor = w->actor;
		ev.action = w->action ? w->action : "secret.write";
		ev.path = w->path;
		ev.version = c->version;
		ev.previous_version = c->previous;
		ev.reason = w->reason;
		ev.detail = w->pending ? "pending" : NULL;
		ev.request_id = w->request_id;
		ev.value = w->value;
		ev.value_len = w->value_len;
		rc = evidence_append(t, c->app, &ev, err);
	}
	if (rc == 0 && w->idem != NULL && w->idem->active) {
		json_t *reply = w->make_reply ? w->make_reply(w->reply_arg, c->version, c->now)
					      : secrets_write_reply(c->version, c->now);
		char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
		rc = text ? idem_record(t, c->app, w->tenant, w->idem, 200, text, 0, err)
			  : sd_err_set(err, SD_EINTERNAL, "out of memory");
		json_decref(reply);
		sd_json_free(text);
	}
out:
	free(blob);
	store_head_free(&h);
	return rc;
}

json_t *secrets_write_reply(uint64_t version, int64_t created_us)
{
	char ts[32];

	sd_rfc3339(created_us, ts);
	return json_pack("{s:I, s:s}", "version", (json_int_t)version, "created_at", ts);
}

int secrets_write(struct app *app, const struct secret_write *w, uint64_t *version,
		  int64_t *created_us, struct sd_err *err)
{
	struct write_ctx c = { app, w, NULL, NULL, 0, 0, sd_now_us() };
	char *meta = NULL;
	int rc;

	if (w->value_len > SD_VALUE_MAX)
		return sd_err_set(err, SD_ETOOBIG, "value is larger than %d bytes", SD_VALUE_MAX);
	if (w->metadata != NULL) {
		json_t *owner = json_object_get(w->metadata, "owner");
		meta = json_dumps(w->metadata, JSON_COMPACT | JSON_SORT_KEYS);
		if (meta == NULL)
			return sd_err_set(err, SD_EINTERNAL, "out of memory");
		c.metadata = meta;
		c.owner = owner ? json_string_value(owner) : "";
	}
	rc = store_run(app->store, write_txn, &c, err);
	if (rc == 0) {
		*version = c.version;
		*created_us = c.now;
	}
	sd_json_free(meta);
	return rc;
}

struct resched_ctx {
	const char *tenant, *path;
	int64_t due, new_due;
};

static int resched_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct resched_ctx *c = arg;
	struct store_head h;
	int rc = store_head_get(t, c->tenant, c->path, 1, &h, err);

	if (rc != 0)
		return rc;
	if (h.next_rotation_us == c->due) {
		h.next_rotation_us = c->new_due;
		rc = store_head_put(t, c->tenant, c->path, &h, err);
	}
	store_head_free(&h);
	return rc;
}

int secrets_reschedule(struct app *app, const char *tenant, const char *path, int64_t due,
		       int64_t new_due, struct sd_err *err)
{
	struct resched_ctx c = { tenant, path, due, new_due };

	return store_run(app->store, resched_txn, &c, err);
}

/* --- read ---------------------------------------------------------------------- */

struct read_ctx {
	const char *tenant, *path;
	uint64_t want;
	struct store_version v;
	char *metadata;
};

static int read_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct read_ctx *c = arg;
	struct store_head h;
	uint64_t ver;
	int rc;

	store_version_free(&c->v);
	free(c->metadata);
	c->metadata = NULL;
	rc = store_head_get(t, c->tenant, c->path, 0, &h, err);
	if (rc == SD_ENOTFOUND)
		return sd_err_set(err, SD_ENOTFOUND, "secret not found");
	if (rc != 0)
		return rc;
	ver = c->want ? c->want : h.current;
	if (ver > h.latest || ver < h.oldest || ver == 0) {
		store_head_free(&h);
		return sd_err_set(err, SD_ENOTFOUND, "version %llu not found", (unsigned long long)ver);
	}
	c->metadata = h.metadata;
	h.metadata = NULL;
	rc = store_version_get(t, c->tenant, c->path, ver, 1, &c->v, err);
	if (rc == SD_ENOTFOUND)
		return sd_err_set(err, SD_ENOTFOUND, "version %llu not found", (unsigned long long)ver);
	if (rc == 0 && c->v.state != VERSION_ACTIVE && !(c->v.state == VERSION_PENDING && c->want != 0))
		return sd_err_set(err, SD_ENOTFOUND, "version %llu is %s", (unsigned long long)ver,
				  version_state_name(c->v.state));
	return rc;
}

int secrets_read(struct app *app, const char *tenant, const char *path, uint64_t version,
		 struct secret_value *out, struct sd_err *err)
{
	struct read_ctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(out, 0, sizeof(*out));
	c.tenant = tenant;
	c.path = path;
	c.want = version;
	rc = store_run(app->store, read_txn, &c, err);
	if (rc == 0)
		rc = envelope_open(app->kms, tenant, path, c.v.version, c.v.envelope, c.v.envelope_len,
				   &out->value, &out->len, err);
	if (rc == 0) {
		out->version = c.v.version;
		out->created_us = c.v.created_us;
		out->metadata = c.metadata;
		c.metadata = NULL;
	}
	store_version_free(&c.v);
	free(c.metadata);
	return rc;
}

void secret_value_free(struct secret_value *v)
{
	if (v->value != NULL)
		sd_wipe_free(v->value, v->len + 1);
	free(v->metadata);
	memset(v, 0, sizeof(*v));
}

/* --- delete / undelete -------------------------------------------------------------- */

struct state_ctx {
	struct app *app;
	const char *tenant, *path;
	uint64_t want;
	int state;
	const struct actor *who;
	struct idem *idem;
};

static int state_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct state_ctx *c = arg;
	struct store_head h;
	struct store_version v;
	uint64_t ver;
	int rc;

	if (c->idem != NULL && (rc = idem_check(t, c->app, c->tenant, c->idem, err)) != 0)
		return rc;
	rc = store_head_get(t, c->tenant, c->path, 1, &h, err);
	if (rc == SD_ENOTFOUND)
		return sd_err_set(err, SD_ENOTFOUND, "secret not found");
	if (rc != 0)
		return rc;
	ver = c->want ? c->want : h.current;
	store_head_free(&h);
	if (ver > h.latest || ver < h.oldest || ver == 0)
		return sd_err_set(err, SD_ENOTFOUND, "version %llu not found", (unsigned long long)ver);
	rc = store_version_get(t, c->tenant, c->path, ver, 1, &v, err);
	if (rc == SD_ENOTFOUND)
		return sd_err_set(err, SD_ENOTFOUND, "version %llu not found", (unsigned long long)ver);
	if (rc != 0)
		return rc;
	if (v.state == VERSION_PENDING || v.state == VERSION_FAILED) {
		store_version_free(&v);
		return sd_err_set(err, SD_ECONFLICT, "version %llu is %s (a staged rotation); it cannot be %s",
				  (unsigned long long)ver, version_state_name(v.state),
				  c->state == VERSION_DELETED ? "deleted" : "undeleted");
	}
	if (v.state != c->state) { /* already in that state: nothing to do */
		struct evidence_event ev;
		v.state = c->state;
		v.deleted_us = c->state == VERSION_DELETED ? sd_now_us() : 0;
		rc = store_version_put(t, c->tenant, c->path, &v, err);
		memset(&ev, 0, sizeof(ev));
		ev.tenant = c->tenant;
		ev.actor = c->who ? c->who->sub : "";
		ev.request_id = c->who ? c->who->request_id : NULL;
		ev.action = c->state == VERSION_DELETED ? "secret.delete" : "secret.undelete";
		ev.path = c->path;
		ev.version = ver;
		if (rc == 0)
			rc = evidence_append(t, c->app, &ev, err);
	}
	store_version_free(&v);
	if (rc == 0 && c->idem != NULL)
		rc = idem_record(t, c->app, c->tenant, c->idem, 204, "", 0, err);
	return rc;
}

int secrets_delete(struct app *app, const char *tenant, const char *path, uint64_t version,
		   const struct actor *who, struct idem *idem, struct sd_err *err)
{
	struct state_ctx c = { app, tenant, path, version, VERSION_DELETED, who, idem };

	return store_run(app->store, state_txn, &c, err);
}

int secrets_undelete(struct app *app, const char *tenant, const char *path, uint64_t version,
		     const struct actor *who, struct idem *idem, struct sd_err *err)
{
	struct state_ctx c = { app, tenant, path, version, VERSION_ACTIVE, who, idem };

	return store_run(app->store, state_txn, &c, err);
}

/* --- metadata document ----------------------------------------------------------------- */

struct meta_ctx {
	const char *tenant, *path;
	json_t *doc;
};

static int add_version(const struct store_version *v, void *arg)
{
	json_t *arr = arg, *o;
	char ts[32];

	sd_rfc3339(v->created_us, ts);
	o = json_pack("{s:I, s:s, s:s, s:s}", "version", (json_int_t)v->version, "created_at", ts,
		      "created_by", v->created_by, "state", version_state_name(v->state));
	if (o != NULL && v->state == VERSION_DELETED) {
		sd_rfc3339(v->deleted_us, ts);
		json_object_set_new(o, "deleted_at", json_string(ts));
	}
	json_array_append_new(arr, o);
	return 0;
}

static int meta_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct meta_ctx *c = arg;
	struct store_head h;
	json_t *versions, *meta = NULL;
	char created[32], updated[32];
	int rc;

	json_decref(c->doc);
	c->doc = NULL;
	rc = store_head_get(t, c->tenant, c->path, 0, &h, err);
	if (rc == SD_ENOTFOUND)
		return sd_err_set(err, SD_ENOTFOUND, "secret not found");
	if (rc != 0)
		return rc;
	if (h.metadata != NULL)
		meta = json_loads(h.metadata, 0, NULL);
	if (meta == NULL)
		meta = json_object();
	versions = json_array();
	rc = store_versions_each(t, c->tenant, c->path, add_version, versions, err);
	sd_rfc3339(h.created_us, created);
	sd_rfc3339(h.updated_us, updated);
	c->doc = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:o, s:o}", "path", c->path, "current_version",
			   (json_int_t)h.current, "latest_version", (json_int_t)h.latest, "oldest_version",
			   (json_int_t)h.oldest, "created_at",
			   created, "updated_at", updated, "metadata", meta, "versions", versions);
	store_head_free(&h);
	if (rc == 0 && c->doc == NULL)
		rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
	return rc;
}

int secrets_metadata(struct app *app, const char *tenant, const char *path, json_t **out,
		     struct sd_err *err)
{
	struct meta_ctx c = { tenant, path, NULL };
	int rc = store_run(app->store, meta_txn, &c, err);

	if (rc == 0) {
		json_object_set_new(c.doc, "max_versions", json_integer(app->cfg->max_versions));
		*out = c.doc;
	} else {
		json_decref(c.doc);
	}
	return rc;
}

/* --- list ----------------------------------------------------------------------------- */

struct list_ctx {
	const struct secret_list *q;
	json_t *paths;
	unsigned scanned, budget;
	char last[SD_PATH_MAX + 1];  /* last path scanned (cursor) */
	int more;
};

static int list_visit(const char *path, const struct store_head *h, void *arg)
{
	struct list_ctx *c = arg;

	(void)h;
	if (json_array_size(c->paths) >= c->q->limit || c->scanned >= c->budget) {
		c->more = 1;
		return 1;
	}
	c->scanned++;
	sd_strlcpy(c->last, path, sizeof(c->last));
	if (c->q->owner != NULL && strncmp(path, c->q->prefix, strlen(c->q->prefix)) != 0)
		return 0; /* the owner index ignores the prefix: filter here */
	if (scopes_allow(c->q->scopes, SCOPE_SECRETS_READ, path))
		json_array_append_new(c->paths, json_string(path));
	return 0;
}

static int list_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct list_ctx *c = arg;

	json_array_clear(c->paths);
	c->scanned = 0;
	c->more = 0;
	c->last[0] = '\0';
	if (c->q->owner != NULL)
		return store_heads_by_owner(t, c->q->tenant, c->q->owner, c->q->after, list_visit, c, err);
	return store_heads_each(t, c->q->tenant, c->q->prefix, c->q->after, list_visit, c, err);
}

int secrets_list(struct app *app, const struct secret_list *q, json_t **out, struct sd_err *err)
{
	struct list_ctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.q = q;
	c.paths = json_array();
	/* Bound the work of one page even when few paths are readable. */
	c.budget = q->limit * 10 + 1000;
	rc = store_run(app->store, list_txn, &c, err);
	if (rc != 0) {
		json_decref(c.paths);
		return rc;
	}
	*out = json_pack("{s:o, s:o}", "paths", c.paths, "next",
			 c.more && c.last[0] ? json_string(c.last) : json_null());
	return *out ? 0 : sd_err_set(err, SD_EINTERNAL, "out of memory");
}

/* --- staged versions ------------------------------------------------------------- */

struct finish_ctx {
	struct app *app;
	const char *tenant, *path, *actor, *request_id, *reason, *detail;
	uint64_t version;
	int promote;
	uint64_t expect_current; /* promote only if nothing else became current meanwhile */
	int superseded;
};

static int finish_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct finish_ctx *c = arg;
	struct store_head h;
	struct store_version v;
	struct evidence_event ev;
	uint64_t previous;
	int rc = store_head_get(t, c->tenant, c->path, 1, &h, err);

	if (rc != 0)
		return rc;
	previous = h.current;
	rc = store_version_get(t, c->tenant, c->path, c->version, 1, &v, err);
	if (rc != 0) {
		store_head_free(&h);
		return rc;
	}
	if (v.state != VERSION_PENDING) {
		rc = sd_err_set(err, SD_ECONFLICT, "version %llu is not pending", (unsigned long long)c->version);
		goto out;
	}
	if (c->promote && h.current != c->expect_current) {
		/* a write made another version current while we staged: it wins */
		c->promote = 0;
		c->superseded = 1;
		c->detail = "superseded by a write during the staged rotation";
	}
	v.state = c->promote ? VERSION_ACTIVE : VERSION_FAILED;
	if ((rc = store_version_put(t, c->tenant, c->path, &v, err)) != 0)
		goto out;
	if (c->promote && c->version > h.current) {
		h.current = c->version;
		h.updated_us = sd_now_us();
		h.next_rotation_us = next_rotation(h.metadata, h.updated_us);
		if ((rc = store_head_put(t, c->tenant, c->path, &h, err)) != 0)
			goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.tenant = c->tenant;
	ev.actor = c->actor;
	ev.action = c->promote ? "secret.rotate.promote" : "secret.rotate.failed";
	ev.outcome = c->promote ? "ok" : "failed";
	ev.path = c->path;
	ev.version = c->version;
	ev.previous_version = previous;
	ev.reason = c->reason;
	ev.request_id = c->request_id;
	ev.detail = c->detail;
	rc = evidence_append(t, c->app, &ev, err);
out:
	store_version_free(&v);
	store_head_free(&h);
	return rc;
}

int secrets_finish_staged(struct app *app, const char *tenant, const char *path, uint64_t version,
			  int promote, uint64_t expect_current, const char *actor, const char *request_id,
			  const char *reason, const char *detail, struct sd_err *err)
{
	struct finish_ctx c = { app, tenant, path, actor, request_id, reason, detail, version, promote,
				expect_current, 0 };
	int rc = store_run(app->store, finish_txn, &c, err);

	if (rc == 0 && c.superseded)
		return sd_err_set(err, SD_ECONFLICT, "another write became current during the staged rotation");
	return rc;
}
