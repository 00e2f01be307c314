/* fuzz_http.c — the HTTP request path from raw bytes to the response:
 * libevent's parser, http.c (caps, X-Request-Id, body copy), router.c
 * (routes, methods, path rules, authentication, rate limits), the handlers
 * and what they reach (secrets, leases through a real plugin, rotation,
 * evidence, audit, idempotency) on a real Berkeley DB store.
 *
 * LLVMFuzzerInitialize brings a server up in this process the way
 * server_run does (core/server.c; not server_run itself, which blocks and
 * calls sd_harden_process: under clang, which does not define
 * __SANITIZE_ADDRESS__, that makes the process undumpable and
 * LeakSanitizer unable to attach), on 127.0.0.1:0 with one loop thread, a
 * data folder under $TMPDIR, the dev issuer, the audit log, and, when
 * FUZZ_PLUGIN_SO exists, plugins.conf with the test plugin good_minimal
 * (role "gm", path gm/creds). Rate limits are on but generous, except for
 * tenant "slow" (one request per 1000 s after a burst of 2).
 *
 * Each input is sent as it is on a fresh TCP connection, the write side is
 * then shut down and the reply read until the server closes (3 s at most).
 * Placeholders in the input are replaced first by tokens minted at start:
 *   @@ADMIN@@    tenant acme, admin
 *   @@WRITER@@   tenant acme, secrets:write:team/(*) secrets:read:team/(*)
 *   @@READER@@   tenant acme, secrets:read:team/+/config secrets:read:shared(*)
 *   @@LEASER@@   tenant acme, leases:issue:gm leases:issue:pg-(*) secrets:read:gm/creds
 *   @@NOSCOPE@@  tenant acme, no scope
 *   @@OTHER@@    tenant globex, admin
 *   @@SLOW@@     tenant slow, admin
 *   @@SHORT@@    tenant acme, admin, expires a second after start
 *   @@LEASE@@    the id of the last lease a reply named (one is issued at start)
 * and "@@NEXT@@" separates requests (up to 8), each sent on a connection of
 * its own, in order: libevent serves no pipelined request after the
 * client's half-close, so a write-then-read sequence needs two.
 *
 * Findings (abort, so that libFuzzer keeps the input):
 *   - any 5xx status but 501 (libevent: unknown method) and 503;
 *   - a reply that shows tenant globex's data (a secret written at start:
 *     its value, its metadata, its path) to an input that neither uses
 *     @@OTHER@@ nor names the marker itself;
 *   - a server that stops answering /health after an input timed out;
 *   - anything ASan or UBSan reports, on any of the server's threads. */
#include <arpa/inet.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include "fuzz_common.h"

#include "app.h"
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "evidence.h"
#include "http.h"
#include "issuer.h"
#include "kms.h"
#include "leases.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "ratelimit.h"
#include "rotation.h"
#include "store.h"
#include "util.h"
#include "workers.h"

#ifndef FUZZ_PLUGIN_SO
#define FUZZ_PLUGIN_SO ""
#endif

#define INPUT_DEADLINE_MS 3000
#define HEALTH_DEADLINE_MS 5000
#define REPLY_CAP (4u << 20)

/* tenant globex's secret: none of this may reach another tenant */
#define G_PATH "zz-globex-private/db"
#define G_VALUE "GLOBEX-PRIVATE-VALUE-7f3a9c" /* returned base64-encoded: */
#define G_VALUE_B64 "R0xPQkVYLVBSSVZBVEUtVkFMVUUtN2YzYTlj"
#define G_OWNER "zz-globex-owner-5d2e"

static struct sd_config cfg;
static struct app app;
static struct http_server *srv;
static int port;

static struct {
	const char *mark;
	const char *tenant, *sub, *scope;
	int64_t ttl;
	char *token;
} toks[] = {
	{ "@@ADMIN@@", "acme", "fuzz-admin", "admin", 86400, NULL },
	{ "@@WRITER@@", "acme", "svc-writer", "secrets:write:team/* secrets:read:team/*", 86400, NULL },
	{ "@@READER@@", "acme", "svc-reader", "secrets:read:team/+/config secrets:read:shared*", 86400, NULL },
	{ "@@LEASER@@", "acme", "svc-leaser", "leases:issue:gm leases:issue:pg-* secrets:read:gm/creds", 86400, NULL },
	{ "@@NOSCOPE@@", "acme", "nobody", "", 86400, NULL },
	{ "@@OTHER@@", "globex", "globex-admin", "admin", 86400, NULL },
	{ "@@SLOW@@", "slow", "slow-admin", "admin", 86400, NULL },
	{ "@@SHORT@@", "acme", "short-lived", "admin", 1, NULL },
};
#define NTOKS (sizeof(toks) / sizeof(toks[0]))

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- a client: one connection, the whole input, read to the end ------------- */

struct reply {
	char *buf;
	size_t len;
	int complete; /* the server closed the connection */
};

static unsigned src_rr;

static void exchange(const char *out, size_t out_len, int deadline_ms, struct reply *rep)
{
	struct sockaddr_in sa;
	size_t sent = 0;
	uint64_t end = now_ms() + (uint64_t)deadline_ms;
	struct linger lin = { 1, 0 };
	int fd, wr_open = 1, one = 1;

	memset(rep, 0, sizeof(*rep));
	rep->buf = malloc(REPLY_CAP + 1);
	if (rep->buf == NULL)
		abort();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fz_fail("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* close with a reset where the state allows it: the server then keeps
	 * no TIME_WAIT socket whose port a later connect could pick (on
	 * loopback that costs a 1 s SYN retransmission) ... */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
	/* and from a source address that changes (127.0.0.2 to .251): when
	 * both ends close at once the server keeps TIME_WAIT sockets too, and
	 * a SYN that lands on one of them waits a second */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (src_rr++ % 250));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* fine: the kernel picks */
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* non-blocking: libFuzzer's SIGALRM must not interrupt a blocking connect */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (errno != EINPROGRESS && errno != EINTR)
			fz_fail("cannot connect to the server: %s", strerror(errno));
		for (;;) {
			struct pollfd cp = { fd, POLLOUT, 0 };
			uint64_t t = now_ms();
			int n = t < end ? poll(&cp, 1, (int)(end - t)) : 0;
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) { /* not connected in time: the caller checks /health */
				close(fd);
				rep->buf[0] = '\0';
				return;
			}
			break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
			fz_fail("cannot connect to the server: %s", strerror(soerr ? soerr : errno));
	}
	if (out_len == 0) {
		shutdown(fd, SHUT_WR);
		wr_open = 0;
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN | (wr_open ? POLLOUT : 0), 0 };
		uint64_t t = now_ms();
		int n;

		if (t >= end)
			break;
		n = poll(&p, 1, (int)(end - t));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (wr_open && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = send(fd, out + sent, out_len - sent, MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == out_len) {
				shutdown(fd, SHUT_WR);
				wr_open = 0;
			}
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			char tmp[65536];
			ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				rep->complete = 1;
				break;
			}
			if (r > 0 && rep->len < REPLY_CAP) {
				size_t k = (size_t)r < REPLY_CAP - rep->len ? (size_t)r : REPLY_CAP - rep->len;
				memcpy(rep->buf + rep->len, tmp, k);
				rep->len += k;
			}
		}
	}
	rep->buf[rep->len] = '\0';
	close(fd);
}

/* The status of every response in the stream (a line starting "HTTP/1.x
 * NNN" at the start or after a newline: bodies are one-line JSON or text
 * whose lines never start so). Calls fn for each. */
static void each_status(const struct reply *rep, void (*fn)(int status, const char *at, const struct reply *rep))
{
	for (size_t i = 0; i + 12 <= rep->len; i++) {
		const char *s = rep->buf + i;
		if ((i == 0 || s[-1] == '\n') && memcmp(s, "HTTP/1.", 7) == 0 && s[8] == ' ' && s[9] >= '1' &&
		    s[9] <= '5' && s[10] >= '0' && s[10] <= '9' && s[11] >= '0' && s[11] <= '9')
			fn((s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0'), s, rep);
	}
}

static const char *sent_input; /* for the finding's message */
static int echo;                /* FUZZ_HTTP_ECHO=1: print every reply (for writing seeds) */

/* FUZZ_HTTP_TOLERATE=TEXT: a 5xx whose reply holds TEXT is not a finding
 * (to look past a known, not yet fixed one while exploring; never set by
 * run.sh). */
static const char *tolerate;

static void check_status(int status, const char *at, const struct reply *rep)
{
	if (tolerate != NULL && memmem(at, (size_t)(rep->buf + rep->len - at), tolerate, strlen(tolerate)) != NULL)
		return;
	if (status >= 500 && status != 501 && status != 503)
		fz_fail("the server answered %d:\n--- request ---\n%.2000s\n--- response ---\n%.2000s", status,
			sent_input, at);
}

static char last_lease[LEASE_ID_LEN + 1] = "000000000000000000000000";

/* Remember the last lease id a reply named (for @@LEASE@@). */
static void note_lease(const char *buf, size_t n)
{
	static const char key[] = "\"lease_id\":\"";
	const char *p = buf, *end = buf + n, *hit = NULL;

	while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
		p += sizeof(key) - 1;
		if (end - p > LEASE_ID_LEN && p[LEASE_ID_LEN] == '"')
			hit = p;
	}
	if (hit != NULL) {
		memcpy(last_lease, hit, LEASE_ID_LEN);
		last_lease[LEASE_ID_LEN] = '\0';
	}
}

/* --- start-up, as server_run does it ------------------------------------------ */

static int register_kek(struct store_txn *t, void *arg, struct sd_err *err)
{
	char key[128], *old = NULL;
	int rc;

	snprintf(key, sizeof(key), "kek/%s", (const char *)arg);
	rc = store_meta_get(t, key, &old, err);
	free(old);
	if (rc != SD_ENOTFOUND)
		return rc;
	return store_meta_put(t, key, "{\"provider\":\"local\",\"state\":\"active\",\"created_at\":\"2026-01-01T00:00:00Z\"}",
			      err);
}

/* plugins.conf with the test plugin, pinned; 0 when there is no plugin. */
static int write_plugins_conf(const char *dir)
{
	char so[PATH_MAX], conf[PATH_MAX], hex[65], text[1024];
	unsigned char md[32], buf[65536];
	unsigned int n = 0;
	FILE *in = fopen(FUZZ_PLUGIN_SO, "rb"), *out;
	EVP_MD_CTX *m;
	size_t got;

	if (in == NULL) {
		fprintf(stderr, "fuzz_http: %s not found: no plugin, leases only fail\n", FUZZ_PLUGIN_SO);
		return 0;
	}
	snprintf(so, sizeof(so), "%s/gm.so", dir);
	out = fopen(so, "wb");
	m = EVP_MD_CTX_new();
	if (out == NULL || m == NULL || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1)
		fz_fail("cannot copy the plugin");
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0) {
		fwrite(buf, 1, got, out);
		EVP_DigestUpdate(m, buf, got);
	}
	fclose(in);
	fclose(out);
	EVP_DigestFinal_ex(m, md, &n);
	EVP_MD_CTX_free(m);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(text, sizeof(text),
		 "[plugin good_minimal]\npath = gm.so\nsha256 = %s\ndsn = postgres://fuzz.invalid/db\n\n"
		 "[role gm]\nplugin = good_minimal\ndefault_ttl_s = 60\nmax_ttl_s = 300\npath = gm/creds\nsize = 4\n\n"
		 "[role gm-big]\nplugin = good_minimal\ndefault_ttl_s = 1h\nmax_ttl_s = 1d\n",
		 hex);
	snprintf(conf, sizeof(conf), "%s/plugins.conf", dir);
	fz_write_file(conf, text, strlen(text), 0600);
	sd_strlcpy(cfg.plugins_file, conf, sizeof(cfg.plugins_file));
	return 1;
}

static void shutdown_server(void)
{
	app.stopping = 1;
	plugin_set_stopping();
	http_halt(srv);
	leases_stop(&app);
	workers_free(app.writers);
	app.writers = NULL;
	http_stop(srv);
	leases_free(&app);
	auth_free(app.auth);
	kms_free(app.kms);
	evidence_cleanup(&app);
	audit_close(&app);
	rotation_cleanup();
	store_close(app.store);
	metrics_free(app.metrics);
	ratelimit_free(app.ratelimit);
	crypto_cleanup();
	for (size_t i = 0; i < NTOKS; i++)
		sd_wipe_free_str(toks[i].token);
}

static void seed_globex(void)
{
	char req[4096];
	struct reply rep;

	snprintf(req, sizeof(req),
		 "POST /api/v1/trust/secrets/secrets/" G_PATH " HTTP/1.1\r\nHost: fuzz\r\n"
		 "Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n{\"value_b64\":\"" G_VALUE_B64 "\",\"metadata\":{\"owner\":\"" G_OWNER "\"}}",
		 toks[5].token, strlen("{\"value_b64\":\"" G_VALUE_B64 "\",\"metadata\":{\"owner\":\"" G_OWNER "\"}}"));
	exchange(req, strlen(req), 10000, &rep);
	if (strncmp(rep.buf, "HTTP/1.1 200", 12) != 0)
		fz_fail("cannot write tenant globex's secret:\n%s", rep.buf);
	free(rep.buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sd_err err;
	const char *dir;

	(void)argc;
	(void)argv;
	fz_stdin_null();
	echo = getenv("FUZZ_HTTP_ECHO") != NULL;
	tolerate = getenv("FUZZ_HTTP_TOLERATE");
	if (tolerate != NULL && tolerate[0] == '\0')
		tolerate = NULL;
	/* Rotation webhooks go through libcurl: send them all to a proxy that
	 * is not there, so that no input makes this process reach a real host. */
	setenv("http_proxy", "http://127.0.0.1:9", 1);
	setenv("https_proxy", "http://127.0.0.1:9", 1);
	setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
	setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	dir = fz_tmpdir("http");
	log_set_level(getenv("FUZZ_HTTP_LOG") ? LOG_DEBUG : LOG_ERROR);

	config_defaults(&cfg);
	cfg.dev = 1;
	sd_strlcpy(cfg.listen, "127.0.0.1:0", sizeof(cfg.listen));
	sd_strlcpy(cfg.data_dir, dir, sizeof(cfg.data_dir));
	cfg.threads = 1;
	cfg.log_level = LOG_ERROR;
	cfg.max_body_bytes = 4096;   /* 413 in JSON above this, libevent's HTML 413 above twice */
	cfg.max_header_bytes = 4096;
	cfg.request_timeout_s = 5;
	cfg.header_timeout_s = 5;
	cfg.rate_rps = 1e6;          /* limits on, but never reached ... */
	cfg.rate_burst = 1000000;
	sd_strlcpy(cfg.tenants[0].name, "slow", sizeof(cfg.tenants[0].name));
	for (int i = 0; i <= RL_CLASSES; i++)
		cfg.tenants[0].rps[i] = -1;
	cfg.tenants[0].rps[RL_CLASSES] = 0.001; /* ... except by tenant "slow" */
	cfg.tenants[0].burst[RL_CLASSES] = 2;
	cfg.ntenants = 1;
	cfg.lease_call_timeout_ms = 2000;
	write_plugins_conf(dir);

	sd_err_clear(&err);
	if (issuer_init(dir, &err) != 0)
		fz_fail("issuer_init: %s", err.msg);
	issuer_jwks_path(dir, cfg.jwks_file, sizeof(cfg.jwks_file));
	sd_strlcpy(cfg.issuer, SD_DEV_ISSUER, sizeof(cfg.issuer));
	sd_strlcpy(cfg.audience, SD_DEV_AUDIENCE, sizeof(cfg.audience));

	memset(&app, 0, sizeof(app));
	app.audit_fd = -1;
	app.cfg = &cfg;
	sd_json_use_wiping_allocator();
	if (evthread_use_pthreads() != 0 || crypto_init(&err) != 0)
		fz_fail("start-up: %s", err.msg);
	if (store_open(cfg.data_dir, &app.store, &err) != 0)
		fz_fail("storage: %s", err.msg);
	if ((app.kms = kms_local_open(cfg.data_dir, &err)) == NULL)
		fz_fail("keys: %s", err.msg);
	if (evidence_init(&app, &err) != 0)
		fz_fail("evidence: %s", err.msg);
	if (rotation_init(&app, &err) != 0)
		fz_fail("rotation: %s", err.msg);
	if (audit_open(&app, &err) != 0)
		fz_fail("audit: %s", err.msg);
	if (store_run(app.store, register_kek, (void *)kms_active_kek_id(app.kms), &err) != 0)
		fz_fail("KEK registry: %s", err.msg);
	if ((app.auth = auth_new(&cfg, &err)) == NULL)
		fz_fail("auth: %s", err.msg);
	if ((app.metrics = metrics_new()) == NULL || (app.ratelimit = ratelimit_new()) == NULL)
		fz_fail("out of memory");
	if ((app.writers = workers_new(4, 1024)) == NULL)
		fz_fail("writers pool");
	if (leases_start(&app, &err) != 0)
		fz_fail("plugins: %s", err.msg);
	if ((srv = http_start(&app, &err)) == NULL)
		fz_fail("http: %s", err.msg);
	port = http_port(srv);
	atexit(shutdown_server); /* runs before the folder is removed */

	for (size_t i = 0; i < NTOKS; i++)
		if (issuer_sign(dir, toks[i].tenant, toks[i].sub, toks[i].scope, toks[i].ttl, &toks[i].token,
				&err) != 0)
			fz_fail("token %s: %s", toks[i].mark, err.msg);
	seed_globex();
	{ /* a first lease, so that @@LEASE@@ names one from the start */
		static const char body[] = "{\"role\":\"gm\",\"ttl_s\":300}";
		char req[2048];
		struct reply rep;
		snprintf(req, sizeof(req),
			 "POST /api/v1/trust/secrets/leases HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 toks[3].token, sizeof(body) - 1, body);
		exchange(req, strlen(req), 10000, &rep);
		note_lease(rep.buf, rep.len);
		free(rep.buf);
	}
	fprintf(stderr, "fuzz_http: server on 127.0.0.1:%d, data in %s\n", port, dir);
	return 0;
}

/* --- one input ------------------------------------------------------------------ */

/* data[0..size) with its placeholders replaced (malloc'd, NUL-terminated). */
static char *expand(const uint8_t *data, size_t size, size_t *out_len, int *uses_other)
{
	size_t cap = size + 1, len = 0;
	char *out = malloc(cap);

	if (out == NULL)
		abort();
	for (size_t i = 0; i < size;) {
		const char *with = NULL;
		size_t ml = 0;
		for (size_t k = 0; k < NTOKS; k++) {
			ml = strlen(toks[k].mark);
			if (size - i >= ml && memcmp(data + i, toks[k].mark, ml) == 0) {
				with = toks[k].token;
				*uses_other |= k == 5;
				break;
			}
		}
		if (with == NULL && size - i >= 9 && memcmp(data + i, "@@LEASE@@", 9) == 0) {
			with = last_lease;
			ml = 9;
		}
		if (with != NULL) {
			size_t tl = strlen(with);
			cap += tl;
			if ((out = realloc(out, cap)) == NULL)
				abort();
			memcpy(out + len, with, tl);
			len += tl;
			i += ml;
			continue;
		}
		out[len++] = (char)data[i++];
	}
	out[len] = '\0';
	*out_len = len;
	return out;
}

static int contains(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static void health_or_die(void)
{
	static const char req[] = "GET /health HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";
	struct reply rep;

	exchange(req, sizeof(req) - 1, HEALTH_DEADLINE_MS, &rep);
	if (strncmp(rep.buf, "HTTP/1.1 200", 12) != 0)
		fz_fail("the server stopped answering /health after an input timed out (got '%.200s')", rep.buf);
	free(rep.buf);
}

/* One connection: send chunk, check the reply. */
static void one_exchange(const uint8_t *chunk, size_t size, int uses_other)
{
	struct reply rep;
	size_t len;
	char *req = expand(chunk, size, &len, &uses_other);

	sent_input = req;
	exchange(req, len, INPUT_DEADLINE_MS, &rep);
	if (echo)
		fprintf(stderr, "--- reply (%zu bytes%s) ---\n%s\n", rep.len, rep.complete ? "" : ", timed out",
			rep.buf);
	each_status(&rep, check_status);
	if (!uses_other &&
	    (contains(rep.buf, rep.len, G_VALUE_B64) || contains(rep.buf, rep.len, G_OWNER) ||
	     contains(rep.buf, rep.len, G_PATH)))
		fz_fail("tenant globex's secret reached another tenant's reply:\n--- request ---\n%.2000s\n"
			"--- response ---\n%.4000s",
			req, rep.buf);
	note_lease(rep.buf, rep.len);
	if (!rep.complete)
		health_or_die();
	free(rep.buf);
	free(req);
	sent_input = NULL;
}

/* The input: up to MAX_CHUNKS requests separated by "@@NEXT@@", each on a
 * connection of its own, in order (libevent serves no pipelined request
 * after the client's half-close, so a sequence needs connections). */
#define MAX_CHUNKS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "@@NEXT@@";
	const uint8_t *p = data, *end = data + size;
	/* an input that names the marker itself may well see it again */
	int other = memmem(data, size, "@@OTHER@@", 9) != NULL || contains((const char *)data, size, "GLOBEX") ||
		    contains((const char *)data, size, "zz-globex") || contains((const char *)data, size, G_VALUE_B64);

	for (int n = 0; n < MAX_CHUNKS && p <= end; n++) {
		const uint8_t *q = memmem(p, (size_t)(end - p), sep, sizeof(sep) - 1);
		size_t cl = q ? (size_t)(q - p) : (size_t)(end - p);
		if (n == MAX_CHUNKS - 1)
			cl = (size_t)(end - p);
		one_exchange(p, cl, other);
		if (q == NULL)
			break;
		p = q + sizeof(sep) - 1;
	}
	return 0;
}
