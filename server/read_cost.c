/*
 * Read costs (read_cost.h): one unit per READ_COST_BYTES of the answer a read is expected to
 * make, estimated from the request and the machine before it runs.
 */
#include "read_cost.h"

#include <string.h>

#include "registry.h"
#include "vmsim/v1/vmsim.pb-c.h"

#define FRAME_MAP_BYTES 3   /* a flags word and an owner byte per frame */
#define HISTORY_BYTES   128 /* one entry */
#define HISTORY_PAGE    100 /* a page of limit 0 */
#define EXPORT_BYTES    64  /* a snapshot, per frame of the machine */
#define PROC_FRAMES                                                        \
	(1u << 18) /* a /proc view walks zones, pageblocks, page tables: a \
	            * unit per GiB of RAM */

static uint64_t frames_of(const struct srv *s, const char *machine_id)
{
	struct srv_machine *sm = registry_get(s->reg, machine_id ? machine_id : "");
	return sm ? machine_nr_frames(sm->m) : 0;
}

static uint64_t units(uint64_t bytes)
{
	return 1 + bytes / READ_COST_BYTES;
}

uint64_t read_cost(const struct srv *s, const char *method, const ProtobufCMessage *req)
{
	if (!strcmp(method, "FrameMap")) {
		const Vmsim__V1__FrameMapRequest *r = (const void *)req;
		uint64_t nr = frames_of(s, r->machine_id);
		uint64_t n = r->start_pfn < nr ? nr - r->start_pfn : 0;
		if (r->count && r->count < n)
			n = r->count;
		return units(n * FRAME_MAP_BYTES);
	}
	if (!strcmp(method, "Proc")) {
		const Vmsim__V1__ProcRequest *r = (const void *)req;
		return 1 + frames_of(s, r->machine_id) / PROC_FRAMES;
	}
	if (!strcmp(method, "History")) {
		const Vmsim__V1__HistoryRequest *r = (const void *)req;
		return units((uint64_t)(r->limit ? r->limit : HISTORY_PAGE) * HISTORY_BYTES);
	}
	if (!strcmp(method, "ExportMachine")) {
		const Vmsim__V1__ExportMachineRequest *r = (const void *)req;
		return units(frames_of(s, r->machine_id) * EXPORT_BYTES);
	}
	return 1;
}
