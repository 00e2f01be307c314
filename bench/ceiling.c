/* ceiling.c — the ceiling of `make bench`: the cheapest server that looks
 * like secretsd on the wire. The same libevent evhttp, the same threading
 * (one event loop per online CPU, each accepting on a dup of one listening
 * socket), the same response headers, and a canned body per route: no
 * authentication, no storage, no crypto, no audit.
 *
 *   ceiling --listen 127.0.0.1:PORT --bodies DIR [--threads N]
 *
 * DIR holds read.json (any GET), write.json (POST .../secrets/...) and
 * lease.json (POST .../leases), each a response body captured from
 * secretsd. Prints "listening" once it accepts. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct body {
	char *p;
	size_t n;
};

static struct body b_read, b_write, b_lease;

struct loop {
	pthread_t tid;
	struct event_base *base;
	struct evhttp *http;
	unsigned long long seq;
	int id;
};

static void load(const char *dir, const char *name, struct body *b)
{
	char path[4096];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "ceiling: cannot open %s\n", path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b->p = malloc((size_t)n + 1);
	if (b->p == NULL || fread(b->p, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "ceiling: cannot read %s\n", path);
		exit(2);
	}
	b->n = (size_t)n;
	fclose(f);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct loop *l = arg;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *uri = evhttp_request_get_uri(req);
	const struct body *b = &b_read;
	struct evbuffer *out = evbuffer_new();
	char rid[33];

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST)
		b = strstr(uri, "/leases") ? &b_lease : &b_write;
	snprintf(rid, sizeof(rid), "%08x%024llx", (unsigned)l->id, ++l->seq);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "X-Request-Id", rid);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evbuffer_add_reference(out, b->p, b->n, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void *run(void *arg)
{
	struct loop *l = arg;
	event_base_dispatch(l->base);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *listen_at = NULL, *dir = NULL;
	long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	struct sockaddr_in sa;
	char host[64];
	int fd, one = 1, port;
	struct loop *loops;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0)
			listen_at = argv[i + 1];
		else if (strcmp(argv[i], "--bodies") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--threads") == 0)
			nthreads = atol(argv[i + 1]);
	}
	if (listen_at == NULL || dir == NULL || sscanf(listen_at, "%63[^:]:%d", host, &port) != 2) {
		fprintf(stderr, "usage: ceiling --listen HOST:PORT --bodies DIR [--threads N]\n");
		return 2;
	}
	if (nthreads < 1)
		nthreads = 1;
	load(dir, "read.json", &b_read);
	load(dir, "write.json", &b_write);
	load(dir, "lease.json", &b_lease);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0 ||
	    evutil_make_socket_nonblocking(fd) != 0) {
		perror("ceiling: listen");
		return 1;
	}
	loops = calloc((size_t)nthreads, sizeof(*loops));
	for (long i = 0; i < nthreads; i++) {
		struct loop *l = &loops[i];
		l->id = (int)i;
		l->base = event_base_new();
		l->http = evhttp_new(l->base);
		evhttp_set_gencb(l->http, on_request, l);
		if (evhttp_accept_socket_with_handle(l->http, dup(fd)) == NULL) {
			fprintf(stderr, "ceiling: cannot accept\n");
			return 1;
		}
	}
	for (long i = 0; i < nthreads; i++)
		pthread_create(&loops[i].tid, NULL, run, &loops[i]);
	printf("ceiling: listening on %s with %ld threads\n", listen_at, nthreads);
	fflush(stdout);
	for (long i = 0; i < nthreads; i++)
		pthread_join(loops[i].tid, NULL);
	return 0;
}
