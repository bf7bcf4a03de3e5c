/*
 * Tasks (kernel/fork.c, kernel/exit.c, fs/exec.c): copy_process with or without CLONE_VM,
 * vfork's wait, do_exit and exec's new mm, the context switch (switch_mm flushes the TLB),
 * and the per-task limits the OOM killer reads. Tasks live in a pid-sorted array.
 */
#include "fork.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "snapshot.h"
#include "tlb.h"

static const char *const fork_tmpl[] = {
    [EV_COPY_PROCESS & 0xff] = "copy_process: pid {a} -> child pid {b} (clone flags {C})",
    [EV_SPAWN & 0xff] = "spawn: pid {a} \"{s}\" mm {b}",
    [EV_DUP_MM & 0xff] = "dup_mmap: vma {A}-{B}, {c} PTEs copied ({s})",
    [EV_SHARE_MM & 0xff] = "copy_mm: CLONE_VM shares mm {a}, mm_users {b}",
    [EV_DO_EXIT & 0xff] = "do_exit: pid {a} code {b} ({s})",
    [EV_MMPUT & 0xff] = "mmput: mm {a} mm_users {b}",
    [EV_EXEC & 0xff] = "exec: pid {a} \"{s}\" new mm {b}",
    [EV_SWITCH_MM & 0xff] = "context_switch: pid {a} -> pid {b}{s}",
    [EV_ALLOC_THREAD_STACK & 0xff] = "alloc_thread_stack_node: pfn {A} order {b}",
    [EV_FREE_THREAD_STACK & 0xff] = "free_thread_stack: pfn {A}",
    [EV_SET_TASK & 0xff] = "set {s}: pid {a} = {b}",
    [EV_KILL & 0xff] = "send_sig: {s} to pid {a}",
    [EV_VFORK_DONE & 0xff] = "complete_vfork_done: parent pid {a} runs again",
};

const struct event_table fork_events = {4, fork_tmpl, ARRAY_SIZE(fork_tmpl)};

#define PID_MAX   32768
#define TASKS_MAX 4096

static unsigned thread_order(const struct machine *m)
{
	return m->cfg.arch == ARCH_I386 ? 1 : 2; /* THREAD_SIZE 8 KiB / 16 KiB */
}

int fork_init(struct machine *m)
{
	memset(&m->tasks, 0, sizeof(m->tasks));
	return 0;
}

void fork_release(struct machine *m)
{
	for (uint32_t i = 0; i < m->tasks.nr; i++)
		free(m->tasks.tasks[i]);
	free(m->tasks.tasks);
	memset(&m->tasks, 0, sizeof(m->tasks));
}

uint32_t task_count(const struct machine *m)
{
	return m->tasks.nr;
}

const struct task_struct *task_at(const struct machine *m, uint32_t i)
{
	return i < m->tasks.nr ? m->tasks.tasks[i] : NULL;
}

struct pid_key {
	const struct fork_state *s;
	uint32_t pid;
};

static int task_below(const void *arg, uint32_t i)
{
	const struct pid_key *k = arg;
	return k->s->tasks[i]->pid < k->pid;
}

/* Index of the first task with pid >= pid. */
static uint32_t task_slot(const struct fork_state *s, uint32_t pid)
{
	struct pid_key k = {s, pid};
	return sorted_lower_bound(s->nr, task_below, &k);
}

struct task_struct *find_task(const struct machine *m, uint32_t pid)
{
	const struct fork_state *s = &m->tasks;
	uint32_t i = task_slot(s, pid);
	return i < s->nr && s->tasks[i]->pid == pid ? s->tasks[i] : NULL;
}

static int task_insert(struct fork_state *s, struct task_struct *t)
{
	if (s->nr == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct task_struct **n = realloc(s->tasks, cap * sizeof(*n));
		if (!n)
			return -1;
		s->tasks = n;
		s->cap = cap;
	}
	uint32_t i = task_slot(s, t->pid);
	memmove(&s->tasks[i + 1], &s->tasks[i], (s->nr - i) * sizeof(*s->tasks));
	s->tasks[i] = t;
	s->nr++;
	return 0;
}

static void task_remove(struct fork_state *s, struct task_struct *t)
{
	uint32_t i = task_slot(s, t->pid);
	memmove(&s->tasks[i], &s->tasks[i + 1], (s->nr - i - 1) * sizeof(*s->tasks));
	s->nr--;
}

/* alloc_pid(): the next free pid after the last one, wrapping at pid_max like the kernel. */
static uint32_t alloc_pid(const struct machine *m)
{
	uint32_t pid = m->tasks.last_pid;
	for (;;) {
		pid = pid + 1 >= PID_MAX ? 1 : pid + 1;
		if (!find_task(m, pid))
			return pid;
	}
}

/* __set_task_comm(): the name is cut to TASK_COMM_LEN - 1 like the kernel's. */
static void set_task_comm(struct task_struct *t, const char *name)
{
	size_t n = strnlen(name, TASK_COMM_LEN - 1);
	memcpy(t->comm, name, n);
	t->comm[n] = '\0';
}

/* A task without an mm yet: task_struct from its slab cache and a kernel stack. */
static struct task_struct *alloc_task(struct machine *m, uint32_t ppid, const char *comm)
{
	struct task_struct *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->objp = kmem_cache_alloc(m, KMEM_TASK_STRUCT, GFP_KERNEL);
	t->kstack = alloc_pages(m, GFP_KERNEL, thread_order(m), PT_KSTACK);
	if (!t->objp || t->kstack == PFN_NONE) {
		if (t->objp)
			kmem_cache_free(m, KMEM_TASK_STRUCT, t->objp);
		if (t->kstack != PFN_NONE)
			__free_pages(m, t->kstack, thread_order(m));
		free(t);
		return NULL;
	}
	ev_emit(m, EV_ALLOC_THREAD_STACK, t->kstack, thread_order(m), 0, NULL);
	t->pid = alloc_pid(m);
	t->ppid = ppid;
	set_task_comm(t, comm);
	return t;
}

static void free_task(struct machine *m, struct task_struct *t)
{
	ev_emit(m, EV_FREE_THREAD_STACK, t->kstack, 0, 0, NULL);
	__free_pages(m, t->kstack, thread_order(m));
	kmem_cache_free(m, KMEM_TASK_STRUCT, t->objp);
	free(t);
}

static enum vm_err check_name(const char *name, struct op_result *res)
{
	size_t n = strnlen(name, NAME_LEN);
	if (n == 0 || n == NAME_LEN)
		return op_fail(res, VM_EINVAL, "program name must be 1..%d characters",
		               NAME_LEN - 1);
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] > '~')
			return op_fail(res, VM_EINVAL,
			               "program name has a space or control character");
	return VM_OK;
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static enum vm_err spawn(struct machine *m, const struct op *op, struct op_result *res)
{
	uint64_t text = op->u.spawn.text, data = op->u.spawn.data, bss = op->u.spawn.bss,
	         stack = op->u.spawn.stack;
	enum vm_err e = check_name(op->u.spawn.name, res);
	if (!e)
		e = image_check(m, &text, &data, &bss, &stack, res);
	if (e)
		return e;
	if (m->tasks.nr >= TASKS_MAX)
		return op_fail(res, VM_ENOMEM, "too many tasks (%d)", TASKS_MAX);
	struct task_struct *t = alloc_task(m, 0, basename_of(op->u.spawn.name));
	struct mm_struct *mm = t ? mm_alloc(m) : NULL;
	if (!mm || setup_image(m, mm, op->u.spawn.name, text, data, bss, stack, res) ||
	    task_insert(&m->tasks, t)) {
		if (mm)
			mm_abandon(m, mm);
		if (t)
			free_task(m, t);
		return op_fail(res, VM_ENOMEM, "spawn: out of memory");
	}
	t->mm = mm;
	m->tasks.last_pid = t->pid;
	ev_emit(m, EV_SPAWN, t->pid, mm->id, 0, t->comm);
	res->value = t->pid;
	return VM_OK;
}

/* copy_process(): CLONE_VM shares the mm (a thread, or vfork); otherwise dup_mm copies it. */
static enum vm_err do_fork(struct machine *m, struct task_struct *parent, uint32_t flags,
                           struct op_result *res)
{
	if (m->tasks.nr >= TASKS_MAX)
		return op_fail(res, VM_ENOMEM, "too many tasks (%d)", TASKS_MAX);
	struct task_struct *t = alloc_task(m, parent->pid, parent->comm);
	if (!t)
		return op_fail(res, VM_ENOMEM, "fork: no memory for task_struct or kernel stack");
	ev_emit(m, EV_COPY_PROCESS, parent->pid, t->pid, flags, NULL);
	if (flags & CLONE_VM_) {
		t->mm = parent->mm;
		t->mm->mm_users++;
		ev_emit(m, EV_SHARE_MM, t->mm->id, (uint64_t)t->mm->mm_users, 0, NULL);
	} else {
		t->mm = dup_mm(m, parent->mm);
		if (!t->mm) {
			free_task(m, t);
			return op_fail(res, VM_ENOMEM,
			               "fork: out of memory copying the address space");
		}
	}
	if (task_insert(&m->tasks, t)) {
		if (flags & CLONE_VM_)
			mmput(m, t->mm); /* only drops the user it took */
		else
			mm_abandon(m, t->mm);
		free_task(m, t);
		return op_fail(res, VM_ENOMEM, "fork: out of host memory");
	}
	t->oom_score_adj = parent->oom_score_adj;
	t->rlimit_rss = parent->rlimit_rss;
	m->tasks.last_pid = t->pid;
	if (flags & CLONE_VFORK_) {
		t->vfork_parent = parent->pid;
		parent->state = TASK_VFORK;
	}
	res->value = t->pid;
	return VM_OK;
}

/* mm_release(): a vfork child leaving its parent's mm lets the parent run again. */
static void mm_release(struct machine *m, struct task_struct *t)
{
	if (!t->vfork_parent)
		return;
	struct task_struct *p = find_task(m, t->vfork_parent);
	if (p) {
		p->state = TASK_RUNNING;
		ev_emit(m, EV_VFORK_DONE, p->pid, 0, 0, NULL);
	}
	t->vfork_parent = 0;
}

void do_exit(struct machine *m, struct task_struct *t, int code, const char *why)
{
	ev_emit(m, EV_DO_EXIT, t->pid, (uint64_t)(int64_t)code, 0, why);
	mm_release(m, t);
	ev_emit(m, EV_MMPUT, t->mm->id, (uint64_t)(t->mm->mm_users - 1), 0, NULL);
	mmput(m, t->mm);
	t->mm = NULL;
	task_remove(&m->tasks, t);
	/* Orphans go to init (pid 1) when it lives, like forget_original_parent(). */
	uint32_t reaper = find_task(m, 1) ? 1 : 0;
	for (uint32_t i = 0; i < m->tasks.nr; i++)
		if (m->tasks.tasks[i]->ppid == t->pid)
			m->tasks.tasks[i]->ppid = reaper;
	if (m->tasks.current == t->pid)
		m->tasks.current = 0;
	free_task(m, t);
}

static enum vm_err do_exec(struct machine *m, struct task_struct *t, const struct op *op,
                           struct op_result *res)
{
	uint64_t text = op->u.exec.text, data = op->u.exec.data, bss = op->u.exec.bss,
	         stack = op->u.exec.stack;
	enum vm_err e = check_name(op->u.exec.name, res);
	if (!e)
		e = image_check(m, &text, &data, &bss, &stack, res);
	if (e)
		return e;
	struct mm_struct *mm = mm_alloc(m);
	if (!mm || setup_image(m, mm, op->u.exec.name, text, data, bss, stack, res)) {
		if (mm)
			mm_abandon(m, mm);
		return op_fail(res, VM_ENOMEM, "exec: out of memory");
	}
	/* exec_mmap(): the old mm goes, the new one is loaded at once if t is running. */
	struct mm_struct *old = t->mm;
	t->mm = mm;
	mm_release(m, t);
	mmput(m, old);
	set_task_comm(t, basename_of(op->u.exec.name));
	if (m->tasks.current == t->pid)
		flush_tlb_all(m, mm->id);
	ev_emit(m, EV_EXEC, t->pid, mm->id, 0, t->comm);
	res->value = t->pid;
	return VM_OK;
}

void context_switch(struct machine *m, struct task_struct *next)
{
	if (m->tasks.current == next->pid)
		return;
	int flush = m->tlb.mm_id != next->mm->id;
	ev_emit(m, EV_SWITCH_MM, m->tasks.current, next->pid, 0,
	        flush ? ", switch_mm: CR3 reload flushes the TLB" : ", same mm: TLB kept");
	if (flush)
		flush_tlb_all(m, next->mm->id);
	m->tasks.current = next->pid;
}

static enum vm_err set_task(struct machine *m, struct task_struct *t, const struct op *op,
                            struct op_result *res)
{
	uint64_t v = op->u.set_task.value;
	if (op->kind == OP_SET_OOM_ADJ) {
		int64_t adj = (int64_t)v;
		if (adj < -1000 || adj > 1000)
			return op_fail(res, VM_EINVAL, "oom_score_adj must be -1000..1000");
		t->oom_score_adj = (int32_t)adj;
		ev_emit(m, EV_SET_TASK, t->pid, v, 0, "oom_score_adj");
		return VM_OK;
	}
	if (v > machine_nr_frames(m))
		return op_fail(res, VM_EINVAL, "rss limit must be 0 (none) .. %llu pages",
		               (unsigned long long)machine_nr_frames(m));
	t->rlimit_rss = v;
	ev_emit(m, EV_SET_TASK, t->pid, v, 0, "rlimit_rss (pages)");
	return VM_OK;
}

enum vm_err fork_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	if (op->kind == OP_SPAWN)
		return spawn(m, op, res);
	/* Every other task op names a pid first. */
	struct task_struct *t = find_task(m, op->u.fork.pid);
	if (!t)
		return op_fail(res, VM_ENOENT, "no process with pid %u", op->u.fork.pid);
	if (t->state == TASK_VFORK && op->kind != OP_EXIT)
		return op_fail(res, VM_EPERM,
		               "pid %u waits in vfork until its child execs or exits", t->pid);
	switch (op->kind) {
	case OP_FORK:
		return do_fork(m, t, 0, res);
	case OP_VFORK:
		return do_fork(m, t, CLONE_VM_ | CLONE_VFORK_, res);
	case OP_CLONE:
		if (op->u.fork.flags & ~(CLONE_VM_ | CLONE_VFORK_))
			return op_fail(res, VM_EINVAL,
			               "clone: only CLONE_VM (%#x) and CLONE_VFORK (%#x)",
			               CLONE_VM_, CLONE_VFORK_);
		if ((op->u.fork.flags & CLONE_VFORK_) && !(op->u.fork.flags & CLONE_VM_))
			return op_fail(res, VM_EINVAL, "clone: CLONE_VFORK needs CLONE_VM here");
		return do_fork(m, t, op->u.fork.flags, res);
	case OP_EXIT:
		if (t->state == TASK_VFORK)
			return op_fail(res, VM_EPERM, "pid %u waits in vfork", t->pid);
		do_exit(m, t, op->u.exit.code, "exit");
		return VM_OK;
	case OP_EXEC:
		return do_exec(m, t, op, res);
	case OP_CONTEXT_SWITCH:
		if (m->tasks.current == t->pid)
			ev_emit(m, EV_SWITCH_MM, t->pid, t->pid, 0, ", already on the CPU");
		context_switch(m, t);
		return VM_OK;
	case OP_SET_RLIMIT:
	case OP_SET_OOM_ADJ:
		return set_task(m, t, op, res);
	default:
		return op_fail(res, VM_EINVAL, "unknown task op %#x", (unsigned)op->kind);
	}
}

/* Tasks sorted, each mm alive with mm_users equal to the tasks using it, stacks owned. */
int fork_check(const struct machine *m, char *buf, size_t len)
{
	const struct fork_state *s = &m->tasks;
	uint64_t kstacks = 0;
	for (uint32_t i = 0; i < s->nr; i++) {
		const struct task_struct *t = s->tasks[i];
		CHECK(i == 0 || s->tasks[i - 1]->pid < t->pid, "task list not sorted at pid %u",
		      t->pid);
		CHECK(t->mm && mm_by_id(m, t->mm->id) == t->mm, "pid %u has no live mm", t->pid);
		CHECK(t->kstack < m->pa.nr_frames &&
		          page_type(&m->pa.mem_map[t->kstack]) == PT_KSTACK &&
		          m->pa.mem_map[t->kstack].private == thread_order(m),
		      "pid %u: kernel stack pfn %#x is not a PT_KSTACK block", t->pid, t->kstack);
	}
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++) {
		const struct mm_struct *mm = m->mmap.mms[i];
		int32_t users = 0;
		for (uint32_t j = 0; j < s->nr; j++)
			users += s->tasks[j]->mm == mm;
		CHECK(users == mm->mm_users && users > 0, "mm %u: mm_users %d but %d tasks use it",
		      mm->id, mm->mm_users, users);
	}
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++) {
		const struct page *p = &m->pa.mem_map[pfn];
		if (page_type(p) == PT_KSTACK && (p->flags & PG_head))
			kstacks++;
	}
	CHECK(kstacks == s->nr, "%llu kernel stacks for %u tasks", (unsigned long long)kstacks,
	      s->nr);
	CHECK(s->current == 0 || find_task(m, s->current), "current pid %u does not exist",
	      s->current);
	return 0;
}

void fork_save(const struct machine *m, struct snap_writer *w)
{
	const struct fork_state *s = &m->tasks;
	snap_put_tag(w, "TASK");
	mmap_save_mms(m, w);
	snap_put_u32(w, s->last_pid);
	snap_put_u32(w, s->current);
	snap_put_u32(w, s->nr);
	for (uint32_t i = 0; i < s->nr; i++) {
		const struct task_struct *t = s->tasks[i];
		snap_put_u32(w, t->pid);
		snap_put_u32(w, t->ppid);
		snap_put_str(w, t->comm);
		snap_put_u32(w, (uint32_t)t->state);
		snap_put_u32(w, t->vfork_parent);
		snap_put_u32(w, t->mm->id);
		snap_put_u64(w, t->objp);
		snap_put_u32(w, t->kstack);
		snap_put_u64(w, t->min_flt);
		snap_put_u64(w, t->maj_flt);
		snap_put_u64(w, t->nr_cow);
		snap_put_u64(w, t->rlimit_rss);
		snap_put_u32(w, (uint32_t)t->oom_score_adj);
	}
}

int fork_load(struct machine *m, struct snap_reader *r)
{
	struct fork_state *s = &m->tasks;
	if (snap_expect_tag(r, "TASK") || mmap_load_mms(m, r))
		return -1;
	s->last_pid = snap_get_u32(r);
	s->current = snap_get_u32(r);
	uint32_t n = snap_get_u32(r);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct task_struct *t = calloc(1, sizeof(*t));
		if (!t)
			return snap_fail(r, "task: out of host memory");
		t->pid = snap_get_u32(r);
		t->ppid = snap_get_u32(r);
		snap_get_str(r, t->comm, sizeof(t->comm));
		t->state = (enum task_state)snap_get_u32(r);
		t->vfork_parent = snap_get_u32(r);
		t->mm = mm_by_id(m, snap_get_u32(r));
		t->objp = snap_get_u64(r);
		t->kstack = snap_get_u32(r);
		t->min_flt = snap_get_u64(r);
		t->maj_flt = snap_get_u64(r);
		t->nr_cow = snap_get_u64(r);
		t->rlimit_rss = snap_get_u64(r);
		t->oom_score_adj = (int32_t)snap_get_u32(r);
		if (!t->mm || find_task(m, t->pid) || task_insert(s, t)) {
			free(t);
			return snap_fail(r, "task: bad mm or duplicate pid");
		}
	}
	return r->err ? -1 : 0;
}

/* ---- mm_struct lifetime: mm_alloc, mmput, dup_mm ------------------------------------- */

struct mm_struct *mm_alloc(struct machine *m)
{
	struct mm_struct *mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	mm->objp = kmem_cache_alloc(m, KMEM_MM_STRUCT, GFP_KERNEL);
	mm->pgd = pgd_alloc(m);
	if (!mm->objp || mm->pgd == PFN_NONE || mms_add(&m->mmap, mm)) {
		if (mm->objp)
			kmem_cache_free(m, KMEM_MM_STRUCT, mm->objp);
		if (mm->pgd != PFN_NONE)
			pgd_free(m, mm->pgd);
		free(mm);
		return NULL;
	}
	mm->id = m->mmap.next_mm_id++;
	mm->mm_users = mm->mm_count = 1;
	ev_emit(m, EV_MM_ALLOC, mm->id, mm->pgd, 0, NULL);
	return mm;
}

void mm_abandon(struct machine *m, struct mm_struct *mm)
{
	uint32_t id = mm->id;
	mmput(m, mm);
	if (id + 1 == m->mmap.next_mm_id)
		m->mmap.next_mm_id = id;
}

void mmput(struct machine *m, struct mm_struct *mm)
{
	if (--mm->mm_users > 0)
		return;
	exit_mmap(m, mm);
	if (mm->anon_vma_objp)
		kmem_cache_free(m, KMEM_ANON_VMA, mm->anon_vma_objp);
	pgd_free(m, mm->pgd);
	kmem_cache_free(m, KMEM_MM_STRUCT, mm->objp);
	mms_del(&m->mmap, mm);
	ev_emit(m, EV_MMDROP, mm->id, 0, 0, NULL);
	free(mm);
}

struct mm_struct *dup_mm(struct machine *m, struct mm_struct *old)
{
	struct mm_struct *mm = mm_alloc(m);
	if (!mm)
		return NULL;
	uint32_t id = mm->id, pgd = mm->pgd;
	uint64_t objp = mm->objp;
	/* Copy the layout fields, then reset what belongs to the new mm alone. */
	*mm = *old;
	mm->id = id;
	mm->pgd = pgd;
	mm->objp = objp;
	mm->mmap = mm->mmap_cache = NULL;
	mm->mm_rb.node = NULL;
	mm->map_count = 0;
	mm->mm_users = mm->mm_count = 1;
	mm->total_vm = mm->exec_vm = mm->data_vm = mm->stack_vm = 0;
	memset(mm->rss, 0, sizeof(mm->rss));
	mm->hiwater_rss = 0;
	mm->pgtables_bytes = 0;
	mm->anon_vma_objp = old->anon_vma_objp ? kmem_cache_alloc(m, KMEM_ANON_VMA, GFP_KERNEL) : 0;
	mm->hiwater_vm = 0;
	struct vm_area_struct *prev = NULL;
	for (const struct vm_area_struct *v = old->mmap; v; v = v->vm_next) {
		struct vm_area_struct *n = vm_area_alloc(m, mm);
		uint64_t ptes = 0;
		int failed = 0;
		if (n) {
			n->vm_start = v->vm_start;
			n->vm_end = v->vm_end;
			n->vm_pgoff = v->vm_pgoff;
			/* the reserve stays with the parent (HPAGE_RESV_OWNER) */
			n->vm_flags = v->vm_flags & ~VM_HUGE_RESV;
			n->vm_file = v->vm_file;
			vma_link(mm, n, prev);
			prev = n;
			failed = copy_page_range(m, mm, old, v, &ptes);
		}
		if (!n || failed) {
			mm_abandon(m, mm);
			/* the PTEs copied so far were write-protected in the parent too: its TLB
			 * must go on this path as well (dup_mmap flushes at its out: label) */
			if (m->tlb.mm_id == old->id)
				flush_tlb_all(m, old->id);
			return NULL;
		}
		ev_emit(m, EV_DUP_MM, v->vm_start, v->vm_end, ptes, "copy_page_range");
	}
	mm->hiwater_vm = mm->total_vm;
	mm->hiwater_rss = get_mm_rss(mm);
	/* The parent's PTEs lost write permission: its TLB entries must go (flush_tlb_mm). */
	if (m->tlb.mm_id == old->id)
		flush_tlb_all(m, old->id);
	return mm;
}
