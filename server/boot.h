/*
 * Booting a big machine off the loop. machine_create of 64 GiB takes about 1.9 s (16 Mi struct
 * pages set up and freed to the buddy lists); CreateMachine and ResetMachine of a machine of
 * BOOT_OFF_LOOP_RAM or more boot it on a libuv worker thread (core keeps no global state, so a
 * machine nobody else sees yet may be built anywhere) and finish on the loop.
 */
#ifndef VMSIM_SRV_BOOT_H
#define VMSIM_SRV_BOOT_H

#include "rpc.h"

/* Below this a boot takes a few ms and stays on the loop. */
#define BOOT_OFF_LOOP_RAM (256ull << 20)

/* On the loop once the machine is built: m, or NULL with err saying why it could not be. */
typedef void (*boot_done_fn)(struct srv_call *c, struct machine *m, const char *err, void *arg);

/* Defers c and boots cfg on a worker thread, then calls done(c, m, err, arg), which answers,
 * leaves the commit record and calls rpc_resume(c). -1 (nothing started) when out of memory. */
int boot_start(struct srv_call *c, const struct machine_config *cfg, boot_done_fn done, void *arg);

/*
 * CreateMachine one at a time while one boots off the loop: the quotas (machines, RAM) are
 * checked when a create is authorized against the machines already committed, so a second
 * create waits, before its authorization, until the first one's commit record is submitted.
 * boot_park_create parks such a call (1 if parked); boot_create_end runs the waiting ones.
 */
int boot_park_create(struct srv_call *c);
void boot_create_begin(struct srv *s);
void boot_create_end(struct srv *s);

#endif
