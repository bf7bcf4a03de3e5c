/* Shared helpers for the core unit tests: build ops, apply them, compare with golden files. */
#ifndef VMSIM_TEST_HELPERS_H
#define VMSIM_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "kernel.h"

struct machine *new_machine(enum machine_arch arch, uint64_t ram);
/* Applies op, fails the test unless it returns `want`; runs machine_check afterwards. */
struct op_result apply_expect(struct machine *m, const struct op *op, enum vm_err want);
void assert_machine_ok(const struct machine *m);
/* Compares text with tests/golden/NAME; VMSIM_UPDATE_GOLDEN=1 rewrites the file. */
void assert_golden(const char *name, const char *text);

/* Snapshot bytes of m (free them), and a check that m still saves to exactly those bytes:
 * an op refused (res.seq 0) must change nothing at all. */
uint8_t *t_save(const struct machine *m, size_t *len);
/* Sets a snapshot's format version and re-seals its checksum the way that version sums. */
void t_reseal(uint8_t *snap, size_t len, uint32_t version);
/* The first place tag (a section's 4 letters) occurs in a snapshot's payload; fails if none. */
uint8_t *t_find_section(uint8_t *snap, size_t len, const char tag[4]);
/* A snapshot in an older layout (version 1 or 2: whole kmap'ed pages, byte-wise sum). */
uint8_t *t_downgrade(const uint8_t *snap, size_t len, uint32_t version, size_t *out_len);
/* The whole of a file (free it); fails the test if it cannot be read. */
uint8_t *t_read_file(const char *path, size_t *len);
void assert_unchanged(const struct machine *m, const uint8_t *before, size_t blen);
/* An op that failed partway keeps its work, so the journal holds it: applied again to the
 * machine `before` was (a snapshot), it must give exactly the machine m is now. */
void assert_replays(const uint8_t *before, size_t blen, const struct op *op,
                    const struct machine *m);
/* res is a failure that did work: it took the next seq and its last event is "op failed". */
void assert_failed_with_work(const struct machine *m, const struct op_result *res,
                             uint64_t seq_before);
/* A rendered view ("meminfo", "/proc/vmstat", "free -h", ...); fails the test on an error. */
char *t_view(struct machine *m, const char *path);
/* Creates file `name` and writes `size` bytes to it (page cache, dirty); returns its inode. */
uint32_t t_file_with_data(struct machine *m, const char *name, uint64_t size);

uint32_t t_alloc_pages(struct machine *m, uint32_t gfp, unsigned order);
void t_free_pages(struct machine *m, uint32_t pfn, unsigned order);

#endif
