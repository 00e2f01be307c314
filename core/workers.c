/* workers.c — bounded worker pool; completions hop back to an event loop
 * with event_base_once (thread-safe once evthread_use_pthreads ran). */
#include "workers.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

struct job {
	work_fn work, done;
	struct event_base *base;
	void *arg;
	struct job *next;
};

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	int queued, running, queue_max, stopping, n;
	pthread_t *threads;
};

static void run_done(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	(void)fd;
	(void)what;
	j->done(j->arg);
	free(j);
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	static const struct timeval now = { 0, 0 };

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&w->mu);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->head == NULL) { /* stopping and drained */
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		j = w->head;
		w->head = j->next;
		if (w->head == NULL)
			w->tail = NULL;
		w->queued--;
		w->running++;
		pthread_mutex_unlock(&w->mu);

		j->work(j->arg);
		if (j->done != NULL && j->base != NULL &&
		    event_base_once(j->base, -1, EV_TIMEOUT, run_done, j, &now) == 0) {
			j = NULL; /* run_done frees it */
		} else if (j->done != NULL) {
			j->done(j->arg);
		}
		free(j);
		pthread_mutex_lock(&w->mu);
		w->running--;
		pthread_mutex_unlock(&w->mu);
	}
}

struct workers *workers_new(int n, int queue_max)
{
	struct workers *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->queue_max = queue_max;
	w->threads = calloc((size_t)n, sizeof(pthread_t));
	if (w->threads == NULL) {
		free(w);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			break;
		w->n++;
	}
	if (w->n == 0) {
		free(w->threads);
		free(w);
		return NULL;
	}
	return w;
}

void workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->threads);
	free(w);
}

int workers_submit(struct workers *w, work_fn work, work_fn done, struct event_base *base, void *arg)
{
	struct job *j;

	if (w == NULL) /* stopped: shutting down */
		return -1;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->work = work;
	j->done = done;
	j->base = base;
	j->arg = arg;
	pthread_mutex_lock(&w->mu);
	if (w->stopping || w->queued >= w->queue_max) {
		pthread_mutex_unlock(&w->mu);
		free(j);
		return -1;
	}
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int workers_busy(struct workers *w)
{
	int n;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mu);
	n = w->queued + w->running;
	pthread_mutex_unlock(&w->mu);
	return n;
}
