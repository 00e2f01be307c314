/* kms_local.c — the embedded KEK provider: key files in DATA_DIR/keys.
 *
 *   keys/            0700
 *   keys/active      the id of the KEK that new wraps use
 *   keys/kek-ID.key  32 random bytes, 0600; refused when group/other can read
 *
 * Wrapped DEK = nonce(12) || AES-256-GCM(KEK, DEK, aad)(32) || tag(16). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "kms.h"
#include "log.h"
#include "util.h"

#define KEKS_MAX 32

struct kek {
	char id[SD_KEK_ID_MAX + 1];
	unsigned char key[SD_KEY_LEN];
};

struct local {
	struct kek keks[KEKS_MAX]; /* mlock'ed */
	int n;
	int active;
};

static int read_key(const char *file, unsigned char key[SD_KEY_LEN], struct sd_err *err)
{
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t got;

	if (fd < 0)
		return sd_err_set(err, SD_EDOWN, "cannot open %s: %s", file, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 ||
	    st.st_size != SD_KEY_LEN) {
		close(fd);
		return sd_err_set(err, SD_EDOWN, "%s must be a %d-byte file readable by its owner only",
				  file, SD_KEY_LEN);
	}
	got = read(fd, key, SD_KEY_LEN);
	close(fd);
	if (got != SD_KEY_LEN)
		return sd_err_set(err, SD_EDOWN, "cannot read %s", file);
	return 0;
}

static int write_new_key(const char *dir, char id[SD_KEK_ID_MAX + 1], struct sd_err *err)
{
	unsigned char key[SD_KEY_LEN];
	char file[PATH_MAX], tmp[PATH_MAX];
	int fd, ok;

	if (sd_random_hex(id, 8) != 0 || RAND_bytes(key, sizeof(key)) != 1)
		return sd_err_set(err, SD_EINTERNAL, "random generator failed");
	snprintf(file, sizeof(file), "%s/kek-%s.key", dir, id);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		OPENSSL_cleanse(key, sizeof(key));
		return sd_err_set(err, SD_EDOWN, "cannot create %s: %s", file, strerror(errno));
	}
	ok = write(fd, key, sizeof(key)) == (ssize_t)sizeof(key) && fsync(fd) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	if (close(fd) != 0 || !ok)
		return sd_err_set(err, SD_EDOWN, "cannot write %s", file);
	/* Point "active" at it atomically. */
	snprintf(tmp, sizeof(tmp), "%s/active.tmp", dir);
	snprintf(file, sizeof(file), "%s/active", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return sd_err_set(err, SD_EDOWN, "cannot create %s", tmp);
	ok = write(fd, id, strlen(id)) == (ssize_t)strlen(id) && fsync(fd) == 0;
	if (close(fd) != 0 || !ok || rename(tmp, file) != 0)
		return sd_err_set(err, SD_EDOWN, "cannot write %s", file);
	log_info("created key-encryption key %s", id);
	return 0;
}

static int valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > SD_KEK_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z')))
			return 0;
	return 1;
}

static int read_active(const char *dir, char id[SD_KEK_ID_MAX + 1])
{
	char file[PATH_MAX];
	FILE *f;
	size_t n;

	snprintf(file, sizeof(file), "%s/active", dir);
	f = fopen(file, "re");
	if (f == NULL)
		return -1;
	n = fread(id, 1, SD_KEK_ID_MAX, f);
	fclose(f);
	id[n] = '\0';
	while (n > 0 && (id[n - 1] == '\n' || id[n - 1] == ' '))
		id[--n] = '\0';
	return valid_id(id) ? 0 : -1;
}

static int load_all(struct local *l, const char *dir, const char *active, struct sd_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return sd_err_set(err, SD_EDOWN, "cannot read %s", dir);
	l->active = -1;
	while ((e = readdir(d)) != NULL) {
		char file[PATH_MAX], id[SD_KEK_ID_MAX + 1];
		size_t n = strlen(e->d_name);

		if (n < 9 || strncmp(e->d_name, "kek-", 4) != 0 || strcmp(e->d_name + n - 4, ".key") != 0 ||
		    n - 8 > SD_KEK_ID_MAX)
			continue;
		memcpy(id, e->d_name + 4, n - 8);
		id[n - 8] = '\0';
		if (!valid_id(id))
			continue;
		if (l->n >= KEKS_MAX) {
			rc = sd_err_set(err, SD_EDOWN, "more than %d KEKs in %s", KEKS_MAX, dir);
			break;
		}
		snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
		if ((rc = read_key(file, l->keks[l->n].key, err)) != 0)
			break;
		sd_strlcpy(l->keks[l->n].id, id, sizeof(l->keks[l->n].id));
		if (strcmp(id, active) == 0)
			l->active = l->n;
		l->n++;
	}
	closedir(d);
	if (rc == 0 && l->active < 0)
		rc = sd_err_set(err, SD_EDOWN, "active KEK %s has no key file in %s", active, dir);
	return rc;
}

static int local_wrap(void *ctx, const unsigned char *dek, size_t len, const unsigned char *aad,
		      size_t aad_len, unsigned char *out, size_t *out_len,
		      char kek_id[SD_KEK_ID_MAX + 1], struct sd_err *err)
{
	struct local *l = ctx;
	const struct kek *k = &l->keks[l->active];

	if (SD_NONCE_LEN + len + SD_TAG_LEN > SD_WRAPPED_MAX)
		return sd_err_set(err, SD_EINVAL, "data key too long");
	if (RAND_bytes(out, SD_NONCE_LEN) != 1)
		return sd_err_set(err, SD_EINTERNAL, "random generator failed");
	if (aead_seal(k->key, out, SD_NONCE_LEN, aad, aad_len, dek, len, out + SD_NONCE_LEN,
		      out + SD_NONCE_LEN + len, SD_TAG_LEN) != 0)
		return sd_err_set(err, SD_EINTERNAL, "key wrap failed");
	*out_len = SD_NONCE_LEN + len + SD_TAG_LEN;
	sd_strlcpy(kek_id, k->id, SD_KEK_ID_MAX + 1);
	return 0;
}

static int local_unwrap(void *ctx, const char *kek_id, const unsigned char *in, size_t in_len,
			const unsigned char *aad, size_t aad_len, unsigned char *dek, size_t *len,
			struct sd_err *err)
{
	struct local *l = ctx;
	size_t n;

	for (int i = 0; i < l->n; i++) {
		if (strcmp(l->keks[i].id, kek_id) != 0)
			continue;
		if (in_len < SD_NONCE_LEN + SD_TAG_LEN || in_len - SD_NONCE_LEN - SD_TAG_LEN > *len)
			return sd_err_set(err, SD_ECRYPTO, "wrapped data key is malformed");
		n = in_len - SD_NONCE_LEN - SD_TAG_LEN;
		if (aead_open(l->keks[i].key, in, SD_NONCE_LEN, aad, aad_len, in + SD_NONCE_LEN, n,
			      in + SD_NONCE_LEN + n, SD_TAG_LEN, dek) != 0)
			return sd_err_set(err, SD_ECRYPTO, "data key failed to authenticate");
		*len = n;
		return 0;
	}
	return sd_err_set(err, SD_EDOWN, "KEK %s is not available", kek_id);
}

static const char *local_active_id(void *ctx)
{
	struct local *l = ctx;

	return l->keks[l->active].id;
}

static int local_health(void *ctx, struct sd_err *err)
{
	struct local *l = ctx;

	return l->active >= 0 ? 0 : sd_err_set(err, SD_EDOWN, "no active KEK");
}

static void local_free(void *ctx)
{
	struct local *l = ctx;

	OPENSSL_cleanse(l, sizeof(*l));
	munlock(l, sizeof(*l));
	free(l);
}

static const struct kms_ops local_ops = {
	.name = "local",
	.wrap = local_wrap,
	.unwrap = local_unwrap,
	.active_id = local_active_id,
	.health = local_health,
	.free = local_free,
};

struct kms *kms_local_open(const char *data_dir, struct sd_err *err)
{
	char dir[PATH_MAX], active[SD_KEK_ID_MAX + 1];
	struct local *l = NULL;
	struct kms *k = NULL;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/keys", data_dir) >= sizeof(dir)) {
		sd_err_set(err, SD_EINVAL, "data dir path too long");
		return NULL;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		sd_err_set(err, SD_EDOWN, "cannot create %s: %s", dir, strerror(errno));
		return NULL;
	}
	if (read_active(dir, active) != 0) {
		char file[PATH_MAX];
		snprintf(file, sizeof(file), "%s/active", dir);
		if (access(file, F_OK) == 0) {
			sd_err_set(err, SD_EDOWN, "%s does not name a KEK; refusing to start", file);
			return NULL;
		}
		if (write_new_key(dir, active, err) != 0)
			return NULL;
	}
	l = calloc(1, sizeof(*l));
	k = calloc(1, sizeof(*k));
	if (l == NULL || k == NULL) {
		sd_err_set(err, SD_EINTERNAL, "out of memory");
		goto fail;
	}
	mlock(l, sizeof(*l)); /* best effort: keep keys out of swap */
	if (load_all(l, dir, active, err) != 0)
		goto fail;
	k->ops = &local_ops;
	k->ctx = l;
	return k;
fail:
	if (l != NULL)
		local_free(l);
	free(k);
	return NULL;
}

const char *kms_active_kek_id(struct kms *k)
{
	return k->ops->active_id(k->ctx);
}

void kms_free(struct kms *k)
{
	if (k == NULL)
		return;
	k->ops->free(k->ctx);
	free(k);
}
