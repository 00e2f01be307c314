/* test_auth.c — JWT verification (core/auth.c, core/jwk.c) and the dev
 * issuer (core/issuer.c), with tokens made here by OpenSSL and the Wycheproof
 * JWS/JWK vectors. No test sleeps: the verifier's clock is set by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "auth_internal.h"
#include "b64.h"
#include "config.h"
#include "issuer.h"
#include "jwk.h"
#include "log.h"
#include "util.h"

#define ISS "https://access.test"
#define AUD "secretsd-test"

/* Keys and files shared by all tests (made once in group setup). */
static struct {
	char dir[64];
	char dev_jwks[PATH_MAX];
	char test_jwks[PATH_MAX];   /* rsa-1 (RSA, no alg) and ec-1 (P-256) */
	EVP_PKEY *rsa;              /* kid rsa-1 */
	EVP_PKEY *rsa2;             /* not in the JWKS unless a test adds it */
	EVP_PKEY *ec;               /* kid ec-1 */
	EVP_PKEY *attacker;         /* never in any JWKS */
	int64_t t0;                 /* the verifiers' clock */
} K;

/* ---- helpers: files, JWKs, tokens ---- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *b64u(const void *data, size_t len)
{
	char *out = malloc(B64_ENC_LEN(len));

	assert_non_null(out);
	b64url_encode(data, len, out);
	return out;
}

static char *bn_b64u(EVP_PKEY *k, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	assert_true(n > 0);
	BN_free(bn);
	return b64u(buf, (size_t)n);
}

/* The public JWK of k as a jansson object; kid and alg may be NULL. */
static json_t *jwk_of(EVP_PKEY *k, const char *kid, const char *alg)
{
	json_t *j;

	if (EVP_PKEY_is_a(k, "RSA")) {
		char *n = bn_b64u(k, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_b64u(k, OSSL_PKEY_PARAM_RSA_E, 0);

		j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n, "e", e);
		free(n);
		free(e);
	} else {
		char *x = bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = bn_b64u(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);

		j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
		free(x);
		free(y);
	}
	assert_non_null(j);
	if (kid)
		json_object_set_new(j, "kid", json_string(kid));
	if (alg)
		json_object_set_new(j, "alg", json_string(alg));
	return j;
}

/* Write {"keys":[...]} (steals the JWKs; NULL-terminated list) to path. */
static void write_jwks(const char *path, ...)
{
	json_t *keys = json_array(), *doc;
	va_list ap;
	json_t *k;
	char *text;

	va_start(ap, path);
	while ((k = va_arg(ap, json_t *)) != NULL)
		json_array_append_new(keys, k);
	va_end(ap);
	doc = json_pack("{s:o}", "keys", keys);
	text = json_dumps(doc, 0);
	write_text(path, text);
	free(text);
	json_decref(doc);
}

static void sig_der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *ss;

	assert_non_null(s);
	ECDSA_SIG_get0(s, &r, &ss);
	assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
	assert_int_equal(BN_bn2binpad(ss, raw + 32, 32), 32);
	ECDSA_SIG_free(s);
}

enum how { SIGN_RS256, SIGN_PS256, SIGN_ES256, SIGN_ES256_DER, SIGN_NONE };

/* The signature of input by key, as JOSE wants it, base64url-encoded. */
static char *sign_b64(const char *input, enum how how, EVP_PKEY *key)
{
	unsigned char sig[1024], raw[64];
	size_t slen = sizeof(sig);
	EVP_MD_CTX *m;
	EVP_PKEY_CTX *pc = NULL;

	if (how == SIGN_NONE)
		return b64u("", 0);
	m = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(m, &pc, EVP_sha256(), NULL, key), 1);
	if (how == SIGN_PS256) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()), 1);
	}
	assert_int_equal(EVP_DigestSign(m, sig, &slen, (const unsigned char *)input, strlen(input)), 1);
	EVP_MD_CTX_free(m);
	if (how == SIGN_ES256) {
		sig_der_to_raw(sig, slen, raw);
		return b64u(raw, 64);
	}
	return b64u(sig, slen);
}

static char *hmac_b64(const char *input, const void *key, size_t key_len)
{
	unsigned char mac[32];
	unsigned int n = 0;

	assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)input,
			     strlen(input), mac, &n));
	return b64u(mac, n);
}

static char *join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
	char *out = malloc(n);

	assert_non_null(out);
	snprintf(out, n, "%s.%s.%s", a, b, c);
	return out;
}

/* A token from header and payload JSON texts, signed as how says. */
static char *make_token(const char *header, const char *payload, enum how how, EVP_PKEY *key)
{
	char *h = b64u(header, strlen(header)), *p = b64u(payload, strlen(payload));
	char *input = malloc(strlen(h) + strlen(p) + 2), *s, *tok;

	assert_non_null(input);
	snprintf(input, strlen(h) + strlen(p) + 2, "%s.%s", h, p);
	s = sign_b64(input, how, key);
	tok = join3(h, p, s);
	free(h);
	free(p);
	free(s);
	free(input);
	return tok;
}

/* The claims every test token starts from (a new object). */
static json_t *base_claims(void)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", ISS, "aud", AUD, "sub",
			      "user-1", "tenant", "acme", "iat", (json_int_t)K.t0, "nbf",
			      (json_int_t)K.t0, "exp", (json_int_t)(K.t0 + 600), "scope",
			      "secrets:read:db/* secrets:write:apps/+/password");

	assert_non_null(c);
	return c;
}

/* base_claims() as compact JSON text (the caller frees it). */
static char *claims_text(void)
{
	json_t *c = base_claims();
	char *t = json_dumps(c, JSON_COMPACT);

	json_decref(c);
	assert_non_null(t);
	return t;
}

static const char *how_alg(enum how how)
{
	return how == SIGN_RS256 ? "RS256" : how == SIGN_PS256 ? "PS256" : how == SIGN_NONE ? "none" : "ES256";
}

/* A token with claims (stolen), header {"alg","typ":"JWT","kid"}; kid may be NULL. */
static char *token_with(json_t *claims, enum how how, EVP_PKEY *key, const char *kid)
{
	json_t *hdr = json_pack("{s:s, s:s}", "alg", how_alg(how), "typ", "JWT");
	char *h, *p, *tok;

	if (kid)
		json_object_set_new(hdr, "kid", json_string(kid));
	h = json_dumps(hdr, JSON_COMPACT);
	p = json_dumps(claims, JSON_COMPACT);
	tok = make_token(h, p, how, key);
	free(h);
	free(p);
	json_decref(hdr);
	json_decref(claims);
	return tok;
}

static struct auth *new_auth_opts(const char *jwks_file, const char *url, const char *iss,
				  const char *aud, int leeway, const char *tenant_claim)
{
	struct sd_config cfg;
	struct sd_err err = { 0 };
	struct auth *a;

	config_defaults(&cfg);
	sd_strlcpy(cfg.jwks_file, jwks_file ? jwks_file : "", sizeof(cfg.jwks_file));
	sd_strlcpy(cfg.jwks_url, url ? url : "", sizeof(cfg.jwks_url));
	snprintf(cfg.issuer, sizeof(cfg.issuer), "%s", iss);
	snprintf(cfg.audience, sizeof(cfg.audience), "%s", aud);
	if (tenant_claim)
		snprintf(cfg.tenant_claim, sizeof(cfg.tenant_claim), "%s", tenant_claim);
	cfg.leeway_s = leeway;
	a = auth_new(&cfg, &err);
	if (a == NULL)
		print_message("auth_new: %s\n", err.msg);
	assert_non_null(a);
	auth_set_clock_for_test(a, K.t0);
	return a;
}

static struct auth *test_auth(void)
{
	return new_auth_opts(K.test_jwks, NULL, ISS, AUD, 5, NULL);
}

static int verify(struct auth *a, const char *tok, struct principal *p, struct sd_err *err)
{
	sd_err_clear(err);
	return auth_verify(a, tok, strlen(tok), p, err);
}

#define expect_ok(a, tok)                                                               \
	do {                                                                            \
		struct principal p_;                                                    \
		struct sd_err e_;                                                       \
		int rc_ = verify((a), (tok), &p_, &e_);                                 \
		if (rc_ != 0)                                                           \
			print_message("unexpected rejection: %s\n", e_.msg);            \
		assert_int_equal(rc_, 0);                                               \
	} while (0)

#define expect_reject(a, tok, why)                                                      \
	do {                                                                            \
		struct principal p_;                                                    \
		struct sd_err e_;                                                       \
		int rc_ = verify((a), (tok), &p_, &e_);                                 \
		assert_int_equal(rc_, SD_EUNAUTH);                                      \
		if (strstr(e_.msg, (why)) == NULL)                                      \
			print_message("reason \"%s\", wanted \"%s\"\n", e_.msg, (why)); \
		assert_non_null(strstr(e_.msg, (why)));                                 \
	} while (0)

/* ---- group setup ---- */

static int setup(void **state)
{
	struct sd_err err;

	(void)state;
	log_set_level(LOG_ERROR);
	K.t0 = (int64_t)time(NULL);
	snprintf(K.dir, sizeof(K.dir), "/tmp/sd-test-auth-XXXXXX");
	if (mkdtemp(K.dir) == NULL)
		return -1;
	if (issuer_init(K.dir, &err) != 0) {
		fprintf(stderr, "issuer_init: %s\n", err.msg);
		return -1;
	}
	issuer_jwks_path(K.dir, K.dev_jwks, sizeof(K.dev_jwks));
	snprintf(K.test_jwks, sizeof(K.test_jwks), "%s/test-jwks.json", K.dir);
	K.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	K.rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	K.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	K.attacker = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!K.rsa || !K.rsa2 || !K.ec || !K.attacker)
		return -1;
	write_jwks(K.test_jwks, jwk_of(K.rsa, "rsa-1", NULL), jwk_of(K.ec, "ec-1", NULL), NULL);
	return 0;
}

static int teardown(void **state)
{
	DIR *d = opendir(K.dir);
	struct dirent *e;
	char path[512];

	(void)state;
	EVP_PKEY_free(K.rsa);
	EVP_PKEY_free(K.rsa2);
	EVP_PKEY_free(K.ec);
	EVP_PKEY_free(K.attacker);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", K.dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	return rmdir(K.dir);
}

/* ---- the dev issuer ---- */

static void test_issuer_token_is_accepted_with_its_principal(void **state)
{
	struct auth *a = new_auth_opts(K.dev_jwks, NULL, SD_DEV_ISSUER, SD_DEV_AUDIENCE, 5, NULL);
	struct principal p;
	struct sd_err err;
	char *tok = NULL;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	auth_set_clock_for_test(a, 0); /* issuer tokens carry the real time */
	assert_int_equal(issuer_sign(K.dir, "team-a", "alice@example.com", "secrets:read:db/* admin", 300,
				     &tok, &err), 0);
	assert_int_equal(verify(a, tok, &p, &err), 0);
	assert_string_equal(p.tenant, "team-a");
	assert_string_equal(p.sub, "alice@example.com");
	assert_true(p.exp >= now + 299 && p.exp <= now + 302);
	assert_int_equal(p.scopes.n, 2);
	assert_int_equal(p.scopes.s[0].kind, SCOPE_SECRETS_READ);
	assert_string_equal(p.scopes.buf + p.scopes.s[0].off, "db/*");
	assert_int_equal(p.scopes.s[1].kind, SCOPE_ADMIN);
	free(tok);
	auth_free(a);
}

static void test_issuer_token_header_names_the_jwks_kid(void **state)
{
	char *tok = NULL, hdr[512];
	size_t hl = 0;
	struct sd_err err;
	json_t *h, *jwks;
	const char *kid;

	(void)state;
	assert_int_equal(issuer_sign(K.dir, "t", "s", NULL, 60, &tok, &err), 0);
	assert_int_equal(b64url_decode(tok, (size_t)(strchr(tok, '.') - tok), (unsigned char *)hdr, &hl), 0);
	h = json_loadb(hdr, hl, 0, NULL);
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
	kid = json_string_value(json_object_get(h, "kid"));
	assert_non_null(kid);
	assert_int_equal(strlen(kid), 43); /* RFC 7638 thumbprint */
	jwks = json_load_file(K.dev_jwks, 0, NULL);
	assert_non_null(jwks);
	json_t *k0 = json_array_get(json_object_get(jwks, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(k0, "kid")), kid);
	assert_string_equal(json_string_value(json_object_get(k0, "use")), "sig");
	assert_string_equal(json_string_value(json_object_get(k0, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(k0, "crv")), "P-256");
	assert_null(json_object_get(k0, "d"));
	json_decref(jwks);
	json_decref(h);
	free(tok);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(buf);
	fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

static void test_issuer_init_is_idempotent_and_keeps_the_key_private(void **state)
{
	char key[PATH_MAX + 16];
	char *before, *jwks_before, *after, *jwks_after;
	struct stat st;
	struct sd_err err;

	(void)state;
	snprintf(key, sizeof(key), "%s/issuer.key", K.dir);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(K.dev_jwks, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	before = slurp(key);
	jwks_before = slurp(K.dev_jwks);
	assert_non_null(strstr(before, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(issuer_init(K.dir, &err), 0);
	/* a missing JWKS is made again from the same key */
	assert_int_equal(unlink(K.dev_jwks), 0);
	assert_int_equal(issuer_init(K.dir, &err), 0);
	after = slurp(key);
	jwks_after = slurp(K.dev_jwks);
	assert_string_equal(before, after);
	assert_string_equal(jwks_before, jwks_after);
	free(before);
	free(after);
	free(jwks_before);
	free(jwks_after);
}

static void test_issuer_sign_refuses_bad_tenant_sub_and_ttl(void **state)
{
	struct sd_err err;
	char *tok = NULL;
	char long_sub[SD_SUB_MAX + 2];

	(void)state;
	assert_int_equal(issuer_sign(K.dir, "a/b", "s", "admin", 60, &tok, &err), SD_EINVAL);
	assert_int_equal(issuer_sign(K.dir, "..", "s", "admin", 60, &tok, &err), SD_EINVAL);
	assert_int_equal(issuer_sign(K.dir, "", "s", "admin", 60, &tok, &err), SD_EINVAL);
	assert_int_equal(issuer_sign(K.dir, "t", "", "admin", 60, &tok, &err), SD_EINVAL);
	assert_int_equal(issuer_sign(K.dir, "t", NULL, "admin", 60, &tok, &err), SD_EINVAL);
	assert_int_equal(issuer_sign(K.dir, "t", "bad\nsub", "admin", 60, &tok, &err), SD_EINVAL);
	memset(long_sub, 'x', sizeof(long_sub) - 1);
	long_sub[sizeof(long_sub) - 1] = '\0';
	assert_int_equal(issuer_sign(K.dir, "t", long_sub, "admin", 60, &tok, &err), SD_EINVAL);
	assert_int_equal(issuer_sign(K.dir, "t", "s", "admin", 0, &tok, &err), SD_EINVAL);
	assert_null(tok);
	/* no key in the directory */
	assert_int_not_equal(issuer_sign("/nonexistent-dir", "t", "s", "admin", 60, &tok, &err), 0);
	assert_null(tok);
}

/* ---- algorithms ---- */

static void test_rs256_token_is_accepted(void **state)
{
	struct auth *a = test_auth();
	char *tok = token_with(base_claims(), SIGN_RS256, K.rsa, "rsa-1");
	struct principal p;
	struct sd_err err;

	(void)state;
	assert_int_equal(verify(a, tok, &p, &err), 0);
	assert_string_equal(p.sub, "user-1");
	assert_string_equal(p.tenant, "acme");
	assert_int_equal(p.exp, K.t0 + 600);
	assert_int_equal(p.scopes.n, 2);
	free(tok);
	auth_free(a);
}

static void test_ps256_token_is_accepted(void **state)
{
	struct auth *a = test_auth();
	char *tok = token_with(base_claims(), SIGN_PS256, K.rsa, "rsa-1");

	(void)state;
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
}

static void test_es256_token_is_accepted(void **state)
{
	struct auth *a = test_auth();
	char *tok = token_with(base_claims(), SIGN_ES256, K.ec, "ec-1");

	(void)state;
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
}

static void test_pkcs1_signature_under_ps256_header_is_rejected(void **state)
{
	struct auth *a = test_auth();
	json_t *c = base_claims();
	char *p = json_dumps(c, JSON_COMPACT), *tok;

	(void)state;
	/* header says PS256, signature is RS256's PKCS#1 v1.5, and vice versa */
	tok = make_token("{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", p, SIGN_RS256, K.rsa);
	expect_reject(a, tok, "bad signature");
	free(tok);
	tok = make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", p, SIGN_PS256, K.rsa);
	expect_reject(a, tok, "bad signature");
	free(tok);
	json_decref(c);
	free(p);
	auth_free(a);
}

static void test_alg_none_is_rejected(void **state)
{
	static const char *algs[] = { "none", "None", "NONE", "nOnE" };
	struct auth *a = test_auth();
	char *p = claims_text(), hdr[128], *tok;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[i]);
		tok = make_token(hdr, p, SIGN_NONE, NULL);
		/* the empty signature part is refused before the algorithm */
		expect_reject(a, tok, "malformed token");
		free(tok);
		/* and with some signature bytes the algorithm is refused */
		tok = make_token(hdr, p, SIGN_ES256, K.ec);
		expect_reject(a, tok, "unsupported algorithm");
		free(tok);
	}
	free(p);
	auth_free(a);
}

/* HMAC key confusion: HS256 keyed with the verifier's own public key bytes. */
static void test_hs256_keyed_with_the_public_key_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char *p = claims_text(), *pem = NULL, *jwks_text = slurp(K.test_jwks);
	static const char *algs[] = { "HS256", "HS384", "HS512" };
	BIO *bio = BIO_new(BIO_s_mem());
	long pem_len;

	(void)state;
	assert_int_equal(PEM_write_bio_PUBKEY(bio, K.rsa), 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	for (size_t i = 0; i < 3; i++) {
		const void *keys[] = { pem, jwks_text };
		size_t lens[] = { (size_t)pem_len, strlen(jwks_text) };

		for (size_t k = 0; k < 2; k++) {
			char hdr[128], *h, *pl, *input, *mac, *tok;

			snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}", algs[i]);
			h = b64u(hdr, strlen(hdr));
			pl = b64u(p, strlen(p));
			input = malloc(strlen(h) + strlen(pl) + 2);
			snprintf(input, strlen(h) + strlen(pl) + 2, "%s.%s", h, pl);
			mac = hmac_b64(input, keys[k], lens[k]);
			tok = join3(h, pl, mac);
			expect_reject(a, tok, "unsupported algorithm");
			free(h);
			free(pl);
			free(input);
			free(mac);
			free(tok);
		}
	}
	BIO_free(bio);
	free(jwks_text);
	free(p);
	auth_free(a);
}

static void test_other_algorithms_are_rejected(void **state)
{
	static const char *algs[] = { "RS384", "RS512", "PS384", "PS512", "ES384", "ES512", "EdDSA",
				      "es256", "rs256", "ES256 ", "" };
	struct auth *a = test_auth();
	char *p = claims_text(), hdr[128], *tok;

	(void)state;
	for (size_t i = 0; i < SD_ARRAY_LEN(algs); i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"ec-1\"}", algs[i]);
		tok = make_token(hdr, p, SIGN_ES256, K.ec);
		expect_reject(a, tok, "unsupported algorithm");
		free(tok);
	}
	tok = make_token("{\"alg\":256,\"kid\":\"ec-1\"}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "malformed token");
	free(tok);
	tok = make_token("{\"kid\":\"ec-1\"}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "malformed token");
	free(tok);
	free(p);
	auth_free(a);
}

static void test_signature_by_a_wrong_key_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char *tok;

	(void)state;
	tok = token_with(base_claims(), SIGN_ES256, K.attacker, "ec-1");
	expect_reject(a, tok, "bad signature");
	free(tok);
	tok = token_with(base_claims(), SIGN_RS256, K.rsa2, "rsa-1");
	expect_reject(a, tok, "bad signature");
	free(tok);
	auth_free(a);
}

static void test_modified_payload_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char *tok = token_with(base_claims(), SIGN_ES256, K.ec, "ec-1");
	char *other = token_with(json_pack("{s:s,s:s,s:s,s:s,s:I}", "iss", ISS, "aud", AUD, "sub", "root",
					   "tenant", "other", "exp", (json_int_t)(K.t0 + 600)),
				 SIGN_ES256, K.attacker, "ec-1");
	char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.'), *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
	size_t n = (size_t)(d1 - tok) + (size_t)(o2 - o1) + strlen(d2) + 1;
	char *spliced = malloc(n);

	(void)state;
	/* header and signature of a good token around another payload */
	snprintf(spliced, n, "%.*s%.*s%s", (int)(d1 - tok), tok, (int)(o2 - o1), o1, d2);
	expect_reject(a, spliced, "bad signature");
	free(spliced);
	free(tok);
	free(other);
	auth_free(a);
}

static void test_es256_signature_must_be_64_raw_bytes(void **state)
{
	struct auth *a = test_auth();
	char *p = claims_text();
	const char *hdr = "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}";
	char *tok = make_token(hdr, p, SIGN_ES256_DER, K.ec);

	(void)state;
	expect_reject(a, tok, "bad signature"); /* DER is not JOSE's r||s */
	free(tok);
	tok = make_token(hdr, p, SIGN_ES256, K.ec);
	expect_ok(a, tok);
	{
		/* one byte more or less */
		char *dot = strrchr(tok, '.');
		unsigned char raw[80];
		size_t rl = 0;
		char *s, *h2, *longer, *shorter;

		assert_int_equal(b64url_decode(dot + 1, strlen(dot + 1), raw, &rl), 0);
		assert_int_equal(rl, 64);
		raw[64] = 0;
		s = b64u(raw, 65);
		h2 = strndup(tok, (size_t)(dot - tok));
		longer = malloc(strlen(h2) + strlen(s) + 2);
			snprintf(longer, strlen(h2) + strlen(s) + 2, "%s.%s", h2, s);
		expect_reject(a, longer, "bad signature");
		free(s);
		s = b64u(raw, 63);
		shorter = malloc(strlen(h2) + strlen(s) + 2);
		snprintf(shorter, strlen(h2) + strlen(s) + 2, "%s.%s", h2, s);
		expect_reject(a, shorter, "bad signature");
		free(s);
		free(h2);
		free(longer);
		free(shorter);
	}
	free(tok);
	free(p);
	auth_free(a);
}

/* ---- keys ---- */

static void test_unknown_kid_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char *tok = token_with(base_claims(), SIGN_ES256, K.ec, "ec-2");

	(void)state;
	expect_reject(a, tok, "unknown key id");
	free(tok);
	auth_free(a);
}

static void test_es256_header_with_an_rsa_key_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char *p = claims_text(), *tok;

	(void)state;
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "key does not match the algorithm");
	free(tok);
	tok = make_token("{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", p, SIGN_RS256, K.rsa);
	expect_reject(a, tok, "key does not match the algorithm");
	free(tok);
	tok = make_token("{\"alg\":\"PS256\",\"kid\":\"ec-1\"}", p, SIGN_PS256, K.rsa);
	expect_reject(a, tok, "key does not match the algorithm");
	free(tok);
	free(p);
	auth_free(a);
}

static void test_jwk_alg_pins_the_token_alg(void **state)
{
	char path[PATH_MAX + 32];
	struct auth *a;
	char *tok;

	(void)state;
	snprintf(path, sizeof(path), "%s/pinned.json", K.dir);
	write_jwks(path, jwk_of(K.rsa, "rsa-1", "RS256"), NULL);
	a = new_auth_opts(path, NULL, ISS, AUD, 5, NULL);
	tok = token_with(base_claims(), SIGN_RS256, K.rsa, "rsa-1");
	expect_ok(a, tok);
	free(tok);
	tok = token_with(base_claims(), SIGN_PS256, K.rsa, "rsa-1");
	expect_reject(a, tok, "key does not match the algorithm");
	free(tok);
	auth_free(a);
}

static void test_no_kid_uses_the_only_key_of_the_right_type(void **state)
{
	char path[PATH_MAX + 32];
	struct auth *a = test_auth();
	char *tok;

	(void)state;
	tok = token_with(base_claims(), SIGN_RS256, K.rsa, NULL);
	expect_ok(a, tok);
	free(tok);
	tok = token_with(base_claims(), SIGN_ES256, K.ec, NULL);
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
	/* two RSA keys: which one is ambiguous */
	snprintf(path, sizeof(path), "%s/two-rsa.json", K.dir);
	write_jwks(path, jwk_of(K.rsa, "rsa-1", NULL), jwk_of(K.rsa2, "rsa-2", NULL), NULL);
	a = new_auth_opts(path, NULL, ISS, AUD, 5, NULL);
	tok = token_with(base_claims(), SIGN_RS256, K.rsa, NULL);
	expect_reject(a, tok, "ambiguous");
	free(tok);
	tok = token_with(base_claims(), SIGN_RS256, K.rsa2, "rsa-2");
	expect_ok(a, tok);
	free(tok);
	/* no EC key at all */
	tok = token_with(base_claims(), SIGN_ES256, K.ec, NULL);
	expect_reject(a, tok, "no key for the algorithm");
	free(tok);
	auth_free(a);
}

static void test_embedded_jwk_and_key_urls_in_the_header_are_ignored(void **state)
{
	struct auth *a = test_auth();
	json_t *attacker_jwk = jwk_of(K.attacker, "ec-1", "ES256");
	char *p = claims_text(), *jwk = json_dumps(attacker_jwk, JSON_COMPACT);
	char hdr[1024], *tok;

	(void)state;
	/* signed by the attacker, whose key rides in the header */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"jwk\":%s}", jwk);
	tok = make_token(hdr, p, SIGN_ES256, K.attacker);
	expect_reject(a, tok, "bad signature");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"jwk\":%s}", jwk);
	tok = make_token(hdr, p, SIGN_ES256, K.attacker);
	expect_reject(a, tok, "bad signature");
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"evil\",\"jwk\":%s,"
		 "\"jku\":\"https://evil.example/jwks\",\"x5u\":\"https://evil.example/c\"}", jwk);
	tok = make_token(hdr, p, SIGN_ES256, K.attacker);
	expect_reject(a, tok, "unknown key id");
	free(tok);
	/* the members themselves do not break a good token */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"jwk\":%s,"
		 "\"jku\":\"https://evil.example/jwks\",\"x5c\":[\"AAAA\"]}", jwk);
	tok = make_token(hdr, p, SIGN_ES256, K.ec);
	expect_ok(a, tok);
	free(tok);
	free(jwk);
	free(p);
	json_decref(attacker_jwk);
	auth_free(a);
}

static void test_jwks_refuses_weak_and_invalid_keys(void **state)
{
	char path[PATH_MAX + 32];
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	json_t *off_curve = jwk_of(K.ec, "bad-point", NULL), *e1 = jwk_of(K.rsa, "e-one", NULL);
	struct sd_config cfg;
	struct sd_err err;
	struct auth *a;
	char *y, *tok;

	(void)state;
	assert_non_null(small);
	/* move y by one: no longer on the curve */
	y = strdup(json_string_value(json_object_get(off_curve, "y")));
	y[5] = y[5] == 'A' ? 'B' : 'A';
	json_object_set_new(off_curve, "y", json_string(y));
	free(y);
	json_object_set_new(e1, "e", json_string("AQ"));
	snprintf(path, sizeof(path), "%s/weak.json", K.dir);
	write_jwks(path, jwk_of(small, "small", NULL), json_deep_copy(off_curve), json_deep_copy(e1), NULL);
	config_defaults(&cfg);
	sd_strlcpy(cfg.jwks_file, path, sizeof(cfg.jwks_file));
	snprintf(cfg.issuer, sizeof(cfg.issuer), ISS);
	snprintf(cfg.audience, sizeof(cfg.audience), AUD);
	assert_null(auth_new(&cfg, &err));
	assert_non_null(strstr(err.msg, "no usable key"));
	/* next to a good key they are skipped, and only the good key works */
	write_jwks(path, jwk_of(small, "small", NULL), off_curve, e1, jwk_of(K.ec, "ec-1", NULL), NULL);
	a = new_auth_opts(path, NULL, ISS, AUD, 5, NULL);
	tok = token_with(base_claims(), SIGN_RS256, small, "small");
	expect_reject(a, tok, "unknown key id");
	free(tok);
	tok = token_with(base_claims(), SIGN_ES256, K.ec, "ec-1");
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
	EVP_PKEY_free(small);
}

static void test_jwks_skips_keys_not_for_signing(void **state)
{
	char path[PATH_MAX + 32];
	json_t *enc = jwk_of(K.ec, "ec-enc", NULL), *ops = jwk_of(K.rsa, "rsa-ops", NULL);
	json_t *oct = json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "hmac", "k", "c2VjcmV0");
	struct auth *a;
	char *tok;

	(void)state;
	json_object_set_new(enc, "use", json_string("enc"));
	json_object_set_new(ops, "key_ops", json_pack("[s]", "encrypt"));
	snprintf(path, sizeof(path), "%s/uses.json", K.dir);
	write_jwks(path, enc, ops, oct, jwk_of(K.rsa2, "rsa-2", "PS256"), NULL);
	a = new_auth_opts(path, NULL, ISS, AUD, 5, NULL);
	tok = token_with(base_claims(), SIGN_ES256, K.ec, "ec-enc");
	expect_reject(a, tok, "unknown key id");
	free(tok);
	tok = token_with(base_claims(), SIGN_RS256, K.rsa, "rsa-ops");
	expect_reject(a, tok, "unknown key id");
	free(tok);
	tok = token_with(base_claims(), SIGN_PS256, K.rsa2, "rsa-2");
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
}

/* ---- claims ---- */

static void test_expired_token_is_rejected_but_accepted_within_leeway(void **state)
{
	struct auth *a = test_auth(); /* leeway 5 s */
	json_t *c;
	char *tok;

	(void)state;
	c = base_claims();
	json_object_set_new(c, "exp", json_integer(K.t0 - 5));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "token expired");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "exp", json_integer(K.t0 - 4));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
	/* no leeway: exp == now is already expired */
	a = new_auth_opts(K.test_jwks, NULL, ISS, AUD, 0, NULL);
	c = base_claims();
	json_object_set_new(c, "exp", json_integer(K.t0));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "token expired");
	free(tok);
	auth_free(a);
}

static void test_exp_is_required_and_must_be_a_numeric_date(void **state)
{
	struct auth *a = test_auth();
	json_t *c;
	char *tok;

	(void)state;
	c = base_claims();
	json_object_del(c, "exp");
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "missing exp claim");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "exp", json_string("9999999999"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "exp is not a NumericDate");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "exp", json_real((double)K.t0 + 600.5));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "exp is not a NumericDate");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "exp", json_real(1e300));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "exp is not a NumericDate");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "exp", json_integer(INT64_MAX));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "exp is not a NumericDate");
	free(tok);
	/* a real with an integral value is a NumericDate */
	c = base_claims();
	json_object_set_new(c, "exp", json_real((double)K.t0 + 600));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
}

static void test_nbf_in_the_future_is_rejected(void **state)
{
	struct auth *a = test_auth();
	json_t *c;
	char *tok;

	(void)state;
	c = base_claims();
	json_object_set_new(c, "nbf", json_integer(K.t0 + 6));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "token not yet valid");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "nbf", json_integer(K.t0 + 5)); /* within leeway */
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_ok(a, tok);
	free(tok);
	c = base_claims();
	json_object_set_new(c, "nbf", json_string("soon"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "nbf is not a NumericDate");
	free(tok);
	auth_free(a);
}

static void test_iat_in_the_future_is_rejected(void **state)
{
	struct auth *a = test_auth();
	json_t *c;
	char *tok;

	(void)state;
	c = base_claims();
	json_object_set_new(c, "iat", json_integer(K.t0 + 60));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "issued in the future");
	free(tok);
	c = base_claims();
	json_object_del(c, "iat");
	json_object_del(c, "nbf");
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
}

static void test_wrong_issuer_is_rejected(void **state)
{
	static const char *bad[] = { "https://access.test/", "https://evil.test", "", "HTTPS://ACCESS.TEST" };
	struct auth *a = test_auth();
	json_t *c;
	char *tok;

	(void)state;
	for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
		c = base_claims();
		json_object_set_new(c, "iss", json_string(bad[i]));
		tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
		expect_reject(a, tok, "wrong issuer");
		free(tok);
	}
	c = base_claims();
	json_object_del(c, "iss");
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "wrong issuer");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "iss", json_pack("[s]", ISS));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "wrong issuer");
	free(tok);
	auth_free(a);
}

static void test_wrong_audience_is_rejected_and_an_array_holding_it_accepted(void **state)
{
	struct auth *a = test_auth();
	json_t *c;
	char *tok;

	(void)state;
	c = base_claims();
	json_object_set_new(c, "aud", json_string("someone-else"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "wrong audience");
	free(tok);
	c = base_claims();
	json_object_del(c, "aud");
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "wrong audience");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "aud", json_pack("[s, s]", "a", "b"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "wrong audience");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "aud", json_pack("[i, s, s]", 3, "other", AUD));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
}

static void test_missing_or_bad_sub_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char long_sub[SD_SUB_MAX + 2];
	json_t *c;
	char *tok;

	(void)state;
	c = base_claims();
	json_object_del(c, "sub");
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "missing sub claim");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "sub", json_string(""));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "missing sub claim");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "sub", json_integer(42));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "missing sub claim");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "sub", json_string("tab\there"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "invalid sub claim");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "sub", json_string("caf\xc3\xa9"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "invalid sub claim");
	free(tok);
	memset(long_sub, 'u', sizeof(long_sub) - 1);
	long_sub[sizeof(long_sub) - 1] = '\0';
	c = base_claims();
	json_object_set_new(c, "sub", json_string(long_sub));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "invalid sub claim");
	free(tok);
	/* exactly SD_SUB_MAX bytes, spaces allowed */
	long_sub[SD_SUB_MAX] = '\0';
	long_sub[3] = ' ';
	c = base_claims();
	json_object_set_new(c, "sub", json_string(long_sub));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_ok(a, tok);
	free(tok);
	auth_free(a);
}

static void test_missing_tenant_is_rejected(void **state)
{
	struct auth *a = test_auth();
	json_t *c;
	char *tok;

	(void)state;
	c = base_claims();
	json_object_del(c, "tenant");
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "missing tenant claim");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "tenant", json_null());
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "missing tenant claim");
	free(tok);
	auth_free(a);
}

static void test_invalid_tenant_characters_are_rejected(void **state)
{
	static const char *bad[] = { "a/b", "..", ".", "", "a b", "t\xc3\xa9", "a:b", "a\\b",
				     "0123456789012345678901234567890123456789012345678901234567890123x" };
	struct auth *a = test_auth();
	json_t *c;
	char *tok;

	(void)state;
	for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
		assert_false(auth_tenant_valid(bad[i]));
		c = base_claims();
		json_object_set_new(c, "tenant", json_string(bad[i]));
		tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
		expect_reject(a, tok, "invalid tenant claim");
		free(tok);
	}
	assert_false(auth_tenant_valid(NULL));
	assert_true(auth_tenant_valid("Acme_Corp-1.eu"));
	assert_true(auth_tenant_valid("..."));
	assert_true(auth_tenant_valid("0123456789012345678901234567890123456789012345678901234567890123"));
	auth_free(a);
}

static void test_tenant_claim_name_comes_from_the_config(void **state)
{
	struct auth *a = new_auth_opts(K.test_jwks, NULL, ISS, AUD, 5, "org");
	struct principal p;
	struct sd_err err;
	json_t *c = base_claims();
	char *tok;

	(void)state;
	tok = token_with(json_deep_copy(c), SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "missing tenant claim");
	free(tok);
	json_object_set_new(c, "org", json_string("org-7"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	assert_int_equal(verify(a, tok, &p, &err), 0);
	assert_string_equal(p.tenant, "org-7");
	free(tok);
	auth_free(a);
}

static void test_scope_claim_fills_the_principal(void **state)
{
	struct auth *a = test_auth();
	struct principal p;
	struct sd_err err;
	json_t *c;
	char *tok;

	(void)state;
	c = base_claims();
	json_object_del(c, "scope");
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	assert_int_equal(verify(a, tok, &p, &err), 0);
	assert_int_equal(p.scopes.n, 0);
	free(tok);
	c = base_claims();
	json_object_set_new(c, "scope", json_pack("[s]", "admin"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "invalid scope claim");
	free(tok);
	c = base_claims();
	json_object_set_new(c, "scope", json_string("openid leases:issue:etl-* admin"));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	assert_int_equal(verify(a, tok, &p, &err), 0);
	assert_int_equal(p.scopes.n, 2);
	assert_true(scopes_allow(&p.scopes, SCOPE_SECRETS_WRITE, "anything"));
	free(tok);
	auth_free(a);
}

/* ---- serialization ---- */

static void test_malformed_base64_in_each_part_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char *good = token_with(base_claims(), SIGN_ES256, K.ec, "ec-1");
	static const char *bad_chars[] = { "+", "/", "=", " ", "*", "\n" };

	(void)state;
	expect_ok(a, good);
	for (int part = 0; part < 3; part++) {
		/* position 1 of the part (never the last character) */
		char *p = good;

		for (int i = 0; i < part; i++)
			p = strchr(p, '.') + 1;
		for (size_t i = 0; i < SD_ARRAY_LEN(bad_chars); i++) {
			char *t = strdup(good);

			t[(p - good) + 1] = bad_chars[i][0];
			expect_reject(a, t, "not base64url");
			free(t);
		}
		{
			/* standard padding appended to the part */
			size_t off = (size_t)(p - good) + strcspn(p, ".");
			size_t n = strlen(good) + 3;
			char *t = malloc(n);

			snprintf(t, n, "%.*s==%s", (int)off, good, good + off);
			expect_reject(a, t, "malformed token");
			free(t);
		}
	}
	free(good);
	auth_free(a);
}

static void test_non_canonical_base64_trailing_bits_are_rejected(void **state)
{
	struct auth *a = test_auth();
	char *good = token_with(base_claims(), SIGN_ES256, K.ec, "ec-1");
	char *t = strdup(good);
	char *last = t + strlen(t) - 1;

	(void)state;
	/* a 64-byte signature ends in 2 characters holding 4 spare bits: "A" -> "B" sets one */
	assert_true(strlen(strrchr(t, '.') + 1) % 4 == 2);
	assert_non_null(strchr("AQgw", *last));
	(*last)++; /* A->B, Q->R, g->h, w->x: same byte, one spare bit set */
	expect_reject(a, t, "not base64url");
	free(t);
	free(good);
	auth_free(a);
}

static void test_two_or_four_parts_are_rejected(void **state)
{
	struct auth *a = test_auth();
	char *good = token_with(base_claims(), SIGN_ES256, K.ec, "ec-1");
	char *last_dot = strrchr(good, '.');
	size_t n = strlen(good);
	char *t = malloc(n + 8);

	(void)state;
	snprintf(t, n + 8, "%.*s", (int)(last_dot - good), good); /* two parts */
	expect_reject(a, t, "not three");
	snprintf(t, n + 8, "%s.", good);
	expect_reject(a, t, "not three");
	snprintf(t, n + 8, "%s.AAAA", good);
	expect_reject(a, t, "not three");
	snprintf(t, n + 8, "%s", good);
	t[last_dot - good] = '\0'; /* embedded NUL: the length says more */
	{
		struct principal p;
		struct sd_err err;

		assert_int_equal(auth_verify(a, t, n, &p, &err), SD_EUNAUTH);
	}
	expect_reject(a, "", "malformed token");
	expect_reject(a, "..", "empty part");
	expect_reject(a, ".e30.AAAA", "empty part");
	snprintf(t, n + 8, "%.*s.", (int)(last_dot - good), good); /* empty signature */
	expect_reject(a, t, "empty part");
	{
		/* empty payload */
		char *d1 = strchr(good, '.');

		snprintf(t, n + 8, "%.*s.%s", (int)(d1 - good), good, last_dot);
		expect_reject(a, t, "empty part");
	}
	free(t);
	free(good);
	auth_free(a);
}

static void test_duplicate_json_members_are_rejected(void **state)
{
	struct auth *a = test_auth();
	char *p = claims_text(), *tok, *dup;
	size_t n;

	(void)state;
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"alg\":\"ES256\"}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "header is not a JSON object");
	free(tok);
	/* the first alg would pass, the second is the attack */
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"alg\":\"none\"}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "header is not a JSON object");
	free(tok);
	n = strlen(p) + 32;
	dup = malloc(n);
	snprintf(dup, n, "%.*s,\"sub\":\"root\"}", (int)(strlen(p) - 1), p);
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", dup, SIGN_ES256, K.ec);
	expect_reject(a, tok, "claims are not a JSON object");
	free(tok);
	free(dup);
	free(p);
	auth_free(a);
}

static void test_header_and_claims_must_be_json_objects(void **state)
{
	struct auth *a = test_auth();
	char *p = claims_text(), *tok;

	(void)state;
	tok = make_token("[\"ES256\"]", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "header is not a JSON object");
	free(tok);
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\"} x", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "header is not a JSON object");
	free(tok);
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", "[1,2]", SIGN_ES256, K.ec);
	expect_reject(a, tok, "claims are not a JSON object");
	free(tok);
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", "\"just a string\"", SIGN_ES256, K.ec);
	expect_reject(a, tok, "claims are not a JSON object");
	free(tok);
	tok = make_token("{\"alg\":\"ES256\",\"kid\":7}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "kid is not a string");
	free(tok);
	free(p);
	auth_free(a);
}

static void test_crit_header_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char *p = claims_text(), *tok;

	(void)state;
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"crit\":[\"exp\"],\"exp\":1}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "critical header");
	free(tok);
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"b64\":false,\"crit\":[\"b64\"]}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "critical header");
	free(tok);
	free(p);
	auth_free(a);
}

static void test_typ_must_name_a_jwt(void **state)
{
	static const char *ok[] = { "JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt" };
	static const char *bad[] = { "JWE", "secevent+jwt", "", "JOSE" };
	struct auth *a = test_auth();
	char *p = claims_text(), hdr[128], *tok;

	(void)state;
	for (size_t i = 0; i < SD_ARRAY_LEN(ok); i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"%s\"}", ok[i]);
		tok = make_token(hdr, p, SIGN_ES256, K.ec);
		expect_ok(a, tok);
		free(tok);
	}
	for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":\"%s\"}", bad[i]);
		tok = make_token(hdr, p, SIGN_ES256, K.ec);
		expect_reject(a, tok, "unsupported token type");
		free(tok);
	}
	tok = make_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"typ\":1}", p, SIGN_ES256, K.ec);
	expect_reject(a, tok, "unsupported token type");
	free(tok);
	free(p);
	auth_free(a);
}

static void test_token_over_8192_bytes_is_rejected(void **state)
{
	struct auth *a = test_auth();
	char *pad = malloc(SD_TOKEN_MAX);
	char *last_ok = NULL;
	int saw_over = 0;

	(void)state;
	/* grow a padding claim until the token passes the cap: the last one
	 * under it verifies, the first one over it does not */
	for (size_t n = 5800; n < 6300 && !saw_over; n++) {
		json_t *c = base_claims();
		char *tok;

		memset(pad, 'p', n);
		pad[n] = '\0';
		json_object_set_new(c, "pad", json_string(pad));
		tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
		if (strlen(tok) <= SD_TOKEN_MAX) {
			free(last_ok);
			last_ok = tok;
		} else {
			expect_reject(a, tok, "longer than 8192");
			saw_over = 1;
			free(tok);
		}
	}
	assert_true(saw_over);
	assert_non_null(last_ok);
	assert_true(strlen(last_ok) > SD_TOKEN_MAX - 4);
	expect_ok(a, last_ok);
	free(last_ok);
	free(pad);
	auth_free(a);
}

/* ---- the cache ---- */

/* Whether y is the principal x (a cache hit writes only what is used: bytes
 * of scopes.buf past the patterns do not count). */
static void assert_same_principal(const struct principal *x, const struct principal *y)
{
	assert_string_equal(x->tenant, y->tenant);
	assert_string_equal(x->sub, y->sub);
	assert_int_equal(x->exp, y->exp);
	assert_int_equal(x->scopes.n, y->scopes.n);
	for (int i = 0; i < x->scopes.n; i++) {
		assert_int_equal(x->scopes.s[i].kind, y->scopes.s[i].kind);
		assert_int_equal(x->scopes.s[i].off, y->scopes.s[i].off);
		assert_string_equal(x->scopes.buf + x->scopes.s[i].off,
				    y->scopes.buf + y->scopes.s[i].off);
	}
}

static void test_cache_returns_the_same_principal_for_the_same_token(void **state)
{
	struct auth *a = test_auth();
	char *tok = token_with(base_claims(), SIGN_RS256, K.rsa, "rsa-1");
	struct principal p1, p2;
	struct auth_stats st;
	struct sd_err err;

	(void)state;
	memset(&p1, 0, sizeof(p1));
	memset(&p2, 0xaa, sizeof(p2));
	assert_int_equal(verify(a, tok, &p1, &err), 0);
	assert_int_equal(verify(a, tok, &p2, &err), 0);
	auth_get_stats(a, &st);
	assert_int_equal(st.cache_misses, 1);
	assert_int_equal(st.cache_hits, 1);
	assert_same_principal(&p1, &p2); /* p2 started as junk */
	free(tok);
	auth_free(a);
}

/* A cache entry keeps what the principal uses, so a hit must rebuild every
 * size of it: no scopes, and the largest scope claim the parser takes. */
static void test_cache_hit_rebuilds_principals_of_every_size(void **state)
{
	static const char *kind[] = { "secrets:read:", "secrets:write:", "leases:issue:" };
	struct auth *a = test_auth();
	char claim[SD_SCOPE_BUF + 1], sub[SD_SUB_MAX + 1], tenant[SD_TENANT_MAX + 1], *tok;
	struct principal p1, p2;
	struct auth_stats st;
	struct sd_err err;
	json_t *c;
	size_t off = 0;

	(void)state;
	for (int i = 0; i < SD_SCOPES_MAX - 1; i++)
		off += (size_t)snprintf(claim + off, sizeof(claim) - off, "%sp%02d/* ", kind[i % 3], i);
	off += (size_t)snprintf(claim + off, sizeof(claim) - off, "admin openid ");
	memset(claim + off, 'x', SD_SCOPE_BUF - 1 - off); /* an unknown word */
	claim[SD_SCOPE_BUF - 1] = '\0';
	memset(sub, 's', SD_SUB_MAX);
	sub[SD_SUB_MAX] = '\0';
	memset(tenant, 't', SD_TENANT_MAX);
	tenant[SD_TENANT_MAX] = '\0';
	for (int t = 0; t < 3; t++) {
		c = base_claims();
		if (t == 0)
			json_object_del(c, "scope");
		if (t >= 1)
			json_object_set_new(c, "scope", json_string(claim));
		if (t == 2) {
			json_object_set_new(c, "sub", json_string(sub));
			json_object_set_new(c, "tenant", json_string(tenant));
		}
		tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
		memset(&p1, 0, sizeof(p1));
		memset(&p2, 0x5a, sizeof(p2));
		assert_int_equal(verify(a, tok, &p1, &err), 0);
		assert_int_equal(verify(a, tok, &p2, &err), 0);
		assert_same_principal(&p1, &p2);
		assert_int_equal(p2.scopes.n, t == 0 ? 0 : SD_SCOPES_MAX);
		assert_int_equal(scopes_is_admin(&p2.scopes), t != 0);
		assert_int_equal(scopes_allow(&p2.scopes, SCOPE_LEASES_ISSUE, "p02/x"), t != 0);
		free(tok);
	}
	assert_string_equal(p2.tenant, tenant);
	assert_string_equal(p2.sub, sub);
	auth_get_stats(a, &st);
	assert_int_equal(st.cache_misses, 3);
	assert_int_equal(st.cache_hits, 3);
	/* one byte more is refused, cached or not */
	claim[SD_SCOPE_BUF - 1] = 'x';
	claim[SD_SCOPE_BUF] = '\0';
	c = base_claims();
	json_object_set_new(c, "scope", json_string(claim));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_reject(a, tok, "scope claim is too long");
	expect_reject(a, tok, "scope claim is too long");
	free(tok);
	auth_free(a);
}

static void test_cache_never_keeps_a_failure(void **state)
{
	struct auth *a = test_auth();
	char *bad = token_with(base_claims(), SIGN_ES256, K.attacker, "ec-1");
	json_t *c = base_claims();
	char *expired;
	struct auth_stats st;

	(void)state;
	json_object_set_new(c, "exp", json_integer(K.t0 - 100));
	expired = token_with(c, SIGN_ES256, K.ec, "ec-1");
	for (int i = 0; i < 3; i++) {
		expect_reject(a, bad, "bad signature");
		expect_reject(a, expired, "token expired");
	}
	auth_get_stats(a, &st);
	assert_int_equal(st.cache_hits, 0);
	assert_int_equal(st.cache_misses, 6);
	free(bad);
	free(expired);
	auth_free(a);
}

static void test_cached_token_is_rejected_once_it_expires(void **state)
{
	struct auth *a = test_auth(); /* leeway 5 s */
	json_t *c = base_claims();
	struct auth_stats st;
	char *tok;

	(void)state;
	json_object_set_new(c, "exp", json_integer(K.t0 + 10));
	tok = token_with(c, SIGN_ES256, K.ec, "ec-1");
	expect_ok(a, tok);                    /* verified and cached */
	auth_set_clock_for_test(a, K.t0 + 14);
	expect_ok(a, tok);                    /* hit, still within exp + leeway */
	auth_set_clock_for_test(a, K.t0 + 15);
	expect_reject(a, tok, "token expired"); /* hit, but expired: dropped */
	auth_get_stats(a, &st);
	assert_int_equal(st.cache_misses, 1);
	assert_int_equal(st.cache_hits, 2);
	expect_reject(a, tok, "token expired"); /* a miss now, full check */
	auth_get_stats(a, &st);
	assert_int_equal(st.cache_misses, 2);
	free(tok);
	auth_free(a);
}

struct worker {
	struct auth *a;
	const char *good[2];
	const char *bad;
	int errors;
};

static void *verify_worker(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 200; i++) {
		struct principal p;
		struct sd_err err;

		if (auth_verify(w->a, w->good[i % 2], strlen(w->good[i % 2]), &p, &err) != 0 ||
		    strcmp(p.tenant, "acme") != 0)
			w->errors++;
		if (auth_verify(w->a, w->bad, strlen(w->bad), &p, &err) != SD_EUNAUTH)
			w->errors++;
	}
	return NULL;
}

static void test_concurrent_verification_is_consistent(void **state)
{
	struct auth *a = test_auth();
	char *g1 = token_with(base_claims(), SIGN_ES256, K.ec, "ec-1");
	char *g2 = token_with(base_claims(), SIGN_PS256, K.rsa, "rsa-1");
	char *b = token_with(base_claims(), SIGN_ES256, K.attacker, "ec-1");
	struct worker w[4];
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ a, { g1, g2 }, b, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, verify_worker, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	free(g1);
	free(g2);
	free(b);
	auth_free(a);
}

/* ---- JWKS from a URL: a one-thread HTTP server on 127.0.0.1 ---- */

struct mini_http {
	int fd, port;
	pthread_t th;
	pthread_mutex_t mu;
	char *body;          /* guarded by mu */
	int status;
	int send_length;
	int requests;
	atomic_int stop;
};

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void *http_loop(void *arg)
{
	struct mini_http *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		char req[4096], hdr[256];
		size_t n = 0;
		char *body;
		int c, status, with_len;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((c = accept(s->fd, NULL, NULL)) < 0)
			continue;
		while (n < sizeof(req) - 1) {
			ssize_t r = recv(c, req + n, sizeof(req) - 1 - n, 0);

			if (r <= 0)
				break;
			n += (size_t)r;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		pthread_mutex_lock(&s->mu);
		s->requests++;
		body = strdup(s->body);
		status = s->status;
		with_len = s->send_length;
		pthread_mutex_unlock(&s->mu);
		if (with_len)
			snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(body));
		else
			snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
				 "Connection: close\r\n\r\n", status);
		send_all(c, hdr, strlen(hdr));
		send_all(c, body, strlen(body));
		free(body);
		close(c);
	}
	return NULL;
}

static void http_start(struct mini_http *s, const char *body)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &sl), 0);
	s->port = ntohs(sa.sin_port);
	pthread_mutex_init(&s->mu, NULL);
	s->body = strdup(body);
	s->status = 200;
	s->send_length = 1;
	assert_int_equal(pthread_create(&s->th, NULL, http_loop, s), 0);
}

static void http_set(struct mini_http *s, const char *body, int status, int send_length)
{
	pthread_mutex_lock(&s->mu);
	free(s->body);
	s->body = strdup(body);
	s->status = status;
	s->send_length = send_length;
	pthread_mutex_unlock(&s->mu);
}

static int http_requests(struct mini_http *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->requests;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void http_stop(struct mini_http *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s->body);
}

static char *jwks_text(json_t *k1, json_t *k2)
{
	json_t *doc = json_pack("{s:[o]}", "keys", k1);
	char *t;

	if (k2)
		json_array_append_new(json_object_get(doc, "keys"), k2);
	t = json_dumps(doc, 0);
	json_decref(doc);
	return t;
}

static void test_unknown_kid_refetches_the_jwks_url_at_most_every_30s(void **state)
{
	struct mini_http s;
	char url[64], *only_ec = jwks_text(jwk_of(K.ec, "ec-1", NULL), NULL);
	char *both = jwks_text(jwk_of(K.ec, "ec-1", NULL), jwk_of(K.rsa, "rsa-1", NULL));
	char *tok = token_with(base_claims(), SIGN_RS256, K.rsa, "rsa-1");
	char *other = token_with(base_claims(), SIGN_RS256, K.rsa, "rsa-9");
	struct auth_stats st;
	struct auth *a;

	(void)state;
	http_start(&s, only_ec);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks", s.port);
	a = new_auth_opts(NULL, url, ISS, AUD, 5, NULL);
	assert_int_equal(http_requests(&s), 1);
	/* first unknown kid: one refetch, still unknown */
	expect_reject(a, tok, "unknown key id");
	assert_int_equal(http_requests(&s), 2);
	/* the key appears, but the next refetch may only come 30 s later */
	http_set(&s, both, 200, 1);
	expect_reject(a, tok, "unknown key id");
	expect_reject(a, other, "unknown key id");
	assert_int_equal(http_requests(&s), 2);
	auth_set_clock_for_test(a, K.t0 + AUTH_REFETCH_INTERVAL_S - 1);
	expect_reject(a, tok, "unknown key id");
	assert_int_equal(http_requests(&s), 2);
	auth_set_clock_for_test(a, K.t0 + AUTH_REFETCH_INTERVAL_S);
	expect_ok(a, tok);
	assert_int_equal(http_requests(&s), 3);
	/* known kids never fetch */
	expect_ok(a, tok);
	assert_int_equal(http_requests(&s), 3);
	/* a failing refetch keeps the keys we have */
	http_set(&s, "not json", 200, 1);
	auth_set_clock_for_test(a, K.t0 + 3 * AUTH_REFETCH_INTERVAL_S);
	expect_reject(a, other, "unknown key id");
	assert_int_equal(http_requests(&s), 4);
	auth_get_stats(a, &st);
	assert_int_equal(st.jwks_fetches, 3);
	{
		char *t2 = token_with(base_claims(), SIGN_ES256, K.ec, "ec-1");

		expect_ok(a, t2);
		free(t2);
	}
	auth_free(a);
	http_stop(&s);
	free(only_ec);
	free(both);
	free(tok);
	free(other);
}

static void test_jwks_url_failures_refuse_to_start(void **state)
{
	struct mini_http s;
	struct sd_config cfg;
	struct sd_err err;
	char url[64], *big;
	size_t n = JWKS_BYTES_MAX + 1;

	(void)state;
	http_start(&s, "{}");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks", s.port);
	config_defaults(&cfg);
	snprintf(cfg.jwks_url, sizeof(cfg.jwks_url), "%s", url);
	snprintf(cfg.issuer, sizeof(cfg.issuer), ISS);
	snprintf(cfg.audience, sizeof(cfg.audience), AUD);
	http_set(&s, "{\"keys\":[]}", 404, 1);
	assert_null(auth_new(&cfg, &err));
	assert_non_null(strstr(err.msg, "HTTP 404"));
	big = malloc(n + 1);
	memset(big, ' ', n);
	big[n] = '\0';
	http_set(&s, big, 200, 1); /* announced length over the cap */
	assert_null(auth_new(&cfg, &err));
	http_set(&s, big, 200, 0); /* no length: the write callback stops it */
	assert_null(auth_new(&cfg, &err));
	assert_non_null(strstr(err.msg, "more than"));
	free(big);
	/* only http and https */
	snprintf(cfg.jwks_url, sizeof(cfg.jwks_url), "file://%s/test-jwks.json", K.dir);
	assert_null(auth_new(&cfg, &err));
	http_stop(&s);
}

/* ---- Wycheproof ---- */

static FILE *open_vectors(const char *name, char *path, size_t n)
{
	const char *env = getenv("SD_VECTORS");
	FILE *f;

	if (env != NULL && env[0] != '\0') {
		snprintf(path, n, "%s/wycheproof/%s", env, name);
		if ((f = fopen(path, "r")) != NULL)
			return f;
		snprintf(path, n, "%s/%s", env, name);
		return fopen(path, "r");
	}
	snprintf(path, n, "../shared/vectors/wycheproof/%s", name);
	return fopen(path, "r");
}

/* Whether a vector's public JWK is one our verifier is meant to load. */
static int jwk_supported(const json_t *k)
{
	const char *kty = json_string_value(json_object_get(k, "kty"));
	const char *alg = json_string_value(json_object_get(k, "alg"));
	const char *use = json_string_value(json_object_get(k, "use"));
	const char *crv = json_string_value(json_object_get(k, "crv"));

	const json_t *ops = json_object_get(k, "key_ops"), *op;
	size_t i;
	int verify_op = ops == NULL;

	json_array_foreach(ops, i, op)
		verify_op |= json_is_string(op) && strcmp(json_string_value(op), "verify") == 0;
	if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0) || !verify_op)
		return 0;
	if (strcmp(kty, "RSA") == 0)
		return alg == NULL || strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0;
	if (strcmp(kty, "EC") == 0)
		return crv != NULL && strcmp(crv, "P-256") == 0 && (alg == NULL || strcmp(alg, "ES256") == 0);
	return 0;
}

static const char *header_alg(const char *jws, char *buf, size_t n)
{
	const char *dot = strchr(jws, '.');
	unsigned char raw[4096];
	size_t rl = 0;
	json_t *h;

	buf[0] = '\0';
	if (dot == NULL || (size_t)(dot - jws) > 4000 || b64url_decode(jws, (size_t)(dot - jws), raw, &rl) != 0)
		return buf;
	if ((h = json_loadb((const char *)raw, rl, 0, NULL)) != NULL) {
		if (json_is_string(json_object_get(h, "alg")))
			snprintf(buf, n, "%s", json_string_value(json_object_get(h, "alg")));
		json_decref(h);
	}
	return buf;
}

struct wp_totals {
	int ran, skipped, failed, acceptable;
};

/* Run one Wycheproof JWS/JWK file through auth_jws_verify_sig. */
static void run_wycheproof(const char *name, struct wp_totals *tot)
{
	char path[PATH_MAX], jwks_path[PATH_MAX + 32];
	json_t *doc, *groups, *g;
	json_error_t jerr;
	size_t gi;
	FILE *f = open_vectors(name, path, sizeof(path));

	if (f == NULL) {
		print_message("wycheproof: %s not found (set SD_VECTORS); skipped\n", name);
		skip();
	}
	doc = json_loadf(f, 0, &jerr);
	fclose(f);
	assert_non_null(doc);
	groups = json_object_get(doc, "testGroups");
	snprintf(jwks_path, sizeof(jwks_path), "%s/wycheproof-jwks.json", K.dir);
	json_array_foreach(groups, gi, g) {
		json_t *pub = json_object_get(g, "public"), *priv = json_object_get(g, "private");
		json_t *keys = json_array(), *tests = json_object_get(g, "tests"), *t, *doc_out;
		const char *comment = json_string_value(json_object_get(g, "comment"));
		int key_ok = 1, hmac_only = pub == NULL, ran = 0, skipped = 0, has_valid;
		struct sd_config cfg;
		struct sd_err err;
		struct auth *a;
		char *text;
		size_t ti;

		/* the keys the group verifies with */
		if (pub != NULL && json_is_array(json_object_get(pub, "keys"))) {
			size_t i;
			json_t *k;

			json_array_foreach(json_object_get(pub, "keys"), i, k) {
				json_array_append(keys, k);
				key_ok = key_ok && jwk_supported(k);
			}
		} else if (pub != NULL) {
			json_array_append(keys, pub);
			key_ok = jwk_supported(pub);
		} else {
			/* symmetric keys only: hand our verifier the group's own
			 * keys plus one key it can load; every case must fail */
			if (json_is_array(json_object_get(priv, "keys"))) {
				size_t i;
				json_t *k;

				json_array_foreach(json_object_get(priv, "keys"), i, k)
					json_array_append(keys, k);
			} else if (priv != NULL) {
				json_array_append(keys, priv);
			}
			json_array_append_new(keys, jwk_of(K.ec, "kid-ec-sign", NULL));
			key_ok = 0;
		}
		doc_out = json_pack("{s:o}", "keys", keys);
		text = json_dumps(doc_out, 0);
		write_text(jwks_path, text);
		free(text);
		json_decref(doc_out);
		config_defaults(&cfg);
		sd_strlcpy(cfg.jwks_file, jwks_path, sizeof(cfg.jwks_file));
		snprintf(cfg.issuer, sizeof(cfg.issuer), "wycheproof");
		snprintf(cfg.audience, sizeof(cfg.audience), "wycheproof");
		a = auth_new(&cfg, &err);
		has_valid = 0;
		json_array_foreach(tests, ti, t)
			has_valid |= strcmp(json_string_value(json_object_get(t, "result")), "valid") == 0;
		if (a == NULL && key_ok && has_valid) {
			print_message("wycheproof %s group %zu (%s): supported key refused: %s\n", name, gi,
				      comment, err.msg);
			tot->failed++;
		}
		json_array_foreach(tests, ti, t) {
			const char *jws = json_string_value(json_object_get(t, "jws"));
			const char *result = json_string_value(json_object_get(t, "result"));
			int id = (int)json_integer_value(json_object_get(t, "tcId")), accepted = 0;
			char alg[32];
			int alg_ok;

			assert_non_null(jws);
			header_alg(jws, alg, sizeof(alg));
			alg_ok = strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0 || strcmp(alg, "ES256") == 0;
			if (strcmp(result, "valid") == 0 && !hmac_only && (!key_ok || !alg_ok)) {
				skipped++; /* an algorithm or key we do not offer */
				continue;
			}
			if (a != NULL) {
				sd_err_clear(&err);
				accepted = auth_jws_verify_sig(a, jws, strlen(jws), &err) == 0;
			}
			ran++;
			if (strcmp(result, "acceptable") == 0) {
				print_message("wycheproof %s tc %d (%s): acceptable, %s\n", name, id,
					      json_string_value(json_object_get(t, "comment")),
					      accepted ? "accepted" : "rejected");
				tot->acceptable++;
			} else if (accepted != (strcmp(result, "valid") == 0 && !hmac_only)) {
				print_message("wycheproof %s tc %d (%s, %s): expected %s, got %s (%s)\n", name, id,
					      comment, json_string_value(json_object_get(t, "comment")),
					      hmac_only ? "reject (HMAC never allowed)" : result,
					      accepted ? "accepted" : "rejected", accepted ? "" : err.msg);
				tot->failed++;
			}
		}
		print_message("wycheproof %-28s group %2zu %-22s %s: ran %3d, skipped %d\n", name, gi, comment,
			      hmac_only ? "(HMAC/oct only: must all fail)" : a ? "" : "(key refused)", ran,
			      skipped);
		tot->ran += ran;
		tot->skipped += skipped;
		auth_free(a);
	}
	json_decref(doc);
}

static void test_wycheproof_jws_vectors(void **state)
{
	struct wp_totals tot = { 0 };

	(void)state;
	run_wycheproof("json_web_signature_test.json", &tot);
	print_message("wycheproof JWS: %d ran, %d skipped (unsupported alg/key), %d acceptable, %d failed\n",
		      tot.ran, tot.skipped, tot.acceptable, tot.failed);
	assert_true(tot.ran > 300);
	assert_int_equal(tot.failed, 0);
}

static void test_wycheproof_jwk_vectors(void **state)
{
	struct wp_totals tot = { 0 };

	(void)state;
	run_wycheproof("json_web_key_test.json", &tot);
	print_message("wycheproof JWK: %d ran, %d skipped (unsupported alg/key), %d acceptable, %d failed\n",
		      tot.ran, tot.skipped, tot.acceptable, tot.failed);
	assert_true(tot.ran > 15);
	assert_int_equal(tot.failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issuer_token_is_accepted_with_its_principal),
		cmocka_unit_test(test_issuer_token_header_names_the_jwks_kid),
		cmocka_unit_test(test_issuer_init_is_idempotent_and_keeps_the_key_private),
		cmocka_unit_test(test_issuer_sign_refuses_bad_tenant_sub_and_ttl),
		cmocka_unit_test(test_rs256_token_is_accepted),
		cmocka_unit_test(test_ps256_token_is_accepted),
		cmocka_unit_test(test_es256_token_is_accepted),
		cmocka_unit_test(test_pkcs1_signature_under_ps256_header_is_rejected),
		cmocka_unit_test(test_alg_none_is_rejected),
		cmocka_unit_test(test_hs256_keyed_with_the_public_key_is_rejected),
		cmocka_unit_test(test_other_algorithms_are_rejected),
		cmocka_unit_test(test_signature_by_a_wrong_key_is_rejected),
		cmocka_unit_test(test_modified_payload_is_rejected),
		cmocka_unit_test(test_es256_signature_must_be_64_raw_bytes),
		cmocka_unit_test(test_unknown_kid_is_rejected),
		cmocka_unit_test(test_es256_header_with_an_rsa_key_is_rejected),
		cmocka_unit_test(test_jwk_alg_pins_the_token_alg),
		cmocka_unit_test(test_no_kid_uses_the_only_key_of_the_right_type),
		cmocka_unit_test(test_embedded_jwk_and_key_urls_in_the_header_are_ignored),
		cmocka_unit_test(test_jwks_refuses_weak_and_invalid_keys),
		cmocka_unit_test(test_jwks_skips_keys_not_for_signing),
		cmocka_unit_test(test_expired_token_is_rejected_but_accepted_within_leeway),
		cmocka_unit_test(test_exp_is_required_and_must_be_a_numeric_date),
		cmocka_unit_test(test_nbf_in_the_future_is_rejected),
		cmocka_unit_test(test_iat_in_the_future_is_rejected),
		cmocka_unit_test(test_wrong_issuer_is_rejected),
		cmocka_unit_test(test_wrong_audience_is_rejected_and_an_array_holding_it_accepted),
		cmocka_unit_test(test_missing_or_bad_sub_is_rejected),
		cmocka_unit_test(test_missing_tenant_is_rejected),
		cmocka_unit_test(test_invalid_tenant_characters_are_rejected),
		cmocka_unit_test(test_tenant_claim_name_comes_from_the_config),
		cmocka_unit_test(test_scope_claim_fills_the_principal),
		cmocka_unit_test(test_malformed_base64_in_each_part_is_rejected),
		cmocka_unit_test(test_non_canonical_base64_trailing_bits_are_rejected),
		cmocka_unit_test(test_two_or_four_parts_are_rejected),
		cmocka_unit_test(test_duplicate_json_members_are_rejected),
		cmocka_unit_test(test_header_and_claims_must_be_json_objects),
		cmocka_unit_test(test_crit_header_is_rejected),
		cmocka_unit_test(test_typ_must_name_a_jwt),
		cmocka_unit_test(test_token_over_8192_bytes_is_rejected),
		cmocka_unit_test(test_cache_returns_the_same_principal_for_the_same_token),
		cmocka_unit_test(test_cache_hit_rebuilds_principals_of_every_size),
		cmocka_unit_test(test_cache_never_keeps_a_failure),
		cmocka_unit_test(test_cached_token_is_rejected_once_it_expires),
		cmocka_unit_test(test_concurrent_verification_is_consistent),
		cmocka_unit_test(test_unknown_kid_refetches_the_jwks_url_at_most_every_30s),
		cmocka_unit_test(test_jwks_url_failures_refuse_to_start),
		cmocka_unit_test(test_wycheproof_jws_vectors),
		cmocka_unit_test(test_wycheproof_jwk_vectors),
	};

	return cmocka_run_group_tests_name("auth", tests, setup, teardown);
}
