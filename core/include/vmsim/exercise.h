/*
 * Exercises: seeded, generated questions with checkable answers for each seed topic, in the
 * spirit of the OSTEP homework simulators but served. Each exercise is built by running a
 * scratch machine through machine_apply() with the core's real mechanisms; the answer is read
 * from that machine, never hard-coded. The same (topic, seed) always gives the same exercise,
 * so an answer is checked by regenerating it: nothing needs to be stored between calls.
 */
#ifndef VMSIM_EXERCISE_H
#define VMSIM_EXERCISE_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "strbuf.h"

enum exercise_topic {
	EX_BUDDY_ALLOC = 0, /* which pfn does each allocation get? (split, head of free list) */
	EX_BUDDYINFO,       /* what does buddyinfo show after these frees? (merging) */
	EX_SLAB,            /* objects per slab, pages per slab, slabs for N objects */
	EX_REPLACEMENT,     /* hit or miss at each step of FIFO/LRU/OPT/CLOCK/MRU (policy.c) */
	EX_FREE,            /* the seed's free arithmetic: used, -/+ buffers/cache */
	EX_TRANSLATE,       /* page-walk indices, physical address, the level that faults */
	EX_COW,             /* frames and COW faults after fork and writes */
	EX_HUGEPAGE,        /* TLB misses with 4 KiB and huge pages, the PSE walk, HugePages_Rsvd */
	EX_NR_TOPICS
};

/* How an answer value is written and read back. */
enum exercise_field_kind {
	EXF_DEC = 0, /* a count: 12 */
	EXF_HEX,     /* a pfn or an address: 0x1a40 (decimal accepted too) */
	EXF_HITMISS, /* one step of a replacement policy: H or M (1/0 accepted) */
};

#define EXERCISE_MAX_FIELDS 32
#define EXERCISE_NAME_LEN   24

struct exercise_field {
	char name[EXERCISE_NAME_LEN];
	enum exercise_field_kind kind;
	uint64_t value;
};

struct exercise {
	enum exercise_topic topic;
	uint64_t seed;
	struct strbuf question; /* the text a student reads */
	struct strbuf solution; /* the answer and the kernel's steps that produced it */
	unsigned nfields;
	struct exercise_field field[EXERCISE_MAX_FIELDS];
};

struct exercise_verdict {
	int correct;           /* every field right */
	unsigned right, total; /* fields right, fields asked */
	struct strbuf feedback;
};

/* "buddy", "buddyinfo", "slab", ...; NULL for an out-of-range topic. */
const char *exercise_topic_name(enum exercise_topic t);
/* One line saying what the topic asks (for help and listings). */
const char *exercise_topic_summary(enum exercise_topic t);
/* The topic with this name, or -1. */
int exercise_topic_parse(const char *name);

/* Builds the exercise. VM_EINVAL for an unknown topic; ex is released by exercise_release. */
enum vm_err exercise_new(enum exercise_topic t, uint64_t seed, struct exercise *ex, char *err,
                         size_t errlen);
void exercise_release(struct exercise *ex);

/*
 * Checks a student's answer: the values in field order, separated by spaces, commas or
 * semicolons, or as name=value pairs (any order). Hex as 0x..., counts in decimal, H/M for
 * hits and misses (also written together: "MMHM"). VM_EINVAL (with a message saying which token)
 * when the text cannot be read; otherwise VM_OK and the verdict (release with
 * exercise_verdict_release). The feedback says which fields are right, wrong or missing;
 * the expected values only with reveal (a caller with solve rights), otherwise a hint in the
 * kernel's terms when something is wrong.
 */
enum vm_err exercise_check(const struct exercise *ex, const char *answer, int reveal,
                           struct exercise_verdict *v, char *err, size_t errlen);
void exercise_verdict_release(struct exercise_verdict *v);

/* Writes a field's value the way the answer syntax reads it ("0x1a40", "12", "H"). */
void exercise_format_value(const struct exercise_field *f, uint64_t v, char *buf, size_t len);

#endif
