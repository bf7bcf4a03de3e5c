/* strbuf: the text buffer every /proc view is built in. */
#include "helpers.h"

#include <stdlib.h>

static void test_detach_empty_is_terminated(void **state)
{
	(void)state;
	struct strbuf sb;
	strbuf_init(&sb);
	size_t len = 99;
	char *s = strbuf_detach(&sb, &len);
	assert_int_equal(len, 0);
	assert_string_equal(s, "");
	assert_null(sb.buf);
	free(s);
}

static void test_addf_grows_past_first_block(void **state)
{
	(void)state;
	struct strbuf sb;
	strbuf_init(&sb);
	for (int i = 0; i < 1000; i++)
		strbuf_addf(&sb, "%04d,", i);
	assert_int_equal(sb.len, 5000);
	assert_memory_equal(sb.buf + 4995, "0999,", 5);
	assert_int_equal(sb.buf[5000], '\0');
	strbuf_reset(&sb);
	assert_string_equal(sb.buf, "");
	strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detach_empty_is_terminated),
	    cmocka_unit_test(test_addf_grows_past_first_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
