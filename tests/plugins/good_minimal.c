/* good_minimal.c — the smallest valid lease plugin, for the host's tests.
 *
 * Plugin settings: dsn (url, required).
 * Role settings:   size (int, optional, default "3"); check refuses > 10.
 * Credentials:     {"username": "gm_<lease_id>", "password": 16 characters
 *                  from the host}; the handle is the user name. Issued
 *                  leases are kept in memory, so revoke can say SD_PNOTFOUND.
 *
 * It is also the base of the abi_*.c plugins: each defines one TP_* knob
 * below and includes this file, so that the host refuses it for exactly
 * that one reason and for nothing else.
 */
#include <secretsd/plugin.h>
#include <secretsd/sdk.h>

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef TP_NAME
#define TP_NAME "good_minimal"
#endif
#ifndef TP_ABI_MAJOR
#define TP_ABI_MAJOR SD_ABI_MAJOR
#endif
#ifndef TP_ABI_MINOR
#define TP_ABI_MINOR SD_ABI_MINOR
#endif
#ifndef TP_STRUCT_SIZE
#define TP_STRUCT_SIZE sizeof(struct sd_plugin)
#endif
#ifndef TP_SIZE_TYPE /* the type of the role setting "size" */
#define TP_SIZE_TYPE SD_SET_INT
#endif
#ifndef TP_REVOKE
#define TP_REVOKE gm_revoke
#endif
#ifndef TP_INIT_FAILS
#define TP_INIT_FAILS 0
#endif
#ifndef TP_NULL_DESC
#define TP_NULL_DESC 0
#endif
#ifndef TP_ENTRY /* the name of the exported entry point */
#define TP_ENTRY secretsd_plugin_v1
#endif

#define GM_MAX_LEASES 4096
#define GM_PASSWORD_LEN 16

struct gm_state {
	const struct sd_host *host;
	pthread_mutex_t mu; /* guards ids, n */
	char (*ids)[25];
	size_t n;
};

static const struct sd_setting gm_plugin_settings[] = {
	{"dsn", SD_SET_URL, 1, NULL, 1, "where the backend is (unused)"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static const struct sd_setting gm_role_settings[] = {
	{"size", TP_SIZE_TYPE, 0, "3", 0, "a number from 0 to 10"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static int
gm_check(const struct sd_kv *plugin, const struct sd_kv *role, char *err, size_t err_cap)
{
	int64_t size;

	(void)plugin;
	if (role == NULL)
		return SD_POK;
	if (sdk_kv_get_int(role, "size", 3, &size) != 0 || size < 0 || size > 10) {
		sdk_err(err, err_cap, "size must be 0 to 10");
		return SD_PINVAL;
	}
	return SD_POK;
}

static int
gm_init(const struct sd_host *host, const struct sd_kv *settings, void **state, char *err,
	size_t err_cap)
{
	struct gm_state *s;

	(void)settings;
	*state = NULL;
	if (TP_INIT_FAILS) {
		sdk_err(err, err_cap, "boom");
		return SD_PINVAL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ids = calloc(GM_MAX_LEASES, sizeof(*s->ids))) == NULL) {
		free(s);
		sdk_err(err, err_cap, "out of memory");
		return SD_PINTERNAL;
	}
	s->host = host;
	pthread_mutex_init(&s->mu, NULL);
	*state = s;
	return SD_POK;
}

static void
gm_fini(void *state)
{
	struct gm_state *s = state;

	pthread_mutex_destroy(&s->mu);
	free(s->ids);
	free(s);
}

static int
gm_health(void *state, struct sd_call *call)
{
	(void)state;
	(void)call;
	return SD_POK;
}

/* The index of id in s->ids, or -1. Call with mu held. */
static long
gm_find(const struct gm_state *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], id) == 0)
			return (long)i;
	return -1;
}

static int
gm_issue(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 int64_t *expires_at_us, struct sd_kv **creds, char **handle)
{
	struct gm_state *s = state;
	char user[64], pw[GM_PASSWORD_LEN + 1];
	struct sd_kv *kv = NULL;
	char *h = NULL;
	int rc = SD_PINTERNAL;

	(void)role;
	(void)expires_at_us;
	*creds = NULL;
	*handle = NULL;
	if (strlen(lease_id) != 24 || sdk_username(user, sizeof(user), "gm", NULL, lease_id, 63) < 0) {
		sdk_err(call->err, call->err_cap, "bad lease id");
		return SD_PINVAL;
	}
	if (s->host->password(pw, sizeof(pw), GM_PASSWORD_LEN, NULL) != SD_POK) {
		sdk_err(call->err, call->err_cap, "no password from the host");
		return SD_PINTERNAL;
	}
	if ((kv = sdk_kv_new(2)) == NULL || (h = sdk_strdup(user)) == NULL ||
	    sdk_kv_set(kv, 0, "username", user) != 0 || sdk_kv_set(kv, 1, "password", pw) != 0) {
		sdk_err(call->err, call->err_cap, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	if (gm_find(s, lease_id) >= 0) {
		sdk_err(call->err, call->err_cap, "lease %s was already issued", lease_id);
		rc = SD_PINVAL;
	} else if (s->n >= GM_MAX_LEASES) {
		sdk_err(call->err, call->err_cap, "too many leases");
		rc = SD_PDOWN;
	} else {
		memcpy(s->ids[s->n++], lease_id, 25);
		rc = SD_POK;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == SD_POK) {
		*creds = kv;
		*handle = h;
		kv = NULL;
		h = NULL;
	}
out:
	explicit_bzero(pw, sizeof(pw));
	sdk_kv_free(kv);
	sdk_str_free(h);
	return rc;
}

static int
gm_renew(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 const char *handle, int64_t expires_at_us)
{
	struct gm_state *s = state;
	long i;

	(void)role;
	(void)handle;
	(void)expires_at_us;
	pthread_mutex_lock(&s->mu);
	i = gm_find(s, lease_id);
	pthread_mutex_unlock(&s->mu);
	if (i < 0) {
		sdk_err(call->err, call->err_cap, "no credential for lease %s", lease_id);
		return SD_PNOTFOUND;
	}
	return SD_POK;
}

static int __attribute__((unused))
gm_revoke(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	  const char *handle)
{
	struct gm_state *s = state;
	long i;

	(void)role;
	(void)handle; /* keyed by lease id: handle may be NULL */
	pthread_mutex_lock(&s->mu);
	i = gm_find(s, lease_id);
	if (i >= 0)
		memmove(s->ids[i], s->ids[--s->n], 25);
	pthread_mutex_unlock(&s->mu);
	if (i < 0) {
		sdk_err(call->err, call->err_cap, "no credential for lease %s", lease_id);
		return SD_PNOTFOUND;
	}
	return SD_POK;
}

static const struct sd_plugin gm_plugin = {
	.abi_major = TP_ABI_MAJOR,
	.abi_minor = TP_ABI_MINOR,
	.struct_size = TP_STRUCT_SIZE,
	.name = TP_NAME,
	.version = "0.1-test",
	.kind = SD_KIND_LEASE,
	.plugin_settings = gm_plugin_settings,
	.role_settings = gm_role_settings,
	.check = gm_check,
	.init = gm_init,
	.fini = gm_fini,
	.health = gm_health,
	.issue = gm_issue,
	.renew = gm_renew,
	.revoke = TP_REVOKE,
	.free_kv = sdk_kv_free,
	.free_str = sdk_str_free,
};

SD_PLUGIN_EXPORT const struct sd_plugin *TP_ENTRY(void);

const struct sd_plugin *
TP_ENTRY(void)
{
	return TP_NULL_DESC ? NULL : &gm_plugin;
}
