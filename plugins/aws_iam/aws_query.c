/* aws_query.c — the AWS Query API (IAM, STS) over libcurl, signed with
 * SigV4 from the SDK, responses read with libxml2.
 *
 * One request: Action=...&Version=...&params as a form body, POSTed with
 * Host, Content-Type, X-Amz-Date, [X-Amz-Security-Token] and Authorization.
 * Throttling, 5xx and network failures are retried (at most
 * AWS_ATTEMPTS_MAX tries, "equal jitter" exponential backoff from
 * AWS_BACKOFF_BASE_MS, capped at AWS_BACKOFF_CAP_MS) while the call's
 * deadline allows; libcurl's own timeout is the time left, redirects are
 * not followed, and a transfer stops as soon as the host cancels the call.
 *
 * Secrets: the secret key never leaves the signer; responses (which carry
 * new secret keys) are wiped from our buffers and from the XML tree before
 * they are freed; AWS error messages are cut to one line, stripped of
 * anything but printable ASCII and of every secret we know, and dropped
 * altogether for signature errors (AWS may echo the canonical request,
 * which holds the session token). libcurl's and libxml2's internal input
 * buffers are outside our reach.
 */
#include "aws.h"

#include <secretsd/sigv4.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#define AWS_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"
#define AWS_MESSAGE_MAX 160 /* characters of an AWS error message kept in err */

/* --- buffers with a cap, wiped when freed ------------------------------------------ */

struct abuf {
	char *p;
	size_t len, cap, max;
	int failed;
};

static void
abuf_add(struct abuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->max) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *np;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (ncap > b->max)
			ncap = b->max;
		if ((np = malloc(ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		if (b->p != NULL) {
			memcpy(np, b->p, b->len);
			explicit_bzero(b->p, b->cap);
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
abuf_free(struct abuf *b)
{
	if (b->p != NULL) {
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

/* application/x-www-form-urlencoded as botocore writes it: A-Z a-z 0-9
 * - . _ ~ stay, a space is '+', every other byte %XX. (AWS hashes the bytes
 * it gets either way; emulators that re-encode the parsed form need this
 * exact form.) */
static void
form_encode(struct abuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0' && !b->failed; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			abuf_add(b, s, 1);
		} else if (c == ' ') {
			abuf_add(b, "+", 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			abuf_add(b, e, 3);
		}
	}
}

static void
form_pair(struct abuf *b, const char *k, const char *v)
{
	if (b->len > 0)
		abuf_add(b, "&", 1);
	form_encode(b, k);
	abuf_add(b, "=", 1);
	form_encode(b, v);
}

/* --- logging and errors ------------------------------------------------------------- */

void
aws_log(const struct aws_state *s, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (s->host->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->host->log(level, AWS_NAME, msg);
}

/* An AWS message made safe for err: one line, printable ASCII, cut to
 * AWS_MESSAGE_MAX, every known secret replaced by "***". */
static void
clean_message(const struct aws_op *op, const char *in, char *out, size_t cap)
{
	size_t i, j = 0;

	for (i = 0; in[i] != '\0' && in[i] != '\n' && in[i] != '\r' && j + 1 < cap &&
		    j < AWS_MESSAGE_MAX;
	     i++)
		out[j++] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[j] = '\0';
	sdk_redact(out, op->s->secret);
	sdk_redact(out, op->s->token);
	sdk_redact(out, op->redact);
}

/* --- codes ------------------------------------------------------------------------------- */

enum { RETRY_NO = 0, RETRY_YES = 1 };

static const struct {
	const char *code;
	int rc;
	int retry;
} aws_codes[] = {
	/* throttling */
	{"Throttling", SD_PDOWN, RETRY_YES},
	{"ThrottlingException", SD_PDOWN, RETRY_YES},
	{"ThrottledException", SD_PDOWN, RETRY_YES},
	{"RequestThrottled", SD_PDOWN, RETRY_YES},
	{"RequestThrottledException", SD_PDOWN, RETRY_YES},
	{"RequestLimitExceeded", SD_PDOWN, RETRY_YES},
	{"TooManyRequestsException", SD_PDOWN, RETRY_YES},
	{"ProvisionedThroughputExceededException", SD_PDOWN, RETRY_YES},
	{"SlowDown", SD_PDOWN, RETRY_YES},
	{"PriorRequestNotComplete", SD_PDOWN, RETRY_YES},
	/* AWS's side, or a race with another writer */
	{"InternalFailure", SD_PDOWN, RETRY_YES},
	{"InternalError", SD_PDOWN, RETRY_YES},
	{"ServiceFailure", SD_PDOWN, RETRY_YES},
	{"ServiceUnavailable", SD_PDOWN, RETRY_YES},
	{"ConcurrentModification", SD_PDOWN, RETRY_YES},
	{"EntityTemporarilyUnmodifiable", SD_PDOWN, RETRY_YES},
	/* ours or the operator's: credentials, signature, permissions */
	{"AccessDenied", SD_PDENIED, RETRY_NO},
	{"AccessDeniedException", SD_PDENIED, RETRY_NO},
	{"UnauthorizedOperation", SD_PDENIED, RETRY_NO},
	{"InvalidClientTokenId", SD_PDENIED, RETRY_NO},
	{"InvalidAccessKeyId", SD_PDENIED, RETRY_NO},
	{"SignatureDoesNotMatch", SD_PDENIED, RETRY_NO},
	{"IncompleteSignature", SD_PDENIED, RETRY_NO},
	{"MissingAuthenticationToken", SD_PDENIED, RETRY_NO},
	{"ExpiredToken", SD_PDENIED, RETRY_NO},
	{"ExpiredTokenException", SD_PDENIED, RETRY_NO},
	{"RequestExpired", SD_PDENIED, RETRY_NO},
	{"RegionDisabledException", SD_PDENIED, RETRY_NO},
	{"OptInRequired", SD_PDENIED, RETRY_NO},
	/* the thing is not there: callers decide (revoke: done; attach: bad ARN) */
	{"NoSuchEntity", SD_PNOTFOUND, RETRY_NO},
};

/* Signature errors: AWS may quote the canonical request (and with it the
 * session token) in the message, so none of it goes to err. */
static int
quiet_code(const char *code)
{
	return strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "IncompleteSignature") == 0;
}

/* --- endpoints -------------------------------------------------------------------------- */

void
aws_endpoint_free(struct aws_endpoint *ep)
{
	free(ep->url);
	free(ep->host);
	free(ep->path);
	ep->url = ep->host = ep->path = NULL;
}

int
aws_endpoint_parse(const char *url, struct aws_endpoint *ep, char *err, size_t cap)
{
	const char *auth, *end;
	size_t alen, plen, i;

	ep->url = ep->host = ep->path = NULL;
	if (url == NULL || strlen(url) > 2048) {
		sdk_err(err, cap, "endpoint: missing or longer than 2048 bytes");
		return SD_PINVAL;
	}
	if (strncasecmp(url, "https://", 8) == 0)
		auth = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		auth = url + 7;
	else {
		sdk_err(err, cap, "endpoint: must start with https:// (or http:// for an emulator)");
		return SD_PINVAL;
	}
	alen = strcspn(auth, "/?#");
	end = auth + alen;
	if (alen == 0 || memchr(auth, '@', alen) != NULL) {
		sdk_err(err, cap, "endpoint: needs a host and no user info");
		return SD_PINVAL;
	}
	for (i = 0; i < alen; i++)
		if ((unsigned char)auth[i] <= 0x20 || (unsigned char)auth[i] >= 0x7f) {
			sdk_err(err, cap, "endpoint: the host holds a blank or a non-ASCII byte");
			return SD_PINVAL;
		}
	plen = strcspn(end, "?#");
	if (end[plen] != '\0') {
		sdk_err(err, cap, "endpoint: no query or fragment allowed");
		return SD_PINVAL;
	}
	for (i = 0; i < plen; i++)
		if ((unsigned char)end[i] <= 0x20 || (unsigned char)end[i] >= 0x7f || end[i] == '%') {
			sdk_err(err, cap, "endpoint: the path must be plain printable ASCII");
			return SD_PINVAL;
		}
	ep->host = strndup(auth, alen);
	ep->path = plen > 0 ? strndup(end, plen) : strdup("/");
	if (ep->host != NULL && ep->path != NULL) {
		size_t n = (size_t)(auth - url) + alen + strlen(ep->path) + 1;
		if ((ep->url = malloc(n)) != NULL)
			snprintf(ep->url, n, "%.*s%s", (int)((auth - url) + alen), url, ep->path);
	}
	if (ep->host == NULL || ep->path == NULL || ep->url == NULL) {
		aws_endpoint_free(ep);
		sdk_err(err, cap, "endpoint: out of memory");
		return SD_PINTERNAL;
	}
	return SD_POK;
}

/* --- XML ------------------------------------------------------------------------------- */

/* The next node after n in document order, within root. */
static xmlNode *
next_node(xmlNode *n, xmlNode *root)
{
	if (n->type == XML_ELEMENT_NODE && n->children != NULL)
		return n->children;
	while (n != NULL && n != root) {
		if (n->next != NULL)
			return n->next;
		n = n->parent;
	}
	return NULL;
}

/* The concatenated text children of element e into out. 0 or -2. */
static int
element_text(const xmlNode *e, char *out, size_t cap)
{
	const xmlNode *c;
	size_t len = 0;

	if (cap == 0)
		return -2;
	out[0] = '\0';
	for (c = e->children; c != NULL; c = c->next) {
		size_t n;
		if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || c->content == NULL)
			continue;
		n = strlen((const char *)c->content);
		if (len + n + 1 > cap) {
			explicit_bzero(out, cap);
			return -2;
		}
		memcpy(out + len, c->content, n);
		len += n;
		out[len] = '\0';
	}
	return 0;
}

static int
named(const xmlNode *n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->name != NULL &&
	       strcmp((const char *)n->name, name) == 0;
}

int
aws_xml_text(xmlDoc *doc, const char *name, char *out, size_t cap)
{
	xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL, *n;

	for (n = root; n != NULL; n = next_node(n, root))
		if (named(n, name))
			return element_text(n, out, cap);
	return -1;
}

int
aws_xml_each(xmlDoc *doc, const char *parent, const char *name, int (*fn)(void *arg, const char *text),
	     void *arg)
{
	xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL, *n;
	char *text = malloc(AWS_TEXT_MAX);
	int rc = 0, toolong = 0;

	if (text == NULL)
		return -1;
	for (n = root; n != NULL && rc == 0; n = next_node(n, root)) {
		if (!named(n, name) || (parent != NULL && !named(n->parent, parent)))
			continue;
		if (element_text(n, text, AWS_TEXT_MAX) != 0) {
			toolong = 1;
			continue;
		}
		rc = fn(arg, text);
	}
	explicit_bzero(text, AWS_TEXT_MAX);
	free(text);
	return rc != 0 ? rc : (toolong ? -2 : 0);
}

void
aws_doc_free(xmlDoc *doc)
{
	xmlNode *root, *n;

	if (doc == NULL)
		return;
	root = xmlDocGetRootElement(doc);
	for (n = root; n != NULL; n = next_node(n, root))
		if (n->type != XML_ELEMENT_NODE && n->content != NULL &&
		    (doc->dict == NULL || !xmlDictOwns(doc->dict, n->content)))
			explicit_bzero(n->content, strlen((const char *)n->content));
	xmlFreeDoc(doc);
}

/* Parse a response body. No network, no entity substitution, no DTD:
 * AWS never sends one, so a document that has one is refused. */
static xmlDoc *
parse_xml(const char *body, size_t len)
{
	xmlDoc *doc;

	if (body == NULL || len == 0 || len > AWS_RESPONSE_MAX)
		return NULL;
	doc = xmlReadMemory(body, (int)len, NULL, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL ||
			    xmlDocGetRootElement(doc) == NULL)) {
		aws_doc_free(doc);
		return NULL;
	}
	return doc;
}

/* --- curl handles ---------------------------------------------------------------------- */

static CURL *
pool_get(struct aws_state *s)
{
	CURL *c = NULL;

	pthread_mutex_lock(&s->mu);
	if (s->nidle > 0)
		c = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->mu);
	if (c == NULL)
		return curl_easy_init();
	curl_easy_reset(c); /* keeps its connections and DNS cache */
	return c;
}

static void
pool_put(struct aws_state *s, CURL *c)
{
	pthread_mutex_lock(&s->mu);
	if (s->nidle < AWS_POOL_MAX) {
		s->idle[s->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (c != NULL)
		curl_easy_cleanup(c);
}

void
aws_pool_close(struct aws_state *s)
{
	while (s->nidle > 0)
		curl_easy_cleanup(s->idle[--s->nidle]);
}

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct abuf *b = arg;
	size_t n = size * nmemb;

	abuf_add(b, ptr, n);
	return b->failed ? 0 : n;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const struct aws_op *op = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return op->s->host->cancelled(op->call) ? 1 : 0;
}

/* Append "Name: value" to list; wiped later by slist_wipe. -1 on OOM. */
static int
add_header(struct curl_slist **list, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	struct curl_slist *l;
	char *line = malloc(n);

	if (line == NULL)
		return -1;
	snprintf(line, n, "%s: %s", name, value);
	l = curl_slist_append(*list, line);
	explicit_bzero(line, n);
	free(line);
	if (l == NULL)
		return -1;
	*list = l;
	return 0;
}

static void
slist_wipe(struct curl_slist *l)
{
	struct curl_slist *i;

	for (i = l; i != NULL; i = i->next)
		if (i->data != NULL)
			explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* One signed POST. Returns the curl result; *status is the HTTP status
 * (0 without an answer), resp the body, cerr curl's reason. */
static CURLcode
send_once(struct aws_op *op, const struct aws_endpoint *ep, const struct abuf *body,
	  struct abuf *resp, long *status, char *cerr)
{
	struct aws_state *s = op->s;
	const struct sd_kv hdrs[] = {{"Host", ep->host}, {"Content-Type", AWS_CONTENT_TYPE}, {NULL, NULL}};
	const struct sdk_aws_creds creds = {s->akid, s->secret, s->token};
	struct sdk_sigv4_params p = {.region = ep->region, .service = ep->service, .normalize_path = 1};
	struct sdk_sigv4_request req = {"POST", ep->path, NULL, hdrs, body->p, body->len};
	struct sdk_sigv4 sig;
	struct curl_slist *list = NULL;
	int64_t left = sdk_remaining_ms(s->host, op->call);
	char serr[160];
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	CURL *c;
	size_t i;

	*status = 0;
	cerr[0] = '\0';
	p.time_s = s->host->now_us() / 1000000;
	if (sdk_sigv4_sign(&creds, &p, &req, &sig, serr, sizeof(serr)) != 0) {
		snprintf(cerr, CURL_ERROR_SIZE, "%s", serr);
		return CURLE_BAD_FUNCTION_ARGUMENT;
	}
	if (add_header(&list, "Host", ep->host) != 0 ||
	    add_header(&list, "Content-Type", AWS_CONTENT_TYPE) != 0)
		goto out;
	for (i = 0; sig.add[i].key != NULL; i++)
		if (add_header(&list, sig.add[i].key, sig.add[i].value) != 0)
			goto out;
	if ((list = curl_slist_append(list, "Expect:")) == NULL)
		goto out;
	if ((c = pool_get(s)) == NULL)
		goto out;
	if (left < 1)
		left = 1;
	curl_easy_setopt(c, CURLOPT_URL, ep->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->p);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body->len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "secretsd-aws_iam/1.0");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(left < s->connect_timeout_ms ? left : s->connect_timeout_ms));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, op);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	pool_put(s, c);
	if (cc != CURLE_OK && cerr[0] == '\0')
		snprintf(cerr, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
out:
	slist_wipe(list);
	sdk_sigv4_free(&sig);
	return cc;
}

/* Network failures worth another try. */
static int
curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* "Equal jitter": half the exponential step plus a random part of the
 * other half. attempt counts from 1. */
static int64_t
backoff_ms(const struct aws_state *s, int attempt)
{
	int64_t d = AWS_BACKOFF_BASE_MS;
	unsigned char r[2] = {0, 0};

	for (int i = 1; i < attempt && d < AWS_BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > AWS_BACKOFF_CAP_MS)
		d = AWS_BACKOFF_CAP_MS;
	if (s->host->random_bytes(r, sizeof(r)) != 0)
		r[0] = r[1] = 0x80;
	return d / 2 + (d / 2) * ((int64_t)r[0] << 8 | r[1]) / 65536;
}

/* What one answer means. */
struct verdict {
	int rc;     /* SD_POK or the failure */
	int retry;  /* worth another try */
};

static struct verdict
judge(struct aws_op *op, const char *action, long status, const struct abuf *resp, xmlDoc **doc,
      char *code, size_t code_cap)
{
	struct verdict v = {SD_PINVAL, 0};
	char c[128] = "", raw[512] = "", msg[AWS_MESSAGE_MAX + 1] = "";
	xmlDoc *d = parse_xml(resp->p, resp->len);
	size_t i;

	if (status >= 200 && status < 300) {
		if (d == NULL) {
			sdk_err(op->call->err, op->call->err_cap,
				"aws_iam: %s: HTTP %ld with a body that is not XML", action, status);
			v.rc = SD_PDOWN;
			return v;
		}
		*doc = d;
		v.rc = SD_POK;
		return v;
	}
	if (d != NULL) {
		if (aws_xml_text(d, "Code", c, sizeof(c)) != 0)
			c[0] = '\0';
		if (aws_xml_text(d, "Message", raw, sizeof(raw)) == -2)
			snprintf(raw, sizeof(raw), "(message too long)");
		aws_doc_free(d);
	}
	if (code != NULL)
		snprintf(code, code_cap, "%s", c);
	if (!quiet_code(c))
		clean_message(op, raw, msg, sizeof(msg));
	/* the status decides when the code is unknown */
	if (status == 429)
		v = (struct verdict){SD_PDOWN, 1};
	else if (status >= 500)
		v = (struct verdict){SD_PDOWN, 1};
	else if (status == 401 || status == 403)
		v.rc = SD_PDENIED;
	else if (status == 404 && c[0] == '\0')
		v.rc = SD_PDOWN; /* not an AWS answer: a wrong endpoint path */
	for (i = 0; c[0] != '\0' && i < sizeof(aws_codes) / sizeof(aws_codes[0]); i++)
		if (strcmp(c, aws_codes[i].code) == 0) {
			v = (struct verdict){aws_codes[i].rc, aws_codes[i].retry};
			break;
		}
	sdk_err(op->call->err, op->call->err_cap, "aws_iam: %s: %s (HTTP %ld)%s%s", action,
		c[0] != '\0' ? c : "no AWS error code", status, msg[0] != '\0' ? ": " : "", msg);
	return v;
}

int
aws_call(struct aws_op *op, const struct aws_endpoint *ep, const char *action,
	 const struct sd_kv *params, xmlDoc **doc, char *code, size_t code_cap)
{
	struct aws_state *s = op->s;
	struct abuf body = {.max = AWS_BODY_MAX}, resp = {.max = AWS_RESPONSE_MAX};
	char cerr[CURL_ERROR_SIZE + 1];
	struct verdict v = {SD_PTIMEOUT, 0};
	int attempt, n, max = AWS_ATTEMPTS_MAX;

	*doc = NULL;
	if (op->max_attempts > 0 && op->max_attempts < max)
		max = op->max_attempts;
	if (code != NULL && code_cap > 0)
		code[0] = '\0';
	form_pair(&body, "Action", action);
	form_pair(&body, "Version", ep->version);
	for (n = 0; params != NULL && params[n].key != NULL; n++) {
		if (n == AWS_PARAMS_MAX) {
			body.failed = 1;
			break;
		}
		form_pair(&body, params[n].key, params[n].value);
	}
	if (body.failed) {
		sdk_err(op->call->err, op->call->err_cap,
			"aws_iam: %s: request longer than %d bytes or %d parameters", action, AWS_BODY_MAX,
			AWS_PARAMS_MAX);
		abuf_free(&body);
		return SD_PINVAL;
	}
	for (attempt = 1;; attempt++) {
		long status = 0;
		CURLcode cc;
		int64_t wait;

		if (s->host->cancelled(op->call) || sdk_remaining_ms(s->host, op->call) <= 0) {
			if (attempt == 1)
				sdk_err(op->call->err, op->call->err_cap,
					"aws_iam: %s: the deadline passed before the request", action);
			break; /* v and err are those of the last try */
		}
		resp.len = 0;
		resp.failed = 0;
		cc = send_once(op, ep, &body, &resp, &status, cerr);
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			sdk_err(op->call->err, op->call->err_cap,
				"aws_iam: %s: cancelled (deadline passed or server stopping)", action);
			v = (struct verdict){SD_PTIMEOUT, 0};
			break;
		}
		if (cc == CURLE_WRITE_ERROR && resp.failed) {
			sdk_err(op->call->err, op->call->err_cap,
				"aws_iam: %s: response larger than %d bytes", action, AWS_RESPONSE_MAX);
			v = (struct verdict){SD_PDOWN, 0};
			break;
		}
		if (cc == CURLE_BAD_FUNCTION_ARGUMENT || cc == CURLE_OUT_OF_MEMORY) {
			sdk_err(op->call->err, op->call->err_cap, "aws_iam: %s: %s", action,
				cc == CURLE_OUT_OF_MEMORY ? "out of memory" : cerr);
			v = (struct verdict){SD_PINTERNAL, 0};
			break;
		}
		if (cc != CURLE_OK) {
			sdk_err(op->call->err, op->call->err_cap, "aws_iam: %s: cannot reach %s: %s", action,
				ep->url, cerr);
			v = (struct verdict){SD_PDOWN, curl_retryable(cc)};
		} else {
			v = judge(op, action, status, &resp, doc, code, code_cap);
		}
		if (v.rc == SD_POK || !v.retry)
			break;
		if (attempt == max) {
			size_t l = strlen(op->call->err);
			snprintf(op->call->err + l, op->call->err_cap - l, " (gave up after %d tries)",
				 attempt);
			break;
		}
		wait = backoff_ms(s, attempt);
		if (sdk_remaining_ms(s->host, op->call) < wait + 50) {
			size_t l = strlen(op->call->err);
			snprintf(op->call->err + l, op->call->err_cap - l,
				 " (no time left for try %d)", attempt + 1);
			break;
		}
		aws_log(s, SD_LOG_INFO, "%s failed (%s), try %d of %d in %lld ms", action,
			code != NULL && code[0] != '\0' ? code : "network or 5xx", attempt + 1, max,
			(long long)wait);
		{
			/* sdk_sleep_ms writes its own reason when cancelled: keep ours */
			char save[256];
			snprintf(save, sizeof(save), "%s", op->call->err);
			if (sdk_sleep_ms(s->host, op->call, wait) != 0) {
				snprintf(op->call->err, op->call->err_cap, "%s (cancelled while waiting to retry)",
					 save);
				break;
			}
		}
	}
	abuf_free(&body);
	abuf_free(&resp);
	if (v.rc == SD_POK && op->call->err_cap > 0)
		op->call->err[0] = '\0'; /* an earlier try's reason is no longer true */
	if (v.rc == SD_POK && code != NULL && code_cap > 0)
		code[0] = '\0';
	return v.rc;
}
