/* backup.c — hot backup into one file, and restore into a new data dir. */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "store.h"
#include "util.h"

#define MAGIC "SDBACKUP1\n"
#define NAME_MAX_LEN 512

struct out {
	FILE *f;
	EVP_MD_CTX *md;
	int bad;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->bad)
		return;
	if (fwrite(p, 1, n, o->f) != n || EVP_DigestUpdate(o->md, p, n) != 1)
		o->bad = 1;
}

static void put_u(struct out *o, uint64_t v, int bytes)
{
	unsigned char b[8];

	for (int i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
	put(o, b, (size_t)bytes);
}

/* Add the file path under name to the archive. */
static int add_file(struct out *o, const char *path, const char *name, FILE *errout)
{
	unsigned char buf[65536];
	struct stat st;
	size_t n, total = 0;
	FILE *f = fopen(path, "rbe");

	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(errout, "secretsd backup: cannot read %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	put(o, "F", 1);
	put_u(o, strlen(name), 2);
	put(o, name, strlen(name));
	put_u(o, (uint64_t)st.st_size, 8);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && total < (size_t)st.st_size) {
		if (total + n > (size_t)st.st_size)
			n = (size_t)st.st_size - total;
		put(o, buf, n);
		total += n;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	fclose(f);
	if (total != (size_t)st.st_size) {
		fprintf(errout, "secretsd backup: %s changed while being read\n", path);
		return -1;
	}
	return o->bad ? -1 : 0;
}

/* Add every regular file of dir as prefix/NAME. */
static int add_dir(struct out *o, const char *dir, const char *prefix, FILE *errout)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return 0; /* nothing there */
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char path[PATH_MAX], name[NAME_MAX_LEN];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		snprintf(name, sizeof(name), "%s/%s", prefix, e->d_name);
		rc = add_file(o, path, name, errout);
	}
	closedir(d);
	return rc;
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int backup_cli(const char *data_dir, const char *outfile, int with_keys, FILE *errout)
{
	char tmp[PATH_MAX], path[PATH_MAX], part[PATH_MAX];
	unsigned char digest[32];
	unsigned int dl = 32;
	struct store *s = NULL;
	struct sd_err err;
	struct out o = { NULL, NULL, 0 };
	int rc = 1;

	sd_err_clear(&err);
	snprintf(tmp, sizeof(tmp), "%s/.backup-XXXXXX", data_dir);
	if (mkdtemp(tmp) == NULL) {
		fprintf(errout, "secretsd backup: cannot create a work folder in %s: %s\n", data_dir, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/db", tmp);
	if (crypto_init(&err) != 0 || store_open(data_dir, &s, &err) != 0 || store_backup(s, path, &err) != 0) {
		fprintf(errout, "secretsd backup: %s\n", err.msg);
		goto out;
	}
	store_close(s);
	s = NULL;
	snprintf(part, sizeof(part), "%s.partial", outfile);
	o.f = fopen(part, "wbex");
	o.md = EVP_MD_CTX_new();
	if (o.f == NULL || o.md == NULL || EVP_DigestInit_ex(o.md, EVP_sha256(), NULL) != 1) {
		fprintf(errout, "secretsd backup: cannot create %s: %s\n", part, strerror(errno));
		goto out;
	}
	fchmod(fileno(o.f), 0600);
	put(&o, MAGIC, strlen(MAGIC));
	if (add_dir(&o, path, "db", errout) != 0)
		goto out;
	if (with_keys) {
		snprintf(path, sizeof(path), "%s/jwks.json", data_dir);
		if (access(path, R_OK) == 0 && add_file(&o, path, "jwks.json", errout) != 0)
			goto out;
		snprintf(path, sizeof(path), "%s/keys", data_dir);
		if (add_dir(&o, path, "keys", errout) != 0)
			goto out;
		snprintf(path, sizeof(path), "%s/issuer.key", data_dir);
		if (access(path, R_OK) == 0 && add_file(&o, path, "issuer.key", errout) != 0)
			goto out;
	}
	put(&o, "E", 1);
	if (o.bad || EVP_DigestFinal_ex(o.md, digest, &dl) != 1 || fwrite(digest, 1, 32, o.f) != 32 ||
	    fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) {
		fprintf(errout, "secretsd backup: cannot write %s\n", part);
		goto out;
	}
	fclose(o.f);
	o.f = NULL;
	if (rename(part, outfile) != 0) {
		fprintf(errout, "secretsd backup: cannot rename %s: %s\n", part, strerror(errno));
		goto out;
	}
	fprintf(errout, "secretsd backup: wrote %s%s\n", outfile,
		with_keys ? " (with keys: keep it as safe as the data dir)" : " (without keys: restore with --keys-from)");
	rc = 0;
out:
	if (o.f != NULL) {
		fclose(o.f);
		unlink(part);
	}
	EVP_MD_CTX_free(o.md);
	store_close(s);
	snprintf(path, sizeof(path), "%s/db", tmp);
	rm_tree(path);
	rmdir(tmp);
	return rc;
}

/* --- restore ---------------------------------------------------------------------------- */

static int name_ok(const char *n)
{
	/* only the names backup writes: db/X, keys/X, jwks.json, issuer.key */
	const char *slash = strchr(n, '/');

	if (strstr(n, "..") != NULL || n[0] == '/' || n[0] == '\0')
		return 0;
	if (slash == NULL)
		return strcmp(n, "jwks.json") == 0 || strcmp(n, "issuer.key") == 0;
	if (strchr(slash + 1, '/') != NULL || slash[1] == '\0')
		return 0;
	return strncmp(n, "db/", 3) == 0 || strncmp(n, "keys/", 5) == 0;
}

static int copy_keys(const char *from, const char *to_dir, FILE *errout)
{
	DIR *d = opendir(from);
	struct dirent *e;
	int rc = 0;

	if (d == NULL) {
		fprintf(errout, "secretsd restore: cannot read %s: %s\n", from, strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char src[PATH_MAX], dst[PATH_MAX], buf[4096];
		int in, outfd;
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to_dir, e->d_name);
		in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (in < 0)
			continue;
		outfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (outfd < 0) {
			close(in);
			fprintf(errout, "secretsd restore: cannot create %s: %s\n", dst, strerror(errno));
			rc = -1;
			break;
		}
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(outfd, buf, (size_t)n) != n)
				rc = -1;
		OPENSSL_cleanse(buf, sizeof(buf));
		if (fsync(outfd) != 0)
			rc = -1;
		close(in);
		close(outfd);
	}
	closedir(d);
	return rc;
}

int restore_cli(const char *in, const char *data_dir, const char *keys_from, FILE *errout)
{
	FILE *f = fopen(in, "rbe");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char magic[sizeof(MAGIC) - 1], digest[32], want[32], buf[65536];
	unsigned int dl = 32;
	char path[PATH_MAX], name[NAME_MAX_LEN + 1];
	struct store *s = NULL;
	struct sd_err err;
	int rc = 1, have_keys = 0, files = 0, created = 0;

	if (f == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		fprintf(errout, "secretsd restore: cannot open %s: %s\n", in, strerror(errno));
		goto out;
	}
	if (mkdir(data_dir, 0700) != 0) {
		fprintf(errout, "secretsd restore: %s must not exist yet: %s\n", data_dir, strerror(errno));
		goto out;
	}
	created = 1;
	snprintf(path, sizeof(path), "%s/db", data_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/keys", data_dir);
	mkdir(path, 0700);
	if (fread(magic, 1, sizeof(magic), f) != sizeof(magic) || memcmp(magic, MAGIC, sizeof(magic)) != 0) {
		fprintf(errout, "secretsd restore: %s is not a secretsd backup\n", in);
		goto out;
	}
	EVP_DigestUpdate(md, magic, sizeof(magic));
	for (;;) {
		unsigned char tag, l[2], sz[8];
		uint64_t size = 0, left;
		size_t nl;
		int fd;

		if (fread(&tag, 1, 1, f) != 1)
			goto truncated;
		EVP_DigestUpdate(md, &tag, 1);
		if (tag == 'E')
			break;
		if (tag != 'F' || fread(l, 1, 2, f) != 2)
			goto truncated;
		EVP_DigestUpdate(md, l, 2);
		nl = (size_t)l[0] << 8 | l[1];
		if (nl == 0 || nl > NAME_MAX_LEN || fread(name, 1, nl, f) != nl)
			goto truncated;
		EVP_DigestUpdate(md, name, nl);
		name[nl] = '\0';
		if (fread(sz, 1, 8, f) != 8)
			goto truncated;
		EVP_DigestUpdate(md, sz, 8);
		for (int i = 0; i < 8; i++)
			size = size << 8 | sz[i];
		if (!name_ok(name)) {
			fprintf(errout, "secretsd restore: unexpected entry '%s' in the backup\n", name);
			goto out;
		}
		have_keys |= strncmp(name, "keys/", 5) == 0;
		snprintf(path, sizeof(path), "%s/%s", data_dir, name);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(errout, "secretsd restore: cannot create %s: %s\n", path, strerror(errno));
			goto out;
		}
		for (left = size; left > 0;) {
			size_t chunk = left > sizeof(buf) ? sizeof(buf) : (size_t)left;
			if (fread(buf, 1, chunk, f) != chunk || write(fd, buf, chunk) != (ssize_t)chunk) {
				close(fd);
				goto truncated;
			}
			EVP_DigestUpdate(md, buf, chunk);
			left -= chunk;
		}
		if (fsync(fd) != 0 || close(fd) != 0)
			goto truncated;
		files++;
	}
	if (fread(want, 1, 32, f) != 32 || EVP_DigestFinal_ex(md, digest, &dl) != 1 ||
	    CRYPTO_memcmp(want, digest, 32) != 0) {
		fprintf(errout, "secretsd restore: %s is damaged (checksum mismatch)\n", in);
		goto out;
	}
	if (!have_keys) {
		if (keys_from == NULL) {
			fprintf(errout, "secretsd restore: the backup has no keys; give --keys-from DIR (the keys/ "
					"folder of the original data dir or its own backup)\n");
			goto out;
		}
		snprintf(path, sizeof(path), "%s/keys", data_dir);
		if (copy_keys(keys_from, path, errout) != 0)
			goto out;
	}
	sd_err_clear(&err);
	if (crypto_init(&err) != 0 || store_open_restored(data_dir, &s, &err) != 0) {
		fprintf(errout, "secretsd restore: recovery failed: %s\n", err.msg);
		goto out;
	}
	store_close(s);
	fprintf(errout, "secretsd restore: %d file(s) restored into %s; start the server on it\n", files, data_dir);
	rc = 0;
	goto out;
truncated:
	fprintf(errout, "secretsd restore: %s is truncated or unreadable\n", in);
out:
	if (rc != 0 && created) { /* a refused restore leaves nothing behind */
		snprintf(path, sizeof(path), "%s/db", data_dir);
		rm_tree(path);
		snprintf(path, sizeof(path), "%s/keys", data_dir);
		rm_tree(path);
		rm_tree(data_dir);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (f != NULL)
		fclose(f);
	EVP_MD_CTX_free(md);
	return rc;
}
