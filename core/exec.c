/*
 * The program image (fs/exec.c, fs/binfmt_elf.c): the ELF-like layout a new program gets,
 * text, data, bss, an empty heap and the stack, with mmap_base below the stack gap.
 */
#include "mmap.h"

#include <stdio.h>

#include "kernel.h"

#define MIN_GAP (128ull << 20) /* mmap_base(): at least 128 MiB below the stack top */

static uint32_t exe_inode(const char *name)
{
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return 100000 + h % 900000;
}

enum vm_err image_check(const struct machine *m, uint64_t *text, uint64_t *data, uint64_t *bss,
                        uint64_t *stack, struct op_result *res)
{
	uint64_t lim = m->cfg.arch == ARCH_I386 ? (512ull << 20) : (1ull << 30);
	*text = *text ? *text : 16 << 10;
	*data = *data ? *data : 4 << 10;
	*stack = *stack ? *stack : 132 << 10;
	if (*text > lim || *data > lim || *bss > lim || *stack > (64ull << 20))
		return op_fail(res, VM_EINVAL,
		               "image: text/data/bss must be <= %llu MiB each, stack <= 64 MiB",
		               (unsigned long long)(lim >> 20));
	return VM_OK;
}

enum vm_err setup_image(struct machine *m, struct mm_struct *mm, const char *name, uint64_t text,
                        uint64_t data, uint64_t bss, uint64_t stack, struct op_result *res)
{
	int i386 = m->cfg.arch == ARCH_I386;
	uint64_t ts = task_size(m);
	enum vm_err e = image_check(m, &text, &data, &bss, &stack, res);
	if (e)
		return e;
	snprintf(mm->exe, sizeof(mm->exe), "%s%s", name[0] == '/' ? "" : "/bin/", name);
	mm->exe_ino = exe_inode(mm->exe);
	mm->start_code = i386 ? 0x08048000ull : 0x400000ull;
	mm->end_code = mm->start_code + text;
	mm->start_data = PAGE_ALIGN(mm->end_code);
	mm->end_data = mm->start_data + data;
	uint64_t bss_start = PAGE_ALIGN(mm->end_data), bss_end = PAGE_ALIGN(mm->end_data + bss);
	mm->start_brk = mm->brk = bss_end;
	mm->mmap_base = ts - MIN_GAP;
	uint64_t stack_start = ts - PAGE_ALIGN(stack);
	mm->start_stack = ts - 0x100; /* the initial stack pointer, below argv/envp */
	uint32_t img = VM_EXECIMAGE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
	uint64_t text_pages = PAGE_ALIGN(text) >> PAGE_SHIFT;
	if (!mmap_region(m, mm, mm->start_code, PAGE_ALIGN(text), img | VM_READ | VM_EXEC, 0, 0) ||
	    !mmap_region(m, mm, mm->start_data, PAGE_ALIGN(data),
	                 img | VM_READ | VM_WRITE | VM_ACCOUNT, 0, text_pages) ||
	    (bss_end > bss_start &&
	     !mmap_region(m, mm, bss_start, bss_end - bss_start,
	                  VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT,
	                  0, 0)) ||
	    !mmap_region(m, mm, stack_start, ts - stack_start,
	                 VM_READ | VM_WRITE | VM_GROWSDOWN | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC |
	                     VM_ACCOUNT,
	                 0, 0))
		return op_fail(res, VM_ENOMEM, "image: out of memory for the VMAs");
	return VM_OK;
}
