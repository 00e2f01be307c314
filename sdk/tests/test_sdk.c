/* test_sdk.c — unit tests for libsecretsd_sdk (cmocka).
 *
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -Isdk/include sdk/tests/test_sdk.c \
 *      build/libsecretsd_sdk.a $(pkg-config --libs cmocka) -o build/tests/test_sdk
 */
#include <secretsd/sdk.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* --- a PostgreSQL-like escape function for the template tests -------------- */

static char *
pg_like_esc(void *arg, const char *key, const char *value, char quote)
{
	int *calls = arg;

	if (calls != NULL)
		(*calls)++;
	if (quote == 0)
		return sdk_quote_double(value, strcmp(key, "name") == 0 ? '"' : '\'');
	if (quote == '\'' || quote == '"')
		return sdk_escape_double(value, quote);
	return NULL;
}

/* MySQL-like: backslash-escape quotes and backslashes. */
static char *
my_like_esc(void *arg, const char *key, const char *value, char quote)
{
	size_t i, j = 0, n = strlen(value);
	char *d = malloc(2 * n + 3);

	(void)arg;
	(void)key;
	if (d == NULL)
		return NULL;
	if (quote == 0)
		d[j++] = '\'';
	for (i = 0; i < n; i++) {
		if (value[i] == '\'' || value[i] == '"' || value[i] == '\\')
			d[j++] = '\\';
		d[j++] = value[i];
	}
	if (quote == 0)
		d[j++] = '\'';
	d[j] = '\0';
	return d;
}

static const struct sd_kv vars[] = {
	{"name", "sd_app_abc"},
	{"password", "Pa55word"},
	{"expiration", "2026-11-29 12:00:00+00"},
	{NULL, NULL},
};

static void
render_ok(const char *tmpl, const struct sd_kv *v, const char *want)
{
	char err[256] = "", *out = NULL;

	assert_int_equal(sdk_template(tmpl, v, pg_like_esc, NULL, &out, err, sizeof(err)), 0);
	assert_non_null(out);
	assert_string_equal(out, want);
	sdk_str_free(out);
}

static void
test_template_quoted(void **st)
{
	(void)st;
	render_ok("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL "
		  "'{{expiration}}'",
		  vars,
		  "CREATE ROLE \"sd_app_abc\" WITH LOGIN PASSWORD 'Pa55word' VALID UNTIL "
		  "'2026-11-29 12:00:00+00'");
	/* inside a longer literal: still single-quote context */
	render_ok("COMMENT ON ROLE \"{{name}}\" IS 'lease for {{name}} until {{expiration}}'", vars,
		  "COMMENT ON ROLE \"sd_app_abc\" IS 'lease for sd_app_abc until 2026-11-29 "
		  "12:00:00+00'");
	/* spaces inside the braces */
	render_ok("GRANT x TO \"{{ name }}\"", vars, "GRANT x TO \"sd_app_abc\"");
}

static void
test_template_bare(void **st)
{
	(void)st;
	render_ok("CREATE ROLE {{name}} PASSWORD {{password}}", vars,
		  "CREATE ROLE \"sd_app_abc\" PASSWORD 'Pa55word'");
	render_ok("no placeholders at all", vars, "no placeholders at all");
	render_ok("", vars, "");
}

static void
test_template_unknown(void **st)
{
	char err[256] = "", *out = (char *)1;

	(void)st;
	assert_int_equal(sdk_template("DROP ROLE \"{{nmae}}\"", vars, pg_like_esc, NULL, &out, err,
				      sizeof(err)),
			 -1);
	assert_null(out);
	assert_non_null(strstr(err, "{{nmae}}"));

	assert_int_equal(sdk_template("DROP ROLE {{name", vars, pg_like_esc, NULL, &out, err,
				      sizeof(err)),
			 -1);
	assert_int_equal(sdk_template("DROP ROLE {{}}", vars, pg_like_esc, NULL, &out, err,
				      sizeof(err)),
			 -1);
}

static void
test_template_injection(void **st)
{
	static const struct sd_kv evil[] = {
		{"name", "x\"; DROP TABLE t; --"},
		{"password", "a'b\\c'; DROP ROLE postgres; --"},
		{NULL, NULL},
	};
	char err[256] = "", *out = NULL;

	(void)st;
	render_ok("CREATE ROLE \"{{name}}\" PASSWORD '{{password}}'", evil,
		  "CREATE ROLE \"x\"\"; DROP TABLE t; --\" PASSWORD 'a''b\\c''; DROP ROLE postgres; --'");
	render_ok("CREATE ROLE {{name}} PASSWORD {{password}}", evil,
		  "CREATE ROLE \"x\"\"; DROP TABLE t; --\" PASSWORD 'a''b\\c''; DROP ROLE postgres; --'");

	/* the rendered statement is still one statement */
	{
		char **s = NULL;
		size_t n = 0;
		assert_int_equal(sdk_template("CREATE ROLE \"{{name}}\" PASSWORD '{{password}}'", evil,
					      pg_like_esc, NULL, &out, err, sizeof(err)),
				 0);
		assert_int_equal(sdk_split_statements(out, &s, &n), 0);
		assert_int_equal(n, 1);
		sdk_statements_free(s, n);
		sdk_str_free(out);
	}

	/* MySQL dialect: backslash-escaped */
	assert_int_equal(sdk_template_ex("CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
					 SDK_SQL_MYSQL, evil, my_like_esc, NULL, &out, err,
					 sizeof(err)),
			 0);
	assert_string_equal(out, "CREATE USER 'x\\\"; DROP TABLE t; --'@'%' IDENTIFIED BY "
				 "'a\\'b\\\\c\\'; DROP ROLE postgres; --'");
	{
		char **s = NULL;
		size_t n = 0;
		assert_int_equal(sdk_split_statements_ex(out, SDK_SQL_MYSQL, &s, &n), 0);
		assert_int_equal(n, 1);
		sdk_statements_free(s, n);
	}
	sdk_str_free(out);

	/* the error names the placeholder, never the value */
	{
		static const struct sd_kv v2[] = {{"password", "s3cret-value"}, {NULL, NULL}};
		assert_int_equal(sdk_template("ALTER ROLE x PASSWORD $${{password}}$$ -- {{password}}",
					      v2, pg_like_esc, NULL, &out, err, sizeof(err)),
				 -1);
		assert_null(strstr(err, "s3cret"));
		assert_non_null(strstr(err, "comment"));
	}
}

static void
test_template_context(void **st)
{
	char err[256] = "", *out = NULL;
	static const struct sd_kv dv[] = {{"name", "a$$b"}, {"password", "pw"}, {NULL, NULL}};

	(void)st;
	/* a doubled quote inside a literal does not end it */
	render_ok("SELECT 'it''s {{name}}'", vars, "SELECT 'it''s sd_app_abc'");
	/* after a literal closes we are bare again */
	render_ok("SELECT 'x', {{name}}", vars, "SELECT 'x', \"sd_app_abc\"");
	/* inside a dollar-quoted body: SQL context, inner quotes tracked */
	render_ok("DO $$BEGIN EXECUTE format('ALTER ROLE %I', '{{name}}'); END$$", vars,
		  "DO $$BEGIN EXECUTE format('ALTER ROLE %I', 'sd_app_abc'); END$$");
	render_ok("DO $f$BEGIN PERFORM {{password}}; END$f$", vars,
		  "DO $f$BEGIN PERFORM 'Pa55word'; END$f$");
	/* a value that would close the dollar quote is refused */
	assert_int_equal(sdk_template("DO $$ SELECT '{{name}}' $$", dv, pg_like_esc, NULL, &out, err,
				      sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "dollar"));
	/* placeholders in comments are refused */
	assert_int_equal(sdk_template("SELECT 1 /* {{name}} */", vars, pg_like_esc, NULL, &out, err,
				      sizeof(err)),
			 -1);
	/* a $ inside an identifier does not open a dollar quote */
	render_ok("SELECT a$b$ FROM t WHERE x = '{{name}}'", vars,
		  "SELECT a$b$ FROM t WHERE x = 'sd_app_abc'");
	/* backtick context (MySQL) */
	{
		static const struct sd_kv bv[] = {{"name", "a`b"}, {NULL, NULL}};
		assert_int_equal(sdk_template_ex("GRANT ALL ON `{{name}}`.* TO x", SDK_SQL_MYSQL, bv,
						 pg_like_esc, NULL, &out, err, sizeof(err)),
				 -1); /* pg_like_esc refuses '`' */
	}
}

static void
test_split(void **st)
{
	char **s = NULL;
	size_t n = 0;

	(void)st;
	assert_int_equal(sdk_split_statements("CREATE ROLE a; GRANT x TO a;", &s, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0], "CREATE ROLE a");
	assert_string_equal(s[1], "GRANT x TO a");
	sdk_statements_free(s, n);

	assert_int_equal(sdk_split_statements(" SELECT 'a;b'; SELECT \"c;d\" ;\n\n", &s, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0], "SELECT 'a;b'");
	assert_string_equal(s[1], "SELECT \"c;d\"");
	sdk_statements_free(s, n);

	assert_int_equal(
	    sdk_split_statements("DO $$ BEGIN PERFORM 1; PERFORM 2; END $$; SELECT 'it''s;'", &s, &n),
	    0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0], "DO $$ BEGIN PERFORM 1; PERFORM 2; END $$");
	assert_string_equal(s[1], "SELECT 'it''s;'");
	sdk_statements_free(s, n);

	assert_int_equal(sdk_split_statements("DO $body$ x; $$ y; $body$;z", &s, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0], "DO $body$ x; $$ y; $body$");
	assert_string_equal(s[1], "z");
	sdk_statements_free(s, n);

	/* empties and comments */
	assert_int_equal(sdk_split_statements("", &s, &n), 0);
	assert_int_equal(n, 0);
	assert_null(s);
	assert_int_equal(sdk_split_statements(" ; ;;\n", &s, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sdk_split_statements("-- only; a comment\n; /* and ; this */ ;", &s, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sdk_split_statements("SELECT 1 -- one; two\n; SELECT /* ; */ 2", &s, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0], "SELECT 1 -- one; two");
	assert_string_equal(s[1], "SELECT /* ; */ 2");
	sdk_statements_free(s, n);

	/* unterminated */
	assert_int_equal(sdk_split_statements("SELECT 'abc; x", &s, &n), -1);
	assert_int_equal(sdk_split_statements("DO $$ abc; x", &s, &n), -1);
	assert_int_equal(sdk_split_statements("SELECT /* abc; x", &s, &n), -1);

	/* MySQL: backslash escapes, backticks, # comments */
	assert_int_equal(sdk_split_statements_ex("SELECT 'a\\';b'; SELECT `x;y`; # c;\nSELECT 3",
						 SDK_SQL_MYSQL, &s, &n),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(s[0], "SELECT 'a\\';b'");
	assert_string_equal(s[1], "SELECT `x;y`");
	assert_string_equal(s[2], "# c;\nSELECT 3");
	sdk_statements_free(s, n);
	/* no dollar quotes in MySQL */
	assert_int_equal(sdk_split_statements_ex("SELECT $$; SELECT 2", SDK_SQL_MYSQL, &s, &n), 0);
	assert_int_equal(n, 2);
	sdk_statements_free(s, n);
}

static void
test_username(void **st)
{
	char a[128], b[128];
	const char *lease = "0123456789abcdefghijklmn"; /* 24 */
	int n;

	(void)st;
	n = sdk_username(a, sizeof(a), "sd", "App-Readonly", lease, 63);
	assert_int_equal(n, (int)strlen("sd_app_readonly_0123456789abcdefghijklmn"));
	assert_string_equal(a, "sd_app_readonly_0123456789abcdefghijklmn");

	/* determinism */
	assert_int_equal(sdk_username(b, sizeof(b), "sd", "App-Readonly", lease, 63), n);
	assert_string_equal(a, b);

	/* long role, PostgreSQL limit 63: truncated, lease id whole */
	n = sdk_username(a, sizeof(a), "sd",
			 "a_very_long_role_name_that_goes_on_and_on_and_on_forever_and_ever", lease,
			 63);
	assert_true(n > 0 && n <= 63);
	assert_int_equal(strlen(a), 63);
	assert_string_equal(a + 63 - 24, lease);
	assert_memory_equal(a, "sd_a_very_long_role", 19);

	/* MySQL limit 32: "sd_" + "_" + 24 leave 4 role characters */
	n = sdk_username(a, sizeof(a), "sd", "readonly", lease, 32);
	assert_int_equal(n, 32);
	assert_string_equal(a, "sd_read_0123456789abcdefghijklmn");
	n = sdk_username(a, sizeof(a), "sd", "ro", lease, 32);
	assert_string_equal(a, "sd_ro_0123456789abcdefghijklmn");
	assert_true(n <= 32);

	/* no room for any role character: role dropped */
	n = sdk_username(a, sizeof(a), "sd", "readonly", lease, 28);
	assert_string_equal(a, "sd_0123456789abcdefghijklmn");
	/* prefix + lease id alone too long */
	assert_int_equal(sdk_username(a, sizeof(a), "a_long_prefix", "r", lease, 32), -1);
	/* bad lease ids */
	assert_int_equal(sdk_username(a, sizeof(a), "sd", "r", "ABC", 63), -1);
	assert_int_equal(sdk_username(a, sizeof(a), "sd", "r", "a\"b", 63), -1);
	assert_int_equal(sdk_username(a, sizeof(a), "sd", "r", "", 63), -1);
	/* maxlen must fit the buffer */
	assert_int_equal(sdk_username(a, 32, "sd", "r", lease, 32), -1);
	/* no prefix, no role */
	assert_int_equal(sdk_username(a, sizeof(a), NULL, NULL, lease, 63), 24);
	assert_string_equal(a, lease);
	/* sanitising */
	sdk_username(a, sizeof(a), "SD", "r\"; DROP", lease, 63);
	assert_string_equal(a, "sd_r___drop_0123456789abcdefghijklmn");

	/* from the role kv */
	{
		static const struct sd_kv role[] = {{"creation_statements", "x"},
						    {"role", "readonly"},
						    {NULL, NULL}};
		assert_int_equal(sdk_username_for_lease(a, sizeof(a), "sd", role, lease, 63),
				 (int)strlen("sd_readonly_0123456789abcdefghijklmn"));
		assert_string_equal(a, "sd_readonly_0123456789abcdefghijklmn");
		sdk_username_for_lease(b, sizeof(b), "sd", NULL, lease, 63);
		assert_string_equal(b, "sd_0123456789abcdefghijklmn");
	}
}

static void
test_kv(void **st)
{
	static const struct sd_kv in[] = {{"a", "1"},    {"n", "-42"},  {"b", "TRUE"},
					  {"d", "90d"},  {"bad", "x1"}, {"h", "12h"},
					  {"m", "30m"},  {"s", "3600"}, {NULL, NULL}};
	struct sd_kv *kv;
	int64_t v;
	int bv;

	(void)st;
	assert_string_equal(sdk_kv_get(in, "a"), "1");
	assert_null(sdk_kv_get(in, "zz"));
	assert_null(sdk_kv_get(NULL, "a"));
	assert_int_equal(sdk_kv_get_int(in, "n", 0, &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(sdk_kv_get_int(in, "zz", 7, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(sdk_kv_get_int(in, "bad", 0, &v), -1);
	assert_int_equal(sdk_kv_get_bool(in, "b", 0, &bv), 0);
	assert_int_equal(bv, 1);
	assert_int_equal(sdk_kv_get_bool(in, "bad", 0, &bv), -1);
	assert_int_equal(sdk_kv_get_duration(in, "d", 0, &v), 0);
	assert_int_equal(v, 90 * 86400);
	assert_int_equal(sdk_kv_get_duration(in, "h", 0, &v), 0);
	assert_int_equal(v, 12 * 3600);
	assert_int_equal(sdk_kv_get_duration(in, "m", 0, &v), 0);
	assert_int_equal(v, 1800);
	assert_int_equal(sdk_kv_get_duration(in, "s", 0, &v), 0);
	assert_int_equal(v, 3600);
	assert_int_equal(sdk_kv_get_duration(in, "n", 0, &v), -1);
	assert_int_equal(sdk_parse_duration("d", &v), -1);
	assert_int_equal(sdk_parse_duration("99999999999999999999", &v), -1);
	assert_int_equal(sdk_parse_int(" 1", &v), -1);
	assert_int_equal(sdk_parse_int("", &v), -1);

	kv = sdk_kv_new(3);
	assert_non_null(kv);
	assert_null(kv[0].key);
	assert_int_equal(sdk_kv_set(kv, 0, "username", "u"), 0);
	assert_int_equal(sdk_kv_set(kv, 1, "password", "p1"), 0);
	assert_int_equal(sdk_kv_set(kv, 1, "password", "p2"), 0); /* replace */
	assert_int_equal(sdk_kv_set(kv, 3, "x", "y"), -1);        /* out of range */
	assert_string_equal(sdk_kv_get(kv, "password"), "p2");
	assert_null(kv[2].key);
	assert_null(kv[3].key); /* terminator */
	sdk_kv_free(kv);
	sdk_kv_free(NULL);
	sdk_str_free(NULL);
	assert_null(sdk_kv_new(SDK_KV_MAX + 1));
}

static void
test_time(void **st)
{
	char b[32];

	(void)st;
	/* 2026-11-29 12:00:00 UTC */
	assert_int_equal(sdk_time_utc(INT64_C(1795953600) * 1000000 + 999999, b, sizeof(b)), 0);
	assert_string_equal(b, "2026-11-29 12:00:00+00");
	assert_int_equal(sdk_time_iso(INT64_C(1795953600) * 1000000, b, sizeof(b)), 0);
	assert_string_equal(b, "2026-11-29T12:00:00Z");
	assert_int_equal(sdk_time_utc(0, b, sizeof(b)), 0);
	assert_string_equal(b, "1970-01-01 00:00:00+00");
	assert_int_equal(sdk_time_utc(-1, b, sizeof(b)), 0);
	assert_string_equal(b, "1969-12-31 23:59:59+00");
	assert_int_equal(sdk_time_utc(0, b, 10), -1);
}

static void
test_err_redact(void **st)
{
	char b[64], m[128];

	(void)st;
	sdk_err(b, sizeof(b), "x=%d %s", 3, "y");
	assert_string_equal(b, "x=3 y");
	sdk_err(b, 4, "%s", "abcdef");
	assert_string_equal(b, "abc");
	sdk_err(NULL, 0, "nothing");

	snprintf(m, sizeof(m), "%s", "failed for 'hunter22' near hunter22.");
	sdk_redact(m, "hunter22");
	assert_string_equal(m, "failed for '***' near ***.");
	snprintf(m, sizeof(m), "%s", "ab ab");
	sdk_redact(m, "ab");
	assert_string_equal(m, "** **");
	sdk_redact(m, "");
	sdk_redact(m, NULL);
}

static void
test_url(void **st)
{
	struct sdk_url u;
	char err[128], k[32], v[32];
	size_t pos = 0;

	(void)st;
	assert_int_equal(sdk_url_parse("postgresql://root:p%40ss%3Aw@127.0.0.1:5432/postgres?"
				       "sslmode=disable&x=a%20b",
				       &u, err, sizeof(err)),
			 0);
	assert_string_equal(u.scheme, "postgresql");
	assert_string_equal(u.user, "root");
	assert_string_equal(u.password, "p@ss:w");
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 5432);
	assert_string_equal(u.path, "postgres");
	assert_int_equal(sdk_query_next(u.query, &pos, k, sizeof(k), v, sizeof(v)), 1);
	assert_string_equal(k, "sslmode");
	assert_string_equal(v, "disable");
	assert_int_equal(sdk_query_next(u.query, &pos, k, sizeof(k), v, sizeof(v)), 1);
	assert_string_equal(v, "a b");
	assert_int_equal(sdk_query_next(u.query, &pos, k, sizeof(k), v, sizeof(v)), 0);
	sdk_url_free(&u);

	assert_int_equal(sdk_url_parse("mysql://[::1]:3306/", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 3306);
	assert_string_equal(u.user, "");
	assert_string_equal(u.path, "");
	sdk_url_free(&u);

	assert_int_equal(sdk_url_parse("mysql://u:secretpw@h:99999/", &u, err, sizeof(err)), -1);
	assert_null(strstr(err, "secretpw"));
	assert_int_equal(sdk_url_parse("mysql://u:bad%zz@h/", &u, err, sizeof(err)), -1);
	assert_int_equal(sdk_url_parse("nourl", &u, err, sizeof(err)), -1);
}

/* --- a fake host for the deadline helpers ----------------------------------- */

static int64_t fake_now = 1000000;
static int64_t fake_deadline = 1000000;

static int64_t
fake_now_us(void)
{
	return fake_now;
}

static int
fake_cancelled(const struct sd_call *c)
{
	(void)c;
	return fake_now > fake_deadline;
}

static int64_t
fake_deadline_us(const struct sd_call *c)
{
	(void)c;
	return fake_deadline;
}

static void
test_deadline(void **st)
{
	struct sd_host h = {.abi_major = 1, .struct_size = sizeof(h), .now_us = fake_now_us,
			    .cancelled = fake_cancelled, .deadline_us = fake_deadline_us};
	char err[64] = "";
	struct sd_call call = {.struct_size = sizeof(call), .err = err, .err_cap = sizeof(err)};

	(void)st;
	fake_now = 1000000;
	fake_deadline = fake_now + 2500000;
	assert_int_equal(sdk_remaining_ms(&h, &call), 2500);
	assert_int_equal(sdk_sleep_ms(&h, &call, 0), 0);
	assert_int_equal(sdk_sleep_ms(&h, &call, 30), 0);
	fake_deadline = fake_now - 1;
	assert_int_equal(sdk_remaining_ms(&h, &call), 0);
	assert_int_equal(sdk_sleep_ms(&h, &call, 10000), SD_PTIMEOUT); /* returns at once */
	assert_non_null(strstr(err, "cancelled"));
}

/* --- connection pool --------------------------------------------------------- */

static int pool_opened, pool_closed, pool_connect_rc;

static int
pool_connect(void *arg, void **conn)
{
	(void)arg;
	if (pool_connect_rc != SD_POK)
		return pool_connect_rc;
	*conn = malloc(1);
	pool_opened++;
	return SD_POK;
}

static void
pool_close(void *conn)
{
	free(conn);
	pool_closed++;
}

static void
test_pool_reuses_opens_up_to_max_and_times_out_when_full(void **st)
{
	struct sd_host h = {.abi_major = 1, .struct_size = sizeof(h), .now_us = fake_now_us,
			    .cancelled = fake_cancelled, .deadline_us = fake_deadline_us};
	char err[128] = "";
	struct sd_call call = {.struct_size = sizeof(call), .err = err, .err_cap = sizeof(err)};
	struct sdk_pool p;
	void *a, *b, *c;
	int reused = -1;

	(void)st;
	fake_now = 1000000;
	fake_deadline = fake_now + 1000000;
	pool_opened = pool_closed = 0;
	pool_connect_rc = SD_POK;
	sdk_pool_init(&p, 2);
	assert_int_equal(sdk_pool_acquire(&p, &h, &call, "db", pool_connect, NULL, &a, &reused), SD_POK);
	assert_int_equal(reused, 0);
	assert_int_equal(sdk_pool_acquire(&p, &h, &call, "db", pool_connect, NULL, &b, &reused), SD_POK);
	assert_int_equal(pool_opened, 2);
	/* both in use, the call's time is up: no third connection */
	fake_deadline = fake_now - 1;
	assert_int_equal(sdk_pool_acquire(&p, &h, &call, "db", pool_connect, NULL, &c, &reused),
			 SD_PTIMEOUT);
	assert_null(c);
	assert_non_null(strstr(err, "db: no free connection"));
	/* a released connection is reused, a closed one frees its slot */
	sdk_pool_release(&p, a);
	assert_int_equal(sdk_pool_acquire(&p, &h, &call, "db", pool_connect, NULL, &c, &reused), SD_POK);
	assert_ptr_equal(c, a);
	assert_int_equal(reused, 1);
	pool_close(b);
	sdk_pool_release(&p, NULL);
	pool_connect_rc = SD_PDOWN; /* a failed connect gives its slot back too */
	assert_int_equal(sdk_pool_acquire(&p, &h, &call, "db", pool_connect, NULL, &b, &reused), SD_PDOWN);
	assert_null(b);
	pool_connect_rc = SD_POK;
	assert_int_equal(sdk_pool_acquire(&p, &h, &call, "db", pool_connect, NULL, &b, &reused), SD_POK);
	sdk_pool_release(&p, b);
	sdk_pool_release(&p, c);
	sdk_pool_destroy(&p, pool_close);
	assert_int_equal(pool_closed, pool_opened);
}

static char *
plain_esc(void *arg, const char *key, const char *value, char quote)
{
	(void)arg;
	(void)key;
	(void)quote;
	return sdk_strdup(value);
}

static void
test_check_sql_role_names_the_setting_and_statement(void **st)
{
	const struct sd_kv ok[] = {{"creation_statements", "CREATE ROLE {{name}} PASSWORD '{{password}}' "
							   "VALID UNTIL '{{expiration}}'; GRANT x TO {{name}}"},
				   {"revocation_statements", "DROP ROLE {{name}}"}, {NULL, NULL}};
	const struct sd_kv missing[] = {{"renew_statements", "SELECT 1"}, {NULL, NULL}};
	const struct sd_kv bad[] = {{"creation_statements", "CREATE ROLE {{name}}"},
				    {"rotation_statements", "ALTER ROLE {{name}}; SELECT {{expiration}}"},
				    {NULL, NULL}};
	char err[200];

	(void)st;
	assert_int_equal(sdk_check_sql_role(ok, SDK_SQL_POSTGRES, plain_esc, err, sizeof(err)), SD_POK);
	assert_int_equal(sdk_check_sql_role(missing, SDK_SQL_MYSQL, plain_esc, err, sizeof(err)), SD_PINVAL);
	assert_string_equal(err, "creation_statements is required");
	assert_int_equal(sdk_check_sql_role(bad, SDK_SQL_POSTGRES, plain_esc, err, sizeof(err)), SD_PINVAL);
	assert_non_null(strstr(err, "rotation_statements, statement 2: "));
	assert_non_null(strstr(err, "expiration"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_quoted),  cmocka_unit_test(test_template_bare),
		cmocka_unit_test(test_template_unknown), cmocka_unit_test(test_template_injection),
		cmocka_unit_test(test_template_context), cmocka_unit_test(test_split),
		cmocka_unit_test(test_username),         cmocka_unit_test(test_kv),
		cmocka_unit_test(test_time),             cmocka_unit_test(test_err_redact),
		cmocka_unit_test(test_url),              cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_pool_reuses_opens_up_to_max_and_times_out_when_full),
		cmocka_unit_test(test_check_sql_role_names_the_setting_and_statement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
