/* fork: dup_mm copies the VMAs and copy_page_range shares the pages copy-on-write; the first
 * write breaks the sharing (do_wp_page), a failed fork changes nothing. Exact values from the
 * public queries (query_translate, query_tasks). */
#include "vm_helpers.h"

#include <string.h>

#include "query.h"

#define RW   (PROT_READ_ | PROT_WRITE_)
#define ANON (MAP_PRIVATE_ | MAP_ANONYMOUS_)

static struct query_walk walk(struct machine *m, uint32_t pid, uint64_t va)
{
	struct query_walk w;
	assert_int_equal(query_translate(m, pid, va, &w), VM_OK);
	return w;
}

static int has_flag(const struct query_walk *w, const char *name)
{
	for (uint32_t i = 0; i < w->nr_flags; i++)
		if (strcmp(w->flags[i], name) == 0)
			return 1;
	return 0;
}

static struct query_task task_of(struct machine *m, uint32_t pid)
{
	struct query_task t[8];
	uint32_t n = query_tasks(m, t, 8);
	for (uint32_t i = 0; i < n && i < 8; i++)
		if (t[i].pid == pid)
			return t[i];
	fail_msg("no task %u", pid);
	return t[0];
}

static void test_fork_shares_then_copies(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	uint32_t parent = vm_spawn(m, "sh");
	uint64_t a = vm_mmap(m, parent, 0, 4 * PAGE_SIZE, RW, ANON);
	for (int i = 0; i < 4; i++)
		vm_access(m, parent, a + (uint64_t)i * PAGE_SIZE, ACCESS_WRITE);
	struct query_walk before = walk(m, parent, a);
	uint64_t second = walk(m, parent, a + PAGE_SIZE).phys;
	assert_true(before.present);
	assert_true(has_flag(&before, "rw"));
	assert_false(has_flag(&before, "cow"));

	uint32_t child = vm_fork(m, OP_FORK, parent, 0);
	assert_int_equal(child, parent + 1);
	struct query_task ct = task_of(m, child), pt = task_of(m, parent);
	assert_int_equal(ct.ppid, parent);
	assert_int_equal(ct.rss_anon, pt.rss_anon);
	assert_int_equal(ct.total_vm, pt.total_vm);
	/* Both sides map the same frame, read-only and marked COW. */
	for (int i = 0; i < 4; i++) {
		uint64_t va = a + (uint64_t)i * PAGE_SIZE;
		struct query_walk p = walk(m, parent, va), c = walk(m, child, va);
		assert_true(p.present && c.present);
		assert_int_equal(p.phys, c.phys);
		assert_int_equal(p.pte, c.pte);
		assert_false(has_flag(&p, "rw"));
		assert_true(has_flag(&p, "cow"));
	}
	/* Different page tables: every level below the pgd is the child's own. */
	struct query_walk p = walk(m, parent, a), c = walk(m, child, a);
	assert_int_equal(p.nr, 4);
	assert_int_equal(c.nr, 4);
	for (uint32_t l = 0; l < 4; l++) {
		assert_int_equal(p.step[l].index, c.step[l].index);
		assert_int_not_equal(p.step[l].table_pfn, c.step[l].table_pfn);
	}
	assert_machine_ok(m);

	/* The child writes: its page is copied, the parent's stays where it was (still COW:
	 * do_wp_page reuses it writable only at the parent's own next write). */
	vm_access(m, child, a, ACCESS_WRITE);
	struct query_walk c2 = walk(m, child, a), p2 = walk(m, parent, a);
	assert_int_not_equal(c2.phys, p2.phys);
	assert_int_equal(p2.phys, before.phys);
	assert_true(has_flag(&c2, "rw"));
	assert_false(has_flag(&c2, "cow"));
	assert_int_equal(task_of(m, child).nr_cow, 1);
	/* The parent writes the same page: it holds the only reference now, so it is reused. */
	vm_access(m, parent, a, ACCESS_WRITE);
	struct query_walk p3 = walk(m, parent, a);
	assert_int_equal(p3.phys, before.phys);
	assert_true(has_flag(&p3, "rw"));
	assert_false(has_flag(&p3, "cow"));
	assert_int_equal(task_of(m, parent).nr_cow, 0);
	assert_machine_ok(m);

	/* Exit of the child drops its copies: the parent's mapping is untouched. */
	vm_exit(m, child);
	assert_int_equal(walk(m, parent, a + PAGE_SIZE).phys, second);
	assert_int_equal(query_translate(m, child, a, &p3), VM_ENOENT);
	assert_machine_ok(m);
	machine_destroy(m);
}

/* An unknown pid or an address the arch cannot hold. */
static void test_translate_errors(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 16ull << 20);
	uint32_t pid = vm_spawn(m, "sh");
	struct query_walk w;
	assert_int_equal(query_translate(m, pid + 7, 0x10000, &w), VM_ENOENT);
	/* i386: two levels, an unmapped user address stops at the pgd entry */
	assert_int_equal(query_translate(m, pid, 0x10000, &w), VM_OK);
	assert_false(w.present);
	assert_int_equal(w.nr, 1);
	assert_string_equal(w.step[0].level, "pgd");
	assert_int_equal(w.step[0].index, 0);
	assert_string_equal(w.missing_level, "pgd");
	assert_int_equal(w.phys, 0);
	assert_int_equal(w.nr_flags, 0);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fork_shares_then_copies),
	    cmocka_unit_test(test_translate_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
