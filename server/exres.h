/*
 * Exercise results: every graded CheckExercise is recorded in the store (who, topic, seed,
 * fields right, when) before its verdict is sent, and ExerciseResults sums the records per
 * user and topic for whoever may see those users (admin: all, instructor: their class,
 * student: themselves).
 */
#ifndef VMSIM_SRV_EXRES_H
#define VMSIM_SRV_EXRES_H

#include <stdint.h>

#include "exercise.h"
#include "rpc.h"

/* After CheckExercise has set its reply: records the attempt of the caller (user 0 "open" on
 * an --open server) and defers the call until the record has committed. Does nothing when the
 * call failed, the answer gave no value, or the server keeps no store. */
void exres_record(struct srv_call *c, enum exercise_topic t, uint64_t seed, const char *answer,
                  const struct exercise_verdict *v);

/* Fails c with invalid_argument naming the topics on offer. */
void exres_fail_topic(struct srv_call *c, const char *topic);

/* ExerciseResults; NULL for other methods. */
rpc_handler_fn exres_handler(const ProtobufCMethodDescriptor *md);

#endif
