/*
 * Machine inspection and history: `ps` (ListTasks), `translate` (Translate: the page-table
 * walk the MMU would do), `snapshot save|ls|restore|rm|diff`, `at SEQ VIEW` (MachineAt:
 * a /proc view of the machine as it was at a history seq) and `history` (History: the
 * journal, printed in trace words).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void show_ps(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
	const Vmsim__V1__ListTasksResponse *r = (const void *)resp;
	/* procps ps units: RSS and VSZ in kB (4 kB pages). "*" marks current. */
	static const char *const heads[] = {" ",    ">PID",    ">PPID",   "STAT", ">RSS",
	                                    ">VSZ", ">MINFLT", ">MAJFLT", ">COW", "COMMAND"};
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

static int cmd_ps(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	Vmsim__V1__ListTasksRequest req = VMSIM__V1__LIST_TASKS_REQUEST__INIT;
	req.machine_id = c->machine;
	return ctl_call(c, "ListTasks", &req.base, show_ps, NULL);
}

/* arg: the address asked for (uint64_t). */
static void show_walk(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	const Vmsim__V1__TranslateResponse *r = (const void *)resp;
	uint64_t addr = *(const uint64_t *)arg;
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
	/* a PSE entry ends the walk a level early: it is the huge page's "pte" */
	int huge = 0;
	for (size_t i = 0; i < r->n_pte_flags; i++)
		huge |= strcmp(r->pte_flags[i], "pse") == 0;
	if (huge && r->n_steps)
		printf("%s 0x%016" PRIx64 " (huge page) flags", r->steps[r->n_steps - 1]->level,
		       r->pte);
	else
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
	return ctl_call(c, "Translate", &req.base, show_walk, &req.addr);
}

/* ---- snapshots ------------------------------------------------------------------------------ */

/* arg of the snapshot shows: the snapshot's name. */
static void show_saved(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	const Vmsim__V1__SnapshotSaveResponse *r = (const void *)resp;
	printf("snapshot %s saved at seq %" PRIu64 "\n", (const char *)arg,
	       r->snapshot ? r->snapshot->seq : 0);
}

static int cmd_snap_save(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotSaveRequest req = VMSIM__V1__SNAPSHOT_SAVE_REQUEST__INIT;
	req.machine_id = c->machine;
	req.name = argv[1];
	return ctl_call(c, "SnapshotSave", &req.base, show_saved, argv[1]);
}

static void show_snapshots(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
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
	return ctl_call(c, "SnapshotList", &req.base, show_snapshots, NULL);
}

static void show_restored(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	const Vmsim__V1__SnapshotRestoreResponse *r = (const void *)resp;
	printf("restored %s (history seq %" PRIu64 ", op seq %" PRIu64 ")\n", (const char *)arg,
	       r->seq, r->op_seq);
}

static int cmd_snap_restore(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotRestoreRequest req = VMSIM__V1__SNAPSHOT_RESTORE_REQUEST__INIT;
	req.machine_id = c->machine;
	req.name = argv[1];
	return ctl_call(c, "SnapshotRestore", &req.base, show_restored, argv[1]);
}

static void show_deleted(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)resp;
	printf("snapshot %s deleted\n", (const char *)arg);
}

static int cmd_snap_rm(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotDeleteRequest req = VMSIM__V1__SNAPSHOT_DELETE_REQUEST__INIT;
	req.machine_id = c->machine;
	req.name = argv[1];
	return ctl_call(c, "SnapshotDelete", &req.base, show_deleted, argv[1]);
}

/* A diff end: a history seq when all digits (0 = now), else a snapshot name. */
static void diff_end(char *s, char **name, uint64_t *seq)
{
	if (ctl_parse_u64(s, seq) == 0)
		return;
	*name = s;
	*seq = 0;
}

static void show_diff(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)arg;
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

static int cmd_snap_diff(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 2, 2);
	if (rc >= 0)
		return rc;
	Vmsim__V1__SnapshotDiffRequest req = VMSIM__V1__SNAPSHOT_DIFF_REQUEST__INIT;
	req.machine_id = c->machine;
	diff_end(argv[1], &req.from, &req.from_seq);
	diff_end(argv[2], &req.to, &req.to_seq);
	return ctl_call(c, "SnapshotDiff", &req.base, show_diff, NULL);
}

static void show_text(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)arg;
	fputs(((const Vmsim__V1__MachineAtResponse *)resp)->text, stdout);
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
	return ctl_call(c, "MachineAt", &req.base, show_text, NULL);
}

/* ---- history: the journal ------------------------------------------------------------------ */

#define HISTORY_PAGE_MAX 1000 /* the server's largest page */

/* The trace line that redoes entry e: the op in trace words, or the command behind a reset
 * or a restore (trace files run those too). */
static void history_line(const Vmsim__V1__HistoryEntry *e, char *buf, size_t len)
{
	if (!strcmp(e->kind, "op") && e->op) {
		if (ctl_op_format(e->op, buf, len) < 0)
			snprintf(buf, len, "# an op this vmsimctl does not know (field %d)",
			         (int)e->op->op_case);
		else if (e->failed_partway && strlen(buf) + 20 < len) /* run reports it, goes on */
			strcat(buf, "  # failed partway");
	} else if (!strcmp(e->kind, "reset")) {
		snprintf(buf, len, "machine reset");
	} else if (!strcmp(e->kind, "restore")) {
		snprintf(buf, len, "snapshot restore %s", e->snapshot);
	} else {
		snprintf(buf, len, "# %s", e->kind);
	}
}

struct history_pages {
	ProtobufCMessage **pages;
	size_t npages;
	Vmsim__V1__HistoryEntry **entries; /* borrowed from pages */
	size_t n;
};

static void history_pages_free(struct history_pages *h)
{
	for (size_t i = 0; i < h->npages; i++)
		protobuf_c_message_free_unpacked(h->pages[i], NULL);
	free(h->pages);
	free(h->entries);
}

/* Keeps page r and its entries. 0, or -1 when out of memory. */
static int history_keep(struct history_pages *h, ProtobufCMessage *resp)
{
	const Vmsim__V1__HistoryResponse *r = (const void *)resp;
	ProtobufCMessage **p = realloc(h->pages, (h->npages + 1) * sizeof(*p));
	if (p)
		h->pages = p;
	Vmsim__V1__HistoryEntry **e =
	    p ? realloc(h->entries, (h->n + r->n_entries + 1) * sizeof(*e)) : NULL;
	if (!e) {
		protobuf_c_message_free_unpacked(resp, NULL);
		return -1;
	}
	h->entries = e;
	h->pages[h->npages++] = resp;
	if (r->n_entries) /* an empty page has no array at all (NULL) */
		memcpy(h->entries + h->n, r->entries, r->n_entries * sizeof(*e));
	h->n += r->n_entries;
	return 0;
}

static void history_print(struct ctl *c, const struct history_pages *h, int trace)
{
	char line[512];
	if (trace) {
		for (size_t i = 0; i < h->n; i++) {
			history_line(h->entries[i], line, sizeof(line));
			printf("%s\n", line);
		}
		return;
	}
	static const char *const heads[] = {">SEQ", "KIND", "OP"};
	struct ctl_table *t = ctl_table_new(3, heads);
	for (size_t i = 0; i < h->n; i++) {
		history_line(h->entries[i], line, sizeof(line));
		ctl_table_addf(t, 0, "%" PRIu64, h->entries[i]->seq);
		ctl_table_addf(t, 1, "%s", h->entries[i]->kind);
		ctl_table_addf(t, 2, "%s", line);
	}
	ctl_table_print(t, c->output, stdout);
}

static int cmd_history(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"limit", required_argument, NULL, 'n'},
	    {"trace", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	uint64_t from = 0, limit = 0; /* limit 0: everything */
	int ch, trace = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (ctl_parse_u64(optarg, &from))
				return ctl_usage_error(
				    self, "bad --from '%s': use a history seq (1 = the start)",
				    optarg);
			break;
		case 'n':
			if (ctl_parse_u64(optarg, &limit) || limit == 0)
				return ctl_usage_error(
				    self, "bad --limit '%s': use a number of entries, 1 or more",
				    optarg);
			break;
		case 't':
			trace = 1;
			break;
		case 'h':
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		default:
			return CTL_EUSAGE;
		}
	}
	if (optind < argc)
		return ctl_usage_error(self, "unexpected argument '%s'", argv[optind]);
	int rc = ctl_need_machine(c);
	if (rc)
		return rc;
	/* Page through: the server sends at most HISTORY_PAGE_MAX entries an answer. */
	struct history_pages h = {0};
	Vmsim__V1__HistoryResponse all = VMSIM__V1__HISTORY_RESPONSE__INIT;
	for (;;) {
		Vmsim__V1__HistoryRequest req = VMSIM__V1__HISTORY_REQUEST__INIT;
		req.machine_id = c->machine;
		req.from_seq = from;
		uint64_t want = limit ? limit - h.n : HISTORY_PAGE_MAX;
		req.limit = (uint32_t)(want < HISTORY_PAGE_MAX ? want : HISTORY_PAGE_MAX);
		ProtobufCMessage *resp;
		if ((rc = ctl_rpc(c, "History", &req.base, &resp))) {
			history_pages_free(&h);
			return rc;
		}
		const Vmsim__V1__HistoryResponse *r = (const void *)resp;
		all.last_seq = r->last_seq;
		all.next_seq = r->next_seq;
		if (history_keep(&h, resp)) {
			history_pages_free(&h);
			fprintf(stderr, "vmsimctl history: out of memory\n");
			return CTL_EUSAGE;
		}
		if (!all.next_seq || (limit && h.n >= limit))
			break;
		from = all.next_seq;
	}
	if (c->output == CTL_OUT_JSON) {
		/* One HistoryResponse with every page's entries; next_seq continues after them. */
		all.entries = h.entries;
		all.n_entries = h.n;
		ctl_print_json(&all.base);
	} else {
		history_print(c, &h, trace);
	}
	history_pages_free(&h);
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
    {"history", "[--from SEQ] [--limit N] [--trace]",
     "the machine's journal: every op, reset and restore, in trace words",
     "One line per history seq: SEQ, KIND (op, reset or restore) and OP, the trace line that\n"
     "redoes it (`machine reset` and `snapshot restore NAME` for the others). --from starts\n"
     "at a history seq (default 1), --limit stops after N entries (default: all of them).\n"
     "--trace prints the OP column alone, a trace that `vmsimctl run` replays (on a new\n"
     "machine, minus the restores). -o json: one HistoryResponse, every entry and its time.",
     cmd_history, NULL, CTL_NEEDS_MACHINE},
    {0},
};
