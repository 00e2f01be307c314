/* pool.c — a bounded connection pool shared by a plugin's calls. */
#include <secretsd/sdk.h>

#include <time.h>

#define POLL_STEP_MS 100 /* how often a waiting call checks its deadline */

void sdk_pool_init(struct sdk_pool *p, int max_open)
{
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->nidle = 0;
	p->open = 0;
	p->max_open = max_open < 1 ? 1 : max_open > SDK_POOL_MAX ? SDK_POOL_MAX : max_open;
}

void sdk_pool_destroy(struct sdk_pool *p, void (*close_fn)(void *conn))
{
	while (p->nidle > 0)
		close_fn(p->idle[--p->nidle]);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
}

int sdk_pool_acquire(struct sdk_pool *p, const struct sd_host *host, struct sd_call *call,
		     const char *what, sdk_pool_connect_fn connect, void *arg, void **conn, int *reused)
{
	struct timespec ts;
	int64_t until;

	*conn = NULL;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->nidle > 0) {
			*conn = p->idle[--p->nidle];
			*reused = 1;
			pthread_mutex_unlock(&p->mu);
			return SD_POK;
		}
		if (p->open < p->max_open) {
			int rc;

			p->open++;
			pthread_mutex_unlock(&p->mu);
			*reused = 0;
			rc = connect(arg, conn);
			if (rc != SD_POK) {
				*conn = NULL;
				sdk_pool_release(p, NULL);
			}
			return rc;
		}
		if (host->cancelled(call)) {
			pthread_mutex_unlock(&p->mu);
			sdk_err(call->err, call->err_cap,
				"%s: no free connection before the deadline (max_open_connections=%d)", what,
				p->max_open);
			return SD_PTIMEOUT;
		}
		until = host->now_us() + POLL_STEP_MS * 1000;
		ts.tv_sec = (time_t)(until / 1000000);
		ts.tv_nsec = (long)(until % 1000000) * 1000;
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
}

void sdk_pool_release(struct sdk_pool *p, void *conn)
{
	pthread_mutex_lock(&p->mu);
	if (conn != NULL)
		p->idle[p->nidle++] = conn;
	else
		p->open--;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}
