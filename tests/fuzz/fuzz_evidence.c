/* fuzz_evidence.c — decoding evidence records: `secretsd evidence verify`
 * (evidence_verify_cli, core/evidence.c) on a file holding the input.
 *
 * Input: one selector byte S, then the file text T.
 *   S even  T is written as it is: the verifier must refuse it or accept
 *           it, never crash (a forged hash cannot be guessed, so only
 *           chains of zero records, or empty lines, are accepted);
 *   S odd   T is "fixed up" first: each line that is a JSON object gets
 *           prev_hash = the previous record's hash and hash = SHA-256 of
 *           its canonical form (keys sorted, compact, without "hash"),
 *           computed here independently of evidence.c; with S & 2 its
 *           "seq" is set to its position too. Such a chain is intact by
 *           construction: when every line was an object and seq was set,
 *           the verifier must say so (exit 0). A refusal there means the
 *           canonical form does not survive a write/read round trip. */
#include <jansson.h>
#include <openssl/evp.h>

#include "fuzz_common.h"

#include "evidence.h"
#include "util.h"

static char file[PATH_MAX];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_tmpdir("evidence");
	fz_path(file, sizeof(file), "evidence.jsonl");
	devnull = fopen("/dev/null", "w");
	if (devnull == NULL)
		fz_fail("no /dev/null");
	return 0;
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	if (EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) != 1)
		fz_fail("sha256");
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The fixed-up chain of text; *all_objects says whether every non-empty
 * line was a JSON object (and got a hash). */
static char *fix_up(char *text, int set_seq, int *all_objects)
{
	size_t cap = strlen(text) * 2 + 4096, len = 0;
	char *out = malloc(cap), prev[65], *line, *next;
	long long seq = 0;

	if (out == NULL)
		abort();
	memset(prev, '0', 64);
	prev[64] = '\0';
	*all_objects = 1;
	for (line = text; line != NULL; line = next) {
		json_t *rec, *copy;
		char *canon, *dump, hash[65];
		size_t need;
		next = fz_cut(line, '\n');
		if (line[0] == '\0') {
			if (next != NULL)
				out[len++] = '\n';
			continue;
		}
		rec = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(rec)) {
			*all_objects = 0;
			json_decref(rec);
			dump = strdup(line);
		} else {
			seq++;
			if (set_seq)
				json_object_set_new(rec, "seq", json_integer(seq));
			json_object_set_new(rec, "prev_hash", json_string(prev));
			copy = json_copy(rec);
			json_object_del(copy, "hash");
			canon = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
			json_decref(copy);
			if (canon == NULL) {
				*all_objects = 0;
				dump = strdup(line);
			} else {
				sha256_hex(canon, hash);
				free(canon);
				json_object_set_new(rec, "hash", json_string(hash));
				memcpy(prev, hash, 65);
				dump = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
			}
			json_decref(rec);
		}
		if (dump == NULL)
			abort();
		need = strlen(dump) + 2;
		if (len + need >= cap) {
			cap = (len + need) * 2;
			if ((out = realloc(out, cap)) == NULL)
				abort();
		}
		memcpy(out + len, dump, need - 2);
		len += need - 2;
		out[len++] = '\n';
		free(dump);
	}
	out[len] = '\0';
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc, all = 0;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		fz_write_file(file, data + 1, size - 1, 0600);
		rc = evidence_verify_cli(file, devnull, devnull);
		if (rc != 0 && rc != 1)
			fz_fail("evidence_verify_cli returned %d on a readable file", rc);
		return 0;
	}
	{
		char *text = fz_strndup(data + 1, size - 1), *chain;
		int set_seq = (data[0] & 2) != 0;
		chain = fix_up(text, set_seq, &all);
		fz_write_file(file, chain, strlen(chain), 0600);
		rc = evidence_verify_cli(file, devnull, devnull);
		if (rc != 0 && rc != 1)
			fz_fail("evidence_verify_cli returned %d on a readable file", rc);
		if (rc != 0 && all && set_seq) {
			FILE *f = fdopen(dup(2), "w");
			if (f != NULL) {
				evidence_verify_cli(file, f, f);
				fclose(f);
			}
			fz_fail("an intact chain (hashes computed over the canonical form) was refused:\n%s", chain);
		}
		free(chain);
		free(text);
	}
	return 0;
}
