/* mysql.c — dynamic MariaDB / MySQL users as leases (libmariadb).
 *
 * issue runs the role's creation_statements with {{name}}, {{password}}
 * and {{expiration}} filled in. MySQL DDL commits implicitly, so there is
 * no transaction to roll back: when a statement fails, the plugin runs the
 * revocation to undo what the earlier ones created. revoke drops the user
 * and then kills its connections (a dropped user stays connected
 * otherwise); renew is a no-op unless renew_statements are given (there is
 * no VALID UNTIL: the host's reaper enforces expiry); rotate sets a new
 * password for a static account. Names are "<prefix>_<role>_<lease_id>",
 * at most 32 bytes (MySQL's limit), recomputable from the lease id.
 *
 * Plugin settings ([plugin mysql])
 *   connection_url        mysql://user:pass@host:3306/[db][?socket=/path]
 *                         [&tls=true[&tls_ca=/path]] (mariadb:// too)
 *   max_open_connections  pool size, 1..64 (default 4)
 *   username_prefix       [a-z0-9_]{0,7} (default "sd")
 *   connect_timeout       give up connecting after this long (default 5 s)
 * Role settings
 *   creation_statements   required, e.g. CREATE USER '{{name}}'@'%'
 *                         IDENTIFIED BY '{{password}}'; GRANT SELECT ON
 *                         app.* TO '{{name}}'@'%'
 *   revocation_statements default DROP USER IF EXISTS '{{name}}'@'%'
 *   renew_statements      default none (success)
 *   rotation_statements   default ALTER USER '{{name}}'@'%' IDENTIFIED BY
 *                         '{{password}}'
 *
 * Placeholders inside '...', "..." or `...` are escaped for that quote; a
 * bare placeholder becomes a quoted string literal ('name' is how MySQL
 * writes account names too).
 *
 * Time: all I/O uses Connector/C's non-blocking API with poll, bounded by
 * the call's deadline; each session sets lock_wait_timeout (and, on
 * MariaDB, max_statement_time) to the time left. libmariadb needs no
 * mysql_thread_init/end (they are no-ops in Connector/C 3.x);
 * mysql_library_init runs when the first instance starts and
 * mysql_library_end when the last one stops.
 */
#include <secretsd/plugin.h>
#include <secretsd/sdk.h>

#include <errno.h>
#include <mysql.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MY_NAME "mysql"
#define MY_USER_MAX 32 /* MySQL 5.7+; MariaDB allows 80 */
#define MY_PASSWORD_LEN 32
#define MY_POLL_STEP_MS 100
#define MY_IO_TIMEOUT_S 600 /* library-level read/write timeout; the deadline is tighter */

#define MY_DEFAULT_REVOKE "DROP USER IF EXISTS '{{name}}'@'%'"
#define MY_DEFAULT_ROTATE "ALTER USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"

/* Client error codes (errmsg.h) below 2100, server codes below 2000. */
#define MY_ER_ACCESS_DENIED 1045
#define MY_ER_DBACCESS_DENIED 1044
#define MY_ER_TABLEACCESS_DENIED 1142
#define MY_ER_COLUMNACCESS_DENIED 1143
#define MY_ER_SPECIFIC_ACCESS_DENIED 1227
#define MY_ER_PARSE 1064
#define MY_ER_CANNOT_USER 1396
#define MY_ER_NONEXISTING_GRANT 1141
#define MY_ER_PASSWORD_NO_MATCH 1133
#define MY_ER_LOCK_WAIT_TIMEOUT 1205
#define MY_ER_LOCK_DEADLOCK 1213
#define MY_ER_QUERY_INTERRUPTED 1317
#define MY_ER_STATEMENT_TIMEOUT 1969 /* MariaDB max_statement_time */
#define MY_ER_NO_SUCH_THREAD 1094

struct my_state {
	const struct sd_host *host;
	struct sdk_url url; /* parsed connection_url (password wiped at fini) */
	char *socket;       /* unix socket path or NULL */
	char *tls_ca;       /* or NULL */
	int tls;
	char prefix[17];
	int max_open;
	int64_t connect_timeout_ms;
	struct sdk_pool pool; /* of MYSQL */
};

struct my_op {
	struct my_state *s;
	struct sd_call *call;
	MYSQL *conn;
	int reused, broken;
	const char *secret; /* a password to keep out of messages */
	unsigned int err;   /* mysql_errno of the last failure, 0 otherwise */
	/* results of the non-blocking calls */
	int ret_int;
	MYSQL *ret_conn;
	MYSQL_RES *ret_res;
};

/* mysql_library_init is not thread-safe and allocates global state: run it
 * under a lock when the first instance starts and undo it when the last
 * one stops, so that unloading the plugin leaks nothing. */
static pthread_mutex_t my_lib_mu = PTHREAD_MUTEX_INITIALIZER;
static int my_lib_refs;

static int
my_lib_ref(void)
{
	int rc = 0;

	pthread_mutex_lock(&my_lib_mu);
	if (my_lib_refs == 0)
		rc = mysql_library_init(0, NULL, NULL);
	if (rc == 0)
		my_lib_refs++;
	pthread_mutex_unlock(&my_lib_mu);
	return rc;
}

static void
my_lib_unref(void)
{
	pthread_mutex_lock(&my_lib_mu);
	if (my_lib_refs > 0 && --my_lib_refs == 0)
		mysql_library_end();
	pthread_mutex_unlock(&my_lib_mu);
}

/* --- settings --------------------------------------------------------------------- */

static const struct sd_setting my_plugin_settings[] = {
	{"connection_url", SD_SET_URL, 1, NULL, 1,
	 "mysql://user:password@host:3306/[?socket=PATH&tls=true&tls_ca=PATH] (CREATE USER rights)"},
	{"max_open_connections", SD_SET_INT, 0, "4", 0, "connections kept to the server, 1..64"},
	{"username_prefix", SD_SET_STRING, 0, "sd", 0, "prefix of generated user names, [a-z0-9_]{0,7}"},
	{"connect_timeout", SD_SET_DURATION, 0, "5", 0,
	 "give up connecting after this long (or at the call's deadline): dependency down"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static const struct sd_setting my_role_settings[] = {
	{"creation_statements", SD_SET_STRING, 1, NULL, 0,
	 "SQL to create the user: {{name}} {{password}} {{expiration}}"},
	{"renew_statements", SD_SET_STRING, 0, NULL, 0, "SQL to extend the user (default: none)"},
	{"revocation_statements", SD_SET_STRING, 0, NULL, 0,
	 "SQL to drop the user (default DROP USER IF EXISTS '{{name}}'@'%'): {{name}}"},
	{"rotation_statements", SD_SET_STRING, 0, NULL, 0,
	 "SQL to set a static account's password: {{name}} {{password}}"},
	{NULL, 0, 0, NULL, 0, NULL},
};

static char *
check_esc(void *arg, const char *key, const char *value, char quote)
{
	(void)arg;
	(void)key;
	(void)quote;
	return sdk_strdup(value);
}

/* Parse and validate the plugin settings into s (when s != NULL). */
static int
my_parse_plugin(const struct sd_kv *plugin, struct my_state *s, char *err, size_t cap)
{
	const char *url = sdk_kv_get(plugin, "connection_url");
	const char *prefix = sdk_kv_get(plugin, "username_prefix");
	struct sdk_url u;
	char k[32], v[512];
	size_t pos = 0, i;
	int64_t max, ct;
	int r, rc = SD_PINVAL, tls = 0;
	char *sock = NULL, *ca = NULL;

	if (sdk_url_parse(url, &u, err, cap) != 0)
		return SD_PINVAL;
	if (strcmp(u.scheme, "mysql") != 0 && strcmp(u.scheme, "mariadb") != 0) {
		sdk_err(err, cap, "connection_url must start with mysql:// or mariadb://");
		goto out;
	}
	if (u.user[0] == '\0') {
		sdk_err(err, cap, "connection_url needs a user");
		goto out;
	}
	while ((r = sdk_query_next(u.query, &pos, k, sizeof(k), v, sizeof(v))) == 1) {
		if (strcmp(k, "socket") == 0) {
			free(sock);
			sock = sdk_strdup(v);
		} else if (strcmp(k, "tls_ca") == 0) {
			free(ca);
			ca = sdk_strdup(v);
		} else if (strcmp(k, "tls") == 0) {
			if (sdk_parse_bool(v, &tls) != 0) {
				sdk_err(err, cap, "connection_url: tls must be true or false");
				goto out;
			}
		} else {
			sdk_err(err, cap, "connection_url: unknown parameter %s (socket, tls, tls_ca)", k);
			goto out;
		}
	}
	if (r < 0) {
		sdk_err(err, cap, "connection_url: malformed query string");
		goto out;
	}
	if (u.host[0] == '\0' && sock == NULL) {
		sdk_err(err, cap, "connection_url needs a host or ?socket=");
		goto out;
	}
	if (sdk_kv_get_int(plugin, "max_open_connections", 4, &max) != 0 || max < 1 ||
	    max > SDK_POOL_MAX) {
		sdk_err(err, cap, "max_open_connections must be 1..%d", SDK_POOL_MAX);
		goto out;
	}
	if (sdk_kv_get_duration(plugin, "connect_timeout", 5, &ct) != 0 || ct < 1 || ct > 600) {
		sdk_err(err, cap, "connect_timeout must be 1s..600s");
		goto out;
	}
	if (prefix != NULL) {
		for (i = 0; prefix[i] != '\0'; i++)
			if (!((prefix[i] >= 'a' && prefix[i] <= 'z') ||
			      (prefix[i] >= '0' && prefix[i] <= '9') || prefix[i] == '_'))
				break;
		/* 7 + '_' + 24 = 32: room for the lease id */
		if (i > 7 || prefix[i] != '\0') {
			sdk_err(err, cap, "username_prefix must be at most 7 characters of [a-z0-9_]");
			goto out;
		}
	}
	rc = SD_POK;
	if (s != NULL) {
		s->url = u;
		memset(&u, 0, sizeof(u));
		s->socket = sock;
		s->tls_ca = ca;
		sock = ca = NULL;
		s->tls = tls;
		s->max_open = (int)max;
		s->connect_timeout_ms = ct * 1000;
		snprintf(s->prefix, sizeof(s->prefix), "%s", prefix != NULL ? prefix : "sd");
	}
out:
	sdk_url_free(&u);
	free(sock);
	free(ca);
	return rc;
}

static int
my_check(const struct sd_kv *plugin, const struct sd_kv *role, char *err, size_t err_cap)
{
	if (role == NULL)
		return my_parse_plugin(plugin, NULL, err, err_cap);
	return sdk_check_sql_role(role, SDK_SQL_MYSQL, check_esc, err, err_cap);
}

/* --- errors -------------------------------------------------------------------------- */

static void
my_log(struct my_state *s, int level, const char *msg)
{
	if (s->host->log != NULL)
		s->host->log(level, MY_NAME, msg);
}

static int
my_errno_rc(unsigned int e)
{
	switch (e) {
	case MY_ER_ACCESS_DENIED:
	case MY_ER_DBACCESS_DENIED:
	case MY_ER_TABLEACCESS_DENIED:
	case MY_ER_COLUMNACCESS_DENIED:
	case MY_ER_SPECIFIC_ACCESS_DENIED:
		return SD_PDENIED;
	case MY_ER_LOCK_WAIT_TIMEOUT:
	case MY_ER_LOCK_DEADLOCK:
		return SD_PDOWN;
	case MY_ER_QUERY_INTERRUPTED:
	case MY_ER_STATEMENT_TIMEOUT:
		return SD_PTIMEOUT;
	case MY_ER_CANNOT_USER:
	case MY_ER_NONEXISTING_GRANT:
	case MY_ER_PASSWORD_NO_MATCH:
		return SD_PNOTFOUND; /* the user does not exist (or already does, for CREATE) */
	default:
		break;
	}
	if (e >= 2000 && e < 3000)
		return SD_PDOWN; /* client-side: connection lost, server gone, ... */
	return SD_PINVAL;
}

/* "mysql: <what>: <message> (error N)", redacted. A parse error quotes the
 * statement ("near '...'"), which may hold a value: it says only "syntax
 * error". */
static void
my_seterr(struct my_op *op, const char *what, unsigned int e, const char *msg)
{
	char m[256];

	snprintf(m, sizeof(m), "%s", e == MY_ER_PARSE ? "syntax error" : msg != NULL ? msg : "error");
	m[strcspn(m, "\r\n")] = '\0';
	sdk_redact(m, op->secret);
	sdk_redact(m, op->s->url.password);
	if (e != 0)
		sdk_err(op->call->err, op->call->err_cap, "mysql: %s: %s (error %u)", what, m, e);
	else
		sdk_err(op->call->err, op->call->err_cap, "mysql: %s: %s", what, m);
}

/* --- the non-blocking loop -------------------------------------------------------------- */

/* Wait for what status asks on the connection's socket; return the status
 * to pass to *_cont, or 0 when the call is cancelled or limit_us (0: none)
 * has passed. */
static int
my_wait(struct my_op *op, int status, int64_t limit_us)
{
	struct my_state *s = op->s;
	struct pollfd p;
	int64_t left, lib_ms = -1, start = s->host->now_us();
	int r, out;

	if (status & MYSQL_WAIT_TIMEOUT)
		lib_ms = (int64_t)mysql_get_timeout_value_ms(op->conn);
	for (;;) {
		if (s->host->cancelled(op->call))
			return 0;
		left = sdk_remaining_ms(s->host, op->call);
		if (limit_us > 0 && (limit_us - s->host->now_us()) / 1000 < left)
			left = (limit_us - s->host->now_us()) / 1000;
		if (left <= 0)
			return 0;
		if (lib_ms >= 0 && (s->host->now_us() - start) / 1000 >= lib_ms)
			return MYSQL_WAIT_TIMEOUT; /* the library's own timeout */
		p.fd = mysql_get_socket(op->conn);
		p.events = (short)(((status & MYSQL_WAIT_READ) ? POLLIN : 0) |
				   ((status & MYSQL_WAIT_WRITE) ? POLLOUT : 0) |
				   ((status & MYSQL_WAIT_EXCEPT) ? POLLPRI : 0));
		p.revents = 0;
		r = poll(&p, 1, (int)(left < MY_POLL_STEP_MS ? left : MY_POLL_STEP_MS));
		if (r < 0 && errno != EINTR)
			return MYSQL_WAIT_TIMEOUT; /* let the library fail the operation */
		if (r <= 0)
			continue;
		out = 0;
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			out |= MYSQL_WAIT_READ;
		if (p.revents & (POLLOUT | POLLHUP | POLLERR))
			out |= MYSQL_WAIT_WRITE;
		if (p.revents & POLLPRI)
			out |= MYSQL_WAIT_EXCEPT;
		if (out != 0)
			return out & (status | MYSQL_WAIT_TIMEOUT);
	}
}

typedef int (*my_cont_fn)(struct my_op *op, int status);

static int
my_cont_connect(struct my_op *op, int status)
{
	return mysql_real_connect_cont(&op->ret_conn, op->conn, status);
}

static int
my_cont_query(struct my_op *op, int status)
{
	return mysql_real_query_cont(&op->ret_int, op->conn, status);
}

static int
my_cont_store(struct my_op *op, int status)
{
	return mysql_store_result_cont(&op->ret_res, op->conn, status);
}

static int
my_cont_next(struct my_op *op, int status)
{
	return mysql_next_result_cont(&op->ret_int, op->conn, status);
}

/* Drive a started non-blocking operation to its end. Returns 0, or -1 when
 * the deadline (or limit_us) cut it short: the operation was then failed
 * and the connection must be dropped. */
static int
my_drive(struct my_op *op, int status, my_cont_fn cont, int64_t limit_us)
{
	int ready, tries = 0, cut = 0;

	while (status != 0) {
		ready = cut ? MYSQL_WAIT_TIMEOUT : my_wait(op, status, limit_us);
		if (ready == 0) {
			/* Out of time: make the library's pending I/O fail. */
			cut = 1;
			mariadb_cancel(op->conn);
			ready = MYSQL_WAIT_TIMEOUT;
		}
		status = cont(op, ready);
		if (cut && ++tries > 16)
			break; /* never loop forever: the handle is dropped anyway */
	}
	if (cut || status != 0) {
		op->broken = 1;
		return -1;
	}
	return 0;
}

/* --- connections ------------------------------------------------------------------------- */

static int
my_connect(struct my_op *op)
{
	struct my_state *s = op->s;
	int64_t left = sdk_remaining_ms(s->host, op->call);
	int64_t limit = s->host->now_us() + s->connect_timeout_ms * 1000;
	unsigned int ct = (unsigned int)(s->connect_timeout_ms / 1000), io = MY_IO_TIMEOUT_S;
	my_bool off = 0, on = 1;
	unsigned int zero = 0;
	MYSQL *m;
	int status;

	if (left <= 0 || s->host->cancelled(op->call)) {
		sdk_err(op->call->err, op->call->err_cap, "mysql: connect: deadline passed");
		return SD_PTIMEOUT;
	}
	if ((unsigned int)(left / 1000 + 1) < ct)
		ct = (unsigned int)(left / 1000 + 1);
	if ((m = mysql_init(NULL)) == NULL) {
		sdk_err(op->call->err, op->call->err_cap, "mysql: out of memory");
		return SD_PINTERNAL;
	}
	mysql_options(m, MYSQL_OPT_NONBLOCK, 0);
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &io);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &io);
	mysql_options(m, MYSQL_OPT_RECONNECT, &off);
	mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &zero);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(m, MYSQL_READ_DEFAULT_GROUP, NULL);
	if (s->tls) {
		mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
		mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
		if (s->tls_ca != NULL)
			mysql_options(m, MYSQL_OPT_SSL_CA, s->tls_ca);
	}
	op->conn = m;
	status = mysql_real_connect_start(&op->ret_conn, m, s->url.host[0] ? s->url.host : NULL,
					  s->url.user, s->url.password,
					  s->url.path[0] ? s->url.path : NULL,
					  (unsigned int)(s->url.port ? s->url.port : 3306), s->socket, 0);
	if (my_drive(op, status, my_cont_connect, limit) != 0) {
		sdk_err(op->call->err, op->call->err_cap,
			"mysql: cannot connect: no answer before the connect timeout or the deadline");
		goto fail;
	}
	if (op->ret_conn == NULL) {
		op->err = mysql_errno(m);
		my_seterr(op, "cannot connect", op->err, mysql_error(m));
		goto fail;
	}
	op->reused = 0;
	op->broken = 0;
	return SD_POK;
fail:
	mysql_close(m);
	op->conn = NULL;
	return SD_PDOWN;
}

static int
my_connect_cb(void *arg, void **conn)
{
	struct my_op *op = arg;
	int rc = my_connect(op);

	*conn = op->conn;
	return rc;
}

static int
my_acquire(struct my_op *op)
{
	void *c;
	int rc = sdk_pool_acquire(&op->s->pool, op->s->host, op->call, "mysql", my_connect_cb, op, &c,
				  &op->reused);

	op->conn = c;
	op->broken = 0;
	return rc;
}

static void
my_close(void *conn)
{
	mysql_close(conn);
}

static void
my_release(struct my_op *op)
{
	MYSQL *m = op->conn;

	if (m == NULL)
		return;
	op->conn = NULL;
	if (op->broken) {
		mysql_close(m);
		m = NULL;
	}
	sdk_pool_release(&op->s->pool, m);
}

/* --- running SQL ----------------------------------------------------------------------------- */

/* Run one statement within the deadline; with res != NULL return its
 * result set (mysql_free_result it; NULL when the statement has none). On
 * failure: err written, op->err = mysql_errno, mapped code returned. */
static int
my_exec(struct my_op *op, const char *sql, const char *what, MYSQL_RES **res)
{
	MYSQL *m = op->conn;
	int status;

	op->err = 0;
	op->ret_res = NULL;
	if (res != NULL)
		*res = NULL;
	status = mysql_real_query_start(&op->ret_int, m, sql, (unsigned long)strlen(sql));
	if (my_drive(op, status, my_cont_query, 0) != 0)
		goto timeout;
	if (op->ret_int != 0)
		goto sql_err;
	if (mysql_field_count(m) > 0) {
		status = mysql_store_result_start(&op->ret_res, m);
		if (my_drive(op, status, my_cont_store, 0) != 0)
			goto timeout;
		if (op->ret_res == NULL)
			goto sql_err;
		if (res != NULL)
			*res = op->ret_res;
		else
			mysql_free_result(op->ret_res);
		op->ret_res = NULL;
	}
	/* A CALL returns more results (at least its status): read them all,
	 * or the connection is out of sync. */
	while (mysql_more_results(m)) {
		status = mysql_next_result_start(&op->ret_int, m);
		if (my_drive(op, status, my_cont_next, 0) != 0)
			goto timeout;
		if (op->ret_int > 0)
			goto sql_err;
		if (op->ret_int < 0)
			break;
		if (mysql_field_count(m) > 0) {
			status = mysql_store_result_start(&op->ret_res, m);
			if (my_drive(op, status, my_cont_store, 0) != 0)
				goto timeout;
			if (op->ret_res == NULL)
				goto sql_err;
			mysql_free_result(op->ret_res);
			op->ret_res = NULL;
		}
	}
	return SD_POK;
timeout:
	sdk_err(op->call->err, op->call->err_cap, "mysql: %s: deadline passed", what);
	return SD_PTIMEOUT;
sql_err:
	op->err = mysql_errno(m);
	my_seterr(op, what, op->err, mysql_error(m));
	if (op->err >= 2000 && op->err < 3000)
		op->broken = 1;
	return op->err != 0 ? my_errno_rc(op->err) : SD_PINTERNAL;
}

static int
my_begin_session(struct my_op *op)
{
	char sql[160];
	int rc, retry;

	for (;;) {
		int64_t left;
		const char *info;
		if ((rc = my_acquire(op)) != SD_POK)
			return rc;
		left = sdk_remaining_ms(op->s->host, op->call);
		if (left < 1)
			left = 1;
		info = mysql_get_server_info(op->conn);
		if (info != NULL && strstr(info, "MariaDB") != NULL)
			snprintf(sql, sizeof(sql),
				 "SET SESSION lock_wait_timeout = %lld, max_statement_time = %lld.%03lld",
				 (long long)(left / 1000 + 1), (long long)(left / 1000),
				 (long long)(left % 1000));
		else
			snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %lld",
				 (long long)(left / 1000 + 1));
		rc = my_exec(op, sql, "session setup", NULL);
		if (rc == SD_POK)
			return SD_POK;
		retry = op->reused && op->broken && !op->s->host->cancelled(op->call) &&
			sdk_remaining_ms(op->s->host, op->call) > 0;
		op->broken = 1;
		my_release(op);
		if (!retry)
			return rc;
	}
}

static char *
my_esc(void *arg, const char *key, const char *value, char quote)
{
	MYSQL *m = arg;
	size_t n = strlen(value);
	char *d;
	unsigned long len;

	(void)key;
	if (quote == '`')
		return sdk_escape_double(value, '`');
	/* "..." is an identifier under ANSI_QUOTES, where backslashes do not
	 * escape: refuse what could break out rather than guess the mode. */
	if (quote == '"' && strpbrk(value, "\"\\") != NULL)
		return NULL;
	if ((d = malloc(2 * n + 3)) == NULL)
		return NULL;
	len = mysql_real_escape_string(m, d + 1, value, (unsigned long)n);
	if (len == (unsigned long)-1) {
		free(d);
		return NULL;
	}
	if (quote == 0) {
		d[0] = '\'';
		d[len + 1] = '\'';
		d[len + 2] = '\0';
		return d;
	}
	memmove(d, d + 1, len + 1);
	return d;
}

static int
my_run_statements(struct my_op *op, const char *setting, const char *stmts,
		  const struct sd_kv *vars)
{
	char **list = NULL, *sql = NULL, what[96], e[160];
	size_t n = 0, i;
	int rc = SD_POK;

	if (sdk_split_statements_ex(stmts, SDK_SQL_MYSQL, &list, &n) != 0) {
		sdk_err(op->call->err, op->call->err_cap, "mysql: %s: cannot split", setting);
		return SD_PINVAL;
	}
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "%s, statement %zu of %zu", setting, i + 1, n);
		if (sdk_template_ex(list[i], SDK_SQL_MYSQL, vars, my_esc, op->conn, &sql, e,
				    sizeof(e)) != 0) {
			sdk_err(op->call->err, op->call->err_cap, "mysql: %s: %s", what, e);
			rc = SD_PINVAL;
			break;
		}
		rc = my_exec(op, sql, what, NULL);
		sdk_str_free(sql);
		sql = NULL;
		if (rc != SD_POK)
			break;
	}
	sdk_statements_free(list, n);
	return rc;
}

/* --- names and revocation ----------------------------------------------------------------------- */

static int
my_name(struct my_state *s, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	const char *handle, char *out, size_t cap)
{
	if (handle != NULL && handle[0] != '\0') {
		if (strlen(handle) >= cap || strlen(handle) > MY_USER_MAX) {
			sdk_err(call->err, call->err_cap, "mysql: bad handle");
			return SD_PINVAL;
		}
		memcpy(out, handle, strlen(handle) + 1);
		return SD_POK;
	}
	if (sdk_username_for_lease(out, cap, s->prefix, role, lease_id, MY_USER_MAX) < 0) {
		sdk_err(call->err, call->err_cap, "mysql: bad lease id");
		return SD_PINVAL;
	}
	return SD_POK;
}

/* KILL every connection of user name (best effort: a connection may end on
 * its own meanwhile). */
static int
my_kill_sessions(struct my_op *op, const char *name)
{
	char *lit = my_esc(op->conn, "name", name, 0), sql[256];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc;

	if (lit == NULL)
		return SD_PINTERNAL;
	snprintf(sql, sizeof(sql),
		 "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s AND ID <> CONNECTION_ID()",
		 lit);
	sdk_str_free(lit);
	if ((rc = my_exec(op, sql, "revoke: list sessions", &res)) != SD_POK)
		return rc;
	while (res != NULL && (row = mysql_fetch_row(res)) != NULL) {
		int64_t id;
		if (row[0] == NULL || sdk_parse_int(row[0], &id) != 0)
			continue;
		snprintf(sql, sizeof(sql), "KILL CONNECTION %lld", (long long)id);
		rc = my_exec(op, sql, "revoke: kill session", NULL);
		if (rc != SD_POK && op->err != MY_ER_NO_SUCH_THREAD) {
			if (op->broken)
				break;
			my_log(op->s, SD_LOG_WARN, op->call->err);
		}
		rc = SD_POK;
	}
	if (res != NULL)
		mysql_free_result(res);
	return rc;
}

static int
my_revoke_name(struct my_op *op, const struct sd_kv *role, const char *name)
{
	const char *stmts = sdk_kv_get(role, "revocation_statements");
	struct sd_kv vars[] = {{"name", name}, {NULL, NULL}};
	int rc;

	rc = my_run_statements(op, "revocation_statements", stmts != NULL ? stmts : MY_DEFAULT_REVOKE,
			       vars);
	if (rc != SD_POK && rc != SD_PNOTFOUND)
		return rc;
	/* Dropping a user does not disconnect it. */
	if (my_kill_sessions(op, name) != SD_POK && op->broken)
		return SD_PDOWN;
	return rc;
}

/* --- callbacks ------------------------------------------------------------------------------ */

static int
my_init(const struct sd_host *host, const struct sd_kv *settings, void **state, char *err,
	size_t err_cap)
{
	struct my_state *s;
	int rc;

	*state = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sdk_err(err, err_cap, "mysql: out of memory");
		return SD_PINTERNAL;
	}
	if ((rc = my_parse_plugin(settings, s, err, err_cap)) != SD_POK) {
		free(s);
		return rc;
	}
	if (my_lib_ref() != 0) {
		sdk_url_free(&s->url);
		free(s->socket);
		free(s->tls_ca);
		free(s);
		sdk_err(err, err_cap, "mysql: mysql_library_init failed");
		return SD_PINTERNAL;
	}
	s->host = host;
	sdk_pool_init(&s->pool, s->max_open);
	*state = s;
	return SD_POK;
}

static void
my_fini(void *state)
{
	struct my_state *s = state;

	if (s == NULL)
		return;
	sdk_pool_destroy(&s->pool, my_close);
	sdk_url_free(&s->url);
	free(s->socket);
	free(s->tls_ca);
	free(s);
	my_lib_unref();
}

static int
my_health(void *state, struct sd_call *call)
{
	struct my_op op = {.s = state, .call = call};
	int rc;

	if ((rc = my_begin_session(&op)) == SD_POK)
		rc = my_exec(&op, "SELECT 1", "health", NULL);
	my_release(&op);
	return rc == SD_POK ? SD_POK : SD_PDOWN;
}

static int
my_issue(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 int64_t *expires_at_us, struct sd_kv **creds, char **handle)
{
	struct my_state *s = state;
	struct my_op op = {.s = s, .call = call};
	char name[MY_USER_MAX + 1], pw[MY_PASSWORD_LEN + 1], exp[32];
	const char *stmts = sdk_kv_get(role, "creation_statements");
	struct sd_kv *kv = NULL;
	int rc;

	*creds = NULL;
	*handle = NULL;
	pw[0] = '\0';
	if (stmts == NULL) {
		sdk_err(call->err, call->err_cap, "mysql: the role has no creation_statements");
		return SD_PINVAL;
	}
	if ((rc = my_name(s, call, lease_id, role, NULL, name, sizeof(name))) != SD_POK)
		return rc;
	if (sdk_time_utc(*expires_at_us, exp, sizeof(exp)) != 0) {
		sdk_err(call->err, call->err_cap, "mysql: bad expiry");
		return SD_PINVAL;
	}
	if (s->host->password(pw, sizeof(pw), MY_PASSWORD_LEN, NULL) != 0) {
		sdk_err(call->err, call->err_cap, "mysql: no password from the host");
		return SD_PINTERNAL;
	}
	op.secret = pw;
	kv = sdk_kv_new(2);
	*handle = sdk_strdup(name);
	if (kv == NULL || *handle == NULL || sdk_kv_set(kv, 0, "username", name) != 0 ||
	    sdk_kv_set(kv, 1, "password", pw) != 0) {
		sdk_err(call->err, call->err_cap, "mysql: out of memory");
		rc = SD_PINTERNAL;
		goto out;
	}
	if ((rc = my_begin_session(&op)) != SD_POK)
		goto out;
	{
		struct sd_kv vars[] = {
		    {"name", name}, {"password", pw}, {"expiration", exp}, {NULL, NULL}};
		rc = my_run_statements(&op, "creation_statements", stmts, vars);
	}
	if (rc != SD_POK) {
		/* DDL autocommits: undo what the statements before the failing one
		 * did. After the deadline the host revokes instead. */
		char save[256];
		snprintf(save, sizeof(save), "%s", call->err);
		if (!s->host->cancelled(call)) {
			if (op.broken) {
				my_release(&op);
				if (my_begin_session(&op) != SD_POK)
					goto cleanup_failed;
			}
			if (my_revoke_name(&op, role, name) != SD_POK)
				goto cleanup_failed;
		}
		snprintf(call->err, call->err_cap, "%s", save);
		goto out;
	cleanup_failed:
		my_log(s, SD_LOG_ERROR, "issue failed and its clean-up failed too: revoke this lease");
		snprintf(call->err, call->err_cap, "%s", save);
		goto out;
	}
	*creds = kv;
	kv = NULL;
out:
	my_release(&op);
	explicit_bzero(pw, sizeof(pw));
	sdk_kv_free(kv);
	if (rc != SD_POK) {
		sdk_str_free(*handle);
		*handle = NULL;
	}
	return rc == SD_PNOTFOUND ? SD_PINVAL : rc; /* 1396 on CREATE: the user exists */
}

static int
my_renew(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	 const char *handle, int64_t expires_at_us)
{
	struct my_state *s = state;
	struct my_op op = {.s = s, .call = call};
	const char *stmts = sdk_kv_get(role, "renew_statements");
	char name[MY_USER_MAX + 1], exp[32];
	int rc;

	if (stmts == NULL)
		return SD_POK; /* no expiry at the server: the reaper enforces it */
	if ((rc = my_name(s, call, lease_id, role, handle, name, sizeof(name))) != SD_POK)
		return rc;
	if (sdk_time_utc(expires_at_us, exp, sizeof(exp)) != 0) {
		sdk_err(call->err, call->err_cap, "mysql: bad expiry");
		return SD_PINVAL;
	}
	{
		struct sd_kv vars[] = {{"name", name}, {"expiration", exp}, {NULL, NULL}};
		if ((rc = my_begin_session(&op)) == SD_POK)
			rc = my_run_statements(&op, "renew_statements", stmts, vars);
	}
	my_release(&op);
	return rc == SD_PNOTFOUND ? SD_PINVAL : rc;
}

static int
my_revoke(void *state, struct sd_call *call, const char *lease_id, const struct sd_kv *role,
	  const char *handle)
{
	struct my_state *s = state;
	struct my_op op = {.s = s, .call = call};
	char name[MY_USER_MAX + 1];
	int rc;

	if ((rc = my_name(s, call, lease_id, role, handle, name, sizeof(name))) != SD_POK)
		return rc;
	if ((rc = my_begin_session(&op)) == SD_POK)
		rc = my_revoke_name(&op, role, name);
	my_release(&op);
	return rc;
}

static int
my_rotate(void *state, struct sd_call *call, const struct sd_kv *role, const char *account,
	  char **new_value)
{
	struct my_state *s = state;
	struct my_op op = {.s = s, .call = call};
	const char *stmts = sdk_kv_get(role, "rotation_statements");
	char pw[MY_PASSWORD_LEN + 1];
	int rc;

	*new_value = NULL;
	if (account == NULL || account[0] == '\0' || strlen(account) > 80) {
		sdk_err(call->err, call->err_cap, "mysql: bad account name");
		return SD_PINVAL;
	}
	if (s->host->password(pw, sizeof(pw), MY_PASSWORD_LEN, NULL) != 0) {
		sdk_err(call->err, call->err_cap, "mysql: no password from the host");
		return SD_PINTERNAL;
	}
	op.secret = pw;
	{
		struct sd_kv vars[] = {{"name", account}, {"password", pw}, {NULL, NULL}};
		if ((rc = my_begin_session(&op)) == SD_POK)
			rc = my_run_statements(&op, "rotation_statements",
					       stmts != NULL ? stmts : MY_DEFAULT_ROTATE, vars);
	}
	my_release(&op);
	if (rc == SD_PNOTFOUND) {
		sdk_err(call->err, call->err_cap, "mysql: account %s does not exist", account);
		rc = SD_PINVAL;
	}
	if (rc == SD_POK && (*new_value = sdk_strdup(pw)) == NULL) {
		sdk_err(call->err, call->err_cap, "mysql: out of memory after setting the password");
		rc = SD_PINTERNAL;
	}
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* --- the descriptor ------------------------------------------------------------------------ */

static const struct sd_plugin my_plugin = {
	.abi_major = SD_ABI_MAJOR,
	.abi_minor = SD_ABI_MINOR,
	.struct_size = sizeof(struct sd_plugin),
	.name = MY_NAME,
	.version = "1.0.0",
	.kind = SD_KIND_LEASE,
	.plugin_settings = my_plugin_settings,
	.role_settings = my_role_settings,
	.check = my_check,
	.init = my_init,
	.fini = my_fini,
	.health = my_health,
	.issue = my_issue,
	.renew = my_renew,
	.revoke = my_revoke,
	.rotate = my_rotate,
	.free_kv = sdk_kv_free,
	.free_str = sdk_str_free,
};

SD_PLUGIN_EXPORT const struct sd_plugin *secretsd_plugin_v1(void);

const struct sd_plugin *
secretsd_plugin_v1(void)
{
	return &my_plugin;
}
