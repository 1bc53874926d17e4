#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "latency.h"

static struct latency lat;

static void
setup(void)
{
	latency_init(&lat);
}

START_TEST(test_nearest_rank_1_to_100)
{
	uint32_t v;
	unsigned i;

	/* 1..100 added out of order: the answer must not depend on it. */
	for (i = 0; i < 100; i++)
		latency_add(&lat, 1000, (i * 37) % 100 + 1, 1);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 1000, 0, 50, &v), 100);
	ck_assert_uint_eq(v, 50);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 1000, 0, 95, &v), 100);
	ck_assert_uint_eq(v, 95);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 1000, 0, 100, &v), 100);
	ck_assert_uint_eq(v, 100);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 1000, 0, 1, &v), 100);
	ck_assert_uint_eq(v, 1);
}
END_TEST

START_TEST(test_nearest_rank_small_set)
{
	/* The textbook set: nearest rank picks a sample, never interpolates. */
	static const uint32_t set[] = { 40, 15, 50, 35, 20 };
	static const struct { int pct; uint32_t want; } cases[] = {
		{ 1, 15 }, { 5, 15 }, { 20, 15 }, { 21, 20 }, { 30, 20 },
		{ 40, 20 }, { 50, 35 }, { 80, 40 }, { 95, 50 }, { 100, 50 },
	};
	uint32_t v;
	unsigned i;

	for (i = 0; i < 5; i++)
		latency_add(&lat, 10, 1, set[i]);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 0;
		ck_assert_uint_eq(latency_total_pct(&lat, 10, 0,
		    cases[i].pct, &v), 5);
		ck_assert_msg(v == cases[i].want, "p%d: got %u, want %u",
		    cases[i].pct, v, cases[i].want);
	}
}
END_TEST

START_TEST(test_single_sample)
{
	uint32_t v;

	latency_add(&lat, 10, 300, 900);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 10, 0, 1, &v), 1);
	ck_assert_uint_eq(v, 300);
	ck_assert_uint_eq(latency_total_pct(&lat, 10, 0, 100, &v), 1);
	ck_assert_uint_eq(v, 900);
}
END_TEST

START_TEST(test_ring_keeps_newest)
{
	uint32_t v;
	unsigned i;

	/* 200 samples: only the last 128 (totals 72..199) remain. */
	for (i = 0; i < 200; i++)
		latency_add(&lat, 1000 + i, i, i);
	ck_assert_uint_eq(latency_total_pct(&lat, 2000, 0, 1, &v),
	    LATENCY_SAMPLES);
	ck_assert_uint_eq(v, 73);	/* rank ceil(1.28) = 2 of 72..199 */
	ck_assert_uint_eq(latency_total_pct(&lat, 2000, 0, 100, &v),
	    LATENCY_SAMPLES);
	ck_assert_uint_eq(v, 199);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 2000, 0, 50, &v),
	    LATENCY_SAMPLES);
	ck_assert_uint_eq(v, 72 + 63);	/* rank 64 */
}
END_TEST

START_TEST(test_window_excludes_old)
{
	uint32_t v;
	unsigned i;

	/* A slow spell long ago, then fast answers. */
	for (i = 0; i < 50; i++)
		latency_add(&lat, 1000, 9000, 30000);
	for (i = 0; i < 10; i++)
		latency_add(&lat, 60000 + i, 100 + i, 500);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 61000, 10000, 95, &v), 10);
	ck_assert_uint_eq(v, 109);
	ck_assert_uint_eq(latency_total_pct(&lat, 61000, 10000, 100, &v), 10);
	ck_assert_uint_eq(v, 500);
	/* Without a window the old spell dominates. */
	ck_assert_uint_eq(latency_ttft_pct(&lat, 61000, 0, 95, &v), 60);
	ck_assert_uint_eq(v, 9000);
	/* "Newer than now - window": a sample exactly window old is out. */
	ck_assert_uint_eq(latency_ttft_pct(&lat, 70000, 10000, 50, &v), 9);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 70000, 10001, 50, &v), 10);
	/* A sample stamped after now (a clock read early) still counts. */
	ck_assert_uint_eq(latency_ttft_pct(&lat, 59000, 1000, 50, &v), 10);
	/* A huge window must not wrap around. */
	ck_assert_uint_eq(latency_ttft_pct(&lat, 61000, UINT64_MAX, 50, &v),
	    60);
}
END_TEST

START_TEST(test_none_ttft)
{
	uint32_t v;

	latency_add(&lat, 10, 200, 1000);
	latency_add(&lat, 11, LATENCY_NONE, 30000);	/* failed, no token */
	latency_add(&lat, 12, 400, 2000);
	ck_assert_uint_eq(latency_ttft_pct(&lat, 20, 0, 100, &v), 2);
	ck_assert_uint_eq(v, 400);
	ck_assert_uint_eq(latency_total_pct(&lat, 20, 0, 100, &v), 3);
	ck_assert_uint_eq(v, 30000);
	/* Only failures: totals but no ttft at all. */
	latency_init(&lat);
	latency_add(&lat, 10, LATENCY_NONE, 5000);
	v = 7;
	ck_assert_uint_eq(latency_ttft_pct(&lat, 20, 0, 50, &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_uint_eq(latency_total_pct(&lat, 20, 0, 50, &v), 1);
	ck_assert_uint_eq(v, 5000);
}
END_TEST

START_TEST(test_empty_and_bad_pct)
{
	uint32_t v = 7;

	ck_assert_uint_eq(latency_ttft_pct(&lat, 10, 0, 50, &v), 0);
	ck_assert_uint_eq(latency_total_pct(&lat, 10, 0, 50, &v), 0);
	ck_assert_uint_eq(v, 7);
	latency_add(&lat, 10, 1, 1);
	/* All samples out of the window: as good as none. */
	ck_assert_uint_eq(latency_total_pct(&lat, 100, 50, 50, &v), 0);
	ck_assert_uint_eq(latency_total_pct(&lat, 10, 0, 0, &v), 0);
	ck_assert_uint_eq(latency_total_pct(&lat, 10, 0, 101, &v), 0);
	ck_assert_uint_eq(latency_total_pct(&lat, 10, 0, -5, &v), 0);
	ck_assert_uint_eq(v, 7);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("latency");
	TCase *tc = tcase_create("percentiles");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_nearest_rank_1_to_100);
	tcase_add_test(tc, test_nearest_rank_small_set);
	tcase_add_test(tc, test_single_sample);
	tcase_add_test(tc, test_ring_keeps_newest);
	tcase_add_test(tc, test_window_excludes_old);
	tcase_add_test(tc, test_none_ttft);
	tcase_add_test(tc, test_empty_and_bad_pct);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
