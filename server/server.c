/*
 * The server's shared state: config defaults, logging, the end of a graceful stop (the last
 * connection closed) and release. Listening and stopping are listen.c's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry.h"
#include "server.h"

void srv_config_default(struct srv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
	cfg->port = 8080;
	cfg->log_level = LOG_INFO;
	cfg->max_body = 1u << 20;
	cfg->max_header = 16u << 10;
	cfg->idle_timeout_ms = 60000;
	cfg->request_timeout_ms = 10000;
	cfg->max_conns = 4096;
	cfg->sse_max_buffer = 1u << 20;
	cfg->max_pipeline = 16;
	/* A class behind one NAT address: every student's dashboard and stream get in. */
	cfg->max_conns_per_user = 64;
	cfg->max_streams_per_user = 16;
	cfg->max_unauth_per_addr = 1024;
	cfg->max_machines = 10000;
	cfg->max_op_work = 1u << 19;      /* about 10 ms of loop time (cost.h) */
	cfg->max_request_work = 1u << 28; /* about 5 s, run in slices */
}

void srv_log(const struct srv *s, enum srv_log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	if (lvl < s->cfg.log_level)
		return;
	char ts[32];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000, names[lvl], line);
}

void srv_conns_drained(struct srv *s)
{
	if (s->stopping && !uv_is_closing((uv_handle_t *)&s->stop_timer))
		uv_close((uv_handle_t *)&s->stop_timer, NULL);
}

void srv_release(struct srv *s)
{
	registry_free(s->reg);
	s->reg = NULL;
	free(s->methods);
	s->methods = NULL;
}
