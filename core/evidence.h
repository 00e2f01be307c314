/* evidence.h — the tamper-evident record of every change.
 *
 * Each state change appends a record in the same transaction as the change:
 * seq, time, tenant, actor, action, path or role, versions, reason, request
 * id, outcome, previous hash, hash. The hash is SHA-256 over the record's
 * canonical encoding (JSON, keys sorted, no spaces, without "hash"), and
 * each record names the previous record's hash, so an edited, removed,
 * inserted or reordered record breaks the chain. Values never appear; where
 * one must be referenced, an HMAC-SHA256 under a per-install key. */
#ifndef SD_EVIDENCE_H
#define SD_EVIDENCE_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

struct app;
struct store_txn;

struct evidence_event {
	const char *tenant;
	const char *actor;
	const char *action;      /* secret.write, secret.delete, lease.issue, ... */
	const char *path;        /* or NULL */
	const char *role;        /* or NULL */
	const char *lease_id;    /* or NULL */
	uint64_t version;        /* 0 = none */
	uint64_t previous_version;
	const char *reason;      /* or NULL */
	const char *request_id;  /* or NULL */
	const char *outcome;     /* "ok" unless given */
	const char *detail;      /* short, never a secret; or NULL */
	const unsigned char *value; /* referenced by HMAC only; or NULL */
	size_t value_len;
};

/* Load (creating on first start) the HMAC key DATA_DIR/keys/evidence.key. */
int evidence_init(struct app *app, struct sd_err *err);
void evidence_cleanup(struct app *app);

/* Append e in transaction t. */
int evidence_append(struct store_txn *t, struct app *app, const struct evidence_event *e,
		    struct sd_err *err);
/* Append e in a transaction of its own (events with no other change). */
int evidence_record(struct app *app, const struct evidence_event *e, struct sd_err *err);

/* {"events":[...],"next":seq|null}: the tenant's records from seq `since`
 * on, optionally only path and/or action, at most limit. */
int evidence_query(struct app *app, const char *tenant, const char *path, const char *action,
		   uint64_t since, unsigned limit, json_t **out, struct sd_err *err);

/* `secretsd evidence export --data-dir DIR`: JSON lines to out. */
int evidence_export_cli(const char *data_dir, FILE *out, FILE *errout);
/* `secretsd evidence verify --file F`: 0 when the chain holds; otherwise
 * names the first bad record on errout and returns 1. */
int evidence_verify_cli(const char *file, FILE *out, FILE *errout);

#endif
