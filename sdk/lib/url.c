/* url.c — parsing scheme://user:password@host:port/path?query. */
#include <secretsd/sdk.h>

#include <stdlib.h>
#include <string.h>

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

/* Percent-decode s[0..n) into a new string; NULL on a bad escape, an
 * encoded NUL or out of memory. */
static char *
decode(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	size_t i, j = 0;

	if (d == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;
			if (i + 2 >= n)
				goto bad;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			d[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			d[j++] = s[i];
		}
	}
	d[j] = '\0';
	return d;
bad:
	explicit_bzero(d, n + 1);
	free(d);
	return NULL;
}

static char *
dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

void
sdk_url_free(struct sdk_url *u)
{
	if (u == NULL)
		return;
	free(u->scheme);
	sdk_str_free(u->user);
	sdk_str_free(u->password);
	free(u->host);
	free(u->path);
	sdk_str_free(u->query); /* may hold credentials too (password=...) */
	memset(u, 0, sizeof(*u));
}

int
sdk_url_parse(const char *url, struct sdk_url *u, char *err, size_t cap)
{
	const char *p, *auth, *at, *hostp, *hend, *q, *slash, *colon;
	size_t i;

	memset(u, 0, sizeof(*u));
	if (url == NULL || (p = strstr(url, "://")) == NULL || p == url) {
		sdk_err(err, cap, "connection URL: expected scheme://host");
		return -1;
	}
	for (i = 0; url + i < p; i++) {
		char c = url[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '-' || c == '.')) {
			sdk_err(err, cap, "connection URL: bad scheme");
			return -1;
		}
	}
	if ((u->scheme = dup_n(url, (size_t)(p - url))) == NULL)
		goto oom;
	auth = p + 3;
	/* authority ends at the first '/', '?' or end */
	hend = auth + strcspn(auth, "/?");
	/* userinfo: up to the last '@' in the authority */
	at = NULL;
	for (q = auth; q < hend; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon != NULL) {
			u->user = decode(auth, (size_t)(colon - auth));
			u->password = decode(colon + 1, (size_t)(at - colon - 1));
		} else {
			u->user = decode(auth, (size_t)(at - auth));
			u->password = dup_n("", 0);
		}
		if (u->user == NULL || u->password == NULL) {
			sdk_err(err, cap, "connection URL: bad percent-encoding in the user or password");
			goto fail;
		}
		hostp = at + 1;
	} else {
		if ((u->user = dup_n("", 0)) == NULL || (u->password = dup_n("", 0)) == NULL)
			goto oom;
		hostp = auth;
	}
	/* host[:port] or [v6][:port] */
	if (hostp < hend && *hostp == '[') {
		const char *rb = memchr(hostp, ']', (size_t)(hend - hostp));
		if (rb == NULL) {
			sdk_err(err, cap, "connection URL: unterminated [ in host");
			goto fail;
		}
		u->host = dup_n(hostp + 1, (size_t)(rb - hostp - 1));
		colon = rb + 1 < hend && rb[1] == ':' ? rb + 1 : NULL;
		if (rb + 1 < hend && colon == NULL) {
			sdk_err(err, cap, "connection URL: junk after ]");
			goto fail;
		}
	} else {
		colon = memchr(hostp, ':', (size_t)(hend - hostp));
		u->host = dup_n(hostp, (size_t)((colon != NULL ? colon : hend) - hostp));
	}
	if (u->host == NULL)
		goto oom;
	if (colon != NULL) {
		long port = 0;
		const char *d;
		if (colon + 1 == hend) {
			sdk_err(err, cap, "connection URL: empty port");
			goto fail;
		}
		for (d = colon + 1; d < hend; d++) {
			if (*d < '0' || *d > '9' || port > 65535) {
				sdk_err(err, cap, "connection URL: bad port");
				goto fail;
			}
			port = port * 10 + (*d - '0');
		}
		if (port < 1 || port > 65535) {
			sdk_err(err, cap, "connection URL: bad port");
			goto fail;
		}
		u->port = (int)port;
	}
	/* path and query */
	slash = *hend == '/' ? hend + 1 : hend;
	q = strchr(hend, '?');
	if (*hend == '/')
		u->path = decode(slash, (size_t)((q != NULL ? q : slash + strlen(slash)) - slash));
	else
		u->path = dup_n("", 0);
	if (u->path == NULL) {
		sdk_err(err, cap, "connection URL: bad percent-encoding in the path");
		goto fail;
	}
	u->query = q != NULL ? dup_n(q + 1, strlen(q + 1)) : dup_n("", 0);
	if (u->query == NULL)
		goto oom;
	return 0;
oom:
	sdk_err(err, cap, "out of memory");
fail:
	sdk_url_free(u);
	return -1;
}

int
sdk_query_next(const char *query, size_t *pos, char *key, size_t key_cap, char *value,
	       size_t value_cap)
{
	const char *s, *amp, *eq;
	char *k = NULL, *v = NULL;
	size_t len;
	int rc = -1;

	if (query == NULL)
		return 0;
	/* skip empty pairs ("a=1&&b=2") */
	while (query[*pos] == '&')
		(*pos)++;
	if (query[*pos] == '\0')
		return 0;
	s = query + *pos;
	len = strcspn(s, "&");
	amp = s + len;
	eq = memchr(s, '=', len);
	if (eq == NULL || eq == s)
		goto done;
	k = decode(s, (size_t)(eq - s));
	v = decode(eq + 1, (size_t)(amp - eq - 1));
	if (k == NULL || v == NULL || strlen(k) >= key_cap || strlen(v) >= value_cap)
		goto done;
	memcpy(key, k, strlen(k) + 1);
	memcpy(value, v, strlen(v) + 1);
	*pos = (size_t)(amp - query);
	rc = 1;
done:
	sdk_str_free(k);
	sdk_str_free(v);
	return rc;
}
