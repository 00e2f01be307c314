/* postgresql.c — dynamic PostgreSQL roles as leases (libpq).
 *
 * issue runs the role's creation_statements in one transaction with
 * {{name}}, {{password}} and {{expiration}} filled in; renew moves VALID
 * UNTIL; revoke drops the role (terminating its sessions first); rotate
 * sets a new password for a static account. Names are
 * "<username_prefix>_<role>_<lease_id>" (at most 63 bytes), so a revoke
 * after a crash can recompute them from the lease id.
 *
 * Plugin settings ([plugin postgresql])
 *   connection_url        postgresql://user:pass@host:port/db?sslmode=...
 *   max_open_connections  pool size, 1..64 (default 4)
 *   username_prefix       [a-z0-9_]{0,16} (default "sd")
 * Role settings
 *   creation_statements   required, ';'-separated, with {{name}},
 *                         {{password}}, {{expiration}}
 *   renew_statements      default: ALTER ROLE "{{name}}" VALID UNTIL
 *                         '{{expiration}}'
 *   revocation_statements default: terminate the role's sessions, REASSIGN
 *                         OWNED to the plugin's user (when allowed), DROP
 *                         OWNED, DROP ROLE IF EXISTS
 *   rotation_statements   default: ALTER ROLE "{{name}}" WITH PASSWORD
 *                         '{{password}}'
 *
 * Placeholders: "{{name}}" / '{{password}}' are escaped for the quotes they
 * are written in; a bare {{name}} becomes a quoted identifier, any other
 * bare placeholder a quoted literal.
 *
 * Time: every network wait is bounded by the call's deadline (non-blocking
 * libpq with poll), and each session starts with SET statement_timeout to
 * the time left, so the server gives up too. Host names are resolved by
 * libpq synchronously: use IP addresses for strict deadlines.
 */
#include <secretsd/plugin.h>
#include <secretsd/sdk.h>

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG_POLL_STEP_MS 100 /* how often a wait checks the deadline */
#define PG_NAME "postgresql"
#define PG_USER_MAX 63     /* NAMEDATALEN - 1 */
#define PG_PASSWORD_LEN 32

/* Catalog changes of the plugin's transactions serialise on this advisory
 * lock (transaction scoped: held until COMMIT or ROLLBACK): concurrent
 * GRANTs, REVOKEs, DROP OWNED, ALTER DEFAULT PRIVILEGES ... on the same
 * object update the same catalog row (its ACL) and otherwise fail with
 * "tuple concurrently updated" (XX000).
 *
 * pg_run_tx runs the leading CREATE ROLE / CREATE USER statements of a list
 * without it, then takes it before the first other statement and keeps it
 * to the end. Role creations only insert rows about a role that no other
 * transaction sees yet, and they are the expensive part (CREATE ROLE ...
 * PASSWORD runs 4,096 SCRAM-SHA-256 iterations): concurrent issues hash in
 * parallel and queue only for the GRANTs and the COMMIT. Every other
 * statement (GRANT, ALTER ROLE, DROP ..., CREATE USER MAPPING) is under the
 * lock, so renew, revoke and rotation take it first, as before; a list of
 * role creations only does not take it.
 *
 * The first statement after the lock sees the last holder's changes: a
 * COMMIT sends its catalog invalidations before it releases its locks, and
 * a GRANT/ALTER opens its catalog (pg_class, pg_namespace, pg_database,
 * pg_default_acl, ...) in a lock mode the transaction does not hold yet,
 * which makes the backend apply them before it reads the row; the role
 * creations before the lock only write pg_authid and pg_auth_members. */
#define PG_LOCK "SELECT pg_catalog.pg_advisory_xact_lock(7564390121)"
#define PG_BEGIN "BEGIN; " PG_LOCK

#define PG_DEFAULT_RENEW "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}'"
#define PG_DEFAULT_ROTATE "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}'"

struct pg_state {
	const struct sd_host *host;
	const char *url;     /* the host's string, valid until fini */
	char *root_password; /* from the URL, only to redact messages; wiped */
	char prefix[17];
	int64_t connect_timeout_ms;
	struct sdk_pool pool; /* of PGconn */
};

/* One call's session: a pooled connection and what to redact. */
struct pg_op {
	struct pg_state *s;
	struct sd_call *call;
	PGconn *conn;
	int reused;         /* conn came from the idle list */
	int broken;         /* conn must not go back to the pool */
	const char *secret; /* a password to keep out of messages, or NULL */
	char sqlstate[6];   /* of the last failed statement, "" otherwise */
};

/* --- settings --------------------------------------------------------------------- */

static const struct sd_setting pg_plugin_settings[] = {
	{"connection_url", SD_SET_URL, 1, NULL, 1,
	 "postgresql://user:password@host:5432/dbname?sslmode=require (a role that can CREATE ROLE)"},
	{"max_open_connections", SD_SET_INT, 0, "4", 0, "connections kept to the server, 1..64"},
	{"username_prefix", SD_SET_STRING, 0, "sd", 0, "prefix of generated role names, [a-z0-9_]{0,16}"},
	{"connect_timeout", SD_SET_DURATION, 0, "5", 0,
	 "give up connecting after this long (or at the call's deadline): dependency down"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static const struct sd_setting pg_role_settings[] = {
	{"creation_statements", SD_SET_STRING, 1, NULL, 0,
	 "SQL run in one transaction to create the role: {{name}} {{password}} {{expiration}}"},
	{"renew_statements", SD_SET_STRING, 0, NULL, 0,
	 "SQL to extend the role (default ALTER ROLE ... VALID UNTIL): {{name}} {{expiration}}"},
	{"revocation_statements", SD_SET_STRING, 0, NULL, 0,
	 "SQL to drop the role (default: terminate sessions, drop owned, drop role): {{name}}"},
	{"rotation_statements", SD_SET_STRING, 0, NULL, 0,
	 "SQL to set a static account's password: {{name}} {{password}}"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static char *
check_esc(void *arg, const char *key, const char *value, char quote)
{
	(void)arg;
	(void)key;
	return quote == '`' ? NULL : sdk_strdup(value);
}

static int
pg_check_prefix(const char *p, char *err, size_t cap)
{
	size_t i, n = strlen(p);

	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			break;
	if (n > 16 || i < n) {
		sdk_err(err, cap, "username_prefix must be at most 16 characters of [a-z0-9_]");
		return SD_PINVAL;
	}
	return SD_POK;
}

/* Validate the plugin settings; with pw != NULL, also return a copy of the
 * password in the URL (for redaction; the caller wipes it). */
static int
pg_check_plugin(const struct sd_kv *plugin, char **pw, char *err, size_t cap)
{
	const char *url = sdk_kv_get(plugin, "connection_url");
	const char *prefix = sdk_kv_get(plugin, "username_prefix");
	PQconninfoOption *opts, *o;
	char *perr = NULL;
	int64_t max;

	if (url == NULL || url[0] == '\0') {
		sdk_err(err, cap, "connection_url is required");
		return SD_PINVAL;
	}
	if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0) {
		sdk_err(err, cap, "connection_url must start with postgresql://");
		return SD_PINVAL;
	}
	opts = PQconninfoParse(url, &perr);
	if (opts == NULL) {
		/* libpq's message may quote parts of the URL: keep it out */
		if (perr != NULL) {
			explicit_bzero(perr, strlen(perr));
			PQfreemem(perr);
		}
		sdk_err(err, cap, "connection_url: libpq cannot parse it");
		return SD_PINVAL;
	}
	for (o = opts; pw != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
			*pw = sdk_strdup(o->val);
	for (o = opts; o->keyword != NULL; o++)
		if (o->val != NULL)
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(opts);
	if (sdk_kv_get_int(plugin, "max_open_connections", 4, &max) != 0 || max < 1 ||
	    max > SDK_POOL_MAX) {
		sdk_err(err, cap, "max_open_connections must be 1..%d", SDK_POOL_MAX);
		return SD_PINVAL;
	}
	if (prefix != NULL && pg_check_prefix(prefix, err, cap) != SD_POK)
		return SD_PINVAL;
	if (sdk_kv_get_duration(plugin, "connect_timeout", 5, &max) != 0 || max < 1 || max > 600) {
		sdk_err(err, cap, "connect_timeout must be 1s..600s");
		return SD_PINVAL;
	}
	return SD_POK;
}

static int
pg_check(const struct sd_kv *plugin, const struct sd_kv *role, char *err, size_t err_cap)
{
	if (role == NULL)
		return pg_check_plugin(plugin, NULL, err, err_cap);
	return sdk_check_sql_role(role, SDK_SQL_POSTGRES, check_esc, err, err_cap);
}

/* --- errors ------------------------------------------------------------------------ */

static void
pg_log(struct pg_state *s, int level, const char *msg)
{
	if (s->host->log != NULL)
		s->host->log(level, PG_NAME, msg);
}

/* Write "postgresql: <what>: <msg>" into call->err, with msg cut at its
 * first newline and every password redacted. */
static void
pg_seterr(struct pg_op *op, const char *what, const char *sqlstate, const char *msg)
{
	char m[256];

	snprintf(m, sizeof(m), "%s", msg != NULL ? msg : "unknown error");
	m[strcspn(m, "\r\n")] = '\0';
	sdk_redact(m, op->secret);
	sdk_redact(m, op->s->root_password);
	if (sqlstate != NULL && sqlstate[0] != '\0')
		sdk_err(op->call->err, op->call->err_cap, "postgresql: %s: %s (SQLSTATE %s)", what, m,
			sqlstate);
	else
		sdk_err(op->call->err, op->call->err_cap, "postgresql: %s: %s", what, m);
}

static int
pg_sqlstate_rc(const char *st)
{
	if (strncmp(st, "28", 2) == 0 || strcmp(st, "42501") == 0)
		return SD_PDENIED;
	if (strcmp(st, "57014") == 0)
		return SD_PTIMEOUT; /* statement_timeout */
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	    strncmp(st, "58", 2) == 0 || strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
	    strcmp(st, "55P03") == 0 /* lock_not_available */ ||
	    strcmp(st, "XX000") == 0 /* e.g. tuple concurrently updated */)
		return SD_PDOWN;
	if (strcmp(st, "42704") == 0)
		return SD_PNOTFOUND; /* undefined_object: the role does not exist */
	return SD_PINVAL;
}

/* --- waiting ---------------------------------------------------------------------- */

/* Wait for events on fd until one is ready (1), the call is cancelled or
 * the time until limit_us (0: none) is up (0), or poll fails (-1). */
static int
pg_wait(struct pg_op *op, int fd, short events, int64_t limit_us)
{
	struct pollfd p;
	int64_t left;
	int r;

	for (;;) {
		if (op->s->host->cancelled(op->call))
			return 0;
		left = sdk_remaining_ms(op->s->host, op->call);
		if (limit_us > 0 && (limit_us - op->s->host->now_us()) / 1000 < left)
			left = (limit_us - op->s->host->now_us()) / 1000;
		if (left <= 0)
			return 0;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, (int)(left < PG_POLL_STEP_MS ? left : PG_POLL_STEP_MS));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int
pg_timeout(struct pg_op *op, const char *what)
{
	sdk_err(op->call->err, op->call->err_cap, "postgresql: %s: deadline passed", what);
	return SD_PTIMEOUT;
}

/* --- connections ------------------------------------------------------------------------ */

static void
pg_notice_ignore(void *arg, const char *msg)
{
	(void)arg;
	(void)msg; /* NOTICEs ("role does not exist, skipping") are not errors */
}

/* Open a new connection within connect_timeout and the deadline. A server
 * that does not answer in time is down (SD_PDOWN), like one that refuses. */
static int
pg_connect(struct pg_op *op)
{
	const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
	const char *vals[] = {op->s->url, "secretsd", NULL, NULL};
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	char tmo[24];
	PGconn *c;
	int64_t left = sdk_remaining_ms(op->s->host, op->call);
	int64_t limit = op->s->host->now_us() + op->s->connect_timeout_ms * 1000;

	/* connect_timeout bounds blocking steps libpq does itself (it rounds
	 * up to 2 s); the poll loop below enforces the real limits. */
	snprintf(tmo, sizeof(tmo), "%lld", (long long)(op->s->connect_timeout_ms / 1000 + 1));
	vals[2] = tmo;
	if (left <= 0 || op->s->host->cancelled(op->call))
		return pg_timeout(op, "connect");
	c = PQconnectStartParams(keys, vals, 1);
	if (c == NULL) {
		sdk_err(op->call->err, op->call->err_cap, "postgresql: connect: out of memory");
		return SD_PINTERNAL;
	}
	while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		int w = PQsocket(c) < 0 ? 1
					: pg_wait(op, PQsocket(c),
						  st == PGRES_POLLING_READING ? POLLIN : POLLOUT, limit);
		if (w == 1 && (op->s->host->cancelled(op->call) || op->s->host->now_us() > limit))
			w = 0;
		if (w <= 0) {
			PQfinish(c);
			sdk_err(op->call->err, op->call->err_cap, "postgresql: cannot connect: %s",
				w == 0 ? "no answer before the connect timeout or the deadline"
				       : "poll failed");
			return SD_PDOWN;
		}
		st = PQconnectPoll(c);
	}
	if (PQstatus(c) != CONNECTION_OK) {
		pg_seterr(op, "cannot connect", NULL, PQerrorMessage(c));
		PQfinish(c);
		return SD_PDOWN;
	}
	PQsetNoticeProcessor(c, pg_notice_ignore, NULL);
	if (PQsetnonblocking(c, 1) != 0) {
		pg_seterr(op, "cannot connect", NULL, PQerrorMessage(c));
		PQfinish(c);
		return SD_PDOWN;
	}
	op->conn = c;
	op->reused = 0;
	op->broken = 0;
	return SD_POK;
}

static int
pg_connect_cb(void *arg, void **conn)
{
	struct pg_op *op = arg;
	int rc = pg_connect(op);

	*conn = op->conn;
	return rc;
}

/* Take an idle connection or open one, waiting for a free slot until the
 * deadline. */
static int
pg_acquire(struct pg_op *op)
{
	void *c;
	int rc = sdk_pool_acquire(&op->s->pool, op->s->host, op->call, "postgresql", pg_connect_cb, op,
				  &c, &op->reused);

	op->conn = c;
	op->broken = 0;
	return rc;
}

static void
pg_close(void *conn)
{
	PQfinish(conn);
}

/* Give the connection back: to the idle list when it is healthy and idle,
 * closed otherwise. */
static void
pg_release(struct pg_op *op)
{
	PGconn *c = op->conn;

	if (c == NULL)
		return;
	op->conn = NULL;
	if (op->broken || PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE) {
		PQfinish(c);
		c = NULL;
	}
	sdk_pool_release(&op->s->pool, c);
}

/* --- running SQL ------------------------------------------------------------------------ */

/* Run one SQL string on op->conn within the deadline. On success returns
 * SD_POK and, when res != NULL, the last result (the caller PQclears it).
 * On failure writes "<what>: message (SQLSTATE x)" to err and returns the
 * mapped code; op->sqlstate holds the SQLSTATE, op->broken is set when the
 * connection cannot be reused. The statement text never reaches err. */
static int
pg_exec(struct pg_op *op, const char *sql, const char *what, PGresult **res)
{
	PGconn *c = op->conn;
	PGresult *r, *last = NULL, *bad = NULL;
	int f, w, rc = SD_POK;

	op->sqlstate[0] = '\0';
	if (res != NULL)
		*res = NULL;
	if (PQsendQuery(c, sql) != 1)
		goto conn_err;
	while ((f = PQflush(c)) == 1) {
		if ((w = pg_wait(op, PQsocket(c), POLLIN | POLLOUT, 0)) <= 0)
			goto wait_err;
		if (PQconsumeInput(c) != 1)
			goto conn_err;
	}
	if (f < 0)
		goto conn_err;
	for (;;) {
		while (PQisBusy(c)) {
			if ((w = pg_wait(op, PQsocket(c), POLLIN, 0)) <= 0)
				goto wait_err;
			if (PQconsumeInput(c) != 1)
				goto conn_err;
		}
		if ((r = PQgetResult(c)) == NULL)
			break;
		switch (PQresultStatus(r)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
		case PGRES_EMPTY_QUERY:
			PQclear(last);
			last = r;
			break;
		case PGRES_COPY_IN:
		case PGRES_COPY_OUT:
		case PGRES_COPY_BOTH:
			/* PQgetResult would return this forever: give up the connection */
			PQclear(r);
			PQclear(last);
			PQclear(bad);
			op->broken = 1;
			sdk_err(op->call->err, op->call->err_cap, "postgresql: %s: COPY is not supported",
				what);
			return SD_PINVAL;
		default:
			if (bad == NULL)
				bad = r;
			else
				PQclear(r);
			break;
		}
	}
	if (bad != NULL) {
		const char *st = PQresultErrorField(bad, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(bad, PG_DIAG_MESSAGE_PRIMARY);
		snprintf(op->sqlstate, sizeof(op->sqlstate), "%s", st != NULL ? st : "");
		rc = st != NULL ? pg_sqlstate_rc(st) : SD_PINTERNAL;
		/* "syntax error at or near <token>": the token may be a value */
		if (st != NULL && strcmp(st, "42601") == 0)
			msg = "syntax error";
		pg_seterr(op, what, op->sqlstate, msg != NULL ? msg : PQresultErrorMessage(bad));
		if (PQstatus(c) != CONNECTION_OK)
			op->broken = 1;
		PQclear(bad);
		PQclear(last);
		return rc;
	}
	if (res != NULL)
		*res = last;
	else
		PQclear(last);
	return SD_POK;
wait_err:
	op->broken = 1; /* a query may still be running: never reuse */
	PQclear(last);
	PQclear(bad);
	if (w == 0)
		return pg_timeout(op, what);
	sdk_err(op->call->err, op->call->err_cap, "postgresql: %s: poll failed", what);
	return SD_PDOWN;
conn_err:
	op->broken = 1;
	PQclear(last);
	PQclear(bad);
	pg_seterr(op, what, NULL, PQerrorMessage(c));
	return SD_PDOWN;
}

/* Acquire a connection and bound the server's work by the time left. A
 * pooled connection that turns out dead is replaced once. */
static int
pg_begin_session(struct pg_op *op)
{
	char sql[96];
	int rc, retry;

	for (;;) {
		int64_t left;
		if ((rc = pg_acquire(op)) != SD_POK)
			return rc;
		left = sdk_remaining_ms(op->s->host, op->call);
		if (left < 1)
			left = 1;
		snprintf(sql, sizeof(sql), "SET statement_timeout = %lld", (long long)left);
		rc = pg_exec(op, sql, "session setup", NULL);
		if (rc == SD_POK)
			return SD_POK;
		/* A pooled connection the server closed (restart, idle timeout):
		 * drop it and try the next one; each retry empties the idle list
		 * by one, so this ends with a fresh connection at the latest. */
		retry = op->reused && op->broken && !op->s->host->cancelled(op->call) &&
			sdk_remaining_ms(op->s->host, op->call) > 0;
		op->broken = 1;
		pg_release(op);
		if (!retry)
			return rc;
	}
}

/* Best effort ROLLBACK after a failure; a connection that cannot roll back
 * is dropped. */
static void
pg_rollback(struct pg_op *op)
{
	char save[256];

	if (op->conn == NULL || op->broken || PQtransactionStatus(op->conn) == PQTRANS_IDLE)
		return;
	snprintf(save, sizeof(save), "%s", op->call->err);
	if (pg_exec(op, "ROLLBACK", "rollback", NULL) != SD_POK)
		op->broken = 1;
	snprintf(op->call->err, op->call->err_cap, "%s", save); /* keep the first reason */
}

/* --- escaping ------------------------------------------------------------------------------ */

/* Copy a libpq-allocated string into a malloc'd one, wiping the original. */
static char *
pg_take(char *p)
{
	char *d;

	if (p == NULL)
		return NULL;
	d = sdk_strdup(p);
	explicit_bzero(p, strlen(p));
	PQfreemem(p);
	return d;
}

static char *
pg_esc(void *arg, const char *key, const char *value, char quote)
{
	PGconn *c = arg;
	const char *scs;
	size_t n = strlen(value), i, j = 0;
	char *d;

	if (quote == 0)
		return pg_take(strcmp(key, "name") == 0 ? PQescapeIdentifier(c, value, n)
							: PQescapeLiteral(c, value, n));
	if (quote == '"')
		return sdk_escape_double(value, '"');
	if (quote != '\'')
		return NULL;
	scs = PQparameterStatus(c, "standard_conforming_strings");
	if (scs != NULL && strcmp(scs, "on") == 0)
		return sdk_escape_double(value, '\'');
	/* backslashes are escapes in '...' here: double them as well */
	if ((d = malloc(2 * n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (value[i] == '\'' || value[i] == '\\')
			d[j++] = value[i];
		d[j++] = value[i];
	}
	d[j] = '\0';
	return d;
}

/* Skip white space and comments (-- to the end of the line, nested block
 * comments) at p. */
static const char *
pg_skip_blank(const char *p)
{
	for (;;) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') {
			p++;
		} else if (p[0] == '-' && p[1] == '-') {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			int depth = 1;
			for (p += 2; *p != '\0' && depth > 0; p++) {
				if (p[0] == '/' && p[1] == '*')
					depth++, p++;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p++;
			}
		} else {
			return p;
		}
	}
}

/* The position after keyword kw (lower case) when p starts with it (after
 * blanks, any case, as a whole word), else NULL. */
static const char *
pg_keyword(const char *p, const char *kw)
{
	unsigned char c;
	size_t i;

	p = pg_skip_blank(p);
	for (i = 0; kw[i] != '\0'; i++)
		if (p[i] == '\0' || (p[i] | 0x20) != kw[i])
			return NULL;
	c = (unsigned char)p[i];
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	    c == '$' || c >= 0x80)
		return NULL;
	return p + i;
}

/* Whether a statement template is a role creation (CREATE ROLE, or CREATE
 * USER that is not CREATE USER MAPPING): it may run before the lock. */
static int
pg_creates_role(const char *stmt)
{
	const char *p = pg_keyword(stmt, "create"), *q;

	if (p == NULL)
		return 0;
	if (pg_keyword(p, "role") != NULL)
		return 1;
	return (q = pg_keyword(p, "user")) != NULL && pg_keyword(q, "mapping") == NULL;
}

/* BEGIN; statements; COMMIT — or ROLLBACK on failure. The leading role
 * creations run before the advisory lock, the rest after it (see PG_LOCK).
 * *commit_unknown is set when COMMIT was sent but its outcome is unknown
 * (connection lost). */
static int
pg_run_tx(struct pg_op *op, const char *setting, const char *stmts, const struct sd_kv *vars,
	  int *commit_unknown)
{
	char **list = NULL, *sql = NULL, what[96], e[160];
	size_t n = 0, i, unlocked = 0;
	int rc;

	if (commit_unknown != NULL)
		*commit_unknown = 0;
	if (sdk_split_statements(stmts, &list, &n) != 0) {
		sdk_err(op->call->err, op->call->err_cap, "postgresql: %s: cannot split", setting);
		return SD_PINVAL;
	}
	while (unlocked < n && pg_creates_role(list[unlocked]))
		unlocked++;
	/* the lock goes with BEGIN when the first statement needs it */
	rc = pg_exec(op, unlocked == 0 ? PG_BEGIN : "BEGIN", "begin", NULL);
	for (i = 0; i < n && rc == SD_POK; i++) {
		if (i == unlocked && i > 0) {
			snprintf(what, sizeof(what), "%s, advisory lock before statement %zu", setting,
				 i + 1);
			if ((rc = pg_exec(op, PG_LOCK, what, NULL)) != SD_POK)
				break;
		}
		snprintf(what, sizeof(what), "%s, statement %zu of %zu", setting, i + 1, n);
		if (sdk_template(list[i], vars, pg_esc, op->conn, &sql, e, sizeof(e)) != 0) {
			sdk_err(op->call->err, op->call->err_cap, "postgresql: %s: %s", what, e);
			rc = SD_PINVAL;
			break;
		}
		rc = pg_exec(op, sql, what, NULL);
		sdk_str_free(sql);
		sql = NULL;
	}
	sdk_statements_free(list, n);
	if (rc != SD_POK) {
		pg_rollback(op);
		return rc;
	}
	rc = pg_exec(op, "COMMIT", "commit", NULL);
	if (rc != SD_POK && op->broken && commit_unknown != NULL)
		*commit_unknown = 1;
	return rc;
}

/* --- names ------------------------------------------------------------------------------- */

static int
pg_name(struct pg_state *s, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	const char *handle, char *out, size_t cap)
{
	if (handle != NULL && handle[0] != '\0') {
		if (strlen(handle) >= cap || strlen(handle) > PG_USER_MAX) {
			sdk_err(call->err, call->err_cap, "postgresql: bad handle");
			return SD_PINVAL;
		}
		memcpy(out, handle, strlen(handle) + 1);
		return SD_POK;
	}
	if (sdk_username_for_lease(out, cap, s->prefix, role, lease_id, PG_USER_MAX) < 0) {
		sdk_err(call->err, call->err_cap, "postgresql: bad lease id");
		return SD_PINVAL;
	}
	return SD_POK;
}

/* --- revoke ------------------------------------------------------------------------------- */

static char *
pg_literal(PGconn *c, const char *v)
{
	return pg_take(PQescapeLiteral(c, v, strlen(v)));
}

static char *
pg_ident(PGconn *c, const char *v)
{
	return pg_take(PQescapeIdentifier(c, v, strlen(v)));
}

/* The default revocation: stop new logins, end the sessions, hand owned
 * objects to us (when allowed), drop what is left, drop the role. A role
 * that does not exist is success. */
static int
pg_revoke_default(struct pg_op *op, const char *name)
{
	char *lit = NULL, *id = NULL, sql[512], save[256];
	PGresult *r = NULL;
	int rc;

	lit = pg_literal(op->conn, name);
	id = pg_ident(op->conn, name);
	if (lit == NULL || id == NULL) {
		sdk_err(op->call->err, op->call->err_cap, "postgresql: revoke: cannot quote the name");
		rc = SD_PINTERNAL;
		goto out;
	}
	snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", lit);
	if ((rc = pg_exec(op, sql, "revoke: look up role", &r)) != SD_POK)
		goto out;
	if (PQntuples(r) == 0)
		goto out; /* already gone */

	snprintf(sql, sizeof(sql), "ALTER ROLE %s NOLOGIN", id);
	if ((rc = pg_exec(op, sql, "revoke: alter role nologin", NULL)) != SD_POK) {
		if (rc == SD_PNOTFOUND)
			rc = SD_POK; /* dropped meanwhile */
		goto out;
	}
	snprintf(sql, sizeof(sql),
		 "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
		 "WHERE usename = %s AND pid <> pg_catalog.pg_backend_pid()",
		 lit);
	if (pg_exec(op, sql, "revoke: terminate sessions", NULL) != SD_POK) {
		if (op->broken)
			goto fail;
		pg_log(op->s, SD_LOG_WARN, op->call->err); /* sessions may linger; go on */
	}

	if ((rc = pg_exec(op, PG_BEGIN, "revoke: begin", NULL)) != SD_POK) {
		pg_rollback(op);
		goto out;
	}
	/* Membership lets a non-superuser with CREATEROLE reassign and drop
	 * the role's objects; a superuser does not need it. Best effort. */
	snprintf(save, sizeof(save), "%s", op->call->err);
	snprintf(sql, sizeof(sql), "SAVEPOINT sd_a; GRANT %s TO CURRENT_USER", id);
	if (pg_exec(op, sql, "revoke: grant", NULL) != SD_POK &&
	    pg_exec(op, "ROLLBACK TO SAVEPOINT sd_a", "revoke: rollback to savepoint", NULL) != SD_POK)
		goto fail;
	snprintf(sql, sizeof(sql), "SAVEPOINT sd_b; REASSIGN OWNED BY %s TO CURRENT_USER", id);
	if (pg_exec(op, sql, "revoke: reassign owned", NULL) != SD_POK &&
	    pg_exec(op, "ROLLBACK TO SAVEPOINT sd_b", "revoke: rollback to savepoint", NULL) != SD_POK)
		goto fail;
	snprintf(op->call->err, op->call->err_cap, "%s", save);
	snprintf(sql, sizeof(sql), "DROP OWNED BY %s", id);
	if ((rc = pg_exec(op, sql, "revoke: drop owned", NULL)) != SD_POK) {
		pg_rollback(op);
		if (rc == SD_PNOTFOUND)
			rc = SD_POK; /* dropped meanwhile */
		goto out;
	}
	snprintf(sql, sizeof(sql), "DROP ROLE IF EXISTS %s", id);
	if ((rc = pg_exec(op, sql, "revoke: drop role", NULL)) != SD_POK) {
		pg_rollback(op);
		goto out;
	}
	rc = pg_exec(op, "COMMIT", "revoke: commit", NULL);
	goto out;
fail:
	op->broken = 1;
	rc = op->s->host->cancelled(op->call) ? SD_PTIMEOUT : SD_PDOWN;
out:
	PQclear(r);
	sdk_str_free(lit);
	sdk_str_free(id);
	return rc;
}

/* Custom revocation_statements run in one transaction; then the role's
 * sessions are ended (found by oid: a dropped role's sessions no longer
 * show its name). */
static int
pg_revoke_name(struct pg_op *op, const struct sd_kv *role, const char *name)
{
	const char *stmts = sdk_kv_get(role, "revocation_statements");
	struct sd_kv vars[] = {{"name", name}, {NULL, NULL}};
	char *lit = NULL, sql[256], oid[16] = "";
	PGresult *r = NULL;
	int rc;

	if (stmts == NULL)
		return pg_revoke_default(op, name);
	if ((lit = pg_literal(op->conn, name)) == NULL) {
		sdk_err(op->call->err, op->call->err_cap, "postgresql: revoke: cannot quote the name");
		return SD_PINTERNAL;
	}
	snprintf(sql, sizeof(sql), "SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s", lit);
	sdk_str_free(lit);
	if ((rc = pg_exec(op, sql, "revoke: look up role", &r)) != SD_POK)
		return rc;
	if (PQntuples(r) == 1 && strspn(PQgetvalue(r, 0, 0), "0123456789") == strlen(PQgetvalue(r, 0, 0)))
		snprintf(oid, sizeof(oid), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	rc = pg_run_tx(op, "revocation_statements", stmts, vars, NULL);
	if ((rc == SD_POK || rc == SD_PNOTFOUND) && oid[0] != '\0') {
		char save[256];
		snprintf(save, sizeof(save), "%s", op->call->err);
		snprintf(sql, sizeof(sql),
			 "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
			 "WHERE usesysid = %s AND pid <> pg_catalog.pg_backend_pid()",
			 oid);
		if (pg_exec(op, sql, "revoke: terminate sessions", NULL) != SD_POK)
			pg_log(op->s, SD_LOG_WARN, op->call->err);
		snprintf(op->call->err, op->call->err_cap, "%s", save);
	}
	return rc;
}

/* --- callbacks -------------------------------------------------------------------------- */

static int
pg_init(const struct sd_host *host, const struct sd_kv *settings, void **state, char *err,
	size_t err_cap)
{
	struct pg_state *s;
	const char *prefix;
	int64_t max = 4;
	int rc;

	*state = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sdk_err(err, err_cap, "postgresql: out of memory");
		return SD_PINTERNAL;
	}
	if ((rc = pg_check_plugin(settings, &s->root_password, err, err_cap)) != SD_POK) {
		sdk_str_free(s->root_password);
		free(s);
		return rc;
	}
	sdk_kv_get_int(settings, "max_open_connections", 4, &max);
	prefix = sdk_kv_get(settings, "username_prefix");
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix != NULL ? prefix : "sd");
	s->host = host;
	s->url = sdk_kv_get(settings, "connection_url");
	sdk_pool_init(&s->pool, (int)max);
	sdk_kv_get_duration(settings, "connect_timeout", 5, &max);
	s->connect_timeout_ms = max * 1000;
	*state = s;
	return SD_POK;
}

static void
pg_fini(void *state)
{
	struct pg_state *s = state;

	if (s == NULL)
		return;
	sdk_pool_destroy(&s->pool, pg_close);
	sdk_str_free(s->root_password);
	free(s);
}

static int
pg_health(void *state, struct sd_call *call)
{
	struct pg_op op = {.s = state, .call = call};
	int rc;

	if ((rc = pg_begin_session(&op)) == SD_POK)
		rc = pg_exec(&op, "SELECT 1", "health", NULL);
	pg_release(&op);
	return rc == SD_POK ? SD_POK : SD_PDOWN;
}

static int
pg_issue(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 int64_t *expires_at_us, struct sd_kv **creds, char **handle)
{
	struct pg_state *s = state;
	struct pg_op op = {.s = s, .call = call};
	char name[PG_USER_MAX + 1], pw[PG_PASSWORD_LEN + 1], exp[32];
	const char *stmts = sdk_kv_get(role, "creation_statements");
	struct sd_kv *kv = NULL;
	int rc, unknown = 0;

	*creds = NULL;
	*handle = NULL;
	pw[0] = '\0';
	if (stmts == NULL) {
		sdk_err(call->err, call->err_cap, "postgresql: the role has no creation_statements");
		return SD_PINVAL;
	}
	if ((rc = pg_name(s, call, lease_id, role, NULL, name, sizeof(name))) != SD_POK)
		return rc;
	if (sdk_time_utc(*expires_at_us, exp, sizeof(exp)) != 0) {
		sdk_err(call->err, call->err_cap, "postgresql: bad expiry");
		return SD_PINVAL;
	}
	if (s->host->password(pw, sizeof(pw), PG_PASSWORD_LEN, NULL) != 0) {
		sdk_err(call->err, call->err_cap, "postgresql: no password from the host");
		return SD_PINTERNAL;
	}
	op.secret = pw;
	kv = sdk_kv_new(2);
	*handle = sdk_strdup(name);
	if (kv == NULL || *handle == NULL || sdk_kv_set(kv, 0, "username", name) != 0 ||
	    sdk_kv_set(kv, 1, "password", pw) != 0) {
		sdk_err(call->err, call->err_cap, "postgresql: out of memory");
		rc = SD_PINTERNAL;
		goto out;
	}
	{
		struct sd_kv vars[] = {
		    {"name", name}, {"password", pw}, {"expiration", exp}, {NULL, NULL}};
		if ((rc = pg_begin_session(&op)) != SD_POK)
			goto out;
		rc = pg_run_tx(&op, "creation_statements", stmts, vars, &unknown);
	}
	if (rc != SD_POK && unknown) {
		/* The COMMIT may have happened: undo on a fresh connection. */
		char save[256];
		snprintf(save, sizeof(save), "%s", call->err);
		pg_release(&op);
		op.secret = NULL;
		if (pg_begin_session(&op) != SD_POK || pg_revoke_name(&op, role, name) != SD_POK)
			pg_log(s, SD_LOG_ERROR, "issue failed at COMMIT and the clean-up failed too: "
						"revoke this lease");
		snprintf(call->err, call->err_cap, "%s", save);
	}
	if (rc != SD_POK)
		goto out;
	*creds = kv;
	kv = NULL;
out:
	pg_release(&op);
	explicit_bzero(pw, sizeof(pw));
	sdk_kv_free(kv);
	if (rc != SD_POK) {
		sdk_str_free(*handle);
		*handle = NULL;
	}
	return rc;
}

static int
pg_renew(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 const char *handle, int64_t expires_at_us)
{
	struct pg_state *s = state;
	struct pg_op op = {.s = s, .call = call};
	const char *stmts = sdk_kv_get(role, "renew_statements");
	char name[PG_USER_MAX + 1], exp[32];
	int rc;

	if ((rc = pg_name(s, call, lease_id, role, handle, name, sizeof(name))) != SD_POK)
		return rc;
	if (sdk_time_utc(expires_at_us, exp, sizeof(exp)) != 0) {
		sdk_err(call->err, call->err_cap, "postgresql: bad expiry");
		return SD_PINVAL;
	}
	{
		struct sd_kv vars[] = {{"name", name}, {"expiration", exp}, {NULL, NULL}};
		if ((rc = pg_begin_session(&op)) == SD_POK)
			rc = pg_run_tx(&op, "renew_statements", stmts != NULL ? stmts : PG_DEFAULT_RENEW,
				       vars, NULL);
	}
	pg_release(&op);
	if (rc == SD_PNOTFOUND)
		rc = SD_PINVAL; /* the role is gone: it cannot be extended */
	return rc;
}

static int
pg_revoke(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	  const char *handle)
{
	struct pg_state *s = state;
	struct pg_op op = {.s = s, .call = call};
	char name[PG_USER_MAX + 1];
	int rc;

	if ((rc = pg_name(s, call, lease_id, role, handle, name, sizeof(name))) != SD_POK)
		return rc;
	if ((rc = pg_begin_session(&op)) == SD_POK)
		rc = pg_revoke_name(&op, role, name);
	pg_release(&op);
	return rc;
}

static int
pg_rotate(void *state, struct sd_call *call, const struct sd_kv *role, const char *account,
	  char **new_value)
{
	struct pg_state *s = state;
	struct pg_op op = {.s = s, .call = call};
	const char *stmts = sdk_kv_get(role, "rotation_statements");
	char pw[PG_PASSWORD_LEN + 1];
	int rc;

	*new_value = NULL;
	if (account == NULL || account[0] == '\0' || strlen(account) > PG_USER_MAX) {
		sdk_err(call->err, call->err_cap, "postgresql: bad account name");
		return SD_PINVAL;
	}
	if (s->host->password(pw, sizeof(pw), PG_PASSWORD_LEN, NULL) != 0) {
		sdk_err(call->err, call->err_cap, "postgresql: no password from the host");
		return SD_PINTERNAL;
	}
	op.secret = pw;
	{
		struct sd_kv vars[] = {{"name", account}, {"password", pw}, {NULL, NULL}};
		if ((rc = pg_begin_session(&op)) == SD_POK)
			rc = pg_run_tx(&op, "rotation_statements",
				       stmts != NULL ? stmts : PG_DEFAULT_ROTATE, vars, NULL);
	}
	pg_release(&op);
	if (rc == SD_PNOTFOUND) {
		sdk_err(call->err, call->err_cap, "postgresql: account %s does not exist", account);
		rc = SD_PINVAL;
	}
	if (rc == SD_POK && (*new_value = sdk_strdup(pw)) == NULL) {
		/* set at the server but lost here: report it so the host retries */
		sdk_err(call->err, call->err_cap, "postgresql: out of memory after setting the password");
		rc = SD_PINTERNAL;
	}
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* --- the descriptor ---------------------------------------------------------------------- */

static const struct sd_plugin pg_plugin = {
	.abi_major = SD_ABI_MAJOR,
	.abi_minor = SD_ABI_MINOR,
	.struct_size = sizeof(struct sd_plugin),
	.name = PG_NAME,
	.version = "1.0.0",
	.kind = SD_KIND_LEASE,
	.plugin_settings = pg_plugin_settings,
	.role_settings = pg_role_settings,
	.check = pg_check,
	.init = pg_init,
	.fini = pg_fini,
	.health = pg_health,
	.issue = pg_issue,
	.renew = pg_renew,
	.revoke = pg_revoke,
	.rotate = pg_rotate,
	.free_kv = sdk_kv_free,
	.free_str = sdk_str_free,
};

SD_PLUGIN_EXPORT const struct sd_plugin *secretsd_plugin_v1(void);

const struct sd_plugin *
secretsd_plugin_v1(void)
{
	return &pg_plugin;
}
