/* sigv4.c — AWS Signature Version 4 (header signing) with libcrypto. */
#include <secretsd/sigv4.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ALGORITHM "AWS4-HMAC-SHA256"

/* --- a growable string with a hard cap ------------------------------------------ */

struct sb {
	char *p;
	size_t len, cap;
	int failed; /* out of memory or past SDK_SIGV4_TEXT_MAX: every later add is a no-op */
};

static void
sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > SDK_SIGV4_TEXT_MAX) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *np;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = malloc(ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		if (b->p != NULL) {
			memcpy(np, b->p, b->len);
			explicit_bzero(b->p, b->cap); /* may hold the session token */
			free(b->p);
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
sb_wipe(struct sb *b)
{
	if (b->p != NULL) {
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

/* Hand the string over to the caller (NULL when it failed; b is reset). */
static char *
sb_take(struct sb *b)
{
	char *s;

	if (!b->failed && b->p == NULL)
		sb_add(b, "", 0);
	if (b->failed) {
		sb_wipe(b);
		return NULL;
	}
	s = b->p;
	memset(b, 0, sizeof(*b));
	return s;
}

/* --- encoding -------------------------------------------------------------------- */

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

static void
sb_encode(struct sb *b, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n && !b->failed; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			sb_add(b, (const char *)&s[i], 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			sb_add(b, e, 3);
		}
	}
}

char *
sdk_aws_uri_encode(const char *s, int keep_slash)
{
	struct sb b = {0};

	if (s == NULL || strlen(s) > SDK_SIGV4_TEXT_MAX)
		return NULL;
	sb_encode(&b, s, strlen(s), keep_slash);
	return sb_take(&b);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out (n + 1 bytes). -1 on a bad escape or %00. */
static int
pct_decode(const char *s, size_t n, char *out)
{
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[j++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		out[j++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[j] = '\0';
	return 0;
}

static void
to_hex(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* --- hashing ----------------------------------------------------------------------- */

static int
sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(data != NULL ? data : "", n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	to_hex(md, 32, out);
	return 0;
}

static int
hmac(const unsigned char *key, size_t klen, const char *msg, size_t mlen, unsigned char out[32])
{
	unsigned int olen = 0;

	if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &olen) == NULL ||
	    olen != 32)
		return -1;
	return 0;
}

int
sdk_sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
		      unsigned char key[32])
{
	unsigned char k1[32], k2[32];
	char *seed;
	size_t n;
	int rc = -1;

	if (secret == NULL || date == NULL || region == NULL || service == NULL)
		return -1;
	n = strlen(secret);
	if ((seed = malloc(n + 5)) == NULL)
		return -1;
	memcpy(seed, "AWS4", 4);
	memcpy(seed + 4, secret, n + 1);
	if (hmac((unsigned char *)seed, n + 4, date, strlen(date), k1) == 0 &&
	    hmac(k1, 32, region, strlen(region), k2) == 0 &&
	    hmac(k2, 32, service, strlen(service), k1) == 0 &&
	    hmac(k1, 32, "aws4_request", 12, key) == 0)
		rc = 0;
	OPENSSL_cleanse(seed, n + 4);
	free(seed);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	if (rc != 0)
		OPENSSL_cleanse(key, 32);
	return rc;
}

/* --- canonical URI ----------------------------------------------------------------- */

/* The canonical URI of path: normalised (when asked) and encoded once. */
static int
canonical_uri(struct sb *b, const char *path, int normalize, char *err, size_t cap)
{
	const char *s, *e;
	size_t plen, n = 0;
	char *norm;
	int trailing;

	if (path == NULL || path[0] == '\0')
		path = "/";
	if (path[0] != '/') {
		sdk_err(err, cap, "sigv4: the path must start with '/'");
		return -1;
	}
	plen = strlen(path);
	if (plen > SDK_SIGV4_TEXT_MAX / 2) {
		sdk_err(err, cap, "sigv4: the path is longer than %d bytes", SDK_SIGV4_TEXT_MAX / 2);
		return -1;
	}
	if (!normalize) {
		sb_encode(b, path, plen, 1);
		return 0;
	}
	/* RFC 3986 remove_dot_segments; empty segments ("//") go too. norm
	 * holds "/seg/seg" as it grows and shrinks. */
	if ((norm = malloc(plen + 2)) == NULL) {
		sdk_err(err, cap, "sigv4: out of memory");
		return -1;
	}
	trailing = 0;
	for (s = path + 1;; s = e + 1) {
		e = s + strcspn(s, "/");
		trailing = 0;
		if (e - s == 0 || (e - s == 1 && s[0] == '.')) {
			trailing = 1;
		} else if (e - s == 2 && s[0] == '.' && s[1] == '.') {
			while (n > 0 && norm[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the '/' before the popped segment */
			trailing = 1;
		} else {
			norm[n++] = '/';
			memcpy(norm + n, s, (size_t)(e - s));
			n += (size_t)(e - s);
		}
		if (*e == '\0')
			break;
	}
	if (n == 0 || trailing)
		norm[n++] = '/';
	sb_encode(b, norm, n, 1);
	explicit_bzero(norm, plen + 2);
	free(norm);
	return 0;
}

/* --- canonical query string ---------------------------------------------------------- */

struct qparam {
	char *k, *v; /* encoded */
};

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->k, y->k);

	return c != 0 ? c : strcmp(x->v, y->v);
}

static int
canonical_query(struct sb *b, const char *query, char *err, size_t cap)
{
	struct qparam *ps = NULL;
	size_t n = 0, i, qlen;
	const char *s, *e;
	char *tmp = NULL;
	int rc = -1;

	if (query == NULL || query[0] == '\0')
		return 0;
	qlen = strlen(query);
	if (qlen > SDK_SIGV4_TEXT_MAX / 2) {
		sdk_err(err, cap, "sigv4: the query is longer than %d bytes", SDK_SIGV4_TEXT_MAX / 2);
		return -1;
	}
	ps = calloc(SDK_SIGV4_PARAMS_MAX, sizeof(*ps));
	tmp = malloc(qlen + 1);
	if (ps == NULL || tmp == NULL) {
		sdk_err(err, cap, "sigv4: out of memory");
		goto out;
	}
	for (s = query;; s = e + 1) {
		const char *eq;
		struct sb kb = {0}, vb = {0};
		e = s + strcspn(s, "&");
		if (e == s)
			goto next; /* "a&&b", a trailing '&' */
		if (n == SDK_SIGV4_PARAMS_MAX) {
			sdk_err(err, cap, "sigv4: more than %d query parameters", SDK_SIGV4_PARAMS_MAX);
			goto out;
		}
		eq = memchr(s, '=', (size_t)(e - s));
		if (pct_decode(s, (size_t)((eq ? eq : e) - s), tmp) != 0) {
			sdk_err(err, cap, "sigv4: bad percent escape in query parameter %zu", n + 1);
			goto out;
		}
		sb_encode(&kb, tmp, strlen(tmp), 0);
		if (eq != NULL && pct_decode(eq + 1, (size_t)(e - eq - 1), tmp) != 0) {
			sb_wipe(&kb);
			sdk_err(err, cap, "sigv4: bad percent escape in query parameter %zu", n + 1);
			goto out;
		}
		if (eq != NULL)
			sb_encode(&vb, tmp, strlen(tmp), 0);
		ps[n].k = sb_take(&kb);
		ps[n].v = sb_take(&vb);
		n++;
		if (ps[n - 1].k == NULL || ps[n - 1].v == NULL) {
			sdk_err(err, cap, "sigv4: out of memory or query too long");
			goto out;
		}
next:
		if (*e == '\0')
			break;
	}
	qsort(ps, n, sizeof(*ps), qparam_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sb_add(b, "&", 1);
		sb_str(b, ps[i].k);
		sb_add(b, "=", 1);
		sb_str(b, ps[i].v);
	}
	rc = 0;
out:
	for (i = 0; ps != NULL && i < n; i++) {
		sdk_str_free(ps[i].k);
		sdk_str_free(ps[i].v);
	}
	free(ps);
	if (tmp != NULL) {
		explicit_bzero(tmp, qlen + 1);
		free(tmp);
	}
	return rc;
}

/* --- canonical headers ---------------------------------------------------------------- */

struct hdr {
	char *name;  /* lower case */
	char *value; /* trimmed, blanks collapsed */
	size_t order;
};

static int
hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Fill h from name/value: the lower-cased name and the normalised value. */
static int
hdr_make(struct hdr *h, const char *name, const char *value, size_t order)
{
	size_t i, j = 0, n = strlen(name), vlen = strlen(value);
	int pending_space = 0;

	h->order = order;
	h->name = malloc(n + 1);
	h->value = malloc(vlen + 1);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		h->name = h->value = NULL;
		return -1;
	}
	for (i = 0; i < n; i++)
		h->name[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
	h->name[n] = '\0';
	for (i = 0; i < vlen; i++) {
		if (blank(value[i])) {
			pending_space = j > 0;
			continue;
		}
		if (pending_space)
			h->value[j++] = ' ';
		pending_space = 0;
		h->value[j++] = value[i];
	}
	h->value[j] = '\0';
	return 0;
}

static void
hdrs_free(struct hdr *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		sdk_str_free(h[i].name);
		sdk_str_free(h[i].value);
	}
}

static int
name_is(const char *a, const char *lower)
{
	size_t i;

	for (i = 0; a[i] != '\0' && lower[i] != '\0'; i++) {
		char c = (a[i] >= 'A' && a[i] <= 'Z') ? (char)(a[i] - 'A' + 'a') : a[i];
		if (c != lower[i])
			return 0;
	}
	return a[i] == '\0' && lower[i] == '\0';
}

/* Canonical headers ("name:v1,v2\n"...) into b and the signed header list
 * into sh. extra[] are the headers the signer adds (NULL-terminated). */
static int
canonical_headers(struct sb *b, struct sb *sh, const struct sd_kv *in, const struct sd_kv *extra,
		  char *err, size_t cap)
{
	struct hdr h[SDK_SIGV4_HEADERS_MAX + 4];
	size_t n = 0, i;
	int has_host = 0, rc = -1;

	memset(h, 0, sizeof(h));
	for (i = 0; in != NULL && in[i].key != NULL; i++) {
		const char *k = in[i].key;
		size_t j;
		if (i == SDK_SIGV4_HEADERS_MAX) {
			sdk_err(err, cap, "sigv4: more than %d headers", SDK_SIGV4_HEADERS_MAX);
			goto out;
		}
		for (j = 0; k[j] != '\0' && token_char((unsigned char)k[j]); j++)
			;
		if (j == 0 || k[j] != '\0' || in[i].value == NULL) {
			sdk_err(err, cap, "sigv4: header %zu has a malformed name or no value", i + 1);
			goto out;
		}
		for (j = 0; extra[j].key != NULL; j++)
			if (name_is(k, extra[j].key)) {
				sdk_err(err, cap, "sigv4: header %s is added by the signer", extra[j].key);
				goto out;
			}
		if (name_is(k, "authorization")) {
			sdk_err(err, cap, "sigv4: header authorization is added by the signer");
			goto out;
		}
		has_host |= name_is(k, "host");
		if (hdr_make(&h[n], k, in[i].value, n) != 0) {
			n++;
			sdk_err(err, cap, "sigv4: out of memory");
			goto out;
		}
		n++;
	}
	if (!has_host) {
		sdk_err(err, cap, "sigv4: the request has no Host header");
		goto out;
	}
	for (i = 0; extra[i].key != NULL; i++) {
		if (hdr_make(&h[n], extra[i].key, extra[i].value, n) != 0) {
			n++;
			sdk_err(err, cap, "sigv4: out of memory");
			goto out;
		}
		n++;
	}
	qsort(h, n, sizeof(h[0]), hdr_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
			sb_add(b, ",", 1);
			sb_str(b, h[i].value);
			continue;
		}
		if (i > 0) {
			sb_add(b, "\n", 1);
			sb_add(sh, ";", 1);
		}
		sb_str(b, h[i].name);
		sb_add(b, ":", 1);
		sb_str(b, h[i].value);
		sb_str(sh, h[i].name);
	}
	sb_add(b, "\n", 1);
	rc = 0;
out:
	hdrs_free(h, n);
	return rc;
}

/* --- signing ---------------------------------------------------------------------------- */

static int
scope_part_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 64)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int
akid_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 128)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

void
sdk_sigv4_free(struct sdk_sigv4 *o)
{
	if (o == NULL)
		return;
	sdk_str_free(o->canonical_request);
	sdk_str_free(o->string_to_sign);
	sdk_str_free(o->signed_headers);
	sdk_str_free(o->authorization);
	sdk_str_free(o->token_copy);
	explicit_bzero(o, sizeof(*o));
}

int
sdk_sigv4_sign(const struct sdk_aws_creds *creds, const struct sdk_sigv4_params *p,
	       const struct sdk_sigv4_request *req, struct sdk_sigv4 *out, char *err, size_t cap)
{
	struct sb cr = {0}, sh = {0}, sts = {0}, au = {0};
	struct sd_kv extra[4];
	char hash[65], scope[160], date[9];
	unsigned char key[32], sig[32];
	const char *token;
	struct tm tm;
	time_t t;
	size_t ne = 0, na = 0;
	int rc = -1;

	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	if (creds == NULL || p == NULL || req == NULL || req->method == NULL || req->method[0] == '\0') {
		sdk_err(err, cap, "sigv4: missing argument");
		return -1;
	}
	if (!akid_ok(creds->access_key_id) || creds->secret_access_key == NULL ||
	    creds->secret_access_key[0] == '\0') {
		sdk_err(err, cap, "sigv4: the access key id must be 1-128 of [A-Za-z0-9] and the secret "
				  "access key non-empty");
		return -1;
	}
	if (!scope_part_ok(p->region) || !scope_part_ok(p->service)) {
		sdk_err(err, cap, "sigv4: region and service must be 1-64 of [a-z0-9-]");
		return -1;
	}
	if (req->body == NULL && req->body_len != 0) {
		sdk_err(err, cap, "sigv4: body is NULL with a length");
		return -1;
	}
	t = (time_t)p->time_s;
	if (p->time_s < 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
		sdk_err(err, cap, "sigv4: bad signing time");
		return -1;
	}
	memcpy(date, out->amz_date, 8);
	date[8] = '\0';
	if (sha256_hex(req->body, req->body_len, out->payload_hash) != 0) {
		sdk_err(err, cap, "sigv4: SHA-256 failed");
		return -1;
	}
	token = creds->session_token != NULL && creds->session_token[0] != '\0' ? creds->session_token
										   : NULL;
	if (token != NULL && (out->token_copy = sdk_strdup(token)) == NULL) {
		sdk_err(err, cap, "sigv4: out of memory");
		return -1;
	}

	/* The headers the signer adds: signed ones in extra, all in out->add. */
	out->add[na++] = (struct sd_kv){"X-Amz-Date", out->amz_date};
	extra[ne++] = (struct sd_kv){"x-amz-date", out->amz_date};
	if (token != NULL) {
		out->add[na++] = (struct sd_kv){"X-Amz-Security-Token", out->token_copy};
		if (!p->omit_session_token)
			extra[ne++] = (struct sd_kv){"x-amz-security-token", out->token_copy};
	}
	if (p->sign_body) {
		out->add[na++] = (struct sd_kv){"x-amz-content-sha256", out->payload_hash};
		extra[ne++] = (struct sd_kv){"x-amz-content-sha256", out->payload_hash};
	}
	extra[ne] = (struct sd_kv){NULL, NULL};

	/* 1. The canonical request. */
	sb_str(&cr, req->method);
	sb_add(&cr, "\n", 1);
	if (canonical_uri(&cr, req->path, p->normalize_path, err, cap) != 0)
		goto out;
	sb_add(&cr, "\n", 1);
	if (canonical_query(&cr, req->query, err, cap) != 0)
		goto out;
	sb_add(&cr, "\n", 1);
	if (canonical_headers(&cr, &sh, req->headers, extra, err, cap) != 0)
		goto out;
	sb_add(&cr, "\n", 1);
	sb_add(&cr, sh.p != NULL ? sh.p : "", sh.len);
	sb_add(&cr, "\n", 1);
	sb_str(&cr, out->payload_hash);
	if (cr.failed || sh.failed) {
		sdk_err(err, cap, "sigv4: the canonical request is longer than %d bytes (or out of memory)",
			SDK_SIGV4_TEXT_MAX);
		goto out;
	}

	/* 2. The string to sign. */
	if (sha256_hex(cr.p, cr.len, hash) != 0) {
		sdk_err(err, cap, "sigv4: SHA-256 failed");
		goto out;
	}
	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, p->region, p->service);
	sb_str(&sts, ALGORITHM "\n");
	sb_str(&sts, out->amz_date);
	sb_add(&sts, "\n", 1);
	sb_str(&sts, scope);
	sb_add(&sts, "\n", 1);
	sb_str(&sts, hash);

	/* 3. The signing key, 4. the signature. */
	if (sts.failed ||
	    sdk_sigv4_signing_key(creds->secret_access_key, date, p->region, p->service, key) != 0 ||
	    hmac(key, sizeof(key), sts.p, sts.len, sig) != 0) {
		sdk_err(err, cap, "sigv4: HMAC-SHA256 failed");
		goto out;
	}
	to_hex(sig, sizeof(sig), out->signature);

	/* 5. The Authorization header. */
	sb_str(&au, ALGORITHM " Credential=");
	sb_str(&au, creds->access_key_id);
	sb_add(&au, "/", 1);
	sb_str(&au, scope);
	sb_str(&au, ", SignedHeaders=");
	sb_add(&au, sh.p, sh.len);
	sb_str(&au, ", Signature=");
	sb_str(&au, out->signature);

	out->canonical_request = sb_take(&cr);
	out->string_to_sign = sb_take(&sts);
	out->signed_headers = sb_take(&sh);
	out->authorization = sb_take(&au);
	if (out->canonical_request == NULL || out->string_to_sign == NULL ||
	    out->signed_headers == NULL || out->authorization == NULL) {
		sdk_err(err, cap, "sigv4: out of memory");
		goto out;
	}
	out->add[na++] = (struct sd_kv){"Authorization", out->authorization};
	out->add[na] = (struct sd_kv){NULL, NULL};
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(sig, sizeof(sig));
	sb_wipe(&cr);
	sb_wipe(&sh);
	sb_wipe(&sts);
	sb_wipe(&au);
	if (rc != 0)
		sdk_sigv4_free(out);
	return rc;
}
