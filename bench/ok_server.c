/*
 * The ceiling for rpc_bench: a bare libuv + http-parser server that answers "ok" to every
 * request, with keep-alive and pipelining, and does nothing else. vmsimd's request path is
 * measured against it in the same run. Usage: ok_server [PORT] (0 = any; the port is printed).
 */
#include <http_parser.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct conn {
	uv_tcp_t tcp;
	http_parser parser;
	int keep_alive;
};

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                            "\r\nok\n";

static void on_close(uv_handle_t *h)
{
	free(h->data);
}

static void on_write(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

static int on_complete(http_parser *p)
{
	struct conn *c = p->data;
	uv_write_t *w = malloc(sizeof(*w));
	uv_buf_t b = uv_buf_init((char *)reply, sizeof(reply) - 1);
	if (!w || uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_write))
		free(w);
	return 0;
}

static const http_parser_settings settings = {.on_message_complete = on_complete};

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(n);
	b->len = b->base ? n : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	if (n < 0) {
		uv_close((uv_handle_t *)s, on_close);
	} else if (n > 0) {
		size_t done = http_parser_execute(&c->parser, &settings, b->base, (size_t)n);
		if (done != (size_t)n)
			uv_close((uv_handle_t *)s, on_close);
	}
	free(b->base);
}

static void on_conn(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	uv_tcp_init(server->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
		uv_close((uv_handle_t *)&c->tcp, on_close);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int sig)
{
	(void)sig;
	uv_stop(h->loop);
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	signal(SIGPIPE, SIG_IGN);
	uv_loop_t *loop = uv_default_loop();
	uv_tcp_t server;
	struct sockaddr_in addr;
	uv_ip4_addr("127.0.0.1", port, &addr);
	uv_tcp_init(loop, &server);
	if (uv_tcp_bind(&server, (struct sockaddr *)&addr, 0) ||
	    uv_listen((uv_stream_t *)&server, 1024, on_conn)) {
		fprintf(stderr, "ok_server: cannot listen\n");
		return 1;
	}
	struct sockaddr_in bound;
	int len = sizeof(bound);
	uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
	printf("ok_server listening on http://127.0.0.1:%d/\n", ntohs(bound.sin_port));
	fflush(stdout);
	uv_signal_t sig;
	uv_signal_init(loop, &sig);
	uv_signal_start(&sig, on_signal, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}
