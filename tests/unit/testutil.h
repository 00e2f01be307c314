/* testutil.h — helpers shared by the unit tests (header-only). */
#ifndef SD_TESTUTIL_H
#define SD_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Path of a file under ../shared/vectors (or $SD_VECTORS). */
static inline const char *vector_path(const char *rel)
{
	static char buf[4096];
	const char *dir = getenv("SD_VECTORS");

	snprintf(buf, sizeof(buf), "%s/%s", dir ? dir : "../shared/vectors", rel);
	return buf;
}

/* Decode hex into a malloc'd buffer; returns its length via *n. */
static inline unsigned char *unhex(const char *h, size_t *n)
{
	size_t len = strlen(h) / 2;
	unsigned char *b = malloc(len + 1);

	for (size_t i = 0; i < len; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		b[i] = (unsigned char)v;
	}
	*n = len;
	return b;
}

/* A fresh temporary directory (absolute path, static buffer per call site). */
static inline char *make_tmpdir(char buf[64])
{
	snprintf(buf, 64, "/tmp/sd-unit-XXXXXX");
	return mkdtemp(buf);
}

static inline void rm_rf(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
