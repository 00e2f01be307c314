/* jwk.h — JSON Web Keys (RFC 7517/7518) and JWS signature checks.
 *
 * Only what the verifier needs: public RSA keys (2048..8192 bits) and EC
 * P-256 keys, turned into EVP_PKEYs once when a JWKS is loaded, and the three
 * signature algorithms of the allow-list (RS256, PS256, ES256). Everything
 * else in a JWKS (oct, OKP, other curves, "use":"enc", unknown "alg") is
 * skipped, never half-used. Private members ("d", "p", ...) are ignored. */
#ifndef SD_JWK_H
#define SD_JWK_H

#include <openssl/evp.h>
#include <stddef.h>

#include "err.h"

#define JWK_KID_MAX 256            /* longer kids make the key unusable */
#define JWKS_KEYS_MAX 64           /* a larger JWKS is refused */
#define JWKS_BYTES_MAX (1024 * 1024)
#define JWK_RSA_MIN_BITS 2048
#define JWK_RSA_MAX_BITS 8192
#define JWS_SIG_MAX (JWK_RSA_MAX_BITS / 8)
#define JWS_ES256_SIG_LEN 64

enum jwk_kty { JWK_KTY_NONE = 0, JWK_KTY_RSA, JWK_KTY_EC_P256 };

/* The allow-list. 0 is "not allowed", whatever the name was. */
enum jws_alg { JWS_ALG_NONE = 0, JWS_RS256, JWS_PS256, JWS_ES256 };

struct jwk {
	EVP_PKEY *pkey;        /* public key, owned */
	int kty;               /* enum jwk_kty */
	int alg;               /* enum jws_alg named by the JWK, 0 if it names none */
	int has_kid;
	char kid[JWK_KID_MAX + 1];
};

struct jwks {
	unsigned refs;         /* managed by the owner (auth.c); jwks_parse sets 1 */
	size_t n;              /* usable keys, at least 1 */
	size_t skipped;        /* members of "keys" that were not usable */
	struct jwk keys[JWKS_KEYS_MAX];
};

/* The enum value of an algorithm name, exact and case-sensitive as RFC 7515
 * says; JWS_ALG_NONE for anything off the allow-list ("none", "HS256"...). */
int jws_alg_from_name(const char *name);
const char *jws_alg_name(int alg);

/* Whether k may verify alg: RS256/PS256 only with RSA keys, ES256 only with
 * P-256 keys, and only the JWK's own "alg" when it names one. */
int jwk_fits(const struct jwk *k, int alg);

/* Parse a JWKS document ({"keys":[...]}, len bytes, no NUL needed). Keys that
 * cannot be used are skipped with a warning in the log; a document that is
 * not a JWKS, is over the caps, or holds no usable key is SD_EINVAL. On
 * success *out is allocated with refs = 1; free it with jwks_free. */
int jwks_parse(const char *buf, size_t len, struct jwks **out, struct sd_err *err);
void jwks_free(struct jwks *ks);

/* Verify a JWS signature (the raw bytes after base64url decoding) over msg
 * with key k for alg; md is SHA-256, fetched once by the caller. Returns 0
 * when the signature is good, SD_EUNAUTH when it is not (or does not fit the
 * key/alg), SD_EINTERNAL when OpenSSL could not allocate. Thread-safe for a
 * shared k. */
int jws_sig_verify(const struct jwk *k, int alg, const EVP_MD *md, const void *msg,
		   size_t msg_len, const unsigned char *sig, size_t sig_len);

/* ES256 signatures: JOSE's raw r||s (32 bytes each) <-> DER ECDSA-Sig-Value.
 * raw_to_der writes at most cap bytes (72 suffice). Both return 0 or -1. */
int jws_es256_raw_to_der(const unsigned char raw[JWS_ES256_SIG_LEN], unsigned char *der,
			 size_t cap, size_t *der_len);
int jws_es256_der_to_raw(const unsigned char *der, size_t der_len,
			 unsigned char raw[JWS_ES256_SIG_LEN]);

/* The affine coordinates of a P-256 public (or private) key, 32 bytes each. */
int jwk_ec_p256_coords(const EVP_PKEY *pkey, unsigned char x[32], unsigned char y[32]);

/* RFC 7638 thumbprint of a P-256 key: base64url(SHA-256 of
 * {"crv":"P-256","kty":"EC","x":...,"y":...}), 43 characters + NUL. */
int jwk_ec_p256_thumbprint(const unsigned char x[32], const unsigned char y[32], char out[44]);

#endif
