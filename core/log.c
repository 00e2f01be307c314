/* log.c — leveled logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static enum log_level log_min = LOG_INFO;

void log_set_level(enum log_level lvl)
{
	log_min = lvl;
}

int log_level_parse(const char *s)
{
	static const char *names[] = { "debug", "info", "warn", "error" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *tags[] = { "debug", "info", "warn", "error" };
	char line[1024], ts[32];
	va_list ap;
	int n;

	if (lvl < log_min)
		return;
	sd_now_rfc3339_ms(ts);
	n = snprintf(line, sizeof(line), "%s %s ", ts, tags[lvl]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so that lines from threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}
