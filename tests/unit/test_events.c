/* The event ring: a failed op's events vanish and leave the window exactly as it was. */
#include "helpers.h"

#include <stdlib.h>

#include "snapshot.h"

static struct machine *full_ring_machine(void)
{
	struct machine_config cfg;
	char err[256];
	machine_config_default(&cfg, ARCH_X86_64, 8ull << 20);
	cfg.event_ring = 256;
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	assert_non_null(m);
	for (int i = 0; i < 100; i++) /* a few hundred events: the ring wraps */
		t_free_pages(m, t_alloc_pages(m, GFP_KERNEL, 3), 3);
	assert_int_equal(events_next_id(m) - events_first_id(m), 256);
	return m;
}

/* What machine_apply does for an op that records n events and then fails. */
static void failed_op(struct machine *m, int n)
{
	uint64_t first = events_next_id(m);
	for (int i = 0; i < n; i++)
		ev_emit(m, EV_FREE_PAGES, (uint64_t)i, 0, 0, "failing op");
	events_truncate(m, first);
}

static void test_failed_op_keeps_window(void **state)
{
	(void)state;
	static const int lengths[] = {1, 100, 128, 129, 300, 700};
	for (size_t k = 0; k < ARRAY_SIZE(lengths); k++) {
		struct machine *m = full_ring_machine();
		uint8_t *before, *after;
		size_t blen, alen;
		machine_save(m, &before, &blen);
		uint64_t first = events_first_id(m);
		failed_op(m, lengths[k]);
		machine_save(m, &after, &alen);
		assert_int_equal(alen, blen);
		assert_memory_equal(after, before, blen);
		/* Every event of the window is still readable, with its own id. */
		for (uint64_t id = first; id < events_next_id(m); id++)
			assert_int_equal(event_get(m, id)->id, id);
		/* And the next op records on as if nothing had happened. */
		t_alloc_pages(m, GFP_KERNEL, 0);
		assert_int_equal(event_get(m, events_next_id(m) - 1)->seq, machine_seq(m));
		free(before);
		free(after);
		machine_destroy(m);
	}
}

/* Events of a successful op are kept; the oldest leave the window. */
static void test_ring_window(void **state)
{
	(void)state;
	struct machine *m = full_ring_machine();
	uint64_t next = events_next_id(m);
	struct op_result r;
	struct op op = {.kind = OP_ALLOC_PAGES};
	assert_int_equal(machine_apply(m, &op, &r), VM_OK);
	assert_int_equal(r.first_event, next);
	assert_int_equal(events_first_id(m), events_next_id(m) - 256);
	assert_null(event_get(m, events_first_id(m) - 1));
	assert_null(event_get(m, events_next_id(m)));
	struct strbuf sb;
	strbuf_init(&sb);
	event_render(event_get(m, r.first_event), &sb);
	assert_string_equal(sb.buf, "alloc_pages: order 0 gfp 0x40 (highest zone Normal)");
	strbuf_release(&sb);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failed_op_keeps_window),
	    cmocka_unit_test(test_ring_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
