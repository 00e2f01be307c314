/* test_scope.c — the scope claim and Vault-style path patterns (core/scope.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "scope.h"

static void test_trailing_star_is_a_prefix_match(void **state)
{
	(void)state;
	assert_true(scope_pattern_match("db/*", "db/prod"));
	assert_true(scope_pattern_match("db/*", "db/prod/password"));
	assert_true(scope_pattern_match("db/*", "db/"));
	assert_false(scope_pattern_match("db/*", "db"));
	assert_false(scope_pattern_match("db/*", "dbx/prod"));
	assert_false(scope_pattern_match("db/*", "apps/db/prod"));
}

static void test_star_after_a_partial_segment_matches_by_prefix(void **state)
{
	(void)state;
	assert_true(scope_pattern_match("etl-*", "etl-daily"));
	assert_true(scope_pattern_match("etl-*", "etl-daily/extra"));
	assert_true(scope_pattern_match("etl-*", "etl-"));
	assert_false(scope_pattern_match("etl-*", "etl"));
	assert_false(scope_pattern_match("etl-*", "xetl-daily"));
}

static void test_lone_star_matches_everything(void **state)
{
	(void)state;
	assert_true(scope_pattern_match("*", "a"));
	assert_true(scope_pattern_match("*", "a/b/c"));
	assert_true(scope_pattern_match("*", ""));
}

static void test_star_not_at_the_end_is_literal(void **state)
{
	(void)state;
	assert_true(scope_pattern_match("a*b", "a*b"));
	assert_false(scope_pattern_match("a*b", "axb"));
	assert_false(scope_pattern_match("*/x", "a/x"));
	assert_true(scope_pattern_match("*/x", "*/x"));
}

static void test_plus_matches_exactly_one_segment(void **state)
{
	(void)state;
	assert_true(scope_pattern_match("apps/+/password", "apps/web/password"));
	assert_true(scope_pattern_match("apps/+/password", "apps/x/password"));
	assert_false(scope_pattern_match("apps/+/password", "apps/web/api/password"));
	assert_false(scope_pattern_match("apps/+/password", "apps/password"));
	assert_false(scope_pattern_match("apps/+/password", "apps/web/password2"));
	assert_false(scope_pattern_match("apps/+/password", "apps/web"));
	assert_true(scope_pattern_match("+", "a"));
	assert_false(scope_pattern_match("+", "a/b"));
	assert_true(scope_pattern_match("apps/+", "apps/web"));
	assert_false(scope_pattern_match("apps/+", "apps/web/x"));
}

static void test_plus_does_not_match_an_empty_segment(void **state)
{
	(void)state;
	assert_false(scope_pattern_match("apps/+/password", "apps//password"));
	assert_false(scope_pattern_match("+", ""));
	assert_false(scope_pattern_match("apps/+", "apps/"));
	assert_false(scope_pattern_match("+/x", "/x"));
}

static void test_plus_inside_a_segment_is_literal(void **state)
{
	(void)state;
	assert_true(scope_pattern_match("a+b", "a+b"));
	assert_false(scope_pattern_match("a+b", "axb"));
	assert_true(scope_pattern_match("+x/y", "+x/y"));
	assert_false(scope_pattern_match("+x/y", "ax/y"));
}

static void test_plus_then_star_combines(void **state)
{
	(void)state;
	assert_true(scope_pattern_match("+/*", "team/a"));
	assert_true(scope_pattern_match("+/*", "team/a/b"));
	assert_false(scope_pattern_match("+/*", "team"));
	assert_true(scope_pattern_match("apps/+/+", "apps/a/b"));
	assert_false(scope_pattern_match("apps/+/+", "apps/a"));
}

static void test_literal_pattern_matches_only_itself(void **state)
{
	(void)state;
	assert_true(scope_pattern_match("db/prod", "db/prod"));
	assert_false(scope_pattern_match("db/prod", "db/prod/x"));
	assert_false(scope_pattern_match("db/prod", "db/pro"));
	assert_false(scope_pattern_match("db/prod", "DB/prod"));
	assert_false(scope_pattern_match("db/prod", ""));
}

static void test_parse_reads_every_known_scope_kind(void **state)
{
	struct scopes s;
	struct sd_err err;

	(void)state;
	assert_int_equal(scopes_parse("secrets:read:db/* secrets:write:apps/+/password "
				      "leases:issue:etl-* admin", &s, &err), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.s[0].kind, SCOPE_SECRETS_READ);
	assert_string_equal(s.buf + s.s[0].off, "db/*");
	assert_int_equal(s.s[1].kind, SCOPE_SECRETS_WRITE);
	assert_string_equal(s.buf + s.s[1].off, "apps/+/password");
	assert_int_equal(s.s[2].kind, SCOPE_LEASES_ISSUE);
	assert_string_equal(s.buf + s.s[2].off, "etl-*");
	assert_int_equal(s.s[3].kind, SCOPE_ADMIN);
}

static void test_parse_ignores_unknown_words_and_extra_spaces(void **state)
{
	struct scopes s;
	struct sd_err err;

	(void)state;
	assert_int_equal(scopes_parse("  openid profile  secrets:read:x   other:svc:scope "
				      "secrets:delete:y secrets:read: Admin admins ", &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.s[0].kind, SCOPE_SECRETS_READ);
	assert_string_equal(s.buf + s.s[0].off, "x");
	assert_int_equal(scopes_parse("", &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(scopes_parse("   ", &s, &err), 0);
	assert_int_equal(s.n, 0);
}

static void test_parse_refuses_too_many_scopes(void **state)
{
	char claim[SD_SCOPE_BUF];
	struct scopes s;
	struct sd_err err;
	size_t off = 0;

	(void)state;
	for (int i = 0; i < SD_SCOPES_MAX; i++)
		off += (size_t)snprintf(claim + off, sizeof(claim) - off, "secrets:read:p%d ", i);
	assert_int_equal(scopes_parse(claim, &s, &err), 0);
	assert_int_equal(s.n, SD_SCOPES_MAX);
	/* unknown words do not count towards the limit */
	off += (size_t)snprintf(claim + off, sizeof(claim) - off, "openid email ");
	assert_int_equal(scopes_parse(claim, &s, &err), 0);
	snprintf(claim + off, sizeof(claim) - off, "admin");
	assert_int_equal(scopes_parse(claim, &s, &err), SD_EUNAUTH);
	assert_non_null(strstr(err.msg, "too many scopes"));
}

static void test_parse_refuses_an_overlong_claim(void **state)
{
	char claim[SD_SCOPE_BUF + 8];
	struct scopes s;
	struct sd_err err;

	(void)state;
	memset(claim, 'a', sizeof(claim) - 1);
	claim[sizeof(claim) - 1] = '\0';
	assert_int_equal(scopes_parse(claim, &s, &err), SD_EUNAUTH);
	assert_non_null(strstr(err.msg, "too long"));
	/* one byte under the cap is fine */
	claim[SD_SCOPE_BUF - 1] = '\0';
	assert_int_equal(scopes_parse(claim, &s, &err), 0);
	assert_int_equal(s.n, 0);
}

static void test_allow_checks_kind_and_pattern(void **state)
{
	struct scopes s;
	struct sd_err err;

	(void)state;
	assert_int_equal(scopes_parse("secrets:read:db/* secrets:write:apps/+/password "
				      "leases:issue:etl-*", &s, &err), 0);
	assert_true(scopes_allow(&s, SCOPE_SECRETS_READ, "db/prod"));
	assert_false(scopes_allow(&s, SCOPE_SECRETS_WRITE, "db/prod"));
	assert_true(scopes_allow(&s, SCOPE_SECRETS_WRITE, "apps/web/password"));
	assert_false(scopes_allow(&s, SCOPE_SECRETS_READ, "apps/web/password"));
	assert_false(scopes_allow(&s, SCOPE_SECRETS_WRITE, "apps//password"));
	assert_true(scopes_allow(&s, SCOPE_LEASES_ISSUE, "etl-nightly"));
	assert_false(scopes_allow(&s, SCOPE_LEASES_ISSUE, "db-nightly"));
	assert_false(scopes_allow(&s, SCOPE_ADMIN, "anything"));
	assert_true(scopes_has_kind(&s, SCOPE_SECRETS_READ));
	assert_false(scopes_has_kind(&s, SCOPE_ADMIN));
}

static void test_admin_allows_everything(void **state)
{
	struct scopes s;
	struct sd_err err;

	(void)state;
	assert_int_equal(scopes_parse("admin", &s, &err), 0);
	assert_true(scopes_allow(&s, SCOPE_SECRETS_READ, "any/path"));
	assert_true(scopes_allow(&s, SCOPE_SECRETS_WRITE, "other"));
	assert_true(scopes_allow(&s, SCOPE_LEASES_ISSUE, "role"));
	assert_true(scopes_allow(&s, SCOPE_ADMIN, ""));
	assert_true(scopes_has_kind(&s, SCOPE_SECRETS_WRITE));
	assert_true(scopes_has_kind(&s, SCOPE_LEASES_ISSUE));
}

static void test_no_scopes_allow_nothing(void **state)
{
	struct scopes s;
	struct sd_err err;

	(void)state;
	assert_int_equal(scopes_parse("openid", &s, &err), 0);
	assert_false(scopes_allow(&s, SCOPE_SECRETS_READ, "x"));
	assert_false(scopes_has_kind(&s, SCOPE_SECRETS_READ));
}

/* Whether b holds the same scopes as a (kinds and patterns; the bytes of buf
 * past the patterns do not count). */
static void assert_same_scopes(const struct scopes *a, const struct scopes *b)
{
	assert_int_equal(a->n, b->n);
	for (int i = 0; i < a->n; i++) {
		assert_int_equal(a->s[i].kind, b->s[i].kind);
		assert_int_equal(a->s[i].off, b->s[i].off);
		assert_string_equal(a->buf + a->s[i].off, b->buf + b->s[i].off);
	}
}

/* Pack s, unpack it into a struct full of junk, and check it is the same. */
static void round_trip(const struct scopes *s, struct scopes *out)
{
	unsigned char packed[2 * sizeof(uint16_t) + sizeof(s->s) + SD_SCOPE_BUF + 1];
	size_t n = scopes_packed_size(s);

	assert_true(n <= sizeof(packed) - 1);
	packed[n] = 0xee; /* pack writes exactly n bytes */
	scopes_pack(s, packed);
	assert_int_equal(packed[n], 0xee);
	memset(out, 0xa5, sizeof(*out));
	scopes_unpack(packed, out);
	assert_same_scopes(s, out);
}

static void test_pack_keeps_only_what_the_scopes_use(void **state)
{
	struct scopes s, t;
	struct sd_err err;

	(void)state;
	assert_int_equal(scopes_parse("openid secrets:read:db/* secrets:write:apps/+/password "
				      "leases:issue:etl-* admin", &s, &err), 0);
	/* 4 entries; patterns of 4 + 15 + 5 + 0 bytes and their 4 NULs */
	assert_int_equal(scopes_packed_size(&s), 2 * sizeof(uint16_t) + 4 * sizeof(s.s[0]) + 28);
	round_trip(&s, &t);
	assert_true(scopes_allow(&t, SCOPE_SECRETS_READ, "db/prod"));
	assert_true(scopes_is_admin(&t));
	assert_int_equal(scopes_parse("secrets:write:apps/+/password", &s, &err), 0);
	round_trip(&s, &t);
	assert_true(scopes_allow(&t, SCOPE_SECRETS_WRITE, "apps/web/password"));
	assert_false(scopes_allow(&t, SCOPE_SECRETS_READ, "apps/web/password"));
	assert_false(scopes_has_kind(&t, SCOPE_LEASES_ISSUE));
}

static void test_pack_of_no_scopes_is_a_header(void **state)
{
	struct scopes s, t;
	struct sd_err err;

	(void)state;
	assert_int_equal(scopes_parse("openid profile", &s, &err), 0);
	assert_int_equal(scopes_packed_size(&s), 2 * sizeof(uint16_t));
	round_trip(&s, &t);
	assert_int_equal(t.n, 0);
	assert_false(scopes_allow(&t, SCOPE_SECRETS_READ, "x"));
}

static void test_pack_round_trips_the_largest_claim(void **state)
{
	char claim[SD_SCOPE_BUF];
	static const char *kind[] = { "secrets:read:", "secrets:write:", "leases:issue:" };
	struct scopes s, t;
	struct sd_err err;
	size_t off = 0;

	(void)state;
	/* SD_SCOPES_MAX scopes, the last one long enough to make the claim
	 * SD_SCOPE_BUF - 1 bytes, the most scopes_parse takes */
	for (int i = 0; i < SD_SCOPES_MAX - 1; i++)
		off += (size_t)snprintf(claim + off, sizeof(claim) - off, "%sp%02d/* ", kind[i % 3], i);
	off += (size_t)snprintf(claim + off, sizeof(claim) - off, "secrets:read:");
	memset(claim + off, 'x', sizeof(claim) - 1 - off);
	claim[sizeof(claim) - 1] = '\0';
	assert_int_equal(scopes_parse(claim, &s, &err), 0);
	assert_int_equal(s.n, SD_SCOPES_MAX);
	round_trip(&s, &t);
	assert_true(scopes_allow(&t, SCOPE_SECRETS_WRITE, "p01/a"));
	assert_true(scopes_allow(&t, SCOPE_LEASES_ISSUE, "p62/b"));
	assert_false(scopes_allow(&t, SCOPE_SECRETS_READ, "p62/b"));
	assert_true(scopes_allow(&t, SCOPE_SECRETS_READ, claim + off));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trailing_star_is_a_prefix_match),
		cmocka_unit_test(test_star_after_a_partial_segment_matches_by_prefix),
		cmocka_unit_test(test_lone_star_matches_everything),
		cmocka_unit_test(test_star_not_at_the_end_is_literal),
		cmocka_unit_test(test_plus_matches_exactly_one_segment),
		cmocka_unit_test(test_plus_does_not_match_an_empty_segment),
		cmocka_unit_test(test_plus_inside_a_segment_is_literal),
		cmocka_unit_test(test_plus_then_star_combines),
		cmocka_unit_test(test_literal_pattern_matches_only_itself),
		cmocka_unit_test(test_parse_reads_every_known_scope_kind),
		cmocka_unit_test(test_parse_ignores_unknown_words_and_extra_spaces),
		cmocka_unit_test(test_parse_refuses_too_many_scopes),
		cmocka_unit_test(test_parse_refuses_an_overlong_claim),
		cmocka_unit_test(test_allow_checks_kind_and_pattern),
		cmocka_unit_test(test_admin_allows_everything),
		cmocka_unit_test(test_no_scopes_allow_nothing),
		cmocka_unit_test(test_pack_keeps_only_what_the_scopes_use),
		cmocka_unit_test(test_pack_of_no_scopes_is_a_header),
		cmocka_unit_test(test_pack_round_trips_the_largest_claim),
	};

	return cmocka_run_group_tests_name("scope", tests, NULL, NULL);
}
