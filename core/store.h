/* store.h — typed access to the Berkeley DB environment.
 *
 * One transactional environment in DATA_DIR/db: recovery on open, automatic
 * deadlock detection (callers retry through store_run), group commit (durable
 * before store_run returns), a space check before the first write,
 * a checkpoint thread with log removal. No Berkeley DB type leaves store.c:
 * the rest of the core passes an opaque struct store_txn.
 *
 * Keys start with the tenant, so no function can reach another tenant's
 * records. Layout in docs/data-model.md. */
#ifndef SD_STORE_H
#define SD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct store;
struct store_txn;
struct evbuffer;

/* Version states. A destroyed version has no record at all. */
enum { VERSION_ACTIVE = 0, VERSION_DELETED = 1, VERSION_PENDING = 2, VERSION_FAILED = 3 };

#define SD_OWNER_MAX 512
#define SD_ACTOR_MAX 256

/* A secret's head: one per (tenant, path). */
struct store_head {
	uint64_t current;           /* the version reads get by default; 0 = none yet */
	uint64_t latest;            /* highest version number used (>= current: staged ones) */
	uint64_t oldest;            /* oldest version not destroyed */
	int64_t created_us;
	int64_t updated_us;
	char owner[SD_OWNER_MAX + 1]; /* metadata "owner", indexed (by_owner) */
	char *metadata;             /* JSON object text, malloc'd; NULL = {} */
	int64_t next_rotation_us;   /* scheduled rotation due time; 0 = none (indexed: by_rotation) */
};

/* One version of a secret. */
struct store_version {
	uint64_t version;
	int state;                  /* VERSION_* */
	int64_t created_us;
	int64_t deleted_us;         /* 0 unless deleted */
	char created_by[SD_ACTOR_MAX + 1];
	unsigned char *envelope;    /* crypto.h envelope, malloc'd (NULL when skipped) */
	size_t envelope_len;
};

/* Open (creating when absent) the environment under data_dir/db, running
 * recovery when a previous process died with it open. */
int store_open(const char *data_dir, struct store **out, struct sd_err *err);
void store_close(struct store *s);
/* Open a data dir restored from a hot backup: catastrophic recovery from
 * the copied logs, once, before anything else opens it. */
int store_open_restored(const char *data_dir, struct store **out, struct sd_err *err);
/* Hot backup (Berkeley DB's DB_ENV->backup) of databases and logs into the
 * new directory target, while other processes keep working. */
int store_backup(struct store *s, const char *target, struct sd_err *err);
/* Writes are refused (SD_EDOWN) while the data volume has fewer free bytes. */
void store_set_min_free(struct store *s, unsigned long long bytes);
/* 0 while the environment is usable; SD_EDOWN otherwise. */
int store_health(struct store *s, struct sd_err *err);
/* Append Prometheus text for storage counters. */
void store_metrics_render(struct store *s, struct evbuffer *out);

/* Transactions. Every function below returns SD_EDEADLOCK when the
 * transaction lost a deadlock: abort it and start again (store_run does). */
int store_txn_begin(struct store *s, struct store_txn **t, struct sd_err *err);
int store_txn_commit(struct store_txn *t, struct sd_err *err);
void store_txn_abort(struct store_txn *t);

/* Flush the log when t ends, committed or aborted: t read something that a
 * concurrent transaction may not have flushed yet and is about to
 * acknowledge it (an idempotent replay). */
void store_txn_flush_at_end(struct store_txn *t);

typedef int (*store_fn)(struct store_txn *t, void *arg, struct sd_err *err);
/* Run fn in a transaction, commit when it returns 0, abort otherwise, and
 * retry on deadlock (a bounded number of times). */
int store_run(struct store *s, store_fn fn, void *arg, struct sd_err *err);

/* Heads. get: SD_ENOTFOUND when absent; for_update takes a write lock at
 * once (avoids lock upgrades). The caller frees with store_head_free. */
int store_head_get(struct store_txn *t, const char *tenant, const char *path, int for_update,
		   struct store_head *out, struct sd_err *err);
int store_head_put(struct store_txn *t, const char *tenant, const char *path,
		   const struct store_head *h, struct sd_err *err);
void store_head_free(struct store_head *h);

/* Versions. get with want_envelope = 0 skips the ciphertext. The caller frees
 * with store_version_free. */
int store_version_get(struct store_txn *t, const char *tenant, const char *path, uint64_t version,
		      int want_envelope, struct store_version *out, struct sd_err *err);
int store_version_put(struct store_txn *t, const char *tenant, const char *path,
		      const struct store_version *v, struct sd_err *err);
int store_version_del(struct store_txn *t, const char *tenant, const char *path, uint64_t version,
		      struct sd_err *err);
void store_version_free(struct store_version *v);

/* Visit the versions of a path in ascending order (no envelopes). cb returns
 * non-zero to stop. */
typedef int (*store_version_cb)(const struct store_version *v, void *arg);
int store_versions_each(struct store_txn *t, const char *tenant, const char *path,
			store_version_cb cb, void *arg, struct sd_err *err);

/* Visit heads of tenant whose path starts with prefix and sorts after
 * `after` (NULL or "" = from the start), in path order. cb returns non-zero
 * to stop. */
typedef int (*store_head_cb)(const char *path, const struct store_head *h, void *arg);
int store_heads_each(struct store_txn *t, const char *tenant, const char *prefix,
		     const char *after, store_head_cb cb, void *arg, struct sd_err *err);
/* Heads whose next_rotation_us is due at or before now_us, earliest first,
 * across tenants; cb gets the tenant too. */
typedef int (*store_due_head_cb)(const char *tenant, const char *path, const struct store_head *h,
				 void *arg);
int store_heads_rotation_due(struct store_txn *t, int64_t now_us, store_due_head_cb cb, void *arg,
			     struct sd_err *err);
/* Same through the owner index: heads whose owner is owner, paths after `after`. */
int store_heads_by_owner(struct store_txn *t, const char *tenant, const char *owner,
			 const char *after, store_head_cb cb, void *arg, struct sd_err *err);

/* Leases: leases.c encodes the record (text); the store keeps due_us beside
 * it and indexes it (due_us <= 0: not indexed, e.g. a revoked lease). */
int store_lease_get(struct store_txn *t, const char *tenant, const char *id, int for_update,
		    char **rec, struct sd_err *err);
int store_lease_put(struct store_txn *t, const char *tenant, const char *id, int64_t due_us,
		    const char *rec, struct sd_err *err);
/* cb gets the tenant, lease id and record (all valid during the call only);
 * returns non-zero to stop. */
typedef int (*store_lease_cb)(const char *tenant, const char *id, const char *rec, void *arg);
/* Leases due at or before now_us, earliest first, across tenants. */
int store_leases_due(struct store_txn *t, int64_t now_us, store_lease_cb cb, void *arg,
		     struct sd_err *err);
/* Every lease of a tenant with id after `after` (NULL: from the start). */
int store_leases_each(struct store_txn *t, const char *tenant, const char *after, store_lease_cb cb,
		      void *arg, struct sd_err *err);

/* Idempotency records: the stored result of a request, by (tenant, key). */
enum { IDEM_DONE = 1, IDEM_IN_PROGRESS = 2 };
struct store_idem {
	int64_t created_us;
	int state;                 /* IDEM_* */
	unsigned char hash[32];    /* SHA-256 of method, path, query and body */
	int status;                /* HTTP status to replay */
	unsigned char *body;       /* sealed response body (crypto.h envelope), malloc'd */
	size_t body_len;
};
int store_idem_get(struct store_txn *t, const char *tenant, const char *key, int for_update,
		   struct store_idem *out, struct sd_err *err);
int store_idem_put(struct store_txn *t, const char *tenant, const char *key, const struct store_idem *in,
		   struct sd_err *err);
void store_idem_free(struct store_idem *i);
/* Delete up to max records created before before_us; *deleted says how many. */
int store_idem_expire(struct store_txn *t, int64_t before_us, int max, int *deleted, struct sd_err *err);

/* Evidence chain records by sequence number (evidence.c builds them). */
int store_evidence_put(struct store_txn *t, uint64_t seq, const char *line, struct sd_err *err);
typedef int (*store_evidence_cb)(uint64_t seq, const char *line, void *arg);
/* Records with seq >= from_seq in order; cb returns non-zero to stop. */
int store_evidence_each(struct store_txn *t, uint64_t from_seq, store_evidence_cb cb, void *arg,
			struct sd_err *err);

/* Small named values not tied to a tenant (the KEK registry, schema version). */
int store_meta_get(struct store_txn *t, const char *key, char **value, struct sd_err *err);
int store_meta_get_for_update(struct store_txn *t, const char *key, char **value, struct sd_err *err);
int store_meta_put(struct store_txn *t, const char *key, const char *value, struct sd_err *err);

#endif
