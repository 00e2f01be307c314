/* secrets.h — versioned, envelope-encrypted secrets: the rules of the KV
 * store on top of store.h and crypto.h. Callers have already checked the
 * path and the caller's scope. */
#ifndef SD_SECRETS_H
#define SD_SECRETS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct app;
struct scopes;
struct idem;

#define SD_VALUE_MAX (512 * 1024)
#define SD_META_KEYS_MAX 64
#define SD_META_KEY_MAX 128
#define SD_META_VALUE_MAX 512
#define SD_VERSION_MAX 9007199254740991ull /* 2^53 - 1: exact in every JSON parser */

struct secret_write {
	const char *tenant;
	const char *path;
	const char *actor;
	const unsigned char *value;
	size_t value_len;
	json_t *metadata;  /* object of strings (checked by secrets_check_metadata), or NULL = keep */
	int has_cas;
	uint64_t cas;      /* with has_cas: write only if the current version is cas (0 = create only) */
	struct idem *idem; /* optional: idempotency key of the request */
	const char *request_id; /* for the evidence record */
	const char *reason;     /* for the evidence record (rotation) */
	const char *action;     /* evidence action; NULL = "secret.write" */
	/* Scheduled rotation: write only while the head's next rotation is
	 * still this due time (else SD_ECONFLICT: someone rotated already). */
	int64_t expect_due_us;
	int pending;       /* staged: write as pending; current stays until promoted */
	/* The reply stored for an idempotent replay; NULL = secrets_write_reply. */
	json_t *(*make_reply)(void *arg, uint64_t version, int64_t created_us);
	void *reply_arg;
};

/* The body of a write's reply: {"version":N,"created_at":"..."}. */
json_t *secrets_write_reply(uint64_t version, int64_t created_us);

/* Check a metadata object: at most 64 keys of 1..128 bytes, string values
 * of at most 512 bytes, no control characters, "ttl" a positive duration. */
int secrets_check_metadata(json_t *metadata, struct sd_err *err);

/* Write the next version; returns its number and creation time, or
 * IDEM_REPLAY when w->idem holds a stored result to replay instead. */
int secrets_write(struct app *app, const struct secret_write *w, uint64_t *version,
		  int64_t *created_us, struct sd_err *err);

struct secret_value {
	uint64_t version;
	int64_t created_us;
	unsigned char *value;  /* plaintext, NUL-terminated copy; wiped by secret_value_free */
	size_t len;
	char *metadata;        /* JSON object text or NULL */
};

/* Read version (0 = current). SD_ENOTFOUND for a missing path, a missing,
 * destroyed or deleted version. */
int secrets_read(struct app *app, const char *tenant, const char *path, uint64_t version,
		 struct secret_value *out, struct sd_err *err);
void secret_value_free(struct secret_value *v);

/* End a staged version: promote it (current from now on) or mark it
 * failed (never served); both append evidence. */
int secrets_finish_staged(struct app *app, const char *tenant, const char *path, uint64_t version,
			  int promote, uint64_t expect_current, const char *actor, const char *request_id,
			  const char *reason, const char *detail, struct sd_err *err);

/* Move a secret's scheduled rotation from due to new_due (if it is still due). */
int secrets_reschedule(struct app *app, const char *tenant, const char *path, int64_t due,
		       int64_t new_due, struct sd_err *err);

/* Soft-delete version (0 = current) / restore it. IDEM_REPLAY as above. */
struct actor {
	const char *sub;         /* who */
	const char *request_id;  /* which request */
};
int secrets_delete(struct app *app, const char *tenant, const char *path, uint64_t version,
		   const struct actor *who, struct idem *idem, struct sd_err *err);
int secrets_undelete(struct app *app, const char *tenant, const char *path, uint64_t version,
		     const struct actor *who, struct idem *idem, struct sd_err *err);

/* The metadata document of a path (current and oldest version, each
 * version's created_at, created_by, state; the metadata object). */
int secrets_metadata(struct app *app, const char *tenant, const char *path, json_t **out,
		     struct sd_err *err);

struct secret_list {
	const char *tenant;
	const struct scopes *scopes; /* only paths these may read are listed */
	const char *prefix;          /* "" for all */
	const char *owner;           /* NULL, or list through the owner index */
	const char *after;           /* cursor: list paths after this one */
	unsigned limit;
};

/* {"paths":[...],"next":cursor|null} */
int secrets_list(struct app *app, const struct secret_list *q, json_t **out, struct sd_err *err);

#endif
