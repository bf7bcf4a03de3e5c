/*
 * Randomized: 100,000 ops of files, swap areas, reclaim, drop_caches, ticks and kernel
 * allocations (memory pressure) on a 4 MiB machine, machine_check after every op; refused ops
 * must leave the snapshot byte-identical, ops that failed partway must replay to the same
 * bytes; a replay of the same ops gives the same bytes.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "snapshot.h"

#define NR_OPS 100000

struct rng {
	uint64_t x;
};

static uint64_t rnd(struct rng *r, uint64_t n)
{
	r->x ^= r->x << 13;
	r->x ^= r->x >> 7;
	r->x ^= r->x << 17;
	return r->x % n;
}

static const char *const names[] = {"/a", "/b", "/c", "/d", "/swapfile", "/dev/sdb1"};

/* A random op, valid or not; held kernel pages are remembered to free them later. */
static struct op random_op(struct rng *r, uint32_t *held, uint32_t *nheld)
{
	struct op op;
	memset(&op, 0, sizeof(op));
	switch (rnd(r, 14)) {
	case 0:
		op.kind = OP_FILE_CREATE;
		snprintf(op.u.file_create.name, NAME_LEN, "%s", names[rnd(r, 5)]);
		op.u.file_create.size = rnd(r, 600) * 1024;
		break;
	case 1:
	case 2:
	case 3:
		op.kind = OP_FILE_READ;
		op.u.file_io.ino = FILE_FIRST_INO + (uint32_t)rnd(r, 6);
		op.u.file_io.offset = rnd(r, 700) * 1024;
		op.u.file_io.len = rnd(r, 300) * 1024;
		break;
	case 4:
	case 5:
		op.kind = OP_FILE_WRITE;
		op.u.file_io.ino = FILE_FIRST_INO + (uint32_t)rnd(r, 6);
		op.u.file_io.offset = rnd(r, 700 * 1024);
		op.u.file_io.len = rnd(r, 200 * 1024);
		break;
	case 6:
		op.kind = rnd(r, 4) ? OP_FILE_SYNC : OP_FILE_DELETE;
		op.u.file_io.ino = (uint32_t)rnd(r, 3) ? FILE_FIRST_INO + (uint32_t)rnd(r, 6) : 0;
		break;
	case 7:
		op.kind = OP_MKSWAP + (enum op_kind)rnd(r, 3);
		snprintf(op.u.swap.name, NAME_LEN, "%s", names[4 + rnd(r, 2)]);
		op.u.swap.size = rnd(r, 2) ? 0 : rnd(r, 64) * 4096;
		op.u.swap.prio = rnd(r, 2) ? SWAP_PRIO_NONE : (int32_t)rnd(r, 10) - 2;
		break;
	case 8:
		op.kind = OP_RECLAIM;
		op.u.reclaim.nr_pages = rnd(r, 100);
		break;
	case 9:
		op.kind = OP_DROP_CACHES;
		op.u.reclaim.mode = (uint32_t)rnd(r, 5);
		break;
	case 10:
		op.kind = rnd(r, 2) ? OP_TICK : OP_SET_SWAPPINESS;
		op.u.tick.n = rnd(r, 40);
		if (op.kind == OP_SET_SWAPPINESS)
			op.u.sysctl.value = (uint32_t)rnd(r, 220);
		break;
	default:
		if (*nheld && (rnd(r, 2) || *nheld == 2048)) {
			uint32_t i = (uint32_t)rnd(r, *nheld);
			op.kind = OP_FREE_PAGES;
			op.u.free_pages.pfn = held[i];
			op.u.free_pages.order = held[i + 2048]; /* orders live above */
			held[i] = held[--*nheld];
			held[i + 2048] = held[*nheld + 2048];
		} else {
			op.kind = OP_ALLOC_PAGES;
			op.u.alloc_pages.order = (uint32_t)rnd(r, 3);
		}
		break;
	}
	return op;
}

/* sampled[0]: refused ops checked unchanged; sampled[1]: failures with work checked to replay */
static uint64_t sampled[2];

static struct machine *run(uint64_t seed, int nr_ops, uint64_t *failed)
{
	struct machine *m = new_machine(ARCH_X86_64, MACHINE_RAM_MIN);
	struct rng r = {seed};
	/* held[0..2048): pfns of kernel blocks held; held[2048 + i]: the order of held[i] */
	uint32_t held[4096], nheld = 0;
	char buf[512];
	*failed = 0;
	for (int i = 0; i < nr_ops; i++) {
		struct op op = random_op(&r, held, &nheld);
		uint8_t *pre = NULL;
		size_t pre_len = 0;
		int sample = i % 7 == 0;
		if (sample)
			assert_int_equal(machine_save(m, &pre, &pre_len), 0);
		struct op_result res;
		enum vm_err e = machine_apply(m, &op, &res);
		if (machine_check(m, buf, sizeof(buf)))
			fail_msg("op %d (%#x, err %d): machine_check: %s", i, op.kind, e, buf);
		if (e != VM_OK) {
			(*failed)++;
			if (op.kind == OP_FREE_PAGES) /* keep it: the free was refused */
				fail_msg("free of a held block failed: %s", res.msg);
			if (sample && res.seq == 0) {
				uint8_t *post;
				size_t post_len;
				machine_save(m, &post, &post_len);
				if (pre_len != post_len)
					fail_msg("refused op %d (%#x: %s) resized the snapshot", i,
					         op.kind, res.msg);
				if (memcmp(pre, post, pre_len))
					fail_msg("refused op %d (%#x: %s) changed the machine", i,
					         op.kind, res.msg);
				free(post);
				sampled[0]++;
			} else if (sample) {
				/* it failed after kswapd or reclaim ran: journaled, so replay must
				 * redo it exactly */
				assert_replays(pre, pre_len, &op, m);
				sampled[1]++;
			}
		} else if (op.kind == OP_ALLOC_PAGES) {
			held[nheld + 2048] = op.u.alloc_pages.order;
			held[nheld++] = (uint32_t)res.value;
		}
		free(pre);
	}
	return m;
}

static void test_random_ops_keep_invariants(void **state)
{
	(void)state;
	uint64_t failed;
	struct machine *m = run(0x1234567, NR_OPS, &failed);
	/* a mix of refused and applied ops, under real pressure */
	assert_true(failed > 1000 && failed < NR_OPS / 2);
	assert_true(sampled[0] > 10 && sampled[1] > 10);
	assert_true(vm_event(m, PGSTEAL_KSWAPD) + vm_event(m, PGSTEAL_DIRECT) > 10000);
	assert_true(vm_event(m, PAGEOUTRUN) > 100); /* kswapd woke again and again */
	assert_true(vm_event(m, DROP_PAGECACHE) > 1000);
	machine_destroy(m);
}

static void test_replay_is_byte_identical(void **state)
{
	(void)state;
	uint8_t *a, *b;
	size_t al, bl;
	uint64_t fa, fb;
	struct machine *m1 = run(42, 10000, &fa), *m2 = run(42, 10000, &fb);
	assert_int_equal(machine_save(m1, &a, &al), 0);
	assert_int_equal(machine_save(m2, &b, &bl), 0);
	assert_int_equal(al, bl);
	assert_memory_equal(a, b, al);
	assert_int_equal(fa, fb);
	free(a);
	free(b);
	machine_destroy(m1);
	machine_destroy(m2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_ops_keep_invariants),
	    cmocka_unit_test(test_replay_is_byte_identical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
