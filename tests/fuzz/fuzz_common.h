/* fuzz_common.h — small helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * Every target keeps its files in a private folder under $TMPDIR (the
 * Makefile points TMPDIR at build/fuzz/tmp), removed at exit. Nothing here
 * touches the repository. A finding that is not a sanitizer report (a broken
 * invariant, a 5xx) goes through fz_fail(), which prints the reason and
 * aborts, so that libFuzzer saves the input. */
#ifndef SD_FUZZ_COMMON_H
#define SD_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FZ_API __attribute__((unused)) static

static char fz_dir[PATH_MAX];
__attribute__((unused)) static int fz_keep_dir;

__attribute__((noreturn, format(printf, 1, 2))) static void fz_fail(const char *fmt, ...)
{
	const char *also = getenv("FUZZ_FINDINGS_LOG"); /* fork mode loses the jobs' stderr */
	va_list ap;

	fprintf(stderr, "\n==FUZZ FINDING== ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	if (also != NULL) {
		FILE *f = fopen(also, "a");
		if (f != NULL) {
			fprintf(f, "==FUZZ FINDING== (pid %d) ", (int)getpid());
			va_start(ap, fmt);
			vfprintf(f, fmt, ap);
			va_end(ap);
			fprintf(f, "\n");
			fclose(f);
		}
	}
	abort();
}

FZ_API int fz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

FZ_API void fz_rm_dir(void)
{
	if (fz_dir[0] != '\0' && !fz_keep_dir)
		nftw(fz_dir, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Create the target's private folder (once) and return it. */
FZ_API const char *fz_tmpdir(const char *name)
{
	const char *base = getenv("TMPDIR");

	if (fz_dir[0] != '\0')
		return fz_dir;
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(fz_dir, sizeof(fz_dir), "%s/sdfuzz-%s-XXXXXX", base, name);
	if (mkdtemp(fz_dir) == NULL)
		fz_fail("cannot create a folder under %s: %s", base, strerror(errno));
	atexit(fz_rm_dir);
	return fz_dir;
}

/* path = fz_dir/name into out. */
FZ_API void fz_path(char *out, size_t n, const char *name)
{
	if ((size_t)snprintf(out, n, "%s/%s", fz_dir, name) >= n)
		fz_fail("path too long");
}

/* Replace the file at path with len bytes of data. */
FZ_API void fz_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	const unsigned char *p = data;

	if (fd < 0)
		fz_fail("cannot write %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fz_fail("cannot write %s: %s", path, strerror(errno));
		p += w;
		len -= (size_t)w;
	}
	close(fd);
}

/* A NUL-terminated copy of data (NULs inside stay: C string users see the
 * prefix, as a C caller of the API would). */
FZ_API char *fz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Cut s at the first sep: *s stays the head, the tail is returned (or NULL
 * when there is no sep). */
FZ_API char *fz_cut(char *s, int sep)
{
	char *p = s ? strchr(s, sep) : NULL;

	if (p == NULL)
		return NULL;
	*p = '\0';
	return p + 1;
}

/* Run stdin from /dev/null: no parser may ever wait on the terminal. */
FZ_API void fz_stdin_null(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
}

#endif
