#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "state.h"
#include "stats.h"
#include "util.h"

static double
ref_ms_of(uint32_t us)
{
	return us / 1000.0;
}

/* The kernel's figures for one attempt (ebpf/netlat.bpf.c). */
static json_t *
ref_net_json(const struct net_rec *n)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:o?, s:i, s:b}",
	    "network_ms", ref_ms_of(n->network_us),
	    "provider_ms", ref_ms_of(n->provider_us),
	    "wait_ms", ref_ms_of(n->wait_us), "rtt_ms", ref_ms_of(n->srtt_us),
	    "connect_ms", n->new_conn ? json_real(ref_ms_of(n->connect_us)) :
	    NULL, "retransmits", (int)n->retrans, "new_connection",
	    n->new_conn);
}

static json_t *
ref_attempts_json(const struct record *r)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < r->nrec; i++) {
		const struct attempt_rec *a = &r->rec[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}",
		    "target", a->target,
		    "class", fail_class_name(fail_kind_class(a->fk)),
		    "kind", fail_kind_name(a->fk), "status", a->status,
		    "connect_ms", (int)a->connect_ms,
		    "total_ms", (int)a->total_ms);

		if (o == NULL)
			continue;
		json_object_set_new(o, "first_token_ms", a->first_token_ms ==
		    NO_TIME ? json_null() : json_integer(a->first_token_ms));
		if (a->why[0] != '\0')
			json_object_set_new(o, "error", json_string(a->why));
		if (a->injected[0] != '\0')
			json_object_set_new(o, "injected",
			    json_string(a->injected));
		if (a->hedge)
			json_object_set_new(o, "hedge", json_true());
		if (a->cancelled)
			json_object_set_new(o, "cancelled", json_true());
		if (a->net.have)
			json_object_set_new(o, "net", ref_net_json(&a->net));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* A hedged call: who won, and what the attempt it cancelled cost. */
static json_t *
ref_hedge_json(const struct record *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "winner", r->hedge_winner ?
	    json_string(r->hedge_winner) : json_null());
	if (r->hedge_loser != NULL)
		json_object_set_new(o, "cancelled", json_pack("{s:s, s:f, "
		    "s:{s:I, s:I}}", "target", r->hedge_loser->name,
		    "cost_usd", r->hedge_loser_cost, "tokens", "input",
		    (json_int_t)r->hedge_loser_in, "output",
		    (json_int_t)r->hedge_loser_out));
	return o;
}

/* The record as daemon/record.c built it before it was written in one
 * pass: the line must not have changed. */
static char *
ref_line(struct record *r, double now, uint64_t duration)
{
	const struct caller *c = &r->caller;
	json_t *rec;
	char *line;

	rec = json_pack("{s:f, s:s, s:s, s:{s:i, s:i, s:i, s:s, s:s, s:s},"
	    " s:s, s:i}",
	    "time", now,
	    "host", r->host, "route", r->route ? r->route->name : "",
	    "caller", "pid", (int)c->pid, "uid", (int)c->uid, "gid",
	    (int)c->gid, "exe", c->exe, "comm", c->comm, "unit", c->unit,
	    "result", r->result ? r->result : "unknown",
	    "duration_ms", (int)duration);
	if (rec == NULL)
		return NULL;
	json_object_set_new(rec, "model", r->model ?
	    json_string(r->model) : json_null());
	if (r->route != NULL) {
		json_object_set_new(rec, "attempts", ref_attempts_json(r));
		json_object_set_new(rec, "served", r->served ?
		    json_string(r->served->name) : json_null());
		json_object_set_new(rec, "fallback", json_boolean(
		    r->served != NULL ? record_fell_back(r, r->served) :
		    r->result != NULL &&
		    strcmp(r->result, "safe-failure") == 0));
		json_object_set_new(rec, "translated", json_boolean(
		    r->served != NULL && r->translated));
		json_object_set_new(rec, "tokens", json_pack("{s:I, s:I, s:b}",
		    "input", (json_int_t)r->in_tokens, "output",
		    (json_int_t)r->out_tokens, "estimated",
		    r->tokens_estimated));
		json_object_set_new(rec, "cost_usd", json_real(r->cost));
		if (r->served != NULL)
			json_object_set_new(rec, "cost_diff_usd", json_real(
			    r->cost - target_cost(r->route->ladder[0],
			    r->last_in, r->last_out)));
		if (r->reasons[0] != '\0')
			json_object_set_new(rec, "reasons",
			    json_string(r->reasons));
		if (r->picks[0] != '\0')
			json_object_set_new(rec, "picks",
			    json_string(r->picks));
		if (r->hedged)
			json_object_set_new(rec, "hedge", ref_hedge_json(r));
	}
	line = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	return line;
}

static struct provider prov = { .name = "p" };
static struct target t0 = { .name = "primary", .provider = &prov,
    .price = { .input = 3, .output = 15 } };
static struct target t1 = { .name = "sp\u00e9cial \"one\"", .provider = &prov,
    .price = { .input = 0.25, .output = 1.25 } };
static struct target *ladder[] = { &t0, &t1 };
static struct route route = { .name = "chat", .ladder = ladder,
    .nladder = 2 };

static void
fill(struct record *r)
{
	struct attempt_rec *a;

	memset(r, 0, sizeof(*r));
	snprintf(r->host, sizeof(r->host), "api.openai.com");
	r->model = "gpt-4o-mini";
	r->route = &route;
	r->caller.pid = 4242;
	r->caller.uid = 1000;
	r->caller.gid = 1000;
	caller_set(&r->caller, "/opt/\xe6\x97\xa5\xe6\x9c\xac/app \"x\"\\y/z",
	    "tab\there\x01\x1f", NULL, "app.service");
	r->result = "fallback";
	r->rec = xcalloc(2, sizeof(*r->rec));
	r->caprec = 2;
	a = &r->rec[r->nrec++];
	a->target = t0.name;
	a->fk = FK_TECHNICAL;
	a->status = 503;
	a->connect_ms = 3;
	a->first_token_ms = NO_TIME;
	a->total_ms = 12;
	snprintf(a->why, sizeof(a->why), "status 503\r\n");
	snprintf(a->injected, sizeof(a->injected), "flaky");
	a = &r->rec[r->nrec++];
	a->target = t1.name;
	a->fk = FK_NONE;
	a->status = 200;
	a->first_token_ms = 250;
	a->total_ms = 900;
	a->net.have = true;
	a->net.new_conn = true;
	a->net.connect_us = 1234;
	a->net.srtt_us = 7;
	a->net.wait_us = 100000;
	a->net.network_us = 1241;
	a->net.provider_us = 99993;
	a->net.retrans = 2;
	r->served = &t1;
	r->translated = true;
	r->in_tokens = 123456789012ULL;
	r->out_tokens = 17;
	r->last_in = 1000;
	r->last_out = 17;
	r->cost = 1e-9;
	snprintf(r->reasons, sizeof(r->reasons), "SKIP:primary=breaker");
	snprintf(r->picks, sizeof(r->picks), "PICK:a>b");
}

static void
same_as_before(struct record *r, double now, uint64_t duration)
{
	struct buf b;
	char *want = ref_line(r, now, duration);

	ck_assert_ptr_nonnull(want);
	buf_init(&b, RECORD_LINE_MAX);
	record_line(r, now, duration, &b);
	ck_assert_str_eq(b.data, want);
	buf_free(&b);
	free(want);
}

START_TEST(test_line_as_jansson_wrote_it)
{
	static const double times[] = { 1796000000.123456789, 0, 1e21,
	    1e-7, 5.5, 1796000000, 123456.000001 };
	struct record r;
	size_t i;

	fill(&r);
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		r.cost = times[i] / 3;
		same_as_before(&r, times[i], i * 1000);
	}
	/* A hedged call: the hedge won, the first attempt was cancelled;
	 * then one whose race nobody won. */
	r.hedged = true;
	r.hedge_winner = t1.name;
	r.hedge_loser = &t0;
	r.hedge_loser_cost = 0.000123;
	r.hedge_loser_in = 42;
	r.hedge_loser_out = 0;
	r.rec[0].cancelled = true;
	r.rec[1].hedge = true;
	same_as_before(&r, 7.25, 7);
	r.hedge_winner = NULL;
	r.hedge_loser = NULL;
	same_as_before(&r, 8.25, 8);
	r.hedged = false;
	r.rec[0].cancelled = r.rec[1].hedge = false;
	/* What a record without a served target or a route says. */
	r.served = NULL;
	r.model = NULL;
	r.reasons[0] = r.picks[0] = '\0';
	r.rec[0].net = r.rec[1].net;
	r.rec[0].net.new_conn = false;
	same_as_before(&r, 1.5, 0);
	r.result = "safe-failure";
	same_as_before(&r, 2.5, 1);
	r.route = NULL;
	r.result = NULL;
	same_as_before(&r, 3.5, 2);
	record_free(&r);
}
END_TEST

static char *published;

static void
publish(struct daemon *d, const json_t *rec, const char *line, size_t len)
{
	(void)d;
	(void)rec;
	free(published);
	published = xcalloc(1, len + 1);
	memcpy(published, line, len);
}

/* A program whose name is not UTF-8 (a comm is whatever bytes it set)
 * still has its calls recorded: jansson refused the string, and with it
 * the whole record. */
START_TEST(test_caller_not_utf8_still_recorded)
{
	static const struct daemon_hooks hooks = { .publish = publish };
	struct daemon d;
	struct record r;
	json_t *j;

	memset(&d, 0, sizeof(d));
	d.hooks = &hooks;
	memset(&r, 0, sizeof(r));
	r.d = &d;
	snprintf(r.host, sizeof(r.host), "example.com");
	caller_set(&r.caller, "/bin/\xed\xa0\x80x", "bad\xff\xc0\x80name", NULL,
	    NULL);
	r.result = "passthrough";
	record_end(&r);
	ck_assert_ptr_nonnull(published);
	j = json_loads(published, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j,
	    "caller"), "comm")), "bad\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdname");
	ck_assert_str_eq(json_string_value(json_object_get(j, "result")),
	    "passthrough");
	json_decref(j);
	free(published);
	published = NULL;
	record_free(&r);
}
END_TEST

/* The attempts are kept in a block grown as they end: a call that
 * retries past the first sizes keeps every one of them, in order, up to
 * RECORDS_MAX, and counts the rest. */
START_TEST(test_attempts_grow)
{
	static const char *const names[] = { "t0", "t1", "t2", "t3", "t4",
	    "t5", "t6", "t7", "t8", "t9", "t10", "t11", "t12", "t13", "t14",
	    "t15", "t16", "t17", "t18", "t19" };
	struct target ts[20];
	struct daemon d;
	struct record r;
	struct attempt_rec a;
	int i;

	memset(&d, 0, sizeof(d));
	d.stats = stats_new();
	memset(&r, 0, sizeof(r));
	r.d = &d;
	r.route = &route;
	ck_assert_int_eq(r.nrec, 0);
	ck_assert_ptr_null(r.rec);
	for (i = 0; i < 20; i++) {
		memset(&ts[i], 0, sizeof(ts[i]));
		ts[i].name = (char *)names[i];
		memset(&a, 0, sizeof(a));
		a.status = 500 + i;
		a.total_ms = (uint32_t)i;
		snprintf(a.why, sizeof(a.why), "status %d", 500 + i);
		record_attempt(&r, &ts[i], i == 19 ? FK_NONE : FK_TECHNICAL,
		    &a);
		ck_assert_int_eq(r.nrec, i < RECORDS_MAX ? i + 1 :
		    RECORDS_MAX);
		ck_assert_int_le(r.nrec, r.caprec);
	}
	for (i = 0; i < RECORDS_MAX; i++) {
		ck_assert_str_eq(r.rec[i].target, names[i]);
		ck_assert_int_eq(r.rec[i].status, 500 + i);
		ck_assert_uint_eq(r.rec[i].total_ms, (uint32_t)i);
		ck_assert_int_eq(r.rec[i].fk, FK_TECHNICAL);
	}
	ck_assert_str_eq(r.first_from, "t0");
	record_free(&r);
	ck_assert_ptr_null(r.rec);
	ck_assert_int_eq(r.nrec, 0);
	stats_free(d.stats);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_line_as_jansson_wrote_it);
	tcase_add_test(tc, test_caller_not_utf8_still_recorded);
	tcase_add_test(tc, test_attempts_grow);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
