/*
 * Machine snapshots: the envelope (magic, version, length, checksum), the primitive writers
 * and readers every subsystem uses for its section, and machine_save()/machine_load().
 */
#include "snapshot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

static const char snap_magic[8] = {'V', 'M', 'S', 'I', 'M', 'S', 'N', 'P'};

void snap_grow(struct snap_writer *w, size_t n)
{
	if (w->cap - w->len >= n)
		return;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap - w->len < n)
		cap *= 2;
	uint8_t *nb = realloc(w->buf, cap);
	if (!nb)
		abort(); /* host out of memory: no sane way to go on */
	w->buf = nb;
	w->cap = cap;
}

void snap_put_bytes(struct snap_writer *w, const void *p, size_t n)
{
	if (n)
		memcpy(snap_room(w, n), p, n);
}

void snap_put_str(struct snap_writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	snap_put_u32(w, (uint32_t)n);
	snap_put_bytes(w, s, n);
}

void snap_put_tag(struct snap_writer *w, const char tag[4])
{
	snap_put_bytes(w, tag, 4);
}

int snap_fail(struct snap_reader *r, const char *fmt, ...)
{
	if (!r->err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
		va_end(ap);
		r->err = 1;
	}
	return -1;
}

const uint8_t *snap_take(struct snap_reader *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		snap_fail(r, "snapshot truncated at byte %zu", r->off);
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

void snap_get_bytes(struct snap_reader *r, void *dst, size_t n)
{
	const uint8_t *p = snap_take(r, n);
	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

void snap_get_str(struct snap_reader *r, char *dst, size_t cap)
{
	uint32_t n = snap_get_u32(r);
	if (n >= cap) {
		snap_fail(r, "string of %u bytes does not fit (max %zu)", n, cap - 1);
		dst[0] = '\0';
		return;
	}
	snap_get_bytes(r, dst, n);
	dst[r->err ? 0 : n] = '\0';
}

int snap_expect_tag(struct snap_reader *r, const char tag[4])
{
	char got[4];
	snap_get_bytes(r, got, 4);
	if (r->err)
		return -1;
	if (memcmp(got, tag, 4))
		return snap_fail(r, "expected section %.4s at byte %zu, found %.4s", tag,
		                 r->off - 4, got);
	return 0;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

/* Versions 1 and 2: FNV-1a, one multiply per byte. */
static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = FNV_OFFSET;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, 8);
#else
	v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
#endif
	return v;
}

/*
 * Version 3: the FNV-1a step over little-endian 8-byte words, with the high half folded down
 * after each multiply (a multiply only carries bits upward, so without the fold a flip in a
 * word's top bits would reach only the top of the sum).
 */
static inline uint64_t sum_word(uint64_t h, uint64_t w)
{
	h = (h ^ w) * FNV_PRIME;
	return h ^ h >> 32;
}

/*
 * Four lanes take the words of each 32-byte block in turn, so four multiplies are in flight
 * at once; the lanes are then summed in order, then the remaining words, then the tail bytes.
 */
static uint64_t fnv1a_words(const uint8_t *p, size_t n)
{
	uint64_t lane[4] = {FNV_OFFSET, FNV_OFFSET, FNV_OFFSET, FNV_OFFSET};
	size_t i = 0;
	for (; n - i >= 32; i += 32)
		for (int l = 0; l < 4; l++)
			lane[l] = sum_word(lane[l], load_le64(p + i + 8 * (size_t)l));
	uint64_t h = FNV_OFFSET;
	for (int l = 0; l < 4; l++)
		h = sum_word(h, lane[l]);
	for (; n - i >= 8; i += 8)
		h = sum_word(h, load_le64(p + i));
	for (; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

uint64_t snapshot_checksum(uint32_t version, const uint8_t *p, size_t n)
{
	return version >= 3 ? fnv1a_words(p, n) : fnv1a(p, n);
}

static void config_save(struct snap_writer *w, const struct machine_config *c)
{
	snap_put_tag(w, "CONF");
	snap_put_u32(w, c->arch);
	snap_put_u64(w, c->ram_bytes);
	snap_put_u32(w, c->tlb_entries);
	snap_put_u32(w, c->tlb_ways);
	snap_put_u32(w, c->policy);
	snap_put_u32(w, c->swappiness);
	snap_put_u32(w, c->swappiness_set);
	snap_put_u64(w, c->seed);
	snap_put_u32(w, c->min_free_kbytes);
	snap_put_u32(w, c->event_ring);
}

static void config_load(struct snap_reader *r, struct machine_config *c)
{
	memset(c, 0, sizeof(*c));
	snap_expect_tag(r, "CONF");
	c->arch = (enum machine_arch)snap_get_u32(r);
	c->ram_bytes = snap_get_u64(r);
	c->tlb_entries = snap_get_u32(r);
	c->tlb_ways = snap_get_u32(r);
	c->policy = (enum reclaim_policy)snap_get_u32(r);
	c->swappiness = snap_get_u32(r);
	c->swappiness_set = snap_get_u32(r);
	c->seed = snap_get_u64(r);
	c->min_free_kbytes = snap_get_u32(r);
	c->event_ring = snap_get_u32(r);
}

static void events_save(struct snap_writer *w, const struct machine *m)
{
	snap_put_tag(w, "EVNT");
	uint64_t first = events_first_id(m), next = events_next_id(m);
	snap_put_u64(w, next);
	uint64_t n = 0;
	for (uint64_t id = first; id < next; id++)
		n += event_get(m, id) != NULL;
	snap_put_u64(w, n);
	for (uint64_t id = first; id < next; id++) {
		const struct event *e = event_get(m, id);
		if (!e)
			continue;
		snap_put_u64(w, e->id);
		snap_put_u64(w, e->seq);
		snap_put_u16(w, e->type);
		snap_put_u64(w, e->a);
		snap_put_u64(w, e->b);
		snap_put_u64(w, e->c);
		snap_put_bytes(w, e->s, sizeof(e->s));
	}
}

static int events_load(struct snap_reader *r, struct machine *m)
{
	struct event_ring *ring = &m->events;
	if (snap_expect_tag(r, "EVNT"))
		return -1;
	uint64_t next = snap_get_u64(r), n = snap_get_u64(r);
	if (n > ring->cap || n >= next)
		return snap_fail(r, "event ring holds %llu events, more than it can",
		                 (unsigned long long)n);
	memset(ring->ev, 0, ring->slots * sizeof(*ring->ev));
	for (uint64_t i = 0; i < n && !r->err; i++) {
		struct event e = {0};
		e.id = snap_get_u64(r);
		e.seq = snap_get_u64(r);
		e.type = snap_get_u16(r);
		e.a = snap_get_u64(r);
		e.b = snap_get_u64(r);
		e.c = snap_get_u64(r);
		snap_get_bytes(r, e.s, sizeof(e.s));
		e.s[sizeof(e.s) - 1] = '\0';
		if (e.id >= next || e.id + ring->cap < next)
			return snap_fail(r, "event id %llu out of range", (unsigned long long)e.id);
		*event_slot(ring, e.id) = e;
	}
	ring->next_id = next;
	ring->op_seq = 0;
	return r->err ? -1 : 0;
}

static void machine_state_save(struct snap_writer *w, const struct machine *m)
{
	config_save(w, &m->cfg);
	snap_put_tag(w, "MACH");
	snap_put_u64(w, m->seq);
	snap_put_u64(w, m->rng);
	snap_put_u32(w, NR_VM_EVENT_ITEMS);
	for (int i = 0; i < NR_VM_EVENT_ITEMS; i++)
		snap_put_u64(w, m->vm_events[i]);
	events_save(w, m);
	machine_subsystems_save(m, w);
	snap_put_tag(w, "END.");
}

void machine_save_to(const struct machine *m, struct snap_writer *w)
{
	w->len = 0;
	/* Most of a snapshot is 16 bytes per frame: one allocation, not a chain of doublings. */
	snap_grow(w, 32 * (size_t)m->pa.nr_frames + 4096);
	snap_put_bytes(w, snap_magic, sizeof(snap_magic));
	snap_put_u32(w, SNAPSHOT_VERSION);
	snap_put_u64(w, 0); /* payload length, patched below */
	size_t start = w->len;
	machine_state_save(w, m);
	uint64_t plen = w->len - start;
	snap_store_le(w->buf + 12, plen, 8);
	snap_put_u64(w, snapshot_checksum(SNAPSHOT_VERSION, w->buf + start, plen));
}

int machine_save(const struct machine *m, uint8_t **out, size_t *len)
{
	struct snap_writer w = {0};
	machine_save_to(m, &w);
	*out = w.buf;
	*len = w.len;
	return 0;
}

uint32_t snapshot_version(const uint8_t *buf, size_t len)
{
	if (len < 12 || memcmp(buf, snap_magic, sizeof(snap_magic)))
		return 0;
	return (uint32_t)snap_load_le(buf + 8, 4);
}

static int envelope_check(struct snap_reader *r, char *err, size_t errlen)
{
	char magic[8];
	snap_get_bytes(r, magic, sizeof(magic));
	if (r->err || memcmp(magic, snap_magic, sizeof(magic))) {
		snprintf(err, errlen, "not a vmsim snapshot (bad magic)");
		return -1;
	}
	uint32_t version = snap_get_u32(r);
	if (version < SNAPSHOT_VERSION_MIN || version > SNAPSHOT_VERSION) {
		snprintf(err, errlen,
		         "snapshot version %u is not supported (this build reads %d to %d)",
		         version, SNAPSHOT_VERSION_MIN, SNAPSHOT_VERSION);
		return -1;
	}
	r->version = version;
	uint64_t plen = snap_get_u64(r);
	if (r->err || plen > r->len - r->off || r->len - r->off - plen != 8) {
		snprintf(err, errlen, "snapshot length does not match its header (truncated?)");
		return -1;
	}
	uint64_t sum = 0;
	for (int i = 7; i >= 0; i--)
		sum = sum << 8 | r->p[r->off + plen + (size_t)i];
	if (sum != snapshot_checksum(version, r->p + r->off, plen)) {
		snprintf(err, errlen, "snapshot checksum mismatch: the data is corrupt");
		return -1;
	}
	r->len = r->off + plen;
	return 0;
}

static int machine_state_load(struct snap_reader *r, struct machine *m)
{
	if (snap_expect_tag(r, "MACH"))
		return -1;
	m->seq = snap_get_u64(r);
	m->rng = snap_get_u64(r);
	if (snap_get_u32(r) != NR_VM_EVENT_ITEMS)
		return snap_fail(r, "counter table size differs");
	for (int i = 0; i < NR_VM_EVENT_ITEMS; i++)
		m->vm_events[i] = snap_get_u64(r);
	if (events_load(r, m) || machine_subsystems_load(m, r))
		return -1;
	return snap_expect_tag(r, "END.");
}

struct machine *machine_load(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct snap_reader r = {.p = buf, .len = len};
	if (envelope_check(&r, err, errlen))
		return NULL;
	struct machine_config cfg;
	config_load(&r, &cfg);
	if (r.err) {
		snprintf(err, errlen, "%s", r.msg);
		return NULL;
	}
	struct machine *m = machine_create(&cfg, err, errlen);
	if (!m)
		return NULL;
	if (machine_state_load(&r, m) || r.off != r.len) {
		snprintf(err, errlen, "%s", r.err ? r.msg : "trailing bytes after the snapshot");
		machine_destroy(m);
		return NULL;
	}
	char why[256];
	if (machine_check(m, why, sizeof(why))) {
		snprintf(err, errlen, "snapshot loads to an inconsistent machine: %s", why);
		machine_destroy(m);
		return NULL;
	}
	return m;
}
