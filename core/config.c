/* config.c — defaults and the INI file of `secretsd serve --config FILE`.
 *
 * inih reads the file (well kept, tiny, a Debian package); every key is
 * checked here and an unknown section, key or bad value refuses the whole
 * file with "FILE:LINE: reason". */
#include "config.h"

#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int config_set_plain(struct sd_config *c, const char *section, const char *name, const char *v,
			    struct sd_err *err);

void config_defaults(struct sd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:%d", SD_DEFAULT_PORT);
	snprintf(c->data_dir, sizeof(c->data_dir), "./data");
	c->threads = 0;
	c->log_level = LOG_INFO;
	snprintf(c->tenant_claim, sizeof(c->tenant_claim), "tenant");
	c->leeway_s = 5;
	c->max_body_bytes = 1024 * 1024;
	c->max_header_bytes = 16 * 1024;
	c->request_timeout_s = 30;
	c->header_timeout_s = 10;
	c->rate_rps = 10;
	c->rate_burst = 20;
	c->max_connections = 4096;
	c->min_free_mb = 32;
	c->default_lease_ttl_s = 3600;
	c->max_versions = 10;
	for (int i = 0; i < RL_CLASSES; i++)
		c->class_rps[i] = -1;
	c->lease_call_timeout_ms = 30000;
	c->lease_retry_base_ms = 1000;
	c->reaper_interval_ms = 1000;
}

int config_parse_rate(const char *s, double *rps, int *burst)
{
	char buf[64], *colon, *end;
	double r;
	uint64_t b;

	if (sd_strlcpy(buf, s, sizeof(buf)) != 0)
		return -1;
	colon = strchr(buf, ':');
	if (colon != NULL)
		*colon = '\0';
	if (buf[0] == '\0' || buf[0] == '-' || buf[0] == '+')
		return -1;
	r = strtod(buf, &end);
	/* 0 = off; otherwise at least one request per 1000 s and at most 1e6/s,
	 * so that the limiter's microsecond arithmetic stays exact */
	if (*end != '\0' || !isfinite(r) || r < 0 || r > 1e6 || (r > 0 && r < 0.001))
		return -1;
	if (colon != NULL) {
		if (sd_parse_u64(colon + 1, 1000000, &b) != 0)
			return -1;
	} else {
		b = (uint64_t)(r * 2 > 1 ? r * 2 : 1);
	}
	*rps = r;
	*burst = (int)b;
	return 0;
}

static int set_str(char *dst, size_t n, const char *name, const char *v, struct sd_err *err)
{
	if (sd_strlcpy(dst, v, n) != 0)
		return sd_err_set(err, SD_EINVAL, "%s is too long (at most %zu bytes)", name, n - 1);
	return 0;
}

static int set_int(int64_t *dst, const char *name, const char *v, uint64_t min, uint64_t max,
		   struct sd_err *err)
{
	uint64_t u;

	if (sd_parse_u64(v, max, &u) != 0 || u < min)
		return sd_err_set(err, SD_EINVAL, "%s must be an integer from %llu to %llu", name,
				  (unsigned long long)min, (unsigned long long)max);
	*dst = (int64_t)u;
	return 0;
}

const char *rl_class_name(int cls)
{
	static const char *n[RL_CLASSES] = { "read", "write", "lease", "admin", "unauthenticated" };
	return cls >= 0 && cls < RL_CLASSES ? n[cls] : "?";
}

/* "rate_limit" -> RL_CLASSES (all), "rate_limit_read" -> RL_READ, ... ; -1 otherwise */
static int rate_key(const char *name)
{
	if (strcmp(name, "rate_limit") == 0)
		return RL_CLASSES;
	if (strncmp(name, "rate_limit_", 11) == 0)
		for (int i = 0; i < RL_CLASSES; i++)
			if (strcmp(name + 11, rl_class_name(i)) == 0)
				return i;
	return -1;
}

static int set_tenant(struct sd_config *c, const char *tenant, const char *name, const char *v,
		      struct sd_err *err)
{
	int k = rate_key(name), t;

	if (k < 0 || k == RL_UNAUTH)
		return sd_err_set(err, SD_EINVAL, "unknown key '%s' in [tenant %s]", name, tenant);
	for (t = 0; t < c->ntenants; t++)
		if (strcmp(c->tenants[t].name, tenant) == 0)
			break;
	if (t == c->ntenants) {
		if (c->ntenants >= SD_TENANT_LIMITS_MAX)
			return sd_err_set(err, SD_EINVAL, "more than %d [tenant] sections", SD_TENANT_LIMITS_MAX);
		if (strlen(tenant) == 0 || sd_strlcpy(c->tenants[t].name, tenant, sizeof(c->tenants[t].name)) != 0)
			return sd_err_set(err, SD_EINVAL, "[tenant NAME] needs a name of 1 to 64 bytes");
		for (int i = 0; i <= RL_CLASSES; i++)
			c->tenants[t].rps[i] = -1;
		c->ntenants++;
	}
	if (config_parse_rate(v, &c->tenants[t].rps[k], &c->tenants[t].burst[k]) != 0)
		return sd_err_set(err, SD_EINVAL, "%s must be RPS[:BURST], 0 for off", name);
	return 0;
}

void config_rate_for(const struct sd_config *c, const char *tenant, int cls, double *rps, int *burst)
{
	*rps = c->rate_rps;
	*burst = c->rate_burst;
	if (c->rate_rps <= 0)
		return; /* 0 turns every limit off */
	if (c->class_rps[cls] >= 0) {
		*rps = c->class_rps[cls];
		*burst = c->class_burst[cls];
	}
	for (int t = 0; tenant != NULL && t < c->ntenants; t++) {
		if (strcmp(c->tenants[t].name, tenant) != 0)
			continue;
		if (c->tenants[t].rps[cls] >= 0) {
			*rps = c->tenants[t].rps[cls];
			*burst = c->tenants[t].burst[cls];
		} else if (c->tenants[t].rps[RL_CLASSES] >= 0) {
			*rps = c->tenants[t].rps[RL_CLASSES];
			*burst = c->tenants[t].burst[RL_CLASSES];
		}
	}
}

int config_set(struct sd_config *c, const char *section, const char *name, const char *v,
	       struct sd_err *err)
{
	if (strncmp(section, "tenant ", 7) == 0)
		return set_tenant(c, section + 7, name, v, err);
	if (strcmp(section, "limits") == 0 && rate_key(name) >= 0 && rate_key(name) < RL_CLASSES) {
		int k = rate_key(name);
		if (config_parse_rate(v, &c->class_rps[k], &c->class_burst[k]) != 0)
			return sd_err_set(err, SD_EINVAL, "%s must be RPS[:BURST], 0 for off", name);
		return 0;
	}
	return config_set_plain(c, section, name, v, err);
}

static int config_set_plain(struct sd_config *c, const char *section, const char *name, const char *v,
			    struct sd_err *err)
{
	int64_t n;
	int rc;

#define IS(s, k) (strcmp(section, s) == 0 && strcmp(name, k) == 0)
	if (IS("server", "listen"))
		return set_str(c->listen, sizeof(c->listen), name, v, err);
	if (IS("server", "data_dir"))
		return set_str(c->data_dir, sizeof(c->data_dir), name, v, err);
	if (IS("server", "threads")) {
		if ((rc = set_int(&n, name, v, 0, 256, err)) == 0)
			c->threads = (int)n;
		return rc;
	}
	if (IS("server", "audit_log"))
		return set_str(c->audit_log, sizeof(c->audit_log), name, v, err);
	if (IS("server", "tls_cert"))
		return set_str(c->tls_cert, sizeof(c->tls_cert), name, v, err);
	if (IS("server", "tls_key"))
		return set_str(c->tls_key, sizeof(c->tls_key), name, v, err);
	if (IS("server", "log_level")) {
		int l = log_level_parse(v);
		if (l < 0)
			return sd_err_set(err, SD_EINVAL, "log_level must be debug, info, warn or error");
		c->log_level = l;
		return 0;
	}
	if (IS("auth", "jwks_file"))
		return set_str(c->jwks_file, sizeof(c->jwks_file), name, v, err);
	if (IS("auth", "jwks_url")) {
		if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
			return sd_err_set(err, SD_EINVAL, "jwks_url must be an http(s) URL");
		return set_str(c->jwks_url, sizeof(c->jwks_url), name, v, err);
	}
	if (IS("auth", "issuer"))
		return set_str(c->issuer, sizeof(c->issuer), name, v, err);
	if (IS("auth", "audience"))
		return set_str(c->audience, sizeof(c->audience), name, v, err);
	if (IS("auth", "tenant_claim"))
		return set_str(c->tenant_claim, sizeof(c->tenant_claim), name, v, err);
	if (IS("auth", "leeway_s")) {
		if ((rc = set_int(&n, name, v, 0, 300, err)) == 0)
			c->leeway_s = (int)n;
		return rc;
	}
	if (IS("limits", "max_body_bytes")) {
		if ((rc = set_int(&n, name, v, 1024, 64 * 1024 * 1024, err)) == 0)
			c->max_body_bytes = (size_t)n;
		return rc;
	}
	if (IS("limits", "max_header_bytes")) {
		if ((rc = set_int(&n, name, v, 1024, 1024 * 1024, err)) == 0)
			c->max_header_bytes = (size_t)n;
		return rc;
	}
	if (IS("limits", "request_timeout_s")) {
		if ((rc = set_int(&n, name, v, 1, 3600, err)) == 0)
			c->request_timeout_s = (int)n;
		return rc;
	}
	if (IS("limits", "header_timeout_s")) {
		if ((rc = set_int(&n, name, v, 1, 3600, err)) == 0)
			c->header_timeout_s = (int)n;
		return rc;
	}
	if (IS("limits", "rate_limit")) {
		if (config_parse_rate(v, &c->rate_rps, &c->rate_burst) != 0)
			return sd_err_set(err, SD_EINVAL, "rate_limit must be RPS[:BURST], 0 for off");
		return 0;
	}
	if (IS("limits", "min_free_mb")) {
		if ((rc = set_int(&n, name, v, 0, 1024 * 1024, err)) == 0)
			c->min_free_mb = (int)n;
		return rc;
	}
	if (IS("limits", "max_connections")) {
		if ((rc = set_int(&n, name, v, 1, 1000000, err)) == 0)
			c->max_connections = (int)n;
		return rc;
	}
	if (IS("secrets", "default_lease_ttl")) {
		if (sd_parse_duration(v, &n) != 0 || n <= 0)
			return sd_err_set(err, SD_EINVAL, "default_lease_ttl must be a positive duration (3600, 1h)");
		c->default_lease_ttl_s = n;
		return 0;
	}
	if (IS("secrets", "max_versions")) {
		if ((rc = set_int(&n, name, v, 1, 1000, err)) == 0)
			c->max_versions = (int)n;
		return rc;
	}
	if (IS("leases", "call_timeout_ms"))
		return set_int(&c->lease_call_timeout_ms, name, v, 100, 600000, err);
	if (IS("leases", "retry_base_ms"))
		return set_int(&c->lease_retry_base_ms, name, v, 10, 600000, err);
	if (IS("leases", "reaper_interval_ms"))
		return set_int(&c->reaper_interval_ms, name, v, 10, 60000, err);
	if (IS("server", "plugins"))
		return set_str(c->plugins_file, sizeof(c->plugins_file), name, v, err);
#undef IS
	if (strcmp(section, "server") && strcmp(section, "auth") && strcmp(section, "limits") &&
	    strcmp(section, "secrets") && strcmp(section, "leases"))
		return sd_err_set(err, SD_EINVAL, "unknown section [%s]", section);
	return sd_err_set(err, SD_EINVAL, "unknown key '%s' in [%s]", name, section);
}

struct load_ctx {
	struct sd_config *c;
	struct sd_err *err;
	int failed;
};

static int on_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;

	if (ctx->failed)
		return 0;
	if (name == NULL) /* a section header alone */
		return 1;
	if (config_set(ctx->c, section, name, value, ctx->err) != 0) {
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

int config_load(struct sd_config *c, const char *file, struct sd_err *err)
{
	struct sd_err inner;
	struct load_ctx ctx = { c, &inner, 0 };
	FILE *f;
	int line;

	sd_err_clear(&inner);
	f = fopen(file, "r");
	if (f == NULL)
		return sd_err_set(err, SD_EINVAL, "%s: cannot open", file);
	line = ini_parse_file(f, on_ini_line, &ctx);
	fclose(f);
	if (line == 0)
		return 0;
	if (line < 0)
		return sd_err_set(err, SD_EINVAL, "%s: cannot read", file);
	return sd_err_set(err, SD_EINVAL, "%s:%d: %s", file, line,
			  ctx.failed ? inner.msg : "syntax error (expected [section] or key = value)");
}

int config_finish(struct sd_config *c, struct sd_err *err)
{
	char abs[PATH_MAX];

	if ((c->tls_cert[0] != '\0') != (c->tls_key[0] != '\0'))
		return sd_err_set(err, SD_EINVAL, "tls_cert and tls_key go together");
	if (!c->dev && c->jwks_file[0] == '\0' && c->jwks_url[0] == '\0')
		return sd_err_set(err, SD_EINVAL, "[auth] needs jwks_file or jwks_url");
	if (!c->dev && (c->issuer[0] == '\0' || c->audience[0] == '\0'))
		return sd_err_set(err, SD_EINVAL, "[auth] needs issuer and audience");
	if (c->data_dir[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, c->data_dir) >= sizeof(abs))
			return sd_err_set(err, SD_EINVAL, "data_dir path too long");
		sd_strlcpy(c->data_dir, abs, sizeof(c->data_dir));
	}
	return 0;
}
