/* test_jsonx.c — JSON text written without jansson (jsonx_out_*) and the
 * canonical-object check, each against what jansson itself does with the
 * same input: the hot paths must answer the same bytes json_dumps did. */
#include "testutil.h"

#include <jansson.h>

#include "jsonx.h"

/* What json_dumps writes for the string s (n bytes), or NULL when jansson
 * refuses it (invalid UTF-8). The caller frees. */
static char *jansson_str(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	char *out = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

	json_decref(j);
	return out;
}

/* jsonx_out_str of s (n bytes) into a buffer of cap bytes, as a
 * NUL-terminated string, or NULL when it failed. The caller frees. */
static char *jsonx_str(const char *s, size_t n, size_t cap)
{
	char *buf = malloc(cap + 1);
	struct jsonx_out o;

	assert_non_null(buf);
	jsonx_out_init(&o, buf, cap);
	jsonx_out_str(&o, s, n);
	if (o.failed) {
		free(buf);
		return NULL;
	}
	assert_true(o.len <= cap);
	buf[o.len] = '\0';
	return buf;
}

/* The same text as jansson's, or a failure where jansson fails; with room
 * for the worst case, and with room for exactly the text (the measuring
 * path) or one byte less (which fails). */
static void same_as_jansson(const char *s, size_t n)
{
	char *want = jansson_str(s, n), *got = jsonx_str(s, n, JSONX_STR_MAX(n));

	if (want == NULL) {
		assert_null(got);
		assert_null(jsonx_str(s, n, 2 * n + 2));
	} else {
		assert_non_null(got);
		assert_string_equal(got, want);
		free(got);
		got = jsonx_str(s, n, strlen(want));
		assert_non_null(got);
		assert_string_equal(got, want);
		assert_null(jsonx_str(s, n, strlen(want) - 1));
	}
	free(want);
	free(got);
}

#define SAME(lit) same_as_jansson(lit, sizeof(lit) - 1)

static void strings_are_escaped_as_jansson_escapes_them(void **state)
{
	char all[32];

	(void)state;
	SAME("");
	SAME("plain ascii, with / and ~ and DEL \x7f");
	SAME("quote \" backslash \\ both \\\"");
	SAME("\b\f\n\r\t");
	SAME("\x01\x02\x1f\x1e\x0b");
	SAME("nul \0 inside");
	/* 2, 3 and 4 bytes, the largest of 3 and of 4 */
	SAME("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 \xef\xbf\xbf \xf4\x8f\xbf\xbf");
	SAME("\xe2\x80\xa8\xe2\x80\xa9");                  /* U+2028/9 stay raw */
	for (int c = 0; c < 32; c++)
		all[c] = (char)c;
	same_as_jansson(all, sizeof(all));
	/* invalid UTF-8: jansson refuses these, so must we */
	SAME("\x80");
	SAME("a\xbf");
	SAME("\xc0\x80");              /* overlong NUL */
	SAME("\xc1\xbf");              /* overlong */
	SAME("\xe0\x80\xaf");          /* overlong '/' */
	SAME("\xed\xa0\x80");          /* surrogate U+D800 */
	SAME("\xed\xbf\xbf");          /* surrogate U+DFFF */
	SAME("\xf0\x8f\xbf\xbf");      /* overlong */
	SAME("\xf4\x90\x80\x80");      /* above U+10FFFF */
	SAME("\xf5\x80\x80\x80");
	SAME("\xff");
	SAME("\xc3");                  /* truncated */
	SAME("\xe2\x82");
	SAME("\xe2\x82 x");
	SAME("\xc3\xc3");
}

/* Random byte strings, mostly from an alphabet that makes valid and
 * invalid UTF-8 and every escape likely. */
static void strings_match_jansson_on_random_input(void **state)
{
	static const unsigned char pick[] = { 'a', '"', '\\', '/', 0, 1, '\n', 0x1f, 0x7f, 0x80, 0xbf,
					      0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xff,
					      0xa0, 0x9f, 0x8f, 0x90 };
	unsigned seed = 12345;
	char s[16];

	(void)state;
	for (int i = 0; i < 200000; i++) {
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(s));
		for (size_t k = 0; k < n; k++)
			s[k] = (char)(rand_r(&seed) % 4 == 0 ? rand_r(&seed) & 0xff
							     : pick[rand_r(&seed) % sizeof(pick)]);
		same_as_jansson(s, n);
	}
}

static void writer_never_overruns_and_fails_once_full(void **state)
{
	char buf[16];
	struct jsonx_out o;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	jsonx_out_init(&o, buf, 8);
	jsonx_out_raw(&o, "{", 1);
	jsonx_out_key(&o, "a");
	jsonx_out_int(&o, 12);
	assert_false(o.failed);
	assert_int_equal(o.len, 7);
	assert_memory_equal(buf, "{\"a\":12", 7);
	jsonx_out_key(&o, "b"); /* ,"b": does not fit */
	assert_true(o.failed);
	jsonx_out_raw(&o, "}", 1); /* ignored once failed */
	assert_true(o.failed);
	for (size_t i = 8; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 'x');

	/* a string that fits exactly, though not its worst case (6 bytes a byte) */
	jsonx_out_init(&o, buf, 8);
	jsonx_out_str(&o, "a\"b\xc3\xa9", 5);
	assert_false(o.failed);
	assert_int_equal(o.len, 8);
	assert_memory_equal(buf, "\"a\\\"b\xc3\xa9\"", 8);
	jsonx_out_init(&o, buf, 7); /* one byte short */
	jsonx_out_str(&o, "a\"b\xc3\xa9", 5);
	assert_true(o.failed);
	jsonx_out_init(&o, buf, 8); /* invalid UTF-8 on the measuring path too */
	jsonx_out_str(&o, "ab\xff", 3);
	assert_true(o.failed);

	/* an escape that does not fit whole */
	jsonx_out_init(&o, buf, 3);
	jsonx_out_str(&o, "\n", 1);
	assert_true(o.failed);
	/* invalid UTF-8 fails the whole text */
	jsonx_out_init(&o, buf, sizeof(buf));
	jsonx_out_str(&o, "\xff", 1);
	assert_true(o.failed);
}

static void integers_are_written_in_decimal(void **state)
{
	static const int64_t v[] = { 0, 1, -1, 9, 10, -10, 200, 3600, 9007199254740991LL, INT64_MAX,
				     INT64_MIN, INT64_MIN + 1 };
	char buf[32], want[32];
	struct jsonx_out o;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		jsonx_out_init(&o, buf, sizeof(buf) - 1);
		jsonx_out_int(&o, v[i]);
		assert_false(o.failed);
		buf[o.len] = '\0';
		snprintf(want, sizeof(want), "%lld", (long long)v[i]);
		assert_string_equal(buf, want);
	}
	jsonx_out_init(&o, buf, 2);
	jsonx_out_int(&o, 100);
	assert_true(o.failed);
}

static void objects_are_written_as_json_dumps_writes_them(void **state)
{
	char buf[256];
	struct jsonx_out o;
	json_t *j;
	char *want;

	(void)state;
	jsonx_out_init(&o, buf, sizeof(buf));
	jsonx_out_raw(&o, "{", 1);
	jsonx_out_key(&o, "s");
	jsonx_out_str(&o, "v\"\x01", 3);
	jsonx_out_key(&o, "n");
	jsonx_out_int(&o, INT64_MIN);
	jsonx_out_key(&o, "m");
	jsonx_out_int(&o, 9007199254740991LL);
	jsonx_out_key(&o, "e");
	jsonx_out_raw(&o, "{}", 2);
	jsonx_out_raw(&o, "}", 1);
	assert_false(o.failed);
	buf[o.len] = '\0';
	j = json_pack("{s:s, s:I, s:I, s:{}}", "s", "v\"\x01", "n", (json_int_t)INT64_MIN, "m",
		      (json_int_t)9007199254740991LL, "e");
	want = json_dumps(j, JSON_COMPACT);
	assert_string_equal(buf, want);
	free(want);
	json_decref(j);
}

/* If jsonx_canonical_strings accepts text, json_loads + json_dumps gives
 * back exactly text; returns the verdict. */
static int canonical_is_sound(const char *text, size_t len)
{
	const char *v;
	size_t vl;
	int ok = jsonx_canonical_strings(text, len, "ttl", &v, &vl);

	if (ok) {
		json_t *j = json_loadb(text, len, 0, NULL);
		char *back;
		json_t *ttl;
		assert_non_null(j);
		back = json_dumps(j, JSON_COMPACT);
		assert_non_null(back);
		assert_int_equal(strlen(back), len);
		assert_memory_equal(back, text, len);
		ttl = json_object_get(j, "ttl");
		if (ttl == NULL) {
			assert_null(v);
		} else {
			char *raw = jansson_str(json_string_value(ttl), json_string_length(ttl));
			assert_non_null(v);
			assert_int_equal(vl + 2, strlen(raw));
			assert_memory_equal(v, raw + 1, vl);
			free(raw);
		}
		free(back);
		json_decref(j);
	}
	return ok;
}

#define CANON(lit) canonical_is_sound(lit, sizeof(lit) - 1)

static void canonical_objects_are_recognised(void **state)
{
	const char *v;
	size_t vl;

	(void)state;
	assert_true(CANON("{}"));
	assert_true(CANON("{\"a\":\"b\"}"));
	assert_true(CANON("{\"owner\":\"team-a\",\"ttl\":\"1h\"}"));
	assert_true(CANON("{\"\":\"\"}"));
	assert_true(CANON("{\"k\":\"q\\\"b\\\\s/\\n\\t\\u001F\\u0001\\b\\f\\r\"}"));
	assert_true(CANON("{\"caf\xc3\xa9\":\"\xf0\x9f\x94\x91\x7f\"}"));
	assert_true(CANON("{\"a\":\"1\",\"A\":\"1\"}"));
	assert_int_equal(jsonx_canonical_strings("{\"x\":\"1\",\"ttl\":\"90d\"}", 21, "ttl", &v, &vl), 1);
	assert_int_equal(vl, 3);
	assert_memory_equal(v, "90d", 3);
	assert_int_equal(jsonx_canonical_strings("{\"ttlx\":\"1\",\"tt\":\"2\"}", 21, "ttl", &v, &vl), 1);
	assert_null(v);

	/* anything else is left to jansson */
	assert_false(CANON(""));
	assert_false(CANON("{"));
	assert_false(CANON("[]"));
	assert_false(CANON("\"s\""));
	assert_false(CANON("{ }"));
	assert_false(CANON("{\"a\": \"b\"}"));
	assert_false(CANON("{\"a\":\"b\" }"));
	assert_false(CANON("{\"a\":\"b\",}"));
	assert_false(CANON("{,\"a\":\"b\"}"));
	assert_false(CANON("{\"a\"}"));
	assert_false(CANON("{\"a\":}"));
	assert_false(CANON("{\"a\":\"b\"\"c\":\"d\"}"));
	assert_false(CANON("{\"a\":1}"));
	assert_false(CANON("{\"a\":null}"));
	assert_false(CANON("{\"a\":{}}"));
	assert_false(CANON("{\"a\":[\"b\"]}"));
	assert_false(CANON("{\"a\":\"b\",\"a\":\"c\"}"));     /* duplicate */
	assert_false(CANON("{\"a\":\"b\",\"\\u0061\":\"c\"}")); /* not canonical (and a duplicate) */
	assert_false(CANON("{\"a\":\"\\/\"}"));
	assert_false(CANON("{\"a\":\"\\u0000\"}"));            /* json_loads refuses NUL */
	assert_false(CANON("{\"a\":\"\\u001f\"}"));            /* jansson writes upper case */
	assert_false(CANON("{\"a\":\"\\u000A\"}"));            /* jansson writes \n */
	assert_false(CANON("{\"a\":\"\\u0020\"}"));
	assert_false(CANON("{\"a\":\"\\u00e9\"}"));
	assert_false(CANON("{\"a\":\"\\ud83d\\udd11\"}"));
	assert_false(CANON("{\"a\":\"\\x\"}"));
	assert_false(CANON("{\"a\":\"\\u00\"}"));
	assert_false(CANON("{\"a\":\"\\\"}"));
	assert_false(CANON("{\"a\":\"\n\"}"));                 /* raw control character */
	assert_false(CANON("{\"a\":\"\xff\"}"));               /* invalid UTF-8 */
	assert_false(CANON("{\"a\":\"\xed\xa0\x80\"}"));
	assert_false(CANON("{\"a\":\"\xc3\"}"));
	assert_false(canonical_is_sound("{\"a\":\"\0\"}", 8)); /* raw NUL */
}

static void canonical_objects_have_at_most_64_keys(void **state)
{
	char buf[2048];
	size_t n = 0;

	(void)state;
	buf[n++] = '{';
	for (int i = 0; i < 65; i++) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
		if (i == 63) {
			buf[n] = '}';
			assert_true(canonical_is_sound(buf, n + 1));
		}
	}
	buf[n++] = '}';
	assert_false(canonical_is_sound(buf, n));
}

/* Objects of random strings as jansson writes them are all recognised, and
 * random edits of them never fool the check. */
static void canonical_check_matches_jansson_on_random_objects(void **state)
{
	static const char pick[] = { 'a', 'b', 't', 'l', '"', '\\', '/', 1, '\n', 0x1f, 0x7f, ' ', ':',
				     ',', '{', '}', 'u', '0', 'A' };
	static const char *const utf8[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x91" };
	unsigned seed = 777;
	int accepted = 0, edited_accepted = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		json_t *o = json_object();
		int members = rand_r(&seed) % 5;
		char *text;
		size_t len;
		for (int m = 0; m < members; m++) {
			char k[8], s[12];
			size_t kl = (size_t)(rand_r(&seed) % 4), sl = 0, want = (size_t)(rand_r(&seed) % 6);
			for (size_t x = 0; x < kl; x++)
				k[x] = pick[rand_r(&seed) % sizeof(pick)];
			k[kl] = '\0';
			if (rand_r(&seed) % 8 == 0)
				strcpy(k, "ttl");
			while (sl < want) {
				if (rand_r(&seed) % 6 == 0) {
					const char *u = utf8[rand_r(&seed) % 3];
					memcpy(s + sl, u, strlen(u));
					sl += strlen(u);
				} else
					s[sl++] = pick[rand_r(&seed) % sizeof(pick)];
			}
			s[sl] = '\0';
			json_object_set_new(o, k, json_stringn(s, sl));
		}
		text = json_dumps(o, JSON_COMPACT | (rand_r(&seed) % 2 ? JSON_SORT_KEYS : 0));
		assert_non_null(text);
		len = strlen(text);
		assert_true(canonical_is_sound(text, len));
		accepted++;
		/* one byte changed, dropped or doubled */
		for (int e = 0; e < 8 && len > 0; e++) {
			char mut[200];
			size_t at = (size_t)rand_r(&seed) % len, ml = len;
			memcpy(mut, text, len);
			switch (rand_r(&seed) % 3) {
			case 0: mut[at] = pick[rand_r(&seed) % sizeof(pick)]; break;
			case 1: memmove(mut + at, mut + at + 1, len - at - 1); ml--; break;
			default: memmove(mut + at + 1, mut + at, len - at); ml++; break;
			}
			edited_accepted += canonical_is_sound(mut, ml);
		}
		free(text);
		json_decref(o);
	}
	assert_int_equal(accepted, 20000);
	assert_true(edited_accepted > 0); /* some edits stay canonical; all of them were checked */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strings_are_escaped_as_jansson_escapes_them),
		cmocka_unit_test(strings_match_jansson_on_random_input),
		cmocka_unit_test(writer_never_overruns_and_fails_once_full),
		cmocka_unit_test(integers_are_written_in_decimal),
		cmocka_unit_test(objects_are_written_as_json_dumps_writes_them),
		cmocka_unit_test(canonical_objects_are_recognised),
		cmocka_unit_test(canonical_objects_have_at_most_64_keys),
		cmocka_unit_test(canonical_check_matches_jansson_on_random_objects),
	};
	return cmocka_run_group_tests_name("jsonx", tests, NULL, NULL);
}
