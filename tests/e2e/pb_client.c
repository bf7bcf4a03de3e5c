/*
 * End-to-end test with a protobuf client: starts vmsimd on an ephemeral port, drives a
 * session of ops over application/protobuf, and checks every answer against the same ops run
 * on an in-process core machine: results, errors, /proc views byte for byte, frame map and
 * counters. Ops core does not implement yet must fail the same way on both sides, so the test
 * stays exact while the core grows. Usage: pb_client VMSIMD
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "machine.h"
#include "query.h"
#include "ops.h"
#include "proc.h"
#include "query.h"
#include "rpc.h"
#include "strbuf.h"
#include "vmsim/v1/vmsim.pb-c.h"

static int failures, checks;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		checks++;                                                    \
		if (!(cond)) {                                               \
			failures++;                                          \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

static int sock = -1;
static int port;

static void connect_server(void)
{
	sock = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(sock, (struct sockaddr *)&a, sizeof(a))) {
		perror("connect");
		exit(1);
	}
	int one = 1;
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void send_all(const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(sock, p, n);
		if (w <= 0) {
			perror("write");
			exit(1);
		}
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

/* One RPC over the keep-alive connection; returns the HTTP status, body in *out. */
static int call(const char *method, const ProtobufCMessage *req, uint8_t **out, size_t *outlen)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *body = malloc(len + 1);
	protobuf_c_message_pack(req, body);
	char head[256];
	int n = snprintf(head, sizeof(head),
	                 "POST /twirp/vmsim.v1.VmSim/%s HTTP/1.1\r\nHost: t\r\n"
	                 "Content-Type: application/protobuf\r\nContent-Length: %zu\r\n\r\n",
	                 method, len);
	send_all(head, (size_t)n);
	send_all(body, len);
	free(body);
	static char buf[1 << 22];
	size_t got = 0;
	char *end = NULL;
	while (!end) {
		ssize_t r = read(sock, buf + got, sizeof(buf) - got - 1);
		if (r <= 0) {
			fprintf(stderr, "connection closed during %s\n", method);
			exit(1);
		}
		got += (size_t)r;
		buf[got] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	int status = atoi(buf + 9);
	const char *cl = strcasestr(buf, "Content-Length:");
	size_t blen = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
	size_t hlen = (size_t)(end + 4 - buf);
	while (got < hlen + blen) {
		ssize_t r = read(sock, buf + got, sizeof(buf) - got - 1);
		if (r <= 0)
			exit(1);
		got += (size_t)r;
	}
	*out = malloc(blen + 1);
	memcpy(*out, buf + hlen, blen);
	(*out)[blen] = 0;
	*outlen = blen;
	return status;
}

static pid_t start_server(const char *path)
{
	int fds[2];
	if (pipe(fds))
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execl(path, path, "--listen", "127.0.0.1:0", "--log-level", "warn", "--open",
		      "--db", ":memory:", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[256] = "";
	if (!fgets(line, sizeof(line), f) || !strstr(line, "127.0.0.1:")) {
		fprintf(stderr, "vmsimd did not start: %s\n", line);
		exit(1);
	}
	port = atoi(strstr(line, "127.0.0.1:") + 10);
	return pid;
}

/* ------------------------------------------------------------------------------------ */

static struct machine *local;
static const char *mid;
static uint64_t map_addr; /* what the session's mmap returned */

static ProtobufCMessage *op_request(const struct op *op)
{
	size_t len;
	uint8_t *buf = ops_pack(op, &len);
	Vmsim__V1__Op *pb = vmsim__v1__op__unpack(NULL, len, buf);
	free(buf);
	/* Detach the request message from its Op and give it the machine id. */
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&vmsim__v1__op__descriptor, pb->op_case);
	ProtobufCMessage **slot = (ProtobufCMessage **)((char *)pb + f->offset);
	ProtobufCMessage *req = *slot;
	*slot = NULL;
	pb->op_case = VMSIM__V1__OP__OP__NOT_SET;
	vmsim__v1__op__free_unpacked(pb, NULL);
	const ProtobufCFieldDescriptor *idf =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "machine_id");
	char **id = (char **)((char *)req + idf->offset);
	if (*id != idf->default_value)
		free(*id);
	*id = strdup(mid);
	return req;
}

/* The RPC method for an op: "alloc_pages" -> "AllocPages". */
static void method_of(enum op_kind k, char *out)
{
	const char *n = ops_name(k);
	int up = 1;
	for (; *n; n++) {
		if (*n == '_') {
			up = 1;
			continue;
		}
		*out++ = up ? (char)(*n - 'a' + 'A') : *n;
		up = 0;
	}
	*out = 0;
}

/* Runs op on both sides; returns the result (value etc.) and whether it succeeded. */
static int both(struct op op, struct op_result *lr)
{
	char method[64];
	method_of(op.kind, method);
	enum vm_err le = machine_apply(local, &op, lr);
	ProtobufCMessage *req = op_request(&op);
	uint8_t *out;
	size_t len;
	int status = call(method, req, &out, &len);
	protobuf_c_message_free_unpacked(req, NULL);
	if (le != VM_OK) {
		enum twirp_code tc = twirp_code(le);
		const char *code = twirp_code_name(tc);
		CHECK(status == twirp_code_status(tc) && strstr((char *)out, code),
		      "%s: local %s, server %d %s", method, code, status, out);
	} else {
		CHECK(status == 200, "%s: server %d %s", method, status, out);
		Vmsim__V1__OpResult *r = vmsim__v1__op_result__unpack(NULL, len, out);
		CHECK(r && r->seq == lr->seq && r->value == lr->value && r->value2 == lr->value2 &&
		          (int)r->fault == (int)lr->fault && r->faults == lr->faults,
		      "%s: results differ (seq %llu/%llu value %llu/%llu)", method,
		      r ? (unsigned long long)r->seq : 0ull, (unsigned long long)lr->seq,
		      r ? (unsigned long long)r->value : 0ull, (unsigned long long)lr->value);
		if (r) {
			CHECK(r->n_events == (size_t)(lr->last_event - lr->first_event + 1),
			      "%s: %zu events, core recorded %llu", method, r->n_events,
			      (unsigned long long)(lr->last_event - lr->first_event + 1));
			vmsim__v1__op_result__free_unpacked(r, NULL);
		}
	}
	free(out);
	if (le != VM_OK)
		printf("  %s: %s (on both sides)\n", method, lr->msg);
	return le == VM_OK;
}

static void compare_proc(const char *path)
{
	struct strbuf sb;
	strbuf_init(&sb);
	enum vm_err le = proc_render(local, path, &sb);
	Vmsim__V1__ProcRequest req = VMSIM__V1__PROC_REQUEST__INIT;
	req.machine_id = (char *)mid;
	req.path = (char *)path;
	uint8_t *out;
	size_t len;
	int status = call("Proc", &req.base, &out, &len);
	if (le != VM_OK) {
		CHECK(status == 404, "proc %s: core says no such view, server %d", path, status);
	} else {
		Vmsim__V1__ProcResponse *r = vmsim__v1__proc_response__unpack(NULL, len, out);
		CHECK(status == 200 && r && !strcmp(r->text, sb.buf ? sb.buf : ""),
		      "proc %s differs:\n--- server\n%s--- core\n%s", path, r ? r->text : "?",
		      sb.buf ? sb.buf : "");
		if (r)
			vmsim__v1__proc_response__free_unpacked(r, NULL);
	}
	free(out);
	strbuf_release(&sb);
}

struct kv {
	char name[64];
	uint64_t v;
};
static struct kv lc[256];
static size_t nlc;
static void collect(void *arg, const char *name, uint64_t v)
{
	(void)arg;
	if (nlc < 256) {
		snprintf(lc[nlc].name, sizeof(lc[nlc].name), "%s", name);
		lc[nlc++].v = v;
	}
}

static void compare_state(void)
{
	for (const char *const *v = proc_view_names; *v; v++)
		compare_proc(*v);
	static const char *const pid_views[] = {"1/maps", "1/status", "1/smaps",
	                                        "2/maps", "2/status", "99/maps"};
	for (size_t i = 0; i < sizeof(pid_views) / sizeof(pid_views[0]); i++)
		compare_proc(pid_views[i]);

	/* Frame map: every frame's flags and block order. */
	Vmsim__V1__FrameMapRequest fr = VMSIM__V1__FRAME_MAP_REQUEST__INIT;
	fr.machine_id = (char *)mid;
	uint8_t *out;
	size_t len;
	int status = call("FrameMap", &fr.base, &out, &len);
	Vmsim__V1__FrameMapResponse *fm = vmsim__v1__frame_map_response__unpack(NULL, len, out);
	uint64_t n = machine_nr_frames(local);
	uint16_t *flags = malloc(n * 2);
	uint8_t *orders = malloc(n);
	query_frame_map(local, 0, n, flags, orders);
	CHECK(status == 200 && fm && fm->count == n && fm->flags.len == 2 * n &&
	          fm->orders.len == n && !memcmp(fm->orders.data, orders, n),
	      "frame map differs");
	int same = fm && fm->flags.len == 2 * n;
	for (uint64_t i = 0; same && i < n; i++)
		same = (fm->flags.data[2 * i] | fm->flags.data[2 * i + 1] << 8) == flags[i];
	CHECK(same, "frame flags differ");
	if (fm)
		vmsim__v1__frame_map_response__free_unpacked(fm, NULL);
	free(out);
	free(flags);
	free(orders);

	/* Page walks of the mapping in parent and child, and of an unknown pid. */
	for (uint32_t pid = 1; pid <= 3; pid++) {
		struct query_walk t;
		enum vm_err le = query_translate(local, pid, map_addr, &t);
		Vmsim__V1__TranslateRequest tr = VMSIM__V1__TRANSLATE_REQUEST__INIT;
		tr.machine_id = (char *)mid;
		tr.pid = pid;
		tr.addr = map_addr;
		status = call("Translate", &tr.base, &out, &len);
		if (le != VM_OK) {
			CHECK(status == twirp_code_status(twirp_code(le)), "translate pid %u: %d",
			      pid, status);
		} else {
			Vmsim__V1__TranslateResponse *r =
			    vmsim__v1__translate_response__unpack(NULL, len, out);
			CHECK(status == 200 && r && r->present == t.present && r->pte == t.pte &&
			          r->n_steps == t.nr && (!r->present || r->phys == t.phys),
			      "translate pid %u differs", pid);
			if (r)
				vmsim__v1__translate_response__free_unpacked(r, NULL);
		}
		free(out);
	}

	/* Counters: the same names, values and order. */
	nlc = 0;
	query_counters(local, collect, NULL);
	Vmsim__V1__CountersRequest cr = VMSIM__V1__COUNTERS_REQUEST__INIT;
	cr.machine_id = (char *)mid;
	status = call("Counters", &cr.base, &out, &len);
	Vmsim__V1__CountersResponse *cs = vmsim__v1__counters_response__unpack(NULL, len, out);
	CHECK(status == 200 && cs && cs->n_counters == nlc, "counter count");
	for (size_t i = 0; cs && i < cs->n_counters && i < nlc; i++)
		CHECK(!strcmp(cs->counters[i]->name, lc[i].name) &&
		          cs->counters[i]->value == lc[i].v,
		      "counter %s: server %llu, core %llu", lc[i].name,
		      (unsigned long long)cs->counters[i]->value, (unsigned long long)lc[i].v);
	if (cs)
		vmsim__v1__counters_response__free_unpacked(cs, NULL);
	free(out);
}

static struct machine_config config(void)
{
	struct machine_config cfg;
	machine_config_default(&cfg, ARCH_X86_64, 32ull << 20);
	cfg.seed = 7;
	return cfg;
}

static char *create_machine(void)
{
	Vmsim__V1__CreateMachineRequest req = VMSIM__V1__CREATE_MACHINE_REQUEST__INIT;
	Vmsim__V1__MachineConfig cfg = VMSIM__V1__MACHINE_CONFIG__INIT;
	cfg.arch = VMSIM__V1__ARCH__ARCH_X86_64;
	cfg.ram_bytes = 32ull << 20;
	cfg.seed = 7;
	req.config = &cfg;
	req.name = "pb";
	uint8_t *out;
	size_t len;
	int status = call("CreateMachine", &req.base, &out, &len);
	Vmsim__V1__Machine *m = vmsim__v1__machine__unpack(NULL, len, out);
	CHECK(status == 200 && m && m->nr_frames == 8192, "CreateMachine: %d", status);
	char *id = strdup(m ? m->id : "?");
	if (m)
		vmsim__v1__machine__free_unpacked(m, NULL);
	free(out);
	return id;
}

/* The session: kernel allocations, a process that maps, touches, forks and writes. */
static size_t session(struct op *ops, size_t max)
{
	size_t n = 0;
#define OP(k, ...) (ops[n++] = (struct op){.kind = k, .u = {__VA_ARGS__}})
	OP(OP_ALLOC_PAGES, .alloc_pages = {0, 3});
	OP(OP_ALLOC_PAGES, .alloc_pages = {__GFP_DMA, 0});
	OP(OP_ALLOC_PAGES, .alloc_pages = {0, 5});
	OP(OP_KMEM_CACHE_CREATE, .cache_create = {"vmsim_obj", 192, 8});
	OP(OP_KMEM_CACHE_ALLOC, .cache = {"vmsim_obj", 0});
	OP(OP_KMALLOC, .kmalloc = {600, 0});
	OP(OP_VMALLOC, .vmalloc = {20000});
	OP(OP_SPAWN, .spawn = {"sh", 0, 0, 0, 0});
	OP(OP_MMAP,
	   .mmap = {1, 0, 65536, PROT_READ_ | PROT_WRITE_, MAP_PRIVATE_ | MAP_ANONYMOUS_, 0, 0});
	OP(OP_BRK, .brk = {1, 0});
	OP(OP_ACCESS_RANGE, .access = {1, 0x400000, 8192, ACCESS_READ, 0});
	OP(OP_FORK, .fork = {1, 0});
	OP(OP_CONTEXT_SWITCH, .context_switch = {2});
	OP(OP_FILE_CREATE, .file_create = {"/data/log", 16384});
	OP(OP_FILE_WRITE, .file_io = {1, 0, 8192});
	OP(OP_ALLOC_PAGES, .alloc_pages = {0, 11}); /* fails everywhere: order too large */
	OP(OP_FREE_PAGES, .free_pages = {3, 0});    /* fails: never allocated */
#undef OP
	(void)max;
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: pb_client VMSIMD\n");
		return 2;
	}
	char err[256];
	if (ops_init(err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	pid_t pid = start_server(argv[1]);
	connect_server();

	struct machine_config cfg = config();
	local = machine_create(&cfg, err, sizeof(err));
	char *id = create_machine();
	mid = id;
	struct op ops[64];
	size_t n = session(ops, 64);
	struct op_result lr;
	size_t ok = 0;
	for (size_t i = 0; i < n; i++) {
		int good = both(ops[i], &lr);
		ok += good;
		/* The access touches what mmap returned (an address core chose). */
		if (good && ops[i].kind == OP_MMAP && i + 2 < n) {
			ops[i + 2].u.access.addr = lr.value;
			map_addr = lr.value;
		}
		if (good && ops[i].kind == OP_FILE_CREATE && i + 1 < n)
			ops[i + 1].u.file_io.ino = (uint32_t)lr.value;
	}
	printf("%zu of %zu ops succeeded on core and server alike\n", ok, n);
	compare_state();

	/* The same session as one Apply batch on a fresh machine: same end state. */
	machine_destroy(local);
	local = machine_create(&cfg, err, sizeof(err));
	char *id2 = create_machine();
	mid = id2;
	Vmsim__V1__ApplyRequest ar = VMSIM__V1__APPLY_REQUEST__INIT;
	Vmsim__V1__Op **pops = calloc(n, sizeof(*pops));
	size_t applied = 0;
	for (size_t i = 0; i < n; i++) {
		struct op_result r;
		if (machine_apply(local, &ops[i], &r) != VM_OK)
			continue; /* keep only ops that succeed so the batch runs through */
		size_t len;
		uint8_t *buf = ops_pack(&ops[i], &len);
		pops[applied++] = vmsim__v1__op__unpack(NULL, len, buf);
		free(buf);
	}
	ar.machine_id = id2;
	ar.n_ops = applied;
	ar.ops = pops;
	uint8_t *out;
	size_t len;
	int status = call("Apply", &ar.base, &out, &len);
	Vmsim__V1__ApplyResponse *resp = vmsim__v1__apply_response__unpack(NULL, len, out);
	CHECK(status == 200 && resp && resp->applied == applied && !resp->error &&
	          resp->seq == machine_seq(local),
	      "Apply: %d applied %u of %zu", status, resp ? resp->applied : 0, applied);
	if (resp)
		vmsim__v1__apply_response__free_unpacked(resp, NULL);
	free(out);
	for (size_t i = 0; i < applied; i++)
		vmsim__v1__op__free_unpacked(pops[i], NULL);
	free(pops);
	compare_state();

	/* Error path over protobuf: an unknown machine is not_found in Twirp JSON. */
	Vmsim__V1__GetMachineRequest gr = VMSIM__V1__GET_MACHINE_REQUEST__INIT;
	gr.machine_id = "m999";
	status = call("GetMachine", &gr.base, &out, &len);
	CHECK(status == 404 && strstr((char *)out, "\"code\":\"not_found\""), "unknown machine");
	free(out);

	machine_destroy(local);
	free(id);
	free(id2);
	close(sock);
	kill(pid, SIGTERM);
	int ws;
	waitpid(pid, &ws, 0);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "vmsimd exit status %d", ws);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
