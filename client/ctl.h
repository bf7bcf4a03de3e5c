/*
 * vmsimctl internals shared by its files: the session (server, token, machine, output mode,
 * the reused libcurl handle), the command table, argument parsing and output helpers.
 * Prefix ctl_ throughout; each noun group lives in its own cmd_*.c file.
 */
#ifndef VMSIM_CTL_H
#define VMSIM_CTL_H

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmsim/v1/vmsim.pb-c.h"

/* Exit codes of vmsimctl. */
enum {
	CTL_OK = 0,
	CTL_EREFUSED = 1, /* the server answered with a Twirp error */
	CTL_EUSAGE = 2,   /* bad command line or trace line */
	CTL_ECONNECT = 3, /* the server could not be reached (or timed out) */
};

enum ctl_output {
	CTL_OUT_TABLE = 0,
	CTL_OUT_TEXT,
	CTL_OUT_JSON,
};

struct ctl_transport;

struct ctl {
	char server[512];
	char token[256];
	char machine[128];
	enum ctl_output output;
	int explain;
	long timeout_ms;
	int in_shell; /* commands run from `shell`/`record`: keep going after errors */
	FILE *record; /* `record`: ops that changed the machine are appended here as trace lines */
	struct ctl_transport *tr;
	/* Last Twirp error, for callers that want to show it differently (trace lines). */
	char err_code[64];
	char err_msg[512];
	/* The failed op failed partway and is journaled as this seq (0: it was refused). */
	uint64_t err_seq;
};

/* ---- command table ------------------------------------------------------------------ */

struct ctl_opdef;

struct ctl_cmd {
	const char *words;   /* "machine create", "free", "cat" */
	const char *args;    /* usage after the words: "ORDER [--zone Z]" */
	const char *summary; /* one line for `help` */
	const char *help;    /* extra paragraphs for `help CMD` (may be NULL) */
	int (*run)(struct ctl *c, const struct ctl_cmd *cmd, int argc, char **argv);
	const struct ctl_opdef *op; /* simulator op commands: the descriptor-driven spec */
	unsigned flags;
};

/* ctl_cmd.flags */
#define CTL_NEEDS_MACHINE 0x1u /* machine-scoped: fails early with a hint when none is set */

/* NULL-terminated (words == NULL) tables, one per noun group. */
extern const struct ctl_cmd ctl_cmds_machine[];
extern const struct ctl_cmd ctl_cmds_ops[];
extern const struct ctl_cmd ctl_cmds_view[];
extern const struct ctl_cmd ctl_cmds_trace[];
extern const struct ctl_cmd ctl_cmds_policy[];
extern const struct ctl_cmd ctl_cmds_misc[];
extern const struct ctl_cmd ctl_cmds_shell[];
extern const struct ctl_cmd ctl_cmds_exercise[]; /* cmd_exercise.c */
extern const struct ctl_cmd ctl_cmds_user[];     /* cmd_user.c */
extern const struct ctl_cmd ctl_cmds_history[];  /* cmd_history.c */

/* Finds the command whose words open argv; *used gets how many argv words they took. */
const struct ctl_cmd *ctl_find(int argc, char **argv, int *used);
/* Runs argv (words + arguments) as one command. Returns an exit code. */
int ctl_dispatch(struct ctl *c, int argc, char **argv);
/* Prints `help CMD` text. */
void ctl_print_cmd_help(FILE *f, const struct ctl_cmd *cmd);
/* Calls fn for every command (help listing, completion). */
void ctl_each_cmd(void (*fn)(const struct ctl_cmd *cmd, void *arg), void *arg);
/* The top-level usage text with every command. */
void ctl_usage(FILE *f);

/* Common start of a command: handles --help/-h, checks argument counts. Returns -1 to go
 * on, else the exit code to return. */
int ctl_cmd_begin(struct ctl *c, const struct ctl_cmd *cmd, int argc, char **argv, int min,
                  int max);
int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int ctl_need_machine(struct ctl *c);

/* ---- simulator ops (ops.c) -------------------------------------------------------------- */

/* Parses argv (argv[0] = a name for messages, then arguments after the command words) into
 * a new Op whose one field is set. Returns NULL after printing why. */
Vmsim__V1__Op *ctl_op_parse(const struct ctl_opdef *def, int argc, char **argv, const char *prog);
/* Op -> the canonical trace line (without newline) into buf. */
int ctl_op_format(const Vmsim__V1__Op *op, char *buf, size_t len);
/* The request message inside an Op (its one set field). */
ProtobufCMessage *ctl_op_request(const Vmsim__V1__Op *op);
void ctl_op_free(Vmsim__V1__Op *op);
/* The RPC method whose input is this request type. */
const ProtobufCMethodDescriptor *ctl_op_method(const ProtobufCMessageDescriptor *req);
/* The spec of the op's command (for printing its result). */
const struct ctl_opdef *ctl_op_def(const Vmsim__V1__Op *op);
/* Prints an op's result the way the command shows it. */
void ctl_op_print_result(struct ctl *c, const struct ctl_opdef *def, const Vmsim__V1__OpResult *r);
/* Validates every op spec against the proto descriptors; 0 or -1 with the reason printed. */
int ctl_ops_selfcheck(FILE *err);

/* ---- transport (transport.c) ---------------------------------------------------------- */

/* One RPC. *resp gets a new message (free with protobuf_c_message_free_unpacked). Returns
 * CTL_OK, CTL_EREFUSED (Twirp error kept in c->err_* and printed unless quiet) or
 * CTL_ECONNECT (printed). */
int ctl_rpc(struct ctl *c, const char *method, const ProtobufCMessage *req,
            ProtobufCMessage **resp);
int ctl_rpc_quiet(struct ctl *c, const char *method, const ProtobufCMessage *req,
                  ProtobufCMessage **resp);
/* Server-sent events: GET path with Last-Event-ID; on_event(id, event, data) per event;
 * returning nonzero from it stops. */
int ctl_sse(struct ctl *c, const char *path, uint64_t last_id,
            int (*on_event)(void *arg, uint64_t id, const char *event, const char *data),
            void *arg);
void ctl_transport_free(struct ctl *c);

/* How a command shows a successful answer in table and text mode; arg is its own context. */
typedef void (*ctl_show_fn)(struct ctl *c, const ProtobufCMessage *resp, const void *arg);
/* What most commands end with: the RPC, its answer printed (as proto3 JSON under -o json,
 * else by show), the answer freed. Returns ctl_rpc's exit code. */
int ctl_call(struct ctl *c, const char *method, const ProtobufCMessage *req, ctl_show_fn show,
             const void *arg);

/* ---- parsing (parse.c) ---------------------------------------------------------------- */

/* "4096", "4K", "16M", "1G", "2GiB", "0x1000": bytes. 0 on success, -1 on bad input. */
int ctl_parse_size(const char *s, uint64_t *out);
/* "0x7f001000" or decimal. */
int ctl_parse_addr(const char *s, uint64_t *out);
int ctl_parse_u64(const char *s, uint64_t *out);
int ctl_parse_u32(const char *s, uint32_t *out);
int ctl_parse_i32(const char *s, int32_t *out);
/* "rw", "r-x", "rwx", "none", "---" -> PROT_* bits. */
int ctl_parse_prot(const char *s, uint32_t *out);
void ctl_format_prot(uint32_t prot, char *buf); /* "rw-" (4 bytes) */
/* 65536 -> "64K" when exact, else the number. */
void ctl_format_size(uint64_t bytes, char *buf, size_t len);
/* Splits a line into words in place (whitespace, '#' starts a comment, "..." quotes).
 * Returns the word count or -1 when more than max. */
int ctl_split(char *line, char **argv, int max);

/* ---- output (output.c) ----------------------------------------------------------------- */

/* Human sizes as free -h prints them: "23Gi", "8.7Mi", "0B". */
void ctl_human(uint64_t bytes, char *buf, size_t len);
/* Prints msg as proto3 JSON (defaults included) on one line. */
void ctl_print_json(const ProtobufCMessage *msg);

struct ctl_table;
/* heads: column titles; a title starting with '>' is right-aligned (the '>' is not shown). */
struct ctl_table *ctl_table_new(int ncols, const char *const *heads);
void ctl_table_add(struct ctl_table *t, ...); /* ncols strings */
void ctl_table_addf(struct ctl_table *t, int col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* table mode: aligned with a header; text mode: tab-separated, no header. Frees t. */
void ctl_table_print(struct ctl_table *t, enum ctl_output mode, FILE *f);

/* ---- config (config.c) ----------------------------------------------------------------- */

/* Fills unset fields of c from ~/.config/vmsim/config (or $XDG_CONFIG_HOME/vmsim/config). */
void ctl_config_load(struct ctl *c, int *have_server, int *have_token, int *have_machine);
/* Sets key=value in the config file, keeping the other lines. 0 or -1 (printed). */
int ctl_config_set(const char *key, const char *value);
int ctl_config_path(char *buf, size_t len);

/* ---- shell (shell.c), traces (trace.c), policy (policy.c) ------------------------------- */

int ctl_shell(struct ctl *c, FILE *record);
/* Reads a trace from f (name for messages) and applies it. */
int ctl_run_trace(struct ctl *c, FILE *f, const char *name, int progress, int quiet, int verbose);

#endif
