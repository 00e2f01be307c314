/* test_crypto.c — AES-256-GCM against Wycheproof, and the envelope's
 * binding to tenant, path and version. */
#include "testutil.h"

#include <jansson.h>
#include <sys/stat.h>

#include "crypto.h"
#include "kms.h"
#include "util.h"

/* Every Wycheproof AES-GCM case with a 256-bit key. Cases with our
 * parameters (96-bit nonce, 128-bit tag) run through aead_seal/aead_open:
 * valid must round-trip to the expected ciphertext and tag, invalid must fail
 * to open. Cases with other nonce sizes must be refused by our functions
 * (they do not fit our parameters); an invalid one is then still rejected. */
static void wycheproof_aes_256_gcm_matches(void **state)
{
	json_error_t je;
	json_t *doc = json_load_file(vector_path("wycheproof/aes_gcm_test.json"), 0, &je);
	size_t gi, ti;
	json_t *g, *t;
	int ran = 0, valid = 0, invalid = 0, refused = 0;

	(void)state;
	assert_non_null(doc);
	json_array_foreach(json_object_get(doc, "testGroups"), gi, g) {
		if (json_integer_value(json_object_get(g, "keySize")) != 256)
			continue;
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			size_t kn, ivn, an, mn, cn, tn;
			unsigned char *key = unhex(json_string_value(json_object_get(t, "key")), &kn);
			unsigned char *iv = unhex(json_string_value(json_object_get(t, "iv")), &ivn);
			unsigned char *aad = unhex(json_string_value(json_object_get(t, "aad")), &an);
			unsigned char *msg = unhex(json_string_value(json_object_get(t, "msg")), &mn);
			unsigned char *ct = unhex(json_string_value(json_object_get(t, "ct")), &cn);
			unsigned char *tag = unhex(json_string_value(json_object_get(t, "tag")), &tn);
			const char *result = json_string_value(json_object_get(t, "result"));
			unsigned char *out = malloc(cn + mn + 1), otag[16];
			int is_valid = strcmp(result, "valid") == 0;
			int rc = aead_open(key, iv, ivn, aad, an, ct, cn, tag, tn, out);

			assert_int_equal(kn, 32);
			ran++;
			if (ivn != SD_NONCE_LEN || tn != SD_TAG_LEN) {
				/* outside our parameters: refused, never accepted */
				assert_int_equal(rc, SD_EINVAL);
				refused++;
			} else if (is_valid) {
				assert_int_equal(rc, 0);
				assert_memory_equal(out, msg, mn);
				assert_int_equal(aead_seal(key, iv, ivn, aad, an, msg, mn, out, otag, 16), 0);
				assert_memory_equal(out, ct, cn);
				assert_memory_equal(otag, tag, 16);
				valid++;
			} else {
				assert_int_not_equal(rc, 0);
				invalid++;
			}
			free(key), free(iv), free(aad), free(msg), free(ct), free(tag), free(out);
		}
	}
	print_message("wycheproof aes-256-gcm: %d cases, %d valid passed, %d invalid rejected, "
		      "%d outside our parameters refused\n", ran, valid, invalid, refused);
	assert_true(valid > 20);
	assert_true(invalid > 10);
	json_decref(doc);
}

struct fixture {
	char dir[64];
	struct kms *kms;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sd_err err;

	assert_non_null(make_tmpdir(f->dir));
	assert_int_equal(crypto_init(&err), 0);
	f->kms = kms_local_open(f->dir, &err);
	assert_non_null(f->kms);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kms_free(f->kms);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static const unsigned char secret[] = "correct horse battery staple";

static void seal(struct fixture *f, const char *tenant, const char *path, uint64_t v,
		 unsigned char **blob, size_t *len)
{
	struct sd_err err;

	assert_int_equal(envelope_seal(f->kms, tenant, path, v, secret, sizeof(secret) - 1, blob, len, &err), 0);
}

static void envelope_round_trips(void **state)
{
	struct fixture *f = *state;
	unsigned char *blob, *pt;
	size_t len, ptlen;
	struct sd_err err;
	char id[65];

	seal(f, "t1", "db/password", 7, &blob, &len);
	assert_null(memmem(blob, len, secret, sizeof(secret) - 1));
	assert_int_equal(envelope_open(f->kms, "t1", "db/password", 7, blob, len, &pt, &ptlen, &err), 0);
	assert_int_equal(ptlen, sizeof(secret) - 1);
	assert_memory_equal(pt, secret, ptlen);
	assert_int_equal(envelope_kek_id(blob, len, id), 0);
	assert_string_equal(id, kms_active_kek_id(f->kms));
	sd_wipe_free(pt, ptlen + 1);
	free(blob);
}

static void envelope_moved_to_other_record_fails_to_open(void **state)
{
	struct fixture *f = *state;
	unsigned char *blob, *pt = NULL;
	size_t len, ptlen;
	struct sd_err err;

	seal(f, "t1", "db/password", 7, &blob, &len);
	assert_int_equal(envelope_open(f->kms, "t1", "db/other", 7, blob, len, &pt, &ptlen, &err), SD_ECRYPTO);
	assert_int_equal(envelope_open(f->kms, "t1", "db/password", 8, blob, len, &pt, &ptlen, &err), SD_ECRYPTO);
	assert_int_equal(envelope_open(f->kms, "t2", "db/password", 7, blob, len, &pt, &ptlen, &err), SD_ECRYPTO);
	/* "t1"+"db/password" must not collide with "t1d"+"b/password" */
	assert_int_equal(envelope_open(f->kms, "t1d", "b/password", 7, blob, len, &pt, &ptlen, &err), SD_ECRYPTO);
	assert_null(pt);
	free(blob);
}

static void envelope_tampered_or_truncated_fails_to_open(void **state)
{
	struct fixture *f = *state;
	unsigned char *blob, *pt = NULL;
	size_t len, ptlen;
	struct sd_err err;

	seal(f, "t1", "p", 1, &blob, &len);
	/* every single-byte change is caught */
	for (size_t i = 0; i < len; i++) {
		blob[i] ^= 0x01;
		assert_int_not_equal(envelope_open(f->kms, "t1", "p", 1, blob, len, &pt, &ptlen, &err), 0);
		blob[i] ^= 0x01;
	}
	/* every truncation is caught, including a shortened tag */
	for (size_t n = 0; n < len; n++)
		assert_int_not_equal(envelope_open(f->kms, "t1", "p", 1, blob, n, &pt, &ptlen, &err), 0);
	assert_null(pt);
	free(blob);
}

static void truncated_tag_is_refused_by_aead_open(void **state)
{
	unsigned char key[32] = { 1 }, nonce[12] = { 2 }, ct[4], tag[16], pt[4];

	(void)state;
	assert_int_equal(aead_seal(key, nonce, 12, NULL, 0, (const unsigned char *)"abcd", 4, ct, tag, 16), 0);
	assert_int_equal(aead_open(key, nonce, 12, NULL, 0, ct, 4, tag, 16, pt), 0);
	assert_int_equal(aead_open(key, nonce, 12, NULL, 0, ct, 4, tag, 15, pt), SD_EINVAL);
	assert_int_equal(aead_open(key, nonce, 12, NULL, 0, ct, 4, tag, 12, pt), SD_EINVAL);
	tag[15] ^= 1;
	assert_int_equal(aead_open(key, nonce, 12, NULL, 0, ct, 4, tag, 16, pt), SD_ECRYPTO);
}

static void wrapped_key_from_other_record_fails(void **state)
{
	struct fixture *f = *state;
	unsigned char *a, *b, *pt = NULL;
	size_t al, bl, ptlen;
	struct sd_err err;

	seal(f, "t1", "a", 1, &a, &al);
	seal(f, "t1", "b", 1, &b, &bl);
	assert_int_equal(al, bl);
	/* splice b's wrapped DEK (bytes after the KEK id) into a */
	size_t off = 2 + a[1];
	size_t wl = a[off];
	memcpy(a + off + 1, b + off + 1, wl);
	assert_int_not_equal(envelope_open(f->kms, "t1", "a", 1, a, al, &pt, &ptlen, &err), 0);
	assert_null(pt);
	free(a);
	free(b);
}

static void kek_file_is_private_and_reloaded(void **state)
{
	struct fixture *f = *state;
	unsigned char *blob, *pt;
	size_t len, ptlen;
	struct sd_err err;
	char path[256];
	struct stat st;
	struct kms *again;

	snprintf(path, sizeof(path), "%s/keys/kek-%s.key", f->dir, kms_active_kek_id(f->kms));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/keys", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	seal(f, "t", "p", 1, &blob, &len);
	again = kms_local_open(f->dir, &err);
	assert_non_null(again);
	assert_string_equal(kms_active_kek_id(again), kms_active_kek_id(f->kms));
	assert_int_equal(envelope_open(again, "t", "p", 1, blob, len, &pt, &ptlen, &err), 0);
	sd_wipe_free(pt, ptlen + 1);
	kms_free(again);
	free(blob);
}

static void kek_file_readable_by_others_is_refused(void **state)
{
	struct fixture *f = *state;
	struct sd_err err;
	char path[256];

	snprintf(path, sizeof(path), "%s/keys/kek-%s.key", f->dir, kms_active_kek_id(f->kms));
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(kms_local_open(f->dir, &err));
	assert_int_equal(err.code, SD_EDOWN);
	chmod(path, 0600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wycheproof_aes_256_gcm_matches),
		cmocka_unit_test(truncated_tag_is_refused_by_aead_open),
		cmocka_unit_test_setup_teardown(envelope_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(envelope_moved_to_other_record_fails_to_open, setup, teardown),
		cmocka_unit_test_setup_teardown(envelope_tampered_or_truncated_fails_to_open, setup, teardown),
		cmocka_unit_test_setup_teardown(wrapped_key_from_other_record_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(kek_file_is_private_and_reloaded, setup, teardown),
		cmocka_unit_test_setup_teardown(kek_file_readable_by_others_is_refused, setup, teardown),
	};
	return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
