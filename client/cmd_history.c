/*
 * Machine inspection and history: `ps` (ListTasks), `translate` (Translate: the page-table
 * walk the MMU would do), `snapshot save|ls|restore|rm|diff` and `at SEQ VIEW` (MachineAt:
 * a /proc view of the machine as it was at a history seq).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Prints resp as JSON when asked; returns 1 when it did (and frees nothing). */
static int json_out(struct ctl *c, const ProtobufCMessage *resp)
{
	if (c->output != CTL_OUT_JSON)
		return 0;
	ctl_print_json(resp);
	return 1;
}

static int cmd_ps(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	Vmsim__V1__ListTasksRequest req = VMSIM__V1__LIST_TASKS_REQUEST__INIT;
	req.machine_id = c->machine;
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "ListTasks", &req.base, &resp)))
		return rc;
	if (!json_out(c, resp)) {
		const Vmsim__V1__ListTasksResponse *r = (const void *)resp;
		/* procps ps units: RSS and VSZ in kB (4 kB pages). "*" marks current. */
		static const char *const heads[] = {" ",    ">PID",   ">PPID",   "STAT",
		                                    ">RSS", ">VSZ",   ">MINFLT", ">MAJFLT",
		                                    ">COW", "COMMAND"};
		struct ctl_table *t = ctl_table_new(10, heads);
		for (size_t i = 0; i < r->n_tasks; i++) {
			const Vmsim__V1__Task *k = r->tasks[i];
			ctl_table_addf(t, 0, "%s", k->current ? "*" : "");
			ctl_table_addf(t, 1, "%" PRIu32, k->pid);
			ctl_table_addf(t, 2, "%" PRIu32, k->ppid);
			ctl_table_addf(t, 3, "%s", k->state);
			ctl_table_addf(t, 4, "%" PRIu64, k->rss * 4);
			ctl_table_addf(t, 5, "%" PRIu64, k->total_vm * 4);
			ctl_table_addf(t, 6, "%" PRIu64, k->min_flt);
			ctl_table_addf(t, 7, "%" PRIu64, k->maj_flt);
			ctl_table_addf(t, 8, "%" PRIu64, k->nr_cow);
			ctl_table_addf(t, 9, "%s", k->comm);
		}
		ctl_table_print(t, c->output, stdout);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

static void print_walk(const Vmsim__V1__TranslateResponse *r, uint64_t addr)
{
	if (r->direct_map) {
		printf("0x%" PRIx64 ": direct map (__pa = addr - PAGE_OFFSET), no walk\n", addr);
		printf("phys 0x%" PRIx64 "\n", r->phys);
		return;
	}
	for (size_t i = 0; i < r->n_steps; i++) {
		const Vmsim__V1__WalkStep *s = r->steps[i];
		printf("%-4s index %3" PRIu32 "  table pfn 0x%" PRIx64 "  entry 0x%016" PRIx64
		       "  -> ",
		       s->level, s->index, s->table_pfn, s->entry);
		if (s->next_opt_case == VMSIM__V1__WALK_STEP__NEXT_OPT_NEXT_PFN)
			printf("pfn 0x%" PRIx64 "\n", s->next_pfn);
		else
			printf("not present\n");
	}
	if (!r->present) {
		printf("0x%" PRIx64 ": not mapped (%s entry not present)\n", addr,
		       r->missing_level[0] ? r->missing_level : "pte");
		return;
	}
	printf("pte 0x%016" PRIx64 " flags", r->pte);
	for (size_t i = 0; i < r->n_pte_flags; i++)
		printf(" %s", r->pte_flags[i]);
	printf("\n0x%" PRIx64 " -> phys 0x%" PRIx64 "\n", addr, r->phys);
}

static int cmd_translate(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 2, 2);
	if (rc >= 0)
		return rc;
	Vmsim__V1__TranslateRequest req = VMSIM__V1__TRANSLATE_REQUEST__INIT;
	req.machine_id = c->machine;
	if (ctl_parse_u32(argv[1], &req.pid))
		return ctl_usage_error(self, "bad PID '%s' (0 = the kernel's init_mm)", argv[1]);
	if (ctl_parse_addr(argv[2], &req.addr))
		return ctl_usage_error(self, "bad ADDR '%s': use hex like 0x7f001000", argv[2]);
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "Translate", &req.base, &resp)))
		return rc;
	if (!json_out(c, resp))
		print_walk((const void *)resp, req.addr);
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

/* ---- snapshots ------------------------------------------------------------------------------ */

static int cmd_snap_save(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotSaveRequest req = VMSIM__V1__SNAPSHOT_SAVE_REQUEST__INIT;
	req.machine_id = c->machine;
	req.name = argv[1];
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "SnapshotSave", &req.base, &resp)))
		return rc;
	if (!json_out(c, resp)) {
		const Vmsim__V1__SnapshotSaveResponse *r = (const void *)resp;
		printf("snapshot %s saved at seq %" PRIu64 "\n", argv[1],
		       r->snapshot ? r->snapshot->seq : 0);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

static int cmd_snap_ls(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotListRequest req = VMSIM__V1__SNAPSHOT_LIST_REQUEST__INIT;
	req.machine_id = c->machine;
	if (argc == 2) {
		if (strcmp(argv[1], "--all") != 0)
			return ctl_usage_error(self, "unexpected argument '%s'", argv[1]);
		req.include_checkpoints = 1;
	}
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "SnapshotList", &req.base, &resp)))
		return rc;
	if (!json_out(c, resp)) {
		const Vmsim__V1__SnapshotListResponse *r = (const void *)resp;
		static const char *const heads[] = {"NAME", ">SEQ", ">SIZE"};
		struct ctl_table *t = ctl_table_new(3, heads);
		for (size_t i = 0; i < r->n_snapshots; i++) {
			const Vmsim__V1__SnapshotInfo *s = r->snapshots[i];
			ctl_table_addf(t, 0, "%s", s->checkpoint ? "(checkpoint)" : s->name);
			ctl_table_addf(t, 1, "%" PRIu64, s->seq);
			ctl_table_addf(t, 2, "%" PRIu64, s->size);
		}
		ctl_table_print(t, c->output, stdout);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

static int cmd_snap_restore(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotRestoreRequest req = VMSIM__V1__SNAPSHOT_RESTORE_REQUEST__INIT;
	req.machine_id = c->machine;
	req.name = argv[1];
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "SnapshotRestore", &req.base, &resp)))
		return rc;
	if (!json_out(c, resp)) {
		const Vmsim__V1__SnapshotRestoreResponse *r = (const void *)resp;
		printf("restored %s (history seq %" PRIu64 ", op seq %" PRIu64 ")\n", argv[1],
		       r->seq, r->op_seq);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

static int cmd_snap_rm(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotDeleteRequest req = VMSIM__V1__SNAPSHOT_DELETE_REQUEST__INIT;
	req.machine_id = c->machine;
	req.name = argv[1];
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "SnapshotDelete", &req.base, &resp)))
		return rc;
	if (!json_out(c, resp))
		printf("snapshot %s deleted\n", argv[1]);
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

/* A diff end: a history seq when all digits (0 = now), else a snapshot name. */
static void diff_end(char *s, char **name, uint64_t *seq)
{
	if (ctl_parse_u64(s, seq) == 0)
		return;
	*name = s;
	*seq = 0;
}

static int cmd_snap_diff(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 2, 2);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotDiffRequest req = VMSIM__V1__SNAPSHOT_DIFF_REQUEST__INIT;
	req.machine_id = c->machine;
	diff_end(argv[1], &req.from, &req.from_seq);
	diff_end(argv[2], &req.to, &req.to_seq);
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "SnapshotDiff", &req.base, &resp)))
		return rc;
	if (!json_out(c, resp)) {
		const Vmsim__V1__SnapshotDiffResponse *r = (const void *)resp;
		printf("seq %" PRIu64 " -> %" PRIu64 "\n", r->from_seq, r->to_seq);
		for (size_t i = 0; i < r->n_counters; i++)
			printf("%-24s %" PRIu64 " -> %" PRIu64 "\n", r->counters[i]->name,
			       r->counters[i]->before, r->counters[i]->after);
		for (size_t i = 0; i < r->n_views; i++) {
			if (!r->views[i]->diff[0])
				continue;
			printf("--- /proc/%s\n", r->views[i]->path);
			fputs(r->views[i]->diff, stdout);
		}
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

/* `at SEQ VIEW...`: the words after SEQ name a view as Proc does ("buddyinfo", "free -h"). */
static int cmd_at(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 2, -1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__MachineAtRequest req = VMSIM__V1__MACHINE_AT_REQUEST__INIT;
	req.machine_id = c->machine;
	if (ctl_parse_u64(argv[1], &req.seq))
		return ctl_usage_error(self, "bad SEQ '%s': use a history seq (0 = now)", argv[1]);
	char path[256] = "";
	const char *first = argv[2];
	if (strncmp(first, "/proc/", 6) == 0)
		first += 6;
	snprintf(path, sizeof(path), "%s", first);
	for (int i = 3; i < argc; i++)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), " %s", argv[i]);
	req.path = path;
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "MachineAt", &req.base, &resp)))
		return rc;
	if (!json_out(c, resp))
		fputs(((const Vmsim__V1__MachineAtResponse *)resp)->text, stdout);
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

const struct ctl_cmd ctl_cmds_history[] = {
    {"ps", "", "the machine's tasks, as procps ps prints them",
     "Columns: * for the task on the CPU, PID, PPID, STAT (R running, D waiting in vfork),\n"
     "RSS and VSZ in kB, minor and major faults, COW copies, COMMAND.",
     cmd_ps, NULL, CTL_NEEDS_MACHINE},
    {"translate", "PID ADDR", "walk the page tables for ADDR as the MMU would (no fault)",
     "Prints each level (pgd, pud, pmd, pte; pgd, pte on i386): its index, the frame of its\n"
     "table, the raw entry and the frame it points to or 'not present'; then the pte flags\n"
     "and the physical address, or which level is missing. PID 0 is the kernel (init_mm);\n"
     "lowmem kernel addresses are direct-mapped (__pa) and need no walk.",
     cmd_translate, NULL, CTL_NEEDS_MACHINE},
    {"snapshot save", "NAME", "save the machine's state under NAME", NULL, cmd_snap_save, NULL,
     CTL_NEEDS_MACHINE},
    {"snapshot ls", "[--all]", "list snapshots (--all adds the automatic checkpoints)", NULL,
     cmd_snap_ls, NULL, CTL_NEEDS_MACHINE},
    {"snapshot restore", "NAME", "make the machine's state the snapshot's",
     "History stays linear: a restore entry is appended, nothing is erased.", cmd_snap_restore,
     NULL, CTL_NEEDS_MACHINE},
    {"snapshot rm", "NAME", "delete a snapshot", NULL, cmd_snap_rm, NULL, CTL_NEEDS_MACHINE},
    {"snapshot diff", "A B", "what changed between A and B (snapshot names or history seqs)",
     "A number is a history seq (0 = now), anything else a snapshot name. Prints the\n"
     "counters that differ, then the changed lines of each view (- before, + after).",
     cmd_snap_diff, NULL, CTL_NEEDS_MACHINE},
    {"at", "SEQ VIEW", "a view of the machine as it was at history seq SEQ",
     "Time travel: the server replays from the nearest snapshot. VIEW is a /proc view or a\n"
     "command view: `at 5 /proc/buddyinfo`, `at 5 free`.",
     cmd_at, NULL, CTL_NEEDS_MACHINE},
    {0},
};
