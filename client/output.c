/*
 * How results look: aligned tables (two spaces between columns, numbers right-aligned),
 * human sizes the way procps free -h writes them, and -o json through the shared
 * descriptor-driven proto3 JSON codec (proto/pb_json.c).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "pb_json.h"

/* procps free.c scale_size() in human mode: the first of "123B", "1.5Ki", "123Ki", "1.5Mi",
 * ... that fits in 5 characters (4 for plain bytes): 23Gi, 283Mi, 8.7Mi, 0B. */
void ctl_human(uint64_t bytes, char *buf, size_t len)
{
	static const char up[] = "BKMGTP";
	if (snprintf(buf, len, "%" PRIu64 "B", bytes) <= 4)
		return;
	double scale = 1;
	for (int i = 1; up[i]; i++) {
		scale *= 1024.0;
		if (snprintf(buf, len, "%.1f%ci", (float)((double)bytes / scale), up[i]) <= 5)
			return;
		if (snprintf(buf, len, "%ld%ci", (long)((double)bytes / scale), up[i]) <= 5)
			return;
	}
}

void ctl_print_json(const ProtobufCMessage *msg)
{
	size_t len = 0;
	char *s = pb_json_dumps(msg, PB_JSON_EMIT_DEFAULTS, &len);
	if (!s) {
		fprintf(stderr, "vmsimctl: out of memory\n");
		return;
	}
	fwrite(s, 1, len, stdout);
	putchar('\n');
	free(s);
}

struct ctl_table {
	int ncols;
	const char *const *heads;
	char **cells; /* row-major */
	size_t rows, cap, filled;
};

struct ctl_table *ctl_table_new(int ncols, const char *const *heads)
{
	struct ctl_table *t = calloc(1, sizeof(*t));
	if (t) {
		t->ncols = ncols;
		t->heads = heads;
	}
	return t;
}

static void table_put(struct ctl_table *t, int col, char *s)
{
	if (col == 0) {
		if (t->rows + 1 > t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			char **c = realloc(t->cells, cap * (size_t)t->ncols * sizeof(char *));
			if (!c) {
				free(s);
				return;
			}
			t->cells = c;
			t->cap = cap;
		}
		memset(&t->cells[t->rows * (size_t)t->ncols], 0, (size_t)t->ncols * sizeof(char *));
		t->rows++;
	}
	if (!t->rows) {
		free(s);
		return;
	}
	char **slot = &t->cells[(t->rows - 1) * (size_t)t->ncols + (size_t)col];
	free(*slot);
	*slot = s;
}

void ctl_table_add(struct ctl_table *t, ...)
{
	va_list ap;
	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		table_put(t, i, strdup(s ? s : ""));
	}
	va_end(ap);
}

void ctl_table_addf(struct ctl_table *t, int col, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	table_put(t, col, s ? s : strdup(""));
}

void ctl_table_print(struct ctl_table *t, enum ctl_output mode, FILE *f)
{
	if (!t)
		return;
	int n = t->ncols;
	size_t *w = calloc((size_t)n, sizeof(size_t));
	for (int c = 0; w && c < n; c++) {
		const char *h = t->heads[c];
		w[c] = strlen(h[0] == '>' ? h + 1 : h);
		for (size_t r = 0; r < t->rows; r++) {
			const char *s = t->cells[r * (size_t)n + (size_t)c];
			if (s && strlen(s) > w[c])
				w[c] = strlen(s);
		}
	}
	for (size_t r = 0; w && r <= t->rows; r++) {
		if (r == 0 && mode != CTL_OUT_TABLE)
			continue;
		for (int c = 0; c < n; c++) {
			const char *h = t->heads[c];
			int right = h[0] == '>';
			const char *s = r == 0 ? (right ? h + 1 : h)
			                       : t->cells[(r - 1) * (size_t)n + (size_t)c];
			if (!s)
				s = "";
			if (mode != CTL_OUT_TABLE) {
				fprintf(f, "%s%s", c ? "\t" : "", s);
				continue;
			}
			int last = c == n - 1;
			if (right)
				fprintf(f, "%s%*s", c ? "  " : "", (int)w[c], s);
			else
				fprintf(f, "%s%-*s", c ? "  " : "", last ? 0 : (int)w[c], s);
		}
		fputc('\n', f);
	}
	for (size_t i = 0; i < t->rows * (size_t)n; i++)
		free(t->cells[i]);
	free(t->cells);
	free(w);
	free(t);
}
