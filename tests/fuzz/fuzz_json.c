/* fuzz_json.c — the JSON bodies of every endpoint that takes one, checked
 * the way the handlers check them, plus the strict base64 codecs.
 *
 * Input: one selector byte, then the body.
 *   0  POST {base}/secrets/{path}        {"value_b64","metadata","cas"}
 *   1  POST {base}/leases                {"role","ttl_s"}
 *   2  POST {base}/leases/{id}/renew     {"increment_s"} (body optional)
 *   3  POST {base}/admin/rotate/{path}   {"strategy","reason"} (body optional)
 *   4  the body as standard base64 (b64_decode)
 *   5  the body as base64url (b64url_decode)
 * Invariants (a violation aborts):
 *   - a body jsonx_parse_object accepts is an object; a refusal is
 *     SD_EINVAL with a reason;
 *   - metadata that secrets_check_metadata accepts survives what
 *     secrets_write does with it (json_dumps COMPACT|SORT_KEYS) and what the
 *     readers do (json_loads) unchanged, and is accepted again;
 *   - strict base64: whatever decodes, re-encodes to exactly the input. */
#include <jansson.h>

#include "fuzz_common.h"

#include "b64.h"
#include "err.h"
#include "jsonx.h"
#include "rotation.h"
#include "secrets.h"
#include "util.h"

static void b64_roundtrip(const char *in, size_t len, int url)
{
	unsigned char *out = malloc(B64_DEC_MAX(len) + 1);
	char *again;
	size_t olen = 0;
	int rc;

	if (out == NULL)
		abort();
	rc = url ? b64url_decode(in, len, out, &olen) : b64_decode(in, len, out, &olen);
	if (rc == 0) {
		if (olen > B64_DEC_MAX(len))
			fz_fail("base64%s decoded %zu bytes from %zu characters", url ? "url" : "", olen, len);
		again = malloc(B64_ENC_LEN(olen));
		if (again == NULL)
			abort();
		if (url)
			b64url_encode(out, olen, again);
		else
			b64_encode(out, olen, again);
		if (strlen(again) != len || memcmp(again, in, len) != 0)
			fz_fail("base64%s is not strict: '%.*s' decodes, but encodes back as '%s'", url ? "url" : "",
				(int)len, in, again);
		free(again);
	} else if (rc != -1) {
		fz_fail("base64 decoder returned %d", rc);
	}
	free(out);
}

static void check_metadata(json_t *meta)
{
	struct sd_err err;
	json_t *v, *back;
	char *text;

	sd_err_clear(&err);
	if (secrets_check_metadata(meta, &err) != 0) {
		if (err.code != SD_EINVAL || err.msg[0] == '\0')
			fz_fail("secrets_check_metadata failed without SD_EINVAL and a reason");
		return;
	}
	/* secrets_write stores this text; reads, listings and rotations load it */
	text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		fz_fail("accepted metadata cannot be serialised");
	back = json_loads(text, 0, NULL);
	if (back == NULL || !json_equal(back, meta))
		fz_fail("accepted metadata does not survive storage: %s", text);
	sd_err_clear(&err);
	if (secrets_check_metadata(back, &err) != 0)
		fz_fail("stored metadata is refused when checked again: %s", err.msg);
	v = json_object_get(back, "rotation_policy");
	if (json_is_string(v)) {
		size_t n;
		char classes[64];
		sd_err_clear(&err);
		if (rotation_policy_parse(json_string_value(v), &n, classes, &err) == 0 &&
		    (n == 0 || classes[0] == '\0' || memchr(classes, '\0', sizeof(classes)) == NULL))
			fz_fail("rotation_policy_parse accepted '%s' with length %zu", json_string_value(v), n);
	}
	json_decref(back);
	sd_json_free(text);
}

static void secret_write(json_t *body)
{
	static const char *const fields[] = { "value_b64", "metadata", "cas", NULL };
	struct sd_err err;
	json_t *val, *meta;
	uint64_t cas = 0;

	sd_err_clear(&err);
	if (jsonx_only_fields(body, fields, &err) != 0)
		return;
	val = json_object_get(body, "value_b64");
	if (json_is_string(val) && json_string_length(val) <= B64_ENC_LEN(SD_VALUE_MAX))
		b64_roundtrip(json_string_value(val), json_string_length(val), 0);
	meta = json_object_get(body, "metadata");
	if (meta != NULL)
		check_metadata(meta);
	sd_err_clear(&err);
	int rc = jsonx_get_uint(body, "cas", SD_VERSION_MAX, &cas, &err);
	if (rc == 1 && cas > SD_VERSION_MAX)
		fz_fail("jsonx_get_uint let %llu through", (unsigned long long)cas);
	if (rc == 0 && json_object_get(body, "cas") != NULL)
		fz_fail("jsonx_get_uint missed a present field");
}

static void lease_issue(json_t *body)
{
	static const char *const fields[] = { "role", "ttl_s", NULL };
	struct sd_err err;

	sd_err_clear(&err);
	if (jsonx_only_fields(body, fields, &err) != 0)
		return;
	(void)json_string_length(json_object_get(body, "role"));
	(void)json_integer_value(json_object_get(body, "ttl_s"));
}

static void lease_renew(json_t *body)
{
	static const char *const fields[] = { "increment_s", NULL };
	struct sd_err err;
	uint64_t v;

	sd_err_clear(&err);
	if (jsonx_only_fields(body, fields, &err) != 0)
		return;
	(void)jsonx_get_uint(body, "increment_s", 10ull * 365 * 86400, &v, &err);
}

static void rotate(json_t *body)
{
	static const char *const fields[] = { "strategy", "reason", NULL };
	struct sd_err err;

	sd_err_clear(&err);
	if (jsonx_only_fields(body, fields, &err) != 0)
		return;
	(void)json_string_value(json_object_get(body, "strategy"));
	(void)json_string_length(json_object_get(body, "reason"));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sd_json_use_wiping_allocator(); /* as the server runs */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	struct sd_err err;
	json_t *j = NULL;
	size_t len;
	int sel, rc;

	if (size < 1)
		return 0;
	sel = data[0] % 6;
	body = (const char *)data + 1;
	len = size - 1;
	if (sel == 4 || sel == 5) {
		b64_roundtrip(body, len, sel == 5);
		return 0;
	}
	/* renew and rotate take an empty body as "no body" */
	if ((sel == 2 || sel == 3) && len == 0)
		return 0;
	sd_err_clear(&err);
	rc = jsonx_parse_object(body, len, &j, &err);
	if (rc != 0) {
		if (rc != SD_EINVAL || err.code != SD_EINVAL || err.msg[0] == '\0')
			fz_fail("jsonx_parse_object failed with %d and no reason", rc);
		return 0;
	}
	if (!json_is_object(j))
		fz_fail("jsonx_parse_object returned a non-object");
	switch (sel) {
	case 0: secret_write(j); break;
	case 1: lease_issue(j); break;
	case 2: lease_renew(j); break;
	default: rotate(j); break;
	}
	json_decref(j);
	return 0;
}
