/* abi_missing_callback.c — good_minimal without revoke, which a lease plugin
 * must have: the host must refuse it. */
#define TP_NAME "abi_missing_callback"
#define TP_REVOKE NULL
#include "good_minimal.c"
