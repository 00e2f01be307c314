/* ratelimit.h — per-key rate limits (GCRA: a token bucket kept as one
 * timestamp per key). Thread-safe; the table has a fixed size, so memory is
 * bounded whatever keys clients send. */
#ifndef SD_RATELIMIT_H
#define SD_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

struct rl_info {
	int limit;          /* burst: the most requests at once */
	int remaining;      /* requests still allowed right now */
	int reset_s;        /* seconds until the bucket is full again */
	int retry_after_s;  /* when limited: seconds until one more is allowed (>= 1) */
};

struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *rl);

/* Take one request for key at rps with burst. Returns 1 when allowed, 0 when
 * limited; info is filled either way. rps <= 0 means unlimited (returns 1). */
int ratelimit_take(struct ratelimit *rl, const char *key, double rps, int burst, int64_t now_us,
		   struct rl_info *info);
/* Whether key would be limited now, without taking anything. */
int ratelimit_limited(struct ratelimit *rl, const char *key, double rps, int burst, int64_t now_us);

#endif
