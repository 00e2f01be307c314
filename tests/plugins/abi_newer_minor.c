/* abi_newer_minor.c — good_minimal claiming a minor newer than the host's:
 * the host must refuse it (it may rely on members the host does not fill). */
#define TP_NAME "abi_newer_minor"
#define TP_ABI_MINOR (SD_ABI_MINOR + 1)
#include "good_minimal.c"
