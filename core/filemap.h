/* Simulated files, the page cache and buffers (mm/filemap.c). */
#ifndef VMSIM_FILEMAP_H
#define VMSIM_FILEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct filemap_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table filemap_events;

int filemap_init(struct machine *m);
void filemap_release(struct machine *m);
enum vm_err filemap_apply(struct machine *m, const struct op *op, struct op_result *res);
int filemap_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void filemap_save(const struct machine *m, struct snap_writer *w);
int filemap_load(struct machine *m, struct snap_reader *r);

/*
 * Page-cache API (reclaim helper implements; memory.c calls it for faults on file mappings).
 * filemap_fault returns the pfn holding page `pgoff` of file `ino`, reading it in when it is
 * not cached (then *major = 1), with a reference taken for the new mapping; PFN_NONE when
 * the file does not exist, pgoff is beyond EOF (SIGBUS) or no memory could be found.
 */
uint32_t filemap_fault(struct machine *m, uint32_t ino, uint64_t pgoff, int *major);
/* Size in bytes of file ino, or -1 if there is no such file. */
int64_t filemap_file_size(const struct machine *m, uint32_t ino);
/* Name for /proc/PID/maps ("/data/f1"), or NULL. */
const char *filemap_file_name(const struct machine *m, uint32_t ino);

#endif
