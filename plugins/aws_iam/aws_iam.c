/* aws_iam.c — AWS credentials as leases: IAM users with access keys, STS
 * AssumeRole and GetFederationToken sessions.
 *
 * Plugin settings ([plugin aws_iam])
 *   region             STS region, and IAM's signing region when an endpoint
 *                      is set (default us-east-1)
 *   endpoint           one URL for IAM and STS (private endpoints, emulators)
 *   iam_endpoint       IAM's URL (default https://iam.amazonaws.com/, or the
 *                      partition's for cn-* and us-gov-* regions)
 *   sts_endpoint       STS's URL (default https://sts.<region>.amazonaws.com/)
 *   iam_region         IAM's signing region (default us-east-1, cn-north-1 or
 *                      us-gov-west-1 by partition; region when an IAM
 *                      endpoint is set)
 *   access_key_id, secret_access_key, session_token
 *                      root credentials; when absent, AWS_ACCESS_KEY_ID,
 *                      AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN of the
 *                      server's environment at init
 *   username_prefix    [a-z0-9_-]{0,16}, default "sd"
 *   connect_timeout    1s..600s, default 5
 * Role settings: credential_type = iam_user | assumed_role |
 * federation_token and the settings of each (see role_settings below and
 * README.md).
 *
 * Every name is "<prefix>-<role>-<lease_id>" (user names and role session
 * names at most 64 characters, federation names 32): the lease id is kept
 * whole, so revoke with handle NULL finds what issue made.
 */
#include "aws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

enum cred_type { CT_NONE = 0, CT_IAM_USER, CT_ASSUMED_ROLE, CT_FEDERATION };

/* --- settings --------------------------------------------------------------------------- */

static const struct sd_setting aws_plugin_settings[] = {
	{"region", SD_SET_STRING, 0, "us-east-1", 0,
	 "AWS region of STS (and IAM's signing region when an endpoint is set)"},
	{"endpoint", SD_SET_URL, 0, NULL, 0,
	 "one URL for IAM and STS: a private endpoint or an emulator (http allowed)"},
	{"iam_endpoint", SD_SET_URL, 0, NULL, 0, "IAM's URL (default: the partition's global IAM)"},
	{"sts_endpoint", SD_SET_URL, 0, NULL, 0, "STS's URL (default https://sts.REGION.amazonaws.com/)"},
	{"iam_region", SD_SET_STRING, 0, NULL, 0,
	 "IAM's signing region (default us-east-1; cn-north-1, us-gov-west-1 in those partitions)"},
	{"access_key_id", SD_SET_STRING, 0, NULL, 0,
	 "root access key id (default: AWS_ACCESS_KEY_ID of the server's environment)"},
	{"secret_access_key", SD_SET_STRING, 0, NULL, 1,
	 "root secret access key (default: AWS_SECRET_ACCESS_KEY)"},
	{"session_token", SD_SET_STRING, 0, NULL, 1,
	 "session token of temporary root credentials (default: AWS_SESSION_TOKEN)"},
	{"username_prefix", SD_SET_STRING, 0, "sd", 0,
	 "prefix of IAM user and session names, [a-z0-9_-]{0,16}"},
	{"connect_timeout", SD_SET_DURATION, 0, "5", 0,
	 "give up connecting after this long (or at the call's deadline): dependency down"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static const struct sd_setting aws_role_settings[] = {
	{"credential_type", SD_SET_STRING, 1, NULL, 0,
	 "iam_user (a user with an access key), assumed_role (STS AssumeRole) or federation_token"},
	{"policy_arns", SD_SET_STRING, 0, NULL, 0,
	 "comma-separated managed policy ARNs: attached to the user, or session policies for STS"},
	{"policy_document", SD_SET_STRING, 0, NULL, 0,
	 "a JSON policy: the user's inline policy, or the STS session policy (one line)"},
	{"permissions_boundary_arn", SD_SET_STRING, 0, NULL, 0, "iam_user: the user's permissions boundary"},
	{"user_path", SD_SET_STRING, 0, NULL, 0, "iam_user: the user's path, /like/this/ (default /)"},
	{"role_arn", SD_SET_STRING, 0, NULL, 0, "assumed_role: the role to assume (required there)"},
	{"external_id", SD_SET_STRING, 0, NULL, 0, "assumed_role: ExternalId, when the role's trust needs one"},
	{"max_session_duration", SD_SET_DURATION, 0, NULL, 0,
	 "assumed_role/federation_token: longest session, 900s..12h (default 12h; set the role's MaxSessionDuration)"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static enum cred_type
cred_type(const struct sd_kv *role)
{
	const char *t = sdk_kv_get(role, "credential_type");

	if (t == NULL)
		return CT_NONE;
	if (strcmp(t, "iam_user") == 0)
		return CT_IAM_USER;
	if (strcmp(t, "assumed_role") == 0)
		return CT_ASSUMED_ROLE;
	if (strcmp(t, "federation_token") == 0)
		return CT_FEDERATION;
	return CT_NONE;
}

static int
chars_ok(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
			return 0;
	return 1;
}

/* An access key id: 1-128 of [A-Za-z0-9] (what SigV4's scope allows). */
static int
akid_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 128 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == n;
}

static int
region_ok(const char *r)
{
	return r != NULL && r[0] != '\0' && strlen(r) < 64 && chars_ok(r, "-");
}

/* Next item of a comma-separated list, trimmed, into out. 1 with an item,
 * 0 at the end, -1 for an item that does not fit or is empty. */
static int
list_next(const char *list, size_t *pos, char *out, size_t cap)
{
	const char *s = list + *pos, *e;
	size_t n;

	if (*s == '\0')
		return 0;
	e = s + strcspn(s, ",");
	*pos = (size_t)(e - list) + (*e == ',' ? 1 : 0);
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	n = (size_t)(e - s);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

int
aws_list_next(const char *list, size_t *pos, char *out, size_t cap)
{
	return list_next(list, pos, out, cap);
}

static int
check_arns(const char *what, const char *list, size_t max, char *err, size_t cap)
{
	char arn[AWS_TEXT_MAX];
	size_t pos = 0, n = 0;
	int r;

	if (list == NULL)
		return SD_POK;
	while ((r = list_next(list, &pos, arn, sizeof(arn))) == 1) {
		if (strncmp(arn, "arn:", 4) != 0) {
			sdk_err(err, cap, "%s: '%.64s' is not an ARN (arn:...)", what, arn);
			return SD_PINVAL;
		}
		n++;
	}
	if (r < 0) {
		sdk_err(err, cap, "%s: an empty item or one longer than %d bytes", what, AWS_TEXT_MAX - 1);
		return SD_PINVAL;
	}
	if (n == 0 || n > max) {
		sdk_err(err, cap, "%s: 1 to %zu ARNs, comma-separated", what, max);
		return SD_PINVAL;
	}
	return SD_POK;
}

static int
check_plugin(const struct sd_kv *kv, char *err, size_t cap)
{
	static const char *const urls[] = {"endpoint", "iam_endpoint", "sts_endpoint"};
	const char *prefix = sdk_kv_get(kv, "username_prefix");
	const char *akid = sdk_kv_get(kv, "access_key_id");
	const char *secret = sdk_kv_get(kv, "secret_access_key");
	const char *iam_region = sdk_kv_get(kv, "iam_region");
	int64_t t;
	size_t i;

	if (!region_ok(sdk_kv_get(kv, "region") ? sdk_kv_get(kv, "region") : "us-east-1") ||
	    (iam_region != NULL && !region_ok(iam_region))) {
		sdk_err(err, cap, "region and iam_region must be 1-63 of [a-z0-9-] (e.g. eu-west-1)");
		return SD_PINVAL;
	}
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct aws_endpoint ep;
		char e[160];
		const char *u = sdk_kv_get(kv, urls[i]);
		if (u == NULL)
			continue;
		if (aws_endpoint_parse(u, &ep, e, sizeof(e)) != SD_POK) {
			sdk_err(err, cap, "%s: %s", urls[i], e);
			return SD_PINVAL;
		}
		aws_endpoint_free(&ep);
	}
	if ((akid == NULL) != (secret == NULL)) {
		sdk_err(err, cap, "access_key_id and secret_access_key go together (or neither: the "
				  "environment's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
		return SD_PINVAL;
	}
	if (sdk_kv_get(kv, "session_token") != NULL && akid == NULL) {
		sdk_err(err, cap, "session_token needs access_key_id and secret_access_key");
		return SD_PINVAL;
	}
	if (akid != NULL && (!akid_ok(akid) || secret[0] == '\0')) {
		sdk_err(err, cap, "access_key_id must be 1-128 of [A-Za-z0-9] and secret_access_key "
				  "not empty");
		return SD_PINVAL;
	}
	if (prefix != NULL && (strlen(prefix) > 16 || !chars_ok(prefix, "_-"))) {
		sdk_err(err, cap, "username_prefix must be at most 16 of [a-z0-9_-]");
		return SD_PINVAL;
	}
	if (sdk_kv_get_duration(kv, "connect_timeout", 5, &t) != 0 || t < 1 || t > 600) {
		sdk_err(err, cap, "connect_timeout must be 1s..600s");
		return SD_PINVAL;
	}
	return SD_POK;
}

/* A setting that only some credential types take. */
static int
only_for(const struct sd_kv *role, const char *key, int allowed, const char *types, char *err,
	 size_t cap)
{
	if (sdk_kv_get(role, key) == NULL || allowed)
		return SD_POK;
	sdk_err(err, cap, "%s is only for credential_type %s", key, types);
	return SD_PINVAL;
}

static int
check_role(const struct sd_kv *role, char *err, size_t cap)
{
	enum cred_type ct = cred_type(role);
	const char *doc = sdk_kv_get(role, "policy_document");
	const char *path = sdk_kv_get(role, "user_path");
	const char *arn = sdk_kv_get(role, "role_arn");
	const char *pb = sdk_kv_get(role, "permissions_boundary_arn");
	const char *ext = sdk_kv_get(role, "external_id");
	int sts = ct == CT_ASSUMED_ROLE || ct == CT_FEDERATION;
	int64_t d;

	if (ct == CT_NONE) {
		sdk_err(err, cap, "credential_type must be iam_user, assumed_role or federation_token");
		return SD_PINVAL;
	}
	if (only_for(role, "user_path", ct == CT_IAM_USER, "iam_user", err, cap) != SD_POK ||
	    only_for(role, "permissions_boundary_arn", ct == CT_IAM_USER, "iam_user", err, cap) != SD_POK ||
	    only_for(role, "role_arn", ct == CT_ASSUMED_ROLE, "assumed_role", err, cap) != SD_POK ||
	    only_for(role, "external_id", ct == CT_ASSUMED_ROLE, "assumed_role", err, cap) != SD_POK ||
	    only_for(role, "max_session_duration", sts, "assumed_role and federation_token", err, cap) !=
		    SD_POK)
		return SD_PINVAL;
	if (check_arns("policy_arns", sdk_kv_get(role, "policy_arns"),
		       sts ? AWS_SESSION_ARNS_MAX : AWS_POLICY_ARNS_MAX, err, cap) != SD_POK)
		return SD_PINVAL;
	if (doc != NULL && (doc[strspn(doc, " \t")] != '{' || strlen(doc) > AWS_POLICY_MAX)) {
		sdk_err(err, cap, "policy_document must be a JSON object of at most %d bytes",
			AWS_POLICY_MAX);
		return SD_PINVAL;
	}
	if (pb != NULL && (strncmp(pb, "arn:", 4) != 0 || strlen(pb) > 2048)) {
		sdk_err(err, cap, "permissions_boundary_arn must be an ARN (arn:...)");
		return SD_PINVAL;
	}
	if (path != NULL) {
		size_t i, n = strlen(path);
		for (i = 0; i < n && path[i] > 0x20 && path[i] < 0x7f; i++)
			;
		if (n == 0 || n > 512 || i < n || path[0] != '/' || path[n - 1] != '/') {
			sdk_err(err, cap, "user_path must be /, or /like/this/ (at most 512 printable characters)");
			return SD_PINVAL;
		}
	}
	if (ct == CT_ASSUMED_ROLE && (arn == NULL || strncmp(arn, "arn:", 4) != 0 ||
				      strstr(arn, ":role/") == NULL || strlen(arn) > 2048)) {
		sdk_err(err, cap, "assumed_role needs role_arn = arn:aws:iam::ACCOUNT:role/NAME");
		return SD_PINVAL;
	}
	if (ext != NULL && (strlen(ext) < 2 || strlen(ext) > 1224)) {
		sdk_err(err, cap, "external_id must be 2-1224 characters");
		return SD_PINVAL;
	}
	if (sdk_kv_get_duration(role, "max_session_duration", AWS_STS_MAX_S, &d) != 0 ||
	    d < AWS_STS_MIN_S || d > AWS_STS_MAX_S) {
		sdk_err(err, cap, "max_session_duration must be 900s..12h");
		return SD_PINVAL;
	}
	if (ct == CT_FEDERATION && doc == NULL && sdk_kv_get(role, "policy_arns") == NULL) {
		sdk_err(err, cap, "federation_token needs policy_document or policy_arns: without a "
				  "session policy the federated user may do nothing");
		return SD_PINVAL;
	}
	return SD_POK;
}

static int
aws_check(const struct sd_kv *plugin, const struct sd_kv *role, char *err, size_t err_cap)
{
	if (role == NULL)
		return check_plugin(plugin, err, err_cap);
	return check_role(role, err, err_cap);
}

/* --- names ------------------------------------------------------------------------------ */

int
aws_name(const char *prefix, const struct sd_kv *role, const char *lease_id, size_t max, char *out,
	 size_t cap)
{
	const char *r = sdk_kv_get(role, "role");
	size_t llen = lease_id != NULL ? strlen(lease_id) : 0, plen = prefix ? strlen(prefix) : 0;
	size_t rlen = r != NULL ? strlen(r) : 0, room, i, n = 0;

	if (out == NULL || cap == 0 || max >= cap)
		return SD_PINVAL;
	out[0] = '\0';
	if (llen == 0 || llen > max || !chars_ok(lease_id, ""))
		return SD_PINVAL;
	room = max - llen; /* for "<prefix>-" and "<role>-" */
	if (plen > 0)
		plen = room >= 2 ? (plen < room - 1 ? plen : room - 1) : 0;
	if (plen > 0)
		room -= plen + 1;
	if (rlen > 0)
		rlen = room >= 2 ? (rlen < room - 1 ? rlen : room - 1) : 0;
	for (i = 0; i < plen; i++)
		out[n++] = prefix[i];
	if (plen > 0)
		out[n++] = '-';
	for (i = 0; i < rlen; i++) {
		char c = r[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[n++] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-') ? c
													: '_';
	}
	if (rlen > 0)
		out[n++] = '-';
	memcpy(out + n, lease_id, llen + 1);
	return SD_POK;
}

/* --- init, fini, health ------------------------------------------------------------------- */

static char *
dup_setting(const struct sd_kv *kv, const char *key, const char *env)
{
	const char *v = sdk_kv_get(kv, key);

	if (v == NULL && env != NULL)
		v = getenv(env);
	return v != NULL && v[0] != '\0' ? sdk_strdup(v) : NULL;
}

static int
loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost", 9) == 0 ||
	       strncmp(host, "[::1]", 5) == 0;
}

/* Set up one endpoint from its own URL, the shared one, or the default. */
static int
setup_endpoint(struct aws_state *s, struct aws_endpoint *ep, const char *own, const char *shared,
	       const char *def, const char *region, const char *service, const char *version,
	       char *err, size_t cap)
{
	const char *url = own != NULL ? own : shared != NULL ? shared : def;
	char e[160];

	if (aws_endpoint_parse(url, ep, e, sizeof(e)) != SD_POK) {
		sdk_err(err, cap, "aws_iam: %s endpoint: %s", service, e);
		return SD_PINVAL;
	}
	snprintf(ep->region, sizeof(ep->region), "%s", region);
	ep->service = service;
	ep->version = version;
	if (strncmp(ep->url, "http://", 7) == 0 && !loopback(ep->host))
		aws_log(s, SD_LOG_WARN,
			"%s endpoint %s is plain http: issued secret keys cross the network unencrypted",
			service, ep->url);
	return SD_POK;
}

static void
state_free(struct aws_state *s)
{
	if (s == NULL)
		return;
	aws_pool_close(s);
	aws_endpoint_free(&s->iam);
	aws_endpoint_free(&s->sts);
	sdk_str_free(s->akid);
	sdk_str_free(s->secret);
	sdk_str_free(s->token);
	pthread_mutex_destroy(&s->mu);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

static int
aws_init(const struct sd_host *host, const struct sd_kv *settings, void **state, char *err,
	 size_t err_cap)
{
	const char *region = sdk_kv_get(settings, "region");
	const char *endpoint = sdk_kv_get(settings, "endpoint");
	const char *iam_ep = sdk_kv_get(settings, "iam_endpoint");
	const char *iam_region = sdk_kv_get(settings, "iam_region");
	const char *prefix = sdk_kv_get(settings, "username_prefix");
	const char *iam_def = "https://iam.amazonaws.com/", *iam_def_region = "us-east-1";
	const char *suffix = "amazonaws.com";
	char sts_def[160];
	struct aws_state *s;
	int64_t t = 5;
	int rc;

	*state = NULL;
	if ((rc = check_plugin(settings, err, err_cap)) != SD_POK)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sdk_err(err, err_cap, "aws_iam: out of memory");
		return SD_PINTERNAL;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->host = host;
	if (region == NULL)
		region = "us-east-1";
	if (strncmp(region, "cn-", 3) == 0) {
		iam_def = "https://iam.cn-north-1.amazonaws.com.cn/";
		iam_def_region = "cn-north-1";
		suffix = "amazonaws.com.cn";
	} else if (strncmp(region, "us-gov-", 7) == 0) {
		iam_def = "https://iam.us-gov.amazonaws.com/";
		iam_def_region = "us-gov-west-1";
	}
	if (iam_region == NULL)
		iam_region = iam_ep != NULL || endpoint != NULL ? region : iam_def_region;
	snprintf(sts_def, sizeof(sts_def), "https://sts.%s.%s/", region, suffix);
	if ((rc = setup_endpoint(s, &s->iam, iam_ep, endpoint, iam_def, iam_region, "iam",
				 "2010-05-08", err, err_cap)) != SD_POK ||
	    (rc = setup_endpoint(s, &s->sts, sdk_kv_get(settings, "sts_endpoint"), endpoint, sts_def,
				 region, "sts", "2011-06-15", err, err_cap)) != SD_POK)
		goto fail;
	if (sdk_kv_get(settings, "access_key_id") != NULL) {
		s->akid = dup_setting(settings, "access_key_id", NULL);
		s->secret = dup_setting(settings, "secret_access_key", NULL);
		s->token = dup_setting(settings, "session_token", NULL);
	} else {
		s->akid = dup_setting(settings, NULL, "AWS_ACCESS_KEY_ID");
		s->secret = dup_setting(settings, NULL, "AWS_SECRET_ACCESS_KEY");
		s->token = dup_setting(settings, NULL, "AWS_SESSION_TOKEN");
	}
	if (s->akid == NULL || s->secret == NULL || !akid_ok(s->akid)) {
		sdk_err(err, err_cap, "aws_iam: no usable AWS credentials: set access_key_id and "
				      "secret_access_key, or AWS_ACCESS_KEY_ID ([A-Za-z0-9]) and "
				      "AWS_SECRET_ACCESS_KEY in the server's environment");
		rc = SD_PINVAL;
		goto fail;
	}
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix != NULL ? prefix : "sd");
	sdk_kv_get_duration(settings, "connect_timeout", 5, &t);
	s->connect_timeout_ms = t * 1000;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		sdk_err(err, err_cap, "aws_iam: libcurl cannot initialise");
		rc = SD_PINTERNAL;
		goto fail;
	}
	xmlInitParser();
	*state = s;
	return SD_POK;
fail:
	state_free(s);
	return rc;
}

static void
aws_fini(void *state)
{
	if (state == NULL)
		return;
	state_free(state);
	curl_global_cleanup();
	/* xmlCleanupParser() is process-wide: others may still use libxml2. */
}

static int
aws_health(void *state, struct sd_call *call)
{
	/* two tries: a lost packet does not flip /ready, a dead endpoint
	 * answers within a few hundred milliseconds */
	struct aws_op op = {.s = state, .call = call, .max_attempts = 2};
	xmlDoc *doc = NULL;
	int rc;

	rc = aws_call(&op, &op.s->sts, "GetCallerIdentity", NULL, &doc, NULL, 0);
	aws_doc_free(doc);
	return rc == SD_POK ? SD_POK : SD_PDOWN;
}

/* --- leases -------------------------------------------------------------------------------- */

static int
bad_type(struct sd_call *call)
{
	sdk_err(call->err, call->err_cap,
		"aws_iam: the role's credential_type must be iam_user, assumed_role or federation_token");
	return SD_PINVAL;
}

static int
aws_issue(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	  int64_t *expires_at_us, struct sd_kv **creds, char **handle)
{
	struct aws_op op = {.s = state, .call = call};

	*creds = NULL;
	*handle = NULL;
	switch (cred_type(role)) {
	case CT_IAM_USER:
		return iam_user_issue(&op, lease_id, role, creds, handle);
	case CT_ASSUMED_ROLE:
		return sts_issue(&op, 0, lease_id, role, expires_at_us, creds, handle);
	case CT_FEDERATION:
		return sts_issue(&op, 1, lease_id, role, expires_at_us, creds, handle);
	default:
		return bad_type(call);
	}
}

static int
aws_renew(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	  const char *handle, int64_t expires_at_us)
{
	struct aws_op op = {.s = state, .call = call};

	(void)expires_at_us;
	switch (cred_type(role)) {
	case CT_IAM_USER:
		return iam_user_renew(&op, lease_id, role, handle);
	case CT_ASSUMED_ROLE:
	case CT_FEDERATION:
		sdk_err(call->err, call->err_cap,
			"aws_iam: STS credentials cannot be extended; issue a new lease");
		return SD_PINVAL;
	default:
		return bad_type(call);
	}
}

static int
aws_revoke(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	   const char *handle)
{
	struct aws_op op = {.s = state, .call = call};

	switch (cred_type(role)) {
	case CT_IAM_USER:
		return iam_user_revoke(&op, lease_id, role, handle);
	case CT_ASSUMED_ROLE:
	case CT_FEDERATION:
		/* STS sessions cannot be ended early (the lease says _revocable =
		 * false); they lapse at their Expiration. Nothing to undo. */
		return SD_POK;
	default:
		return bad_type(call);
	}
}

/* --- the descriptor ---------------------------------------------------------------------------- */

static const struct sd_plugin aws_plugin = {
	.abi_major = SD_ABI_MAJOR,
	.abi_minor = SD_ABI_MINOR,
	.struct_size = sizeof(struct sd_plugin),
	.name = AWS_NAME,
	.version = "1.0.0",
	.kind = SD_KIND_LEASE,
	.plugin_settings = aws_plugin_settings,
	.role_settings = aws_role_settings,
	.check = aws_check,
	.init = aws_init,
	.fini = aws_fini,
	.health = aws_health,
	.issue = aws_issue,
	.renew = aws_renew,
	.revoke = aws_revoke,
	.rotate = NULL,
	.free_kv = sdk_kv_free,
	.free_str = sdk_str_free,
};

SD_PLUGIN_EXPORT const struct sd_plugin *secretsd_plugin_v1(void);

const struct sd_plugin *
secretsd_plugin_v1(void)
{
	return &aws_plugin;
}
