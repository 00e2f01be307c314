/* kms.h — key-encryption-key providers: wrap and unwrap data keys.
 *
 * The embedded default is a local key file (kms_local_open); providers of
 * kind `kms` loaded as plugins implement the same operations. */
#ifndef SD_KMS_H
#define SD_KMS_H

#include <stddef.h>

#include "err.h"

#define SD_KEK_ID_MAX 64
#define SD_WRAPPED_MAX 128

struct kms_ops {
	const char *name;
	/* Wrap dek (len bytes) under the active KEK with aad; write at most
	 * SD_WRAPPED_MAX bytes to out, set *out_len and the KEK id used. */
	int (*wrap)(void *ctx, const unsigned char *dek, size_t len, const unsigned char *aad,
		    size_t aad_len, unsigned char *out, size_t *out_len,
		    char kek_id[SD_KEK_ID_MAX + 1], struct sd_err *err);
	/* Unwrap in (in_len bytes) with the KEK kek_id and aad into dek (room
	 * for *len bytes; set to the length). SD_ECRYPTO when it fails to
	 * authenticate, SD_EDOWN when the KEK cannot be reached. */
	int (*unwrap)(void *ctx, const char *kek_id, const unsigned char *in, size_t in_len,
		      const unsigned char *aad, size_t aad_len, unsigned char *dek, size_t *len,
		      struct sd_err *err);
	/* The id of the KEK that wrap uses now. */
	const char *(*active_id)(void *ctx);
	/* 0 when keys can be used. */
	int (*health)(void *ctx, struct sd_err *err);
	void (*free)(void *ctx);
};

struct kms {
	const struct kms_ops *ops;
	void *ctx;
};

/* The local key-file provider: DATA_DIR/keys/kek-<id>.key (32 random bytes,
 * mode 0600, directory 0700), created on first open. The key is read once
 * and held in memory (locked where the system allows). */
struct kms *kms_local_open(const char *data_dir, struct sd_err *err);
/* The id of the KEK that new wraps use (for the KEK registry). */
const char *kms_active_kek_id(struct kms *k);
void kms_free(struct kms *k);

#endif
