/* test_parsers.c — strict base64, path rules, strict JSON, durations and the
 * serve config file. */
#include "testutil.h"

#include <errno.h>
#include <unistd.h>

#include "b64.h"
#include "config.h"
#include "jsonx.h"
#include "path.h"
#include "util.h"

static int dec(const char *s, size_t *n)
{
	unsigned char out[256];
	return b64_decode(s, strlen(s), out, n);
}

static void base64_accepts_only_strict_padded_input(void **state)
{
	size_t n;
	unsigned char out[64];
	char enc[64];

	(void)state;
	assert_int_equal(dec("czNjcjN0", &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(dec("", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dec("YQ==", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dec("YWI=", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(dec("YQ", &n), -1);      /* missing padding */
	assert_int_equal(dec("YR==", &n), -1);    /* non-zero trailing bits */
	assert_int_equal(dec("YW J=", &n), -1);   /* whitespace */
	assert_int_equal(dec("YWI=\n", &n), -1);
	assert_int_equal(dec("_-8=", &n), -1);    /* url alphabet */
	assert_int_equal(dec("Y===", &n), -1);
	assert_int_equal(dec("====", &n), -1);
	assert_int_equal(dec("YQ==YQ==", &n), -1); /* padding in the middle */
	assert_int_equal(b64url_decode("_-8", 3, out, &n), 0);
	assert_int_equal(b64url_decode("_-8=", 4, out, &n), -1);
	assert_int_equal(b64url_decode("+/8", 3, out, &n), -1);
	b64_encode((const unsigned char *)"s3cr3t", 6, enc);
	assert_string_equal(enc, "czNjcjN0");
	b64url_encode((const unsigned char *)"\xff\xfe", 2, enc);
	assert_string_equal(enc, "__4");
}

static void path_rules_refuse_traversal_and_odd_characters(void **state)
{
	struct sd_err err;
	char deep[200] = "", longp[600];

	(void)state;
	assert_int_equal(path_check("db/password", &err), 0);
	assert_int_equal(path_check("a.b_c-D/9", &err), 0);
	assert_int_equal(path_check("", &err), SD_EINVAL);
	assert_int_equal(path_check("a//b", &err), SD_EINVAL);
	assert_int_equal(path_check("/a", &err), SD_EINVAL);
	assert_int_equal(path_check("a/", &err), SD_EINVAL);
	assert_int_equal(path_check("a/../b", &err), SD_EINVAL);
	assert_int_equal(path_check("./a", &err), SD_EINVAL);
	assert_int_equal(path_check("..", &err), SD_EINVAL);
	assert_int_equal(path_check("a/...", &err), 0);
	assert_int_equal(path_check("a b", &err), SD_EINVAL);
	assert_int_equal(path_check("a%2e", &err), SD_EINVAL);
	assert_int_equal(path_check("a\\b", &err), SD_EINVAL);
	for (int i = 0; i < 32; i++)
		strcat(deep, i ? "/x" : "x");
	assert_int_equal(path_check(deep, &err), 0);
	strcat(deep, "/x");
	assert_int_equal(path_check(deep, &err), SD_EINVAL);
	memset(longp, 'a', 512);
	longp[512] = '\0';
	assert_int_equal(path_check(longp, &err), 0);
	longp[512] = 'a';
	longp[513] = '\0';
	assert_int_equal(path_check(longp, &err), SD_EINVAL);
}

static void json_refuses_duplicates_depth_and_non_objects(void **state)
{
	struct sd_err err;
	json_t *j = NULL;
	char deep[100];

	(void)state;
	assert_int_equal(jsonx_parse_object("{\"a\":1}", 7, &j, &err), 0);
	json_decref(j);
	assert_int_equal(jsonx_parse_object("{\"a\":1,\"a\":2}", 13, &j, &err), SD_EINVAL);
	assert_int_equal(jsonx_parse_object("[1]", 3, &j, &err), SD_EINVAL);
	assert_int_equal(jsonx_parse_object("{} x", 4, &j, &err), SD_EINVAL);
	assert_int_equal(jsonx_parse_object("", 0, &j, &err), SD_EINVAL);
	/* 32 levels are fine, 33 are not; brackets inside strings do not count */
	memset(deep, '[', 31);
	deep[31] = '\0';
	char ok[200];
	snprintf(ok, sizeof(ok), "{\"a\":%s%s}", deep, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	assert_int_equal(jsonx_parse_object(ok, strlen(ok), &j, &err), 0);
	json_decref(j);
	snprintf(ok, sizeof(ok), "{\"a\":[%s%s]}", deep, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	assert_int_equal(jsonx_parse_object(ok, strlen(ok), &j, &err), SD_EINVAL);
	const char *instr = "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[\"}";
	assert_int_equal(jsonx_parse_object(instr, strlen(instr), &j, &err), 0);
	json_decref(j);
}

static void durations_parse_units(void **state)
{
	int64_t s;

	(void)state;
	assert_int_equal(sd_parse_duration("3600", &s), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(sd_parse_duration("90d", &s), 0);
	assert_int_equal(s, 90 * 86400);
	assert_int_equal(sd_parse_duration("12h", &s), 0);
	assert_int_equal(s, 12 * 3600);
	assert_int_equal(sd_parse_duration("30m", &s), 0);
	assert_int_equal(s, 1800);
	assert_int_equal(sd_parse_duration("-1", &s), -1);
	assert_int_equal(sd_parse_duration("1.5h", &s), -1);
	assert_int_equal(sd_parse_duration("h", &s), -1);
	assert_int_equal(sd_parse_duration("", &s), -1);
	assert_int_equal(sd_parse_duration("99999999999999999999d", &s), -1);
}

static const char *write_file(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/sd-unit-cfg-XXXXXX");
	int fd = mkstemp(path);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void config_file_errors_name_file_and_line(void **state)
{
	struct sd_config c;
	struct sd_err err;
	const char *p;
	char want[128];

	(void)state;
	config_defaults(&c);
	p = write_file("[server]\nlisten = 127.0.0.1:9000\n[auth]\nbogus = 1\n");
	assert_int_equal(config_load(&c, p, &err), SD_EINVAL);
	snprintf(want, sizeof(want), "%s:4: unknown key 'bogus' in [auth]", p);
	assert_string_equal(err.msg, want);
	unlink(p);

	config_defaults(&c);
	p = write_file("[server]\nthreads = lots\n");
	assert_int_equal(config_load(&c, p, &err), SD_EINVAL);
	snprintf(want, sizeof(want), "%s:2: threads must be", p);
	assert_memory_equal(err.msg, want, strlen(want));
	unlink(p);

	config_defaults(&c);
	p = write_file("[nope]\na = b\n");
	assert_int_equal(config_load(&c, p, &err), SD_EINVAL);
	snprintf(want, sizeof(want), "%s:2: unknown section [nope]", p);
	assert_string_equal(err.msg, want);
	unlink(p);

	config_defaults(&c);
	p = write_file("[server]\nthis line is not ini\n");
	assert_int_equal(config_load(&c, p, &err), SD_EINVAL);
	snprintf(want, sizeof(want), "%s:2: syntax error", p);
	assert_memory_equal(err.msg, want, strlen(want));
	unlink(p);
}

static void config_file_sets_values(void **state)
{
	struct sd_config c;
	struct sd_err err;
	const char *p;

	(void)state;
	config_defaults(&c);
	p = write_file("[server]\nlisten = 0.0.0.0:9443\ndata_dir = /var/lib/sd\nthreads = 3\n"
		       "[auth]\njwks_file = /etc/jwks.json\nissuer = https://access\naudience = secretsd\n"
		       "leeway_s = 10\n[limits]\nmax_body_bytes = 2048\nrate_limit = 5:7\n"
		       "[secrets]\nmax_versions = 3\ndefault_lease_ttl = 2h\n");
	assert_int_equal(config_load(&c, p, &err), 0);
	unlink(p);
	assert_string_equal(c.listen, "0.0.0.0:9443");
	assert_string_equal(c.data_dir, "/var/lib/sd");
	assert_int_equal(c.threads, 3);
	assert_int_equal(c.leeway_s, 10);
	assert_int_equal(c.max_body_bytes, 2048);
	assert_int_equal(c.rate_burst, 7);
	assert_int_equal(c.max_versions, 3);
	assert_int_equal(c.default_lease_ttl_s, 7200);
	assert_int_equal(config_finish(&c, &err), 0);
	/* serve without an issuer is refused */
	config_defaults(&c);
	assert_int_equal(config_finish(&c, &err), SD_EINVAL);
}

/* The reaper and checkpoint threads sleep on these: the deadline and the
 * condition variable must use the same (monotonic) clock, or a wait ends at
 * once (or, after a wall-clock step back, far too late). A timed wait never
 * ends before its deadline, so the lower bound cannot fail spuriously. */
static void monotonic_timed_wait_lasts_until_its_deadline(void **state)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	struct timespec ts;
	uint64_t t0;
	int rc;

	(void)state;
	assert_int_equal(sd_cond_init_mono(&cv), 0);
	pthread_mutex_lock(&mu);
	t0 = sd_mono_ns();
	sd_mono_deadline(&ts, 50);
	do
		rc = pthread_cond_timedwait(&cv, &mu, &ts);
	while (rc == 0); /* a spurious wake-up */
	assert_int_equal(rc, ETIMEDOUT);
	assert_true(sd_mono_ns() - t0 >= 50000000ull);
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cv);
	/* the deadline's nanoseconds stay normalised */
	for (int64_t ms = 0; ms < 2000; ms += 7) {
		sd_mono_deadline(&ts, ms);
		assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
	}
}

static void rate_limit_option_parses(void **state)
{
	double r;
	int b;

	(void)state;
	assert_int_equal(config_parse_rate("10", &r, &b), 0);
	assert_true(r == 10.0);
	assert_int_equal(b, 20);
	assert_int_equal(config_parse_rate("5:9", &r, &b), 0);
	assert_int_equal(b, 9);
	assert_int_equal(config_parse_rate("0", &r, &b), 0);
	assert_true(r == 0.0);
	assert_int_equal(config_parse_rate("-1", &r, &b), -1);
	assert_int_equal(config_parse_rate("x", &r, &b), -1);
	assert_int_equal(config_parse_rate("5:", &r, &b), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base64_accepts_only_strict_padded_input),
		cmocka_unit_test(path_rules_refuse_traversal_and_odd_characters),
		cmocka_unit_test(json_refuses_duplicates_depth_and_non_objects),
		cmocka_unit_test(durations_parse_units),
		cmocka_unit_test(config_file_errors_name_file_and_line),
		cmocka_unit_test(config_file_sets_values),
		cmocka_unit_test(rate_limit_option_parses),
		cmocka_unit_test(monotonic_timed_wait_lasts_until_its_deadline),
	};
	return cmocka_run_group_tests_name("parsers", tests, NULL, NULL);
}
