/* jsonx.c — strict JSON parsing of request bodies; JSON text written
 * directly, as jansson would write it. */
#include "jsonx.h"

#include <string.h>

/* Nesting depth of buf, outside strings; -1 when over the cap. */
static int depth_ok(const char *buf, size_t len)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[') {
			if (++depth > SD_JSON_DEPTH_MAX)
				return 0;
		} else if (c == '}' || c == ']')
			depth--;
	}
	return 1;
}

int jsonx_parse_object(const char *buf, size_t len, json_t **out, struct sd_err *err)
{
	json_error_t je;
	json_t *j;

	if (len == 0)
		return sd_err_set(err, SD_EINVAL, "request body is empty; expected a JSON object");
	if (!depth_ok(buf, len))
		return sd_err_set(err, SD_EINVAL, "JSON nests deeper than %d levels", SD_JSON_DEPTH_MAX);
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return sd_err_set(err, SD_EINVAL, "malformed JSON at line %d column %d: %s", je.line,
				  je.column, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return sd_err_set(err, SD_EINVAL, "request body must be a JSON object");
	}
	*out = j;
	return 0;
}

int jsonx_only_fields(json_t *obj, const char *const *allowed, struct sd_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(key, *a) == 0)
				ok = 1;
		if (!ok)
			return sd_err_set(err, SD_EINVAL, "unknown field '%.64s'", key);
	}
	return 0;
}

int jsonx_get_uint(json_t *obj, const char *name, uint64_t max, uint64_t *out, struct sd_err *err)
{
	json_t *v = json_object_get(obj, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return sd_err_set(err, SD_EINVAL, "field '%s' must be an integer from 0 to %llu", name,
				  (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 1;
}

/* --- writing ------------------------------------------------------------------ */

/* Length of the UTF-8 sequence at s (n bytes available), 1 to 4, or 0 when
 * it is not valid UTF-8 as jansson checks it (utf8_check_first/full): no
 * continuation byte first, no overlong form, no surrogate, nothing above
 * U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000))
		return 0;
	return len;
}

/* jansson's escape for a byte below 0x20, '"' or '\\' ("\\u00XX" with upper
 * case hex for the control characters without a short form). */
static size_t escape(unsigned char c, char out[6])
{
	static const char hex[] = "0123456789ABCDEF";

	out[0] = '\\';
	switch (c) {
	case '"': out[1] = '"'; return 2;
	case '\\': out[1] = '\\'; return 2;
	case '\b': out[1] = 'b'; return 2;
	case '\f': out[1] = 'f'; return 2;
	case '\n': out[1] = 'n'; return 2;
	case '\r': out[1] = 'r'; return 2;
	case '\t': out[1] = 't'; return 2;
	default: break;
	}
	out[1] = 'u';
	out[2] = '0';
	out[3] = '0';
	out[4] = hex[c >> 4];
	out[5] = hex[c & 15];
	return 6;
}

void jsonx_out_init(struct jsonx_out *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->len = 0;
	o->cap = cap;
	o->failed = 0;
}

void jsonx_out_raw(struct jsonx_out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (n > o->cap - o->len) {
		o->failed = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* s (n bytes) as a quoted JSON string: written to w when w is not NULL
 * (room for the length returned), else only measured. SIZE_MAX when s is
 * not valid UTF-8. */
static size_t put_str(char *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run;
	size_t len = 2, k;
	char esc[6];

	if (w != NULL)
		*w++ = '"';
	while (p < end) {
		/* the longest run that goes out as it is: printable ASCII but '"'
		 * and '\\', and valid UTF-8 sequences */
		for (run = p; p < end; p++) {
			if (*p >= 0x80) {
				k = utf8_seq(p, (size_t)(end - p));
				if (k == 0)
					return SIZE_MAX;
				p += k - 1;
			} else if (*p < 0x20 || *p == '"' || *p == '\\') {
				break;
			}
		}
		if (w != NULL) {
			memcpy(w, run, (size_t)(p - run));
			w += p - run;
		}
		len += (size_t)(p - run);
		if (p < end) {
			k = escape(*p++, esc);
			if (w != NULL) {
				memcpy(w, esc, k);
				w += k;
			}
			len += k;
		}
	}
	if (w != NULL)
		*w = '"';
	return len;
}

void jsonx_out_str(struct jsonx_out *o, const char *s, size_t n)
{
	size_t len;

	if (o->failed)
		return;
	if (o->cap - o->len >= JSONX_STR_MAX(n)) { /* fits whatever it holds: one pass */
		len = put_str(o->buf + o->len, s, n);
	} else {
		len = put_str(NULL, s, n);
		if (len != SIZE_MAX && len <= o->cap - o->len)
			put_str(o->buf + o->len, s, n);
		else
			len = SIZE_MAX;
	}
	if (len == SIZE_MAX)
		o->failed = 1;
	else
		o->len += len;
}

void jsonx_out_int(struct jsonx_out *o, int64_t v)
{
	char num[24], *p = num + sizeof(num);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	jsonx_out_raw(o, p, (size_t)(num + sizeof(num) - p));
}

char *jsonx_out_room(struct jsonx_out *o, size_t n)
{
	if (o->failed || n > o->cap - o->len) {
		o->failed = 1;
		return NULL;
	}
	return o->buf + o->len;
}

void jsonx_out_key(struct jsonx_out *o, const char *key)
{
	if (!o->failed && o->len > 0 && o->buf[o->len - 1] != '{')
		jsonx_out_raw(o, ",", 1);
	jsonx_out_str(o, key, strlen(key));
	jsonx_out_raw(o, ":", 1);
}

/* --- canonical objects of strings ------------------------------------------------ */

/* Length of the JSON string at p (opening quote to closing quote included)
 * if it is written exactly as jansson writes strings, else 0. Each string
 * has one such form, so two are equal as text exactly when they are equal
 * as values. */
static size_t canonical_string(const char *p, const char *end)
{
	const unsigned char *s = (const unsigned char *)p, *e = (const unsigned char *)end;
	char esc[6];

	if (s >= e || *s != '"')
		return 0;
	for (s++; s < e; ) {
		size_t k;
		if (*s == '"')
			return (size_t)((const char *)s + 1 - p);
		if (*s < 0x20)
			return 0;
		if (*s == '\\') {
			unsigned c;
			/* the one escape jansson writes for the character it stands for */
			if (e - s >= 2 && (s[1] == '"' || s[1] == '\\')) {
				s += 2;
				continue;
			}
			if (e - s < 2)
				return 0;
			switch (s[1]) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': /* \u00XX; the comparison below checks the digits */
				if (e - s < 6 || (s[4] != '0' && s[4] != '1'))
					return 0;
				c = (unsigned)(s[4] - '0') << 4 |
				    (unsigned)(s[5] >= 'A' ? s[5] - 'A' + 10 : s[5] - '0');
				if (c == 0 || c >= 0x20)
					return 0; /* NUL: json_loads refuses it */
				break;
			default: return 0;
			}
			k = escape((unsigned char)c, esc);
			if ((size_t)(e - s) < k || memcmp(s, esc, k) != 0)
				return 0;
			s += k;
			continue;
		}
		k = utf8_seq(s, (size_t)(e - s));
		if (k == 0)
			return 0;
		s += k;
	}
	return 0;
}

int jsonx_canonical_strings(const char *text, size_t len, const char *key, const char **val,
			    size_t *vlen)
{
	const char *p = text, *end = text + len, *keys[SD_JSON_FLAT_KEYS_MAX];
	size_t klens[SD_JSON_FLAT_KEYS_MAX], nkeys = 0, want = strlen(key), kl, vl;

	*val = NULL;
	*vlen = 0;
	if (len < 2 || p[0] != '{' || end[-1] != '}')
		return 0;
	p++;
	end--;
	while (p < end) {
		if (nkeys > 0) {
			if (*p != ',')
				return 0;
			p++;
		}
		if (nkeys == SD_JSON_FLAT_KEYS_MAX || (kl = canonical_string(p, end)) == 0)
			return 0;
		for (size_t i = 0; i < nkeys; i++)
			if (klens[i] == kl && memcmp(keys[i], p, kl) == 0)
				return 0; /* a duplicate: json_loads keeps one of them */
		keys[nkeys] = p;
		klens[nkeys++] = kl;
		p += kl;
		if (p >= end || *p != ':')
			return 0;
		p++;
		if ((vl = canonical_string(p, end)) == 0)
			return 0;
		if (kl == want + 2 && memcmp(keys[nkeys - 1] + 1, key, want) == 0) {
			*val = p + 1;
			*vlen = vl - 2;
		}
		p += vl;
	}
	return 1;
}
