/*
 * `vmsimctl machine ...`: create, list, show, delete and reset simulated machines
 * (CreateMachine, ListMachines, GetMachine, DeleteMachine, ResetMachine).
 */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/*
 * Enum words on the command line are the proto's value names without their prefix, in lower
 * case ("i386" is ARCH_I386, "clock" is POLICY_CLOCK): looked up in the generated descriptors,
 * so a value added to the proto is a word here too.
 */
static int enum_from_word(const ProtobufCEnumDescriptor *d, const char *prefix, const char *word,
                          int *value)
{
	char name[64];
	int n = snprintf(name, sizeof(name), "%s", prefix);
	for (const char *w = word; *w && n < (int)sizeof(name) - 1; w++)
		name[n++] = (char)toupper((unsigned char)*w);
	name[n] = '\0';
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(d, name);
	if (!ev || strlen(word) + strlen(prefix) >= sizeof(name))
		return -1;
	*value = ev->value;
	return 0;
}

/* The word for an enum value ("x86_64" for ARCH_X86_64); "?" for a value the proto lacks. */
static const char *enum_word(const ProtobufCEnumDescriptor *d, const char *prefix, int value,
                             char *buf, size_t len)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, value);
	if (!ev || strncmp(ev->name, prefix, strlen(prefix)) != 0)
		return "?";
	size_t i = 0;
	for (const char *p = ev->name + strlen(prefix); *p && i + 1 < len; p++)
		buf[i++] = (char)tolower((unsigned char)*p);
	buf[i] = '\0';
	return buf;
}

#define ARCH_WORD(a, buf) \
	enum_word(&vmsim__v1__arch__descriptor, "ARCH_", (int)(a), buf, sizeof(buf))
#define POLICY_WORD(p, buf) \
	enum_word(&vmsim__v1__policy__descriptor, "POLICY_", (int)(p), buf, sizeof(buf))

static void print_machine(struct ctl *c, const Vmsim__V1__Machine *m)
{
	if (c->output == CTL_OUT_JSON) {
		ctl_print_json(&m->base);
		return;
	}
	char ram[32], free_[32], arch[16], policy[16];
	const Vmsim__V1__MachineConfig *cfg = m->config;
	ctl_human(cfg ? cfg->ram_bytes : m->nr_frames * 4096, ram, sizeof(ram));
	ctl_human(m->free_pages * 4096, free_, sizeof(free_));
	printf("ID:          %s\n", m->id);
	printf("Name:        %s\n", m->name);
	if (cfg) {
		printf("Arch:        %s\n", ARCH_WORD(cfg->arch, arch));
		printf("RAM:         %s (%" PRIu64 " frames)\n", ram, m->nr_frames);
		printf("Policy:      %s\n", POLICY_WORD(cfg->policy, policy));
		if (cfg->swappiness_opt_case ==
		    VMSIM__V1__MACHINE_CONFIG__SWAPPINESS_OPT_SWAPPINESS)
			printf("Swappiness:  %" PRIu32 "\n", cfg->swappiness);
		printf("TLB:         %" PRIu32 " entries, %" PRIu32 "-way\n", cfg->tlb_entries,
		       cfg->tlb_ways);
		printf("Seed:        %" PRIu64 "\n", cfg->seed);
	}
	printf("Free:        %s (%" PRIu64 " pages)\n", free_, m->free_pages);
	printf("Seq:         %" PRIu64 "\n", m->seq);
}

/* What `machine create` was asked for: the request, and the steps after it. */
struct create_args {
	Vmsim__V1__MachineConfig cfg;
	Vmsim__V1__CreateMachineRequest req;
	uint64_t swap; /* bytes of /swapfile to swapon, 0 for none */
	int use;       /* make it the configured default machine */
};

/* One option of `machine create` into a; CTL_OK or the usage error. */
static int create_option(const struct ctl_cmd *self, int ch, struct create_args *a)
{
	uint32_t v32;
	int v;
	switch (ch) {
	case 'n':
		a->req.name = optarg;
		return CTL_OK;
	case 'a':
		if (enum_from_word(&vmsim__v1__arch__descriptor, "ARCH_", optarg, &v))
			return ctl_usage_error(self, "bad --arch '%s': use i386 or x86_64", optarg);
		a->cfg.arch = (Vmsim__V1__Arch)v;
		return CTL_OK;
	case 'M':
		if (ctl_parse_size(optarg, &a->cfg.ram_bytes))
			return ctl_usage_error(self, "bad --mem '%s': use a size like 64M or 1G",
			                       optarg);
		return CTL_OK;
	case 'S':
		if (ctl_parse_size(optarg, &a->swap))
			return ctl_usage_error(self, "bad --swap '%s': use a size like 64M",
			                       optarg);
		return CTL_OK;
	case 'e':
		if (ctl_parse_u64(optarg, &a->cfg.seed))
			return ctl_usage_error(self, "bad --seed '%s': use a number", optarg);
		return CTL_OK;
	case 'p':
		if (enum_from_word(&vmsim__v1__policy__descriptor, "POLICY_", optarg, &v))
			return ctl_usage_error(
			    self, "bad --policy '%s': use linux, fifo, lru or clock", optarg);
		a->cfg.policy = (Vmsim__V1__Policy)v;
		return CTL_OK;
	case 'l':
		if (ctl_parse_u32(optarg, &a->cfg.tlb_entries))
			return ctl_usage_error(self, "bad --tlb '%s': use a number", optarg);
		return CTL_OK;
	case 'w':
		if (ctl_parse_u32(optarg, &v32))
			return ctl_usage_error(self, "bad --swappiness '%s': use 0..200", optarg);
		a->cfg.swappiness = v32;
		a->cfg.swappiness_opt_case = VMSIM__V1__MACHINE_CONFIG__SWAPPINESS_OPT_SWAPPINESS;
		return CTL_OK;
	case 'u':
		a->use = 1;
		return CTL_OK;
	default:
		return CTL_EUSAGE;
	}
}

/* The seed's scenario on the new machine: dd a swap file, mkswap it, swapon it (one Apply). */
static int create_swapon(struct ctl *c, const char *machine_id, uint64_t swap)
{
	Vmsim__V1__FileCreateRequest dd = VMSIM__V1__FILE_CREATE_REQUEST__INIT;
	Vmsim__V1__MkswapRequest mk = VMSIM__V1__MKSWAP_REQUEST__INIT;
	Vmsim__V1__SwaponRequest on = VMSIM__V1__SWAPON_REQUEST__INIT;
	dd.name = mk.name = on.name = "/swapfile";
	dd.size = mk.size = swap;
	mk.prio = on.prio = INT32_MIN; /* automatic, like swapon without -p */
	Vmsim__V1__Op ops[3] = {VMSIM__V1__OP__INIT, VMSIM__V1__OP__INIT, VMSIM__V1__OP__INIT};
	ops[0].op_case = VMSIM__V1__OP__OP_FILE_CREATE;
	ops[0].file_create = &dd;
	ops[1].op_case = VMSIM__V1__OP__OP_MKSWAP;
	ops[1].mkswap = &mk;
	ops[2].op_case = VMSIM__V1__OP__OP_SWAPON;
	ops[2].swapon = &on;
	Vmsim__V1__Op *pops[3] = {&ops[0], &ops[1], &ops[2]};
	Vmsim__V1__ApplyRequest ar = VMSIM__V1__APPLY_REQUEST__INIT;
	ar.machine_id = (char *)machine_id;
	ar.ops = pops;
	ar.n_ops = 3;
	ProtobufCMessage *aresp;
	int rc = ctl_rpc(c, "Apply", &ar.base, &aresp);
	if (rc != CTL_OK)
		return rc;
	Vmsim__V1__ApplyResponse *a = (Vmsim__V1__ApplyResponse *)aresp;
	if (a->error) {
		fprintf(stderr, "Error (%s): swap: %s\n", a->error->code, a->error->msg);
		rc = CTL_EREFUSED;
	}
	protobuf_c_message_free_unpacked(aresp, NULL);
	return rc;
}

static void print_created(struct ctl *c, const Vmsim__V1__Machine *m, const struct create_args *a)
{
	if (c->output == CTL_OUT_JSON) {
		ctl_print_json(&m->base);
	} else if (c->output == CTL_OUT_TEXT) {
		printf("%s\n", m->id);
	} else {
		char ram[32], arch[16];
		ctl_human(m->config ? m->config->ram_bytes : 0, ram, sizeof(ram));
		printf("machine %s created (%s, %s RAM%s%s)\n", m->id,
		       m->config ? ARCH_WORD(m->config->arch, arch) : "?", ram,
		       a->swap ? ", swap on" : "", a->use ? ", now in use" : "");
	}
}

static int machine_create(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"arch", required_argument, NULL, 'a'},
	    {"mem", required_argument, NULL, 'M'},
	    {"swap", required_argument, NULL, 'S'},
	    {"seed", required_argument, NULL, 'e'},
	    {"policy", required_argument, NULL, 'p'},
	    {"tlb", required_argument, NULL, 'l'},
	    {"swappiness", required_argument, NULL, 'w'},
	    {"use", no_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct create_args a = {.cfg = VMSIM__V1__MACHINE_CONFIG__INIT,
	                        .req = VMSIM__V1__CREATE_MACHINE_REQUEST__INIT};
	a.req.config = &a.cfg;
	int ch, rc;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		}
		if ((rc = create_option(self, ch, &a)) != CTL_OK)
			return rc;
	}
	if (optind < argc)
		return ctl_usage_error(self, "unexpected argument '%s'", argv[optind]);
	ProtobufCMessage *resp;
	rc = ctl_rpc(c, "CreateMachine", &a.req.base, &resp);
	if (rc)
		return rc;
	Vmsim__V1__Machine *m = (Vmsim__V1__Machine *)resp;
	if (a.swap)
		rc = create_swapon(c, m->id, a.swap);
	/* The rest of this session (a shell, a trace) acts on the new machine. */
	if (rc == CTL_OK)
		snprintf(c->machine, sizeof(c->machine), "%s", m->id);
	if (rc == CTL_OK && a.use && ctl_config_set("machine", m->id))
		rc = CTL_EUSAGE;
	print_created(c, m, &a);
	protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static void show_machines(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
	const Vmsim__V1__ListMachinesResponse *l = (const void *)resp;
	static const char *const heads[] = {"ID", "NAME", "ARCH", ">RAM", ">FREE", ">SEQ"};
	struct ctl_table *t = ctl_table_new(6, heads);
	for (size_t i = 0; i < l->n_machines; i++) {
		const Vmsim__V1__Machine *m = l->machines[i];
		char ram[32], fr[32], arch[16];
		ctl_human(m->nr_frames * 4096, ram, sizeof(ram));
		ctl_human(m->free_pages * 4096, fr, sizeof(fr));
		ctl_table_addf(t, 0, "%s%s", m->id,
		               strcmp(m->id, c->machine) == 0 && c->output == CTL_OUT_TABLE ? "*"
		                                                                            : "");
		ctl_table_addf(t, 1, "%s", m->name);
		ctl_table_addf(t, 2, "%s", m->config ? ARCH_WORD(m->config->arch, arch) : "");
		ctl_table_addf(t, 3, "%s", ram);
		ctl_table_addf(t, 4, "%s", fr);
		ctl_table_addf(t, 5, "%" PRIu64, m->seq);
	}
	ctl_table_print(t, c->output, stdout);
}

static int machine_ls(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	Vmsim__V1__ListMachinesRequest req = VMSIM__V1__LIST_MACHINES_REQUEST__INIT;
	return ctl_call(c, "ListMachines", &req.base, show_machines, NULL);
}

/* show/reset take an optional ID (default: the selected machine); rm takes one or more. */
static const char *target(struct ctl *c, int argc, char **argv)
{
	if (argc > 1)
		return argv[1];
	return c->machine[0] ? c->machine : NULL;
}

static void show_machine(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
	print_machine(c, (const Vmsim__V1__Machine *)resp);
}

static int machine_show(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 1);
	if (rc >= 0)
		return rc;
	const char *id = target(c, argc, argv);
	if (!id)
		return ctl_need_machine(c);
	Vmsim__V1__GetMachineRequest req = VMSIM__V1__GET_MACHINE_REQUEST__INIT;
	req.machine_id = (char *)id;
	return ctl_call(c, "GetMachine", &req.base, show_machine, NULL);
}

/* arg: the machine's id. */
static void show_reset(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)resp;
	printf("machine %s reset\n", (const char *)arg);
}

static int machine_reset(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 1);
	if (rc >= 0)
		return rc;
	const char *id = target(c, argc, argv);
	if (!id)
		return ctl_need_machine(c);
	Vmsim__V1__ResetMachineRequest req = VMSIM__V1__RESET_MACHINE_REQUEST__INIT;
	req.machine_id = (char *)id;
	return ctl_call(c, "ResetMachine", &req.base, show_reset, id);
}

static int machine_rm(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, -1);
	if (rc >= 0)
		return rc;
	for (int i = 1; i < argc; i++) {
		Vmsim__V1__DeleteMachineRequest req = VMSIM__V1__DELETE_MACHINE_REQUEST__INIT;
		req.machine_id = argv[i];
		ProtobufCMessage *resp;
		int r = ctl_rpc(c, "DeleteMachine", &req.base, &resp);
		if (r) {
			rc = r;
			if (r == CTL_ECONNECT)
				return r;
			continue;
		}
		protobuf_c_message_free_unpacked(resp, NULL);
		if (c->output != CTL_OUT_JSON)
			printf("machine %s deleted\n", argv[i]);
		if (strcmp(argv[i], c->machine) == 0) {
			char path[1024];
			if (ctl_config_path(path, sizeof(path)) == 0)
				ctl_config_set("machine", NULL); /* forget a deleted machine */
		}
	}
	return rc < 0 ? CTL_OK : rc;
}

const struct ctl_cmd ctl_cmds_machine[] = {
    {"machine create",
     "[--name N] [--arch i386|x86_64] [--mem SIZE] [--swap SIZE] [--seed N] "
     "[--policy linux|fifo|lru|clock] [--tlb N] [--swappiness N] [--use]",
     "boot a new simulated machine",
     "Defaults: x86_64, 64M of RAM, no swap. --swap SIZE also runs mkswap and swapon on a\n"
     "/swapfile of that size (the seed article's dd + mkswap + swapon). --use remembers the\n"
     "new machine like `vmsimctl use`. With -o text only the new id is printed.",
     machine_create, NULL, 0},
    {"machine ls", "", "list the machines you can see (* marks the selected one)", NULL, machine_ls,
     NULL, 0},
    {"machine show", "[ID]", "describe a machine: config, free memory, seq", NULL, machine_show,
     NULL, 0},
    {"machine rm", "ID...", "delete machines and everything in them", NULL, machine_rm, NULL, 0},
    {"machine reset", "[ID]", "reboot a machine with its original config", NULL, machine_reset,
     NULL, 0},
    {0},
};
