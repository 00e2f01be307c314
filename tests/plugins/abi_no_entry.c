/* abi_no_entry.c — good_minimal exporting its entry point under another name
 * (secretsd_plugin_v0), so secretsd_plugin_v1 is missing: the host must
 * refuse it. */
#define TP_NAME "abi_no_entry"
#define TP_ENTRY secretsd_plugin_v0
#include "good_minimal.c"
