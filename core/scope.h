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

#include <stddef.h>
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

/* A compact copy of s, for the verified-token cache: the n scope entries
 * and the bytes of buf their patterns use, not the whole SD_SCOPE_BUF (a
 * struct scopes is ~4.3 KB; a few short scopes pack into tens of bytes).
 * scopes_pack writes scopes_packed_size(s) bytes to dst. scopes_unpack
 * rebuilds a struct scopes from what scopes_pack wrote: it writes n, the n
 * entries and the used bytes of buf, and leaves the rest of out->buf as it
 * was (nothing reads past the patterns). */
size_t scopes_packed_size(const struct scopes *s);
void scopes_pack(const struct scopes *s, unsigned char *dst);
void scopes_unpack(const unsigned char *src, struct scopes *out);

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
