/* util.c — time, strings and memory hygiene. */
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

int64_t sd_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t sd_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sd_rfc3339(int64_t us, char out[static 32])
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

void sd_now_rfc3339_ms(char out[static 32])
{
	struct timespec now;
	struct tm tm;
	char *p = out;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	p = digits(p, (unsigned)(tm.tm_year + 1900) % 10000, 4);
	*p++ = '-';
	p = digits(p, (unsigned)tm.tm_mon + 1, 2);
	*p++ = '-';
	p = digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = 'T';
	p = digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = digits(p, (unsigned)tm.tm_sec, 2);
	*p++ = '.';
	p = digits(p, (unsigned)(now.tv_nsec / 1000000), 3);
	*p++ = 'Z';
	*p = '\0';
}

int sd_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);

	if (n == 0)
		return -1;
	if (len >= n) {
		memcpy(dst, src, n - 1);
		dst[n - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int sd_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 20)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int sd_parse_duration(const char *s, int64_t *out)
{
	char num[24];
	size_t len = s ? strlen(s) : 0;
	int64_t mult = 1;
	uint64_t v;

	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len + 1);
	switch (num[len - 1]) {
	case 's': mult = 1; num[--len] = '\0'; break;
	case 'm': mult = 60; num[--len] = '\0'; break;
	case 'h': mult = 3600; num[--len] = '\0'; break;
	case 'd': mult = 86400; num[--len] = '\0'; break;
	default: break;
	}
	/* Cap at 100 years so that later arithmetic cannot overflow. */
	if (sd_parse_u64(num, (uint64_t)(3153600000 / mult), &v) != 0)
		return -1;
	*out = (int64_t)v * mult;
	return 0;
}

void sd_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int sd_random_hex(char *out, size_t n)
{
	unsigned char buf[64];

	if (n > sizeof(buf) || RAND_bytes(buf, (int)n) != 1)
		return -1;
	sd_hex(buf, n, out);
	return 0;
}

void sd_wipe_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

void sd_wipe_free_str(char *s)
{
	if (s != NULL)
		sd_wipe_free(s, strlen(s));
}

/* Each block carries its size in a 16-byte header (keeps max_align_t). */
#define WIPE_HDR 16

static void *wiping_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - WIPE_HDR)
		return NULL;
	p = malloc(n + WIPE_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HDR;
}

static void wiping_free(void *ptr)
{
	unsigned char *p;
	size_t n;

	if (ptr == NULL)
		return;
	p = (unsigned char *)ptr - WIPE_HDR;
	memcpy(&n, p, sizeof(n));
	OPENSSL_cleanse(ptr, n);
	free(p);
}

void sd_json_use_wiping_allocator(void)
{
	json_set_alloc_funcs(wiping_malloc, wiping_free);
}

void sd_json_free(void *p)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	f(p);
}

void sd_harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SD_ASAN 1
#endif
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(SD_ASAN)
	/* LeakSanitizer attaches to the process with ptrace; let it. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

void sd_crash_point(const char *name)
{
#ifdef SD_TEST_BUILD
	const char *at = getenv("SECRETSD_CRASH_AT");

	if (at != NULL && strcmp(at, name) == 0) {
		fprintf(stderr, "crash point %s: killing the process (test build)\n", name);
		raise(SIGKILL);
	}
#else
	(void)name;
#endif
}

int sd_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc;

	if (pthread_condattr_init(&a) != 0) {
		pthread_cond_init(cv, NULL);
		return -1;
	}
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 && pthread_cond_init(cv, &a) == 0 ? 0 : -1;
	pthread_condattr_destroy(&a);
	if (rc != 0)
		pthread_cond_init(cv, NULL); /* initialised either way; the caller gives up */
	return rc;
}

void sd_mono_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

void sd_test_delay(const char *name)
{
#ifdef SD_TEST_BUILD
	const char *v = getenv("SECRETSD_TEST_DELAY");
	size_t n = strlen(name);

	if (v != NULL && strncmp(v, name, n) == 0 && v[n] == ':') {
		long ms = strtol(v + n + 1, NULL, 10);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		if (ms > 0 && ms <= 60000)
			nanosleep(&ts, NULL);
	}
#else
	(void)name;
#endif
}
