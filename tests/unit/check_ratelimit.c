#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "ratelimit.h"

/* 2026-01-01T00:00:00Z */
#define NEW_YEAR_MS	1767225600000ULL

START_TEST(test_durations_and_times)
{
	ck_assert_int_eq(go_duration_ms("6m0s", 4), 360000);
	ck_assert_int_eq(go_duration_ms("1h2m3.5s", 8), 3723500);
	ck_assert_int_eq(go_duration_ms("20ms", 4), 20);
	ck_assert_int_eq(go_duration_ms("1.5s", 4), 1500);
	ck_assert_int_eq(go_duration_ms("12", 2), -1);
	ck_assert_int_eq(go_duration_ms("s", 1), -1);
	ck_assert_int_eq(go_duration_ms("", 0), -1);
	ck_assert_uint_eq(rfc3339_ms("2026-01-01T00:00:00Z", 20), NEW_YEAR_MS);
	ck_assert_uint_eq(rfc3339_ms("2026-01-01T00:00:01.250Z", 24),
	    NEW_YEAR_MS + 1250);
	ck_assert_uint_eq(rfc3339_ms("2026-01-01T01:00:00+01:00", 25),
	    NEW_YEAR_MS);
	ck_assert_uint_eq(rfc3339_ms("2026-01-01 00:00:00", 19), 0);
	ck_assert_uint_eq(rfc3339_ms("2026-01-01T00:00:00", 19), 0);
}
END_TEST

/* OpenAI's headers, as its API sends them. */
START_TEST(test_openai_headers)
{
	static const char h[] =
	    "HTTP/1.1 200 OK\r\n"
	    "x-ratelimit-limit-requests: 5000\r\n"
	    "X-RateLimit-Remaining-Requests: 0\r\n"
	    "x-ratelimit-reset-requests: 12ms\r\n"
	    "x-ratelimit-limit-tokens: 160000\r\n"
	    "x-ratelimit-remaining-tokens: 159976\r\n"
	    "x-ratelimit-reset-tokens: 6m0s\r\n"
	    "x-ratelimit-remaining-tokens_usage_based: 1\r\n"
	    "content-type: application/json\r\n";
	struct rl_state st;
	uint64_t until, now = NEW_YEAR_MS;

	ratelimit_init(&st);
	ck_assert_int_eq(ratelimit_update(&st, h, strlen(h), now), 6);
	ck_assert_int_eq(st.w[RL_REQUESTS].limit, 5000);
	ck_assert_int_eq(st.w[RL_REQUESTS].remaining, 0);
	ck_assert_uint_eq(st.w[RL_REQUESTS].reset_ms, now + 12);
	ck_assert_uint_eq(st.w[RL_TOKENS].reset_ms, now + 360000);
	ck_assert_int_eq(st.w[RL_INPUT_TOKENS].remaining, RL_UNKNOWN);
	/* No request left until the reset: passed over, then not. */
	ck_assert(ratelimit_near(&st, now + 5, 100, 0, &until));
	ck_assert_uint_eq(until, now + 12);
	ck_assert(!ratelimit_near(&st, now + 13, 100, 0, &until));
	/* Tokens: fewer left than the call needs. */
	ck_assert(ratelimit_near(&st, now + 13, 200000, 0, &until));
	ck_assert_uint_eq(until, now + 360000);
	ck_assert(ratelimit_headroom(&st, now + 13) > 0.99);
}
END_TEST

/* Anthropic's, RFC 3339 resets; a later answer updates what it says. */
START_TEST(test_anthropic_headers)
{
	static const char h1[] =
	    "anthropic-ratelimit-requests-limit: 1000\r\n"
	    "anthropic-ratelimit-requests-remaining: 999\r\n"
	    "anthropic-ratelimit-requests-reset: 2026-01-01T00:00:30Z\r\n"
	    "anthropic-ratelimit-input-tokens-limit: 80000\r\n"
	    "anthropic-ratelimit-input-tokens-remaining: 500\r\n"
	    "anthropic-ratelimit-input-tokens-reset: 2026-01-01T00:01:00Z\r\n"
	    "anthropic-ratelimit-output-tokens-remaining: 16000\r\n";
	static const char h2[] = "anthropic-ratelimit-requests-remaining: 10\n";
	struct rl_state st;
	uint64_t until, now = NEW_YEAR_MS;

	ratelimit_init(&st);
	ck_assert_int_eq(ratelimit_update(&st, h1, strlen(h1), now), 7);
	ck_assert_uint_eq(st.w[RL_REQUESTS].reset_ms, now + 30000);
	ck_assert(!ratelimit_near(&st, now, 100, 0, &until));
	ck_assert(ratelimit_near(&st, now, 501, 0, &until));
	ck_assert_uint_eq(until, now + 60000);
	ck_assert(!ratelimit_near(&st, now + 60001, 501, 0, &until));
	/* Output tokens: max_tokens counts against them at the start. */
	ck_assert(!ratelimit_near(&st, now, 100, 16000, &until));
	ck_assert(ratelimit_near(&st, now, 100, 16001, &until));
	ck_assert_int_eq(ratelimit_update(&st, h2, strlen(h2), now + 1), 1);
	ck_assert_int_eq(st.w[RL_REQUESTS].remaining, 10);
	ck_assert_int_eq(st.w[RL_INPUT_TOKENS].remaining, 500);
	/* 500 of 80000 input tokens: the headroom is the tightest. */
	ck_assert(ratelimit_headroom(&st, now + 1) < 0.01);
	/* Nothing it knows: 0 found, nothing changed. */
	ck_assert_int_eq(ratelimit_update(&st, "x-other: 1\r\n", 12, now), 0);
	ck_assert_int_eq(ratelimit_update(&st,
	    "x-ratelimit-remaining-requests: -3\r\n", 36, now), 0);
}
END_TEST

/* A 429 blocks the target for its wait, or until the exhausted window
 * resets when it names no wait. */
START_TEST(test_blocked)
{
	static const char h[] =
	    "x-ratelimit-remaining-requests: 0\r\n"
	    "x-ratelimit-reset-requests: 2s\r\n";
	struct rl_state st;
	uint64_t until, now = NEW_YEAR_MS;

	ratelimit_init(&st);
	ratelimit_blocked(&st, now, 0);		/* nothing to go by */
	ck_assert(!ratelimit_near(&st, now, 0, 0, &until));
	ratelimit_blocked(&st, now, 1500);
	ck_assert(ratelimit_near(&st, now + 1000, 0, 0, &until));
	ck_assert_uint_eq(until, now + 1500);
	ck_assert(!ratelimit_near(&st, now + 1500, 0, 0, &until));
	ratelimit_update(&st, h, strlen(h), now);
	ratelimit_init(&st);
	ratelimit_update(&st, h, strlen(h), now);
	ratelimit_blocked(&st, now, 0);
	ck_assert_uint_eq(st.blocked_until_ms, now + 2000);
}
END_TEST

static uint32_t
lcg(void *arg)
{
	uint64_t *s = arg;

	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

/* Weighted shares within a tolerance over many calls. */
START_TEST(test_group_weighted)
{
	struct group_member m[3] = { { .weight = 1 }, { .weight = 3 },
		{ .weight = 6 } };
	unsigned first[3] = { 0 }, i;
	uint64_t seed = 42;
	uint8_t order[3];

	for (i = 0; i < 10000; i++) {
		group_order(GROUP_WEIGHTED, m, 3, lcg, &seed, order);
		ck_assert(order[0] != order[1] && order[1] != order[2] &&
		    order[0] != order[2]);
		first[order[0]]++;
	}
	ck_assert_msg(first[0] > 800 && first[0] < 1200, "%u", first[0]);
	ck_assert_msg(first[1] > 2700 && first[1] < 3300, "%u", first[1]);
	ck_assert_msg(first[2] > 5600 && first[2] < 6400, "%u", first[2]);
}
END_TEST

START_TEST(test_group_sorted)
{
	struct group_member m[4] = {
		{ .in_flight = 3, .latency_ms = 900, .price = 5 },
		{ .in_flight = 1, .latency_ms = GROUP_NO_LATENCY, .price = 1 },
		{ .in_flight = 1, .latency_ms = 200, .price = 9 },
		{ .in_flight = 2, .latency_ms = 300, .price = 1 },
	};
	unsigned tie[4] = { 0 }, i;
	uint64_t seed = 7;
	uint8_t o[4];

	group_order(GROUP_ORDER, m, 4, lcg, &seed, o);
	ck_assert(o[0] == 0 && o[1] == 1 && o[2] == 2 && o[3] == 3);
	group_order(GROUP_LATENCY, m, 4, lcg, &seed, o);
	ck_assert(o[0] == 1 && o[1] == 2 && o[2] == 3 && o[3] == 0);
	/* Ties are shared fairly: 1 and 2 are both least busy. */
	for (i = 0; i < 1000; i++) {
		group_order(GROUP_LEAST_BUSY, m, 4, lcg, &seed, o);
		ck_assert(o[2] == 3 && o[3] == 0);
		tie[o[0]]++;
	}
	ck_assert_msg(tie[1] > 400 && tie[2] > 400, "%u %u", tie[1], tie[2]);
	group_order(GROUP_PRICE, m, 4, lcg, &seed, o);
	ck_assert(o[2] == 0 && o[3] == 2);
	ck_assert_int_eq(group_pick_parse("least-busy"), GROUP_LEAST_BUSY);
	ck_assert_int_eq(group_pick_parse("fastest"), -1);
	ck_assert_str_eq(group_pick_name(GROUP_PRICE), "price");
}
END_TEST

/* Configured rpm and tpm, counted locally over a sliding minute. */
START_TEST(test_local_limits)
{
	struct rl_local l;
	uint64_t t0 = 1000000;

	memset(&l, 0, sizeof(l));
	ck_assert(!ratelimit_local_over(&l, t0, 0, 0, 1000000));
	ck_assert(!ratelimit_local_over(&l, t0, 2, 0, 0));
	ratelimit_local_add(&l, t0, 100);
	ck_assert(!ratelimit_local_over(&l, t0 + 10, 2, 0, 0));
	ratelimit_local_add(&l, t0 + 10, 100);
	ck_assert(ratelimit_local_over(&l, t0 + 20, 2, 0, 0));
	/* Tokens: 200 counted; 150 more passes 300, 100 does not. */
	ck_assert(ratelimit_local_over(&l, t0 + 20, 0, 300, 150));
	ck_assert(!ratelimit_local_over(&l, t0 + 20, 0, 300, 100));
	/* Just into the next minute the last one's 2 still count almost
	 * whole; half a minute in, half of them. */
	ck_assert(ratelimit_local_over(&l, t0 + 60001, 2, 0, 0));
	ck_assert(!ratelimit_local_over(&l, t0 + 90000, 2, 0, 0));
	/* Two minutes on: nothing counts. */
	ck_assert(!ratelimit_local_over(&l, t0 + 130000, 1, 1, 1));
}
END_TEST

/* A fleet's count: wall-clock minutes every host agrees on, raised to
 * Redis's totals, never lowered, and only for now's minute or the one
 * before. */
START_TEST(test_fleet_count)
{
	struct rl_local l;
	uint64_t m = 1700000040000ULL;	/* a minute's first ms */

	ck_assert_uint_eq(ratelimit_minute(m + 59999), m);
	ck_assert_uint_eq(ratelimit_minute(m + 60000), m + 60000);
	memset(&l, 0, sizeof(l));
	l.wall = true;
	ratelimit_local_add(&l, m + 30000, 10);
	ck_assert_uint_eq(l.start_ms, m);
	/* Four more from other hosts: 5 of rpm 5, no room for one more. */
	ratelimit_local_raise(&l, m + 30001, m, 5, 50);
	ck_assert(ratelimit_local_over(&l, m + 30002, 5, 0, 0));
	ck_assert(!ratelimit_local_over(&l, m + 30002, 6, 0, 0));
	/* A late, smaller total does not lower it. */
	ratelimit_local_raise(&l, m + 30003, m, 3, 30);
	ck_assert_uint_eq(l.req[0], 5);
	ck_assert_uint_eq(l.tok[0], 50);
	/* Into the next minute: the total of the one before is raised. */
	ratelimit_local_raise(&l, m + 60010, m, 6, 60);
	ck_assert_uint_eq(l.start_ms, m + 60000);
	ck_assert_uint_eq(l.req[1], 6);
	/* Older minutes are ignored. */
	ratelimit_local_raise(&l, m + 60020, m - 60000, 99, 99);
	ck_assert_uint_eq(l.req[0], 0);
	ck_assert_uint_eq(l.req[1], 6);
	ck_assert(l.wall);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, test_durations_and_times);
	tcase_add_test(tc, test_openai_headers);
	tcase_add_test(tc, test_anthropic_headers);
	tcase_add_test(tc, test_blocked);
	tcase_add_test(tc, test_group_weighted);
	tcase_add_test(tc, test_group_sorted);
	tcase_add_test(tc, test_local_limits);
	tcase_add_test(tc, test_fleet_count);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
