#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "dialect_stream.h"
#include "jsonget.h"
#include "util.h"

/* An id and a model name fit in this; more is not an answer's. */
#define HEAD_MAX	(16u << 10)
/* An event written may be a little longer than the one read. */
#define SCRATCH_MAX	(DIALECT_STREAM_EVENT_MAX + (64u << 10))
/* The scratch buffer gives back what one big event made it take. */
#define SCRATCH_KEEP	(64u << 10)

#define OPENAI		DIALECT_OPENAI
#define ANTHROPIC	DIALECT_ANTHROPIC

/* ---- small helpers ------------------------------------------------------ */

/* A non-empty string value, or NULL. */
static const json_t *
get_text(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) && json_string_length(v) > 0 ? v : NULL;
}

/* An OpenAI tool call's index; one without is named by its place, pos. */
static int
tool_index(const json_t *tc, int pos)
{
	if (json_object_get(tc, "index") == NULL && pos >= 0)
		return pos;
	return get_index(tc);
}

static int
dump_to_buf(const char *p, size_t n, void *arg)
{
	return buf_add(arg, p, n) < 0 ? -1 : 0;
}

/* A string of the target's, as JSON text: it is written as it was read,
 * never parsed into a tree of our own.  Not a string: "". */
static int
put_str(struct buf *b, const json_t *v)
{
	if (!json_is_string(v))
		return buf_addstr(b, "\"\"");
	return json_dump_callback(v, dump_to_buf, b,
	    JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ---- writing events ----------------------------------------------------- */

/* Every event is built in s->scratch, then framed into s->out whole. */
static int
add(struct dialect_stream *s, const char *lit)
{
	return buf_addstr(&s->scratch, lit);
}

static int
emit(struct dialect_stream *s, const char *event)
{
	return sse_emit(s->out, event, s->scratch.data, s->scratch.len);
}

/* reason is one of dialect_finish()'s own names, never the target's. */
static int
put_reason(struct dialect_stream *s, const char *reason)
{
	if (reason == NULL)
		return add(s, "null");
	return buf_printf(&s->scratch, "\"%s\"", reason);
}

/* ---- Anthropic to OpenAI: writing chunks -------------------------------- */

/* The chunk up to its delta's value. */
static int
a2o_begin(struct dialect_stream *s)
{
	buf_reset(&s->scratch);
	return buf_add(&s->scratch, s->head.data, s->head.len) < 0 ||
	    add(s, "\"choices\":[{\"index\":0,\"delta\":") < 0 ? -1 : 0;
}

static int
a2o_end(struct dialect_stream *s, const char *finish)
{
	if (add(s, ",\"logprobs\":null,\"finish_reason\":") < 0 ||
	    put_reason(s, finish) < 0 || add(s, "}]}") < 0)
		return -1;
	return emit(s, NULL);
}

static int
a2o_content(struct dialect_stream *s, const json_t *text)
{
	if (a2o_begin(s) < 0 || add(s, "{\"content\":") < 0 ||
	    put_str(&s->scratch, text) < 0 || add(s, "}") < 0)
		return -1;
	return a2o_end(s, NULL);
}

static int
a2o_args(struct dialect_stream *s, const json_t *args)
{
	if (a2o_begin(s) < 0 || buf_printf(&s->scratch,
	    "{\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":",
	    s->tool) < 0 || put_str(&s->scratch, args) < 0 ||
	    add(s, "}}]}") < 0)
		return -1;
	return a2o_end(s, NULL);
}

/* "{}" for a call whose input came in no pieces: Anthropic then means an
 * empty input, and an OpenAI caller parses arguments as JSON. */
static int
a2o_empty_args(struct dialect_stream *s)
{
	json_t *v = json_string("{}");
	int r;

	if (v == NULL)
		return -1;
	r = s->block_json ? a2o_content(s, v) : a2o_args(s, v);
	json_decref(v);
	return r;
}

static int
a2o_usage(struct dialect_stream *s)
{
	buf_reset(&s->scratch);
	if (buf_add(&s->scratch, s->head.data, s->head.len) < 0 ||
	    buf_printf(&s->scratch, "\"choices\":[],\"usage\":{"
	    "\"prompt_tokens\":%" PRIu64 ",\"completion_tokens\":%" PRIu64
	    ",\"total_tokens\":%" PRIu64 ",\"prompt_tokens_details\":{"
	    "\"cached_tokens\":%" PRIu64 "}}}", s->in_tokens, s->out_tokens,
	    s->in_tokens + s->out_tokens, s->cached_tokens) < 0)
		return -1;
	return emit(s, NULL);
}

/* ---- Anthropic to OpenAI: reading events -------------------------------- */

static void
a2o_read_usage(struct dialect_stream *s, const json_t *u)
{
	bool in, out;

	in = get_count(u, "input_tokens", &s->input_tokens);
	out = get_count(u, "output_tokens", &s->out_tokens);
	(void)get_count(u, "cache_read_input_tokens", &s->cached_tokens);
	(void)get_count(u, "cache_creation_input_tokens",
	    &s->cache_creation);
	/* OpenAI's prompt tokens are all of them, cached or not. */
	s->in_tokens = s->input_tokens + s->cached_tokens + s->cache_creation;
	if (in || out)
		s->usage = true;
}

static int
a2o_message_start(struct dialect_stream *s, const json_t *j)
{
	const json_t *m = json_object_get(j, "message");
	struct buf *h = &s->head;

	a2o_read_usage(s, json_object_get(m, "usage"));
	buf_reset(h);
	if (buf_addstr(h, "{\"id\":") < 0 ||
	    put_str(h, json_object_get(m, "id")) < 0 ||
	    buf_printf(h, ",\"object\":\"chat.completion.chunk\",\"created\":"
	    "%" PRId64 ",\"model\":", s->info.created) < 0 ||
	    put_str(h, json_object_get(m, "model")) < 0 ||
	    buf_addstr(h, ",") < 0)
		return -1;
	s->started = true;
	if (a2o_begin(s) < 0 || add(s, "{\"role\":\"assistant\","
	    "\"content\":\"\"}") < 0)
		return -1;
	return a2o_end(s, NULL);
}

static int
a2o_block_start(struct dialect_stream *s, const json_t *j)
{
	const json_t *cb = json_object_get(j, "content_block");
	const json_t *id, *name, *t;
	int i = get_index(j);

	if (i < 0 || !json_is_object(cb))
		return -1;
	s->block = i;
	s->block_tool = s->block_json = s->block_args = false;
	if (is_str(cb, "type", "text")) {
		t = get_text(cb, "text");
		return t != NULL ? a2o_content(s, t) : 0;
	}
	/* thinking, redacted_thinking and whatever comes later: nothing. */
	if (!is_str(cb, "type", "tool_use"))
		return 0;
	id = json_object_get(cb, "id");
	name = json_object_get(cb, "name");
	if (!json_is_string(id) || !json_is_string(name))
		return -1;
	s->block_tool = true;
	if (s->info.json_tool &&
	    strcmp(json_string_value(name), DIALECT_JSON_TOOL) == 0) {
		/* The answer itself, as text: nothing to say yet. */
		s->block_json = s->json_answer = true;
		return 0;
	}
	s->tool = s->ntools++;
	if (a2o_begin(s) < 0 || buf_printf(&s->scratch, "{\"tool_calls\":[{"
	    "\"index\":%d,\"id\":", s->tool) < 0 ||
	    put_str(&s->scratch, id) < 0 ||
	    add(s, ",\"type\":\"function\",\"function\":{\"name\":") < 0 ||
	    put_str(&s->scratch, name) < 0 ||
	    add(s, ",\"arguments\":\"\"}}]}") < 0)
		return -1;
	return a2o_end(s, NULL);
}

static int
a2o_block_delta(struct dialect_stream *s, const json_t *j)
{
	const json_t *d = json_object_get(j, "delta"), *v;
	int i = get_index(j);

	if (i < 0 || !json_is_object(d))
		return -1;
	/* Text counts wherever it is, as answer.c counts it; input only
	 * for the open tool block. */
	if (is_str(d, "type", "text_delta")) {
		v = get_text(d, "text");
		return v != NULL ? a2o_content(s, v) : 0;
	}
	if (!is_str(d, "type", "input_json_delta") || !s->block_tool ||
	    i != s->block || (v = get_text(d, "partial_json")) == NULL)
		return 0;	/* thinking, signature, citations: nothing */
	s->block_args = true;
	return s->block_json ? a2o_content(s, v) : a2o_args(s, v);
}

static int
a2o_block_stop(struct dialect_stream *s, const json_t *j)
{
	int i = get_index(j), r = 0;

	if (i < 0)
		return -1;
	if (i != s->block)
		return 0;
	if (s->block_tool && !s->block_args)
		r = a2o_empty_args(s);
	s->block = -1;
	s->block_tool = s->block_json = s->block_args = false;
	return r;
}

static int
a2o_message_delta(struct dialect_stream *s, const json_t *j)
{
	const char *reason;

	a2o_read_usage(s, json_object_get(j, "usage"));
	reason = get_str(json_object_get(j, "delta"), "stop_reason");
	if (reason == NULL)
		return 0;
	/* The forced JSON tool's use is the answer's natural end. */
	if (s->json_answer && s->ntools == 0 &&
	    strcmp(reason, "tool_use") == 0)
		reason = "stop";
	else
		reason = dialect_finish(reason, ANTHROPIC, OPENAI);
	if (a2o_begin(s) < 0 || add(s, "{}") < 0)
		return -1;
	return a2o_end(s, reason);
}

static int
a2o_message_stop(struct dialect_stream *s)
{
	s->done = true;
	if (s->info.include_usage && s->usage && a2o_usage(s) < 0)
		return -1;
	return sse_emit(s->out, NULL, "[DONE]", 6);
}

static int
a2o_error(struct dialect_stream *s, const json_t *j)
{
	json_t *e = dialect_error_json(j, 0, ANTHROPIC, OPENAI);
	int r;

	r = e != NULL ? sse_emit_json(s->out, NULL, e) : -1;
	json_decref(e);
	return r;
}

/* Anthropic names each event twice, in the event field and in the data's
 * "type"; the data's wins, as in answer.c. */
static int
a2o_event(struct dialect_stream *s, const char *event, const json_t *j)
{
	const char *type = get_str(j, "type");

	if (type == NULL)
		type = event;
	if (strcmp(event, "error") == 0 || strcmp(type, "error") == 0)
		return a2o_error(s, j);
	if (strcmp(type, "message_start") == 0)
		return a2o_message_start(s, j);
	if (strcmp(type, "content_block_start") != 0 &&
	    strcmp(type, "content_block_delta") != 0 &&
	    strcmp(type, "content_block_stop") != 0 &&
	    strcmp(type, "message_delta") != 0 &&
	    strcmp(type, "message_stop") != 0)
		return 0;	/* ping, and types added later */
	/* The chunks' id and model come with message_start. */
	if (!s->started)
		return -1;
	if (strcmp(type, "content_block_start") == 0)
		return a2o_block_start(s, j);
	if (strcmp(type, "content_block_delta") == 0)
		return a2o_block_delta(s, j);
	if (strcmp(type, "content_block_stop") == 0)
		return a2o_block_stop(s, j);
	if (strcmp(type, "message_delta") == 0)
		return a2o_message_delta(s, j);
	return a2o_message_stop(s);
}

/* ---- OpenAI to Anthropic: writing events -------------------------------- */

static int
o2a_start(struct dialect_stream *s, const json_t *j)
{
	buf_reset(&s->scratch);
	s->started = true;
	if (add(s, "{\"type\":\"message_start\",\"message\":{\"id\":") < 0 ||
	    put_str(&s->scratch, json_object_get(j, "id")) < 0 ||
	    add(s, ",\"type\":\"message\",\"role\":\"assistant\","
	    "\"model\":") < 0 ||
	    put_str(&s->scratch, json_object_get(j, "model")) < 0 ||
	    add(s, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":"
	    "null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}") < 0)
		return -1;
	return emit(s, "message_start");
}

static int
o2a_stop(struct dialect_stream *s)
{
	int i = s->block;

	if (i < 0)
		return 0;
	s->block = s->tool = -1;
	s->block_tool = false;
	buf_reset(&s->scratch);
	if (buf_printf(&s->scratch, "{\"type\":\"content_block_stop\","
	    "\"index\":%d}", i) < 0)
		return -1;
	return emit(s, "content_block_stop");
}

static int
o2a_text(struct dialect_stream *s, const json_t *text)
{
	if (s->block_tool && o2a_stop(s) < 0)
		return -1;
	if (s->block < 0) {
		s->block = s->nblocks++;
		buf_reset(&s->scratch);
		if (buf_printf(&s->scratch, "{\"type\":\"content_block_start\","
		    "\"index\":%d,\"content_block\":{\"type\":\"text\","
		    "\"text\":\"\"}}", s->block) < 0 ||
		    emit(s, "content_block_start") < 0)
			return -1;
	}
	buf_reset(&s->scratch);
	if (buf_printf(&s->scratch, "{\"type\":\"content_block_delta\","
	    "\"index\":%d,\"delta\":{\"type\":\"text_delta\",\"text\":",
	    s->block) < 0 || put_str(&s->scratch, text) < 0 ||
	    add(s, "}}") < 0)
		return -1;
	return emit(s, "content_block_delta");
}

/* ---- OpenAI to Anthropic: reading chunks -------------------------------- */

/* One element of a delta's tool_calls, pos its place.  A call begins with
 * its id (repeated with its own index by some servers: still the same
 * call); the rest are argument pieces of the open one, since the block
 * of another could not be reopened. */
static int
o2a_tool(struct dialect_stream *s, const json_t *tc, size_t pos)
{
	const json_t *fn = json_object_get(tc, "function"), *name, *args;
	int i;

	if (!json_is_object(tc) ||
	    (i = tool_index(tc, pos > INT_MAX / 2 ? -1 : (int)pos)) < 0)
		return -1;
	if (get_text(tc, "id") != NULL && i != s->tool) {
		name = json_object_get(fn, "name");
		if (i <= s->last_tool || !json_is_string(name) ||
		    o2a_stop(s) < 0)
			return -1;
		s->tool = s->last_tool = i;
		s->block = s->nblocks++;
		s->block_tool = true;
		buf_reset(&s->scratch);
		if (buf_printf(&s->scratch, "{\"type\":\"content_block_start\","
		    "\"index\":%d,\"content_block\":{\"type\":\"tool_use\","
		    "\"id\":", s->block) < 0 ||
		    put_str(&s->scratch, json_object_get(tc, "id")) < 0 ||
		    add(s, ",\"name\":") < 0 ||
		    put_str(&s->scratch, name) < 0 ||
		    add(s, ",\"input\":{}}}") < 0 ||
		    emit(s, "content_block_start") < 0)
			return -1;
	} else if (i != s->tool || s->tool < 0) {
		return -1;
	}
	if ((args = get_text(fn, "arguments")) == NULL)
		return 0;
	buf_reset(&s->scratch);
	if (buf_printf(&s->scratch, "{\"type\":\"content_block_delta\","
	    "\"index\":%d,\"delta\":{\"type\":\"input_json_delta\","
	    "\"partial_json\":", s->block) < 0 ||
	    put_str(&s->scratch, args) < 0 || add(s, "}}") < 0)
		return -1;
	return emit(s, "content_block_delta");
}

static int
o2a_delta(struct dialect_stream *s, const json_t *d)
{
	const json_t *v, *tc;
	size_t i;

	if (null_or_absent(d))
		return 0;
	if (!json_is_object(d))
		return -1;
	v = json_object_get(d, "content");
	if (!json_is_string(v) && !null_or_absent(v))
		return -1;	/* content parts are a request's */
	if ((v = get_text(d, "content")) != NULL && o2a_text(s, v) < 0)
		return -1;
	if ((v = get_text(d, "refusal")) != NULL) {
		s->refusal = true;
		if (o2a_text(s, v) < 0)
			return -1;
	}
	v = json_object_get(d, "tool_calls");
	json_array_foreach(v, i, tc) {
		if (o2a_tool(s, tc, i) < 0)
			return -1;
	}
	return 0;
}

static void
o2a_read_usage(struct dialect_stream *s, const json_t *u)
{
	bool in, out;

	in = get_count(u, "prompt_tokens", &s->in_tokens);
	out = get_count(u, "completion_tokens", &s->out_tokens);
	if (!get_count(json_object_get(u, "prompt_tokens_details"),
	    "cached_tokens", &s->cached_tokens) && in)
		s->cached_tokens = 0;
	if (in || out)
		s->usage = true;
}

static int
o2a_error(struct dialect_stream *s, const json_t *j)
{
	json_t *e = dialect_error_json(j, 0, OPENAI, ANTHROPIC);
	int r;

	r = e != NULL ? sse_emit_json(s->out, "error", e) : -1;
	json_decref(e);
	return r;
}

/* Only choice 0 is read, as answer.c reads it: n > 1 does not translate. */
static int
o2a_event(struct dialect_stream *s, const char *event, const json_t *j)
{
	const json_t *choices = json_object_get(j, "choices"), *c, *v;
	const char *reason;
	size_t i;

	if (strcmp(event, "error") == 0 ||
	    !null_or_absent(json_object_get(j, "error")))
		return o2a_error(s, j);
	if (!json_is_array(choices) && !null_or_absent(choices))
		return -1;
	if (!s->started && o2a_start(s, j) < 0)
		return -1;
	json_array_foreach(choices, i, c) {
		if (!json_is_object(c))
			return -1;
		v = json_object_get(c, "index");
		if ((json_is_integer(v) ? json_integer_value(v) :
		    (json_int_t)i) != 0)
			continue;
		if (o2a_delta(s, json_object_get(c, "delta")) < 0)
			return -1;
		/* Held: Anthropic says it after the last block. */
		if ((reason = get_str(c, "finish_reason")) != NULL)
			s->finish = dialect_finish(reason, OPENAI, ANTHROPIC);
	}
	o2a_read_usage(s, json_object_get(j, "usage"));
	return 0;
}

static int
o2a_done(struct dialect_stream *s)
{
	const char *reason = s->refusal ? "refusal" : s->finish;
	uint64_t in = s->in_tokens;

	s->done = true;
	/* OpenAI's prompt tokens hold the cached ones, Anthropic's input
	 * tokens do not. */
	in -= s->cached_tokens < in ? s->cached_tokens : in;
	if ((!s->started && o2a_start(s, NULL) < 0) || o2a_stop(s) < 0)
		return -1;
	buf_reset(&s->scratch);
	if (add(s, "{\"type\":\"message_delta\",\"delta\":{"
	    "\"stop_reason\":") < 0 || put_reason(s, reason) < 0 ||
	    buf_printf(&s->scratch, ",\"stop_sequence\":null},\"usage\":{"
	    "\"input_tokens\":%" PRIu64 ",\"output_tokens\":%" PRIu64, in,
	    s->out_tokens) < 0 ||
	    (s->cached_tokens > 0 && buf_printf(&s->scratch,
	    ",\"cache_read_input_tokens\":%" PRIu64, s->cached_tokens) < 0) ||
	    add(s, "}}") < 0 || emit(s, "message_delta") < 0)
		return -1;
	buf_reset(&s->scratch);
	if (add(s, "{\"type\":\"message_stop\"}") < 0)
		return -1;
	return emit(s, "message_stop");
}

/* ---- the stream --------------------------------------------------------- */

/* ---- the translations of this file (dialect.c's table names them) ---- */

/* An OpenAI target's chunk (or [DONE]) for an Anthropic caller. */
int
chat_to_messages(struct dialect_stream *s, const char *event,
    const char *data, size_t len)
{
	json_t *j;
	int r;

	if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
		return o2a_done(s);
	if ((j = json_loadb(data, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	r = o2a_event(s, event, j);
	json_decref(j);
	return r;
}

/* An Anthropic target's event for an OpenAI caller. */
int
messages_to_chat(struct dialect_stream *s, const char *event,
    const char *data, size_t len)
{
	json_t *j;
	int r;

	if ((j = json_loadb(data, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	r = a2o_event(s, event, j);
	json_decref(j);
	return r;
}

static void
on_event(void *arg, const char *event, const char *data, size_t len,
    size_t raw_start, size_t raw_end)
{
	struct dialect_stream *s = arg;
	xlate_stream_fn *fn = dialect_stream_fn(s->info.from, s->info.to,
	    &s->state_free);
	struct buf *out = s->out;
	size_t len0 = out->len;
	int r;

	(void)raw_start;
	(void)raw_end;
	/* After the end marker the caller has its whole answer. */
	if (s->failed || s->done)
		return;
	r = fn != NULL ? fn(s, event, data, len) : -1;
	if (s->scratch.cap > SCRATCH_KEEP)
		buf_free(&s->scratch);
	if (r < 0) {
		/* out keeps whole events only. */
		s->failed = true;
		if (out->data != NULL && out->len > len0) {
			out->len = len0;
			out->data[len0] = '\0';
		}
	}
}

void
dialect_stream_init(struct dialect_stream *s, const struct dialect_info *info)
{
	memset(s, 0, sizeof(*s));
	s->info = *info;
	if (dialect_via(info->from, info->to) >= 0) {
		struct dialect_info th;

		s->hop = xcalloc(1, sizeof(*s->hop));
		dialect_hops(info, &th, &s->info);
		dialect_stream_init(s->hop, &th);
	}
	s->block = s->tool = s->last_tool = -1;
	sse_init(&s->sse, DIALECT_STREAM_EVENT_MAX, on_event, s);
	buf_init(&s->head, HEAD_MAX);
	buf_init(&s->scratch, SCRATCH_MAX);
}

int
dialect_stream_feed(struct dialect_stream *s, const char *p, size_t n,
    struct buf *out)
{
	struct buf mid;

	if (s->failed)
		return -1;
	if (s->info.from == s->info.to) {
		if (buf_add(out, p, n) < 0)
			s->failed = true;
		return s->failed ? -1 : 0;
	}
	buf_init(&mid, 64u << 20);
	if (s->hop != NULL) {
		/* The target's stream in the middle API first: its whole
		 * events are what this one reads (up to a failure). */
		if (dialect_stream_feed(s->hop, p, n, &mid) < 0)
			s->failed = true;
		p = mid.data != NULL ? mid.data : "";
		n = mid.len;
	}
	s->out = out;
	sse_feed(&s->sse, p, n);
	s->out = NULL;
	buf_free(&mid);
	if (s->sse.oversize)
		s->failed = true;
	return s->failed ? -1 : 0;
}

void
dialect_stream_free(struct dialect_stream *s)
{
	sse_free(&s->sse);
	buf_free(&s->head);
	buf_free(&s->scratch);
	if (s->state_free != NULL && s->state != NULL)
		s->state_free(s->state);
	s->state = NULL;
	if (s->hop != NULL) {
		dialect_stream_free(s->hop);
		free(s->hop);
		s->hop = NULL;
	}
}
