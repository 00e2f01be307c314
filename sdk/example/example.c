/* example.c — a complete, minimal secretsd lease plugin to copy.
 *
 * It issues fake credentials kept in memory (and, optionally, in a state
 * file), so that it needs no backend. It is also the plugin the host's own
 * tests drive: its behaviour is deterministic and controllable through role
 * settings (fail_issue, fail_renew, fail_revoke, slow_ms) and the plugin
 * setting down_file.
 *
 * Build: this file is plugins/example/example.c (a symlink to
 * sdk/example/example.c); `make build/plugins/example.so` links it with
 * build/libsecretsd_sdk.a. To start your own plugin, copy this file to
 * plugins/NAME/NAME.c, rename the descriptor, and add plugins/NAME/plugin.mk
 * if you need pkg-config packages (NAME_PKGS := libfoo).
 *
 * Plugin settings ([plugin example])
 *   prefix      user name prefix, [a-z0-9_]{1,16}, default "ex"
 *   state_file  optional: append "issue <lease_id>", "renew <lease_id>",
 *               "revoke <lease_id>" and "rotate <account>" lines (O_APPEND,
 *               fsync'd) and replay them at init, so that leases survive a
 *               restart and black-box tests can check what happened
 *   down_file   optional: while this file exists every call (health too)
 *               fails with SD_PDOWN
 * Role settings ([role NAME] with plugin = example)
 *   greeting    optional: returned as an extra credential field
 *   fail_issue  bool: issue fails with SD_PDOWN
 *   fail_renew  bool: renew fails with SD_PINVAL (cannot extend)
 *   fail_revoke bool: revoke fails with SD_PDOWN
 *   slow_ms     int: issue/renew/revoke/rotate first sleep this long in
 *               20 ms steps, returning SD_PTIMEOUT when the call is
 *               cancelled
 *
 * Credentials: {"username": "<prefix>_<role>_<lease_id>", "password": 24
 * random characters from the host, "greeting": ...}; the revoke handle is
 * the user name. revoke of a lease this plugin does not know returns
 * SD_PNOTFOUND (which the host counts as revoked).
 */
#include <secretsd/plugin.h>
#include <secretsd/sdk.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EX_NAME "example"
#define EX_MAX_LEASES 100000
#define EX_PASSWORD_LEN 24
#define EX_USER_MAX 63

struct ex_lease {
	char id[65];
	int64_t expires_at_us;
	struct ex_lease *next;
};

struct ex_state {
	const struct sd_host *host;
	const char *prefix;     /* the host's string, valid until fini */
	const char *state_file; /* NULL: none */
	const char *down_file;  /* NULL: none */
	int fd;                 /* state file, -1 when none */
	pthread_mutex_t mu;     /* guards leases, nleases and writes to fd */
	struct ex_lease *leases;
	size_t nleases;
};

/* --- settings --------------------------------------------------------------------- */

static const struct sd_setting ex_plugin_settings[] = {
	{"prefix", SD_SET_STRING, 0, "ex", 0, "user name prefix, [a-z0-9_]{1,16}"},
	{"state_file", SD_SET_STRING, 0, NULL, 0, "append issue/revoke events to this file"},
	{"down_file", SD_SET_STRING, 0, NULL, 0, "while this file exists, every call is SD_PDOWN"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static const struct sd_setting ex_role_settings[] = {
	{"greeting", SD_SET_STRING, 0, NULL, 0, "extra credential field to return"},
	{"fail_issue", SD_SET_BOOL, 0, "false", 0, "issue fails with SD_PDOWN"},
	{"fail_renew", SD_SET_BOOL, 0, "false", 0, "renew fails with SD_PINVAL"},
	{"fail_revoke", SD_SET_BOOL, 0, "false", 0, "revoke fails with SD_PDOWN"},
	{"slow_ms", SD_SET_INT, 0, "0", 0, "sleep this long (cancellable) in every call"},
	{NULL, 0, 0, NULL, 0, NULL},
};

struct ex_role {
	const char *greeting;
	int fail_issue, fail_renew, fail_revoke;
	int64_t slow_ms;
};

static int
ex_parse_role(const struct sd_kv *role, struct ex_role *r, char *err, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->greeting = sdk_kv_get(role, "greeting");
	if (sdk_kv_get_bool(role, "fail_issue", 0, &r->fail_issue) != 0 ||
	    sdk_kv_get_bool(role, "fail_renew", 0, &r->fail_renew) != 0 ||
	    sdk_kv_get_bool(role, "fail_revoke", 0, &r->fail_revoke) != 0) {
		sdk_err(err, cap, "example: fail_issue, fail_renew and fail_revoke are true or false");
		return SD_PINVAL;
	}
	if (sdk_kv_get_int(role, "slow_ms", 0, &r->slow_ms) != 0 || r->slow_ms < 0 ||
	    r->slow_ms > 600000) {
		sdk_err(err, cap, "example: slow_ms must be 0..600000");
		return SD_PINVAL;
	}
	return SD_POK;
}

static int
ex_check_prefix(const char *p, char *err, size_t cap)
{
	size_t i, n = strlen(p);

	if (n == 0 || n > 16) {
		sdk_err(err, cap, "example: prefix must be 1 to 16 characters");
		return SD_PINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_')) {
			sdk_err(err, cap, "example: prefix must be [a-z0-9_]");
			return SD_PINVAL;
		}
	}
	return SD_POK;
}

static int
ex_check(const struct sd_kv *plugin, const struct sd_kv *role, char *err, size_t err_cap)
{
	const char *prefix = sdk_kv_get(plugin, "prefix");
	struct ex_role r;

	if (prefix != NULL && ex_check_prefix(prefix, err, err_cap) != SD_POK)
		return SD_PINVAL;
	if (role != NULL)
		return ex_parse_role(role, &r, err, err_cap);
	return SD_POK;
}

/* --- the lease list and the state file (call with mu held) ---------------------------- */

static struct ex_lease **
ex_find(struct ex_state *s, const char *id)
{
	struct ex_lease **pp;

	for (pp = &s->leases; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0)
			return pp;
	return NULL;
}

static int
ex_add(struct ex_state *s, const char *id, int64_t expires_at_us)
{
	struct ex_lease *l;

	if (s->nleases >= EX_MAX_LEASES || strlen(id) >= sizeof(l->id))
		return -1;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	memcpy(l->id, id, strlen(id) + 1);
	l->expires_at_us = expires_at_us;
	l->next = s->leases;
	s->leases = l;
	s->nleases++;
	return 0;
}

static int
ex_remove(struct ex_state *s, const char *id)
{
	struct ex_lease **pp = ex_find(s, id), *l;

	if (pp == NULL)
		return 0;
	l = *pp;
	*pp = l->next;
	free(l);
	s->nleases--;
	return 1;
}

/* Append "<event> <id>\n" to the state file and fsync it. 0 or -1. */
static int
ex_record(struct ex_state *s, const char *event, const char *id)
{
	char line[128];
	int n;

	if (s->fd < 0)
		return 0;
	n = snprintf(line, sizeof(line), "%s %s\n", event, id);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	if (write(s->fd, line, (size_t)n) != n || fsync(s->fd) != 0)
		return -1;
	return 0;
}

/* Rebuild the list from an existing state file: issued minus revoked. */
static int
ex_replay(struct ex_state *s, char *err, size_t cap)
{
	char line[256], ev[16], id[128];
	FILE *f = fopen(s->state_file, "re");
	int rc = SD_POK;

	if (f == NULL) {
		if (errno == ENOENT)
			return SD_POK; /* first start */
		sdk_err(err, cap, "example: cannot read state_file: %s", strerror(errno));
		return SD_PINVAL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%15s %127s", ev, id) != 2)
			continue;
		if (strcmp(ev, "issue") == 0 && ex_find(s, id) == NULL) {
			if (ex_add(s, id, 0) != 0) {
				sdk_err(err, cap, "example: state_file has too many leases");
				rc = SD_PINVAL;
				break;
			}
		} else if (strcmp(ev, "revoke") == 0) {
			ex_remove(s, id);
		}
	}
	fclose(f);
	return rc;
}

/* --- common checks ------------------------------------------------------------------ */

static int
ex_down(struct ex_state *s, struct sd_call *call)
{
	struct stat st;

	if (s->down_file != NULL && stat(s->down_file, &st) == 0) {
		sdk_err(call->err, call->err_cap, "example: backend down (%s exists)", s->down_file);
		return 1;
	}
	return 0;
}

/* Parse the role, honour down_file and slow_ms. SD_POK to go on. */
static int
ex_begin(struct ex_state *s, struct sd_call *call, const struct sd_kv *role, struct ex_role *r)
{
	int rc;

	if ((rc = ex_parse_role(role, r, call->err, call->err_cap)) != SD_POK)
		return rc;
	if (ex_down(s, call))
		return SD_PDOWN;
	return sdk_sleep_ms(s->host, call, r->slow_ms);
}

/* --- callbacks --------------------------------------------------------------------- */

static int
ex_init(const struct sd_host *host, const struct sd_kv *settings, void **state, char *err,
	size_t err_cap)
{
	struct ex_state *s;
	int rc;

	*state = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sdk_err(err, err_cap, "example: out of memory");
		return SD_PINTERNAL;
	}
	s->host = host;
	s->fd = -1;
	s->prefix = sdk_kv_get(settings, "prefix");
	if (s->prefix == NULL)
		s->prefix = "ex";
	s->state_file = sdk_kv_get(settings, "state_file");
	s->down_file = sdk_kv_get(settings, "down_file");
	if (s->down_file != NULL && s->down_file[0] == '\0')
		s->down_file = NULL;
	if (s->state_file != NULL && s->state_file[0] == '\0')
		s->state_file = NULL;
	pthread_mutex_init(&s->mu, NULL);
	if ((rc = ex_check_prefix(s->prefix, err, err_cap)) != SD_POK)
		goto fail;
	if (s->state_file != NULL) {
		if ((rc = ex_replay(s, err, err_cap)) != SD_POK)
			goto fail;
		s->fd = open(s->state_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (s->fd < 0) {
			sdk_err(err, err_cap, "example: cannot open state_file: %s", strerror(errno));
			rc = SD_PINVAL;
			goto fail;
		}
	}
	*state = s;
	return SD_POK;
fail:
	while (s->leases != NULL)
		ex_remove(s, s->leases->id);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return rc;
}

static void
ex_fini(void *state)
{
	struct ex_state *s = state;

	if (s == NULL)
		return;
	while (s->leases != NULL)
		ex_remove(s, s->leases->id);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int
ex_health(void *state, struct sd_call *call)
{
	return ex_down(state, call) ? SD_PDOWN : SD_POK;
}

static int
ex_issue(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 int64_t *expires_at_us, struct sd_kv **creds, char **handle)
{
	struct ex_state *s = state;
	struct ex_role r;
	struct sd_kv *kv = NULL;
	char user[EX_USER_MAX + 1], pw[EX_PASSWORD_LEN + 1];
	int rc, added = 0;

	*creds = NULL;
	*handle = NULL;
	pw[0] = '\0';
	if ((rc = ex_begin(s, call, role, &r)) != SD_POK)
		goto out;
	if (r.fail_issue) {
		sdk_err(call->err, call->err_cap, "example: fail_issue is set");
		rc = SD_PDOWN;
		goto out;
	}
	if (sdk_username_for_lease(user, sizeof(user), s->prefix, role, lease_id, EX_USER_MAX) < 0) {
		sdk_err(call->err, call->err_cap, "example: bad lease id");
		rc = SD_PINVAL;
		goto out;
	}
	if (s->host->password(pw, sizeof(pw), EX_PASSWORD_LEN, NULL) != 0) {
		sdk_err(call->err, call->err_cap, "example: no password from the host");
		rc = SD_PINTERNAL;
		goto out;
	}
	kv = sdk_kv_new(3);
	*handle = sdk_strdup(user);
	if (kv == NULL || *handle == NULL || sdk_kv_set(kv, 0, "username", user) != 0 ||
	    sdk_kv_set(kv, 1, "password", pw) != 0 ||
	    (r.greeting != NULL && sdk_kv_set(kv, 2, "greeting", r.greeting) != 0)) {
		sdk_err(call->err, call->err_cap, "example: out of memory");
		rc = SD_PINTERNAL;
		goto out;
	}

	/* The "backend" write comes last, so that a failure above leaves
	 * nothing behind. */
	pthread_mutex_lock(&s->mu);
	if (ex_find(s, lease_id) != NULL) {
		sdk_err(call->err, call->err_cap, "example: lease %s was already issued", lease_id);
		rc = SD_PINVAL;
	} else if (ex_add(s, lease_id, *expires_at_us) != 0) {
		sdk_err(call->err, call->err_cap, "example: too many leases");
		rc = SD_PDOWN;
	} else if (ex_record(s, "issue", lease_id) != 0) {
		ex_remove(s, lease_id);
		sdk_err(call->err, call->err_cap, "example: cannot write state_file");
		rc = SD_PINTERNAL;
	} else {
		added = 1;
	}
	pthread_mutex_unlock(&s->mu);
	if (!added)
		goto out;
	*creds = kv;
	kv = NULL;
	rc = SD_POK;
out:
	explicit_bzero(pw, sizeof(pw));
	sdk_kv_free(kv);
	if (rc != SD_POK) {
		sdk_str_free(*handle);
		*handle = NULL;
	}
	return rc;
}

static int
ex_renew(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 const char *handle, int64_t expires_at_us)
{
	struct ex_state *s = state;
	struct ex_lease **pp;
	struct ex_role r;
	int rc;

	(void)handle;
	if ((rc = ex_begin(s, call, role, &r)) != SD_POK)
		return rc;
	if (r.fail_renew) {
		sdk_err(call->err, call->err_cap, "example: fail_renew is set");
		return SD_PINVAL;
	}
	pthread_mutex_lock(&s->mu);
	if ((pp = ex_find(s, lease_id)) == NULL) {
		sdk_err(call->err, call->err_cap, "example: no credential for lease %s", lease_id);
		rc = SD_PNOTFOUND;
	} else if (ex_record(s, "renew", lease_id) != 0) {
		sdk_err(call->err, call->err_cap, "example: cannot write state_file");
		rc = SD_PINTERNAL;
	} else {
		(*pp)->expires_at_us = expires_at_us;
		rc = SD_POK;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
ex_revoke(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	  const char *handle)
{
	struct ex_state *s = state;
	struct ex_role r;
	int rc, found;

	(void)handle; /* everything is keyed by lease id: handle may be NULL */
	if ((rc = ex_begin(s, call, role, &r)) != SD_POK)
		return rc;
	if (r.fail_revoke) {
		sdk_err(call->err, call->err_cap, "example: fail_revoke is set");
		return SD_PDOWN;
	}
	pthread_mutex_lock(&s->mu);
	found = ex_remove(s, lease_id);
	rc = ex_record(s, "revoke", lease_id) != 0 ? SD_PINTERNAL : found ? SD_POK : SD_PNOTFOUND;
	pthread_mutex_unlock(&s->mu);
	if (rc == SD_PINTERNAL)
		sdk_err(call->err, call->err_cap, "example: cannot write state_file");
	else if (rc == SD_PNOTFOUND)
		sdk_err(call->err, call->err_cap, "example: no credential for lease %s", lease_id);
	return rc;
}

static int
ex_rotate(void *state, struct sd_call *call, const struct sd_kv *role, const char *account,
	  char **new_value)
{
	struct ex_state *s = state;
	struct ex_role r;
	char pw[EX_PASSWORD_LEN + 1];
	size_t i;
	int rc;

	*new_value = NULL;
	if ((rc = ex_begin(s, call, role, &r)) != SD_POK)
		return rc;
	for (i = 0; account != NULL && account[i] != '\0'; i++)
		if ((unsigned char)account[i] <= ' ' || account[i] == 0x7f)
			break;
	if (account == NULL || i == 0 || account[i] != '\0' || i > 64) {
		sdk_err(call->err, call->err_cap, "example: bad account name");
		return SD_PINVAL;
	}
	if (s->host->password(pw, sizeof(pw), EX_PASSWORD_LEN, NULL) != 0) {
		sdk_err(call->err, call->err_cap, "example: no password from the host");
		return SD_PINTERNAL;
	}
	if ((*new_value = sdk_strdup(pw)) == NULL) {
		sdk_err(call->err, call->err_cap, "example: out of memory");
		rc = SD_PINTERNAL;
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	rc = ex_record(s, "rotate", account) != 0 ? SD_PINTERNAL : SD_POK;
	pthread_mutex_unlock(&s->mu);
	if (rc != SD_POK) {
		sdk_err(call->err, call->err_cap, "example: cannot write state_file");
		sdk_str_free(*new_value);
		*new_value = NULL;
	}
out:
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* --- the descriptor ---------------------------------------------------------------------- */

static const struct sd_plugin ex_plugin = {
	.abi_major = SD_ABI_MAJOR,
	.abi_minor = SD_ABI_MINOR,
	.struct_size = sizeof(struct sd_plugin),
	.name = EX_NAME,
	.version = "1.0.0",
	.kind = SD_KIND_LEASE,
	.plugin_settings = ex_plugin_settings,
	.role_settings = ex_role_settings,
	.check = ex_check,
	.init = ex_init,
	.fini = ex_fini,
	.health = ex_health,
	.issue = ex_issue,
	.renew = ex_renew,
	.revoke = ex_revoke,
	.rotate = ex_rotate,
	.free_kv = sdk_kv_free,
	.free_str = sdk_str_free,
};

SD_PLUGIN_EXPORT const struct sd_plugin *secretsd_plugin_v1(void);

const struct sd_plugin *
secretsd_plugin_v1(void)
{
	return &ex_plugin;
}
