/* iam_user.c — credential_type = iam_user: one IAM user per lease.
 *
 * issue:  CreateUser (Path, PermissionsBoundary), AttachUserPolicy for each
 *         of policy_arns, PutUserPolicy "secretsd" with policy_document,
 *         CreateAccessKey. Any failure after CreateUser removes the user
 *         again before issue returns (within the call's deadline; what is
 *         left after that, the host's reaper revokes by lease id).
 * renew:  GetUser: the user must still exist (IAM users have no expiry of
 *         their own; the host revokes at the lease's).
 * revoke: DeleteAccessKey for each of ListAccessKeys, DeleteUserPolicy for
 *         each of ListUserPolicies, DetachUserPolicy for each of
 *         ListAttachedUserPolicies, DeleteUser. Every step is idempotent: a
 *         user or item that is already gone (NoSuchEntity) is success.
 */
#include "aws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PURGE_ROUNDS 5    /* list-and-delete rounds of one kind (100 items each) */
#define PURGE_ITEMS 100   /* MaxItems of one list call */

/* The user of a lease: the handle, or the name recomputed from the lease id
 * (revoke after a crash). */
static int
user_name(struct aws_op *op, const char *lease_id, const struct sd_kv *role, const char *handle,
	  char *out, size_t cap)
{
	if (handle != NULL && handle[0] != '\0') {
		size_t n = strlen(handle);
		if (n > AWS_USER_MAX || n >= cap || strspn(handle, "abcdefghijklmnopqrstuvwxyz"
								   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
								   "0123456789_+=,.@-") != n) {
			sdk_err(op->call->err, op->call->err_cap, "aws_iam: bad handle");
			return SD_PINVAL;
		}
		memcpy(out, handle, n + 1);
		return SD_POK;
	}
	if (aws_name(op->s->prefix, role, lease_id, AWS_USER_MAX, out, cap) != SD_POK) {
		sdk_err(op->call->err, op->call->err_cap, "aws_iam: bad lease id");
		return SD_PINVAL;
	}
	return SD_POK;
}

/* One call whose response is not needed. */
static int
call0(struct aws_op *op, const char *action, const struct sd_kv *params, char *code, size_t cap)
{
	xmlDoc *doc = NULL;
	int rc = aws_call(op, &op->s->iam, action, params, &doc, code, cap);

	aws_doc_free(doc);
	return rc;
}

/* --- revoke ------------------------------------------------------------------------------- */

struct items {
	char *v[PURGE_ITEMS];
	size_t n;
};

static int
collect(void *arg, const char *text)
{
	struct items *it = arg;

	if (it->n == PURGE_ITEMS)
		return 0; /* the rest next round */
	if ((it->v[it->n] = sdk_strdup(text)) == NULL)
		return -1;
	it->n++;
	return 0;
}

static void
items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++)
		sdk_str_free(it->v[i]);
	it->n = 0;
}

/* List what the user has of one kind and delete it, until nothing is left.
 * SD_PNOTFOUND when the user does not exist. */
static int
purge(struct aws_op *op, const char *user, const char *list, const char *parent, const char *elem,
      const char *del, const char *param)
{
	const struct sd_kv lp[] = {{"UserName", user}, {"MaxItems", "100"}, {NULL, NULL}};
	struct items it = {.n = 0};
	char more[16];
	int rc = SD_POK, round;

	for (round = 0; round < PURGE_ROUNDS; round++) {
		xmlDoc *doc = NULL;
		size_t i;
		if ((rc = aws_call(op, &op->s->iam, list, lp, &doc, NULL, 0)) != SD_POK)
			return rc;
		if (aws_xml_each(doc, parent, elem, collect, &it) == -1) {
			aws_doc_free(doc);
			items_free(&it);
			sdk_err(op->call->err, op->call->err_cap, "aws_iam: %s: out of memory", list);
			return SD_PINTERNAL;
		}
		if (aws_xml_text(doc, "IsTruncated", more, sizeof(more)) != 0)
			more[0] = '\0';
		aws_doc_free(doc);
		for (i = 0; i < it.n && rc == SD_POK; i++) {
			const struct sd_kv dp[] = {{"UserName", user}, {param, it.v[i]}, {NULL, NULL}};
			rc = call0(op, del, dp, NULL, 0);
			if (rc == SD_PNOTFOUND)
				rc = SD_POK; /* gone meanwhile */
		}
		items_free(&it);
		if (rc != SD_POK || strcmp(more, "true") != 0)
			return rc; /* a failure, or the last page is done */
	}
	sdk_err(op->call->err, op->call->err_cap, "aws_iam: %s: still not empty after %d rounds", list,
		PURGE_ROUNDS);
	return SD_PDOWN;
}

/* Remove the user and everything it holds. A missing user is SD_POK. */
static int
user_delete(struct aws_op *op, const char *user)
{
	const struct sd_kv up[] = {{"UserName", user}, {NULL, NULL}};
	int rc;

	rc = purge(op, user, "ListAccessKeys", NULL, "AccessKeyId", "DeleteAccessKey", "AccessKeyId");
	if (rc == SD_POK)
		rc = purge(op, user, "ListUserPolicies", "PolicyNames", "member", "DeleteUserPolicy",
			   "PolicyName");
	if (rc == SD_POK)
		rc = purge(op, user, "ListAttachedUserPolicies", NULL, "PolicyArn", "DetachUserPolicy",
			   "PolicyArn");
	if (rc == SD_POK)
		rc = call0(op, "DeleteUser", up, NULL, 0);
	if (rc == SD_PNOTFOUND) {
		op->call->err[0] = '\0';
		rc = SD_POK; /* already gone: revoked */
	}
	return rc;
}

int
iam_user_revoke(struct aws_op *op, const char *lease_id, const struct sd_kv *role, const char *handle)
{
	char name[AWS_USER_MAX + 1];
	int rc;

	if ((rc = user_name(op, lease_id, role, handle, name, sizeof(name))) != SD_POK)
		return rc;
	return user_delete(op, name);
}

int
iam_user_renew(struct aws_op *op, const char *lease_id, const struct sd_kv *role, const char *handle)
{
	char name[AWS_USER_MAX + 1];
	int rc;

	if ((rc = user_name(op, lease_id, role, handle, name, sizeof(name))) != SD_POK)
		return rc;
	{
		const struct sd_kv up[] = {{"UserName", name}, {NULL, NULL}};
		rc = call0(op, "GetUser", up, NULL, 0);
	}
	if (rc == SD_PNOTFOUND) {
		sdk_err(op->call->err, op->call->err_cap,
			"aws_iam: user %s no longer exists: the lease cannot be extended", name);
		rc = SD_PINVAL;
	}
	return rc;
}

/* --- issue --------------------------------------------------------------------------------- */

/* Attach every ARN of policy_arns. */
static int
attach_all(struct aws_op *op, const char *user, const char *arns)
{
	char arn[AWS_TEXT_MAX];
	size_t pos = 0;
	int r, rc = SD_POK;

	while (rc == SD_POK && (r = aws_list_next(arns, &pos, arn, sizeof(arn))) != 0) {
		const struct sd_kv p[] = {{"UserName", user}, {"PolicyArn", arn}, {NULL, NULL}};
		if (r < 0) {
			sdk_err(op->call->err, op->call->err_cap, "aws_iam: policy_arns: malformed list");
			return SD_PINVAL;
		}
		rc = call0(op, "AttachUserPolicy", p, NULL, 0);
	}
	return rc;
}

/* CreateAccessKey; the key id and secret into the buffers. */
static int
create_key(struct aws_op *op, const char *user, char *akid, size_t akid_cap, char *secret,
	   size_t secret_cap)
{
	const struct sd_kv p[] = {{"UserName", user}, {NULL, NULL}};
	xmlDoc *doc = NULL;
	int rc = aws_call(op, &op->s->iam, "CreateAccessKey", p, &doc, NULL, 0);

	if (rc != SD_POK)
		return rc;
	if (aws_xml_text(doc, "AccessKeyId", akid, akid_cap) != 0 ||
	    aws_xml_text(doc, "SecretAccessKey", secret, secret_cap) != 0 || akid[0] == '\0' ||
	    secret[0] == '\0') {
		sdk_err(op->call->err, op->call->err_cap,
			"aws_iam: CreateAccessKey: no AccessKeyId or SecretAccessKey in the response");
		rc = SD_PDOWN;
	}
	aws_doc_free(doc);
	return rc;
}

int
iam_user_issue(struct aws_op *op, const char *lease_id, const struct sd_kv *role,
	       struct sd_kv **creds, char **handle)
{
	const char *path = sdk_kv_get(role, "user_path");
	const char *boundary = sdk_kv_get(role, "permissions_boundary_arn");
	const char *arns = sdk_kv_get(role, "policy_arns");
	const char *doc = sdk_kv_get(role, "policy_document");
	char name[AWS_USER_MAX + 1], code[64], akid[129] = "", secret[256] = "";
	struct sd_kv cp[4], *kv = NULL;
	int rc, created = 0;
	size_t n = 0;

	if ((rc = user_name(op, lease_id, role, NULL, name, sizeof(name))) != SD_POK)
		return rc;
	cp[n++] = (struct sd_kv){"UserName", name};
	if (path != NULL)
		cp[n++] = (struct sd_kv){"Path", path};
	if (boundary != NULL)
		cp[n++] = (struct sd_kv){"PermissionsBoundary", boundary};
	cp[n] = (struct sd_kv){NULL, NULL};
	rc = call0(op, "CreateUser", cp, code, sizeof(code));
	if (rc != SD_POK && strcmp(code, "EntityAlreadyExists") == 0) {
		/* The name carries this lease's fresh random id: only an earlier
		 * try of this very request (whose answer was lost) made it. */
		op->call->err[0] = '\0';
		rc = SD_POK;
	}
	if (rc != SD_POK)
		goto out;
	created = 1;
	if (arns != NULL && (rc = attach_all(op, name, arns)) != SD_POK)
		goto out;
	if (doc != NULL) {
		const struct sd_kv pp[] = {{"UserName", name},
					   {"PolicyName", AWS_INLINE_POLICY},
					   {"PolicyDocument", doc},
					   {NULL, NULL}};
		if ((rc = call0(op, "PutUserPolicy", pp, NULL, 0)) != SD_POK)
			goto out;
	}
	if ((rc = create_key(op, name, akid, sizeof(akid), secret, sizeof(secret))) != SD_POK)
		goto out;
	op->redact = secret;
	kv = sdk_kv_new(3);
	*handle = sdk_strdup(name);
	if (kv == NULL || *handle == NULL || sdk_kv_set(kv, 0, "access_key", akid) != 0 ||
	    sdk_kv_set(kv, 1, "secret_key", secret) != 0 || sdk_kv_set(kv, 2, "username", name) != 0) {
		sdk_err(op->call->err, op->call->err_cap, "aws_iam: out of memory");
		rc = SD_PINTERNAL;
		goto out;
	}
	*creds = kv;
	kv = NULL;
out:
	if (rc == SD_PNOTFOUND)
		rc = SD_PINVAL; /* e.g. a policy or boundary ARN that does not exist */
	if (rc != SD_POK && created) {
		char save[256];
		int crc;
		snprintf(save, sizeof(save), "%s", op->call->err);
		crc = user_delete(op, name);
		if (crc != SD_POK)
			aws_log(op->s, SD_LOG_WARN,
				"issue failed and user %s is not removed yet (%s); the host revokes the "
				"lease, which removes it",
				name, op->call->err);
		snprintf(op->call->err, op->call->err_cap, "%s", save);
	}
	if (rc != SD_POK) {
		sdk_str_free(*handle);
		*handle = NULL;
	}
	sdk_kv_free(kv);
	explicit_bzero(secret, sizeof(secret));
	op->redact = NULL;
	return rc;
}
