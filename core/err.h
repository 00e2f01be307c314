/* err.h — results and error details for the whole core.
 *
 * Functions return int: 0 on success, a negative SD_E* code on failure. The
 * human-readable reason goes into a struct sd_err that the caller owns; the
 * HTTP layer maps codes to the spec's error model in one place
 * (sd_err_status / sd_err_name). */
#ifndef SD_ERR_H
#define SD_ERR_H

enum sd_code {
	SD_OK = 0,
	SD_EINVAL = -1,      /* 400 invalid_request */
	SD_EUNAUTH = -2,     /* 401 unauthorized */
	SD_EFORBIDDEN = -3,  /* 403 forbidden */
	SD_ENOTFOUND = -4,   /* 404 not_found */
	SD_EMETHOD = -5,     /* 405 method_not_allowed */
	SD_ECONFLICT = -6,   /* 409 conflict */
	SD_ETOOBIG = -7,     /* 413 payload_too_large */
	SD_ERATE = -8,       /* 429 rate_limited */
	SD_EINTERNAL = -9,   /* 500 internal_error */
	SD_EDOWN = -10,      /* 503 dependency_down */
	SD_EDEADLOCK = -11,  /* storage: retry the transaction (never reaches HTTP) */
	SD_ECRYPTO = -12,    /* authentication of a ciphertext failed (500 to clients) */
};

#define SD_ERR_MSG_MAX 256

struct sd_err {
	int code;
	char msg[SD_ERR_MSG_MAX];
};

/* Record code and a printf-style message in e (which may be NULL); returns code
 * so that callers can write `return sd_err_set(e, SD_EINVAL, "...")`. */
int sd_err_set(struct sd_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sd_err_clear(struct sd_err *e);
/* HTTP status and spec error code for a result code. */
int sd_err_status(int code);
const char *sd_err_name(int code);

#endif
