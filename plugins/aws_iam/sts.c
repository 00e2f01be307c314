/* sts.c — credential_type = assumed_role (STS AssumeRole) and
 * federation_token (STS GetFederationToken).
 *
 * DurationSeconds is the lease's time left, rounded up and clamped to
 * 900 s .. min(12 h, max_session_duration); the session's own Expiration
 * is written back to the host (*expires_at_us). STS sessions cannot be
 * ended early: the credentials carry "_revocable" = "false", revoke has
 * nothing to undo and renew cannot extend (SD_PINVAL). Session names are
 * "<prefix>-<role>-<lease_id>" (64 characters for AssumeRole, 32 for
 * GetFederationToken), so CloudTrail shows which lease used a session.
 */
#include "aws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
sts_duration(int64_t now_us, int64_t expires_at_us, int64_t max_s)
{
	int64_t left = expires_at_us - now_us, s;

	s = left <= 0 ? 0 : (left + 999999) / 1000000;
	if (max_s > AWS_STS_MAX_S || max_s < AWS_STS_MIN_S)
		max_s = AWS_STS_MAX_S;
	if (s > max_s)
		s = max_s;
	if (s < AWS_STS_MIN_S)
		s = AWS_STS_MIN_S;
	return s;
}

/* n digits at s into *v. */
static int
digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int
sts_parse_time(const char *s, int64_t *us)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, scale = 100000;
	time_t t;

	if (s == NULL || strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	s += 19;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			frac += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		if (digits(s + 1, 2, &oh) || s[3] != ':' || digits(s + 4, 2, &om))
			return -1;
		s += 6;
	} else {
		return -1;
	}
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    oh > 23 || om > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*us = ((int64_t)t - sign * (oh * 3600 + om * 60)) * 1000000 + frac;
	return 0;
}

int
sts_issue(struct aws_op *op, int federation, const char *lease_id, const struct sd_kv *role,
	  int64_t *expires_at_us, struct sd_kv **creds, char **handle)
{
	const char *policy = sdk_kv_get(role, "policy_document");
	const char *arns = sdk_kv_get(role, "policy_arns");
	const char *ext = sdk_kv_get(role, "external_id");
	const char *action = federation ? "GetFederationToken" : "AssumeRole";
	char name[AWS_USER_MAX + 1], dur[24], keys[AWS_SESSION_ARNS_MAX][40];
	char arn_buf[AWS_SESSION_ARNS_MAX][AWS_TEXT_MAX];
	char akid[129] = "", secret[256] = "", exp[64] = "", *token = NULL;
	struct sd_kv p[8 + AWS_SESSION_ARNS_MAX], *kv = NULL;
	int64_t max_s = AWS_STS_MAX_S, exp_us = 0;
	xmlDoc *doc = NULL;
	size_t n = 0, pos = 0, i = 0;
	int rc, r;

	*handle = NULL;
	if (aws_name(op->s->prefix, role, lease_id, federation ? AWS_FEDERATION_MAX : AWS_USER_MAX,
		     name, sizeof(name)) != SD_POK) {
		sdk_err(op->call->err, op->call->err_cap, "aws_iam: bad lease id");
		return SD_PINVAL;
	}
	sdk_kv_get_duration(role, "max_session_duration", AWS_STS_MAX_S, &max_s);
	snprintf(dur, sizeof(dur), "%lld",
		 (long long)sts_duration(op->s->host->now_us(), *expires_at_us, max_s));
	if (federation) {
		p[n++] = (struct sd_kv){"Name", name};
	} else {
		p[n++] = (struct sd_kv){"RoleArn", sdk_kv_get(role, "role_arn")};
		p[n++] = (struct sd_kv){"RoleSessionName", name};
		if (ext != NULL)
			p[n++] = (struct sd_kv){"ExternalId", ext};
	}
	p[n++] = (struct sd_kv){"DurationSeconds", dur};
	if (policy != NULL)
		p[n++] = (struct sd_kv){"Policy", policy};
	while (arns != NULL && arns[pos] != '\0') {
		if (i == AWS_SESSION_ARNS_MAX ||
		    (r = aws_list_next(arns, &pos, arn_buf[i], sizeof(arn_buf[i]))) < 0) {
			sdk_err(op->call->err, op->call->err_cap,
				"aws_iam: policy_arns: at most %d ARNs of at most %d bytes for STS",
				AWS_SESSION_ARNS_MAX, AWS_TEXT_MAX - 1);
			return SD_PINVAL;
		}
		if (r == 0)
			break;
		snprintf(keys[i], sizeof(keys[i]), "PolicyArns.member.%zu.arn", i + 1);
		p[n++] = (struct sd_kv){keys[i], arn_buf[i]};
		i++;
	}
	if (!federation && p[0].value == NULL) {
		sdk_err(op->call->err, op->call->err_cap, "aws_iam: assumed_role needs role_arn");
		return SD_PINVAL;
	}
	p[n] = (struct sd_kv){NULL, NULL};

	rc = aws_call(op, &op->s->sts, action, p, &doc, NULL, 0);
	if (rc == SD_PNOTFOUND)
		rc = SD_PINVAL;
	if (rc != SD_POK)
		goto out;
	if ((token = malloc(AWS_TEXT_MAX * 4)) == NULL) {
		sdk_err(op->call->err, op->call->err_cap, "aws_iam: out of memory");
		rc = SD_PINTERNAL;
		goto out;
	}
	if (aws_xml_text(doc, "AccessKeyId", akid, sizeof(akid)) != 0 ||
	    aws_xml_text(doc, "SecretAccessKey", secret, sizeof(secret)) != 0 ||
	    aws_xml_text(doc, "SessionToken", token, AWS_TEXT_MAX * 4) != 0 ||
	    aws_xml_text(doc, "Expiration", exp, sizeof(exp)) != 0 || akid[0] == '\0' ||
	    secret[0] == '\0' || token[0] == '\0') {
		sdk_err(op->call->err, op->call->err_cap,
			"aws_iam: %s: the response lacks a credential field", action);
		rc = SD_PDOWN;
		goto out;
	}
	op->redact = secret;
	if (sts_parse_time(exp, &exp_us) != 0 || exp_us <= op->s->host->now_us()) {
		sdk_err(op->call->err, op->call->err_cap, "aws_iam: %s: Expiration '%.40s' is unusable",
			action, exp);
		rc = SD_PDOWN;
		goto out;
	}
	kv = sdk_kv_new(4);
	if (kv == NULL || sdk_kv_set(kv, 0, "access_key", akid) != 0 ||
	    sdk_kv_set(kv, 1, "secret_key", secret) != 0 ||
	    sdk_kv_set(kv, 2, "session_token", token) != 0 ||
	    sdk_kv_set(kv, 3, "_revocable", "false") != 0) {
		sdk_err(op->call->err, op->call->err_cap, "aws_iam: out of memory");
		rc = SD_PINTERNAL;
		goto out;
	}
	*expires_at_us = exp_us; /* STS fixes the expiry, not the host */
	*creds = kv;
	kv = NULL;
out:
	aws_doc_free(doc);
	sdk_kv_free(kv);
	explicit_bzero(secret, sizeof(secret));
	if (token != NULL) {
		explicit_bzero(token, AWS_TEXT_MAX * 4);
		free(token);
	}
	op->redact = NULL;
	return rc;
}
