/* cli.c — `secretsd dev`, `secretsd serve --config FILE`,
 * `secretsd token create ...`. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "backup.h"
#include "config.h"
#include "evidence.h"
#include "issuer.h"
#include "log.h"
#include "plugin.h"
#include "server.h"
#include "util.h"

#define DEV_ADMIN_TTL_S (24 * 3600)

static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  secretsd dev [--data-dir DIR] [--listen HOST:PORT] [--rate-limit RPS[:BURST]]\n"
		"               [--plugins FILE] [--threads N] [--log-level LEVEL]\n"
		"               [--set SECTION.KEY=VALUE]...\n"
		"  secretsd serve --config FILE\n"
		"  secretsd token create --data-dir DIR --tenant T --sub S --scope \"S1 S2\" [--ttl SECONDS]\n"
		"  secretsd plugin check FILE.so\n"
		"  secretsd evidence export --data-dir DIR\n"
		"  secretsd evidence verify --file FILE\n"
		"  secretsd backup --data-dir DIR --out FILE [--with-keys]\n"
		"  secretsd restore --in FILE --data-dir NEW [--keys-from DIR/keys]\n");
}

/* Returns the value of option argv[*i] ("--name VALUE" or "--name=VALUE"),
 * advancing *i, or NULL when argv[*i] is not that option. */
static const char *opt(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "secretsd: %s needs a value\n", name);
		exit(2);
	}
	return argv[++*i];
}

/* mkdir -p, private. */
static int make_dir(const char *dir)
{
	char tmp[PATH_MAX];

	if (sd_strlcpy(tmp, dir, sizeof(tmp)) != 0)
		return -1;
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
				fprintf(stderr, "secretsd: cannot create %s: %s\n", tmp, strerror(errno));
				return -1;
			}
			*p = '/';
		}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "secretsd: cannot create %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_private_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(data);
	int ok;

	if (fd < 0)
		return -1;
	fchmod(fd, 0600);
	ok = write(fd, data, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
	return close(fd) == 0 && ok ? 0 : -1;
}

struct dev_ready {
	const char *data_dir;
};

static void dev_on_ready(struct app *app, int port, void *arg)
{
	struct dev_ready *d = arg;
	char path[PATH_MAX + 32], host[256], *token = NULL, *colon;
	struct sd_err err;

	sd_strlcpy(host, app->cfg->listen, sizeof(host));
	colon = strrchr(host, ':');
	if (colon != NULL)
		*colon = '\0';
	if (issuer_sign(d->data_dir, "dev", "dev-admin", "admin", DEV_ADMIN_TTL_S, &token, &err) != 0) {
		log_error("dev admin token: %s", err.msg);
		return;
	}
	snprintf(path, sizeof(path), "%s/admin.token", d->data_dir);
	if (write_private_file(path, token) != 0)
		log_error("cannot write %s", path);
	printf("secretsd dev: listening on http://%s:%d (data in %s)\n"
	       "admin token for tenant 'dev' (also in %s):\n%s\n",
	       host, port, d->data_dir, path, token);
	fflush(stdout);
	sd_wipe_free_str(token);
}

/* --set SECTION.KEY=VALUE: any key of the serve config file. */
static int set_option(struct sd_config *cfg, const char *v, struct sd_err *err)
{
	char buf[1024], *dot, *eq;

	if (sd_strlcpy(buf, v, sizeof(buf)) != 0 || (dot = strchr(buf, '.')) == NULL ||
	    (eq = strchr(dot, '=')) == NULL)
		return sd_err_set(err, SD_EINVAL, "--set takes SECTION.KEY=VALUE");
	*dot = '\0';
	*eq = '\0';
	return config_set(cfg, buf, dot + 1, eq + 1, err);
}

static int cmd_dev(int argc, char **argv)
{
	struct sd_config cfg;
	struct sd_err err;
	struct dev_ready ready;
	const char *v;

	config_defaults(&cfg);
	cfg.dev = 1;
	for (int i = 0; i < argc; i++) {
		int rc = 0;
		sd_err_clear(&err);
		if ((v = opt(argc, argv, &i, "--data-dir")) != NULL)
			rc = config_set(&cfg, "server", "data_dir", v, &err);
		else if ((v = opt(argc, argv, &i, "--listen")) != NULL)
			rc = config_set(&cfg, "server", "listen", v, &err);
		else if ((v = opt(argc, argv, &i, "--rate-limit")) != NULL)
			rc = config_set(&cfg, "limits", "rate_limit", v, &err);
		else if ((v = opt(argc, argv, &i, "--threads")) != NULL)
			rc = config_set(&cfg, "server", "threads", v, &err);
		else if ((v = opt(argc, argv, &i, "--log-level")) != NULL)
			rc = config_set(&cfg, "server", "log_level", v, &err);
		else if ((v = opt(argc, argv, &i, "--plugins")) != NULL)
			rc = config_set(&cfg, "server", "plugins", v, &err);
		else if ((v = opt(argc, argv, &i, "--set")) != NULL)
			rc = set_option(&cfg, v, &err);
		else {
			fprintf(stderr, "secretsd dev: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
		if (rc != 0) {
			fprintf(stderr, "secretsd dev: %s\n", err.msg);
			return 2;
		}
	}
	if (config_finish(&cfg, &err) != 0) {
		fprintf(stderr, "secretsd dev: %s\n", err.msg);
		return 2;
	}
	if (make_dir(cfg.data_dir) != 0)
		return 1;
	if (issuer_init(cfg.data_dir, &err) != 0) {
		fprintf(stderr, "secretsd dev: %s\n", err.msg);
		return 1;
	}
	issuer_jwks_path(cfg.data_dir, cfg.jwks_file, sizeof(cfg.jwks_file));
	sd_strlcpy(cfg.issuer, SD_DEV_ISSUER, sizeof(cfg.issuer));
	sd_strlcpy(cfg.audience, SD_DEV_AUDIENCE, sizeof(cfg.audience));
	ready.data_dir = cfg.data_dir;
	return server_run(&cfg, dev_on_ready, &ready);
}

static int cmd_serve(int argc, char **argv)
{
	struct sd_config cfg;
	struct sd_err err;
	const char *file = NULL, *v;

	config_defaults(&cfg);
	for (int i = 0; i < argc; i++) {
		if ((v = opt(argc, argv, &i, "--config")) != NULL)
			file = v;
		else {
			fprintf(stderr, "secretsd serve: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (file == NULL) {
		fprintf(stderr, "secretsd serve: --config FILE is required\n");
		return 2;
	}
	sd_err_clear(&err);
	if (config_load(&cfg, file, &err) != 0 || config_finish(&cfg, &err) != 0) {
		fprintf(stderr, "secretsd serve: %s\n", err.msg);
		return 2;
	}
	if (make_dir(cfg.data_dir) != 0)
		return 1;
	return server_run(&cfg, NULL, NULL);
}

static int cmd_token(int argc, char **argv)
{
	const char *dir = NULL, *tenant = NULL, *sub = NULL, *scope = NULL, *ttl_s = "3600", *v;
	struct sd_err err;
	char abs[PATH_MAX], *token = NULL;
	uint64_t ttl;

	if (argc < 1 || strcmp(argv[0], "create") != 0) {
		usage(stderr);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if ((v = opt(argc, argv, &i, "--data-dir")) != NULL)
			dir = v;
		else if ((v = opt(argc, argv, &i, "--tenant")) != NULL)
			tenant = v;
		else if ((v = opt(argc, argv, &i, "--sub")) != NULL)
			sub = v;
		else if ((v = opt(argc, argv, &i, "--scope")) != NULL)
			scope = v;
		else if ((v = opt(argc, argv, &i, "--ttl")) != NULL)
			ttl_s = v;
		else {
			fprintf(stderr, "secretsd token create: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (dir == NULL || tenant == NULL || sub == NULL || scope == NULL) {
		fprintf(stderr, "secretsd token create: --data-dir, --tenant, --sub and --scope are required\n");
		return 2;
	}
	if (sd_parse_u64(ttl_s, 10ull * 365 * 86400, &ttl) != 0 || ttl == 0) {
		fprintf(stderr, "secretsd token create: --ttl must be a positive number of seconds\n");
		return 2;
	}
	if (realpath(dir, abs) == NULL) {
		fprintf(stderr, "secretsd token create: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	sd_err_clear(&err);
	if (issuer_sign(abs, tenant, sub, scope, (int64_t)ttl, &token, &err) != 0) {
		fprintf(stderr, "secretsd token create: %s\n", err.msg);
		return 1;
	}
	printf("%s\n", token);
	sd_wipe_free_str(token);
	return 0;
}

static int cmd_evidence(int argc, char **argv)
{
	const char *v, *dir = NULL, *file = NULL;
	char abs[PATH_MAX];

	if (argc < 1 || (strcmp(argv[0], "export") != 0 && strcmp(argv[0], "verify") != 0)) {
		usage(stderr);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if ((v = opt(argc, argv, &i, "--data-dir")) != NULL)
			dir = v;
		else if ((v = opt(argc, argv, &i, "--file")) != NULL)
			file = v;
		else {
			fprintf(stderr, "secretsd evidence: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (strcmp(argv[0], "verify") == 0) {
		if (file == NULL) {
			fprintf(stderr, "secretsd evidence verify: --file FILE is required\n");
			return 2;
		}
		return evidence_verify_cli(file, stdout, stderr);
	}
	if (dir == NULL) {
		fprintf(stderr, "secretsd evidence export: --data-dir DIR is required\n");
		return 2;
	}
	if (realpath(dir, abs) == NULL) {
		fprintf(stderr, "secretsd evidence export: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	return evidence_export_cli(abs, stdout, stderr);
}

static int cmd_backup(int is_backup, int argc, char **argv)
{
	const char *v, *dir = NULL, *file = NULL, *keys = NULL;
	char abs[PATH_MAX];
	int with_keys = 0;

	for (int i = 0; i < argc; i++) {
		if ((v = opt(argc, argv, &i, "--data-dir")) != NULL)
			dir = v;
		else if ((v = opt(argc, argv, &i, is_backup ? "--out" : "--in")) != NULL)
			file = v;
		else if (!is_backup && (v = opt(argc, argv, &i, "--keys-from")) != NULL)
			keys = v;
		else if (is_backup && strcmp(argv[i], "--with-keys") == 0)
			with_keys = 1;
		else {
			fprintf(stderr, "secretsd %s: unknown option %s\n", is_backup ? "backup" : "restore", argv[i]);
			return 2;
		}
	}
	if (dir == NULL || file == NULL) {
		fprintf(stderr, is_backup ? "secretsd backup: --data-dir DIR and --out FILE are required\n"
					  : "secretsd restore: --in FILE and --data-dir NEW are required\n");
		return 2;
	}
	if (is_backup) {
		if (realpath(dir, abs) == NULL) {
			fprintf(stderr, "secretsd backup: %s: %s\n", dir, strerror(errno));
			return 1;
		}
		return backup_cli(abs, file, with_keys, stderr);
	}
	if (dir[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) == NULL || (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, dir) >= sizeof(abs))
			return 1;
		dir = abs;
	}
	return restore_cli(file, dir, keys, stderr);
}

int cli_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "dev") == 0)
		return cmd_dev(argc - 2, argv + 2);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 2, argv + 2);
	if (strcmp(argv[1], "token") == 0)
		return cmd_token(argc - 2, argv + 2);
	if (strcmp(argv[1], "plugin") == 0 && argc == 4 && strcmp(argv[2], "check") == 0)
		return plugin_check_cli(argv[3], stdout);
	if (strcmp(argv[1], "evidence") == 0)
		return cmd_evidence(argc - 2, argv + 2);
	if (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "restore") == 0)
		return cmd_backup(argv[1][0] == 'b', argc - 2, argv + 2);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "secretsd: unknown command %s\n", argv[1]);
	usage(stderr);
	return 2;
}
