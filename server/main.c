/*
 * vmsimd: the vmsim server. Parses flags, optionally boots a demo machine through the same
 * RPC path clients use, and runs the libuv loop until SIGINT/SIGTERM.
 */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "apply_slice.h"
#include "boot.h"
#include "durable.h"
#include "handlers.h"
#include "listen.h"
#include "registry.h"
#include "rpc.h"
#include "server.h"

#ifndef VMSIM_WEB_DIR
#define VMSIM_WEB_DIR "web"
#endif

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: vmsimd [options]\n"
	    "  --listen HOST:PORT      address to listen on (default 127.0.0.1:8080; port 0 "
	    "= any free port)\n"
	    "  --log-level LEVEL       debug, info (one line per request), warn or error\n"
	    "  --demo                  create a demo machine with a few processes\n"
	    "  --open                  no authentication: every caller is an admin (a single-user\n"
	    "                          laptop only; loudly logged)\n"
	    "  --db FILE               SQLite database (default ./vmsim.db; :memory: = a "
	    "temporary\n"
	    "                          one, removed at exit)\n"
	    "  --init-admin[=NAME]     create the first admin (default name admin), print its\n"
	    "                          token once on stdout and exit\n"
	    "  --check                 PRAGMA integrity_check and replay every machine against "
	    "its\n"
	    "                          snapshots; exit 0 if all is consistent\n"
	    "  --checkpoint-every N    checkpoint a machine every N journal entries (default "
	    "5000)\n"
	    "  --student-solve         let students see exercise solutions (SolveExercise,\n"
	    "                          CheckExercise reveal); by default only instructors and\n"
	    "                          admins may\n"
	    "  --web DIR               dashboard files (default %s)\n"
	    "  --max-body BYTES        request body limit (default 1048576)\n"
	    "  --max-conns N           concurrent connections (default 4096; at the limit the\n"
	    "                          oldest idle or unauthenticated one is closed)\n"
	    "  --max-conns-per-user N  connections of one authenticated user (default 64)\n"
	    "  --max-streams-per-user N  event streams of one user (default 16)\n"
	    "  --max-unauth-per-addr N connections not yet authenticated from one address\n"
	    "                          (default 1024; beyond, its oldest is closed)\n"
	    "  --max-machines N        machines hosted (default 10000)\n"
	    "  --max-op-work N         work of one op, in accesses (default 524288; refused\n"
	    "                          above, resource_exhausted)\n"
	    "  --max-request-work N    work of one request's ops (default 268435456)\n"
	    "  --idle-timeout MS       keep-alive idle timeout (default 60000)\n"
	    "  --request-timeout MS    time allowed to send one request (default 10000)\n"
	    "  -h, --help\n",
	    VMSIM_WEB_DIR);
}

static int parse_listen(const char *arg, struct srv_config *cfg)
{
	const char *colon = strrchr(arg, ':');
	if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(cfg->host))
		return -1;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return -1;
	const char *h = arg;
	size_t n = (size_t)(colon - arg);
	if (h[0] == '[' && h[n - 1] == ']') { /* [::1]:8080 */
		h++;
		n -= 2;
	}
	memcpy(cfg->host, h, n);
	cfg->host[n] = 0;
	cfg->port = (int)port;
	return 0;
}

static int parse_level(const char *arg, enum srv_log_level *lvl)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (!strcasecmp(arg, names[i])) {
			*lvl = (enum srv_log_level)i;
			return 0;
		}
	return -1;
}

static int parse_num(const char *arg, unsigned long long min, unsigned long long max,
                     unsigned long long *out)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	if (!*arg || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Demo: a machine driven through rpc_dispatch exactly like a client would. */

struct demo {
	struct srv *srv;
	char id[32];
	int failed;
	unsigned long long value; /* "value" of the last successful op (an address, a pid) */
	int done;                 /* the current call has answered (after its journal commit) */
};

static void demo_done(struct srv_call *c, void *arg)
{
	struct demo *d = arg;
	d->done = 1;
	if (!c) {
		d->failed = 1;
		return;
	}
	d->value = 0;
	if (c->failed) {
		srv_log(c->srv, LOG_DEBUG, "demo: %s skipped: %s", c->method, c->err.msg);
	} else if (c->out) {
		json_t *j = json_loadb(c->out, c->out_len, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "id"));
		const char *value = json_string_value(json_object_get(j, "value"));
		if (id && !d->id[0])
			snprintf(d->id, sizeof(d->id), "%s", id);
		if (value)
			d->value = strtoull(value, NULL, 10);
		json_decref(j);
	}
	rpc_call_free(c);
}

static void demo_call(struct demo *d, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void demo_call(struct demo *d, const char *method, const char *fmt, ...)
{
	char body[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	static struct srv_identity who = {.peer = "demo"};
	d->done = 0;
	rpc_dispatch(d->srv, method, 1, body, strlen(body), &who, demo_done, d);
	while (!d->done) /* the answer comes once the change is committed */
		uv_run(d->srv->loop, UV_RUN_ONCE);
}

/* Boots "demo" (x86_64, 256 MiB) and gives it some history. Ops core does not implement yet
 * are skipped; the demo grows as the core does. */
static int demo_create(struct srv *s)
{
	struct demo d = {.srv = s};
	demo_call(&d, "CreateMachine",
	          "{\"name\":\"demo\",\"config\":{\"arch\":\"ARCH_X86_64\",\"ramBytes\":\"%llu\"}}",
	          256ull << 20);
	if (!d.id[0])
		return -1;
	const char *id = d.id;
	/* Kernel allocations of several orders, some freed again: holes in the buddy lists. */
	for (int i = 0; i < 6; i++)
		demo_call(&d, "AllocPages", "{\"machineId\":\"%s\",\"order\":%d}", id, i % 4);
	demo_call(&d, "KmemCacheCreate",
	          "{\"machineId\":\"%s\",\"name\":\"demo_obj\","
	          "\"size\":1088,\"align\":64}",
	          id);
	for (int i = 0; i < 3; i++)
		demo_call(&d, "KmemCacheAlloc", "{\"machineId\":\"%s\",\"name\":\"demo_obj\"}", id);
	demo_call(&d, "Kmalloc", "{\"machineId\":\"%s\",\"size\":\"600\"}", id);
	demo_call(&d, "Vmalloc", "{\"machineId\":\"%s\",\"size\":\"65536\"}", id);
	/* Processes: init, a shell with a heap and an anonymous mapping it has touched, and a
	 * forked child that wrote to part of it (copy-on-write). */
	static const char *const names[] = {"init", "bash", "vim"};
	for (int i = 0; i < 3; i++)
		demo_call(&d, "Spawn", "{\"machineId\":\"%s\",\"name\":\"%s\"}", id, names[i]);
	demo_call(&d, "Brk", "{\"machineId\":\"%s\",\"pid\":2}", id);
	unsigned long long brk = d.value;
	if (brk)
		demo_call(&d, "Brk", "{\"machineId\":\"%s\",\"pid\":2,\"addr\":\"%llu\"}", id,
		          brk + (64u << 10));
	demo_call(&d, "Mmap",
	          "{\"machineId\":\"%s\",\"pid\":2,\"len\":\"1048576\",\"prot\":3,\"flags\":34}",
	          id);
	unsigned long long map = d.value;
	if (map) {
		demo_call(&d, "AccessRange",
		          "{\"machineId\":\"%s\",\"pid\":2,\"addr\":\"%llu\",\"len\":\"262144\","
		          "\"kind\":\"ACCESS_WRITE\"}",
		          id, map);
		demo_call(&d, "Fork", "{\"machineId\":\"%s\",\"pid\":2}", id);
		unsigned long long child = d.value;
		if (child)
			demo_call(&d, "AccessRange",
			          "{\"machineId\":\"%s\",\"pid\":%llu,\"addr\":\"%llu\","
			          "\"len\":\"65536\",\"kind\":\"ACCESS_WRITE\"}",
			          id, child, map);
	}
	demo_call(&d, "Mmap",
	          "{\"machineId\":\"%s\",\"pid\":3,\"len\":\"524288\",\"prot\":3,\"flags\":34}",
	          id);
	if (d.value)
		demo_call(&d, "AccessRange",
		          "{\"machineId\":\"%s\",\"pid\":3,\"addr\":\"%llu\",\"len\":\"524288\","
		          "\"kind\":\"ACCESS_READ\"}",
		          id, d.value);
	/* A file in the page cache, partly dirty. */
	demo_call(&d, "FileCreate",
	          "{\"machineId\":\"%s\",\"name\":\"/home/notes.txt\",\"size\":\"262144\"}", id);
	unsigned long long ino = d.value;
	if (ino) {
		demo_call(&d, "FileRead", "{\"machineId\":\"%s\",\"ino\":%llu,\"len\":\"262144\"}",
		          id, ino);
		demo_call(&d, "FileWrite", "{\"machineId\":\"%s\",\"ino\":%llu,\"len\":\"32768\"}",
		          id, ino);
	}
	snprintf(s->demo_id, sizeof(s->demo_id), "%s", id);
	return 0;
}

/* Without --web: the source tree's web/ (a build), else the installed copy next to the binary
 * (PREFIX/bin/vmsimd -> PREFIX/share/vmsim/web), else /usr/share/vmsim/web. */
static void default_web_dir(char *out, size_t len)
{
	struct stat st;
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return;
	char exe[PATH_MAX];
	size_t n = sizeof(exe);
	if (uv_exepath(exe, &n) == 0) {
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			char cand[PATH_MAX + 32];
			snprintf(cand, sizeof(cand), "%s/../share/vmsim/web", exe);
			if (strlen(cand) < len && stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
				memcpy(out, cand, strlen(cand) + 1);
				return;
			}
		}
	}
	if (stat("/usr/share/vmsim/web", &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(out, len, "/usr/share/vmsim/web");
}

/* Every module's RPCs into the method table, and the access hooks. */
static int wire(struct srv *s, struct durable *d, char *err, size_t len)
{
	access_install(s, d);
	s->park = slice_park;
	s->park_admit = boot_park_create;
	if (api_register(s) || history_rpc_register(s, d) || users_rpc_register(s, d) ||
	    results_rpc_register(s, d)) {
		snprintf(err, len, "out of memory registering the RPCs");
		return -1;
	}
	return rpc_check_methods(s, err, len);
}

/* What the command line asked for beyond the server config. */
struct options {
	struct srv_config *cfg;
	const char *db, *admin; /* admin: --init-admin NAME */
	int check, student_solve, web_given;
	uint32_t checkpoint_every;
};

/* Fills o from argv: -1 to go on, else the exit status (0 after --help, 2 on a bad flag). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"log-level", required_argument, NULL, 'v'},
	    {"demo", no_argument, NULL, 'd'},
	    {"open", no_argument, NULL, 'o'},
	    {"web", required_argument, NULL, 'w'},
	    {"max-body", required_argument, NULL, 'b'},
	    {"max-conns", required_argument, NULL, 'c'},
	    {"max-conns-per-user", required_argument, NULL, 'U'},
	    {"max-streams-per-user", required_argument, NULL, 'E'},
	    {"max-unauth-per-addr", required_argument, NULL, 'P'},
	    {"max-machines", required_argument, NULL, 'm'},
	    {"max-op-work", required_argument, NULL, 'W'},
	    {"max-request-work", required_argument, NULL, 'R'},
	    {"idle-timeout", required_argument, NULL, 'i'},
	    {"request-timeout", required_argument, NULL, 'r'},
	    {"db", required_argument, NULL, 'D'},
	    {"init-admin", optional_argument, NULL, 'A'},
	    {"check", no_argument, NULL, 'K'},
	    {"checkpoint-every", required_argument, NULL, 'C'},
	    {"student-solve", no_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long v;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (parse_listen(optarg, o->cfg)) {
				fprintf(stderr, "vmsimd: --listen wants HOST:PORT, got %s\n",
				        optarg);
				return 2;
			}
			break;
		case 'v':
			if (parse_level(optarg, &o->cfg->log_level)) {
				fprintf(stderr,
				        "vmsimd: --log-level is debug, info, warn or error\n");
				return 2;
			}
			break;
		case 'd':
			o->cfg->demo = 1;
			break;
		case 'o':
			o->cfg->open = 1;
			break;
		case 'w':
			snprintf(o->cfg->web_dir, sizeof(o->cfg->web_dir), "%s", optarg);
			o->web_given = 1;
			break;
		case 'U':
		case 'E':
		case 'P':
			if (parse_num(optarg, 1, 1u << 24, &v)) {
				fprintf(stderr, "vmsimd: bad number %s\n", optarg);
				return 2;
			}
			if (opt == 'U')
				o->cfg->max_conns_per_user = (unsigned)v;
			else if (opt == 'E')
				o->cfg->max_streams_per_user = (unsigned)v;
			else
				o->cfg->max_unauth_per_addr = (unsigned)v;
			break;
		case 'b':
		case 'c':
		case 'm':
		case 'i':
		case 'r':
			if (parse_num(optarg, 1, opt == 'b' ? 1ull << 31 : 1u << 30, &v)) {
				fprintf(stderr, "vmsimd: bad number %s\n", optarg);
				return 2;
			}
			if (opt == 'b')
				o->cfg->max_body = v;
			else if (opt == 'c')
				o->cfg->max_conns = (unsigned)v;
			else if (opt == 'm')
				o->cfg->max_machines = v;
			else if (opt == 'i')
				o->cfg->idle_timeout_ms = (unsigned)v;
			else
				o->cfg->request_timeout_ms = (unsigned)v;
			break;
		case 'W':
		case 'R':
			if (parse_num(optarg, 1, UINT64_MAX, &v)) {
				fprintf(stderr, "vmsimd: bad amount of work %s\n", optarg);
				return 2;
			}
			if (opt == 'W')
				o->cfg->max_op_work = v;
			else
				o->cfg->max_request_work = v;
			break;
		case 'D':
			o->db = optarg;
			break;
		case 'A':
			o->admin = optarg ? optarg : "admin";
			break;
		case 'K':
			o->check = 1;
			break;
		case 'C':
			if (parse_num(optarg, 1, 1u << 30, &v)) {
				fprintf(stderr, "vmsimd: --checkpoint-every wants 1..%u\n",
				        1u << 30);
				return 2;
			}
			o->checkpoint_every = (uint32_t)v;
			break;
		case 'S':
			o->student_solve = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Opens the database, recovers the machines and wires the RPCs: 0, or the exit status. */
static int open_state(struct srv *s, struct durable *d, const struct options *o)
{
	char err[256];
	if (durable_open(d, s, o->db, o->checkpoint_every, s->cfg.open, err, sizeof(err))) {
		fprintf(stderr, "vmsimd: %s\n", err);
		return 1;
	}
	d->student_solve = o->student_solve;
	if (wire(s, d, err, sizeof(err))) {
		fprintf(stderr, "vmsimd: %s\n", err);
		durable_close(d);
		return 1;
	}
	if (!s->cfg.open && auth_user_count(d->auth) == 0) {
		fprintf(stderr,
		        "vmsimd: %s has no users yet: create the first admin with\n"
		        "  vmsimd --db %s --init-admin\n"
		        "or start a single-user server with --open\n",
		        o->db, o->db);
		durable_close(d);
		return 1;
	}
	return 0;
}

/* Prints where the server listens and, with --demo on an empty server, boots the demo. */
static void announce(struct srv *s)
{
	const char *host = strcmp(s->cfg.host, "0.0.0.0") ? s->cfg.host : "127.0.0.1";
	printf("vmsimd listening on http://%s:%d/\n", host, s->cfg.port);
	if (s->cfg.demo && registry_count(s->reg) == 0) { /* once: the demo machine persists */
		if (demo_create(s)) {
			fprintf(stderr, "vmsimd: could not create the demo machine\n");
		} else {
			printf("demo machine %s ready\n"
			       "  dashboard: http://%s:%d/#%s\n"
			       "  try:       curl -s -H 'Content-Type: application/json' -d "
			       "'{\"machineId\":\"%s\",\"path\":\"buddyinfo\"}' "
			       "http://%s:%d/twirp/vmsim.v1.VmSim/Proc | jq -r .text\n",
			       s->demo_id, host, s->cfg.port, s->demo_id, s->demo_id, host,
			       s->cfg.port);
		}
	}
	fflush(stdout);
	srv_log(s, LOG_INFO, "serving %s (web %s)", s->cfg.open ? "open, no auth" : "with auth",
	        s->cfg.web_dir);
}

int main(int argc, char **argv)
{
	struct srv s;
	memset(&s, 0, sizeof(s));
	srv_config_default(&s.cfg);
	snprintf(s.cfg.web_dir, sizeof(s.cfg.web_dir), "%s", VMSIM_WEB_DIR);
	struct options o = {.cfg = &s.cfg, .db = "./vmsim.db", .checkpoint_every = 5000};
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (!o.web_given)
		default_web_dir(s.cfg.web_dir, sizeof(s.cfg.web_dir));
	signal(SIGPIPE, SIG_IGN);
	char err[256];
	if (rpc_init(err, sizeof(err))) {
		fprintf(stderr, "vmsimd: internal table mismatch: %s\n", err);
		return 1;
	}
	if (o.check)
		return durable_check(o.db, stdout);
	if (o.admin)
		return durable_init_admin(o.db, o.admin, stdout, stderr);
	uv_loop_t *loop = uv_default_loop();
	struct durable d;
	s.loop = loop;
	if ((rc = open_state(&s, &d, &o)))
		return rc;
	if (srv_start(&s, loop, err, sizeof(err))) {
		fprintf(stderr, "vmsimd: %s\n", err);
		return 1;
	}
	announce(&s);
	uv_run(loop, UV_RUN_DEFAULT);
	durable_close(&d); /* everything acknowledged is committed; the rest commits now */
	srv_release(&s);
	uv_loop_close(loop);
	srv_log(&s, LOG_INFO, "stopped");
	return 0;
}
