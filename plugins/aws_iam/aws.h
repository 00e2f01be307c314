/* aws.h — what the files of the aws_iam plugin share (never installed).
 *
 *   aws_iam.c    settings, check, init/fini, health, the descriptor, and
 *                issue/renew/revoke dispatched on the role's credential_type
 *   aws_query.c  the AWS Query API over libcurl: form body, SigV4, retries
 *                with jittered backoff inside the call's deadline, error
 *                codes, XML (libxml2)
 *   iam_user.c   credential_type = iam_user: a user with an access key
 *   sts.c        credential_type = assumed_role / federation_token
 *
 * Everything here has hidden visibility (the plugin is built with
 * -fvisibility=hidden): only secretsd_plugin_v1 is exported.
 */
#ifndef AWS_IAM_AWS_H
#define AWS_IAM_AWS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <libxml/tree.h>

#include <secretsd/plugin.h>
#include <secretsd/sdk.h>

#define AWS_NAME "aws_iam"
#define AWS_POOL_MAX 16                 /* idle curl handles kept */
#define AWS_RESPONSE_MAX (1024 * 1024)  /* bytes of one response body */
#define AWS_BODY_MAX (64 * 1024)        /* bytes of one request body */
#define AWS_PARAMS_MAX 32               /* parameters of one request */
#define AWS_TEXT_MAX 4096               /* bytes of one XML text read (an ARN, a name) */
#define AWS_ATTEMPTS_MAX 5              /* tries of one request (throttling, 5xx, network) */
#define AWS_BACKOFF_BASE_MS 100
#define AWS_BACKOFF_CAP_MS 2000
#define AWS_USER_MAX 64                 /* IAM user names, STS RoleSessionName */
#define AWS_FEDERATION_MAX 32           /* GetFederationToken Name */
#define AWS_POLICY_ARNS_MAX 20          /* managed policies per user (AWS's hard quota) */
#define AWS_SESSION_ARNS_MAX 10         /* session policy ARNs per STS call */
#define AWS_POLICY_MAX 10240            /* bytes of a policy_document */
#define AWS_STS_MIN_S 900
#define AWS_STS_MAX_S 43200
#define AWS_INLINE_POLICY "secretsd"    /* PolicyName of the inline user policy */

/* One AWS service endpoint. */
struct aws_endpoint {
	char *url;          /* where to POST: "https://iam.amazonaws.com/" */
	char *host;         /* the Host header: the URL's authority */
	char *path;         /* the URL's path, "/" at least */
	char region[64];    /* signing region */
	const char *service; /* signing name: "iam" or "sts" */
	const char *version; /* API version: "2010-05-08" or "2011-06-15" */
};

struct aws_state {
	const struct sd_host *host;
	struct aws_endpoint iam, sts;
	char *akid;   /* root credentials, from the settings or the environment */
	char *secret; /* wiped in fini */
	char *token;  /* NULL when none; wiped in fini */
	char prefix[17];
	int64_t connect_timeout_ms;

	pthread_mutex_t mu; /* guards idle, nidle */
	CURL *idle[AWS_POOL_MAX];
	int nidle;
};

/* One plugin call. redact (optional) is one more string kept out of err:
 * a secret this call received from AWS. max_attempts lowers the tries of
 * each request (health answers quickly rather than patiently). */
struct aws_op {
	struct aws_state *s;
	struct sd_call *call;
	const char *redact;
	int max_attempts; /* 0: AWS_ATTEMPTS_MAX */
};

/* --- aws_query.c ------------------------------------------------------------------ */

/* Parse an endpoint URL (http or https, no user info, query or fragment)
 * into ep (url, host, path; the caller sets region, service, version).
 * Returns SD_POK or SD_PINVAL with a reason in err. Free with
 * aws_endpoint_free. */
int aws_endpoint_parse(const char *url, struct aws_endpoint *ep, char *err, size_t cap);
void aws_endpoint_free(struct aws_endpoint *ep);

/* Call action on ep with params (NULL-terminated; NULL for none) as a
 * signed POST of application/x-www-form-urlencoded. Throttling
 * (Throttling, RequestLimitExceeded, ... or HTTP 429), 5xx and network
 * failures are retried with jittered exponential backoff, at most
 * AWS_ATTEMPTS_MAX tries and never past the call's deadline.
 *   SD_POK       *doc is the parsed response: free with aws_doc_free.
 *   otherwise    call->err names the action and the AWS error code (never a
 *                secret), code (when not NULL) holds the AWS error code or
 *                "". SD_PNOTFOUND for NoSuchEntity; SD_PDENIED for
 *                authentication and authorisation errors; SD_PINVAL for
 *                the rest of the 4xx; SD_PDOWN when AWS cannot be reached
 *                or keeps failing; SD_PTIMEOUT when the deadline passed
 *                before any answer. */
int aws_call(struct aws_op *op, const struct aws_endpoint *ep, const char *action,
	     const struct sd_kv *params, xmlDoc **doc, char *code, size_t code_cap);

/* Wipe every text node (responses carry secret keys), then free. NULL ok. */
void aws_doc_free(xmlDoc *doc);

/* The text of the first element named name (namespaces ignored), copied
 * into out. 0, -1 when there is none, -2 when it does not fit. */
int aws_xml_text(xmlDoc *doc, const char *name, char *out, size_t cap);

/* Call fn with the text of every element named name whose parent is named
 * parent (NULL: any parent), in document order. Stops at the first non-zero
 * return of fn and returns it; a text longer than AWS_TEXT_MAX is skipped
 * with -2 returned at the end. */
int aws_xml_each(xmlDoc *doc, const char *parent, const char *name,
		 int (*fn)(void *arg, const char *text), void *arg);

/* Shut the curl handle pool (fini). */
void aws_pool_close(struct aws_state *s);

/* Log one line through the host. */
void aws_log(const struct aws_state *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- names -------------------------------------------------------------------------- */

/* "<prefix>-<role>-<lease_id>" in at most max characters (max < cap): the
 * lease id is kept whole, then the prefix and the role are cut to fit. A
 * pure function of its arguments, so revoke with handle NULL finds what
 * issue made. Returns SD_POK, or SD_PINVAL (bad lease id, no room). */
int aws_name(const char *prefix, const struct sd_kv *role, const char *lease_id, size_t max,
	     char *out, size_t cap);

/* Next item of a comma-separated list (policy_arns), trimmed, into out:
 * 1 with an item, 0 at the end, -1 for an empty item or one that does not
 * fit. *pos starts at 0. */
int aws_list_next(const char *list, size_t *pos, char *out, size_t cap);

/* --- iam_user.c ------------------------------------------------------------------------ */

int iam_user_issue(struct aws_op *op, const char *lease_id, const struct sd_kv *role,
		   struct sd_kv **creds, char **handle);
int iam_user_renew(struct aws_op *op, const char *lease_id, const struct sd_kv *role,
		   const char *handle);
int iam_user_revoke(struct aws_op *op, const char *lease_id, const struct sd_kv *role,
		    const char *handle);

/* --- sts.c ------------------------------------------------------------------------------ */

/* federation: 0 for AssumeRole, 1 for GetFederationToken. */
int sts_issue(struct aws_op *op, int federation, const char *lease_id, const struct sd_kv *role,
	      int64_t *expires_at_us, struct sd_kv **creds, char **handle);

/* The DurationSeconds for a lease until expires_at_us: the time left
 * rounded up, clamped to AWS_STS_MIN_S..min(AWS_STS_MAX_S, max_s). */
int64_t sts_duration(int64_t now_us, int64_t expires_at_us, int64_t max_s);

/* Parse an ISO 8601 UTC time as STS writes it ("2026-11-29T12:00:00Z",
 * with optional fractional seconds or a +hh:mm offset) into microseconds
 * since the epoch. Returns 0 or -1. */
int sts_parse_time(const char *s, int64_t *us);

#endif
