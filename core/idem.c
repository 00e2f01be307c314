/* idem.c — idempotency keys: check, record, replay, collect. */
#include "idem.h"

#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "crypto.h"
#include "http.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* A random tag of this process: an in-progress record carries it, so a
 * record left by a process that died is recognised as stale at once. */
static int boot_tag(void)
{
	static atomic_int tag;
	int t = atomic_load(&tag);

	if (t == 0) {
		unsigned char b[4];
		if (RAND_bytes(b, 4) != 1)
			return 1;
		t = (int)(((unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3]) & 0x7fffffff);
		if (t == 0)
			t = 1;
		int expected = 0;
		if (!atomic_compare_exchange_strong(&tag, &expected, t))
			t = expected;
	}
	return t;
}

/* The record's body is sealed for (tenant, "idem:" key, 0). */
static void aad_path(const struct idem *i, char out[300])
{
	snprintf(out, 300, "idem:%s", i->key);
}

void idem_init(struct idem *i, struct http_req *r)
{
	const char *q;
	EVP_MD_CTX *ctx;
	unsigned int n = 32;
	char m[8];

	memset(i, 0, sizeof(*i));
	sd_strlcpy(i->request_id, r->reqid, sizeof(i->request_id));
	if (!r->reqid_from_client || (r->method != EVHTTP_REQ_POST && r->method != EVHTTP_REQ_DELETE))
		return;
	i->active = 1;
	sd_strlcpy(i->key, r->reqid, sizeof(i->key));
	q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev));
	snprintf(m, sizeof(m), "%d", r->method);
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, m, strlen(m) + 1);
	EVP_DigestUpdate(ctx, r->path, strlen(r->path) + 1);
	EVP_DigestUpdate(ctx, q ? q : "", q ? strlen(q) + 1 : 1);
	EVP_DigestUpdate(ctx, r->body, r->body_len);
	EVP_DigestFinal_ex(ctx, i->hash, &n);
	EVP_MD_CTX_free(ctx);
}

void idem_free(struct idem *i)
{
	if (i->body != NULL)
		sd_wipe_free(i->body, i->body_len + 1);
	i->body = NULL;
}

int idem_check(struct store_txn *t, struct app *app, const char *tenant, struct idem *i,
	       struct sd_err *err)
{
	struct store_idem rec;
	unsigned char *pt = NULL;
	size_t len = 0;
	char path[300];
	int rc;

	if (!i->active)
		return 0;
	idem_free(i);
	rc = store_idem_get(t, tenant, i->key, 1, &rec, err);
	if (rc == SD_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (rec.created_us + IDEM_TTL_US < sd_now_us()) {
		store_idem_free(&rec); /* expired: the key is free again */
		return 0;
	}
	if (CRYPTO_memcmp(rec.hash, i->hash, 32) != 0) {
		store_idem_free(&rec);
		return sd_err_set(err, SD_ECONFLICT,
				  "X-Request-Id was already used for a different request (idempotency key)");
	}
	if (rec.state == IDEM_IN_PROGRESS) {
		/* marked by a process that has since died (another boot), or too old */
		int stale = rec.status != boot_tag() || rec.created_us + IDEM_IN_PROGRESS_MAX_US < sd_now_us();
		store_idem_free(&rec);
		if (stale) /* its process died: the reaper revokes what it left */
			return 0;
		return sd_err_set(err, SD_ECONFLICT, "a request with this X-Request-Id is still in progress");
	}
	aad_path(i, path);
	rc = envelope_open(app->kms, tenant, path, 0, rec.body, rec.body_len, &pt, &len, err);
	store_idem_free(&rec);
	if (rc != 0)
		return rc;
	i->status = rec.status;
	i->body = (char *)pt;
	i->body_len = len;
	/* The record may belong to a transaction whose log flush is still
	 * running (group commit): a replay acknowledges it too, so it waits
	 * for the flush as the first answer did. */
	store_txn_flush_at_end(t);
	return IDEM_REPLAY;
}

int idem_record(struct store_txn *t, struct app *app, const char *tenant, const struct idem *i,
		int status, const char *body, int in_progress, struct sd_err *err)
{
	struct store_idem rec;
	char path[300];
	int rc;

	if (!i->active)
		return 0;
	memset(&rec, 0, sizeof(rec));
	rec.created_us = sd_now_us();
	rec.state = in_progress ? IDEM_IN_PROGRESS : IDEM_DONE;
	memcpy(rec.hash, i->hash, 32);
	rec.status = in_progress ? boot_tag() : status;
	aad_path(i, path);
	rc = envelope_seal(app->kms, tenant, path, 0, (const unsigned char *)(body ? body : ""),
			   body ? strlen(body) : 0, &rec.body, &rec.body_len, err);
	if (rc == 0)
		rc = store_idem_put(t, tenant, i->key, &rec, err);
	free(rec.body);
	return rc;
}

int idem_release(struct store_txn *t, struct app *app, const char *tenant, const struct idem *i,
		 struct sd_err *err)
{
	struct store_idem rec;

	(void)app;
	if (!i->active)
		return 0;
	memset(&rec, 0, sizeof(rec));
	rec.created_us = 1; /* long expired: idem_check treats the key as free */
	rec.state = IDEM_DONE;
	memcpy(rec.hash, i->hash, 32);
	return store_idem_put(t, tenant, i->key, &rec, err);
}

void idem_reply(struct http_req *r, const struct idem *i)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Idempotent-Replayed", "true");
	if (i->body_len == 0) {
		http_reply_raw(r, i->status, "application/json", "", 0);
		return;
	}
	http_reply_raw(r, i->status, "application/json", i->body, i->body_len);
}

struct collect_ctx {
	int deleted;
};

static int collect_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct collect_ctx *c = arg;

	return store_idem_expire(t, sd_now_us() - IDEM_TTL_US, 1000, &c->deleted, err);
}

int idem_collect(struct app *app)
{
	struct collect_ctx c = { 0 };
	struct sd_err err;

	if (store_run(app->store, collect_txn, &c, &err) != 0) {
		log_warn("idempotency records: collection failed: %s", err.msg);
		return 0;
	}
	if (c.deleted > 0)
		log_debug("idempotency records: %d expired record(s) removed", c.deleted);
	return c.deleted;
}

/* --- idempotency around a multi-step effect (rotation) ------------------------------- */

struct step_ctx {
	struct app *app;
	const char *tenant;
	struct idem *i;
	int op; /* 0 begin, 1 end, 2 abort */
	int status;
	const char *body;
};

static int step_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct step_ctx *c = arg;
	int rc;

	switch (c->op) {
	case 0:
		if ((rc = idem_check(t, c->app, c->tenant, c->i, err)) != 0)
			return rc;
		return idem_record(t, c->app, c->tenant, c->i, 0, "", 1, err);
	case 1:
		return idem_record(t, c->app, c->tenant, c->i, c->status, c->body, 0, err);
	default:
		return idem_release(t, c->app, c->tenant, c->i, err);
	}
}

int idem_begin(struct app *app, const char *tenant, struct idem *i, struct sd_err *err)
{
	struct step_ctx c = { app, tenant, i, 0, 0, NULL };

	return i->active ? store_run(app->store, step_txn, &c, err) : 0;
}

int idem_end(struct app *app, const char *tenant, struct idem *i, int status, const char *body,
	     struct sd_err *err)
{
	struct step_ctx c = { app, tenant, i, 1, status, body };

	return i->active ? store_run(app->store, step_txn, &c, err) : 0;
}

void idem_abort(struct app *app, const char *tenant, struct idem *i)
{
	struct step_ctx c = { app, tenant, i, 2, 0, NULL };
	struct sd_err err;

	if (i->active)
		store_run(app->store, step_txn, &c, &err);
}
