/* kit_misbehaving.c — a plugin the host loads but that breaks the ABI's
 * rules in ways only calling it shows: what the conformance kit
 * (sdk/plugin-test.c) must catch. test_plugin.c runs the kit on it and
 * expects a "not ok" line for each of these:
 *
 *   - it exports a second symbol (kit_misbehaving_debug);
 *   - role setting "mode" is required and has a default; "mode" is
 *     declared twice;
 *   - health succeeds but writes to err;
 *   - issue returns the key "username" twice;
 *   - issue ignores a passed deadline: it sleeps 2.2 s and succeeds;
 *   - revoke of an unknown lease fails with SD_PDOWN and an empty err (not
 *     idempotent, no reason);
 *   - revoke with handle NULL cannot find the credential (SD_PNOTFOUND) and
 *     leaves err without a NUL within err_cap.
 */
#include <secretsd/plugin.h>
#include <secretsd/sdk.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct km_state {
	const struct sd_host *host;
	pthread_mutex_t mu; /* guards ids, n */
	char ids[1024][25];
	size_t n;
};

static const struct sd_setting km_role_settings[] = {
	{"mode", SD_SET_STRING, 1, "x", 0, "required, yet with a default"},
	{"mode", SD_SET_STRING, 0, NULL, 0, "declared twice"},
	{NULL, 0, 0, NULL, 0, NULL},
};

SD_PLUGIN_EXPORT int kit_misbehaving_debug(void);

int
kit_misbehaving_debug(void)
{
	return 42;
}

static int
km_init(const struct sd_host *host, const struct sd_kv *settings, void **state, char *err,
	size_t err_cap)
{
	struct km_state *s = calloc(1, sizeof(*s));

	(void)settings;
	if (s == NULL) {
		sdk_err(err, err_cap, "out of memory");
		return SD_PINTERNAL;
	}
	s->host = host;
	pthread_mutex_init(&s->mu, NULL);
	*state = s;
	return SD_POK;
}

static void
km_fini(void *state)
{
	struct km_state *s = state;

	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int
km_health(void *state, struct sd_call *call)
{
	(void)state;
	sdk_err(call->err, call->err_cap, "all good");
	return SD_POK;
}

/* Remove id; 1 when it was there. */
static int
km_take(struct km_state *s, const char *id)
{
	int found = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], id) == 0) {
			memmove(s->ids[i], s->ids[--s->n], 25);
			found = 1;
			break;
		}
	pthread_mutex_unlock(&s->mu);
	return found;
}

static int
km_issue(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 int64_t *expires_at_us, struct sd_kv **creds, char **handle)
{
	struct km_state *s = state;
	char pw[17];
	struct sd_kv *kv;
	int rc = SD_POK;

	(void)role;
	(void)expires_at_us;
	*creds = NULL;
	*handle = NULL;
	if (s->host->cancelled(call)) {
		struct timespec ts = {2, 200000000};
		nanosleep(&ts, NULL);
	}
	if (s->host->password(pw, sizeof(pw), 16, NULL) != SD_POK || (kv = sdk_kv_new(3)) == NULL) {
		sdk_err(call->err, call->err_cap, "out of memory");
		return SD_PINTERNAL;
	}
	if (sdk_kv_set(kv, 0, "username", lease_id) != 0 || sdk_kv_set(kv, 1, "password", pw) != 0 ||
	    sdk_kv_set(kv, 2, "username", lease_id) != 0 || (*handle = sdk_strdup(lease_id)) == NULL) {
		sdk_err(call->err, call->err_cap, "out of memory");
		rc = SD_PINTERNAL;
	}
	pthread_mutex_lock(&s->mu);
	if (rc == SD_POK && s->n < sizeof(s->ids) / sizeof(s->ids[0]))
		memcpy(s->ids[s->n++], lease_id, 25);
	else if (rc == SD_POK)
		rc = SD_PDOWN;
	pthread_mutex_unlock(&s->mu);
	explicit_bzero(pw, sizeof(pw));
	if (rc != SD_POK) {
		if (rc == SD_PDOWN)
			sdk_err(call->err, call->err_cap, "too many leases");
		sdk_kv_free(kv);
		sdk_str_free(*handle);
		*handle = NULL;
		return rc;
	}
	*creds = kv;
	return SD_POK;
}

static int
km_renew(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 const char *handle, int64_t expires_at_us)
{
	(void)state;
	(void)call;
	(void)lease_id;
	(void)role;
	(void)handle;
	(void)expires_at_us;
	return SD_POK;
}

static int
km_revoke(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	  const char *handle)
{
	(void)role;
	if (handle == NULL) {
		memset(call->err, 'x', call->err_cap);
		return SD_PNOTFOUND;
	}
	return km_take(state, lease_id) ? SD_POK : SD_PDOWN;
}

static const struct sd_plugin km_plugin = {
	.abi_major = SD_ABI_MAJOR,
	.abi_minor = SD_ABI_MINOR,
	.struct_size = sizeof(struct sd_plugin),
	.name = "kit_misbehaving",
	.version = "0.1-test",
	.kind = SD_KIND_LEASE,
	.plugin_settings = NULL,
	.role_settings = km_role_settings,
	.init = km_init,
	.fini = km_fini,
	.health = km_health,
	.issue = km_issue,
	.renew = km_renew,
	.revoke = km_revoke,
	.free_kv = sdk_kv_free,
	.free_str = sdk_str_free,
};

SD_PLUGIN_EXPORT const struct sd_plugin *secretsd_plugin_v1(void);

const struct sd_plugin *
secretsd_plugin_v1(void)
{
	return &km_plugin;
}
