/* jsonx.h — strict JSON for request bodies: duplicate keys refused, nesting
 * at most SD_JSON_DEPTH_MAX, one value and nothing after it. And JSON text
 * written without building a jansson tree, byte for byte as json_dumps
 * (JSON_COMPACT) would write it, for the hot paths (reads, the audit log). */
#ifndef SD_JSONX_H
#define SD_JSONX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SD_JSON_DEPTH_MAX 32

/* Parse buf (len bytes) as a JSON object. On success *out holds a new
 * reference; otherwise SD_EINVAL with a message naming the problem. */
int jsonx_parse_object(const char *buf, size_t len, json_t **out, struct sd_err *err);

/* 0 when every key of obj is in allowed (NULL-terminated); else SD_EINVAL
 * naming the first unknown field. */
int jsonx_only_fields(json_t *obj, const char *const *allowed, struct sd_err *err);

/* Read an optional non-negative integer field; SD_EINVAL naming it when it
 * is present with another type. Returns 1 when present, 0 when absent. */
int jsonx_get_uint(json_t *obj, const char *name, uint64_t max, uint64_t *out, struct sd_err *err);

/* --- writing ---------------------------------------------------------------
 *
 * A jsonx_out appends to a buffer the caller owns, of fixed capacity. A write
 * that does not fit, or a string that is not valid UTF-8, marks it failed;
 * later writes then do nothing, so a caller checks `failed` once at the end
 * (the text is then incomplete and must not be used). Nothing is allocated. */
struct jsonx_out {
	char *buf;   /* not owned */
	size_t len;  /* bytes written; buf is not NUL-terminated */
	size_t cap;
	int failed;
};

/* The most bytes jsonx_out_str writes for n bytes of input (quotes included). */
#define JSONX_STR_MAX(n) (6 * (n) + 2)

void jsonx_out_init(struct jsonx_out *o, char *buf, size_t cap);
/* n bytes as they are (JSON text the caller vouches for). */
void jsonx_out_raw(struct jsonx_out *o, const char *s, size_t n);
/* n bytes as a JSON string, quoted and escaped as jansson escapes them:
 * '"' and '\\' with a backslash, control characters as \b \f \n \r \t or
 * \u00XX, everything else (non-ASCII UTF-8, DEL, '/') as is. Invalid UTF-8
 * (which json_string refuses) marks o failed. */
void jsonx_out_str(struct jsonx_out *o, const char *s, size_t n);
void jsonx_out_int(struct jsonx_out *o, int64_t v);
/* Room for n bytes the caller writes itself (text that needs no escaping,
 * such as base64), then counts with o->len += written (at most n); NULL
 * (and o failed) when it does not fit. */
char *jsonx_out_room(struct jsonx_out *o, size_t n);
/* An object member's name: "key": preceded by a comma unless it is the
 * first member (the text so far ends with '{'). */
void jsonx_out_key(struct jsonx_out *o, const char *key);

/* --- canonical objects of strings -------------------------------------------
 *
 * Whether text (len bytes) is exactly what json_dumps(JSON_COMPACT) writes
 * for an object whose values are all strings, with distinct keys and at
 * most SD_JSON_FLAT_KEYS_MAX of them: then json_loads + json_dumps would
 * give back the same bytes, and the text can be copied as it is. Returns 1
 * if so, with the raw (still escaped) value of member `key` in *val, *vlen
 * (*val NULL when absent); 0 for any other text (the caller then parses it). */
#define SD_JSON_FLAT_KEYS_MAX 64
int jsonx_canonical_strings(const char *text, size_t len, const char *key, const char **val,
			    size_t *vlen);

#endif
