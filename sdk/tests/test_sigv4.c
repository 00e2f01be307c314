/* test_sigv4.c — AWS Signature Version 4 (sdk/lib/sigv4.c) against the
 * aws-c-auth signing test suite, plus negative tests of our own (cmocka).
 *
 * The suite lives outside the project, in ../shared/vectors/aws-sigv4 (run
 * from the repository root, as `make unit` does), or in $SD_VECTORS/aws-sigv4.
 * Every case folder is run with its header- files: the canonical request,
 * the string to sign, the signature and the Authorization header of the
 * signed request must match byte for byte. A missing suite fails the test:
 * it is the point of it.
 */
#include <secretsd/sdk.h>
#include <secretsd/sigv4.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define CASES_MAX 256
#define FILE_MAX (256 * 1024)

static const char *
suite_dir(void)
{
	static char buf[4096];
	const char *dir = getenv("SD_VECTORS");

	snprintf(buf, sizeof(buf), "%s/aws-sigv4", dir != NULL ? dir : "../shared/vectors");
	return buf;
}

/* The whole file, NUL-terminated, or NULL when it cannot be read. */
static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	FILE *f;
	char *buf;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	buf = malloc(FILE_MAX + 1);
	n = buf != NULL ? fread(buf, 1, FILE_MAX, f) : 0;
	fclose(f);
	if (buf == NULL || n == FILE_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

/* --- context.json: the handful of flat fields the suite uses ---------------------- */

/* The string value of "key" into out; 0, or -1 when absent. */
static int
json_string(const char *text, const char *key, char *out, size_t cap)
{
	char pat[128];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	if ((p = strstr(text, pat)) == NULL)
		return -1;
	p += strlen(pat);
	p += strspn(p, " \t\r\n");
	if (*p++ != ':')
		return -1;
	p += strspn(p, " \t\r\n");
	if (*p++ != '"')
		return -1;
	for (; *p != '\0' && *p != '"' && n + 1 < cap; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++; /* \" \\ \/ */
		out[n++] = *p;
	}
	out[n] = '\0';
	return *p == '"' ? 0 : -1;
}

/* true/false of "key"; def when absent. */
static int
json_bool(const char *text, const char *key, int def)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	if ((p = strstr(text, pat)) == NULL)
		return def;
	p += strlen(pat);
	p += strspn(p, " \t\r\n:");
	return strncmp(p, "true", 4) == 0;
}

static int64_t
parse_timestamp(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return -1;
	return (int64_t)timegm(&tm);
}

/* --- request.txt ------------------------------------------------------------------------ */

struct raw_request {
	char *buf; /* the file, cut into the strings below */
	char method[16];
	char *path;
	char *query;
	struct sd_kv headers[SDK_SIGV4_HEADERS_MAX + 2];
	char *values[SDK_SIGV4_HEADERS_MAX + 2]; /* malloc'd, folded lines joined */
	size_t nheaders;
	const char *body;
	size_t body_len;
};

static void
raw_free(struct raw_request *r)
{
	for (size_t i = 0; i < r->nheaders; i++)
		free(r->values[i]);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* "METHOD target HTTP/1.1" (the target may hold spaces), header lines
 * (a line that starts with a blank continues the previous value), an empty
 * line, the body. */
static int
raw_parse(char *buf, size_t len, struct raw_request *r)
{
	char *line = buf, *next, *sp, *last;

	memset(r, 0, sizeof(*r));
	r->buf = buf;
	next = strchr(line, '\n');
	if (next != NULL)
		*next++ = '\0';
	sp = strchr(line, ' ');
	last = strrchr(line, ' ');
	if (sp == NULL || last == sp || (size_t)(sp - line) >= sizeof(r->method))
		return -1;
	memcpy(r->method, line, (size_t)(sp - line));
	*last = '\0';
	r->path = sp + 1;
	if ((r->query = strchr(r->path, '?')) != NULL)
		*r->query++ = '\0';
	while (next != NULL) {
		line = next;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (line[0] == '\0') {
			r->body = next != NULL ? next : "";
			r->body_len = next != NULL ? len - (size_t)(next - buf) : 0;
			break;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			char *v;
			size_t a, b;
			if (r->nheaders == 0)
				return -1;
			a = strlen(r->values[r->nheaders - 1]);
			b = strlen(line);
			if ((v = realloc(r->values[r->nheaders - 1], a + b + 2)) == NULL)
				return -1;
			v[a] = '\n';
			memcpy(v + a + 1, line, b + 1);
			r->values[r->nheaders - 1] = v;
			r->headers[r->nheaders - 1].value = v;
			continue;
		}
		if ((sp = strchr(line, ':')) == NULL || r->nheaders == SDK_SIGV4_HEADERS_MAX)
			return -1;
		*sp = '\0';
		r->values[r->nheaders] = strdup(sp + 1);
		r->headers[r->nheaders].key = line;
		r->headers[r->nheaders].value = r->values[r->nheaders];
		r->nheaders++;
	}
	r->headers[r->nheaders].key = NULL;
	return 0;
}

/* The value of the first "Name:value" line of a signed request. */
static int
header_line(const char *text, const char *name, char *out, size_t cap)
{
	const char *p = text;
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		const char *e = strchr(p, '\n');
		size_t l = e != NULL ? (size_t)(e - p) : strlen(p);
		if (l > n && strncmp(p, name, n) == 0 && p[n] == ':') {
			if (l - n - 1 >= cap)
				return -1;
			memcpy(out, p + n + 1, l - n - 1);
			out[l - n - 1] = '\0';
			return 0;
		}
		p = e != NULL ? e + 1 : NULL;
	}
	return -1;
}

/* --- one case -------------------------------------------------------------------------- */

static int
cmp_file(const char *dir, const char *file, const char *got, const char *what)
{
	char *want = slurp(dir, file, NULL);
	int ok;

	if (want == NULL) {
		print_error("%s: cannot read %s\n", dir, file);
		return 0;
	}
	ok = got != NULL && strcmp(want, got) == 0;
	if (!ok)
		print_error("%s: %s differs\n--- want\n%s\n--- got\n%s\n", dir, what, want,
			    got ? got : "(null)");
	free(want);
	return ok;
}

/* 1 when the case passes. */
static int
run_case(const char *dir)
{
	char akid[128] = "", secret[256] = "", token[2048] = "", region[64] = "", service[64] = "",
	     ts[64] = "", err[256] = "", auth[4096] = "";
	struct sdk_aws_creds c;
	struct sdk_sigv4_params p;
	struct sdk_sigv4_request q;
	struct sdk_sigv4 out;
	struct raw_request r;
	char *ctx, *req, *signed_req;
	size_t len = 0;
	int ok = 0;

	ctx = slurp(dir, "context.json", NULL);
	req = slurp(dir, "request.txt", &len);
	if (ctx == NULL || req == NULL) {
		print_error("%s: cannot read context.json or request.txt\n", dir);
		free(ctx);
		free(req);
		return 0;
	}
	if (json_string(ctx, "access_key_id", akid, sizeof(akid)) != 0 ||
	    json_string(ctx, "secret_access_key", secret, sizeof(secret)) != 0 ||
	    json_string(ctx, "region", region, sizeof(region)) != 0 ||
	    json_string(ctx, "service", service, sizeof(service)) != 0 ||
	    json_string(ctx, "timestamp", ts, sizeof(ts)) != 0) {
		print_error("%s: context.json lacks a field\n", dir);
		free(ctx);
		free(req);
		return 0;
	}
	(void)json_string(ctx, "token", token, sizeof(token));
	c = (struct sdk_aws_creds){akid, secret, token};
	p = (struct sdk_sigv4_params){.region = region,
				      .service = service,
				      .time_s = parse_timestamp(ts),
				      .normalize_path = json_bool(ctx, "normalize", 1),
				      .sign_body = json_bool(ctx, "sign_body", 0),
				      .omit_session_token = json_bool(ctx, "omit_session_token", 0)};
	free(ctx);
	if (raw_parse(req, len, &r) != 0) {
		print_error("%s: cannot parse request.txt\n", dir);
		raw_free(&r);
		return 0;
	}
	q = (struct sdk_sigv4_request){r.method, r.path, r.query, r.headers, r.body, r.body_len};
	if (sdk_sigv4_sign(&c, &p, &q, &out, err, sizeof(err)) != 0) {
		print_error("%s: sign failed: %s\n", dir, err);
		raw_free(&r);
		return 0;
	}
	ok = cmp_file(dir, "header-canonical-request.txt", out.canonical_request, "canonical request");
	ok &= cmp_file(dir, "header-string-to-sign.txt", out.string_to_sign, "string to sign");
	ok &= cmp_file(dir, "header-signature.txt", out.signature, "signature");
	signed_req = slurp(dir, "header-signed-request.txt", NULL);
	if (signed_req == NULL || header_line(signed_req, "Authorization", auth, sizeof(auth)) != 0) {
		print_error("%s: no Authorization line in header-signed-request.txt\n", dir);
		ok = 0;
	} else if (strcmp(auth, out.authorization) != 0) {
		print_error("%s: Authorization differs\n--- want\n%s\n--- got\n%s\n", dir, auth,
			    out.authorization);
		ok = 0;
	}
	/* The headers to add carry the values the signed request shows. */
	for (size_t i = 0; ok && out.add[i].key != NULL; i++) {
		char want[4096];
		if (strcmp(out.add[i].key, "Authorization") == 0)
			continue;
		if (header_line(signed_req, out.add[i].key, want, sizeof(want)) != 0 ||
		    strcmp(want, out.add[i].value) != 0) {
			print_error("%s: header %s to add differs from the signed request\n", dir,
				    out.add[i].key);
			ok = 0;
		}
	}
	free(signed_req);
	sdk_sigv4_free(&out);
	raw_free(&r);
	return ok;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_suite(void **st)
{
	const char *root = suite_dir();
	char *names[CASES_MAX], path[4096];
	struct dirent *de;
	size_t n = 0, i;
	int passed = 0, failed = 0, skipped = 0;
	DIR *d;

	(void)st;
	if ((d = opendir(root)) == NULL)
		fail_msg("the signing test suite is not at %s (set SD_VECTORS to the vectors folder)",
			 root);
	while ((de = readdir(d)) != NULL && n < CASES_MAX) {
		char *probe;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		probe = slurp(path, "context.json", NULL);
		if (probe == NULL)
			continue; /* LICENSE and other files */
		free(probe);
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (i = 0; i < n; i++) {
		char *hdr;
		snprintf(path, sizeof(path), "%s/%s", root, names[i]);
		hdr = slurp(path, "header-canonical-request.txt", NULL);
		if (hdr == NULL) {
			print_message("sigv4: %s has no header- variant: skipped\n", names[i]);
			skipped++;
		} else if (run_case(path)) {
			passed++;
		} else {
			failed++;
		}
		free(hdr);
		free(names[i]);
	}
	print_message("sigv4: %d cases passed, %d failed, %d skipped (of %zu in %s)\n", passed, failed,
		      skipped, n, root);
	assert_true(n > 0);
	assert_int_equal(failed, 0);
	assert_int_equal(skipped, 0);
}

/* --- negative and property tests of our own ------------------------------------------------ */

static const struct sdk_aws_creds creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
					   NULL};
static const struct sdk_sigv4_params params = {"us-east-1", "iam", 1440938160, 1, 0, 0};
static const struct sd_kv host_only[] = {{"Host", "iam.amazonaws.com"}, {NULL, NULL}};

static int
sign(const struct sdk_aws_creds *c, const struct sdk_sigv4_params *p, const char *method,
     const char *path, const char *query, const struct sd_kv *h, const char *body, char *err,
     size_t cap, struct sdk_sigv4 *out)
{
	struct sdk_sigv4_request q = {method, path, query, h, body, body ? strlen(body) : 0};

	return sdk_sigv4_sign(c, p, &q, out, err, cap);
}

static void
expect_refused(const struct sdk_aws_creds *c, const struct sdk_sigv4_params *p, const char *path,
	       const char *query, const struct sd_kv *h, const char *mention)
{
	struct sdk_sigv4 out;
	char err[256] = "";

	assert_int_equal(sign(c, p, "GET", path, query, h, NULL, err, sizeof(err), &out), -1);
	assert_non_null(strstr(err, mention));
	assert_null(strstr(err, creds.secret_access_key));
	assert_null(out.authorization);
	assert_null(out.canonical_request);
	sdk_sigv4_free(&out); /* fine after a failure */
}

static void
test_signing_key(void **st)
{
	/* AWS's published example of the key derivation (IAM, 2012-02-15). */
	static const char want[] = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d";
	unsigned char key[32];
	char hex[65];

	(void)st;
	assert_int_equal(sdk_sigv4_signing_key(creds.secret_access_key, "20120215", "us-east-1", "iam",
					       key),
			 0);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	assert_string_equal(hex, want);
	assert_int_equal(sdk_sigv4_signing_key(NULL, "20120215", "us-east-1", "iam", key), -1);
}

static void
test_refused_headers(void **st)
{
	static const struct sd_kv no_host[] = {{"Content-Type", "text/plain"}, {NULL, NULL}};
	static const struct sd_kv auth[] = {
		{"Host", "h"}, {"Authorization", "AWS4-HMAC-SHA256 x"}, {NULL, NULL}};
	static const struct sd_kv date[] = {{"Host", "h"}, {"X-AMZ-DATE", "20150830T123600Z"}, {NULL, NULL}};
	static const struct sd_kv tok[] = {{"Host", "h"}, {"x-amz-security-token", "t"}, {NULL, NULL}};
	static const struct sd_kv bad_name[] = {{"Host", "h"}, {"My Header", "v"}, {NULL, NULL}};
	static const struct sd_kv null_value[] = {{"Host", "h"}, {"A", NULL}, {NULL, NULL}};
	struct sdk_aws_creds with_token = creds;
	struct sdk_sigv4 out;
	char err[256];

	(void)st;
	expect_refused(&creds, &params, "/", NULL, no_host, "Host");
	expect_refused(&creds, &params, "/", NULL, NULL, "Host");
	expect_refused(&creds, &params, "/", NULL, auth, "authorization");
	expect_refused(&creds, &params, "/", NULL, date, "x-amz-date");
	expect_refused(&creds, &params, "/", NULL, bad_name, "malformed");
	expect_refused(&creds, &params, "/", NULL, null_value, "malformed");
	/* the token header is the signer's when the credentials carry one */
	with_token.session_token = "SESSION";
	expect_refused(&with_token, &params, "/", NULL, tok, "x-amz-security-token");
	assert_int_equal(sign(&creds, &params, "GET", "/", NULL, tok, NULL, err, sizeof(err), &out), 0);
	sdk_sigv4_free(&out);
}

static void
test_refused_input(void **st)
{
	struct sdk_aws_creds c = creds;
	struct sdk_sigv4_params p = params;
	struct sdk_sigv4_request q = {"GET", "/", NULL, host_only, NULL, 5};
	struct sdk_sigv4 out;
	char err[256] = "";

	(void)st;
	expect_refused(&creds, &params, "relative/path", NULL, host_only, "path");
	expect_refused(&creds, &params, "/", "a=%zz", host_only, "percent");
	expect_refused(&creds, &params, "/", "a=%4", host_only, "percent");
	expect_refused(&creds, &params, "/", "%00=x", host_only, "percent");
	c.access_key_id = "AKID/EXAMPLE";
	expect_refused(&c, &params, "/", NULL, host_only, "access key");
	c.access_key_id = "";
	expect_refused(&c, &params, "/", NULL, host_only, "access key");
	c = creds;
	c.secret_access_key = "";
	expect_refused(&c, &params, "/", NULL, host_only, "secret");
	p.region = "US East";
	expect_refused(&creds, &p, "/", NULL, host_only, "region");
	p = params;
	p.service = NULL;
	expect_refused(&creds, &p, "/", NULL, host_only, "region");
	p = params;
	p.time_s = -1;
	expect_refused(&creds, &p, "/", NULL, host_only, "time");
	assert_int_equal(sdk_sigv4_sign(&creds, &params, &q, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "body"));
	assert_int_equal(sdk_sigv4_sign(NULL, &params, &q, &out, err, sizeof(err)), -1);
	assert_int_equal(sdk_sigv4_sign(&creds, &params, &q, NULL, err, sizeof(err)), -1);
}

static void
test_caps(void **st)
{
	struct sd_kv many[SDK_SIGV4_HEADERS_MAX + 2];
	char names[SDK_SIGV4_HEADERS_MAX + 1][16], *query, *big;
	struct sd_kv big_hdr[] = {{"Host", "h"}, {"X-Big", NULL}, {NULL, NULL}};
	size_t i, qcap = (SDK_SIGV4_PARAMS_MAX + 1) * 8;

	(void)st;
	many[0] = (struct sd_kv){"Host", "h"};
	for (i = 1; i <= SDK_SIGV4_HEADERS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "X-H%zu", i);
		many[i] = (struct sd_kv){names[i], "v"};
	}
	many[i] = (struct sd_kv){NULL, NULL};
	expect_refused(&creds, &params, "/", NULL, many, "headers");
	many[SDK_SIGV4_HEADERS_MAX] = (struct sd_kv){NULL, NULL}; /* exactly the cap: fine */
	{
		struct sdk_sigv4 out;
		char err[256];
		assert_int_equal(sign(&creds, &params, "GET", "/", NULL, many, NULL, err, sizeof(err), &out),
				 0);
		sdk_sigv4_free(&out);
	}

	query = calloc(1, qcap);
	assert_non_null(query);
	for (i = 0; i <= SDK_SIGV4_PARAMS_MAX; i++)
		snprintf(query + strlen(query), qcap - strlen(query), "%sp%zu=1", i ? "&" : "", i);
	expect_refused(&creds, &params, "/", query, host_only, "query parameters");
	free(query);

	big = malloc(SDK_SIGV4_TEXT_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', SDK_SIGV4_TEXT_MAX + 1);
	big[SDK_SIGV4_TEXT_MAX + 1] = '\0';
	big_hdr[1].value = big;
	expect_refused(&creds, &params, "/", NULL, big_hdr, "longer");
	expect_refused(&creds, &params, big, NULL, host_only, "path");
	free(big);
}

/* Everything that is signed changes the signature; what is not does not. */
static void
test_signature_covers(void **st)
{
	static const struct sd_kv h1[] = {{"Host", "iam.amazonaws.com"},
					  {"Content-Type", "application/x-www-form-urlencoded"},
					  {NULL, NULL}};
	static const struct sd_kv h2[] = {{"host", "iam.amazonaws.com"},
					  {"content-type", "  application/x-www-form-urlencoded "},
					  {NULL, NULL}};
	static const struct sd_kv h3[] = {{"Host", "iam.amazonaws.com:443"},
					  {"Content-Type", "application/x-www-form-urlencoded"},
					  {NULL, NULL}};
	struct sdk_aws_creds c2 = creds, c3 = creds;
	struct sdk_sigv4_params p2 = params, p3 = params;
	struct sdk_sigv4 base, o;
	char err[256];

	(void)st;
	assert_int_equal(sign(&creds, &params, "POST", "/", NULL, h1, "Action=ListUsers", err,
			      sizeof(err), &base),
			 0);
	assert_string_equal(base.amz_date, "20150830T123600Z");
	assert_string_equal(base.signed_headers, "content-type;host;x-amz-date");
	assert_non_null(strstr(base.authorization,
			       "Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "));
	assert_string_equal(base.add[0].key, "X-Amz-Date");
	assert_string_equal(base.add[1].key, "Authorization");
	assert_null(base.add[2].key);
	/* header name case and surrounding blanks are not part of it */
	assert_int_equal(sign(&creds, &params, "POST", "/", NULL, h2, "Action=ListUsers", err,
			      sizeof(err), &o),
			 0);
	assert_string_equal(o.signature, base.signature);
	sdk_sigv4_free(&o);
#define DIFFERS(c, p, m, path, q, h, body)                                                              \
	do {                                                                                            \
		assert_int_equal(sign(c, p, m, path, q, h, body, err, sizeof(err), &o), 0);             \
		assert_string_not_equal(o.signature, base.signature);                                   \
		sdk_sigv4_free(&o);                                                                     \
	} while (0)
	DIFFERS(&creds, &params, "POST", "/", NULL, h1, "Action=ListRoles");
	DIFFERS(&creds, &params, "GET", "/", NULL, h1, "Action=ListUsers");
	DIFFERS(&creds, &params, "POST", "/x", NULL, h1, "Action=ListUsers");
	DIFFERS(&creds, &params, "POST", "/", "a=b", h1, "Action=ListUsers");
	DIFFERS(&creds, &params, "POST", "/", NULL, h3, "Action=ListUsers");
	c2.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz";
	DIFFERS(&c2, &params, "POST", "/", NULL, h1, "Action=ListUsers");
	p2.time_s++;
	DIFFERS(&creds, &p2, "POST", "/", NULL, h1, "Action=ListUsers");
	p3.region = "eu-west-1";
	DIFFERS(&creds, &p3, "POST", "/", NULL, h1, "Action=ListUsers");
	/* a session token is signed, and handed back to be sent */
	c3.session_token = "FQoGZXIvYXdzEXAMPLE";
	assert_int_equal(sign(&c3, &params, "POST", "/", NULL, h1, "Action=ListUsers", err, sizeof(err),
			      &o),
			 0);
	assert_string_not_equal(o.signature, base.signature);
	assert_string_equal(o.signed_headers, "content-type;host;x-amz-date;x-amz-security-token");
	assert_string_equal(o.add[1].key, "X-Amz-Security-Token");
	assert_string_equal(o.add[1].value, "FQoGZXIvYXdzEXAMPLE");
	assert_null(strstr(o.authorization, c3.secret_access_key));
	sdk_sigv4_free(&o);
	/* freeing wipes */
	assert_null(o.authorization);
	assert_int_equal(o.signature[0], '\0');
	sdk_sigv4_free(&base);
#undef DIFFERS
}

static void
test_uri_encode(void **st)
{
	char *s;

	(void)st;
	s = sdk_aws_uri_encode("a b/c~-._Z9+=&\xe1\x88\xb4", 0);
	assert_string_equal(s, "a%20b%2Fc~-._Z9%2B%3D%26%E1%88%B4");
	free(s);
	s = sdk_aws_uri_encode("/a b/", 1);
	assert_string_equal(s, "/a%20b/");
	free(s);
	s = sdk_aws_uri_encode("", 0);
	assert_string_equal(s, "");
	free(s);
	assert_null(sdk_aws_uri_encode(NULL, 0));
}

/* Path normalisation cases beyond the suite. */
static void
test_paths(void **st)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"/a/b/..", "/a/"}, {"/a/./b", "/a/b"}, {"/../a", "/a"}, {"/a/b/../../..", "/"},
		{"", "/"},          {"/a//b/", "/a/b/"}, {"/a%2Fb", "/a%252Fb"}, {"/.", "/"},
	};
	char err[256];

	(void)st;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sdk_sigv4 o;
		const char *nl;
		assert_int_equal(sign(&creds, &params, "GET", cases[i].in, NULL, host_only, NULL, err,
				      sizeof(err), &o),
				 0);
		nl = strchr(o.canonical_request, '\n') + 1;
		if (strncmp(nl, cases[i].want, strlen(cases[i].want)) != 0 ||
		    nl[strlen(cases[i].want)] != '\n')
			fail_msg("path '%s': canonical '%.*s', want '%s'", cases[i].in,
				 (int)strcspn(nl, "\n"), nl, cases[i].want);
		sdk_sigv4_free(&o);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suite),         cmocka_unit_test(test_signing_key),
		cmocka_unit_test(test_refused_headers), cmocka_unit_test(test_refused_input),
		cmocka_unit_test(test_caps),          cmocka_unit_test(test_signature_covers),
		cmocka_unit_test(test_uri_encode),    cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
