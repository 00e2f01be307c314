/* abi_short_struct.c — good_minimal whose descriptor claims to end before
 * free_str, the last 1.0 member: the host must refuse it. */
#define TP_NAME "abi_short_struct"
#define TP_STRUCT_SIZE offsetof(struct sd_plugin, free_str)
#include "good_minimal.c"
