/*
 * Unit tests of vmsimctl's parsing and formatting (no server): sizes, protections, word
 * splitting, free -h scaling, the op table against the proto descriptors, and every op
 * command line -> Op -> trace line -> Op round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl.h"

static void test_sizes(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(ctl_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(ctl_parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(ctl_parse_size("16M", &v), 0);
	assert_int_equal(v, 16u << 20);
	assert_int_equal(ctl_parse_size("1G", &v), 0);
	assert_int_equal(v, 1u << 30);
	assert_int_equal(ctl_parse_size("2GiB", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(ctl_parse_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(ctl_parse_size("0x1000", &v), 0);
	assert_int_equal(v, 4096);
	/* Bad input: clear refusal. */
	assert_int_equal(ctl_parse_size("", &v), -1);
	assert_int_equal(ctl_parse_size("-4K", &v), -1);
	assert_int_equal(ctl_parse_size("4X", &v), -1);
	assert_int_equal(ctl_parse_size("4KK", &v), -1);
	assert_int_equal(ctl_parse_size("K", &v), -1);
	assert_int_equal(ctl_parse_size("99999999999T", &v), -1);

	char buf[32];
	ctl_format_size(65536, buf, sizeof(buf));
	assert_string_equal(buf, "64K");
	ctl_format_size(1u << 30, buf, sizeof(buf));
	assert_string_equal(buf, "1G");
	ctl_format_size(4097, buf, sizeof(buf));
	assert_string_equal(buf, "4097");
	ctl_format_size(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
}

static void test_numbers(void **state)
{
	(void)state;
	uint64_t v;
	uint32_t u;
	int32_t i;
	assert_int_equal(ctl_parse_addr("0x7f0000001000", &v), 0);
	assert_true(v == 0x7f0000001000ull);
	assert_int_equal(ctl_parse_addr("0xzz", &v), -1);
	assert_int_equal(ctl_parse_u32("4294967295", &u), 0);
	assert_int_equal(ctl_parse_u32("4294967296", &u), -1);
	assert_int_equal(ctl_parse_u32("-1", &u), -1);
	assert_int_equal(ctl_parse_i32("-1000", &i), 0);
	assert_int_equal(i, -1000);
	assert_int_equal(ctl_parse_i32("1x", &i), -1);
}

static void test_prot(void **state)
{
	(void)state;
	uint32_t p;
	char buf[4];
	assert_int_equal(ctl_parse_prot("rw", &p), 0);
	assert_int_equal(p, 3);
	assert_int_equal(ctl_parse_prot("r-x", &p), 0);
	assert_int_equal(p, 5);
	assert_int_equal(ctl_parse_prot("none", &p), 0);
	assert_int_equal(p, 0);
	assert_int_equal(ctl_parse_prot("rr", &p), -1);
	assert_int_equal(ctl_parse_prot("rwq", &p), -1);
	assert_int_equal(ctl_parse_prot("", &p), -1);
	ctl_format_prot(7, buf);
	assert_string_equal(buf, "rwx");
	ctl_format_prot(4, buf);
	assert_string_equal(buf, "--x");
}

static void test_split(void **state)
{
	(void)state;
	char line[] = "  mmap 1  64K rw # a comment\n";
	char *argv[8];
	assert_int_equal(ctl_split(line, argv, 8), 4);
	assert_string_equal(argv[0], "mmap");
	assert_string_equal(argv[3], "rw");
	char q[] = "spawn \"my prog\" --stack 8K";
	assert_int_equal(ctl_split(q, argv, 8), 4);
	assert_string_equal(argv[1], "my prog");
	char blank[] = "   # only a comment";
	assert_int_equal(ctl_split(blank, argv, 8), 0);
	char many[] = "a b c d";
	assert_int_equal(ctl_split(many, argv, 3), -1);
}

/* The numbers of the real `free -h` sample (linux-samples/free-h.txt). */
static void test_human(void **state)
{
	(void)state;
	char buf[32];
	ctl_human(24684084ull * 1024, buf, sizeof(buf));
	assert_string_equal(buf, "23Gi");
	ctl_human(290348ull * 1024, buf, sizeof(buf));
	assert_string_equal(buf, "283Mi");
	ctl_human(8872ull * 1024, buf, sizeof(buf));
	assert_string_equal(buf, "8.7Mi");
	ctl_human(182424ull * 1024, buf, sizeof(buf));
	assert_string_equal(buf, "178Mi");
	ctl_human(0, buf, sizeof(buf));
	assert_string_equal(buf, "0B");
	ctl_human(999, buf, sizeof(buf));
	assert_string_equal(buf, "999B");
	ctl_human(1024, buf, sizeof(buf));
	assert_string_equal(buf, "1.0Ki");
}

static void test_selfcheck(void **state)
{
	(void)state;
	assert_int_equal(ctl_ops_selfcheck(stderr), 0);
}

/* Parses words (command words + arguments) as an op command. */
static Vmsim__V1__Op *parse_line(const char *text)
{
	char buf[512], *argv[32];
	snprintf(buf, sizeof(buf), "%s", text);
	int argc = ctl_split(buf, argv, 31);
	argv[argc] = NULL;
	int used;
	const struct ctl_cmd *cmd = ctl_find(argc, argv, &used);
	if (!cmd || !cmd->op)
		return NULL;
	return ctl_op_parse(cmd->op, argc - used + 1, argv + used - 1, "test");
}

/* input line, canonical trace line it prints back as */
static const char *const roundtrips[][2] = {
    {"alloc-pages 3", "alloc-pages 3"},
    {"alloc-pages 0 --zone DMA --gfp atomic", "alloc-pages 0 --zone DMA --gfp atomic"},
    {"alloc-pages 2 --zone HighMem", "alloc-pages 2 --zone HighMem"},
    {"free-pages 0x100 3", "free-pages 0x100 3"},
    {"free-pages 256 3", "free-pages 0x100 3"},
    {"cache create foo 96 --align 32", "cache create foo 96 --align 32"},
    {"cache alloc foo", "cache alloc foo"},
    {"cache free foo 0xffff888000100000", "cache free foo 0xffff888000100000"},
    {"cache shrink foo", "cache shrink foo"},
    {"cache destroy foo", "cache destroy foo"},
    {"kmalloc 100", "kmalloc 100"},
    {"kmalloc 16K --gfp atomic", "kmalloc 16K --gfp atomic"},
    {"kfree 0xffff888000200000", "kfree 0xffff888000200000"},
    {"vmalloc 65536", "vmalloc 64K"},
    {"vfree 0xffffc90000000000", "vfree 0xffffc90000000000"},
    {"spawn a", "spawn a"},
    {"spawn \"two words\" --stack 16K", "spawn \"two words\" --stack 16K"},
    {"fork 1", "fork 1"},
    {"vfork 1", "vfork 1"},
    {"clone 1 --vm", "clone 1 --vm"},
    {"exit 2", "exit 2"},
    {"exit 2 -- -1", "exit 2 -1"},
    {"exec 2 ls --text 64K", "exec 2 ls --text 64K"},
    {"switch 2", "switch 2"},
    {"rlimit 2 100", "rlimit 2 100"},
    {"oom-adj 2 500", "oom-adj 2 500"},
    {"mmap 1 64K rw", "mmap 1 64K rw-"},
    {"mmap 1 64K --prot r --shared --file 3", "mmap 1 64K r-- --shared --file 3"},
    {"mmap 1 1M rw --addr 0x10000000 --fixed", "mmap 1 1M rw- --addr 0x10000000 --fixed"},
    {"mmap 1 64K r --shared --driver 0", "mmap 1 64K r-- --shared --driver 0"},
    {"mmap 1 64K r --shared --driver 1", "mmap 1 64K r-- --shared --driver 1"},
    {"mmap 1 8K", "mmap 1 8K"},
    {"munmap 1 0x7f0000000000 4K", "munmap 1 0x7f0000000000 4K"},
    {"mprotect 1 0x7f0000000000 4K r", "mprotect 1 0x7f0000000000 4K r--"},
    {"brk 1", "brk 1"},
    {"brk 1 0x602000", "brk 1 0x602000"},
    {"madvise 1 0x7f0000000000 8K dontneed", "madvise 1 0x7f0000000000 8K dontneed"},
    {"touch 1 0x7f0000000000", "touch 1 0x7f0000000000"},
    {"touch 1 0x7f0000000000 --write", "touch 1 0x7f0000000000 --write"},
    {"touch --exec 1 0x400000", "touch 1 0x400000 --exec"},
    {"touch-range 1 0x7f0000000000 64K --write --stride 8K",
     "touch-range 1 0x7f0000000000 64K --write --stride 8K"},
    {"file create data 1M", "file create data 1M"},
    {"file read 1 0 64K", "file read 1 0 64K"},
    {"file write 1 4K 8K", "file write 1 4K 8K"},
    {"file sync 1", "file sync 1"},
    {"file rm 1", "file rm 1"},
    {"swap mk /swapfile 64M", "swap mk /swapfile 64M"},
    {"swap on /swapfile", "swap on /swapfile"},
    {"swap on /swapfile --prio 5", "swap on /swapfile --prio 5"},
    {"swap on /swapfile --prio 0", "swap on /swapfile --prio 0"},
    {"swap off /swapfile", "swap off /swapfile"},
    {"reclaim", "reclaim"},
    {"reclaim 32", "reclaim"},
    {"reclaim 100", "reclaim 100"},
    {"tick", "tick"},
    {"tick 1", "tick"},
    {"drop-caches 3", "drop-caches 3"},
    {"tick 10", "tick 10"},
    {"swappiness 100", "swappiness 100"},
    {"driver open 64K --minor 1", "driver open 64K --minor 1"},
    {"driver close", "driver close"},
};

static void test_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(roundtrips) / sizeof(roundtrips[0]); i++) {
		Vmsim__V1__Op *op = parse_line(roundtrips[i][0]);
		if (!op)
			fail_msg("did not parse: %s", roundtrips[i][0]);
		char out[512];
		assert_true(ctl_op_format(op, out, sizeof(out)) > 0);
		if (strcmp(out, roundtrips[i][1]) != 0)
			fail_msg("%s -> '%s', want '%s'", roundtrips[i][0], out, roundtrips[i][1]);
		/* The printed line parses back to the same bytes on the wire. */
		Vmsim__V1__Op *again = parse_line(out);
		assert_non_null(again);
		size_t n1 = protobuf_c_message_get_packed_size(&op->base);
		size_t n2 = protobuf_c_message_get_packed_size(&again->base);
		assert_int_equal(n1, n2);
		uint8_t *b1 = malloc(n1 + 1), *b2 = malloc(n2 + 1);
		protobuf_c_message_pack(&op->base, b1);
		protobuf_c_message_pack(&again->base, b2);
		assert_memory_equal(b1, b2, n1);
		free(b1);
		free(b2);
		ctl_op_free(op);
		ctl_op_free(again);
	}
}

/* The fields each op really sets (a spot check of the descriptor plumbing). */
static void test_fields(void **state)
{
	(void)state;
	Vmsim__V1__Op *op = parse_line("mmap 7 64K rw --shared --addr 0x1000 --fixed");
	assert_non_null(op);
	assert_int_equal(op->op_case, VMSIM__V1__OP__OP_MMAP);
	assert_int_equal(op->mmap->pid, 7);
	assert_int_equal(op->mmap->len, 65536);
	assert_int_equal(op->mmap->prot, 3);
	assert_int_equal(op->mmap->addr, 0x1000);
	assert_int_equal(op->mmap->flags, 0x01 | 0x10 | 0x20); /* SHARED|FIXED|ANONYMOUS */
	ctl_op_free(op);
	op = parse_line("mmap 7 64K r --file 3");
	assert_int_equal(op->mmap->flags, 0x02); /* PRIVATE, file-backed */
	assert_int_equal(op->mmap->file, 3);
	ctl_op_free(op);
	op = parse_line("alloc-pages 4 --zone DMA32 --gfp atomic");
	assert_int_equal(op->alloc_pages->order, 4);
	assert_int_equal(op->alloc_pages->gfp, 0x04 | 0x60);
	ctl_op_free(op);
	op = parse_line("touch 3 0x2000 --write");
	assert_int_equal(op->access->kind, VMSIM__V1__ACCESS_KIND__ACCESS_WRITE);
	ctl_op_free(op);
	op = parse_line("exit 2 -- -9");
	assert_int_equal(op->exit->code, -9);
	ctl_op_free(op);
	const ProtobufCMethodDescriptor *m =
	    ctl_op_method(&vmsim__v1__access_range_request__descriptor);
	assert_string_equal(m->name, "AccessRange");
}

/* Each kind of bad input is refused (and nothing is built). */
static void test_bad_input(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "alloc-pages",                  /* missing argument */
	    "alloc-pages x",                /* not a number */
	    "alloc-pages 1 --zone Foo",     /* unknown zone */
	    "alloc-pages 1 2",              /* extra argument */
	    "kmalloc 4Q",                   /* bad size suffix */
	    "mmap 1 64K rwz",               /* bad protection */
	    "mmap 1 64K --bogus",           /* unknown option */
	    "touch 1",                      /* missing ADDR */
	    "touch 1 0xgg",                 /* bad address */
	    "madvise 1 0x1000 4K sideways", /* unknown advice */
	    "spawn \"\"",                   /* empty name */
	    "spawn a\"b",     /* a quote in a name cannot be written back (found by fuzz_trace) */
	    "spawn -- -adj",  /* nor a leading '-': it reads back as an option */
	    "spawn \x01-adj", /* the byte that marks negative numbers inside the parser */
	    "free-pages 4294967296999999999999 0", /* out of range */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Vmsim__V1__Op *op = parse_line(bad[i]);
		if (op)
			fail_msg("accepted bad input: %s", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),     cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_prot),      cmocka_unit_test(test_split),
	    cmocka_unit_test(test_human),     cmocka_unit_test(test_selfcheck),
	    cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
