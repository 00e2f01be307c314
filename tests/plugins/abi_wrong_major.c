/* abi_wrong_major.c — good_minimal built for ABI major 2: the host must refuse it. */
#define TP_NAME "abi_wrong_major"
#define TP_ABI_MAJOR 2
#include "good_minimal.c"
