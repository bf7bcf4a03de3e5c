/*
 * `vmsimctl policy simulate`: the textbook page-replacement exercise (FIFO, LRU, MRU, OPT,
 * CLOCK) over a reference string, with one line per reference and the totals. Runs locally:
 * it is arithmetic on a list, and a million-reference file would not fit in one request.
 * Each policy costs O(1) per reference (OPT O(log n)), so 1M references take well under a second.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "policy.h"

struct refs {
	uint32_t *v;
	size_t n, cap;
};

static int refs_push(struct refs *r, uint32_t x)
{
	if (r->n == SIM_MAX_REFS) {
		fprintf(stderr, "vmsimctl policy simulate: more than %u references\n",
		        SIM_MAX_REFS);
		return -1;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		uint32_t *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = x;
	return 0;
}

/* Numbers separated by commas or white space; '#' comments run to the end of the line. */
static int refs_parse(struct refs *r, const char *text, const char *where)
{
	const char *p = text;
	unsigned line = 1;
	while (*p) {
		if (*p == '#') {
			p += strcspn(p, "\n");
			continue;
		}
		if (*p == '\n')
			line++;
		if (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
			continue;
		}
		char *end;
		if (*p < '0' || *p > '9') {
			fprintf(stderr,
			        "vmsimctl policy simulate: %s:%u: '%.10s' is not a page number\n",
			        where, line, p);
			return -1;
		}
		errno = 0;
		unsigned long long x = strtoull(p, &end, 0);
		if (errno || x > UINT32_MAX) {
			fprintf(stderr,
			        "vmsimctl policy simulate: %s:%u: page %.20s is above 4294967295\n",
			        where, line, p);
			return -1;
		}
		if (refs_push(r, (uint32_t)x))
			return -1;
		p = end;
	}
	return 0;
}

static int refs_read_file(struct refs *r, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		fprintf(stderr, "vmsimctl policy simulate: cannot open %s: %m\n", path);
		return -1;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	char buf[65536];
	size_t n;
	while (mem && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	if (f != stdin)
		fclose(f);
	if (!mem)
		return -1;
	fclose(mem);
	int rc = refs_parse(r, text, path);
	free(text);
	return rc;
}

static uint64_t pow10u(int n)
{
	uint64_t v = 1;
	while (n-- > 0)
		v *= 10;
	return v;
}

/* The frames in frame order, each page right-aligned in pw columns, '-' for an empty frame. */
static void print_frames(const uint32_t *frame, uint32_t frames, uint32_t used, int pw, char *buf,
                         size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < frames && n < len; i++) {
		if (i < used)
			n += (size_t)snprintf(buf + n, len - n, "%s%*" PRIu32, i ? " " : "", pw,
			                      frame[i]);
		else
			n += (size_t)snprintf(buf + n, len - n, "%s%*s", i ? " " : "", pw, "-");
	}
}

/* One line per reference: the step, the page, the frames after it and what happened. */
static int print_steps(enum sim_policy pol, uint32_t frames, const struct refs *r,
                       const struct policy_step *steps)
{
	/* Pages print right-aligned in the width of the largest page number. */
	int pw = 1;
	for (size_t i = 0; i < r->n; i++)
		while (pw < 10 && r->v[i] >= pow10u(pw))
			pw++;
	int fw = (int)frames * (pw + 1) - 1;
	size_t frlen = (size_t)frames * 12 + 8;
	uint32_t *frame = calloc(frames, sizeof(*frame));
	char *fr = malloc(frlen);
	if (!frame || !fr) {
		free(frame);
		free(fr);
		return CTL_EUSAGE;
	}
	printf("%s, %" PRIu32 " frames, %zu references\n%6s  %*s  %-*s  %s\n", sim_policy_name(pol),
	       frames, r->n, "step", pw > 3 ? pw : 3, "ref", fw, "frames", "result");
	uint32_t used = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct policy_step *st = &steps[i];
		if (!st->hit) {
			frame[st->frame] = st->ref;
			if (st->victim == SIM_NONE)
				used++;
		}
		print_frames(frame, frames, used, pw, fr, frlen);
		if (st->victim != SIM_NONE)
			printf("%6zu  %*" PRIu32 "  %-*s  fault, evict %" PRIu32 "\n", i + 1,
			       pw > 3 ? pw : 3, st->ref, fw, fr, st->victim);
		else
			printf("%6zu  %*" PRIu32 "  %-*s  %s\n", i + 1, pw > 3 ? pw : 3, st->ref,
			       fw, fr, st->hit ? "hit" : "fault");
	}
	printf("\n");
	free(frame);
	free(fr);
	return CTL_OK;
}

static int simulate(enum sim_policy pol, uint32_t frames, const struct refs *r, int show_steps)
{
	struct policy_step *steps = NULL;
	struct policy_totals t;
	if (show_steps && r->n) {
		steps = malloc(r->n * sizeof(*steps));
		if (!steps) {
			fprintf(stderr, "vmsimctl policy simulate: out of memory\n");
			return CTL_EUSAGE;
		}
	}
	if (simulate_policy(pol, frames, r->v, r->n, steps, NULL, &t)) {
		free(steps);
		fprintf(stderr, "vmsimctl policy simulate: out of memory\n");
		return CTL_EUSAGE;
	}
	int rc = show_steps ? print_steps(pol, frames, r, steps) : CTL_OK;
	free(steps);
	if (rc == CTL_OK)
		printf("%s, %" PRIu32 " frames: %zu references, %" PRIu64 " faults, %" PRIu64
		       " hits, fault rate %.2f%%\n",
		       sim_policy_name(pol), frames, r->n, t.misses, t.hits,
		       r->n ? 100.0 * (double)t.misses / (double)r->n : 0.0);
	return rc;
}

static int cmd_simulate(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	(void)c;
	static const struct option opts[] = {
	    {"policy", required_argument, NULL, 'p'},
	    {"frames", required_argument, NULL, 'f'},
	    {"refs", required_argument, NULL, 'r'},
	    {"refs-file", required_argument, NULL, 'F'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int pols[SIM_NR_POLICIES], npol = 0, quiet = 0, ch;
	uint32_t frames = 0;
	struct refs r = {0};
	int rc = CTL_OK, have_refs = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "p:f:r:F:qh", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': {
			/* One policy or a comma list ("fifo,lru,opt") to compare. */
			char *save, *list = strdup(optarg);
			for (char *w = strtok_r(list, ",", &save); w;
			     w = strtok_r(NULL, ",", &save)) {
				int k = sim_policy_parse(w);
				if (k < 0 || npol == SIM_NR_POLICIES) {
					rc = ctl_usage_error(
					    self,
					    "bad --policy '%s': use fifo, lru, mru, opt or clock",
					    w);
					free(list);
					free(r.v);
					return rc;
				}
				pols[npol++] = k;
			}
			free(list);
			break;
		}
		case 'f':
			if (ctl_parse_u32(optarg, &frames) || frames == 0 || frames > 65536) {
				free(r.v);
				return ctl_usage_error(self, "bad --frames '%s': use 1..65536",
				                       optarg);
			}
			break;
		case 'r':
			have_refs = 1;
			if (refs_parse(&r, optarg, "--refs")) {
				free(r.v);
				return CTL_EUSAGE;
			}
			break;
		case 'F':
			have_refs = 1;
			if (refs_read_file(&r, optarg)) {
				free(r.v);
				return CTL_EUSAGE;
			}
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			free(r.v);
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		default:
			free(r.v);
			return CTL_EUSAGE;
		}
	}
	if (optind < argc)
		rc = ctl_usage_error(self, "unexpected argument '%s'", argv[optind]);
	else if (!npol)
		rc = ctl_usage_error(self, "missing --policy");
	else if (!frames)
		rc = ctl_usage_error(self, "missing --frames");
	else if (!have_refs)
		rc = ctl_usage_error(self, "missing --refs or --refs-file");
	for (int i = 0; rc == CTL_OK && i < npol; i++) {
		if (i && !quiet)
			printf("\n");
		rc = simulate((enum sim_policy)pols[i], frames, &r, !quiet);
	}
	free(r.v);
	return rc;
}

const struct ctl_cmd ctl_cmds_policy[] = {
    {"policy simulate",
     "--policy fifo|lru|mru|opt|clock[,...] --frames N (--refs 7,0,1,... | --refs-file FILE) "
     "[--quiet]",
     "the textbook page-replacement exercise: one line per reference, then the totals",
     "Each line shows the step, the page referenced, the frames after it (- is empty) and\n"
     "hit, fault, or which page was evicted. --policy takes a comma list to compare\n"
     "policies (Belady: --policy fifo --frames 3 then 4 on 1,2,3,4,1,2,5,1,2,3,4,5).\n"
     "--refs-file reads numbers separated by commas or white space (- for stdin); --quiet\n"
     "prints only the totals (what you want for a million references). Runs locally.",
     cmd_simulate, NULL, 0},
    {0},
};
