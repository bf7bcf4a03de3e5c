/*
 * Text views of a machine, in the kernel's formats (/proc/buddyinfo, /proc/meminfo, ...).
 * Queries only: a view never changes the machine.
 */
#ifndef VMSIM_PROC_H
#define VMSIM_PROC_H

#include "machine.h"
#include "strbuf.h"

/*
 * Renders the view at path ("buddyinfo", "meminfo", "1/maps", "free", ...; a leading
 * "/proc/" is accepted). Returns VM_OK, VM_ENOENT for an unknown view or pid.
 */
enum vm_err proc_render(const struct machine *m, const char *path, struct strbuf *out);

/* Names of the machine-wide views, NULL-terminated (for help and completion). */
extern const char *const proc_view_names[];

#endif
