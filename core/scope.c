/* scope.c — scope claims and path patterns. */
#include "scope.h"

#include <string.h>

int scope_pattern_match(const char *pattern, const char *s)
{
	const char *p = pattern;

	while (*p != '\0') {
		if (p[0] == '*' && p[1] == '\0')
			return 1; /* prefix match: the rest of s is anything */
		if (p[0] == '+' && (p == pattern || p[-1] == '/') && (p[1] == '/' || p[1] == '\0')) {
			/* exactly one non-empty segment of s */
			const char *end = strchr(s, '/');
			size_t seg = end ? (size_t)(end - s) : strlen(s);
			if (seg == 0)
				return 0;
			s += seg;
			p++;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *s == '\0';
}

static int kind_of(const char *word, const char **pattern)
{
	static const struct {
		const char *prefix;
		int kind;
	} kinds[] = {
		{ "secrets:read:", SCOPE_SECRETS_READ },
		{ "secrets:write:", SCOPE_SECRETS_WRITE },
		{ "leases:issue:", SCOPE_LEASES_ISSUE },
	};

	if (strcmp(word, "admin") == 0) {
		*pattern = "";
		return SCOPE_ADMIN;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].prefix);
		if (strncmp(word, kinds[i].prefix, n) == 0 && word[n] != '\0') {
			*pattern = word + n;
			return kinds[i].kind;
		}
	}
	return SCOPE_NONE;
}

int scopes_parse(const char *claim, struct scopes *out, struct sd_err *err)
{
	char word[SD_SCOPE_BUF];
	size_t used = 0;
	const char *p = claim;

	out->n = 0;
	if (strlen(claim) >= SD_SCOPE_BUF)
		return sd_err_set(err, SD_EUNAUTH, "scope claim is too long");
	while (*p != '\0') {
		const char *pattern;
		size_t len;
		int kind;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0)
			break;
		memcpy(word, p, len);
		word[len] = '\0';
		p += len;
		kind = kind_of(word, &pattern);
		if (kind == SCOPE_NONE)
			continue;
		if (out->n >= SD_SCOPES_MAX)
			return sd_err_set(err, SD_EUNAUTH, "too many scopes (at most %d)", SD_SCOPES_MAX);
		len = strlen(pattern);
		/* claim < SD_SCOPE_BUF, so the patterns always fit */
		memcpy(out->buf + used, pattern, len + 1);
		out->s[out->n].kind = (uint8_t)kind;
		out->s[out->n].off = (uint16_t)used;
		out->n++;
		used += len + 1;
	}
	return 0;
}

/* Bytes of buf in use: up to the end of the pattern that ends last. */
static size_t buf_used(const struct scopes *s)
{
	size_t used = 0;

	for (int i = 0; i < s->n; i++) {
		size_t end = s->s[i].off + strlen(s->buf + s->s[i].off) + 1;

		if (end > used)
			used = end;
	}
	return used;
}

/* Packed: n (uint16), used (uint16), the n entries, the used bytes of buf.
 * Copied with memcpy: the packed bytes have no alignment. */
#define PACKED_HDR (2 * sizeof(uint16_t))

size_t scopes_packed_size(const struct scopes *s)
{
	return PACKED_HDR + s->n * sizeof(s->s[0]) + buf_used(s);
}

void scopes_pack(const struct scopes *s, unsigned char *dst)
{
	uint16_t used = (uint16_t)buf_used(s); /* <= SD_SCOPE_BUF */
	size_t ents = s->n * sizeof(s->s[0]);

	memcpy(dst, &s->n, sizeof(s->n));
	memcpy(dst + sizeof(s->n), &used, sizeof(used));
	memcpy(dst + PACKED_HDR, s->s, ents);
	memcpy(dst + PACKED_HDR + ents, s->buf, used);
}

void scopes_unpack(const unsigned char *src, struct scopes *out)
{
	uint16_t used;
	size_t ents;

	memcpy(&out->n, src, sizeof(out->n));
	memcpy(&used, src + sizeof(out->n), sizeof(used));
	ents = out->n * sizeof(out->s[0]);
	memcpy(out->s, src + PACKED_HDR, ents);
	memcpy(out->buf, src + PACKED_HDR + ents, used);
}

int scopes_allow(const struct scopes *s, enum scope_kind kind, const char *subject)
{
	for (int i = 0; i < s->n; i++) {
		if (s->s[i].kind == SCOPE_ADMIN)
			return 1;
		if (s->s[i].kind == kind && scope_pattern_match(s->buf + s->s[i].off, subject))
			return 1;
	}
	return 0;
}

int scopes_has_kind(const struct scopes *s, enum scope_kind kind)
{
	for (int i = 0; i < s->n; i++)
		if (s->s[i].kind == SCOPE_ADMIN || s->s[i].kind == kind)
			return 1;
	return 0;
}

int scopes_is_admin(const struct scopes *s)
{
	for (int i = 0; i < s->n; i++)
		if (s->s[i].kind == SCOPE_ADMIN)
			return 1;
	return 0;
}
