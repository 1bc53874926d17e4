#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "jsonget.h"

/* Buffers that grew past this for one big event are given back after it,
 * so a long stream holds only what its pending event needs. */
#define ANSWER_KEEP_ROOM	(64u << 10)

/* ---- small helpers --------------------------------------------------- */

static void
copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
shrink(struct buf *b)
{
	if (b->cap > ANSWER_KEEP_ROOM)
		buf_free(b);
	else
		buf_reset(b);
}

/* ---- what an answer says --------------------------------------------- */

static void
got_content(struct answer *a)
{
	if (a->content)
		return;
	a->content = true;
	a->content_end = a->fed;
}

static void
text_add(struct answer *a, const char *s, size_t n)
{
	size_t room;

	if (n == 0 || a->text_truncated)
		return;
	if (buf_add(&a->text, s, n) == 0)
		return;
	/* Keep what fits, cut at a character boundary: the text may go back
	 * upstream as an assistant prefix, inside JSON, which wants UTF-8.
	 * Later text is dropped so that what is kept stays a prefix. */
	room = a->text.max - a->text.len;
	while (room > 0 && room < n && ((unsigned char)s[room] & 0xc0) == 0x80)
		room--;
	(void)buf_add(&a->text, s, room);
	a->text_truncated = true;
}

static void
args_add(struct answer *a, int i, const char *s, size_t n)
{
	uint32_t bit = 1u << i;

	a->args_seen |= bit;
	if (a->args_unchecked & bit)
		return;
	if (buf_add(&a->args[i], s, n) < 0) {
		/* Too big to judge: better to pass a huge call than to fail
		 * an answer on a limit of our own. */
		a->args_unchecked |= bit;
		buf_free(&a->args[i]);
	}
}

/* A finished call's arguments must be a JSON object, the only shape
 * either API gives a tool's input; "" is a call without arguments. */
static void
args_check(struct answer *a, int i)
{
	uint32_t bit = 1u << i;
	json_t *j;

	if (!(a->args_seen & bit))
		return;
	if (!(a->args_unchecked & bit) && a->args[i].len > 0) {
		j = json_loadb(a->args[i].data, a->args[i].len, 0, NULL);
		if (!json_is_object(j))
			a->tool_args_bad = true;
		json_decref(j);
	}
	a->args_seen &= ~bit;
	a->args_unchecked &= ~bit;
	shrink(&a->args[i]);
}

static void
set_finish(struct answer *a, const char *s)
{
	copy_str(a->finish, sizeof(a->finish), s);
}

/* ---- OpenAI chat completions ----------------------------------------- */

static void
openai_tool(struct answer *a, json_t *tc, size_t pos)
{
	json_t *v, *args;
	json_int_t i;

	if (!json_is_object(tc)) {
		a->malformed = true;
		return;
	}
	a->tool_call = true;
	got_content(a);
	/* A stream names the call by index; a whole message by place. */
	v = json_object_get(tc, "index");
	i = json_is_integer(v) ? json_integer_value(v) : (json_int_t)pos;
	if (i < 0 || i >= ANSWER_TOOLS_MAX)
		return;		/* beyond what we check */
	args = json_object_get(json_object_get(tc, "function"), "arguments");
	if (json_is_string(args))
		args_add(a, (int)i, json_string_value(args),
		    json_string_length(args));
	else
		a->args_seen |= 1u << i;
}

/* A stream's delta or a whole answer's message: they share their shape. */
static void
openai_message(struct answer *a, json_t *m)
{
	json_t *v, *tc;
	size_t i;

	if (null_or_absent(m))
		return;
	if (!json_is_object(m)) {
		a->malformed = true;
		return;
	}
	v = json_object_get(m, "content");
	if (json_is_string(v)) {
		text_add(a, json_string_value(v), json_string_length(v));
		if (json_string_length(v) > 0)
			got_content(a);
	} else if (!null_or_absent(v)) {
		a->malformed = true;	/* content parts are a request's */
	}
	v = json_object_get(m, "refusal");
	if (json_is_string(v) && json_string_length(v) > 0) {
		a->refusal = true;
		got_content(a);
	}
	v = json_object_get(m, "tool_calls");
	if (json_is_array(v)) {
		json_array_foreach(v, i, tc)
			openai_tool(a, tc, i);
	}
}

static void
openai_usage(struct answer *a, const json_t *u)
{
	bool in, out;

	in = get_count(u, "prompt_tokens", &a->in_tokens);
	out = get_count(u, "completion_tokens", &a->out_tokens);
	if (in || out)
		a->usage = true;
}

/* A chunk or a whole answer.  Only choice 0 is read: with n > 1 the
 * caller gets all of them, but one is enough to judge. */
static void
openai_object(struct answer *a, json_t *j)
{
	json_t *choices, *c, *v;
	const char *s;
	size_t i;

	if (!null_or_absent(json_object_get(j, "error")))
		a->error_event = true;
	choices = json_object_get(j, "choices");
	if (json_is_array(choices)) {
		json_array_foreach(choices, i, c) {
			if (!json_is_object(c)) {
				a->malformed = true;
				continue;
			}
			v = json_object_get(c, "index");
			if ((json_is_integer(v) ? json_integer_value(v) :
			    (json_int_t)i) != 0)
				continue;
			openai_message(a, json_object_get(c,
			    a->stream ? "delta" : "message"));
			if ((s = get_str(c, "finish_reason")) != NULL) {
				set_finish(a, s);
				if (strcmp(s, "content_filter") == 0)
					a->refusal = true;
			}
		}
	} else if (!null_or_absent(choices) ||
	    (!a->stream && !a->error_event)) {
		a->malformed = true;
	}
	openai_usage(a, json_object_get(j, "usage"));
}

static void
openai_event(struct answer *a, const char *event, const char *data,
    size_t len)
{
	json_t *j;

	if (strcmp(event, "error") == 0)
		a->error_event = true;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		a->done = true;
		return;
	}
	j = json_loadb(data, len, 0, NULL);
	if (json_is_object(j))
		openai_object(a, j);
	else
		a->malformed = true;
	json_decref(j);
}

/* ---- Anthropic messages ---------------------------------------------- */

static void
anthropic_usage(struct answer *a, const json_t *u)
{
	bool in, out;

	in = get_count(u, "input_tokens", &a->in_tokens);
	out = get_count(u, "output_tokens", &a->out_tokens);
	if (in || out)
		a->usage = true;
}

static void
anthropic_stop_reason(struct answer *a, const char *s)
{
	if (s == NULL)
		return;
	set_finish(a, s);
	if (strcmp(s, "refusal") == 0)
		a->refusal = true;
}

static void
anthropic_block_start(struct answer *a, json_t *j)
{
	json_t *cb = json_object_get(j, "content_block");
	json_t *t;
	int i = get_index(j);

	if (i < 0 || !json_is_object(cb)) {
		a->malformed = true;
		return;
	}
	a->blocks++;
	a->open_block = i;
	a->open_text = is_str(cb, "type", "text");
	a->open_tool = is_str(cb, "type", "tool_use");
	if (a->open_text) {
		t = json_object_get(cb, "text");
		if (json_is_string(t) && json_string_length(t) > 0) {
			text_add(a, json_string_value(t),
			    json_string_length(t));
			got_content(a);
		}
	} else if (a->open_tool) {
		a->tool_call = true;
		got_content(a);
		/* Its input comes in input_json_delta pieces; the {} given
		 * here is a placeholder. */
		shrink(&a->args[0]);
		a->args_unchecked &= ~1u;
		a->args_seen |= 1u;
	}
}

static void
anthropic_block_delta(struct answer *a, json_t *j)
{
	json_t *d = json_object_get(j, "delta"), *v;

	if (!json_is_object(d) || get_index(j) < 0) {
		a->malformed = true;
		return;
	}
	if (is_str(d, "type", "text_delta")) {
		v = json_object_get(d, "text");
		if (json_is_string(v) && json_string_length(v) > 0) {
			text_add(a, json_string_value(v),
			    json_string_length(v));
			got_content(a);
		}
	} else if (is_str(d, "type", "input_json_delta") && a->open_tool &&
	    get_index(j) == a->open_block) {
		v = json_object_get(d, "partial_json");
		if (json_is_string(v))
			args_add(a, 0, json_string_value(v),
			    json_string_length(v));
	}
	/* thinking, signature and citations deltas are not content. */
}

static void
anthropic_block_stop(struct answer *a, json_t *j)
{
	int i = get_index(j);

	if (i < 0) {
		a->malformed = true;
		return;
	}
	if (i != a->open_block)
		return;
	if (a->open_tool)
		args_check(a, 0);
	a->open_block = -1;
	a->open_text = a->open_tool = false;
}

/* Anthropic names each event twice, in the event field and in the data's
 * "type"; the data's wins, as it is what their SDKs read. */
static void
anthropic_event(struct answer *a, const char *event, const char *data,
    size_t len)
{
	const char *type;
	json_t *j;

	if (strcmp(event, "error") == 0)
		a->error_event = true;
	j = json_loadb(data, len, 0, NULL);
	if (!json_is_object(j)) {
		a->malformed = true;
		json_decref(j);
		return;
	}
	if ((type = get_str(j, "type")) == NULL)
		type = event;
	if (strcmp(type, "message_start") == 0) {
		anthropic_usage(a, json_object_get(json_object_get(j,
		    "message"), "usage"));
	} else if (strcmp(type, "content_block_start") == 0) {
		anthropic_block_start(a, j);
	} else if (strcmp(type, "content_block_delta") == 0) {
		anthropic_block_delta(a, j);
	} else if (strcmp(type, "content_block_stop") == 0) {
		anthropic_block_stop(a, j);
	} else if (strcmp(type, "message_delta") == 0) {
		anthropic_stop_reason(a, get_str(json_object_get(j, "delta"),
		    "stop_reason"));
		anthropic_usage(a, json_object_get(j, "usage"));
	} else if (strcmp(type, "message_stop") == 0) {
		a->done = true;
	} else if (strcmp(type, "error") == 0) {
		a->error_event = true;
	}
	/* ping, and event types added later, are ignored as the API asks. */
	json_decref(j);
}

static void
anthropic_object(struct answer *a, json_t *j)
{
	json_t *content, *b, *t;
	size_t i;

	if (!null_or_absent(json_object_get(j, "error")) ||
	    is_str(j, "type", "error")) {
		a->error_event = true;
		return;
	}
	content = json_object_get(j, "content");
	if (!json_is_array(content)) {
		a->malformed = true;
		return;
	}
	json_array_foreach(content, i, b) {
		if (is_str(b, "type", "text")) {
			t = json_object_get(b, "text");
			if (json_is_string(t))
				text_add(a, json_string_value(t),
				    json_string_length(t));
		} else if (is_str(b, "type", "tool_use")) {
			a->tool_call = true;
			if (!json_is_object(json_object_get(b, "input")))
				a->tool_args_bad = true;
		}
	}
	anthropic_stop_reason(a, get_str(j, "stop_reason"));
	anthropic_usage(a, json_object_get(j, "usage"));
}

/* ---- server-sent events ---------------------------------------------- */

static void
on_sse_event(void *arg, const char *event, const char *data, size_t len,
    size_t start, size_t end)
{
	struct answer *a = arg;
	bool error = a->error_event, refusal = a->refusal;

	a->fed = end;		/* where its content, if any, ends */
	if (a->dialect == DIALECT_OPENAI)
		openai_event(a, event, data, len);
	else
		anthropic_event(a, event, data, len);
	if (!error && a->error_event)
		a->error_start = start;
	if (!refusal && a->refusal)
		a->refusal_start = start;
	a->event_end = end;
	if (a->on_event != NULL)
		a->on_event(a->on_event_arg, event, data, start, end);
}

/* ---- the answer ------------------------------------------------------ */

void
answer_init(struct answer *a, enum dialect d, bool stream)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	a->dialect = d;
	a->stream = stream;
	a->open_block = -1;
	buf_init(&a->text, ANSWER_TEXT_MAX);
	sse_init(&a->sse, ANSWER_EVENT_MAX, on_sse_event, a);
	buf_init(&a->body, ANSWER_BODY_MAX);
	for (i = 0; i < ANSWER_TOOLS_MAX; i++)
		buf_init(&a->args[i], ANSWER_ARGS_MAX);
}

void
answer_free(struct answer *a)
{
	size_t i;

	buf_free(&a->text);
	sse_free(&a->sse);
	buf_free(&a->body);
	for (i = 0; i < ANSWER_TOOLS_MAX; i++)
		buf_free(&a->args[i]);
}

void
answer_feed(struct answer *a, const char *p, size_t n)
{
	if (a->ended || n == 0)
		return;
	if (a->stream) {
		sse_feed(&a->sse, p, n);
		a->fed = a->sse.fed;
		a->event_end = a->sse.event_end;
		if (a->sse.oversize)
			a->malformed = true;
		return;
	}
	a->fed += n;
	if (a->borrowed)
		return;
	if (!a->malformed && buf_add(&a->body, p, n) < 0) {
		/* No chat answer is this big; and it could not be judged. */
		a->malformed = true;
		buf_free(&a->body);
	}
}

static void
parse_body(struct answer *a, const char *body, size_t len)
{
	json_t *j;

	if (a->malformed)
		return;
	j = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	if (!json_is_object(j)) {
		a->malformed = true;
		json_decref(j);
		return;
	}
	if (a->dialect == DIALECT_OPENAI)
		openai_object(a, j);
	else
		anthropic_object(a, j);
	json_decref(j);
	if (a->text.len > 0 || a->tool_call || a->refusal)
		got_content(a);
	a->done = true;
}

static void
end(struct answer *a, const char *body, size_t len)
{
	int i;

	if (a->ended)
		return;
	a->ended = true;
	if (!a->stream)
		parse_body(a, body, len);
	/* Anthropic checks each tool call at its block's stop; OpenAI's
	 * calls end only with the answer. */
	if (a->dialect == DIALECT_OPENAI)
		for (i = 0; i < ANSWER_TOOLS_MAX; i++)
			args_check(a, i);
	sse_free(&a->sse);
	buf_free(&a->body);
}

void
answer_end(struct answer *a)
{
	end(a, a->body.data, a->body.len);
}

void
answer_end_body(struct answer *a, const char *body, size_t len)
{
	end(a, body, len);
}

/* ---- the verdict ----------------------------------------------------- */

static bool
text_is_json(const struct answer *a)
{
	json_t *j;

	/* Strict: a ```json fence around it is not JSON to the caller's
	 * parser either.  jansson allows white space around the value. */
	j = json_loadb(a->text.data, a->text.len, JSON_DECODE_ANY, NULL);
	json_decref(j);
	return j != NULL;
}

enum answer_verdict
answer_verdict(const struct answer *a, const struct answer_want *w)
{
	const char *cut = a->dialect == DIALECT_OPENAI ? "length" :
	    "max_tokens";

	if (a->malformed)
		return AV_MALFORMED;
	if (a->error_event)
		return AV_ERROR_EVENT;
	if (!a->done)
		return AV_TRUNCATED;
	if (a->refusal)
		return AV_REFUSAL;
	if (a->tool_args_bad)
		return AV_TOOL_ARGS;
	if (w != NULL && w->forbid_length && strcmp(a->finish, cut) == 0)
		return AV_LENGTH;
	if (a->text.len == 0 && !a->tool_call)
		return AV_EMPTY;
	/* A tool call without text is not asked to be JSON text; text cut
	 * at our own cap cannot be judged. */
	if (w != NULL && w->json && a->text.len > 0 && !a->text_truncated &&
	    !text_is_json(a))
		return AV_BAD_JSON;
	return AV_OK;
}

const char *
answer_verdict_name(enum answer_verdict v)
{
	static const char *names[] = {
		[AV_OK] = "ok", [AV_MALFORMED] = "malformed",
		[AV_ERROR_EVENT] = "error-event", [AV_TRUNCATED] = "truncated",
		[AV_REFUSAL] = "refusal", [AV_TOOL_ARGS] = "tool-args",
		[AV_LENGTH] = "length", [AV_EMPTY] = "empty",
		[AV_BAD_JSON] = "bad-json",
	};

	if ((size_t)v >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[v];
}

/* ---- token estimates ------------------------------------------------- */

uint64_t
answer_estimate_tokens(size_t bytes)
{
	return bytes / 4 + (bytes % 4 != 0);
}

/* jansson's parser stops at this depth; a tree built by hand could go
 * deeper, but not without being a mistake. */
#define ESTIMATE_DEPTH_MAX	2048

static uint64_t
string_bytes(json_t *v, int depth)
{
	const char *key;
	uint64_t n = 0;
	json_t *e;
	size_t i;

	if (depth > ESTIMATE_DEPTH_MAX)
		return 0;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_length(v);
	case JSON_ARRAY:
		json_array_foreach(v, i, e)
			n += string_bytes(e, depth + 1);
		return n;
	case JSON_OBJECT:
		json_object_foreach(v, key, e)
			n += string_bytes(e, depth + 1);
		return n;
	default:
		return 0;
	}
}

uint64_t
request_estimate_tokens(const json_t *req)
{
	static const char *keys[] = { "messages", "system", "tools" };
	uint64_t bytes = 0;
	json_t *v;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		/* jansson's iterators take non-const pointers; nothing here
		 * changes the tree. */
		if ((v = json_object_get(req, keys[i])) != NULL)
			bytes += string_bytes(v, 0);
	}
	return bytes / 4 + (bytes % 4 != 0) +
	    4 * (uint64_t)json_array_size(json_object_get(req, "messages")) +
	    3;
}

/* ---- provider error bodies ------------------------------------------- */

enum provider_error
provider_error_kind(enum dialect d, int status, const char *body,
    size_t len)
{
	enum provider_error e = PE_OTHER;
	const char *code, *type, *msg;
	json_t *j, *err;

	if (body == NULL || len == 0 ||
	    (j = json_loadb(body, len, 0, NULL)) == NULL)
		return PE_OTHER;
	/* Gemini's OpenAI-compatible endpoint wraps its errors in an
	 * array: [{"error": {"code": 400, "message": ..., "status":
	 * "INVALID_ARGUMENT"}}]. */
	err = json_object_get(json_is_array(j) ? json_array_get(j, 0) : j,
	    "error");
	code = get_str(err, "code");
	type = get_str(err, "type");
	if ((msg = get_str(err, "message")) == NULL)
		msg = "";
	if (d == DIALECT_OPENAI) {
		/* Gemini says "The input token count (1200293) exceeds the
		 * maximum number of tokens allowed (1048576)." */
		if ((code != NULL &&
		    strcmp(code, "context_length_exceeded") == 0) ||
		    strcasestr(msg, "maximum context length") != NULL ||
		    (strcasestr(msg, "input token count") != NULL &&
		    strcasestr(msg, "exceeds the maximum") != NULL))
			e = PE_CONTEXT;
		else if (code != NULL &&
		    (strcmp(code, "content_filter") == 0 ||
		    strcmp(code, "content_policy_violation") == 0))
			e = PE_CONTENT_FILTER;
	} else {
		/* Anthropic has no code for these: its messages are all
		 * there is ("prompt is too long: 208310 tokens > 200000
		 * maximum"). */
		if (status == 400 && type != NULL &&
		    strcmp(type, "invalid_request_error") == 0 &&
		    (strcasestr(msg, "prompt is too long") != NULL ||
		    strcasestr(msg, "context limit") != NULL ||
		    strcasestr(msg, "context window") != NULL))
			e = PE_CONTEXT;
		else if (strcasestr(msg, "content filtering") != NULL)
			e = PE_CONTENT_FILTER;
	}
	json_decref(j);
	return e;
}

const char *
provider_error_name(enum provider_error e)
{
	switch (e) {
	case PE_OTHER:
		return "other";
	case PE_CONTEXT:
		return "context";
	case PE_CONTENT_FILTER:
		return "content-filter";
	}
	return "?";
}

/* ---- continuing a stream --------------------------------------------- */

static int
emit_block_stop(struct buf *out, int index)
{
	return buf_printf(out, "event: content_block_stop\ndata: "
	    "{\"type\":\"content_block_stop\",\"index\":%d}\n\n", index);
}

/* Add n to the count o[key], if it is one.  Returns whether it was. */
static bool
count_add(json_t *o, const char *key, uint64_t n)
{
	uint64_t v;

	if (n == 0 || !get_count(o, key, &v) || v > (uint64_t)INT64_MAX - n)
		return false;
	return json_object_set_new(o, key, json_integer((json_int_t)(v + n)))
	    == 0;
}

/* The first text of a continuation starts with the blanks its prefix
 * lost, which the caller has already: they go.  o holds "text". */
static void
trim_first_text(struct cont_state *cs, json_t *o, const char *key)
{
	const char *t = get_str(o, key);
	size_t skip = 0;

	if (cs->trim == 0 || t == NULL || *t == '\0')
		return;
	while (skip < cs->trim && isspace((unsigned char)t[skip]))
		skip++;
	cs->trim = 0;
	if (skip > 0)
		json_object_set_new(o, key, json_string(t + skip));
}

/* A continuation's first text block is prev's open one: its start is
 * dropped, and text it carries (seldom) becomes a delta of prev's. */
static enum answer_cont
merge_start(const struct answer *prev, struct cont_state *cs, json_t *cb,
    struct buf *out)
{
	const char *t;

	trim_first_text(cs, cb, "text");
	t = get_str(cb, "text");
	json_t *d;
	int r;

	if (t == NULL || *t == '\0')
		return AC_DROP;
	d = json_pack("{s:s, s:i, s:{s:s, s:s}}", "type",
	    "content_block_delta", "index", prev->open_block, "delta",
	    "type", "text_delta", "text", t);
	if (d == NULL)
		return AC_ERROR;
	r = sse_emit_json(out, "content_block_delta", d);
	json_decref(d);
	return r < 0 ? AC_ERROR : AC_REPLACE;
}

static enum answer_cont
anthropic_continue(const struct answer *prev, struct cont_state *cs,
    const char *event, const char *data, struct buf *out)
{
	enum answer_cont r = AC_FORWARD;
	bool close_prev, block, usage;
	const char *type;
	json_t *j;
	int i, base;

	close_prev = prev->open_block >= 0 && !cs->merged && !cs->closed_prev;
	j = json_loads(data, 0, NULL);
	if ((type = get_str(j, "type")) == NULL)
		type = event;
	if (strcmp(type, "message_start") == 0 || strcmp(type, "ping") == 0) {
		r = AC_DROP;
		goto out;
	}
	block = strcmp(type, "content_block_start") == 0 ||
	    strcmp(type, "content_block_delta") == 0 ||
	    strcmp(type, "content_block_stop") == 0;
	if (block) {
		if ((i = get_index(j)) < 0) {
			/* Unreadable: this attempt's own answer is then
			 * malformed, and the caller moves on. */
			r = AC_DROP;
			goto out;
		}
		if (strcmp(type, "content_block_start") == 0 && i == 0 &&
		    close_prev && prev->open_text &&
		    is_str(json_object_get(j, "content_block"), "type",
		    "text")) {
			r = merge_start(prev, cs, json_object_get(j,
			    "content_block"), out);
			if (r != AC_ERROR)
				cs->merged = true;
			goto out;
		}
		if (close_prev && emit_block_stop(out, prev->open_block) < 0)
			goto fail;
		if (strcmp(type, "content_block_delta") == 0)
			trim_first_text(cs, json_object_get(j, "delta"), "text");
		base = cs->merged ? prev->open_block : prev->blocks;
		if (json_object_set_new(j, "index", json_integer(base + i)) <
		    0 || sse_emit_json(out, type, j) < 0)
			goto fail;
		if (close_prev)
			cs->closed_prev = true;
		r = AC_REPLACE;
	} else if (strcmp(type, "message_delta") == 0 ||
	    strcmp(type, "message_stop") == 0) {
		usage = strcmp(type, "message_delta") == 0 &&
		    count_add(json_object_get(j, "usage"), "output_tokens",
		    cs->out_before);
		if (!close_prev && !usage)
			goto out;
		/* A continuation without blocks still closes prev's. */
		if ((close_prev && emit_block_stop(out, prev->open_block) < 0) ||
		    (usage ? sse_emit_json(out, event, j) :
		    sse_emit(out, event, data, strlen(data))) < 0)
			goto fail;
		if (close_prev)
			cs->closed_prev = true;
		r = AC_REPLACE;
	}
	/* error, and whatever else, goes as it is. */
	goto out;
fail:
	r = AC_ERROR;
out:
	json_decref(j);
	return r;
}

/* The continuation's first chunk only says "assistant", which the caller
 * has heard already: role, with empty content and nothing else. */
static bool
openai_role_only(const char *data)
{
	json_t *j, *choices, *c, *d, *v;
	const char *key;
	bool role = false, only = true;
	size_t i;

	if ((j = json_loads(data, 0, NULL)) == NULL)
		return false;
	choices = json_object_get(j, "choices");
	if (!null_or_absent(json_object_get(j, "usage")) ||
	    json_array_size(choices) == 0)
		only = false;
	json_array_foreach(choices, i, c) {
		if (!null_or_absent(json_object_get(c, "finish_reason")) ||
		    !json_is_object(d = json_object_get(c, "delta"))) {
			only = false;
			break;
		}
		json_object_foreach(d, key, v) {
			if (strcmp(key, "role") == 0)
				role = true;
			else if (strcmp(key, "content") == 0 &&
			    json_is_string(v) && json_string_length(v) == 0)
				continue;
			else if (!json_is_null(v))
				only = false;
		}
	}
	json_decref(j);
	return only && role;
}

/* The continuation's first content, less the blanks its prefix lost; its
 * usage chunk, with the output of the answer it continues. */
static enum answer_cont
openai_continue(struct cont_state *cs, const char *data, struct buf *out)
{
	json_t *j = json_loads(data, 0, NULL);
	json_t *d = json_object_get(json_array_get(json_object_get(j,
	    "choices"), 0), "delta");
	json_t *u = json_object_get(j, "usage");
	const char *text = get_str(d, "content");
	enum answer_cont r = AC_FORWARD;
	bool changed = false;

	if (cs->trim > 0 && text != NULL && *text != '\0') {
		trim_first_text(cs, d, "content");
		changed = true;
	}
	if (count_add(u, "completion_tokens", cs->out_before)) {
		(void)count_add(u, "total_tokens", cs->out_before);
		changed = true;
	}
	if (changed)
		r = sse_emit_json(out, NULL, j) < 0 ? AC_ERROR : AC_REPLACE;
	json_decref(j);
	return r;
}

enum answer_cont
answer_continue_event(const struct answer *prev, struct cont_state *cs,
    const char *event, const char *data, struct buf *out)
{
	size_t len0 = out->len;
	enum answer_cont r;

	if (prev->dialect == DIALECT_OPENAI) {
		if (openai_role_only(data))
			return AC_DROP;
		r = cs->trim > 0 || cs->out_before > 0 ?
		    openai_continue(cs, data, out) : AC_FORWARD;
	} else {
		r = anthropic_continue(prev, cs, event, data, out);
	}
	if (r == AC_ERROR && out->data != NULL) {
		out->len = len0;	/* out as it was */
		out->data[len0] = '\0';
	}
	return r;
}
