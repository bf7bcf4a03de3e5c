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

#include "strbuf.h"

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

/* The working state of one run; ids index the per-page arrays. */
struct sim {
	uint32_t frames, used;
	uint32_t *page_of;     /* id -> page number */
	uint32_t *ids;         /* refs renamed */
	uint32_t *slot;        /* id -> frame (OPT, CLOCK) or SIM_NONE when not cached */
	uint32_t *prev, *next; /* id list (FIFO queue, LRU order) */
	uint32_t head, tail;
	uint32_t *frame; /* frame -> id (OPT, CLOCK) */
	uint8_t *use;    /* frame -> use bit (CLOCK) */
	uint32_t hand;
	uint64_t *heap; /* OPT: max-heap of (next use << 32 | entry seq) keys */
	uint32_t *heap_id;
	uint64_t *key; /* OPT: id -> its live key */
	uint32_t heap_n;
	uint32_t *next_use; /* OPT: position -> next position of the same page, or n */
};

/* Renames pages to 0..k-1 in order of first use with an open-addressing hash. */
static uint32_t rename_pages(struct sim *s, const uint32_t *refs, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	uint32_t *hk = malloc(cap * sizeof(*hk)), *hv = malloc(cap * sizeof(*hv));
	uint32_t k = 0;
	if (!hk || !hv) {
		free(hk);
		free(hv);
		return SIM_NONE;
	}
	memset(hv, 0xff, cap * sizeof(*hv));
	for (size_t i = 0; i < n; i++) {
		size_t h = (refs[i] * 0x9E3779B1u) & (cap - 1);
		while (hv[h] != SIM_NONE && hk[h] != refs[i])
			h = (h + 1) & (cap - 1);
		if (hv[h] == SIM_NONE) {
			hk[h] = refs[i];
			hv[h] = k;
			s->page_of[k++] = refs[i];
		}
		s->ids[i] = hv[h];
	}
	free(hk);
	free(hv);
	return k;
}

static void list_del(struct sim *s, uint32_t id)
{
	if (s->prev[id] != SIM_NONE)
		s->next[s->prev[id]] = s->next[id];
	else
		s->head = s->next[id];
	if (s->next[id] != SIM_NONE)
		s->prev[s->next[id]] = s->prev[id];
	else
		s->tail = s->prev[id];
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

static void heap_swap(struct sim *s, uint32_t a, uint32_t b)
{
	uint64_t k = s->heap[a];
	uint32_t i = s->heap_id[a];
	s->heap[a] = s->heap[b];
	s->heap_id[a] = s->heap_id[b];
	s->heap[b] = k;
	s->heap_id[b] = i;
}

static void heap_push(struct sim *s, uint64_t key, uint32_t id)
{
	uint32_t i = s->heap_n++;
	s->heap[i] = key;
	s->heap_id[i] = id;
	while (i && s->heap[(i - 1) / 2] < s->heap[i]) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_pop(struct sim *s)
{
	s->heap[0] = s->heap[--s->heap_n];
	s->heap_id[0] = s->heap_id[s->heap_n];
	for (uint32_t i = 0;;) {
		uint32_t l = 2 * i + 1, r = l + 1, big = i;
		if (l < s->heap_n && s->heap[l] > s->heap[big])
			big = l;
		if (r < s->heap_n && s->heap[r] > s->heap[big])
			big = r;
		if (big == i)
			break;
		heap_swap(s, i, big);
		i = big;
	}
}

/* OPT's victim: the top of the heap once stale keys (pages re-keyed or gone) are dropped. */
static uint32_t opt_victim(struct sim *s)
{
	while (s->key[s->heap_id[0]] != s->heap[0])
		heap_pop(s);
	uint32_t id = s->heap_id[0];
	heap_pop(s);
	return id;
}

/* One reference; returns the victim id or SIM_NONE, sets *hit. */
static uint32_t sim_ref(struct sim *s, enum sim_policy p, size_t i, uint64_t seq, int *hit)
{
	uint32_t id = s->ids[i], victim = SIM_NONE;
	int cached = s->slot[id] != SIM_NONE;
	*hit = cached;
	if (p == SIM_OPT) {
		uint64_t key = (uint64_t)s->next_use[i] << 32 | (seq & 0xffffffffu);
		if (!cached && s->used == s->frames) {
			victim = opt_victim(s);
			s->slot[id] = s->slot[victim];
			s->slot[victim] = SIM_NONE;
			s->key[victim] = UINT64_MAX;
		} else if (!cached) {
			s->slot[id] = s->used++;
		}
		if (cached) /* keep the entry seq: ties among never-used pages go by entry */
			key = (uint64_t)s->next_use[i] << 32 | (s->key[id] & 0xffffffffu);
		s->frame[s->slot[id]] = id;
		s->key[id] = key;
		heap_push(s, key, id);
		return victim;
	}
	if (p == SIM_CLOCK) {
		if (cached) {
			s->use[s->slot[id]] = 1;
			return SIM_NONE;
		}
		uint32_t f = s->used < s->frames ? s->used++ : SIM_NONE;
		while (f == SIM_NONE) {
			if (s->use[s->hand])
				s->use[s->hand] = 0;
			else
				f = s->hand;
			s->hand = (s->hand + 1) % s->frames;
		}
		if (s->frame[f] != SIM_NONE) {
			victim = s->frame[f];
			s->slot[victim] = SIM_NONE;
		}
		s->frame[f] = id;
		s->slot[id] = f;
		s->use[f] = 1;
		return victim;
	}
	/* FIFO, LRU, MRU: one ordered list, oldest (or least recent) at the head */
	if (cached) {
		if (p != SIM_FIFO) {
			list_del(s, id);
			list_add_tail(s, id);
		}
		return SIM_NONE;
	}
	if (s->used == s->frames) {
		victim = p == SIM_MRU ? s->tail : s->head;
		list_del(s, victim);
		s->slot[victim] = SIM_NONE;
	} else {
		s->used++;
	}
	s->slot[id] = 0;
	list_add_tail(s, id);
	return victim;
}

static void sim_contents(const struct sim *s, enum sim_policy p, uint32_t *out)
{
	for (uint32_t f = 0; f < s->frames; f++)
		out[f] = SIM_NONE;
	if (p == SIM_OPT || p == SIM_CLOCK) {
		for (uint32_t f = 0; f < s->used; f++)
			out[f] = s->page_of[s->frame[f]];
		return;
	}
	uint32_t f = 0;
	for (uint32_t id = s->head; id != SIM_NONE; id = s->next[id])
		out[f++] = s->page_of[id];
}

static void sim_free(struct sim *s)
{
	free(s->page_of);
	free(s->ids);
	free(s->slot);
	free(s->prev);
	free(s->next);
	free(s->frame);
	free(s->use);
	free(s->heap);
	free(s->heap_id);
	free(s->key);
	free(s->next_use);
}

static int sim_alloc(struct sim *s, enum sim_policy p, uint32_t frames, size_t n)
{
	size_t k = n ? n : 1;
	memset(s, 0, sizeof(*s));
	s->frames = frames;
	s->head = s->tail = SIM_NONE;
	s->page_of = malloc(k * sizeof(uint32_t));
	s->ids = malloc(k * sizeof(uint32_t));
	s->slot = malloc(k * sizeof(uint32_t));
	s->prev = malloc(k * sizeof(uint32_t));
	s->next = malloc(k * sizeof(uint32_t));
	s->frame = malloc(frames * sizeof(uint32_t));
	s->use = calloc(frames, 1);
	if (p == SIM_OPT) {
		s->heap = malloc((k + frames) * sizeof(uint64_t));
		s->heap_id = malloc((k + frames) * sizeof(uint32_t));
		s->key = malloc(k * sizeof(uint64_t));
		s->next_use = malloc(k * sizeof(uint32_t));
		if (!s->heap || !s->heap_id || !s->key || !s->next_use)
			return -1;
	}
	if (!s->page_of || !s->ids || !s->slot || !s->prev || !s->next || !s->frame || !s->use)
		return -1;
	memset(s->slot, 0xff, k * sizeof(uint32_t));
	memset(s->frame, 0xff, frames * sizeof(uint32_t));
	return 0;
}

/* next_use[i]: where refs[i]'s page is referenced again (n when never). */
static void opt_prepare(struct sim *s, size_t n, uint32_t k)
{
	uint32_t *last = s->prev; /* borrowed: id -> next position seen, scanning backwards */
	for (uint32_t id = 0; id < k; id++)
		last[id] = (uint32_t)n;
	for (size_t i = n; i-- > 0;) {
		s->next_use[i] = last[s->ids[i]];
		last[s->ids[i]] = (uint32_t)i;
	}
	/* OPT has no list; key[] starts empty */
	for (uint32_t id = 0; id < k; id++)
		s->key[id] = UINT64_MAX;
}

int simulate_policy(enum sim_policy policy, uint32_t frames, const uint32_t *refs, size_t n,
                    struct policy_step *steps, uint32_t *contents, struct policy_totals *out)
{
	if ((unsigned)policy >= SIM_NR_POLICIES || frames == 0 || frames > SIM_MAX_FRAMES ||
	    n > SIM_MAX_REFS || (n && !refs) || !out)
		return -1;
	struct sim s;
	memset(out, 0, sizeof(*out));
	if (sim_alloc(&s, policy, frames, n)) {
		sim_free(&s);
		return -1;
	}
	uint32_t k = rename_pages(&s, refs, n);
	if (k == SIM_NONE) {
		sim_free(&s);
		return -1;
	}
	if (policy == SIM_OPT)
		opt_prepare(&s, n, k);
	for (size_t i = 0; i < n; i++) {
		int hit;
		uint32_t victim = sim_ref(&s, policy, i, i, &hit);
		if (hit)
			out->hits++;
		else
			out->misses++;
		if (steps) {
			steps[i].ref = refs[i];
			steps[i].hit = (uint32_t)hit;
			steps[i].victim = victim == SIM_NONE ? SIM_NONE : s.page_of[victim];
		}
		if (contents)
			sim_contents(&s, policy, contents + i * frames);
	}
	sim_free(&s);
	return 0;
}

/*
 * The run as OSTEP's paging-policy.py -c prints it: one line per access with the cache
 * between its two ends, the victim and running totals, then FINALSTATS.
 */
void policy_report(struct strbuf *sb, enum sim_policy p, uint32_t frames,
                   const struct policy_step *steps, const uint32_t *contents, size_t n)
{
	static const char *const ends[SIM_NR_POLICIES][2] = {
	    {"FirstIn", "Lastin"}, {"LRU", "MRU"},     {"LRU", "MRU"},
	    {"Left ", "Right"},    {"Left ", "Right"},
	};
	uint64_t hits = 0, miss = 0;
	for (size_t i = 0; i < n; i++) {
		hits += steps[i].hit;
		miss += !steps[i].hit;
		struct strbuf mem;
		strbuf_init(&mem);
		strbuf_adds(&mem, "[");
		for (uint32_t f = 0, first = 1; f < frames; f++) {
			uint32_t v = contents[i * frames + f];
			if (v == SIM_NONE)
				continue;
			strbuf_addf(&mem, first ? "%u" : ", %u", v);
			first = 0;
		}
		strbuf_adds(&mem, "]");
		char victim[16] = "-";
		if (steps[i].victim != SIM_NONE)
			snprintf(victim, sizeof(victim), "%u", steps[i].victim);
		strbuf_addf(sb,
		            "Access: %u  %s %s -> %12s <- %s Replaced:%s [Hits:%llu Misses:%llu]\n",
		            steps[i].ref, steps[i].hit ? "HIT " : "MISS", ends[p][0], mem.buf,
		            ends[p][1], victim, (unsigned long long)hits, (unsigned long long)miss);
		strbuf_release(&mem);
	}
	strbuf_addf(sb, "\nFINALSTATS hits %llu   misses %llu   hitrate %.2f\n",
	            (unsigned long long)hits, (unsigned long long)miss,
	            n ? 100.0 * (double)hits / (double)n : 0.0);
}
