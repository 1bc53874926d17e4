#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "jsonget.h"
#include "util.h"

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

void
answer_shrink(struct buf *b)
{
	if (b->cap > ANSWER_KEEP_ROOM)
		buf_free(b);
	else
		buf_reset(b);
}

/* ---- what an answer says --------------------------------------------- */

void
answer_got_content(struct answer *a)
{
	if (a->content)
		return;
	a->content = true;
	a->content_end = a->fed;
}

void
answer_text_add(struct answer *a, const char *s, size_t n)
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

void
answer_args_add(struct answer *a, int i, const char *s, size_t n)
{
	uint32_t bit = 1u << i;
	int k;

	a->args_seen |= bit;
	if (a->args_unchecked & bit)
		return;
	if (a->args == NULL) {
		a->args = xcalloc(ANSWER_TOOLS_MAX, sizeof(*a->args));
		for (k = 0; k < ANSWER_TOOLS_MAX; k++)
			buf_init(&a->args[k], ANSWER_ARGS_MAX);
	}
	if (buf_add(&a->args[i], s, n) < 0) {
		/* Too big to judge: better to pass a huge call than to fail
		 * an answer on a limit of our own. */
		a->args_unchecked |= bit;
		buf_free(&a->args[i]);
	}
}

/* A finished call's arguments must be a JSON object, the only shape
 * either API gives a tool's input; "" is a call without arguments. */
void
answer_args_check(struct answer *a, int i)
{
	uint32_t bit = 1u << i;
	json_t *j;

	if (!(a->args_seen & bit))
		return;
	if (!(a->args_unchecked & bit) && a->args != NULL &&
	    a->args[i].len > 0) {
		j = json_loadb(a->args[i].data, a->args[i].len, 0, NULL);
		if (!json_is_object(j))
			a->tool_args_bad = true;
		json_decref(j);
	}
	a->args_seen &= ~bit;
	a->args_unchecked &= ~bit;
	answer_args_reset(a, i);
}

void
answer_args_reset(struct answer *a, int i)
{
	if (a->args != NULL)
		answer_shrink(&a->args[i]);
}

void
answer_set_finish(struct answer *a, const char *s)
{
	copy_str(a->finish, sizeof(a->finish), s);
}

/* ---- server-sent events ---------------------------------------------- */

static void
on_sse_event(void *arg, const char *event, const char *data, size_t len,
    size_t start, size_t end)
{
	struct answer *a = arg;
	bool error = a->error_event, refusal = a->refusal;

	a->fed = end;		/* where its content, if any, ends */
	a->api->read_event(a, event, data, len);
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
	memset(a, 0, sizeof(*a));
	a->dialect = d;
	a->api = api_of(d);
	a->stream = stream;
	a->open_block = -1;
	buf_init(&a->text, ANSWER_TEXT_MAX);
	sse_init(&a->sse, ANSWER_EVENT_MAX, on_sse_event, a);
	buf_init(&a->body, ANSWER_BODY_MAX);
}

void
answer_free(struct answer *a)
{
	size_t i;

	buf_free(&a->text);
	sse_free(&a->sse);
	buf_free(&a->body);
	if (a->args != NULL)
		for (i = 0; i < ANSWER_TOOLS_MAX; i++)
			buf_free(&a->args[i]);
	free(a->args);
	a->args = NULL;
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
read_tree(struct answer *a, json_t *j)
{
	if (!json_is_object(j)) {
		a->malformed = true;
		return;
	}
	a->api->read_body(a, j);
	if (a->text.len > 0 || a->tool_call || a->refusal)
		answer_got_content(a);
	a->done = true;
}

static void
parse_body(struct answer *a, const char *body, size_t len)
{
	json_t *j;

	if (a->malformed || a->read)
		return;
	j = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	read_tree(a, j);
	json_decref(j);
}

void
answer_read_tree(struct answer *a, json_t *body)
{
	if (a->stream || a->ended || a->read || a->malformed)
		return;
	a->read = true;
	read_tree(a, body);
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
	/* Some APIs' calls end only with the answer (others' are
	 * checked as each ends). */
	if (a->api->calls_end_with_answer)
		for (i = 0; i < ANSWER_TOOLS_MAX; i++)
			answer_args_check(a, i);
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
	const char *cut = a->api->finish_name[FINISH_LENGTH];

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
	if (w != NULL && w->forbid_length && cut != NULL &&
	    strcmp(a->finish, cut) == 0)
		return AV_LENGTH;
	if (a->api->no_text ? !a->content : a->text.len == 0 && !a->tool_call)
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

/* Whether key is one of an API's prompt_keys before apis[i]'s key k. */
static bool
prompt_key_seen(const char *key, size_t i, size_t k)
{
	const char *const *keys;
	size_t j, m;

	for (j = 0; j <= i; j++)
		for (keys = apis[j]->prompt_keys, m = 0; keys != NULL &&
		    keys[m] != NULL && (j < i || m < k); m++)
			if (strcmp(keys[m], key) == 0)
				return true;
	return false;
}

uint64_t
request_estimate_tokens(const json_t *req)
{
	const char *key;
	uint64_t bytes = 0;
	json_t *v;
	size_t i, k;

	/* Every API's prompt members, each name once: a request has its
	 * own API's only. */
	for (i = 0; apis[i] != NULL; i++)
		for (k = 0; apis[i]->prompt_keys != NULL &&
		    (key = apis[i]->prompt_keys[k]) != NULL; k++) {
			if (prompt_key_seen(key, i, k))
				continue;
			/* jansson's iterators take non-const pointers;
			 * nothing here changes the tree. */
			if ((v = json_object_get(req, key)) != NULL)
				bytes += string_bytes(v, 0);
		}
	return bytes / 4 + (bytes % 4 != 0) +
	    4 * (uint64_t)json_array_size(json_object_get(req, "messages")) +
	    3;
}

uint64_t
request_max_tokens(const json_t *req)
{
	const char *const *keys;
	const json_t *v;
	size_t i, k;

	/* A request has its own API's members only. */
	for (i = 0; apis[i] != NULL; i++)
		for (keys = apis[i]->max_tokens_keys, k = 0; keys != NULL &&
		    keys[k] != NULL; k++)
			if (json_is_integer(v = json_object_get(req,
			    keys[k])) && json_integer_value(v) > 0)
				return (uint64_t)json_integer_value(v);
	return 0;
}

bool
request_wants_json(const json_t *req)
{
	const char *const *path;
	const json_t *v;
	const char *type;
	size_t i;

	/* A request has its own API's members only. */
	for (i = 0; apis[i] != NULL; i++) {
		if ((path = apis[i]->json_format) == NULL)
			continue;
		for (v = req; *path != NULL && v != NULL; path++)
			v = json_object_get(v, *path);
		if ((type = json_string_value(v)) != NULL &&
		    (strcmp(type, "json_object") == 0 ||
		    strcmp(type, "json_schema") == 0))
			return true;
	}
	return false;
}

/* ---- provider error bodies ------------------------------------------- */

enum provider_error
provider_error_kind(enum dialect d, int status, const char *body,
    size_t len)
{
	enum provider_error e;
	json_t *j, *err;

	if (body == NULL || len == 0 ||
	    (j = json_loadb(body, len, 0, NULL)) == NULL)
		return PE_OTHER;
	/* Gemini's OpenAI-compatible endpoint wraps its errors in an
	 * array: [{"error": {"code": 400, "message": ..., "status":
	 * "INVALID_ARGUMENT"}}]. */
	err = json_object_get(json_is_array(j) ? json_array_get(j, 0) : j,
	    "error");
	e = api_of(d)->error_kind(status, err);
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

/* Add n to the count o[key], if it is one.  Returns whether it was. */
bool
answer_count_add(json_t *o, const char *key, uint64_t n)
{
	uint64_t v;

	if (n == 0 || !get_count(o, key, &v) || v > (uint64_t)INT64_MAX - n)
		return false;
	return json_object_set_new(o, key, json_integer((json_int_t)(v + n)))
	    == 0;
}

/* The first text of a continuation starts with the blanks its prefix
 * lost, which the caller has already: they go.  o holds "text". */
void
answer_trim_first_text(struct cont_state *cs, json_t *o, const char *key)
{
	const char *t = get_str(o, key);
	size_t skip = 0;

	if (cs->trim == 0 || t == NULL || *t == '\0')
		return;
	while (skip < cs->trim && isspace((unsigned char)t[skip]))
		skip++;
	cs->trim = 0;
	cs->trimmed = skip;
	if (skip > 0)
		json_object_set_new(o, key, json_string(t + skip));
}

int
answer_prefix_messages(json_t *req, const char *text, size_t len)
{
	json_t *msgs = json_object_get(req, "messages");

	return json_is_array(msgs) && json_array_append_new(msgs,
	    json_pack("{s:s, s:s%}", "role", "assistant", "content", text,
	    len)) == 0 ? 0 : -1;
}

enum answer_cont
answer_continue_event(const struct answer *prev, struct cont_state *cs,
    const char *event, const char *data, struct buf *out)
{
	size_t len0 = out->len;
	enum answer_cont r;

	if (prev->api->continue_event == NULL)
		return AC_FORWARD;	/* an API without streams */
	r = prev->api->continue_event(prev, cs, event, data, out);
	if (r == AC_ERROR && out->data != NULL) {
		out->len = len0;	/* out as it was */
		out->data[len0] = '\0';
	}
	return r;
}
