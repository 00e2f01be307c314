/* scope.h — token scopes and Vault-style path patterns.
 *
 *   secrets:read:PATTERN    read versions and metadata of matching paths, list them
 *   secrets:write:PATTERN   write, delete, undelete matching paths
 *   leases:issue:PATTERN    issue leases for matching roles
 *   admin                   everything within the tenant
 *
 * PATTERN: a '*' as the last character is a prefix match, '+' as a whole
 * segment matches exactly one segment, anything else matches literally. */
#ifndef SD_SCOPE_H
#define SD_SCOPE_H

#include <stdint.h>

#include "err.h"

#define SD_SCOPES_MAX 64
#define SD_SCOPE_BUF 4096

enum scope_kind {
	SCOPE_NONE = 0,
	SCOPE_ADMIN,
	SCOPE_SECRETS_READ,
	SCOPE_SECRETS_WRITE,
	SCOPE_LEASES_ISSUE,
};

struct scopes {
	uint16_t n;
	struct {
		uint8_t kind;  /* enum scope_kind */
		uint16_t off;  /* pattern: NUL-terminated string at buf + off */
	} s[SD_SCOPES_MAX];
	char buf[SD_SCOPE_BUF];
};

/* Parse a space-separated scope claim. Words we do not know are ignored
 * (tokens may carry scopes for other services); a claim over SD_SCOPE_BUF
 * bytes or SD_SCOPES_MAX known scopes is SD_EUNAUTH. */
int scopes_parse(const char *claim, struct scopes *out, struct sd_err *err);

/* Whether the scopes allow kind on subject (a path or role). admin allows
 * everything. */
int scopes_allow(const struct scopes *s, enum scope_kind kind, const char *subject);

/* Whether any scope of kind could match a path under prefix (for listing). */
int scopes_has_kind(const struct scopes *s, enum scope_kind kind);

/* Whether the scopes include admin. */
int scopes_is_admin(const struct scopes *s);

/* Whether pattern matches subject exactly as the grammar above says. */
int scope_pattern_match(const char *pattern, const char *subject);

#endif
