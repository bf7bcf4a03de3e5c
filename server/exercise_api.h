/* The exercise RPCs (ExerciseTopics/New/Answer/Solve) over core/exercise.c. */
#ifndef VMSIM_SRV_EXERCISE_API_H
#define VMSIM_SRV_EXERCISE_API_H

#include "rpc.h"

void exercise_topics_rpc(struct srv_call *c);
void exercise_new_rpc(struct srv_call *c);
void exercise_answer_rpc(struct srv_call *c);
void exercise_solve_rpc(struct srv_call *c);

#endif
