/* Boots a demo machine with the core library alone and prints what the kernel would show. */
#include <stdio.h>

#include "events.h"
#include "machine.h"
#include "proc.h"
#include "strbuf.h"

int main(void)
{
	struct machine_config cfg;
	char err[256];
	machine_config_default(&cfg, ARCH_X86_64, 64ull << 20);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "core_demo: %s\n", err);
		return 1;
	}
	struct op op = {.kind = OP_ALLOC_PAGES};
	struct op_result res;
	op.u.alloc_pages.order = 3;
	machine_apply(m, &op, &res);
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_adds(&sb, "$ cat /proc/buddyinfo\n");
	proc_render(m, "buddyinfo", &sb);
	strbuf_adds(&sb, "\n$ dmesg (vmsim events)\n");
	for (uint64_t id = events_first_id(m); id < events_next_id(m); id++) {
		event_render(event_get(m, id), &sb);
		strbuf_adds(&sb, "\n");
	}
	fputs(sb.buf, stdout);
	strbuf_release(&sb);
	machine_destroy(m);
	return 0;
}
