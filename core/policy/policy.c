/*
 * simulate_policy(): the page-replacement exercise on a reference string (OSTEP's
 * paging-policy.py, the textbook tables). Pages are first renamed to dense ids so that each
 * policy runs in O(1) (FIFO, LRU, MRU, CLOCK) or O(log frames) (OPT) per reference.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const policy_names[SIM_NR_POLICIES] = {"fifo", "lru", "mru", "opt", "clock"};

const char *sim_policy_name(enum sim_policy p)
{
	return (unsigned)p < SIM_NR_POLICIES ? policy_names[p] : "?";
}

int sim_policy_parse(const char *name)
{
	for (int i = 0; i < SIM_NR_POLICIES; i++)
		if (strcasecmp(name, policy_names[i]) == 0)
			return i;
	return -1;
}

/* The working state of one run; per-page arrays are indexed by page id. */
struct sim {
	enum sim_policy policy;
	uint32_t frames, used, k;
	const uint32_t *ids;   /* the references as ids (refs itself when pages are small) */
	uint32_t *renamed;     /* ids when pages had to be renamed */
	uint32_t *page_of;     /* id -> page, NULL when ids are the pages */
	uint32_t *slot;        /* id -> frame, SIM_NONE when not cached */
	uint32_t *frame;       /* frame -> id (ring for FIFO) */
	uint32_t *prev, *next; /* LRU/MRU: the recency list, least recent at head */
	uint32_t head, tail;
	uint8_t *use;   /* CLOCK: id -> use bit */
	uint32_t hand;  /* CLOCK hand, FIFO ring head */
	uint64_t *heap; /* OPT: indexed max-heap of keys (next use << 32 | entry seq) */
	uint32_t *heap_id;
	uint32_t *pos;      /* OPT: id -> index in heap */
	uint32_t *next_use; /* OPT: position -> next position of the same page, or n */
	uint32_t *entry;    /* OPT: id -> seq when it entered */
};

#define SIM_DENSE_MAX (1u << 24) /* pages below this index arrays directly */

/* Renames pages to 0..k-1 in order of first use with an open-addressing hash. */
static int rename_pages(struct sim *s, const uint32_t *refs, size_t n)
{
	size_t cap = 1024;
	uint32_t k = 0;
	uint32_t *hk = NULL, *hv = NULL;
	s->renamed = malloc(n * sizeof(uint32_t));
	s->page_of = malloc(n * sizeof(uint32_t));
	if (!s->renamed || !s->page_of)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!hk || 2 * (size_t)k >= cap) { /* grow and rehash */
			size_t nc = hk ? cap * 2 : cap;
			uint32_t *nk = malloc(nc * sizeof(*nk)), *nv = malloc(nc * sizeof(*nv));
			if (!nk || !nv) {
				free(nk);
				free(nv);
				free(hk);
				free(hv);
				return -1;
			}
			memset(nv, 0xff, nc * sizeof(*nv));
			for (uint32_t id = 0; id < k; id++) {
				size_t h = (s->page_of[id] * 0x9E3779B1u) & (nc - 1);
				while (nv[h] != SIM_NONE)
					h = (h + 1) & (nc - 1);
				nk[h] = s->page_of[id];
				nv[h] = id;
			}
			free(hk);
			free(hv);
			hk = nk;
			hv = nv;
			cap = nc;
		}
		size_t h = (refs[i] * 0x9E3779B1u) & (cap - 1);
		while (hv[h] != SIM_NONE && hk[h] != refs[i])
			h = (h + 1) & (cap - 1);
		if (hv[h] == SIM_NONE) {
			hk[h] = refs[i];
			hv[h] = k;
			s->page_of[k++] = refs[i];
		}
		s->renamed[i] = hv[h];
	}
	free(hk);
	free(hv);
	s->ids = s->renamed;
	s->k = k;
	return 0;
}

static uint32_t page_of(const struct sim *s, uint32_t id)
{
	return s->page_of ? s->page_of[id] : id;
}

static void list_del(struct sim *s, uint32_t id)
{
	uint32_t p = s->prev[id], n = s->next[id];
	if (p != SIM_NONE)
		s->next[p] = n;
	else
		s->head = n;
	if (n != SIM_NONE)
		s->prev[n] = p;
	else
		s->tail = p;
}

static void list_add_tail(struct sim *s, uint32_t id)
{
	s->next[id] = SIM_NONE;
	s->prev[id] = s->tail;
	if (s->tail != SIM_NONE)
		s->next[s->tail] = id;
	else
		s->head = id;
	s->tail = id;
}

static void heap_set(struct sim *s, uint32_t i, uint64_t key, uint32_t id)
{
	s->heap[i] = key;
	s->heap_id[i] = id;
	s->pos[id] = i;
}

static void sift_up(struct sim *s, uint32_t i)
{
	uint64_t key = s->heap[i];
	uint32_t id = s->heap_id[i];
	while (i && s->heap[(i - 1) / 2] < key) {
		heap_set(s, i, s->heap[(i - 1) / 2], s->heap_id[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(s, i, key, id);
}

static void sift_down(struct sim *s, uint32_t i)
{
	uint64_t key = s->heap[i];
	uint32_t id = s->heap_id[i];
	for (;;) {
		uint32_t l = 2 * i + 1, big = l;
		if (l >= s->used)
			break;
		if (l + 1 < s->used && s->heap[l + 1] > s->heap[l])
			big = l + 1;
		if (s->heap[big] <= key)
			break;
		heap_set(s, i, s->heap[big], s->heap_id[big]);
		i = big;
	}
	heap_set(s, i, key, id);
}

/* Each policy's step: returns the victim id or SIM_NONE, sets *hit. */
static uint32_t step_fifo(struct sim *s, uint32_t id, int *hit)
{
	if ((*hit = s->slot[id] != SIM_NONE))
		return SIM_NONE;
	uint32_t victim = SIM_NONE, f;
	if (s->used == s->frames) {
		f = s->hand;
		victim = s->frame[f];
		s->slot[victim] = SIM_NONE;
		if (++s->hand == s->frames)
			s->hand = 0;
	} else {
		f = s->used++;
	}
	s->frame[f] = id;
	s->slot[id] = f;
	return victim;
}

static uint32_t step_lru(struct sim *s, uint32_t id, int *hit)
{
	if ((*hit = s->slot[id] != SIM_NONE)) {
		if (s->tail != id) {
			list_del(s, id);
			list_add_tail(s, id);
		}
		return SIM_NONE;
	}
	uint32_t victim = SIM_NONE, f;
	if (s->used == s->frames) {
		victim = s->policy == SIM_MRU ? s->tail : s->head;
		list_del(s, victim);
		f = s->slot[victim];
		s->slot[victim] = SIM_NONE;
	} else {
		f = s->used++;
	}
	s->slot[id] = f;
	list_add_tail(s, id);
	return victim;
}

static uint32_t step_clock(struct sim *s, uint32_t id, int *hit)
{
	if ((*hit = s->slot[id] != SIM_NONE)) {
		s->use[id] = 1;
		return SIM_NONE;
	}
	uint32_t victim = SIM_NONE, f;
	if (s->used < s->frames) {
		f = s->used++;
	} else {
		while (s->use[s->frame[s->hand]]) {
			s->use[s->frame[s->hand]] = 0;
			if (++s->hand == s->frames)
				s->hand = 0;
		}
		f = s->hand;
		if (++s->hand == s->frames)
			s->hand = 0;
		victim = s->frame[f];
		s->slot[victim] = SIM_NONE;
	}
	s->frame[f] = id;
	s->slot[id] = f;
	s->use[id] = 1;
	return victim;
}

/*
 * OPT: the heap holds the cached pages keyed by (next use, entry seq); its top is the page
 * used farthest ahead, or among pages never used again (next use = n) the latest entered.
 */
static uint32_t step_opt(struct sim *s, uint32_t id, size_t i, int *hit)
{
	uint32_t victim = SIM_NONE;
	if ((*hit = s->slot[id] != SIM_NONE)) {
		uint32_t at = s->pos[id];
		s->heap[at] = (uint64_t)s->next_use[i] << 32 | s->entry[id];
		sift_up(s, at); /* the next use only moves later */
		return SIM_NONE;
	}
	uint64_t key = (uint64_t)s->next_use[i] << 32 | (uint32_t)i;
	s->entry[id] = (uint32_t)i;
	if (s->used == s->frames) {
		victim = s->heap_id[0];
		s->slot[id] = s->slot[victim];
		s->slot[victim] = SIM_NONE;
		heap_set(s, 0, key, id);
		sift_down(s, 0);
	} else {
		s->slot[id] = s->used;
		heap_set(s, s->used, key, id);
		s->used++;
		sift_up(s, s->used - 1);
	}
	s->frame[s->slot[id]] = id;
	return victim;
}

static void sim_contents(const struct sim *s, uint32_t *out)
{
	for (uint32_t f = 0; f < s->frames; f++)
		out[f] = SIM_NONE;
	switch (s->policy) {
	case SIM_OPT:
	case SIM_CLOCK:
		for (uint32_t f = 0; f < s->used; f++)
			out[f] = page_of(s, s->frame[f]);
		return;
	case SIM_FIFO:
		for (uint32_t f = 0; f < s->used; f++)
			out[f] = page_of(s, s->frame[(s->hand + f) % s->used]);
		return;
	default: {
		uint32_t f = 0;
		for (uint32_t id = s->head; id != SIM_NONE; id = s->next[id])
			out[f++] = page_of(s, id);
	}
	}
}

static void sim_free(struct sim *s)
{
	free(s->renamed);
	free(s->page_of);
	free(s->slot);
	free(s->frame);
	free(s->prev);
	free(s->next);
	free(s->use);
	free(s->heap);
	free(s->heap_id);
	free(s->pos);
	free(s->next_use);
	free(s->entry);
}

static int sim_alloc(struct sim *s, size_t n)
{
	size_t k = s->k ? s->k : 1;
	s->head = s->tail = SIM_NONE;
	s->slot = malloc(k * sizeof(uint32_t));
	s->frame = malloc(s->frames * sizeof(uint32_t));
	if (!s->slot || !s->frame)
		return -1;
	memset(s->slot, 0xff, k * sizeof(uint32_t));
	memset(s->frame, 0xff, s->frames * sizeof(uint32_t));
	if (s->policy == SIM_LRU || s->policy == SIM_MRU) {
		s->prev = malloc(k * sizeof(uint32_t));
		s->next = malloc(k * sizeof(uint32_t));
		return s->prev && s->next ? 0 : -1;
	}
	if (s->policy == SIM_CLOCK) {
		s->use = calloc(k, 1);
		return s->use ? 0 : -1;
	}
	if (s->policy != SIM_OPT)
		return 0;
	s->heap = malloc(s->frames * sizeof(uint64_t));
	s->heap_id = malloc(s->frames * sizeof(uint32_t));
	s->pos = malloc(k * sizeof(uint32_t));
	s->entry = malloc(k * sizeof(uint32_t));
	s->next_use = malloc((n ? n : 1) * sizeof(uint32_t));
	if (!s->heap || !s->heap_id || !s->pos || !s->entry || !s->next_use)
		return -1;
	/* next_use[i]: where the page of reference i comes back (n: never) */
	uint32_t *last = s->pos; /* borrowed while scanning backwards */
	for (size_t id = 0; id < k; id++)
		last[id] = (uint32_t)n;
	for (size_t i = n; i-- > 0;) {
		s->next_use[i] = last[s->ids[i]];
		last[s->ids[i]] = (uint32_t)i;
	}
	return 0;
}

/* Ids: the page numbers themselves when they are small, else a renaming. */
static int sim_ids(struct sim *s, const uint32_t *refs, size_t n)
{
	uint32_t max = 0;
	for (size_t i = 0; i < n; i++)
		max = refs[i] > max ? refs[i] : max;
	if (max < SIM_DENSE_MAX && max / 4 <= n) {
		s->ids = refs;
		s->k = n ? max + 1 : 0;
		return 0;
	}
	return rename_pages(s, refs, n);
}

int simulate_policy(enum sim_policy policy, uint32_t frames, const uint32_t *refs, size_t n,
                    struct policy_step *steps, uint32_t *contents, struct policy_totals *out)
{
	if ((unsigned)policy >= SIM_NR_POLICIES || frames == 0 || frames > SIM_MAX_FRAMES ||
	    n > SIM_MAX_REFS || (n && !refs) || !out)
		return -1;
	struct sim s;
	memset(&s, 0, sizeof(s));
	memset(out, 0, sizeof(*out));
	s.policy = policy;
	s.frames = frames;
	if (sim_ids(&s, refs, n) || sim_alloc(&s, n)) {
		sim_free(&s);
		return -1;
	}
	uint64_t hits = 0;
	/* one loop per policy so the step inlines into it */
#define SIM_RUN(step)                                                                          \
	for (size_t i = 0; i < n; i++) {                                                       \
		int hit;                                                                       \
		uint32_t victim = step;                                                        \
		hits += (uint64_t)hit;                                                         \
		if (steps) {                                                                   \
			steps[i].ref = refs[i];                                                \
			steps[i].hit = (uint32_t)hit;                                          \
			steps[i].victim = victim == SIM_NONE ? SIM_NONE : page_of(&s, victim); \
			steps[i].frame = s.slot[s.ids[i]];                                     \
		}                                                                              \
		if (contents)                                                                  \
			sim_contents(&s, contents + i * frames);                               \
	}
	switch (policy) {
	case SIM_FIFO:
		SIM_RUN(step_fifo(&s, s.ids[i], &hit));
		break;
	case SIM_LRU:
	case SIM_MRU:
		SIM_RUN(step_lru(&s, s.ids[i], &hit));
		break;
	case SIM_CLOCK:
		SIM_RUN(step_clock(&s, s.ids[i], &hit));
		break;
	default:
		SIM_RUN(step_opt(&s, s.ids[i], i, &hit));
		break;
	}
#undef SIM_RUN
	out->hits = hits;
	out->misses = n - hits;
	sim_free(&s);
	return 0;
}

/*
 * The run as OSTEP's paging-policy.py -c prints it: one line per access with the cache
 * between its two ends, the victim and running totals, then FINALSTATS.
 */
void policy_report(FILE *out, enum sim_policy p, uint32_t frames, const struct policy_step *steps,
                   const uint32_t *contents, size_t n)
{
	static const char *const ends[SIM_NR_POLICIES][2] = {
	    {"FirstIn", "Lastin"}, {"LRU", "MRU"},     {"LRU", "MRU"},
	    {"Left ", "Right"},    {"Left ", "Right"},
	};
	uint64_t hits = 0, miss = 0;
	char mem[SIM_REPORT_FRAMES * 12 + 3];
	for (size_t i = 0; i < n; i++) {
		hits += steps[i].hit;
		miss += !steps[i].hit;
		size_t len = 0;
		mem[len++] = '[';
		for (uint32_t f = 0, first = 1; f < frames && f < SIM_REPORT_FRAMES; f++) {
			uint32_t v = contents[i * frames + f];
			if (v == SIM_NONE)
				continue;
			len += (size_t)snprintf(mem + len, sizeof(mem) - len, first ? "%u" : ", %u",
			                        v);
			first = 0;
		}
		snprintf(mem + len, sizeof(mem) - len, "]");
		char victim[16] = "-";
		if (steps[i].victim != SIM_NONE)
			snprintf(victim, sizeof(victim), "%u", steps[i].victim);
		fprintf(out,
		        "Access: %u  %s %s -> %12s <- %s Replaced:%s [Hits:%llu Misses:%llu]\n",
		        steps[i].ref, steps[i].hit ? "HIT " : "MISS", ends[p][0], mem, ends[p][1],
		        victim, (unsigned long long)hits, (unsigned long long)miss);
	}
	fprintf(out, "\nFINALSTATS hits %llu   misses %llu   hitrate %.2f\n",
	        (unsigned long long)hits, (unsigned long long)miss,
	        n ? 100.0 * (double)hits / (double)n : 0.0);
}
