/* crypto.h — AES-256-GCM and the envelope format of stored secret values.
 *
 * A value is sealed under a fresh 256-bit data key (DEK) with a random 96-bit
 * nonce and a 128-bit tag; the AAD binds tenant, path and version so that a
 * ciphertext moved to another record fails to open. The DEK is wrapped by the
 * KMS (kms.h) under the same AAD, and the envelope records the KEK id.
 * Cipher and digest are fetched once (crypto_init), never per request. */
#ifndef SD_CRYPTO_H
#define SD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SD_KEY_LEN 32
#define SD_NONCE_LEN 12
#define SD_TAG_LEN 16
#define SD_AAD_MAX 700

struct kms;

/* Fetch AES-256-GCM and SHA-256 from the default provider. Call once at
 * start, before any other function here. */
int crypto_init(struct sd_err *err);
void crypto_cleanup(void);

/* AES-256-GCM. nonce_len must be SD_NONCE_LEN and tag_len SD_TAG_LEN, any
 * other length is refused (SD_EINVAL). ct has room for len bytes.
 * aead_open returns SD_ECRYPTO when the tag does not verify; pt is then
 * wiped. */
int aead_seal(const unsigned char key[SD_KEY_LEN], const unsigned char *nonce, size_t nonce_len,
	      const unsigned char *aad, size_t aad_len, const unsigned char *pt, size_t len,
	      unsigned char *ct, unsigned char *tag, size_t tag_len);
int aead_open(const unsigned char key[SD_KEY_LEN], const unsigned char *nonce, size_t nonce_len,
	      const unsigned char *aad, size_t aad_len, const unsigned char *ct, size_t len,
	      const unsigned char *tag, size_t tag_len, unsigned char *pt);

/* Build the AAD for a record: "secretsd/v1" NUL tenant NUL path NUL be64(version).
 * Returns its length, or 0 when it would not fit. */
size_t envelope_aad(const char *tenant, const char *path, uint64_t version,
		    unsigned char out[SD_AAD_MAX]);

/* Seal pt for (tenant, path, version). *blob is malloc'd; the caller frees it. */
int envelope_seal(struct kms *kms, const char *tenant, const char *path, uint64_t version,
		  const unsigned char *pt, size_t len, unsigned char **blob, size_t *blob_len,
		  struct sd_err *err);
/* Open a blob made by envelope_seal for the same (tenant, path, version).
 * *pt is malloc'd with one extra NUL byte; the caller wipes and frees it
 * (sd_wipe_free(*pt, *len + 1)). SD_ECRYPTO when it does not authenticate. */
int envelope_open(struct kms *kms, const char *tenant, const char *path, uint64_t version,
		  const unsigned char *blob, size_t blob_len, unsigned char **pt, size_t *len,
		  struct sd_err *err);
/* The KEK id recorded in a blob, into out (65 bytes); 0 or SD_EINVAL. */
int envelope_kek_id(const unsigned char *blob, size_t blob_len, char out[65]);

/* SHA-256 of data into out. */
void sd_sha256(const void *data, size_t len, unsigned char out[32]);

#endif
