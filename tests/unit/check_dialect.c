/* Translation between the OpenAI and Anthropic dialects: golden pairs,
 * round trips that must keep the meaning, and robustness against any
 * input.
 *
 * A golden pair is one JSON file in tests/golden/dialect (or
 * $LLMFB_GOLDEN_DIR): {what: request|response|error, from: the caller's
 * dialect, to: the target's, in, out} (or why, for a request that does
 * not translate; out null for an answer that is not one), with created
 * for answers, status and out_status for errors (in a string for a body
 * that is not JSON), and optionally info, the flags expected (requests)
 * or given (answers).  Names say which way the content goes: req-a2o is
 * an Anthropic caller's request to an OpenAI target, resp-a2o and
 * err-a2o an Anthropic target's answer to an OpenAI caller. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"

#define GOLDEN_DIR	"tests/golden/dialect"
#define GOLDEN_MIN	30
/* More rounds or another seed: -DFUZZ_ROUNDS=... -DFUZZ_SEED=... */
#ifndef FUZZ_ROUNDS
#define FUZZ_ROUNDS	2000
#endif
#ifndef FUZZ_SEED
#define FUZZ_SEED	0x9e3779b97f4a7c15ULL
#endif

static const char *golden_dir;
static char **golden;
static size_t ngolden;

/* ---- golden files -------------------------------------------------------- */

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
golden_scan(void)
{
	struct dirent *de;
	size_t len;
	DIR *d;

	golden_dir = getenv("LLMFB_GOLDEN_DIR");
	if (golden_dir == NULL || *golden_dir == '\0')
		golden_dir = GOLDEN_DIR;
	if ((d = opendir(golden_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		golden = realloc(golden, (ngolden + 1) * sizeof(*golden));
		if (golden == NULL)
			abort();
		golden[ngolden++] = strdup(de->d_name);
	}
	closedir(d);
	if (ngolden > 0)
		qsort(golden, ngolden, sizeof(*golden), name_cmp);
}

static json_t *
golden_load(size_t i)
{
	char path[4096];
	json_error_t err;
	json_t *g;

	snprintf(path, sizeof(path), "%s/%s", golden_dir, golden[i]);
	g = json_load_file(path, 0, &err);
	ck_assert_msg(json_is_object(g), "%s: line %d: %s", golden[i],
	    err.line, err.text);
	return g;
}

static const char *
str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool
eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static enum dialect
dialect_of(const json_t *g, const char *key)
{
	const char *s = str(g, key);

	ck_assert_msg(s != NULL && (strcmp(s, "openai") == 0 ||
	    strcmp(s, "anthropic") == 0), "bad %s", key);
	return strcmp(s, "openai") == 0 ? DIALECT_OPENAI : DIALECT_ANTHROPIC;
}

static void
info_of(const json_t *g, struct dialect_info *info)
{
	memset(info, 0, sizeof(*info));
	info->from = dialect_of(g, "from");
	info->to = dialect_of(g, "to");
	info->created = json_integer_value(json_object_get(g, "created"));
	info->json_tool = json_is_true(json_object_get(json_object_get(g,
	    "info"), "json_tool"));
}

/* Fails the test, showing both, when they differ. */
static void
expect_equal(const char *what, const char *name, const json_t *got,
    const json_t *want)
{
	char *g, *w;

	if (json_equal(got, want))
		return;
	g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	w = want ? json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	ck_abort_msg("%s %s:\n got  %s\n want %s", name, what,
	    g ? g : "NULL", w ? w : "NULL");
}

static bool
why_ok(const char *why)
{
	return memchr(why, '\0', DIALECT_WHY_MAX) != NULL && why[0] != '\0';
}

/* ---- the pairs ------------------------------------------------------------ */

static void
golden_request(const char *name, const json_t *g)
{
	const json_t *in = json_object_get(g, "in");
	const json_t *flags = json_object_get(g, "info");
	const char *want_why = str(g, "why"), *key;
	struct dialect_info info;
	char why[DIALECT_WHY_MAX];
	json_t *copy = json_deep_copy(in), *out, *v;
	bool got;

	info_of(g, &info);
	info.json_tool = !info.json_tool;	/* must be set either way */
	memset(why, 'x', sizeof(why));
	out = dialect_request(in, &info, why);
	expect_equal("input changed", name, in, copy);
	if (want_why != NULL) {
		ck_assert_msg(out == NULL, "%s: translated", name);
		ck_assert_msg(why_ok(why), "%s: why not set", name);
		ck_assert_msg(strcmp(why, want_why) == 0, "%s: why %s, not %s",
		    name, why, want_why);
	} else {
		ck_assert_msg(out != NULL, "%s: refused: %s", name,
		    why_ok(why) ? why : "(why not set)");
		expect_equal("request", name, out, json_object_get(g, "out"));
	}
	json_object_foreach((json_t *)flags, key, v) {
		got = strcmp(key, "stream") == 0 ? info.stream :
		    strcmp(key, "include_usage") == 0 ? info.include_usage :
		    strcmp(key, "json_tool") == 0 ? info.json_tool : !v;
		ck_assert_msg(got == json_is_true(v), "%s: info.%s", name, key);
	}
	json_decref(copy);
	json_decref(out);
}

static void
golden_response(const char *name, const json_t *g)
{
	const json_t *in = json_object_get(g, "in");
	struct dialect_info info;
	json_t *copy = json_deep_copy(in), *out;

	info_of(g, &info);
	out = dialect_response(in, &info);
	expect_equal("input changed", name, in, copy);
	if (json_is_null(json_object_get(g, "out")))
		ck_assert_msg(out == NULL, "%s: translated", name);
	else
		expect_equal("response", name, out, json_object_get(g, "out"));
	json_decref(copy);
	json_decref(out);
}

static void
golden_error(const char *name, const json_t *g)
{
	const json_t *in = json_object_get(g, "in");
	struct dialect_info info;
	char *body;
	json_t *out;
	int st = 0;

	info_of(g, &info);
	body = json_is_string(in) ? strdup(json_string_value(in)) :
	    json_dumps(in, JSON_COMPACT);
	ck_assert(body != NULL);
	out = dialect_error(json_integer_value(json_object_get(g, "status")),
	    body, strlen(body), info.to, info.from, &st);
	ck_assert_msg(st == json_integer_value(json_object_get(g,
	    "out_status")), "%s: status %d", name, st);
	expect_equal("error", name, out, json_object_get(g, "out"));
	json_decref(out);
	free(body);
}

START_TEST(test_golden_count)
{
	ck_assert_msg(ngolden >= GOLDEN_MIN, "%zu golden pairs in %s, want "
	    "%d or more", ngolden, golden_dir, GOLDEN_MIN);
}
END_TEST

START_TEST(test_golden)
{
	json_t *g = golden_load((size_t)_i);
	const char *what = str(g, "what"), *name = golden[_i];

	ck_assert_msg(what != NULL, "%s: no what", name);
	if (strcmp(what, "request") == 0)
		golden_request(name, g);
	else if (strcmp(what, "response") == 0)
		golden_response(name, g);
	else if (strcmp(what, "error") == 0)
		golden_error(name, g);
	else
		ck_abort_msg("%s: what %s", name, what);
	json_decref(g);
}
END_TEST

/* ---- meaning, whatever the dialect ---------------------------------------- */

/* A conversation reduced to what it means: events ["user", text],
 * ["image", url], ["result", id, text], ["assistant", text], ["call", id,
 * name, input]; the system text; the tools' names and schemas and the
 * choice among them; the limits.  Both dialects' ways of saying one thing
 * reduce to the same. */

static json_t *
cat3(const char *a, const char *b, const char *c)
{
	json_t *j;
	char *s;

	if (asprintf(&s, "%s%s%s", a, b, c) < 0)
		abort();
	j = json_string(s);
	free(s);
	return j;
}

/* Appends event e; texts of the assistant next to each other are one,
 * and an empty one is none, as they are once translated. */
static void
event(json_t *ev, json_t *e)
{
	size_t n = json_array_size(ev);
	json_t *last = n > 0 ? json_array_get(ev, n - 1) : NULL;

	if (strcmp(json_string_value(json_array_get(e, 0)), "assistant") ==
	    0) {
		if (json_string_length(json_array_get(e, 1)) == 0) {
			json_decref(e);
			return;
		}
		if (last != NULL && strcmp(json_string_value(json_array_get(
		    last, 0)), "assistant") == 0) {
			json_array_set_new(last, 1, cat3(json_string_value(
			    json_array_get(last, 1)), "", json_string_value(
			    json_array_get(e, 1))));
			json_decref(e);
			return;
		}
	}
	json_array_append_new(ev, e);
}

/* Text blocks or parts joined with sep, or a string; absent, "". */
static json_t *
joined(const json_t *c, const char *sep)
{
	const json_t *b;
	json_t *s = json_string(""), *t;
	size_t i;

	if (json_is_string(c)) {
		json_decref(s);
		return json_string(json_string_value(c));
	}
	json_array_foreach(c, i, b) {
		t = cat3(json_string_value(s), i > 0 ? sep : "",
		    str(b, "text") ? str(b, "text") : "");
		json_decref(s);
		s = t;
	}
	return s;
}

/* Arguments as JSON when they are an object ("" is none), else as the
 * string they were. */
static json_t *
args_of(const json_t *args)
{
	json_t *j;

	if (json_string_length(args) == 0)
		return json_object();
	j = json_loads(json_string_value(args), 0, NULL);
	if (json_is_object(j))
		return j;
	json_decref(j);
	return json_string(json_string_value(args));
}

static void
put_number(json_t *n, const char *key, const json_t *v, double cap)
{
	double d = json_number_value(v);

	if (v != NULL && !json_is_null(v))
		json_object_set_new(n, key, json_real(d > cap ? cap : d));
}

static json_t *
anthropic_image(const json_t *src)
{
	json_t *a, *b;

	if (str(src, "url") != NULL)
		return json_string(str(src, "url"));
	a = cat3("data:", str(src, "media_type"), ";base64,");
	b = cat3(json_string_value(a), str(src, "data"), "");
	json_decref(a);
	return b;
}

static void
norm_anthropic_user(json_t *ev, const json_t *c)
{
	const json_t *b;
	json_t *text;
	const char *type;
	size_t i;
	int pass;

	if (json_is_string(c)) {
		event(ev, json_pack("[ss]", "user", json_string_value(c)));
		return;
	}
	/* Tool results first: OpenAI has them before the rest. */
	for (pass = 0; pass < 2; pass++) {
		json_array_foreach(c, i, b) {
			type = str(b, "type");
			if ((strcmp(type, "tool_result") == 0) != (pass == 0))
				continue;
			if (strcmp(type, "text") == 0)
				event(ev, json_pack("[ss]", "user",
				    str(b, "text")));
			else if (strcmp(type, "image") == 0)
				event(ev, json_pack("[so]", "image",
				    anthropic_image(json_object_get(b,
				    "source"))));
			else {
				text = joined(json_object_get(b, "content"),
				    "\n");
				event(ev, json_pack("[sso]", "result",
				    str(b, "tool_use_id"), json_is_true(
				    json_object_get(b, "is_error")) ?
				    cat3("Error: ", json_string_value(text), "") :
				    json_incref(text)));
				json_decref(text);
			}
		}
	}
}

static void
norm_anthropic_assistant(json_t *ev, const json_t *c)
{
	const json_t *b;
	size_t i;

	if (json_is_string(c)) {
		event(ev, json_pack("[ss]", "assistant", json_string_value(c)));
		return;
	}
	json_array_foreach(c, i, b) {
		if (strcmp(str(b, "type"), "text") == 0)
			event(ev, json_pack("[ss]", "assistant",
			    str(b, "text")));
		else if (strcmp(str(b, "type"), "tool_use") == 0)
			event(ev, json_pack("[sssO]", "call", str(b, "id"),
			    str(b, "name"), json_object_get(b, "input")));
	}
}

static json_t *
norm_anthropic_request(const json_t *r)
{
	json_t *n = json_object(), *ev = json_array(), *tools = json_array();
	const json_t *m, *t, *fmt, *tc = json_object_get(r, "tool_choice");
	json_t *sys = joined(json_object_get(r, "system"), "\n");
	size_t i;

	json_array_foreach(json_object_get(r, "messages"), i, m) {
		if (strcmp(str(m, "role"), "user") == 0)
			norm_anthropic_user(ev, json_object_get(m, "content"));
		else
			norm_anthropic_assistant(ev, json_object_get(m,
			    "content"));
	}
	json_object_set_new(n, "events", ev);
	if (json_string_length(sys) > 0)
		json_object_set(n, "system", sys);
	json_decref(sys);
	/* output_config.format: an answer in a schema, which the OpenAI
	 * side asks with response_format (the same json_answer tool). */
	fmt = json_object_get(json_object_get(r, "output_config"), "format");
	if (eq(str(fmt, "type"), "json_schema")) {
		json_array_append_new(tools, json_pack("[sO]", "json_answer",
		    json_object_get(fmt, "schema")));
		json_object_set_new(n, "tool_choice",
		    json_string("tool:json_answer"));
	}
	json_array_foreach(json_object_get(r, "tools"), i, t)
		json_array_append_new(tools, json_pack("[sO]", str(t, "name"),
		    json_object_get(t, "input_schema")));
	if (json_array_size(tools) > 0 && tc != NULL) {
		if (str(tc, "name") != NULL)
			json_object_set_new(n, "tool_choice", cat3("tool:",
			    str(tc, "name"), ""));
		else
			json_object_set_new(n, "tool_choice",
			    json_string(str(tc, "type")));
		if (json_is_true(json_object_get(tc,
		    "disable_parallel_tool_use")))
			json_object_set_new(n, "parallel", json_false());
	}
	if (json_array_size(tools) > 0)
		json_object_set(n, "tools", tools);
	json_decref(tools);
	json_object_set_new(n, "max_tokens", json_copy(json_object_get(r,
	    "max_tokens")));
	if (json_array_size(json_object_get(r, "stop_sequences")) > 0)
		json_object_set(n, "stop", json_object_get(r,
		    "stop_sequences"));
	put_number(n, "temperature", json_object_get(r, "temperature"), 1);
	put_number(n, "top_p", json_object_get(r, "top_p"), 1);
	json_object_set_new(n, "stream", json_boolean(json_is_true(
	    json_object_get(r, "stream"))));
	return n;
}

static void
norm_openai_message(json_t *ev, json_t *sys, const json_t *m)
{
	const char *role = str(m, "role");
	const json_t *c = json_object_get(m, "content"), *p, *tc;
	size_t i;

	if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
		json_array_append_new(sys, json_pack("{s:o}", "text",
		    joined(c, "\n")));
	else if (strcmp(role, "tool") == 0)
		event(ev, json_pack("[sso]", "result", str(m, "tool_call_id"),
		    joined(c, "\n")));
	else if (strcmp(role, "user") == 0 && json_is_string(c))
		event(ev, json_pack("[ss]", "user", json_string_value(c)));
	else if (strcmp(role, "user") == 0) {
		json_array_foreach(c, i, p) {
			if (strcmp(str(p, "type"), "text") == 0)
				event(ev, json_pack("[ss]", "user",
				    str(p, "text")));
			else
				event(ev, json_pack("[ss]", "image", str(
				    json_object_get(p, "image_url"), "url")));
		}
	} else {
		if (json_is_string(c))
			event(ev, json_pack("[ss]", "assistant",
			    json_string_value(c)));
		json_array_foreach(c, i, p)
			event(ev, json_pack("[ss]", "assistant",
			    str(p, "text") ? str(p, "text") :
			    str(p, "refusal")));
		if (str(m, "refusal") != NULL)
			event(ev, json_pack("[ss]", "assistant",
			    str(m, "refusal")));
		json_array_foreach(json_object_get(m, "tool_calls"), i, tc)
			event(ev, json_pack("[ssso]", "call", str(tc, "id"),
			    str(json_object_get(tc, "function"), "name"),
			    args_of(json_object_get(json_object_get(tc,
			    "function"), "arguments"))));
	}
}

static void
norm_openai_tools(json_t *n, const json_t *r)
{
	const json_t *rf = json_object_get(r, "response_format"), *t, *fn;
	const json_t *tc = json_object_get(r, "tool_choice");
	const json_t *ptc = json_object_get(r, "parallel_tool_calls");
	json_t *tools = json_array(), *schema;
	size_t i;

	if (str(rf, "type") != NULL && strcmp(str(rf, "type"), "text") != 0) {
		schema = json_object_get(json_object_get(rf, "json_schema"),
		    "schema");
		json_array_append_new(tools, schema != NULL ?
		    json_pack("[sO]", "json_answer", schema) :
		    json_pack("[s{ss}]", "json_answer", "type", "object"));
		json_object_set_new(n, "tool_choice",
		    json_string("tool:json_answer"));
	}
	json_array_foreach(json_object_get(r, "tools"), i, t) {
		fn = json_object_get(t, "function");
		json_array_append_new(tools, json_object_get(fn, "parameters") ?
		    json_pack("[sO]", str(fn, "name"), json_object_get(fn,
		    "parameters")) : json_pack("[s{ss}]", str(fn, "name"),
		    "type", "object"));
	}
	if (json_array_size(tools) > 0 && json_is_string(tc))
		json_object_set_new(n, "tool_choice", json_string(
		    strcmp(json_string_value(tc), "required") == 0 ? "any" :
		    json_string_value(tc)));
	else if (json_array_size(tools) > 0 && tc != NULL)
		json_object_set_new(n, "tool_choice", cat3("tool:",
		    str(json_object_get(tc, "function"), "name"), ""));
	else if (json_array_size(tools) > 0 && json_is_false(ptc))
		json_object_set_new(n, "tool_choice", json_string("auto"));
	if (json_array_size(tools) > 0 && json_is_false(ptc) &&
	    !eq(str(n, "tool_choice"), "none"))
		json_object_set_new(n, "parallel", json_false());
	if (json_array_size(tools) > 0)
		json_object_set(n, "tools", tools);
	json_decref(tools);
}

static json_t *
norm_openai_request(const json_t *r)
{
	json_t *n = json_object(), *ev = json_array(), *sys = json_array();
	json_t *sysj, *stop = json_object_get(r, "stop");
	const json_t *m;
	json_t *mt;
	size_t i;

	json_array_foreach(json_object_get(r, "messages"), i, m)
		norm_openai_message(ev, sys, m);
	json_object_set_new(n, "events", ev);
	sysj = joined(sys, "\n");
	if (json_string_length(sysj) > 0)
		json_object_set(n, "system", sysj);
	json_decref(sysj);
	json_decref(sys);
	norm_openai_tools(n, r);
	mt = json_object_get(r, "max_completion_tokens");
	if (mt == NULL)
		mt = json_object_get(r, "max_tokens");
	json_object_set_new(n, "max_tokens", mt != NULL ? json_copy(mt) :
	    json_integer(DIALECT_MAX_TOKENS_DEFAULT));
	if (json_is_string(stop))
		json_object_set_new(n, "stop", json_pack("[O]", stop));
	else if (json_array_size(stop) > 0)
		json_object_set(n, "stop", stop);
	put_number(n, "temperature", json_object_get(r, "temperature"), 1);
	put_number(n, "top_p", json_object_get(r, "top_p"), 1);
	json_object_set_new(n, "stream", json_boolean(json_is_true(
	    json_object_get(r, "stream"))));
	return n;
}

static json_t *
norm_request(const json_t *r, enum dialect d)
{
	return d == DIALECT_OPENAI ? norm_openai_request(r) :
	    norm_anthropic_request(r);
}

/* An answer reduced to its text, tool calls, finish reason (OpenAI's
 * words) and token counts [prompt, completion, cached]. */
static json_t *
norm_answer(json_t *text, json_t *calls, const char *finish,
    json_int_t prompt, json_int_t completion, json_int_t cached)
{
	json_t *n = json_pack("{s:s?}", "finish", finish);

	if (json_string_length(text) > 0)
		json_object_set(n, "text", text);
	json_decref(text);
	if (json_array_size(calls) > 0)
		json_object_set(n, "calls", calls);
	json_decref(calls);
	if (prompt > 0 || completion > 0)
		json_object_set_new(n, "usage", json_pack("[III]", prompt,
		    completion, cached));
	return n;
}

static json_t *
norm_anthropic_response(const json_t *r, bool json_tool)
{
	static const char *const stops[][2] = {
		{ "end_turn", "stop" }, { "stop_sequence", "stop" },
		{ "pause_turn", "stop" }, { "max_tokens", "length" },
		{ "model_context_window_exceeded", "length" },
		{ "tool_use", "tool_calls" }, { "refusal", "content_filter" },
	};
	const json_t *b, *u = json_object_get(r, "usage");
	json_t *text = json_string(""), *calls = json_array(), *t;
	const char *stop = str(r, "stop_reason"), *finish = NULL, *type;
	bool answer = false;
	size_t i;
	char *s;

	json_array_foreach(json_object_get(r, "content"), i, b) {
		type = str(b, "type");
		if (eq(type, "text"))
			s = strdup(str(b, "text"));
		else if (eq(type, "tool_use") && json_tool &&
		    eq(str(b, "name"), DIALECT_JSON_TOOL)) {
			s = json_dumps(json_object_get(b, "input"),
			    JSON_COMPACT);
			answer = true;
		} else {
			if (eq(type, "tool_use"))
				json_array_append_new(calls, json_pack(
				    "[ssO]", str(b, "id"), str(b, "name"),
				    json_object_get(b, "input")));
			continue;
		}
		t = cat3(json_string_value(text), s, "");
		free(s);
		json_decref(text);
		text = t;
	}
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (eq(stop, stops[i][0]))
			finish = stops[i][1];
	if (answer && eq(finish, "tool_calls"))
		finish = "stop";
	return norm_answer(text, calls, finish,
	    json_integer_value(json_object_get(u, "input_tokens")) +
	    json_integer_value(json_object_get(u, "cache_read_input_tokens")) +
	    json_integer_value(json_object_get(u,
	    "cache_creation_input_tokens")),
	    json_integer_value(json_object_get(u, "output_tokens")),
	    json_integer_value(json_object_get(u, "cache_read_input_tokens")));
}

static json_t *
norm_openai_response(const json_t *r)
{
	const json_t *c = json_array_get(json_object_get(r, "choices"), 0);
	const json_t *m = json_object_get(c, "message"), *tc, *p;
	const json_t *u = json_object_get(r, "usage");
	json_t *calls = json_array(), *text, *t;
	const char *finish = str(c, "finish_reason");
	size_t i;

	text = json_string(str(m, "content") ? str(m, "content") : "");
	json_array_foreach(json_object_get(m, "tool_calls"), i, tc)
		json_array_append_new(calls, json_pack("[sso]", str(tc, "id"),
		    str(json_object_get(tc, "function"), "name"),
		    args_of(json_object_get(json_object_get(tc, "function"),
		    "arguments"))));
	if (str(m, "refusal") != NULL && *str(m, "refusal") != '\0')
		finish = "content_filter";
	/* Some servers give text parts, and parts that are not text. */
	json_array_foreach(json_object_get(m, "content"), i, p) {
		if (eq(str(p, "type"), "text")) {
			t = cat3(json_string_value(text), str(p, "text"), "");
			json_decref(text);
			text = t;
		}
	}
	t = cat3(json_string_value(text), str(m, "refusal") ?
	    str(m, "refusal") : "", "");
	json_decref(text);
	return norm_answer(t, calls, finish,
	    json_integer_value(json_object_get(u, "prompt_tokens")),
	    json_integer_value(json_object_get(u, "completion_tokens")),
	    json_integer_value(json_object_get(json_object_get(u,
	    "prompt_tokens_details"), "cached_tokens")));
}

static json_t *
norm_response(const json_t *r, enum dialect d, bool json_tool)
{
	return d == DIALECT_OPENAI ? norm_openai_response(r) :
	    norm_anthropic_response(r, json_tool);
}

/* Checks that a, said in da, means what b says in db. */
static void
same_request(const char *what, const char *name, const json_t *a,
    enum dialect da, const json_t *b, enum dialect db)
{
	json_t *na = norm_request(a, da), *nb = norm_request(b, db);

	expect_equal(what, name, nb, na);
	json_decref(na);
	json_decref(nb);
}

static void
same_response(const char *what, const char *name, const json_t *a,
    enum dialect da, bool json_tool, const json_t *b, enum dialect db)
{
	json_t *na = norm_response(a, da, json_tool);
	json_t *nb = norm_response(b, db, false);

	expect_equal(what, name, nb, na);
	json_decref(na);
	json_decref(nb);
}

/* Every pair that translates means the same translated, and translated
 * back.  The translations are made afresh: the golden output only says
 * which pairs translate. */
START_TEST(test_round_trip)
{
	json_t *g = golden_load((size_t)_i), *out = NULL, *back = NULL;
	const json_t *in = json_object_get(g, "in");
	const char *what = str(g, "what"), *name = golden[_i];
	struct dialect_info info, rinfo;
	char why[DIALECT_WHY_MAX];

	info_of(g, &info);
	rinfo = info;
	rinfo.from = info.to;
	rinfo.to = info.from;
	rinfo.json_tool = false;
	if (!json_is_object(json_object_get(g, "out"))) {
		/* Refused, or not an answer. */
	} else if (strcmp(what, "request") == 0) {
		out = dialect_request(in, &info, why);
		ck_assert_msg(out != NULL, "%s: %s", name, why);
		same_request("meaning", name, in, info.from, out, info.to);
		back = dialect_request(out, &rinfo, why);
		ck_assert_msg(back != NULL, "%s: back: %s", name, why);
		same_request("meaning back", name, in, info.from, back,
		    info.from);
	} else if (strcmp(what, "response") == 0) {
		out = dialect_response(in, &info);
		ck_assert_msg(out != NULL, "%s", name);
		same_response("meaning", name, in, info.to, info.json_tool,
		    out, info.from);
		back = dialect_response(out, &rinfo);
		ck_assert_msg(back != NULL, "%s: back", name);
		same_response("meaning back", name, in, info.to,
		    info.json_tool, back, info.to);
	}
	json_decref(out);
	json_decref(back);
	json_decref(g);
}
END_TEST

/* ---- robustness ----------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64*: the same mutations on every run. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static json_t *
random_value(void)
{
	switch (rng() % 12) {
	case 0: return json_null();
	case 1: return json_integer((json_int_t)(rng() % 5) - 1);
	case 2: return json_integer(INT64_MAX);
	case 3: return json_integer(INT64_MIN);
	case 4: return json_real(1e308);
	case 5: return json_string("");
	case 6: return json_string("text");
	case 7: return json_array();
	case 8: return json_object();
	case 9: return json_true();
	case 10: return json_pack("[{s:s}]", "type", "text");
	default: return json_string("tool_use");
	}
}

/* Every object and array in j, depth first. */
static void
containers(json_t *j, json_t *list)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(j) || json_is_array(j))
		json_array_append(list, j);
	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
			containers(v, list);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			containers(v, list);
	}
}

/* One random change: a member or an element dropped or replaced. */
static void
mutate(json_t *j)
{
	json_t *list = json_array(), *c;
	const char *key;
	void *it;
	size_t n, k;

	containers(j, list);
	c = json_array_get(list, rng() % json_array_size(list));
	n = json_is_object(c) ? json_object_size(c) : json_array_size(c);
	if (n > 0) {
		k = rng() % n;
		if (json_is_object(c)) {
			for (it = json_object_iter(c); k > 0; k--)
				it = json_object_iter_next(c, it);
			key = json_object_iter_key(it);
			if (rng() % 3 == 0)
				json_object_del(c, key);
			else
				json_object_set_new(c, key, random_value());
		} else if (rng() % 3 == 0)
			json_array_remove(c, k);
		else
			json_array_set_new(c, k, random_value());
	}
	json_decref(list);
}

/* Whatever the input, an object or NULL, and a why with a NULL. */
static void
feed(const json_t *j)
{
	struct dialect_info info;
	char why[DIALECT_WHY_MAX];
	json_t *out;
	char *s;
	int from, to, st;

	for (from = 0; from < 2; from++) {
		for (to = 0; to < 2; to++) {
			memset(&info, 0, sizeof(info));
			info.from = from ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
			info.to = to ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
			memset(why, 'x', sizeof(why));
			out = dialect_request(j, &info, why);
			ck_assert(out == NULL || json_is_object(out));
			ck_assert(out != NULL || why_ok(why));
			json_decref(out);
			info.json_tool = from == 0;
			out = dialect_response(j, &info);
			ck_assert(out == NULL || json_is_object(out));
			json_decref(out);
		}
	}
	if ((s = json_dumps(j, JSON_COMPACT)) != NULL) {
		out = dialect_error(500, s, strlen(s), DIALECT_OPENAI,
		    DIALECT_ANTHROPIC, &st);
		ck_assert(json_is_object(out));
		json_decref(out);
		out = dialect_error(529, s, strlen(s), DIALECT_ANTHROPIC,
		    DIALECT_OPENAI, &st);
		ck_assert(json_is_object(out));
		json_decref(out);
	}
	free(s);
}

START_TEST(test_fuzz)
{
	json_t *inputs = json_array(), *g, *in, *j;
	size_t i;
	int round, k;

	rng_state = FUZZ_SEED;
	for (i = 0; i < ngolden; i++) {
		g = golden_load(i);
		in = json_object_get(g, "in");
		if (json_is_object(in))
			json_array_append(inputs, in);
		json_decref(g);
	}
	ck_assert(json_array_size(inputs) > 0);
	for (round = 0; round < FUZZ_ROUNDS; round++) {
		j = json_deep_copy(json_array_get(inputs,
		    rng() % json_array_size(inputs)));
		for (k = 1 + (int)(rng() % 4); k > 0; k--)
			mutate(j);
		feed(j);
		json_decref(j);
	}
	json_decref(inputs);
}
END_TEST

/* ---- the edges ------------------------------------------------------------ */

START_TEST(test_why)
{
	struct dialect_info info = { .from = DIALECT_OPENAI,
	    .to = DIALECT_ANTHROPIC };
	char why[DIALECT_WHY_MAX], name[200];
	json_t *req;
	size_t i;

	/* Not a request at all. */
	memset(why, 'x', sizeof(why));
	ck_assert_ptr_null(dialect_request(NULL, &info, why));
	ck_assert_str_eq(why, "request");
	memset(why, 'x', sizeof(why));
	req = json_pack("[]");
	ck_assert_ptr_null(dialect_request(req, &info, why));
	ck_assert_str_eq(why, "request");
	json_decref(req);

	/* A field's name longer than why: cut, and ended. */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	req = json_pack("{s:[{s:s, s:s}], s:i}", "messages", "role", "user",
	    "content", "Hi", name, 1);
	memset(why, 'x', sizeof(why));
	ck_assert_ptr_null(dialect_request(req, &info, why));
	ck_assert(why_ok(why));
	ck_assert_uint_eq(strlen(why), DIALECT_WHY_MAX - 1);
	json_decref(req);

	/* A name that would break the reasons header does not reach it. */
	req = json_pack("{s:[{s:s, s:s}], s:i}", "messages", "role", "user",
	    "content", "Hi", "x\r\nSet-Cookie: a=b", 1);
	ck_assert_ptr_null(dialect_request(req, &info, why));
	for (i = 0; why[i] != '\0'; i++)
		ck_assert_msg(why[i] > ' ' && why[i] < 0x7f, "why: %s", why);
	json_decref(req);
	info.from = DIALECT_ANTHROPIC;
	info.to = DIALECT_OPENAI;
	req = json_pack("{s:i, s:[{s:s, s:[{s:s}]}]}", "max_tokens", 10,
	    "messages", "role", "user", "content", "type", "evil\ntype");
	ck_assert_ptr_null(dialect_request(req, &info, why));
	ck_assert_str_eq(why, "evil?type");
	json_decref(req);
}
END_TEST

/* Same dialect: a copy, and the flags still set. */
START_TEST(test_same_dialect)
{
	struct dialect_info info = { .from = DIALECT_OPENAI,
	    .to = DIALECT_OPENAI, .json_tool = true };
	char why[DIALECT_WHY_MAX];
	json_t *req, *out;

	req = json_pack("{s:s, s:b, s:{s:b}, s:[{s:s, s:s}], s:i}", "model",
	    "gpt-4o", "stream", 1, "stream_options", "include_usage", 1,
	    "messages", "role", "user", "content", "Hi", "n", 3);
	out = dialect_request(req, &info, why);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_ne(out, req);
	ck_assert(json_equal(out, req));
	ck_assert(info.stream && info.include_usage && !info.json_tool);
	json_decref(out);
	out = dialect_response(req, &info);
	ck_assert(json_equal(out, req));
	json_decref(out);
	json_decref(req);
}
END_TEST

/* An Anthropic caller's stream always gets usage; its own
 * stream_options mean nothing. */
START_TEST(test_flags)
{
	struct dialect_info info = { .from = DIALECT_ANTHROPIC,
	    .to = DIALECT_OPENAI };
	char why[DIALECT_WHY_MAX];
	json_t *req, *out;

	req = json_pack("{s:i, s:b, s:[{s:s, s:s}]}", "max_tokens", 5,
	    "stream", 1, "messages", "role", "user", "content", "Hi");
	out = dialect_request(req, &info, why);
	ck_assert_ptr_nonnull(out);
	ck_assert(info.stream && !info.include_usage && !info.json_tool);
	json_decref(out);
	json_decref(req);
}
END_TEST

/* The finish reasons both ways, and ones no table knows. */
START_TEST(test_finish)
{
	ck_assert_str_eq(dialect_finish("end_turn", DIALECT_ANTHROPIC,
	    DIALECT_OPENAI), "stop");
	ck_assert_str_eq(dialect_finish("stop", DIALECT_OPENAI,
	    DIALECT_ANTHROPIC), "end_turn");
	ck_assert_str_eq(dialect_finish("function_call", DIALECT_OPENAI,
	    DIALECT_ANTHROPIC), "tool_use");
	ck_assert_str_eq(dialect_finish("model_context_window_exceeded",
	    DIALECT_ANTHROPIC, DIALECT_OPENAI), "length");
	ck_assert_str_eq(dialect_finish("length", DIALECT_OPENAI,
	    DIALECT_ANTHROPIC), "max_tokens");
	ck_assert_str_eq(dialect_finish("new_reason", DIALECT_OPENAI,
	    DIALECT_ANTHROPIC), "end_turn");
	ck_assert_ptr_null(dialect_finish(NULL, DIALECT_OPENAI,
	    DIALECT_ANTHROPIC));
	ck_assert_str_eq(dialect_finish("end_turn", DIALECT_ANTHROPIC,
	    DIALECT_ANTHROPIC), "end_turn");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dialect");
	TCase *pairs = tcase_create("golden");
	TCase *meaning = tcase_create("round trip");
	TCase *robust = tcase_create("robustness");
	TCase *edges = tcase_create("edges");
	SRunner *sr;
	int failed;

	golden_scan();
	tcase_add_test(pairs, test_golden_count);
	tcase_add_loop_test(pairs, test_golden, 0, (int)ngolden);
	suite_add_tcase(s, pairs);

	tcase_add_loop_test(meaning, test_round_trip, 0, (int)ngolden);
	suite_add_tcase(s, meaning);

	tcase_set_timeout(robust, 120);
	tcase_add_test(robust, test_fuzz);
	suite_add_tcase(s, robust);

	tcase_add_test(edges, test_why);
	tcase_add_test(edges, test_same_dialect);
	tcase_add_test(edges, test_flags);
	tcase_add_test(edges, test_finish);
	suite_add_tcase(s, edges);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
