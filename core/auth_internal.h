/* auth_internal.h — pieces of auth.c that its tests (and metrics) may use.
 * Not part of the interface other modules program against. */
#ifndef SD_AUTH_INTERNAL_H
#define SD_AUTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"

/* Seconds between two JWKS refetches triggered by an unknown kid. */
#define AUTH_REFETCH_INTERVAL_S 30
/* Slots of the verified-token cache (direct-mapped by SHA-256 of the token). */
#define AUTH_CACHE_SLOTS 8192

/* The JWS half of auth_verify: compact serialization, header rules (alg
 * allow-list, crit, typ), key selection by kid (refetching the JWKS when it
 * comes from a URL) and the signature. The payload may be empty here and is
 * not looked at: no claim is checked. Returns 0 or SD_EUNAUTH with the
 * reason in err. This is the path auth_verify itself takes. */
int auth_jws_verify_sig(struct auth *a, const char *jws, size_t len, struct sd_err *err);

struct auth_stats {
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t jwks_fetches;     /* successful (re)fetches from jwks_url */
};
void auth_get_stats(struct auth *a, struct auth_stats *out);

/* Tests only: make the verifier's wall clock read now_s seconds since the
 * epoch (0 = the real clock). Not thread-safe; set it before verifying. */
void auth_set_clock_for_test(struct auth *a, int64_t now_s);

#endif
