/*
 * Trace files: one op a line in the same words as the commands (`spawn a`, `mmap 1 64K rw`,
 * `touch 1 0x7f0000000000 --write`), '#' comments. `run` sends ops as Apply batches and runs
 * the other commands a trace may hold (cat, free, machine create...) in order; `record`
 * writes the ops of an interactive session as such a trace.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define BATCH_OPS   2048
#define BATCH_BYTES (512u << 10) /* well under the server's 1 MiB body limit */
#define MAX_WORDS   32

struct batch {
	Vmsim__V1__Op *ops[BATCH_OPS];
	unsigned lines[BATCH_OPS]; /* trace line of each op, for errors */
	size_t n, bytes;
};

struct run {
	struct ctl *c;
	const char *name;
	struct batch b;
	uint64_t ops;
	uint64_t partway; /* ops that failed partway (journaled, the run went on) */
	int verbose;      /* echo each op and print its result, like the interactive commands */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		ctl_op_free(b->ops[i]);
	b->n = b->bytes = 0;
}

/*
 * Sends ops [from, n) of the batch; returns the index of the op that failed partway (out of
 * memory after the kernel went to work: journaled, the run goes on after it), n when all ran,
 * or -1 after a refused op (the run stops there) or a transport error (*rc set).
 */
static long send_ops(struct run *r, size_t from, int *rc)
{
	struct batch *b = &r->b;
	Vmsim__V1__ApplyRequest req = VMSIM__V1__APPLY_REQUEST__INIT;
	req.machine_id = r->c->machine;
	req.ops = b->ops + from;
	req.n_ops = b->n - from;
	req.want_results = r->verbose;
	ProtobufCMessage *resp;
	if ((*rc = ctl_rpc(r->c, "Apply", &req.base, &resp)))
		return -1;
	Vmsim__V1__ApplyResponse *a = (Vmsim__V1__ApplyResponse *)resp;
	r->ops += a->applied;
	for (size_t i = 0; r->verbose && i < a->n_results && from + i < b->n; i++) {
		char line[512];
		if (ctl_op_format(b->ops[from + i], line, sizeof(line)) > 0)
			printf("+ %s\n", line);
		ctl_op_print_result(r->c, ctl_op_def(b->ops[from + i]), a->results[i]);
	}
	long next = (long)b->n;
	if (a->error) {
		size_t i = from + a->error->index < b->n ? from + a->error->index : b->n - 1;
		char line[512];
		if (ctl_op_format(b->ops[i], line, sizeof(line)) < 0)
			line[0] = '\0';
		fprintf(stderr, "%s:%u: `%s` failed: Error (%s): %s\n", r->name, b->lines[i], line,
		        a->error->code, a->error->msg);
		if (a->error->seq) {
			fprintf(stderr,
			        "%s:%u: it failed partway; what it did stays, as seq %llu; %s\n",
			        r->name, b->lines[i], (unsigned long long)a->error->seq,
			        "the run goes on");
			r->partway++;
			next = (long)i;
		} else {
			*rc = CTL_EREFUSED;
			next = -1;
		}
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return next;
}

/*
 * Sends the pending ops. Returns an exit code. An op refused stops the run (the trace is
 * wrong); one that failed partway is in the machine's history like any op, so the run goes
 * on, and `history --trace` replayed with run rebuilds the same machine.
 */
static int flush(struct run *r)
{
	struct batch *b = &r->b;
	if (!b->n)
		return CTL_OK;
	if (ctl_need_machine(r->c)) {
		batch_clear(b);
		return CTL_EUSAGE;
	}
	int rc = CTL_OK;
	long at = send_ops(r, 0, &rc);
	while (at >= 0 && (size_t)at + 1 < b->n)
		at = send_ops(r, (size_t)at + 1, &rc);
	batch_clear(b);
	return rc;
}

/* The counters the summary reports, read before and after the run. */
struct tally {
	uint64_t pgfault, pgmajfault, pswpin, pswpout, oom_kill;
};

static int read_tally(struct ctl *c, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	if (!c->machine[0])
		return -1;
	Vmsim__V1__CountersRequest req = VMSIM__V1__COUNTERS_REQUEST__INIT;
	req.machine_id = c->machine;
	ProtobufCMessage *resp;
	if (ctl_rpc_quiet(c, "Counters", &req.base, &resp))
		return -1;
	Vmsim__V1__CountersResponse *cr = (Vmsim__V1__CountersResponse *)resp;
	for (size_t i = 0; i < cr->n_counters; i++) {
		const char *n = cr->counters[i]->name;
		uint64_t v = cr->counters[i]->value;
		if (strcmp(n, "pgfault") == 0)
			t->pgfault = v;
		else if (strcmp(n, "pgmajfault") == 0)
			t->pgmajfault = v;
		else if (strcmp(n, "pswpin") == 0)
			t->pswpin = v;
		else if (strcmp(n, "pswpout") == 0)
			t->pswpout = v;
		else if (strcmp(n, "oom_kill") == 0)
			t->oom_kill = v;
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static void progress(off_t done, off_t total, uint64_t ops, double t0, int final)
{
	int pct = total > 0 ? (int)(done * 100 / total) : 0;
	int bar = pct * 30 / 100;
	double dt = now() - t0;
	fprintf(stderr, "\r[%.*s%*s] %3d%%  %" PRIu64 " ops  %.0f ops/s ", bar,
	        "##############################", 30 - bar, "", pct, ops, dt > 0 ? ops / dt : 0.0);
	if (final)
		fprintf(stderr, "\r%*s\r", 72, "");
}

/* Is this command allowed inside a trace (and so run in order between batches)? */
static int trace_allows(const struct ctl_cmd *cmd)
{
	static const char *const banned[] = {"shell", "record", "run", "use", "login", NULL};
	for (int i = 0; banned[i]; i++)
		if (strcmp(cmd->words, banned[i]) == 0)
			return 0;
	return 1;
}

int ctl_run_trace(struct ctl *c, FILE *f, const char *name, int show_progress, int quiet,
                  int verbose)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r)
		return CTL_EUSAGE;
	r->c = c;
	r->verbose = verbose;
	r->name = name;
	struct stat st;
	off_t total = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
	show_progress = show_progress && total > 0;
	struct tally before, after;
	int have_tally = read_tally(c, &before) == 0;
	char *start_machine = strdup(c->machine);

	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = CTL_OK;
	double t0 = now(), last_draw = t0;
	off_t done = 0;
	ssize_t len;
	while (rc == CTL_OK && (len = getline(&line, &cap, f)) != -1) {
		lineno++;
		done += len;
		char trimmed[256];
		snprintf(trimmed, sizeof(trimmed), "%.*s", (int)strcspn(line, "#\n"), line);
		for (size_t tl = strlen(trimmed); tl && trimmed[tl - 1] == ' '; tl--)
			trimmed[tl - 1] = '\0';
		char *argv[MAX_WORDS + 1];
		int argc = ctl_split(line, argv, MAX_WORDS);
		if (argc < 0) {
			fprintf(stderr, "%s:%u: too many words\n", name, lineno);
			rc = CTL_EUSAGE;
			break;
		}
		if (argc == 0)
			continue;
		argv[argc] = NULL;
		int used;
		const struct ctl_cmd *cmd = ctl_find(argc, argv, &used);
		if (!cmd || !trace_allows(cmd)) {
			fprintf(stderr, "%s:%u: %s command '%s'\n", name, lineno,
			        cmd ? "a trace cannot run the" : "unknown", argv[0]);
			rc = CTL_EUSAGE;
			break;
		}
		if (cmd->op) {
			char prog[64];
			snprintf(prog, sizeof(prog), "%s:%u", name, lineno);
			Vmsim__V1__Op *op =
			    ctl_op_parse(cmd->op, argc - used + 1, argv + used - 1, prog);
			if (!op) {
				rc = CTL_EUSAGE;
				break;
			}
			r->b.lines[r->b.n] = lineno;
			r->b.ops[r->b.n++] = op;
			r->b.bytes += protobuf_c_message_get_packed_size(&op->base) + 4;
			if (r->b.n == BATCH_OPS || r->b.bytes >= BATCH_BYTES)
				rc = flush(r);
		} else {
			rc = flush(r);
			if (rc == CTL_OK) {
				fflush(stdout);
				if (verbose)
					printf("+ %s\n", trimmed);
				int adopt = strcmp(cmd->words, "machine create") == 0;
				rc = ctl_dispatch(c, argc, argv);
				if (rc)
					fprintf(stderr, "%s:%u: `%s` failed\n", name, lineno,
					        argv[0]);
				/* A new machine: count from its boot, not from the old one's. */
				if (adopt && rc == CTL_OK)
					have_tally = read_tally(c, &before) == 0;
			}
		}
		if (show_progress && now() - last_draw > 0.1) {
			progress(done, total, r->ops + r->b.n, t0, 0);
			last_draw = now();
		}
	}
	if (rc == CTL_OK)
		rc = flush(r);
	else
		batch_clear(&r->b);
	double dt = now() - t0;
	if (show_progress)
		progress(done, total, r->ops, t0, 1);
	free(line);

	/* The summary: ops applied, faults, swapping, time. */
	if (!quiet) {
		if (have_tally && read_tally(c, &after) == 0) {
			/* Counters only grow; a reset machine starts again from 0. */
			after.pgfault -= after.pgfault >= before.pgfault ? before.pgfault : 0;
			after.pgmajfault -=
			    after.pgmajfault >= before.pgmajfault ? before.pgmajfault : 0;
			after.pswpin -= after.pswpin >= before.pswpin ? before.pswpin : 0;
			after.pswpout -= after.pswpout >= before.pswpout ? before.pswpout : 0;
			after.oom_kill -= after.oom_kill >= before.oom_kill ? before.oom_kill : 0;
		} else {
			memset(&after, 0, sizeof(after));
		}
		char partway[48] = "";
		if (r->partway)
			snprintf(partway, sizeof(partway), " and %" PRIu64 " failed partway",
			         r->partway);
		if (c->output == CTL_OUT_JSON)
			printf("{\"trace\":\"%s\",\"ops\":%" PRIu64 ",\"failedPartway\":%" PRIu64
			       ",\"faults\":%" PRIu64 ",\"majorFaults\":%" PRIu64
			       ",\"swapIns\":%" PRIu64 ",\"swapOuts\":%" PRIu64
			       ",\"oomKills\":%" PRIu64 ",\"seconds\":%.6f,\"ok\":%s}\n",
			       name, r->ops, r->partway, after.pgfault, after.pgmajfault,
			       after.pswpin, after.pswpout, after.oom_kill, dt,
			       rc == CTL_OK ? "true" : "false");
		else
			printf("%s: %" PRIu64 " ops%s, %" PRIu64 " faults (%" PRIu64
			       " major), %" PRIu64 " swapped in, %" PRIu64 " swapped out, %" PRIu64
			       " OOM kills; %.3f s, %.0f ops/s\n",
			       name, r->ops, partway, after.pgfault, after.pgmajfault, after.pswpin,
			       after.pswpout, after.oom_kill, dt,
			       dt > 0 ? (double)(r->ops + r->partway) / dt : 0.0);
	}
	free(start_machine);
	free(r);
	return rc;
}

static int cmd_run(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {"no-progress", no_argument, NULL, 'P'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int quiet = 0, prog = 1, verbose = 0, ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			verbose = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'P':
			prog = 0;
			break;
		case 'h':
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		default:
			return CTL_EUSAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error(self,
		                       argc - optind < 1 ? "missing FILE" : "one FILE at a time");
	const char *path = argv[optind];
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		fprintf(stderr, "vmsimctl run: cannot open %s: %m\n", path);
		return CTL_EUSAGE;
	}
	int rc = ctl_run_trace(c, f, strcmp(path, "-") == 0 ? "<stdin>" : path,
	                       prog && isatty(STDERR_FILENO), quiet, verbose);
	if (f != stdin)
		fclose(f);
	return rc;
}

static int cmd_record(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	FILE *out = strcmp(argv[1], "-") == 0 ? stdout : fopen(argv[1], "w");
	if (!out) {
		fprintf(stderr, "vmsimctl record: cannot write %s: %m\n", argv[1]);
		return CTL_EUSAGE;
	}
	fprintf(out, "# vmsim trace recorded by vmsimctl%s%s\n# replay: vmsimctl run FILE\n",
	        c->machine[0] ? " on machine " : "", c->machine);
	fflush(out);
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "Recording ops to %s; `exit` or Ctrl-D ends.\n", argv[1]);
	rc = ctl_shell(c, out);
	if (out != stdout)
		fclose(out);
	return rc;
}

const struct ctl_cmd ctl_cmds_trace[] = {
    {"run", "[--verbose] [--quiet] [--no-progress] FILE|-", "replay a trace file (- reads stdin)",
     "A trace holds one command a line, in the words of the commands (`spawn a`,\n"
     "`mmap 1 64K rw`, `touch 1 0x7ffff7ff0000 --write`); '#' starts a comment. Ops go to\n"
     "the server in Apply batches; other commands (machine create, cat, free, pmap, events)\n"
     "run in order between them, so a trace can create its machine and show its results.\n"
     "--verbose echoes every line (+ line) with its result, as a transcript.\n"
     "The run stops at the first refused line (bad arguments: the trace is wrong). An op that\n"
     "fails partway (out of memory after the kernel went to work) is kept in the machine's\n"
     "history, as in Linux: the run reports it and goes on. At the end a summary gives the ops\n"
     "applied (and failed partway),\n"
     "page faults, swap traffic, OOM kills and time. A bar shows progress on a terminal.",
     cmd_run, NULL, 0},
    {"record", "FILE|-", "start a shell that writes every op you run to FILE as a replayable trace",
     NULL, cmd_record, NULL, 0},
    {0},
};
