/*
 * The text views, one table of path -> renderer. Renderers live next to the data they show
 * (buddyinfo in page_alloc.c, slabinfo in slab.c, ...) the way the kernel keeps them with
 * their subsystems; this file routes paths, including the per-pid ones.
 */
#include "proc.h"

#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "meminfo.h"
#include "task_mmu.h"

struct proc_view {
	const char *name;
	void (*show)(const struct machine *m, struct strbuf *sb);
};

static const struct proc_view views[] = {
    {"buddyinfo", buddyinfo_show},
    {"pagetypeinfo", pagetypeinfo_show},
    {"extfrag_index", extfrag_show},
    {"slabinfo", slabinfo_show},
    {"swaps", swaps_show},
    {"meminfo", meminfo_show},
    {"vmstat", vmstat_show},
    {"vmstat-cmd", vmstat_cmd_show},
    {"vmallocinfo", vmallocinfo_show},
    {"zoneinfo", zoneinfo_show},
};

const char *const proc_view_names[] = {
    "buddyinfo", "pagetypeinfo", "extfrag_index", "slabinfo",    "swaps",    "meminfo",
    "vmstat",    "vmstat-cmd",   "free",          "vmallocinfo", "zoneinfo", NULL,
};

struct proc_pid_view {
	const char *name;
	/* Returns VM_ENOENT when pid does not exist. */
	enum vm_err (*show)(const struct machine *m, uint32_t pid, struct strbuf *sb);
};

static const struct proc_pid_view pid_views[] = {
    {NULL, NULL},
    {"maps", proc_pid_maps},
    {"smaps", proc_pid_smaps},
    {"status", proc_pid_status},
    {"pmap", proc_pid_pmap},
};

static enum vm_err render_pid_view(const struct machine *m, const char *path, struct strbuf *out)
{
	char *end;
	unsigned long pid = strtoul(path, &end, 10);
	if (end == path || *end != '/' || pid == 0 || pid > UINT32_MAX)
		return VM_ENOENT;
	for (size_t i = 0; i < ARRAY_SIZE(pid_views); i++)
		if (pid_views[i].name && strcmp(end + 1, pid_views[i].name) == 0)
			return pid_views[i].show(m, (uint32_t)pid, out);
	return VM_ENOENT;
}

enum vm_err proc_render(const struct machine *m, const char *path, struct strbuf *out)
{
	if (strncmp(path, "/proc/", 6) == 0)
		path += 6;
	for (size_t i = 0; i < ARRAY_SIZE(views); i++) {
		if (strcmp(path, views[i].name) == 0) {
			views[i].show(m, out);
			return VM_OK;
		}
	}
	/* "free", "free -h", "free -w -m", "free --old": the free command's layouts */
	if (strncmp(path, "free", 4) == 0 && (path[4] == '\0' || path[4] == ' '))
		return free_show(m, path + 4, out);
	if (path[0] >= '0' && path[0] <= '9')
		return render_pid_view(m, path, out);
	return VM_ENOENT;
}
