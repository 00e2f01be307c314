/* workers.h — a bounded pool of threads for blocking work (plugin calls).
 *
 * A job runs work(arg) on a worker thread, then done(arg): on the event loop
 * `base` when given (so a reply goes back to the loop that owns the request),
 * else on the worker thread right after work. */
#ifndef SD_WORKERS_H
#define SD_WORKERS_H

struct event_base;
struct workers;

typedef void (*work_fn)(void *arg);

/* n threads, at most queue_max jobs waiting. */
struct workers *workers_new(int n, int queue_max);
/* Finish every queued job, then stop the threads and free the pool. */
void workers_free(struct workers *w);
/* Queue a job. Returns -1 (nothing queued) when the queue is full, the
 * pool is stopping or w is NULL (freed at shutdown). */
int workers_submit(struct workers *w, work_fn work, work_fn done, struct event_base *base, void *arg);
/* Jobs waiting plus running, for /metrics. */
int workers_busy(struct workers *w);

#endif
