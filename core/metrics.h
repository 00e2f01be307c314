/* metrics.h — request counters and latency histograms per route and status,
 * rendered in Prometheus text format. Lock-free: atomics only. */
#ifndef SD_METRICS_H
#define SD_METRICS_H

#include <stdint.h>

struct evbuffer;
struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Record one finished request. route is an index into route names. */
void metrics_observe(struct metrics *m, int route, int status, uint64_t ns);
/* Add the Prometheus text for every counter to out. */
void metrics_render(struct metrics *m, struct evbuffer *out);

#endif
