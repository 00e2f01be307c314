/* jwk.c — JWK/JWKS parsing into EVP_PKEYs and JWS signature checks. */
#include "jwk.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "log.h"
#include "util.h"

/* base64url of a 1025-byte modulus (8192 bits plus a stray leading zero) */
#define RSA_N_CHARS_MAX 1368
#define RSA_E_CHARS_MAX 44 /* 256-bit exponents at most */
#define EC_COORD_CHARS 43  /* 32 bytes */

int jws_alg_from_name(const char *name)
{
	if (name == NULL)
		return JWS_ALG_NONE;
	if (strcmp(name, "RS256") == 0)
		return JWS_RS256;
	if (strcmp(name, "PS256") == 0)
		return JWS_PS256;
	if (strcmp(name, "ES256") == 0)
		return JWS_ES256;
	return JWS_ALG_NONE;
}

const char *jws_alg_name(int alg)
{
	switch (alg) {
	case JWS_RS256: return "RS256";
	case JWS_PS256: return "PS256";
	case JWS_ES256: return "ES256";
	default: return "none";
	}
}

static int alg_kty(int alg)
{
	switch (alg) {
	case JWS_RS256:
	case JWS_PS256:
		return JWK_KTY_RSA;
	case JWS_ES256:
		return JWK_KTY_EC_P256;
	default:
		return JWK_KTY_NONE;
	}
}

int jwk_fits(const struct jwk *k, int alg)
{
	if (alg == JWS_ALG_NONE || k->kty == JWK_KTY_NONE || alg_kty(alg) != k->kty)
		return 0;
	return k->alg == JWS_ALG_NONE || k->alg == alg;
}

/* Decode the base64url string member name of o into out (cap bytes). */
static int b64u_member(const json_t *o, const char *name, size_t max_chars, unsigned char *out,
		       size_t cap, size_t *out_len)
{
	const json_t *v = json_object_get(o, name);
	size_t n;

	if (!json_is_string(v))
		return -1;
	n = json_string_length(v);
	if (n == 0 || n > max_chars || B64_DEC_MAX(n) > cap)
		return -1;
	return b64url_decode(json_string_value(v), n, out, out_len);
}

/* ROCA (CVE-2017-15361): moduli made by the flawed Infineon generator are,
 * modulo every small prime p, a power of 65537. A random modulus passes all
 * these tests with negligible probability. */
static int rsa_has_roca_fingerprint(const BIGNUM *n)
{
	static const unsigned primes[] = { 3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41, 43,
					   47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103,
					   107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167 };

	for (size_t i = 0; i < SD_ARRAY_LEN(primes); i++) {
		unsigned p = primes[i], g = 65537 % p, x = 1;
		BN_ULONG r = BN_mod_word(n, p);
		int in_group = 0;

		if (r == (BN_ULONG)-1)
			return 0;
		for (unsigned k = 0; k < p - 1; k++) {
			if (x == r) {
				in_group = 1;
				break;
			}
			x = (x * g) % p;
		}
		if (!in_group)
			return 0;
	}
	return 1;
}

static int pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = -1;

	*out = NULL;
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL)
		goto out;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

/* Whether OpenSSL's own public-key validation accepts pkey: the point is on
 * the curve and in the group; the RSA modulus is odd, composite, free of
 * small factors, and the exponent odd and > 1. */
static int pkey_public_ok(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok;

	if (ctx == NULL)
		return 0;
	ok = EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static int load_rsa(const json_t *o, struct jwk *k, const char **why)
{
	unsigned char nb[B64_DEC_MAX(RSA_N_CHARS_MAX)], eb[B64_DEC_MAX(RSA_E_CHARS_MAX)];
	size_t nlen, elen;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int rc = 1;

	if (b64u_member(o, "n", RSA_N_CHARS_MAX, nb, sizeof(nb), &nlen) != 0) {
		*why = "RSA modulus missing, malformed or over 8192 bits";
		goto out;
	}
	if (b64u_member(o, "e", RSA_E_CHARS_MAX, eb, sizeof(eb), &elen) != 0) {
		*why = "RSA exponent missing or malformed";
		goto out;
	}
	if ((n = BN_bin2bn(nb, (int)nlen, NULL)) == NULL || (e = BN_bin2bn(eb, (int)elen, NULL)) == NULL) {
		rc = SD_EINTERNAL;
		goto out;
	}
	if (BN_num_bits(n) < JWK_RSA_MIN_BITS || BN_num_bits(n) > JWK_RSA_MAX_BITS) {
		*why = "RSA keys must have 2048 to 8192 bits";
		goto out;
	}
	if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 256) {
		*why = "RSA public exponent is not an odd number in 3..2^256";
		goto out;
	}
	if (rsa_has_roca_fingerprint(n)) {
		*why = "RSA modulus has the ROCA fingerprint (CVE-2017-15361)";
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
		rc = SD_EINTERNAL;
		goto out;
	}
	if (pkey_fromdata("RSA", bld, &k->pkey) != 0 || !pkey_public_ok(k->pkey)) {
		*why = "RSA public key is invalid";
		goto out;
	}
	k->kty = JWK_KTY_RSA;
	rc = 0;
out:
	if (rc != 0) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
	}
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

static int load_ec(const json_t *o, struct jwk *k, const char **why)
{
	unsigned char x[B64_DEC_MAX(EC_COORD_CHARS)], y[B64_DEC_MAX(EC_COORD_CHARS)];
	unsigned char point[65];
	size_t xlen, ylen;
	OSSL_PARAM_BLD *bld = NULL;
	int rc = 1;

	if (!json_is_string(json_object_get(o, "crv")) ||
	    strcmp(json_string_value(json_object_get(o, "crv")), "P-256") != 0) {
		*why = "EC curve is not P-256";
		goto out;
	}
	if (b64u_member(o, "x", EC_COORD_CHARS, x, sizeof(x), &xlen) != 0 || xlen != 32 ||
	    b64u_member(o, "y", EC_COORD_CHARS, y, sizeof(y), &ylen) != 0 || ylen != 32) {
		*why = "EC coordinates must be 32 bytes each";
		goto out;
	}
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) != 1) {
		rc = SD_EINTERNAL;
		goto out;
	}
	if (pkey_fromdata("EC", bld, &k->pkey) != 0 || !pkey_public_ok(k->pkey)) {
		*why = "EC point is not on P-256";
		goto out;
	}
	k->kty = JWK_KTY_EC_P256;
	rc = 0;
out:
	if (rc != 0) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
	}
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

/* Whether a key_ops member, when present, allows "verify". */
static int key_ops_allow_verify(const json_t *ops)
{
	size_t i;
	json_t *v;

	if (ops == NULL)
		return 1;
	if (!json_is_array(ops))
		return 0;
	json_array_foreach(ops, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), "verify") == 0)
			return 1;
	return 0;
}

/* Fill k from JWK o. Returns 0 when usable, 1 when skipped (reason in *why),
 * or a negative code on an internal failure. */
static int jwk_load(const json_t *o, struct jwk *k, const char **why)
{
	const json_t *use = json_object_get(o, "use"), *alg = json_object_get(o, "alg");
	const json_t *kty = json_object_get(o, "kty"), *kid = json_object_get(o, "kid");
	const char *t;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(o)) {
		*why = "not a JSON object";
		return 1;
	}
	if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
		*why = "\"use\" is not \"sig\"";
		return 1;
	}
	if (!key_ops_allow_verify(json_object_get(o, "key_ops"))) {
		*why = "\"key_ops\" does not allow \"verify\"";
		return 1;
	}
	if (!json_is_string(kty)) {
		*why = "no \"kty\"";
		return 1;
	}
	if (alg != NULL) {
		if (!json_is_string(alg) || (k->alg = jws_alg_from_name(json_string_value(alg))) == JWS_ALG_NONE) {
			*why = "\"alg\" is not one of RS256, PS256, ES256";
			return 1;
		}
	}
	if (kid != NULL) {
		if (!json_is_string(kid) || json_string_length(kid) > JWK_KID_MAX) {
			*why = "\"kid\" is not a string of at most 256 bytes";
			return 1;
		}
		memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
		k->has_kid = 1;
	}
	t = json_string_value(kty);
	if (strcmp(t, "RSA") == 0) {
		if (k->alg != JWS_ALG_NONE && alg_kty(k->alg) != JWK_KTY_RSA) {
			*why = "\"alg\" does not fit an RSA key";
			return 1;
		}
		return load_rsa(o, k, why);
	}
	if (strcmp(t, "EC") == 0) {
		if (k->alg != JWS_ALG_NONE && alg_kty(k->alg) != JWK_KTY_EC_P256) {
			*why = "\"alg\" does not fit an EC key";
			return 1;
		}
		return load_ec(o, k, why);
	}
	*why = "key type is not RSA or EC";
	return 1;
}

/* A kid that is safe to print: printable ASCII, shortened. */
static void kid_for_log(const struct jwk *k, char out[68])
{
	size_t i;

	if (!k->has_kid) {
		sd_strlcpy(out, "(none)", 68);
		return;
	}
	for (i = 0; k->kid[i] != '\0' && i < 64; i++)
		out[i] = (k->kid[i] >= 0x20 && k->kid[i] < 0x7f) ? k->kid[i] : '?';
	out[i] = '\0';
}

int jwks_parse(const char *buf, size_t len, struct jwks **out, struct sd_err *err)
{
	struct jwks *ks = NULL;
	json_error_t jerr;
	json_t *doc = NULL, *keys, *v;
	size_t i;
	int rc = SD_EINVAL;

	*out = NULL;
	if (len > JWKS_BYTES_MAX) {
		sd_err_set(err, SD_EINVAL, "JWKS is larger than %d bytes", JWKS_BYTES_MAX);
		goto out;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		sd_err_set(err, SD_EINVAL, "JWKS is not valid JSON: %s (line %d)", jerr.text, jerr.line);
		goto out;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_object(doc) || !json_is_array(keys)) {
		sd_err_set(err, SD_EINVAL, "JWKS has no \"keys\" array");
		goto out;
	}
	if (json_array_size(keys) > JWKS_KEYS_MAX) {
		sd_err_set(err, SD_EINVAL, "JWKS has more than %d keys", JWKS_KEYS_MAX);
		goto out;
	}
	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto out;
	}
	json_array_foreach(keys, i, v) {
		const char *why = NULL;
		char kid[68];
		int r = jwk_load(v, &ks->keys[ks->n], &why);

		if (r < 0) {
			rc = sd_err_set(err, r, "JWKS key %zu: OpenSSL failure", i);
			goto out;
		}
		if (r > 0) {
			kid_for_log(&ks->keys[ks->n], kid);
			log_warn("JWKS key %zu (kid %s) skipped: %s", i, kid, why);
			ks->skipped++;
			memset(&ks->keys[ks->n], 0, sizeof(ks->keys[ks->n]));
			continue;
		}
		ks->n++;
	}
	ERR_clear_error();
	if (ks->n == 0) {
		sd_err_set(err, SD_EINVAL, "JWKS has no usable key (RSA >= 2048 bits or EC P-256, "
			   "\"use\":\"sig\", alg RS256/PS256/ES256)");
		goto out;
	}
	ks->refs = 1;
	*out = ks;
	ks = NULL;
	rc = 0;
out:
	ERR_clear_error();
	jwks_free(ks);
	json_decref(doc);
	return rc;
}

void jwks_free(struct jwks *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i].pkey);
	free(ks);
}

int jws_es256_raw_to_der(const unsigned char raw[JWS_ES256_SIG_LEN], unsigned char *der, size_t cap,
			 size_t *der_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	unsigned char *p = der;
	int n, rc = -1;

	if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by sig now */
	n = i2d_ECDSA_SIG(sig, NULL);
	if (n <= 0 || (size_t)n > cap || i2d_ECDSA_SIG(sig, &p) != n)
		goto out;
	*der_len = (size_t)n;
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

int jws_es256_der_to_raw(const unsigned char *der, size_t der_len, unsigned char raw[JWS_ES256_SIG_LEN])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *s;
	int rc = -1;

	if (sig == NULL || p != der + der_len)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
		goto out;
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

int jws_sig_verify(const struct jwk *k, int alg, const EVP_MD *md, const void *msg, size_t msg_len,
		   const unsigned char *sig, size_t sig_len)
{
	unsigned char der[80];
	const unsigned char *s = sig;
	size_t slen = sig_len;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int rc = SD_EUNAUTH;

	if (!jwk_fits(k, alg) || md == NULL)
		goto out;
	if (alg == JWS_ES256) {
		if (sig_len != JWS_ES256_SIG_LEN ||
		    jws_es256_raw_to_der(sig, der, sizeof(der), &slen) != 0)
			goto out;
		s = der;
	} else if (EVP_PKEY_get_size(k->pkey) <= 0 || sig_len != (size_t)EVP_PKEY_get_size(k->pkey)) {
		goto out; /* RFC 7518: exactly the modulus length */
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		rc = SD_EINTERNAL;
		goto out;
	}
	if (EVP_DigestVerifyInit(mctx, &pctx, md, NULL, k->pkey) != 1) {
		rc = SD_EINTERNAL;
		goto out;
	}
	if (alg == JWS_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		rc = SD_EINTERNAL;
		goto out;
	}
	if (alg == JWS_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
				 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1 ||
				 EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1)) {
		rc = SD_EINTERNAL;
		goto out;
	}
	if (EVP_DigestVerify(mctx, s, slen, msg, msg_len) == 1)
		rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	ERR_clear_error();
	return rc;
}

int jwk_ec_p256_coords(const EVP_PKEY *pkey, unsigned char x[32], unsigned char y[32])
{
	char group[64];
	BIGNUM *bx = NULL, *by = NULL;
	int rc = -1;

	if (!EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1 ||
	    strcmp(group, SN_X9_62_prime256v1) != 0)
		goto out;
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1)
		goto out;
	if (BN_bn2binpad(bx, x, 32) != 32 || BN_bn2binpad(by, y, 32) != 32)
		goto out;
	rc = 0;
out:
	BN_free(bx);
	BN_free(by);
	ERR_clear_error();
	return rc;
}

int jwk_ec_p256_thumbprint(const unsigned char x[32], const unsigned char y[32], char out[44])
{
	char xs[B64_ENC_LEN(32)], ys[B64_ENC_LEN(32)], json[160];
	unsigned char md[32];
	unsigned int mdlen = 0;
	int n;

	b64url_encode(x, 32, xs);
	b64url_encode(y, 32, ys);
	/* RFC 7638 §3.2: required members only, sorted, no whitespace */
	n = snprintf(json, sizeof(json), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", xs, ys);
	if (n < 0 || (size_t)n >= sizeof(json))
		return -1;
	if (EVP_Digest(json, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	b64url_encode(md, 32, out);
	return 0;
}
