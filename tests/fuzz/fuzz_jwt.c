/* fuzz_jwt.c — bearer JWT parsing and verification (core/auth.c, core/jwk.c,
 * core/b64.c, core/scope.c through the scope claim).
 *
 * The verifier trusts a JWKS made at start-up: rsa-1 (RSA, no alg), rsa-ps
 * (the same RSA key, alg PS256), ec-1 (P-256, no alg), ec-2 (P-256, alg
 * ES256, use sig) and an "oct" key that must be skipped. Its clock is fixed
 * at FZ_NOW; issuer FZ_ISS, audience FZ_AUD.
 *
 * Input: one selector byte S, then the rest R. mode = S % 5:
 *   0  R is a compact token                  -> auth_verify
 *   1  R is a compact JWS                    -> auth_jws_verify_sig
 *   2  R is HEADER-JSON '\n' CLAIMS-JSON: encoded and signed here -> auth_verify
 *   3  R is a signing input "h.p": signed here, ".sig" appended   -> auth_verify
 *   4  R is a JWKS document                  -> jwks_parse
 * key (modes 2, 3) = (S / 5) % 4: ec-1 ES256, rsa-1 RS256, rsa-1 PS256, ec-2 ES256.
 *
 * Invariants (a violation aborts):
 *   - modes 0 and 1 never succeed: nothing here signed those bytes, so a
 *     success is a token accepted without a valid signature;
 *   - a success in modes 2 and 3 has the signing algorithm in its header,
 *     and a principal with a valid tenant, a printable sub and an exp not
 *     past; verifying the same token again (now from the cache) gives the
 *     same answer and the same principal;
 *   - every refusal is SD_EUNAUTH (or SD_EINTERNAL) with a reason. */
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "fuzz_common.h"

#include "auth.h"
#include "auth_internal.h"
#include "b64.h"
#include "config.h"
#include "jwk.h"
#include "log.h"
#include "util.h"

#define FZ_ISS "https://access.fuzz"
#define FZ_AUD "secretsd-fuzz"
#define FZ_NOW 1700000000

static struct auth *A;
static EVP_PKEY *rsa1, *ec1, *ec2;

static char *b64u(const void *d, size_t n)
{
	char *o = malloc(B64_ENC_LEN(n));

	if (o == NULL)
		abort();
	b64url_encode(d, n, o);
	return o;
}

static char *bn_b64u(EVP_PKEY *k, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;

	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
		fz_fail("no %s", param);
	n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	return b64u(buf, (size_t)n);
}

static json_t *jwk_of(EVP_PKEY *k, const char *kid, const char *alg, const char *use)
{
	json_t *j;
	char *a, *b;

	if (EVP_PKEY_is_a(k, "RSA")) {
		a = bn_b64u(k, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_b64u(k, OSSL_PKEY_PARAM_RSA_E, 0);
		j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", a, "e", b);
	} else {
		a = bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", a, "y", b);
	}
	free(a);
	free(b);
	json_object_set_new(j, "kid", json_string(kid));
	if (alg)
		json_object_set_new(j, "alg", json_string(alg));
	if (use)
		json_object_set_new(j, "use", json_string(use));
	return j;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sd_config cfg;
	struct sd_err err;
	char jwks[PATH_MAX];
	json_t *doc;
	char *text;

	(void)argc;
	(void)argv;
	log_set_level((enum log_level)(LOG_ERROR + 1)); /* skipped keys are expected */
	fz_tmpdir("jwt");
	rsa1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (rsa1 == NULL || ec1 == NULL || ec2 == NULL)
		fz_fail("key generation failed");
	doc = json_pack("{s:[o, o, o, o, {s:s, s:s, s:s}]}", "keys", jwk_of(rsa1, "rsa-1", NULL, NULL),
			jwk_of(rsa1, "rsa-ps", "PS256", NULL), jwk_of(ec1, "ec-1", NULL, NULL),
			jwk_of(ec2, "ec-2", "ES256", "sig"), "kty", "oct", "kid", "hmac", "k", "c2VjcmV0");
	text = json_dumps(doc, JSON_INDENT(1));
	fz_path(jwks, sizeof(jwks), "jwks.json");
	fz_write_file(jwks, text, strlen(text), 0600);
	if (getenv("FUZZ_JWT_PRINT_JWKS"))
		printf("%s\n", text);
	free(text);
	json_decref(doc);

	config_defaults(&cfg);
	sd_strlcpy(cfg.jwks_file, jwks, sizeof(cfg.jwks_file));
	sd_strlcpy(cfg.issuer, FZ_ISS, sizeof(cfg.issuer));
	sd_strlcpy(cfg.audience, FZ_AUD, sizeof(cfg.audience));
	cfg.leeway_s = 5;
	sd_err_clear(&err);
	A = auth_new(&cfg, &err);
	if (A == NULL)
		fz_fail("auth_new: %s", err.msg);
	auth_set_clock_for_test(A, FZ_NOW);
	return 0;
}

static const char *const key_alg[4] = { "ES256", "RS256", "PS256", "ES256" };

/* base64url signature of msg with key k (0..3). */
static char *sign(int k, const char *msg, size_t len)
{
	EVP_PKEY *key = k == 0 ? ec1 : k == 3 ? ec2 : rsa1;
	unsigned char sig[1024], raw[64];
	size_t slen = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;

	if (m == NULL || EVP_DigestSignInit(m, &pc, EVP_sha256(), NULL, key) != 1)
		fz_fail("sign init");
	if (k == 2 && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
		       EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) != 1 ||
		       EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) != 1))
		fz_fail("pss");
	if (EVP_DigestSign(m, sig, &slen, (const unsigned char *)msg, len) != 1)
		fz_fail("sign");
	EVP_MD_CTX_free(m);
	if (k == 0 || k == 3) {
		if (jws_es256_der_to_raw(sig, slen, raw) != 0)
			fz_fail("der_to_raw refused OpenSSL's own signature");
		return b64u(raw, 64);
	}
	return b64u(sig, slen);
}

static int printable_sub(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SD_SUB_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* The alg member of the header part of tok (before the first '.'). */
static int header_alg_is(const char *tok, const char *want)
{
	const char *dot = strchr(tok, '.');
	size_t hl = dot ? (size_t)(dot - tok) : strlen(tok), n = 0;
	unsigned char *h = malloc(B64_DEC_MAX(hl) + 1);
	json_t *j;
	int ok = 0;

	if (h == NULL)
		abort();
	if (b64url_decode(tok, hl, h, &n) == 0 && (j = json_loadb((char *)h, n, 0, NULL)) != NULL) {
		ok = json_is_string(json_object_get(j, "alg")) &&
		     strcmp(json_string_value(json_object_get(j, "alg")), want) == 0;
		json_decref(j);
	}
	free(h);
	return ok;
}

static void verify_signed(const char *tok, int k)
{
	struct principal p, p2;
	struct sd_err err;
	size_t len = strlen(tok);
	int rc, rc2;

	memset(&p, 0, sizeof(p));
	sd_err_clear(&err);
	rc = auth_verify(A, tok, len, &p, &err);
	if (rc != 0) {
		if ((rc != SD_EUNAUTH && rc != SD_EINTERNAL) || err.msg[0] == '\0')
			fz_fail("auth_verify refused with %d and no reason", rc);
		return;
	}
	if (!header_alg_is(tok, key_alg[k]))
		fz_fail("a token signed with %s was accepted under another header alg", key_alg[k]);
	if (!auth_tenant_valid(p.tenant))
		fz_fail("accepted tenant '%s' is not a valid tenant", p.tenant);
	if (!printable_sub(p.sub))
		fz_fail("accepted sub is not 1-%d printable bytes", SD_SUB_MAX);
	if (p.exp + 5 <= FZ_NOW)
		fz_fail("accepted a token that expired at %lld", (long long)p.exp);
	if (p.scopes.n > SD_SCOPES_MAX)
		fz_fail("principal has %u scopes", p.scopes.n);
	memset(&p2, 0, sizeof(p2));
	rc2 = auth_verify(A, tok, len, &p2, &err);
	if (rc2 != 0 || memcmp(&p, &p2, sizeof(p)) != 0)
		fz_fail("the cached answer differs from the first one (rc %d)", rc2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct principal p;
	struct sd_err err;
	const char *r;
	size_t rl;
	int mode, k, rc;

	if (size < 1 || size > SD_TOKEN_MAX + 1)
		return 0;
	mode = data[0] % 5;
	k = (data[0] / 5) % 4;
	r = (const char *)data + 1;
	rl = size - 1;
	sd_err_clear(&err);
	switch (mode) {
	case 0:
		rc = auth_verify(A, r, rl, &p, &err);
		if (rc == 0)
			fz_fail("auth_verify accepted a token this harness did not sign");
		if ((rc != SD_EUNAUTH && rc != SD_EINTERNAL) || err.msg[0] == '\0')
			fz_fail("auth_verify refused with %d and no reason", rc);
		break;
	case 1:
		rc = auth_jws_verify_sig(A, r, rl, &err);
		if (rc == 0)
			fz_fail("auth_jws_verify_sig accepted a JWS this harness did not sign");
		if ((rc != SD_EUNAUTH && rc != SD_EINTERNAL) || err.msg[0] == '\0')
			fz_fail("auth_jws_verify_sig refused with %d and no reason", rc);
		break;
	case 2: {
		char *text = fz_strndup((const uint8_t *)r, rl), *claims = fz_cut(text, '\n');
		char *h = b64u(text, strlen(text)), *c = b64u(claims ? claims : "", claims ? strlen(claims) : 0);
		size_t in_len = strlen(h) + strlen(c) + 1;
		char *tok = malloc(in_len + 400), *s;
		if (tok == NULL)
			abort();
		snprintf(tok, in_len + 1, "%s.%s", h, c);
		s = sign(k, tok, in_len);
		snprintf(tok + in_len, 400, ".%s", s);
		if (strlen(tok) <= SD_TOKEN_MAX)
			verify_signed(tok, k);
		free(s);
		free(tok);
		free(h);
		free(c);
		free(text);
		break;
	}
	case 3: {
		char *in = fz_strndup((const uint8_t *)r, rl), *s, *tok;
		size_t n = strlen(in);
		s = sign(k, in, n);
		tok = malloc(n + strlen(s) + 2);
		if (tok == NULL)
			abort();
		sprintf(tok, "%s.%s", in, s);
		if (strlen(tok) <= SD_TOKEN_MAX)
			verify_signed(tok, k);
		free(s);
		free(tok);
		free(in);
		break;
	}
	default: {
		struct jwks *ks = NULL;
		rc = jwks_parse(r, rl, &ks, &err);
		if (rc == 0) {
			if (ks == NULL || ks->n == 0 || ks->n > JWKS_KEYS_MAX || ks->refs != 1)
				fz_fail("jwks_parse returned a bad set");
			for (size_t i = 0; i < ks->n; i++)
				if (ks->keys[i].pkey == NULL ||
				    (ks->keys[i].kty != JWK_KTY_RSA && ks->keys[i].kty != JWK_KTY_EC_P256))
					fz_fail("jwks_parse kept an unusable key %zu", i);
			jwks_free(ks);
		} else if (err.msg[0] == '\0') {
			fz_fail("jwks_parse refused without a reason");
		}
		break;
	}
	}
	return 0;
}
