/* secretsd/sigv4.h — AWS Signature Version 4 for plugins (libsecretsd_sdk.a).
 *
 * Signs one HTTP request with the "AWS4-HMAC-SHA256" algorithm in the
 * Authorization header: canonical request, string to sign, signing key
 * (HMAC-SHA256 chain over date, region, service) and signature, as
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html
 * describes. Checked against the aws-c-auth signing test suite
 * (sdk/tests/test_sigv4.c, the header- variants).
 *
 * The caller sends exactly the headers it passed in, plus the ones the
 * signer returns in out->add (X-Amz-Date, X-Amz-Security-Token when the
 * credentials carry a session token, x-amz-content-sha256 when sign_body,
 * Authorization), with the same values. Whatever else the HTTP library
 * adds (Accept, Content-Length, User-Agent) is simply not signed.
 *
 * Uses OpenSSL's libcrypto (HMAC, SHA-256): a plugin that calls these
 * functions links -lcrypto (plugin.mk: NAME_PKGS += libcrypto).
 *
 * Secrets: the secret access key and every derived key are wiped before
 * the functions return; the session token appears in the canonical request
 * and in out->add (it is a header AWS requires), so sdk_sigv4_free wipes
 * those. Nothing here logs.
 */
#ifndef SECRETSD_SIGV4_H
#define SECRETSD_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include <secretsd/sdk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hard caps: a request beyond them is refused (-1), never truncated. */
#define SDK_SIGV4_HEADERS_MAX 64          /* headers passed in */
#define SDK_SIGV4_PARAMS_MAX 256          /* query parameters */
#define SDK_SIGV4_TEXT_MAX (64 * 1024)    /* bytes of the canonical request */

/* Root credentials. session_token NULL or "" when there is none. The
 * strings stay the caller's. */
struct sdk_aws_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
};

/* What to sign. Every pointer stays the caller's.
 *   method   "GET", "POST", ... (used as given: pass it upper case).
 *   path     the request path as bytes, NOT percent-encoded ("/", "/a b/");
 *            the signer encodes it once (RFC 3986 unreserved characters
 *            and '/' are kept). NULL or "" is "/".
 *   query    the raw query string without '?', or NULL. Keys and values
 *            are percent-decoded (a bad escape is an error) and encoded
 *            again, then sorted; "a" and "a=" both sign as "a=".
 *   headers  NULL-terminated; names in any case, a name may repeat (the
 *            values are joined with ',' in the given order); values are
 *            trimmed and runs of blanks (folded lines too) become one
 *            space. Must contain Host. Must not contain X-Amz-Date or
 *            Authorization (the signer adds them), nor
 *            X-Amz-Security-Token / x-amz-content-sha256 when the signer
 *            adds those.
 *   body     the payload (NULL with body_len 0 for none); hashed with
 *            SHA-256 for the canonical request. */
struct sdk_sigv4_request {
	const char *method;
	const char *path;
	const char *query;
	const struct sd_kv *headers;
	const void *body;
	size_t body_len;
};

/* How to sign.
 *   region, service    the credential scope ("us-east-1", "iam").
 *   time_s             the signing time, seconds since the epoch (UTC).
 *   normalize_path     1 for every service but S3: remove "." and ".."
 *                      segments and empty segments ("//") from the path.
 *   sign_body          1: add x-amz-content-sha256 (the payload hash) as
 *                      a signed header (S3 and some others need it).
 *   omit_session_token 1: X-Amz-Security-Token is added to the request
 *                      after signing instead of being signed (a few
 *                      services want it so); 0 for IAM, STS and KMS. */
struct sdk_sigv4_params {
	const char *region;
	const char *service;
	int64_t time_s;
	int normalize_path;
	int sign_body;
	int omit_session_token;
};

/* The result. Every member is filled on success; sdk_sigv4_free releases
 * (and wipes) them. The strings in add point into this struct. */
struct sdk_sigv4 {
	char amz_date[17];          /* "20150830T123600Z" */
	char payload_hash[65];      /* hex SHA-256 of the body */
	char signature[65];         /* hex */
	char *canonical_request;    /* malloc'd, may hold the session token */
	char *string_to_sign;       /* malloc'd */
	char *signed_headers;       /* malloc'd, "host;x-amz-date" */
	char *authorization;        /* malloc'd, the Authorization header's value */
	/* Headers to add to the request, in this order, NULL-terminated:
	 * X-Amz-Date, [X-Amz-Security-Token], [x-amz-content-sha256],
	 * Authorization. */
	struct sd_kv add[5];
	char *token_copy;           /* internal: the session token for add[] */
};

/* Sign req with creds under p into *out (which need not be initialised).
 * Returns 0, or -1 with a reason in err (never a secret): a missing or
 * malformed argument, a refused header, a bad percent escape in the query,
 * a cap exceeded, a libcrypto failure. On -1, *out holds nothing to free
 * (calling sdk_sigv4_free on it is still fine). */
SDK_API int sdk_sigv4_sign(const struct sdk_aws_creds *creds, const struct sdk_sigv4_params *p,
			   const struct sdk_sigv4_request *req, struct sdk_sigv4 *out, char *err,
			   size_t cap);

/* Wipe and free what sdk_sigv4_sign put into out. NULL is fine. */
SDK_API void sdk_sigv4_free(struct sdk_sigv4 *out);

/* The SigV4 signing key for (secret, date "YYYYMMDD", region, service) into
 * key[32]. Exposed for tests and for presigned URLs. Returns 0 or -1. The
 * caller wipes key. */
SDK_API int sdk_sigv4_signing_key(const char *secret_access_key, const char *date,
				  const char *region, const char *service, unsigned char key[32]);

/* Percent-encode s as SigV4 (and the AWS Query API's form bodies) want:
 * A-Z a-z 0-9 - . _ ~ stay, every other byte becomes %XX (upper-case hex);
 * with keep_slash, '/' stays too. Returns a malloc'd string (free() or
 * sdk_str_free()), NULL when s is NULL, longer than SDK_SIGV4_TEXT_MAX or
 * out of memory. */
SDK_API char *sdk_aws_uri_encode(const char *s, int keep_slash);

#ifdef __cplusplus
}
#endif

#endif
