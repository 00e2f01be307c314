/* path.c — secret path validation. */
#include "path.h"

#include <string.h>

static int seg_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int path_check(const char *p, struct sd_err *err)
{
	size_t len = strlen(p), seglen = 0;
	int segs = 1;
	const char *seg = p;

	if (len == 0)
		return sd_err_set(err, SD_EINVAL, "path is empty");
	if (len > SD_PATH_MAX)
		return sd_err_set(err, SD_EINVAL, "path is longer than %d bytes", SD_PATH_MAX);
	for (size_t i = 0; i <= len; i++) {
		char c = p[i];
		if (c == '/' || c == '\0') {
			if (seglen == 0)
				return sd_err_set(err, SD_EINVAL, "path has an empty segment");
			if ((seglen == 1 && seg[0] == '.') || (seglen == 2 && seg[0] == '.' && seg[1] == '.'))
				return sd_err_set(err, SD_EINVAL, "path segments '.' and '..' are not allowed");
			if (c == '/' && ++segs > SD_PATH_SEGMENTS_MAX)
				return sd_err_set(err, SD_EINVAL, "path has more than %d segments",
						  SD_PATH_SEGMENTS_MAX);
			seg = p + i + 1;
			seglen = 0;
			continue;
		}
		if (!seg_char(c))
			return sd_err_set(err, SD_EINVAL,
					  "path may only contain segments of A-Z a-z 0-9 . _ - separated by /");
		seglen++;
	}
	return 0;
}
