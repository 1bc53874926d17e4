#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "preamble.h"

static enum preamble_state
scan(struct origin *o, const char *s, size_t *used)
{
	return preamble_scan(o, s, strlen(s), used);
}

START_TEST(test_connect_then_http)
{
	struct origin o = { 0 };
	const char *s = "LLMFB/1 CONNECT API.OpenAI.com 443\r\nPOST / HTTP/1.1\r\n";
	char url[300];
	size_t used;

	ck_assert_int_eq(scan(&o, s, &used), PREAMBLE_DONE);
	ck_assert_str_eq(s + used, "POST / HTTP/1.1\r\n");
	ck_assert_str_eq(o.host, "api.openai.com");
	ck_assert_int_eq(o.port, 443);
	origin_format(&o, url, sizeof(url));
	ck_assert_str_eq(url, "http://api.openai.com:443");
}
END_TEST

START_TEST(test_tls_marker)
{
	struct origin o = { 0 };
	char url[300];
	size_t used;

	ck_assert_int_eq(scan(&o, "LLMFB/1 CONNECT h.test 8443\r\n"
	    "LLMFB/1 TLS\r\nGET", &used), PREAMBLE_DONE);
	ck_assert(o.tls);
	origin_format(&o, url, sizeof(url));
	ck_assert_str_eq(url, "https://h.test:8443");
}
END_TEST

START_TEST(test_sent_stamp)
{
	struct origin o = { 0 };
	size_t used;

	ck_assert_int_eq(scan(&o, "LLMFB/1 CONNECT h.test 443\r\n"
	    "LLMFB/1 TLS\r\nLLMFB/1 SENT 123456789\r\nPOST", &used),
	    PREAMBLE_DONE);
	ck_assert(o.tls);
	ck_assert_uint_eq(o.sent_us, 123456789);
}
END_TEST

/* The shim asks to be admitted: after CONNECT, or alone (a probe); once. */
START_TEST(test_admit)
{
	struct origin o = { 0 };
	size_t used;

	ck_assert_int_eq(scan(&o, "LLMFB/1 CONNECT h.test 443\r\n"
	    "LLMFB/1 ADMIT\r\n", &used), PREAMBLE_MORE);
	ck_assert(o.admit);
	ck_assert_str_eq(o.host, "h.test");
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(scan(&o, "LLMFB/1 ADMIT\r\n", &used), PREAMBLE_MORE);
	ck_assert(o.admit);
	ck_assert_uint_eq(used, 15);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(scan(&o, "LLMFB/1 ADMIT\r\nLLMFB/1 ADMIT\r\n",
	    &used), PREAMBLE_BAD);
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(scan(&o, "LLMFB/1 ADMITX\r\n", &used), PREAMBLE_BAD);
}
END_TEST

START_TEST(test_needs_more)
{
	struct origin o = { 0 };
	size_t used;

	/* Nothing yet, a partial magic, a partial line: wait. */
	ck_assert_int_eq(scan(&o, "", &used), PREAMBLE_MORE);
	ck_assert_int_eq(scan(&o, "LLMF", &used), PREAMBLE_MORE);
	ck_assert_int_eq(used, 0);
	ck_assert_int_eq(scan(&o, "LLMFB/1 CONNECT a.test 4", &used),
	    PREAMBLE_MORE);
	ck_assert_int_eq(used, 0);
	/* A whole CONNECT line and nothing after it: TLS may follow. */
	ck_assert_int_eq(scan(&o, "LLMFB/1 CONNECT a.test 443\r\n", &used),
	    PREAMBLE_MORE);
	ck_assert_int_eq(used, 28);
	ck_assert_str_eq(o.host, "a.test");
}
END_TEST

START_TEST(test_no_preamble)
{
	struct origin o = { 0 };
	char url[8];
	size_t used;

	ck_assert_int_eq(scan(&o, "POST /v1/chat/completions HTTP/1.1\r\n",
	    &used), PREAMBLE_DONE);
	ck_assert_int_eq(used, 0);
	ck_assert_int_eq(scan(&o, "L", &used), PREAMBLE_MORE);
	ck_assert_int_eq(scan(&o, "LINK / HTTP/1.1\r\n", &used),
	    PREAMBLE_DONE);
	origin_format(&o, url, sizeof(url));
	ck_assert_str_eq(url, "");
}
END_TEST

START_TEST(test_bad_lines)
{
	static const char *bad[] = {
		"LLMFB/1 TLS\r\n",			/* before CONNECT */
		"LLMFB/1 CONNECT a.test\r\n",		/* no port */
		"LLMFB/1 CONNECT a.test 0\r\n",
		"LLMFB/1 CONNECT a.test 65536\r\n",
		"LLMFB/1 CONNECT a.test 44x\r\n",
		"LLMFB/1 CONNECT  443\r\n",		/* no host */
		"LLMFB/1 CONNECT a/b 443\r\n",
		"LLMFB/1 CONNECT a.test 443\n",		/* bare LF */
		"LLMFB/1 CONNECT a.test 443\r\nLLMFB/1 CONNECT b.test 1\r\n",
		"LLMFB/1 CONNECT a.test 443\r\nLLMFB/1 TLS\r\nLLMFB/1 TLS\r\n",
		"LLMFB/1 HELLO\r\n",
		"LLMFB/1 SENT 5\r\n",			/* before CONNECT */
		"LLMFB/1 CONNECT a.test 443\r\nLLMFB/1 SENT\r\n",
		"LLMFB/1 CONNECT a.test 443\r\nLLMFB/1 SENT 0\r\n",
		"LLMFB/1 CONNECT a.test 443\r\nLLMFB/1 SENT 12x\r\n",
		"LLMFB/1 CONNECT a.test 443\r\nLLMFB/1 SENT 1\r\n"
		    "LLMFB/1 SENT 2\r\n",
	};
	char long_line[PREAMBLE_LINE_MAX + 40];
	struct origin o;
	size_t i, used;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&o, 0, sizeof(o));
		ck_assert_msg(scan(&o, bad[i], &used) == PREAMBLE_BAD,
		    "accepted: %s", bad[i]);
	}
	/* A line that never ends is refused once past the longest. */
	memset(long_line, 'a', sizeof(long_line) - 1);
	memcpy(long_line, PREAMBLE_CONNECT " ", sizeof(PREAMBLE_CONNECT));
	long_line[sizeof(long_line) - 1] = '\0';
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(scan(&o, long_line, &used), PREAMBLE_BAD);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("preamble");
	TCase *tc = tcase_create("scan");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_connect_then_http);
	tcase_add_test(tc, test_tls_marker);
	tcase_add_test(tc, test_needs_more);
	tcase_add_test(tc, test_admit);
	tcase_add_test(tc, test_sent_stamp);
	tcase_add_test(tc, test_no_preamble);
	tcase_add_test(tc, test_bad_lines);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
