/* kv.c — key/value arrays, strings, errors and setting parsers. */
#include <secretsd/sdk.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
sdk_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

void
sdk_redact(char *msg, const char *secret)
{
	static const char mask[] = "***";
	size_t slen, mlen = sizeof(mask) - 1;
	char *p;

	if (msg == NULL || secret == NULL || secret[0] == '\0')
		return;
	slen = strlen(secret);
	p = msg;
	while ((p = strstr(p, secret)) != NULL) {
		/* mlen <= slen or not: move the tail either way. */
		size_t tail = strlen(p + slen) + 1;
		if (mlen <= slen) {
			memcpy(p, mask, mlen);
			memmove(p + mlen, p + slen, tail);
			p += mlen;
		} else {
			/* Secrets shorter than the mask: overwrite with '*' in place
			 * (the string cannot grow). */
			memset(p, '*', slen);
			p += slen;
		}
	}
}

const char *
sdk_kv_get(const struct sd_kv *kv, const char *key)
{
	if (kv == NULL || key == NULL)
		return NULL;
	for (; kv->key != NULL; kv++)
		if (strcmp(kv->key, key) == 0)
			return kv->value;
	return NULL;
}

int
sdk_parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || s[0] == '\0' || isspace((unsigned char)s[0]) || s[0] == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int
sdk_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
sdk_parse_duration(const char *s, int64_t *out_s)
{
	int64_t v = 0, mul = 1;
	size_t i, len;

	if (s == NULL || (len = strlen(s)) == 0)
		return -1;
	switch (s[len - 1]) {
	case 's': mul = 1; len--; break;
	case 'm': mul = 60; len--; break;
	case 'h': mul = 3600; len--; break;
	case 'd': mul = 86400; len--; break;
	default: break;
	}
	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > INT64_MAX / mul)
		return -1;
	*out_s = v * mul;
	return 0;
}

int
sdk_kv_get_int(const struct sd_kv *kv, const char *key, int64_t def, int64_t *out)
{
	const char *v = sdk_kv_get(kv, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	return sdk_parse_int(v, out);
}

int
sdk_kv_get_bool(const struct sd_kv *kv, const char *key, int def, int *out)
{
	const char *v = sdk_kv_get(kv, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	return sdk_parse_bool(v, out);
}

int
sdk_kv_get_duration(const struct sd_kv *kv, const char *key, int64_t def_s, int64_t *out_s)
{
	const char *v = sdk_kv_get(kv, key);

	if (v == NULL) {
		*out_s = def_s;
		return 0;
	}
	return sdk_parse_duration(v, out_s);
}

/* sdk_kv_new arrays carry their capacity in a header just before the
 * array, so that sdk_kv_free can wipe every entry even when the caller
 * left holes. */
union kv_hdr {
	size_t n;
	max_align_t align;
};

struct sd_kv *
sdk_kv_new(size_t n)
{
	union kv_hdr *h;

	if (n > SDK_KV_MAX)
		return NULL;
	h = calloc(1, sizeof(*h) + (n + 1) * sizeof(struct sd_kv));
	if (h == NULL)
		return NULL;
	h->n = n;
	return (struct sd_kv *)(h + 1);
}

static void
kv_clear(struct sd_kv *e)
{
	sdk_str_free((char *)(uintptr_t)e->key);
	sdk_str_free((char *)(uintptr_t)e->value);
	e->key = NULL;
	e->value = NULL;
}

int
sdk_kv_set(struct sd_kv *kv, size_t i, const char *key, const char *value)
{
	union kv_hdr *h;
	char *k, *v;

	if (kv == NULL || key == NULL || value == NULL)
		return -1;
	h = (union kv_hdr *)kv - 1;
	if (i >= h->n)
		return -1;
	kv_clear(&kv[i]);
	k = sdk_strdup(key);
	v = sdk_strdup(value);
	if (k == NULL || v == NULL) {
		sdk_str_free(k);
		sdk_str_free(v);
		return -1;
	}
	kv[i].key = k;
	kv[i].value = v;
	return 0;
}

void
sdk_kv_free(struct sd_kv *kv)
{
	union kv_hdr *h;
	size_t i;

	if (kv == NULL)
		return;
	h = (union kv_hdr *)kv - 1;
	for (i = 0; i < h->n; i++)
		kv_clear(&kv[i]);
	explicit_bzero(h, sizeof(*h) + (h->n + 1) * sizeof(struct sd_kv));
	free(h);
}

char *
sdk_strdup(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	d = malloc(n);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void
sdk_str_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
