/*
 * `vmsimctl user add|ls|token|revoke`, `whoami`, `login` and `machine export|import|share`:
 * users, tokens and moving machines between servers (server/auth/ and users_rpc.c serve the RPCs).
 * Tokens are shown once; `login` keeps one in ~/.config/vmsim/config after Whoami accepts it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char *role_name(Vmsim__V1__Role r)
{
	switch (r) {
	case VMSIM__V1__ROLE__ROLE_ADMIN:
		return "admin";
	case VMSIM__V1__ROLE__ROLE_INSTRUCTOR:
		return "instructor";
	case VMSIM__V1__ROLE__ROLE_STUDENT:
		return "student";
	default:
		return "-";
	}
}

static int parse_role(const char *s, Vmsim__V1__Role *out)
{
	if (!strcmp(s, "student"))
		*out = VMSIM__V1__ROLE__ROLE_STUDENT;
	else if (!strcmp(s, "instructor"))
		*out = VMSIM__V1__ROLE__ROLE_INSTRUCTOR;
	else if (!strcmp(s, "admin"))
		*out = VMSIM__V1__ROLE__ROLE_ADMIN;
	else
		return -1;
	return 0;
}

/* Appends the names in file (one a line, blank lines and '#' comments skipped). */
static int read_names(const struct ctl_cmd *self, const char *path, char ***names, size_t *n,
                      size_t *cap)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		return ctl_usage_error(self, "cannot read --file '%s'", path);
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		char *w[2];
		int k = ctl_split(line, w, 2);
		if (k == 0)
			continue;
		if (k != 1) {
			if (f != stdin)
				fclose(f);
			return ctl_usage_error(self, "--file '%s': one name a line", path);
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*names = realloc(*names, *cap * sizeof(**names));
		}
		(*names)[(*n)++] = strdup(w[0]);
	}
	if (f != stdin)
		fclose(f);
	return -1;
}

static void show_new_users(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
	const Vmsim__V1__CreateUsersResponse *r = (const void *)resp;
	/* The tokens are shown this once: the server keeps only hashes. */
	static const char *const heads[] = {">ID", "NAME", "ROLE", "TOKEN"};
	struct ctl_table *t = ctl_table_new(4, heads);
	for (size_t i = 0; i < r->n_users; i++) {
		const Vmsim__V1__NewUser *u = r->users[i];
		ctl_table_addf(t, 0, "%" PRId64, u->user->id);
		ctl_table_addf(t, 1, "%s", u->user->name);
		ctl_table_addf(t, 2, "%s", role_name(u->user->role));
		ctl_table_addf(t, 3, "%s", u->token);
	}
	ctl_table_print(t, c->output, stdout);
}

static int cmd_add(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"role", required_argument, NULL, 'r'},
	    {"file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	Vmsim__V1__CreateUsersRequest req = VMSIM__V1__CREATE_USERS_REQUEST__INIT;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ch, rc = -1;
	optind = 0;
	while (rc < 0 && (ch = getopt_long(argc, argv, "-h", opts, NULL)) != -1) {
		switch (ch) {
		case 1:
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				names = realloc(names, cap * sizeof(*names));
			}
			names[n++] = strdup(optarg);
			break;
		case 'r':
			if (parse_role(optarg, &req.role))
				rc = ctl_usage_error(
				    self, "bad --role '%s': use student, instructor or admin",
				    optarg);
			break;
		case 'f':
			rc = read_names(self, optarg, &names, &n, &cap);
			break;
		case 'h':
			ctl_print_cmd_help(stdout, self);
			rc = CTL_OK;
			break;
		default:
			rc = CTL_EUSAGE;
		}
	}
	if (rc < 0 && n == 0)
		rc = ctl_usage_error(self, "give at least one NAME (or --file FILE)");
	if (rc < 0) {
		req.n_names = n;
		req.names = names;
		rc = ctl_call(c, "CreateUsers", &req.base, show_new_users, NULL);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void show_users(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
	const Vmsim__V1__ListUsersResponse *r = (const void *)resp;
	static const char *const heads[] = {">ID", "NAME", "ROLE", ">CLASS", ">MACHINES", ">RAM"};
	struct ctl_table *t = ctl_table_new(6, heads);
	for (size_t i = 0; i < r->n_users; i++) {
		const Vmsim__V1__User *u = r->users[i];
		char ram[32];
		ctl_human(u->ram_bytes, ram, sizeof(ram));
		ctl_table_addf(t, 0, "%" PRId64, u->id);
		ctl_table_addf(t, 1, "%s", u->name);
		ctl_table_addf(t, 2, "%s", role_name(u->role));
		if (u->instructor_id)
			ctl_table_addf(t, 3, "%" PRId64, u->instructor_id);
		else
			ctl_table_addf(t, 3, "-");
		ctl_table_addf(t, 4, "%" PRIu64, u->machines);
		ctl_table_addf(t, 5, "%s", ram);
	}
	ctl_table_print(t, c->output, stdout);
}

static int cmd_ls(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	Vmsim__V1__ListUsersRequest req = VMSIM__V1__LIST_USERS_REQUEST__INIT;
	return ctl_call(c, "ListUsers", &req.base, show_users, NULL);
}

/* NAME (or a numeric id) -> the user's id, through ListUsers (what the caller may see). */
static int user_id(struct ctl *c, const char *name, int64_t *id)
{
	Vmsim__V1__ListUsersRequest req = VMSIM__V1__LIST_USERS_REQUEST__INIT;
	ProtobufCMessage *resp;
	int rc = ctl_rpc(c, "ListUsers", &req.base, &resp);
	if (rc)
		return rc;
	const Vmsim__V1__ListUsersResponse *r = (const void *)resp;
	rc = CTL_EREFUSED;
	for (size_t i = 0; i < r->n_users; i++)
		if (!strcmp(r->users[i]->name, name)) {
			*id = r->users[i]->id;
			rc = CTL_OK;
		}
	protobuf_c_message_free_unpacked(resp, NULL);
	if (rc)
		fprintf(stderr, "Error (not_found): no user '%s' you may see (vmsimctl user ls)\n",
		        name);
	return rc;
}

/* arg: the user's name. */
static void show_token(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	const Vmsim__V1__IssueTokenResponse *r = (const void *)resp;
	/* stdout holds only the token, for `vmsimctl user token x | vmsimctl login`. */
	printf("%s\n", r->token);
	fprintf(stderr,
	        "token %" PRId64 " for %s (shown once; revoke: vmsimctl user revoke %" PRId64 ")\n",
	        r->token_id, (const char *)arg, r->token_id);
}

static int cmd_token(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	Vmsim__V1__IssueTokenRequest req = VMSIM__V1__ISSUE_TOKEN_REQUEST__INIT;
	if ((rc = user_id(c, argv[1], &req.user_id)))
		return rc;
	req.label = "vmsimctl";
	return ctl_call(c, "IssueToken", &req.base, show_token, argv[1]);
}

/* arg: the token's id (int64_t). */
static void show_revoked(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)resp;
	printf("token %" PRId64 " revoked\n", *(const int64_t *)arg);
}

static int cmd_revoke(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 64);
	if (rc >= 0)
		return rc;
	int64_t ids[64];
	for (int i = 1; i < argc; i++) {
		uint64_t v;
		if (ctl_parse_u64(argv[i], &v) || v == 0 || v > INT64_MAX)
			return ctl_usage_error(
			    self, "bad TOKEN_ID '%s': the number `user token` printed", argv[i]);
		ids[i - 1] = (int64_t)v;
	}
	for (int i = 1; i < argc; i++) {
		Vmsim__V1__RevokeTokenRequest req = VMSIM__V1__REVOKE_TOKEN_REQUEST__INIT;
		req.token_id = ids[i - 1];
		if ((rc = ctl_call(c, "RevokeToken", &req.base, show_revoked, &ids[i - 1])))
			return rc;
	}
	return CTL_OK;
}

static void show_whoami(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)arg;
	const Vmsim__V1__WhoamiResponse *r = (const void *)resp;
	if (r->open || !r->user)
		printf("open server: no authentication, every caller is an admin\n");
	else
		printf("%s (%s, id %" PRId64 ")\n", r->user->name, role_name(r->user->role),
		       r->user->id);
}

static int cmd_whoami(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	Vmsim__V1__WhoamiRequest req = VMSIM__V1__WHOAMI_REQUEST__INIT;
	return ctl_call(c, "Whoami", &req.base, show_whoami, NULL);
}

static int cmd_login(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 1);
	if (rc >= 0)
		return rc;
	char tok[sizeof(c->token)];
	if (argc == 2) {
		snprintf(tok, sizeof(tok), "%s", argv[1]);
	} else if (!fgets(tok, sizeof(tok), stdin)) {
		return ctl_usage_error(self, "no token on stdin: give TOKEN or pipe it in");
	}
	tok[strcspn(tok, " \t\r\n")] = '\0';
	if (!tok[0])
		return ctl_usage_error(self, "empty token");
	/* Check the token before remembering it. */
	snprintf(c->token, sizeof(c->token), "%s", tok);
	Vmsim__V1__WhoamiRequest req = VMSIM__V1__WHOAMI_REQUEST__INIT;
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "Whoami", &req.base, &resp)))
		return rc;
	if (ctl_config_set("token", tok)) {
		protobuf_c_message_free_unpacked(resp, NULL);
		return CTL_EUSAGE;
	}
	const Vmsim__V1__WhoamiResponse *r = (const void *)resp;
	if (c->output == CTL_OUT_JSON)
		ctl_print_json(resp);
	else if (r->user)
		printf("Logged in as %s (%s)\n", r->user->name, role_name(r->user->role));
	else
		printf("Logged in (open server)\n");
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

static int cmd_export(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 1, 1);
	if (rc >= 0)
		return rc;
	if ((rc = ctl_need_machine(c)))
		return rc;
	Vmsim__V1__ExportMachineRequest req = VMSIM__V1__EXPORT_MACHINE_REQUEST__INIT;
	req.machine_id = c->machine;
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "ExportMachine", &req.base, &resp)))
		return rc;
	const Vmsim__V1__ExportMachineResponse *r = (const void *)resp;
	FILE *f = strcmp(argv[1], "-") ? fopen(argv[1], "wb") : stdout;
	int bad = !f || fwrite(r->data.data, 1, r->data.len, f) != r->data.len;
	if (f && f != stdout && fclose(f))
		bad = 1;
	if (bad) {
		fprintf(stderr, "vmsimctl: cannot write '%s'\n", argv[1]);
		rc = CTL_EUSAGE;
	} else if (f != stdout) {
		if (c->output == CTL_OUT_JSON)
			printf("{\"file\":\"%s\",\"bytes\":%zu,\"name\":\"%s\",\"seq\":\"%" PRIu64
			       "\"}\n",
			       argv[1], r->data.len, r->name, r->seq);
		else
			printf("machine %s exported to %s (%zu bytes, seq %" PRIu64 ")\n",
			       c->machine, argv[1], r->data.len, r->seq);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

/* arg: the file's path. */
static void show_imported(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	const Vmsim__V1__ImportMachineResponse *r = (const void *)resp;
	if (c->output == CTL_OUT_TEXT)
		printf("%s\n", r->machine_id);
	else
		printf("machine %s imported from %s (seq %" PRIu64 ")\n", r->machine_id,
		       (const char *)arg, r->seq);
}

static int cmd_import(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	Vmsim__V1__ImportMachineRequest req = VMSIM__V1__IMPORT_MACHINE_REQUEST__INIT;
	const char *path = NULL;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "-h", opts, NULL)) != -1) {
		switch (ch) {
		case 1:
			if (path)
				return ctl_usage_error(self, "unexpected argument '%s'", optarg);
			path = optarg;
			break;
		case 'n':
			req.name = optarg;
			break;
		case 'h':
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		default:
			return CTL_EUSAGE;
		}
	}
	if (!path)
		return ctl_usage_error(self, "missing FILE");
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return ctl_usage_error(self, "cannot read '%s'", path);
	size_t len = 0, cap = 1 << 16;
	uint8_t *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
		len += got;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (f != stdin)
		fclose(f);
	req.data.data = buf;
	req.data.len = len;
	int rc = ctl_call(c, "ImportMachine", &req.base, show_imported, path);
	free(buf);
	return rc;
}

/* arg: whether sharing was turned off (int). */
static void show_shared(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)resp;
	printf("machine %s %s\n", c->machine,
	       *(const int *)arg ? "no longer shared" : "shared read-only with your class");
}

static int cmd_share(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"off", no_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int ch, off = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			off = 1;
			break;
		case 'h':
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		default:
			return CTL_EUSAGE;
		}
	}
	if (optind < argc - 1)
		return ctl_usage_error(self, "unexpected argument '%s'", argv[optind + 1]);
	if (optind == argc - 1)
		snprintf(c->machine, sizeof(c->machine), "%s", argv[optind]);
	int rc = ctl_need_machine(c);
	if (rc)
		return rc;
	Vmsim__V1__ShareMachineRequest req = VMSIM__V1__SHARE_MACHINE_REQUEST__INIT;
	req.machine_id = c->machine;
	req.shared = !off;
	return ctl_call(c, "ShareMachine", &req.base, show_shared, &off);
}

const struct ctl_cmd ctl_cmds_user[] = {
    {"user add", "NAME... [--role student|instructor|admin] [--file FILE]",
     "create users (all or none) and print their first tokens",
     "Names come from the arguments and from --file (one a line, '-' = stdin). Without --role\n"
     "they are students; an instructor's students join their class. Each token is shown\n"
     "this once.\n",
     cmd_add, NULL, 0},
    {"user ls", "", "list the users you may see", NULL, cmd_ls, NULL, 0},
    {"user token", "NAME", "issue a new token for NAME (printed once)",
     "Only the token goes to stdout; its id (for `user revoke`) goes to stderr.\n", cmd_token, NULL,
     0},
    {"user revoke", "TOKEN_ID...", "revoke tokens: they stop working at once", NULL, cmd_revoke,
     NULL, 0},
    {"whoami", "", "who the token belongs to", NULL, cmd_whoami, NULL, 0},
    {"login", "[TOKEN]", "check TOKEN (or one read from stdin) and keep it in the config",
     "The token is stored in ~/.config/vmsim/config and sent by every later command.\n", cmd_login,
     NULL, 0},
    {"machine export", "FILE", "write the machine's config and journal to FILE ('-' = stdout)",
     NULL, cmd_export, NULL, CTL_NEEDS_MACHINE},
    {"machine import", "FILE [--name NAME]", "a new machine of yours, replayed from an export",
     NULL, cmd_import, NULL, 0},
    {"machine share", "[ID] [--off]", "share a machine read-only with your class (instructors)",
     NULL, cmd_share, NULL, 0},
    {0},
};
