#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"

/* Every event the framer gives, as "event|data|start-end\n". */
struct log {
	struct buf	 b;
};

static void
on_event(void *arg, const char *event, const char *data, size_t len,
    size_t start, size_t end)
{
	struct log *l = arg;

	ck_assert_uint_eq(strlen(data), len);
	buf_printf(&l->b, "%s|%s|%zu-%zu\n", event, data, start, end);
}

/* Feed text in pieces of the given sizes (0: the rest), and the log. */
static char *
frame(const char *text, size_t len, const size_t *cuts, size_t ncuts,
    size_t cap, bool *oversize)
{
	struct log l;
	struct sse s;
	size_t off = 0, i = 0, n;

	buf_init(&l.b, 1 << 20);
	sse_init(&s, cap, on_event, &l);
	while (off < len) {
		n = i < ncuts && cuts[i] > 0 ? cuts[i] : len - off;
		if (n > len - off)
			n = len - off;
		sse_feed(&s, text + off, n);
		off += n;
		i++;
	}
	ck_assert_uint_eq(s.fed, len);
	if (oversize != NULL)
		*oversize = s.oversize;
	sse_free(&s);
	buf_addstr(&l.b, "");
	return l.b.data;
}

static const char stream[] =
    "\xef\xbb\xbf: a comment\n"
    "event: one\r\n"
    "data: a\r\n"
    "data:b\r\n"
    "\r\n"
    "id: 7\n"
    "retry: 10\n"
    "\n"
    "data: [DONE]\r"
    "\r"
    "event: unfinished\n"
    "data: dropped at the end\n";

static const char want[] =
    "one|a\nb|0-45\n"
    "message|[DONE]|63-77\n";

START_TEST(test_events_and_offsets)
{
	char *got = frame(stream, strlen(stream), NULL, 0, 4096, NULL);

	/* A line ends at its \r, so a \r\n's \n counts in the next
	 * event's bytes.  The id/retry block has no data: no event, but the
	 * next one starts after it.  A partial event at the end is not an
	 * event. */
	ck_assert_str_eq(got, want);
	free(got);
}
END_TEST

START_TEST(test_any_chunking)
{
	size_t len = strlen(stream), cuts[256], i, n;
	unsigned seed = 1;
	char *got;

	for (i = 0; i < len; i++)
		cuts[i] = 1;
	got = frame(stream, len, cuts, len, 4096, NULL);
	ck_assert_str_eq(got, want);
	free(got);
	for (n = 0; n < 300; n++) {
		for (i = 0; i < 16; i++)
			cuts[i] = (size_t)(rand_r(&seed) % 9);
		got = frame(stream, len, cuts, 16, 4096, NULL);
		ck_assert_str_eq(got, want);
		free(got);
	}
}
END_TEST

START_TEST(test_oversize_event_is_skipped)
{
	static const char s[] = "data: 0123456789abcdef\n\ndata: ok\n\n";
	bool over;
	char *got = frame(s, strlen(s), NULL, 0, 8, &over);

	ck_assert(over);
	ck_assert_str_eq(got, "message|ok|24-34\n");
	free(got);
}
END_TEST

START_TEST(test_emit)
{
	struct buf b;
	char *got;

	buf_init(&b, 4096);
	ck_assert_int_eq(sse_emit(&b, "x", "one\ntwo", 7), 0);
	ck_assert_int_eq(sse_emit(&b, NULL, "", 0), 0);
	ck_assert_str_eq(b.data, "event: x\ndata: one\ndata: two\n\ndata: \n\n");
	/* What it writes frames back to what it was given. */
	got = frame(b.data, b.len, NULL, 0, 4096, NULL);
	ck_assert_str_eq(got, "x|one\ntwo|0-30\nmessage||30-38\n");
	free(got);
	buf_free(&b);
	buf_init(&b, 8);
	ck_assert_int_eq(sse_emit(&b, "long", "too long for the cap", 20), -1);
	buf_free(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sse");
	TCase *tc = tcase_create("sse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_events_and_offsets);
	tcase_add_test(tc, test_any_chunking);
	tcase_add_test(tc, test_oversize_event_is_skipped);
	tcase_add_test(tc, test_emit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
