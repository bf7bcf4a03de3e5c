/*
 * `vmsimctl exercise ...`: seeded questions with checkable answers (ListExercises,
 * NewExercise, CheckExercise). The same topic and seed always give the same question, so a
 * class can share a seed and each student checks their own answer.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int exercise_ls(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	Vmsim__V1__ListExercisesRequest req = VMSIM__V1__LIST_EXERCISES_REQUEST__INIT;
	ProtobufCMessage *resp;
	rc = ctl_rpc(c, "ListExercises", &req.base, &resp);
	if (rc)
		return rc;
	Vmsim__V1__ListExercisesResponse *l = (Vmsim__V1__ListExercisesResponse *)resp;
	if (c->output == CTL_OUT_JSON) {
		ctl_print_json(resp);
	} else {
		static const char *const heads[] = {"TOPIC", "SUMMARY"};
		struct ctl_table *t = ctl_table_new(2, heads);
		for (size_t i = 0; i < l->n_topics; i++)
			ctl_table_add(t, l->topics[i]->name, l->topics[i]->summary);
		ctl_table_print(t, c->output, stdout);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

/* TOPIC [--seed N] [--reveal] [ANSWER...]: shared by new and check. */
static int exercise_args(const struct ctl_cmd *self, int argc, char **argv, uint64_t *seed,
                         int *reveal)
{
	static const struct option opts[] = {
	    {"seed", required_argument, NULL, 's'},
	    {"reveal", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (ctl_parse_u64(optarg, seed))
				return ctl_usage_error(self, "bad --seed '%s': use a number",
				                       optarg);
			break;
		case 'r':
			if (!reveal)
				return ctl_usage_error(self, "--reveal is for `exercise check`");
			*reveal = 1;
			break;
		case 'h':
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		default:
			return CTL_EUSAGE;
		}
	}
	if (optind >= argc)
		return ctl_usage_error(self, "missing TOPIC (`vmsimctl exercise ls` lists them)");
	return -1;
}

static int exercise_new(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	uint64_t seed = 0;
	int rc = exercise_args(self, argc, argv, &seed, NULL);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return ctl_usage_error(self, "one TOPIC");
	Vmsim__V1__NewExerciseRequest req = VMSIM__V1__NEW_EXERCISE_REQUEST__INIT;
	req.topic = argv[optind];
	req.seed = seed;
	ProtobufCMessage *resp;
	rc = ctl_rpc(c, "NewExercise", &req.base, &resp);
	if (rc)
		return rc;
	Vmsim__V1__Exercise *e = (Vmsim__V1__Exercise *)resp;
	if (c->output == CTL_OUT_JSON) {
		ctl_print_json(resp);
	} else {
		fputs(e->question, stdout);
		if (e->question[0] && e->question[strlen(e->question) - 1] != '\n')
			putchar('\n');
		printf("\nAnswer with: vmsimctl exercise check %s --seed %" PRIu64, e->topic,
		       e->seed);
		for (size_t i = 0; i < e->n_fields; i++)
			printf(" %s", e->fields[i]->name);
		putchar('\n');
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

static int exercise_check(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	uint64_t seed = 0;
	int reveal = 0;
	int rc = exercise_args(self, argc, argv, &seed, &reveal);
	if (rc >= 0)
		return rc;
	if (argc - optind < 2 && !reveal)
		return ctl_usage_error(self, "missing ANSWER");
	/* The answer values, space separated as the server reads them. */
	char answer[4096] = "";
	size_t n = 0;
	for (int i = optind + 1; i < argc && n < sizeof(answer); i++)
		n +=
		    (size_t)snprintf(answer + n, sizeof(answer) - n, "%s%s", n ? " " : "", argv[i]);
	Vmsim__V1__CheckExerciseRequest req = VMSIM__V1__CHECK_EXERCISE_REQUEST__INIT;
	req.topic = argv[optind];
	req.seed = seed;
	req.answer = answer;
	req.reveal = reveal;
	ProtobufCMessage *resp;
	rc = ctl_rpc(c, "CheckExercise", &req.base, &resp);
	if (rc)
		return rc;
	Vmsim__V1__ExerciseVerdict *v = (Vmsim__V1__ExerciseVerdict *)resp;
	if (c->output == CTL_OUT_JSON) {
		ctl_print_json(resp);
	} else {
		printf("%s: %" PRIu32 " of %" PRIu32 " right\n", v->correct ? "Correct" : "Not yet",
		       v->right, v->total);
		if (v->feedback[0])
			printf("%s%s", v->feedback,
			       v->feedback[strlen(v->feedback) - 1] == '\n' ? "" : "\n");
		if (v->solution[0])
			printf("\n%s%s", v->solution,
			       v->solution[strlen(v->solution) - 1] == '\n' ? "" : "\n");
	}
	int correct = v->correct;
	protobuf_c_message_free_unpacked(resp, NULL);
	/* A wrong answer is not an error of the tool: exit 0 either way, say it in the text. */
	(void)correct;
	return CTL_OK;
}

const struct ctl_cmd ctl_cmds_exercise[] = {
    {"exercise ls", "", "list the exercise topics", NULL, exercise_ls, NULL, 0},
    {"exercise new", "TOPIC [--seed N]", "show the question of a seeded exercise",
     "The same TOPIC and seed always give the same question (and answer).", exercise_new, NULL, 0},
    {"exercise check", "TOPIC [--seed N] [--reveal] ANSWER...",
     "grade an answer (values in the order asked, or name=value)",
     "--reveal also prints the worked solution, in the kernel's steps.", exercise_check, NULL, 0},
    {0},
};
