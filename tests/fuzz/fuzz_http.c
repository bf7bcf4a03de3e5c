/*
 * Fuzzes the server's whole request path in process: a real vmsimd (srv_start, --open) runs
 * on a libuv loop inside the fuzzer, and each input is written raw into one end of a
 * socketpair whose other end the server serves as an accepted connection (http_adopt: the
 * same read, parse, route, dispatch and write code as a TCP client gets, without the TCP
 * handshake, ephemeral ports or TIME_WAIT). The write side is then shut and the loop runs
 * until the server has answered and closed. That covers http-parser callbacks and limits, the
 * router, static files, SSE, Twirp dispatch with protobuf and JSON bodies, the API handlers
 * and the core behind them.
 *
 * Checked: the server never crashes or leaks (ASan), always closes the connection, and what it
 * sends is a sequence of well-formed HTTP/1.1 responses, none of them a 500 (an internal
 * error is a bug: every bad input has a 4xx answer).
 * Machines created by one input are deleted before the next, so memory stays bounded.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handlers.h"
#include "http.h"
#include "listen.h"
#include "ops.h"
#include "registry.h"
#include "rpc.h"
#include "server.h"

#define FUZZ_MAX_INPUT (256u << 10)
#define MAX_ROUNDS     64         /* non-blocking loop turns before waiting on timers */
#define MAX_WAITS      8          /* blocking loop turns (timeouts) before giving up */
#define OUT_CAP        (4u << 20) /* response bytes kept for the format check */

static struct srv S;
static uv_loop_t *loop;
static char *out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[256];
	srv_config_default(&S.cfg);
	snprintf(S.cfg.host, sizeof(S.cfg.host), "127.0.0.1");
	S.cfg.port = 0;
	S.cfg.open = 1;
	S.cfg.log_level = LOG_ERROR;
	S.cfg.max_machines = 4;
	S.cfg.max_body = 64u << 10;
	S.cfg.request_timeout_ms = 200;
	S.cfg.idle_timeout_ms = 200;
	snprintf(S.cfg.web_dir, sizeof(S.cfg.web_dir), "%s", VMSIM_WEB_DIR);
	if (ops_init(err, sizeof(err)) || rpc_init(err, sizeof(err)) || api_register(&S)) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	loop = uv_default_loop();
	if (srv_start(&S, loop, err, sizeof(err))) {
		fprintf(stderr, "fuzz_http: srv_start: %s\n", err);
		abort();
	}
	out = malloc(OUT_CAP);
	if (!out)
		abort();
	return 0;
}

static void bad_output(const char *what, const char *at, size_t len)
{
	fprintf(stderr, "fuzz_http: %s: %.*s\n", what, (int)(len < 300 ? len : 300), at);
	abort();
}

/*
 * The server's bytes: responses with a status line, headers and a Content-Length body, back
 * to back; only an event stream (no Content-Length) may run to the end.
 */
static void check_output(const char *p, size_t len)
{
	const char *end = p + len;
	while (p < end) {
		size_t left = (size_t)(end - p);
		if (left < 12 || memcmp(p, "HTTP/1.1 ", 9) || p[9] < '1' || p[9] > '5')
			bad_output("not an HTTP/1.1 status line", p, left);
		if (p[9] == '5' && p[10] == '0' && p[11] == '0')
			bad_output("internal server error", p, left);
		const char *head_end = memmem(p, left, "\r\n\r\n", 4);
		if (!head_end)
			bad_output("response headers never end", p, left);
		const char *cl = memmem(p, (size_t)(head_end - p), "\r\nContent-Length: ", 18);
		if (!cl)
			return; /* a stream */
		size_t body = strtoull(cl + 18, NULL, 10);
		p = head_end + 4;
		/* a HEAD answer carries GET's Content-Length and no body: the next response (or the
		 * end) follows the headers at once (no body vmsimd sends starts with a status line)
		 */
		if (body && (p == end || ((size_t)(end - p) >= 9 && !memcmp(p, "HTTP/1.1 ", 9))))
			continue;
		if (body > (size_t)(end - p))
			bad_output("body shorter than its Content-Length", p, (size_t)(end - p));
		p += body;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	if (http_adopt(&S, sv[0]))
		abort(); /* the server refused a connection: that is a finding */
	size_t sent = 0, got = 0;
	int closed = 0, shut = 0, waits = 0;
	for (int round = 0; !closed && waits < MAX_WAITS; round++) {
		if (sent < size) {
			ssize_t n = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				sent = size; /* the server closed early (413, 431...): fine */
		}
		if (sent == size && !shut) {
			shutdown(sv[1], SHUT_WR);
			shut = 1;
		}
		/* Past MAX_ROUNDS the server waits on a timer (a timeout) or a worker thread. */
		uv_run(loop, round < MAX_ROUNDS ? UV_RUN_NOWAIT : (waits++, UV_RUN_ONCE));
		for (;;) {
			char buf[65536];
			ssize_t n = recv(sv[1], got < OUT_CAP ? out + got : buf,
			                 got < OUT_CAP ? OUT_CAP - got : sizeof(buf), 0);
			if (n > 0) {
				got += got < OUT_CAP ? (size_t)n : 0;
				continue;
			}
			if (n == 0 || (n < 0 && errno != EAGAIN))
				closed = 1;
			break;
		}
	}
	close(sv[1]);
	uv_run(loop, UV_RUN_NOWAIT);
	if (!closed)
		bad_output("the server never closed the connection", (const char *)data, size);
	if (got < OUT_CAP)
		check_output(out, got);
	/* Forget what this input created. */
	struct srv_machine *sm;
	while ((sm = registry_first(S.reg)))
		registry_delete(S.reg, sm);
	return 0;
}
