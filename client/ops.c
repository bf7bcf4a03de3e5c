/*
 * The simulator op commands (alloc-pages, mmap, touch, ...), described by one table and run by
 * one engine. Each spec names its field of the Op oneof in vmsim.proto; the request message,
 * the RPC method and the field types all come from the protobuf-c descriptors, so the same
 * spec parses a command line, parses a trace line, and prints an op back as a trace line.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

enum ptype {
	P_U32,    /* decimal or 0x hex */
	P_U64,    /* decimal or 0x hex */
	P_I32,    /* signed */
	P_SIZE,   /* 4096, 4K, 16M, 1G */
	P_ADDR,   /* 0x7f0000001000 */
	P_STR,    /* a name */
	P_PROT,   /* rw, r-x, rwx, none */
	P_ZONE,   /* DMA, DMA32, Normal, HighMem: zone bits of a gfp mask */
	P_GFP,    /* kernel, atomic, noretry, high or a number: the other gfp bits */
	P_ADVICE, /* madvise advice by name */
	P_FLAG,   /* option without value: ORs bits into the field (or sets an enum) */
	P_DRIVER, /* mmap --driver MINOR: file = MINOR and MAP_DRIVER in flags */
};

struct ctl_param {
	const char *name;  /* metavar (PID) for positionals, long option name (prot) for options */
	const char *field; /* field of the request message */
	enum ptype type;
	uint32_t bits; /* P_FLAG: value ORed into the field */
};

struct ctl_opdef {
	const char *op_field; /* field of the Op oneof, e.g. "alloc_pages" */
	unsigned nreq;        /* positionals that must be given; the rest are optional */
	struct ctl_param pos[5];
	struct ctl_param opt[8];
	/* How the result prints: %v value (hex), %d value (decimal), %w value2 (hex), %a the
	 * access outcome, %n faults, %m major faults, %t TLB hits and misses, %k the kill that
	 * ended a range (if any), %s seq. NULL: nothing (Unix silence). */
	const char *result;
	void (*fixup)(ProtobufCMessage *req); /* derives implied fields after parsing */
	void (*init)(ProtobufCMessage *req);  /* defaults that are not zero, before parsing */
};

/* gfp bits (core/machine.h): zone modifiers and behaviour. */
#define GFP_ZONE_MASK 0x07u

static const struct {
	const char *name;
	uint32_t bits;
} zones[] = {{"Normal", 0}, {"DMA", 0x01}, {"HighMem", 0x02}, {"DMA32", 0x04}},
  gfps[] = {{"kernel", 0x00}, {"atomic", 0x60}, {"high", 0x20}, {"noretry", 0x40}},
  advices[] = {{"normal", 0},   {"random", 1}, {"sequential", 2}, {"willneed", 3},
               {"dontneed", 4}, {"free", 8},   {"cold", 20},      {"pageout", 21}};

#define MAP_SHARED_BIT    0x01u
#define MAP_PRIVATE_BIT   0x02u
#define MAP_FIXED_BIT     0x10u
#define MAP_ANONYMOUS_BIT 0x20u
#define MAP_HUGETLB_BIT   0x40000u
#define MAP_DRIVER_BIT    0x1000000u /* vmsim: `file` is a map_driver minor (core/machine.h) */

/* mmap(2) wants exactly one of MAP_SHARED/MAP_PRIVATE, and MAP_ANONYMOUS when no file. */
static void mmap_fixup(ProtobufCMessage *req)
{
	Vmsim__V1__MmapRequest *m = (Vmsim__V1__MmapRequest *)req;
	if (!(m->flags & MAP_SHARED_BIT))
		m->flags |= MAP_PRIVATE_BIT;
	if (m->file == 0 && !(m->flags & MAP_DRIVER_BIT))
		m->flags |= MAP_ANONYMOUS_BIT;
	else
		m->flags &= ~MAP_ANONYMOUS_BIT;
}

/* swapon(8) without -p: the kernel picks -2, -3, ... (core's SWAP_PRIO_NONE). */
#define SWAP_PRIO_AUTO INT32_MIN

static void swap_init(ProtobufCMessage *req)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "prio");
	if (f)
		*(int32_t *)((char *)req + f->offset) = SWAP_PRIO_AUTO;
}

/* Fields that default to something else than 0 when the argument is left out. */
static void set_u64(ProtobufCMessage *req, const char *field, uint64_t v)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, field);
	if (f)
		*(uint64_t *)((char *)req + f->offset) = v;
}

/* try_to_free_pages asks for SWAP_CLUSTER_MAX pages. */
static void reclaim_init(ProtobufCMessage *req)
{
	set_u64(req, "nr_pages", 32);
}

static void tick_init(ProtobufCMessage *req)
{
	set_u64(req, "n", 1);
}

#define OP(...) (&(const struct ctl_opdef){__VA_ARGS__})
#define OPCMD(words, args, summary, help, ...)                                         \
	{                                                                              \
		words, args, summary, help, run_op, OP(__VA_ARGS__), CTL_NEEDS_MACHINE \
	}

static int run_op(struct ctl *c, const struct ctl_cmd *cmd, int argc, char **argv);

/* clang-format off */
const struct ctl_cmd ctl_cmds_ops[] = {
	/* page_alloc.c */
	OPCMD("alloc-pages", "ORDER [--zone DMA|DMA32|Normal|HighMem] [--gfp kernel|atomic|...]",
	      "allocate 2^ORDER pages from the buddy allocator (alloc_pages)",
	      "Prints the first pfn of the block and its physical address. --zone picks the zone\n"
	      "modifier (__GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM); --gfp atomic may dip below the\n"
	      "min watermark and never reclaims.",
	      "alloc_pages", 1, {{"ORDER", "order", P_U32}},
	      {{"zone", "gfp", P_ZONE}, {"gfp", "gfp", P_GFP}}, "pfn %v  phys %w"),
	OPCMD("free-pages", "PFN ORDER", "give a block back to the buddy allocator (__free_pages)",
	      NULL, "free_pages", 2, {{"PFN", "pfn", P_ADDR}, {"ORDER", "order", P_U32}}),
	/* slab.c */
	OPCMD("cache create", "NAME SIZE [--align N]", "create a slab cache (kmem_cache_create)", NULL,
	      "kmem_cache_create", 2, {{"NAME", "name", P_STR}, {"SIZE", "size", P_U32}},
	      {{"align", "align", P_U32}}),
	OPCMD("cache alloc", "NAME", "allocate one object from a cache (kmem_cache_alloc)", NULL,
	      "kmem_cache_alloc", 1, {{"NAME", "name", P_STR}}, .result = "%v"),
	OPCMD("cache free", "NAME ADDR", "free an object back to its cache (kmem_cache_free)", NULL,
	      "kmem_cache_free", 2, {{"NAME", "name", P_STR}, {"ADDR", "addr", P_ADDR}}),
	OPCMD("cache shrink", "NAME", "release a cache's empty slabs (kmem_cache_shrink)", NULL,
	      "kmem_cache_shrink", 1, {{"NAME", "name", P_STR}}, .result = "%d pages freed"),
	OPCMD("cache destroy", "NAME", "destroy an empty cache (kmem_cache_destroy)", NULL,
	      "kmem_cache_destroy", 1, {{"NAME", "name", P_STR}}),
	OPCMD("kmalloc", "SIZE [--gfp kernel|atomic|...]", "allocate kernel memory (kmalloc)",
	      "SIZE is rounded up to a kmalloc-N size class; above 8K the pages come straight\n"
	      "from the buddy allocator. Prints the kernel virtual address.",
	      "kmalloc", 1, {{"SIZE", "size", P_SIZE}}, {{"gfp", "gfp", P_GFP}}, "%v"),
	OPCMD("kfree", "ADDR", "free memory from kmalloc (kfree)", NULL, "kfree", 1,
	      {{"ADDR", "addr", P_ADDR}}),
	/* vmalloc.c */
	OPCMD("vmalloc", "SIZE", "allocate virtually contiguous kernel memory (vmalloc)",
	      "Each page comes from alloc_pages separately and is mapped between VMALLOC_START\n"
	      "and VMALLOC_END, with a guard page after the area.",
	      "vmalloc", 1, {{"SIZE", "size", P_SIZE}}, .result = "%v"),
	OPCMD("vfree", "ADDR", "free a vmalloc area (vfree)", NULL, "vfree", 1,
	      {{"ADDR", "addr", P_ADDR}}),
	/* fork.c */
	OPCMD("spawn", "NAME [--text SIZE] [--data SIZE] [--bss SIZE] [--stack SIZE]",
	      "start a new process (prints its pid)", NULL, "spawn", 1, {{"NAME", "name", P_STR}},
	      {{"text", "text", P_SIZE}, {"data", "data", P_SIZE}, {"bss", "bss", P_SIZE},
	       {"stack", "stack", P_SIZE}}, "%d"),
	OPCMD("fork", "PID", "fork a process: copy-on-write address space (prints the child pid)",
	      NULL, "fork", 1, {{"PID", "pid", P_U32}}, .result = "%d"),
	OPCMD("vfork", "PID", "vfork: the child borrows the parent's mm (prints the child pid)", NULL,
	      "vfork", 1, {{"PID", "pid", P_U32}}, .result = "%d"),
	OPCMD("clone", "PID [--vm]", "clone a task; --vm shares the address space (CLONE_VM)", NULL,
	      "clone", 1, {{"PID", "pid", P_U32}}, {{"vm", "flags", P_FLAG, 0x100}}, "%d"),
	OPCMD("exit", "PID [CODE]", "end a process and release its memory", NULL, "exit", 1,
	      {{"PID", "pid", P_U32}, {"CODE", "code", P_I32}}),
	OPCMD("exec", "PID NAME [--text SIZE] [--data SIZE] [--bss SIZE] [--stack SIZE]",
	      "replace a process's address space with a fresh image (execve)", NULL, "exec", 2,
	      {{"PID", "pid", P_U32}, {"NAME", "name", P_STR}},
	      {{"text", "text", P_SIZE}, {"data", "data", P_SIZE}, {"bss", "bss", P_SIZE},
	       {"stack", "stack", P_SIZE}}),
	OPCMD("switch", "PID", "context switch to a task (loads its page tables, flushes the TLB)",
	      NULL, "context_switch", 1, {{"PID", "pid", P_U32}}),
	OPCMD("rlimit", "PID PAGES", "limit a task's resident pages (0 = unlimited)", NULL,
	      "set_rlimit", 2, {{"PID", "pid", P_U32}, {"PAGES", "pages", P_U64}}),
	OPCMD("oom-adj", "PID ADJ", "set /proc/PID/oom_score_adj (-1000..1000)", NULL, "set_oom_adj",
	      2, {{"PID", "pid", P_U32}, {"ADJ", "oom_score_adj", P_I32}}),
	/* mmap.c */
	OPCMD("mmap", "PID LEN [PROT] [--prot rwx] [--shared] [--file INO] [--offset OFF] "
	      "[--addr ADDR] [--fixed] [--driver MINOR] [--huge]",
	      "map memory into a process (prints the address)",
	      "PROT is any of r, w, x (default none); the mapping is private and anonymous unless\n"
	      "--shared or --file INO (an inode from `file create`) is given. --driver MINOR maps\n"
	      "the seed's map_driver device opened with `driver open`. --huge adds MAP_HUGETLB:\n"
	      "huge pages (2 MiB, 4 MiB on i386) reserved from the pool `nr-hugepages` fills.",
	      "mmap", 2, {{"PID", "pid", P_U32}, {"LEN", "len", P_SIZE}, {"PROT", "prot", P_PROT}},
	      {{"prot", "prot", P_PROT}, {"shared", "flags", P_FLAG, MAP_SHARED_BIT},
	       {"file", "file", P_U32}, {"offset", "offset", P_SIZE}, {"addr", "addr", P_ADDR},
	       {"fixed", "flags", P_FLAG, MAP_FIXED_BIT}, {"driver", "file", P_DRIVER},
	       {"huge", "flags", P_FLAG, MAP_HUGETLB_BIT}},
	      "%v", mmap_fixup),
	OPCMD("munmap", "PID ADDR LEN", "unmap a range of a process", NULL, "munmap", 3,
	      {{"PID", "pid", P_U32}, {"ADDR", "addr", P_ADDR}, {"LEN", "len", P_SIZE}}),
	OPCMD("mprotect", "PID ADDR LEN PROT", "change the protection of a range", NULL, "mprotect",
	      4, {{"PID", "pid", P_U32}, {"ADDR", "addr", P_ADDR}, {"LEN", "len", P_SIZE},
	          {"PROT", "prot", P_PROT}}),
	OPCMD("brk", "PID [ADDR]", "move the program break (no ADDR: print it)", NULL, "brk", 1,
	      {{"PID", "pid", P_U32}, {"ADDR", "addr", P_ADDR}}, .result = "%v"),
	OPCMD("madvise", "PID ADDR LEN ADVICE", "madvise(2): dontneed, willneed, pageout, cold, ...",
	      NULL, "madvise", 4,
	      {{"PID", "pid", P_U32}, {"ADDR", "addr", P_ADDR}, {"LEN", "len", P_SIZE},
	       {"ADVICE", "advice", P_ADVICE}}),
	/* memory.c */
	OPCMD("touch", "PID ADDR [--write|--exec]",
	      "access one address: TLB, page walk, maybe a page fault",
	      "Reads by default. Prints the physical address reached and the fault taken (minor,\n"
	      "major, COW) or the signal (SIGSEGV) that killed the task.",
	      "access", 2, {{"PID", "pid", P_U32}, {"ADDR", "addr", P_ADDR}},
	      {{"write", "kind", P_FLAG, 1}, {"exec", "kind", P_FLAG, 2}}, "%a"),
	OPCMD("touch-range", "PID ADDR LEN [--write] [--stride SIZE]",
	      "access [ADDR, ADDR+LEN) every page (or every --stride bytes)", NULL, "access_range", 3,
	      {{"PID", "pid", P_U32}, {"ADDR", "addr", P_ADDR}, {"LEN", "len", P_SIZE}},
	      {{"write", "kind", P_FLAG, 1}, {"exec", "kind", P_FLAG, 2},
	       {"stride", "stride", P_SIZE}}, "%n faults (%m major), %t%k"),
	/* filemap.c */
	OPCMD("file create", "NAME SIZE", "create a simulated file (prints its inode)", NULL,
	      "file_create", 2, {{"NAME", "name", P_STR}, {"SIZE", "size", P_SIZE}}, .result = "%d"),
	OPCMD("file read", "INO OFFSET LEN", "read(2) through the page cache", NULL, "file_read", 3,
	      {{"INO", "ino", P_U32}, {"OFFSET", "offset", P_SIZE}, {"LEN", "len", P_SIZE}}),
	OPCMD("file write", "INO OFFSET LEN", "write(2) through the page cache (dirties pages)", NULL,
	      "file_write", 3,
	      {{"INO", "ino", P_U32}, {"OFFSET", "offset", P_SIZE}, {"LEN", "len", P_SIZE}}),
	OPCMD("file sync", "INO", "fsync(2): write back the file's dirty pages", NULL, "file_sync", 1,
	      {{"INO", "ino", P_U32}}),
	OPCMD("file rm", "INO", "unlink(2): delete a file and its cached pages", NULL, "file_delete",
	      1, {{"INO", "ino", P_U32}}),
	/* swapfile.c */
	OPCMD("swap mk", "FILE SIZE", "mkswap: make FILE (from `file create`) a swap area",
	      "As in the seed: `file create /swapfile 64M` (dd), `swap mk /swapfile 64M`,\n"
	      "`swap on /swapfile`.",
	      "mkswap", 2, {{"FILE", "name", P_STR}, {"SIZE", "size", P_SIZE}},
	      .init = swap_init),
	OPCMD("swap on", "FILE [--prio N]",
	      "swapon: start using a swap area (no --prio: -2, -3, ... like the kernel)", NULL,
	      "swapon", 1, {{"FILE", "name", P_STR}}, {{"prio", "prio", P_I32}}, .init = swap_init),
	OPCMD("swap off", "NAME", "swapoff: bring every page back and stop using the area", NULL,
	      "swapoff", 1, {{"NAME", "name", P_STR}}),
	/* vmscan.c */
	OPCMD("reclaim", "[PAGES]",
	      "direct reclaim of up to PAGES pages (try_to_free_pages; default 32, SWAP_CLUSTER_MAX)",
	      NULL, "reclaim", 0, {{"PAGES", "nr_pages", P_U64}}, .result = "%d pages reclaimed",
	      .init = reclaim_init),
	OPCMD("drop-caches", "MODE", "echo MODE > /proc/sys/vm/drop_caches (1 page cache, 2 slab, 3)",
	      NULL, "drop_caches", 1, {{"MODE", "mode", P_U32}}),
	OPCMD("tick", "[N]", "let kswapd and writeback run for N ticks (default 1)", NULL, "tick", 0,
	      {{"N", "n", P_U64}}, .init = tick_init),
	OPCMD("swappiness", "VALUE", "echo VALUE > /proc/sys/vm/swappiness (0..200)", NULL,
	      "set_swappiness", 1, {{"VALUE", "swappiness", P_U32}}),
	/* hugetlb.c */
	OPCMD("nr-hugepages", "COUNT",
	      "echo COUNT > /proc/sys/vm/nr_hugepages (prints the pool size reached)",
	      "Takes huge pages (2 MiB, 4 MiB on i386) from the buddy allocator into the hugetlb\n"
	      "pool, or gives free ones back. `mmap PID LEN rw --huge` maps them; see\n"
	      "HugePages_* in /proc/meminfo.",
	      "set_nr_hugepages", 1, {{"COUNT", "count", P_U64}}, .result = "%d"),
	/* map_driver.c */
	OPCMD("driver open", "SIZE [--minor N]",
	      "open the seed's map_driver: a vmalloc buffer user space can mmap",
	      "Then `mmap PID LEN r --shared --file MINOR` maps it; the driver's fault handler\n"
	      "supplies each page with vmalloc_to_page().",
	      "driver_open", 1, {{"SIZE", "size", P_SIZE}}, {{"minor", "minor", P_U32}}),
	OPCMD("driver close", "[MINOR]", "close the map_driver and free its buffer", NULL,
	      "driver_close", 0, {{"MINOR", "minor", P_U32}}),
	{0},
};
/* clang-format on */

/* ---- descriptor plumbing ------------------------------------------------------------------ */

static const ProtobufCFieldDescriptor *op_oneof_field(const char *op_field)
{
	return protobuf_c_message_descriptor_get_field_by_name(&vmsim__v1__op__descriptor,
	                                                       op_field);
}

static const ProtobufCMessageDescriptor *op_request_desc(const struct ctl_opdef *def)
{
	const ProtobufCFieldDescriptor *f = op_oneof_field(def->op_field);
	return f ? f->descriptor : NULL;
}

const ProtobufCMethodDescriptor *ctl_op_method(const ProtobufCMessageDescriptor *req)
{
	const ProtobufCServiceDescriptor *s = &vmsim__v1__vm_sim__descriptor;
	for (unsigned i = 0; i < s->n_methods; i++)
		if (s->methods[i].input == req)
			return &s->methods[i];
	return NULL;
}

ProtobufCMessage *ctl_op_request(const Vmsim__V1__Op *op)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&vmsim__v1__op__descriptor, op->op_case);
	if (!f)
		return NULL;
	return *(ProtobufCMessage **)((char *)op + f->offset);
}

static void *field_ptr(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	return (char *)msg + f->offset;
}

static uint64_t field_get(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const char *p = (const char *)msg + f->offset;
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64:
		return *(const uint64_t *)p;
	case PROTOBUF_C_TYPE_INT32:
		return (uint64_t)(int64_t) * (const int32_t *)p;
	default:
		return *(const uint32_t *)p;
	}
}

static void field_set(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, uint64_t v)
{
	void *p = field_ptr(msg, f);
	if (f->type == PROTOBUF_C_TYPE_UINT64)
		*(uint64_t *)p = v;
	else if (f->type == PROTOBUF_C_TYPE_INT32)
		*(int32_t *)p = (int32_t)(int64_t)v;
	else
		*(uint32_t *)p = (uint32_t)v;
}

/* Frees what ctl_op_parse built: strings we strdup'd, the request, the Op. */
static void request_free(ProtobufCMessage *req)
{
	if (!req)
		return;
	const ProtobufCMessageDescriptor *d = req->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (d->fields[i].type != PROTOBUF_C_TYPE_STRING)
			continue;
		char *s = *(char **)field_ptr(req, &d->fields[i]);
		if (s && s != protobuf_c_empty_string)
			free(s);
	}
	free(req);
}

void ctl_op_free(Vmsim__V1__Op *op)
{
	if (!op)
		return;
	request_free(ctl_op_request(op));
	free(op);
}

/* ---- parsing ---------------------------------------------------------------------------- */

#define TABLE_LOOKUP(tab, s, out)                                            \
	({                                                                   \
		int found_ = -1;                                             \
		for (size_t i_ = 0; i_ < sizeof(tab) / sizeof(tab[0]); i_++) \
			if (strcasecmp((s), tab[i_].name) == 0) {            \
				*(out) = tab[i_].bits;                       \
				found_ = 0;                                  \
				break;                                       \
			}                                                    \
		found_;                                                      \
	})

/* Control bytes (and DEL) would not print back into a readable trace line. */
static int has_control_byte(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

static const char *ptype_hint(enum ptype t)
{
	switch (t) {
	case P_SIZE:
		return "a size like 4096, 4K, 16M or 1G";
	case P_ADDR:
		return "an address like 0x7f0000001000";
	case P_PROT:
		return "a protection like r, rw, r-x, rwx or none";
	case P_ZONE:
		return "a zone: DMA, DMA32, Normal or HighMem";
	case P_GFP:
		return "gfp flags: kernel, atomic, high, noretry or a number";
	case P_ADVICE:
		return "an advice: normal, random, sequential, willneed, dontneed, free, cold, "
		       "pageout";
	case P_I32:
		return "a whole number";
	case P_STR:
		return "a name (no quotes, not starting with -)";
	default:
		return "a number (decimal or 0x hex)";
	}
}

#define NEG_MARK '\x01'

/* One argument word -> its field. Returns 0 or -1 after printing what was expected. */
static int param_set(ProtobufCMessage *req, const struct ctl_param *p, const char *word,
                     const char *prog)
{
	if (word[0] == NEG_MARK)
		word++;
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, p->field);
	uint64_t v = 0;
	uint32_t v32 = 0;
	int32_t i32 = 0;
	int rc = 0;
	switch (p->type) {
	case P_U32:
		rc = ctl_parse_u32(word, &v32);
		v = v32;
		break;
	case P_U64:
		rc = ctl_parse_u64(word, &v);
		break;
	case P_I32:
		rc = ctl_parse_i32(word, &i32);
		v = (uint64_t)(int64_t)i32;
		break;
	case P_SIZE:
		rc = ctl_parse_size(word, &v);
		break;
	case P_ADDR:
		rc = ctl_parse_addr(word, &v);
		break;
	case P_PROT:
		rc = ctl_parse_prot(word, &v32);
		v = v32;
		break;
	case P_ZONE:
		rc = TABLE_LOOKUP(zones, word, &v32);
		v = field_get(req, f) | v32;
		break;
	case P_GFP:
		rc = TABLE_LOOKUP(gfps, word, &v32);
		if (rc)
			rc = ctl_parse_u32(word, &v32);
		v = field_get(req, f) | v32;
		break;
	case P_ADVICE:
		rc = TABLE_LOOKUP(advices, word, &v32);
		if (rc)
			rc = ctl_parse_u32(word, &v32);
		v = v32;
		break;
	case P_STR:
		/* A name must survive the trip through a trace line: no quote, no control byte,
		 * no leading '-' (it would read back as an option). */
		if (!*word || *word == '-' || strchr(word, '"') || has_control_byte(word)) {
			rc = -1;
			break;
		}
		{
			char **s = field_ptr(req, f);
			if (*s && *s != protobuf_c_empty_string)
				free(*s);
			*s = strdup(word);
		}
		return 0;
	case P_FLAG:
		v = p->bits;
		break;
	case P_DRIVER: {
		rc = ctl_parse_u32(word, &v32);
		v = v32;
		const ProtobufCFieldDescriptor *ff =
		    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "flags");
		if (!rc && ff)
			field_set(req, ff, field_get(req, ff) | MAP_DRIVER_BIT);
		break;
	}
	}
	if (rc) {
		fprintf(stderr, "%s: bad %s%s '%s': expected %s\n", prog,
		        p->name[0] >= 'a' ? "--" : "", p->name, word, ptype_hint(p->type));
		return -1;
	}
	if (p->type == P_FLAG && f->type != PROTOBUF_C_TYPE_ENUM)
		v |= field_get(req, f);
	field_set(req, f, v);
	return 0;
}

static int count_params(const struct ctl_param *ps, int max)
{
	int n = 0;
	while (n < max && ps[n].name)
		n++;
	return n;
}

static const struct ctl_cmd *cmd_of_def(const struct ctl_opdef *def)
{
	for (const struct ctl_cmd *c = ctl_cmds_ops; c->words; c++)
		if (c->op == def)
			return c;
	return NULL;
}

Vmsim__V1__Op *ctl_op_parse(const struct ctl_opdef *def, int argc, char **argv, const char *prog)
{
	const ProtobufCFieldDescriptor *of = op_oneof_field(def->op_field);
	const ProtobufCMessageDescriptor *rd = of->descriptor;
	int npos = count_params(def->pos, 5), nopt = count_params(def->opt, 8);
	struct option longopts[10];
	for (int i = 0; i < nopt; i++)
		longopts[i] = (struct option){
		    def->opt[i].name, def->opt[i].type == P_FLAG ? no_argument : required_argument,
		    NULL, 256 + i};
	longopts[nopt] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[nopt + 1] = (struct option){0};

	ProtobufCMessage *req = calloc(1, rd->sizeof_message);
	Vmsim__V1__Op *op = calloc(1, sizeof(*op));
	if (!req || !op) {
		free(req);
		free(op);
		fprintf(stderr, "%s: out of memory\n", prog);
		return NULL;
	}
	protobuf_c_message_init(rd, req);
	if (def->init)
		def->init(req);
	vmsim__v1__op__init(op);
	op->op_case = (Vmsim__V1__Op__OpCase)of->id;
	*(ProtobufCMessage **)((char *)op + of->offset) = req;

	/* getopt_long prints errors with argv[0]; the caller's prog names the command or the
	 * trace line. optind = 0 makes glibc start afresh for every command. A negative number
	 * (`oom-adj 2 -1000`) would look like options to getopt: a leading NEG_MARK hides its
	 * sign until param_set reads it. */
	char negbuf[8][24];
	int nneg = 0;
	char *saved[64];
	if (argc > 64) {
		fprintf(stderr, "%s: too many arguments\n", prog);
		ctl_op_free(op);
		return NULL;
	}
	memcpy(saved, argv, (size_t)argc * sizeof(char *)); /* getopt permutes argv */
	argv[0] = (char *)prog;
	for (int i = 1; i < argc && nneg < 8; i++)
		if (argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9' &&
		    strlen(argv[i]) < sizeof(negbuf[0]) - 1) {
			snprintf(negbuf[nneg], sizeof(negbuf[0]), "%c%s", NEG_MARK, argv[i]);
			argv[i] = negbuf[nneg++];
		}
	optind = 0;
	/* GNU getopt_long permutes: options may come before or after the positionals. */
	int ch, bad = 0;
	while (!bad && (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch >= 256)
			bad = param_set(req, &def->opt[ch - 256], optarg ? optarg : "", prog);
		else
			bad = ch == 'h' ? -2 : -1;
	}
	int pi = 0;
	while (!bad && optind < argc) {
		if (pi >= npos) {
			fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
			bad = -1;
			break;
		}
		bad = param_set(req, &def->pos[pi++], argv[optind++], prog);
	}
	memcpy(argv, saved, (size_t)argc * sizeof(char *));
	if (!bad && pi < (int)def->nreq) {
		const struct ctl_cmd *cmd = cmd_of_def(def);
		fprintf(stderr, "%s: missing %s (usage: %s %s)\n", prog, def->pos[pi].name,
		        cmd ? cmd->words : def->op_field, cmd ? cmd->args : "");
		bad = -1;
	}
	if (bad) {
		if (bad == -2) {
			const struct ctl_cmd *cmd = cmd_of_def(def);
			if (cmd)
				ctl_print_cmd_help(stdout, cmd);
		}
		ctl_op_free(op);
		return NULL;
	}
	if (def->fixup)
		def->fixup(req);
	return op;
}

/* ---- formatting an op back into its trace line ------------------------------------------ */

static const struct ctl_opdef *def_of_case(unsigned op_case)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&vmsim__v1__op__descriptor, op_case);
	if (!f)
		return NULL;
	for (const struct ctl_cmd *c = ctl_cmds_ops; c->words; c++)
		if (strcmp(c->op->op_field, f->name) == 0)
			return c->op;
	return NULL;
}

const struct ctl_opdef *ctl_op_def(const Vmsim__V1__Op *op)
{
	return def_of_case(op->op_case);
}

/* Appends one value as the parser reads it back. Returns chars written. */
static int param_format(const ProtobufCMessage *req, const struct ctl_param *p, char *buf,
                        size_t len)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, p->field);
	uint64_t v = field_get(req, f);
	char tmp[64];
	switch (p->type) {
	case P_STR: {
		const char *s = *(const char *const *)((const char *)req + f->offset);
		return snprintf(buf, len, strpbrk(s, " \t#") ? "\"%s\"" : "%s", s);
	}
	case P_I32:
		return snprintf(buf, len, "%" PRId32, (int32_t)v);
	case P_SIZE:
		ctl_format_size(v, tmp, sizeof(tmp));
		return snprintf(buf, len, "%s", tmp);
	case P_ADDR:
		return snprintf(buf, len, "0x%" PRIx64, v);
	case P_PROT:
		if (v == 0)
			return snprintf(buf, len, "none");
		ctl_format_prot((uint32_t)v, tmp);
		if (tmp[0] == '-') { /* "-w-" would read back as an option: write "w" */
			char *q = tmp;
			for (const char *p = tmp; *p; p++)
				if (*p != '-')
					*q++ = *p;
			*q = '\0';
		}
		return snprintf(buf, len, "%s", tmp);
	case P_ZONE:
		for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
			if (zones[i].bits == (v & GFP_ZONE_MASK))
				return snprintf(buf, len, "%s", zones[i].name);
		return snprintf(buf, len, "0x%" PRIx64, v & GFP_ZONE_MASK);
	case P_GFP:
		for (size_t i = 0; i < sizeof(gfps) / sizeof(gfps[0]); i++)
			if (gfps[i].bits == (v & ~GFP_ZONE_MASK))
				return snprintf(buf, len, "%s", gfps[i].name);
		return snprintf(buf, len, "0x%" PRIx64, v & ~GFP_ZONE_MASK);
	case P_ADVICE:
		for (size_t i = 0; i < sizeof(advices) / sizeof(advices[0]); i++)
			if (advices[i].bits == v)
				return snprintf(buf, len, "%s", advices[i].name);
		return snprintf(buf, len, "%" PRIu64, v);
	default:
		return snprintf(buf, len, "%" PRIu64, v);
	}
}

/* Is the option's value worth printing (i.e. not what leaving it out gives)? */
static int param_present(const ProtobufCMessage *req, const ProtobufCMessage *dflt,
                         const struct ctl_param *p)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, p->field);
	if (p->type == P_STR) {
		const char *s = *(const char *const *)((const char *)req + f->offset);
		return s && *s;
	}
	uint64_t v = field_get(req, f);
	const ProtobufCFieldDescriptor *ff =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "flags");
	int driver = ff && strcmp(p->field, "file") == 0 && (field_get(req, ff) & MAP_DRIVER_BIT);
	switch (p->type) {
	case P_DRIVER:
		return driver;
	case P_U32:
		return v != 0 && !driver;
	case P_FLAG:
		return f->type == PROTOBUF_C_TYPE_ENUM ? v == p->bits : (v & p->bits) == p->bits;
	case P_ZONE:
		return (v & GFP_ZONE_MASK) != 0;
	case P_GFP:
		return (v & ~GFP_ZONE_MASK) != 0;
	default:
		return v != field_get(dflt, f);
	}
}

int ctl_op_format(const Vmsim__V1__Op *op, char *buf, size_t len)
{
	const struct ctl_opdef *def = def_of_case(op->op_case);
	const ProtobufCMessage *req = ctl_op_request(op);
	if (!def || !req)
		return -1;
	const struct ctl_cmd *cmd = cmd_of_def(def);
	/* What the parser starts from: values equal to it need not be printed. */
	ProtobufCMessage *dflt = calloc(1, req->descriptor->sizeof_message);
	if (!dflt)
		return -1;
	protobuf_c_message_init(req->descriptor, dflt);
	if (def->init)
		def->init(dflt);
	size_t n = (size_t)snprintf(buf, len, "%s", cmd->words);
	int npos = count_params(def->pos, 5), nopt = count_params(def->opt, 8);
	/* Optional positionals are printed up to the last one that is set. */
	int last = (int)def->nreq;
	for (int i = (int)def->nreq; i < npos; i++)
		if (param_present(req, dflt, &def->pos[i]))
			last = i + 1;
	for (int i = 0; i < last && n < len; i++) {
		n += (size_t)snprintf(buf + n, len - n, " ");
		if (n < len)
			n += (size_t)param_format(req, &def->pos[i], buf + n, len - n);
	}
	for (int i = 0; i < nopt && n < len; i++) {
		const struct ctl_param *p = &def->opt[i];
		int dup = 0; /* an option that repeats a positional's field (mmap --prot) */
		for (int j = 0; j < npos; j++)
			dup |= strcmp(def->pos[j].field, p->field) == 0;
		if (dup || !param_present(req, dflt, p))
			continue;
		n += (size_t)snprintf(buf + n, len - n, " --%s", p->name);
		if (p->type != P_FLAG && n < len) {
			n += (size_t)snprintf(buf + n, len - n, " ");
			if (n < len)
				n += (size_t)param_format(req, p, buf + n, len - n);
		}
	}
	free(dflt);
	return n < len ? (int)n : -1;
}

/* ---- running and printing ------------------------------------------------------------ */

static const char *fault_word(Vmsim__V1__FaultKind k)
{
	switch (k) {
	case VMSIM__V1__FAULT_KIND__FAULT_MINOR:
		return "minor fault";
	case VMSIM__V1__FAULT_KIND__FAULT_MAJOR:
		return "major fault";
	case VMSIM__V1__FAULT_KIND__FAULT_COW:
		return "COW fault";
	case VMSIM__V1__FAULT_KIND__FAULT_SEGV:
		return "SIGSEGV";
	case VMSIM__V1__FAULT_KIND__FAULT_OOM:
		return "OOM";
	default:
		return "no fault";
	}
}

void ctl_op_print_result(struct ctl *c, const struct ctl_opdef *def, const Vmsim__V1__OpResult *r)
{
	if (c->output == CTL_OUT_JSON) {
		ctl_print_json(&r->base);
		return;
	}
	if (def && def->result) {
		for (const char *p = def->result; *p; p++) {
			if (*p != '%' || !p[1]) {
				putchar(*p);
				continue;
			}
			switch (*++p) {
			case 'v':
				printf("0x%" PRIx64, r->value);
				break;
			case 'd':
				printf("%" PRIu64, r->value);
				break;
			case 'w':
				printf("0x%" PRIx64, r->value2);
				break;
			case 'n':
				printf("%" PRIu32, r->faults);
				break;
			case 'm':
				printf("%" PRIu32, r->major);
				break;
			case 's':
				printf("%" PRIu64, r->seq);
				break;
			case 't': /* the TLB's share: the seed's point about huge pages */
				printf("TLB hits %" PRIu32 ", misses %" PRIu32, r->tlb_hits,
				       r->tlb_misses);
				break;
			case 'k': /* how a range access ended, when it killed the task */
				if (r->fault == VMSIM__V1__FAULT_KIND__FAULT_SEGV ||
				    r->fault == VMSIM__V1__FAULT_KIND__FAULT_OOM)
					printf(", then %s: task killed", fault_word(r->fault));
				break;
			case 'a':
				/* value = the virtual address, value2 = the physical one. */
				if (r->fault == VMSIM__V1__FAULT_KIND__FAULT_SEGV ||
				    r->fault == VMSIM__V1__FAULT_KIND__FAULT_OOM)
					printf("0x%" PRIx64 ": %s, task killed", r->value,
					       fault_word(r->fault));
				else
					printf("0x%" PRIx64 " -> phys 0x%" PRIx64 "  %s  tlb %s",
					       r->value, r->value2, fault_word(r->fault),
					       r->tlb_hits ? "hit" : "miss");
				break;
			default:
				putchar(*p);
			}
		}
		putchar('\n');
	}
	if (c->explain)
		for (size_t i = 0; i < r->n_events; i++)
			printf("  %s\n", r->events[i]);
}

static void set_machine_id(ProtobufCMessage *req, const char *id)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "machine_id");
	if (!f)
		return;
	char **s = field_ptr(req, f);
	if (*s && *s != protobuf_c_empty_string)
		free(*s);
	*s = strdup(id);
}

static int run_op(struct ctl *c, const struct ctl_cmd *cmd, int argc, char **argv)
{
	char prog[96];
	snprintf(prog, sizeof(prog), "vmsimctl %s", cmd->words);
	Vmsim__V1__Op *op = ctl_op_parse(cmd->op, argc, argv, prog);
	if (!op) {
		for (int i = 1; i < argc; i++)
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
				return CTL_OK;
		return CTL_EUSAGE;
	}
	int rc = ctl_need_machine(c);
	if (rc) {
		ctl_op_free(op);
		return rc;
	}
	ProtobufCMessage *req = ctl_op_request(op);
	set_machine_id(req, c->machine);
	const ProtobufCMethodDescriptor *m = ctl_op_method(req->descriptor);
	ProtobufCMessage *resp = NULL;
	rc = ctl_rpc(c, m->name, req, &resp);
	if (rc == CTL_OK)
		ctl_op_print_result(c, cmd->op, (Vmsim__V1__OpResult *)resp);
	/* an op that failed partway changed the machine too: the trace must redo it */
	if (c->record && (rc == CTL_OK || c->err_seq)) {
		char line[512];
		set_machine_id(req, "");
		if (ctl_op_format(op, line, sizeof(line)) > 0)
			fprintf(c->record, "%s\n", line);
		fflush(c->record);
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	ctl_op_free(op);
	return rc;
}

int ctl_ops_selfcheck(FILE *err)
{
	int bad = 0;
	for (const struct ctl_cmd *c = ctl_cmds_ops; c->words; c++) {
		const struct ctl_opdef *d = c->op;
		const ProtobufCMessageDescriptor *rd = op_request_desc(d);
		if (!rd) {
			fprintf(err, "%s: Op has no field %s\n", c->words, d->op_field);
			bad = 1;
			continue;
		}
		if (!ctl_op_method(rd)) {
			fprintf(err, "%s: no RPC takes %s\n", c->words, rd->name);
			bad = 1;
		}
		const struct ctl_param *lists[2] = {d->pos, d->opt};
		int counts[2] = {count_params(d->pos, 5), count_params(d->opt, 8)};
		for (int l = 0; l < 2; l++)
			for (int i = 0; i < counts[l]; i++) {
				const ProtobufCFieldDescriptor *f =
				    protobuf_c_message_descriptor_get_field_by_name(
				        rd, lists[l][i].field);
				if (!f) {
					fprintf(err, "%s: %s has no field %s\n", c->words, rd->name,
					        lists[l][i].field);
					bad = 1;
				} else if ((lists[l][i].type == P_STR) !=
				           (f->type == PROTOBUF_C_TYPE_STRING)) {
					fprintf(err, "%s: %s.%s has another type\n", c->words,
					        rd->name, f->name);
					bad = 1;
				}
			}
	}
	return bad ? -1 : 0;
}
