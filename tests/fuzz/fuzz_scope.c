/* fuzz_scope.c — scope claims and path patterns (core/scope.c), with
 * path_check (core/path.c) on the same subjects.
 *
 * Input: CLAIM '\n' SUBJECT. The claim goes through scopes_parse, then
 * scopes_allow / scopes_has_kind / scopes_is_admin for every kind on the
 * subject; the claim is also used whole as a pattern for
 * scope_pattern_match. Every answer is checked against an independent
 * model of the grammar in scope.h built on fnmatch(3):
 *   '*' as the last character     prefix match (anything, '/' included)
 *   '+' as a whole segment        exactly one non-empty segment
 *   anything else                 itself
 * A disagreement is a finding. */
#include <fnmatch.h>

#include "fuzz_common.h"

#include "err.h"
#include "path.h"
#include "scope.h"

#define SUBJECT_MAX 1024

/* The glob for pattern[0..n) (no trailing '*'), '+' segments as "?*". */
static char *to_glob(const char *pattern, size_t n)
{
	char *g = malloc(2 * n + 1), *o = g;

	if (g == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = pattern[i];
		/* whether '+' is a whole segment looks at the full pattern: in
		 * "a/+*" the '+' is followed by '*', so it is a literal */
		if (c == '+' && (i == 0 || pattern[i - 1] == '/') &&
		    (pattern[i + 1] == '/' || pattern[i + 1] == '\0')) {
			*o++ = '?';
			*o++ = '*';
			continue;
		}
		if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
			*o++ = '\\';
		*o++ = c;
	}
	*o = '\0';
	return g;
}

static int model_match(const char *pattern, const char *subject)
{
	size_t n = strlen(pattern), sl = strlen(subject);
	int prefix = n > 0 && pattern[n - 1] == '*';
	char *g = to_glob(pattern, prefix ? n - 1 : n), *head;
	int m = 0;

	if (!prefix) {
		m = fnmatch(g, subject, FNM_PATHNAME) == 0;
	} else {
		head = malloc(sl + 1);
		if (head == NULL)
			abort();
		for (size_t i = 0; i <= sl && !m; i++) {
			memcpy(head, subject, i);
			head[i] = '\0';
			m = fnmatch(g, head, FNM_PATHNAME) == 0;
		}
		free(head);
	}
	free(g);
	return m;
}

static const char *kind_name(int k)
{
	static const char *n[] = { "none", "admin", "secrets:read", "secrets:write", "leases:issue" };
	return k >= 0 && k <= 4 ? n[k] : "?";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *claim = fz_strndup(data, size), *subject;
	struct scopes s;
	struct sd_err err;
	int rc, admin = 0, has[5] = { 0 };

	subject = fz_cut(claim, '\n');
	if (subject == NULL)
		subject = "";
	if (strlen(subject) > SUBJECT_MAX)
		goto out;

	/* paths: the same subject through path_check (crash-freedom) */
	sd_err_clear(&err);
	if (path_check(subject, &err) != 0 && (err.code != SD_EINVAL || err.msg[0] == '\0'))
		fz_fail("path_check failed without SD_EINVAL and a reason");

	/* the claim as one pattern */
	if (strlen(claim) <= SUBJECT_MAX &&
	    scope_pattern_match(claim, subject) != model_match(claim, subject))
		fz_fail("scope_pattern_match(\"%s\", \"%s\") = %d, the grammar says %d", claim, subject,
			scope_pattern_match(claim, subject), model_match(claim, subject));

	/* the claim as a scope claim */
	memset(&s, 0xa5, sizeof(s));
	sd_err_clear(&err);
	rc = scopes_parse(claim, &s, &err);
	if (rc != 0) {
		if (rc != SD_EUNAUTH || err.msg[0] == '\0')
			fz_fail("scopes_parse failed with %d", rc);
		goto out;
	}
	if (s.n > SD_SCOPES_MAX)
		fz_fail("scopes_parse kept %u scopes", s.n);
	for (int i = 0; i < s.n; i++) {
		int k = s.s[i].kind;
		const char *p;
		if (k < SCOPE_ADMIN || k > SCOPE_LEASES_ISSUE)
			fz_fail("scope %d has kind %d", i, k);
		if (s.s[i].off >= SD_SCOPE_BUF || memchr(s.buf + s.s[i].off, '\0', SD_SCOPE_BUF - s.s[i].off) == NULL)
			fz_fail("scope %d: pattern not inside the buffer", i);
		p = s.buf + s.s[i].off;
		if (k == SCOPE_ADMIN)
			admin = 1;
		else if (p[0] == '\0')
			fz_fail("scope %d (%s) has an empty pattern", i, kind_name(k));
		/* every pattern is a word of the claim, after its kind's prefix */
		if (k != SCOPE_ADMIN && strstr(claim, p) == NULL)
			fz_fail("scope %d pattern '%s' is not in the claim", i, p);
		has[k] = 1;
	}
	if (scopes_is_admin(&s) != admin)
		fz_fail("scopes_is_admin = %d, expected %d", scopes_is_admin(&s), admin);
	for (int k = SCOPE_SECRETS_READ; k <= SCOPE_LEASES_ISSUE; k++) {
		int want = admin;
		if (scopes_has_kind(&s, (enum scope_kind)k) != (admin || has[k]))
			fz_fail("scopes_has_kind(%s) is wrong", kind_name(k));
		for (int i = 0; i < s.n && !want; i++)
			if (s.s[i].kind == k && model_match(s.buf + s.s[i].off, subject))
				want = 1;
		if (scopes_allow(&s, (enum scope_kind)k, subject) != want)
			fz_fail("scopes_allow(%s, \"%s\") = %d, the grammar says %d", kind_name(k), subject,
				scopes_allow(&s, (enum scope_kind)k, subject), want);
	}
out:
	free(claim);
	return 0;
}
