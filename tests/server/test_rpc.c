/* Tests of RPC dispatch (server/rpc.c) and the Twirp codes (server/common/): the method table
 * modules register into, what a call of an unregistered or unknown method answers, decoding
 * failures, the error body, and the one table of code names and HTTP statuses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common.h"
#include "handlers.h"
#include "registry.h"
#include "rpc.h"
#include "vmsim/v1/vmsim.pb-c.h"

struct answer {
	int calls;
	int failed;
	enum twirp_code code;
	char msg[256];
	char out[256];
};

static void on_done(struct srv_call *c, void *arg)
{
	struct answer *a = arg;
	a->calls++;
	a->failed = c->failed;
	a->code = c->err.code;
	snprintf(a->msg, sizeof(a->msg), "%s", c->err.msg);
	if (c->out && c->json)
		snprintf(a->out, sizeof(a->out), "%.*s", (int)c->out_len, c->out);
	rpc_call_free(c);
}

static struct answer call(struct srv *s, const char *method, const char *json)
{
	struct answer a = {0};
	struct srv_identity who = {.peer = "test"};
	rpc_dispatch(s, method, 1, json, strlen(json), &who, on_done, &a);
	assert_int_equal(a.calls, 1);
	return a;
}

static int data_seen;

static void whoami_stub(struct srv_call *c)
{
	data_seen = *(int *)c->data;
	Vmsim__V1__User u = VMSIM__V1__USER__INIT;
	Vmsim__V1__WhoamiResponse resp = VMSIM__V1__WHOAMI_RESPONSE__INIT;
	u.name = "stub";
	resp.user = &u;
	rpc_reply(c, &resp.base);
}

static int setup(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	srv_config_default(&s->cfg);
	s->reg = registry_new();
	char err[256];
	assert_int_equal(rpc_init(err, sizeof(err)), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct srv *s = *state;
	srv_release(s);
	free(s);
	return 0;
}

static void test_twirp_codes(void **state)
{
	(void)state;
	for (int i = 0; i < TWIRP_NR_CODES; i++)
		assert_int_equal(twirp_code_parse(twirp_code_name((enum twirp_code)i)), i);
	assert_string_equal(twirp_code_name(TWIRP_INVALID_ARGUMENT), "invalid_argument");
	assert_string_equal(twirp_code_name(TWIRP_DATALOSS), "dataloss");
	assert_string_equal(twirp_code_name(TWIRP_NR_CODES), "unknown");
	assert_int_equal(twirp_code_parse("no_such_code"), -1);
	assert_int_equal(twirp_code_status(TWIRP_INVALID_ARGUMENT), 400);
	assert_int_equal(twirp_code_status(TWIRP_MALFORMED), 400);
	assert_int_equal(twirp_code_status(TWIRP_UNAUTHENTICATED), 401);
	assert_int_equal(twirp_code_status(TWIRP_PERMISSION_DENIED), 403);
	assert_int_equal(twirp_code_status(TWIRP_NOT_FOUND), 404);
	assert_int_equal(twirp_code_status(TWIRP_BAD_ROUTE), 404);
	assert_int_equal(twirp_code_status(TWIRP_ALREADY_EXISTS), 409);
	assert_int_equal(twirp_code_status(TWIRP_FAILED_PRECONDITION), 412);
	assert_int_equal(twirp_code_status(TWIRP_RESOURCE_EXHAUSTED), 429);
	assert_int_equal(twirp_code_status(TWIRP_INTERNAL), 500);
	assert_int_equal(twirp_code_status(TWIRP_UNIMPLEMENTED), 501);
	assert_int_equal(twirp_code_status(TWIRP_UNAVAILABLE), 503);
	assert_int_equal(twirp_code(VM_ENOMEM), TWIRP_RESOURCE_EXHAUSTED);
	assert_int_equal(twirp_code(VM_EPERM), TWIRP_FAILED_PRECONDITION);
	assert_int_equal(twirp_code(VM_ENOENT), TWIRP_NOT_FOUND);
}

static void test_error_json(void **state)
{
	(void)state;
	struct twirp_err e = {.code = TWIRP_NOT_FOUND, .seq = 7};
	snprintf(e.msg, sizeof(e.msg), "no machine \"m9\"");
	size_t len;
	char *s = twirp_error_json(&e, &len);
	assert_string_equal(s, "{\"code\":\"not_found\",\"msg\":\"no machine \\\"m9\\\"\","
	                       "\"meta\":{\"seq\":\"7\"}}");
	assert_int_equal(len, strlen(s));
	free(s);
}

/* A method nobody registered answers unimplemented; one the service lacks, bad_route. */
static void test_unregistered_and_unknown(void **state)
{
	struct srv *s = *state;
	struct answer a = call(s, "Whoami", "{}");
	assert_true(a.failed);
	assert_int_equal(a.code, TWIRP_UNIMPLEMENTED);
	assert_string_equal(a.msg, "Whoami is not served here");
	a = call(s, "NoSuchMethod", "{}");
	assert_int_equal(a.code, TWIRP_BAD_ROUTE);
	assert_string_equal(a.msg, "no method NoSuchMethod in vmsim.v1.VmSim");
}

/* The handler runs with the data it was registered with; the check names a missing method. */
static void test_register(void **state)
{
	struct srv *s = *state;
	char err[256];
	static int token = 42;
	assert_int_equal(rpc_register(s, "NoSuchMethod", whoami_stub, &token), -1);
	assert_int_equal(rpc_register(s, "Whoami", whoami_stub, &token), 0);
	data_seen = 0;
	struct answer a = call(s, "Whoami", "{}");
	assert_false(a.failed);
	assert_int_equal(data_seen, 42);
	assert_non_null(strstr(a.out, "\"name\":\"stub\""));
	assert_int_equal(rpc_check_methods(s, err, sizeof(err)), -1);
	assert_string_equal(err, "no handler for vmsim.v1.VmSim.CreateMachine");
	assert_int_equal(api_register(s), 0);
	assert_int_equal(rpc_check_methods(s, err, sizeof(err)), -1);
	assert_string_equal(err, "no handler for vmsim.v1.VmSim.ExerciseResults");
	const ProtobufCServiceDescriptor *sd = &vmsim__v1__vm_sim__descriptor;
	for (unsigned i = 0; i < sd->n_methods; i++)
		if (!s->methods[i].fn)
			assert_int_equal(rpc_register(s, sd->methods[i].name, whoami_stub, &token),
			                 0);
	assert_int_equal(rpc_check_methods(s, err, sizeof(err)), 0);
}

/* Decoding fails before any handler runs: malformed JSON, unknown fields, bad UTF-8. */
static void test_decode_failures(void **state)
{
	struct srv *s = *state;
	assert_int_equal(api_register(s), 0);
	struct answer a = call(s, "GetMachine", "{");
	assert_int_equal(a.code, TWIRP_MALFORMED);
	a = call(s, "GetMachine", "{\"machineId\":\"m1\"}");
	assert_int_equal(a.code, TWIRP_NOT_FOUND);
	assert_string_equal(a.msg, "no machine \"m1\" (ListMachines shows the machines)");
	a = call(s, "GetMachine", "{}");
	assert_int_equal(a.code, TWIRP_INVALID_ARGUMENT);
	assert_string_equal(a.msg, "machine_id is required");
}

static struct answer call_pb(struct srv *s, const char *method, const void *body, size_t len)
{
	struct answer a = {0};
	struct srv_identity who = {.peer = "test"};
	rpc_dispatch(s, method, 0, body, len, &who, on_done, &a);
	assert_int_equal(a.calls, 1);
	return a;
}

/* A protobuf string with a NUL byte is refused, as JSON refuses \u0000 (protobuf-c would cut
 * "a\0b" to "a"); a machine is not created under the cut name. */
static void test_protobuf_nul_string(void **state)
{
	struct srv *s = *state;
	assert_int_equal(api_register(s), 0);
	static const uint8_t cut[] = {0x0a, 0x03, 'a', 0x00, 'b'}; /* name = "a\0b" */
	struct answer a = call_pb(s, "CreateMachine", cut, sizeof(cut));
	assert_int_equal(a.code, TWIRP_MALFORMED);
	assert_string_equal(a.msg,
	                    "the body is not a valid protobuf vmsim.v1.CreateMachineRequest: "
	                    "name holds a NUL byte");
	assert_int_equal(registry_count(s->reg), 0);
	static const uint8_t get[] = {0x0a, 0x03, 'm', '1', 0x00}; /* machine_id = "m1\0" */
	a = call_pb(s, "GetMachine", get, sizeof(get));
	assert_int_equal(a.code, TWIRP_MALFORMED);
	assert_string_equal(a.msg, "the body is not a valid protobuf vmsim.v1.GetMachineRequest: "
	                           "machine_id holds a NUL byte");
	struct answer j = call(s, "GetMachine", "{\"machineId\":\"m1\\u0000\"}");
	assert_int_equal(j.code, TWIRP_MALFORMED);
	static const uint8_t fine[] = {0x0a, 0x02, 'm', '1'};
	a = call_pb(s, "GetMachine", fine, sizeof(fine));
	assert_int_equal(a.code, TWIRP_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_twirp_codes),
	    cmocka_unit_test(test_error_json),
	    cmocka_unit_test_setup_teardown(test_unregistered_and_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decode_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_protobuf_nul_string, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
