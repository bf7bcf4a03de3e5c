/*
 * Read-only views: `cat /proc/...` prints the server's kernel-format text verbatim; `free`
 * and `pmap` compute from /proc/meminfo and /proc/PID/maps exactly as procps free(1) and
 * pmap(1) do; `events` lists or follows (SSE) the machine's event ring.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Fetches one /proc view. *out gets the response (free it) on CTL_OK. */
static int proc_get(struct ctl *c, const char *path, Vmsim__V1__ProcResponse **out)
{
	Vmsim__V1__ProcRequest req = VMSIM__V1__PROC_REQUEST__INIT;
	req.machine_id = c->machine;
	req.path = (char *)path;
	ProtobufCMessage *resp;
	int rc = ctl_rpc(c, "Proc", &req.base, &resp);
	if (rc == CTL_OK)
		*out = (Vmsim__V1__ProcResponse *)resp;
	return rc;
}

static int cmd_cat(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, -1);
	if (rc >= 0)
		return rc;
	if (argc == 1) {
		/* No path: list what there is to read. */
		Vmsim__V1__ProcResponse *p;
		rc = proc_get(c, "buddyinfo", &p); /* every machine has it; the answer lists all */
		if (rc)
			return rc;
		if (c->output == CTL_OUT_JSON)
			ctl_print_json(&p->base);
		else
			for (size_t i = 0; i < p->n_views; i++)
				printf("/proc/%s\n", p->views[i]);
		protobuf_c_message_free_unpacked(&p->base, NULL);
		return CTL_OK;
	}
	for (int i = 1; i < argc; i++) {
		Vmsim__V1__ProcResponse *p;
		rc = proc_get(c, argv[i], &p);
		if (rc)
			return rc;
		if (c->output == CTL_OUT_JSON)
			ctl_print_json(&p->base);
		else
			fputs(p->text, stdout);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
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

/* ---- free(1) ------------------------------------------------------------------------------ */

struct meminfo {
	uint64_t total, free, available, buffers, cached, sreclaimable, shmem, swap_total,
	    swap_free;
};

static void meminfo_parse(const char *text, struct meminfo *mi)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
	    {"MemTotal", offsetof(struct meminfo, total)},
	    {"MemFree", offsetof(struct meminfo, free)},
	    {"MemAvailable", offsetof(struct meminfo, available)},
	    {"Buffers", offsetof(struct meminfo, buffers)},
	    {"Cached", offsetof(struct meminfo, cached)},
	    {"SReclaimable", offsetof(struct meminfo, sreclaimable)},
	    {"Shmem", offsetof(struct meminfo, shmem)},
	    {"SwapTotal", offsetof(struct meminfo, swap_total)},
	    {"SwapFree", offsetof(struct meminfo, swap_free)},
	};
	memset(mi, 0, sizeof(*mi));
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		size_t klen = strcspn(l, ":\n");
		if (l[klen] != ':')
			continue;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strlen(keys[i].key) == klen && strncmp(l, keys[i].key, klen) == 0)
				*(uint64_t *)((char *)mi + keys[i].off) =
				    strtoull(l + klen + 1, NULL, 10);
	}
}

enum free_unit { FREE_KIB, FREE_BYTES, FREE_MIB, FREE_GIB, FREE_HUMAN };

/* procps free.c scale_size(): kB -> the column text. */
static void free_scale(uint64_t kb, enum free_unit u, char *buf, size_t len)
{
	uint64_t bytes = kb * 1024;
	switch (u) {
	case FREE_BYTES:
		snprintf(buf, len, "%" PRIu64, bytes);
		return;
	case FREE_MIB:
		snprintf(buf, len, "%" PRIu64, bytes >> 20);
		return;
	case FREE_GIB:
		snprintf(buf, len, "%" PRIu64, bytes >> 30);
		return;
	case FREE_HUMAN:
		ctl_human(bytes, buf, len);
		return;
	default:
		snprintf(buf, len, "%" PRIu64, kb);
	}
}

static int cmd_free(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"bytes", no_argument, NULL, 'b'},
	    {"kibi", no_argument, NULL, 'k'},
	    {"mebi", no_argument, NULL, 'm'},
	    {"gibi", no_argument, NULL, 'g'},
	    {"human", no_argument, NULL, 'h'},
	    {"wide", no_argument, NULL, 'w'},
	    {"total", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'H'},
	    {0},
	};
	enum free_unit unit = FREE_KIB;
	int wide = 0, total = 0, ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "bkmghwt", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			unit = FREE_BYTES;
			break;
		case 'k':
			unit = FREE_KIB;
			break;
		case 'm':
			unit = FREE_MIB;
			break;
		case 'g':
			unit = FREE_GIB;
			break;
		case 'h':
			unit = FREE_HUMAN;
			break;
		case 'w':
			wide = 1;
			break;
		case 't':
			total = 1;
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
	Vmsim__V1__ProcResponse *p;
	int rc = proc_get(c, "meminfo", &p);
	if (rc)
		return rc;
	struct meminfo mi;
	meminfo_parse(p->text, &mi);
	protobuf_c_message_free_unpacked(&p->base, NULL);

	/* procps-ng 4: buff/cache = Buffers + Cached + SReclaimable; used = total - available. */
	uint64_t cache = mi.cached + mi.sreclaimable;
	uint64_t used = mi.total >= mi.available ? mi.total - mi.available : 0;
	uint64_t swap_used = mi.swap_total - mi.swap_free;
	char b[8][32];
	if (wide)
		printf("               total        used        free      shared     buffers       "
		       "cache   available\n");
	else
		printf("               total        used        free      shared  buff/cache   "
		       "available\n");
	free_scale(mi.total, unit, b[0], 32);
	free_scale(used, unit, b[1], 32);
	free_scale(mi.free, unit, b[2], 32);
	free_scale(mi.shmem, unit, b[3], 32);
	free_scale(mi.buffers, unit, b[4], 32);
	free_scale(cache, unit, b[5], 32);
	free_scale(mi.buffers + cache, unit, b[6], 32);
	free_scale(mi.available, unit, b[7], 32);
	printf("%-9s%11s %11s %11s %11s", "Mem:", b[0], b[1], b[2], b[3]);
	if (wide)
		printf(" %11s %11s", b[4], b[5]);
	else
		printf(" %11s", b[6]);
	printf(" %11s\n", b[7]);
	free_scale(mi.swap_total, unit, b[0], 32);
	free_scale(swap_used, unit, b[1], 32);
	free_scale(mi.swap_free, unit, b[2], 32);
	printf("%-9s%11s %11s %11s\n", "Swap:", b[0], b[1], b[2]);
	if (total) {
		free_scale(mi.total + mi.swap_total, unit, b[0], 32);
		free_scale(used + swap_used, unit, b[1], 32);
		free_scale(mi.free + mi.swap_free, unit, b[2], 32);
		printf("%-9s%11s %11s %11s\n", "Total:", b[0], b[1], b[2]);
	}
	return CTL_OK;
}

/* ---- pmap(1) ------------------------------------------------------------------------------ */

/* The task's name from /proc/PID/status ("Name:\tbash"). */
static void status_name(struct ctl *c, const char *pid, char *out, size_t len)
{
	char path[64];
	Vmsim__V1__ProcResponse *p;
	snprintf(out, len, "?");
	snprintf(path, sizeof(path), "%s/status", pid);
	if (proc_get(c, path, &p))
		return;
	const char *n = strstr(p->text, "Name:");
	if (n) {
		n += 5;
		n += strspn(n, " \t");
		snprintf(out, len, "%.*s", (int)strcspn(n, "\n"), n);
	}
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* procps pmap.c one_proc(), default format. wide: 64-bit addresses (x86_64). */
static void pmap_print(const char *pid, const char *name, const char *maps)
{
	uint64_t total = 0;
	int wide = 0;
	for (const char *l = maps; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] ? 1 : 0))
		if (strcspn(l, "-") > 8)
			wide = 1;
	printf("%s:   %s\n", pid, name);
	for (const char *l = maps; *l;) {
		size_t n = strcspn(l, "\n");
		char line[1024], flags[32] = "";
		snprintf(line, sizeof(line), "%.*s", (int)n, l);
		l += n + (l[n] ? 1 : 0);
		unsigned long long start, end;
		if (sscanf(line, "%llx-%llx %31s", &start, &end, flags) != 3 || strlen(flags) < 4)
			continue;
		uint64_t diff = end - start;
		total += diff;
		if (flags[3] == 'p')
			flags[3] = '-';
		flags[4] = '-';
		flags[5] = '\0';
		const char *name_ = strchr(line, '/');
		if (!name_)
			name_ = strstr(line, "[stack]") ? "  [ stack ]" : "  [ anon ]";
		if (wide)
			printf("%016llx %6luK %s  %s\n", start, (unsigned long)(diff >> 10), flags,
			       name_);
		else
			printf("%08llx %6luK %s  %s\n", start, (unsigned long)(diff >> 10), flags,
			       name_);
	}
	if (wide)
		printf(" total %16ldK\n", (long)(total >> 10));
	else
		printf(" total %8ldK\n", (long)(total >> 10));
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
		char path[64], name[64], spid[16];
		snprintf(spid, sizeof(spid), "%" PRIu32, pid);
		snprintf(path, sizeof(path), "%s/maps", spid);
		Vmsim__V1__ProcResponse *p;
		rc = proc_get(c, path, &p);
		if (rc)
			return rc;
		status_name(c, spid, name, sizeof(name));
		if (c->output == CTL_OUT_JSON)
			ctl_print_json(&p->base);
		else
			pmap_print(spid, name, p->text);
		protobuf_c_message_free_unpacked(&p->base, NULL);
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

static int cmd_events(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"follow", no_argument, NULL, 'f'},
	    {"after", required_argument, NULL, 'a'},
	    {"limit", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int follow = 0, ch;
	uint64_t after = 0;
	uint32_t limit = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "fa:n:h", opts, NULL)) != -1) {
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
	req.after_id = after;
	req.limit = limit;
	ProtobufCMessage *resp;
	int rc = ctl_rpc(c, "Events", &req.base, &resp);
	if (rc)
		return rc;
	Vmsim__V1__EventsResponse *e = (Vmsim__V1__EventsResponse *)resp;
	if (c->output == CTL_OUT_JSON) {
		ctl_print_json(resp);
	} else {
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
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

const struct ctl_cmd ctl_cmds_view[] = {
    {"cat", "[/proc/]VIEW...",
     "print /proc views as Linux prints them (meminfo, buddyinfo, slabinfo, vmallocinfo, "
     "swaps, vmstat, zoneinfo, PID/maps, PID/status, ...)",
     "Without a VIEW, lists the views the machine offers. The text comes from the server\n"
     "byte for byte in the kernel's format.",
     cmd_cat, NULL, CTL_NEEDS_MACHINE},
    {"swap ls", "", "list swap areas (/proc/swaps)", NULL, cmd_swap_ls, NULL, CTL_NEEDS_MACHINE},
    {"free", "[-b|-k|-m|-g|-h] [-w] [-t]", "memory and swap in use, like procps free(1)",
     "Computed from /proc/meminfo as procps-ng 4 does: used = MemTotal - MemAvailable,\n"
     "buff/cache = Buffers + Cached + SReclaimable. -h scales like free -h (Ki, Mi, Gi).",
     cmd_free, NULL, CTL_NEEDS_MACHINE},
    {"pmap", "PID...", "a process's mappings, like procps pmap(1)",
     "Read from /proc/PID/maps: address, size, mode (r, w, x, s for shared), mapping.", cmd_pmap,
     NULL, CTL_NEEDS_MACHINE},
    {"events", "[--follow] [--after ID] [--limit N]",
     "what the kernel did, step by step (the event ring)",
     "--follow streams new events as they happen (server-sent events, resumed with\n"
     "Last-Event-ID after --after ID). Columns: event id, op seq, text.",
     cmd_events, NULL, CTL_NEEDS_MACHINE},
    {0},
};
