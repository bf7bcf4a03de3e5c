/*
 * Randomized test of the physical-memory core: 100,000+ mixed ops (alloc_pages/free_pages,
 * kmalloc/kfree, cache create/alloc/free/shrink/destroy, vmalloc/vfree, and bad inputs of
 * every kind) on small machines, with machine_check after every op, snapshot round trips
 * along the way, and a replay that must end byte-identical.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "snapshot.h"

#define MAX_LIVE 512

struct live {
	uint64_t v[MAX_LIVE];
	uint32_t aux[MAX_LIVE]; /* order for pages, cache index for objects */
	int n;
};

struct world {
	struct machine *m;
	uint64_t rng;
	struct live pages, kmem, objs, vm;
	char caches[4][NAME_LEN];
	int cache_live[4];
	uint64_t ok, failed, failed_with_work;
	/* With record set: every op that took a seq, as the server's journal keeps them. */
	int record;
	struct op *journal;
	size_t njournal, capjournal;
};

static uint64_t rnd(struct world *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static uint64_t pick(struct world *w, uint64_t n)
{
	return rnd(w) % n;
}

static void live_add(struct live *l, uint64_t v, uint32_t aux)
{
	if (l->n < MAX_LIVE) {
		l->v[l->n] = v;
		l->aux[l->n++] = aux;
	}
}

static void live_del(struct live *l, int i)
{
	l->v[i] = l->v[--l->n];
	l->aux[i] = l->aux[l->n];
}

/*
 * Applies op; a refused op must leave the sequence number alone, one that failed partway
 * takes the next like a success. Checks the machine either way.
 */
static enum vm_err step(struct world *w, const struct op *op, struct op_result *r)
{
	uint64_t seq = machine_seq(w->m);
	enum vm_err e = machine_apply(w->m, op, r);
	char buf[512];
	if (machine_check(w->m, buf, sizeof(buf)))
		fail_msg("after op %#x (%s): machine_check: %s", op->kind, vm_strerror(e), buf);
	assert_int_equal(machine_seq(w->m), r->seq ? seq + 1 : seq);
	if (!e)
		assert_int_not_equal(r->seq, 0);
	if (e) {
		assert_true(r->msg[0] != '\0');
		w->failed++;
		if (r->seq)
			assert_failed_with_work(w->m, r, seq);
		w->failed_with_work += r->seq != 0;
	} else {
		w->ok++;
	}
	if (w->record && r->seq) {
		if (w->njournal == w->capjournal) {
			w->capjournal = w->capjournal ? 2 * w->capjournal : 256;
			w->journal = realloc(w->journal, w->capjournal * sizeof(*op));
			assert_non_null(w->journal);
		}
		w->journal[w->njournal++] = *op;
	}
	return e;
}

static void do_pages(struct world *w)
{
	struct op op = {0};
	struct op_result r;
	if (w->pages.n && pick(w, 2)) {
		int i = (int)pick(w, (uint64_t)w->pages.n);
		op.kind = OP_FREE_PAGES;
		op.u.free_pages.pfn = w->pages.v[i];
		op.u.free_pages.order = w->pages.aux[i];
		int bad = pick(w, 8) == 0;
		if (bad)
			op.u.free_pages.order ^= 1; /* wrong order: must be refused */
		if (step(w, &op, &r) == VM_OK) {
			assert_false(bad);
			live_del(&w->pages, i);
		}
		return;
	}
	static const uint32_t gfps[] = {GFP_KERNEL, GFP_DMA, GFP_HIGHUSER, GFP_ATOMIC, GFP_DMA32};
	op.kind = OP_ALLOC_PAGES;
	op.u.alloc_pages.gfp = gfps[pick(w, ARRAY_SIZE(gfps))];
	op.u.alloc_pages.order = (uint32_t)(pick(w, 4) ? pick(w, 2) : pick(w, 5));
	if (step(w, &op, &r) == VM_OK)
		live_add(&w->pages, r.value, op.u.alloc_pages.order);
}

static void do_kmalloc(struct world *w)
{
	struct op op = {0};
	struct op_result r;
	if (w->kmem.n && pick(w, 2)) {
		int i = (int)pick(w, (uint64_t)w->kmem.n);
		op.kind = OP_KFREE;
		op.u.kfree.addr = w->kmem.v[i];
		if (step(w, &op, &r) == VM_OK)
			live_del(&w->kmem, i);
		else
			fail_msg("kfree of a live object failed: %s", r.msg);
		if (pick(w, 4) == 0) /* the same address again: double free or not ours */
			assert_int_not_equal(step(w, &op, &r), VM_OK);
		return;
	}
	op.kind = OP_KMALLOC;
	uint64_t size = pick(w, 10) ? 1 + pick(w, 512) : 1 + pick(w, KMALLOC_MAX_SIZE + 64);
	op.u.kmalloc.size = size;
	op.u.kmalloc.gfp = pick(w, 4) ? GFP_KERNEL : GFP_ATOMIC;
	enum vm_err e = step(w, &op, &r);
	if (e == VM_OK) {
		assert_true(ksize(w->m, r.value) >= size);
		live_add(&w->kmem, r.value, 0);
	} else if (size <= KMALLOC_MAX_SIZE) {
		assert_int_equal(e, VM_ENOMEM);
	}
}

static void do_cache(struct world *w)
{
	struct op op = {0};
	struct op_result r;
	int c = (int)pick(w, 4);
	uint64_t what = pick(w, 10);
	if (!w->cache_live[c] || what == 0) {
		op.kind = OP_KMEM_CACHE_CREATE;
		snprintf(op.u.cache_create.name, NAME_LEN, "%s", w->caches[c]);
		op.u.cache_create.size = (uint32_t)(8 + pick(w, 3000));
		op.u.cache_create.align = pick(w, 2) ? 0 : 1u << pick(w, 7);
		if (step(w, &op, &r) == VM_OK) {
			assert_false(w->cache_live[c]);
			w->cache_live[c] = 1;
		}
		return;
	}
	snprintf(op.u.cache.name, NAME_LEN, "%s", w->caches[c]);
	if (what < 6) {
		if (w->objs.n >= MAX_LIVE) /* an untracked object would make destroy look wrong */
			return;
		op.kind = OP_KMEM_CACHE_ALLOC;
		if (step(w, &op, &r) == VM_OK)
			live_add(&w->objs, r.value, (uint32_t)c);
	} else if (what < 8) {
		for (int i = 0; i < w->objs.n; i++) {
			if (w->objs.aux[i] != (uint32_t)c)
				continue;
			op.kind = OP_KMEM_CACHE_FREE;
			op.u.cache.addr = w->objs.v[i];
			if (step(w, &op, &r) != VM_OK)
				fail_msg("kmem_cache_free of a live object failed: %s", r.msg);
			live_del(&w->objs, i);
			break;
		}
	} else if (what == 8) {
		op.kind = OP_KMEM_CACHE_SHRINK;
		step(w, &op, &r);
	} else {
		int has = 0;
		for (int i = 0; i < w->objs.n; i++)
			has |= w->objs.aux[i] == (uint32_t)c;
		op.kind = OP_KMEM_CACHE_DESTROY;
		enum vm_err e = step(w, &op, &r);
		assert_int_equal(e, has ? VM_EBUSY : VM_OK);
		if (e == VM_OK)
			w->cache_live[c] = 0;
	}
}

static void do_vmalloc(struct world *w)
{
	struct op op = {0};
	struct op_result r;
	if (w->vm.n && pick(w, 2)) {
		int i = (int)pick(w, (uint64_t)w->vm.n);
		op.kind = OP_VFREE;
		op.u.vfree.addr = w->vm.v[i] + (pick(w, 8) == 0 ? PAGE_SIZE : 0);
		if (step(w, &op, &r) == VM_OK)
			live_del(&w->vm, i);
		return;
	}
	op.kind = OP_VMALLOC;
	op.u.vmalloc.size = 1 + pick(w, 16 * PAGE_SIZE);
	if (step(w, &op, &r) == VM_OK)
		live_add(&w->vm, r.value, 0);
}

/* Addresses nobody owns: every one must be refused, and change nothing. */
static void do_bad(struct world *w)
{
	struct op op = {0};
	struct op_result r;
	uint64_t addr = rnd(w);
	switch (pick(w, 4)) {
	case 0:
		op.kind = OP_KFREE;
		op.u.kfree.addr =
		    page_offset(w->m) + (addr % (machine_nr_frames(w->m) * PAGE_SIZE) |
		                         1); /* odd: never an object start */
		break;
	case 1:
		op.kind = OP_VFREE;
		op.u.vfree.addr = vmalloc_start(w->m) + (addr % (1 << 24)) * PAGE_SIZE + 8;
		break;
	case 2:
		op.kind = OP_FREE_PAGES;
		op.u.free_pages.pfn = addr % (machine_nr_frames(w->m) + 16);
		op.u.free_pages.order = 11;
		break;
	default:
		op.kind = OP_KMEM_CACHE_ALLOC;
		snprintf(op.u.cache.name, NAME_LEN, "nonexistent");
		break;
	}
	assert_int_not_equal(step(w, &op, &r), VM_OK);
}

static void run(struct world *w, enum machine_arch arch, uint64_t ram, int nops)
{
	w->m = new_machine(arch, ram);
	for (int c = 0; c < 4; c++)
		snprintf(w->caches[c], NAME_LEN, "rand-%d", c);
	for (int i = 0; i < nops; i++) {
		uint64_t k = pick(w, 20);
		if (k < 5)
			do_pages(w);
		else if (k < 11)
			do_kmalloc(w);
		else if (k < 16)
			do_cache(w);
		else if (k < 19)
			do_vmalloc(w);
		else
			do_bad(w);
	}
}

static void roundtrip(const struct machine *m, uint8_t **out, size_t *len)
{
	assert_int_equal(machine_save(m, out, len), 0);
	char err[256];
	struct machine *copy = machine_load(*out, *len, err, sizeof(err));
	if (!copy)
		fail_msg("machine_load: %s", err);
	uint8_t *again;
	size_t alen;
	machine_save(copy, &again, &alen);
	assert_int_equal(alen, *len);
	assert_memory_equal(again, *out, alen);
	free(again);
	machine_destroy(copy);
}

static void test_random_x86_64(void **state)
{
	(void)state;
	struct world w = {.rng = 0x1234567};
	run(&w, ARCH_X86_64, 8ull << 20, 60000);
	assert_true(w.ok > 30000);
	assert_true(w.failed > 3000);
	uint8_t *buf;
	size_t len;
	roundtrip(w.m, &buf, &len);
	free(buf);
	machine_destroy(w.m);
}

static void test_random_i386(void **state)
{
	(void)state;
	struct world w = {.rng = 0xabcdef};
	run(&w, ARCH_I386, 6ull << 20, 45000);
	assert_true(w.ok > 20000);
	machine_destroy(w.m);
}

/*
 * Same seed, same ops: byte-identical machines, and both survive a snapshot round trip. And
 * the journal (the ops that took a seq, failures that did work among them), replayed on a
 * fresh machine, gives that machine too: what a server restart does.
 */
static void test_replay_is_identical(void **state)
{
	(void)state;
	struct world a = {.rng = 42, .record = 1}, b = {.rng = 42};
	run(&a, ARCH_X86_64, 4ull << 20, 3000);
	run(&b, ARCH_X86_64, 4ull << 20, 3000);
	uint8_t *sa, *sb;
	size_t la, lb;
	roundtrip(a.m, &sa, &la);
	roundtrip(b.m, &sb, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(sa, sb, la);
	free(sb);
	assert_true(a.failed_with_work > 10);
	assert_int_equal(a.njournal, machine_seq(a.m));
	struct machine *c = new_machine(ARCH_X86_64, 4ull << 20);
	for (size_t i = 0; i < a.njournal; i++) {
		struct op_result r;
		machine_apply(c, &a.journal[i], &r);
		assert_int_equal(r.seq, i + 1);
	}
	roundtrip(c, &sb, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(sa, sb, la);
	free(sa);
	free(sb);
	free(a.journal);
	machine_destroy(a.m);
	machine_destroy(b.m);
	machine_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_x86_64),
	    cmocka_unit_test(test_random_i386),
	    cmocka_unit_test(test_replay_is_identical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
