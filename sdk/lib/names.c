/* names.c — deterministic backend user names derived from lease ids. */
#include <secretsd/sdk.h>

#include <string.h>

static char
name_char(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (char)(c - 'A' + 'a');
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
		return c;
	return '_';
}

/* Append up to max sanitised characters of s at out[*len]. */
static void
append_clean(char *out, size_t *len, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++)
		out[(*len)++] = name_char(s[i]);
}

int
sdk_username(char *out, size_t cap, const char *prefix, const char *role, const char *lease_id,
	     size_t maxlen)
{
	size_t plen, rlen, llen, fixed, room, len = 0, i;

	if (out == NULL || cap == 0)
		return -1;
	out[0] = '\0';
	if (lease_id == NULL || maxlen >= cap || maxlen > 4096)
		return -1;
	llen = strlen(lease_id);
	if (llen == 0)
		return -1;
	for (i = 0; i < llen; i++) {
		char c = lease_id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return -1;
	}
	plen = prefix != NULL ? strlen(prefix) : 0;
	rlen = role != NULL ? strlen(role) : 0;

	fixed = llen + (plen > 0 ? plen + 1 : 0);
	if (fixed > maxlen)
		return -1;
	room = maxlen - fixed; /* for "<role>_" */
	if (rlen > 0 && room >= 2) {
		if (rlen > room - 1)
			rlen = room - 1;
	} else {
		rlen = 0;
	}

	if (plen > 0) {
		append_clean(out, &len, prefix, plen);
		out[len++] = '_';
	}
	if (rlen > 0) {
		append_clean(out, &len, role, rlen);
		out[len++] = '_';
	}
	memcpy(out + len, lease_id, llen);
	len += llen;
	out[len] = '\0';
	return (int)len;
}

int
sdk_username_for_lease(char *out, size_t cap, const char *prefix, const struct sd_kv *role,
		       const char *lease_id, size_t maxlen)
{
	return sdk_username(out, cap, prefix, sdk_kv_get(role, "role"), lease_id, maxlen);
}
