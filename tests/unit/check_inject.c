#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "inject.h"

static struct faults fs;

static void
teardown(void)
{
	faults_clear(&fs);
	memset(&fs, 0, sizeof(fs));
}

START_TEST(test_parse)
{
	static const struct {
		const char	*spec;
		int		 ok;
		enum fault_kind	 kind;
		uint32_t	 arg;
	} cases[] = {
		{ "status=503", 0, FAULT_STATUS, 503 },
		{ "status=429", 0, FAULT_STATUS, 429 },
		{ "delay=2500", 0, FAULT_DELAY, 2500 },
		{ "cut=0", 0, FAULT_CUT, 0 },
		{ "cut=100", 0, FAULT_CUT, 100 },
		{ "refusal", 0, FAULT_REFUSAL, 0 },
		{ "status=99", -1, 0, 0 },
		{ "status=600", -1, 0, 0 },
		{ "status=", -1, 0, 0 },
		{ "status", -1, 0, 0 },
		{ "delay=0", -1, 0, 0 },
		{ "delay=-1", -1, 0, 0 },
		{ "cut=x", -1, 0, 0 },
		{ "refusal=1", -1, 0, 0 },
		{ "statuses=500", -1, 0, 0 },
		{ "", -1, 0, 0 },
	};
	const char *why = NULL;
	enum fault_kind k;
	uint32_t arg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		ck_assert_msg(fault_parse(cases[i].spec, &k, &arg, &why) ==
		    cases[i].ok, "%s", cases[i].spec);
		if (cases[i].ok == 0) {
			ck_assert_int_eq(k, cases[i].kind);
			ck_assert_uint_eq(arg, cases[i].arg);
		} else {
			ck_assert_ptr_nonnull(why);
		}
	}
}
END_TEST

START_TEST(test_name_round_trip)
{
	struct fault *f = faults_add(&fs, "a", FAULT_DELAY, 750, NULL, NULL,
	    1000, 0);
	char name[FAULT_NAME_MAX];
	enum fault_kind k;
	uint32_t arg;
	const char *why;

	fault_name(f, name, sizeof(name));
	ck_assert_str_eq(name, "delay=750");
	ck_assert_int_eq(fault_parse(name, &k, &arg, &why), 0);
	ck_assert_int_eq(k, FAULT_DELAY);
	ck_assert_uint_eq(arg, 750);
}
END_TEST

START_TEST(test_match_scope)
{
	faults_add(&fs, "a", FAULT_STATUS, 503, "chat", NULL, 1000, 100);
	faults_add(&fs, "a", FAULT_STATUS, 500, NULL, "python3", 1000, 100);

	/* Route-scoped first, then the program-scoped one. */
	ck_assert_uint_eq(faults_match(&fs, "a", "chat", "curl", "/usr/bin/curl",
	    "", 7, 500)->arg, 503);
	ck_assert_uint_eq(faults_match(&fs, "a", "other", "python3",
	    "/usr/bin/python3.11", "", 7, 500)->arg, 500);
	ck_assert_ptr_null(faults_match(&fs, "a", "other", "curl",
	    "/usr/bin/curl", "", 7, 500));
	ck_assert_ptr_null(faults_match(&fs, "b", "chat", "curl",
	    "/usr/bin/curl", "", 7, 500));
	/* Expired: never matches, and goes. */
	ck_assert_ptr_null(faults_match(&fs, "a", "chat", "curl",
	    "/usr/bin/curl", "", 7, 1100));
	ck_assert_uint_eq(faults_expire(&fs, 1099, NULL), 0);
	ck_assert_uint_eq(faults_expire(&fs, 1100, NULL), 2);
	ck_assert_uint_eq(fs.n, 0);
}
END_TEST

START_TEST(test_caller_is)
{
	ck_assert(caller_is("python3", "python3", "/usr/bin/python3.11", "",
	    42));
	ck_assert(caller_is("python3.11", "python3", "/usr/bin/python3.11",
	    "", 42));
	ck_assert(caller_is("/usr/bin/python3.11", "python3",
	    "/usr/bin/python3.11", "", 42));
	ck_assert(caller_is("app.service", "python3", "", "app.service", 42));
	ck_assert(caller_is("42", "python3", "", "", 42));
	ck_assert(!caller_is("4", "python3", "", "", 42));
	ck_assert(!caller_is("", "python3", "", "", 0));
	ck_assert(!caller_is("curl", "python3", "/usr/bin/python3.11", "",
	    42));
}
END_TEST

START_TEST(test_remove_and_next_end)
{
	struct fault *a, *b;

	a = faults_add(&fs, "a", FAULT_CUT, 10, NULL, NULL, 5000, 0);
	b = faults_add(&fs, "b", FAULT_CUT, 10, NULL, NULL, 2000, 0);
	ck_assert_uint_ne(a->id, b->id);
	ck_assert_uint_eq(faults_next_end(&fs), 2000);
	ck_assert_uint_eq(faults_remove(&fs, b->id), 1);
	ck_assert_uint_eq(faults_next_end(&fs), 5000);
	ck_assert_uint_eq(faults_remove(&fs, 999), 0);
	ck_assert_uint_eq(faults_remove(&fs, 0), 1);
	ck_assert_uint_eq(faults_next_end(&fs), 0);
}
END_TEST

START_TEST(test_full)
{
	size_t i;

	for (i = 0; i < FAULTS_MAX; i++)
		ck_assert_ptr_nonnull(faults_add(&fs, "a", FAULT_CUT, 1, NULL,
		    NULL, 1000, 0));
	ck_assert_ptr_null(faults_add(&fs, "a", FAULT_CUT, 1, NULL, NULL,
	    1000, 0));
}
END_TEST

/* What the answer reader makes of a fault's answer, as llmfbd reads a
 * provider's. */
static enum answer_verdict
read_answer(enum dialect d, bool stream, const char *body,
    const char *ctype, bool want_stream)
{
	struct answer a;
	struct answer_want w = { 0 };
	enum answer_verdict v;

	ck_assert_int_eq(strcmp(ctype, "text/event-stream") == 0,
	    want_stream);
	answer_init(&a, d, stream);
	answer_feed(&a, body, strlen(body));
	if (stream)
		answer_end(&a);
	else
		answer_end_body(&a, body, strlen(body));
	v = answer_verdict(&a, &w);
	answer_free(&a);
	return v;
}

START_TEST(test_refusal_answers)
{
	struct fault f = { .kind = FAULT_REFUSAL };
	enum dialect d = (enum dialect)(_i / 2);
	bool stream = _i % 2;
	const char *ctype;
	char *body = fault_answer(&f, d, stream, "m", &ctype);

	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(read_answer(d, stream, body, ctype, stream),
	    AV_REFUSAL);
	free(body);
}
END_TEST

START_TEST(test_status_answers)
{
	struct fault f = { .kind = FAULT_STATUS, .arg = 429 };
	const char *ctype;
	char *body;

	body = fault_answer(&f, DIALECT_OPENAI, true, "m", &ctype);
	ck_assert_str_eq(ctype, "application/json");
	ck_assert_ptr_nonnull(strstr(body, "\"rate_limit_exceeded\""));
	ck_assert_ptr_nonnull(strstr(body, "\"rate_limit_error\""));
	free(body);
	body = fault_answer(&f, DIALECT_ANTHROPIC, false, "m", &ctype);
	ck_assert_ptr_nonnull(strstr(body, "\"type\":\"error\""));
	ck_assert_ptr_nonnull(strstr(body, "\"rate_limit_error\""));
	free(body);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("inject");
	TCase *tc = tcase_create("faults");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_name_round_trip);
	tcase_add_test(tc, test_match_scope);
	tcase_add_test(tc, test_caller_is);
	tcase_add_test(tc, test_remove_and_next_end);
	tcase_add_test(tc, test_full);
	tcase_add_loop_test(tc, test_refusal_answers, 0, 4);
	tcase_add_test(tc, test_status_answers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
