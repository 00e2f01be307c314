/* util.h — small helpers shared by the core: time, strings, memory hygiene. */
#ifndef SD_UTIL_H
#define SD_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Wall clock in microseconds since the epoch; monotonic clock in nanoseconds. */
int64_t sd_now_us(void);
uint64_t sd_mono_ns(void);

/* A condition variable whose timed waits run on the monotonic clock (a
 * wall-clock step back does not stretch them), and the deadline ms from now
 * on that clock for pthread_cond_timedwait. sd_cond_init_mono returns -1
 * (cv initialised on the wall clock, to be destroyed) when it cannot. */
int sd_cond_init_mono(pthread_cond_t *cv);
void sd_mono_deadline(struct timespec *ts, int64_t ms);

/* Format a time in microseconds as RFC 3339 UTC with second precision
 * ("2026-01-02T03:04:05Z") into out (at least 21 bytes). */
void sd_rfc3339(int64_t us, char out[static 32]);

/* Now, as RFC 3339 UTC with milliseconds ("2026-01-02T03:04:05.678Z"), for
 * the log and the audit lines: written digit by digit (no strftime). */
void sd_now_rfc3339_ms(char out[static 32]);

/* Copy src into dst of size n, always NUL-terminated; returns -1 when src
 * did not fit (dst then holds a truncated copy). */
int sd_strlcpy(char *dst, const char *src, size_t n);

/* Parse a non-negative decimal integer that fills s entirely, without sign,
 * spaces or leading '+'; at most max. Returns 0 or -1. */
int sd_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Parse a duration: "3600" (seconds) or a number followed by s, m, h or d
 * ("90d", "12h", "30m"). Returns 0 and seconds in *out, or -1. */
int sd_parse_duration(const char *s, int64_t *out);

/* The n bytes of in as 2*n lowercase hex characters, NUL-ended. */
void sd_hex(const unsigned char *in, size_t n, char *out);
/* Fill out with 2*n lowercase hex characters of n random bytes, NUL-ended. */
int sd_random_hex(char *out, size_t n);

/* Wipe then free; NULL is fine. */
void sd_wipe_free(void *p, size_t n);
/* Wipe a NUL-terminated string then free it. */
void sd_wipe_free_str(char *s);

/* Install jansson allocators that wipe every block before freeing it, so that
 * secrets parsed from or serialised into JSON do not linger in the heap. */
void sd_json_use_wiping_allocator(void);

/* Free memory that jansson allocated (json_dumps results). */
void sd_json_free(void *p);

/* Test builds (SD_TEST_BUILD): kill the process with SIGKILL when the
 * environment variable SECRETSD_CRASH_AT names this point. Points:
 *   lease_after_issue      the provider issued, the lease is not yet active
 *   write_after_commit     a write is committed, its reply not yet sent
 *   rotate_after_pending   a staged rotation wrote its pending version
 *   evidence_append        inside the transaction, before the evidence record
 * Release builds compile this to nothing. */
void sd_crash_point(const char *name);

/* Test builds: sleep when SECRETSD_TEST_DELAY is "<name>:<ms>" for this
 * point, to widen a race window a test has to hit. Points:
 *   loop_start   each event loop but the first, before it starts looping
 *   last_pass    shutdown, loops stopped, before the pass that sends the
 *                replies queued meanwhile
 * Release builds compile this to nothing. */
void sd_test_delay(const char *name);

/* Make the process refuse core dumps and ptrace-style memory reads. */
void sd_harden_process(void);

#endif
