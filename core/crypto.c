/* crypto.c — AES-256-GCM and the envelope of stored values.
 *
 * Envelope layout (all integers big-endian):
 *   u8  format (1)
 *   u8  kek id length, then the KEK id
 *   u8  wrapped DEK length, then the wrapped DEK (as the KMS made it)
 *   12  nonce
 *   16  tag
 *   ..  ciphertext (the rest) */
#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "kms.h"

#define ENVELOPE_FORMAT 1

static EVP_CIPHER *gcm;
static EVP_MD *sha256;

int crypto_init(struct sd_err *err)
{
	if (gcm == NULL)
		gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (sha256 == NULL)
		sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (gcm == NULL || sha256 == NULL)
		return sd_err_set(err, SD_EINTERNAL, "OpenSSL has no AES-256-GCM or SHA-256");
	return 0;
}

void crypto_cleanup(void)
{
	EVP_CIPHER_free(gcm);
	EVP_MD_free(sha256);
	gcm = NULL;
	sha256 = NULL;
}

void sd_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	if (sha256 == NULL)
		crypto_init(NULL);
	EVP_Digest(data, len, out, &n, sha256, NULL);
}

static int aead(int enc, const unsigned char *key, const unsigned char *nonce, size_t nonce_len,
		const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t len,
		unsigned char *out, unsigned char *tag, size_t tag_len)
{
	EVP_CIPHER_CTX *ctx;
	int n, rc = SD_EINTERNAL;

	if (nonce_len != SD_NONCE_LEN || tag_len != SD_TAG_LEN || len > INT32_MAX || aad_len > INT32_MAX)
		return SD_EINVAL;
	if (gcm == NULL && crypto_init(NULL) != 0)
		return SD_EINTERNAL;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return SD_EINTERNAL;
	if (EVP_CipherInit_ex2(ctx, gcm, key, nonce, enc, NULL) != 1)
		goto out;
	if (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (enc) {
		if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)tag_len, tag) != 1)
			goto out;
	} else {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag_len, tag) != 1)
			goto out;
		if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1) {
			OPENSSL_cleanse(out, len);
			rc = SD_ECRYPTO;
			goto out;
		}
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int aead_seal(const unsigned char key[SD_KEY_LEN], const unsigned char *nonce, size_t nonce_len,
	      const unsigned char *aad, size_t aad_len, const unsigned char *pt, size_t len,
	      unsigned char *ct, unsigned char *tag, size_t tag_len)
{
	return aead(1, key, nonce, nonce_len, aad, aad_len, pt, len, ct, tag, tag_len);
}

int aead_open(const unsigned char key[SD_KEY_LEN], const unsigned char *nonce, size_t nonce_len,
	      const unsigned char *aad, size_t aad_len, const unsigned char *ct, size_t len,
	      const unsigned char *tag, size_t tag_len, unsigned char *pt)
{
	return aead(0, key, nonce, nonce_len, aad, aad_len, ct, len, pt, (unsigned char *)tag, tag_len);
}

size_t envelope_aad(const char *tenant, const char *path, uint64_t version,
		    unsigned char out[SD_AAD_MAX])
{
	static const char label[] = "secretsd/v1";
	size_t tl = strlen(tenant), pl = strlen(path), n = 0;

	if (sizeof(label) + tl + 1 + pl + 1 + 8 > SD_AAD_MAX)
		return 0;
	memcpy(out, label, sizeof(label)); /* with its NUL */
	n = sizeof(label);
	memcpy(out + n, tenant, tl + 1);
	n += tl + 1;
	memcpy(out + n, path, pl + 1);
	n += pl + 1;
	for (int i = 7; i >= 0; i--)
		out[n++] = (unsigned char)(version >> (8 * i));
	return n;
}

int envelope_seal(struct kms *kms, const char *tenant, const char *path, uint64_t version,
		  const unsigned char *pt, size_t len, unsigned char **blob, size_t *blob_len,
		  struct sd_err *err)
{
	unsigned char dek[SD_KEY_LEN], aad[SD_AAD_MAX], wrapped[SD_WRAPPED_MAX], *b = NULL, *p;
	char kek_id[SD_KEK_ID_MAX + 1];
	size_t aad_len, wrapped_len = 0, idl, total;
	int rc;

	aad_len = envelope_aad(tenant, path, version, aad);
	if (aad_len == 0)
		return sd_err_set(err, SD_EINVAL, "tenant and path too long");
	if (RAND_bytes(dek, sizeof(dek)) != 1)
		return sd_err_set(err, SD_EINTERNAL, "random generator failed");
	rc = kms->ops->wrap(kms->ctx, dek, sizeof(dek), aad, aad_len, wrapped, &wrapped_len, kek_id, err);
	if (rc != 0)
		goto out;
	idl = strlen(kek_id);
	if (idl > 255 || wrapped_len > 255) {
		rc = sd_err_set(err, SD_EINTERNAL, "KMS output too large");
		goto out;
	}
	total = 1 + 1 + idl + 1 + wrapped_len + SD_NONCE_LEN + SD_TAG_LEN + len;
	b = malloc(total);
	if (b == NULL) {
		rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto out;
	}
	p = b;
	*p++ = ENVELOPE_FORMAT;
	*p++ = (unsigned char)idl;
	memcpy(p, kek_id, idl);
	p += idl;
	*p++ = (unsigned char)wrapped_len;
	memcpy(p, wrapped, wrapped_len);
	p += wrapped_len;
	if (RAND_bytes(p, SD_NONCE_LEN) != 1) {
		rc = sd_err_set(err, SD_EINTERNAL, "random generator failed");
		goto out;
	}
	rc = aead_seal(dek, p, SD_NONCE_LEN, aad, aad_len, pt, len, p + SD_NONCE_LEN + SD_TAG_LEN,
		       p + SD_NONCE_LEN, SD_TAG_LEN);
	if (rc != 0) {
		sd_err_set(err, SD_EINTERNAL, "encryption failed");
		goto out;
	}
	*blob = b;
	*blob_len = total;
	b = NULL;
out:
	OPENSSL_cleanse(dek, sizeof(dek));
	free(b);
	return rc;
}

/* Split a blob into its parts; 0 or SD_EINVAL. */
static int parse(const unsigned char *b, size_t n, const unsigned char **id, size_t *idl,
		 const unsigned char **w, size_t *wl, const unsigned char **rest, size_t *restl)
{
	size_t off = 0;

	if (n < 2 || b[0] != ENVELOPE_FORMAT)
		return SD_EINVAL;
	*idl = b[1];
	off = 2;
	if (off + *idl + 1 > n)
		return SD_EINVAL;
	*id = b + off;
	off += *idl;
	*wl = b[off++];
	if (off + *wl + SD_NONCE_LEN + SD_TAG_LEN > n)
		return SD_EINVAL;
	*w = b + off;
	off += *wl;
	*rest = b + off;
	*restl = n - off;
	return 0;
}

int envelope_kek_id(const unsigned char *blob, size_t blob_len, char out[65])
{
	const unsigned char *id, *w, *rest;
	size_t idl, wl, restl;

	if (parse(blob, blob_len, &id, &idl, &w, &wl, &rest, &restl) != 0 || idl > 64)
		return SD_EINVAL;
	memcpy(out, id, idl);
	out[idl] = '\0';
	return 0;
}

int envelope_open(struct kms *kms, const char *tenant, const char *path, uint64_t version,
		  const unsigned char *blob, size_t blob_len, unsigned char **pt, size_t *len,
		  struct sd_err *err)
{
	unsigned char dek[SD_KEY_LEN], aad[SD_AAD_MAX], *out = NULL;
	const unsigned char *id, *w, *rest;
	char kek_id[SD_KEK_ID_MAX + 1];
	size_t idl, wl, restl, aad_len, dek_len = sizeof(dek), ct_len;
	int rc;

	if (parse(blob, blob_len, &id, &idl, &w, &wl, &rest, &restl) != 0 || idl > SD_KEK_ID_MAX)
		return sd_err_set(err, SD_ECRYPTO, "stored envelope is malformed");
	memcpy(kek_id, id, idl);
	kek_id[idl] = '\0';
	aad_len = envelope_aad(tenant, path, version, aad);
	if (aad_len == 0)
		return sd_err_set(err, SD_EINVAL, "tenant and path too long");
	rc = kms->ops->unwrap(kms->ctx, kek_id, w, wl, aad, aad_len, dek, &dek_len, err);
	if (rc != 0)
		goto out;
	if (dek_len != SD_KEY_LEN) {
		rc = sd_err_set(err, SD_ECRYPTO, "data key has the wrong length");
		goto out;
	}
	ct_len = restl - SD_NONCE_LEN - SD_TAG_LEN;
	out = malloc(ct_len + 1);
	if (out == NULL) {
		rc = sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto out;
	}
	rc = aead_open(dek, rest, SD_NONCE_LEN, aad, aad_len, rest + SD_NONCE_LEN + SD_TAG_LEN, ct_len,
		       rest + SD_NONCE_LEN, SD_TAG_LEN, out);
	if (rc != 0) {
		rc = sd_err_set(err, SD_ECRYPTO, "stored value failed to authenticate");
		goto out;
	}
	out[ct_len] = '\0';
	*pt = out;
	*len = ct_len;
	out = NULL;
out:
	OPENSSL_cleanse(dek, sizeof(dek));
	free(out); /* only reached on failure, already wiped by aead_open */
	return rc;
}
