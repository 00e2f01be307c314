/* err.c — the one mapping from result codes to the spec's error model. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sd_err_set(struct sd_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

void sd_err_clear(struct sd_err *e)
{
	e->code = SD_OK;
	e->msg[0] = '\0';
}

int sd_err_status(int code)
{
	switch (code) {
	case SD_OK: return 200;
	case SD_EINVAL: return 400;
	case SD_EUNAUTH: return 401;
	case SD_EFORBIDDEN: return 403;
	case SD_ENOTFOUND: return 404;
	case SD_EMETHOD: return 405;
	case SD_ECONFLICT: return 409;
	case SD_ETOOBIG: return 413;
	case SD_ERATE: return 429;
	case SD_EDOWN: return 503;
	default: return 500;
	}
}

const char *sd_err_name(int code)
{
	switch (code) {
	case SD_EINVAL: return "invalid_request";
	case SD_EUNAUTH: return "unauthorized";
	case SD_EFORBIDDEN: return "forbidden";
	case SD_ENOTFOUND: return "not_found";
	case SD_EMETHOD: return "method_not_allowed";
	case SD_ECONFLICT: return "conflict";
	case SD_ETOOBIG: return "payload_too_large";
	case SD_ERATE: return "rate_limited";
	case SD_EDOWN: return "dependency_down";
	default: return "internal_error";
	}
}
