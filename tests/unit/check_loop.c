#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "loop.h"
#include "util.h"

static int fired;

static void
on_timer(struct timer *t)
{
	(void)t;
	fired++;
}

/* A timer armed for now, after the clock has moved past the loop's
 * wake-up time, is due: the next turn must not sleep.  (It used to
 * become epoll_wait(1): 1 ms on about 1.5% of calls at concurrency 1,
 * libcurl arming 0 ms timers as it goes.) */
START_TEST(test_zero_timer_after_clock_moved)
{
	struct loop *l = loop_new();
	struct timer t;

	ck_assert_ptr_nonnull(l);
	timer_init(&t, on_timer, NULL);
	ck_assert_int_ge(loop_run_once(l, 0), 0);	/* loop_now: now */
	while (now_mono_ms() <= loop_now(l))
		;				/* at most 1 ms */
	timer_set(l, &t, 0);
	ck_assert_int_eq(loop_next_timeout(l), 0);
	fired = 0;
	ck_assert_int_ge(loop_run_once(l, -1), 0);
	ck_assert_int_eq(fired, 1);
	loop_free(l);
}
END_TEST

START_TEST(test_later_timer_waits)
{
	struct loop *l = loop_new();
	struct timer t;
	int w;

	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(loop_next_timeout(l), -1);
	timer_init(&t, on_timer, NULL);
	timer_set(l, &t, 5000);
	w = loop_next_timeout(l);
	ck_assert_int_gt(w, 4000);
	ck_assert_int_le(w, 5000);
	loop_free(l);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("timers");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_zero_timer_after_clock_moved);
	tcase_add_test(tc, test_later_timer_waits);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
