/* auth.c — bearer JWT verification against a JWKS, with a verified-token cache.
 *
 * A request's token goes: cache (SHA-256 of the token) -> compact JWS split
 * and strict base64url -> header rules (crit, typ, alg allow-list, kid) ->
 * key selection (kid, key type, the JWK's own alg) -> signature -> claims
 * (iss, aud, exp, nbf, iat, sub, tenant, scope) -> cache insert. Only the
 * JWKS configured by the operator is trusted: "jwk", "jku", "x5u" and "x5c"
 * header members are never read. Messages name the failed rule and never
 * quote the token. */
#include "auth.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_internal.h"
#include "b64.h"
#include "config.h"
#include "jwk.h"
#include "log.h"
#include "util.h"

#define CACHE_STRIPES 64
#define FETCH_TIMEOUT_S 5L
/* JSON numbers of time claims must stay within +-2^53 (exact in a double,
 * and far from int64 overflow when the leeway is added). */
#define TIME_CLAIM_MAX (INT64_C(1) << 53)
#define LEEWAY_MAX_S 3600
/* Base64url characters of the largest signature (an 8192-bit RSA one). */
#define SIG_CHARS_MAX ((JWS_SIG_MAX * 4 + 2) / 3)
#define DEC_MAX B64_DEC_MAX(SD_TOKEN_MAX)

/* A verified token's principal, packed to what it uses: a struct principal
 * is ~4.7 KB, nearly all of it the fixed scope buffer, and a full cache of
 * them took ~38 MB however short the scopes. Written once, then read only
 * under the slot's stripe mutex. */
struct cache_entry {
	unsigned char hash[32];
	int64_t exp;
	uint16_t tenant_len;          /* data: tenant, sub (no NULs), packed scopes */
	uint16_t sub_len;
	unsigned char data[];
};

struct auth {
	char issuer[256];
	char audience[256];
	char tenant_claim[64];
	int64_t leeway_s;
	char jwks_file[PATH_MAX];
	char jwks_url[1024];          /* empty: the JWKS comes from jwks_file */
	EVP_MD *sha256;               /* fetched once */
	int curl_ready;

	pthread_mutex_t keys_mu;      /* guards keys and the refs of any jwks */
	struct jwks *keys;            /* current set; readers hold a reference */

	pthread_mutex_t fetch_mu;     /* one refetch at a time (trylock) */
	int64_t last_fetch_s;         /* monotonic seconds, guarded by fetch_mu */

	pthread_mutex_t stripe[CACHE_STRIPES];
	int mutexes;                  /* how many of the mutexes above exist */
	struct cache_entry *slot[AUTH_CACHE_SLOTS]; /* allocated lazily */

	_Atomic uint64_t hits, misses, fetches;
	_Atomic int64_t clock_s;      /* tests: fixed clock; 0 = real clock */
};

/* ---- clocks ---- */

static int64_t wall_s(struct auth *a)
{
	int64_t t = atomic_load_explicit(&a->clock_s, memory_order_relaxed);

	return t != 0 ? t : sd_now_us() / 1000000;
}

static int64_t mono_s(struct auth *a)
{
	int64_t t = atomic_load_explicit(&a->clock_s, memory_order_relaxed);

	return t != 0 ? t : (int64_t)(sd_mono_ns() / 1000000000u);
}

void auth_set_clock_for_test(struct auth *a, int64_t now_s)
{
	atomic_store_explicit(&a->clock_s, now_s, memory_order_relaxed);
}

void auth_get_stats(struct auth *a, struct auth_stats *out)
{
	out->cache_hits = atomic_load(&a->hits);
	out->cache_misses = atomic_load(&a->misses);
	out->jwks_fetches = atomic_load(&a->fetches);
}

/* ---- loading the JWKS ---- */

static int read_file(const char *path, char **out, size_t *out_len, struct sd_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc = SD_EINVAL;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sd_err_set(err, SD_EINVAL, "cannot open JWKS file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		sd_err_set(err, SD_EINVAL, "JWKS file %s is not a regular file", path);
		goto out;
	}
	if (st.st_size > JWKS_BYTES_MAX) {
		sd_err_set(err, SD_EINVAL, "JWKS file %s is larger than %d bytes", path, JWKS_BYTES_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sd_err_set(err, SD_EINVAL, "cannot read JWKS file %s", path);
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*out_len = got;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

struct fetch_buf {
	char *p;
	size_t n, cap;
	int over;
};

static size_t fetch_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct fetch_buf *b = ud;
	size_t len = size * nmemb;

	if (nmemb != 0 && len / nmemb != size)
		return 0;
	if (len > JWKS_BYTES_MAX - b->n) {
		b->over = 1;
		return 0; /* aborts the transfer */
	}
	if (b->n + len > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < b->n + len)
			cap *= 2;
		if (cap > JWKS_BYTES_MAX)
			cap = JWKS_BYTES_MAX;
		if ((p = realloc(b->p, cap)) == NULL)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, len);
	b->n += len;
	return len;
}

/* GET url (http or https, no redirects, 5 s, 1 MiB at most). */
static int fetch_url(const char *url, char **out, size_t *out_len, struct sd_err *err)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	struct fetch_buf b = { 0 };
	CURL *c = NULL;
	CURLcode cc;
	long status = 0;
	int rc = SD_EDOWN;

	*out = NULL;
	if ((c = curl_easy_init()) == NULL) {
		rc = sd_err_set(err, SD_EINTERNAL, "cannot start libcurl");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, FETCH_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)JWKS_BYTES_MAX);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "secretsd");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(c);
	if (b.over) {
		sd_err_set(err, SD_EDOWN, "JWKS URL answered more than %d bytes", JWKS_BYTES_MAX);
		goto out;
	}
	if (cc != CURLE_OK) {
		sd_err_set(err, SD_EDOWN, "cannot fetch the JWKS URL: %s",
			   ebuf[0] ? ebuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		sd_err_set(err, SD_EDOWN, "JWKS URL answered HTTP %ld", status);
		goto out;
	}
	*out = b.p;
	*out_len = b.n;
	b.p = NULL;
	rc = 0;
out:
	free(b.p);
	if (c != NULL)
		curl_easy_cleanup(c);
	return rc;
}

static int load_keys(struct auth *a, struct jwks **out, struct sd_err *err)
{
	char *doc = NULL;
	size_t len = 0;
	int rc;

	if (a->jwks_url[0] != '\0')
		rc = fetch_url(a->jwks_url, &doc, &len, err);
	else
		rc = read_file(a->jwks_file, &doc, &len, err);
	if (rc == 0)
		rc = jwks_parse(doc, len, out, err);
	free(doc);
	return rc;
}

/* ---- the current key set, reference-counted so that a refetch can swap it
 * while other threads still verify with the old one ---- */

static struct jwks *keys_get(struct auth *a)
{
	struct jwks *ks;

	pthread_mutex_lock(&a->keys_mu);
	ks = a->keys;
	ks->refs++;
	pthread_mutex_unlock(&a->keys_mu);
	return ks;
}

static void keys_put(struct auth *a, struct jwks *ks)
{
	unsigned left;

	pthread_mutex_lock(&a->keys_mu);
	left = --ks->refs;
	pthread_mutex_unlock(&a->keys_mu);
	if (left == 0)
		jwks_free(ks);
}

/* Takes ownership of ks (refs = 1). */
static void keys_swap(struct auth *a, struct jwks *ks)
{
	struct jwks *old;

	pthread_mutex_lock(&a->keys_mu);
	old = a->keys;
	a->keys = ks;
	pthread_mutex_unlock(&a->keys_mu);
	keys_put(a, old);
}

/* Refetch the JWKS after an unknown kid: URL mode only, at most once per
 * AUTH_REFETCH_INTERVAL_S, and never waiting for another thread's fetch.
 * Returns 1 when a new set was installed. */
static int maybe_refetch(struct auth *a)
{
	struct sd_err err;
	struct jwks *ks = NULL;
	int64_t now;
	int installed = 0;

	if (a->jwks_url[0] == '\0' || pthread_mutex_trylock(&a->fetch_mu) != 0)
		return 0;
	now = mono_s(a);
	if (now >= a->last_fetch_s && now - a->last_fetch_s < AUTH_REFETCH_INTERVAL_S)
		goto out;
	a->last_fetch_s = now; /* failures count too: no hammering a dead URL */
	sd_err_clear(&err);
	if (load_keys(a, &ks, &err) != 0) {
		log_warn("auth: JWKS refetch failed: %s", err.msg);
		goto out;
	}
	log_info("auth: JWKS refetched after an unknown key id: %zu usable keys", ks->n);
	keys_swap(a, ks);
	atomic_fetch_add(&a->fetches, 1);
	installed = 1;
out:
	pthread_mutex_unlock(&a->fetch_mu);
	return installed;
}

enum pick { PICK_OK, PICK_UNKNOWN_KID, PICK_MISMATCH, PICK_AMBIGUOUS };

/* The one key that may verify alg: named by kid when the header has one,
 * else the only key of the set that fits alg. */
static int pick_key(const struct jwks *ks, const char *kid, int alg, const struct jwk **out)
{
	size_t named = 0, fit = 0;

	for (size_t i = 0; i < ks->n; i++) {
		const struct jwk *k = &ks->keys[i];

		if (kid != NULL) {
			if (!k->has_kid || strcmp(k->kid, kid) != 0)
				continue;
			named++;
		}
		if (!jwk_fits(k, alg))
			continue;
		fit++;
		*out = k;
	}
	if (kid != NULL && named == 0)
		return PICK_UNKNOWN_KID;
	if (fit == 0)
		return PICK_MISMATCH;
	return fit == 1 ? PICK_OK : PICK_AMBIGUOUS;
}

/* ---- the JWS ---- */

static int malformed(struct sd_err *err, const char *what)
{
	return sd_err_set(err, SD_EUNAUTH, "malformed token: %s", what);
}

static int typ_ok(const json_t *typ)
{
	static const char *ok[] = { "JWT", "at+jwt", "application/jwt", "application/at+jwt" };
	const char *t;

	if (typ == NULL)
		return 1;
	if (!json_is_string(typ))
		return 0;
	t = json_string_value(typ);
	for (size_t i = 0; i < SD_ARRAY_LEN(ok); i++)
		if (strcasecmp(t, ok[i]) == 0)
			return 1;
	return 0;
}

/* Verify the compact JWS tok (len bytes). On success the decoded payload is
 * in payload (DEC_MAX bytes of room) and *payload_len. need_payload refuses
 * an empty payload (a JWT always has one). */
static int jws_check(struct auth *a, const char *tok, size_t len, int need_payload,
		     unsigned char *payload, size_t *payload_len, struct sd_err *err)
{
	unsigned char hdr[DEC_MAX], sig[B64_DEC_MAX(SIG_CHARS_MAX)];
	const char *d1, *d2, *kid = NULL;
	size_t hl, pl, sl, hdr_len = 0, sig_len = 0;
	const struct jwk *k = NULL;
	struct jwks *ks = NULL;
	json_t *h = NULL, *v;
	int alg, pick, rc = SD_EUNAUTH;

	*payload_len = 0;
	if (tok == NULL || len == 0) {
		malformed(err, "empty");
		goto out;
	}
	if (len > SD_TOKEN_MAX) {
		sd_err_set(err, SD_EUNAUTH, "token is longer than %d bytes", SD_TOKEN_MAX);
		goto out;
	}
	d1 = memchr(tok, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL) {
		malformed(err, "not three dot-separated parts (compact JWS)");
		goto out;
	}
	hl = (size_t)(d1 - tok);
	pl = (size_t)(d2 - d1 - 1);
	sl = len - (size_t)(d2 + 1 - tok);
	if (hl == 0 || sl == 0 || (need_payload && pl == 0)) {
		malformed(err, "empty part");
		goto out;
	}
	if (sl > SIG_CHARS_MAX) {
		malformed(err, "signature too long");
		goto out;
	}
	if (b64url_decode(tok, hl, hdr, &hdr_len) != 0 ||
	    b64url_decode(d1 + 1, pl, payload, payload_len) != 0 ||
	    b64url_decode(d2 + 1, sl, sig, &sig_len) != 0) {
		malformed(err, "a part is not base64url");
		goto out;
	}
	h = json_loadb((const char *)hdr, hdr_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(h)) {
		malformed(err, "header is not a JSON object (or repeats a member)");
		goto out;
	}
	if (json_object_get(h, "crit") != NULL) {
		sd_err_set(err, SD_EUNAUTH, "unsupported critical header parameter");
		goto out;
	}
	if (!typ_ok(json_object_get(h, "typ"))) {
		sd_err_set(err, SD_EUNAUTH, "unsupported token type");
		goto out;
	}
	v = json_object_get(h, "alg");
	if (!json_is_string(v)) {
		malformed(err, "no alg in header");
		goto out;
	}
	if ((alg = jws_alg_from_name(json_string_value(v))) == JWS_ALG_NONE) {
		sd_err_set(err, SD_EUNAUTH, "unsupported algorithm");
		goto out;
	}
	v = json_object_get(h, "kid");
	if (v != NULL) {
		if (!json_is_string(v)) {
			malformed(err, "kid is not a string");
			goto out;
		}
		kid = json_string_value(v);
	}
	ks = keys_get(a);
	pick = pick_key(ks, kid, alg, &k);
	if (pick == PICK_UNKNOWN_KID && maybe_refetch(a)) {
		keys_put(a, ks);
		ks = keys_get(a);
		pick = pick_key(ks, kid, alg, &k);
	}
	switch (pick) {
	case PICK_UNKNOWN_KID:
		sd_err_set(err, SD_EUNAUTH, "unknown key id");
		goto out;
	case PICK_MISMATCH:
		sd_err_set(err, SD_EUNAUTH, kid ? "key does not match the algorithm"
						: "no key for the algorithm");
		goto out;
	case PICK_AMBIGUOUS:
		sd_err_set(err, SD_EUNAUTH, "ambiguous key: several keys fit");
		goto out;
	default:
		break;
	}
	/* the signing input is the ASCII of header '.' payload as received */
	rc = jws_sig_verify(k, alg, a->sha256, tok, (size_t)(d2 - tok), sig, sig_len);
	if (rc == SD_EINTERNAL)
		sd_err_set(err, rc, "signature check failed inside OpenSSL");
	else if (rc != 0)
		sd_err_set(err, rc, "bad signature");
out:
	if (ks != NULL)
		keys_put(a, ks);
	json_decref(h);
	OPENSSL_cleanse(hdr, hdr_len);
	OPENSSL_cleanse(sig, sig_len);
	if (rc != 0) {
		OPENSSL_cleanse(payload, *payload_len);
		*payload_len = 0;
	}
	return rc;
}

int auth_jws_verify_sig(struct auth *a, const char *jws, size_t len, struct sd_err *err)
{
	unsigned char payload[DEC_MAX];
	size_t plen = 0;
	int rc;

	rc = jws_check(a, jws, len, 0, payload, &plen, err);
	OPENSSL_cleanse(payload, plen);
	return rc;
}

/* ---- claims ---- */

int auth_tenant_valid(const char *tenant)
{
	size_t n;

	if (tenant == NULL)
		return 0;
	n = strlen(tenant);
	if (n == 0 || n > SD_TENANT_MAX || strcmp(tenant, ".") == 0 || strcmp(tenant, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = tenant[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* A NumericDate: a JSON integer, or a real with an integral value. Returns 0,
 * or -1 when v is not one or is out of range. */
static int numeric_date(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i > TIME_CLAIM_MAX || i < -TIME_CLAIM_MAX)
			return -1;
		*out = (int64_t)i;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!isfinite(d) || d != floor(d) || fabs(d) > (double)TIME_CLAIM_MAX)
			return -1;
		*out = (int64_t)d;
		return 0;
	}
	return -1;
}

static int aud_ok(const json_t *aud, const char *want)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (!json_is_array(aud))
		return 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return 1;
	return 0;
}

static int sub_ok(const json_t *sub)
{
	size_t n = json_string_length(sub);
	const char *s = json_string_value(sub);

	if (n == 0 || n > SD_SUB_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

static int claims_check(struct auth *a, const unsigned char *payload, size_t len, int64_t now,
			struct principal *p, struct sd_err *err)
{
	json_t *c, *v;
	int64_t exp, t;
	int rc = SD_EUNAUTH;

	memset(p, 0, sizeof(*p));
	c = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(c)) {
		malformed(err, "claims are not a JSON object (or repeat a member)");
		goto out;
	}
	v = json_object_get(c, "iss");
	if (!json_is_string(v) || strcmp(json_string_value(v), a->issuer) != 0) {
		sd_err_set(err, SD_EUNAUTH, "wrong issuer");
		goto out;
	}
	if (!aud_ok(json_object_get(c, "aud"), a->audience)) {
		sd_err_set(err, SD_EUNAUTH, "wrong audience");
		goto out;
	}
	v = json_object_get(c, "exp");
	if (v == NULL) {
		sd_err_set(err, SD_EUNAUTH, "missing exp claim");
		goto out;
	}
	if (numeric_date(v, &exp) != 0) {
		malformed(err, "exp is not a NumericDate");
		goto out;
	}
	if (now >= exp + a->leeway_s) {
		sd_err_set(err, SD_EUNAUTH, "token expired");
		goto out;
	}
	if ((v = json_object_get(c, "nbf")) != NULL) {
		if (numeric_date(v, &t) != 0) {
			malformed(err, "nbf is not a NumericDate");
			goto out;
		}
		if (now < t - a->leeway_s) {
			sd_err_set(err, SD_EUNAUTH, "token not yet valid");
			goto out;
		}
	}
	if ((v = json_object_get(c, "iat")) != NULL) {
		if (numeric_date(v, &t) != 0) {
			malformed(err, "iat is not a NumericDate");
			goto out;
		}
		if (t > now + a->leeway_s) {
			sd_err_set(err, SD_EUNAUTH, "token issued in the future");
			goto out;
		}
	}
	v = json_object_get(c, "sub");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		sd_err_set(err, SD_EUNAUTH, "missing sub claim");
		goto out;
	}
	if (!sub_ok(v)) {
		sd_err_set(err, SD_EUNAUTH, "invalid sub claim (printable ASCII, at most %d bytes)",
			   SD_SUB_MAX);
		goto out;
	}
	memcpy(p->sub, json_string_value(v), json_string_length(v) + 1);
	v = json_object_get(c, a->tenant_claim);
	if (!json_is_string(v)) {
		sd_err_set(err, SD_EUNAUTH, "missing tenant claim");
		goto out;
	}
	if (!auth_tenant_valid(json_string_value(v))) {
		sd_err_set(err, SD_EUNAUTH, "invalid tenant claim ([A-Za-z0-9._-], 1 to %d bytes)",
			   SD_TENANT_MAX);
		goto out;
	}
	memcpy(p->tenant, json_string_value(v), strlen(json_string_value(v)) + 1);
	v = json_object_get(c, "scope");
	if (v != NULL && !json_is_string(v)) {
		sd_err_set(err, SD_EUNAUTH, "invalid scope claim");
		goto out;
	}
	if (v != NULL && scopes_parse(json_string_value(v), &p->scopes, err) != 0)
		goto out;
	p->exp = exp;
	rc = 0;
out:
	json_decref(c);
	return rc;
}

/* ---- the verified-token cache ---- */

static size_t slot_of(const unsigned char h[32])
{
	return ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16) % AUTH_CACHE_SLOTS;
}

enum { CACHE_MISS, CACHE_HIT, CACHE_EXPIRED };

/* Only what the principal uses is written: the rest of out->scopes.buf is
 * left as it was, so a hit costs the entry's size, not 4.7 KB. */
static void entry_unpack(const struct cache_entry *e, struct principal *out)
{
	memcpy(out->tenant, e->data, e->tenant_len);
	out->tenant[e->tenant_len] = '\0';
	memcpy(out->sub, e->data + e->tenant_len, e->sub_len);
	out->sub[e->sub_len] = '\0';
	out->exp = e->exp;
	scopes_unpack(e->data + e->tenant_len + e->sub_len, &out->scopes);
}

/* A new entry for p (claims_check bounds tenant and sub), or NULL. */
static struct cache_entry *entry_pack(const unsigned char h[32], const struct principal *p)
{
	size_t tl = strlen(p->tenant), sl = strlen(p->sub);
	struct cache_entry *e = malloc(sizeof(*e) + tl + sl + scopes_packed_size(&p->scopes));

	if (e == NULL)
		return NULL;
	memcpy(e->hash, h, 32);
	e->exp = p->exp;
	e->tenant_len = (uint16_t)tl;
	e->sub_len = (uint16_t)sl;
	memcpy(e->data, p->tenant, tl);
	memcpy(e->data + tl, p->sub, sl);
	scopes_pack(&p->scopes, e->data + tl + sl);
	return e;
}

static int cache_lookup(struct auth *a, const unsigned char h[32], int64_t now, struct principal *out)
{
	size_t i = slot_of(h);
	pthread_mutex_t *mu = &a->stripe[i % CACHE_STRIPES];
	struct cache_entry *e, *dead = NULL;
	int r = CACHE_MISS;

	pthread_mutex_lock(mu);
	e = a->slot[i];
	if (e != NULL && memcmp(e->hash, h, 32) == 0) {
		if (now < e->exp + a->leeway_s) {
			entry_unpack(e, out);
			r = CACHE_HIT;
		} else {
			dead = e;
			a->slot[i] = NULL;
			r = CACHE_EXPIRED;
		}
	}
	pthread_mutex_unlock(mu);
	free(dead);
	return r;
}

/* Best effort: a full memory only costs a signature check next time. */
static void cache_insert(struct auth *a, const unsigned char h[32], const struct principal *p)
{
	size_t i = slot_of(h);
	pthread_mutex_t *mu = &a->stripe[i % CACHE_STRIPES];
	struct cache_entry *e = entry_pack(h, p), *old;

	if (e == NULL)
		return;
	pthread_mutex_lock(mu);
	old = a->slot[i];
	a->slot[i] = e;
	pthread_mutex_unlock(mu);
	free(old);
}

int auth_verify(struct auth *a, const char *token, size_t len, struct principal *out,
		struct sd_err *err)
{
	unsigned char payload[DEC_MAX], h[32];
	struct principal p;
	size_t plen = 0;
	int64_t now = wall_s(a);
	int rc = SD_EUNAUTH;

	if (token == NULL || len == 0) {
		malformed(err, "empty");
		goto out;
	}
	if (len > SD_TOKEN_MAX) {
		sd_err_set(err, SD_EUNAUTH, "token is longer than %d bytes", SD_TOKEN_MAX);
		goto out;
	}
	if (EVP_Digest(token, len, h, NULL, a->sha256, NULL) != 1) {
		ERR_clear_error();
		rc = sd_err_set(err, SD_EINTERNAL, "cannot hash the token");
		goto out;
	}
	switch (cache_lookup(a, h, now, out)) {
	case CACHE_HIT:
		atomic_fetch_add_explicit(&a->hits, 1, memory_order_relaxed);
		rc = 0;
		goto out;
	case CACHE_EXPIRED:
		atomic_fetch_add_explicit(&a->hits, 1, memory_order_relaxed);
		sd_err_set(err, SD_EUNAUTH, "token expired");
		goto out;
	default:
		atomic_fetch_add_explicit(&a->misses, 1, memory_order_relaxed);
		break;
	}
	if ((rc = jws_check(a, token, len, 1, payload, &plen, err)) != 0)
		goto out;
	if ((rc = claims_check(a, payload, plen, now, &p, err)) != 0)
		goto out;
	cache_insert(a, h, &p);
	memcpy(out, &p, sizeof(p));
out:
	OPENSSL_cleanse(payload, plen);
	return rc;
}

/* ---- life cycle ---- */

struct auth *auth_new(const struct sd_config *cfg, struct sd_err *err)
{
	struct auth *a = calloc(1, sizeof(*a));
	struct jwks *ks = NULL;
	int ok = 0;

	if (a == NULL) {
		sd_err_set(err, SD_EINTERNAL, "out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&a->keys_mu, NULL) != 0)
		goto fail_mutex;
	a->mutexes++;
	if (pthread_mutex_init(&a->fetch_mu, NULL) != 0)
		goto fail_mutex;
	a->mutexes++;
	for (int i = 0; i < CACHE_STRIPES; i++) {
		if (pthread_mutex_init(&a->stripe[i], NULL) != 0)
			goto fail_mutex;
		a->mutexes++;
	}
	if (cfg->issuer[0] == '\0' || cfg->audience[0] == '\0') {
		sd_err_set(err, SD_EINVAL, "auth needs an issuer and an audience");
		goto out;
	}
	if (sd_strlcpy(a->issuer, cfg->issuer, sizeof(a->issuer)) != 0 ||
	    sd_strlcpy(a->audience, cfg->audience, sizeof(a->audience)) != 0 ||
	    sd_strlcpy(a->tenant_claim, cfg->tenant_claim[0] ? cfg->tenant_claim : "tenant",
		       sizeof(a->tenant_claim)) != 0 ||
	    sd_strlcpy(a->jwks_file, cfg->jwks_file, sizeof(a->jwks_file)) != 0) {
		sd_err_set(err, SD_EINVAL, "auth setting too long");
		goto out;
	}
	/* jwks_file wins: dev mode points it at the dev issuer's JWKS */
	if (cfg->jwks_file[0] == '\0') {
		if (cfg->jwks_url[0] == '\0') {
			sd_err_set(err, SD_EINVAL, "auth needs jwks_file or jwks_url");
			goto out;
		}
		if (sd_strlcpy(a->jwks_url, cfg->jwks_url, sizeof(a->jwks_url)) != 0) {
			sd_err_set(err, SD_EINVAL, "jwks_url too long");
			goto out;
		}
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			sd_err_set(err, SD_EINTERNAL, "cannot initialise libcurl");
			goto out;
		}
		a->curl_ready = 1;
	}
	a->leeway_s = cfg->leeway_s < 0 ? 0 : cfg->leeway_s > LEEWAY_MAX_S ? LEEWAY_MAX_S : cfg->leeway_s;
	if ((a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		ERR_clear_error();
		sd_err_set(err, SD_EINTERNAL, "OpenSSL has no SHA-256");
		goto out;
	}
	if (load_keys(a, &ks, err) != 0)
		goto out;
	a->keys = ks;
	a->last_fetch_s = mono_s(a);
	if (a->jwks_url[0] != '\0')
		atomic_fetch_add(&a->fetches, 1);
	log_info("auth: %zu signing key(s) from %s (%zu skipped), issuer %s, audience %s",
		 ks->n, a->jwks_url[0] ? "the JWKS URL" : a->jwks_file, ks->skipped, a->issuer,
		 a->audience);
	ok = 1;
	goto out;
fail_mutex:
	sd_err_set(err, SD_EINTERNAL, "cannot create a mutex");
out:
	if (!ok) {
		auth_free(a);
		a = NULL;
	}
	return a;
}

void auth_free(struct auth *a)
{
	int m;

	if (a == NULL)
		return;
	for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++)
		free(a->slot[i]);
	jwks_free(a->keys);
	EVP_MD_free(a->sha256);
	if (a->curl_ready)
		curl_global_cleanup();
	m = a->mutexes;
	if (m-- > 0)
		pthread_mutex_destroy(&a->keys_mu);
	if (m-- > 0)
		pthread_mutex_destroy(&a->fetch_mu);
	for (int i = 0; i < CACHE_STRIPES && m-- > 0; i++)
		pthread_mutex_destroy(&a->stripe[i]);
	free(a);
}
