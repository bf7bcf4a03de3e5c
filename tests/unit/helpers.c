#include "helpers.h"

#include "proc.h"
#include "snapshot.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct machine *new_machine(enum machine_arch arch, uint64_t ram)
{
	struct machine_config cfg;
	char err[256];
	machine_config_default(&cfg, arch, ram);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	if (!m)
		fail_msg("machine_create: %s", err);
	assert_machine_ok(m);
	return m;
}

void assert_machine_ok(const struct machine *m)
{
	char buf[512];
	if (machine_check(m, buf, sizeof(buf)))
		fail_msg("machine_check: %s", buf);
}

struct op_result apply_expect(struct machine *m, const struct op *op, enum vm_err want)
{
	struct op_result res;
	enum vm_err e = machine_apply(m, op, &res);
	if (e != want)
		fail_msg("op %#x: got %s (%s), want %s", op->kind, vm_strerror(e), res.msg,
		         vm_strerror(want));
	assert_machine_ok(m);
	return res;
}

void assert_golden(const char *name, const char *text)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", VMSIM_GOLDEN_DIR, name);
	if (getenv("VMSIM_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		return;
	}
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("golden file %s missing (run with VMSIM_UPDATE_GOLDEN=1 to create)", path);
	static char want[1 << 20];
	size_t n = fread(want, 1, sizeof(want) - 1, f);
	fclose(f);
	want[n] = '\0';
	if (strcmp(want, text) != 0)
		fail_msg("%s differs:\n--- want\n%s--- got\n%s", name, want, text);
}

uint32_t t_alloc_pages(struct machine *m, uint32_t gfp, unsigned order)
{
	struct op op = {.kind = OP_ALLOC_PAGES};
	op.u.alloc_pages.gfp = gfp;
	op.u.alloc_pages.order = order;
	struct op_result r = apply_expect(m, &op, VM_OK);
	return (uint32_t)r.value;
}

void t_free_pages(struct machine *m, uint32_t pfn, unsigned order)
{
	struct op op = {.kind = OP_FREE_PAGES};
	op.u.free_pages.pfn = pfn;
	op.u.free_pages.order = order;
	apply_expect(m, &op, VM_OK);
}

uint8_t *t_save(const struct machine *m, size_t *len)
{
	uint8_t *b;
	assert_int_equal(machine_save(m, &b, len), 0);
	return b;
}

void t_reseal(uint8_t *snap, size_t len, uint32_t version)
{
	for (int i = 0; i < 4; i++)
		snap[8 + i] = (uint8_t)(version >> (8 * i));
	uint64_t sum = snapshot_checksum(version, snap + 20, len - 28);
	for (int i = 0; i < 8; i++)
		snap[len - 8 + (size_t)i] = (uint8_t)(sum >> (8 * i));
}

uint8_t *t_find_section(uint8_t *snap, size_t len, const char tag[4])
{
	for (size_t i = 20; i + 4 <= len - 8; i++)
		if (!memcmp(snap + i, tag, 4))
			return snap + i;
	fail_msg("no %.4s section in the snapshot", tag);
	return NULL;
}

/* The PGTB section's pages go back to whole 4 KiB pages; everything else is the same. */
uint8_t *t_downgrade(const uint8_t *snap, size_t len, uint32_t version, size_t *out_len)
{
	assert_true(version < 3);
	const uint8_t *tag = t_find_section((uint8_t *)snap, len, "PGTB");
	const uint8_t *in = tag + 16; /* tag, u64 nr_pgtable, u32 count */
	uint32_t n = (uint32_t)(in[-4] | in[-3] << 8 | in[-2] << 16 | (uint32_t)in[-1] << 24);
	uint8_t *out = calloc(1, len + (size_t)n * (4 + PAGE_SIZE));
	assert_non_null(out);
	size_t o = (size_t)(in - snap);
	memcpy(out, snap, o);
	for (uint32_t i = 0; i < n; i++) {
		memcpy(out + o, in, 4); /* pfn */
		const uint8_t *map = in + 4;
		in = map + PAGE_SIZE / 64;
		o += 4;
		for (unsigned w = 0; w < PAGE_SIZE / 8; w++)
			if (map[w / 8] >> (w % 8) & 1) {
				memcpy(out + o + 8 * w, in, 8);
				in += 8;
			}
		o += PAGE_SIZE;
	}
	size_t rest = (size_t)(snap + len - 8 - in);
	memcpy(out + o, in, rest);
	o += rest + 8;
	for (int i = 0; i < 8; i++)
		out[12 + i] = (uint8_t)((o - 28) >> (8 * i));
	t_reseal(out, o, version);
	*out_len = o;
	return out;
}

uint8_t *t_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	*len = n;
	return buf;
}

void assert_unchanged(const struct machine *m, const uint8_t *before, size_t blen)
{
	size_t len;
	uint8_t *now = t_save(m, &len);
	assert_int_equal(len, blen);
	assert_memory_equal(now, before, len);
	free(now);
}

void assert_replays(const uint8_t *before, size_t blen, const struct op *op,
                    const struct machine *m)
{
	char err[256];
	struct machine *again = machine_load(before, blen, err, sizeof(err));
	if (!again)
		fail_msg("the snapshot before the op does not load: %s", err);
	struct op_result res;
	machine_apply(again, op, &res);
	size_t len;
	uint8_t *replayed = t_save(again, &len);
	assert_unchanged(m, replayed, len);
	free(replayed);
	machine_destroy(again);
}

void assert_failed_with_work(const struct machine *m, const struct op_result *res,
                             uint64_t seq_before)
{
	assert_int_not_equal(res->err, VM_OK);
	assert_int_equal(res->seq, seq_before + 1);
	assert_int_equal(machine_seq(m), seq_before + 1);
	const struct event *last = event_get(m, res->last_event);
	assert_non_null(last);
	assert_int_equal(last->type, EV_OP_FAILED);
	assert_int_equal(last->seq, res->seq);
}

char *t_view(struct machine *m, const char *path)
{
	struct strbuf sb;
	strbuf_init(&sb);
	enum vm_err e = proc_render(m, path, &sb);
	if (e != VM_OK)
		fail_msg("view %s: %s", path, vm_strerror(e));
	return strbuf_detach(&sb, NULL);
}

uint32_t t_file_with_data(struct machine *m, const char *name, uint64_t size)
{
	struct op op = {.kind = OP_FILE_CREATE};
	snprintf(op.u.file_create.name, NAME_LEN, "%s", name);
	uint32_t ino = (uint32_t)apply_expect(m, &op, VM_OK).value;
	struct op w = {.kind = OP_FILE_WRITE};
	w.u.file_io.ino = ino;
	w.u.file_io.len = size;
	apply_expect(m, &w, VM_OK);
	return ino;
}
