/*
 * Read-only views: `cat /proc/...`, `free`, `vmstat` and `pmap` print the server's text
 * verbatim (the server renders them in the kernel's and procps' formats); `events` lists or
 * follows (SSE) the machine's event ring.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void show_proc_text(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)arg;
	fputs(((const Vmsim__V1__ProcResponse *)resp)->text, stdout);
}

static void show_proc_list(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)arg;
	const Vmsim__V1__ProcResponse *p = (const void *)resp;
	for (size_t i = 0; i < p->n_views; i++)
		printf("/proc/%s\n", p->views[i]);
}

/* Prints one view (as text, or its ProcResponse as JSON). */
static int show_view(struct ctl *c, const char *path)
{
	Vmsim__V1__ProcRequest req = VMSIM__V1__PROC_REQUEST__INIT;
	req.machine_id = c->machine;
	req.path = (char *)path;
	return ctl_call(c, "Proc", &req.base, show_proc_text, NULL);
}

static int cmd_cat(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, -1);
	if (rc >= 0)
		return rc;
	if (argc == 1) {
		/* No path: list what there is to read. Every machine has buddyinfo, and every
		 * answer lists all the views. */
		Vmsim__V1__ProcRequest req = VMSIM__V1__PROC_REQUEST__INIT;
		req.machine_id = c->machine;
		req.path = "buddyinfo";
		return ctl_call(c, "Proc", &req.base, show_proc_list, NULL);
	}
	for (int i = 1; i < argc; i++)
		if ((rc = show_view(c, argv[i])))
			return rc;
	return CTL_OK;
}

/* `swap ls` is swapon --show's older sibling: /proc/swaps. */
static int cmd_swap_ls(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	char *args[] = {"cat", "swaps", NULL};
	return cmd_cat(c, self, 2, args);
}

/* ---- free(1), vmstat(8), pmap(1): rendered by the server, printed verbatim ----------------- */

static int cmd_free(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"bytes", no_argument, NULL, 'b'},
	    {"kibi", no_argument, NULL, 'k'},
	    {"mebi", no_argument, NULL, 'm'},
	    {"gibi", no_argument, NULL, 'g'},
	    {"human", no_argument, NULL, 'h'},
	    {"wide", no_argument, NULL, 'w'},
	    {"old", no_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'H'},
	    {0},
	};
	/* The server's "free" view takes procps free's own flags: "free -h -w". */
	char path[64] = "free";
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "bkmghwo", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
		case 'k':
		case 'm':
		case 'g':
		case 'h':
		case 'w':
			snprintf(path + strlen(path), sizeof(path) - strlen(path), " -%c", ch);
			break;
		case 'o':
			snprintf(path + strlen(path), sizeof(path) - strlen(path), " --old");
			break;
		case 'H':
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		default:
			return CTL_EUSAGE;
		}
	}
	if (optind < argc)
		return ctl_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (ctl_need_machine(c))
		return CTL_EUSAGE;
	return show_view(c, path);
}

static int cmd_vmstat(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	return show_view(c, "vmstat-cmd");
}

static int cmd_pmap(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, -1);
	if (rc >= 0)
		return rc;
	for (int i = 1; i < argc; i++) {
		uint32_t pid;
		if (ctl_parse_u32(argv[i], &pid) || pid == 0)
			return ctl_usage_error(self, "bad PID '%s'", argv[i]);
		char path[32];
		snprintf(path, sizeof(path), "%" PRIu32 "/pmap", pid);
		rc = show_view(c, path);
		if (rc)
			return rc;
	}
	return CTL_OK;
}

/* ---- events -------------------------------------------------------------------------------- */

static void event_line(uint64_t id, uint64_t seq, const char *text)
{
	printf("%6" PRIu64 "  %6" PRIu64 "  %s\n", id, seq, text);
}

static int on_sse_event(void *arg, uint64_t id, const char *event, const char *data)
{
	(void)event;
	struct ctl *c = arg;
	if (c->output == CTL_OUT_JSON || data[0] != '{') {
		if (c->output == CTL_OUT_JSON || data[0] != '{')
			printf("%s\n", data);
	} else {
		json_t *j = json_loads(data, 0, NULL);
		const char *text = json_string_value(json_object_get(j, "text"));
		json_t *seq = json_object_get(j, "seq");
		uint64_t s = json_is_string(seq) ? strtoull(json_string_value(seq), NULL, 10)
		                                 : (uint64_t)json_integer_value(seq);
		event_line(id, s, text ? text : data);
		json_decref(j);
	}
	fflush(stdout);
	return 0;
}

static void show_events(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
	const Vmsim__V1__EventsResponse *e = (const void *)resp;
	if (e->gap)
		fprintf(stderr, "note: events before %" PRIu64 " have left the ring\n",
		        e->first_id);
	static const char *const heads[] = {">ID", ">SEQ", "EVENT"};
	struct ctl_table *t = ctl_table_new(3, heads);
	for (size_t i = 0; i < e->n_events; i++) {
		ctl_table_addf(t, 0, "%" PRIu64, e->events[i]->id);
		ctl_table_addf(t, 1, "%" PRIu64, e->events[i]->seq);
		ctl_table_addf(t, 2, "%s", e->events[i]->text);
	}
	ctl_table_print(t, c->output, stdout);
}

static int cmd_events(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"follow", no_argument, NULL, 'f'},      {"after", required_argument, NULL, 'a'},
	    {"limit", required_argument, NULL, 'n'}, {"last", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},        {0},
	};
	int follow = 0, ch;
	uint32_t last = 0;
	uint64_t after = 0;
	uint32_t limit = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "fa:n:l:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			follow = 1;
			break;
		case 'a':
			if (ctl_parse_u64(optarg, &after))
				return ctl_usage_error(self, "bad --after '%s': use an event id",
				                       optarg);
			break;
		case 'n':
			if (ctl_parse_u32(optarg, &limit))
				return ctl_usage_error(self, "bad --limit '%s': use a count",
				                       optarg);
			break;
		case 'l':
			if (ctl_parse_u32(optarg, &last) || last == 0)
				return ctl_usage_error(self, "bad --last '%s': use a count",
				                       optarg);
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
	if (ctl_need_machine(c))
		return CTL_EUSAGE;
	if (follow) {
		char path[256];
		snprintf(path, sizeof(path), "/v1/machines/%s/events", c->machine);
		return ctl_sse(c, path, after, on_sse_event, c);
	}
	Vmsim__V1__EventsRequest req = VMSIM__V1__EVENTS_REQUEST__INIT;
	req.machine_id = c->machine;
	ProtobufCMessage *resp;
	int rc;
	if (last) {
		/* The newest N: ask where the ring ends first (no events after UINT64_MAX - 1). */
		req.after_id = UINT64_MAX - 1;
		req.limit = 1;
		rc = ctl_rpc(c, "Events", &req.base, &resp);
		if (rc)
			return rc;
		uint64_t next = ((Vmsim__V1__EventsResponse *)resp)->next_id;
		protobuf_c_message_free_unpacked(resp, NULL);
		after = next > (uint64_t)last + 1 ? next - last - 1 : 0;
		limit = last;
	}
	req.after_id = after;
	req.limit = limit;
	return ctl_call(c, "Events", &req.base, show_events, NULL);
}

const struct ctl_cmd ctl_cmds_view[] = {
    {"cat", "[/proc/]VIEW...",
     "print /proc views as Linux prints them (meminfo, buddyinfo, slabinfo, vmallocinfo, "
     "swaps, vmstat, zoneinfo, PID/maps, PID/status, ...)",
     "Without a VIEW, lists the views the machine offers. The text comes from the server\n"
     "byte for byte in the kernel's format.",
     cmd_cat, NULL, CTL_NEEDS_MACHINE},
    {"swap ls", "", "list swap areas (/proc/swaps)", NULL, cmd_swap_ls, NULL, CTL_NEEDS_MACHINE},
    {"free", "[-b|-k|-m|-g] [-h] [-w] [--old]",
     "memory and swap in use, as procps free(1) prints it",
     "The server computes it from the machine's meminfo the way procps-ng 4 does (used =\n"
     "MemTotal - MemAvailable); --old gives procps 3.2's layout with the -/+ buffers/cache\n"
     "line that the seed article shows. -h scales like free -h (Ki, Mi, Gi).",
     cmd_free, NULL, CTL_NEEDS_MACHINE},
    {"vmstat", "", "the vmstat(8) command's one-line report (procs, memory, swap, io)", NULL,
     cmd_vmstat, NULL, CTL_NEEDS_MACHINE},
    {"pmap", "PID...", "a process's mappings, as procps pmap(1) prints them",
     "Address, size, mode and mapping of every VMA of /proc/PID/maps, then the total.", cmd_pmap,
     NULL, CTL_NEEDS_MACHINE},
    {"events", "[--follow] [--after ID] [--limit N] [--last N]",
     "what the kernel did, step by step (the event ring)",
     "--follow streams new events as they happen (server-sent events, resumed with\n"
     "Last-Event-ID after --after ID). --last N shows the newest N (what the last op did,\n"
     "in a trace). Columns: event id, op seq, text.",
     cmd_events, NULL, CTL_NEEDS_MACHINE},
    {0},
};
