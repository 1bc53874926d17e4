#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"

static char err[CONFIG_ERR_MAX];

static const char *good =
    "listen: /tmp/x.sock\n"
    "control: /tmp/c.sock\n"
    "intercept: [API.OpenAI.com, '*.azure.com']\n"
    "providers:\n"
    "  openai:\n"
    "    dialect: openai\n"
    "    base_url: https://api.openai.com/v1/\n"
    "    api_key_env: CHECK_CONFIG_KEY\n"
    "  claude: { dialect: anthropic, base_url: 'https://api.anthropic.com/v1' }\n"
    "targets:\n"
    "  gpt: { provider: openai, model: gpt-4o }\n"
    "  sonnet: { provider: claude }\n"
    "defaults:\n"
    "  attempts: 2\n"
    "  timeouts: { first_byte: 10s }\n"
    "routes:\n"
    "  - name: main  # a comment\n"
    "    match: { host: api.openai.com, model: ['gpt-*'] }\n"
    "    ladder: [gpt, sonnet]\n"
    "    retry_on: [429, 5xx, connect]\n"
    "    safe_failure: { status: 529, retry_after: 30s }\n"
    "  - ladder: [sonnet]\n";

START_TEST(test_good)
{
	struct config *c;
	const struct route *r;

	setenv("CHECK_CONFIG_KEY", "sk-test", 1);
	c = config_load_string("good.yaml", good, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->listen, "/tmp/x.sock");
	ck_assert_uint_eq(c->nintercept, 2);
	ck_assert_str_eq(c->intercept[0], "api.openai.com");
	ck_assert(config_intercepts(c, "x.openai.azure.com", 18));
	ck_assert(!config_intercepts(c, "example.com", 11));
	ck_assert_uint_eq(c->nproviders, 2);
	ck_assert_str_eq(c->providers[0].base_url, "https://api.openai.com/v1");
	ck_assert_str_eq(c->providers[0].origin, "api.openai.com");
	ck_assert_str_eq(c->providers[0].api_key, "sk-test");
	ck_assert_ptr_null(c->providers[1].api_key);
	ck_assert_int_eq(c->providers[1].dialect, DIALECT_ANTHROPIC);
	ck_assert_ptr_null(config_target(c, "sonnet")->model);
	ck_assert_uint_eq(c->nroutes, 2);
	r = &c->routes[0];
	ck_assert_str_eq(r->name, "main");
	ck_assert_uint_eq(r->nladder, 2);
	ck_assert_str_eq(r->ladder[1]->name, "sonnet");
	ck_assert_int_eq(r->policy.attempts, 2);	/* from defaults */
	ck_assert_uint_eq(r->policy.first_byte_timeout_ms, 10000);
	ck_assert_uint_eq(r->policy.connect_timeout_ms, 5000);
	ck_assert(retry_on_status(&r->policy.retry_on, 429));
	ck_assert(retry_on_status(&r->policy.retry_on, 503));
	ck_assert(!retry_on_status(&r->policy.retry_on, 400));
	ck_assert(r->policy.retry_on.connect);
	ck_assert(!r->policy.retry_on.timeout);	/* not listed */
	ck_assert_int_eq(r->policy.safe.status, 529);
	ck_assert_uint_eq(r->policy.safe.retry_after_s, 30);
	ck_assert_str_eq(c->routes[1].name, "route1");
	/* The second route keeps the default retry_on. */
	ck_assert(c->routes[1].policy.retry_on.timeout);
	config_unref(c);
}
END_TEST

/* Azure OpenAI: the key's header, api-version, deployments, and a
 * base_url whose query stays apart from its path. */
START_TEST(test_azure)
{
	static const char *const bad_az[][2] = {
		{ "  p: { dialect: openai, base_url: 'https://x', "
		    "auth_header: cookie }\n", "az.yaml:2:61: auth_header must "
		    "be bearer, x-api-key or api-key, not 'cookie'" },
		{ "  p: { dialect: openai, base_url: 'https://x', "
		    "api_version: '2024 10' }\n", "az.yaml:2:61: api_version "
		    "must be like 2024-10-21" },
		{ "  p: { dialect: openai, base_url: "
		    "'https://x/openai?api-version=1', api_version: '2' }\n",
		    "az.yaml:2:82: api_version is in base_url already: give "
		    "it once" },
		{ "  p: { dialect: anthropic, base_url: 'https://x' }\n"
		    "targets:\n  t: { provider: p, deployment: d }\n",
		    "az.yaml:4:33: target t: deployment is for Azure OpenAI, "
		    "an openai provider" },
		{ "  p: { dialect: openai, base_url: 'https://x' }\n"
		    "targets:\n  t: { provider: p, deployment: 'a/b' }\n",
		    "az.yaml:4:33: deployment must be a name of letters, "
		    "digits, '-', '_' and '.'" },
	};
	struct config *c;
	char text[512];
	size_t i;

	c = config_load_string("az.yaml", "providers:\n"
	    "  az:\n"
	    "    dialect: openai\n"
	    "    base_url: https://res.openai.azure.com/openai/\n"
	    "    api_version: 2024-10-21\n"
	    "  azq:\n"
	    "    dialect: openai\n"
	    "    base_url: 'https://x/openai/v1/?api-version=preview'\n"
	    "    auth_header: api-key\n"
	    "  o: { dialect: openai, base_url: 'https://api.openai.com/v1' }\n"
	    "  a: { dialect: anthropic, base_url: 'https://h/v1' }\n"
	    "  ab: { dialect: openai, base_url: 'https://h/v1', "
	    "auth_header: x-api-key }\n"
	    "targets:\n"
	    "  t: { provider: az, model: gpt-4o, deployment: gpt-4o.prod_1 }\n"
	    "  u: { provider: azq }\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->providers[0].base_url,
	    "https://res.openai.azure.com/openai");
	ck_assert_int_eq(c->providers[0].auth, AUTH_API_KEY);	/* the host */
	ck_assert_str_eq(c->providers[0].api_version, "2024-10-21");
	ck_assert_str_eq(c->providers[1].base_url,
	    "https://x/openai/v1?api-version=preview");
	ck_assert_int_eq(c->providers[1].auth, AUTH_API_KEY);
	ck_assert_ptr_null(c->providers[1].api_version);
	ck_assert_int_eq(c->providers[2].auth, AUTH_BEARER);
	ck_assert_int_eq(c->providers[3].auth, AUTH_X_API_KEY);
	ck_assert_int_eq(c->providers[4].auth, AUTH_X_API_KEY);
	ck_assert_str_eq(config_target(c, "t")->deployment, "gpt-4o.prod_1");
	ck_assert_ptr_null(config_target(c, "u")->deployment);
	config_unref(c);

	for (i = 0; i < sizeof(bad_az) / sizeof(bad_az[0]); i++) {
		snprintf(text, sizeof(text), "providers:\n%s", bad_az[i][0]);
		c = config_load_string("az.yaml", text, err, sizeof(err));
		ck_assert_msg(c == NULL, "case %zu loaded", i);
		ck_assert_str_eq(err, bad_az[i][1]);
	}
}
END_TEST

START_TEST(test_defaults)
{
	/* Not empty (an empty file is an error): one key, at its default. */
	struct config *c = config_load_string("min.yaml",
	    "listen: " CONFIG_DEFAULT_LISTEN "\n", err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->listen, CONFIG_DEFAULT_LISTEN);
	ck_assert_str_eq(c->control, CONFIG_DEFAULT_CONTROL);
	ck_assert_uint_eq(c->max_request_body, 32u << 20);
	ck_assert_uint_eq(c->nroutes, 0);
	ck_assert_int_eq(c->ebpf, EBPF_AUTO);
	ck_assert(c->network_watch);
	config_unref(c);
}
END_TEST

/* exclude: the globs the hosts file carries; stop_timeout's default. */
START_TEST(test_deploy_keys)
{
	struct config *c;

	c = config_load_string("d.yaml", "listen: /x\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->nexclude, 0);
	ck_assert_uint_eq(c->stop_timeout_ms, 30000);
	config_unref(c);
	c = config_load_string("d.yaml", "exclude: [\"/opt/*\", sshd]\n"
	    "stop_timeout: 2m\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->nexclude, 2);
	ck_assert_str_eq(c->exclude[0], "/opt/*");
	ck_assert_str_eq(c->exclude[1], "sshd");
	ck_assert_uint_eq(c->stop_timeout_ms, 120000);
	config_unref(c);
	c = config_load_string("d.yaml", "exclude: python3\n", err,
	    sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->nexclude, 1);
	config_unref(c);
}
END_TEST

/* The data socket's limits: defaults a host of 10,000 streams can use,
 * and each key read. */
START_TEST(test_limits)
{
	struct config *c;

	c = config_load_string("l.yaml", "listen: /x\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->max_clients, 16384);
	ck_assert_uint_eq(c->max_clients_per_user, 12288);
	ck_assert_uint_eq(c->request_timeout_ms, 30000);
	ck_assert_uint_eq(c->idle_timeout_ms, 120000);
	ck_assert_uint_eq(c->max_answer_body, 64ULL << 20);
	config_unref(c);
	c = config_load_string("l.yaml", "limits: { max_clients: 100, "
	    "max_clients_per_user: 10, request_timeout: 5s, idle_timeout: 1m,"
	    " max_answer_body: 8MiB }\n", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->max_clients, 100);
	ck_assert_uint_eq(c->max_clients_per_user, 10);
	ck_assert_uint_eq(c->request_timeout_ms, 5000);
	ck_assert_uint_eq(c->idle_timeout_ms, 60000);
	ck_assert_uint_eq(c->max_answer_body, 8ULL << 20);
	config_unref(c);
}
END_TEST

/* otel: off unless given; its endpoint is required and a URL; headers
 * become lines. */
START_TEST(test_otel)
{
	static const char *const bad[] = {
		"otel: { service_name: x }\n",
		"otel: { endpoint: 127.0.0.1:4318 }\n",
		"otel: { endpoint: 'http://c', headers: { 'a b': x } }\n",
		"otel: { endpoint: 'http://c', color: red }\n",
	};
	struct config *c;
	char text[4096];
	size_t i;

	c = config_load_string("o.yaml", good, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_ptr_null(c->otel_endpoint);
	config_unref(c);
	snprintf(text, sizeof(text), "%sotel: { endpoint: "
	    "'http://127.0.0.1:4318', headers: { X-Token: abc } }\n", good);
	c = config_load_string("o.yaml", text, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->otel_endpoint, "http://127.0.0.1:4318");
	ck_assert_str_eq(c->otel_service, "llmfbd");
	ck_assert_uint_eq(c->notel_headers, 1);
	ck_assert_str_eq(c->otel_headers[0], "X-Token: abc");
	config_unref(c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", good, bad[i]);
		c = config_load_string("o.yaml", text, err, sizeof(err));
		ck_assert_msg(c == NULL, "%s loaded", bad[i]);
		ck_assert_msg(strstr(err, "otel") != NULL, "%s", err);
	}
}
END_TEST

START_TEST(test_kernel_keys)
{
	static const struct {
		const char	*text;
		enum ebpf_mode	 ebpf;
		bool		 watch, bypass;
	} cases[] = {
		/* The bypass watch is off unless asked for: it costs every
		 * TLS program on the host. */
		{ "ebpf: on\n", EBPF_ON, true, false },
		{ "ebpf: off\nnetwork_watch: false\n", EBPF_OFF, false, false },
		{ "ebpf: auto\nnetwork_watch: off\nbypass_watch: no\n",
		    EBPF_AUTO, false, false },
		{ "ebpf: auto\nbypass_watch: yes\n", EBPF_AUTO, true, true },
	};
	struct config *c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = config_load_string("k.yaml", cases[i].text, err,
		    sizeof(err));
		ck_assert_msg(c != NULL, "%s", err);
		ck_assert_int_eq(c->ebpf, cases[i].ebpf);
		ck_assert(c->network_watch == cases[i].watch);
		ck_assert(c->bypass_watch == cases[i].bypass);
		config_unref(c);
	}
}
END_TEST

#define PT "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n" \
    "targets:\n  a: { provider: p }\n  b: { provider: p }\n"

/* Each bad config and the exact error it must give. */
static const struct {
	const char *text;
	const char *want;
} bad[] = {
	{ "listen: [a\n", "bad.yaml:2:1: did not find expected ',' or ']'" },
	{ "listne: /x\n", "bad.yaml:1:1: unknown key 'listne' in the "
	    "configuration: did you mean 'listen'?" },
	{ "listen: /x\nebpf: maybe\n", "bad.yaml:2:7: ebpf must be auto, "
	    "on or off" },
	{ "network_watch: 2\n", "bad.yaml:1:16: network_watch must be true "
	    "or false" },
	{ "exclude: [a, \"b\\nc\"]\n", "bad.yaml:1:14: exclude: 'b\nc': a "
	    "glob of at most 255 printable characters" },
	{ "exclude: { a: b }\n", "bad.yaml:1:10: exclude must be a list" },
	{ "stop_timeout: soon\n", "bad.yaml:1:15: stop_timeout: 'soon' is "
	    "not a duration (e.g. 500ms, 30s, 2m)" },
	{ "limits:\n  request_timeout: never\n", "bad.yaml:2:20: "
	    "request_timeout: 'never' is not a duration (e.g. 500ms, 30s, 2m)" },
	{ "limits: { idle_timeout: 10ms }\n", "bad.yaml:1:9: limits out of "
	    "range (request_timeout and idle_timeout at least 100ms)" },
	{ "limits: { max_answer_body: 1KiB }\n", "bad.yaml:1:9: limits out "
	    "of range (max_request_body up to 1GiB, max_header_size 1KiB to "
	    "16MiB, max_answer_body 1MiB to 4GiB)" },
	{ "limits: { max_clients_per_user: 0 }\n", "bad.yaml:1:33: "
	    "max_clients_per_user must be a whole number from 1 to 1000000" },
	{ "providers:\n  p: { dialect: grpc, base_url: https://x }\n",
	    "bad.yaml:2:17: dialect must be openai, anthropic, "
	    "openai-responses or openai-completions, not 'grpc'" },
	{ "providers:\n  p: { dialect: openai }\n",
	    "bad.yaml:2:3: provider p: base_url is required" },
	{ "providers:\n  p: { dialect: openai, base_url: ftp://x }\n",
	    "bad.yaml:2:35: base_url must start with https:// or http://" },
	{ "targets:\n  t: { provider: nope }\n",
	    "bad.yaml:2:18: target t: no provider named 'nope'" },
	{ "routes:\n  - ladder: [ghost]\n",
	    "bad.yaml:2:14: route route0: no target named 'ghost'" },
	{ "routes:\n  - ladder: []\n", "bad.yaml:2:13: route route0: ladder "
	    "is empty" },
	{ "routes:\n  - match: {}\n", "bad.yaml:2:5: route route0: ladder is "
	    "required" },
	{ "defaults:\n  retry_on: [600]\n", "bad.yaml:2:14: retry_on: '600' "
	    "is not an HTTP status (400-599), 4xx, 5xx, connect or timeout" },
	{ "defaults:\n  timeouts: { first_byte: soon }\n", "bad.yaml:2:27: "
	    "timeouts.first_byte: 'soon' is not a duration (e.g. 500ms, 30s, "
	    "2m)" },
	{ "defaults:\n  attempts: 0\n", "bad.yaml:2:13: attempts must be a "
	    "whole number from 1 to 10" },
	{ "defaults:\n  ladder: [x]\n", "bad.yaml:2:3: unknown key 'ladder' "
	    "in defaults: it is a route's own, put it on each route" },
	{ "defaults:\n  budget: { day: 5 }\n", "bad.yaml:2:3: unknown key "
	    "'budget' in defaults: it is a route's own, put it on each route" },
	{ "intercept: [api.openai.com, 'bad host']\n", "bad.yaml:1:29: "
	    "intercept: 'bad host' is not a host name (or *.domain)" },
	{ "limits: { max_request_body: lots }\n", "bad.yaml:1:29: "
	    "max_request_body: 'lots' is not a size (e.g. 64KiB, 32MiB)" },
	{ "listen: /a\nlisten: /b\n", "bad.yaml:2:1: duplicate key" },
	{ "base: &a {x: 1}\nother: *a\n", "bad.yaml:2:8: aliases are not "
	    "supported" },
	{ "- just\n- a list\n", "bad.yaml:1:1: the configuration must be a "
	    "mapping" },
	{ "routes:\n  - name: \"a\\r\\nSet-Cookie: x\"\n    ladder: [t]\n",
	    "bad.yaml:2:11: route name 'a\r\nSet-Cookie: x': use 1 to 64 "
	    "letters, digits and . - _ :" },
	{ "targets:\n  'two words': { provider: p }\n", "bad.yaml:2:3: "
	    "target name 'two words': use 1 to 64 letters, digits and . - _ :" },
	{ "listen: /s\ncontrol: /s\n", "bad.yaml:2:10: control and listen "
	    "must be different sockets" },
	{ "providers:\n  p: { dialect: openai, base_url: 'https://x', "
	    "api_key_file: /nonexistent/key }\n", "bad.yaml:2:62: "
	    "api_key_file /nonexistent/key: No such file or directory" },
	{ "breaker: { ratio: 150% }\n", "bad.yaml:1:19: breaker.ratio must "
	    "be a percentage from 0% to 100%" },
	{ "breaker: { cooldown: later }\n", "bad.yaml:1:22: breaker.cooldown: "
	    "'later' is not a duration (e.g. 500ms, 30s, 2m)" },
	{ "breaker: { probes: 0 }\n", "bad.yaml:1:20: breaker.probes must be "
	    "a whole number from 1 to 1000" },
	{ "breaker: { fails: 3 }\n", "bad.yaml:1:12: unknown key 'fails' in "
	    "breaker" },
	{ PT "routes:\n  - ladder: [a, b]\n    on: { quality: c }\n",
	    "bad.yaml:8:20: route route0: on: 'c' is not next, fail or a "
	    "target of its ladder" },
	{ PT "routes:\n  - ladder: [a, b]\n    on: { speed: a }\n",
	    "bad.yaml:8:11: unknown key 'speed' in on" },
	{ PT "routes:\n  - ladder: [a, b, a]\n", "bad.yaml:7:20: route "
	    "route0: target 'a' is on the ladder twice" },
	/* Groups of targets on a rung. */
	{ PT "routes:\n  - ladder: [{ group: [a, b], pick: fastest }]\n",
	    "bad.yaml:7:37: route route0: pick: 'fastest' is not order, "
	    "weighted, least-busy, latency or price" },
	{ PT "routes:\n  - ladder: [{ group: [a, b], weights: { c: 2 } }]\n",
	    "bad.yaml:7:42: route route0: weights: 'c' is not a member of "
	    "the group" },
	{ PT "routes:\n  - ladder: [{ group: [a, b], weights: { a: -1 } }]\n",
	    "bad.yaml:7:45: a weight must be a whole number from 1 to "
	    "1000000" },
	{ PT "routes:\n  - ladder: [{ group: [a, b], pick: price, weights: "
	    "{ a: 2 } }]\n", "bad.yaml:7:53: route route0: weights are for "
	    "pick: weighted, not price" },
	{ PT "routes:\n  - ladder: [{ group: [a, b], on_member_failure: x }]\n",
	    "bad.yaml:7:50: route route0: on_member_failure: 'x' is not "
	    "next_member or next_rung" },
	{ PT "routes:\n  - ladder: [{ group: [] }]\n", "bad.yaml:7:23: route "
	    "route0: a group has 1 to 16 targets" },
	{ PT "routes:\n  - ladder: [{ pick: weighted }]\n", "bad.yaml:7:14: "
	    "route route0: a ladder item that is a map is a group: group: "
	    "[TARGET, ...] is required" },
	{ PT "routes:\n  - ladder: [a, { group: [b, a] }]\n", "bad.yaml:7:30: "
	    "route route0: target 'a' is on the ladder twice" },
	{ PT "routes:\n  - ladder: [{ group: [a], weight: 1 }]\n",
	    "bad.yaml:7:28: unknown key 'weight' in ladder group: weights are "
	    "a ladder group's: ladder: [{ group: [a, b], pick: weighted, "
	    "weights: { a: 3 } }]" },
	{ "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  a: { provider: p, price: { input: -1 } }\n",
	    "bad.yaml:4:37: price.input: '-1' is not a number from 0 up" },
	{ "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  a: { provider: p, price: { in: 1 } }\n",
	    "bad.yaml:4:30: unknown key 'in' in price" },
	{ PT "routes:\n  - ladder: [a]\n    match: { uid: nosuchuser-x }\n",
	    "bad.yaml:8:19: match.uid: no user named 'nosuchuser-x'" },
	{ PT "routes:\n  - ladder: [a]\n    fallback_targets: [z]\n",
	    "bad.yaml:8:23: route route0: fallback_targets: no target named "
	    "'z'" },
	{ "defaults:\n  midstream: resume\n", "bad.yaml:2:14: midstream must "
	    "be error or continue" },
	{ "defaults:\n  quality: { json: maybe }\n", "bad.yaml:2:20: "
	    "quality.json must be true or false" },
	{ "defaults:\n  quality: { hold_stream: all }\n", "bad.yaml:2:27: "
	    "quality.hold_stream must be true, false or json" },
	{ "defaults:\n  attempts: { technical: 2, social: 1 }\n",
	    "bad.yaml:2:29: unknown key 'social' in attempts" },
	{ PT "routes:\n  - ladder: [a]\n    budget: { hour: lots }\n",
	    "bad.yaml:8:21: budget.hour: 'lots' is not a number from 0 up" },
	{ "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  a: { provider: p, model: { 'claude-*': [x] } }\n",
	    "bad.yaml:4:42: model must be a scalar" },
};

static const char *ladder_yaml =
    "state_dir: /tmp/st\n"
    "events: /tmp/ev.log\n"
    "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
    "targets:\n"
    "  big: { provider: p, price: { input: 2.5, output: 10 },"
    " context: 128000, tags: [eu, hipaa], max_concurrency: 4 }\n"
    "  cheap: { provider: p, price: { input: 0.15, output: 0.6 } }\n"
    "  local: { provider: p, model: { 'claude-3-5-*': qwen-big,"
    " 'claude-*': qwen, '*': qwen-small } }\n"
    "defaults:\n"
    "  attempts: { technical: 3, policy: 2 }\n"
    "  timeouts: { first_token: 2s, idle: 5s }\n"
    "routes:\n"
    "  - name: r\n"
    "    match: { exe: '/usr/bin/*', uid: [0, root], gid: 0 }\n"
    "    ladder: [big, cheap, local]\n"
    "    on: { business: cheap, latency: local, policy: fail,"
    " dialect: cheap }\n"
    "    require_tags: [eu]\n"
    "    fallback_targets: [local]\n"
    "    fallback_max_price: 0\n"
    "    budget: { hour: 1, day: 5.5, caller_day: 0.25 }\n"
    "    slo: { first_token_p95: 1500ms, total_p95: 20s }\n"
    "    quality: { length: true, json: false, hold_stream: json }\n"
    "    midstream: continue\n";

START_TEST(test_ladder_policy)
{
	struct config *c = config_load_string("l.yaml", ladder_yaml, err,
	    sizeof(err));
	const struct target *big;
	const struct route *r;

	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->state_dir, "/tmp/st");
	ck_assert_str_eq(c->events, "/tmp/ev.log");
	big = config_target(c, "big");
	ck_assert(big->price.input == 2.5 && big->price.output == 10);
	ck_assert_uint_eq(big->context, 128000);
	ck_assert(target_has_tag(big, "hipaa"));
	ck_assert(!target_has_tag(config_target(c, "cheap"), "eu"));
	ck_assert_uint_eq(big->max_concurrency, 4);
	/* One model for all, a map tried in order, or the caller's. */
	ck_assert_str_eq(target_model(config_target(c, "local"),
	    "claude-3-5-haiku"), "qwen-big");
	ck_assert_str_eq(target_model(config_target(c, "local"),
	    "claude-opus-4"), "qwen");
	ck_assert_str_eq(target_model(config_target(c, "local"), NULL),
	    "qwen-small");
	ck_assert_ptr_null(target_model(big, "gpt-4o"));
	r = &c->routes[0];
	ck_assert_uint_eq(r->match.nuids, 2);
	ck_assert_uint_eq(r->match.uids[1], 0);		/* root, by name */
	ck_assert_int_eq(r->on[FK_BUDGET], 1);		/* from business */
	ck_assert_int_eq(r->on[FK_QUALITY], 1);
	ck_assert_int_eq(r->on[FK_LATENCY], 2);		/* its own */
	ck_assert_int_eq(r->on[FK_CONTEXT], RUNG_FAIL);	/* from policy */
	ck_assert_int_eq(r->on[FK_DIALECT], 1);		/* its own */
	ck_assert_int_eq(r->on[FK_TECHNICAL], RUNG_NEXT);
	ck_assert_uint_eq(r->nfallback_set, 1);
	ck_assert(r->policy.fallback_max_price == 0);
	ck_assert(r->budget.hour == 1 && r->budget.day == 5.5);
	ck_assert(r->budget.caller_day == 0.25 && r->budget.caller_hour < 0);
	ck_assert_uint_eq(r->policy.slo_first_token_ms, 1500);
	ck_assert_int_eq(r->policy.attempts, 3);
	ck_assert_int_eq(r->policy.attempts_business, 1);
	ck_assert_int_eq(r->policy.attempts_policy, 2);
	ck_assert_uint_eq(r->policy.first_byte_timeout_ms, 2000);
	ck_assert_uint_eq(r->policy.idle_timeout_ms, 5000);
	ck_assert(r->policy.q_length && !r->policy.q_json && r->policy.q_empty);
	ck_assert_int_eq(r->policy.q_hold_stream, HOLD_STREAM_JSON);
	ck_assert_int_eq(r->policy.midstream, MIDSTREAM_CONTINUE);
	config_unref(c);
}
END_TEST

START_TEST(test_breaker_inherits)
{
	struct config *c = config_load_string("b.yaml",
	    "breaker: { failures: 7, cooldown: 10s }\n"
	    "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n"
	    "  a: { provider: p }\n"
	    "  b: { provider: p, breaker: { failures: 2, ratio: 25% } }\n",
	    err, sizeof(err));
	const struct target *a, *b;

	ck_assert_msg(c != NULL, "%s", err);
	a = config_target(c, "a");
	b = config_target(c, "b");
	ck_assert_uint_eq(a->breaker.failures, 7);
	ck_assert_uint_eq(a->breaker.cooldown_ms, 10000);
	ck_assert_uint_eq(a->breaker.ratio_pct, 50);	/* built-in default */
	ck_assert_uint_eq(b->breaker.failures, 2);	/* its own */
	ck_assert_uint_eq(b->breaker.ratio_pct, 25);
	ck_assert_uint_eq(b->breaker.cooldown_ms, 10000);/* the global one */
	config_unref(c);
}
END_TEST

START_TEST(test_bad)
{
	struct config *c;

	c = config_load_string("bad.yaml", bad[_i].text, err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, bad[_i].want);
}
END_TEST

START_TEST(test_missing_file)
{
	ck_assert_ptr_null(config_load("/nonexistent/llmfb.yaml", err,
	    sizeof(err)));
	ck_assert_str_eq(err, "/nonexistent/llmfb.yaml: No such file or "
	    "directory");
}
END_TEST

START_TEST(test_refcount)
{
	struct config *c = config_load_string("x", good, err, sizeof(err));

	ck_assert_ptr_nonnull(c);
	config_ref(c);
	config_unref(c);
	ck_assert_int_eq(c->refs, 1);	/* still alive for its holder */
	config_unref(c);
}
END_TEST

/* ca: off unless enabled; its directory under state_dir unless said. */
START_TEST(test_local_ca)
{
	static const char *base = "intercept: [api.openai.com]\n"
	    "state_dir: /var/lib/x\n";
	char text[512];
	struct config *c;

	c = config_load_string("ca.yaml", base, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert(!c->ca_enabled);
	ck_assert_str_eq(c->ca_dir, "/var/lib/x/ca");
	config_unref(c);
	snprintf(text, sizeof(text), "%sca: { enabled: true, dir: /etc/ca }\n",
	    base);
	c = config_load_string("ca.yaml", text, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert(c->ca_enabled);
	ck_assert_str_eq(c->ca_dir, "/etc/ca");
	config_unref(c);
	snprintf(text, sizeof(text), "%sca: { enabled: true, dir: ca }\n",
	    base);
	ck_assert_ptr_null(config_load_string("ca.yaml", text, err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "absolute"));
	snprintf(text, sizeof(text), "%sca: { enable: true }\n", base);
	ck_assert_ptr_null(config_load_string("ca.yaml", text, err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "unknown key 'enable' in ca"));
	ck_assert_ptr_null(config_load_string("ca.yaml",
	    "ca: { enabled: true }\n", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "no intercepted host"));
}
END_TEST


/* hedge: under a route (or defaults): fixed or a percentile, its cap;
 * a mistake is named where it is. */
START_TEST(test_hedge)
{
	static const char *base = "intercept: [api.openai.com]\n"
	    "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  a: { provider: p }\n  b: { provider: p }\n"
	    "defaults:\n  hedge: { after: 800ms }\n"
	    "routes:\n  - name: r\n    ladder: [a, b]\n";
	static const struct {
		const char	*route_line;
		const char	*err;
	} wrong[] = {
		{ "    hedge: { after: p0 }\n", "h.yaml:12:21: hedge.after" },
		{ "    hedge: { after: p100 }\n", "percentile is p1 to p99" },
		{ "    hedge: { after: 0ms }\n", "more than 0" },
		{ "    hedge: { after: 1s, max_percent: 0 }\n", "1 to 100" },
		{ "    hedge: { after: 1s, max_percent: 101% }\n", "1 to 100" },
		{ "    hedge: { after: 1s, every: 2 }\n",
		    "unknown key 'every' in hedge" },
		{ "    hedge: { after: soon }\n", "hedge.after" },
	};
	char text[1024];
	struct config *c;
	const struct policy *p;
	size_t i;

	c = config_load_string("h.yaml", base, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	p = &c->routes[0].policy;
	ck_assert(p->hedge_on);
	ck_assert_uint_eq(p->hedge_after_ms, 800);
	ck_assert_int_eq(p->hedge_pct, 0);
	ck_assert_int_eq(p->hedge_max_percent, 10);
	ck_assert_uint_eq(p->hedge_window_ms, 60000);
	config_unref(c);
	snprintf(text, sizeof(text), "%s    hedge: { after: p95, floor: 700ms,"
	    " min_samples: 8, max_percent: 5%%, window: 2m }\n", base);
	c = config_load_string("h.yaml", text, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	p = &c->routes[0].policy;
	ck_assert(p->hedge_on);
	ck_assert_int_eq(p->hedge_pct, 95);
	ck_assert_uint_eq(p->hedge_floor_ms, 700);
	ck_assert_int_eq(p->hedge_min_samples, 8);
	ck_assert_int_eq(p->hedge_max_percent, 5);
	ck_assert_uint_eq(p->hedge_window_ms, 120000);
	config_unref(c);
	/* A route changes what defaults set; without them, after is
	 * needed. */
	snprintf(text, sizeof(text), "%s    hedge: { max_percent: 5 }\n",
	    base);
	c = config_load_string("h.yaml", text, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	p = &c->routes[0].policy;
	ck_assert_uint_eq(p->hedge_after_ms, 800);
	ck_assert_int_eq(p->hedge_max_percent, 5);
	config_unref(c);
	ck_assert_ptr_null(config_load_string("h.yaml",
	    "intercept: [api.openai.com]\n"
	    "providers:\n  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  a: { provider: p }\n"
	    "routes:\n  - name: r\n    ladder: [a]\n"
	    "    hedge: { max_percent: 10 }\n", err, sizeof(err)));
	ck_assert_msg(strstr(err, "h.yaml:9:12: hedge needs after") != NULL,
	    "%s", err);
	snprintf(text, sizeof(text), "%s    hedge: off\n", base);
	c = config_load_string("h.yaml", text, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert(!c->routes[0].policy.hedge_on);
	config_unref(c);
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", base, wrong[i].route_line);
		ck_assert_ptr_null(config_load_string("h.yaml", text, err,
		    sizeof(err)));
		ck_assert_msg(strstr(err, wrong[i].err) != NULL, "%s: %s",
		    wrong[i].route_line, err);
	}
}
END_TEST

/* ---- shared: (a fleet on Redis) ---- */

START_TEST(test_shared)
{
	struct config *c, *d;
	char path[] = "/tmp/check_config_pw.XXXXXX";
	char text[512];
	FILE *f;
	int fd;

	c = config_load_string("s.yaml",
	    "shared: { address: 'unix:/run/r.sock' }", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->shared->socket, "/run/r.sock");
	ck_assert_ptr_null(c->shared->host);
	ck_assert_ptr_null(c->shared->password);
	ck_assert_str_eq(c->shared->prefix, "llmfb:");
	ck_assert_ptr_nonnull(c->shared->name);	/* the host name */
	ck_assert_uint_eq(c->shared->max_wait_ms, 5);
	ck_assert(c->shared->breakers && c->shared->budgets &&
	    c->shared->latency && c->shared->rate_limits);
	config_unref(c);

	c = config_load_string("e.yaml", "listen: /run/x.sock", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_ptr_null(c->shared);		/* not in a fleet */
	config_unref(c);

	setenv("CHECK_REDIS_PW", "s3cret", 1);
	c = config_load_string("s.yaml", "shared: { address: '[::1]:6380', "
	    "password_env: CHECK_REDIS_PW, prefix: 'team-a:', name: web-1, "
	    "max_wait: 2ms, budgets: false, latency: off }", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->shared->host, "::1");
	ck_assert_int_eq(c->shared->port, 6380);
	ck_assert_str_eq(c->shared->password, "s3cret");
	ck_assert_str_eq(c->shared->prefix, "team-a:");
	ck_assert_str_eq(c->shared->name, "web-1");
	ck_assert_uint_eq(c->shared->max_wait_ms, 2);
	ck_assert(c->shared->breakers && !c->shared->budgets &&
	    !c->shared->latency);

	/* The password from a file, one line; a reload that keeps it
	 * keeps the links (shared_conf_same). */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs("s3cret\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "shared: { address: '[::1]:6380', "
	    "password_file: %s, prefix: 'team-a:', name: web-1 }", path);
	d = config_load_string("s.yaml", text, err, sizeof(err));
	ck_assert_msg(d != NULL, "%s", err);
	ck_assert_str_eq(d->shared->password, "s3cret");
	ck_assert(shared_conf_same(c->shared, d->shared));
	config_unref(d);
	snprintf(text, sizeof(text), "shared: { address: '[::1]:6380', "
	    "password_file: %s, prefix: 'team-b:', name: web-1 }", path);
	d = config_load_string("s.yaml", text, err, sizeof(err));
	ck_assert_msg(d != NULL, "%s", err);
	ck_assert(!shared_conf_same(c->shared, d->shared));
	ck_assert(!shared_conf_same(c->shared, NULL));
	config_unref(d);
	unlink(path);
	config_unref(c);
}
END_TEST

/* A target's account: a label its rate limits are shared under in a
 * fleet (its name by default), a name so that no key or space gets
 * into Redis. */
START_TEST(test_account)
{
	struct config *c;

	c = config_load_string("a.yaml", "providers:\n"
	    "  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  t: { provider: p, account: org-1 }\n"
	    "  u: { provider: p }\n"
	    "shared: { address: 'h:1', rate_limits: false }\n", err,
	    sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(target_account(config_target(c, "t")), "org-1");
	ck_assert_str_eq(target_account(config_target(c, "u")), "u");
	ck_assert(!c->shared->rate_limits);
	config_unref(c);
	c = config_load_string("a.yaml", "providers:\n"
	    "  p: { dialect: openai, base_url: 'https://x' }\n"
	    "targets:\n  t: { provider: p, account: 'sk-a b' }\n", err,
	    sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, "a.yaml:4:30: account name 'sk-a b': use 1 "
	    "to 64 letters, digits and . - _ :");
}
END_TEST

/* The version the refusal of shared.tls names: Debian 12's is 0.14. */
#define STR_(x)		#x
#define STR(x)		STR_(x)
#define HIREDIS_VERSION	STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR)

static const struct {
	const char *text, *want;
} shared_bad[] = {
	{ "shared: { prefix: x }",
	  "b.yaml:1:9: shared: address is required (HOST:PORT or unix:/PATH)" },
	{ "shared: { address: redis }",
	  "b.yaml:1:20: shared.address: 'redis' is not HOST:PORT or "
	  "unix:/PATH" },
	{ "shared: { address: 'unix:r.sock' }",
	  "b.yaml:1:20: shared.address: a Unix socket path must be absolute" },
	{ "shared: { address: 'h:1', tls: true }",
	  "b.yaml:1:32: shared.tls: this build's hiredis (" HIREDIS_VERSION
	  ") has no TLS "
	  "(hiredis_ssl came with 1.0); reach Redis on a Unix socket, on "
	  "loopback, or through a TLS tunnel (stunnel, spiped)" },
	{ "shared: { address: 'h:1', password_env: CHECK_REDIS_UNSET }",
	  "b.yaml:1:41: shared.password_env: CHECK_REDIS_UNSET is not set" },
	{ "shared: { address: 'h:1', password_file: /nonexistent/pw }",
	  "b.yaml:1:42: shared.password_file /nonexistent/pw: No such file "
	  "or directory" },
	{ "shared: { address: 'h:1', max_wait: 2s }",
	  "b.yaml:1:9: shared.max_wait: from 1ms to 1s" },
	{ "shared: { address: 'h:1', prefix: 'a b' }",
	  "b.yaml:1:35: shared.prefix: at most 64 printable characters, no "
	  "spaces" },
	{ "shared: { address: 'h:1', colour: red }",
	  "b.yaml:1:27: unknown key 'colour' in shared" },
};

START_TEST(test_shared_bad)
{
	struct config *c;

	unsetenv("CHECK_REDIS_UNSET");
	c = config_load_string("b.yaml", shared_bad[_i].text, err,
	    sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, shared_bad[_i].want);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_azure);
	tcase_add_test(tc, test_kernel_keys);
	tcase_add_test(tc, test_otel);
	tcase_add_test(tc, test_deploy_keys);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_breaker_inherits);
	tcase_add_test(tc, test_ladder_policy);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_refcount);
	tcase_add_test(tc, test_local_ca);
	tcase_add_test(tc, test_hedge);
	tcase_add_test(tc, test_shared);
	tcase_add_test(tc, test_account);
	tcase_add_loop_test(tc, test_shared_bad, 0,
	    sizeof(shared_bad) / sizeof(shared_bad[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	/* good names it: an unset api_key_env is an error. */
	setenv("CHECK_CONFIG_KEY", "sk-test", 1);

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
