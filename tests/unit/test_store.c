/* test_store.c — the Berkeley DB layer: records round-trip, tenants never
 * see each other, the owner index follows the heads, listing pages, and a
 * committed transaction survives a process that dies without closing. */
#include "testutil.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

struct fixture {
	char dir[64];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sd_err err;

	assert_non_null(make_tmpdir(f->dir));
	assert_int_equal(store_open(f->dir, &f->s, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void put_head(struct store *s, const char *tenant, const char *path, const char *owner)
{
	struct store_txn *t;
	struct store_head h;
	struct sd_err err;

	memset(&h, 0, sizeof(h));
	h.current = 1;
	h.oldest = 1;
	h.created_us = 1000;
	h.updated_us = 2000;
	snprintf(h.owner, sizeof(h.owner), "%s", owner);
	h.metadata = (char *)"{\"owner\":\"x\"}";
	assert_int_equal(store_txn_begin(s, &t, &err), 0);
	assert_int_equal(store_head_put(t, tenant, path, &h, &err), 0);
	assert_int_equal(store_txn_commit(t, &err), 0);
}

static void head_and_version_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	struct store_head h;
	struct store_version v, got;
	struct sd_err err;
	unsigned char env[300];

	put_head(f->s, "t1", "db/pw", "team-a");
	memset(&v, 0, sizeof(v));
	v.version = 1;
	v.created_us = 42;
	snprintf(v.created_by, sizeof(v.created_by), "alice");
	for (size_t i = 0; i < sizeof(env); i++)
		env[i] = (unsigned char)i;
	v.envelope = env;
	v.envelope_len = sizeof(env);
	assert_int_equal(store_txn_begin(f->s, &t, &err), 0);
	assert_int_equal(store_version_put(t, "t1", "db/pw", &v, &err), 0);
	assert_int_equal(store_head_get(t, "t1", "db/pw", 0, &h, &err), 0);
	assert_int_equal(h.current, 1);
	assert_int_equal(h.created_us, 1000);
	assert_string_equal(h.owner, "team-a");
	assert_string_equal(h.metadata, "{\"owner\":\"x\"}");
	store_head_free(&h);
	assert_int_equal(store_version_get(t, "t1", "db/pw", 1, 1, &got, &err), 0);
	assert_int_equal(got.version, 1);
	assert_int_equal(got.created_us, 42);
	assert_string_equal(got.created_by, "alice");
	assert_int_equal(got.envelope_len, sizeof(env));
	assert_memory_equal(got.envelope, env, sizeof(env));
	store_version_free(&got);
	assert_int_equal(store_version_get(t, "t1", "db/pw", 2, 1, &got, &err), SD_ENOTFOUND);
	assert_int_equal(store_txn_commit(t, &err), 0);
}

static void other_tenant_sees_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	struct store_head h;
	struct sd_err err;

	put_head(f->s, "t1", "db/pw", "");
	assert_int_equal(store_txn_begin(f->s, &t, &err), 0);
	assert_int_equal(store_head_get(t, "t2", "db/pw", 0, &h, &err), SD_ENOTFOUND);
	/* a tenant that is a prefix of another must not reach into it */
	assert_int_equal(store_head_get(t, "t", "1", 0, &h, &err), SD_ENOTFOUND);
	store_txn_abort(t);
}

struct collect {
	char paths[16][64];
	int n;
	int stop_after;
};

static int collect(const char *path, const struct store_head *h, void *arg)
{
	struct collect *c = arg;

	(void)h;
	snprintf(c->paths[c->n++], 64, "%s", path);
	return c->stop_after && c->n >= c->stop_after;
}

static void heads_listed_by_prefix_and_cursor(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	struct sd_err err;
	struct collect c;

	put_head(f->s, "t1", "app/a", "");
	put_head(f->s, "t1", "app/b", "");
	put_head(f->s, "t1", "db/a", "");
	put_head(f->s, "t2", "app/z", "");
	assert_int_equal(store_txn_begin(f->s, &t, &err), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_heads_each(t, "t1", "app/", NULL, collect, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.paths[0], "app/a");
	assert_string_equal(c.paths[1], "app/b");
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_heads_each(t, "t1", "", "app/a", collect, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.paths[0], "app/b");
	assert_string_equal(c.paths[1], "db/a");
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_heads_each(t, "t2", "", NULL, collect, &c, &err), 0);
	assert_int_equal(c.n, 1);
	store_txn_abort(t);
}

static void owner_index_follows_heads(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	struct sd_err err;
	struct collect c;

	put_head(f->s, "t1", "a", "team-a");
	put_head(f->s, "t1", "b", "team-b");
	put_head(f->s, "t1", "c", "team-a");
	put_head(f->s, "t2", "d", "team-a");
	put_head(f->s, "t1", "c", "team-b"); /* owner changes: index entry moves */
	assert_int_equal(store_txn_begin(f->s, &t, &err), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_heads_by_owner(t, "t1", "team-a", NULL, collect, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.paths[0], "a");
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_heads_by_owner(t, "t1", "team-b", NULL, collect, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.paths[0], "b");
	assert_string_equal(c.paths[1], "c");
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_heads_by_owner(t, "t1", "team-b", "b", collect, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.paths[0], "c");
	/* "team" is a prefix of the owners but not an owner */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_heads_by_owner(t, "t1", "team", NULL, collect, &c, &err), 0);
	assert_int_equal(c.n, 0);
	store_txn_abort(t);
}

static void aborted_transaction_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	struct store_head h;
	struct sd_err err;

	memset(&h, 0, sizeof(h));
	h.current = 1;
	assert_int_equal(store_txn_begin(f->s, &t, &err), 0);
	assert_int_equal(store_head_put(t, "t1", "x", &h, &err), 0);
	store_txn_abort(t);
	assert_int_equal(store_txn_begin(f->s, &t, &err), 0);
	assert_int_equal(store_head_get(t, "t1", "x", 0, &h, &err), SD_ENOTFOUND);
	store_txn_abort(t);
}

/* A child commits and is killed with SIGKILL before it closes anything;
 * reopening runs recovery and finds the committed record. */
static void committed_write_survives_sigkill(void **state)
{
	char dir[64];
	struct store *s;
	struct store_txn *t;
	struct store_head h;
	struct sd_err err;
	int pipefd[2], status;
	pid_t pid;
	char c;

	(void)state;
	assert_non_null(make_tmpdir(dir));
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		if (store_open(dir, &s, &err) != 0)
			_exit(1);
		put_head(s, "t1", "survivor", "o");
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(store_open(dir, &s, &err), 0);
	assert_int_equal(store_txn_begin(s, &t, &err), 0);
	assert_int_equal(store_head_get(t, "t1", "survivor", 0, &h, &err), 0);
	assert_int_equal(h.current, 1);
	store_head_free(&h);
	store_txn_abort(t);
	store_close(s);
	rm_rf(dir);
}

static void meta_round_trips(void **state)
{
	struct fixture *f = *state;
	struct store_txn *t;
	struct sd_err err;
	char *v = NULL;

	assert_int_equal(store_txn_begin(f->s, &t, &err), 0);
	assert_int_equal(store_meta_get(t, "kek/x", &v, &err), SD_ENOTFOUND);
	assert_int_equal(store_meta_put(t, "kek/x", "{\"state\":\"active\"}", &err), 0);
	assert_int_equal(store_meta_get(t, "kek/x", &v, &err), 0);
	assert_string_equal(v, "{\"state\":\"active\"}");
	free(v);
	assert_int_equal(store_txn_commit(t, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(head_and_version_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(other_tenant_sees_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(heads_listed_by_prefix_and_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(owner_index_follows_heads, setup, teardown),
		cmocka_unit_test_setup_teardown(aborted_transaction_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(meta_round_trips, setup, teardown),
		cmocka_unit_test(committed_write_survives_sigkill),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
