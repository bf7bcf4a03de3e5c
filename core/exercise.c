/*
 * Exercise generators and the answer checker (see exercise.h). Every generator draws its
 * scenario from a PRNG seeded by the exercise seed, runs it on a scratch machine through
 * machine_apply(), and reads the answer back from that machine's state and results; the
 * scratch machine's events become the worked solution.
 */
#include "exercise.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "policy.h"
#include "proc.h"

/* ---- deterministic choices (splitmix64 seeding, xorshift64*) ---- */

struct ex_rng {
	uint64_t s;
};

static void rng_seed(struct ex_rng *r, uint64_t seed, enum exercise_topic t)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (t + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	r->s = (z ^ (z >> 31)) | 1;
}

static uint64_t rng_next(struct ex_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

/* Uniform in lo..hi inclusive (the tiny modulo bias does not matter for exercises). */
static unsigned rng_range(struct ex_rng *r, unsigned lo, unsigned hi)
{
	return lo + (unsigned)(rng_next(r) % (hi - lo + 1));
}

/* ---- scratch machines ---- */

static struct machine *scratch_new(enum machine_arch arch, uint64_t ram, uint64_t seed, char *err,
                                   size_t errlen)
{
	struct machine_config cfg;
	machine_config_default(&cfg, arch, ram);
	cfg.seed = seed;
	return machine_create(&cfg, err, errlen);
}

/* Runs one op; a refusal is a generator bug (its scenario must be valid), reported as such. */
static enum vm_err scratch_apply(struct machine *m, const struct op *op, struct op_result *res,
                                 char *err, size_t errlen)
{
	enum vm_err e = machine_apply(m, op, res);
	if (e)
		snprintf(err, errlen, "exercise scenario refused by the scratch machine: %s",
		         res->msg);
	return e;
}

static void add_field(struct exercise *ex, const char *name, enum exercise_field_kind kind,
                      uint64_t value)
{
	if (ex->nfields >= EXERCISE_MAX_FIELDS)
		return;
	struct exercise_field *f = &ex->field[ex->nfields++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->kind = kind;
	f->value = value;
}

/* The kernel's steps from event id `from` on: the worked solution. */
static void explain_events(struct exercise *ex, const struct machine *m, uint64_t from)
{
	uint64_t first = events_first_id(m), next = events_next_id(m);
	if (from < first) {
		strbuf_addf(&ex->solution, "  (%llu earlier steps left the event ring)\n",
		            (unsigned long long)(first - from));
		from = first;
	}
	for (uint64_t id = from; id < next; id++) {
		const struct event *e = event_get(m, id);
		if (!e)
			continue;
		strbuf_adds(&ex->solution, "  ");
		event_render(e, &ex->solution);
		strbuf_adds(&ex->solution, "\n");
	}
}

static void solution_fields(struct exercise *ex)
{
	strbuf_adds(&ex->solution, "Answer:");
	for (unsigned i = 0; i < ex->nfields; i++) {
		char v[32];
		exercise_format_value(&ex->field[i], ex->field[i].value, v, sizeof(v));
		strbuf_addf(&ex->solution, " %s=%s", ex->field[i].name, v);
	}
	strbuf_adds(&ex->solution, "\n");
}

/* ---- buddy allocator topics ---- */

/* GFP_KERNEL's first zone on a 64 MiB machine: Normal on i386, DMA32 on x86_64. */
static enum zone_type kernel_zone(const struct machine *m)
{
	return m->cfg.arch == ARCH_I386 ? ZONE_NORMAL : ZONE_DMA32;
}

/* Lists each free_area of a zone, head first, as the student's starting state. */
static void show_free_area(struct strbuf *sb, const struct machine *m, enum zone_type zt)
{
	const struct zone *z = &m->pa.zones[zt];
	strbuf_addf(sb, "Free lists of zone %s (block head pfns, list head first):\n", z->name);
	for (unsigned o = 0; o < MAX_ORDER; o++) {
		const struct free_area *fa = &z->free_area[o];
		strbuf_addf(sb, "  free_area[%2u] (%llu):", o, (unsigned long long)fa->nr_free);
		unsigned shown = 0;
		for (uint32_t pfn = fa->free_list.head; pfn != PFN_NONE && shown < 6;
		     pfn = m->pa.mem_map[pfn].next, shown++)
			strbuf_addf(sb, " %#x", pfn);
		if (fa->nr_free > shown)
			strbuf_addf(sb, " ... (%llu more)",
			            (unsigned long long)(fa->nr_free - shown));
		strbuf_adds(sb, "\n");
	}
}

static enum vm_err alloc_block(struct machine *m, unsigned order, uint32_t *pfn, char *err,
                               size_t errlen)
{
	struct op op = {.kind = OP_ALLOC_PAGES};
	op.u.alloc_pages.gfp = GFP_KERNEL;
	op.u.alloc_pages.order = order;
	struct op_result res;
	enum vm_err e = scratch_apply(m, &op, &res, err, errlen);
	*pfn = (uint32_t)res.value;
	return e;
}

static enum vm_err free_block(struct machine *m, uint32_t pfn, unsigned order, char *err,
                              size_t errlen)
{
	struct op op = {.kind = OP_FREE_PAGES};
	op.u.free_pages.pfn = pfn;
	op.u.free_pages.order = order;
	struct op_result res;
	return scratch_apply(m, &op, &res, err, errlen);
}

static const char buddy_rules[] =
    "Rules (mm/page_alloc.c as vmsim models it): alloc_pages(order) takes the block at the\n"
    "head of the smallest non-empty free_area[k], k >= order, of the zone. expand() splits it:\n"
    "the lower half is kept, each upper half goes to the head of free_area[k-1], and so on\n"
    "down to the order asked. __free_pages() merges a block with its buddy (pfn ^ (1 <<\n"
    "order)) while the buddy is free with the same order, and puts the result at the head of\n"
    "its free list.\n";

/* Allocates `n` blocks of random small orders and frees every other one: fragmentation. */
static enum vm_err fragment(struct machine *m, struct ex_rng *r, unsigned n, char *err,
                            size_t errlen)
{
	uint32_t pfn[8];
	unsigned order[8];
	for (unsigned i = 0; i < n; i++) {
		order[i] = rng_range(r, 0, 3);
		enum vm_err e = alloc_block(m, order[i], &pfn[i], err, errlen);
		if (e)
			return e;
	}
	for (unsigned i = rng_range(r, 0, 1); i < n; i += 2) {
		enum vm_err e = free_block(m, pfn[i], order[i], err, errlen);
		if (e)
			return e;
	}
	return VM_OK;
}

static enum vm_err gen_buddy_alloc(struct exercise *ex, struct ex_rng *r, struct machine *m,
                                   char *err, size_t errlen)
{
	enum zone_type zt = kernel_zone(m);
	enum vm_err e = fragment(m, r, rng_range(r, 4, 8), err, errlen);
	if (e)
		return e;
	strbuf_addf(&ex->question, "%s machine with 64 MiB of RAM has been running for a while.\n",
	            m->cfg.arch == ARCH_I386 ? "An i386" : "An x86_64");
	show_free_area(&ex->question, m, zt);
	strbuf_adds(&ex->question, buddy_rules);
	unsigned n = rng_range(r, 2, 4);
	unsigned orders[4];
	strbuf_adds(&ex->question, "\nThe kernel now calls, in this order:\n");
	for (unsigned i = 0; i < n; i++) {
		orders[i] = rng_range(r, 0, 3);
		strbuf_addf(&ex->question, "  %u. alloc_pages(GFP_KERNEL, order %u)\n", i + 1,
		            orders[i]);
	}
	strbuf_adds(&ex->question,
	            "Which pfn does each call return? Answer with the pfns in hex, in order.\n");
	uint64_t from = events_next_id(m);
	for (unsigned i = 0; i < n; i++) {
		uint32_t pfn;
		if ((e = alloc_block(m, orders[i], &pfn, err, errlen)))
			return e;
		char name[EXERCISE_NAME_LEN];
		snprintf(name, sizeof(name), "pfn%u", i + 1);
		add_field(ex, name, EXF_HEX, pfn);
	}
	solution_fields(ex);
	strbuf_adds(&ex->solution, "What the kernel did:\n");
	explain_events(ex, m, from);
	return VM_OK;
}

/* The zone's line of /proc/buddyinfo, exactly as the view prints it. */
static void buddyinfo_line(struct strbuf *sb, const struct machine *m, enum zone_type zt)
{
	struct strbuf all;
	strbuf_init(&all);
	proc_render(m, "buddyinfo", &all);
	char key[32];
	snprintf(key, sizeof(key), "zone %8s ", m->pa.zones[zt].name);
	const char *line = all.buf ? strstr(all.buf, key) : NULL;
	if (line) {
		while (line > all.buf && line[-1] != '\n')
			line--;
		const char *end = strchr(line, '\n');
		strbuf_add(sb, line, end ? (size_t)(end - line + 1) : strlen(line));
	}
	strbuf_release(&all);
}

static enum vm_err gen_buddyinfo(struct exercise *ex, struct ex_rng *r, struct machine *m,
                                 char *err, size_t errlen)
{
	enum zone_type zt = kernel_zone(m);
	unsigned n = rng_range(r, 4, 7);
	uint32_t pfn[7];
	unsigned order[7];
	strbuf_addf(&ex->question, "A fresh %s machine with 64 MiB of RAM runs:\n",
	            m->cfg.arch == ARCH_I386 ? "i386" : "x86_64");
	for (unsigned i = 0; i < n; i++) {
		order[i] = rng_range(r, 0, 3);
		enum vm_err e = alloc_block(m, order[i], &pfn[i], err, errlen);
		if (e)
			return e;
		strbuf_addf(&ex->question, "  alloc_pages(GFP_KERNEL, order %u) = pfn %#x\n",
		            order[i], pfn[i]);
	}
	strbuf_adds(&ex->question, "and /proc/buddyinfo shows for its zone:\n  ");
	buddyinfo_line(&ex->question, m, zt);
	/* Free a shuffled subset of at least two blocks. */
	unsigned idx[7];
	for (unsigned i = 0; i < n; i++)
		idx[i] = i;
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = rng_range(r, 0, i), t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	unsigned nfree = rng_range(r, 2, n - 1); /* keep one: not always a full merge */
	strbuf_adds(&ex->question, "Then it frees:\n");
	uint64_t from = events_next_id(m);
	for (unsigned i = 0; i < nfree; i++) {
		unsigned k = idx[i];
		strbuf_addf(&ex->question, "  __free_pages(pfn %#x, order %u)\n", pfn[k], order[k]);
		enum vm_err e = free_block(m, pfn[k], order[k], err, errlen);
		if (e)
			return e;
	}
	strbuf_adds(&ex->question, buddy_rules);
	strbuf_addf(&ex->question,
	            "What does the zone %s line of /proc/buddyinfo show now? Answer with the 11\n"
	            "free block counts, order 0 to order 10.\n",
	            m->pa.zones[zt].name);
	for (unsigned o = 0; o < MAX_ORDER; o++) {
		char name[EXERCISE_NAME_LEN];
		snprintf(name, sizeof(name), "order%u", o);
		add_field(ex, name, EXF_DEC, m->pa.zones[zt].free_area[o].nr_free);
	}
	solution_fields(ex);
	strbuf_adds(&ex->solution, "/proc/buddyinfo now:\n  ");
	buddyinfo_line(&ex->solution, m, zt);
	strbuf_adds(&ex->solution, "What the kernel did:\n");
	explain_events(ex, m, from);
	return VM_OK;
}

/* ---- slab ---- */

static enum vm_err gen_slab(struct exercise *ex, struct ex_rng *r, struct machine *m, char *err,
                            size_t errlen)
{
	static const uint32_t aligns[] = {0, 8, 16, 32, 64};
	uint32_t size = rng_range(r, 0, 3) ? rng_range(r, 8, 1024) : rng_range(r, 1025, 4096);
	uint32_t align = aligns[rng_range(r, 0, ARRAY_SIZE(aligns) - 1)];
	unsigned n = rng_range(r, 1, 200);
	struct op op = {.kind = OP_KMEM_CACHE_CREATE};
	snprintf(op.u.cache_create.name, NAME_LEN, "exercise_cache");
	op.u.cache_create.size = size;
	op.u.cache_create.align = align;
	struct op_result res;
	uint64_t from = events_next_id(m);
	enum vm_err e = scratch_apply(m, &op, &res, err, errlen);
	if (e)
		return e;
	int id = (int)res.value;
	for (unsigned i = 0; i < n; i++) {
		struct op a = {.kind = OP_KMEM_CACHE_ALLOC};
		snprintf(a.u.cache.name, NAME_LEN, "exercise_cache");
		if ((e = scratch_apply(m, &a, &res, err, errlen)))
			return e;
	}
	const struct kmem_cache *c = kmem_cache_get(m, id);
	uint64_t slabs = c->slabs_full.nr + c->slabs_partial.nr + c->slabs_free.nr;
	strbuf_addf(
	    &ex->question,
	    "A module calls kmem_cache_create(\"exercise_cache\", size %u, align %u)\n"
	    "and then kmem_cache_alloc() %u times (nothing is freed).\n"
	    "Rules (mm/slub.c as vmsim models it, one CPU): objects are aligned to\n"
	    "max(align, 8) bytes; calculate_order() picks the smallest slab order (at most\n"
	    "3) that holds at least 8 objects while wasting at most 1/16 of the slab, then\n"
	    "1/8, then 1/4; a new slab is allocated only when every slab is full.\n"
	    "Give the /proc/slabinfo columns <objsize> <objperslab> <pagesperslab> and the\n"
	    "number of slabs <num_slabs> the cache has now.\n",
	    size, align, n);
	add_field(ex, "objsize", EXF_DEC, c->size);
	add_field(ex, "objperslab", EXF_DEC, c->objects);
	add_field(ex, "pagesperslab", EXF_DEC, 1ull << c->order);
	add_field(ex, "num_slabs", EXF_DEC, slabs);
	solution_fields(ex);
	strbuf_addf(&ex->solution,
	            "objsize %u = %u rounded up to %u; an order-%u slab is %llu bytes, %u objects "
	            "fit; %u objects need ceil(%u / %u) = %llu slabs.\n",
	            c->size, size, c->align, c->order, (unsigned long long)(4096ull << c->order),
	            c->objects, n, n, c->objects, (unsigned long long)slabs);
	strbuf_adds(&ex->solution, "What the kernel did (first steps):\n");
	/* The creation and the first slab tell the story; the rest repeats. */
	uint64_t next = events_next_id(m), stop = from + 12 < next ? from + 12 : next;
	for (uint64_t id2 = from; id2 < stop; id2++) {
		const struct event *ev = event_get(m, id2);
		if (!ev)
			continue;
		strbuf_adds(&ex->solution, "  ");
		event_render(ev, &ex->solution);
		strbuf_adds(&ex->solution, "\n");
	}
	if (stop < next)
		strbuf_addf(&ex->solution, "  ... (%llu more steps)\n",
		            (unsigned long long)(next - stop));
	return VM_OK;
}

/* ---- page replacement (core/policy.c) ---- */

#define REPL_MAX_REFS 14

static enum vm_err gen_replacement(struct exercise *ex, struct ex_rng *r, struct machine *m,
                                   char *err, size_t errlen)
{
	(void)m; /* the textbook exercise runs on simulate_policy(), not on a machine */
	static const enum sim_policy pols[] = {SIM_FIFO, SIM_LRU, SIM_OPT, SIM_CLOCK, SIM_MRU};
	enum sim_policy pol = pols[rng_range(r, 0, ARRAY_SIZE(pols) - 1)];
	uint32_t frames = rng_range(r, 3, 4);
	unsigned n = rng_range(r, 10, REPL_MAX_REFS), npages = frames + rng_range(r, 1, 3);
	uint32_t refs[REPL_MAX_REFS];
	/* Locality: a third of the references reuse a page from two to four references back;
	 * the rest are uniform. */
	for (unsigned i = 0; i < n; i++)
		refs[i] = (i >= 2 && !rng_range(r, 0, 2)) ? refs[i - rng_range(r, 2, i < 4 ? i : 4)]
		                                          : rng_range(r, 0, npages - 1);
	struct policy_step steps[REPL_MAX_REFS];
	uint32_t contents[REPL_MAX_REFS * 4];
	struct policy_totals tot;
	if (simulate_policy(pol, frames, refs, n, steps, contents, &tot)) {
		snprintf(err, errlen, "exercise scenario refused by simulate_policy");
		return VM_EINVAL;
	}
	char upper[8];
	snprintf(upper, sizeof(upper), "%s", sim_policy_name(pol));
	for (char *p = upper; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	strbuf_addf(&ex->question,
	            "A process references these virtual pages, in order, with %u page frames, all\n"
	            "empty at the start, managed by %s replacement:\n ",
	            frames, upper);
	for (unsigned i = 0; i < n; i++)
		strbuf_addf(&ex->question, " %u", refs[i]);
	strbuf_adds(&ex->question, "\n");
	static const char *const rules[] = {
	    [SIM_FIFO] = "FIFO evicts the page that entered memory first.",
	    [SIM_LRU] = "LRU evicts the page unused for the longest time.",
	    [SIM_MRU] = "MRU evicts the page used most recently.",
	    [SIM_OPT] =
	        "OPT (Belady) evicts the page whose next use is farthest away; among pages\n"
	        "never used again, the one that entered memory last.",
	    [SIM_CLOCK] =
	        "CLOCK: every reference sets the page's use bit; on a miss the hand sweeps\n"
	        "the frames in order, clearing set bits, and evicts the first page whose\n"
	        "bit is clear; a free frame is used first.",
	};
	strbuf_addf(
	    &ex->question,
	    "%s\nFor each reference, is it a hit (H) or a miss (M)? Answer with %u letters.\n",
	    rules[pol], n);
	for (unsigned i = 0; i < n; i++) {
		char name[EXERCISE_NAME_LEN];
		snprintf(name, sizeof(name), "step%u", i + 1);
		add_field(ex, name, EXF_HITMISS, steps[i].hit);
	}
	solution_fields(ex);
	strbuf_addf(&ex->solution, "%llu hits, %llu misses. Step by step (simulate_policy):\n",
	            (unsigned long long)tot.hits, (unsigned long long)tot.misses);
	char *report = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&report, &len);
	if (!f) {
		snprintf(err, errlen, "exercise: out of host memory");
		return VM_ENOMEM;
	}
	policy_report(f, pol, frames, steps, contents, n);
	fclose(f);
	strbuf_adds(&ex->solution, report);
	free(report);
	return VM_OK;
}

/* ---- free: the seed's arithmetic ---- */

static enum vm_err apply_file(struct machine *m, enum op_kind kind, uint32_t ino, uint64_t off,
                              uint64_t len, char *err, size_t errlen)
{
	struct op op = {.kind = kind};
	op.u.file_io.ino = ino;
	op.u.file_io.offset = off;
	op.u.file_io.len = len;
	struct op_result res;
	return scratch_apply(m, &op, &res, err, errlen);
}

/* The value after `key` in /proc/meminfo's text, in kB; 0 if absent. */
static uint64_t meminfo_kb(const char *text, const char *key)
{
	const char *p = text ? strstr(text, key) : NULL;
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static enum vm_err gen_free(struct exercise *ex, struct ex_rng *r, struct machine *m, char *err,
                            size_t errlen)
{
	struct op op = {.kind = OP_MKSWAP};
	snprintf(op.u.swap.name, NAME_LEN, "/dev/sdb1");
	op.u.swap.size = (uint64_t)rng_range(r, 4, 16) << 22;
	struct op_result res;
	enum vm_err e = scratch_apply(m, &op, &res, err, errlen);
	if (!e) {
		op.kind = OP_SWAPON;
		op.u.swap.prio = SWAP_PRIO_NONE; /* automatic, like swapon without -p */
		e = scratch_apply(m, &op, &res, err, errlen);
	}
	/* Files read into the page cache (Cached) and written (Dirty, then Buffers). */
	unsigned nfiles = rng_range(r, 1, 3);
	for (unsigned i = 0; i < nfiles && !e; i++) {
		struct op fc = {.kind = OP_FILE_CREATE};
		snprintf(fc.u.file_create.name, NAME_LEN, "/data/file%u", i + 1);
		uint64_t size = (uint64_t)rng_range(r, 64, 2048) << 12;
		fc.u.file_create.size = size;
		if ((e = scratch_apply(m, &fc, &res, err, errlen)))
			break;
		uint32_t ino = (uint32_t)res.value;
		uint64_t len = ((uint64_t)rng_range(r, 1, 100) * size / 100) & ~0xfffull;
		e = apply_file(m, OP_FILE_READ, ino, 0, len ? len : 4096, err, errlen);
		if (!e && rng_range(r, 0, 1))
			e = apply_file(m, OP_FILE_WRITE, ino, 0,
			               (uint64_t)rng_range(r, 1, 64) << 12, err, errlen);
	}
	/* Kernel memory the applications cannot get back. */
	for (unsigned i = rng_range(r, 1, 4); i > 0 && !e; i--) {
		uint32_t pfn;
		e = alloc_block(m, rng_range(r, 3, 8), &pfn, err, errlen);
	}
	if (e)
		return e;
	struct strbuf mi, fr;
	strbuf_init(&mi);
	strbuf_init(&fr);
	proc_render(m, "meminfo", &mi);
	proc_render(m, "free --old", &fr);
	static const char *const keys[] = {
	    "MemTotal:", "MemFree:", "Buffers:", "Cached:", "SwapTotal:", "SwapFree:"};
	strbuf_adds(&ex->question,
	            "An x86_64 machine with 64 MiB of RAM has read and written some files.\n"
	            "Part of its /proc/meminfo:\n");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *line = mi.buf ? strstr(mi.buf, keys[i]) : NULL;
		const char *end = line ? strchr(line, '\n') : NULL;
		if (line && end)
			strbuf_addf(&ex->question, "  %.*s\n", (int)(end - line), line);
	}
	strbuf_adds(
	    &ex->question,
	    "In kB, as the seed's `free` (procps 3.2, `free --old`) prints them:\n"
	    "  Mem used, the \"-/+ buffers/cache\" used (what applications really use) and\n"
	    "  its free (what applications could get), and Swap used?\n");
	uint64_t total = meminfo_kb(mi.buf, "MemTotal:"), freek = meminfo_kb(mi.buf, "MemFree:");
	uint64_t buf = meminfo_kb(mi.buf, "Buffers:"), cached = meminfo_kb(mi.buf, "Cached:");
	uint64_t st = meminfo_kb(mi.buf, "SwapTotal:"), sf = meminfo_kb(mi.buf, "SwapFree:");
	/* The answers are read from the free view itself, so they are what the machine prints. */
	unsigned long long mem_used = 0, app_used = 0, app_free = 0, swap_used = 0, x;
	const char *l = fr.buf ? strstr(fr.buf, "Mem:") : NULL;
	if (!l || sscanf(l, "Mem: %llu %llu", &x, &mem_used) != 2 ||
	    !(l = strstr(l, "-/+ buffers/cache:")) ||
	    sscanf(l, "-/+ buffers/cache: %llu %llu", &app_used, &app_free) != 2 ||
	    !(l = strstr(l, "Swap:")) || sscanf(l, "Swap: %llu %llu", &x, &swap_used) != 2) {
		strbuf_release(&mi);
		strbuf_release(&fr);
		snprintf(err, errlen, "exercise scenario: free --old output not understood");
		return VM_EINVAL;
	}
	add_field(ex, "mem_used", EXF_DEC, mem_used);
	add_field(ex, "app_used", EXF_DEC, app_used);
	add_field(ex, "app_free", EXF_DEC, app_free);
	add_field(ex, "swap_used", EXF_DEC, swap_used);
	solution_fields(ex);
	strbuf_addf(&ex->solution,
	            "Mem used  = MemTotal - MemFree = %llu - %llu = %llu\n"
	            "-/+ used  = used - Buffers - Cached = %llu - %llu - %llu = %llu\n"
	            "-/+ free  = MemFree + Buffers + Cached = %llu + %llu + %llu = %llu\n"
	            "Swap used = SwapTotal - SwapFree = %llu - %llu = %llu\n"
	            "free --old prints:\n%s",
	            (unsigned long long)total, (unsigned long long)freek, mem_used, mem_used,
	            (unsigned long long)buf, (unsigned long long)cached, app_used,
	            (unsigned long long)freek, (unsigned long long)buf, (unsigned long long)cached,
	            app_free, (unsigned long long)st, (unsigned long long)sf, swap_used,
	            fr.buf ? fr.buf : "");
	strbuf_release(&mi);
	strbuf_release(&fr);
	return VM_OK;
}

/* ---- address translation (pgtable.c walks) ---- */

static enum vm_err op_spawn(struct machine *m, uint32_t *pid, char *err, size_t errlen)
{
	struct op op = {.kind = OP_SPAWN};
	snprintf(op.u.spawn.name, NAME_LEN, "a.out");
	struct op_result res;
	enum vm_err e = scratch_apply(m, &op, &res, err, errlen);
	*pid = (uint32_t)res.value;
	return e;
}

static enum vm_err op_mmap_anon(struct machine *m, uint32_t pid, uint64_t len, uint64_t *addr,
                                char *err, size_t errlen)
{
	struct op op = {.kind = OP_MMAP};
	op.u.mmap.pid = pid;
	op.u.mmap.len = len;
	op.u.mmap.prot = PROT_READ_ | PROT_WRITE_;
	op.u.mmap.flags = MAP_PRIVATE_ | MAP_ANONYMOUS_;
	struct op_result res;
	enum vm_err e = scratch_apply(m, &op, &res, err, errlen);
	*addr = res.value;
	return e;
}

static enum vm_err op_touch(struct machine *m, uint32_t pid, uint64_t va, enum access_kind kind,
                            struct op_result *res, char *err, size_t errlen)
{
	struct op op = {.kind = OP_ACCESS};
	op.u.access.pid = pid;
	op.u.access.addr = va;
	op.u.access.kind = kind;
	return scratch_apply(m, &op, res, err, errlen);
}

/* One table of the walk: the entry used and its neighbours, so the index must be found. */
static void show_table(struct strbuf *sb, const struct machine *m, const struct walk_step *st,
                       unsigned pick)
{
	unsigned n = pt_entries(m), lo = st->index >= pick ? st->index - pick : 0;
	unsigned hi = lo + 3 < n ? lo + 3 : n - 1;
	if (hi - lo < 3 && hi >= 3)
		lo = hi - 3;
	strbuf_addf(sb, "  %s table at pfn %#x:", pt_level_name(m, st->level), st->table_pfn);
	for (unsigned i = lo; i <= hi; i++)
		strbuf_addf(sb, "  [%u] %#llx", i,
		            (unsigned long long)pt_read(m, st->table_pfn, i));
	strbuf_adds(sb, "\n");
}

static enum vm_err gen_translate(struct exercise *ex, struct ex_rng *r, struct machine *m,
                                 char *err, size_t errlen)
{
	uint32_t pid;
	uint64_t base;
	unsigned pages = rng_range(r, 8, 64), touched[6], ntouched = rng_range(r, 2, 6);
	enum vm_err e = op_spawn(m, &pid, err, errlen);
	if (!e)
		e = op_mmap_anon(m, pid, (uint64_t)pages << PAGE_SHIFT, &base, err, errlen);
	for (unsigned i = 0; i < ntouched && !e; i++) {
		struct op_result res;
		touched[i] = rng_range(r, 0, pages - 1);
		e = op_touch(m, pid, base + ((uint64_t)touched[i] << PAGE_SHIFT), ACCESS_WRITE,
		             &res, err, errlen);
	}
	if (e)
		return e;
	/* The address to translate: a page that was written, at a random offset. */
	struct walk_trace t;
	uint64_t va = base + ((uint64_t)touched[rng_range(r, 0, ntouched - 1)] << PAGE_SHIFT) +
	              rng_range(r, 0, PAGE_SIZE - 1);
	if (translate(m, pid, va, &t) != VM_OK || t.fail_level >= 0) {
		snprintf(err, errlen, "exercise scenario: a written page does not translate");
		return VM_EINVAL;
	}
	/* And one whose walk stops: an untouched page of the mapping (the pte is empty) or an
	 * address far from any mapping (an upper level is empty). */
	uint64_t far = 0;
	struct walk_trace tf = {.fail_level = -1};
	if (rng_range(r, 0, 1))
		for (unsigned i = 0; i < pages && tf.fail_level < 0; i++) {
			far = base + ((uint64_t)((i + touched[0]) % pages) << PAGE_SHIFT);
			translate(m, pid, far, &tf);
		}
	if (tf.fail_level < 0) {
		far = m->cfg.arch == ARCH_I386
		          ? 0x40000000ull + ((uint64_t)rng_range(r, 0, 255) << 22)
		          : ((uint64_t)rng_range(r, 1, 200) << 39);
		far += (uint64_t)rng_range(r, 0, 1023) << PAGE_SHIFT;
		if (translate(m, pid, far, &tf) != VM_OK || tf.fail_level < 0) {
			snprintf(err, errlen, "exercise scenario: the far address is mapped");
			return VM_EINVAL;
		}
	}
	unsigned levels = pt_levels(m);
	strbuf_addf(&ex->question,
	            "%s paging (%s). Process %u has written a few pages of an anonymous mapping.\n"
	            "The tables on its walks (entries: physical frame << 12 | flags; 0 = not "
	            "present):\n",
	            m->cfg.arch == ARCH_I386 ? "i386 2-level" : "x86_64 4-level",
	            m->cfg.arch == ARCH_I386 ? "10/10/12 bits" : "9/9/9/9/12 bits", pid);
	for (unsigned l = 0; l < t.nr; l++)
		show_table(&ex->question, m, &t.step[l], rng_range(r, 0, 3));
	strbuf_addf(&ex->question, "1. Translate %#llx: give the index at each level (",
	            (unsigned long long)va);
	for (unsigned l = 0; l < levels; l++)
		strbuf_addf(&ex->question, "%s%s", l ? ", " : "", pt_level_name(m, l));
	strbuf_addf(
	    &ex->question,
	    ") and the physical address.\n"
	    "2. A load from %#llx: at which level is the entry not present? Give the level\n"
	    "   number (%s = 0 ... %s = %u).\n",
	    (unsigned long long)far, pt_level_name(m, 0), pt_level_name(m, levels - 1), levels - 1);
	for (unsigned l = 0; l < levels; l++)
		add_field(ex, pt_level_name(m, l), EXF_DEC, t.step[l].index);
	add_field(ex, "phys", EXF_HEX, t.phys);
	add_field(ex, "fault_level", EXF_DEC, (uint64_t)tf.fail_level);
	solution_fields(ex);
	strbuf_addf(&ex->solution, "Walk of %#llx:\n", (unsigned long long)va);
	for (unsigned l = 0; l < t.nr; l++)
		strbuf_addf(&ex->solution,
		            "  %s index = (va >> %u) & %u = %u: entry %#llx -> pfn %#x\n",
		            pt_level_name(m, l), pt_shift(m, l), pt_entries(m) - 1, t.step[l].index,
		            (unsigned long long)t.step[l].entry, t.step[l].next_pfn);
	strbuf_addf(&ex->solution, "  phys = pfn << 12 | (va & 0xfff) = %#llx\n",
	            (unsigned long long)t.phys);
	strbuf_addf(&ex->solution,
	            "Walk of %#llx stops at the %s: entry [%u] is 0 (not present).\n",
	            (unsigned long long)far, pt_level_name(m, (unsigned)tf.fail_level),
	            tf.step[tf.nr ? tf.nr - 1 : 0].index);
	return VM_OK;
}

/* ---- copy-on-write after fork (fork.c, memory.c do_wp_page) ---- */

static enum vm_err gen_cow(struct exercise *ex, struct ex_rng *r, struct machine *m, char *err,
                           size_t errlen)
{
	uint32_t parent, child;
	uint64_t base;
	unsigned pages = rng_range(r, 4, 10);
	enum vm_err e = op_spawn(m, &parent, err, errlen);
	if (!e)
		e = op_mmap_anon(m, parent, (uint64_t)pages << PAGE_SHIFT, &base, err, errlen);
	struct op_result res;
	for (unsigned i = 0; i < pages && !e; i++)
		e = op_touch(m, parent, base + ((uint64_t)i << PAGE_SHIFT), ACCESS_WRITE, &res, err,
		             errlen);
	if (e)
		return e;
	struct op op = {.kind = OP_FORK};
	op.u.fork.pid = parent;
	if ((e = scratch_apply(m, &op, &res, err, errlen)))
		return e;
	child = (uint32_t)res.value;
	strbuf_addf(&ex->question,
	            "Process %u maps %u anonymous pages at %#llx and writes every one of them.\n"
	            "It then forks: the child is pid %u. After fork, in this order:\n",
	            parent, pages, (unsigned long long)base, child);
	unsigned nsteps = rng_range(r, 3, 7), cow = 0;
	uint64_t from = events_next_id(m);
	for (unsigned i = 0; i < nsteps; i++) {
		uint32_t who = rng_range(r, 0, 1) ? parent : child;
		unsigned pg = rng_range(r, 0, pages - 1);
		enum access_kind k = rng_range(r, 0, 3) ? ACCESS_WRITE : ACCESS_READ;
		if ((e = op_touch(m, who, base + ((uint64_t)pg << PAGE_SHIFT), k, &res, err,
		                  errlen)))
			return e;
		cow += res.fault == FAULT_COW;
		strbuf_addf(&ex->question, "  %u. pid %u %s page %u\n", i + 1, who,
		            k == ACCESS_WRITE ? "writes" : "reads", pg);
	}
	/* Frames behind the region: distinct pfns over both processes' PTEs. */
	uint32_t pfns[20];
	unsigned nframes = 0;
	for (unsigned p = 0; p < 2; p++)
		for (unsigned i = 0; i < pages; i++) {
			struct walk_trace t;
			if (translate(m, p ? child : parent, base + ((uint64_t)i << PAGE_SHIFT),
			              &t) ||
			    t.fail_level >= 0)
				continue;
			uint32_t pfn = (uint32_t)(t.phys >> PAGE_SHIFT);
			unsigned k = 0;
			while (k < nframes && pfns[k] != pfn)
				k++;
			if (k == nframes)
				pfns[nframes++] = pfn;
		}
	strbuf_adds(
	    &ex->question,
	    "Rules (mm/memory.c): fork shares every page read-only; a write to a shared\n"
	    "page is a COW fault and do_wp_page copies it to a new frame, unless the writer\n"
	    "is its only user left (then the page is reused, no copy, no COW fault).\n"
	    "Reads never copy. How many COW faults happened, and how many frames hold the\n"
	    "region's pages of both processes now?\n");
	add_field(ex, "cow_faults", EXF_DEC, cow);
	add_field(ex, "frames", EXF_DEC, nframes);
	solution_fields(ex);
	strbuf_adds(&ex->solution, "What the kernel did after fork:\n");
	explain_events(ex, m, from);
	return VM_OK;
}

/* ---- huge pages and the TLB (hugetlb.c, tlb.c): the seed's huge-page section ---- */

static enum vm_err op_access_range(struct machine *m, uint32_t pid, uint64_t va, uint64_t len,
                                   struct op_result *res, char *err, size_t errlen)
{
	struct op op = {.kind = OP_ACCESS_RANGE};
	op.u.access.pid = pid;
	op.u.access.addr = va;
	op.u.access.len = len;
	op.u.access.kind = ACCESS_WRITE;
	return scratch_apply(m, &op, res, err, errlen);
}

static enum vm_err op_mmap_huge(struct machine *m, uint32_t pid, uint64_t len, uint64_t *addr,
                                char *err, size_t errlen)
{
	struct op op = {.kind = OP_MMAP};
	op.u.mmap.pid = pid;
	op.u.mmap.len = len;
	op.u.mmap.prot = PROT_READ_ | PROT_WRITE_;
	op.u.mmap.flags = MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_HUGETLB_;
	struct op_result res;
	enum vm_err e = scratch_apply(m, &op, &res, err, errlen);
	*addr = res.value;
	return e;
}

static enum vm_err gen_hugepage(struct exercise *ex, struct ex_rng *r, struct machine *m, char *err,
                                size_t errlen)
{
	uint64_t hsz = huge_page_size(m);
	unsigned pool = rng_range(r, 3, 4), npages = rng_range(r, 2, pool);
	uint32_t pid;
	struct op op = {.kind = OP_SET_NR_HUGEPAGES};
	op.u.hugepages.count = pool;
	struct op_result res, small, huge;
	enum vm_err e = scratch_apply(m, &op, &res, err, errlen);
	if (!e)
		e = op_spawn(m, &pid, err, errlen);
	/* the same size twice: 4 KiB pages, then huge pages (MAP_HUGETLB) */
	uint64_t len = (uint64_t)npages * hsz, a4k = 0, ahuge = 0;
	if (!e)
		e = op_mmap_anon(m, pid, len, &a4k, err, errlen);
	if (!e)
		e = op_mmap_huge(m, pid, len, &ahuge, err, errlen);
	uint64_t rsvd_after_mmap = m->hugetlb.resv_huge_pages;
	if (!e)
		e = op_access_range(m, pid, a4k, len, &small, err, errlen);
	/* only the first huge page is written: the others stay reserved */
	if (!e)
		e = op_access_range(m, pid, ahuge, hsz, &huge, err, errlen);
	if (e)
		return e;
	uint64_t off = (uint64_t)rng_range(r, 0, (unsigned)(hsz >> PAGE_SHIFT) - 1) << PAGE_SHIFT;
	uint64_t va = ahuge + off + rng_range(r, 0, PAGE_SIZE - 1);
	struct walk_trace t;
	if (translate(m, pid, va, &t) != VM_OK || t.fail_level >= 0 || !pte_huge(t.pte)) {
		snprintf(err, errlen, "exercise scenario: the huge page does not translate");
		return VM_EINVAL;
	}
	const struct walk_step *leaf = &t.step[t.nr - 1];
	const char *size = m->cfg.arch == ARCH_I386 ? "4 MiB" : "2 MiB";
	strbuf_addf(
	    &ex->question,
	    "%s paging, one CPU, a %u-entry %u-way TLB that holds 4 KiB and huge\n"
	    "translations alike. `echo %u > /proc/sys/vm/nr_hugepages` filled the pool with\n"
	    "%s pages. Process %u maps %llu MiB twice: mmap(MAP_PRIVATE|MAP_ANONYMOUS) at\n"
	    "%#llx and mmap(MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB) at %#llx.\n"
	    "1. HugePages_Rsvd right after the second mmap?\n"
	    "2. A loop writes one byte in every 4 KiB of the first mapping, starting with an\n"
	    "   empty TLB: how many TLB misses?\n"
	    "3. The same loop over the first huge page of the second mapping only: misses?\n"
	    "4. The %s entry that maps that huge page is %#llx.\n"
	    "   Give its index for %#llx and the physical address.\n",
	    m->cfg.arch == ARCH_I386 ? "i386 2-level (PSE)" : "x86_64 4-level", m->cfg.tlb_entries,
	    m->cfg.tlb_ways, pool, size, pid, (unsigned long long)(len >> 20),
	    (unsigned long long)a4k, (unsigned long long)ahuge, pt_level_name(m, leaf->level),
	    (unsigned long long)leaf->entry, (unsigned long long)va);
	add_field(ex, "rsvd", EXF_DEC, rsvd_after_mmap);
	add_field(ex, "misses_4k", EXF_DEC, small.tlb_misses);
	add_field(ex, "misses_huge", EXF_DEC, huge.tlb_misses);
	add_field(ex, pt_level_name(m, leaf->level), EXF_DEC, leaf->index);
	add_field(ex, "phys", EXF_HEX, t.phys);
	solution_fields(ex);
	strbuf_addf(
	    &ex->solution,
	    "1. MAP_HUGETLB reserves every huge page of the range at mmap time: %llu.\n"
	    "2. Every 4 KiB page is a translation of its own: %u misses (each followed by a\n"
	    "   page fault), whatever the TLB's size, since no page is touched twice.\n"
	    "3. One entry covers the whole %s page: %u miss, then %u hits.\n"
	    "4. The walk ends at the %s, whose entry has the PSE bit (0x80): index =\n"
	    "   (va >> %u) & %u = %u; phys = the entry's frame | (va & %#llx) = %#llx.\n",
	    (unsigned long long)rsvd_after_mmap, small.tlb_misses, size, huge.tlb_misses,
	    huge.tlb_hits, pt_level_name(m, leaf->level), pt_shift(m, leaf->level),
	    pt_entries(m) - 1, leaf->index, (unsigned long long)(hsz - 1),
	    (unsigned long long)t.phys);
	return VM_OK;
}

/* ---- topic table ---- */

typedef enum vm_err (*exercise_gen)(struct exercise *ex, struct ex_rng *r, struct machine *m,
                                    char *err, size_t errlen);

/*
 * What to look at again when a part is wrong, in the kernel's terms. Graded feedback without
 * solve rights says which parts are wrong and gives this, never the values.
 */
static const char *const topic_hints[EX_NR_TOPICS] = {
    [EX_BUDDY_ALLOC] = "__rmqueue_smallest() takes the head of the smallest free list whose "
                       "order fits, and expand() puts each upper half back one order down.",
    [EX_BUDDYINFO] = "__free_one_page() merges a freed block with its buddy (pfn ^ (1 << order)) "
                     "while the buddy is free at the same order; buddyinfo counts the blocks "
                     "left on each order's free list.",
    [EX_SLAB] = "calculate_slab_order(): the object size rounded up to the cache's alignment, "
                "then the smallest slab order that wastes little; every slab holds "
                "objperslab objects.",
    [EX_REPLACEMENT] = "replay the string one reference at a time: a hit needs the page in a "
                       "frame already; on a miss with every frame full the policy's rule picks "
                       "the victim.",
    [EX_FREE] = "procps-ng free: used = total - free - buffers - cache, from the meminfo lines "
                "of the question; -/+ buffers/cache counts the page cache as free.",
    [EX_TRANSLATE] = "split the address into one index per level (i386 10/10/12 bits, x86_64 "
                     "9/9/9/9/12); the walk stops at the first entry without _PAGE_PRESENT, "
                     "and phys is the leaf's frame plus the page offset.",
    [EX_COW] = "copy_page_range() shares private pages read-only at fork; a write to a shared "
               "page faults and do_wp_page() copies it unless the writer holds the only "
               "reference.",
    [EX_HUGEPAGE] = "mmap(MAP_HUGETLB) reserves its pages (HugePages_Rsvd) until faults take "
                    "them; one TLB entry covers a huge page, and the walk ends at the level "
                    "whose entry has _PAGE_PSE.",
};

static const struct topic {
	const char *name;
	const char *summary;
	exercise_gen gen;
	int random_arch; /* 1: i386 or x86_64 by seed; 0: x86_64 */
} topics[EX_NR_TOPICS] = {
    [EX_BUDDY_ALLOC] = {"buddy", "which pfn does each alloc_pages() call return?", gen_buddy_alloc,
                        1},
    [EX_BUDDYINFO] = {"buddyinfo", "what does /proc/buddyinfo show after these frees?",
                      gen_buddyinfo, 1},
    [EX_SLAB] = {"slab", "objects per slab, pages per slab, slabs for N objects", gen_slab, 0},
    [EX_REPLACEMENT] = {"replacement",
                        "hit or miss at each reference under FIFO, LRU, OPT, "
                        "CLOCK or MRU",
                        gen_replacement, 0},
    [EX_FREE] = {"free", "the seed's free arithmetic: used and -/+ buffers/cache from meminfo",
                 gen_free, 0},
    [EX_TRANSLATE] = {"translate",
                      "page-walk indices and physical address; the level that "
                      "faults",
                      gen_translate, 1},
    [EX_COW] = {"cow", "COW faults and frames after fork and writes", gen_cow, 0},
    [EX_HUGEPAGE] = {"hugepage",
                     "TLB misses with 4 KiB and huge pages, HugePages_Rsvd, the PSE walk",
                     gen_hugepage, 1},
};

const char *exercise_topic_name(enum exercise_topic t)
{
	return (unsigned)t < EX_NR_TOPICS ? topics[t].name : NULL;
}

const char *exercise_topic_summary(enum exercise_topic t)
{
	return (unsigned)t < EX_NR_TOPICS ? topics[t].summary : NULL;
}

int exercise_topic_parse(const char *name)
{
	for (unsigned t = 0; name && t < EX_NR_TOPICS; t++)
		if (!strcmp(name, topics[t].name))
			return (int)t;
	return -1;
}

enum vm_err exercise_new(enum exercise_topic t, uint64_t seed, struct exercise *ex, char *err,
                         size_t errlen)
{
	memset(ex, 0, sizeof(*ex));
	strbuf_init(&ex->question);
	strbuf_init(&ex->solution);
	if ((unsigned)t >= EX_NR_TOPICS) {
		snprintf(err, errlen, "unknown exercise topic %d", (int)t);
		return VM_EINVAL;
	}
	ex->topic = t;
	ex->seed = seed;
	struct ex_rng r;
	rng_seed(&r, seed, t);
	enum machine_arch arch =
	    topics[t].random_arch && (rng_next(&r) & 1) ? ARCH_I386 : ARCH_X86_64;
	struct machine *m = scratch_new(arch, 64ull << 20, seed, err, errlen);
	if (!m)
		return VM_ENOMEM;
	strbuf_addf(&ex->question, "[%s exercise, seed %llu]\n", topics[t].name,
	            (unsigned long long)seed);
	enum vm_err e = topics[t].gen(ex, &r, m, err, errlen);
	machine_destroy(m);
	if (e) {
		exercise_release(ex);
		strbuf_init(&ex->question);
		strbuf_init(&ex->solution);
		ex->nfields = 0;
	}
	return e;
}

void exercise_release(struct exercise *ex)
{
	strbuf_release(&ex->question);
	strbuf_release(&ex->solution);
}

/* ---- answers ---- */

void exercise_format_value(const struct exercise_field *f, uint64_t v, char *buf, size_t len)
{
	switch (f->kind) {
	case EXF_HEX:
		snprintf(buf, len, "%#llx", (unsigned long long)v);
		break;
	case EXF_HITMISS:
		snprintf(buf, len, "%s", v ? "H" : "M");
		break;
	default:
		snprintf(buf, len, "%llu", (unsigned long long)v);
		break;
	}
}

/* Reads one value of the field's kind; 0 on success. */
static int parse_value(const struct exercise_field *f, const char *tok, uint64_t *out)
{
	if (f->kind == EXF_HITMISS) {
		if (!strcasecmp(tok, "h") || !strcasecmp(tok, "hit") || !strcmp(tok, "1")) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(tok, "m") || !strcasecmp(tok, "miss") || !strcmp(tok, "0")) {
			*out = 0;
			return 0;
		}
		return -1;
	}
	if (!isdigit((unsigned char)tok[0]))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(tok, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int field_index(const struct exercise *ex, const char *name, size_t n)
{
	for (unsigned i = 0; i < ex->nfields; i++)
		if (strlen(ex->field[i].name) == n && !strncasecmp(ex->field[i].name, name, n))
			return (int)i;
	return -1;
}

/* One line of feedback; the kernel's value only when the caller may see solutions. */
static void grade_field(const struct exercise_field *f, int have, uint64_t got, int reveal,
                        struct exercise_verdict *v)
{
	char want[32], gave[32];
	exercise_format_value(f, f->value, want, sizeof(want));
	if (!have) {
		if (reveal)
			strbuf_addf(&v->feedback, "%s: missing (the kernel gave %s)\n", f->name,
			            want);
		else
			strbuf_addf(&v->feedback, "%s: missing\n", f->name);
		return;
	}
	exercise_format_value(f, got, gave, sizeof(gave));
	if (got == f->value) {
		v->right++;
		strbuf_addf(&v->feedback, "%s: %s right\n", f->name, gave);
	} else if (reveal) {
		strbuf_addf(&v->feedback, "%s: %s wrong, the kernel gave %s\n", f->name, gave,
		            want);
	} else {
		strbuf_addf(&v->feedback, "%s: %s wrong\n", f->name, gave);
	}
}

enum vm_err exercise_check(const struct exercise *ex, const char *answer, int reveal,
                           struct exercise_verdict *v, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	strbuf_init(&v->feedback);
	uint64_t got[EXERCISE_MAX_FIELDS];
	int have[EXERCISE_MAX_FIELDS] = {0};
	unsigned pos = 0;
	const char *p = answer ? answer : "";
	char tok[64];
	while (*p) {
		size_t n = strcspn(p, " \t\r\n,;");
		if (!n) {
			p++;
			continue;
		}
		if (n >= sizeof(tok)) {
			snprintf(err, errlen, "answer token \"%.20s...\" is too long", p);
			return VM_EINVAL;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		/* "MMHHM": hit/miss letters written together, one per positional field. */
		if (n > 1 && strspn(tok, "HhMm") == n && pos < ex->nfields &&
		    ex->field[pos].kind == EXF_HITMISS) {
			if (pos + n > ex->nfields) {
				snprintf(
				    err, errlen,
				    "too many values: this exercise asks for %u (\"%s\" has %zu "
				    "letters)",
				    ex->nfields, tok, n);
				return VM_EINVAL;
			}
			for (size_t i = 0; i < n; i++, pos++) {
				got[pos] = tok[i] == 'H' || tok[i] == 'h';
				have[pos] = 1;
			}
			continue;
		}
		const char *val = tok;
		int idx;
		char *eq = strchr(tok, '=');
		if (eq) {
			idx = field_index(ex, tok, (size_t)(eq - tok));
			if (idx < 0) {
				snprintf(err, errlen, "no field named \"%.*s\" in this exercise",
				         (int)(eq - tok), tok);
				return VM_EINVAL;
			}
			val = eq + 1;
		} else {
			if (pos >= ex->nfields) {
				snprintf(
				    err, errlen,
				    "too many values: this exercise asks for %u (extra \"%s\")",
				    ex->nfields, tok);
				return VM_EINVAL;
			}
			idx = (int)pos++;
		}
		const struct exercise_field *f = &ex->field[idx];
		if (parse_value(f, val, &got[idx])) {
			snprintf(err, errlen, "cannot read \"%s\" as %s for %s", val,
			         f->kind == EXF_HITMISS ? "H or M"
			         : f->kind == EXF_HEX   ? "a number (hex as 0x...)"
			                                : "a number",
			         f->name);
			return VM_EINVAL;
		}
		have[idx] = 1;
	}
	v->total = ex->nfields;
	for (unsigned i = 0; i < ex->nfields; i++)
		grade_field(&ex->field[i], have[i], got[i], reveal, v);
	v->correct = v->right == v->total;
	strbuf_addf(&v->feedback, "%u of %u right%s\n", v->right, v->total,
	            v->correct ? ": correct" : "");
	if (!v->correct && !reveal)
		strbuf_addf(&v->feedback, "Hint: %s\n", topic_hints[ex->topic]);
	return VM_OK;
}

void exercise_verdict_release(struct exercise_verdict *v)
{
	strbuf_release(&v->feedback);
}
