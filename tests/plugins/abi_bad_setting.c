/* abi_bad_setting.c — good_minimal whose role setting "size" has type 42, which
 * is no enum sd_setting_type: the host must refuse it. */
#define TP_NAME "abi_bad_setting"
#define TP_SIZE_TYPE 42
#include "good_minimal.c"
