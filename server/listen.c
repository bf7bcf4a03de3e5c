/*
 * Listening and stopping: binds the address, accepts connections (http.c), handles SIGINT and
 * SIGTERM, and stops gracefully. The default seams live here: an open server authorizes
 * everything and commits in memory (acknowledges at once).
 */
#include "listen.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "registry.h"
#include "sse.h"

#define STOP_GRACE_MS 3000

static int allow_all(void *data, struct srv_identity *who, const char *method,
                     const char *machine_id, struct twirp_err *err)
{
	(void)data;
	(void)who;
	(void)method;
	(void)machine_id;
	(void)err;
	return 0;
}

static void commit_in_memory(void *data, const struct srv_commit *c, srv_commit_done_fn done,
                             void *arg)
{
	(void)data;
	(void)c;
	done(arg, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct srv *s = h->data;
	srv_log(s, LOG_INFO, "signal %d: stopping", signum);
	srv_stop(s);
}

int srv_start(struct srv *s, uv_loop_t *loop, char *err, size_t len)
{
	s->loop = loop;
	if (!s->authorize)
		s->authorize = allow_all;
	if (!s->commit)
		s->commit = commit_in_memory;
	if (!s->reg)
		s->reg = registry_new();
	if (!s->reg || sse_init(s)) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	struct sockaddr_storage addr;
	int rc = strchr(s->cfg.host, ':')
	             ? uv_ip6_addr(s->cfg.host, s->cfg.port, (struct sockaddr_in6 *)&addr)
	             : uv_ip4_addr(s->cfg.host, s->cfg.port, (struct sockaddr_in *)&addr);
	if (rc) {
		snprintf(err, len, "bad listen address %s", s->cfg.host);
		return -1;
	}
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) ||
	    (rc = uv_listen((uv_stream_t *)&s->listener, 1024, http_on_connection))) {
		snprintf(err, len, "cannot listen on %s:%d: %s", s->cfg.host, s->cfg.port,
		         uv_strerror(rc));
		return -1;
	}
	struct sockaddr_storage bound;
	int bl = sizeof(bound);
	uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &bl);
	s->cfg.port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
	                                                : ((struct sockaddr_in *)&bound)->sin_port);
	uv_signal_init(loop, &s->sigint);
	uv_signal_init(loop, &s->sigterm);
	s->sigint.data = s->sigterm.data = s;
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	http_sweep_start(s);
	uv_timer_init(loop, &s->stop_timer);
	s->stop_timer.data = s;
	uv_unref((uv_handle_t *)&s->stop_timer);
	return 0;
}

static void on_stop_timer(uv_timer_t *t)
{
	struct srv *s = t->data;
	http_close_all(s, 1);
	srv_conns_drained(s);
}

void srv_stop(struct srv *s)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	uv_close((uv_handle_t *)&s->listener, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	sse_shutdown(s);
	http_sweep_stop(s);
	http_close_all(s, 0);
	/* Requests still running get a grace period, then everything is closed. */
	uv_ref((uv_handle_t *)&s->stop_timer);
	uv_timer_start(&s->stop_timer, on_stop_timer, STOP_GRACE_MS, 0);
	if (!s->conns)
		srv_conns_drained(s);
}
