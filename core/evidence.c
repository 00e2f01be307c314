/* evidence.c — the SHA-256 hash chain of changes, its query, export and
 * offline verification. */
#include "evidence.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "crypto.h"
#include "store.h"
#include "util.h"

#define HEAD_KEY "evidence/head"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct evidence {
	unsigned char key[32];
};

static int load_key(const char *data_dir, unsigned char key[32], struct sd_err *err)
{
	char file[4200];
	struct stat st;
	int fd;

	snprintf(file, sizeof(file), "%s/keys/evidence.key", data_dir);
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		unsigned char k[32];
		if (RAND_bytes(k, sizeof(k)) != 1)
			return sd_err_set(err, SD_EINTERNAL, "random generator failed");
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, k, sizeof(k)) != (ssize_t)sizeof(k) || fsync(fd) != 0) {
			OPENSSL_cleanse(k, sizeof(k));
			if (fd >= 0)
				close(fd);
			return sd_err_set(err, SD_EDOWN, "cannot create %s", file);
		}
		close(fd);
		memcpy(key, k, 32);
		OPENSSL_cleanse(k, sizeof(k));
		return 0;
	}
	if (fd < 0)
		return sd_err_set(err, SD_EDOWN, "cannot open %s: %s", file, strerror(errno));
	if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0 || st.st_size != 32 || read(fd, key, 32) != 32) {
		close(fd);
		return sd_err_set(err, SD_EDOWN, "%s must be a 32-byte file readable by its owner only", file);
	}
	close(fd);
	return 0;
}

int evidence_init(struct app *app, struct sd_err *err)
{
	struct evidence *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	if (load_key(app->cfg->data_dir, e->key, err) != 0) {
		free(e);
		return err->code;
	}
	app->evidence = e;
	return 0;
}

void evidence_cleanup(struct app *app)
{
	if (app->evidence != NULL) {
		OPENSSL_cleanse(app->evidence, sizeof(*app->evidence));
		free(app->evidence);
		app->evidence = NULL;
	}
}

/* SHA-256 over the canonical encoding of rec without "hash", as hex. */
static int chain_hash(json_t *rec, char out[65])
{
	json_t *copy = json_copy(rec);
	unsigned char md[32];
	char *text;

	if (copy == NULL)
		return -1;
	json_object_del(copy, "hash");
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	if (text == NULL)
		return -1;
	sd_sha256(text, strlen(text), md);
	sd_hex(md, 32, out);
	sd_json_free(text);
	return 0;
}

static void set_str(json_t *o, const char *k, const char *v)
{
	if (v != NULL && v[0] != '\0')
		json_object_set_new(o, k, json_string(v));
}

/* Test builds: die inside the transaction, before the record is stored. */
static void crash_in_append(void)
{
	sd_crash_point("evidence_append");
}

int evidence_append(struct store_txn *t, struct app *app, const struct evidence_event *e,
		    struct sd_err *err)
{
	char *head = NULL, prev[65] = ZERO_HASH, hash[65], ts[32], *line = NULL;
	unsigned long long seq = 0;
	json_t *rec;
	int rc;

	rc = store_meta_get_for_update(t, HEAD_KEY, &head, err);
	if (rc != 0 && rc != SD_ENOTFOUND)
		return rc;
	if (rc == 0 && (sscanf(head, "%llu %64s", &seq, prev) != 2 || strlen(prev) != 64)) {
		free(head);
		return sd_err_set(err, SD_EINTERNAL, "corrupt evidence head");
	}
	free(head);
	seq++;
	sd_rfc3339(sd_now_us(), ts);
	rec = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)seq, "time", ts, "tenant",
			e->tenant ? e->tenant : "", "actor", e->actor ? e->actor : "", "action", e->action,
			"outcome", e->outcome ? e->outcome : "ok", "prev_hash", prev);
	if (rec == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	set_str(rec, "path", e->path);
	set_str(rec, "role", e->role);
	set_str(rec, "lease_id", e->lease_id);
	set_str(rec, "reason", e->reason);
	set_str(rec, "request_id", e->request_id);
	set_str(rec, "detail", e->detail);
	if (e->version)
		json_object_set_new(rec, "version", json_integer((json_int_t)e->version));
	if (e->previous_version)
		json_object_set_new(rec, "previous_version", json_integer((json_int_t)e->previous_version));
	if (e->value != NULL && app->evidence != NULL) {
		unsigned char mac[32];
		unsigned int ml = 32;
		char mh[65];
		HMAC(EVP_sha256(), app->evidence->key, 32, e->value, e->value_len, mac, &ml);
		sd_hex(mac, 32, mh);
		json_object_set_new(rec, "value_hmac", json_string(mh));
	}
	if (chain_hash(rec, hash) != 0) {
		json_decref(rec);
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	}
	json_object_set_new(rec, "hash", json_string(hash));
	line = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(rec);
	crash_in_append();
	if (line == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	rc = store_evidence_put(t, seq, line, err);
	sd_json_free(line);
	if (rc == 0) {
		char nh[100];
		snprintf(nh, sizeof(nh), "%llu %s", seq, hash);
		rc = store_meta_put(t, HEAD_KEY, nh, err);
	}
	return rc;
}

struct record_ctx {
	struct app *app;
	const struct evidence_event *e;
};

static int record_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct record_ctx *c = arg;

	return evidence_append(t, c->app, c->e, err);
}

int evidence_record(struct app *app, const struct evidence_event *e, struct sd_err *err)
{
	struct record_ctx c = { app, e };

	return store_run(app->store, record_txn, &c, err);
}

/* --- query --------------------------------------------------------------------------- */

#define QUERY_SCAN_MAX 100000

struct query_ctx {
	const char *tenant, *path, *action;
	uint64_t since;
	unsigned limit, scanned;
	json_t *events;
	uint64_t next;
};

static int query_visit(uint64_t seq, const char *line, void *arg)
{
	struct query_ctx *c = arg;
	json_t *rec;
	const char *v;

	if (json_array_size(c->events) >= c->limit || c->scanned >= QUERY_SCAN_MAX) {
		c->next = seq;
		return 1;
	}
	c->scanned++;
	rec = json_loads(line, 0, NULL);
	if (rec == NULL)
		return 0;
	v = json_string_value(json_object_get(rec, "tenant"));
	if (v == NULL || strcmp(v, c->tenant) != 0)
		goto skip;
	v = json_string_value(json_object_get(rec, "path"));
	if (c->path != NULL && (v == NULL || strcmp(v, c->path) != 0))
		goto skip;
	v = json_string_value(json_object_get(rec, "action"));
	if (c->action != NULL && (v == NULL || strcmp(v, c->action) != 0))
		goto skip;
	json_array_append_new(c->events, rec);
	return 0;
skip:
	json_decref(rec);
	return 0;
}

static int query_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	struct query_ctx *c = arg;

	json_array_clear(c->events);
	c->scanned = 0;
	c->next = 0;
	return store_evidence_each(t, c->since, query_visit, c, err);
}

int evidence_query(struct app *app, const char *tenant, const char *path, const char *action,
		   uint64_t since, unsigned limit, json_t **out, struct sd_err *err)
{
	struct query_ctx c = { tenant, path, action, since ? since : 1, limit, 0, json_array(), 0 };

	if (store_run(app->store, query_txn, &c, err) != 0) {
		json_decref(c.events);
		return err->code;
	}
	*out = json_pack("{s:o, s:o}", "events", c.events, "next",
			 c.next ? json_integer((json_int_t)c.next) : json_null());
	return 0;
}

/* --- export and verify ------------------------------------------------------------------ */

static int export_visit(uint64_t seq, const char *line, void *arg)
{
	(void)seq;
	fprintf(arg, "%s\n", line);
	return 0;
}

static int export_txn(struct store_txn *t, void *arg, struct sd_err *err)
{
	return store_evidence_each(t, 1, export_visit, arg, err);
}

int evidence_export_cli(const char *data_dir, FILE *out, FILE *errout)
{
	struct store *s = NULL;
	struct sd_err err;
	int rc;

	sd_err_clear(&err);
	if (crypto_init(&err) != 0 || store_open(data_dir, &s, &err) != 0) {
		fprintf(errout, "secretsd evidence export: %s\n", err.msg);
		return 1;
	}
	rc = store_run(s, export_txn, out, &err);
	store_close(s);
	if (rc != 0) {
		fprintf(errout, "secretsd evidence export: %s\n", err.msg);
		return 1;
	}
	return fflush(out) == 0 ? 0 : 1;
}

int evidence_verify_cli(const char *file, FILE *out, FILE *errout)
{
	FILE *f = fopen(file, "re");
	char *line = NULL, prev[65] = ZERO_HASH, hash[65];
	size_t cap = 0;
	ssize_t n;
	unsigned long long want = 1, lineno = 0;
	int bad = 0;

	if (f == NULL) {
		fprintf(errout, "secretsd evidence verify: cannot open %s: %s\n", file, strerror(errno));
		return 2;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		json_t *rec;
		const char *h, *ph;
		json_int_t seq;

		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		rec = json_loads(line, JSON_REJECT_DUPLICATES, &je);
		if (rec == NULL || !json_is_object(rec)) {
			fprintf(errout, "line %llu: not a JSON object (%s)\n", lineno, rec ? "" : je.text);
			json_decref(rec);
			bad = 1;
			break;
		}
		seq = json_integer_value(json_object_get(rec, "seq"));
		h = json_string_value(json_object_get(rec, "hash"));
		ph = json_string_value(json_object_get(rec, "prev_hash"));
		if (seq != (json_int_t)want)
			fprintf(errout, "line %llu (seq %lld): expected seq %llu: a record was removed, inserted or reordered\n",
				lineno, (long long)seq, want);
		else if (ph == NULL || strcmp(ph, prev) != 0)
			fprintf(errout, "line %llu (seq %lld): prev_hash does not match the previous record's hash\n",
				lineno, (long long)seq);
		else if (h == NULL || chain_hash(rec, hash) != 0 || strcmp(hash, h) != 0)
			fprintf(errout, "line %llu (seq %lld): hash does not match its content: the record was altered\n",
				lineno, (long long)seq);
		else {
			sd_strlcpy(prev, h, sizeof(prev));
			want++;
			json_decref(rec);
			continue;
		}
		json_decref(rec);
		bad = 1;
		break;
	}
	free(line);
	fclose(f);
	if (!bad)
		fprintf(out, "ok: %llu record(s), chain intact, last hash %s\n", want - 1, prev);
	return bad;
}
