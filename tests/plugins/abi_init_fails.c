/* abi_init_fails.c — a valid good_minimal whose init fails with SD_PINVAL and
 * the reason "boom": registry_load must refuse the file and show "boom". */
#define TP_NAME "abi_init_fails"
#define TP_INIT_FAILS 1
#include "good_minimal.c"
