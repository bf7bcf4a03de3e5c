/*
 * The machines a server hosts, by id. Each entry owns one independent core machine plus the
 * server-side state around it (name, live event subscribers, owner for auth).
 */
#ifndef VMSIM_SRV_REGISTRY_H
#define VMSIM_SRV_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"

#define MACHINE_ID_LEN   24
#define MACHINE_NAME_LEN 64
/* A CreateMachine that names no RAM size gets this much. */
#define MACHINE_DEFAULT_RAM (64ull << 20)

struct sse_client;
struct slice_hold;

struct srv_machine {
	char id[MACHINE_ID_LEN];
	char name[MACHINE_NAME_LEN + 1];
	struct machine *m;
	struct machine_config cfg; /* as booted, defaults filled in */
	struct sse_client *subs;   /* live event streams on this machine */
	/* Added to the core's event ids, which restart at 1 when the machine is replaced (reset,
	 * restore), so the ids clients see keep growing: raised by each replacement. */
	uint64_t event_base;
	unsigned nsubs;
	void *owner;             /* the auth layer's user record, NULL while the server is open */
	struct slice_hold *busy; /* held by a request running in slices or booting; others wait */
	struct srv_machine *hnext, *prev, *next;
};

struct registry;

struct registry *registry_new(void);
/* Destroys every machine. */
void registry_free(struct registry *r);
/* Boots a machine. id NULL = next free "m<N>"; an explicit id (recovery) must be unused. */
struct srv_machine *registry_create(struct registry *r, const char *id, const char *name,
                                    const struct machine_config *cfg, char *err, size_t len);
/* Like registry_create with a machine already built (recovery, restore, import): takes m. */
struct srv_machine *registry_adopt(struct registry *r, const char *id, const char *name,
                                   struct machine *m, char *err, size_t len);
/* Automatic ids continue after m<n> (ids of deleted machines are never handed out again). */
void registry_reserve_id(struct registry *r, uint64_t n);
/* The id of machine number n: "m<n>". */
void registry_format_id(char id[MACHINE_ID_LEN], uint64_t n);
/* "m12" -> 12; -1 if id is not of that form. */
int64_t registry_id_num(const char *id);
/* Hands out the next automatic id ("m<n>") without creating a machine yet. */
void registry_new_id(struct registry *r, char id[MACHINE_ID_LEN]);
struct srv_machine *registry_get(const struct registry *r, const char *id);
void registry_delete(struct registry *r, struct srv_machine *sm);
/* Reboots sm from its config: a fresh machine, seq 0. */
int registry_reset(struct registry *r, struct srv_machine *sm, char *err, size_t len);
/* Puts m in the place of sm's machine, which it destroys (reset, restore): the event ids sm
 * shows go on after the old machine's. */
void registry_replace(struct registry *r, struct srv_machine *sm, struct machine *m);
size_t registry_count(const struct registry *r);
/* Creation order: first, then ->next. */
struct srv_machine *registry_first(const struct registry *r);

#endif
