/*
 * Fuzzes the server's whole request path in process: a real vmsimd (srv_start on an ephemeral
 * loopback port, --open) runs on a libuv loop inside the fuzzer; each input is written raw on a
 * fresh TCP connection, the write side is shut, and the loop runs until the server has answered
 * and closed. That covers http-parser callbacks and limits, the router, static files, Twirp
 * dispatch with protobuf and JSON bodies, the API handlers and the core behind them.
 * Machines created by one input are deleted before the next, so memory stays bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ops.h"
#include "registry.h"
#include "rpc.h"
#include "server.h"

#define FUZZ_MAX_INPUT (256u << 10)
#define MAX_ROUNDS     400 /* loop turns per input before giving up on a close */

static struct srv S;
static uv_loop_t *loop;

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
	if (ops_init(err, sizeof(err)) || rpc_init(err, sizeof(err))) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	loop = uv_default_loop();
	if (srv_start(&S, loop, err, sizeof(err))) {
		fprintf(stderr, "fuzz_http: srv_start: %s\n", err);
		abort();
	}
	return 0;
}

static int client(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.cfg.port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	int fd = client();
	if (fd < 0)
		abort(); /* the server stopped accepting: that is a finding */
	size_t sent = 0;
	int closed = 0, shut = 0;
	char buf[65536];
	for (int round = 0; round < MAX_ROUNDS && !closed; round++) {
		if (sent < size) {
			ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				sent = size; /* the server closed early (413, 431...): fine */
		}
		if (sent == size && !shut) {
			shutdown(fd, SHUT_WR);
			shut = 1;
		}
		uv_run(loop, UV_RUN_NOWAIT);
		for (;;) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n > 0)
				continue;
			if (n == 0 || (n < 0 && errno != EAGAIN))
				closed = 1;
			break;
		}
		if (!closed && round > 4) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			poll(&p, 1, 1); /* the server may be waiting on a timer (timeouts) */
		}
	}
	close(fd);
	uv_run(loop, UV_RUN_NOWAIT);
	/* Forget what this input created. */
	struct srv_machine *sm;
	while ((sm = registry_first(S.reg)))
		registry_delete(S.reg, sm);
	return 0;
}
