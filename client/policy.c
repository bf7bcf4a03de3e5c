/*
 * `vmsimctl policy simulate`: the textbook page-replacement exercise (FIFO, LRU, MRU, OPT,
 * CLOCK) over a reference string, with one line per reference and the totals. Runs locally:
 * it is arithmetic on a list, and a million-reference file would not fit in one request.
 * Each policy costs O(1) per reference (OPT O(log n)), so 1M references take well under a second.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

enum policy { POL_FIFO, POL_LRU, POL_MRU, POL_OPT, POL_CLOCK };

static const char *const policy_names[] = {"fifo", "lru", "mru", "opt", "clock"};

struct refs {
	uint64_t *v;
	size_t n, cap;
};

static int refs_push(struct refs *r, uint64_t x)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		uint64_t *v = realloc(r->v, cap * sizeof(*v));
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
		uint64_t x = strtoull(p, &end, 0);
		if (refs_push(r, x))
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

/* page -> frame slot, open addressing with linear probing and backward-shift deletion. */
struct pmap {
	uint64_t *key;
	int32_t *slot; /* -1 = empty */
	size_t mask;
};

static int pmap_init(struct pmap *m, size_t frames)
{
	size_t n = 16;
	while (n < frames * 2)
		n *= 2;
	m->key = malloc(n * sizeof(*m->key));
	m->slot = malloc(n * sizeof(*m->slot));
	m->mask = n - 1;
	if (!m->key || !m->slot)
		return -1;
	for (size_t i = 0; i < n; i++)
		m->slot[i] = -1;
	return 0;
}

static size_t hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k;
}

static int32_t pmap_get(const struct pmap *m, uint64_t k)
{
	for (size_t i = hash(k) & m->mask;; i = (i + 1) & m->mask) {
		if (m->slot[i] < 0)
			return -1;
		if (m->key[i] == k)
			return m->slot[i];
	}
}

static void pmap_put(struct pmap *m, uint64_t k, int32_t slot)
{
	size_t i = hash(k) & m->mask;
	while (m->slot[i] >= 0 && m->key[i] != k)
		i = (i + 1) & m->mask;
	m->key[i] = k;
	m->slot[i] = slot;
}

static void pmap_del(struct pmap *m, uint64_t k)
{
	size_t i = hash(k) & m->mask;
	while (m->slot[i] >= 0 && m->key[i] != k)
		i = (i + 1) & m->mask;
	if (m->slot[i] < 0)
		return;
	/* Backward shift: move later entries of the run into the hole when that is closer to
	 * their home bucket, so lookups never stop early at the hole. */
	size_t j = i;
	for (;;) {
		m->slot[i] = -1;
		for (;;) {
			j = (j + 1) & m->mask;
			if (m->slot[j] < 0)
				return;
			size_t home = hash(m->key[j]) & m->mask;
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		m->key[i] = m->key[j];
		m->slot[i] = m->slot[j];
		i = j;
	}
}

/* The state of the frames. Recency/load order is a doubly linked list of slots: FIFO and
 * CLOCK never reorder it on a hit, LRU and MRU move the slot to the front. */
struct sim {
	enum policy pol;
	size_t frames, used;
	uint64_t *page; /* page in each slot */
	int32_t *prev, *next, head, tail;
	uint8_t *refbit;
	size_t hand;
	uint64_t *nextuse; /* OPT: index of the slot page's next reference (SIZE_MAX: never) */
	struct pmap map;
	/* OPT: max-heap of (next use, slot), stale entries skipped lazily. */
	uint64_t *hkey;
	int32_t *hslot;
	size_t hn, hcap;
};

static void list_unlink(struct sim *s, int32_t x)
{
	if (s->prev[x] >= 0)
		s->next[s->prev[x]] = s->next[x];
	else
		s->head = s->next[x];
	if (s->next[x] >= 0)
		s->prev[s->next[x]] = s->prev[x];
	else
		s->tail = s->prev[x];
}

static void list_push_front(struct sim *s, int32_t x)
{
	s->prev[x] = -1;
	s->next[x] = s->head;
	if (s->head >= 0)
		s->prev[s->head] = x;
	s->head = x;
	if (s->tail < 0)
		s->tail = x;
}

static int heap_push(struct sim *s, uint64_t key, int32_t slot)
{
	if (s->hn == s->hcap) {
		size_t cap = s->hcap ? s->hcap * 2 : 1024;
		uint64_t *k = realloc(s->hkey, cap * sizeof(*k));
		if (!k)
			return -1;
		s->hkey = k;
		int32_t *v = realloc(s->hslot, cap * sizeof(*v));
		if (!v)
			return -1;
		s->hslot = v;
		s->hcap = cap;
	}
	size_t i = s->hn++;
	while (i && s->hkey[(i - 1) / 2] < key) {
		s->hkey[i] = s->hkey[(i - 1) / 2];
		s->hslot[i] = s->hslot[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->hkey[i] = key;
	s->hslot[i] = slot;
	return 0;
}

static void heap_pop(struct sim *s)
{
	uint64_t key = s->hkey[--s->hn];
	int32_t slot = s->hslot[s->hn];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->hn)
			break;
		if (c + 1 < s->hn && s->hkey[c + 1] > s->hkey[c])
			c++;
		if (s->hkey[c] <= key)
			break;
		s->hkey[i] = s->hkey[c];
		s->hslot[i] = s->hslot[c];
		i = c;
	}
	s->hkey[i] = key;
	s->hslot[i] = slot;
}

static int32_t choose_victim(struct sim *s)
{
	switch (s->pol) {
	case POL_FIFO:
	case POL_LRU:
		return s->tail; /* oldest load / least recent use */
	case POL_MRU:
		return s->head;
	case POL_OPT:
		/* The top may be stale (the slot's next use moved on): drop until it agrees. */
		while (s->hn && s->nextuse[s->hslot[0]] != s->hkey[0])
			heap_pop(s);
		return s->hslot[0];
	case POL_CLOCK:
		/* Second chance: clear reference bits until a frame without one comes round. */
		while (s->refbit[s->hand]) {
			s->refbit[s->hand] = 0;
			s->hand = (s->hand + 1) % s->frames;
		}
		return (int32_t)s->hand;
	}
	return 0;
}

static uint64_t pow10u(int n)
{
	uint64_t v = 1;
	while (n-- > 0)
		v *= 10;
	return v;
}

/* The frames in slot order, each page right-aligned in pw columns, '-' for an empty slot. */
static void print_frames(const struct sim *s, int pw, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < s->frames && n < len; i++) {
		if (i < s->used)
			n += (size_t)snprintf(buf + n, len - n, "%s%*" PRIu64, i ? " " : "", pw,
			                      s->page[i]);
		else
			n += (size_t)snprintf(buf + n, len - n, "%s%*s", i ? " " : "", pw, "-");
	}
}

static int simulate(enum policy pol, size_t frames, const struct refs *r, int steps)
{
	struct sim s = {.pol = pol, .frames = frames, .head = -1, .tail = -1};
	s.page = calloc(frames, sizeof(*s.page));
	s.prev = calloc(frames, sizeof(*s.prev));
	s.next = calloc(frames, sizeof(*s.next));
	s.refbit = calloc(frames, 1);
	s.nextuse = calloc(frames, sizeof(*s.nextuse));
	uint64_t *nextref = NULL;
	char *fr = NULL;
	int rc = CTL_OK;
	if (!s.page || !s.prev || !s.next || !s.refbit || !s.nextuse || pmap_init(&s.map, frames)) {
		rc = CTL_EUSAGE;
		goto out;
	}
	if (pol == POL_OPT) {
		/* nextref[i]: where r[i]'s page is referenced again (UINT64_MAX: never). One
		 * backward pass with a page -> last index map. */
		nextref = malloc(r->n * sizeof(*nextref));
		struct pmap last;
		uint64_t *lastidx = malloc(r->n * sizeof(*lastidx));
		size_t nd = 0;
		if (!nextref || !lastidx || pmap_init(&last, r->n)) {
			free(lastidx);
			rc = CTL_EUSAGE;
			goto out;
		}
		for (size_t i = r->n; i-- > 0;) {
			int32_t d = pmap_get(&last, r->v[i]);
			nextref[i] = d < 0 ? UINT64_MAX : lastidx[d];
			if (d < 0) {
				d = (int32_t)nd++;
				pmap_put(&last, r->v[i], d);
			}
			lastidx[d] = i;
		}
		free(last.key);
		free(last.slot);
		free(lastidx);
	}
	/* Pages print right-aligned in the width of the largest page number. */
	int pw = 1;
	for (size_t i = 0; i < r->n; i++)
		while (pw < 20 && r->v[i] >= pow10u(pw))
			pw++;
	int fw = (int)frames * (pw + 1) - 1;
	if (steps)
		printf("%s, %zu frames, %zu references\n%6s  %*s  %-*s  %s\n", policy_names[pol],
		       frames, r->n, "step", pw > 3 ? pw : 3, "ref", fw, "frames", "result");
	uint64_t faults = 0;
	size_t frlen = frames * 22 + 8;
	fr = malloc(frlen);
	if (!fr) {
		rc = CTL_EUSAGE;
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		uint64_t p = r->v[i];
		int32_t slot = pmap_get(&s.map, p);
		int hit = slot >= 0;
		int evicted = 0;
		uint64_t victim_page = 0;
		if (hit) {
			if (pol == POL_LRU || pol == POL_MRU) {
				list_unlink(&s, slot);
				list_push_front(&s, slot);
			}
			s.refbit[slot] = 1;
		} else {
			faults++;
			if (s.used < frames) {
				slot = (int32_t)s.used++;
			} else {
				slot = choose_victim(&s);
				victim_page = s.page[slot];
				evicted = 1;
				pmap_del(&s.map, victim_page);
				list_unlink(&s, slot);
				if (pol == POL_CLOCK)
					s.hand = ((size_t)slot + 1) % frames;
			}
			s.page[slot] = p;
			pmap_put(&s.map, p, slot);
			list_push_front(&s, slot);
			s.refbit[slot] = 1;
		}
		if (pol == POL_OPT) {
			s.nextuse[slot] = nextref[i];
			if (heap_push(&s, nextref[i], slot)) {
				rc = CTL_EUSAGE;
				goto out;
			}
		}
		if (steps) {
			print_frames(&s, pw, fr, frlen);
			if (evicted)
				printf("%6zu  %*" PRIu64 "  %-*s  fault, evict %" PRIu64 "\n",
				       i + 1, pw > 3 ? pw : 3, p, fw, fr, victim_page);
			else
				printf("%6zu  %*" PRIu64 "  %-*s  %s\n", i + 1, pw > 3 ? pw : 3, p,
				       fw, fr, hit ? "hit" : "fault");
		}
	}
	if (steps)
		printf("\n");
	printf("%s, %zu frames: %zu references, %" PRIu64 " faults, %" PRIu64
	       " hits, fault rate %.2f%%\n",
	       policy_names[pol], frames, r->n, faults, (uint64_t)r->n - faults,
	       r->n ? 100.0 * (double)faults / (double)r->n : 0.0);
out:
	free(fr);
	free(s.page);
	free(s.prev);
	free(s.next);
	free(s.refbit);
	free(s.nextuse);
	free(s.map.key);
	free(s.map.slot);
	free(s.hkey);
	free(s.hslot);
	free(nextref);
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
	int pols[5], npol = 0, quiet = 0, ch;
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
				int k = -1;
				for (int i = 0; i < 5; i++)
					if (strcasecmp(w, policy_names[i]) == 0)
						k = i;
				if (k < 0 || npol == 5) {
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
		rc = simulate((enum policy)pols[i], frames, &r, !quiet);
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
