/*
 * The TLB model: sets * ways entries caching vpn -> pfn with the rights of the PTE they came
 * from. Hardware fills it on a page walk; the kernel must flush what it downgrades (invlpg)
 * and everything on a CR3 reload. machine_check proves no stale entry survives.
 */
#include "tlb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "snapshot.h"

int tlb_init(struct machine *m)
{
	struct tlb_state *t = &m->tlb;
	t->entries = m->cfg.tlb_entries;
	t->ways = m->cfg.tlb_ways;
	t->sets = t->entries / t->ways;
	t->clock = 0;
	t->mm_id = 0;
	t->e = calloc(t->entries, sizeof(*t->e));
	return t->e ? 0 : -1;
}

void tlb_release(struct machine *m)
{
	free(m->tlb.e);
	m->tlb.e = NULL;
}

static struct tlb_entry *tlb_set(struct tlb_state *t, uint64_t vpn)
{
	return &t->e[(vpn % t->sets) * t->ways];
}

/* The virtual page number of va at the entry's page size. */
static uint64_t tlb_vpn(const struct machine *m, uint64_t va, uint32_t flags)
{
	return va >> ((flags & TLB_HUGE) ? PAGE_SHIFT + huge_page_order(m) : PAGE_SHIFT);
}

static struct tlb_entry *tlb_find(struct machine *m, uint64_t va, uint32_t huge)
{
	struct tlb_state *t = &m->tlb;
	uint64_t vpn = tlb_vpn(m, va, huge);
	struct tlb_entry *set = tlb_set(t, vpn);
	for (uint32_t w = 0; w < t->ways; w++)
		if (set[w].stamp && set[w].vpn == vpn && (set[w].flags & TLB_HUGE) == huge)
			return &set[w];
	return NULL;
}

const struct tlb_entry *tlb_lookup(struct machine *m, uint64_t va)
{
	struct tlb_entry *e = tlb_find(m, va, 0);
	if (!e)
		e = tlb_find(m, va, TLB_HUGE);
	if (!e) {
		count_vm_event(m, VMSIM_TLB_MISS);
		return NULL;
	}
	e->stamp = ++m->tlb.clock;
	count_vm_event(m, VMSIM_TLB_HIT);
	return e;
}

uint32_t tlb_entry_pfn(const struct machine *m, const struct tlb_entry *e, uint64_t va)
{
	if (!(e->flags & TLB_HUGE))
		return e->pfn;
	return e->pfn + (uint32_t)((va >> PAGE_SHIFT) & ((1u << huge_page_order(m)) - 1));
}

/* Fills after a walk: the entry for vpn if present, else a free way, else the LRU way. */
void tlb_fill(struct machine *m, uint64_t va, uint32_t pfn, uint32_t flags)
{
	struct tlb_state *t = &m->tlb;
	uint64_t vpn = tlb_vpn(m, va, flags);
	struct tlb_entry *set = tlb_set(t, vpn), *victim = &set[0];
	for (uint32_t w = 0; w < t->ways; w++) {
		if (set[w].stamp && set[w].vpn == vpn &&
		    (set[w].flags & TLB_HUGE) == (flags & TLB_HUGE)) {
			victim = &set[w];
			break;
		}
		if (victim->stamp && (!set[w].stamp || set[w].stamp < victim->stamp))
			victim = &set[w];
	}
	victim->vpn = vpn;
	victim->pfn = pfn;
	victim->flags = flags;
	victim->stamp = ++t->clock;
}

void flush_tlb_all(struct machine *m, uint32_t mm_id)
{
	struct tlb_state *t = &m->tlb;
	memset(t->e, 0, t->entries * sizeof(*t->e));
	t->mm_id = mm_id;
	count_vm_event(m, VMSIM_TLB_FLUSH_ALL);
	ev_emit(m, EV_TLB_FLUSH, mm_id, t->entries, 0, NULL);
}

void flush_tlb_page(struct machine *m, uint32_t mm_id, uint64_t va)
{
	struct tlb_state *t = &m->tlb;
	if (mm_id != t->mm_id)
		return; /* not loaded: the next CR3 load flushes anyway */
	count_vm_event(m, VMSIM_TLB_FLUSH_ONE);
	for (uint32_t huge = 0; huge <= TLB_HUGE; huge += TLB_HUGE) {
		struct tlb_entry *e = tlb_find(m, va, huge);
		if (e) {
			memset(e, 0, sizeof(*e));
			ev_emit(m, EV_INVLPG, va, 0, 0, NULL);
		}
	}
}

int tlb_check(const struct machine *m, char *buf, size_t len)
{
	const struct tlb_state *t = &m->tlb;
	const struct mm_struct *mm = t->mm_id ? mm_by_id(m, t->mm_id) : NULL;
	for (uint32_t i = 0; i < t->entries; i++) {
		const struct tlb_entry *e = &t->e[i];
		if (!e->stamp)
			continue;
		uint64_t va = e->vpn
		              << (PAGE_SHIFT + ((e->flags & TLB_HUGE) ? huge_page_order(m) : 0));
		struct pte_ref ref;
		uint64_t pte = 0;
		if (mm && pt_lookup(m, mm, va, &ref, NULL) == 0)
			pte = pt_read(m, ref.tpfn, ref.idx);
		int ok = pte_present(pte) && pte_pfn(m, pte) == e->pfn &&
		         !pte_huge(pte) == !(e->flags & TLB_HUGE) &&
		         (!(e->flags & TLB_RW) || (pte & _PAGE_RW)) &&
		         (!(e->flags & TLB_DIRTY) || (pte & _PAGE_DIRTY));
		if (!ok) {
			snprintf(buf, len, "stale TLB entry: va %#llx -> pfn %#x (pte %#llx)",
			         (unsigned long long)va, e->pfn, (unsigned long long)pte);
			return -1;
		}
	}
	return 0;
}

void tlb_save(const struct machine *m, struct snap_writer *w)
{
	const struct tlb_state *t = &m->tlb;
	snap_put_u32(w, t->clock);
	snap_put_u32(w, t->mm_id);
	for (uint32_t i = 0; i < t->entries; i++) {
		snap_put_u64(w, t->e[i].vpn);
		snap_put_u32(w, t->e[i].pfn);
		snap_put_u32(w, t->e[i].stamp);
		snap_put_u32(w, t->e[i].flags);
	}
}

int tlb_load(struct machine *m, struct snap_reader *r)
{
	struct tlb_state *t = &m->tlb;
	t->clock = snap_get_u32(r);
	t->mm_id = snap_get_u32(r);
	for (uint32_t i = 0; i < t->entries; i++) {
		t->e[i].vpn = snap_get_u64(r);
		t->e[i].pfn = snap_get_u32(r);
		t->e[i].stamp = snap_get_u32(r);
		t->e[i].flags = snap_get_u32(r);
	}
	return r->err ? -1 : 0;
}
