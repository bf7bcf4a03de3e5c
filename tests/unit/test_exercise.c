/* Exercises: generated from real mechanisms, deterministic per seed, answers checked exactly. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "exercise.h"

static struct exercise make(enum exercise_topic t, uint64_t seed)
{
	struct exercise ex;
	char err[256];
	if (exercise_new(t, seed, &ex, err, sizeof(err)))
		fail_msg("exercise_new(%s, %llu): %s", exercise_topic_name(t),
		         (unsigned long long)seed, err);
	assert_true(ex.nfields > 0);
	assert_non_null(ex.question.buf);
	assert_non_null(ex.solution.buf);
	return ex;
}

/* The answer a student who got everything right would type. */
static void right_answer(const struct exercise *ex, char *buf, size_t len, int named)
{
	size_t off = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < ex->nfields; i++) {
		unsigned k = named ? ex->nfields - 1 - i : i; /* named: reverse order */
		char v[32];
		exercise_format_value(&ex->field[k], ex->field[k].value, v, sizeof(v));
		off += (size_t)snprintf(buf + off, len - off, named ? "%s=%s; " : "%.0s%s, ",
		                        ex->field[k].name, v);
	}
}

static void check(const struct exercise *ex, const char *answer, struct exercise_verdict *v)
{
	char err[256];
	if (exercise_check(ex, answer, 1, v, err, sizeof(err)))
		fail_msg("exercise_check(\"%s\"): %s", answer, err);
}

/* As a student without solve rights sees it. */
static void check_student(const struct exercise *ex, const char *answer, struct exercise_verdict *v)
{
	char err[256];
	if (exercise_check(ex, answer, 0, v, err, sizeof(err)))
		fail_msg("exercise_check(\"%s\"): %s", answer, err);
}

static void test_golden_examples(void **state)
{
	(void)state;
	static const struct {
		enum exercise_topic t;
		uint64_t seed;
		const char *golden;
	} cases[] = {
	    {EX_BUDDY_ALLOC, 1, "exercise_buddy_1.txt"},
	    {EX_BUDDYINFO, 2, "exercise_buddyinfo_2.txt"},
	    {EX_SLAB, 3, "exercise_slab_3.txt"},
	    {EX_REPLACEMENT, 6, "exercise_replacement_6.txt"},
	    {EX_FREE, 5, "exercise_free_5.txt"},
	    {EX_TRANSLATE, 3, "exercise_translate_3.txt"},
	    {EX_TRANSLATE, 5, "exercise_translate_5.txt"},
	    {EX_COW, 1, "exercise_cow_1.txt"},
	    {EX_HUGEPAGE, 1, "exercise_hugepage_1.txt"},
	    {EX_HUGEPAGE, 2, "exercise_hugepage_2.txt"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct exercise ex = make(cases[i].t, cases[i].seed);
		struct strbuf sb;
		strbuf_init(&sb);
		strbuf_addf(&sb, "%s----\n%s", ex.question.buf, ex.solution.buf);
		assert_golden(cases[i].golden, sb.buf);
		strbuf_release(&sb);
		exercise_release(&ex);
	}
}

/* Seed 1 of the buddy topic, worked by hand from its free lists: free_area[3] heads 0x1028,
 * so order 3 takes it; order 2 then splits 0x1010 (keeps it, 0x1014 to free_area[2]); the
 * next order 2 takes 0x1014. */
static void test_buddy_seed1_by_hand(void **state)
{
	(void)state;
	struct exercise ex = make(EX_BUDDY_ALLOC, 1);
	assert_int_equal(ex.nfields, 3);
	assert_int_equal(ex.field[0].value, 0x1028);
	assert_int_equal(ex.field[1].value, 0x1010);
	assert_int_equal(ex.field[2].value, 0x1014);
	exercise_release(&ex);
}

/* Slab seed 3: 3353 bytes -> 3360 (8-byte aligned); an order-3 slab (32768 B) holds 9; the
 * 183 objects need 21 slabs. */
static void test_slab_seed3_by_hand(void **state)
{
	(void)state;
	struct exercise ex = make(EX_SLAB, 3);
	assert_int_equal(ex.nfields, 4);
	assert_int_equal(ex.field[0].value, 3360);
	assert_int_equal(ex.field[1].value, 9);
	assert_int_equal(ex.field[2].value, 8);
	assert_int_equal(ex.field[3].value, 21);
	exercise_release(&ex);
}

static void test_deterministic_and_varied(void **state)
{
	(void)state;
	for (int t = 0; t < EX_NR_TOPICS; t++) {
		char *seen[20];
		unsigned distinct = 0;
		for (uint64_t seed = 0; seed < 20; seed++) {
			struct exercise a = make((enum exercise_topic)t, seed);
			struct exercise b = make((enum exercise_topic)t, seed);
			assert_string_equal(a.question.buf, b.question.buf);
			assert_string_equal(a.solution.buf, b.solution.buf);
			assert_int_equal(a.nfields, b.nfields);
			assert_memory_equal(a.field, b.field, sizeof(a.field[0]) * a.nfields);
			int dup = 0;
			for (unsigned i = 0; i < distinct; i++)
				dup |= !strcmp(seen[i], a.question.buf);
			if (!dup)
				seen[distinct++] = strdup(a.question.buf);
			exercise_release(&a);
			exercise_release(&b);
		}
		if (distinct < 15)
			fail_msg("topic %s: only %u distinct questions in 20 seeds",
			         exercise_topic_name((enum exercise_topic)t), distinct);
		for (unsigned i = 0; i < distinct; i++)
			free(seen[i]);
	}
}

static void test_right_and_wrong_answers(void **state)
{
	(void)state;
	char ans[1024];
	for (int t = 0; t < EX_NR_TOPICS; t++) {
		for (uint64_t seed = 100; seed < 130; seed++) {
			struct exercise ex = make((enum exercise_topic)t, seed);
			struct exercise_verdict v;
			for (int named = 0; named < 2; named++) {
				right_answer(&ex, ans, sizeof(ans), named);
				check(&ex, ans, &v);
				if (!v.correct)
					fail_msg("%s seed %llu: \"%s\" judged wrong:\n%s",
					         exercise_topic_name(ex.topic),
					         (unsigned long long)seed, ans, v.feedback.buf);
				assert_int_equal(v.right, ex.nfields);
				exercise_verdict_release(&v);
			}
			/* One field off by one (or H for M): exactly that field is wrong. */
			unsigned k = (unsigned)(seed % ex.nfields);
			uint64_t keep = ex.field[k].value;
			ex.field[k].value = ex.field[k].kind == EXF_HITMISS ? !keep : keep + 1;
			right_answer(&ex, ans, sizeof(ans), 0);
			ex.field[k].value = keep;
			check(&ex, ans, &v);
			assert_false(v.correct);
			assert_int_equal(v.right, ex.nfields - 1);
			char line[64];
			snprintf(line, sizeof(line), "%s: ", ex.field[k].name);
			const char *at = strstr(v.feedback.buf, line);
			assert_non_null(at);
			assert_non_null(strstr(at, "wrong, the kernel gave"));
			exercise_verdict_release(&v);
			exercise_release(&ex);
		}
	}
}

/* Properties every generated answer has, whatever the seed. */
static void test_answer_invariants(void **state)
{
	(void)state;
	for (uint64_t seed = 0; seed < 40; seed++) {
		struct exercise ex = make(EX_SLAB, seed);
		uint64_t size = ex.field[0].value, per = ex.field[1].value,
		         bytes = ex.field[2].value * 4096, slabs = ex.field[3].value;
		assert_int_equal(size % 8, 0);
		assert_true(per >= 1 && per * size <= bytes);
		assert_true((per + 1) * size > bytes || per == 512); /* as many as fit */
		assert_true(ex.field[2].value <= 8 || per == 1);
		assert_true(slabs >= 1);
		exercise_release(&ex);

		ex = make(EX_BUDDYINFO, seed);
		assert_int_equal(ex.nfields, MAX_ORDER);
		uint64_t free = 0;
		for (unsigned o = 0; o < MAX_ORDER; o++)
			free += ex.field[o].value << o;
		assert_true(free > 0 && free <= 12288); /* the 48 MiB zone above 16 MiB */
		exercise_release(&ex);

		ex = make(EX_BUDDY_ALLOC, seed);
		for (unsigned i = 0; i < ex.nfields; i++) {
			assert_true(ex.field[i].value >= 0x1000 && ex.field[i].value < 0x4000);
			for (unsigned j = 0; j < i; j++)
				assert_true(ex.field[i].value != ex.field[j].value);
		}
		exercise_release(&ex);
	}
}

/* An independent FIFO/LRU, to check the replacement answers against. */
static unsigned oracle_hits(int lru, unsigned frames, const unsigned *refs, unsigned n, int *hit)
{
	unsigned mem[8], nmem = 0, hits = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned k = 0;
		while (k < nmem && mem[k] != refs[i])
			k++;
		hit[i] = k < nmem;
		hits += (unsigned)hit[i];
		if (hit[i] && lru) { /* move to the most recent end */
			memmove(&mem[k], &mem[k + 1], (nmem - k - 1) * sizeof(mem[0]));
			mem[nmem - 1] = refs[i];
		} else if (!hit[i]) {
			if (nmem == frames) { /* evict the oldest (FIFO) or least recent (LRU) */
				memmove(&mem[0], &mem[1], (nmem - 1) * sizeof(mem[0]));
				nmem--;
			}
			mem[nmem++] = refs[i];
		}
	}
	return hits;
}

static void test_replacement_against_oracle(void **state)
{
	(void)state;
	unsigned checked = 0;
	for (uint64_t seed = 0; seed < 80; seed++) {
		struct exercise ex = make(EX_REPLACEMENT, seed);
		int lru = strstr(ex.question.buf, "by LRU replacement") != NULL;
		int fifo = strstr(ex.question.buf, "by FIFO replacement") != NULL;
		if (lru || fifo) {
			unsigned frames, refs[32], n = 0;
			const char *p = strstr(ex.question.buf, "with ");
			assert_int_equal(sscanf(p, "with %u page frames", &frames), 1);
			p = strstr(ex.question.buf, "replacement:\n") + strlen("replacement:\n");
			int used;
			while (n < 32 && sscanf(p, "%u%n", &refs[n], &used) == 1) {
				p += used;
				n++;
				if (*p == '\n')
					break;
			}
			assert_int_equal(n, ex.nfields);
			int hit[32];
			oracle_hits(lru, frames, refs, n, hit);
			for (unsigned i = 0; i < n; i++)
				if ((uint64_t)hit[i] != ex.field[i].value)
					fail_msg("seed %llu step %u: oracle %d, exercise %llu\n%s",
					         (unsigned long long)seed, i + 1, hit[i],
					         (unsigned long long)ex.field[i].value,
					         ex.question.buf);
			checked++;
		}
		exercise_release(&ex);
	}
	assert_true(checked >= 15);
}

/* The free answers follow from the meminfo lines the question shows (the seed's sums). */
static void test_free_arithmetic(void **state)
{
	(void)state;
	for (uint64_t seed = 0; seed < 30; seed++) {
		struct exercise ex = make(EX_FREE, seed);
		unsigned long long total, freek, buf, cached, st, sf;
		const char *q = ex.question.buf;
		assert_int_equal(sscanf(strstr(q, "MemTotal:"), "MemTotal: %llu", &total), 1);
		assert_int_equal(sscanf(strstr(q, "MemFree:"), "MemFree: %llu", &freek), 1);
		assert_int_equal(sscanf(strstr(q, "Buffers:"), "Buffers: %llu", &buf), 1);
		assert_int_equal(sscanf(strstr(q, "Cached:"), "Cached: %llu", &cached), 1);
		assert_int_equal(sscanf(strstr(q, "SwapTotal:"), "SwapTotal: %llu", &st), 1);
		assert_int_equal(sscanf(strstr(q, "SwapFree:"), "SwapFree: %llu", &sf), 1);
		assert_int_equal(ex.nfields, 4);
		assert_int_equal(ex.field[0].value, total - freek);
		assert_int_equal(ex.field[1].value, total - freek - buf - cached);
		assert_int_equal(ex.field[2].value, freek + buf + cached);
		assert_int_equal(ex.field[3].value, st - sf);
		assert_true(cached > 0); /* the files were read: the page cache holds them */
		assert_true(st > 0);
		exercise_release(&ex);
	}
}

/* Translation: the indices are the address's bit fields, and phys keeps the page offset. */
static void test_translate_bits(void **state)
{
	(void)state;
	for (uint64_t seed = 0; seed < 30; seed++) {
		struct exercise ex = make(EX_TRANSLATE, seed);
		unsigned long long va;
		const char *p = strstr(ex.question.buf, "1. Translate ");
		assert_non_null(p);
		assert_int_equal(sscanf(p, "1. Translate %llx", &va), 1);
		int i386 = strstr(ex.question.buf, "i386 2-level") != NULL;
		unsigned levels = i386 ? 2 : 4;
		assert_int_equal(ex.nfields, levels + 2);
		for (unsigned l = 0; l < levels; l++) {
			unsigned shift = i386 ? (l ? 12 : 22) : 39 - 9 * l;
			unsigned mask = i386 ? 1023 : 511;
			assert_int_equal(ex.field[l].value, (va >> shift) & mask);
		}
		assert_int_equal(ex.field[levels].value & 0xfff, va & 0xfff);
		assert_true(ex.field[levels + 1].value < levels);
		exercise_release(&ex);
	}
}

/* COW: at most one fault per write after fork, and frames between pages and 2 * pages. */
static void test_cow_bounds(void **state)
{
	(void)state;
	for (uint64_t seed = 0; seed < 30; seed++) {
		struct exercise ex = make(EX_COW, seed);
		unsigned pages, writes = 0;
		assert_int_equal(sscanf(strstr(ex.question.buf, "maps "), "maps %u", &pages), 1);
		for (const char *p = ex.question.buf; (p = strstr(p, " writes page ")); p++)
			writes++;
		uint64_t cow = ex.field[0].value, frames = ex.field[1].value;
		assert_true(cow <= writes);
		assert_true(frames >= pages && frames <= 2 * pages);
		/* Every COW fault copied a page: one frame more each. */
		assert_int_equal(frames, pages + cow);
		exercise_release(&ex);
	}
}

static void test_bad_input(void **state)
{
	(void)state;
	struct exercise ex;
	char err[256] = "";
	assert_int_equal(exercise_new(EX_NR_TOPICS, 1, &ex, err, sizeof(err)), VM_EINVAL);
	assert_non_null(strstr(err, "unknown exercise topic"));
	exercise_release(&ex);
	assert_int_equal(exercise_new((enum exercise_topic) - 1, 1, &ex, err, sizeof(err)),
	                 VM_EINVAL);
	exercise_release(&ex);
	assert_int_equal(exercise_topic_parse("nope"), -1);
	assert_int_equal(exercise_topic_parse(NULL), -1);
	assert_null(exercise_topic_name(EX_NR_TOPICS));
	for (int t = 0; t < EX_NR_TOPICS; t++) {
		assert_int_equal(exercise_topic_parse(exercise_topic_name((enum exercise_topic)t)),
		                 t);
		assert_non_null(exercise_topic_summary((enum exercise_topic)t));
	}

	ex = make(EX_SLAB, 3);
	struct exercise_verdict v;
	static const struct {
		const char *answer, *msg;
	} bad[] = {
	    {"abc", "cannot read \"abc\" as a number for objsize"},
	    {"3360 9 8 21 5", "too many values: this exercise asks for 4 (extra \"5\")"},
	    {"foo=1", "no field named \"foo\" in this exercise"},
	    {"objsize=0x", "cannot read \"0x\""},
	    {"-1", "cannot read \"-1\""},
	    {"99999999999999999999999", "cannot read"},
	    {"1111111111111111111111111111111111111111111111111111111111111111111", "too long"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		assert_int_equal(exercise_check(&ex, bad[i].answer, 1, &v, err, sizeof(err)),
		                 VM_EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("answer \"%s\": message \"%s\", want \"%s\"", bad[i].answer, err,
			         bad[i].msg);
		exercise_verdict_release(&v);
	}
	/* Nothing answered: every field missing, nothing right. */
	check(&ex, "", &v);
	assert_false(v.correct);
	assert_int_equal(v.right, 0);
	assert_int_equal(v.total, 4);
	assert_non_null(strstr(v.feedback.buf, "objsize: missing (the kernel gave 3360)"));
	exercise_verdict_release(&v);
	/* Partial, named, case-insensitive names, hex accepted for counts. */
	check(&ex, "NUM_SLABS=0x15 objsize=3360", &v);
	assert_int_equal(v.right, 2);
	assert_non_null(strstr(v.feedback.buf, "2 of 4 right\n"));
	exercise_verdict_release(&v);
	exercise_release(&ex);

	/* Hit/miss letters together or apart; too many letters is an error. */
	ex = make(EX_REPLACEMENT, 6);
	check(&ex, "MMMHHHHHMMMHH", &v);
	assert_true(v.correct);
	exercise_verdict_release(&v);
	check(&ex, "mmm hhhhh M m M HIT h", &v);
	assert_true(v.correct);
	exercise_verdict_release(&v);
	check(&ex, "MMMHHHHHMMMHM", &v);
	assert_int_equal(v.right, 12);
	assert_non_null(strstr(v.feedback.buf, "step13: M wrong, the kernel gave H\n"));
	exercise_verdict_release(&v);
	assert_int_equal(exercise_check(&ex, "MMMHHHHHMMMHHH", 1, &v, err, sizeof(err)), VM_EINVAL);
	assert_non_null(strstr(err, "has 14 letters"));
	exercise_verdict_release(&v);
	assert_int_equal(exercise_check(&ex, "X", 1, &v, err, sizeof(err)), VM_EINVAL);
	assert_non_null(strstr(err, "cannot read \"X\" as H or M for step1"));
	exercise_verdict_release(&v);
	exercise_release(&ex);
}

/* Without solve rights the feedback names the wrong and missing parts, never the values. */
static void test_student_feedback_hides_values(void **state)
{
	(void)state;
	struct exercise ex = make(EX_BUDDY_ALLOC, 4242);
	struct exercise_verdict v;
	char want[EXERCISE_MAX_FIELDS][32];
	assert_int_equal(ex.nfields, 2);
	for (unsigned k = 0; k < ex.nfields; k++)
		exercise_format_value(&ex.field[k], ex.field[k].value, want[k], sizeof(want[k]));
	assert_string_equal(want[0], "0x1008");
	assert_string_equal(want[1], "0x100e");
	check_student(&ex, "0 0", &v);
	assert_false(v.correct);
	assert_string_equal(v.feedback.buf,
	                    "pfn1: 0 wrong\n"
	                    "pfn2: 0 wrong\n"
	                    "0 of 2 right\n"
	                    "Hint: __rmqueue_smallest() takes the head of the smallest free list "
	                    "whose order fits, and expand() puts each upper half back one order "
	                    "down.\n");
	exercise_verdict_release(&v);
	/* A right part says so; a missing one says missing; a right answer gets no hint. */
	check_student(&ex, "0x1008", &v);
	assert_string_equal(v.feedback.buf, "pfn1: 0x1008 right\npfn2: missing\n1 of 2 right\n"
	                                    "Hint: __rmqueue_smallest() takes the head of the "
	                                    "smallest free list whose order fits, and expand() "
	                                    "puts each upper half back one order down.\n");
	exercise_verdict_release(&v);
	check_student(&ex, "0x1008 0x100e", &v);
	assert_true(v.correct);
	assert_string_equal(v.feedback.buf,
	                    "pfn1: 0x1008 right\npfn2: 0x100e right\n2 of 2 right: correct\n");
	exercise_verdict_release(&v);
	exercise_release(&ex);
	/* Every topic, blank and all-wrong answers: no expected value in the feedback. */
	for (int t = 0; t < EX_NR_TOPICS; t++) {
		for (uint64_t seed = 1; seed <= 20; seed++) {
			ex = make((enum exercise_topic)t, seed);
			check_student(&ex, "", &v);
			assert_int_equal(v.right, 0);
			assert_null(strstr(v.feedback.buf, "kernel gave"));
			assert_non_null(strstr(v.feedback.buf, "Hint: "));
			exercise_verdict_release(&v);
			char wrong[1024];
			size_t off = 0;
			for (unsigned k = 0; k < ex.nfields; k++) {
				uint64_t w = ex.field[k].kind == EXF_HITMISS
				                 ? !ex.field[k].value
				                 : ex.field[k].value + 1;
				char val[32];
				exercise_format_value(&ex.field[k], w, val, sizeof(val));
				off += (size_t)snprintf(wrong + off, sizeof(wrong) - off, "%s=%s ",
				                        ex.field[k].name, val);
			}
			check_student(&ex, wrong, &v);
			assert_int_equal(v.right, 0);
			for (unsigned k = 0; k < ex.nfields; k++) {
				char val[32], line[96];
				exercise_format_value(&ex.field[k], ex.field[k].value, val,
				                      sizeof(val));
				snprintf(line, sizeof(line), " %s\n", val);
				if (strstr(v.feedback.buf, line) && ex.field[k].kind != EXF_HITMISS)
					fail_msg("%s seed %llu: the feedback shows %s",
					         exercise_topic_name(ex.topic),
					         (unsigned long long)seed, val);
			}
			exercise_verdict_release(&v);
			exercise_release(&ex);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_examples),
	    cmocka_unit_test(test_buddy_seed1_by_hand),
	    cmocka_unit_test(test_slab_seed3_by_hand),
	    cmocka_unit_test(test_deterministic_and_varied),
	    cmocka_unit_test(test_right_and_wrong_answers),
	    cmocka_unit_test(test_answer_invariants),
	    cmocka_unit_test(test_replacement_against_oracle),
	    cmocka_unit_test(test_free_arithmetic),
	    cmocka_unit_test(test_translate_bits),
	    cmocka_unit_test(test_cow_bounds),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_student_feedback_hides_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
