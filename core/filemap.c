/*
 * Simulated files, the page cache and the buffer cache (mm/filemap.c, fs/buffer.c,
 * mm/page-writeback.c). A file is an inode with a size and an address_space (pgoff -> pfn);
 * its data lives on the simulated disk 08:01 and is read into the page cache on first use.
 * Block metadata (the inode block, indirect blocks) is cached in the block device's own
 * mapping: those pages are what /proc/meminfo calls Buffers.
 *
 * Page states (PT_FILE, on an LRU list, refcount = 1 for the cache + 1 per mapping):
 *   clean  --write/MAP_SHARED store-->  dirty  --writepage (sync, flusher, reclaim)--> clean
 *   clean, unmapped  --reclaim or drop_caches-->  removed from the mapping and freed
 * There is no readahead: each miss reads exactly one page (pgpgin counts KiB, like the kernel).
 */
#include "kernel.h"
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const filemap_tmpl[] = {
    [EV_FILE_CREATE & 0xff] = "file create: {s} inode {a} size {b} bytes on 08:01",
    [EV_FILE_READ & 0xff] = "vfs_read: inode {a} {b} bytes, {c} pages from the page cache",
    [EV_FILE_CACHE_HIT & 0xff] = "find_get_page: inode {a} page {b} cached at pfn {C}",
    [EV_FILE_READPAGE & 0xff] = "add_to_page_cache: inode {a} page {b} read into pfn {C}",
    [EV_FILE_WRITE & 0xff] = "vfs_write: inode {a} {b} bytes, size now {c}",
    [EV_FILE_DIRTY & 0xff] = "set_page_dirty: inode {a} page {b} (pfn {C})",
    [EV_FILE_WRITEBACK & 0xff] = "writepage: inode {a} page {b} (pfn {C}) written to disk",
    [EV_FILE_SYNC & 0xff] = "sync: {a} dirty pages written back ({s})",
    [EV_FILE_DELETE & 0xff] = "unlink: {s} inode {a}, {b} cached pages dropped",
    [EV_FILE_BUFFER_READ & 0xff] = "__bread: inode {a} metadata block {b} into pfn {C}",
    [EV_FILE_NOMEM & 0xff] = "page_cache_alloc: no memory for inode {a} page {b} ({s})",
    [EV_FILE_FAULT & 0xff] = "filemap_fault: inode {a} page {b} -> pfn {C} ({s})",
};

const struct event_table filemap_events = {7, filemap_tmpl, ARRAY_SIZE(filemap_tmpl)};

#define KB_PER_PAGE (PAGE_SIZE >> 10)

static uint64_t pages_of(uint64_t bytes)
{
	return (bytes + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

/* Grows the mapping's pgoff table so index idx exists (new entries are empty). */
static void mapping_reserve(struct sim_file *f, uint64_t idx)
{
	if (idx < f->cap)
		return;
	uint64_t cap = f->cap ? f->cap : 16;
	while (cap <= idx)
		cap *= 2;
	uint32_t *p = realloc(f->pages, cap * sizeof(*p));
	if (!p)
		abort(); /* host out of memory */
	for (uint64_t i = f->cap; i < cap; i++)
		p[i] = PFN_NONE;
	f->pages = p;
	f->cap = (uint32_t)cap;
}

int filemap_init(struct machine *m)
{
	struct filemap_state *fs = &m->filemap;
	memset(fs, 0, sizeof(*fs));
	snprintf(fs->bdev.name, sizeof(fs->bdev.name), "/dev/sda1");
	fs->bdev.ino = BDEV_INO;
	return 0;
}

void filemap_release(struct machine *m)
{
	struct filemap_state *fs = &m->filemap;
	for (uint32_t i = 0; i < fs->nr_slots; i++)
		free(fs->files[i].pages);
	free(fs->files);
	free(fs->bdev.pages);
	fs->files = NULL;
	fs->bdev.pages = NULL;
}

struct sim_file *filemap_lookup(struct machine *m, uint32_t ino)
{
	if (ino == BDEV_INO)
		return &m->filemap.bdev;
	if (ino < FILE_FIRST_INO || ino - FILE_FIRST_INO >= m->filemap.nr_slots)
		return NULL;
	struct sim_file *f = &m->filemap.files[ino - FILE_FIRST_INO];
	return f->ino ? f : NULL;
}

static const struct sim_file *lookup_const(const struct machine *m, uint32_t ino)
{
	return filemap_lookup((struct machine *)m, ino);
}

const struct sim_file *filemap_lookup_name(const struct machine *m, const char *name)
{
	for (uint32_t i = 0; i < m->filemap.nr_slots; i++) {
		const struct sim_file *f = &m->filemap.files[i];
		if (f->ino && strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

int64_t filemap_file_size(const struct machine *m, uint32_t ino)
{
	const struct sim_file *f = lookup_const(m, ino);
	return f && ino != BDEV_INO ? (int64_t)f->size : -1;
}

const char *filemap_file_name(const struct machine *m, uint32_t ino)
{
	const struct sim_file *f = lookup_const(m, ino);
	return f && ino != BDEV_INO ? f->name : NULL;
}

uint64_t nr_blockdev_pages(const struct machine *m)
{
	return m->filemap.bdev.nrpages;
}

static struct sim_file *page_mapping(struct machine *m, uint32_t pfn, uint32_t *pgoff)
{
	uint32_t priv = m->pa.mem_map[pfn].private;
	*pgoff = priv & FILE_PGOFF_MASK;
	return filemap_lookup(m, priv >> FILE_PGOFF_BITS);
}

static uint32_t find_get_page(struct sim_file *f, uint64_t pgoff)
{
	return pgoff < f->cap ? f->pages[pgoff] : PFN_NONE;
}

/* add_to_page_cache_lru(): the new page joins the mapping and the inactive file list. */
static void add_to_page_cache(struct machine *m, struct sim_file *f, uint32_t pgoff, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	mapping_reserve(f, pgoff);
	p->private = file_page_private(f->ino, pgoff);
	p->flags |= PG_uptodate;
	f->pages[pgoff] = pfn;
	f->nrpages++;
	m->filemap.nr_file_pages++;
	lru_cache_add(m, pfn);
}

/* page_cache_alloc(): user data may live in HighMem on i386. */
static uint32_t page_cache_alloc(struct machine *m)
{
	return alloc_pages(m, GFP_HIGHUSER, 0, PT_FILE);
}

/* Reads one page from disk into the cache (the I/O counts in pgpgin, in KiB). */
static uint32_t read_into_cache(struct machine *m, struct sim_file *f, uint32_t pgoff)
{
	uint32_t pfn = page_cache_alloc(m);
	if (pfn == PFN_NONE)
		return PFN_NONE;
	add_to_page_cache(m, f, pgoff, pfn);
	count_vm_events(m, PGPGIN, KB_PER_PAGE);
	return pfn;
}

/*
 * __bread(): makes sure a metadata block of inode ino is in the buffer cache. When no page
 * can be had the block is read uncached: metadata never makes a file op fail.
 */
static void bread(struct machine *m, uint32_t ino, uint32_t block, int dirty)
{
	struct sim_file *bd = &m->filemap.bdev;
	uint32_t idx = (ino << BDEV_BLOCK_BITS) | block;
	uint32_t pfn = find_get_page(bd, idx);
	if (pfn != PFN_NONE) {
		mark_page_accessed(m, pfn);
	} else {
		pfn = read_into_cache(m, bd, idx);
		if (pfn == PFN_NONE) {
			count_vm_events(m, PGPGIN, KB_PER_PAGE);
			return;
		}
		ev_emit(m, EV_FILE_BUFFER_READ, ino, block, pfn, NULL);
	}
	if (dirty)
		set_page_dirty(m, pfn);
}

/* bmap(): the metadata a data page needs: the inode block, then its indirect block. */
static void bmap(struct machine *m, struct sim_file *f, uint32_t pgoff)
{
	bread(m, f->ino, 0, 0);
	if (pgoff >= FILE_DIRECT_PAGES)
		bread(m, f->ino, 1 + (pgoff - FILE_DIRECT_PAGES) / FILE_PTRS_PER_BLK, 0);
}

void set_page_dirty(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	if (p->flags & PG_dirty)
		return;
	p->flags |= PG_dirty;
	m->filemap.nr_dirty++;
	m->filemap.nr_dirtied++;
	ev_emit(m, EV_FILE_DIRTY, p->private >> FILE_PGOFF_BITS, p->private & FILE_PGOFF_MASK, pfn,
	        NULL);
}

void filemap_writepage(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	if (!(p->flags & PG_dirty))
		return;
	p->flags &= (uint16_t)~PG_dirty;
	m->filemap.nr_dirty--;
	m->filemap.nr_written++;
	count_vm_events(m, PGPGOUT, KB_PER_PAGE);
	ev_emit(m, EV_FILE_WRITEBACK, p->private >> FILE_PGOFF_BITS, p->private & FILE_PGOFF_MASK,
	        pfn, NULL);
}

void filemap_remove_page(struct machine *m, uint32_t pfn)
{
	uint32_t pgoff;
	struct sim_file *f = page_mapping(m, pfn, &pgoff);
	f->pages[pgoff] = PFN_NONE;
	f->nrpages--;
	m->filemap.nr_file_pages--;
	m->pa.mem_map[pfn].flags &= (uint16_t)~PG_uptodate;
}

static uint64_t sync_mapping(struct machine *m, struct sim_file *f)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < f->cap && f->nrpages; i++) {
		uint32_t pfn = f->pages[i];
		if (pfn != PFN_NONE && (m->pa.mem_map[pfn].flags & PG_dirty)) {
			filemap_writepage(m, pfn);
			n++;
		}
	}
	return n;
}

uint64_t filemap_sync(struct machine *m, uint32_t ino)
{
	struct filemap_state *fs = &m->filemap;
	uint64_t n = 0;
	if (ino) {
		n = sync_mapping(m, filemap_lookup(m, ino));
		/* fsync also writes the inode block */
		uint32_t pfn = find_get_page(&fs->bdev, ino << BDEV_BLOCK_BITS);
		if (pfn != PFN_NONE && (m->pa.mem_map[pfn].flags & PG_dirty)) {
			filemap_writepage(m, pfn);
			n++;
		}
		return n;
	}
	for (uint32_t i = 0; i < fs->nr_slots; i++)
		if (fs->files[i].ino)
			n += sync_mapping(m, &fs->files[i]);
	return n + sync_mapping(m, &fs->bdev);
}

/* Looks up a page for read(2)/write(2)/a fault; counts hit or miss. *major = 1 on a read. */
static uint32_t filemap_get_page(struct machine *m, struct sim_file *f, uint32_t pgoff,
                                 int need_read, int *major)
{
	uint32_t pfn = find_get_page(f, pgoff);
	*major = 0;
	if (pfn != PFN_NONE) {
		m->filemap.cache_hits++;
		ev_emit(m, EV_FILE_CACHE_HIT, f->ino, pgoff, pfn, NULL);
		return pfn;
	}
	bmap(m, f, pgoff);
	if (need_read) {
		pfn = read_into_cache(m, f, pgoff);
		*major = pfn != PFN_NONE;
	} else {
		pfn = page_cache_alloc(m);
		if (pfn != PFN_NONE)
			add_to_page_cache(m, f, pgoff, pfn);
	}
	if (pfn == PFN_NONE)
		return PFN_NONE;
	m->filemap.cache_misses++;
	ev_emit(m, EV_FILE_READPAGE, f->ino, pgoff, pfn, NULL);
	return pfn;
}

uint32_t filemap_fault(struct machine *m, uint32_t ino, uint64_t pgoff, int *major)
{
	struct sim_file *f = filemap_lookup(m, ino);
	*major = 0;
	if (!f || ino == BDEV_INO || pgoff >= pages_of(f->size))
		return PFN_NONE;
	uint32_t pfn = filemap_get_page(m, f, (uint32_t)pgoff, 1, major);
	if (pfn == PFN_NONE) {
		ev_emit(m, EV_FILE_NOMEM, ino, pgoff, 0, "fault");
		return PFN_NONE;
	}
	m->pa.mem_map[pfn].refcount++; /* the mapping's reference */
	ev_emit(m, EV_FILE_FAULT, ino, pgoff, pfn, *major ? "major: read from disk" : "minor");
	return pfn;
}

static enum vm_err file_create(struct machine *m, const struct op *op, struct op_result *res)
{
	struct filemap_state *fs = &m->filemap;
	const char *name = op->u.file_create.name;
	uint64_t size = op->u.file_create.size;
	size_t len = strnlen(name, NAME_LEN);
	if (len == 0 || len == NAME_LEN || name[0] != '/')
		return op_fail(res, VM_EINVAL,
		               "file name must be an absolute path of 1..%d characters, like "
		               "/data/f1",
		               NAME_LEN - 1);
	if (size > FILE_MAX_BYTES)
		return op_fail(res, VM_EINVAL, "file size %llu is over the 1 GiB limit",
		               (unsigned long long)size);
	if (filemap_lookup_name(m, name))
		return op_fail(res, VM_EEXIST, "%s already exists", name);
	uint32_t slot = 0;
	while (slot < fs->nr_slots && fs->files[slot].ino)
		slot++;
	if (slot > FILE_MAX_INO - FILE_FIRST_INO)
		return op_fail(res, VM_ENOSPC, "no free inode: the disk holds at most %u files",
		               FILE_MAX_INO - FILE_FIRST_INO + 1);
	if (slot == fs->nr_slots) {
		struct sim_file *nf = realloc(fs->files, (slot + 1) * sizeof(*nf));
		if (!nf)
			abort();
		fs->files = nf;
		memset(&fs->files[slot], 0, sizeof(*nf));
		fs->nr_slots++;
	}
	struct sim_file *f = &fs->files[slot];
	memcpy(f->name, name, len + 1);
	f->size = size;
	f->ino = FILE_FIRST_INO + slot;
	fs->nr_files++;
	ev_emit(m, EV_FILE_CREATE, f->ino, size, 0, name);
	bread(m, f->ino, 0, 1); /* the new inode is written into its inode block */
	res->value = f->ino;
	return VM_OK;
}

static enum vm_err file_io_check(struct machine *m, const struct op *op, struct op_result *res,
                                 struct sim_file **fp)
{
	uint32_t ino = op->u.file_io.ino;
	struct sim_file *f = ino == BDEV_INO ? NULL : filemap_lookup(m, ino);
	if (!f)
		return op_fail(res, VM_ENOENT, "no file with inode %u", ino);
	*fp = f;
	if (op->kind == OP_FILE_SYNC || op->kind == OP_FILE_DELETE)
		return VM_OK;
	uint64_t off = op->u.file_io.offset, len = op->u.file_io.len;
	if (len == 0)
		return op_fail(res, VM_EINVAL, "length must be at least 1 byte");
	if (off > FILE_MAX_BYTES || len > FILE_MAX_BYTES - off)
		return op_fail(res, VM_EINVAL, "offset + length is beyond the 1 GiB file limit");
	return VM_OK;
}

static void short_io(struct machine *m, struct op_result *res, uint32_t ino, uint32_t pgoff,
                     const char *what)
{
	ev_emit(m, EV_FILE_NOMEM, ino, pgoff, 0, what);
	res->fault = FAULT_OOM;
	snprintf(res->msg, sizeof(res->msg), "short %s: no memory for page %u of inode %u", what,
	         pgoff, ino);
}

/* vfs_read() through the page cache: hits count in value2, disk reads in major. */
static void file_read(struct machine *m, struct sim_file *f, uint64_t off, uint64_t len,
                      struct op_result *res)
{
	uint64_t end = off + len < f->size ? off + len : f->size, done = off;
	while (done < end) {
		uint32_t pgoff = (uint32_t)(done >> PAGE_SHIFT);
		int major;
		uint32_t pfn = filemap_get_page(m, f, pgoff, 1, &major);
		if (pfn == PFN_NONE) {
			short_io(m, res, f->ino, pgoff, "read");
			break;
		}
		mark_page_accessed(m, pfn);
		res->major += (uint32_t)major;
		res->value2 += !major;
		uint64_t next = ((uint64_t)pgoff + 1) << PAGE_SHIFT;
		done = next < end ? next : end;
	}
	res->value = done > off ? done - off : 0;
	ev_emit(m, EV_FILE_READ, f->ino, res->value, res->value2, NULL);
}

/*
 * vfs_write(): every touched page becomes dirty in the cache. A page only partly written
 * that already holds data on disk is read first (write_begin's read-modify-write).
 */
static void file_write(struct machine *m, struct sim_file *f, uint64_t off, uint64_t len,
                       struct op_result *res)
{
	uint64_t end = off + len, done = off, old = f->size;
	mapping_reserve(f, (end - 1) >> PAGE_SHIFT);
	while (done < end) {
		uint32_t pgoff = (uint32_t)(done >> PAGE_SHIFT);
		uint64_t pstart = (uint64_t)pgoff << PAGE_SHIFT, pend = pstart + PAGE_SIZE;
		uint64_t wend = end < pend ? end : pend;
		int partial = done > pstart || (wend < pend && wend < old);
		int major;
		uint32_t pfn = filemap_get_page(m, f, pgoff, partial && pstart < old, &major);
		if (pfn == PFN_NONE) {
			short_io(m, res, f->ino, pgoff, "write");
			break;
		}
		res->major += (uint32_t)major;
		set_page_dirty(m, pfn);
		mark_page_accessed(m, pfn);
		done = wend;
		if (done > f->size)
			f->size = done;
	}
	res->value = done - off;
	if (res->value)
		bread(m, f->ino, 0, 1); /* i_size and mtime change: the inode block is dirty */
	ev_emit(m, EV_FILE_WRITE, f->ino, res->value, f->size, NULL);
}

/* Drops every page of a mapping (truncate_inode_pages); dirty data is discarded. */
static uint64_t truncate_mapping(struct machine *m, struct sim_file *f, uint32_t from, uint32_t to)
{
	uint64_t n = 0;
	for (uint32_t i = from; i < to && i < f->cap; i++) {
		uint32_t pfn = f->pages[i];
		if (pfn == PFN_NONE)
			continue;
		struct page *p = &m->pa.mem_map[pfn];
		if (p->flags & PG_dirty) {
			p->flags &= (uint16_t)~PG_dirty;
			m->filemap.nr_dirty--;
		}
		lru_cache_del(m, pfn);
		filemap_remove_page(m, pfn);
		__free_pages(m, pfn, 0);
		n++;
	}
	return n;
}

static int mapping_in_use(const struct machine *m, const struct sim_file *f)
{
	for (uint32_t i = 0; i < f->cap && f->nrpages; i++)
		if (f->pages[i] != PFN_NONE && m->pa.mem_map[f->pages[i]].refcount > 1)
			return 1;
	return 0;
}

static enum vm_err file_delete(struct machine *m, struct sim_file *f, struct op_result *res)
{
	if (f->swapfile)
		return op_fail(res, VM_EBUSY, "%s is an active swap file: swapoff it first",
		               f->name);
	if (mapping_in_use(m, f))
		return op_fail(res, VM_EBUSY, "%s is mapped by a process: munmap it first",
		               f->name);
	uint64_t n = truncate_mapping(m, f, 0, f->cap);
	uint32_t base = f->ino << BDEV_BLOCK_BITS;
	n += truncate_mapping(m, &m->filemap.bdev, base, base + (1u << BDEV_BLOCK_BITS));
	ev_emit(m, EV_FILE_DELETE, f->ino, n, 0, f->name);
	res->value = f->ino;
	free(f->pages);
	memset(f, 0, sizeof(*f));
	m->filemap.nr_files--;
	return VM_OK;
}

enum vm_err filemap_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	struct sim_file *f = NULL;
	if (op->kind == OP_FILE_CREATE)
		return file_create(m, op, res);
	if (op->kind == OP_FILE_SYNC && op->u.file_io.ino == 0) {
		res->value = filemap_sync(m, 0);
		ev_emit(m, EV_FILE_SYNC, res->value, 0, 0, "sync");
		return VM_OK;
	}
	if (op->kind < OP_FILE_READ || op->kind > OP_FILE_DELETE)
		return op_fail(res, VM_EINVAL, "unknown file op %#x", op->kind);
	enum vm_err e = file_io_check(m, op, res, &f);
	if (e)
		return e;
	switch (op->kind) {
	case OP_FILE_READ:
		file_read(m, f, op->u.file_io.offset, op->u.file_io.len, res);
		return VM_OK;
	case OP_FILE_WRITE:
		file_write(m, f, op->u.file_io.offset, op->u.file_io.len, res);
		return VM_OK;
	case OP_FILE_SYNC:
		res->value = filemap_sync(m, f->ino);
		ev_emit(m, EV_FILE_SYNC, res->value, 0, 0, f->name);
		return VM_OK;
	default:
		return file_delete(m, f, res);
	}
}

static int check_fail(char *buf, size_t len, const char *fmt, unsigned a, unsigned b)
{
	snprintf(buf, len, fmt, a, b);
	return -1;
}

/* Each cached page points back at its slot, is a PT_FILE page on an LRU list. */
static int check_mapping(const struct machine *m, const struct sim_file *f, uint64_t *pages,
                         uint64_t *dirty, char *buf, size_t len)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < f->cap; i++) {
		uint32_t pfn = f->pages[i];
		if (pfn == PFN_NONE)
			continue;
		if (pfn >= m->pa.nr_frames)
			return check_fail(buf, len, "inode %u page %u points beyond RAM", f->ino,
			                  i);
		const struct page *p = &m->pa.mem_map[pfn];
		if (page_type(p) != PT_FILE || p->private != file_page_private(f->ino, i))
			return check_fail(buf, len,
			                  "pfn %#x in the cache of inode %u is not its page", pfn,
			                  f->ino);
		if (!(p->flags & PG_lru) || !(p->flags & PG_uptodate) || p->refcount < 1)
			return check_fail(
			    buf, len, "cached pfn %#x (inode %u) is off the LRU or not uptodate",
			    pfn, f->ino);
		if (p->flags & PG_dirty)
			(*dirty)++;
		n++;
	}
	if (n != f->nrpages)
		return check_fail(buf, len, "inode %u counts %u cached pages wrongly", f->ino, n);
	*pages += n;
	return 0;
}

int filemap_check(const struct machine *m, char *buf, size_t len)
{
	const struct filemap_state *fs = &m->filemap;
	uint64_t pages = 0, dirty = 0, live = 0;
	for (uint32_t i = 0; i < fs->nr_slots; i++) {
		const struct sim_file *f = &fs->files[i];
		if (!f->ino)
			continue;
		live++;
		if (f->ino != FILE_FIRST_INO + i)
			return check_fail(buf, len, "file slot %u has inode %u", i, f->ino);
		if (check_mapping(m, f, &pages, &dirty, buf, len))
			return -1;
	}
	if (check_mapping(m, &fs->bdev, &pages, &dirty, buf, len))
		return -1;
	if (live != fs->nr_files)
		return check_fail(buf, len, "%u live files, counted %u", (unsigned)live,
		                  fs->nr_files);
	/* Every PT_FILE frame is in some mapping: no frame leaks out of the page cache. */
	uint64_t file_frames = 0;
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++)
		file_frames += page_type(&m->pa.mem_map[pfn]) == PT_FILE;
	if (pages != fs->nr_file_pages || file_frames != pages)
		return check_fail(buf, len, "page cache holds %u pages, %u PT_FILE frames",
		                  (unsigned)pages, (unsigned)file_frames);
	if (dirty != fs->nr_dirty)
		return check_fail(buf, len, "%u dirty pages, counter says %u", (unsigned)dirty,
		                  (unsigned)fs->nr_dirty);
	return 0;
}

static void save_mapping(struct snap_writer *w, const struct sim_file *f)
{
	snap_put_str(w, f->name);
	snap_put_u64(w, f->size);
	snap_put_u32(w, f->ino);
	snap_put_u32(w, f->swapfile);
	snap_put_u32(w, f->cap);
	snap_put_u32(w, f->nrpages);
	for (uint32_t i = 0; i < f->cap; i++)
		if (f->pages[i] != PFN_NONE) {
			snap_put_u32(w, i);
			snap_put_u32(w, f->pages[i]);
		}
}

static int load_mapping(struct snap_reader *r, const struct machine *m, struct sim_file *f)
{
	snap_get_str(r, f->name, sizeof(f->name));
	f->size = snap_get_u64(r);
	f->ino = snap_get_u32(r);
	f->swapfile = snap_get_u32(r);
	uint32_t cap = snap_get_u32(r);
	f->nrpages = snap_get_u32(r);
	if (r->err || cap > (1u << FILE_PGOFF_BITS) || f->nrpages > cap)
		return snap_fail(r, "bad page-cache table for inode %u", f->ino);
	f->cap = 0;
	f->pages = NULL;
	if (cap)
		mapping_reserve(f, cap - 1);
	f->cap = cap;
	for (uint32_t n = 0; n < f->nrpages && !r->err; n++) {
		uint32_t i = snap_get_u32(r), pfn = snap_get_u32(r);
		if (i >= cap || pfn >= m->pa.nr_frames)
			return snap_fail(r, "bad page-cache entry for inode %u", f->ino);
		f->pages[i] = pfn;
	}
	return r->err ? -1 : 0;
}

void filemap_save(const struct machine *m, struct snap_writer *w)
{
	const struct filemap_state *fs = &m->filemap;
	snap_put_tag(w, "FILE");
	snap_put_u32(w, fs->nr_slots);
	snap_put_u32(w, fs->nr_files);
	for (uint32_t i = 0; i < fs->nr_slots; i++)
		save_mapping(w, &fs->files[i]);
	save_mapping(w, &fs->bdev);
	snap_put_u64(w, fs->nr_file_pages);
	snap_put_u64(w, fs->nr_dirty);
	snap_put_u64(w, fs->nr_dirtied);
	snap_put_u64(w, fs->nr_written);
	snap_put_u64(w, fs->cache_hits);
	snap_put_u64(w, fs->cache_misses);
}

int filemap_load(struct machine *m, struct snap_reader *r)
{
	struct filemap_state *fs = &m->filemap;
	if (snap_expect_tag(r, "FILE"))
		return -1;
	filemap_release(m);
	filemap_init(m);
	uint32_t slots = snap_get_u32(r);
	if (slots > FILE_MAX_INO - FILE_FIRST_INO + 1)
		return snap_fail(r, "%u file slots is too many", slots);
	fs->nr_files = snap_get_u32(r);
	fs->files = calloc(slots ? slots : 1, sizeof(*fs->files));
	if (!fs->files)
		return snap_fail(r, "out of host memory");
	fs->nr_slots = slots;
	for (uint32_t i = 0; i < slots; i++)
		if (load_mapping(r, m, &fs->files[i]))
			return -1;
	free(fs->bdev.pages);
	if (load_mapping(r, m, &fs->bdev))
		return -1;
	fs->nr_file_pages = snap_get_u64(r);
	fs->nr_dirty = snap_get_u64(r);
	fs->nr_dirtied = snap_get_u64(r);
	fs->nr_written = snap_get_u64(r);
	fs->cache_hits = snap_get_u64(r);
	fs->cache_misses = snap_get_u64(r);
	return r->err ? -1 : 0;
}
