/* jsonx.h — strict JSON for request bodies: duplicate keys refused, nesting
 * at most SD_JSON_DEPTH_MAX, one value and nothing after it. */
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

#endif
