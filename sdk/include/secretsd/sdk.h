/* secretsd/sdk.h — helpers for plugin authors (libsecretsd_sdk.a).
 *
 * Link the static library into your plugin; nothing here crosses the plugin
 * ABI, so the SDK can change without breaking loaded plugins. Every function
 * is reentrant and thread-safe (no global state). Every function declared
 * here is hidden: a plugin that links the SDK exports only its entry symbol.
 *
 * Conventions
 *   int results: 0 on success, -1 on failure (with a reason in err when the
 *   function takes one), unless the comment says otherwise.
 *   Strings returned as char * are malloc'd; free them with sdk_str_free
 *   (which wipes) or free().
 *   "Secret" strings (passwords, credentials) are wiped with explicit_bzero
 *   before they are freed by the SDK's free functions.
 */
#ifndef SECRETSD_SDK_H
#define SECRETSD_SDK_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <secretsd/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SDK_API __attribute__((visibility("hidden")))
#define SDK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SDK_API
#define SDK_PRINTF(a, b)
#endif

/* Hard caps. */
#define SDK_TEMPLATE_MAX (1024 * 1024) /* bytes of one rendered template */
#define SDK_STATEMENTS_MAX 1024        /* statements in one list */
#define SDK_KV_MAX 4096                /* entries of one sdk_kv_new array */

/* --- errors ------------------------------------------------------------------ */

/* printf into err (cap bytes including the NUL), truncating. err == NULL or
 * cap == 0 is fine (nothing is written). */
SDK_API void sdk_err(char *err, size_t cap, const char *fmt, ...) SDK_PRINTF(3, 4);

/* Replace every occurrence of secret in msg (in place, NUL-terminated) with
 * "***". A NULL or empty secret does nothing. */
SDK_API void sdk_redact(char *msg, const char *secret);

/* --- reading settings -------------------------------------------------------- */

/* The value of key in the NULL-terminated array kv (kv may be NULL), or NULL
 * when absent. The pointer belongs to kv. */
SDK_API const char *sdk_kv_get(const struct sd_kv *kv, const char *key);

/* Parsers for setting values; they accept the formats the host validates.
 *   int:      optional '-', decimal digits, fits int64.
 *   bool:     true/false, 1/0, yes/no, on/off (case-insensitive).
 *   duration: seconds ("3600") or a number with s, m, h or d ("30m", "12h",
 *             "90d"); non-negative, fits int64 seconds.
 * Return 0 and the value in *out, or -1 (out untouched). */
SDK_API int sdk_parse_int(const char *s, int64_t *out);
SDK_API int sdk_parse_bool(const char *s, int *out);
SDK_API int sdk_parse_duration(const char *s, int64_t *out_s);

/* Typed look-ups: *out = def when key is absent, the parsed value when it is
 * present and valid. Return 0, or -1 when present but malformed. */
SDK_API int sdk_kv_get_int(const struct sd_kv *kv, const char *key, int64_t def, int64_t *out);
SDK_API int sdk_kv_get_bool(const struct sd_kv *kv, const char *key, int def, int *out);
SDK_API int sdk_kv_get_duration(const struct sd_kv *kv, const char *key, int64_t def_s,
				int64_t *out_s);

/* --- building outputs -------------------------------------------------------- */

/* A NULL-terminated array with room for n entries (all {NULL,NULL} at first,
 * plus the terminator). NULL when n > SDK_KV_MAX or out of memory. The
 * caller owns it: free with sdk_kv_free (usable directly as a plugin's
 * free_kv). */
SDK_API struct sd_kv *sdk_kv_new(size_t n);

/* Copy key and value into entry i (i < n) of an array from sdk_kv_new,
 * wiping and replacing what was there. Returns 0, or -1 (i out of range,
 * NULL argument, out of memory; the entry is then left empty). Fill entries
 * in order from 0: the array ends at the first empty entry. */
SDK_API int sdk_kv_set(struct sd_kv *kv, size_t i, const char *key, const char *value);

/* Wipe every key and value, then free the array. NULL is fine. Only for
 * arrays from sdk_kv_new. */
SDK_API void sdk_kv_free(struct sd_kv *kv);

/* malloc'd copy of s (NULL when s is NULL or out of memory). */
SDK_API char *sdk_strdup(const char *s);

/* Wipe then free a NUL-terminated string. NULL is fine. Usable directly as
 * a plugin's free_str. */
SDK_API void sdk_str_free(char *s);

/* --- time ---------------------------------------------------------------------- */

/* us (microseconds since the epoch) as UTC, seconds precision:
 *   sdk_time_utc: "2026-11-29 12:00:00+00" (PostgreSQL VALID UNTIL)
 *   sdk_time_iso: "2026-11-29T12:00:00Z"   (RFC 3339)
 * out needs at least 23 (utc) / 21 (iso) bytes. Return 0 or -1. */
SDK_API int sdk_time_utc(int64_t us, char *out, size_t cap);
SDK_API int sdk_time_iso(int64_t us, char *out, size_t cap);

/* Milliseconds left before the call's deadline (0 when passed). */
SDK_API int64_t sdk_remaining_ms(const struct sd_host *host, const struct sd_call *call);

/* Sleep ms milliseconds in steps of at most 20 ms, stopping early when
 * host->cancelled(call). ms <= 0 returns 0 at once. Returns 0, or
 * SD_PTIMEOUT when cancelled (with a reason in call->err). */
SDK_API int sdk_sleep_ms(const struct sd_host *host, struct sd_call *call, int64_t ms);

/* --- user names ------------------------------------------------------------------ */

/* Build "<prefix>_<role>_<lease_id>" into out (cap bytes), at most maxlen
 * characters long (maxlen < cap).
 *   prefix and role are lowercased and every character outside [a-z0-9_]
 *   becomes '_'; an empty (or NULL) prefix or role is left out together
 *   with its '_'.
 *   lease_id must be [a-z0-9]+ and is always kept whole: it makes the name
 *   unique and lets a revoke after a crash recompute it. The role is
 *   truncated to fit maxlen (and dropped entirely if no character fits).
 * A pure function of its arguments: the same inputs always give the same
 * name. Returns the length, or -1 (bad lease id, prefix + lease id longer
 * than maxlen, maxlen >= cap). */
SDK_API int sdk_username(char *out, size_t cap, const char *prefix, const char *role,
			 const char *lease_id, size_t maxlen);

/* sdk_username with the role name taken from key "role" of the role
 * settings the host passes to issue/renew/revoke (absent: no role part). */
SDK_API int sdk_username_for_lease(char *out, size_t cap, const char *prefix,
				   const struct sd_kv *role, const char *lease_id, size_t maxlen);

/* --- SQL statements and templates -------------------------------------------------- */

/* Dialects for the lexer that finds quotes, comments and statement ends.
 *   SDK_SQL_POSTGRES  '...' and "..." with doubled quotes, $tag$...$tag$,
 *                     -- and / * * / comments; backslash is not special
 *                     (so E'...\'...' escape strings are not understood:
 *                     write '' instead of \' in templates).
 *   SDK_SQL_MYSQL     '...', "..." with doubled quotes and backslash
 *                     escapes, `...`, --<space>, # and / * * / comments; no
 *                     dollar quotes. */
enum sdk_sql_dialect { SDK_SQL_POSTGRES = 0, SDK_SQL_MYSQL = 1 };

/* Split sql on ';' outside quotes, dollar-quoted strings and comments; trim
 * whitespace; skip statements that are empty or only comments. On success
 * *out is a malloc'd array of *n malloc'd statements (without the ';'),
 * *out == NULL when *n == 0; free with sdk_statements_free. Returns 0, or -1
 * (unterminated quote or comment, more than SDK_STATEMENTS_MAX statements,
 * out of memory). sdk_split_statements uses SDK_SQL_POSTGRES. */
SDK_API int sdk_split_statements(const char *sql, char ***out, size_t *n);
SDK_API int sdk_split_statements_ex(const char *sql, int dialect, char ***out, size_t *n);
SDK_API void sdk_statements_free(char **s, size_t n);

/* Escape value for use at a placeholder. Returns a malloc'd string (freed
 * by sdk_template with sdk_str_free), or NULL to refuse the value.
 *   key    the placeholder's name ("name", "password", ...)
 *   quote  0: the placeholder is bare; return the complete quoted form
 *             (e.g. an identifier "..." for name, a literal '...' for the
 *             rest — the plugin decides by key).
 *          '\'', '"' or '`': the placeholder is inside such quotes in the
 *             template; return the content only, escaped for that quote
 *             (no surrounding quotes), e.g. with the quote char doubled. */
typedef char *(*sdk_escape_fn)(void *arg, const char *key, const char *value, char quote);

/* Render tmpl, replacing every {{key}} (spaces allowed inside the braces)
 * with the escaped value of key in vars. Quote context is tracked with the
 * dialect's lexer, so '{{password}}' and 'issued {{expiration}}' are both
 * "inside single quotes". Inside a dollar-quoted body the text is treated
 * as SQL (the escaped value must not contain the closing tag). Errors
 * (-1, reason in err; never a value): unknown placeholder (named), "{{"
 * without "}}", a placeholder inside a comment, esc refusing a value,
 * output longer than SDK_TEMPLATE_MAX, out of memory. On success *out is
 * malloc'd (contains secrets: free with sdk_str_free). sdk_template uses
 * SDK_SQL_POSTGRES. */
SDK_API int sdk_template(const char *tmpl, const struct sd_kv *vars, sdk_escape_fn esc, void *arg,
			 char **out, char *err, size_t cap);
SDK_API int sdk_template_ex(const char *tmpl, int dialect, const struct sd_kv *vars,
			    sdk_escape_fn esc, void *arg, char **out, char *err, size_t cap);

/* Check, when a role is configured, that every statement list of a SQL
 * database role splits and renders with exactly its placeholders:
 *   creation_statements (required)   name, password, expiration
 *   renew_statements                 name, expiration (may be empty)
 *   revocation_statements            name
 *   rotation_statements              name, password
 * esc sees dummy values (refuse a quote context with NULL). Errors name the
 * setting and the statement: "creation_statements, statement 2: ...".
 * Returns SD_POK or SD_PINVAL (reason in err). */
SDK_API int sdk_check_sql_role(const struct sd_kv *role, int dialect, sdk_escape_fn esc, char *err,
			       size_t cap);

/* Helpers for escape functions. Both return malloc'd strings or NULL.
 *   sdk_escape_double: value with every quote char doubled (no surrounding
 *                      quotes): O'Brien -> O''Brien.
 *   sdk_quote_double:  the same wrapped in quote: 'O''Brien'. */
SDK_API char *sdk_escape_double(const char *value, char quote);
SDK_API char *sdk_quote_double(const char *value, char quote);

/* --- connection URLs ------------------------------------------------------------------ */

/* scheme://[user[:password]@]host[:port][/path][?query], user and password
 * percent-decoded; host may be [v6]. Every member is malloc'd ("" when
 * absent); port is 0 when absent. */
struct sdk_url {
	char *scheme;
	char *user;
	char *password; /* wiped by sdk_url_free */
	char *host;
	int port;
	char *path;  /* without the leading '/', percent-decoded */
	char *query; /* raw, without the '?' */
};

/* Parse url into *u. Returns 0, or -1 with a reason in err that never
 * contains the password. On success free with sdk_url_free. */
SDK_API int sdk_url_parse(const char *url, struct sdk_url *u, char *err, size_t cap);
SDK_API void sdk_url_free(struct sdk_url *u);

/* Iterate "k1=v1&k2=v2" query strings: *pos starts at 0. Returns 1 with
 * percent-decoded key and value copied into the buffers (truncation is an
 * error), 0 at the end, -1 on a malformed pair. */
SDK_API int sdk_query_next(const char *query, size_t *pos, char *key, size_t key_cap, char *value,
			   size_t value_cap);

/* --- connection pools ----------------------------------------------------------------- */

/* A bounded pool of connections to a backend (any type: void *), shared by
 * the calls running on the host's worker threads. At most max_open are open
 * at once, in use or idle; a call that finds none free waits for one to be
 * released until its deadline. Initialise with sdk_pool_init; the struct
 * holds its own locks. */
#define SDK_POOL_MAX 64
struct sdk_pool {
	pthread_mutex_t mu; /* guards idle, nidle, open */
	pthread_cond_t cv;  /* a connection was released */
	void *idle[SDK_POOL_MAX];
	int nidle;
	int open;           /* in use + idle */
	int max_open;       /* 1..SDK_POOL_MAX */
};

/* Opens one connection into *conn; returns SD_POK or an SD_P* code (with a
 * reason in call->err). */
typedef int (*sdk_pool_connect_fn)(void *arg, void **conn);

SDK_API void sdk_pool_init(struct sdk_pool *p, int max_open);
/* Close every idle connection with close_fn and destroy the locks (no
 * connection may be in use). */
SDK_API void sdk_pool_destroy(struct sdk_pool *p, void (*close_fn)(void *conn));
/* An idle connection (*reused = 1), else a new one from connect(arg, conn)
 * (*reused = 0) while fewer than max_open are open, else wait (polling
 * host->cancelled) for one to be released: SD_PTIMEOUT with "<what>: no
 * free connection before the deadline" when the call is cancelled first.
 * On failure *conn is NULL. */
SDK_API int sdk_pool_acquire(struct sdk_pool *p, const struct sd_host *host, struct sd_call *call,
			     const char *what, sdk_pool_connect_fn connect, void *arg, void **conn,
			     int *reused);
/* Give back a connection from sdk_pool_acquire: conn goes to the idle list;
 * NULL when the caller closed it (broken), which frees its slot. */
SDK_API void sdk_pool_release(struct sdk_pool *p, void *conn);

#ifdef __cplusplus
}
#endif

#endif
