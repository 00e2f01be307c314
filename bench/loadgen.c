/* loadgen.c — the closed-loop HTTP/1.1 load generator of `make bench`.
 *
 * C connections (keep-alive, one request in flight each, like wrk) from
 * T threads (epoll) against one HOST:PORT, for D seconds after W seconds of
 * warm-up, or until a token list or a request budget runs out. Every
 * latency is kept (microseconds) and sorted at the end, so the percentiles
 * are exact. The summary is one JSON object on stdout (or --out FILE).
 *
 * A request is METHOD PATH with optional BODY; in PATH and BODY "{i}" is
 * replaced by a key index: random in [0, --keys) by default, or 0, 1, 2...
 * with --seq (each index once: seeding). --token T adds the header
 * "--auth-header" T to every request; --tokens FILE gives one token per
 * line, each used for exactly one request (a cache miss every time), and
 * the run ends when they are used up.
 *
 *   loadgen --port 8420 -c 32 -d 10 -w 2 --method GET \
 *           --path '/api/v1/trust/secrets/secrets/bench/s{i}' --keys 1000 \
 *           --auth-header 'Authorization: Bearer ' --token "$T"
 *
 * Responses are read with Content-Length or chunked transfer coding. A
 * status outside 2xx is counted (by status) and still timed; a connection
 * the server closes is reopened. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 65536
#define MAX_STATUS 600

struct opts {
	const char *host;
	int port;
	int conns, threads;
	double duration, warmup;
	const char *method, *path, *body, *ctype;
	const char *auth_header, *token;
	char **headers;
	int nheaders;
	char **tokens;
	size_t ntokens;
	long keys;
	int seq;
	long max_requests;
	double timeout;
	const char *out;
};

static struct opts O;

/* shared across threads: the next sequential index / token */
static long long next_seq;     /* atomically incremented */
static volatile int measuring; /* 0 during warm-up */
static volatile int stopping;

struct lat {
	uint32_t *v;
	size_t n, cap;
};

struct conn {
	int fd;
	int state; /* 0 = idle/connecting, 1 = writing, 2 = reading */
	char *req;
	size_t req_len, req_off;
	char *rbuf;
	size_t rlen;
	uint64_t t0;
	int counted; /* the request started while measuring */
	int connecting;
	int want_out; /* registered for EPOLLOUT */
};

struct thread {
	pthread_t tid;
	int id;
	int ep;
	int nconns;
	struct conn *c;
	uint64_t rnd;
	struct lat lat;
	uint64_t done, all_done, bad_status, sock_err, timeouts, reconnects;
	uint64_t status[MAX_STATUS];
	uint64_t bytes_in;
	int inflight;
	int out_of_work;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void lat_add(struct lat *l, uint32_t us)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (l->v == NULL)
			die("out of memory");
	}
	l->v[l->n++] = us;
}

/* Append s to buf (growing), replacing "{i}" by idx. */
static void put_templ(char **buf, size_t *len, size_t *cap, const char *s, long idx)
{
	char num[32];
	int nl = snprintf(num, sizeof(num), "%ld", idx);

	for (const char *p = s; *p;) {
		const char *part = p;
		size_t n;
		if (p[0] == '{' && p[1] == 'i' && p[2] == '}') {
			part = num;
			n = (size_t)nl;
			p += 3;
		} else {
			const char *q = strstr(p, "{i}");
			n = q ? (size_t)(q - p) : strlen(p);
			p += n;
		}
		if (*len + n + 1 > *cap) {
			while (*len + n + 1 > *cap)
				*cap = *cap ? *cap * 2 : 1024;
			*buf = realloc(*buf, *cap);
			if (*buf == NULL)
				die("out of memory");
		}
		memcpy(*buf + *len, part, n);
		*len += n;
		(*buf)[*len] = '\0';
	}
}

/* Build the next request into c->req. Returns 0, or -1 when there is no
 * more work (tokens, sequence or budget used up). */
static int build_request(struct thread *t, struct conn *c)
{
	char *b = NULL, *body = NULL, line[256];
	size_t len = 0, cap = 0, blen = 0, bcap = 0;
	long idx;
	const char *tok = O.token;

	if (O.seq || O.tokens || O.max_requests > 0) {
		long long n = __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
		if ((O.max_requests > 0 && n >= O.max_requests) || (O.tokens && (size_t)n >= O.ntokens) ||
		    (O.seq && n >= O.keys))
			return -1;
		if (O.tokens)
			tok = O.tokens[n];
		idx = O.seq ? (long)n : (long)(xorshift(&t->rnd) % (uint64_t)O.keys);
	} else {
		idx = (long)(xorshift(&t->rnd) % (uint64_t)O.keys);
	}
	if (O.body)
		put_templ(&body, &blen, &bcap, O.body, idx);
	snprintf(line, sizeof(line), "%s ", O.method);
	put_templ(&b, &len, &cap, line, 0);
	put_templ(&b, &len, &cap, O.path, idx);
	snprintf(line, sizeof(line), " HTTP/1.1\r\nHost: %s:%d\r\n", O.host, O.port);
	put_templ(&b, &len, &cap, line, 0);
	for (int i = 0; i < O.nheaders; i++) {
		put_templ(&b, &len, &cap, O.headers[i], idx);
		put_templ(&b, &len, &cap, "\r\n", 0);
	}
	if (tok) {
		put_templ(&b, &len, &cap, O.auth_header, 0);
		put_templ(&b, &len, &cap, tok, 0);
		put_templ(&b, &len, &cap, "\r\n", 0);
	}
	if (body) {
		snprintf(line, sizeof(line), "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", O.ctype, blen);
		put_templ(&b, &len, &cap, line, 0);
		put_templ(&b, &len, &cap, body, 0);
	} else {
		put_templ(&b, &len, &cap, "\r\n", 0);
	}
	free(body);
	free(c->req);
	c->req = b;
	c->req_len = len;
	c->req_off = 0;
	return 0;
}

static int open_conn(struct thread *t, struct conn *c)
{
	struct sockaddr_in sa;
	struct epoll_event ev;
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)O.port);
	if (inet_pton(AF_INET, O.host, &sa.sin_addr) != 1)
		die("--host must be an IPv4 address");
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->connecting = 1;
	c->want_out = 1;
	c->state = 1;
	c->rlen = 0;
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void close_conn(struct thread *t, struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
}

static void want(struct thread *t, struct conn *c, uint32_t events)
{
	struct epoll_event ev;
	ev.events = events;
	ev.data.ptr = c;
	epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void try_send(struct thread *t, struct conn *c);

/* Start the next request on c (connected or connecting). */
static void start_request(struct thread *t, struct conn *c)
{
	if (stopping || t->out_of_work || build_request(t, c) != 0) {
		t->out_of_work = 1;
		c->state = 0;
		return;
	}
	c->t0 = now_ns();
	c->counted = measuring;
	c->state = 1;
	c->rlen = 0;
	t->inflight++;
	if (c->fd < 0) {
		if (open_conn(t, c) != 0) {
			t->sock_err++;
			t->inflight--;
			c->state = 0;
		}
		return;
	}
	try_send(t, c);
}

/* Write what is left of the request; wait for EPOLLOUT only when the
 * socket is full. */
static void try_send(struct thread *t, struct conn *c)
{
	while (c->req_off < c->req_len) {
		ssize_t w = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			if (!c->want_out) {
				want(t, c, EPOLLOUT | EPOLLIN);
				c->want_out = 1;
			}
			return;
		}
		if (w <= 0) {
			t->sock_err++;
			close_conn(t, c);
			t->inflight--;
			c->state = 0;
			start_request(t, c);
			return;
		}
		c->req_off += (size_t)w;
	}
	c->state = 2;
	if (c->want_out) {
		want(t, c, EPOLLIN);
		c->want_out = 0;
	}
}

/* Length of a complete response at the start of buf, 0 if incomplete,
 * -1 if malformed. *status gets the status code. */
static long response_len(const char *buf, size_t n, int *status)
{
	const char *end = memmem(buf, n, "\r\n\r\n", 4);
	const char *p, *hdr_end;
	long clen = -1;
	int chunked = 0;

	if (end == NULL)
		return n > RBUF / 2 ? -1 : 0;
	if (n < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(buf + 9);
	hdr_end = end + 4;
	for (p = memchr(buf, '\n', (size_t)(end - buf)) + 1; p < end;) {
		const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
			clen = atol(p + 15);
		else if ((size_t)(eol - p) > 18 && strncasecmp(p, "Transfer-Encoding:", 18) == 0 &&
			 memmem(p, (size_t)(eol - p), "chunked", 7) != NULL)
			chunked = 1;
		p = eol + 2;
	}
	if (chunked) {
		const char *q = hdr_end, *lim = buf + n;
		for (;;) {
			const char *eol = memmem(q, (size_t)(lim - q), "\r\n", 2);
			long sz;
			if (eol == NULL)
				return 0;
			sz = strtol(q, NULL, 16);
			if (sz < 0)
				return -1;
			q = eol + 2;
			if (sz == 0) {
				/* no trailers expected: the final CRLF */
				if (lim - q < 2)
					return 0;
				return (long)(q + 2 - buf);
			}
			if (lim - q < sz + 2)
				return 0;
			q += sz + 2;
		}
	}
	if (clen < 0)
		clen = 0; /* 204/304 or no body */
	if ((size_t)(hdr_end - buf) + (size_t)clen > n)
		return 0;
	return (long)(hdr_end - buf) + clen;
}

static void finish(struct thread *t, struct conn *c, int status, int keep)
{
	uint64_t dt = now_ns() - c->t0;

	t->inflight--;
	if (!stopping && status > 0)
		t->all_done++;
	if (c->counted && measuring && !stopping && status == 0) {
		/* no answer: a socket error or a timeout, counted as such */
	} else if (c->counted && measuring && !stopping) {
		uint64_t us = dt / 1000;
		lat_add(&t->lat, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
		t->done++;
		if (status < 200 || status > 299)
			t->bad_status++;
		t->status[status > 0 && status < MAX_STATUS ? status : 0]++;
	}
	if (!keep) {
		close_conn(t, c);
		t->reconnects++;
	}
	start_request(t, c);
}

static void on_event(struct thread *t, struct conn *c, uint32_t ev)
{
	if (c->state == 1 && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		if (c->connecting) {
			int e = 0;
			socklen_t el = sizeof(e);
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
			if (e != 0) {
				t->sock_err++;
				close_conn(t, c);
				t->inflight--;
				c->state = 0;
				usleep(1000);
				start_request(t, c);
				return;
			}
			c->connecting = 0;
		}
		try_send(t, c);
		return;
	}
	if (c->state == 2 && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		for (;;) {
			ssize_t r;
			int status = 0;
			long len;

			if (c->rlen == RBUF) {
				t->sock_err++;
				finish(t, c, 0, 0);
				return;
			}
			r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
			if (r < 0 && errno == EAGAIN)
				return;
			if (r <= 0) {
				/* closed before a full response */
				t->sock_err++;
				finish(t, c, 0, 0);
				return;
			}
			c->rlen += (size_t)r;
			t->bytes_in += (uint64_t)r;
			len = response_len(c->rbuf, c->rlen, &status);
			if (len < 0) {
				t->sock_err++;
				finish(t, c, 0, 0);
				return;
			}
			if (len > 0) {
				int keep = memmem(c->rbuf, (size_t)len, "\r\nConnection: close", 19) == NULL &&
					   memmem(c->rbuf, (size_t)len, "\r\nconnection: close", 19) == NULL;
				c->rlen = 0;
				finish(t, c, status, keep);
				return;
			}
		}
	}
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	struct epoll_event evs[64];
	uint64_t tmo = (uint64_t)(O.timeout * 1e9);

	for (int i = 0; i < t->nconns; i++)
		start_request(t, &t->c[i]);
	while (!stopping || t->inflight > 0) {
		int n = epoll_wait(t->ep, evs, 64, 50);
		for (int i = 0; i < n; i++)
			on_event(t, evs[i].data.ptr, evs[i].events);
		if (t->out_of_work && t->inflight == 0)
			break;
		if (stopping) {
			/* a run ends at its deadline: drop what is in flight */
			for (int i = 0; i < t->nconns; i++)
				if (t->c[i].state != 0) {
					close_conn(t, &t->c[i]);
					t->c[i].state = 0;
				}
			t->inflight = 0;
			break;
		}
		if (n == 0 || (t->done & 1023) == 0) {
			uint64_t now = now_ns();
			for (int i = 0; i < t->nconns; i++) {
				struct conn *c = &t->c[i];
				if (c->state != 0 && now - c->t0 > tmo) {
					t->timeouts++;
					finish(t, c, 0, 0);
				}
			}
		}
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p)
{
	size_t i;
	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --port P [--host 127.0.0.1] [-c 32] [-t 1] [-d 10] [-w 0] [--timeout 10]\n"
		"               [--method GET] --path TEMPLATE [--body TEMPLATE] [--content-type T]\n"
		"               [--keys N] [--seq] [--max-requests N] [-H 'Name: value']...\n"
		"               [--auth-header 'Authorization: Bearer '] [--token T | --tokens FILE]\n"
		"               [--out FILE]\n");
	exit(2);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (f == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
		die("cannot read %s", path);
	b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void load_tokens(const char *path)
{
	size_t len, cap = 1024;
	char *b = slurp(path, &len), *save = NULL, *tok;

	O.tokens = malloc(cap * sizeof(char *));
	for (tok = strtok_r(b, "\r\n", &save); tok; tok = strtok_r(NULL, "\r\n", &save)) {
		if (*tok == '\0')
			continue;
		if (O.ntokens == cap) {
			cap *= 2;
			O.tokens = realloc(O.tokens, cap * sizeof(char *));
		}
		O.tokens[O.ntokens++] = tok;
	}
	if (O.ntokens == 0)
		die("no tokens in %s", path);
}

int main(int argc, char **argv)
{
	struct thread *th;
	uint64_t t_start, t_end, deadline;
	FILE *out = stdout;
	size_t total = 0;
	uint32_t *all;
	uint64_t done = 0, alld = 0, bad = 0, serr = 0, tmo = 0, rec = 0, bytes = 0, status[MAX_STATUS] = { 0 };
	double elapsed, sum = 0;

	O.host = "127.0.0.1";
	O.conns = 32;
	O.threads = 1;
	O.duration = 10;
	O.method = "GET";
	O.ctype = "application/json";
	O.auth_header = "Authorization: Bearer ";
	O.keys = 1;
	O.timeout = 10;
	O.headers = calloc((size_t)argc, sizeof(char *));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(s) (strcmp(a, s) == 0 && v != NULL && ++i)
		if (ARG("--host"))
			O.host = v;
		else if (ARG("--port"))
			O.port = atoi(v);
		else if (ARG("-c") || ARG("--connections"))
			O.conns = atoi(v);
		else if (ARG("-t") || ARG("--threads"))
			O.threads = atoi(v);
		else if (ARG("-d") || ARG("--duration"))
			O.duration = atof(v);
		else if (ARG("-w") || ARG("--warmup"))
			O.warmup = atof(v);
		else if (ARG("--timeout"))
			O.timeout = atof(v);
		else if (ARG("--method"))
			O.method = v;
		else if (ARG("--path"))
			O.path = v;
		else if (ARG("--body"))
			O.body = v;
		else if (ARG("--content-type"))
			O.ctype = v;
		else if (ARG("--keys"))
			O.keys = atol(v);
		else if (strcmp(a, "--seq") == 0)
			O.seq = 1;
		else if (ARG("--max-requests"))
			O.max_requests = atol(v);
		else if (ARG("-H"))
			O.headers[O.nheaders++] = (char *)v;
		else if (ARG("--auth-header"))
			O.auth_header = v;
		else if (ARG("--token"))
			O.token = v;
		else if (ARG("--tokens"))
			load_tokens(v);
		else if (ARG("--out"))
			O.out = v;
		else
			usage();
#undef ARG
	}
	if (O.port <= 0 || O.path == NULL || O.conns <= 0 || O.threads <= 0 || O.keys <= 0)
		usage();
	if (O.threads > O.conns)
		O.threads = O.conns;
	if ((O.seq || O.tokens || O.max_requests > 0) && O.warmup > 0)
		die("--warmup cannot be used with --seq, --tokens or --max-requests");

	th = calloc((size_t)O.threads, sizeof(*th));
	for (int i = 0; i < O.threads; i++) {
		struct thread *t = &th[i];
		t->id = i;
		t->nconns = O.conns / O.threads + (i < O.conns % O.threads);
		t->c = calloc((size_t)t->nconns, sizeof(*t->c));
		t->ep = epoll_create1(EPOLL_CLOEXEC);
		t->rnd = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL) ^ now_ns();
		for (int j = 0; j < t->nconns; j++) {
			t->c[j].fd = -1;
			t->c[j].rbuf = malloc(RBUF);
		}
	}
	measuring = O.warmup <= 0;
	t_start = now_ns();
	for (int i = 0; i < O.threads; i++)
		pthread_create(&th[i].tid, NULL, thread_main, &th[i]);
	if (O.warmup > 0) {
		struct timespec ws = { (time_t)O.warmup, (long)((O.warmup - (double)(time_t)O.warmup) * 1e9) };
		nanosleep(&ws, NULL);
		t_start = now_ns();
		__atomic_store_n(&measuring, 1, __ATOMIC_SEQ_CST);
	}
	deadline = t_start + (uint64_t)(O.duration * 1e9);
	/* wait for the deadline, or for every thread to run out of work */
	for (;;) {
		int idle = 1;
		for (int i = 0; i < O.threads; i++)
			if (!(th[i].out_of_work && th[i].inflight == 0))
				idle = 0;
		if (idle || now_ns() >= deadline)
			break;
		usleep(2000);
	}
	t_end = now_ns();
	if (t_end > deadline)
		t_end = deadline;
	__atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < O.threads; i++)
		pthread_join(th[i].tid, NULL);
	elapsed = (double)(t_end - t_start) / 1e9;

	for (int i = 0; i < O.threads; i++)
		total += th[i].lat.n;
	all = malloc((total ? total : 1) * sizeof(*all));
	total = 0;
	for (int i = 0; i < O.threads; i++) {
		struct thread *t = &th[i];
		memcpy(all + total, t->lat.v, t->lat.n * sizeof(*all));
		total += t->lat.n;
		done += t->done;
		alld += t->all_done;
		bad += t->bad_status;
		serr += t->sock_err;
		tmo += t->timeouts;
		rec += t->reconnects;
		bytes += t->bytes_in;
		for (int s = 0; s < MAX_STATUS; s++)
			status[s] += t->status[s];
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	for (size_t i = 0; i < total; i++)
		sum += all[i];
	if (O.out && (out = fopen(O.out, "w")) == NULL)
		die("cannot write %s", O.out);
	fprintf(out,
		"{\"requests\":%llu,\"all_requests\":%llu,\"non_2xx\":%llu,\"socket_errors\":%llu,\"timeouts\":%llu,"
		"\"reconnects\":%llu,\"duration_s\":%.3f,\"rps\":%.1f,\"bytes_in\":%llu,"
		"\"connections\":%d,\"threads\":%d,"
		"\"latency_us\":{\"mean\":%.1f,\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%.0f},"
		"\"status\":{",
		(unsigned long long)done, (unsigned long long)alld, (unsigned long long)bad, (unsigned long long)serr,
		(unsigned long long)tmo, (unsigned long long)rec, elapsed,
		elapsed > 0 ? (double)done / elapsed : 0.0, (unsigned long long)bytes, O.conns, O.threads,
		total ? sum / (double)total : 0.0, pct(all, total, 50), pct(all, total, 90),
		pct(all, total, 99), pct(all, total, 99.9), total ? (double)all[total - 1] : 0.0);
	for (int s = 0, first = 1; s < MAX_STATUS; s++)
		if (status[s]) {
			fprintf(out, "%s\"%d\":%llu", first ? "" : ",", s, (unsigned long long)status[s]);
			first = 0;
		}
	fprintf(out, "}}\n");
	if (out != stdout)
		fclose(out);
	return 0;
}
