/*
 * Fuzzes snapshot load (core/snapshot.c machine_load) three ways, chosen by the first byte:
 *   0: the input is a whole snapshot file (envelope, version, length, checksum checks);
 *   1: the input is a payload, wrapped in a valid envelope so the section readers are reached;
 *   2: the input is a config + op sequence: the ops run on a fresh machine (fuzzing
 *      machine_apply itself: machine_check after the last op; every 16th op, if it fails,
 *      must leave the machine unchanged when refused, or replay to the same machine when it
 *      failed partway), the machine is saved, the rest of the input flips bytes in the saved
 *      payload, the checksum is fixed, and it is loaded.
 * Whatever loads must pass machine_check, re-save to the same bytes, and keep working.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ops.h"
#include "machine.h"
#include "snapshot.h"

#define MAX_RAM  (8ull << 20) /* loads of bigger machines are skipped: each costs ms */
#define MAX_OPS  64
#define ENV_HEAD 20 /* magic 8, version 4, payload length 8 */

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_snapshot: %s: %s\n", what, why);
	abort();
}

static void report_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i = 0;
	while (i < alen && i < blen && a[i] == b[i])
		i++;
	fprintf(stderr, "fuzz_snapshot: first difference at byte %zu of %zu/%zu\n", i, alen, blen);
}

/*
 * Save buffers kept across inputs: a fresh buffer for every save cost more than the save
 * itself (ASan maps big allocations anew and fills their first page).
 */
static struct snap_writer saved[3];

/*
 * A loaded machine must accept ops and stay consistent (machine_load itself ends with
 * machine_check). A fresh save must re-save to the same bytes; a corrupted one that still
 * loads may be normalised by load, but only once: saving the loaded machine again must be a
 * fixed point.
 */
static void exercise_loaded(struct machine *m, const uint8_t *snap, size_t len, int fresh)
{
	char why[256], err[256];
	struct snap_writer *again = &saved[1], *third = &saved[2];
	machine_save_to(m, again);
	if (again->len != len || memcmp(again->buf, snap, len)) {
		if (fresh) {
			report_diff(snap, len, again->buf, again->len);
			die("load(save(m)) round trip", "bytes differ");
		}
		struct machine *m2 = machine_load(again->buf, again->len, err, sizeof(err));
		if (!m2)
			die("a re-saved loaded snapshot does not load", err);
		machine_save_to(m2, third);
		if (third->len != again->len || memcmp(third->buf, again->buf, again->len)) {
			report_diff(again->buf, again->len, third->buf, third->len);
			die("save(load(save(load(x)))) is not a fixed point", "bytes differ");
		}
		machine_destroy(m2);
	}
	struct op op = {.kind = OP_ALLOC_PAGES};
	struct op_result res;
	if (machine_apply(m, &op, &res) == VM_OK) {
		op.kind = OP_FREE_PAGES;
		op.u.free_pages.pfn = res.value;
		if (machine_apply(m, &op, &res) != VM_OK)
			die("free of a fresh page after load", res.msg);
	}
	if (machine_check(m, why, sizeof(why)))
		die("machine_check after ops on a loaded machine", why);
}

static void try_load(const uint8_t *snap, size_t len)
{
	char err[256];
	/* Refuse configs whose RAM would take the host's memory (the mem_map is 16 B/frame). */
	if (len >= ENV_HEAD + 16 && get_le(snap + ENV_HEAD + 8, 8) > MAX_RAM)
		return;
	struct machine *m = machine_load(snap, len, err, sizeof(err));
	if (!m) {
		if (!err[0])
			die("machine_load failed", "without a reason");
		return;
	}
	exercise_loaded(m, snap, len, 0);
	machine_destroy(m);
}

static void wrap_and_load(const uint8_t *payload, size_t plen)
{
	uint8_t *buf = malloc(plen + ENV_HEAD + 8);
	if (!buf)
		return;
	memcpy(buf, "VMSIMSNP", 8);
	put_le(buf + 8, SNAPSHOT_VERSION, 4);
	put_le(buf + 12, plen, 8);
	memcpy(buf + ENV_HEAD, payload, plen);
	put_le(buf + ENV_HEAD + plen, snapshot_checksum(SNAPSHOT_VERSION, payload, plen), 8);
	try_load(buf, plen + ENV_HEAD + 8);
	free(buf);
}

/*
 * An op refused (no seq) must leave the machine byte-for-byte as it was; one that failed
 * partway is journaled, so applying it again to the machine from before must give the same
 * bytes (what a server restart replays).
 */
static void apply_checked(struct machine *m, const struct op *op, struct op_result *res)
{
	struct snap_writer *before = &saved[1], *after = &saved[2];
	char err[256];
	machine_save_to(m, before);
	if (machine_apply(m, op, res) == VM_OK)
		return;
	machine_save_to(m, after);
	if (res->seq) {
		struct machine *again = machine_load(before->buf, before->len, err, sizeof(err));
		if (!again)
			die("the machine before a failed op does not load", err);
		struct op_result res2;
		machine_apply(again, op, &res2);
		machine_save_to(again, before);
		machine_destroy(again);
	}
	if (after->len != before->len || memcmp(after->buf, before->buf, before->len)) {
		report_diff(before->buf, before->len, after->buf, after->len);
		die(res->seq ? "a failed op replays to another machine"
		             : "a refused op changed the machine",
		    res->msg);
	}
}

static void ops_then_corrupt(struct fuzz_stream *s)
{
	struct machine_config cfg;
	uint8_t c = (uint8_t)fz_raw(s, 1);
	/* The smallest machine (4 MiB, 1024 frames): save, load and check walk every frame, and
	 * this keeps an input well under a millisecond. */
	machine_config_default(&cfg, (c & 1) ? ARCH_X86_64 : ARCH_I386, MACHINE_RAM_MIN);
	cfg.seed = fz_raw(s, 1);
	cfg.event_ring = 64; /* small snapshots: more inputs per second */
	char err[256], why[256];
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	if (!m)
		die("machine_create of a valid config", err);
	unsigned nops = (unsigned)fz_raw(s, 1) % MAX_OPS;
	for (unsigned i = 0; i < nops && !fz_done(s); i++) {
		struct op op;
		struct op_result res;
		fz_op(s, &op);
		/* every 16th op: a failure must be refused cleanly or replay exactly */
		if (i % 16)
			machine_apply(m, &op, &res);
		else
			apply_checked(m, &op, &res);
	}
	/* The full check walks every frame: once, after the last op (the core's own randomized
	 * tests check after every op; here the point is what save and load make of the state). */
	if (machine_check(m, why, sizeof(why)))
		die("machine_check after the ops", why);
	machine_save_to(m, &saved[0]);
	uint8_t *snap = saved[0].buf;
	size_t len = saved[0].len;
	machine_destroy(m);
	struct machine *copy = machine_load(snap, len, err, sizeof(err));
	if (!copy)
		die("machine_load of a fresh save", err);
	exercise_loaded(copy, snap, len, 1);
	machine_destroy(copy);
	/* Flip bytes of the payload (position, xor mask) and load with a fixed checksum. */
	size_t plen = len - ENV_HEAD - 8;
	unsigned flips = (unsigned)fz_raw(s, 1) % 8;
	for (unsigned i = 0; i < flips && plen; i++) {
		size_t at = (size_t)fz_raw(s, 4) % plen;
		snap[ENV_HEAD + at] ^= (uint8_t)fz_raw(s, 1) | 1;
	}
	if (flips) {
		put_le(snap + ENV_HEAD + plen,
		       snapshot_checksum(SNAPSHOT_VERSION, snap + ENV_HEAD, plen), 8);
		try_load(snap, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		try_load(data + 1, size - 1);
		break;
	case 1:
		wrap_and_load(data + 1, size - 1);
		break;
	default: {
		struct fuzz_stream s = {data + 1, size - 1, 0};
		ops_then_corrupt(&s);
		break;
	}
	}
	return 0;
}
