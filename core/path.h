/* path.h — the rules for secret paths and other names in URLs.
 *
 * A path is 1..32 segments separated by '/', each of [A-Za-z0-9._-]+ and
 * neither "." nor "..", at most 512 bytes in all. */
#ifndef SD_PATH_H
#define SD_PATH_H

#include "err.h"

#define SD_PATH_MAX 512
#define SD_PATH_SEGMENTS_MAX 32

/* 0 when p is a valid path; else SD_EINVAL with the reason in err. */
int path_check(const char *p, struct sd_err *err);

#endif
