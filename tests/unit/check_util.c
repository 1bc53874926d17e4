#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "buf.h"
#include "util.h"

START_TEST(test_parse_u64)
{
	uint64_t v;

	ck_assert_int_eq(parse_u64("42", 0, 100, &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(parse_u64("", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("-1", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(parse_u64(" 1", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("12x", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("101", 0, 100, &v), -ERANGE);
	ck_assert_int_eq(parse_u64("99999999999999999999999", 0, UINT64_MAX,
	    &v), -ERANGE);
}
END_TEST

START_TEST(test_durations)
{
	uint64_t v;

	ck_assert_int_eq(parse_duration_ms("250ms", &v), 0);
	ck_assert_uint_eq(v, 250);
	ck_assert_int_eq(parse_duration_ms("2s", &v), 0);
	ck_assert_uint_eq(v, 2000);
	ck_assert_int_eq(parse_duration_ms("3m", &v), 0);
	ck_assert_uint_eq(v, 180000);
	ck_assert_int_eq(parse_duration_ms("1h", &v), 0);
	ck_assert_uint_eq(v, 3600000);
	ck_assert_int_eq(parse_duration_ms("15", &v), 0);
	ck_assert_uint_eq(v, 15);
	ck_assert_int_eq(parse_duration_ms("2 s", &v), 0);
	ck_assert_int_eq(parse_duration_ms("2sec", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ms("s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ms("1.5s", &v), -EINVAL);
}
END_TEST

START_TEST(test_sizes)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("64KiB", &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(parse_size("32MiB", &v), 0);
	ck_assert_uint_eq(v, 32u << 20);
	ck_assert_int_eq(parse_size("512", &v), 0);
	ck_assert_uint_eq(v, 512);
	ck_assert_int_eq(parse_size("1TiB", &v), -EINVAL);
	ck_assert_int_eq(parse_size("99999999999999999GiB", &v), -ERANGE);
}
END_TEST

START_TEST(test_globs_and_hosts)
{
	ck_assert(glob_match("gpt-4*", "gpt-4o-mini"));
	ck_assert(glob_match("*", ""));
	ck_assert(glob_match("a*b*c", "aXXbYYc"));
	ck_assert(!glob_match("a*b*c", "aXXbYY"));
	ck_assert(!glob_match("gpt-4", "gpt-4o"));
	ck_assert(host_match("api.openai.com", "API.OpenAI.com", 14));
	ck_assert(!host_match("api.openai.com", "api.openai.co", 13));
	ck_assert(host_match("*.azure.com", "x.openai.azure.com", 18));
	ck_assert(!host_match("*.azure.com", "azure.com", 9));
	ck_assert(!host_match("*.azure.com", "evilazure.com", 13));
}
END_TEST

START_TEST(test_buf_cap)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_add(&b, "12345", 5), 0);
	ck_assert_int_eq(buf_add(&b, "6789", 4), -E2BIG);
	ck_assert_uint_eq(b.len, 5);	/* unchanged by the failed add */
	ck_assert_str_eq(b.data, "12345");
	buf_consume(&b, 2);
	ck_assert_uint_eq(buf_pending(&b), 3);
	ck_assert_int_eq(buf_printf(&b, "%d", 123), 0);
	ck_assert_int_eq(buf_printf(&b, "%d", 1), -E2BIG);
	buf_free(&b);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_u64);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_globs_and_hosts);
	tcase_add_test(tc, test_buf_cap);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
