/* simulate_policy: textbook counts, OSTEP-style reports, and a brute-force model on random strings.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "policy.h"

static const uint32_t textbook[] = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2};
#define TB_N (sizeof(textbook) / sizeof(textbook[0]))

static uint64_t misses(enum sim_policy p, uint32_t frames, const uint32_t *refs, size_t n)
{
	struct policy_totals t;
	assert_int_equal(simulate_policy(p, frames, refs, n, NULL, NULL, &t), 0);
	assert_int_equal(t.hits + t.misses, n);
	return t.misses;
}

static void test_textbook_counts(void **state)
{
	(void)state;
	assert_int_equal(misses(SIM_FIFO, 3, textbook, TB_N), 10);
	assert_int_equal(misses(SIM_LRU, 3, textbook, TB_N), 9);
	assert_int_equal(misses(SIM_OPT, 3, textbook, TB_N), 7);
	assert_int_equal(misses(SIM_CLOCK, 3, textbook, TB_N), 9);
	assert_int_equal(misses(SIM_MRU, 3, textbook, TB_N), 11);
	/* Belady's anomaly: FIFO on 1,2,3,4,1,2,5,1,2,3,4,5 faults more with 4 frames than 3 */
	static const uint32_t belady[] = {1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5};
	assert_int_equal(misses(SIM_FIFO, 3, belady, 12), 9);
	assert_int_equal(misses(SIM_FIFO, 4, belady, 12), 10);
	/* thrashing: a loop one page bigger than memory misses every time under FIFO/LRU/CLOCK */
	uint32_t loop[40];
	for (int i = 0; i < 40; i++)
		loop[i] = (uint32_t)(i % 5);
	assert_int_equal(misses(SIM_FIFO, 4, loop, 40), 40);
	assert_int_equal(misses(SIM_LRU, 4, loop, 40), 40);
	assert_int_equal(misses(SIM_CLOCK, 4, loop, 40), 40);
	assert_int_equal(misses(SIM_OPT, 4, loop, 40), 13); /* 5 cold, then one per 3-4 refs */
	assert_int_equal(misses(SIM_LRU, 5, loop, 40), 5);
}

/* Which frame each reference lands in: free frames fill from 0, a victim's frame takes the
 * new page (vmsimctl policy simulate prints the frames in this order). */
static void test_frames(void **state)
{
	(void)state;
	static const uint32_t fifo[TB_N] = {0, 1, 2, 0, 1, 1, 2, 0, 1, 2, 0, 2, 1};
	static const uint32_t lru[TB_N] = {0, 1, 2, 0, 1, 2, 1, 0, 2, 1, 0, 1, 2};
	struct policy_step steps[TB_N];
	struct policy_totals t;
	assert_int_equal(simulate_policy(SIM_FIFO, 3, textbook, TB_N, steps, NULL, &t), 0);
	for (size_t i = 0; i < TB_N; i++)
		assert_int_equal(steps[i].frame, fifo[i]);
	assert_int_equal(simulate_policy(SIM_LRU, 3, textbook, TB_N, steps, NULL, &t), 0);
	for (size_t i = 0; i < TB_N; i++)
		assert_int_equal(steps[i].frame, lru[i]);
}

static void report_golden(enum sim_policy p, const char *golden)
{
	struct policy_step steps[TB_N];
	uint32_t contents[TB_N * 3];
	struct policy_totals t;
	assert_int_equal(simulate_policy(p, 3, textbook, TB_N, steps, contents, &t), 0);
	char *report = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&report, &len);
	assert_non_null(f);
	policy_report(f, p, 3, steps, contents, TB_N);
	fclose(f);
	assert_golden(golden, report);
	free(report);
}

static void test_reports(void **state)
{
	(void)state;
	report_golden(SIM_FIFO, "policy-report-fifo.txt");
	report_golden(SIM_LRU, "policy-report-lru.txt");
	report_golden(SIM_MRU, "policy-report-mru.txt");
	report_golden(SIM_OPT, "policy-report-opt.txt");
	report_golden(SIM_CLOCK, "policy-report-clock.txt");
}

/*
 * Brute force, written apart from core/policy.c: frames as a plain array, the victim found by
 * a scan. ord[] holds FIFO insertion time, LRU/MRU last-use time.
 */
static void model(enum sim_policy p, uint32_t frames, const uint32_t *refs, size_t n,
                  struct policy_step *out)
{
	uint32_t *page = malloc(frames * sizeof(*page));
	uint64_t *ord = malloc(frames * sizeof(*ord));
	uint8_t *use = calloc(frames, 1);
	uint32_t used = 0, hand = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t f = SIM_NONE;
		for (uint32_t j = 0; j < used; j++)
			if (page[j] == refs[i])
				f = j;
		out[i].ref = refs[i];
		out[i].hit = f != SIM_NONE;
		out[i].victim = SIM_NONE;
		if (f != SIM_NONE) {
			if (p == SIM_LRU || p == SIM_MRU)
				ord[f] = i;
			use[f] = 1;
			continue;
		}
		int evict = used == frames;
		if (!evict) {
			f = used++;
		} else if (p == SIM_CLOCK) {
			while (use[hand]) {
				use[hand] = 0;
				hand = (hand + 1) % frames;
			}
			f = hand;
			hand = (hand + 1) % frames;
		} else if (p == SIM_OPT) {
			/* farthest next use; never used again ties, the latest entered (ord) loses
			 */
			uint64_t best = 0, best_ord = 0;
			for (uint32_t j = 0; j < frames; j++) {
				uint64_t nu = n;
				for (size_t k = i + 1; k < n; k++)
					if (refs[k] == page[j]) {
						nu = k;
						break;
					}
				if (f == SIM_NONE || nu > best ||
				    (nu == best && ord[j] > best_ord)) {
					f = j;
					best = nu;
					best_ord = ord[j];
				}
			}
		} else {
			f = 0;
			for (uint32_t j = 1; j < frames; j++)
				if (p == SIM_MRU ? ord[j] > ord[f] : ord[j] < ord[f])
					f = j;
		}
		if (evict)
			out[i].victim = page[f];
		page[f] = refs[i];
		ord[f] = i;
		use[f] = 1;
	}
	free(page);
	free(ord);
	free(use);
}

static void test_random_strings_match_brute_force(void **state)
{
	(void)state;
	uint64_t x = 88172645463325252ull;
	for (int round = 0; round < 300; round++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t n = 1 + x % 200;
		uint32_t frames = 1 + (uint32_t)((x >> 20) % 8);
		uint32_t pages = 1 + (uint32_t)((x >> 30) % 12);
		uint32_t refs[200];
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			refs[i] = (uint32_t)(x % pages) * 1000 + 3;
		}
		for (int p = 0; p < SIM_NR_POLICIES; p++) {
			struct policy_step got[200], want[200];
			struct policy_totals t;
			assert_int_equal(simulate_policy(p, frames, refs, n, got, NULL, &t), 0);
			model(p, frames, refs, n, want);
			for (size_t i = 0; i < n; i++)
				if (got[i].hit != want[i].hit || got[i].victim != want[i].victim)
					fail_msg(
					    "%s frames %u step %zu: got hit %u victim %u, model "
					    "hit %u victim %u",
					    sim_policy_name(p), frames, i, got[i].hit,
					    got[i].victim, want[i].hit, want[i].victim);
		}
	}
}

static void test_bad_input(void **state)
{
	(void)state;
	struct policy_totals t;
	assert_int_equal(simulate_policy(SIM_NR_POLICIES, 3, textbook, TB_N, NULL, NULL, &t), -1);
	assert_int_equal(simulate_policy(SIM_LRU, 0, textbook, TB_N, NULL, NULL, &t), -1);
	assert_int_equal(
	    simulate_policy(SIM_LRU, SIM_MAX_FRAMES + 1, textbook, TB_N, NULL, NULL, &t), -1);
	assert_int_equal(simulate_policy(SIM_LRU, 3, NULL, 5, NULL, NULL, &t), -1);
	assert_int_equal(simulate_policy(SIM_LRU, 3, textbook, SIM_MAX_REFS + 1ull, NULL, NULL, &t),
	                 -1);
	assert_int_equal(simulate_policy(SIM_LRU, 3, textbook, TB_N, NULL, NULL, NULL), -1);
	assert_int_equal(simulate_policy(SIM_OPT, 3, NULL, 0, NULL, NULL, &t), 0);
	assert_int_equal(t.hits + t.misses, 0);
	assert_int_equal(sim_policy_parse("CLOCK"), SIM_CLOCK);
	assert_int_equal(sim_policy_parse("random"), -1);
	assert_string_equal(sim_policy_name(SIM_OPT), "opt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_textbook_counts),
	    cmocka_unit_test(test_reports),
	    cmocka_unit_test(test_frames),
	    cmocka_unit_test(test_random_strings_match_brute_force),
	    cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
