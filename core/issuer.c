/* issuer.c — the dev token issuer (a stand-in for the Access service).
 *
 * DATA_DIR/issuer.key  EC P-256 private key, PEM PKCS#8, mode 0600, created
 *                      once and never overwritten
 * DATA_DIR/jwks.json   its public JWK (kid = RFC 7638 thumbprint), 0644
 *
 * Files are written to a temporary name, synced, then moved into place, so a
 * crash never leaves a half-written key. */
#include <stddef.h> /* issuer.h uses size_t without including it */

#include "issuer.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "b64.h"
#include "jwk.h"
#include "log.h"
#include "scope.h"
#include "util.h"

#define KEY_NAME "issuer.key"
#define JWKS_NAME "jwks.json"
#define KEY_FILE_MAX 16384
#define TTL_MAX_S (INT64_C(10) * 366 * 86400)

static int path_in(const char *dir, const char *name, char *out, size_t n)
{
	int len;

	if (dir == NULL || dir[0] == '\0')
		return -1;
	len = snprintf(out, n, "%s/%s", dir, name);
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

int issuer_jwks_path(const char *data_dir, char *out, size_t n)
{
	return path_in(data_dir, JWKS_NAME, out, n);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Write data to DIR/name atomically with exactly mode. no_clobber: never
 * replace an existing file (returns 1 when one exists). */
static int write_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
		      int no_clobber, struct sd_err *err)
{
	char final[PATH_MAX], tmp[PATH_MAX], rnd[17], tname[64];
	int fd = -1, rc = SD_EINTERNAL, tmp_made = 0;
	size_t off = 0;

	if (sd_random_hex(rnd, 8) != 0 || snprintf(tname, sizeof(tname), ".%s.tmp-%s", name, rnd) < 0 ||
	    path_in(dir, name, final, sizeof(final)) != 0 || path_in(dir, tname, tmp, sizeof(tmp)) != 0) {
		rc = sd_err_set(err, SD_EINVAL, "data directory path is too long");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		sd_err_set(err, SD_EINTERNAL, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	tmp_made = 1;
	if (fchmod(fd, mode) != 0)
		goto io_error;
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto io_error;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto io_error;
	if (close(fd) != 0) {
		fd = -1;
		goto io_error;
	}
	fd = -1;
	if (no_clobber) {
		/* link() fails with EEXIST instead of replacing: a racing
		 * issuer_init keeps the key it made */
		if (link(tmp, final) == 0) {
			rc = 0;
		} else if (errno == EEXIST) {
			rc = 1;
		} else if (rename(tmp, final) == 0) { /* no hard links here */
			tmp_made = 0;
			rc = 0;
		} else {
			goto io_error;
		}
	} else {
		if (rename(tmp, final) != 0)
			goto io_error;
		tmp_made = 0;
		rc = 0;
	}
	fsync_dir(dir);
	goto out;
io_error:
	rc = sd_err_set(err, SD_EINTERNAL, "cannot write %s: %s", final, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	return rc;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* Load DATA_DIR/issuer.key; it must be an EC P-256 private key. */
static int load_key(const char *dir, EVP_PKEY **out, struct sd_err *err)
{
	char path[PATH_MAX];
	unsigned char *buf = NULL, x[32], y[32];
	size_t got = 0;
	struct stat st;
	BIO *bio = NULL;
	int fd = -1, rc = SD_EINTERNAL;

	*out = NULL;
	if (path_in(dir, KEY_NAME, path, sizeof(path)) != 0) {
		rc = sd_err_set(err, SD_EINVAL, "data directory path is too long");
		goto out;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = sd_err_set(err, errno == ENOENT ? SD_ENOTFOUND : SD_EINTERNAL,
				"cannot open %s: %s (run `secretsd dev` once to create it)", path,
				strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
		sd_err_set(err, SD_EINTERNAL, "%s is not a key file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0)
		log_warn("issuer: %s is readable by other users (mode %03o); chmod 600 it", path,
			 (unsigned)(st.st_mode & 0777));
	if ((buf = malloc((size_t)st.st_size)) == NULL) {
		sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sd_err_set(err, SD_EINTERNAL, "cannot read %s", path);
			goto out;
		}
		got += (size_t)n;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)got)) == NULL) {
		sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto out;
	}
	*out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (*out == NULL || jwk_ec_p256_coords(*out, x, y) != 0) {
		sd_err_set(err, SD_EINTERNAL, "%s is not an unencrypted EC P-256 private key", path);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	BIO_free(bio);
	sd_wipe_free(buf, got);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	return rc;
}

static int create_key(const char *dir, struct sd_err *err)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *pem;
	long len;
	int rc = SD_EINTERNAL;

	if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		sd_err_set(err, rc, "cannot generate the issuer key");
		goto out;
	}
	/* secure-heap BIO: the PEM is wiped when freed */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		sd_err_set(err, rc, "cannot encode the issuer key");
		goto out;
	}
	rc = write_file(dir, KEY_NAME, pem, (size_t)len, 0600, 1, err);
	if (rc == 1) {
		log_info("issuer: %s/%s appeared meanwhile; keeping it", dir, KEY_NAME);
		rc = 0;
	} else if (rc == 0) {
		log_info("issuer: created the dev signing key %s/%s", dir, KEY_NAME);
	}
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

/* kid and coordinates of the issuer key */
static int key_public(EVP_PKEY *pkey, unsigned char x[32], unsigned char y[32], char kid[44])
{
	if (jwk_ec_p256_coords(pkey, x, y) != 0 || jwk_ec_p256_thumbprint(x, y, kid) != 0)
		return -1;
	return 0;
}

static int write_jwks(const char *dir, EVP_PKEY *pkey, struct sd_err *err)
{
	unsigned char x[32], y[32];
	char kid[44], xs[B64_ENC_LEN(32)], ys[B64_ENC_LEN(32)], *text = NULL;
	json_t *doc = NULL;
	int rc = SD_EINTERNAL;

	if (key_public(pkey, x, y, kid) != 0) {
		sd_err_set(err, rc, "cannot read the issuer public key");
		goto out;
	}
	b64url_encode(x, 32, xs);
	b64url_encode(y, 32, ys);
	doc = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys", "kty", "EC", "crv", "P-256",
			"x", xs, "y", ys, "kid", kid, "use", "sig", "alg", "ES256");
	if (doc == NULL || (text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		sd_err_set(err, rc, "out of memory");
		goto out;
	}
	rc = write_file(dir, JWKS_NAME, text, strlen(text), 0644, 0, err);
	if (rc == 0)
		log_info("issuer: wrote %s/%s (kid %s)", dir, JWKS_NAME, kid);
out:
	sd_json_free(text);
	json_decref(doc);
	return rc;
}

int issuer_init(const char *data_dir, struct sd_err *err)
{
	int created = 0;
	char path[PATH_MAX];
	EVP_PKEY *pkey = NULL;
	int rc = SD_EINVAL;

	if (path_in(data_dir, KEY_NAME, path, sizeof(path)) != 0) {
		sd_err_set(err, rc, "bad data directory");
		goto out;
	}
	if (access(path, F_OK) != 0) {
		if (errno != ENOENT) {
			rc = sd_err_set(err, SD_EINTERNAL, "cannot look at %s: %s", path, strerror(errno));
			goto out;
		}
		if ((rc = create_key(data_dir, err)) != 0)
			goto out;
		created = 1;
	}
	if ((rc = load_key(data_dir, &pkey, err)) != 0)
		goto out;
	if (issuer_jwks_path(data_dir, path, sizeof(path)) != 0) {
		rc = sd_err_set(err, SD_EINVAL, "bad data directory");
		goto out;
	}
	if (created || access(path, F_OK) != 0) {
		if (!created && errno != ENOENT) {
			rc = sd_err_set(err, SD_EINTERNAL, "cannot look at %s: %s", path, strerror(errno));
			goto out;
		}
		/* a new key always gets its own JWKS (an old one would not verify) */
		rc = write_jwks(data_dir, pkey, err);
	}
out:
	EVP_PKEY_free(pkey);
	return rc;
}

/* base64url of a JSON document, into a new string */
static char *b64url_json(json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER), *out = NULL;
	size_t len;

	if (text == NULL)
		return NULL;
	len = strlen(text);
	if ((out = malloc(B64_ENC_LEN(len))) != NULL)
		b64url_encode((const unsigned char *)text, len, out);
	sd_json_free(text);
	return out;
}

static int printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

int issuer_sign(const char *data_dir, const char *tenant, const char *sub, const char *scope,
		int64_t ttl_s, char **out, struct sd_err *err)
{
	unsigned char x[32], y[32], der[80], raw[JWS_ES256_SIG_LEN];
	char kid[44], jti[33], sig[B64_ENC_LEN(JWS_ES256_SIG_LEN)];
	char *h64 = NULL, *p64 = NULL, *input = NULL, *token = NULL;
	size_t der_len = sizeof(der), in_len, tok_len;
	json_t *hdr = NULL, *claims = NULL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pkey = NULL;
	int64_t now = sd_now_us() / 1000000;
	int rc = SD_EINVAL;

	*out = NULL;
	if (!auth_tenant_valid(tenant)) {
		sd_err_set(err, rc, "tenant must be 1 to %d characters of [A-Za-z0-9._-]", SD_TENANT_MAX);
		goto out;
	}
	if (sub == NULL || !printable(sub, SD_SUB_MAX)) {
		sd_err_set(err, rc, "sub must be 1 to %d printable ASCII characters", SD_SUB_MAX);
		goto out;
	}
	if (scope != NULL && strlen(scope) >= SD_SCOPE_BUF) {
		sd_err_set(err, rc, "scope is longer than %d bytes", SD_SCOPE_BUF - 1);
		goto out;
	}
	if (ttl_s <= 0 || ttl_s > TTL_MAX_S) {
		sd_err_set(err, rc, "ttl must be 1 second to 10 years");
		goto out;
	}
	if ((rc = load_key(data_dir, &pkey, err)) != 0)
		goto out;
	rc = SD_EINTERNAL;
	if (key_public(pkey, x, y, kid) != 0 || sd_random_hex(jti, 16) != 0) {
		sd_err_set(err, rc, "cannot prepare the token");
		goto out;
	}
	hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "JWT", "kid", kid);
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", SD_DEV_ISSUER, "aud",
			   SD_DEV_AUDIENCE, "sub", sub, "tenant", tenant, "iat", (json_int_t)now, "nbf",
			   (json_int_t)now, "exp", (json_int_t)(now + ttl_s), "jti", jti);
	if (hdr == NULL || claims == NULL) {
		sd_err_set(err, rc, "cannot build the token");
		goto out;
	}
	if (scope != NULL && scope[0] != '\0' &&
	    json_object_set_new(claims, "scope", json_string(scope)) != 0) {
		sd_err_set(err, rc, "scope is not valid UTF-8");
		goto out;
	}
	if ((h64 = b64url_json(hdr)) == NULL || (p64 = b64url_json(claims)) == NULL) {
		sd_err_set(err, rc, "out of memory");
		goto out;
	}
	in_len = strlen(h64) + 1 + strlen(p64);
	if ((input = malloc(in_len + 1)) == NULL) {
		sd_err_set(err, rc, "out of memory");
		goto out;
	}
	snprintf(input, in_len + 1, "%s.%s", h64, p64);
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(mctx, NULL, "SHA256", NULL, NULL, pkey, NULL) != 1 ||
	    EVP_DigestSign(mctx, der, &der_len, (const unsigned char *)input, in_len) != 1 ||
	    jws_es256_der_to_raw(der, der_len, raw) != 0) {
		sd_err_set(err, rc, "cannot sign the token");
		goto out;
	}
	b64url_encode(raw, sizeof(raw), sig);
	tok_len = in_len + 1 + strlen(sig);
	if (tok_len > SD_TOKEN_MAX) {
		sd_err_set(err, SD_EINVAL, "token would be longer than %d bytes", SD_TOKEN_MAX);
		goto out;
	}
	if ((token = malloc(tok_len + 1)) == NULL) {
		sd_err_set(err, rc, "out of memory");
		goto out;
	}
	snprintf(token, tok_len + 1, "%s.%s", input, sig);
	*out = token;
	rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	json_decref(hdr);
	json_decref(claims);
	free(h64);
	free(p64);
	free(input);
	ERR_clear_error();
	return rc;
}
