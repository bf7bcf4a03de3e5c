/*
 * The command table: lookup of a command by its words (longest match), dispatch, `help`
 * for vmsimctl and for every command, `use`, and the word completion shells call.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"

static const struct ctl_cmd *const *tables(void)
{
	static const struct ctl_cmd *const t[] = {
	    ctl_cmds_machine, ctl_cmds_ops,     ctl_cmds_view, ctl_cmds_trace,
	    ctl_cmds_policy,  ctl_cmds_shell,   ctl_cmds_misc, ctl_cmds_exercise,
	    ctl_cmds_user,    ctl_cmds_history, NULL};
	return t;
}

void ctl_each_cmd(void (*fn)(const struct ctl_cmd *cmd, void *arg), void *arg)
{
	for (const struct ctl_cmd *const *t = tables(); *t; t++)
		for (const struct ctl_cmd *c = *t; c->words; c++)
			fn(c, arg);
}

/* How many argv words match cmd's words (0 if they do not all match). */
static int words_match(const char *words, int argc, char **argv)
{
	int i = 0;
	const char *p = words;
	while (*p) {
		size_t n = strcspn(p, " ");
		if (i >= argc || strlen(argv[i]) != n || strncmp(argv[i], p, n) != 0)
			return 0;
		i++;
		p += n;
		while (*p == ' ')
			p++;
	}
	return i;
}

const struct ctl_cmd *ctl_find(int argc, char **argv, int *used)
{
	const struct ctl_cmd *best = NULL;
	int best_n = 0;
	for (const struct ctl_cmd *const *t = tables(); *t; t++)
		for (const struct ctl_cmd *c = *t; c->words; c++) {
			int n = words_match(c->words, argc, argv);
			if (n > best_n) {
				best = c;
				best_n = n;
			}
		}
	*used = best_n;
	return best;
}

void ctl_print_cmd_help(FILE *f, const struct ctl_cmd *cmd)
{
	fprintf(f, "Usage: vmsimctl [global flags] %s%s%s\n\n%s.\n", cmd->words,
	        cmd->args[0] ? " " : "", cmd->args, cmd->summary);
	if (cmd->help)
		fprintf(f, "\n%s\n", cmd->help);
	if (cmd->flags & CTL_NEEDS_MACHINE)
		fprintf(f,
		        "\nRuns on the selected machine (--machine ID, VMSIM_MACHINE, or `vmsimctl "
		        "use ID`).\n");
}

int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "vmsimctl %s: ", cmd->words);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: vmsimctl %s %s\n", cmd->words, cmd->args);
	return CTL_EUSAGE;
}

int ctl_cmd_begin(struct ctl *c, const struct ctl_cmd *cmd, int argc, char **argv, int min, int max)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ctl_print_cmd_help(stdout, cmd);
			return CTL_OK;
		}
	}
	int n = argc - 1;
	if (n < min)
		return ctl_usage_error(cmd, "missing argument");
	if (max >= 0 && n > max)
		return ctl_usage_error(cmd, "unexpected argument '%s'", argv[1 + max]);
	if ((cmd->flags & CTL_NEEDS_MACHINE) && ctl_need_machine(c))
		return CTL_EUSAGE;
	return -1;
}

int ctl_need_machine(struct ctl *c)
{
	if (c->machine[0])
		return CTL_OK;
	fprintf(stderr, "vmsimctl: no machine selected\n"
	                "hint: pass --machine ID, set VMSIM_MACHINE, or run `vmsimctl use ID` "
	                "(see `vmsimctl machine ls`; `vmsimctl machine create` makes one)\n");
	return CTL_EUSAGE;
}

struct listing {
	const char *noun; /* only commands starting with this word, or NULL */
	FILE *f;
	int n;
};

static void list_one(const struct ctl_cmd *cmd, void *arg)
{
	struct listing *l = arg;
	if (l->noun) {
		size_t n = strlen(l->noun);
		if (strncmp(cmd->words, l->noun, n) != 0 || (cmd->words[n] && cmd->words[n] != ' '))
			return;
	}
	if (cmd->words[0] == '_')
		return; /* hidden helpers */
	fprintf(l->f, "  %-18s %s\n", cmd->words, cmd->summary);
	l->n++;
}

void ctl_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: vmsimctl [global flags] COMMAND [ARGS]\n"
	    "\n"
	    "Drive simulated Linux machines on a vmsimd server: allocate pages, map memory,\n"
	    "fault, fork, swap, and read /proc the way a Linux box prints it.\n"
	    "\n"
	    "Global flags:\n"
	    "  -s, --server URL      server (env VMSIM_SERVER, default http://127.0.0.1:8080)\n"
	    "  -t, --token TOKEN     bearer token (env VMSIM_TOKEN, or `vmsimctl login`)\n"
	    "  -m, --machine ID      machine to act on (env VMSIM_MACHINE, or `vmsimctl use ID`)\n"
	    "  -o, --output FORMAT   table (default), text (tab-separated) or json (proto3 JSON)\n"
	    "  -x, --explain         print the kernel steps each op took\n"
	    "      --timeout SECS    give up on a request after SECS seconds (default: none)\n"
	    "  -h, --help            this help; `vmsimctl help COMMAND` for one command\n"
	    "\n"
	    "Commands (`vmsimctl help COMMAND` shows the arguments):\n");
	struct listing l = {NULL, f, 0};
	ctl_each_cmd(list_one, &l);
	fprintf(f, "\nExit codes: 0 ok, 1 the server refused (its error code is shown), 2 usage "
	           "error,\n3 cannot reach the server.\n");
}

/* `vmsimctl machine` alone: list the verbs of the noun. */
static int noun_help(const char *noun, FILE *f)
{
	struct listing l = {noun, f, 0};
	ctl_each_cmd(list_one, &l);
	return l.n;
}

int ctl_dispatch(struct ctl *c, int argc, char **argv)
{
	int used;
	if (argc == 0)
		return CTL_OK;
	const struct ctl_cmd *cmd = ctl_find(argc, argv, &used);
	if (!cmd) {
		if (noun_help(argv[0], stderr) > 0) {
			fprintf(stderr, "vmsimctl: '%s' needs a verb (see above)\n", argv[0]);
			return CTL_EUSAGE;
		}
		fprintf(stderr,
		        "vmsimctl: unknown command '%s'\nhint: `vmsimctl help` lists them\n",
		        argv[0]);
		return CTL_EUSAGE;
	}
	/* The command sees argv[0] = its last word, then its arguments. */
	return cmd->run(c, cmd, argc - used + 1, argv + used - 1);
}

static int cmd_help(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	(void)c;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		ctl_print_cmd_help(stdout, self);
		return CTL_OK;
	}
	if (argc < 2) {
		ctl_usage(stdout);
		return CTL_OK;
	}
	int used;
	const struct ctl_cmd *cmd = ctl_find(argc - 1, argv + 1, &used);
	if (cmd) { /* extra words (`help mmap 1 64K`) are the command's arguments */
		ctl_print_cmd_help(stdout, cmd);
		return CTL_OK;
	}
	if (noun_help(argv[1], stdout) > 0)
		return CTL_OK;
	fprintf(stderr, "vmsimctl help: no command '%s'\n", argv[1]);
	return CTL_EUSAGE;
}

static int cmd_use(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	/* Check that the machine exists before remembering it. */
	Vmsim__V1__GetMachineRequest req = VMSIM__V1__GET_MACHINE_REQUEST__INIT;
	req.machine_id = argv[1];
	ProtobufCMessage *resp;
	rc = ctl_rpc(c, "GetMachine", &req.base, &resp);
	if (rc)
		return rc;
	protobuf_c_message_free_unpacked(resp, NULL);
	if (ctl_config_set("machine", argv[1]))
		return CTL_EUSAGE;
	snprintf(c->machine, sizeof(c->machine), "%s", argv[1]);
	printf("Using machine %s\n", argv[1]);
	return CTL_OK;
}

struct completion {
	const char *prefix;
	char words[256][32];
	size_t n;
};

static void complete_word(const struct ctl_cmd *cmd, void *arg)
{
	struct completion *x = arg;
	size_t n = strlen(x->prefix);
	if (cmd->words[0] == '_' || x->n == 256)
		return;
	/* After complete words, offer the next word of the commands that begin with them. */
	if (n && (strncmp(cmd->words, x->prefix, n) != 0 || cmd->words[n] != ' '))
		return;
	const char *rest = cmd->words + (n ? n + 1 : 0);
	snprintf(x->words[x->n++], sizeof(x->words[0]), "%.*s", (int)strcspn(rest, " "), rest);
}

static int cmp_word(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Hidden: `vmsimctl __complete WORDS...` prints the candidates for the word after WORDS,
 * sorted and unique (the bash completion script uses it, so it never drifts from the table). */
static int cmd_complete(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	(void)c;
	(void)self;
	static struct completion x;
	char prefix[256] = "";
	size_t n = 0;
	for (int i = 1; i < argc && n < sizeof(prefix); i++)
		n += (size_t)snprintf(prefix + n, sizeof(prefix) - n, "%s%s", i > 1 ? " " : "",
		                      argv[i]);
	x.prefix = prefix;
	x.n = 0;
	ctl_each_cmd(complete_word, &x);
	qsort(x.words, x.n, sizeof(x.words[0]), cmp_word);
	for (size_t i = 0; i < x.n; i++)
		if (i == 0 || strcmp(x.words[i], x.words[i - 1]) != 0)
			printf("%s\n", x.words[i]);
	return CTL_OK;
}

const struct ctl_cmd ctl_cmds_misc[] = {
    {"help", "[COMMAND]", "show help for vmsimctl or for one command", NULL, cmd_help, NULL, 0},
    {"use", "ID", "remember ID as the machine to act on (~/.config/vmsim/config)", NULL, cmd_use,
     NULL, 0},
    {"__complete", "WORDS...", "print completions for the next word (for shells)", NULL,
     cmd_complete, NULL, 0},
    {0},
};
