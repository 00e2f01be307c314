/* abi_null_desc.c — good_minimal whose entry point returns NULL: the host must
 * refuse it, not crash. */
#define TP_NAME "abi_null_desc"
#define TP_NULL_DESC 1
#include "good_minimal.c"
