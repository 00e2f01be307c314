/* auth.h — bearer JWT verification against a JWKS.
 *
 * Algorithms: RS256, PS256, ES256 only, each pinned to the key's type (an RSA
 * key never verifies ES256, an EC key never RS256; HMAC and "none" never).
 * Claims: iss and aud must equal the configured ones (aud may be an array),
 * exp is required, nbf is honoured, both with a leeway; sub and the tenant
 * claim are required. Verified tokens are cached by SHA-256 of the token
 * until exp; failures are never cached. Thread-safe. */
#ifndef SD_AUTH_H
#define SD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "scope.h"

#define SD_TENANT_MAX 64
#define SD_SUB_MAX 256
#define SD_TOKEN_MAX 8192

struct sd_config;

/* Who is calling: filled by auth_verify. */
struct principal {
	char tenant[SD_TENANT_MAX + 1]; /* [A-Za-z0-9._-]{1,64} */
	char sub[SD_SUB_MAX + 1];       /* printable ASCII, 1..256 bytes */
	int64_t exp;                    /* seconds since the epoch */
	struct scopes scopes;
};

struct auth;

/* Build a verifier from cfg (jwks_file or jwks_url, issuer, audience,
 * tenant_claim, leeway_s). In dev mode the caller has already pointed
 * cfg->jwks_file at the dev issuer's JWKS. Returns NULL with err set. */
struct auth *auth_new(const struct sd_config *cfg, struct sd_err *err);
void auth_free(struct auth *a);

/* Verify a compact JWS token (len bytes, not NUL-terminated necessarily).
 * On success fills *out and returns 0; otherwise SD_EUNAUTH with the reason
 * in err (the reason never contains the token). A cache hit writes
 * out->scopes as scopes_unpack does: bytes of out->scopes.buf past the
 * patterns keep whatever they held. */
int auth_verify(struct auth *a, const char *token, size_t len, struct principal *out,
		struct sd_err *err);

/* Whether a tenant name is acceptable as a storage key prefix. */
int auth_tenant_valid(const char *tenant);

#endif
