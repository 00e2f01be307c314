/* fuzz_sigv4.c — the SigV4 canonicaliser and signer of the plugin SDK
 * (sdk_sigv4_sign, sdk_aws_uri_encode, sdk/lib/sigv4.c).
 *
 * Input: one flag byte F, then lines:
 *   METHOD '\n' PATH '\n' QUERY '\n' REGION '\n' SERVICE '\n'
 *   (NAME ':' VALUE '\n')*  '\n'  BODY
 * F: 1 normalize_path, 2 sign_body, 4 omit_session_token, 8 a session
 * token, 16 add "Host: example.amazonaws.com" when the input has no Host,
 * 32 the query is NULL rather than "". The signing time is fixed
 * (20150830T123600Z, the AWS test suite's), the credentials the suite's.
 *
 * Invariants (a violation aborts):
 *   - signing is deterministic, and the result is consistent: 64 hex digit
 *     signature, amz_date, the payload hash of the body, an Authorization
 *     naming the signed headers and the signature, the add[] list as
 *     sigv4.h documents it;
 *   - the canonical request has the documented shape: method, URI,
 *     query, the canonical headers (lower-case names, sorted, no blank at
 *     either end of a value, no newline inside one), a blank line, the
 *     signed headers (the same names, ';'-joined), the payload hash;
 *   - the URI holds only unreserved characters, '/' and %XX escapes, and
 *     after normalisation no "//", "/./" or "/../" segment; the query is
 *     sorted k=v pairs of encoded characters;
 *   - the order of query parameters and of headers with distinct names
 *     does not change the signature. */
#include <ctype.h>

#include "fuzz_common.h"

#include <secretsd/sigv4.h>

#define HEADERS_CAP (SDK_SIGV4_HEADERS_MAX + 8)

struct req {
	char *method, *path, *query, *region, *service;
	struct sd_kv h[HEADERS_CAP + 1];
	size_t nh;
	const char *body;
	size_t body_len;
};

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return s[n] == '\0';
}

static int unreserved(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Only unreserved characters, %XX (upper-case hex) and the extra ones. */
static int encoded_ok(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return 0;
			if (!isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]) ||
			    islower((unsigned char)s[i + 1]) || islower((unsigned char)s[i + 2]))
				return 0;
			i += 2;
			continue;
		}
		if (!unreserved(c) && strchr(extra, c) == NULL)
			return 0;
	}
	return 1;
}

static int sign(const struct req *q, const struct sd_kv *headers, const char *query, int flags,
		struct sdk_sigv4 *out, char *err, size_t cap)
{
	static const struct sdk_aws_creds creds = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
						    "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267" };
	struct sdk_aws_creds c = creds;
	struct sdk_sigv4_params p;
	struct sdk_sigv4_request r;

	if (!(flags & 8))
		c.session_token = NULL;
	memset(&p, 0, sizeof(p));
	p.region = q->region;
	p.service = q->service;
	p.time_s = 1440938160; /* 20150830T123600Z */
	p.normalize_path = (flags & 1) != 0;
	p.sign_body = (flags & 2) != 0;
	p.omit_session_token = (flags & 4) != 0;
	memset(&r, 0, sizeof(r));
	r.method = q->method;
	r.path = q->path;
	r.query = query;
	r.headers = headers;
	r.body = q->body_len ? q->body : NULL;
	r.body_len = q->body_len;
	return sdk_sigv4_sign(&c, &p, &r, out, err, cap);
}

/* Check the canonical request of a successful signature against the
 * shape sigv4.h documents. */
static void check_shape(const struct req *q, const struct sdk_sigv4 *s, int flags)
{
	char *cr = strdup(s->canonical_request), *line[8], *p = cr, *hdrs, *end, *want = NULL;
	size_t n = 0, wl = 0;

	if (cr == NULL)
		abort();
	/* method, uri, query; then headers up to the blank line; then signed, hash */
	for (int i = 0; i < 3; i++) {
		line[i] = p;
		p = fz_cut(p, '\n');
		if (p == NULL)
			fz_fail("canonical request has fewer than 3 lines");
	}
	if (strcmp(line[0], q->method) != 0)
		fz_fail("canonical method '%s' is not '%s'", line[0], q->method);
	if (line[1][0] != '/' || !encoded_ok(line[1], strlen(line[1]), "/"))
		fz_fail("canonical URI '%s' is not encoded", line[1]);
	if (flags & 1) {
		size_t ul = strlen(line[1]);
		if (strstr(line[1], "//") || strstr(line[1], "/./") || strstr(line[1], "/../") ||
		    (ul >= 2 && strcmp(line[1] + ul - 2, "/.") == 0) ||
		    (ul >= 3 && strcmp(line[1] + ul - 3, "/..") == 0))
			fz_fail("normalised URI '%s' still has an empty or dot segment", line[1]);
	}
	/* the query: sorted k=v pairs */
	if (line[2][0] != '\0') {
		char *prev = NULL, *pair = line[2], *nxt;
		for (; pair != NULL; pair = nxt) {
			nxt = fz_cut(pair, '&');
			if (strchr(pair, '=') == NULL || !encoded_ok(pair, strlen(pair), "="))
				fz_fail("canonical query pair '%s' is malformed", pair);
			if (prev != NULL) {
				/* sorted by key, then value */
				char *pe = strchr(prev, '='), *ce = strchr(pair, '=');
				int c;
				*pe = *ce = '\0';
				c = strcmp(prev, pair);
				if (c > 0 || (c == 0 && strcmp(pe + 1, ce + 1) > 0))
					fz_fail("canonical query is not sorted at '%s'", pair);
				*pe = *ce = '=';
			}
			prev = pair;
		}
	}
	/* headers up to the blank line */
	hdrs = p;
	end = strstr(hdrs, "\n\n");
	if (end == NULL)
		fz_fail("canonical request has no blank line after the headers");
	end[1] = '\0';
	{
		char *h = hdrs, *nh, *prevname = NULL;
		while (*h != '\0') {
			char *colon;
			nh = strchr(h, '\n');
			*nh = '\0';
			colon = strchr(h, ':');
			if (colon == NULL || colon == h)
				fz_fail("canonical header line '%s' has no name", h);
			*colon = '\0';
			for (char *c = h; *c; c++)
				if (isupper((unsigned char)*c))
					fz_fail("canonical header name '%s' is not lower case", h);
			if (prevname != NULL && strcmp(prevname, h) >= 0)
				fz_fail("canonical headers not sorted or repeated: '%s' after '%s'", h, prevname);
			if (colon[1] == ' ' || colon[1] == '\t' ||
			    (colon[1] != '\0' && (nh[-1] == ' ' || nh[-1] == '\t')))
				fz_fail("canonical header '%s' keeps a blank at an end of its value", h);
			want = realloc(want, wl + strlen(h) + 2);
			if (want == NULL)
				abort();
			wl += (size_t)sprintf(want + wl, "%s%s", wl ? ";" : "", h);
			prevname = h;
			h = nh + 1;
			n++;
		}
	}
	p = end + 2;
	line[3] = p;
	p = fz_cut(p, '\n');
	if (p == NULL || want == NULL || strcmp(line[3], want) != 0 || strcmp(s->signed_headers, want) != 0)
		fz_fail("signed headers '%s' / '%s' are not the canonical header names '%s'", line[3],
			s->signed_headers, want ? want : "");
	if (strcmp(p, s->payload_hash) != 0)
		fz_fail("the canonical request does not end with the payload hash");
	free(want);
	free(cr);
	(void)n;
}

static void check_result(const struct req *q, const struct sdk_sigv4 *s, int flags)
{
	char auth[512];
	size_t na = 0;

	if (!is_hex(s->signature, 64) || !is_hex(s->payload_hash, 64))
		fz_fail("signature or payload hash is not 64 lower-case hex digits");
	if (strcmp(s->amz_date, "20150830T123600Z") != 0)
		fz_fail("amz_date is %s", s->amz_date);
	snprintf(auth, sizeof(auth), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/%s/%s/aws4_request, ",
		 q->region, q->service);
	if (s->authorization == NULL || strncmp(s->authorization, auth, strlen(auth)) != 0 ||
	    strstr(s->authorization, s->signature) == NULL || strstr(s->authorization, s->signed_headers) == NULL)
		fz_fail("Authorization '%s' does not match the result", s->authorization ? s->authorization : "");
	if (s->add[na].key == NULL || strcmp(s->add[na++].key, "X-Amz-Date") != 0)
		fz_fail("add[0] is not X-Amz-Date");
	if (flags & 8) {
		if (s->add[na].key == NULL || strcmp(s->add[na++].key, "X-Amz-Security-Token") != 0)
			fz_fail("no X-Amz-Security-Token in add[]");
	}
	if (flags & 2) {
		if (s->add[na].key == NULL || strcmp(s->add[na].key, "x-amz-content-sha256") != 0 ||
		    strcmp(s->add[na++].value, s->payload_hash) != 0)
			fz_fail("no x-amz-content-sha256 in add[]");
	}
	if (s->add[na].key == NULL || strcmp(s->add[na].key, "Authorization") != 0 ||
	    strcmp(s->add[na].value, s->authorization) != 0 || s->add[na + 1].key != NULL)
		fz_fail("add[] does not end with Authorization");
	if (strstr(s->string_to_sign, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/") != s->string_to_sign)
		fz_fail("string to sign starts wrong");
	check_shape(q, s, flags);
}

/* The query with its '&'-separated parts in reverse order. */
static char *reverse_query(const char *query)
{
	size_t n = strlen(query), np = 0, o = 0, cap = 1;
	char *out = malloc(n + 2), *copy = strdup(query), **parts;

	for (const char *c = query; *c; c++)
		cap += *c == '&';
	parts = malloc(cap * sizeof(*parts));
	if (out == NULL || copy == NULL || parts == NULL)
		abort();
	for (char *p = copy, *nx; p != NULL; p = nx) {
		nx = fz_cut(p, '&');
		parts[np++] = p;
	}
	out[0] = '\0';
	for (size_t i = np; i-- > 0;) {
		o += (size_t)sprintf(out + o, "%s%s", o ? "&" : "", parts[i]);
	}
	free(parts);
	free(copy);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req q;
	struct sdk_sigv4 s1, s2, s3;
	char err[256], *text, *p, *line;
	int flags, rc1, rc2, has_host = 0, distinct = 1;

	if (size < 1)
		return 0;
	flags = data[0];
	text = fz_strndup(data + 1, size - 1);
	memset(&q, 0, sizeof(q));
	/* a NUL ends the text: the body is what comes before it */
	p = text;
	q.method = p;
	q.path = p = fz_cut(p, '\n');
	q.query = p = fz_cut(p, '\n');
	q.region = p = fz_cut(p, '\n');
	q.service = p = fz_cut(p, '\n');
	p = fz_cut(p, '\n');
	if (p == NULL)
		goto out;
	while (p != NULL && *p != '\0' && *p != '\n' && q.nh < HEADERS_CAP) {
		char *colon;
		line = p;
		p = fz_cut(p, '\n');
		colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		q.h[q.nh].key = line;
		q.h[q.nh].value = colon + 1;
		if (strcasecmp(line, "host") == 0)
			has_host = 1;
		q.nh++;
	}
	if ((flags & 16) && !has_host && q.nh < HEADERS_CAP) {
		q.h[q.nh].key = "Host";
		q.h[q.nh].value = "example.amazonaws.com";
		q.nh++;
	}
	q.h[q.nh].key = NULL;
	if (p != NULL && *p == '\n')
		p++;
	q.body = p ? p : "";
	q.body_len = strlen(q.body);

	{
		char *e1 = sdk_aws_uri_encode(q.path, 1), *e0 = sdk_aws_uri_encode(q.path, 0);
		if (e1 == NULL || e0 == NULL || !encoded_ok(e1, strlen(e1), "/") || !encoded_ok(e0, strlen(e0), ""))
			fz_fail("sdk_aws_uri_encode gave a bad encoding of the path");
		free(e1);
		free(e0);
	}

	rc1 = sign(&q, q.h, (flags & 32) && q.query[0] == '\0' ? NULL : q.query, flags, &s1, err, sizeof(err));
	rc2 = sign(&q, q.h, (flags & 32) && q.query[0] == '\0' ? NULL : q.query, flags, &s2, err, sizeof(err));
	if (rc1 != rc2)
		fz_fail("signing twice gave %d then %d", rc1, rc2);
	if (rc1 != 0) {
		if (rc1 != -1 || err[0] == '\0')
			fz_fail("sdk_sigv4_sign failed with %d and no reason", rc1);
		goto out;
	}
	if (strcmp(s1.signature, s2.signature) != 0 || strcmp(s1.canonical_request, s2.canonical_request) != 0)
		fz_fail("signing is not deterministic");
	check_result(&q, &s1, flags);

	/* order independence: reversed query parts, reversed headers (when
	 * their names are distinct: repeated names keep their order) */
	for (size_t i = 0; i < q.nh && distinct; i++)
		for (size_t k = i + 1; k < q.nh; k++)
			if (strcasecmp(q.h[i].key, q.h[k].key) == 0)
				distinct = 0;
	{
		struct sd_kv rev[HEADERS_CAP + 1];
		char *rq = reverse_query(q.query);
		for (size_t i = 0; i < q.nh; i++)
			rev[i] = distinct ? q.h[q.nh - 1 - i] : q.h[i];
		rev[q.nh].key = NULL;
		if (sign(&q, rev, rq, flags, &s3, err, sizeof(err)) != 0)
			fz_fail("reordering the query or the headers made signing fail: %s", err);
		if (strcmp(s3.canonical_request, s1.canonical_request) != 0)
			fz_fail("reordering changed the canonical request:\n%s\n---\n%s", s1.canonical_request,
				s3.canonical_request);
		sdk_sigv4_free(&s3);
		free(rq);
	}
	sdk_sigv4_free(&s1);
	sdk_sigv4_free(&s2);
out:
	free(text);
	return 0;
}
