#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "breaker.h"

static const struct breaker_conf conf = {
	.failures = 3, .ratio_pct = 50, .window_ms = 10000,
	.min_requests = 10, .cooldown_ms = 5000, .probes = 1,
};

START_TEST(test_failures_in_a_row_open)
{
	struct breaker b;

	breaker_init(&b);
	breaker_record(&b, &conf, false, 100);
	breaker_record(&b, &conf, false, 200);
	breaker_record(&b, &conf, true, 300);	/* a success resets the run */
	breaker_record(&b, &conf, false, 400);
	breaker_record(&b, &conf, false, 500);
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	ck_assert(breaker_allow(&b, &conf, 550));
	breaker_record(&b, &conf, false, 600);
	ck_assert_int_eq(b.state, BREAKER_OPEN);
	ck_assert_uint_eq(b.opens, 1);
	/* An open breaker costs no attempt. */
	ck_assert(!breaker_allow(&b, &conf, 700));
	ck_assert_uint_eq(breaker_wait_ms(&b, &conf, 700), 4900);
}
END_TEST

START_TEST(test_ratio_needs_min_requests)
{
	struct breaker_conf c = conf;
	struct breaker b;
	int i;

	c.failures = 0;			/* the ratio rule alone */
	breaker_init(&b);
	/* 4 failures out of 8: 50%, but fewer than 10 requests. */
	for (i = 0; i < 8; i++)
		breaker_record(&b, &c, i % 2 == 0, 1000 + (uint64_t)i);
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	breaker_record(&b, &c, true, 1010);	/* 4 of 9 */
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	breaker_record(&b, &c, false, 1011);	/* 5 of 10: opens */
	ck_assert_int_eq(b.state, BREAKER_OPEN);
}
END_TEST

START_TEST(test_window_slides)
{
	struct breaker_conf c = conf;
	struct breaker b;
	int i;

	c.failures = 0;
	breaker_init(&b);
	/* Nine failures long ago, then successes: the old ones age out. */
	for (i = 0; i < 9; i++)
		breaker_record(&b, &c, false, 1000);
	for (i = 0; i < 10; i++)
		breaker_record(&b, &c, true, 20000 + (uint64_t)i);
	breaker_record(&b, &c, false, 20100);	/* 1 of 11 in the window */
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
}
END_TEST

START_TEST(test_half_open_one_probe)
{
	struct breaker b;

	breaker_init(&b);
	breaker_trip(&b, 0);
	breaker_reset(&b);
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	ck_assert_uint_eq(b.opens, 1);		/* history survives reset */
	breaker_record(&b, &conf, false, 1);
	breaker_record(&b, &conf, false, 2);
	breaker_record(&b, &conf, false, 3);
	ck_assert(!breaker_allow(&b, &conf, 5002));
	ck_assert_int_eq(breaker_state(&b, &conf, 5003), BREAKER_HALF_OPEN);
	ck_assert(breaker_allow(&b, &conf, 5003));	/* the probe */
	ck_assert(!breaker_allow(&b, &conf, 5004));	/* only one */
	ck_assert(!breaker_allow(&b, &conf, 6000));
	breaker_record(&b, &conf, true, 6100);
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	ck_assert(breaker_allow(&b, &conf, 6200));
	ck_assert(breaker_allow(&b, &conf, 6200));
}
END_TEST

START_TEST(test_failed_probe_reopens)
{
	struct breaker b;

	breaker_init(&b);
	breaker_record(&b, &conf, false, 1);
	breaker_record(&b, &conf, false, 2);
	breaker_record(&b, &conf, false, 3);
	ck_assert(breaker_allow(&b, &conf, 5003));
	breaker_record(&b, &conf, false, 5100);
	ck_assert_int_eq(b.state, BREAKER_OPEN);
	ck_assert_uint_eq(b.opens, 2);
	/* Another full cooldown from the failed probe. */
	ck_assert(!breaker_allow(&b, &conf, 10099));
	ck_assert_uint_eq(breaker_wait_ms(&b, &conf, 10099), 1);
	ck_assert(breaker_allow(&b, &conf, 10100));
}
END_TEST

START_TEST(test_silent_probe_released)
{
	struct breaker b;

	breaker_init(&b);
	breaker_record(&b, &conf, false, 1);
	breaker_record(&b, &conf, false, 2);
	breaker_record(&b, &conf, false, 3);
	ck_assert(breaker_allow(&b, &conf, 5003));	/* never answers */
	ck_assert(!breaker_allow(&b, &conf, 10002));
	ck_assert(breaker_allow(&b, &conf, 10003));	/* a new probe */
}
END_TEST

/* A probe whose attempt was cancelled (a hedge's race lost) gives its
 * place back at once. */
START_TEST(test_cancelled_probe_released)
{
	struct breaker b;

	breaker_init(&b);
	breaker_record(&b, &conf, false, 1);
	breaker_record(&b, &conf, false, 2);
	breaker_record(&b, &conf, false, 3);
	ck_assert(breaker_allow(&b, &conf, 5003));
	ck_assert(!breaker_allow(&b, &conf, 5004));
	breaker_unprobe(&b);
	ck_assert(breaker_allow(&b, &conf, 5005));
	ck_assert_int_eq(b.state, BREAKER_HALF_OPEN);
}
END_TEST

START_TEST(test_manual_trip_holds)
{
	struct breaker b;

	breaker_init(&b);
	breaker_trip(&b, 100);
	ck_assert(!breaker_allow(&b, &conf, 100));
	ck_assert(!breaker_allow(&b, &conf, 1000000));	/* no cooldown */
	ck_assert_int_eq(breaker_state(&b, &conf, 1000000), BREAKER_OPEN);
	ck_assert(breaker_wait_ms(&b, &conf, 100) == UINT64_MAX);
	breaker_reset(&b);
	ck_assert(breaker_allow(&b, &conf, 1000001));
	ck_assert_uint_eq(breaker_wait_ms(&b, &conf, 1000001), 0);
}
END_TEST

/* The network view opens at once, holds past any cooldown, and lets one
 * probe through as soon as the way is back. */
START_TEST(test_unreachable_holds_until_back)
{
	struct breaker b;

	breaker_init(&b);
	ck_assert(breaker_allow(&b, &conf, 10));
	breaker_unreachable(&b, 100);
	ck_assert_int_eq(breaker_state(&b, &conf, 100), BREAKER_OPEN);
	ck_assert(!breaker_allow(&b, &conf, 100));
	ck_assert(!breaker_allow(&b, &conf, 1000000));	/* no cooldown */
	ck_assert(breaker_wait_ms(&b, &conf, 100) == UINT64_MAX);
	ck_assert_uint_eq(b.opens, 1);
	breaker_unreachable(&b, 200);			/* said twice */
	ck_assert_uint_eq(b.opens, 1);
	breaker_record(&b, &conf, false, 300);		/* a late failure */
	breaker_reachable(&b);
	ck_assert_int_eq(breaker_state(&b, &conf, 1000001), BREAKER_HALF_OPEN);
	ck_assert(breaker_allow(&b, &conf, 1000001));	/* the probe */
	ck_assert(!breaker_allow(&b, &conf, 1000002));	/* only one */
	breaker_record(&b, &conf, true, 1000003);
	ck_assert_int_eq(breaker_state(&b, &conf, 1000003), BREAKER_CLOSED);
	ck_assert(breaker_allow(&b, &conf, 1000004));
}
END_TEST

/* Already open by failures: stays open, and stays past the cooldown. A
 * breaker tripped by hand stays tripped when the way comes back. */
START_TEST(test_unreachable_over_open_and_manual)
{
	struct breaker b;
	unsigned i;

	breaker_init(&b);
	for (i = 0; i < conf.failures; i++)
		breaker_record(&b, &conf, false, 10);
	ck_assert_int_eq(b.state, BREAKER_OPEN);
	breaker_unreachable(&b, 20);
	ck_assert_uint_eq(b.opens, 1);
	ck_assert_int_eq(breaker_state(&b, &conf, 1000000), BREAKER_OPEN);
	breaker_reachable(&b);
	ck_assert_int_eq(breaker_state(&b, &conf, 1000000), BREAKER_HALF_OPEN);

	breaker_init(&b);
	breaker_trip(&b, 0);
	breaker_unreachable(&b, 1);
	breaker_reachable(&b);
	ck_assert_int_eq(breaker_state(&b, &conf, 1000000), BREAKER_OPEN);
	breaker_reset(&b);
	ck_assert(!b.unreachable);
	ck_assert(breaker_allow(&b, &conf, 1000001));
}
END_TEST

START_TEST(test_late_results_ignored)
{
	struct breaker b;

	breaker_init(&b);
	breaker_trip(&b, 0);
	breaker_record(&b, &conf, true, 1);	/* began before the trip */
	ck_assert_int_eq(b.state, BREAKER_OPEN);
}
END_TEST

/* ---- in a fleet (daemon/shared.c) ---- */

START_TEST(test_fleet_open_held_until_lease)
{
	struct breaker b;

	breaker_init(&b);
	/* Another host opened it; it half-opens there in 3 s. */
	ck_assert(breaker_fleet_open(&b, &conf, 3000, 10000));
	ck_assert_int_eq(b.state, BREAKER_OPEN);
	ck_assert(b.fleet_remote && b.fleet_hold);
	ck_assert_uint_eq(breaker_wait_ms(&b, &conf, 10000), 3000);
	ck_assert(!breaker_allow(&b, &conf, 10000));
	/* Held: no half-open on time while another host may probe. */
	ck_assert_int_eq(breaker_state(&b, &conf, 13000), BREAKER_OPEN);
	ck_assert(!breaker_allow(&b, &conf, 19000));
	/* The lease is ours: one probe. */
	b.fleet_hold = false;
	ck_assert_int_eq(breaker_state(&b, &conf, 19000), BREAKER_HALF_OPEN);
	ck_assert(breaker_allow(&b, &conf, 19000));
	ck_assert(!breaker_allow(&b, &conf, 19001));
	breaker_record(&b, &conf, true, 19100);
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	ck_assert(!b.fleet_remote);
}
END_TEST

START_TEST(test_fleet_close_and_limits)
{
	struct breaker b;

	breaker_init(&b);
	ck_assert(breaker_fleet_open(&b, &conf, 60000, 10000));
	/* Never longer than our own cooldown. */
	ck_assert_uint_eq(breaker_wait_ms(&b, &conf, 10000), 5000);
	/* Open already: a later open pushes it on, reports no change. */
	ck_assert(!breaker_fleet_open(&b, &conf, 5000, 13000));
	ck_assert_uint_eq(breaker_wait_ms(&b, &conf, 13000), 5000);
	ck_assert(breaker_fleet_close(&b));
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	ck_assert(!b.fleet_hold && !b.fleet_remote);
	ck_assert(!breaker_fleet_close(&b));	/* closed already */
	/* By hand, or the network view: the fleet leaves it alone. */
	breaker_trip(&b, 4000);
	ck_assert(!breaker_fleet_open(&b, &conf, 1000, 4000));
	ck_assert(!breaker_fleet_close(&b));
	ck_assert_int_eq(b.state, BREAKER_OPEN);
	breaker_reset(&b);
	breaker_unreachable(&b, 5000);
	ck_assert(!breaker_fleet_close(&b));
	ck_assert_int_eq(b.state, BREAKER_OPEN);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("breaker");
	TCase *tc = tcase_create("transitions");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_failures_in_a_row_open);
	tcase_add_test(tc, test_ratio_needs_min_requests);
	tcase_add_test(tc, test_window_slides);
	tcase_add_test(tc, test_half_open_one_probe);
	tcase_add_test(tc, test_cancelled_probe_released);
	tcase_add_test(tc, test_failed_probe_reopens);
	tcase_add_test(tc, test_silent_probe_released);
	tcase_add_test(tc, test_manual_trip_holds);
	tcase_add_test(tc, test_late_results_ignored);
	tcase_add_test(tc, test_unreachable_holds_until_back);
	tcase_add_test(tc, test_unreachable_over_open_and_manual);
	tcase_add_test(tc, test_fleet_open_held_until_lease);
	tcase_add_test(tc, test_fleet_close_and_limits);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
