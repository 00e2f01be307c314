/* fuzz_config.c — the `serve` INI file (config_load over inih, config_set,
 * config_finish, core/config.c) and the --rate-limit / duration parsers.
 *
 * Input: one selector byte S, then the text T.
 *   S % 4 != 3   T is written to a file and loaded over the defaults, then
 *                finished; on success every limit is looked up for every
 *                class and for each configured tenant;
 *   S % 4 == 3   T (up to its first NUL) goes to config_parse_rate and
 *                sd_parse_duration.
 * Invariants: a refusal is SD_EINVAL with "FILE:LINE: reason" (or
 * "FILE: ...") in the message; an accepted file keeps every setting within
 * the ranges config.c documents; a parsed rate is finite, in [0, 1e9], with
 * a burst of at least 1 when no burst was given; a duration is in
 * [0, 100 years]. */
#include <math.h>

#include "fuzz_common.h"

#include "config.h"
#include "log.h"
#include "ratelimit.h"
#include "util.h"

static char file[PATH_MAX];
static struct ratelimit *RL;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level((enum log_level)(LOG_ERROR + 1));
	fz_stdin_null();
	fz_tmpdir("config");
	fz_path(file, sizeof(file), "secretsd.ini");
	RL = ratelimit_new();
	if (RL == NULL)
		fz_fail("ratelimit_new");
	return 0;
}

/* A rate the parser accepted, and what the limiter makes of it (a key
 * per rate, a few requests a second apart from a fixed time). */
static void check_rate(double rps, int burst, const char *what)
{
	struct rl_info info;
	char key[64];
	int64_t now = INT64_C(1700000000000000);

	/* without ":BURST" the burst is 2 * rps, so up to 2e9 */
	if (!isfinite(rps) || (rps < 0 && rps != -1) || rps > 1e9 || burst < 0 || burst > 2000000000)
		fz_fail("%s: rate %g burst %d out of range", what, rps, burst);
	if (rps <= 0)
		return;
	snprintf(key, sizeof(key), "%a/%d", rps, burst);
	for (int i = 0; i < 3; i++, now += 1000000) {
		(void)ratelimit_limited(RL, key, rps, burst, now);
		(void)ratelimit_take(RL, key, rps, burst, now, &info);
		if (info.limit < 1 || info.remaining < 0 || info.remaining > info.limit || info.reset_s < 0 ||
		    info.retry_after_s < 0)
			fz_fail("%s: ratelimit_take(rps %g, burst %d) gave limit %d remaining %d reset %d retry %d",
				what, rps, burst, info.limit, info.remaining, info.reset_s, info.retry_after_s);
	}
}

static void check_config(const struct sd_config *c)
{
	double rps;
	int burst;

	if (c->threads < 0 || c->threads > 256 || c->leeway_s < 0 || c->leeway_s > 300 ||
	    c->max_body_bytes < 1024 || c->max_body_bytes > 64 * 1024 * 1024 ||
	    c->max_header_bytes < 1024 || c->max_header_bytes > 1024 * 1024 ||
	    c->request_timeout_s < 1 || c->header_timeout_s < 1 || c->max_connections < 1 ||
	    c->default_lease_ttl_s <= 0 || c->max_versions < 1 || c->max_versions > 1000 ||
	    c->lease_call_timeout_ms < 100 || c->lease_retry_base_ms < 10 || c->reaper_interval_ms < 10 ||
	    c->log_level < LOG_DEBUG || c->log_level > LOG_ERROR)
		fz_fail("an accepted file left a setting out of its range");
	if (c->ntenants < 0 || c->ntenants > SD_TENANT_LIMITS_MAX)
		fz_fail("ntenants = %d", c->ntenants);
	if (memchr(c->listen, '\0', sizeof(c->listen)) == NULL ||
	    memchr(c->data_dir, '\0', sizeof(c->data_dir)) == NULL ||
	    memchr(c->issuer, '\0', sizeof(c->issuer)) == NULL ||
	    memchr(c->tenant_claim, '\0', sizeof(c->tenant_claim)) == NULL)
		fz_fail("a string setting is not terminated");
	check_rate(c->rate_rps, c->rate_burst, "rate_limit");
	for (int k = 0; k < RL_CLASSES; k++) {
		check_rate(c->class_rps[k], c->class_burst[k], rl_class_name(k));
		config_rate_for(c, NULL, k, &rps, &burst);
		check_rate(rps, burst, "config_rate_for");
		for (int t = 0; t < c->ntenants; t++) {
			if (memchr(c->tenants[t].name, '\0', sizeof(c->tenants[t].name)) == NULL ||
			    c->tenants[t].name[0] == '\0')
				fz_fail("tenant %d has a bad name", t);
			config_rate_for(c, c->tenants[t].name, k, &rps, &burst);
			check_rate(rps, burst, "config_rate_for(tenant)");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_config c;
	struct sd_err err;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] % 4 == 3) {
		char *s = fz_strndup(data + 1, size - 1);
		double rps = -2;
		int burst = -2;
		int64_t d = -2;
		if (config_parse_rate(s, &rps, &burst) == 0) {
			check_rate(rps, burst, s);
			if (strchr(s, ':') == NULL && burst < 1)
				fz_fail("rate '%s' without a burst gave burst %d", s, burst);
		}
		if (sd_parse_duration(s, &d) == 0 && (d < 0 || d > 3153600000LL))
			fz_fail("duration '%s' parsed as %lld", s, (long long)d);
		free(s);
		return 0;
	}
	fz_write_file(file, data + 1, size - 1, 0600);
	config_defaults(&c);
	sd_err_clear(&err);
	rc = config_load(&c, file, &err);
	if (rc != 0) {
		if (rc != SD_EINVAL || strncmp(err.msg, file, strlen(file)) != 0)
			fz_fail("config_load refused with %d and message '%s'", rc, err.msg);
		return 0;
	}
	if (data[0] & 4)
		c.dev = 1;
	sd_err_clear(&err);
	if (config_finish(&c, &err) != 0) {
		if (err.msg[0] == '\0')
			fz_fail("config_finish refused without a reason");
		return 0;
	}
	if (c.data_dir[0] != '/')
		fz_fail("config_finish left data_dir relative: %s", c.data_dir);
	check_config(&c);
	return 0;
}
