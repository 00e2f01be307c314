/* server.h — bring the service up from a finished config, run until a
 * signal, tear it down. */
#ifndef SD_SERVER_H
#define SD_SERVER_H

#include "config.h"

struct app;

/* Called once the socket is bound, before serving; port is the bound port. */
typedef void (*server_ready_fn)(struct app *app, int port, void *arg);

/* Run until SIGINT or SIGTERM. Returns a process exit code. */
int server_run(struct sd_config *cfg, server_ready_fn ready, void *arg);

#endif
