/* time.c — formatting times, deadlines and cancellable sleeps. */
#include <secretsd/sdk.h>

#include <stdio.h>
#include <time.h>

static int
split_utc(int64_t us, struct tm *tm)
{
	int64_t s = us / 1000000;
	time_t t;

	if (us % 1000000 < 0)
		s--; /* floor for times before the epoch */
	t = (time_t)s;
	return gmtime_r(&t, tm) == NULL ? -1 : 0;
}

static int
format_utc(int64_t us, char *out, size_t cap, int iso)
{
	struct tm tm;
	int n;

	if (out == NULL || cap == 0 || split_utc(us, &tm) != 0)
		return -1;
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -1;
	if (iso)
		n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		n = snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d+00", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= cap) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
sdk_time_utc(int64_t us, char *out, size_t cap)
{
	return format_utc(us, out, cap, 0);
}

int
sdk_time_iso(int64_t us, char *out, size_t cap)
{
	return format_utc(us, out, cap, 1);
}

int64_t
sdk_remaining_ms(const struct sd_host *host, const struct sd_call *call)
{
	int64_t left = host->deadline_us(call) - host->now_us();

	return left <= 0 ? 0 : left / 1000;
}

int
sdk_sleep_ms(const struct sd_host *host, struct sd_call *call, int64_t ms)
{
	struct timespec ts;
	int64_t step;

	if (ms <= 0)
		return 0;
	while (ms > 0) {
		if (host->cancelled(call)) {
			sdk_err(call->err, call->err_cap, "cancelled: deadline passed or server stopping");
			return SD_PTIMEOUT;
		}
		step = ms < 20 ? ms : 20;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(step * 1000000);
		nanosleep(&ts, NULL);
		ms -= step;
	}
	if (host->cancelled(call)) {
		sdk_err(call->err, call->err_cap, "cancelled: deadline passed or server stopping");
		return SD_PTIMEOUT;
	}
	return 0;
}
