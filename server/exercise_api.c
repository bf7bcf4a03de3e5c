/*
 * Exercise RPCs: stateless wrappers over core/exercise.c. ExerciseNew picks a seed when none is
 * given; ExerciseAnswer and ExerciseSolve regenerate the exercise from (topic, seed), which the
 * core guarantees to be the same exercise, so nothing is stored between calls.
 */
#include "exercise_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "exercise.h"
#include "vmsim/v1/vmsim.pb-c.h"

/* Seeds the server picks stay short enough to read out in class. */
#define PICKED_SEED_MAX 1000000u

static const char *const kind_names[] = {
    [EXF_DEC] = "dec", [EXF_HEX] = "hex", [EXF_HITMISS] = "hitmiss"};

static int topic_of(struct srv_call *c, const char *name, enum exercise_topic *t)
{
	int v = exercise_topic_parse(name);
	if (v >= 0) {
		*t = (enum exercise_topic)v;
		return 0;
	}
	char list[256] = "";
	for (int i = 0; i < EX_NR_TOPICS; i++) {
		strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, exercise_topic_name((enum exercise_topic)i),
		        sizeof(list) - strlen(list) - 1);
	}
	rpc_fail(c, "invalid_argument", "unknown exercise topic \"%.40s\": choose one of %s",
	         name ? name : "", list);
	return -1;
}

static int make(struct srv_call *c, enum exercise_topic t, uint64_t seed, struct exercise *ex)
{
	char err[256];
	enum vm_err e = exercise_new(t, seed, ex, err, sizeof(err));
	if (e) {
		rpc_fail_vm(c, e, err);
		return -1;
	}
	return 0;
}

/*
 * Fills msg (and its field array, values only when solved) from ex. The strings point into ex
 * and vals, which must outlive the reply.
 */
static void fill_exercise(Vmsim__V1__Exercise *msg, Vmsim__V1__ExerciseField *f,
                          Vmsim__V1__ExerciseField **fp, char (*vals)[32],
                          const struct exercise *ex, int solved)
{
	vmsim__v1__exercise__init(msg);
	msg->topic = (char *)exercise_topic_name(ex->topic);
	msg->seed = ex->seed;
	msg->question = ex->question.buf ? ex->question.buf : "";
	for (unsigned i = 0; i < ex->nfields; i++) {
		vmsim__v1__exercise_field__init(&f[i]);
		f[i].name = (char *)ex->field[i].name;
		f[i].kind = (char *)kind_names[ex->field[i].kind];
		vals[i][0] = '\0';
		if (solved)
			exercise_format_value(&ex->field[i], ex->field[i].value, vals[i], 32);
		f[i].value = vals[i];
		fp[i] = &f[i];
	}
	msg->n_fields = ex->nfields;
	msg->fields = fp;
}

void exercise_topics_rpc(struct srv_call *c)
{
	Vmsim__V1__ExerciseTopic t[EX_NR_TOPICS], *tp[EX_NR_TOPICS];
	for (int i = 0; i < EX_NR_TOPICS; i++) {
		vmsim__v1__exercise_topic__init(&t[i]);
		t[i].name = (char *)exercise_topic_name((enum exercise_topic)i);
		t[i].summary = (char *)exercise_topic_summary((enum exercise_topic)i);
		tp[i] = &t[i];
	}
	Vmsim__V1__ExerciseTopicsResponse resp = VMSIM__V1__EXERCISE_TOPICS_RESPONSE__INIT;
	resp.n_topics = EX_NR_TOPICS;
	resp.topics = tp;
	rpc_reply(c, &resp.base);
}

static void reply_exercise(struct srv_call *c, const struct exercise *ex, const char *solution)
{
	Vmsim__V1__ExerciseField f[EXERCISE_MAX_FIELDS], *fp[EXERCISE_MAX_FIELDS];
	char vals[EXERCISE_MAX_FIELDS][32];
	Vmsim__V1__Exercise msg;
	fill_exercise(&msg, f, fp, vals, ex, solution != NULL);
	if (!solution) {
		rpc_reply(c, &msg.base);
		return;
	}
	Vmsim__V1__ExerciseSolution resp = VMSIM__V1__EXERCISE_SOLUTION__INIT;
	resp.exercise = &msg;
	resp.solution = (char *)solution;
	rpc_reply(c, &resp.base);
}

void exercise_new_rpc(struct srv_call *c)
{
	const Vmsim__V1__ExerciseNewRequest *req = (const void *)c->req;
	enum exercise_topic t = EX_BUDDY_ALLOC;
	if (topic_of(c, req->topic, &t))
		return;
	uint64_t seed = req->seed;
	if (!seed) {
		uint32_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)(uintptr_t)c; /* any value will do: it is returned */
		seed = 1 + r % PICKED_SEED_MAX;
	}
	struct exercise ex;
	if (make(c, t, seed, &ex))
		return;
	reply_exercise(c, &ex, NULL);
	exercise_release(&ex);
}

void exercise_answer_rpc(struct srv_call *c)
{
	const Vmsim__V1__ExerciseAnswerRequest *req = (const void *)c->req;
	enum exercise_topic t = EX_BUDDY_ALLOC;
	if (topic_of(c, req->topic, &t))
		return;
	if (!req->seed) {
		rpc_fail(c, "invalid_argument",
		         "seed is required: answer the exercise ExerciseNew "
		         "gave (its seed is in the reply)");
		return;
	}
	struct exercise ex;
	if (make(c, t, req->seed, &ex))
		return;
	struct exercise_verdict v;
	char err[256];
	enum vm_err e = exercise_check(&ex, req->answer, &v, err, sizeof(err));
	if (e) {
		rpc_fail_vm(c, e, err);
	} else {
		Vmsim__V1__ExerciseVerdict resp = VMSIM__V1__EXERCISE_VERDICT__INIT;
		resp.correct = v.correct;
		resp.right = v.right;
		resp.total = v.total;
		resp.feedback = v.feedback.buf ? v.feedback.buf : "";
		rpc_reply(c, &resp.base);
		exercise_verdict_release(&v);
	}
	exercise_release(&ex);
}

void exercise_solve_rpc(struct srv_call *c)
{
	const Vmsim__V1__ExerciseSolveRequest *req = (const void *)c->req;
	enum exercise_topic t = EX_BUDDY_ALLOC;
	if (topic_of(c, req->topic, &t))
		return;
	if (!req->seed) {
		rpc_fail(c, "invalid_argument",
		         "seed is required: solve the exercise you were given");
		return;
	}
	struct exercise ex;
	if (make(c, t, req->seed, &ex))
		return;
	reply_exercise(c, &ex, ex.solution.buf ? ex.solution.buf : "");
	exercise_release(&ex);
}
