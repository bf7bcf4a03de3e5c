/*
 * Machine registry: a chained hash table on the id (FNV-1a, doubled when full) plus a list
 * in creation order for ListMachines. Thousands of machines cost one entry each on top of
 * the core machines themselves.
 */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "events.h"

struct registry {
	struct srv_machine **bucket;
	size_t nbucket, count;
	struct srv_machine *first, *last;
	uint64_t next_id;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

struct registry *registry_new(void)
{
	struct registry *r = xcalloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->nbucket = 64;
	r->bucket = xcalloc(r->nbucket, sizeof(*r->bucket));
	if (!r->bucket) {
		free(r);
		return NULL;
	}
	r->next_id = 1;
	return r;
}

static void entry_free(struct srv_machine *sm)
{
	machine_destroy(sm->m);
	free(sm);
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	for (struct srv_machine *sm = r->first, *n; sm; sm = n) {
		n = sm->next;
		entry_free(sm);
	}
	free(r->bucket);
	free(r);
}

static void grow(struct registry *r)
{
	size_t nb = r->nbucket * 2;
	struct srv_machine **b = xcalloc(nb, sizeof(*b));
	if (!b)
		return; /* keep the old table: longer chains, still correct */
	for (struct srv_machine *sm = r->first; sm; sm = sm->next) {
		size_t i = hash(sm->id) & (nb - 1);
		sm->hnext = b[i];
		b[i] = sm;
	}
	free(r->bucket);
	r->bucket = b;
	r->nbucket = nb;
}

struct srv_machine *registry_get(const struct registry *r, const char *id)
{
	for (struct srv_machine *sm = r->bucket[hash(id) & (r->nbucket - 1)]; sm; sm = sm->hnext)
		if (!strcmp(sm->id, id))
			return sm;
	return NULL;
}

void registry_reserve_id(struct registry *r, uint64_t n)
{
	if (n >= r->next_id)
		r->next_id = n + 1;
}

void registry_format_id(char id[MACHINE_ID_LEN], uint64_t n)
{
	snprintf(id, MACHINE_ID_LEN, "m%llu", (unsigned long long)n);
}

int64_t registry_id_num(const char *id)
{
	char *end;
	if (!id || id[0] != 'm' || id[1] < '1' || id[1] > '9')
		return -1;
	long long n = strtoll(id + 1, &end, 10);
	return *end || n <= 0 ? -1 : n;
}

void registry_new_id(struct registry *r, char id[MACHINE_ID_LEN])
{
	do
		registry_format_id(id, r->next_id++);
	while (registry_get(r, id));
}

struct srv_machine *registry_create(struct registry *r, const char *id, const char *name,
                                    const struct machine_config *cfg, char *err, size_t len)
{
	char auto_id[MACHINE_ID_LEN];
	if (!id) { /* taken before booting: a machine that fails to boot still uses its id */
		registry_new_id(r, auto_id);
		id = auto_id;
	}
	struct machine *m = machine_create(cfg, err, len);
	if (!m)
		return NULL;
	struct srv_machine *sm = registry_adopt(r, id, name, m, err, len);
	if (!sm)
		machine_destroy(m);
	return sm;
}

struct srv_machine *registry_adopt(struct registry *r, const char *id, const char *name,
                                   struct machine *m, char *err, size_t len)
{
	char auto_id[MACHINE_ID_LEN];
	if (!id) {
		registry_new_id(r, auto_id);
		id = auto_id;
	} else if (!*id || strlen(id) >= MACHINE_ID_LEN) {
		snprintf(err, len, "machine id must be 1..%d bytes", MACHINE_ID_LEN - 1);
		return NULL;
	} else if (registry_get(r, id)) {
		snprintf(err, len, "machine %s already exists", id);
		return NULL;
	}
	if (name && strlen(name) > MACHINE_NAME_LEN) {
		snprintf(err, len, "machine name is longer than %d bytes", MACHINE_NAME_LEN);
		return NULL;
	}
	struct srv_machine *sm = xcalloc(1, sizeof(*sm));
	if (!sm) {
		snprintf(err, len, "out of host memory");
		return NULL;
	}
	sm->m = m;
	sm->cfg = *machine_get_config(sm->m);
	snprintf(sm->id, sizeof(sm->id), "%s", id);
	snprintf(sm->name, sizeof(sm->name), "%s", name ? name : "");
	int64_t n = registry_id_num(sm->id);
	if (n > 0 && (uint64_t)n >= r->next_id)
		r->next_id = (uint64_t)n + 1;
	if (r->count >= r->nbucket)
		grow(r);
	size_t i = hash(sm->id) & (r->nbucket - 1);
	sm->hnext = r->bucket[i];
	r->bucket[i] = sm;
	sm->prev = r->last;
	if (r->last)
		r->last->next = sm;
	else
		r->first = sm;
	r->last = sm;
	r->count++;
	return sm;
}

void registry_delete(struct registry *r, struct srv_machine *sm)
{
	struct srv_machine **pp = &r->bucket[hash(sm->id) & (r->nbucket - 1)];
	while (*pp && *pp != sm)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = sm->hnext;
	if (sm->prev)
		sm->prev->next = sm->next;
	else
		r->first = sm->next;
	if (sm->next)
		sm->next->prev = sm->prev;
	else
		r->last = sm->prev;
	r->count--;
	entry_free(sm);
}

int registry_reset(struct registry *r, struct srv_machine *sm, char *err, size_t len)
{
	(void)r;
	struct machine *fresh = machine_create(&sm->cfg, err, len);
	if (!fresh)
		return -1;
	registry_replace(r, sm, fresh);
	return 0;
}

void registry_replace(struct registry *r, struct srv_machine *sm, struct machine *m)
{
	(void)r;
	sm->event_base += events_next_id(sm->m) - 1;
	machine_destroy(sm->m);
	sm->m = m;
}

size_t registry_count(const struct registry *r)
{
	return r->count;
}

struct srv_machine *registry_first(const struct registry *r)
{
	return r->first;
}
