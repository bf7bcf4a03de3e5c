/*
 * /proc/PID/maps, smaps, status and pmap (fs/proc/task_mmu.c): proc.c routes the files,
 * these functions write them.
 */
#ifndef VMSIM_TASK_MMU_H
#define VMSIM_TASK_MMU_H

#include <stdint.h>

#include "machine.h"
#include "strbuf.h"

struct mm_struct;

void show_maps(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb);
void show_smaps(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb);
/* task_mem(): the Vm* lines of /proc/PID/status. */
void task_mem(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb);
void show_pmap(const struct machine *m, const struct mm_struct *mm, const char *comm, uint32_t pid,
               struct strbuf *sb);
/* /proc/PID/{maps,smaps,status,pmap}: VM_ENOENT for an unknown pid. */
enum vm_err proc_pid_maps(const struct machine *m, uint32_t pid, struct strbuf *sb);
enum vm_err proc_pid_smaps(const struct machine *m, uint32_t pid, struct strbuf *sb);
enum vm_err proc_pid_status(const struct machine *m, uint32_t pid, struct strbuf *sb);
enum vm_err proc_pid_pmap(const struct machine *m, uint32_t pid, struct strbuf *sb);

#endif
