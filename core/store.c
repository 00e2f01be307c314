/* store.c — the only file that knows Berkeley DB.
 *
 * Environment DATA_DIR/db (transactions, locking, logging, shared cache),
 * opened with DB_RECOVER|DB_REGISTER so that recovery runs when a process
 * died with it open. Databases (all btrees):
 *   heads     tenant NUL path                 -> head record
 *   versions  tenant NUL path NUL be64(ver)   -> version record
 *   by_owner  tenant NUL owner (dup, sorted)  -> heads key (secondary of heads)
 *   meta      name                            -> text (KEK registry, schema)
 *   leases    tenant NUL lease id             -> be64(due) + lease record text
 *   lease_due be64(due) (dup, sorted)         -> leases key (secondary; due 0 = not indexed)
 *   idem      tenant NUL idempotency key      -> created, state, request hash, status, sealed body
 *   idem_by_time be64(created) (dup, sorted)  -> idem key (secondary, for expiry)
 *   evidence  be64(seq)                       -> evidence record (canonical JSON line)
 * Record layouts are in docs/data-model.md and the enc_/dec_ helpers below. */
#include "store.h"

#include <db.h>
#include <errno.h>
#include <event2/buffer.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define HEAD_FORMAT_1 1   /* without next_rotation_us */
#define HEAD_FORMAT 2
#define VERSION_FORMAT 1
#define KEY_MAX 1200
#define RETRIES_MAX 64
#define CHECKPOINT_EVERY_S 30
/* Room a database file must keep under RLIMIT_FSIZE for one more write: a
 * value (512 KiB at most), its overflow pages and the records around it. */
#define FILE_HEADROOM (1024 * 1024)

struct store {
	DB_ENV *env;
	DB *heads, *versions, *by_owner, *by_rotation, *meta, *leases, *lease_due, *idem, *idem_by_time,
	    *evidence;
	pthread_t ckpt;
	int ckpt_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	atomic_int panicked;
	atomic_ullong deadlocks;
	atomic_ullong write_failures;
	atomic_ullong space_refusals;
	atomic_int space_low;           /* last space check failed (logged once per episode) */
	unsigned long long min_free;    /* bytes; writes are refused below it (store_set_min_free) */
	key_t shm_key;
	char home[PATH_MAX];
};

/* Every database handle of s, secondaries before their primaries: the
 * order they close in. */
#define ALL_DBS(s)                                                                                 \
	{ &(s)->by_owner, &(s)->by_rotation, &(s)->lease_due, &(s)->idem_by_time, &(s)->heads,       \
	  &(s)->versions, &(s)->meta, &(s)->evidence, &(s)->idem, &(s)->leases }

struct store_txn {
	struct store *s;
	DB_TXN *txn;
	int wrote;                      /* a write passed the space check: flush at commit */
	int flush;                      /* flush the log at the end, commit or abort */
};

/* --- errors ----------------------------------------------------------------- */

static _Noreturn void fatal(int rc)
{
	log_error("storage: %s: the environment needs recovery; exiting so that the supervisor restarts us",
		  db_strerror(rc));
	_exit(75);
}

/* Map a Berkeley DB result to ours. */
static int map(struct store *s, int rc, const char *what, struct sd_err *err)
{
	switch (rc) {
	case 0:
		return 0;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return sd_err_set(err, SD_ENOTFOUND, "not found");
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		atomic_fetch_add(&s->deadlocks, 1);
		return sd_err_set(err, SD_EDEADLOCK, "deadlock");
	case DB_RUNRECOVERY:
		fatal(rc);
	default:
		atomic_fetch_add(&s->write_failures, 1);
		log_error("storage: %s: %s", what, db_strerror(rc));
		return sd_err_set(err, SD_EDOWN, "storage unavailable (%s)", db_strerror(rc));
	}
}

static void on_event(DB_ENV *env, u_int32_t event, void *info)
{
	struct store *s = env->app_private;

	(void)info;
	if (event == DB_EVENT_PANIC) {
		atomic_store(&s->panicked, 1);
		fatal(DB_RUNRECOVERY);
	}
}


static void on_message(const DB_ENV *env, const char *msg)
{
	(void)env;
	log_info("berkeley db: %s", msg); /* never stdout: exports print records there */
}

static void on_error(const DB_ENV *env, const char *prefix, const char *msg)
{
	(void)env;
	(void)prefix;
	log_warn("berkeley db: %s", msg);
}

/* --- record encoding ------------------------------------------------------------ */

struct enc {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void enc_raw(struct enc *e, const void *d, size_t n)
{
	if (e->oom || n == 0)
		return;
	if (e->len + n > e->cap) {
		size_t cap = (e->cap ? e->cap * 2 : 256);
		while (cap < e->len + n)
			cap *= 2;
		unsigned char *np = realloc(e->p, cap);
		if (np == NULL) {
			e->oom = 1;
			return;
		}
		e->p = np;
		e->cap = cap;
	}
	memcpy(e->p + e->len, d, n);
	e->len += n;
}

static void enc_u8(struct enc *e, unsigned v)
{
	unsigned char b = (unsigned char)v;
	enc_raw(e, &b, 1);
}

static void enc_u64(struct enc *e, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	enc_raw(e, b, 8);
}

static void enc_bytes(struct enc *e, const void *d, size_t n)
{
	enc_u64(e, n);
	enc_raw(e, d, n);
}

static void enc_str(struct enc *e, const char *s)
{
	enc_bytes(e, s ? s : "", s ? strlen(s) : 0);
}

struct dec {
	const unsigned char *p;
	size_t len, off;
	int bad;
};

static uint64_t dec_u64(struct dec *d)
{
	uint64_t v = 0;
	if (d->bad || d->len - d->off < 8) {
		d->bad = 1;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v = v << 8 | d->p[d->off + (size_t)i];
	d->off += 8;
	return v;
}

static unsigned dec_u8(struct dec *d)
{
	if (d->bad || d->off >= d->len) {
		d->bad = 1;
		return 0;
	}
	return d->p[d->off++];
}

/* Returns a pointer into the record and its length. */
static const unsigned char *dec_bytes(struct dec *d, size_t *n)
{
	uint64_t l = dec_u64(d);
	const unsigned char *r;
	if (d->bad || l > d->len - d->off) {
		d->bad = 1;
		*n = 0;
		return NULL;
	}
	r = d->p + d->off;
	d->off += l;
	*n = (size_t)l;
	return r;
}

static void dec_str(struct dec *d, char *out, size_t cap)
{
	size_t n;
	const unsigned char *b = dec_bytes(d, &n);
	if (d->bad || n >= cap) {
		d->bad = 1;
		out[0] = '\0';
		return;
	}
	memcpy(out, b, n);
	out[n] = '\0';
}

/* --- keys ------------------------------------------------------------------------ */

static size_t head_key(unsigned char *k, const char *tenant, const char *path)
{
	size_t tl = strlen(tenant), pl = strlen(path);
	if (tl + 1 + pl > KEY_MAX)
		return 0;
	memcpy(k, tenant, tl);
	k[tl] = 0;
	memcpy(k + tl + 1, path, pl);
	return tl + 1 + pl;
}

static size_t version_key(unsigned char *k, const char *tenant, const char *path, uint64_t v)
{
	size_t n = head_key(k, tenant, path);
	if (n == 0 || n + 9 > KEY_MAX)
		return 0;
	k[n++] = 0;
	for (int i = 0; i < 8; i++)
		k[n++] = (unsigned char)(v >> (56 - 8 * i));
	return n;
}

static void dbt_in(DBT *d, const void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)p;
	d->size = (u_int32_t)n;
}

static void dbt_out(DBT *d)
{
	memset(d, 0, sizeof(*d));
	d->flags = DB_DBT_MALLOC;
}

/* --- secondary index: owner ---------------------------------------------------- */

static int owner_key(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	struct dec d = { pdata->data, pdata->size, 0, 0 };
	const unsigned char *owner, *nul;
	size_t on, tl;
	unsigned char *k;

	(void)sdb;
	unsigned fmt = dec_u8(&d);
	if (fmt != HEAD_FORMAT && fmt != HEAD_FORMAT_1)
		return DB_DONOTINDEX;
	dec_u64(&d);
	dec_u64(&d);
	dec_u64(&d);
	dec_u64(&d);
	owner = dec_bytes(&d, &on);
	if (d.bad || on == 0)
		return DB_DONOTINDEX;
	nul = memchr(pkey->data, 0, pkey->size);
	if (nul == NULL)
		return DB_DONOTINDEX;
	tl = (size_t)(nul - (const unsigned char *)pkey->data);
	k = malloc(tl + 1 + on);
	if (k == NULL)
		return ENOMEM;
	memcpy(k, pkey->data, tl + 1);
	memcpy(k + tl + 1, owner, on);
	memset(skey, 0, sizeof(*skey));
	skey->data = k;
	skey->size = (u_int32_t)(tl + 1 + on);
	skey->flags = DB_DBT_APPMALLOC;
	return 0;
}

static int idem_created_key(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey);
static int decode_head(const DBT *data, struct store_head *h);

/* Secondary key of by_rotation: be64(next_rotation_us), when set. */
static int rotation_key(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	struct store_head h;
	unsigned char *k;

	(void)sdb;
	(void)pkey;
	if (decode_head(pdata, &h) != 0)
		return DB_DONOTINDEX;
	free(h.metadata);
	if (h.next_rotation_us <= 0)
		return DB_DONOTINDEX;
	k = malloc(8);
	if (k == NULL)
		return ENOMEM;
	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)((uint64_t)h.next_rotation_us >> (56 - 8 * i));
	memset(skey, 0, sizeof(*skey));
	skey->data = k;
	skey->size = 8;
	skey->flags = DB_DBT_APPMALLOC;
	return 0;
}

static int due_key(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	(void)sdb;
	(void)pkey;
	if (pdata->size < 8 || memcmp(pdata->data, "\0\0\0\0\0\0\0\0", 8) == 0)
		return DB_DONOTINDEX;
	memset(skey, 0, sizeof(*skey));
	skey->data = pdata->data; /* the first 8 bytes: be64(due) */
	skey->size = 8;
	return 0;
}

/* --- open / close ------------------------------------------------------------------- */

static void *checkpoint_main(void *arg)
{
	struct store *s = arg;
	struct timespec ts;

	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		sd_mono_deadline(&ts, CHECKPOINT_EVERY_S * 1000LL);
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->mu);
		int rc = s->env->txn_checkpoint(s->env, 0, 0, 0);
		if (rc == DB_RUNRECOVERY)
			fatal(rc);
		if (rc != 0)
			log_warn("storage: checkpoint: %s", db_strerror(rc));
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int open_db(struct store *s, DB_TXN *txn, DB **db, const char *file, int dup, struct sd_err *err)
{
	int rc = db_create(db, s->env, 0);

	if (rc == 0 && dup)
		rc = (*db)->set_flags(*db, DB_DUPSORT);
	if (rc == 0)
		rc = (*db)->open(*db, txn, file, NULL, DB_BTREE, DB_CREATE | DB_THREAD, 0600);
	if (rc != 0)
		return sd_err_set(err, SD_EDOWN, "cannot open %s: %s", file, db_strerror(rc));
	return 0;
}

static int open_env(const char *data_dir, int fatal_recovery, struct store **out, struct sd_err *err);

int store_open(const char *data_dir, struct store **out, struct sd_err *err)
{
	return open_env(data_dir, 0, out, err);
}

int store_open_restored(const char *data_dir, struct store **out, struct sd_err *err)
{
	return open_env(data_dir, 1, out, err);
}

int store_backup(struct store *s, const char *target, struct sd_err *err)
{
	int rc = s->env->backup(s->env, target, DB_CREATE | DB_EXCL | DB_BACKUP_CLEAN);

	if (rc != 0)
		return sd_err_set(err, SD_EDOWN, "hot backup to %s: %s", target, db_strerror(rc));
	return 0;
}

static int db_file_exists(const char *home, const char *file)
{
	char path[PATH_MAX + 64];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", home, file);
	return stat(path, &st) == 0;
}

/* The base key of the environment's System V shared memory segments
 * (Berkeley DB uses base + region number), derived from the identity of the
 * environment directory, so that the server and the command-line tools
 * working on one data dir meet in the same segments, and two data dirs do
 * not (33 million slots of 32 keys each). */
static key_t shm_key_for(const char *home)
{
	struct stat st;
	uint64_t h;

	if (stat(home, &st) != 0)
		return 0;
	h = (uint64_t)st.st_dev * 0x9e3779b97f4a7c15ull ^ (uint64_t)st.st_ino;
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (key_t)(0x10000000u + (uint32_t)(h % 0x1000000u) * 32u);
}

/* Remove the environment's regions (shared memory segments and region
 * files) once nobody uses them: they would otherwise outlive the process.
 * Berkeley DB refuses (EBUSY) while another process is attached. */
static void remove_regions(const char *home, key_t key)
{
	DB_ENV *e;

	if (db_env_create(&e, 0) != 0)
		return;
	e->set_shm_key(e, key);
	e->remove(e, home, 0); /* frees e whatever it returns */
}

static int open_env(const char *data_dir, int fatal_recovery, struct store **out, struct sd_err *err)
{
	int fresh_owner, fresh_rotation, fresh_due, fresh_idem;
	char home[PATH_MAX];
	struct store *s;
	DB_TXN *txn = NULL;
	int rc;

	if ((size_t)snprintf(home, sizeof(home), "%s/db", data_dir) >= sizeof(home))
		return sd_err_set(err, SD_EINVAL, "data dir path too long");
	if (home[0] != '/')
		return sd_err_set(err, SD_EINVAL, "data dir must be an absolute path");
	if (mkdir(home, 0700) != 0 && errno != EEXIST)
		return sd_err_set(err, SD_EDOWN, "cannot create %s: %s", home, strerror(errno));
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	if (sd_cond_init_mono(&s->cv) != 0) {
		sd_err_set(err, SD_EINTERNAL, "no monotonic condition variable");
		goto fail;
	}
	rc = db_env_create(&s->env, 0);
	if (rc != 0) {
		sd_err_set(err, SD_EDOWN, "db_env_create: %s", db_strerror(rc));
		goto fail;
	}
	s->env->app_private = s;
	s->env->set_errcall(s->env, on_error);
	s->env->set_msgcall(s->env, on_message);
	snprintf(s->home, sizeof(s->home), "%s", home);
	/* The shared regions (cache, locks, log buffer) live in System V
	 * shared memory, not in files of the data volume: pages of a mapped
	 * file are allocated when first touched, so on a full volume the
	 * cache growing into a new page killed the server with SIGBUS. */
	s->shm_key = shm_key_for(home);
	if (s->shm_key == 0) {
		sd_err_set(err, SD_EDOWN, "cannot stat %s: %s", home, strerror(errno));
		goto fail;
	}
	s->env->set_shm_key(s->env, s->shm_key);
	s->env->set_event_notify(s->env, on_event);
	s->env->set_cachesize(s->env, 0, 8 * 1024 * 1024, 1);
	s->env->set_lk_detect(s->env, DB_LOCK_DEFAULT);
	/* Scans read committed data and release page locks as they go, so a
	 * few thousand locks are plenty (the lock region is resident memory:
	 * 100,000 cost 13 MB of idle RSS). */
	s->env->set_lk_max_locks(s->env, 20000);
	s->env->set_lk_max_objects(s->env, 20000);
	s->env->set_lk_max_lockers(s->env, 4000);
	s->env->set_tx_max(s->env, 1000);
	s->env->log_set_config(s->env, DB_LOG_AUTO_REMOVE, 1);
	/* A process that dies with the environment open is found by
	 * DB_REGISTER at the next open, which then runs recovery (a running
	 * server sees DB_RUNRECOVERY and exits 75 so that its supervisor
	 * restarts it through recovery). failchk was tried instead and can
	 * hang when the dead process was waiting on a condition variable. */
	rc = s->env->open(s->env, home,
			  DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
				  DB_THREAD | DB_SYSTEM_MEM |
				  (fatal_recovery ? DB_RECOVER_FATAL : DB_RECOVER | DB_REGISTER),
			  0600);
	if (rc != 0) {
		sd_err_set(err, SD_EDOWN, "cannot open environment %s: %s", home, db_strerror(rc));
		goto fail;
	}
	/* A secondary index is built from its primary (associate with
	 * DB_CREATE) only when its file is new: rescanning the primary at every
	 * start would make start-up linear in the number of secrets. */
	fresh_owner = !db_file_exists(home, "by_owner.db");
	fresh_rotation = !db_file_exists(home, "by_rotation.db");
	fresh_due = !db_file_exists(home, "lease_due.db");
	fresh_idem = !db_file_exists(home, "idem_by_time.db");
	rc = s->env->txn_begin(s->env, NULL, &txn, 0);
	if (rc != 0) {
		sd_err_set(err, SD_EDOWN, "txn_begin: %s", db_strerror(rc));
		goto fail;
	}
	if (open_db(s, txn, &s->heads, "heads.db", 0, err) != 0 ||
	    open_db(s, txn, &s->versions, "versions.db", 0, err) != 0 ||
	    open_db(s, txn, &s->by_owner, "by_owner.db", 1, err) != 0 ||
	    open_db(s, txn, &s->meta, "meta.db", 0, err) != 0 ||
	    open_db(s, txn, &s->leases, "leases.db", 0, err) != 0 ||
	    open_db(s, txn, &s->lease_due, "lease_due.db", 1, err) != 0 ||
	    open_db(s, txn, &s->idem, "idem.db", 0, err) != 0 ||
	    open_db(s, txn, &s->idem_by_time, "idem_by_time.db", 1, err) != 0 ||
	    open_db(s, txn, &s->evidence, "evidence.db", 0, err) != 0)
		goto fail;
	rc = s->idem->associate(s->idem, txn, s->idem_by_time, idem_created_key, fresh_idem ? DB_CREATE : 0);
	if (rc != 0) {
		sd_err_set(err, SD_EDOWN, "associate idem_by_time: %s", db_strerror(rc));
		goto fail;
	}
	rc = s->leases->associate(s->leases, txn, s->lease_due, due_key, fresh_due ? DB_CREATE : 0);
	if (rc != 0) {
		sd_err_set(err, SD_EDOWN, "associate lease_due: %s", db_strerror(rc));
		goto fail;
	}
	rc = s->heads->associate(s->heads, txn, s->by_owner, owner_key, fresh_owner ? DB_CREATE : 0);
	if (rc != 0) {
		sd_err_set(err, SD_EDOWN, "associate by_owner: %s", db_strerror(rc));
		goto fail;
	}
	if (open_db(s, txn, &s->by_rotation, "by_rotation.db", 1, err) != 0)
		goto fail;
	rc = s->heads->associate(s->heads, txn, s->by_rotation, rotation_key, fresh_rotation ? DB_CREATE : 0);
	if (rc != 0) {
		sd_err_set(err, SD_EDOWN, "associate by_rotation: %s", db_strerror(rc));
		goto fail;
	}
	rc = txn->commit(txn, 0);
	txn = NULL;
	if (rc != 0) {
		sd_err_set(err, SD_EDOWN, "commit: %s", db_strerror(rc));
		goto fail;
	}
	if (pthread_create(&s->ckpt, NULL, checkpoint_main, s) == 0)
		s->ckpt_running = 1;
	*out = s;
	return 0;
fail:
	if (txn != NULL)
		txn->abort(txn);
	store_close(s);
	return err->code;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	DB **all[] = ALL_DBS(s);
	int opened = s->heads != NULL; /* the databases were opened: checkpoint them at close */

	if (s->ckpt_running) {
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->ckpt, NULL);
	}
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (*all[i] != NULL)
			(*all[i])->close(*all[i], 0);
	if (s->env) {
		if (opened)
			s->env->txn_checkpoint(s->env, 0, 0, 0);
		s->env->close(s->env, 0);
		if (s->shm_key != 0)
			remove_regions(s->home, s->shm_key);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

int store_health(struct store *s, struct sd_err *err)
{
	if (s == NULL || atomic_load(&s->panicked))
		return sd_err_set(err, SD_EDOWN, "storage environment failed");
	return 0;
}

void store_metrics_render(struct store *s, struct evbuffer *out)
{
	DB_TXN_STAT *ts = NULL;

	if (s == NULL)
		return;
	if (s->env->txn_stat(s->env, &ts, 0) == 0) {
		evbuffer_add_printf(out,
				    "# TYPE secretsd_store_commits_total counter\nsecretsd_store_commits_total %lu\n"
				    "# TYPE secretsd_store_aborts_total counter\nsecretsd_store_aborts_total %lu\n",
				    (unsigned long)ts->st_ncommits, (unsigned long)ts->st_naborts);
		free(ts);
	}
	evbuffer_add_printf(out,
			    "# TYPE secretsd_store_deadlocks_total counter\nsecretsd_store_deadlocks_total %llu\n"
			    "# TYPE secretsd_store_failures_total counter\nsecretsd_store_failures_total %llu\n"
			    "# TYPE secretsd_store_space_refusals_total counter\nsecretsd_store_space_refusals_total %llu\n"
			    "# TYPE secretsd_store_space_low gauge\nsecretsd_store_space_low %d\n",
			    (unsigned long long)atomic_load(&s->deadlocks),
			    (unsigned long long)atomic_load(&s->write_failures),
			    (unsigned long long)atomic_load(&s->space_refusals), atomic_load(&s->space_low));
}

/* --- transactions ------------------------------------------------------------------ */

int store_txn_begin(struct store *s, struct store_txn **t, struct sd_err *err)
{
	struct store_txn *x = calloc(1, sizeof(*x));
	int rc;

	if (x == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	x->s = s;
	rc = s->env->txn_begin(s->env, NULL, &x->txn, 0);
	if (rc != 0) {
		free(x);
		return map(s, rc, "txn_begin", err);
	}
	*t = x;
	return 0;
}

/* Group commit: the transaction commits without waiting for the disk, which
 * releases its locks (the evidence chain's head among them) at once; then
 * the log is flushed up to its end before the caller may acknowledge
 * anything. Concurrent committers share one flush: Berkeley DB lets one
 * thread write and sync the log while the others wait and find their
 * records already on disk. A transaction that wrote nothing has nothing to
 * flush. */
int store_txn_commit(struct store_txn *t, struct sd_err *err)
{
	struct store *s = t->s;
	int wrote = t->wrote || t->flush;
	int rc = t->txn->commit(t->txn, DB_TXN_NOSYNC);

	free(t);
	if (rc == 0 && wrote)
		rc = s->env->log_flush(s->env, NULL);
	return map(s, rc, "commit", err);
}

void store_txn_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	int rc = t->txn->abort(t->txn);
	if (rc == DB_RUNRECOVERY)
		fatal(rc);
	if (t->flush && t->s->env->log_flush(t->s->env, NULL) == DB_RUNRECOVERY)
		fatal(DB_RUNRECOVERY);
	free(t);
}

int store_run(struct store *s, store_fn fn, void *arg, struct sd_err *err)
{
	for (int attempt = 0; attempt < RETRIES_MAX; attempt++) {
		struct store_txn *t;
		int rc = store_txn_begin(s, &t, err);

		if (rc == 0) {
			rc = fn(t, arg, err);
			if (rc == 0)
				rc = store_txn_commit(t, err);
			else
				store_txn_abort(t);
		}
		if (rc != SD_EDEADLOCK)
			return rc;
		/* Lost a deadlock: back off a little, more each time. */
		if (attempt > 2)
			usleep((useconds_t)(100 * attempt));
		else
			sched_yield();
	}
	return sd_err_set(err, SD_EDOWN, "storage is too contended; try again");
}

/* Space check, once per transaction before its first write. Writes are
 * refused (503) while the data volume has less than min_free bytes free or
 * a database file is within FILE_HEADROOM of RLIMIT_FSIZE: Berkeley DB must
 * never be the one to find the disk full (a log write that fails there
 * panics the environment) and a refused write changes nothing. Reads do
 * not come here and keep working. */
static int space_check(struct store *s, struct sd_err *err)
{
	DB **all[] = ALL_DBS(s);
	struct statvfs vfs;
	struct rlimit rl;
	unsigned long long avail;

	if (statvfs(s->home, &vfs) == 0) {
		avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
		if (avail < s->min_free)
			return sd_err_set(err, SD_EDOWN,
					  "the data volume has %llu KiB free, below the %llu MiB kept in reserve "
					  "([limits] min_free_mb): writes are refused until space returns",
					  avail >> 10, s->min_free >> 20);
	}
	if (getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	u_int32_t lg_max = 0;
	if (s->env->get_lg_max(s->env, &lg_max) == 0 && (rlim_t)lg_max > rl.rlim_cur)
		return sd_err_set(err, SD_EDOWN,
				  "the file size limit (RLIMIT_FSIZE %llu bytes) is below the log file size: "
				  "writes are refused until it is raised",
				  (unsigned long long)rl.rlim_cur);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		DB *db = *all[i];
		db_pgno_t last = 0;
		u_int32_t psize = 0;
		DB_MPOOLFILE *mpf = db ? db->get_mpf(db) : NULL;

		if (mpf == NULL || mpf->get_last_pgno(mpf, &last) != 0 || db->get_pagesize(db, &psize) != 0)
			continue;
		/* the file as the cache knows it: pages not yet written included */
		if ((unsigned long long)(last + 1) * psize + FILE_HEADROOM > (unsigned long long)rl.rlim_cur)
			return sd_err_set(err, SD_EDOWN,
					  "a database file is close to the file size limit (RLIMIT_FSIZE "
					  "%llu bytes): writes are refused until it is raised",
					  (unsigned long long)rl.rlim_cur);
	}
	return 0;
}

static int writable(struct store_txn *t, struct sd_err *err)
{
	struct store *s = t->s;

	if (t->wrote)
		return 0;
	if (space_check(s, err) != 0) {
		atomic_fetch_add(&s->space_refusals, 1);
		if (atomic_exchange(&s->space_low, 1) == 0)
			log_error("storage: %s", err->msg);
		return err->code;
	}
	if (atomic_exchange(&s->space_low, 0) == 1)
		log_info("storage: space is back; writes are accepted again");
	t->wrote = 1;
	return 0;
}

void store_txn_flush_at_end(struct store_txn *t)
{
	t->flush = 1;
}

void store_set_min_free(struct store *s, unsigned long long bytes)
{
	s->min_free = bytes;
}

/* Put an encoded record under key in db and free the encoding. */
static int put_encoded(struct store_txn *t, DB *db, const unsigned char *k, size_t kn, struct enc *e,
		       const char *what, struct sd_err *err)
{
	DBT key, data;
	int rc;

	if (e->oom) {
		free(e->p);
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	}
	if ((rc = writable(t, err)) != 0) {
		free(e->p);
		return rc;
	}
	dbt_in(&key, k, kn);
	dbt_in(&data, e->p, e->len);
	rc = db->put(db, t->txn, &key, &data, 0);
	free(e->p);
	return map(t->s, rc, what, err);
}

/* --- heads ---------------------------------------------------------------------------- */

static int decode_head(const DBT *data, struct store_head *h)
{
	struct dec d = { data->data, data->size, 0, 0 };
	size_t mn;
	const unsigned char *m;

	unsigned fmt;

	memset(h, 0, sizeof(*h));
	fmt = dec_u8(&d);
	if (fmt != HEAD_FORMAT && fmt != HEAD_FORMAT_1)
		return -1;
	h->current = dec_u64(&d);
	h->oldest = dec_u64(&d);
	h->created_us = (int64_t)dec_u64(&d);
	h->updated_us = (int64_t)dec_u64(&d);
	dec_str(&d, h->owner, sizeof(h->owner));
	m = dec_bytes(&d, &mn);
	if (fmt == HEAD_FORMAT) {
		h->next_rotation_us = (int64_t)dec_u64(&d);
		h->latest = d.off < d.len ? dec_u64(&d) : 0;
	}
	if (d.bad)
		return -1;
	if (h->latest < h->current)
		h->latest = h->current;
	if (mn > 0) {
		h->metadata = malloc(mn + 1);
		if (h->metadata == NULL)
			return -1;
		memcpy(h->metadata, m, mn);
		h->metadata[mn] = '\0';
	}
	return 0;
}

int store_head_get(struct store_txn *t, const char *tenant, const char *path, int for_update,
		   struct store_head *out, struct sd_err *err)
{
	unsigned char k[KEY_MAX];
	size_t kn = head_key(k, tenant, path);
	DBT key, data;
	int rc;

	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "path too long");
	dbt_in(&key, k, kn);
	dbt_out(&data);
	rc = t->s->heads->get(t->s->heads, t->txn, &key, &data, for_update ? DB_RMW : 0);
	if (rc != 0)
		return map(t->s, rc, "head get", err);
	rc = decode_head(&data, out);
	free(data.data);
	if (rc != 0)
		return sd_err_set(err, SD_EINTERNAL, "corrupt head record");
	return 0;
}

int store_head_put(struct store_txn *t, const char *tenant, const char *path,
		   const struct store_head *h, struct sd_err *err)
{
	unsigned char k[KEY_MAX];
	size_t kn = head_key(k, tenant, path);
	struct enc e = { 0 };

	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "path too long");
	enc_u8(&e, HEAD_FORMAT);
	enc_u64(&e, h->current);
	enc_u64(&e, h->oldest);
	enc_u64(&e, (uint64_t)h->created_us);
	enc_u64(&e, (uint64_t)h->updated_us);
	enc_str(&e, h->owner);
	enc_str(&e, h->metadata);
	enc_u64(&e, (uint64_t)(h->next_rotation_us > 0 ? h->next_rotation_us : 0));
	enc_u64(&e, h->latest > h->current ? h->latest : h->current);
	return put_encoded(t, t->s->heads, k, kn, &e, "head put", err);
}

void store_head_free(struct store_head *h)
{
	free(h->metadata);
	h->metadata = NULL;
}

/* --- versions ------------------------------------------------------------------------- */

static int decode_version(const DBT *key, const DBT *data, int want_env, struct store_version *v)
{
	struct dec d = { data->data, data->size, 0, 0 };
	const unsigned char *env;
	size_t en;

	memset(v, 0, sizeof(*v));
	if (key->size < 8)
		return -1;
	for (int i = 0; i < 8; i++)
		v->version = v->version << 8 | ((const unsigned char *)key->data)[key->size - 8 + (u_int32_t)i];
	if (dec_u8(&d) != VERSION_FORMAT)
		return -1;
	v->state = (int)dec_u8(&d);
	v->created_us = (int64_t)dec_u64(&d);
	v->deleted_us = (int64_t)dec_u64(&d);
	dec_str(&d, v->created_by, sizeof(v->created_by));
	env = dec_bytes(&d, &en);
	if (d.bad)
		return -1;
	if (want_env) {
		v->envelope = malloc(en ? en : 1);
		if (v->envelope == NULL)
			return -1;
		memcpy(v->envelope, env, en);
		v->envelope_len = en;
	}
	return 0;
}

int store_version_get(struct store_txn *t, const char *tenant, const char *path, uint64_t version,
		      int want_envelope, struct store_version *out, struct sd_err *err)
{
	unsigned char k[KEY_MAX];
	size_t kn = version_key(k, tenant, path, version);
	DBT key, data;
	int rc;

	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "path too long");
	dbt_in(&key, k, kn);
	dbt_out(&data);
	rc = t->s->versions->get(t->s->versions, t->txn, &key, &data, 0);
	if (rc != 0)
		return map(t->s, rc, "version get", err);
	rc = decode_version(&key, &data, want_envelope, out);
	free(data.data);
	if (rc != 0) {
		store_version_free(out);
		return sd_err_set(err, SD_EINTERNAL, "corrupt version record");
	}
	return 0;
}

int store_version_put(struct store_txn *t, const char *tenant, const char *path,
		      const struct store_version *v, struct sd_err *err)
{
	unsigned char k[KEY_MAX];
	size_t kn = version_key(k, tenant, path, v->version);
	struct enc e = { 0 };

	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "path too long");
	enc_u8(&e, VERSION_FORMAT);
	enc_u8(&e, (unsigned)v->state);
	enc_u64(&e, (uint64_t)v->created_us);
	enc_u64(&e, (uint64_t)v->deleted_us);
	enc_str(&e, v->created_by);
	enc_bytes(&e, v->envelope, v->envelope_len);
	return put_encoded(t, t->s->versions, k, kn, &e, "version put", err);
}

int store_version_del(struct store_txn *t, const char *tenant, const char *path, uint64_t version,
		      struct sd_err *err)
{
	unsigned char k[KEY_MAX];
	size_t kn = version_key(k, tenant, path, version);
	DBT key;
	int rc;

	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "path too long");
	if ((rc = writable(t, err)) != 0)
		return rc;
	dbt_in(&key, k, kn);
	rc = t->s->versions->del(t->s->versions, t->txn, &key, 0);
	return rc == DB_NOTFOUND ? 0 : map(t->s, rc, "version del", err);
}

void store_version_free(struct store_version *v)
{
	free(v->envelope);
	v->envelope = NULL;
}

/* Walk db from start while keys begin with prefix (or, on a secondary, equal
 * it). visit returns non-zero to stop. Cursors read committed data so that
 * long scans hold few locks. */
typedef int (*walk_fn)(const DBT *key, const DBT *pkey, const DBT *data, void *arg);

static int walk(struct store_txn *t, DB *db, int secondary, int exact, const unsigned char *start, size_t sn,
		const unsigned char *prefix, size_t pn, walk_fn visit, void *arg, struct sd_err *err)
{
	DBC *c = NULL;
	DBT key, pkey, data;
	unsigned char kbuf[KEY_MAX];
	int rc, flags = DB_SET_RANGE;

	rc = db->cursor(db, t->txn, &c, DB_READ_COMMITTED);
	if (rc != 0)
		return map(t->s, rc, "cursor", err);
	memcpy(kbuf, start, sn);
	for (;;) {
		memset(&key, 0, sizeof(key));
		key.data = kbuf;
		key.size = (u_int32_t)sn;
		key.ulen = sizeof(kbuf);
		key.flags = DB_DBT_USERMEM;
		dbt_out(&data);
		if (secondary) {
			dbt_out(&pkey);
			rc = c->pget(c, &key, &pkey, &data, (u_int32_t)flags);
		} else {
			rc = c->get(c, &key, &data, (u_int32_t)flags);
		}
		flags = DB_NEXT;
		if (rc != 0) {
			/* a secondary's pget can fail after it copied out the
			 * primary key (the primary record changed under read
			 * committed): free whatever it left */
			free(data.data);
			if (secondary)
				free(pkey.data);
			break;
		}
		int stop = key.size < pn || memcmp(key.data, prefix, pn) != 0 ||
			   (exact && key.size != pn);
		if (!stop)
			stop = visit(&key, secondary ? &pkey : NULL, &data, arg);
		free(data.data);
		if (secondary)
			free(pkey.data);
		if (stop) {
			rc = 0;
			break;
		}
		sn = key.size;
	}
	c->close(c);
	if (rc == DB_NOTFOUND)
		rc = 0;
	return map(t->s, rc, "cursor get", err);
}

struct versions_walk {
	store_version_cb cb;
	void *arg;
	int bad;
};

static int visit_version(const DBT *key, const DBT *pkey, const DBT *data, void *arg)
{
	struct versions_walk *w = arg;
	struct store_version v;

	(void)pkey;
	if (decode_version(key, data, 0, &v) != 0) {
		w->bad = 1;
		return 1;
	}
	return w->cb(&v, w->arg);
}

int store_versions_each(struct store_txn *t, const char *tenant, const char *path,
			store_version_cb cb, void *arg, struct sd_err *err)
{
	unsigned char p[KEY_MAX];
	size_t pn = head_key(p, tenant, path);
	struct versions_walk w = { cb, arg, 0 };
	int rc;

	if (pn == 0 || pn + 1 > KEY_MAX)
		return sd_err_set(err, SD_EINVAL, "path too long");
	p[pn++] = 0;
	rc = walk(t, t->s->versions, 0, 0, p, pn, p, pn, visit_version, &w, err);
	if (rc == 0 && w.bad)
		return sd_err_set(err, SD_EINTERNAL, "corrupt version record");
	return rc;
}

struct heads_walk {
	store_head_cb cb;
	void *arg;
	size_t tenant_len;   /* bytes before the path in a heads key, NUL included */
	const char *after;   /* skip this exact path */
	int bad;
};

static int visit_head(const DBT *key, const DBT *pkey, const DBT *data, void *arg)
{
	struct heads_walk *w = arg;
	const DBT *hk = pkey ? pkey : key;
	char path[KEY_MAX + 1];
	struct store_head h;
	size_t pl;
	int stop;

	if (hk->size <= w->tenant_len || hk->size - w->tenant_len > KEY_MAX) {
		w->bad = 1;
		return 1;
	}
	pl = hk->size - w->tenant_len;
	memcpy(path, (const char *)hk->data + w->tenant_len, pl);
	path[pl] = '\0';
	if (w->after != NULL && strcmp(path, w->after) <= 0)
		return 0;
	if (decode_head(data, &h) != 0) {
		w->bad = 1;
		return 1;
	}
	stop = w->cb(path, &h, w->arg);
	store_head_free(&h);
	return stop;
}

int store_heads_each(struct store_txn *t, const char *tenant, const char *prefix,
		     const char *after, store_head_cb cb, void *arg, struct sd_err *err)
{
	unsigned char p[KEY_MAX], s[KEY_MAX];
	size_t pn = head_key(p, tenant, prefix ? prefix : ""), sn;
	struct heads_walk w = { cb, arg, strlen(tenant) + 1, NULL, 0 };
	int rc;

	if (pn == 0)
		return sd_err_set(err, SD_EINVAL, "prefix too long");
	if (after != NULL && after[0] != '\0' && strcmp(after, prefix ? prefix : "") > 0) {
		sn = head_key(s, tenant, after);
		if (sn == 0)
			return sd_err_set(err, SD_EINVAL, "cursor too long");
		w.after = after;
	} else {
		memcpy(s, p, pn);
		sn = pn;
	}
	rc = walk(t, t->s->heads, 0, 0, s, sn, p, pn, visit_head, &w, err);
	if (rc == 0 && w.bad)
		return sd_err_set(err, SD_EINTERNAL, "corrupt head record");
	return rc;
}

int store_heads_by_owner(struct store_txn *t, const char *tenant, const char *owner,
			 const char *after, store_head_cb cb, void *arg, struct sd_err *err)
{
	unsigned char p[KEY_MAX];
	size_t pn = head_key(p, tenant, owner);
	struct heads_walk w = { cb, arg, strlen(tenant) + 1, NULL, 0 };
	int rc;

	if (pn == 0)
		return sd_err_set(err, SD_EINVAL, "owner too long");
	if (after != NULL && after[0] != '\0')
		w.after = after;
	/* Duplicates are sorted by primary key, so paths come in order. */
	rc = walk(t, t->s->by_owner, 1, 1, p, pn, p, pn, visit_head, &w, err);
	if (rc == 0 && w.bad)
		return sd_err_set(err, SD_EINTERNAL, "corrupt head record");
	return rc;
}

/* --- meta ---------------------------------------------------------------------------------- */

static int meta_get(struct store_txn *t, const char *name, char **value, u_int32_t flags,
		    struct sd_err *err)
{
	DBT key, data;
	int rc;

	dbt_in(&key, name, strlen(name));
	dbt_out(&data);
	rc = t->s->meta->get(t->s->meta, t->txn, &key, &data, flags);
	if (rc != 0)
		return map(t->s, rc, "meta get", err);
	*value = malloc(data.size + 1);
	if (*value == NULL) {
		free(data.data);
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	}
	memcpy(*value, data.data, data.size);
	(*value)[data.size] = '\0';
	free(data.data);
	return 0;
}

int store_meta_get(struct store_txn *t, const char *name, char **value, struct sd_err *err)
{
	return meta_get(t, name, value, 0, err);
}

int store_meta_get_for_update(struct store_txn *t, const char *name, char **value, struct sd_err *err)
{
	return meta_get(t, name, value, DB_RMW, err);
}

int store_meta_put(struct store_txn *t, const char *name, const char *value, struct sd_err *err)
{
	DBT key, data;
	int rc;

	if ((rc = writable(t, err)) != 0)
		return rc;
	dbt_in(&key, name, strlen(name));
	dbt_in(&data, value, strlen(value));
	return map(t->s, t->s->meta->put(t->s->meta, t->txn, &key, &data, 0), "meta put", err);
}

/* --- leases -------------------------------------------------------------------------------- */

int store_lease_get(struct store_txn *t, const char *tenant, const char *id, int for_update,
		    char **rec, struct sd_err *err)
{
	unsigned char k[KEY_MAX];
	size_t kn = head_key(k, tenant, id);
	DBT key, data;
	int rc;

	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "lease id too long");
	dbt_in(&key, k, kn);
	dbt_out(&data);
	rc = t->s->leases->get(t->s->leases, t->txn, &key, &data, for_update ? DB_RMW : 0);
	if (rc != 0)
		return map(t->s, rc, "lease get", err);
	if (data.size < 8) {
		free(data.data);
		return sd_err_set(err, SD_EINTERNAL, "corrupt lease record");
	}
	*rec = malloc(data.size - 8 + 1);
	if (*rec == NULL) {
		free(data.data);
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	}
	memcpy(*rec, (char *)data.data + 8, data.size - 8);
	(*rec)[data.size - 8] = '\0';
	free(data.data);
	return 0;
}

int store_lease_put(struct store_txn *t, const char *tenant, const char *id, int64_t due_us,
		    const char *rec, struct sd_err *err)
{
	unsigned char k[KEY_MAX], *v;
	size_t kn = head_key(k, tenant, id), rl = strlen(rec);
	DBT key, data;
	int rc;

	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "lease id too long");
	if ((rc = writable(t, err)) != 0)
		return rc;
	v = malloc(8 + rl);
	if (v == NULL)
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	for (int i = 0; i < 8; i++)
		v[i] = (unsigned char)((uint64_t)(due_us > 0 ? due_us : 0) >> (56 - 8 * i));
	memcpy(v + 8, rec, rl);
	dbt_in(&key, k, kn);
	dbt_in(&data, v, 8 + rl);
	rc = t->s->leases->put(t->s->leases, t->txn, &key, &data, 0);
	free(v);
	return map(t->s, rc, "lease put", err);
}

struct lease_walk {
	store_lease_cb cb;
	void *arg;
	int64_t until;       /* due walk: stop past this */
	const char *after;   /* tenant walk: ids after this one */
};

static int visit_lease(const DBT *key, const DBT *pkey, const DBT *data, void *arg)
{
	struct lease_walk *w = arg;
	const DBT *lk = pkey ? pkey : key;
	char kbuf[KEY_MAX + 1], *rec;
	const char *id;
	uint64_t due = 0;
	int stop;

	if (lk->size > KEY_MAX || data->size < 8)
		return 0;
	for (int i = 0; i < 8; i++)
		due = due << 8 | ((const unsigned char *)data->data)[i];
	if (pkey != NULL && (int64_t)due > w->until)
		return 1;
	memcpy(kbuf, lk->data, lk->size);
	kbuf[lk->size] = '\0';
	id = memchr(kbuf, 0, lk->size);
	if (id == NULL)
		return 0;
	id++;
	if (w->after != NULL && strcmp(id, w->after) <= 0)
		return 0;
	rec = malloc(data->size - 8 + 1);
	if (rec == NULL)
		return 1;
	memcpy(rec, (const char *)data->data + 8, data->size - 8);
	rec[data->size - 8] = '\0';
	stop = w->cb(kbuf, id, rec, w->arg);
	free(rec);
	return stop;
}

int store_leases_due(struct store_txn *t, int64_t now_us, store_lease_cb cb, void *arg,
		     struct sd_err *err)
{
	unsigned char start[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	struct lease_walk w = { cb, arg, now_us, NULL };

	return walk(t, t->s->lease_due, 1, 0, start, 8, start, 0, visit_lease, &w, err);
}

int store_leases_each(struct store_txn *t, const char *tenant, const char *after, store_lease_cb cb,
		      void *arg, struct sd_err *err)
{
	unsigned char p[KEY_MAX];
	size_t pn = head_key(p, tenant, "");
	struct lease_walk w = { cb, arg, 0, after };

	if (pn == 0)
		return sd_err_set(err, SD_EINVAL, "tenant too long");
	return walk(t, t->s->leases, 0, 0, p, pn, p, pn, visit_lease, &w, err);
}

/* --- idempotency records ----------------------------------------------------------------- */

/* value: be64 created | u8 state | 32 hash | be64 status | envelope (rest) */
#define IDEM_HDR (8 + 1 + 32 + 8)

static int idem_created_key(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	(void)sdb;
	(void)pkey;
	if (pdata->size < IDEM_HDR)
		return DB_DONOTINDEX;
	memset(skey, 0, sizeof(*skey));
	skey->data = pdata->data; /* be64(created) */
	skey->size = 8;
	return 0;
}

int store_idem_get(struct store_txn *t, const char *tenant, const char *key, int for_update,
		   struct store_idem *out, struct sd_err *err)
{
	unsigned char k[KEY_MAX];
	size_t kn = head_key(k, tenant, key);
	struct dec d;
	DBT dk, data;
	int rc;

	memset(out, 0, sizeof(*out));
	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "idempotency key too long");
	dbt_in(&dk, k, kn);
	dbt_out(&data);
	rc = t->s->idem->get(t->s->idem, t->txn, &dk, &data, for_update ? DB_RMW : 0);
	if (rc != 0)
		return map(t->s, rc, "idem get", err);
	d.p = data.data;
	d.len = data.size;
	d.off = 0;
	d.bad = data.size < IDEM_HDR;
	out->created_us = (int64_t)dec_u64(&d);
	out->state = (int)dec_u8(&d);
	if (!d.bad) {
		memcpy(out->hash, d.p + d.off, 32);
		d.off += 32;
	}
	out->status = (int)dec_u64(&d);
	if (d.bad) {
		free(data.data);
		return sd_err_set(err, SD_EINTERNAL, "corrupt idempotency record");
	}
	out->body_len = data.size - IDEM_HDR;
	out->body = malloc(out->body_len ? out->body_len : 1);
	if (out->body == NULL) {
		free(data.data);
		return sd_err_set(err, SD_EINTERNAL, "out of memory");
	}
	memcpy(out->body, (unsigned char *)data.data + IDEM_HDR, out->body_len);
	free(data.data);
	return 0;
}

int store_idem_put(struct store_txn *t, const char *tenant, const char *key, const struct store_idem *in,
		   struct sd_err *err)
{
	unsigned char k[KEY_MAX];
	size_t kn = head_key(k, tenant, key);
	struct enc e = { 0 };

	if (kn == 0)
		return sd_err_set(err, SD_EINVAL, "idempotency key too long");
	enc_u64(&e, (uint64_t)in->created_us);
	enc_u8(&e, (unsigned)in->state);
	enc_raw(&e, in->hash, 32);
	enc_u64(&e, (uint64_t)in->status);
	enc_raw(&e, in->body, in->body_len);
	return put_encoded(t, t->s->idem, k, kn, &e, "idem put", err);
}

void store_idem_free(struct store_idem *i)
{
	free(i->body);
	i->body = NULL;
}

int store_idem_expire(struct store_txn *t, int64_t before_us, int max, int *deleted, struct sd_err *err)
{
	DBC *c = NULL;
	DBT key, pkey, data;
	int rc, n = 0;

	*deleted = 0;
	if ((rc = writable(t, err)) != 0)
		return rc;
	rc = t->s->idem_by_time->cursor(t->s->idem_by_time, t->txn, &c, 0);
	if (rc != 0)
		return map(t->s, rc, "cursor", err);
	while (n < max) {
		uint64_t created = 0;
		dbt_out(&key);
		dbt_out(&pkey);
		dbt_out(&data);
		rc = c->pget(c, &key, &pkey, &data, DB_NEXT);
		if (rc != 0) {
			free(key.data); /* see walk(): pget may fail after copying out */
			free(pkey.data);
			free(data.data);
			break;
		}
		for (u_int32_t i = 0; i < 8 && i < key.size; i++)
			created = created << 8 | ((unsigned char *)key.data)[i];
		free(key.data);
		free(pkey.data);
		free(data.data);
		if ((int64_t)created >= before_us)
			break;
		rc = c->del(c, 0); /* deleting through a secondary removes the primary too */
		if (rc != 0)
			break;
		n++;
	}
	c->close(c);
	*deleted = n;
	if (rc == DB_NOTFOUND)
		rc = 0;
	return map(t->s, rc, "idem expire", err);
}

/* --- evidence chain -------------------------------------------------------------------------- */

int store_evidence_put(struct store_txn *t, uint64_t seq, const char *line, struct sd_err *err)
{
	unsigned char k[8];
	DBT key, data;
	int rc;

	if ((rc = writable(t, err)) != 0)
		return rc;
	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)(seq >> (56 - 8 * i));
	dbt_in(&key, k, 8);
	dbt_in(&data, line, strlen(line));
	return map(t->s, t->s->evidence->put(t->s->evidence, t->txn, &key, &data, 0), "evidence put", err);
}

struct ev_walk {
	store_evidence_cb cb;
	void *arg;
};

static int visit_evidence(const DBT *key, const DBT *pkey, const DBT *data, void *arg)
{
	struct ev_walk *w = arg;
	uint64_t seq = 0;
	char *line;
	int stop;

	(void)pkey;
	if (key->size != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		seq = seq << 8 | ((const unsigned char *)key->data)[i];
	line = malloc(data->size + 1);
	if (line == NULL)
		return 1;
	memcpy(line, data->data, data->size);
	line[data->size] = '\0';
	stop = w->cb(seq, line, w->arg);
	free(line);
	return stop;
}

int store_evidence_each(struct store_txn *t, uint64_t from_seq, store_evidence_cb cb, void *arg,
			struct sd_err *err)
{
	unsigned char start[8];
	struct ev_walk w = { cb, arg };

	for (int i = 0; i < 8; i++)
		start[i] = (unsigned char)(from_seq >> (56 - 8 * i));
	return walk(t, t->s->evidence, 0, 0, start, 8, start, 0, visit_evidence, &w, err);
}

/* --- rotation schedule ------------------------------------------------------------------------ */

struct due_head_walk {
	store_due_head_cb cb;
	void *arg;
	int64_t until;
	int bad;
};

static int visit_due_head(const DBT *key, const DBT *pkey, const DBT *data, void *arg)
{
	struct due_head_walk *w = arg;
	char kbuf[KEY_MAX + 1];
	const char *path;
	struct store_head h;
	uint64_t due = 0;
	int stop;

	for (u_int32_t i = 0; i < 8 && i < key->size; i++)
		due = due << 8 | ((const unsigned char *)key->data)[i];
	if ((int64_t)due > w->until)
		return 1;
	if (pkey->size > KEY_MAX)
		return 0;
	memcpy(kbuf, pkey->data, pkey->size);
	kbuf[pkey->size] = '\0';
	path = memchr(kbuf, 0, pkey->size);
	if (path == NULL)
		return 0;
	path++;
	if (decode_head(data, &h) != 0) {
		w->bad = 1;
		return 1;
	}
	stop = w->cb(kbuf, path, &h, w->arg);
	store_head_free(&h);
	return stop;
}

int store_heads_rotation_due(struct store_txn *t, int64_t now_us, store_due_head_cb cb, void *arg,
			     struct sd_err *err)
{
	unsigned char start[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	struct due_head_walk w = { cb, arg, now_us, 0 };
	int rc = walk(t, t->s->by_rotation, 1, 0, start, 8, start, 0, visit_due_head, &w, err);

	if (rc == 0 && w.bad)
		return sd_err_set(err, SD_EINTERNAL, "corrupt head record");
	return rc;
}
