/* The mistakes a config lets through unless told (issue 19): each is an
 * error or a warning that names file, line and column and says what to
 * write instead. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static char err[CONFIG_ERR_MAX];

/* A provider and two targets, so that routes can be written after it
 * (7 lines: a route's first line is line 8). */
#define PT "intercept: [api.openai.com]\n" \
	"providers:\n  p: { dialect: openai, base_url: 'https://x' }\n" \
	"targets:\n  a: { provider: p }\n  b: { provider: p, " \
	"price: { input: 1, output: 2 } }\n" \
	"routes:\n"

static struct config *
load_ok(const char *text)
{
	struct config *c = config_load_string("w.yaml", text, err,
	    sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

static void
load_bad(const char *text, const char *want)
{
	struct config *c = config_load_string("bad.yaml", text, err,
	    sizeof(err));

	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, want);
}

/* ---- durations need a unit ---------------------------------------- */

/* Every key that takes a duration, with a bare number. */
static const struct {
	const char	*text;
	const char	*want;
} bare[] = {
	{ "stop_timeout: 30\n", "bad.yaml:1:15: stop_timeout: '30' has no "
	    "unit: write 30s or 30ms (units: ms, s, m, h)" },
	{ "limits: { request_timeout: 30 }\n", "bad.yaml:1:28: "
	    "request_timeout: '30' has no unit: write 30s or 30ms (units: ms, "
	    "s, m, h)" },
	{ "limits: { idle_timeout: 120 }\n", "bad.yaml:1:25: idle_timeout: "
	    "'120' has no unit: write 120s or 120ms (units: ms, s, m, h)" },
	{ "breaker: { cooldown: 30 }\n", "bad.yaml:1:22: breaker.cooldown: "
	    "'30' has no unit: write 30s or 30ms (units: ms, s, m, h)" },
	{ "breaker: { window: 60 }\n", "bad.yaml:1:20: breaker.window: '60' "
	    "has no unit: write 60s or 60ms (units: ms, s, m, h)" },
	{ "defaults:\n  backoff: { base: 200 }\n", "bad.yaml:2:20: "
	    "backoff.base: '200' has no unit: write 200s or 200ms (units: ms, "
	    "s, m, h)" },
	{ "defaults:\n  backoff: { max: 2 }\n", "bad.yaml:2:19: backoff.max: "
	    "'2' has no unit: write 2s or 2ms (units: ms, s, m, h)" },
	{ "defaults:\n  timeouts: { connect: 5 }\n", "bad.yaml:2:24: "
	    "timeouts.connect: '5' has no unit: write 5s or 5ms (units: ms, "
	    "s, m, h)" },
	{ "defaults:\n  timeouts: { first_byte: 10 }\n", "bad.yaml:2:27: "
	    "timeouts.first_byte: '10' has no unit: write 10s or 10ms (units: "
	    "ms, s, m, h)" },
	{ "defaults:\n  timeouts: { first_token: 10 }\n", "bad.yaml:2:28: "
	    "timeouts.first_token: '10' has no unit: write 10s or 10ms (units: "
	    "ms, s, m, h)" },
	{ "defaults:\n  timeouts: { idle: 60 }\n", "bad.yaml:2:21: "
	    "timeouts.idle: '60' has no unit: write 60s or 60ms (units: ms, s, "
	    "m, h)" },
	{ "defaults:\n  timeouts: { total: 600 }\n", "bad.yaml:2:22: "
	    "timeouts.total: '600' has no unit: write 600s or 600ms (units: "
	    "ms, s, m, h)" },
	{ "defaults:\n  deadline: 900\n", "bad.yaml:2:13: deadline: '900' "
	    "has no unit: write 900s or 900ms (units: ms, s, m, h)" },
	{ "defaults:\n  retry_after_max: 1\n", "bad.yaml:2:20: "
	    "retry_after_max: '1' has no unit: write 1s or 1ms (units: ms, s, "
	    "m, h)" },
	{ "defaults:\n  safe_failure: { retry_after: 30 }\n",
	    "bad.yaml:2:32: safe_failure.retry_after: '30' has no unit: write "
	    "30s or 30ms (units: ms, s, m, h)" },
	{ "defaults:\n  slo: { first_token_p95: 5 }\n", "bad.yaml:2:27: "
	    "slo.first_token_p95: '5' has no unit: write 5s or 5ms (units: ms, "
	    "s, m, h)" },
	{ "defaults:\n  slo: { total_p95: 20 }\n", "bad.yaml:2:21: "
	    "slo.total_p95: '20' has no unit: write 20s or 20ms (units: ms, s, "
	    "m, h)" },
	{ "defaults:\n  slo: { window: 300 }\n", "bad.yaml:2:18: slo.window: "
	    "'300' has no unit: write 300s or 300ms (units: ms, s, m, h)" },
	/* On a target's own breaker and on a route too. */
	{ "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  a: { provider: p, breaker: { cooldown: 15 } }\n",
	    "bad.yaml:4:42: breaker.cooldown: '15' has no unit: write 15s or "
	    "15ms (units: ms, s, m, h)" },
	{ PT "  - ladder: [a]\n    deadline: 30\n", "bad.yaml:9:15: deadline: "
	    "'30' has no unit: write 30s or 30ms (units: ms, s, m, h)" },
};

START_TEST(test_duration_bare)
{
	load_bad(bare[_i].text, bare[_i].want);
}
END_TEST

START_TEST(test_duration_units)
{
	struct config *c = load_ok(PT "  - ladder: [a]\n"
	    "    timeouts: { connect: 1500ms, first_token: 30s, total: 2m,"
	    " idle: 1h }\n"
	    "    retry_after_max: 0\n");
	const struct route *r = &c->routes[0];

	ck_assert_uint_eq(r->policy.connect_timeout_ms, 1500);
	ck_assert_uint_eq(r->policy.first_byte_timeout_ms, 30000);
	ck_assert_uint_eq(r->policy.total_timeout_ms, 120000);
	ck_assert_uint_eq(r->policy.idle_timeout_ms, 3600000);
	/* 0 is 0 in every unit: it needs none. */
	ck_assert_uint_eq(r->policy.retry_after_max_ms, 0);
	ck_assert_uint_eq(c->nwarnings, 0);
	config_unref(c);
}
END_TEST

/* ---- retry_on replaces the defaults -------------------------------- */

START_TEST(test_retry_on_drops)
{
	struct config *c = load_ok(PT "  - ladder: [a]\n"
	    "    retry_on: [429, 500, 503]\n");

	ck_assert_uint_eq(c->nwarnings, 1);
	ck_assert_str_eq(c->warnings[0], "w.yaml:9:15: warning: retry_on "
	    "replaces the defaults; 502, 504, 529, connect, timeout are no "
	    "longer retried: list them to keep them");
	config_unref(c);
}
END_TEST

/* Against what it inherits: defaults:'s own list, not the built-in. */
START_TEST(test_retry_on_inherits)
{
	struct config *c = load_ok("defaults:\n"
	    "  retry_on: [429, 5xx, connect, timeout]\n"
	    PT "  - ladder: [a]\n    retry_on: [429, 5xx, connect]\n"
	    "  - ladder: [b]\n    retry_on: [5xx, 429, timeout, connect]\n");

	/* defaults: keeps every one of the built-in list; route0 drops
	 * timeout; route1 lists them all in another order. */
	ck_assert_uint_eq(c->nwarnings, 1);
	ck_assert_str_eq(c->warnings[0], "w.yaml:11:15: warning: retry_on "
	    "replaces the defaults; timeout is no longer retried: list it to "
	    "keep it");
	config_unref(c);
}
END_TEST

/* 4xx in the inherited list: a long list is cut, and says how many. */
START_TEST(test_retry_on_many)
{
	struct config *c = load_ok("defaults:\n  retry_on: [4xx, 5xx]\n"
	    PT "  - ladder: [a]\n    retry_on: [503]\n");

	/* defaults: drops connect and timeout of the built-in list. */
	ck_assert_uint_eq(c->nwarnings, 2);
	ck_assert_str_eq(c->warnings[0], "w.yaml:2:13: warning: retry_on "
	    "replaces the defaults; connect, timeout are no longer retried: "
	    "list them to keep them");
	ck_assert_str_eq(c->warnings[1], "w.yaml:11:15: warning: retry_on "
	    "replaces the defaults; 400, 401, 402, 403, 404, 405, 406, 407 "
	    "and 191 more are no longer retried: list them to keep them");
	config_unref(c);
}
END_TEST

/* ---- unknown keys: what llmfb calls them --------------------------- */

static const struct {
	const char	*text;
	const char	*want;
} unknown[] = {
	{ PT "  - ladder: [a]\n    max_retries: 3\n", "bad.yaml:9:5: unknown "
	    "key 'max_retries' in route: llmfb calls it 'attempts' (tries per "
	    "target, e.g. attempts: 2)" },
	{ PT "  - fallbacks: [a, b]\n", "bad.yaml:8:5: unknown key 'fallbacks' "
	    "in route: llmfb calls it 'ladder' (the targets in order, e.g. "
	    "ladder: [gpt-4o, claude])" },
	{ PT "  - ladder: [a, b]\n    weights: [3, 1]\n", "bad.yaml:9:5: "
	    "unknown key 'weights' in route: weights are a ladder group's: "
	    "ladder: [{ group: [a, b], pick: weighted, weights: { a: 3 } }]" },
	{ "defaults:\n  timeout: 30s\n", "bad.yaml:2:3: unknown key 'timeout' "
	    "in defaults: llmfb calls it 'timeouts' (per attempt: timeouts: { "
	    "connect: 5s, first_token: 60s, total: 10m }; the whole call: "
	    "deadline)" },
	/* The same name elsewhere points at that section's key. */
	{ "limits: { timeout: 30s }\n", "bad.yaml:1:11: unknown key 'timeout' "
	    "in limits: llmfb calls it 'request_timeout' (a request's head and "
	    "body)" },
	{ "providers:\n  p: { dialect: openai, base_url: 'https://x', "
	    "api_key: sk-1 }\n", "bad.yaml:2:48: unknown key 'api_key' in "
	    "provider: llmfb calls it 'api_key_env' (api_key_env: VARIABLE or "
	    "api_key_file: PATH (a key is never written in the file))" },
	{ "providers:\n  p: { dialect: openai, api_base: 'https://x' }\n",
	    "bad.yaml:2:25: unknown key 'api_base' in provider: llmfb calls "
	    "it 'base_url' (e.g. base_url: https://api.openai.com/v1)" },
	{ PT "  - ladder: [a]\n    cooldown: 30s\n", "bad.yaml:9:5: unknown "
	    "key 'cooldown' in route" },
	{ "breaker: { cooldwon: 30s }\n", "bad.yaml:1:12: unknown key "
	    "'cooldwon' in breaker: did you mean 'cooldown'?" },
	{ PT "  - ladder: [a]\n    retry_onn: [503]\n", "bad.yaml:9:5: "
	    "unknown key 'retry_onn' in route: did you mean 'retry_on'?" },
	{ PT "  - ladedr: [a]\n", "bad.yaml:8:5: unknown key 'ladedr' in "
	    "route: did you mean 'ladder'?" },
	{ "intercpet: [api.openai.com]\n", "bad.yaml:1:1: unknown key "
	    "'intercpet' in the configuration: did you mean 'intercept'?" },
	{ "hosts: [api.openai.com]\n", "bad.yaml:1:1: unknown key 'hosts' in "
	    "the configuration: llmfb calls it 'intercept' (the hosts the "
	    "shim hands to llmfbd)" },
	{ "model_list: []\n", "bad.yaml:1:1: unknown key 'model_list' in the "
	    "configuration: llmfb calls it 'targets' (a provider and a model "
	    "each)" },
	/* Far from every key: no guess. */
	{ "zzzzzz: 1\n", "bad.yaml:1:1: unknown key 'zzzzzz' in the "
	    "configuration" },
};

START_TEST(test_unknown_hint)
{
	load_bad(unknown[_i].text, unknown[_i].want);
}
END_TEST

/* ---- routes nobody reaches, and empty files ------------------------- */

START_TEST(test_dead_route)
{
	struct config *c = load_ok(PT
	    "  - match: { host: [api.openai.com, api.deepseek.com] }\n"
	    "    ladder: [a]\n"
	    "  - match: { host: api.groq.com }\n"
	    "    ladder: [a]\n");

	ck_assert_uint_eq(c->nwarnings, 2);
	ck_assert_str_eq(c->warnings[0], "w.yaml:8:37: warning: route "
	    "route0: match.host api.deepseek.com is not in intercept, so no "
	    "call for it reaches llmfbd: add it to intercept");
	ck_assert_str_eq(c->warnings[1], "w.yaml:10:20: warning: route "
	    "route1: match.host api.groq.com is not in intercept, so no call "
	    "for it reaches llmfbd and the route never matches: add it to "
	    "intercept");
	config_unref(c);
}
END_TEST

/* Wildcards either way round reach llmfbd. */
START_TEST(test_live_wildcards)
{
	struct config *c = load_ok("intercept: ['*.openai.azure.com', "
	    "api.mistral.ai]\n"
	    "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  a: { provider: p }\n"
	    "routes:\n"
	    "  - match: { host: x.openai.azure.com }\n    ladder: [a]\n"
	    "  - match: { host: '*.azure.com' }\n    ladder: [a]\n"
	    "  - match: { host: '*.mistral.ai' }\n    ladder: [a]\n"
	    "  - ladder: [a]\n");

	ck_assert_msg(c->nwarnings == 0, "%s", c->nwarnings ? c->warnings[0] :
	    "");
	config_unref(c);
}
END_TEST

START_TEST(test_no_intercept)
{
	struct config *c = load_ok(
	    "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  a: { provider: p }\n"
	    "routes:\n  - ladder: [a]\n");

	ck_assert_uint_eq(c->nwarnings, 1);
	ck_assert_str_eq(c->warnings[0], "w.yaml:6:5: warning: route route0: "
	    "intercept is empty, so no call reaches llmfbd and the route never "
	    "matches: list the providers' hosts in intercept");
	config_unref(c);
}
END_TEST

START_TEST(test_no_routes)
{
	struct config *c = load_ok("intercept: [api.openai.com]\n");

	ck_assert_uint_eq(c->nwarnings, 1);
	ck_assert_str_eq(c->warnings[0], "w.yaml:1:1: warning: no routes: "
	    "every intercepted call goes to its original host unchanged");
	config_unref(c);
}
END_TEST

START_TEST(test_empty)
{
	static const char *want = "bad.yaml:1:1: the configuration is "
	    "empty: it needs at least intercept, providers, targets and routes "
	    "(see llmfb.yaml(5) and examples/llmfb.yaml)";

	load_bad("", want);
	load_bad("# only a comment\n\n", want);
	/* An empty document is a null where the mapping would be. */
	load_bad("---\n", "bad.yaml:2:1: the configuration is empty: it "
	    "needs at least intercept, providers, targets and routes (see "
	    "llmfb.yaml(5) and examples/llmfb.yaml)");
}
END_TEST

/* ---- api_key_env must name a key ------------------------------------ */

#define KEYED "providers:\n" \
	"  p: { dialect: openai, base_url: 'https://x' }\n" \
	"  q:\n" \
	"    dialect: anthropic\n" \
	"    base_url: 'https://y'\n" \
	"    api_key_env: CHECK_LINT_KEY\n"

START_TEST(test_key_env_unset)
{
	unsetenv("CHECK_LINT_KEY");
	load_bad(KEYED, "bad.yaml:6:18: provider q: api_key_env "
	    "CHECK_LINT_KEY is not set (or empty) in llmfbd's environment: set "
	    "it (as a service, with EnvironmentFile= in a drop-in, see "
	    "llmfbd(8)), use api_key_file, or remove the line to send only the "
	    "callers' keys");
	setenv("CHECK_LINT_KEY", "", 1);
	load_bad(KEYED, "bad.yaml:6:18: provider q: api_key_env "
	    "CHECK_LINT_KEY is not set (or empty) in llmfbd's environment: set "
	    "it (as a service, with EnvironmentFile= in a drop-in, see "
	    "llmfbd(8)), use api_key_file, or remove the line to send only the "
	    "callers' keys");
}
END_TEST

START_TEST(test_key_env_set)
{
	struct config *c;

	setenv("CHECK_LINT_KEY", "sk-ant-lint", 1);
	c = load_ok(KEYED);
	ck_assert_str_eq(c->providers[1].api_key, "sk-ant-lint");
	ck_assert_ptr_null(c->providers[0].api_key);	/* none named */
	/* The key itself is in no message. */
	ck_assert_ptr_null(strstr(err, "sk-ant-lint"));
	config_unref(c);
}
END_TEST

/* ---- a cap on fallback spend ---------------------------------------- */

START_TEST(test_fallback_budget)
{
	struct config *c = load_ok(PT
	    "  - ladder: [a, b]\n"
	    "    budget: { fallback_hour: 0.5, fallback_day: 5 }\n"
	    "  - ladder: [a]\n");

	ck_assert(c->routes[0].budget.fallback_hour == 0.5);
	ck_assert(c->routes[0].budget.fallback_day == 5);
	ck_assert(c->routes[0].budget.hour < 0);	/* the route's: none */
	ck_assert(c->routes[1].budget.fallback_hour < 0);
	ck_assert(c->routes[1].budget.fallback_day < 0);
	config_unref(c);
	load_bad(PT "  - ladder: [a, b]\n    budget: { fallback_day: -1 }\n",
	    "bad.yaml:9:29: budget.fallback_day: '-1' is not a number from 0 "
	    "up");
	load_bad(PT "  - ladder: [a, b]\n    budget: { fallback: 5 }\n",
	    "bad.yaml:9:15: unknown key 'fallback' in budget");
}
END_TEST

static Suite *
lint_suite(void)
{
	Suite *s = suite_create("config_lint");
	TCase *tc = tcase_create("lint");

	tcase_add_loop_test(tc, test_duration_bare, 0,
	    sizeof(bare) / sizeof(bare[0]));
	tcase_add_test(tc, test_duration_units);
	tcase_add_test(tc, test_retry_on_drops);
	tcase_add_test(tc, test_retry_on_inherits);
	tcase_add_test(tc, test_retry_on_many);
	tcase_add_loop_test(tc, test_unknown_hint, 0,
	    sizeof(unknown) / sizeof(unknown[0]));
	tcase_add_test(tc, test_dead_route);
	tcase_add_test(tc, test_live_wildcards);
	tcase_add_test(tc, test_no_intercept);
	tcase_add_test(tc, test_no_routes);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_key_env_unset);
	tcase_add_test(tc, test_key_env_set);
	tcase_add_test(tc, test_fallback_budget);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lint_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
