/* metrics.c — Prometheus counters for requests, per route and status. */
#include "metrics.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "route.h"

/* Status codes we count separately; anything else lands in "other". */
static const int status_codes[] = { 200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503 };
#define N_STATUS ((int)(sizeof(status_codes) / sizeof(status_codes[0])) + 1)
/* Latency bucket upper bounds in seconds. */
static const double buckets[] = { 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				  0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define N_BUCKETS ((int)(sizeof(buckets) / sizeof(buckets[0])))

struct metrics {
	atomic_ullong count[R_COUNT][N_STATUS];
	atomic_ullong hist[R_COUNT][N_BUCKETS + 1];
	atomic_ullong sum_ns[R_COUNT];
};

struct metrics *metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	free(m);
}

static int status_index(int status)
{
	for (int i = 0; i < N_STATUS - 1; i++)
		if (status_codes[i] == status)
			return i;
	return N_STATUS - 1;
}

void metrics_observe(struct metrics *m, int route, int status, uint64_t ns)
{
	double s = (double)ns / 1e9;
	int b = 0;

	if (m == NULL || route < 0 || route >= R_COUNT)
		return;
	while (b < N_BUCKETS && s > buckets[b])
		b++;
	atomic_fetch_add_explicit(&m->count[route][status_index(status)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->hist[route][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_ns[route], ns, memory_order_relaxed);
}

void metrics_render(struct metrics *m, struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP secretsd_requests_total Requests served, by route and status.\n"
				 "# TYPE secretsd_requests_total counter\n");
	for (int r = 0; r < R_COUNT; r++)
		for (int s = 0; s < N_STATUS; s++) {
			unsigned long long v = atomic_load(&m->count[r][s]);
			if (v == 0)
				continue;
			if (s == N_STATUS - 1)
				evbuffer_add_printf(out, "secretsd_requests_total{route=\"%s\",status=\"other\"} %llu\n",
						    route_name(r), v);
			else
				evbuffer_add_printf(out, "secretsd_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
						    route_name(r), status_codes[s], v);
		}
	evbuffer_add_printf(out, "# HELP secretsd_request_duration_seconds Request latency, by route.\n"
				 "# TYPE secretsd_request_duration_seconds histogram\n");
	for (int r = 0; r < R_COUNT; r++) {
		unsigned long long cum = 0;
		for (int b = 0; b <= N_BUCKETS; b++)
			cum += atomic_load(&m->hist[r][b]);
		if (cum == 0)
			continue;
		cum = 0;
		for (int b = 0; b < N_BUCKETS; b++) {
			cum += atomic_load(&m->hist[r][b]);
			evbuffer_add_printf(out, "secretsd_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
					    route_name(r), buckets[b], cum);
		}
		cum += atomic_load(&m->hist[r][N_BUCKETS]);
		evbuffer_add_printf(out, "secretsd_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
				    route_name(r), cum);
		evbuffer_add_printf(out, "secretsd_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
				    route_name(r), (double)atomic_load(&m->sum_ns[r]) / 1e9);
		evbuffer_add_printf(out, "secretsd_request_duration_seconds_count{route=\"%s\"} %llu\n",
				    route_name(r), cum);
	}
}
