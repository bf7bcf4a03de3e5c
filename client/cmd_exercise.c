/*
 * `vmsimctl exercise topics|new|answer|solve|results`: the seeded exercises (core/exercise.c,
 * served by NewExercise, CheckExercise and SolveExercise) and the recorded attempts
 * (ExerciseResults). An exercise is named by its topic and seed; without --seed, `new` picks
 * one and prints it so the answer can name the same exercise.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ctl.h"

/* Parses [--seed N] among argv; the other words (topic, answer values) stay in order in
 * words[]. Returns -1 to go on, else an exit code. */
static int exercise_args(const struct ctl_cmd *self, int argc, char **argv, uint64_t *seed,
                         int *have_seed, char **words, int *nwords)
{
	static const struct option opts[] = {
	    {"seed", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int ch;
	*have_seed = 0;
	*nwords = 0;
	optind = 0;
	/* "-" first: keep non-option words in place (answers may be "0x1028"). */
	while ((ch = getopt_long(argc, argv, "-h", opts, NULL)) != -1) {
		switch (ch) {
		case 1:
			words[(*nwords)++] = optarg;
			break;
		case 's':
			if (ctl_parse_u64(optarg, seed))
				return ctl_usage_error(self, "bad --seed '%s': use a number",
				                       optarg);
			*have_seed = 1;
			break;
		case 'h':
			ctl_print_cmd_help(stdout, self);
			return CTL_OK;
		default:
			return CTL_EUSAGE;
		}
	}
	for (int i = optind; i < argc; i++)
		words[(*nwords)++] = argv[i];
	return -1;
}

static void show_topics(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
	const Vmsim__V1__ListExercisesResponse *r = (const void *)resp;
	static const char *const heads[] = {"TOPIC", "ASKS"};
	struct ctl_table *t = ctl_table_new(2, heads);
	for (size_t i = 0; i < r->n_topics; i++)
		ctl_table_add(t, r->topics[i]->name, r->topics[i]->summary);
	ctl_table_print(t, c->output, stdout);
}

static int cmd_topics(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	int rc = ctl_cmd_begin(c, self, argc, argv, 0, 0);
	if (rc >= 0)
		return rc;
	Vmsim__V1__ListExercisesRequest req = VMSIM__V1__LIST_EXERCISES_REQUEST__INIT;
	return ctl_call(c, "ListExercises", &req.base, show_topics, NULL);
}

static const char *kind_hint(Vmsim__V1__ExerciseFieldKind k)
{
	switch (k) {
	case VMSIM__V1__EXERCISE_FIELD_KIND__EXERCISE_FIELD_HEX:
		return "hex";
	case VMSIM__V1__EXERCISE_FIELD_KIND__EXERCISE_FIELD_HITMISS:
		return "H/M";
	default:
		return "number";
	}
}

static void show_exercise(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)arg;
	const Vmsim__V1__Exercise *ex = (const void *)resp;
	fputs(ex->question, stdout);
	printf("\nAnswer with %zu value%s:", ex->n_fields, ex->n_fields == 1 ? "" : "s");
	for (size_t i = 0; i < ex->n_fields; i++)
		printf(" %s (%s)", ex->fields[i]->name, kind_hint(ex->fields[i]->kind));
	printf("\n  vmsimctl exercise answer %s --seed %" PRIu64 " VALUE...\n", ex->topic,
	       ex->seed);
}

static int cmd_new(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	char *words[64];
	int nwords, have_seed;
	uint64_t seed = 0;
	if (argc > 64)
		return ctl_usage_error(self, "too many arguments");
	int rc = exercise_args(self, argc, argv, &seed, &have_seed, words, &nwords);
	if (rc >= 0)
		return rc;
	if (nwords != 1)
		return ctl_usage_error(self, "give one TOPIC (see `vmsimctl exercise topics`)");
	if (!have_seed) {
		uint32_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)(uintptr_t)&r;
		seed = 1 + r % 1000000; /* short enough to read out in class */
	}
	Vmsim__V1__NewExerciseRequest req = VMSIM__V1__NEW_EXERCISE_REQUEST__INIT;
	req.topic = words[0];
	req.seed = seed;
	return ctl_call(c, "NewExercise", &req.base, show_exercise, NULL);
}

/* answer: CheckExercise (the server records the attempt). */
static int check(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	char *words[256];
	int nwords, have_seed;
	uint64_t seed = 0;
	if (argc > 256)
		return ctl_usage_error(self, "too many arguments");
	int rc = exercise_args(self, argc, argv, &seed, &have_seed, words, &nwords);
	if (rc >= 0)
		return rc;
	if (nwords < 1 || !have_seed)
		return ctl_usage_error(self, "give the TOPIC and the --seed that `exercise new` "
		                             "printed");
	if (nwords < 2)
		return ctl_usage_error(self,
		                       "give your answer: the values in order, or NAME=VALUE");
	char answer[4096];
	size_t off = 0;
	answer[0] = '\0';
	for (int i = 1; i < nwords; i++) {
		size_t n = strlen(words[i]);
		if (off + n + 2 > sizeof(answer))
			return ctl_usage_error(self, "the answer is too long");
		if (off)
			answer[off++] = ' ';
		memcpy(answer + off, words[i], n + 1);
		off += n;
	}
	Vmsim__V1__CheckExerciseRequest req = VMSIM__V1__CHECK_EXERCISE_REQUEST__INIT;
	req.topic = words[0];
	req.seed = seed;
	req.answer = answer;
	ProtobufCMessage *resp;
	if ((rc = ctl_rpc(c, "CheckExercise", &req.base, &resp)))
		return rc;
	const Vmsim__V1__ExerciseVerdict *v = (const void *)resp;
	if (c->output == CTL_OUT_JSON)
		ctl_print_json(resp);
	else
		fputs(v->feedback, stdout);
	/* A wrong answer exits 1 (the server said no), so scripts can test it. */
	rc = v->correct ? CTL_OK : CTL_EREFUSED;
	protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static int cmd_answer(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	return check(c, self, argc, argv);
}

static void show_solution(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)c;
	(void)arg;
	fputs(((const Vmsim__V1__ExerciseSolution *)resp)->solution, stdout);
}

/* solve: SolveExercise (instructors and admins; students when the server allows it). */
static int cmd_solve(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	char *words[8];
	int nwords, have_seed;
	uint64_t seed = 0;
	if (argc > 8)
		return ctl_usage_error(self, "too many arguments");
	int rc = exercise_args(self, argc, argv, &seed, &have_seed, words, &nwords);
	if (rc >= 0)
		return rc;
	if (nwords < 1 || !have_seed)
		return ctl_usage_error(self, "give the TOPIC and the --seed that `exercise new` "
		                             "printed");
	if (nwords != 1)
		return ctl_usage_error(self, "unexpected argument '%s'", words[1]);
	Vmsim__V1__SolveExerciseRequest req = VMSIM__V1__SOLVE_EXERCISE_REQUEST__INIT;
	req.topic = words[0];
	req.seed = seed;
	return ctl_call(c, "SolveExercise", &req.base, show_solution, NULL);
}

/* A server time (unix seconds) as UTC ISO 8601, "-" for none. */
static void format_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

static void show_results(struct ctl *c, const ProtobufCMessage *resp, const void *arg)
{
	(void)arg;
	const Vmsim__V1__ExerciseResultsResponse *r = (const void *)resp;
	static const char *const heads[] = {"USER",        "TOPIC",         ">ATTEMPTS",
	                                    ">CORRECT",    "FIRST-CORRECT", ">LAST-SEED",
	                                    "LAST-ATTEMPT"};
	struct ctl_table *t = ctl_table_new(7, heads);
	char when[32];
	for (size_t i = 0; i < r->n_results; i++) {
		const Vmsim__V1__ExerciseResult *e = r->results[i];
		ctl_table_addf(t, 0, "%s", e->user);
		ctl_table_addf(t, 1, "%s", e->topic);
		ctl_table_addf(t, 2, "%" PRIu64, e->attempts);
		ctl_table_addf(t, 3, "%" PRIu64, e->correct);
		format_time(e->first_correct, when, sizeof(when));
		ctl_table_addf(t, 4, "%s", when);
		ctl_table_addf(t, 5, "%" PRIu64, e->last_seed);
		format_time(e->last_attempt, when, sizeof(when));
		ctl_table_addf(t, 6, "%s", when);
	}
	ctl_table_print(t, c->output, stdout);
}

static int cmd_results(struct ctl *c, const struct ctl_cmd *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"user", required_argument, NULL, 'u'},
	    {"topic", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	Vmsim__V1__ExerciseResultsRequest req = VMSIM__V1__EXERCISE_RESULTS_REQUEST__INIT;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			req.user = optarg;
			break;
		case 't':
			req.topic = optarg;
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
	return ctl_call(c, "ExerciseResults", &req.base, show_results, NULL);
}

const struct ctl_cmd ctl_cmds_exercise[] = {
    {"exercise topics", "", "list the exercise topics", NULL, cmd_topics, NULL, 0},
    {"exercise new", "TOPIC [--seed N]", "a seeded exercise: the question and the values to answer",
     "The same TOPIC and seed always give the same exercise; without --seed one is picked and\n"
     "printed. Topics: vmsimctl exercise topics.\n",
     cmd_new, NULL, 0},
    {"exercise answer", "TOPIC --seed N VALUE...",
     "check an answer (exit 0 when right, 1 when not)",
     "Values in the order `exercise new` lists them, or NAME=VALUE in any order: hex as\n"
     "0x1028, counts in decimal, hits and misses as H/M (also together: MMHM).\n",
     cmd_answer, NULL, 0},
    {"exercise solve", "TOPIC --seed N",
     "the answer and the kernel's steps that produce it (like OSTEP's -c)",
     "Instructors and admins only, unless the server runs with --student-solve.\n", cmd_solve, NULL,
     0},
    {"exercise results", "[--user U] [--topic T]",
     "recorded answers per user and topic: attempts, correct, first correct, last seed",
     "Every checked answer is recorded. An admin sees everyone, an instructor their class,\n"
     "a student themselves. Times are UTC.\n",
     cmd_results, NULL, 0},
    {0},
};
