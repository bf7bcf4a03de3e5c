/*
 * apply_bench: time of one Apply of a 1,000,000-op batch (alloc_pages order 0 on an 8 GiB
 * machine), measured three ways: core alone (machine_apply loop), the RPC pipeline in process
 * (protobuf decode + apply + encode, no HTTP), and end to end over HTTP against a real vmsimd
 * in protobuf and in JSON. Usage: apply_bench VMSIMD [NOPS] [DB]: DB is vmsimd's --db, the
 * durable journal every Apply waits for (default ":memory:", an ephemeral database that is
 * never fsynced; give a file path to include fsync, PRAGMA synchronous=FULL).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "handlers.h"
#include "machine.h"
#include "pb_json.h"
#include "registry.h"
#include "rpc.h"
#include "server.h"
#include "vmsim/v1/vmsim.pb-c.h"

#define RAM (8ull << 30)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int port;

static pid_t start_server(const char *path, const char *db)
{
	int fds[2];
	if (pipe(fds))
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		execl(path, path, "--listen", "127.0.0.1:0", "--log-level", "warn", "--open",
		      "--db", db, "--max-body", "268435456", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char line[256] = "";
	FILE *f = fdopen(fds[0], "r");
	if (!fgets(line, sizeof(line), f) || !strstr(line, "127.0.0.1:"))
		exit(1);
	port = atoi(strstr(line, "127.0.0.1:") + 10);
	return pid;
}

/* POSTs body and returns the HTTP status; the response body (JSON or protobuf) in *out. */
static int post(const char *method, const char *ctype, const void *body, size_t len, char **out,
                size_t *outlen)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)))
		exit(1);
	char head[256];
	int n = snprintf(head, sizeof(head),
	                 "POST /twirp/vmsim.v1.VmSim/%s HTTP/1.1\r\nHost: b\r\nContent-Type: %s\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	                 method, ctype, len);
	if (write(s, head, (size_t)n) != n)
		exit(1);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(s, (const char *)body + off, len - off);
		if (w <= 0)
			exit(1);
		off += (size_t)w;
	}
	size_t cap = 1 << 16, got = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (got + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = read(s, buf + got, cap - got - 1);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(s);
	buf[got] = 0;
	char *b = strstr(buf, "\r\n\r\n");
	*outlen = b ? got - (size_t)(b + 4 - buf) : 0;
	*out = malloc(*outlen + 1);
	memcpy(*out, b ? b + 4 : "", *outlen);
	(*out)[*outlen] = 0;
	int status = atoi(buf + 9);
	free(buf);
	return status;
}

static char *create_machine(void)
{
	char body[128], *out;
	size_t len;
	snprintf(body, sizeof(body), "{\"config\":{\"ramBytes\":\"%llu\"}}", RAM);
	if (post("CreateMachine", "application/json", body, strlen(body), &out, &len) != 200)
		exit(1);
	char *id = strstr(out, "\"id\":\"") + 6;
	*strchr(id, '"') = 0;
	id = strdup(id);
	free(out);
	return id;
}

struct done_state {
	double t;
	int ok;
	unsigned applied;
};

static void on_done(struct srv_call *c, void *arg)
{
	struct done_state *d = arg;
	d->t = now();
	d->ok = c && !c->failed;
	if (d->ok) {
		Vmsim__V1__ApplyResponse *r =
		    vmsim__v1__apply_response__unpack(NULL, c->out_len, (uint8_t *)c->out);
		d->applied = r ? r->applied : 0;
		if (r)
			vmsim__v1__apply_response__free_unpacked(r, NULL);
	}
	rpc_call_free(c);
}

static void commit_now(void *data, const struct srv_commit *c, srv_commit_done_fn done, void *arg)
{
	(void)data;
	(void)c;
	done(arg, 0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: apply_bench VMSIMD [NOPS] [DB]\n");
		return 2;
	}
	size_t nops = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	const char *db = argc > 3 ? argv[3] : ":memory:";
	signal(SIGPIPE, SIG_IGN);

	/* The batch: nops x {allocPages: {order: 0}}. */
	Vmsim__V1__AllocPagesRequest ap = VMSIM__V1__ALLOC_PAGES_REQUEST__INIT;
	Vmsim__V1__Op op = VMSIM__V1__OP__INIT;
	op.op_case = VMSIM__V1__OP__OP_ALLOC_PAGES;
	op.alloc_pages = &ap;
	Vmsim__V1__Op **ops = malloc(nops * sizeof(*ops));
	for (size_t i = 0; i < nops; i++)
		ops[i] = &op;
	Vmsim__V1__ApplyRequest req = VMSIM__V1__APPLY_REQUEST__INIT;
	req.n_ops = nops;
	req.ops = ops;

	/* 1. core alone */
	struct machine_config cfg;
	char err[256];
	machine_config_default(&cfg, ARCH_X86_64, RAM);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	struct op cop = {.kind = OP_ALLOC_PAGES};
	struct op_result res;
	double t0 = now();
	for (size_t i = 0; i < nops; i++)
		if (machine_apply(m, &cop, &res) != VM_OK)
			return fprintf(stderr, "core failed at op %zu: %s\n", i, res.msg), 1;
	double t_core = now() - t0;
	machine_destroy(m);

	/* 2. RPC pipeline in process: decode, apply, encode, commit hook. */
	struct srv s;
	memset(&s, 0, sizeof(s));
	srv_config_default(&s.cfg);
	s.reg = registry_new();
	s.commit = commit_now;
	if (rpc_init(err, sizeof(err)) || api_register(&s))
		return fprintf(stderr, "%s\n", err), 1;
	struct srv_machine *sm = registry_create(s.reg, NULL, "bench", &cfg, err, sizeof(err));
	req.machine_id = sm->id;
	size_t pblen = protobuf_c_message_get_packed_size(&req.base);
	uint8_t *pb = malloc(pblen);
	protobuf_c_message_pack(&req.base, pb);
	struct srv_identity who = {.peer = "bench"};
	struct done_state d = {0};
	t0 = now();
	rpc_dispatch(&s, "Apply", 0, (const char *)pb, pblen, &who, on_done, &d);
	double t_inproc = d.t - t0;
	if (!d.ok || d.applied != nops)
		return fprintf(stderr, "in-process Apply failed (%u applied)\n", d.applied), 1;
	registry_free(s.reg);
	free(s.methods);

	/* 2b. The same pipeline with durable.c's journal behind the commit seam (the store, the
	 * group-commit writer, a database like DB): the answer waits for the commit. Same process,
	 * same minute: the difference to 2 is what journaling the batch costs. */
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct srv s2;
	memset(&s2, 0, sizeof(s2));
	srv_config_default(&s2.cfg);
	s2.cfg.log_level = LOG_WARN;
	s2.loop = &loop;
	char db2[512];
	snprintf(db2, sizeof(db2), "%s%s", db, strcmp(db, ":memory:") ? ".inproc" : "");
	struct durable dur;
	if (durable_open(&dur, &s2, db2, 0, 1, err, sizeof(err)))
		return fprintf(stderr, "durable_open: %s\n", err), 1;
	if (api_register(&s2))
		return fprintf(stderr, "out of memory\n"), 1;
	const char *cm = "{\"config\":{\"ramBytes\":\"8589934592\"}}";
	struct done_state dc = {0};
	rpc_dispatch(&s2, "CreateMachine", 1, cm, strlen(cm), &who, on_done, &dc);
	while (!dc.t)
		uv_run(&loop, UV_RUN_ONCE);
	req.machine_id = "m1";
	size_t pb2len = protobuf_c_message_get_packed_size(&req.base);
	uint8_t *pb2 = malloc(pb2len);
	protobuf_c_message_pack(&req.base, pb2);
	struct done_state dd = {0};
	t0 = now();
	rpc_dispatch(&s2, "Apply", 0, (const char *)pb2, pb2len, &who, on_done, &dd);
	while (!dd.t)
		uv_run(&loop, UV_RUN_ONCE);
	double t_inproc_durable = dd.t - t0;
	if (!dd.ok || dd.applied != nops)
		return fprintf(stderr, "durable Apply failed (%u applied)\n", dd.applied), 1;
	free(pb2);
	durable_close(&dur);
	srv_release(&s2);
	uv_loop_close(&loop);
	if (strcmp(db, ":memory:")) {
		char side[600];
		unlink(db2);
		snprintf(side, sizeof(side), "%s-wal", db2);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", db2);
		unlink(side);
	}

	/* 3. HTTP, protobuf and JSON bodies. */
	pid_t pid = start_server(argv[1], db);
	char *id = create_machine();
	req.machine_id = id;
	free(pb);
	pblen = protobuf_c_message_get_packed_size(&req.base);
	pb = malloc(pblen);
	protobuf_c_message_pack(&req.base, pb);
	char *out;
	size_t outlen;
	t0 = now();
	int st = post("Apply", "application/protobuf", pb, pblen, &out, &outlen);
	double t_http_pb = now() - t0;
	Vmsim__V1__ApplyResponse *r =
	    vmsim__v1__apply_response__unpack(NULL, outlen, (uint8_t *)out);
	if (st != 200 || !r || r->applied != nops)
		return fprintf(stderr, "HTTP protobuf Apply failed: %d\n", st), 1;
	vmsim__v1__apply_response__free_unpacked(r, NULL);
	free(out);

	char *id2 = create_machine();
	req.machine_id = id2;
	size_t jlen;
	char *json = pb_json_dumps(&req.base, 0, &jlen);
	t0 = now();
	st = post("Apply", "application/json", json, jlen, &out, &outlen);
	double t_http_json = now() - t0;
	if (st != 200 || !strstr(out, "\"applied\":"))
		return fprintf(stderr, "HTTP JSON Apply failed: %d %s\n", st, out), 1;
	free(out);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);

	/* 4. With a database file: restart (recovery: checkpoint after each batch, nothing to
	 * replay) and time travel into the middle of the first batch (replay of its prefix). */
	double t_restart = 0, t_at = 0;
	if (strcmp(db, ":memory:")) {
		t0 = now();
		pid = start_server(argv[1], db);
		t_restart = now() - t0;
		char body[128];
		int blen = snprintf(body, sizeof(body),
		                    "{\"machineId\":\"%s\",\"seq\":\"%zu\",\"path\":\"buddyinfo\"}",
		                    id, nops / 2);
		t0 = now();
		st = post("MachineAt", "application/json", body, (size_t)blen, &out, &outlen);
		t_at = now() - t0;
		char want[64];
		snprintf(want, sizeof(want), "\"opSeq\":\"%zu\"", nops / 2);
		if (st != 200 || !strstr(out, want))
			return fprintf(stderr, "MachineAt into the batch failed: %d %s\n", st, out),
			       1;
		free(out);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}

	printf("apply_bench: Apply of %zu alloc_pages(order 0) ops on an 8 GiB x86_64 machine, "
	       "vmsimd --db %s\n",
	       nops, db);
	printf("  %-36s %8.3f s  (%6.0f ns/op)\n", "core machine_apply loop", t_core,
	       t_core * 1e9 / (double)nops);
	printf("  %-36s %8.3f s  (%zu-byte protobuf body)\n", "RPC pipeline in process", t_inproc,
	       pblen);
	printf("  %-36s %8.3f s  (journal: %+.3f s)\n", "same, with the durable journal",
	       t_inproc_durable, t_inproc_durable - t_inproc);
	printf("  %-36s %8.3f s\n", "HTTP, application/protobuf", t_http_pb);
	printf("  %-36s %8.3f s  (%zu-byte JSON body)\n", "HTTP, application/json", t_http_json,
	       jlen);
	if (t_restart > 0) {
		printf("  %-36s %8.3f s  (2 machines, recovered from their checkpoints)\n",
		       "restart of vmsimd on the database", t_restart);
		printf("  %-36s %8.3f s  (seq %zu: replay of half a batch)\n",
		       "MachineAt into the middle of it", t_at, nops / 2);
	}
	free(json);
	free(pb);
	free(ops);
	free(id);
	free(id2);
	return 0;
}
