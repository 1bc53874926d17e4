#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ladder.h"

static struct config *cfg;
static char err[CONFIG_ERR_MAX];

static const char *yaml =
    "providers:\n"
    "  o: { dialect: openai, base_url: 'https://o/v1' }\n"
    "  a: { dialect: anthropic, base_url: 'https://a/v1' }\n"
    "targets:\n"
    "  t0: { provider: o }\n"
    "  t1: { provider: a }\n"
    "  t2: { provider: o }\n"
    "  t3: { provider: o }\n"
    "  t4: { provider: o }\n"
    "routes:\n"
    "  - name: one-try\n"
    "    ladder: [t0, t1, t2]\n"
    "    retry_on: [503, 429, connect, timeout]\n"
    "  - name: retries\n"
    "    ladder: [t0, t1]\n"
    "    attempts: 3\n"
    "    backoff: { base: 100ms, max: 300ms }\n"
    "  - name: patient\n"
    "    ladder: [t0, t2]\n"
    "    retry_on: [429]\n"
    "    retry_after_max: 2s\n"
    "  - name: no-timeouts\n"
    "    ladder: [t0, t1]\n"
    "    retry_on: [5xx]\n"
    "  - name: classes\n"
    "    ladder: [t0, t1, t2, t3, t4]\n"
    "    attempts: { technical: 2, business: 1, policy: 1 }\n"
    "    backoff: { base: 10ms, max: 10ms }\n"
    "    on: { business: t3, quality: t2, policy: t4, context: fail }\n"
    "  - name: named-4xx\n"
    "    ladder: [t0, t1]\n"
    "    retry_on: [402, 404, 422, 5xx]\n"
    "  - name: group\n"
    "    ladder: [{ group: [t0, t1, t2], pick: weighted,\n"
    "        weights: { t0: 3, t2: 2 } }, t3]\n"
    "    retry_on: [5xx]\n"
    "  - name: group-next-rung\n"
    "    ladder: [t4, { group: [t0, t1, t2], pick: least-busy,\n"
    "        on_member_failure: next_rung }, t3]\n"
    "    retry_on: [5xx]\n";

static const struct outcome ok200 = { .kind = OUT_OK, .status = 200 };
static const struct outcome s503 = { .kind = OUT_OK, .status = 503 };
static const struct outcome s500 = { .kind = OUT_OK, .status = 500 };
static const struct outcome s400 = { .kind = OUT_OK, .status = 400 };
static const struct outcome refused = { .kind = OUT_CONNECT };
static const struct outcome slow = { .kind = OUT_TIMEOUT_FIRST_BYTE };

static void
setup(void)
{
	cfg = config_load_string("ladder.yaml", yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
}

static void
teardown(void)
{
	config_unref(cfg);
}

static const struct route *
route(const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nroutes; i++)
		if (strcmp(cfg->routes[i].name, name) == 0)
			return &cfg->routes[i];
	ck_abort_msg("no route %s", name);
	return NULL;
}

/* A provider refuses llmfb's own key: on to the next rung whatever
 * retry_on says, never retried on the same rung, and never delivered;
 * the caller's own key refused is the caller's answer. */
START_TEST(test_own_key_refused_moves_on)
{
	struct outcome s401 = { OUT_OK, 401, 0, FK_NONE, NULL, false, false };
	struct outcome s403 = { OUT_OK, 403, 0, FK_NONE, NULL, false, false };
	struct ladder l;
	uint64_t delay;

	ck_assert(outcome_llmfbs(&s401));
	ladder_init(&l, route("one-try"), NULL, NULL);	/* no 401 in retry_on */
	ck_assert_int_eq(ladder_first(&l), LADDER_TRY);
	ck_assert_int_eq(ladder_next(&l, &s401, 10000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	ck_assert_uint_eq(delay, 0);
	ck_assert_int_eq(ladder_next(&l, &s401, 10000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 2);
	ck_assert_int_eq(ladder_next(&l, &s401, 10000, 0, &delay), LADDER_FAIL);

	ladder_init(&l, route("retries"), NULL, NULL);	/* attempts: 3 */
	ck_assert_int_eq(ladder_first(&l), LADDER_TRY);
	ck_assert_int_eq(ladder_next(&l, &s401, 10000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	ck_assert_int_eq(ladder_next(&l, &s401, 10000, 0, &delay), LADDER_FAIL);

	ck_assert(outcome_llmfbs(&s403));
	s401.own_key = true;
	ck_assert(!outcome_llmfbs(&s401));
	ladder_init(&l, route("one-try"), NULL, NULL);
	ck_assert_int_eq(ladder_first(&l), LADDER_TRY);
	ck_assert_int_eq(ladder_next(&l, &s401, 10000, 0, &delay),
	    LADDER_DELIVER);
}
END_TEST

/* A 4xx from a provider the caller did not call is never the caller's
 * mistake: DeepSeek's 402, Ollama's 404, a 422 for a translated request
 * all move on at once and end in the safe failure, whatever retry_on
 * says; at the caller's own provider, a 4xx is the caller's unless
 * retry_on names it.  A 400 (the request malformed in itself) is the
 * caller's anywhere. */
START_TEST(test_foreign_4xx_moves_on)
{
	static const int statuses[] = { 402, 404, 409, 413, 422 };
	struct outcome o = { .kind = OUT_OK, .foreign = true };
	struct ladder l;
	uint64_t delay;
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		o.status = statuses[i];
		o.own_key = false;
		o.foreign = true;
		ck_assert(outcome_llmfbs(&o));
		ck_assert_int_eq(outcome_classify(&o, NULL), FK_TECHNICAL);
		/* one-try's retry_on names no 4xx but 429. */
		ladder_init(&l, route("one-try"), NULL, NULL);
		ck_assert_int_eq(ladder_first(&l), LADDER_TRY);
		ck_assert_int_eq(ladder_next(&l, &o, 10000, 0, &delay),
		    LADDER_TRY);
		ck_assert_int_eq(l.rung, 1);
		ck_assert_uint_eq(delay, 0);
		ck_assert_int_eq(ladder_next(&l, &o, 10000, 0, &delay),
		    LADDER_TRY);
		ck_assert_int_eq(ladder_next(&l, &o, 10000, 0, &delay),
		    LADDER_FAIL);

		/* The caller's own provider, llmfb's key: the request is
		 * the caller's... */
		o.foreign = false;
		ck_assert(!outcome_llmfbs(&o));
		ck_assert_int_eq(outcome_classify(&o, NULL), FK_CLIENT);
		ladder_init(&l, route("one-try"), NULL, NULL);
		ladder_first(&l);
		ck_assert_int_eq(ladder_next(&l, &o, 10000, 0, &delay),
		    LADDER_DELIVER);
		/* ...unless the route's retry_on names the status. */
		o.own_key = true;
		ladder_init(&l, route("named-4xx"), NULL, NULL);
		ladder_first(&l);
		if (o.status == 409 || o.status == 413) {
			ck_assert_int_eq(ladder_next(&l, &o, 10000, 0, &delay),
			    LADDER_DELIVER);
			continue;
		}
		ck_assert_int_eq(outcome_classify(&o,
		    &route("named-4xx")->policy), FK_TECHNICAL);
		ck_assert_int_eq(ladder_next(&l, &o, 10000, 0, &delay),
		    LADDER_TRY);
		ck_assert_int_eq(l.rung, 1);
		ck_assert_int_eq(ladder_next(&l, &o, 10000, 0, &delay),
		    LADDER_FAIL);
	}
	o.status = 400;
	o.foreign = true;
	o.own_key = false;
	ck_assert(!outcome_llmfbs(&o));
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_CLIENT);
	/* A foreign 429 named by retry_on still gets its Retry-After wait
	 * on the same rung. */
	o.status = 429;
	o.foreign = true;
	o.own_key = false;
	o.retry_after_ms = 100;
	ladder_init(&l, route("one-try"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &o, 10000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 0);
	ck_assert_uint_eq(delay, 100);
}
END_TEST

START_TEST(test_first_answers)
{
	struct ladder l;
	uint64_t delay;

	ladder_init(&l, route("one-try"), NULL, NULL);
	ck_assert_int_eq(ladder_first(&l), LADDER_TRY);
	ck_assert_int_eq(l.rung, 0);
	ck_assert_int_eq(ladder_next(&l, &ok200, 1000, 0, &delay),
	    LADDER_DELIVER);
	ck_assert_int_eq(l.attempts, 1);
}
END_TEST

START_TEST(test_walks_down_then_fails)
{
	struct ladder l;
	uint64_t delay;

	ladder_init(&l, route("one-try"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	ck_assert_uint_eq(delay, 0);	/* a new rung goes at once */
	ck_assert_int_eq(ladder_next(&l, &refused, 1000, 0, &delay),
	    LADDER_TRY);
	ck_assert_int_eq(l.rung, 2);
	ck_assert_int_eq(ladder_next(&l, &slow, 1000, 0, &delay), LADDER_FAIL);
	ck_assert_int_eq(l.attempts, 3);
	ck_assert_int_eq(l.rungs_tried, 3);
}
END_TEST

START_TEST(test_not_in_retry_on_is_delivered)
{
	struct ladder l;
	uint64_t delay;

	/* 500 is not in one-try's retry_on: the provider's answer stands. */
	ladder_init(&l, route("one-try"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &s500, 1000, 0, &delay),
	    LADDER_DELIVER);
	/* And the caller's own mistake is never retried. */
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &s400, 1000, 0, &delay),
	    LADDER_DELIVER);
	ck_assert_int_eq(outcome_classify(&s400, NULL), FK_CLIENT);
	ck_assert_int_eq(outcome_classify(&s503, NULL), FK_TECHNICAL);
	ck_assert_int_eq(outcome_classify(&slow, NULL), FK_TECHNICAL);
}
END_TEST

START_TEST(test_unretried_technical_fails_safely)
{
	struct ladder l;
	uint64_t delay;

	/* no-timeouts does not retry timeouts: nothing to deliver, so the
	 * safe failure answers rather than the next rung. */
	ladder_init(&l, route("no-timeouts"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &slow, 1000, 0, &delay), LADDER_FAIL);
}
END_TEST

START_TEST(test_retries_same_rung_with_backoff)
{
	struct ladder l;
	uint64_t delay;

	ladder_init(&l, route("retries"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &s503, 10000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 0);
	ck_assert_uint_ge(delay, 50);	/* base 100ms, jitter [50%, 100%] */
	ck_assert_uint_le(delay, 100);
	ck_assert_int_eq(ladder_next(&l, &s503, 10000, 1023, &delay),
	    LADDER_TRY);
	ck_assert_int_eq(l.rung, 0);
	ck_assert_uint_ge(delay, 100);	/* doubled */
	ck_assert_uint_le(delay, 200);
	/* Third failure on t0: attempts (3) used up, on to t1 at once. */
	ck_assert_int_eq(ladder_next(&l, &s503, 10000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	ck_assert_uint_eq(delay, 0);
	ck_assert_int_eq(l.attempts, 4);
}
END_TEST

START_TEST(test_backoff_capped)
{
	const struct policy *p = &route("retries")->policy;

	ck_assert_uint_le(ladder_backoff(p, 10, 1023), 300);
	ck_assert_uint_ge(ladder_backoff(p, 10, 0), 150);
}
END_TEST

START_TEST(test_deadline_skips_backoff)
{
	struct ladder l;
	uint64_t delay;

	/* 40 ms left cannot hold a 50-100 ms backoff: next rung instead. */
	ladder_init(&l, route("retries"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &s503, 40, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	/* No time left at all: the safe failure. */
	ck_assert_int_eq(ladder_next(&l, &s503, 0, 0, &delay), LADDER_FAIL);
}
END_TEST

static enum fail_kind
openai_only(const struct target *t, int i, bool strict, void *arg)
{
	(void)i;
	(void)strict;
	(void)arg;
	return t->provider->dialect == DIALECT_OPENAI ? FK_NONE : FK_CONTENT;
}

START_TEST(test_unusable_rungs_skipped)
{
	struct ladder l;
	uint64_t delay;

	ladder_init(&l, route("one-try"), openai_only, NULL);
	ladder_first(&l);
	ck_assert_int_eq(l.rung, 0);
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 2);	/* t1 speaks anthropic: skipped */
	ck_assert_int_eq(l.attempts, 2);	/* a skip costs no attempt */
}
END_TEST

/* A hedge takes the next rung that qualifies beside the running one;
 * after it the walk goes on past both, and with nothing left the ladder
 * is as it was. */
START_TEST(test_hedge_next_rung)
{
	struct ladder l;
	uint64_t delay;

	ladder_init(&l, route("one-try"), openai_only, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_hedge(&l), LADDER_TRY);
	ck_assert_int_eq(l.rung, 2);	/* t1 speaks anthropic: skipped */
	ck_assert_int_eq(l.attempts, 2);
	ck_assert_int_eq(ladder_hedge(&l), LADDER_FAIL);
	ck_assert_int_eq(l.rung, 2);	/* untouched */
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay),
	    LADDER_FAIL);	/* t0 and t2 tried, t1 unusable */
}
END_TEST

/* A group's members are consecutive rungs, tried in the call's order:
 * a member's failure goes to the next member, then the next rung. */
START_TEST(test_group_members_in_call_order)
{
	const struct route *r = route("group");
	static const uint8_t order[] = { 2, 0, 1 };
	struct ladder l;
	uint64_t delay;

	ck_assert_uint_eq(r->nladder, 4);
	ck_assert_uint_eq(r->ngroups, 1);
	ck_assert_int_eq(r->groups[0].pick, GROUP_WEIGHTED);
	ck_assert_uint_eq(r->groups[0].weight[0], 3);
	ck_assert_uint_eq(r->groups[0].weight[1], 1);
	ck_assert_uint_eq(r->groups[0].weight[2], 2);
	ck_assert_int_eq(route_group(r, 2), 0);
	ck_assert_int_eq(route_group(r, 3), -1);
	ladder_init(&l, r, NULL, NULL);
	ladder_group_order(&l, 0, order);
	ck_assert_int_eq(ladder_first(&l), LADDER_TRY);
	ck_assert_int_eq(l.rung, 2);
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 0);
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 3);
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_FAIL);
}
END_TEST

/* on_member_failure: next_rung: a member's failure leaves its group;
 * a member passed over (not usable) still hands on to the next one. */
static enum fail_kind
not_t1(const struct target *t, int i, bool strict, void *arg)
{
	(void)i;
	(void)strict;
	(void)arg;
	return strcmp(t->name, "t1") == 0 ? FK_TECHNICAL : FK_NONE;
}

START_TEST(test_group_next_rung)
{
	const struct route *r = route("group-next-rung");
	static const uint8_t order[] = { 1, 2, 0 };
	struct ladder l;
	uint64_t delay;

	ladder_init(&l, r, not_t1, NULL);
	ladder_group_order(&l, 0, order);
	ladder_first(&l);
	ck_assert_int_eq(l.rung, 0);		/* t4 */
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 3);		/* t1 passed over: t2 */
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 4);		/* not t0: the next rung */
}
END_TEST

static enum fail_kind
none(const struct target *t, int i, bool strict, void *arg)
{
	(void)t;
	(void)i;
	(void)strict;
	(void)arg;
	return FK_TECHNICAL;
}

START_TEST(test_nothing_usable)
{
	struct ladder l;

	ladder_init(&l, route("one-try"), none, NULL);
	ck_assert_int_eq(ladder_first(&l), LADDER_FAIL);
	ck_assert_int_eq(l.attempts, 0);
}
END_TEST

START_TEST(test_retry_after_parsed)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT is 784111777. */
	static const char date[] = "retry-after: Sun, 06 Nov 1994 08:49:37 "
	    "GMT\r\n";
	static const char both[] = "Content-Type: x\r\nRetry-After: 7\r\n"
	    "retry-after-ms: 1234.5\r\n";

	ck_assert_uint_eq(retry_after_ms("Retry-After: 30\r\n", 17, 0),
	    30000);
	ck_assert_uint_eq(retry_after_ms(both, sizeof(both) - 1, 0), 1234);
	ck_assert_uint_eq(retry_after_ms(date, sizeof(date) - 1,
	    784111777 - 12), 12000);
	/* In the past, nonsense, zero, absent, absurdly far: no wish. */
	ck_assert_uint_eq(retry_after_ms(date, sizeof(date) - 1, 784111777),
	    0);
	ck_assert_uint_eq(retry_after_ms("Retry-After: soon\r\n", 19, 0), 0);
	ck_assert_uint_eq(retry_after_ms("Retry-After: 0\r\n", 16, 0), 0);
	ck_assert_uint_eq(retry_after_ms("X-Retry-After: 5\r\n", 18, 0), 0);
	ck_assert_uint_eq(retry_after_ms("Retry-After: 99999999\r\n", 23, 0),
	    0);
	ck_assert_uint_eq(retry_after_ms("", 0, 0), 0);
}
END_TEST

START_TEST(test_retry_after_waits_or_moves_on)
{
	struct outcome soon = { OUT_OK, 429, 300, FK_NONE, NULL, false, false };
	struct outcome later = { OUT_OK, 429, 30000, FK_NONE, NULL, false, false };
	struct ladder l;
	uint64_t delay;

	/* Short: one wait on the same rung, as long as it asked. */
	ladder_init(&l, route("patient"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &soon, 10000, 0, &delay),
	    LADDER_TRY);
	ck_assert_int_eq(l.rung, 0);
	ck_assert_uint_eq(delay, 300);
	/* Only once per rung: asked again, it moves on. */
	ck_assert_int_eq(ladder_next(&l, &soon, 10000, 0, &delay),
	    LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	ck_assert_uint_eq(delay, 0);
	/* Long (over retry_after_max): the next rung at once. */
	ladder_init(&l, route("patient"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &later, 60000, 0, &delay),
	    LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	ck_assert_uint_eq(delay, 0);
	/* A wait past the deadline is no wait either. */
	ladder_init(&l, route("patient"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &soon, 200, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
}
END_TEST

START_TEST(test_classes)
{
	struct outcome o = { .kind = OUT_OK, .status = 200 };

	/* technical: transport failures, timeouts, 5xx, 529, 429, a broken
	 * 2xx body. */
	o.kind = OUT_CONNECT;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_TECHNICAL);
	o.kind = OUT_TIMEOUT_IDLE;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_TECHNICAL);
	o.kind = OUT_OK;
	o.status = 529;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_TECHNICAL);
	o.status = 429;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_TECHNICAL);
	o.status = 200;
	o.body = FK_TECHNICAL;		/* stream without its end marker */
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_TECHNICAL);
	ck_assert_int_eq(fail_kind_class(FK_TECHNICAL), FC_TECHNICAL);
	/* business and policy: what the body's reader found. */
	o.body = FK_QUALITY;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_QUALITY);
	ck_assert_int_eq(fail_kind_class(FK_QUALITY), FC_BUSINESS);
	o.body = FK_CONTENT;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_CONTENT);
	ck_assert_int_eq(fail_kind_class(FK_CONTENT), FC_POLICY);
	o.body = FK_NONE;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_NONE);
	/* A 400 that says the context is too small is policy; any other
	 * is the caller's. */
	o.status = 400;
	o.body = FK_CONTEXT;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_CONTEXT);
	ck_assert_int_eq(fail_kind_class(FK_CONTEXT), FC_POLICY);
	o.body = FK_NONE;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_CLIENT);
	/* 401: the caller's own key is the caller's problem; llmfb's key
	 * is the target's. */
	o.status = 401;
	o.own_key = true;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_CLIENT);
	o.own_key = false;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_TECHNICAL);
	o.status = 403;
	ck_assert_int_eq(outcome_classify(&o, NULL), FK_REGION);
	ck_assert_int_eq(fail_kind_class(FK_REGION), FC_POLICY);
	ck_assert_int_eq(fail_kind_class(FK_LATENCY), FC_BUSINESS);
	ck_assert_int_eq(fail_kind_class(FK_BUDGET), FC_BUSINESS);
}
END_TEST

START_TEST(test_rung_per_class)
{
	struct outcome empty = { OUT_OK, 200, 0, FK_QUALITY, "empty", false, false };
	struct outcome refusal = { OUT_OK, 200, 0, FK_CONTENT, "refusal",
		false, false };
	struct outcome context = { OUT_OK, 400, 0, FK_CONTEXT, "context",
		false, false };
	struct ladder l;
	uint64_t delay;

	/* quality names t2 (its kind beats its class, business: t3). */
	ladder_init(&l, route("classes"), NULL, NULL);
	ladder_first(&l);
	ck_assert_int_eq(ladder_next(&l, &empty, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 2);
	ck_assert_uint_eq(delay, 0);	/* business: one attempt per rung */
	/* technical: retried once on the rung (attempts 2), then next: the
	 * first rung not tried, t1. */
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 2);
	ck_assert_uint_gt(delay, 0);
	ck_assert_int_eq(ladder_next(&l, &s503, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
	/* policy goes to t4. */
	ck_assert_int_eq(ladder_next(&l, &refusal, 1000, 0, &delay),
	    LADDER_TRY);
	ck_assert_int_eq(l.rung, 4);
	ck_assert_int_eq(l.rungs_tried, 4);
	/* context: fail, the route says. */
	ck_assert_int_eq(ladder_next(&l, &context, 1000, 0, &delay),
	    LADDER_FAIL);
	/* A rung already tried is not tried again: quality from t2 with
	 * t2 used goes to the first untried rung. */
	ladder_init(&l, route("classes"), NULL, NULL);
	ladder_first(&l);
	ladder_next(&l, &empty, 1000, 0, &delay);
	ck_assert_int_eq(l.rung, 2);
	ck_assert_int_eq(ladder_next(&l, &empty, 1000, 0, &delay), LADDER_TRY);
	ck_assert_int_eq(l.rung, 1);
}
END_TEST

/* t0 over budget, t3 over its SLO. */
static enum fail_kind
budget_and_slo(const struct target *t, int i, bool strict, void *arg)
{
	int *calls = arg;

	(void)t;
	calls[i]++;
	if (i == 0)
		return FK_BUDGET;
	if (i == 3 && strict)
		return FK_LATENCY;
	if (i == 1 || i == 2 || i == 4)
		return FK_REGION;
	return FK_NONE;
}

START_TEST(test_skips_follow_the_route)
{
	int calls[5] = { 0 };
	struct ladder l;

	/* t0 is over budget: business goes to t3, which is over its SLO;
	 * latency is business too (t3 again, looked at), then the rest
	 * do not qualify: the slow t3 beats nothing. */
	ladder_init(&l, route("classes"), budget_and_slo, calls);
	ck_assert_int_eq(ladder_first(&l), LADDER_TRY);
	ck_assert_int_eq(l.rung, 3);
	ck_assert_int_eq(l.attempts, 1);
	ck_assert_int_eq(calls[0], 1);
	ck_assert_int_eq(calls[3], 2);	/* strict, then waived */
	ck_assert_int_eq(calls[1] + calls[2] + calls[4], 3);
}
END_TEST

static Suite *
ladder_suite(void)
{
	Suite *s = suite_create("ladder");
	TCase *tc = tcase_create("stepping");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_first_answers);
	tcase_add_test(tc, test_group_members_in_call_order);
	tcase_add_test(tc, test_group_next_rung);
	tcase_add_test(tc, test_own_key_refused_moves_on);
	tcase_add_test(tc, test_foreign_4xx_moves_on);
	tcase_add_test(tc, test_walks_down_then_fails);
	tcase_add_test(tc, test_not_in_retry_on_is_delivered);
	tcase_add_test(tc, test_unretried_technical_fails_safely);
	tcase_add_test(tc, test_retries_same_rung_with_backoff);
	tcase_add_test(tc, test_backoff_capped);
	tcase_add_test(tc, test_deadline_skips_backoff);
	tcase_add_test(tc, test_unusable_rungs_skipped);
	tcase_add_test(tc, test_hedge_next_rung);
	tcase_add_test(tc, test_nothing_usable);
	tcase_add_test(tc, test_retry_after_parsed);
	tcase_add_test(tc, test_retry_after_waits_or_moves_on);
	tcase_add_test(tc, test_classes);
	tcase_add_test(tc, test_rung_per_class);
	tcase_add_test(tc, test_skips_follow_the_route);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ladder_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
