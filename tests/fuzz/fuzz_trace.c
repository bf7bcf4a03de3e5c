/*
 * Fuzzes the trace parser (client/trace.c's per-line path, without the network): each input
 * line is split into words (ctl_split), looked up in the command table (ctl_find) and, for an
 * op, parsed into an Op (ctl_op_parse). An op that parses must print back as a canonical trace
 * line (ctl_op_format) that parses to the same op and prints the same line again: what
 * `vmsimctl record` writes, `vmsimctl run` must read back unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define MAX_WORDS 32
#define MAX_LINES 32

static void die(const char *what, const char *line)
{
	fprintf(stdout, "fuzz_trace: %s: %s\n", what, line);
	fflush(stdout);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The parser explains every bad line on stderr; keep the run's output readable.
	 * Sanitizer reports go to file descriptor 2 directly and are not affected. */
	FILE *null = fopen("/dev/null", "w");
	if (null)
		stderr = null;
	return 0;
}

/* Parses one line; returns the op or NULL (not an op, or a bad one). */
static Vmsim__V1__Op *parse(char *line)
{
	char *argv[MAX_WORDS + 1];
	int argc = ctl_split(line, argv, MAX_WORDS);
	if (argc <= 0)
		return NULL;
	argv[argc] = NULL;
	int used;
	const struct ctl_cmd *cmd = ctl_find(argc, argv, &used);
	if (!cmd || !cmd->op)
		return NULL;
	return ctl_op_parse(cmd->op, argc - used + 1, argv + used - 1, "fuzz");
}

static void check_line(const char *text)
{
	char line[1024], canon[1024], again[1024], copy[1024];
	snprintf(line, sizeof(line), "%s", text);
	Vmsim__V1__Op *op = parse(line);
	if (!op)
		return;
	if (ctl_op_format(op, canon, sizeof(canon)) < 0)
		die("an op that parsed does not format", text);
	snprintf(copy, sizeof(copy), "%s", canon);
	Vmsim__V1__Op *op2 = parse(copy);
	if (!op2)
		die("the canonical line does not parse", canon);
	if (ctl_op_format(op2, again, sizeof(again)) < 0 || strcmp(canon, again))
		die("the canonical line does not print back the same", canon);
	size_t a = protobuf_c_message_get_packed_size(&op->base);
	size_t b = protobuf_c_message_get_packed_size(&op2->base);
	uint8_t *pa = malloc(a + 1), *pb = malloc(b + 1);
	protobuf_c_message_pack(&op->base, pa);
	protobuf_c_message_pack(&op2->base, pb);
	if (a != b || memcmp(pa, pb, a))
		die("the canonical line parses to a different op", canon);
	free(pa);
	free(pb);
	ctl_op_free(op);
	ctl_op_free(op2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *save = NULL, *line = strtok_r(text, "\n", &save);
	for (int n = 0; line && n < MAX_LINES; n++, line = strtok_r(NULL, "\n", &save))
		check_line(line);
	free(text);
	return 0;
}
