/* jsonx.c — strict JSON parsing of request bodies. */
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
