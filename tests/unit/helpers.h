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

uint32_t t_alloc_pages(struct machine *m, uint32_t gfp, unsigned order);
void t_free_pages(struct machine *m, uint32_t pfn, unsigned order);

#endif
