#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "budget.h"

/* 2024-12-31 23:00:00 UTC: the last hour of a day and of a year. */
#define T0	((time_t)1735686000)
#define HOUR	((time_t)3600)
#define DAY	((time_t)86400)

static struct budgets *b;
static char dir[64];
static char path[sizeof(dir) + 32];
static char err[512];

static void
setup(void)
{
	/* Afresh each time: without fork, mkdtemp filled in the last one. */
	snprintf(dir, sizeof(dir), "/tmp/check_budget.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/budget.json", dir);
	b = budgets_new();
	err[0] = '\0';
}

static void
teardown(void)
{
	char p[sizeof(path) + 8];

	budgets_free(b);
	unlink(path);
	snprintf(p, sizeof(p), "%s.tmp", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s/sub", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	unlink(p);
	rmdir(dir);
}

static void
write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static void
assert_spend(const struct budgets *bb, const char *key, time_t now,
    double hour, double day)
{
	struct spend s = budgets_get(bb, key, now);

	ck_assert_msg(s.hour == hour && s.day == day,
	    "%s at %lld: hour %g day %g, want %g %g", key, (long long)now,
	    s.hour, s.day, hour, day);
}

/* ------------------------------------------------------------------ */
/* Windows */

START_TEST(test_same_hour_sums)
{
	ck_assert(!budgets_dirty(b));
	budgets_add(b, "route:chat", 1.5, T0 + 10);
	ck_assert(budgets_dirty(b));
	budgets_add(b, "route:chat", 0.25, T0 + 3599);
	budgets_add(b, "route:other", 4, T0 + 20);
	assert_spend(b, "route:chat", T0 + 3599, 1.75, 1.75);
	assert_spend(b, "route:other", T0, 4, 4);
	ck_assert_uint_eq(budgets_count(b), 2);
}
END_TEST

START_TEST(test_next_hour_resets_hour_only)
{
	/* T0 - 2h is 21:00: the next hour is still the same day. */
	budgets_add(b, "k", 2, T0 - 2 * HOUR + 5);
	assert_spend(b, "k", T0 - HOUR, 0, 2);	/* nothing yet this hour */
	budgets_add(b, "k", 0.5, T0 - HOUR);
	assert_spend(b, "k", T0 - HOUR + 1, 0.5, 2.5);
}
END_TEST

START_TEST(test_next_day_resets_both)
{
	budgets_add(b, "k", 3, T0 + HOUR - 1);	/* 23:59:59 */
	budgets_add(b, "k", 1, T0 + HOUR);	/* midnight UTC */
	assert_spend(b, "k", T0 + HOUR, 1, 1);
}
END_TEST

START_TEST(test_later_window_reads_zero)
{
	budgets_add(b, "k", 3, T0 - 2 * HOUR);
	assert_spend(b, "k", T0 - 2 * HOUR, 3, 3);
	assert_spend(b, "k", T0, 0, 3);
	assert_spend(b, "k", T0 + HOUR, 0, 0);
	assert_spend(b, "k", T0 + 40 * DAY, 0, 0);
	assert_spend(b, "unknown", T0, 0, 0);
	/* A clock stepped back to another window does not read it. */
	assert_spend(b, "k", T0 - 3 * HOUR, 0, 3);
	assert_spend(b, "k", T0 - 2 * DAY, 0, 0);
}
END_TEST

START_TEST(test_utc_days_whatever_tz)
{
	/* Days are UTC whatever the local zone says. */
	setenv("TZ", "Asia/Kolkata", 1);
	tzset();
	budgets_add(b, "k", 1, 20000 * DAY - 1);
	assert_spend(b, "k", 20000 * DAY, 0, 0);
	assert_spend(b, "k", 19999 * DAY, 0, 1);
	/* And before 1970 the windows still split at multiples. */
	budgets_add(b, "old", 1, -1);
	assert_spend(b, "old", 0, 0, 0);
	assert_spend(b, "old", -HOUR, 1, 1);
	assert_spend(b, "old", -HOUR - 1, 0, 1);
}
END_TEST

START_TEST(test_bad_amounts_ignored)
{
	budgets_add(b, "k", -1, T0);
	budgets_add(b, "k", NAN, T0);
	budgets_add(b, "k", INFINITY, T0);
	ck_assert_uint_eq(budgets_count(b), 0);
	ck_assert(!budgets_dirty(b));
	budgets_add(b, "k", 1, T0);
	budgets_add(b, "k", -1, T0);
	assert_spend(b, "k", T0, 1, 1);
	/* Sums saturate: an infinity could not be saved. */
	budgets_add(b, "k", DBL_MAX, T0);
	budgets_add(b, "k", DBL_MAX, T0);
	assert_spend(b, "k", T0, DBL_MAX, DBL_MAX);
	ck_assert_int_eq(budgets_save(b, path, err, sizeof(err)), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The file */

START_TEST(test_round_trip)
{
	struct budgets *c = budgets_new();
	char tmp[sizeof(path) + 8];
	struct stat st;
	struct spend s;

	budgets_add(b, "route:chat", 0.125, T0 - 5 * HOUR);
	budgets_add(b, "route:chat", 2.5, T0);
	budgets_add(b, "caller:uid=1000:/usr/bin/python3.11", 0.1, T0);
	budgets_add(b, "caller:uid=0:/opt/\xc3\xa9t\xc3\xa9/\"q\\", 7,
	    T0 - 2 * DAY);
	ck_assert_int_eq(budgets_save(b, path, err, sizeof(err)), 0);
	ck_assert(!budgets_dirty(b));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_ne(access(tmp, F_OK), 0);	/* renamed away */

	budgets_add(c, "stale", 1, T0);	/* replaced by the load */
	ck_assert_int_eq(budgets_load(c, path, err, sizeof(err)), 0);
	ck_assert(!budgets_dirty(c));
	ck_assert_uint_eq(budgets_count(c), 3);
	assert_spend(c, "stale", T0, 0, 0);
	assert_spend(c, "route:chat", T0, 2.5, 2.625);
	assert_spend(c, "route:chat", T0 + HOUR, 0, 0);
	assert_spend(c, "caller:uid=1000:/usr/bin/python3.11", T0, 0.1, 0.1);
	assert_spend(c, "caller:uid=0:/opt/\xc3\xa9t\xc3\xa9/\"q\\",
	    T0 - 2 * DAY, 7, 7);
	assert_spend(c, "caller:uid=0:/opt/\xc3\xa9t\xc3\xa9/\"q\\", T0, 0,
	    0);
	/* Saved in the order added, and so read back. */
	ck_assert_str_eq(budgets_key(c, 0, &s, T0), "route:chat");
	ck_assert(s.hour == 2.5 && s.day == 2.625);
	ck_assert_ptr_nonnull(budgets_key(c, 2, NULL, T0));
	ck_assert_ptr_null(budgets_key(c, 3, &s, T0));
	/* Spend goes on from where it was. */
	budgets_add(c, "route:chat", 0.5, T0 + 60);
	assert_spend(c, "route:chat", T0 + 60, 3, 3.125);
	budgets_free(c);
}
END_TEST

START_TEST(test_non_utf8_key_not_saved)
{
	struct budgets *c = budgets_new();

	budgets_add(b, "caller:uid=1:/tmp/\xff\xfe", 1, T0);
	budgets_add(b, "caller:uid=1:/tmp/\xc0\xaf", 1, T0);	/* overlong */
	budgets_add(b, "caller:uid=1:/tmp/\xed\xa0\x80", 1, T0); /* surrogate */
	budgets_add(b, "caller:uid=1:/tmp/\xe2\x82", 1, T0);	/* cut short */
	budgets_add(b, "caller:uid=1:/tmp/\xc3(x", 1, T0);	/* not a tail */
	budgets_add(b, "caller:uid=1:/tmp/\xf0\x9f\x98\x80", 1, T0);
	ck_assert_int_eq(budgets_save(b, path, err, sizeof(err)), 0);
	ck_assert_int_eq(budgets_load(c, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(budgets_count(c), 1);
	assert_spend(c, "caller:uid=1:/tmp/\xf0\x9f\x98\x80", T0, 1, 1);
	assert_spend(b, "caller:uid=1:/tmp/\xff\xfe", T0, 1, 1);
	budgets_free(c);
}
END_TEST

START_TEST(test_missing_file_is_empty)
{
	budgets_add(b, "k", 1, T0);
	ck_assert_int_eq(budgets_load(b, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(budgets_count(b), 0);
	ck_assert(!budgets_dirty(b));
	assert_spend(b, "k", T0, 0, 0);
}
END_TEST

static const struct {
	const char *text, *why;
} corrupt[] = {
	{ "", "line" },
	{ "not json at all", "line" },
	{ "{\"version\":1,\"keys\":{\"k\":{\"hour\":1,", "line" },
	{ "[1,2]", "not a JSON object" },
	{ "{\"keys\":{}}", "version" },
	{ "{\"version\":2,\"keys\":{}}", "version" },
	{ "{\"version\":\"1\",\"keys\":{}}", "version" },
	{ "{\"version\":1}", "\"keys\"" },
	{ "{\"version\":1,\"keys\":[]}", "\"keys\"" },
	{ "{\"version\":1,\"keys\":{\"k\":3}}", "key \"k\": not an object" },
	{ "{\"version\":1,\"keys\":{\"k\":{\"hour\":1,\"hour_usd\":-1,"
	    "\"day\":1,\"day_usd\":1}}}", "key \"k\": hour_usd" },
	{ "{\"version\":1,\"keys\":{\"k\":{\"hour\":1,\"hour_usd\":1,"
	    "\"day\":1,\"day_usd\":\"1\"}}}", "key \"k\": hour_usd" },
	{ "{\"version\":1,\"keys\":{\"k\":{\"hour\":1,\"hour_usd\":1,"
	    "\"day\":1}}}", "key \"k\": hour_usd" },
	{ "{\"version\":1,\"keys\":{\"k\":{\"hour\":1.5,\"hour_usd\":1,"
	    "\"day\":1,\"day_usd\":1}}}", "key \"k\": hour and day" },
	{ "{\"version\":1,\"keys\":{\"k\":{\"hour\":1,\"hour_usd\":NaN,"
	    "\"day\":1,\"day_usd\":1}}}", "line" },
	{ "{\"version\":1,\"keys\":{\"k\":{\"hour\":1,\"hour_usd\":1e999,"
	    "\"day\":1,\"day_usd\":1}}}", "line" },
	{ "{\"version\":1,\"keys\":{\"a\":{},\"a\":{}}}", "line" },
};

START_TEST(test_corrupt_file_rejected)
{
	char want[sizeof(path) + 8];

	budgets_add(b, "k", 1.5, T0);
	write_file(corrupt[_i].text);
	ck_assert_int_eq(budgets_load(b, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: ", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0 &&
	    strstr(err + strlen(want), corrupt[_i].why) != NULL,
	    "case %d: \"%s\" lacks \"%s\"", _i, err, corrupt[_i].why);
	/* Nothing of the file was taken. */
	ck_assert_uint_eq(budgets_count(b), 1);
	assert_spend(b, "k", T0, 1.5, 1.5);
	ck_assert(budgets_dirty(b));
}
END_TEST

START_TEST(test_unreadable_paths)
{
	char p[sizeof(path) + 8];

	snprintf(p, sizeof(p), "%s/sub", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(budgets_load(b, p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	ck_assert(strncmp(err, p, strlen(p)) == 0);
	/* A FIFO is refused without waiting for a writer. */
	snprintf(p, sizeof(p), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	ck_assert_int_eq(budgets_load(b, p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));

	/* Saving where it cannot: the error names the path, and the state
	 * stays dirty for the next try. */
	snprintf(p, sizeof(p), "%s/nodir/b.json", dir);
	budgets_add(b, "k", 1, T0);
	ck_assert_int_eq(budgets_save(b, p, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, p, strlen(p)) == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	ck_assert(budgets_dirty(b));
}
END_TEST

START_TEST(test_too_many_keys_in_file)
{
	FILE *f = fopen(path, "w");
	int i;

	ck_assert_ptr_nonnull(f);
	fputs("{\"version\":1,\"keys\":{", f);
	for (i = 0; i <= BUDGET_MAX_KEYS; i++)
		fprintf(f, "%s\"k%d\":{\"hour\":1,\"hour_usd\":1,\"day\":1,"
		    "\"day_usd\":1}", i ? "," : "", i);
	fputs("}}", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(budgets_load(b, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Many keys */

START_TEST(test_many_keys)
{
	struct budgets *c = budgets_new();
	char key[64];
	double total = 0;
	struct spend s;
	size_t i;

	for (i = 0; i < BUDGET_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "caller:uid=%zu:/bin/x", i);
		budgets_add(b, key, (double)i / 4, T0);
	}
	ck_assert_uint_eq(budgets_count(b), BUDGET_MAX_KEYS);
	ck_assert_uint_eq(budgets_dropped(b), 0);
	for (i = 0; i < BUDGET_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "caller:uid=%zu:/bin/x", i);
		assert_spend(b, key, T0, (double)i / 4, (double)i / 4);
	}
	ck_assert_int_eq(budgets_save(b, path, err, sizeof(err)), 0);
	ck_assert_int_eq(budgets_load(c, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(budgets_count(c), BUDGET_MAX_KEYS);
	for (i = 0; budgets_key(c, i, &s, T0) != NULL; i++)
		total += s.day;
	ck_assert(total == (double)BUDGET_MAX_KEYS *
	    (BUDGET_MAX_KEYS - 1) / 8);
	budgets_free(c);
}
END_TEST

START_TEST(test_full_evicts_least_recently_updated)
{
	char key[64];
	size_t i;

	for (i = 0; i < BUDGET_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		budgets_add(b, key, 1, T0);
	}
	budgets_add(b, "k0", 1, T0 + 1);	/* k1 is now the oldest */
	budgets_add(b, "new", 0.5, T0 + 2);
	ck_assert_uint_eq(budgets_count(b), BUDGET_MAX_KEYS);
	assert_spend(b, "new", T0 + 2, 0.5, 0.5);
	assert_spend(b, "k0", T0 + 2, 2, 2);
	assert_spend(b, "k1", T0 + 2, 0, 0);	/* gone */
	assert_spend(b, "k2", T0 + 2, 1, 1);
	/* k1 had spent today: a budget restarted from zero. */
	ck_assert_uint_eq(budgets_dropped(b), 1);
	/* Every key left is still found after the index was rebuilt. */
	for (i = 2; i < BUDGET_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_spend(b, key, T0 + 2, 1, 1);
	}
	budgets_add(b, "k1", 1, T0 + 3);	/* back, evicting k2 */
	assert_spend(b, "k1", T0 + 3, 1, 1);
	assert_spend(b, "k2", T0 + 3, 0, 0);
	ck_assert_uint_eq(budgets_count(b), BUDGET_MAX_KEYS);
	ck_assert_uint_eq(budgets_dropped(b), 2);
}
END_TEST

START_TEST(test_full_evicts_stale_first)
{
	struct budgets *c = budgets_new();
	char key[64];
	size_t i;

	/* Yesterday's keys, saved and loaded again: no update of this run
	 * orders them, their hour does. */
	for (i = 0; i < BUDGET_MAX_KEYS / 2; i++) {
		snprintf(key, sizeof(key), "today%zu", i);
		budgets_add(b, key, 1, T0);
		snprintf(key, sizeof(key), "yesterday%zu", i);
		budgets_add(b, key, 1, T0 - DAY);
	}
	ck_assert_int_eq(budgets_save(b, path, err, sizeof(err)), 0);
	ck_assert_int_eq(budgets_load(c, path, err, sizeof(err)), 0);
	for (i = 0; i < BUDGET_MAX_KEYS / 2; i++) {
		snprintf(key, sizeof(key), "new%zu", i);
		budgets_add(c, key, 1, T0 + 5);
	}
	ck_assert_uint_eq(budgets_dropped(c), 0);
	for (i = 0; i < BUDGET_MAX_KEYS / 2; i++) {
		snprintf(key, sizeof(key), "today%zu", i);
		assert_spend(c, key, T0 + 5, 1, 1);
	}
	for (i = 0; i < budgets_count(c); i++)
		ck_assert(strncmp(budgets_key(c, i, NULL, T0), "yesterday",
		    9) != 0);
	budgets_free(c);
}
END_TEST

START_TEST(test_churn_at_the_limit)
{
	char key[64];
	size_t i;

	/* More evictions than the index has spare slots: a victim's key
	 * must leave the index, or lookups would end up probing forever. */
	for (i = 0; i < 3 * BUDGET_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "caller:%zu", i);
		budgets_add(b, key, 1, T0 + (time_t)(i / 1000));
	}
	ck_assert_uint_eq(budgets_count(b), BUDGET_MAX_KEYS);
	for (i = 0; i < 3 * BUDGET_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "caller:%zu", i);
		assert_spend(b, key, T0 + 20,
		    i < 2 * BUDGET_MAX_KEYS ? 0 : 1,
		    i < 2 * BUDGET_MAX_KEYS ? 0 : 1);
	}
	ck_assert_uint_eq(budgets_dropped(b), 2 * BUDGET_MAX_KEYS);
}
END_TEST

/* White box: budget.c's FNV-1a and its index of 2 * BUDGET_MAX_KEYS
 * slots, to build keys that sit where a probe run wraps around the end
 * of the table.  Should either change, this test still passes but no
 * longer reaches the wrap. */
static void
key_at_slot(char *key, size_t len, uint32_t want)
{
	const uint32_t mask = 2 * BUDGET_MAX_KEYS - 1;
	uint32_t h, n;
	const char *p;

	for (n = 0;; n++) {
		snprintf(key, len, "w%u", n);
		h = 2166136261u;
		for (p = key; *p != '\0'; p++)
			h = (h ^ (unsigned char)*p) * 16777619u;
		if ((h & mask) == want)
			return;
	}
}

START_TEST(test_evict_where_the_index_wraps)
{
	const uint32_t last = 2 * BUDGET_MAX_KEYS - 1;
	char x[32], a[32], z[32], key[64];
	size_t i;

	/* x in the next to last slot, a in the last, z in the first, each
	 * at home; evicting x must leave z where it is, not move it back
	 * across the end to before its home. */
	key_at_slot(x, sizeof(x), last - 1);
	key_at_slot(a, sizeof(a), last);
	key_at_slot(z, sizeof(z), 0);
	budgets_add(b, x, 1, T0);
	budgets_add(b, a, 2, T0);
	budgets_add(b, z, 3, T0);
	for (i = 3; i < BUDGET_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "filler%zu", i);
		budgets_add(b, key, 1, T0);
	}
	budgets_add(b, "new", 4, T0);
	assert_spend(b, x, T0, 0, 0);
	assert_spend(b, a, T0, 2, 2);
	assert_spend(b, z, T0, 3, 3);
	assert_spend(b, "new", T0, 4, 4);
	for (i = 3; i < BUDGET_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "filler%zu", i);
		assert_spend(b, key, T0, 1, 1);
	}
}
END_TEST

/* ---- the fleet's figures (daemon/shared.c) ---- */

START_TEST(test_raise_never_lowers)
{
	struct spend s;

	budgets_add(b, "route:a", 1.0, T0);
	budgets_raise(b, "route:a", (struct spend){ 0.5, 3.0 }, T0);
	s = budgets_get(b, "route:a", T0);
	ck_assert(s.hour == 1.0 && s.day == 3.0);
	/* A key never spent here takes the fleet's figure. */
	budgets_raise(b, "route:b", (struct spend){ 0.25, 0.75 }, T0);
	s = budgets_get(b, "route:b", T0);
	ck_assert(s.hour == 0.25 && s.day == 0.75);
	ck_assert(budgets_dirty(b));
	/* Next hour (and day: T0 is the day's last hour): afresh. */
	budgets_raise(b, "route:a", (struct spend){ 0.5, 0.5 }, T0 + HOUR);
	s = budgets_get(b, "route:a", T0 + HOUR);
	ck_assert(s.hour == 0.5 && s.day == 0.5);
	budgets_raise(b, "route:a", (struct spend){ NAN, 9 }, T0 + HOUR);
	s = budgets_get(b, "route:a", T0 + HOUR);
	ck_assert(s.day == 0.5);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("budget");
	TCase *win = tcase_create("windows");
	TCase *file = tcase_create("file");
	TCase *keys = tcase_create("keys");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(win, setup, teardown);
	tcase_add_test(win, test_same_hour_sums);
	tcase_add_test(win, test_next_hour_resets_hour_only);
	tcase_add_test(win, test_next_day_resets_both);
	tcase_add_test(win, test_later_window_reads_zero);
	tcase_add_test(win, test_utc_days_whatever_tz);
	tcase_add_test(win, test_bad_amounts_ignored);
	tcase_add_test(win, test_raise_never_lowers);
	suite_add_tcase(s, win);

	tcase_add_checked_fixture(file, setup, teardown);
	tcase_add_test(file, test_round_trip);
	tcase_add_test(file, test_non_utf8_key_not_saved);
	tcase_add_test(file, test_missing_file_is_empty);
	tcase_add_loop_test(file, test_corrupt_file_rejected, 0,
	    (int)(sizeof(corrupt) / sizeof(corrupt[0])));
	tcase_add_test(file, test_unreadable_paths);
	tcase_add_test(file, test_too_many_keys_in_file);
	suite_add_tcase(s, file);

	tcase_add_checked_fixture(keys, setup, teardown);
	tcase_add_test(keys, test_many_keys);
	tcase_add_test(keys, test_full_evicts_least_recently_updated);
	tcase_add_test(keys, test_full_evicts_stale_first);
	tcase_add_test(keys, test_churn_at_the_limit);
	tcase_add_test(keys, test_evict_where_the_index_wraps);
	suite_add_tcase(s, keys);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
