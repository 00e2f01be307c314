/* issuer.h — the dev token issuer: a stand-in for the Access service.
 *
 * Keeps an ES256 (P-256) key in DATA_DIR/issuer.key (PEM, 0600) and its
 * public JWKS in DATA_DIR/jwks.json, and signs JWTs with it. */
#ifndef SD_ISSUER_H
#define SD_ISSUER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SD_DEV_ISSUER "secretsd-dev"
#define SD_DEV_AUDIENCE "secretsd"

/* Create the key and JWKS in data_dir when they do not exist yet. */
int issuer_init(const char *data_dir, struct sd_err *err);

/* Path of the dev JWKS file for data_dir, into out (size n). */
int issuer_jwks_path(const char *data_dir, char *out, size_t n);

/* Sign a token with claims iss, aud, sub, tenant, scope, iat, nbf, exp
 * (now + ttl_s) and a random jti. *out is allocated; the caller frees it
 * with free(). */
int issuer_sign(const char *data_dir, const char *tenant, const char *sub, const char *scope,
		int64_t ttl_s, char **out, struct sd_err *err);

#endif
