/*
 * `vmsimctl shell`: one command a line against one keep-alive connection. On a terminal it
 * uses readline with a history file (~/.config/vmsim/history) and completes command words
 * and /proc view names; from a pipe it reads plain lines, so scripts can drive it.
 */
#include <readline/history.h>
#include <readline/readline.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define MAX_WORDS 32

/* ---- completion ------------------------------------------------------------------------ */

static char **cands;
static size_t ncands, capcands;

static void cand_add(const char *s, size_t n)
{
	for (size_t i = 0; i < ncands; i++)
		if (strlen(cands[i]) == n && strncmp(cands[i], s, n) == 0)
			return;
	if (ncands == capcands) {
		size_t cap = capcands ? capcands * 2 : 64;
		char **c = realloc(cands, cap * sizeof(*c));
		if (!c)
			return;
		cands = c;
		capcands = cap;
	}
	cands[ncands++] = strndup(s, n);
}

static void cands_clear(void)
{
	for (size_t i = 0; i < ncands; i++)
		free(cands[i]);
	ncands = 0;
}

struct comp_ctx {
	const char *before; /* the complete words typed before the one being completed */
	size_t len;
};

static void comp_cmd(const struct ctl_cmd *cmd, void *arg)
{
	struct comp_ctx *x = arg;
	if (cmd->words[0] == '_')
		return;
	if (x->len) {
		if (strncmp(cmd->words, x->before, x->len) != 0 || cmd->words[x->len] != ' ')
			return;
	}
	const char *w = cmd->words + (x->len ? x->len + 1 : 0);
	cand_add(w, strcspn(w, " "));
}

static char *comp_gen(const char *text, int state)
{
	static size_t i, tlen;
	if (!state) {
		i = 0;
		tlen = strlen(text);
	}
	while (i < ncands) {
		const char *c = cands[i++];
		if (strncmp(c, text, tlen) == 0)
			return strdup(c);
	}
	return NULL;
}

static const char *const proc_views[] = {
    "/proc/meminfo",     "/proc/buddyinfo",    "/proc/slabinfo",
    "/proc/vmallocinfo", "/proc/swaps",        "/proc/vmstat",
    "/proc/zoneinfo",    "/proc/pagetypeinfo", NULL};

static char **complete(const char *text, int start, int end)
{
	(void)end;
	rl_attempted_completion_over = 1; /* never fall back to file names */
	cands_clear();
	char before[256];
	snprintf(before, sizeof(before), "%.*s", start, rl_line_buffer);
	/* Normalise the typed words to single spaces. */
	char *argv[MAX_WORDS], norm[256] = "";
	int argc = ctl_split(before, argv, MAX_WORDS);
	size_t n = 0;
	for (int i = 0; i < argc && n < sizeof(norm); i++)
		n += (size_t)snprintf(norm + n, sizeof(norm) - n, "%s%s", i ? " " : "", argv[i]);
	if (argc == 1 && strcmp(argv[0], "cat") == 0) {
		for (int i = 0; proc_views[i]; i++)
			cand_add(proc_views[i], strlen(proc_views[i]));
	} else {
		struct comp_ctx x = {norm, strlen(norm)};
		ctl_each_cmd(comp_cmd, &x);
		if (argc == 0) {
			cand_add("exit", 4);
			cand_add("quit", 4);
		}
	}
	return rl_completion_matches(text, comp_gen);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void history_path(char *buf, size_t len)
{
	char cfg[1024];
	buf[0] = '\0';
	if (ctl_config_path(cfg, sizeof(cfg)) == 0) {
		char *slash = strrchr(cfg, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, len, "%s/history", cfg);
		}
	}
}

int ctl_shell(struct ctl *c, FILE *record)
{
	int tty = isatty(STDIN_FILENO);
	char hist[1100];
	int rc = CTL_OK;
	c->in_shell = 1;
	c->record = record;
	if (tty) {
		rl_readline_name = "vmsimctl";
		rl_attempted_completion_function = complete;
		using_history();
		history_path(hist, sizeof(hist));
		if (hist[0])
			read_history(hist);
		printf("vmsimctl shell: server %s. `help` lists commands, `exit` leaves.\n",
		       c->server);
	}
	char *pline = NULL;
	size_t cap = 0;
	for (;;) {
		char prompt[192], *line;
		if (tty) {
			snprintf(prompt, sizeof(prompt), "vmsim%s%s> ", c->machine[0] ? ":" : "",
			         c->machine);
			line = readline(prompt);
		} else {
			line = getline(&pline, &cap, stdin) < 0 ? NULL : pline;
		}
		if (!line)
			break;
		if (tty && *line)
			add_history(line);
		char *argv[MAX_WORDS + 1];
		int argc = ctl_split(line, argv, MAX_WORDS);
		if (argc < 0) {
			fprintf(stderr, "vmsimctl: too many words\n");
			rc = CTL_EUSAGE;
		} else if (argc > 0) {
			argv[argc] = NULL;
			if (strcmp(argv[0], "exit") == 0 && argc == 1) {
				if (tty)
					free(line);
				break;
			}
			if (strcmp(argv[0], "quit") == 0) {
				if (tty)
					free(line);
				break;
			}
			if (strcmp(argv[0], "shell") == 0 || strcmp(argv[0], "record") == 0) {
				fprintf(stderr, "vmsimctl: already in a shell\n");
				rc = CTL_EUSAGE;
			} else {
				rc = ctl_dispatch(c, argc, argv);
			}
			fflush(stdout);
		}
		if (tty)
			free(line);
	}
	free(pline);
	if (tty) {
		putchar('\n');
		if (hist[0])
			write_history(hist);
	}
	cands_clear();
	free(cands);
	c->record = NULL;
	c->in_shell = 0;
	return rc;
}

static int cmd_shell(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	return ctl_shell(c, NULL);
}

const struct ctl_cmd ctl_cmds_shell[] = {
    {"shell", "", "interactive: one command a line (history and tab completion on a terminal)",
     "Reads commands from a pipe too (`printf 'spawn a\\nps\\n' | vmsimctl shell`); the exit\n"
     "status is the last command's. `exit` or `quit` or end of input leaves.",
     cmd_shell, NULL, 0},
    {0},
};
