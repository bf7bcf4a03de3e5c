/*
 * Simulated files on a simulated disk (device 08:01), the page cache that holds their pages
 * and the buffer cache that holds their block metadata (mm/filemap.c, fs/buffer.c,
 * mm/page-writeback.c). Reads and writes go through the cache; dirty pages are written back
 * by sync, by the flusher on OP_TICK and by reclaim.
 */
#ifndef VMSIM_FILEMAP_H
#define VMSIM_FILEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

/*
 * page->private of a page-cache page (PT_FILE):
 *
 *   31          20 19                  0
 *   +-------------+--------------------+
 *   |     ino     |       pgoff        |
 *   +-------------+--------------------+
 *
 * Regular files have inode numbers FILE_FIRST_INO.. < 2048 and at most 1 GiB (2^18 pages).
 * The block device itself is inode BDEV_INO: its pages are the "Buffers" of /proc/meminfo
 * (nr_blockdev_pages). Its pgoff is (file ino << 9) | block: block 0 is the file's inode
 * block, blocks 1..256 its indirect blocks (one per 1024 data pages, ext2-style, after the
 * 12 direct blocks).
 */
#define FILE_PGOFF_BITS   20
#define FILE_PGOFF_MASK   ((1u << FILE_PGOFF_BITS) - 1)
#define BDEV_INO          1u
#define FILE_FIRST_INO    12u /* ext4: 11 is lost+found, the first regular file gets 12 */
#define FILE_MAX_INO      2047u
#define FILE_MAX_BYTES    (1ull << 30)
#define FILE_DEV_MAJOR    8 /* /dev/sda1 */
#define FILE_DEV_MINOR    1
#define BDEV_BLOCK_BITS   9
#define FILE_DIRECT_PAGES 12
#define FILE_PTRS_PER_BLK 1024

static inline uint32_t file_page_private(uint32_t ino, uint32_t pgoff)
{
	return (ino << FILE_PGOFF_BITS) | pgoff;
}

/* One simulated file (an inode and its address_space). */
struct sim_file {
	char name[NAME_LEN];
	uint64_t size;     /* i_size in bytes */
	uint32_t ino;      /* 0: free inode slot */
	uint32_t nrpages;  /* pages of this file in the page cache (mapping->nrpages) */
	uint32_t cap;      /* entries in pages[] */
	uint32_t *pages;   /* the mapping's "xarray": pgoff -> pfn, PFN_NONE when not cached */
	uint32_t swapfile; /* 1 while an active swap area lives in this file */
};

struct filemap_state {
	struct sim_file *files; /* files[i] has inode FILE_FIRST_INO + i when in use */
	uint32_t nr_slots;      /* slots ever used (<= FILE_MAX_INO - FILE_FIRST_INO + 1) */
	uint32_t nr_files;      /* live files */
	struct sim_file bdev;   /* the block device's own mapping: metadata buffers */
	uint64_t nr_file_pages; /* NR_FILE_PAGES without the swap cache (page cache + buffers) */
	uint64_t nr_dirty;      /* NR_FILE_DIRTY */
	uint64_t nr_dirtied;    /* pages that became dirty (vmstat nr_dirtied) */
	uint64_t nr_written;    /* pages written back (vmstat nr_written) */
	uint64_t cache_hits;    /* find_get_page hits from read/write/fault (vmsim's own) */
	uint64_t cache_misses;  /* pages read from disk into the cache */
};

extern const struct event_table filemap_events;

enum {
	EV_FILE_CREATE = 0x700,
	EV_FILE_READ,
	EV_FILE_CACHE_HIT,
	EV_FILE_READPAGE,
	EV_FILE_WRITE,
	EV_FILE_DIRTY,
	EV_FILE_WRITEBACK,
	EV_FILE_SYNC,
	EV_FILE_DELETE,
	EV_FILE_BUFFER_READ,
	EV_FILE_NOMEM,
	EV_FILE_FAULT,
};

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

/* Kernel-internal API for vmscan.c and swapfile.c. */
struct sim_file *filemap_lookup(struct machine *m, uint32_t ino); /* NULL if none */
const struct sim_file *filemap_lookup_name(const struct machine *m, const char *name);
/* Marks a cached page dirty (MAP_SHARED write, write(2)). */
void set_page_dirty(struct machine *m, uint32_t pfn);
/* Writes one dirty page-cache page to disk (writepage); no-op for a clean page. */
void filemap_writepage(struct machine *m, uint32_t pfn);
/* Takes a clean, unmapped page out of its mapping (__remove_mapping); the caller frees it. */
void filemap_remove_page(struct machine *m, uint32_t pfn);
/* Writes back every dirty page (ino 0: the whole machine, incl. buffers). Pages written. */
uint64_t filemap_sync(struct machine *m, uint32_t ino);
/* Pages of the block device mapping: Buffers. */
uint64_t nr_blockdev_pages(const struct machine *m);

#endif
