/* ratelimit.c — GCRA in a fixed open-addressing table with striped locks.
 *
 * For a key, tat is the "theoretical arrival time" of the next request. With
 * emission interval T = 1/rps and burst B, a request at now is allowed when
 * tat - now <= (B - 1) T; then tat = max(tat, now) + T. A full table
 * replaces the slot in the probe window whose bucket is fullest (smallest
 * tat), which is the one that loses least by being forgotten. */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 65536          /* power of two */
#define STRIPES 64
#define PROBE 8
#define KEY_MAX 95

struct slot {
	char key[KEY_MAX + 1];
	int64_t tat;
};

struct ratelimit {
	pthread_mutex_t mu[STRIPES];
	struct slot *slots;
};

struct ratelimit *ratelimit_new(void)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return NULL;
	/* calloc: pages are only touched as keys arrive */
	rl->slots = calloc(SLOTS, sizeof(struct slot));
	if (rl->slots == NULL) {
		free(rl);
		return NULL;
	}
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&rl->mu[i], NULL);
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&rl->mu[i]);
	free(rl->slots);
	free(rl);
}

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Find or claim the slot for key; the caller holds the stripe lock. The
 * probe window stays inside one stripe (slots are grouped by stripe). */
static struct slot *find(struct ratelimit *rl, const char *key, uint64_t h, int64_t now)
{
	size_t base = (size_t)(h & (SLOTS - 1)) & ~(size_t)(PROBE - 1);
	struct slot *victim = NULL;

	for (size_t i = 0; i < PROBE; i++) {
		struct slot *s = &rl->slots[base + i];
		if (strcmp(s->key, key) == 0)
			return s;
		if (s->key[0] == '\0' || s->tat <= now) { /* empty, or a full bucket: free to reuse */
			if (victim == NULL || victim->key[0] != '\0')
				victim = s;
		} else if (victim == NULL || (victim->key[0] != '\0' && s->tat < victim->tat)) {
			victim = s;
		}
	}
	strncpy(victim->key, key, KEY_MAX);
	victim->key[KEY_MAX] = '\0';
	victim->tat = 0;
	return victim;
}

static void fill(struct rl_info *info, int64_t tat, int64_t now, int64_t t_us, int burst)
{
	int64_t ahead = tat > now ? tat - now : 0;  /* time the bucket needs to refill */
	int64_t used = (ahead + t_us - 1) / t_us;

	info->limit = burst;
	info->remaining = burst - (int)(used > burst ? burst : used);
	info->reset_s = (int)((ahead + 999999) / 1000000);
}

int ratelimit_take(struct ratelimit *rl, const char *key, double rps, int burst, int64_t now,
		   struct rl_info *info)
{
	uint64_t h = hash(key);
	pthread_mutex_t *mu = &rl->mu[(h & (SLOTS - 1)) / (SLOTS / STRIPES)];
	int64_t t_us, tat, allow_at;
	struct slot *s;
	int ok;

	memset(info, 0, sizeof(*info));
	if (rps <= 0 || !isfinite(rps))
		return 1;
	if (rps < 0.001)
		rps = 0.001; /* config refuses less; keep the arithmetic in range anyway */
	if (burst < 1)
		burst = 1;
	if (burst > 1000000)
		burst = 1000000;
	t_us = (int64_t)(1e6 / rps);
	if (t_us < 1)
		t_us = 1;
	pthread_mutex_lock(mu);
	s = find(rl, key, h, now);
	tat = s->tat > now ? s->tat : now;
	allow_at = tat - (int64_t)(burst - 1) * t_us;
	ok = now >= allow_at;
	if (ok)
		s->tat = tat + t_us;
	fill(info, ok ? s->tat : tat, now, t_us, burst);
	if (!ok) {
		info->remaining = 0;
		info->retry_after_s = (int)((allow_at - now + 999999) / 1000000);
		if (info->retry_after_s < 1)
			info->retry_after_s = 1;
	}
	pthread_mutex_unlock(mu);
	return ok;
}

int ratelimit_limited(struct ratelimit *rl, const char *key, double rps, int burst, int64_t now)
{
	uint64_t h = hash(key);
	pthread_mutex_t *mu = &rl->mu[(h & (SLOTS - 1)) / (SLOTS / STRIPES)];
	int64_t t_us;
	int limited = 0;
	size_t base = (size_t)(h & (SLOTS - 1)) & ~(size_t)(PROBE - 1);

	if (rps <= 0 || !isfinite(rps))
		return 0;
	if (rps < 0.001)
		rps = 0.001;
	if (burst < 1)
		burst = 1;
	if (burst > 1000000)
		burst = 1000000;
	t_us = (int64_t)(1e6 / rps);
	pthread_mutex_lock(mu);
	for (size_t i = 0; i < PROBE; i++) {
		struct slot *s = &rl->slots[base + i];
		if (strcmp(s->key, key) == 0) {
			limited = s->tat - (int64_t)(burst - 1) * t_us > now;
			break;
		}
	}
	pthread_mutex_unlock(mu);
	return limited;
}
