/*
 * /proc/PID/maps, smaps, status and pmap (fs/proc/task_mmu.c, fs/proc/array.c): text views
 * of an mm in the kernel's formats, column for column.
 */
#include "task_mmu.h"

#include <stdio.h>
#include <string.h>

#include "kernel.h"
#include "rmap.h"

static const char *vma_name(const struct machine *m, const struct mm_struct *mm,
                            const struct vm_area_struct *v, char *buf, size_t len)
{
	if (v->vm_flags & VM_MIXEDMAP) {
		snprintf(buf, len, "/dev/mapdrv%u", v->vm_file);
		return buf;
	}
	if (v->vm_file)
		return filemap_file_name(m, v->vm_file);
	if (v->vm_flags & VM_HUGETLB)
		return "/anon_hugepage (deleted)"; /* hugetlb_file_setup()'s unlinked file */
	if (v->vm_flags & VM_EXECIMAGE)
		return mm->exe;
	if (v->vm_start <= mm->brk && v->vm_end >= mm->start_brk)
		return "[heap]";
	if (vma_is_stack(mm, v))
		return "[stack]";
	return NULL;
}

/* show_map_vma(): "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " then the name at column 73
 * (49 on 32-bit: seq_setwidth(m, 25 + sizeof(void *) * 6 - 1) then seq_pad). */
static void show_vma_header(const struct machine *m, const struct mm_struct *mm,
                            const struct vm_area_struct *v, struct strbuf *sb)
{
	unsigned dev_major = 0, dev_minor = 0;
	uint64_t ino = 0, pgoff = 0;
	char p[5], nb[48];
	prot_str(v->vm_flags, p);
	if (v->vm_flags & VM_MIXEDMAP) {
		dev_minor = 5; /* devtmpfs */
		ino = 1000 + v->vm_file;
		pgoff = v->vm_pgoff << PAGE_SHIFT;
	} else if (v->vm_flags & VM_HUGETLB) {
		/* the internal hugetlbfs mount; one inode per mapping, named by its address */
		dev_minor = 0x0f;
		ino = (v->vm_start - (v->vm_pgoff << PAGE_SHIFT)) >>
		      (PAGE_SHIFT + huge_page_order(m));
		pgoff = v->vm_pgoff << PAGE_SHIFT;
	} else if (v->vm_file || (v->vm_flags & VM_EXECIMAGE)) {
		dev_major = 8;
		dev_minor = 1;
		ino = v->vm_file ? v->vm_file : mm->exe_ino;
		pgoff = v->vm_pgoff << PAGE_SHIFT;
	}
	size_t start = sb->len;
	strbuf_addf(sb, "%08llx-%08llx %s %08llx %02x:%02x %llu ", (unsigned long long)v->vm_start,
	            (unsigned long long)v->vm_end, p, (unsigned long long)pgoff, dev_major,
	            dev_minor, (unsigned long long)ino);
	const char *name = vma_name(m, mm, v, nb, sizeof(nb));
	if (name) {
		size_t width = m->cfg.arch == ARCH_I386 ? 25 + 4 * 6 - 1 : 25 + 8 * 6 - 1;
		size_t used = sb->len - start;
		if (used < width)
			strbuf_addf(sb, "%*s", (int)(width - used), "");
		strbuf_addf(sb, " %s", name);
	}
	strbuf_adds(sb, "\n");
}

void show_maps(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb)
{
	for (const struct vm_area_struct *v = mm->mmap; v; v = v->vm_next)
		show_vma_header(m, mm, v, sb);
}

struct smaps_ctx {
	const struct vm_area_struct *vma;
	uint64_t rss, pss, pss_dirty, shared_clean, shared_dirty, private_clean, private_dirty,
	    referenced, anon, swap;
};

static void smaps_pte(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	struct smaps_ctx *c = arg;
	(void)va;
	(void)ref;
	if (is_swap_pte(pte)) {
		c->swap += PAGE_SIZE;
		return;
	}
	if (!vm_normal_page(m, pte))
		return;
	uint32_t pfn = pte_pfn(m, pte);
	int mc = page_mapcount(m, pfn);
	int dirty = (pte & _PAGE_DIRTY) || (m->pa.mem_map[pfn].flags & PG_dirty);
	c->rss += PAGE_SIZE;
	c->pss += (PAGE_SIZE << 12) / (uint64_t)(mc > 0 ? mc : 1);
	if (dirty)
		c->pss_dirty += (PAGE_SIZE << 12) / (uint64_t)(mc > 0 ? mc : 1);
	if (mc >= 2)
		*(dirty ? &c->shared_dirty : &c->shared_clean) += PAGE_SIZE;
	else
		*(dirty ? &c->private_dirty : &c->private_clean) += PAGE_SIZE;
	if (pte & _PAGE_ACCESSED)
		c->referenced += PAGE_SIZE;
	if (page_type(&m->pa.mem_map[pfn]) == PT_ANON)
		c->anon += PAGE_SIZE;
}

static void smaps_line(struct strbuf *sb, const char *name, uint64_t bytes)
{
	strbuf_addf(sb, "%-16s%8llu kB\n", name, (unsigned long long)(bytes >> 10));
}

static void show_vm_flags(const struct vm_area_struct *v, struct strbuf *sb)
{
	static const struct {
		uint32_t flag;
		const char *mn;
	} mnemonics[] = {
	    {VM_READ, "rd"},      {VM_WRITE, "wr"},    {VM_EXEC, "ex"},       {VM_SHARED, "sh"},
	    {VM_MAYREAD, "mr"},   {VM_MAYWRITE, "mw"}, {VM_MAYEXEC, "me"},    {VM_MAYSHARE, "ms"},
	    {VM_GROWSDOWN, "gd"}, {VM_IO, "io"},       {VM_DONTEXPAND, "de"}, {VM_ACCOUNT, "ac"},
	    {VM_HUGETLB, "ht"},   {VM_MIXEDMAP, "mm"},
	};
	strbuf_adds(sb, "VmFlags: ");
	for (size_t i = 0; i < ARRAY_SIZE(mnemonics); i++)
		if (v->vm_flags & mnemonics[i].flag)
			strbuf_addf(sb, "%s ", mnemonics[i].mn);
	strbuf_adds(sb, "\n");
}

void show_smaps(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb)
{
	for (const struct vm_area_struct *v = mm->mmap; v; v = v->vm_next) {
		struct smaps_ctx c = {.vma = v};
		uint64_t hshared = 0, hprivate = 0;
		int huge = (v->vm_flags & VM_HUGETLB) != 0;
		pt_for_each(m, mm, v->vm_start, v->vm_end, smaps_pte, &c);
		if (huge)
			hugetlb_usage(m, mm, v->vm_start, v->vm_end, &hshared, &hprivate);
		show_vma_header(m, mm, v, sb);
		smaps_line(sb, "Size:", v->vm_end - v->vm_start);
		smaps_line(sb, "KernelPageSize:", huge ? huge_page_size(m) : PAGE_SIZE);
		smaps_line(sb, "MMUPageSize:", huge ? huge_page_size(m) : PAGE_SIZE);
		smaps_line(sb, "Rss:", c.rss);
		smaps_line(sb, "Pss:", c.pss >> 12);
		smaps_line(sb, "Pss_Dirty:", c.pss_dirty >> 12);
		smaps_line(sb, "Shared_Clean:", c.shared_clean);
		smaps_line(sb, "Shared_Dirty:", c.shared_dirty);
		smaps_line(sb, "Private_Clean:", c.private_clean);
		smaps_line(sb, "Private_Dirty:", c.private_dirty);
		smaps_line(sb, "Referenced:", c.referenced);
		smaps_line(sb, "Anonymous:", c.anon);
		smaps_line(sb, "KSM:", 0);
		smaps_line(sb, "LazyFree:", 0);
		smaps_line(sb, "AnonHugePages:", 0);
		smaps_line(sb, "ShmemPmdMapped:", 0);
		smaps_line(sb, "FilePmdMapped:", 0);
		smaps_line(sb, "Shared_Hugetlb:", hshared);
		/* the one 7-wide field */
		strbuf_addf(sb, "Private_Hugetlb: %7llu kB\n",
		            (unsigned long long)(hprivate >> 10));
		smaps_line(sb, "Swap:", c.swap);
		smaps_line(sb, "SwapPss:", c.swap);
		smaps_line(sb, "Locked:", 0);
		strbuf_adds(sb, "THPeligible:    0\n");
		show_vm_flags(v, sb);
	}
}

/* task_mem() of fs/proc/task_mmu.c: the Vm* lines of /proc/PID/status. */
void task_mem(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb)
{
	uint64_t anon = mm->rss[MM_ANONPAGES], file = mm->rss[MM_FILEPAGES],
	         shmem = mm->rss[MM_SHMEMPAGES], rss = anon + file + shmem;
	uint64_t hiwater_rss = mm->hiwater_rss > rss ? mm->hiwater_rss : rss;
	uint64_t hiwater_vm = mm->hiwater_vm > mm->total_vm ? mm->hiwater_vm : mm->total_vm;
	uint64_t text = (PAGE_ALIGN(mm->end_code) - (mm->start_code & PAGE_MASK_)) >> 10;
	uint64_t lib = (mm->exec_vm << (PAGE_SHIFT - 10)) > text
	                   ? (mm->exec_vm << (PAGE_SHIFT - 10)) - text
	                   : 0;
	const struct {
		const char *name;
		uint64_t kb;
	} lines[] = {
	    {"VmPeak", hiwater_vm << 2},
	    {"VmSize", mm->total_vm << 2},
	    {"VmLck", mm->locked_vm << 2},
	    {"VmPin", 0},
	    {"VmHWM", hiwater_rss << 2},
	    {"VmRSS", rss << 2},
	    {"RssAnon", anon << 2},
	    {"RssFile", file << 2},
	    {"RssShmem", shmem << 2},
	    {"VmData", mm->data_vm << 2},
	    {"VmStk", mm->stack_vm << 2},
	    {"VmExe", text},
	    {"VmLib", lib},
	    {"VmPTE", mm->pgtables_bytes >> 10},
	    {"VmSwap", mm->rss[MM_SWAPENTS] << 2},
	};
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
		strbuf_addf(sb, "%s:\t%8llu kB\n", lines[i].name, (unsigned long long)lines[i].kb);
	uint64_t hshared, hprivate;
	hugetlb_usage(m, mm, 0, task_size(m), &hshared, &hprivate);
	strbuf_addf(sb, "HugetlbPages:\t%8llu kB\n",
	            (unsigned long long)((hshared + hprivate) >> 10));
}

/* pmap(1) default format: address, size, mode, mapping. */
void show_pmap(const struct machine *m, const struct mm_struct *mm, const char *comm, uint32_t pid,
               struct strbuf *sb)
{
	int w = m->cfg.arch == ARCH_I386 ? 8 : 16;
	uint64_t total = 0;
	strbuf_addf(sb, "%u:   %s\n", pid, comm);
	for (const struct vm_area_struct *v = mm->mmap; v; v = v->vm_next) {
		char nb[48], mode[6];
		const char *name = vma_name(m, mm, v, nb, sizeof(nb));
		const char *base = name && name[0] == '/' ? strrchr(name, '/') + 1 : NULL;
		mode[0] = (v->vm_flags & VM_READ) ? 'r' : '-';
		mode[1] = (v->vm_flags & VM_WRITE) ? 'w' : '-';
		mode[2] = (v->vm_flags & VM_EXEC) ? 'x' : '-';
		mode[3] = (v->vm_flags & VM_MAYSHARE) ? 's' : '-';
		mode[4] = '-';
		mode[5] = '\0';
		uint64_t kb = (v->vm_end - v->vm_start) >> 10;
		total += kb;
		strbuf_addf(
		    sb, "%0*llx %6lluK %s %s\n", w, (unsigned long long)v->vm_start,
		    (unsigned long long)kb, mode,
		    base ? base
		         : (name && strcmp(name, "[stack]") == 0 ? "  [ stack ]" : "  [ anon ]"));
	}
	strbuf_addf(sb, " total %*lluK\n", w, (unsigned long long)total);
}

static const char *task_state_name(const struct task_struct *t)
{
	return t->state == TASK_VFORK ? "D (disk sleep)" : "R (running)";
}

enum vm_err proc_pid_maps(const struct machine *m, uint32_t pid, struct strbuf *sb)
{
	const struct task_struct *t = find_task(m, pid);
	if (!t)
		return VM_ENOENT;
	show_maps(m, t->mm, sb);
	return VM_OK;
}

enum vm_err proc_pid_smaps(const struct machine *m, uint32_t pid, struct strbuf *sb)
{
	const struct task_struct *t = find_task(m, pid);
	if (!t)
		return VM_ENOENT;
	show_smaps(m, t->mm, sb);
	return VM_OK;
}

/* proc_pid_status(): the identity lines, then task_mem()'s Vm* lines. */
enum vm_err proc_pid_status(const struct machine *m, uint32_t pid, struct strbuf *sb)
{
	const struct task_struct *t = find_task(m, pid);
	if (!t)
		return VM_ENOENT;
	strbuf_addf(sb, "Name:\t%s\nState:\t%s\nTgid:\t%u\nPid:\t%u\nPPid:\t%u\n", t->comm,
	            task_state_name(t), pid, pid, t->ppid);
	task_mem(m, t->mm, sb);
	return VM_OK;
}

enum vm_err proc_pid_pmap(const struct machine *m, uint32_t pid, struct strbuf *sb)
{
	const struct task_struct *t = find_task(m, pid);
	if (!t)
		return VM_ENOENT;
	show_pmap(m, t->mm, t->mm->exe, pid, sb);
	return VM_OK;
}
