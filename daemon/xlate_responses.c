/* OpenAI's Responses API to its chat completions and back (see
 * xlate_responses.h).  The shapes are those of OpenAI's API reference
 * (https://developers.openai.com/api/reference, "Responses": create,
 * the response object, and "Streaming events"). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonget.h"
#include "sse.h"
#include "util.h"
#include "xlate_responses.h"

#define RESP_TOOLS_MAX	16

/* Why it does not translate: the token goes into a header, so only
 * characters safe there are kept.  Returns NULL for the caller. */
static json_t *
refuse(char why[DIALECT_WHY_MAX], const char *what, const char *name,
    json_t *drop1, json_t *drop2)
{
	char *p;

	snprintf(why, DIALECT_WHY_MAX, "%s%s", what, name ? name : "");
	for (p = why; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("_.:+-", *p) == NULL)
			*p = '?';
	json_decref(drop1);
	json_decref(drop2);
	return NULL;
}

/* ---- requests ----------------------------------------------------------- */

/* Whether a request member needs no more thought: one the other API has
 * no use for (dropped), or one both name alike, copied into out. */
static bool
key_passes(json_t *out, const char *key, json_t *v,
    const char *const *dropped, const char *const *copied)
{
	size_t k;

	for (k = 0; dropped[k] != NULL; k++)
		if (strcmp(key, dropped[k]) == 0)
			return true;
	for (k = 0; copied[k] != NULL; k++)
		if (strcmp(key, copied[k]) == 0) {
			json_object_set(out, key, v);
			return true;
		}
	return false;
}

/* A message's content: a string as it is; parts as chat parts (text,
 * images), or for the assistant one string.  NULL with why. */
static json_t *
content_of(const json_t *c, bool assistant, char why[DIALECT_WHY_MAX])
{
	json_t *parts, *p, *out;
	struct buf text;
	const char *type;
	size_t i;

	if (json_is_string(c))
		return json_incref((json_t *)c);
	if (!json_is_array(c))
		return refuse(why, "input", NULL, NULL, NULL);
	parts = json_array();
	buf_init(&text, 1u << 24);
	json_array_foreach(c, i, p) {
		type = get_str(p, "type");
		if (type == NULL)
			return refuse(why, "input", NULL, parts, NULL);
		if (strcmp(type, "input_text") == 0 ||
		    strcmp(type, "output_text") == 0) {
			const char *t = get_str(p, "text");

			if (t == NULL) {
				buf_free(&text);
				return refuse(why, "input", NULL, parts, NULL);
			}
			if (assistant)
				buf_addstr(&text, t);
			else
				json_array_append_new(parts, json_pack(
				    "{s:s, s:s}", "type", "text", "text", t));
		} else if (strcmp(type, "input_image") == 0 && !assistant &&
		    get_str(p, "image_url") != NULL) {
			json_t *img = json_pack("{s:s}", "url",
			    get_str(p, "image_url"));

			if (get_str(p, "detail") != NULL)
				json_object_set(img, "detail",
				    json_object_get(p, "detail"));
			json_array_append_new(parts, json_pack("{s:s, s:o}",
			    "type", "image_url", "image_url", img));
		} else if (strcmp(type, "refusal") == 0 && assistant) {
			/* An earlier turn's refusal: its words. */
			if (get_str(p, "refusal") != NULL)
				buf_addstr(&text, get_str(p, "refusal"));
		} else {
			buf_free(&text);
			return refuse(why, "", type, parts, NULL);
		}
	}
	if (!assistant) {
		buf_free(&text);
		return parts;
	}
	json_decref(parts);
	out = json_string(text.data != NULL ? text.data : "");
	buf_free(&text);
	return out;
}

/* The last message, when it is the assistant's: tool calls join it. */
static json_t *
last_assistant(json_t *msgs)
{
	json_t *m = json_array_get(msgs, json_array_size(msgs) - 1);

	return is_str(m, "role", "assistant") ? m : NULL;
}

static int
input_item(json_t *msgs, const json_t *it, char why[DIALECT_WHY_MAX])
{
	const char *type = get_str(it, "type"), *role;
	json_t *m, *c, *calls;

	if (type == NULL || strcmp(type, "message") == 0) {
		role = get_str(it, "role");
		if (role == NULL || (strcmp(role, "user") != 0 &&
		    strcmp(role, "assistant") != 0 &&
		    strcmp(role, "system") != 0 &&
		    strcmp(role, "developer") != 0)) {
			refuse(why, "input", NULL, NULL, NULL);
			return -1;
		}
		c = content_of(json_object_get(it, "content"),
		    strcmp(role, "assistant") == 0, why);
		if (c == NULL)
			return -1;
		/* Chat servers other than OpenAI's know no developer. */
		json_array_append_new(msgs, json_pack("{s:s, s:o}", "role",
		    strcmp(role, "developer") == 0 ? "system" : role,
		    "content", c));
		return 0;
	}
	if (strcmp(type, "function_call") == 0) {
		if (get_str(it, "call_id") == NULL ||
		    get_str(it, "name") == NULL) {
			refuse(why, "input", NULL, NULL, NULL);
			return -1;
		}
		if ((m = last_assistant(msgs)) == NULL) {
			m = json_pack("{s:s, s:n}", "role", "assistant",
			    "content");
			json_array_append_new(msgs, m);
		}
		if ((calls = json_object_get(m, "tool_calls")) == NULL) {
			calls = json_array();
			json_object_set_new(m, "tool_calls", calls);
		}
		json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, "
		    "s:s}}", "id", get_str(it, "call_id"), "type", "function",
		    "function", "name", get_str(it, "name"), "arguments",
		    get_str(it, "arguments") ? get_str(it, "arguments") :
		    "{}"));
		return 0;
	}
	if (strcmp(type, "function_call_output") == 0) {
		if (get_str(it, "call_id") == NULL ||
		    get_str(it, "output") == NULL) {
			refuse(why, "function_call_output", NULL, NULL, NULL);
			return -1;
		}
		json_array_append_new(msgs, json_pack("{s:s, s:s, s:s}", "role",
		    "tool", "tool_call_id", get_str(it, "call_id"), "content",
		    get_str(it, "output")));
		return 0;
	}
	if (strcmp(type, "reasoning") == 0)
		return 0;		/* its own thoughts: harmless to drop */
	refuse(why, "item:", type, NULL, NULL);
	return -1;
}

static json_t *
tools_of(const json_t *tools, char why[DIALECT_WHY_MAX])
{
	json_t *out = json_array(), *t, *f;
	size_t i;

	json_array_foreach(tools, i, t) {
		if (!is_str(t, "type", "function") ||
		    get_str(t, "name") == NULL)
			return refuse(why, "tool:", get_str(t, "type"), out,
			    NULL);
		f = json_pack("{s:s}", "name", get_str(t, "name"));
		if (json_object_get(t, "description") != NULL)
			json_object_set(f, "description",
			    json_object_get(t, "description"));
		if (json_object_get(t, "parameters") != NULL)
			json_object_set(f, "parameters",
			    json_object_get(t, "parameters"));
		if (json_is_boolean(json_object_get(t, "strict")))
			json_object_set(f, "strict",
			    json_object_get(t, "strict"));
		json_array_append_new(out, json_pack("{s:s, s:o}", "type",
		    "function", "function", f));
	}
	return out;
}

/* text.format: text (nothing), json_object, json_schema. */
static int
format_of(json_t *out, const json_t *text, char why[DIALECT_WHY_MAX])
{
	const json_t *f = json_object_get(text, "format");
	const char *type = get_str(f, "type");
	json_t *js;

	if (f == NULL || json_is_null(f) || (type != NULL &&
	    strcmp(type, "text") == 0))
		return 0;
	if (type != NULL && strcmp(type, "json_object") == 0) {
		json_object_set_new(out, "response_format",
		    json_pack("{s:s}", "type", "json_object"));
		return 0;
	}
	if (type == NULL || strcmp(type, "json_schema") != 0 ||
	    get_str(f, "name") == NULL) {
		refuse(why, "text.format", NULL, NULL, NULL);
		return -1;
	}
	js = json_pack("{s:s}", "name", get_str(f, "name"));
	if (json_object_get(f, "schema") != NULL)
		json_object_set(js, "schema", json_object_get(f, "schema"));
	if (json_object_get(f, "strict") != NULL)
		json_object_set(js, "strict", json_object_get(f, "strict"));
	if (json_object_get(f, "description") != NULL)
		json_object_set(js, "description",
		    json_object_get(f, "description"));
	json_object_set_new(out, "response_format", json_pack("{s:s, s:o}",
	    "type", "json_schema", "json_schema", js));
	return 0;
}

json_t *
responses_to_chat(const json_t *req, struct dialect_info *info,
    char why[DIALECT_WHY_MAX])
{
	/* Harmless to drop: how, not what; or server-side state a chat
	 * server has no use for. */
	static const char *const dropped[] = { "store", "metadata",
		"service_tier", "reasoning", "truncation", "include",
		"prompt_cache_key", "safety_identifier", "max_tool_calls",
		NULL };
	static const char *const copied[] = { "model", "temperature",
		"top_p", "user", "parallel_tool_calls", NULL };
	json_t *out, *msgs, *v, *it;
	const char *key;
	size_t i;

	why[0] = '\0';
	info->json_tool = false;
	info->include_usage = false;
	info->stream = json_is_true(json_object_get(req, "stream"));
	if (!json_is_object(req))
		return refuse(why, "request", NULL, NULL, NULL);
	out = json_object();
	msgs = json_array();
	json_object_foreach((json_t *)req, key, v) {
		if (json_is_null(v))
			continue;
		if (key_passes(out, key, v, dropped, copied))
			continue;
		if (strcmp(key, "instructions") == 0 && json_is_string(v)) {
			json_array_insert_new(msgs, 0, json_pack("{s:s, s:O}",
			    "role", "system", "content", v));
		} else if (strcmp(key, "input") == 0) {
			if (json_is_string(v)) {
				json_array_append_new(msgs, json_pack(
				    "{s:s, s:O}", "role", "user", "content",
				    v));
				continue;
			}
			if (!json_is_array(v))
				return refuse(why, "input", NULL, out, msgs);
			json_array_foreach(v, i, it)
				if (input_item(msgs, it, why) < 0) {
					json_decref(out);
					json_decref(msgs);
					return NULL;
				}
		} else if (strcmp(key, "tools") == 0 && json_is_array(v)) {
			json_t *t = tools_of(v, why);

			if (t == NULL) {
				json_decref(out);	/* why is set */
				json_decref(msgs);
				return NULL;
			}
			if (json_array_size(t) > 0)
				json_object_set_new(out, "tools", t);
			else
				json_decref(t);
		} else if (strcmp(key, "tool_choice") == 0) {
			if (json_is_string(v))
				json_object_set(out, "tool_choice", v);
			else if (is_str(v, "type", "function") &&
			    get_str(v, "name") != NULL)
				json_object_set_new(out, "tool_choice",
				    json_pack("{s:s, s:{s:s}}", "type",
				    "function", "function", "name",
				    get_str(v, "name")));
			else
				return refuse(why, "tool_choice", NULL, out,
				    msgs);
		} else if (strcmp(key, "max_output_tokens") == 0 &&
		    json_is_integer(v)) {
			json_object_set(out, "max_tokens", v);
		} else if (strcmp(key, "text") == 0) {
			if (format_of(out, v, why) < 0) {
				json_decref(out);
				json_decref(msgs);
				return NULL;
			}
		} else if (strcmp(key, "stream") == 0) {
			if (json_is_true(v)) {
				json_object_set_new(out, "stream",
				    json_true());
				/* Its usage ends the Response. */
				json_object_set_new(out, "stream_options",
				    json_pack("{s:b}", "include_usage", 1));
			}
		} else {
			/* previous_response_id, background, prompt,
			 * conversation, top_logprobs...: what a chat server
			 * cannot do, or what llmfbd does not know. */
			return refuse(why, key, NULL, out, msgs);
		}
	}
	if (json_array_size(msgs) == 0)
		return refuse(why, "input", NULL, out, msgs);
	json_object_set_new(out, "messages", msgs);
	return out;
}

/* ---- answers ------------------------------------------------------------ */

/* A Response's frame: what both the whole answer and a stream's events
 * carry. */
static json_t *
response_frame(const char *id, const char *model, int64_t created,
    const char *status)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:n, s:n, s:[], "
	    "s:b, s:s, s:[], s:{s:{s:s}}}",
	    "id", id, "object", "response", "created_at", (json_int_t)created,
	    "status", status, "model", model, "error", "incomplete_details",
	    "output", "parallel_tool_calls", 1, "tool_choice", "auto",
	    "tools", "text", "format", "type", "text");
}

static json_t *
usage_of(uint64_t in, uint64_t out, uint64_t cached)
{
	return json_pack("{s:I, s:{s:I}, s:I, s:{s:i}, s:I}",
	    "input_tokens", (json_int_t)in, "input_tokens_details",
	    "cached_tokens", (json_int_t)cached, "output_tokens",
	    (json_int_t)out, "output_tokens_details", "reasoning_tokens", 0,
	    "total_tokens", (json_int_t)(in + out));
}

static json_t *
message_item(const char *id, const char *text, const char *refusal,
    const char *status)
{
	json_t *part = refusal != NULL ?
	    json_pack("{s:s, s:s}", "type", "refusal", "refusal", refusal) :
	    json_pack("{s:s, s:s, s:[]}", "type", "output_text", "text",
	    text, "annotations");

	return json_pack("{s:s, s:s, s:s, s:s, s:[o]}", "type", "message",
	    "id", id, "status", status, "role", "assistant", "content", part);
}

static json_t *
call_item(const char *call_id, const char *name, const char *args,
    const char *status)
{
	char id[128];

	snprintf(id, sizeof(id), "fc_%s", call_id);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type",
	    "function_call", "id", id, "call_id", call_id, "name", name,
	    "arguments", args, "status", status);
}

/* finish_reason: the Response's status and why it is incomplete. */
static void
set_end(json_t *r, const char *finish)
{
	const char *why = NULL;

	if (finish != NULL && strcmp(finish, "length") == 0)
		why = "max_output_tokens";
	else if (finish != NULL && strcmp(finish, "content_filter") == 0)
		why = "content_filter";
	json_object_set_new(r, "status", json_string(why ? "incomplete" :
	    "completed"));
	json_object_set_new(r, "incomplete_details", why ?
	    json_pack("{s:s}", "reason", why) : json_null());
}

json_t *
chat_to_responses(const json_t *resp, const struct dialect_info *info)
{
	const json_t *c = json_array_get(json_object_get(resp, "choices"), 0);
	const json_t *m = json_object_get(c, "message"), *u, *tc;
	const char *id = get_str(resp, "id"), *model = get_str(resp, "model");
	const char *text = get_str(m, "content");
	const char *refusal = get_str(m, "refusal");
	char rid[160], mid[160];
	uint64_t in = 0, out = 0, cached = 0;
	json_t *r, *output;
	size_t i;

	if (!json_is_object(m))
		return NULL;
	snprintf(rid, sizeof(rid), "resp_%s", id ? id : "llmfb");
	snprintf(mid, sizeof(mid), "msg_%s", id ? id : "llmfb");
	r = response_frame(rid, model ? model : "", json_is_integer(
	    json_object_get(resp, "created")) ? json_integer_value(
	    json_object_get(resp, "created")) : info->created, "completed");
	if (r == NULL)
		return NULL;
	output = json_object_get(r, "output");
	if (refusal != NULL && *refusal != '\0')
		json_array_append_new(output, message_item(mid, "", refusal,
		    "completed"));
	else if (text != NULL && *text != '\0')
		json_array_append_new(output, message_item(mid, text, NULL,
		    "completed"));
	json_array_foreach(json_object_get(m, "tool_calls"), i, tc) {
		const json_t *f = json_object_get(tc, "function");

		if (get_str(tc, "id") == NULL || get_str(f, "name") == NULL)
			continue;
		json_array_append_new(output, call_item(get_str(tc, "id"),
		    get_str(f, "name"), get_str(f, "arguments") ?
		    get_str(f, "arguments") : "{}", "completed"));
	}
	u = json_object_get(resp, "usage");
	get_count(u, "prompt_tokens", &in);
	get_count(u, "completion_tokens", &out);
	get_count(json_object_get(u, "prompt_tokens_details"),
	    "cached_tokens", &cached);
	json_object_set_new(r, "usage", usage_of(in, out, cached));
	set_end(r, get_str(c, "finish_reason"));
	return r;
}

/* ---- streams ------------------------------------------------------------ */

struct resp_tool {
	int		 output_index;
	char		*call_id, *name;
	struct buf	 args;
};

struct resp_stream {
	bool		 started, ended;
	uint64_t	 seq;
	char		 id[160], msg_id[160];
	char		*model;
	int64_t		 created;
	int		 next_index;	/* the next output item's */
	int		 msg_index;	/* the open message's, -1 */
	struct buf	 text;
	struct resp_tool tools[RESP_TOOLS_MAX];
	int		 ntools;
	json_t		*items;		/* the output items done */
	const char	*finish;
	bool		 usage;
	uint64_t	 in, out, cached;
};

void
resp_stream_free(struct resp_stream *rs)
{
	int i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->ntools; i++) {
		free(rs->tools[i].call_id);
		free(rs->tools[i].name);
		buf_free(&rs->tools[i].args);
	}
	buf_free(&rs->text);
	json_decref(rs->items);
	free(rs->model);
	free(rs);
}

/* One event: its type is the SSE event's name too, and each carries the
 * next sequence number.  Takes ev. */
static int
emit(struct resp_stream *rs, struct buf *out, const char *type, json_t *ev)
{
	int r;

	if (ev == NULL)
		return -1;
	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "sequence_number",
	    json_integer((json_int_t)rs->seq++));
	r = sse_emit_json(out, type, ev);
	json_decref(ev);
	return r;
}

static json_t *
frame_now(struct resp_stream *rs, const char *status)
{
	return response_frame(rs->id, rs->model ? rs->model : "",
	    rs->created, status);
}

static int
start(struct resp_stream *rs, struct buf *out)
{
	rs->started = true;
	return emit(rs, out, "response.created", json_pack("{s:o}",
	    "response", frame_now(rs, "in_progress"))) < 0 ||
	    emit(rs, out, "response.in_progress", json_pack("{s:o}",
	    "response", frame_now(rs, "in_progress"))) < 0 ? -1 : 0;
}

static int
text_delta(struct resp_stream *rs, struct buf *out, const char *t)
{
	if (rs->msg_index < 0) {
		rs->msg_index = rs->next_index++;
		if (emit(rs, out, "response.output_item.added", json_pack(
		    "{s:i, s:{s:s, s:s, s:s, s:s, s:[]}}", "output_index",
		    rs->msg_index, "item", "type", "message", "id", rs->msg_id,
		    "status", "in_progress", "role", "assistant", "content")) <
		    0 || emit(rs, out, "response.content_part.added",
		    json_pack("{s:s, s:i, s:i, s:{s:s, s:s, s:[]}}", "item_id",
		    rs->msg_id, "output_index", rs->msg_index, "content_index",
		    0, "part", "type", "output_text", "text", "",
		    "annotations")) < 0)
			return -1;
	}
	if (buf_addstr(&rs->text, t) < 0)
		return -1;
	return emit(rs, out, "response.output_text.delta", json_pack(
	    "{s:s, s:i, s:i, s:s, s:[]}", "item_id", rs->msg_id,
	    "output_index", rs->msg_index, "content_index", 0, "delta", t,
	    "logprobs"));
}

static int
close_message(struct resp_stream *rs, struct buf *out)
{
	const char *t = rs->text.data ? rs->text.data : "";
	json_t *item;

	if (rs->msg_index < 0)
		return 0;
	item = message_item(rs->msg_id, t, NULL, "completed");
	if (emit(rs, out, "response.output_text.done", json_pack(
	    "{s:s, s:i, s:i, s:s, s:[]}", "item_id", rs->msg_id,
	    "output_index", rs->msg_index, "content_index", 0, "text", t,
	    "logprobs")) < 0 || emit(rs, out, "response.content_part.done",
	    json_pack("{s:s, s:i, s:i, s:{s:s, s:s, s:[]}}", "item_id",
	    rs->msg_id, "output_index", rs->msg_index, "content_index", 0,
	    "part", "type", "output_text", "text", t, "annotations")) < 0 ||
	    emit(rs, out, "response.output_item.done", json_pack("{s:i, s:O}",
	    "output_index", rs->msg_index, "item", item)) < 0) {
		json_decref(item);
		return -1;
	}
	json_array_append_new(rs->items, item);
	rs->msg_index = -1;
	return 0;
}

static int
tool_delta(struct resp_stream *rs, struct buf *out, const json_t *tc,
    int pos)
{
	const json_t *f = json_object_get(tc, "function");
	const char *args = get_str(f, "arguments");
	json_int_t i = json_is_integer(json_object_get(tc, "index")) ?
	    json_integer_value(json_object_get(tc, "index")) : pos;
	struct resp_tool *t;
	char id[160];

	if (i < 0 || i >= RESP_TOOLS_MAX)
		return -1;
	if (i >= rs->ntools) {
		if (i != rs->ntools || get_str(tc, "id") == NULL ||
		    get_str(f, "name") == NULL)
			return -1;	/* a call must begin with its name */
		if (close_message(rs, out) < 0)
			return -1;
		t = &rs->tools[rs->ntools++];
		t->output_index = rs->next_index++;
		t->call_id = xstrdup(get_str(tc, "id"));
		t->name = xstrdup(get_str(f, "name"));
		buf_init(&t->args, 1u << 20);
		if (emit(rs, out, "response.output_item.added", json_pack(
		    "{s:i, s:o}", "output_index", t->output_index, "item",
		    call_item(t->call_id, t->name, "", "in_progress"))) < 0)
			return -1;
	}
	t = &rs->tools[i];
	if (args == NULL || *args == '\0')
		return 0;
	if (buf_addstr(&t->args, args) < 0)
		return -1;
	snprintf(id, sizeof(id), "fc_%s", t->call_id);
	return emit(rs, out, "response.function_call_arguments.delta",
	    json_pack("{s:s, s:i, s:s}", "item_id", id, "output_index",
	    t->output_index, "delta", args));
}

static int
finish(struct resp_stream *rs, struct buf *out)
{
	json_t *r;
	char id[160];
	int i;

	if (close_message(rs, out) < 0)
		return -1;
	for (i = 0; i < rs->ntools; i++) {
		struct resp_tool *t = &rs->tools[i];
		const char *a = t->args.data ? t->args.data : "";
		json_t *item = call_item(t->call_id, t->name, a, "completed");

		snprintf(id, sizeof(id), "fc_%s", t->call_id);
		if (emit(rs, out, "response.function_call_arguments.done",
		    json_pack("{s:s, s:i, s:s}", "item_id", id,
		    "output_index", t->output_index, "arguments", a)) < 0 ||
		    emit(rs, out, "response.output_item.done", json_pack(
		    "{s:i, s:O}", "output_index", t->output_index, "item",
		    item)) < 0) {
			json_decref(item);
			return -1;
		}
		json_array_append_new(rs->items, item);
	}
	if ((r = frame_now(rs, "completed")) == NULL)
		return -1;
	json_object_set(r, "output", rs->items);
	json_object_set_new(r, "usage", usage_of(rs->in, rs->out, rs->cached));
	set_end(r, rs->finish);
	rs->ended = true;
	return emit(rs, out, is_str(r, "status", "completed") ?
	    "response.completed" : "response.incomplete", json_pack("{s:o}",
	    "response", r));
}

int
chat_chunk_to_responses(struct resp_stream **state,
    const struct dialect_info *info, const char *data, size_t len,
    struct buf *out, bool *usage, uint64_t *in, uint64_t *out_tokens)
{
	struct resp_stream *rs = *state;
	const json_t *c, *d, *tc, *u, *e;
	const char *s;
	json_t *j;
	size_t i;
	int r = 0;

	if (rs == NULL) {
		rs = *state = xcalloc(1, sizeof(*rs));
		rs->msg_index = -1;
		rs->created = info->created;
		rs->items = json_array();
		buf_init(&rs->text, 1u << 24);
	}
	if (rs->ended)
		return 0;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		if (!rs->started && start(rs, out) < 0)
			return -1;
		return finish(rs, out);
	}
	if ((j = json_loadb(data, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	if (!rs->started) {
		s = get_str(j, "id");
		snprintf(rs->id, sizeof(rs->id), "resp_%s", s ? s : "llmfb");
		snprintf(rs->msg_id, sizeof(rs->msg_id), "msg_%s",
		    s ? s : "llmfb");
		rs->model = xstrdup(get_str(j, "model") ?
		    get_str(j, "model") : "");
		if (json_is_integer(json_object_get(j, "created")))
			rs->created = json_integer_value(json_object_get(j,
			    "created"));
		if (start(rs, out) < 0)
			goto fail;
	}
	if ((e = json_object_get(j, "error")) != NULL && !json_is_null(e)) {
		/* Responses' error event: code, message, param. */
		rs->ended = true;
		r = emit(rs, out, "error", json_pack("{s:s?, s:s, s:s?}",
		    "code", get_str(e, "code") ? get_str(e, "code") :
		    get_str(e, "type"), "message", get_str(e, "message") ?
		    get_str(e, "message") : "the provider gave an error",
		    "param", get_str(e, "param")));
		json_decref(j);
		return r;
	}
	c = json_array_get(json_object_get(j, "choices"), 0);
	d = json_object_get(c, "delta");
	if ((s = get_str(d, "content")) != NULL && *s != '\0' &&
	    text_delta(rs, out, s) < 0)
		goto fail;
	json_array_foreach(json_object_get(d, "tool_calls"), i, tc)
		if (tool_delta(rs, out, tc, (int)i) < 0)
			goto fail;
	if ((s = get_str(c, "finish_reason")) != NULL)
		rs->finish = strcmp(s, "length") == 0 ? "length" :
		    strcmp(s, "content_filter") == 0 ? "content_filter" :
		    "stop";
	u = json_object_get(j, "usage");
	if (json_is_object(u)) {
		rs->usage = get_count(u, "prompt_tokens", &rs->in) |
		    get_count(u, "completion_tokens", &rs->out);
		get_count(json_object_get(u, "prompt_tokens_details"),
		    "cached_tokens", &rs->cached);
		*usage = rs->usage;
		*in = rs->in;
		*out_tokens = rs->out;
	}
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	return -1;
}

/* ---- the other way: a chat caller served by a Responses target ---------- */

/* A chat message's content as Responses parts (input_text,
 * input_image), or for the assistant its text.  NULL with why. */
static json_t *
chat_parts(const json_t *c, bool assistant, char why[DIALECT_WHY_MAX])
{
	json_t *parts, *p;
	const char *type;
	size_t i;

	if (json_is_string(c))
		return assistant ? json_pack("[{s:s, s:s, s:[]}]", "type",
		    "output_text", "text", json_string_value(c),
		    "annotations") : json_incref((json_t *)c);
	if (!json_is_array(c))
		return refuse(why, "messages", NULL, NULL, NULL);
	parts = json_array();
	json_array_foreach(c, i, p) {
		type = get_str(p, "type");
		if (type != NULL && strcmp(type, "text") == 0 &&
		    get_str(p, "text") != NULL) {
			json_array_append_new(parts, json_pack("{s:s, s:s}",
			    "type", assistant ? "output_text" : "input_text",
			    "text", get_str(p, "text")));
		} else if (type != NULL && strcmp(type, "image_url") == 0 &&
		    !assistant && get_str(json_object_get(p, "image_url"),
		    "url") != NULL) {
			const json_t *iu = json_object_get(p, "image_url");
			json_t *img = json_pack("{s:s, s:s}", "type",
			    "input_image", "image_url", get_str(iu, "url"));

			if (get_str(iu, "detail") != NULL)
				json_object_set(img, "detail",
				    json_object_get(iu, "detail"));
			json_array_append_new(parts, img);
		} else {
			return refuse(why, "", type ? type : "messages", parts,
			    NULL);
		}
	}
	return parts;
}

static int
chat_message(json_t *input, const json_t *m, char why[DIALECT_WHY_MAX])
{
	const char *role = get_str(m, "role");
	const json_t *c = json_object_get(m, "content"), *tc;
	json_t *parts;
	size_t i;

	if (role == NULL) {
		refuse(why, "messages", NULL, NULL, NULL);
		return -1;
	}
	if (strcmp(role, "tool") == 0) {
		const char *out = get_str(m, "content");

		if (get_str(m, "tool_call_id") == NULL || out == NULL) {
			refuse(why, "tool_result", NULL, NULL, NULL);
			return -1;
		}
		json_array_append_new(input, json_pack("{s:s, s:s, s:s}",
		    "type", "function_call_output", "call_id",
		    get_str(m, "tool_call_id"), "output", out));
		return 0;
	}
	if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0 &&
	    strcmp(role, "system") != 0 && strcmp(role, "developer") != 0) {
		refuse(why, "role:", role, NULL, NULL);
		return -1;
	}
	if (!null_or_absent(c) && !(json_is_string(c) &&
	    json_string_length(c) == 0 && strcmp(role, "assistant") == 0)) {
		if ((parts = chat_parts(c, strcmp(role, "assistant") == 0,
		    why)) == NULL)
			return -1;
		json_array_append_new(input, json_pack("{s:s, s:s, s:o}",
		    "type", "message", "role", role, "content", parts));
	}
	json_array_foreach(json_object_get(m, "tool_calls"), i, tc) {
		const json_t *f = json_object_get(tc, "function");

		if (get_str(tc, "id") == NULL || get_str(f, "name") == NULL) {
			refuse(why, "tool_calls", NULL, NULL, NULL);
			return -1;
		}
		json_array_append_new(input, json_pack("{s:s, s:s, s:s, s:s}",
		    "type", "function_call", "call_id", get_str(tc, "id"),
		    "name", get_str(f, "name"), "arguments",
		    get_str(f, "arguments") ? get_str(f, "arguments") : "{}"));
	}
	return 0;
}

json_t *
chat_to_responses_request(const json_t *req, struct dialect_info *info,
    char why[DIALECT_WHY_MAX])
{
	static const char *const dropped[] = { "frequency_penalty",
		"presence_penalty", "seed", "service_tier", "stream_options",
		"prompt_cache_key", "safety_identifier", NULL };
	static const char *const copied[] = { "model", "temperature",
		"top_p", "user", "parallel_tool_calls", "metadata", "store",
		NULL };
	json_t *out, *input, *v, *m, *t;
	const char *key;
	size_t i;

	why[0] = '\0';
	info->json_tool = false;
	info->stream = json_is_true(json_object_get(req, "stream"));
	info->include_usage = json_is_true(json_object_get(json_object_get(
	    req, "stream_options"), "include_usage"));
	if (!json_is_object(req))
		return refuse(why, "request", NULL, NULL, NULL);
	out = json_object();
	input = json_array();
	json_object_foreach((json_t *)req, key, v) {
		if (json_is_null(v))
			continue;
		if (key_passes(out, key, v, dropped, copied))
			continue;
		if (strcmp(key, "messages") == 0 && json_is_array(v)) {
			json_array_foreach(v, i, m)
				if (chat_message(input, m, why) < 0) {
					json_decref(out);
					json_decref(input);
					return NULL;
				}
		} else if ((strcmp(key, "max_tokens") == 0 ||
		    strcmp(key, "max_completion_tokens") == 0) &&
		    json_is_integer(v)) {
			json_object_set(out, "max_output_tokens", v);
		} else if (strcmp(key, "stream") == 0) {
			if (json_is_true(v))
				json_object_set_new(out, "stream",
				    json_true());
		} else if (strcmp(key, "n") == 0 && json_is_integer(v) &&
		    json_integer_value(v) == 1) {
			continue;
		} else if (strcmp(key, "tools") == 0 && json_is_array(v)) {
			json_t *tools = json_array();

			json_array_foreach(v, i, t) {
				const json_t *f = json_object_get(t,
				    "function");
				json_t *o;

				if (!is_str(t, "type", "function") ||
				    get_str(f, "name") == NULL)
					return refuse(why, "tool:",
					    get_str(t, "type"), out, input);
				o = json_pack("{s:s, s:s}", "type", "function",
				    "name", get_str(f, "name"));
				if (json_object_get(f, "description"))
					json_object_set(o, "description",
					    json_object_get(f, "description"));
				if (json_object_get(f, "parameters"))
					json_object_set(o, "parameters",
					    json_object_get(f, "parameters"));
				if (json_object_get(f, "strict"))
					json_object_set(o, "strict",
					    json_object_get(f, "strict"));
				json_array_append_new(tools, o);
			}
			json_object_set_new(out, "tools", tools);
		} else if (strcmp(key, "tool_choice") == 0) {
			if (json_is_string(v))
				json_object_set(out, "tool_choice", v);
			else if (get_str(json_object_get(v, "function"),
			    "name") != NULL)
				json_object_set_new(out, "tool_choice",
				    json_pack("{s:s, s:s}", "type", "function",
				    "name", get_str(json_object_get(v,
				    "function"), "name")));
			else
				return refuse(why, "tool_choice", NULL, out,
				    input);
		} else if (strcmp(key, "response_format") == 0) {
			const char *type = get_str(v, "type");
			const json_t *js = json_object_get(v, "json_schema");
			json_t *f;

			if (type != NULL && strcmp(type, "text") == 0)
				continue;
			if (type != NULL && strcmp(type, "json_object") == 0)
				f = json_pack("{s:s}", "type", "json_object");
			else if (type != NULL &&
			    strcmp(type, "json_schema") == 0 &&
			    get_str(js, "name") != NULL) {
				f = json_pack("{s:s, s:s}", "type",
				    "json_schema", "name", get_str(js, "name"));
				if (json_object_get(js, "schema"))
					json_object_set(f, "schema",
					    json_object_get(js, "schema"));
				if (json_object_get(js, "strict"))
					json_object_set(f, "strict",
					    json_object_get(js, "strict"));
			} else {
				return refuse(why, "response_format", NULL,
				    out, input);
			}
			json_object_set_new(out, "text", json_pack("{s:o}",
			    "format", f));
		} else if (strcmp(key, "reasoning_effort") == 0 &&
		    json_is_string(v)) {
			json_object_set_new(out, "reasoning", json_pack(
			    "{s:O}", "effort", v));
		} else {
			/* n > 1, stop (Responses has none), logprobs,
			 * logit_bias, audio, functions, web search...:
			 * what it cannot say. */
			return refuse(why, key, NULL, out, input);
		}
	}
	if (json_array_size(input) == 0)
		return refuse(why, "messages", NULL, out, input);
	json_object_set_new(out, "input", input);
	return out;
}

/* A Response's finish, as chat says it. */
static const char *
chat_finish(const json_t *r, bool calls)
{
	const char *why = get_str(json_object_get(r, "incomplete_details"),
	    "reason");

	if (why != NULL && strcmp(why, "max_output_tokens") == 0)
		return "length";
	if (why != NULL && strcmp(why, "content_filter") == 0)
		return "content_filter";
	return calls ? "tool_calls" : "stop";
}

static json_t *
chat_usage(const json_t *u)
{
	uint64_t in = 0, out = 0, cached = 0;

	get_count(u, "input_tokens", &in);
	get_count(u, "output_tokens", &out);
	get_count(json_object_get(u, "input_tokens_details"),
	    "cached_tokens", &cached);
	return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens",
	    (json_int_t)in, "completion_tokens", (json_int_t)out,
	    "total_tokens", (json_int_t)(in + out), "prompt_tokens_details",
	    "cached_tokens", (json_int_t)cached);
}

json_t *
responses_to_chat_answer(const json_t *resp, const struct dialect_info *info)
{
	const json_t *it, *p;
	const char *id = get_str(resp, "id"), *model = get_str(resp, "model");
	json_t *msg, *calls, *out;
	struct buf text, refusal;
	char cid[160];
	size_t i, k;

	if (!json_is_array(json_object_get(resp, "output")))
		return NULL;
	buf_init(&text, 1u << 24);
	buf_init(&refusal, 1u << 20);
	calls = json_array();
	json_array_foreach(json_object_get(resp, "output"), i, it) {
		if (is_str(it, "type", "message")) {
			json_array_foreach(json_object_get(it, "content"), k,
			    p) {
				if (is_str(p, "type", "output_text") &&
				    get_str(p, "text") != NULL)
					buf_addstr(&text, get_str(p, "text"));
				else if (is_str(p, "type", "refusal") &&
				    get_str(p, "refusal") != NULL)
					buf_addstr(&refusal,
					    get_str(p, "refusal"));
			}
		} else if (is_str(it, "type", "function_call") &&
		    get_str(it, "call_id") != NULL &&
		    get_str(it, "name") != NULL) {
			json_array_append_new(calls, json_pack("{s:s, s:s, "
			    "s:{s:s, s:s}}", "id", get_str(it, "call_id"),
			    "type", "function", "function", "name",
			    get_str(it, "name"), "arguments",
			    get_str(it, "arguments") ?
			    get_str(it, "arguments") : "{}"));
		}
	}
	msg = json_pack("{s:s}", "role", "assistant");
	json_object_set_new(msg, "content", text.len > 0 ?
	    json_string(text.data) : json_null());
	json_object_set_new(msg, "refusal", refusal.len > 0 ?
	    json_string(refusal.data) : json_null());
	if (json_array_size(calls) > 0)
		json_object_set(msg, "tool_calls", calls);
	snprintf(cid, sizeof(cid), "chatcmpl-%s", id ? id : "llmfb");
	out = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s}], s:o}",
	    "id", cid, "object", "chat.completion", "created",
	    json_is_integer(json_object_get(resp, "created_at")) ?
	    json_integer_value(json_object_get(resp, "created_at")) :
	    (json_int_t)info->created, "model", model ? model : "",
	    "choices", "index", 0, "message", msg, "finish_reason",
	    chat_finish(resp, json_array_size(calls) > 0), "usage",
	    chat_usage(json_object_get(resp, "usage")));
	json_decref(calls);
	buf_free(&text);
	buf_free(&refusal);
	return out;
}

/* One chat chunk of the stream: its frame and the given choice delta
 * (or, with usage, the usage chunk). */
static int
chunk(struct resp_stream *rs, struct buf *out, json_t *delta,
    const char *finish, json_t *usage)
{
	json_t *c;
	int r;

	if (usage != NULL)
		c = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", rs->id,
		    "object", "chat.completion.chunk", "created",
		    (json_int_t)rs->created, "model", rs->model ? rs->model :
		    "", "choices", "usage", usage);
	else
		c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?}]}",
		    "id", rs->id, "object", "chat.completion.chunk",
		    "created", (json_int_t)rs->created, "model", rs->model ?
		    rs->model : "", "choices", "index", 0, "delta", delta,
		    "finish_reason", finish);
	if (c == NULL)
		return -1;
	r = sse_emit_json(out, NULL, c);
	json_decref(c);
	return r;
}

int
responses_event_to_chat(struct resp_stream **state,
    const struct dialect_info *info, const char *event, const char *data,
    size_t len, struct buf *out, bool *usage, uint64_t *in,
    uint64_t *out_tokens)
{
	struct resp_stream *rs = *state;
	const json_t *it, *r;
	const char *type, *s;
	json_int_t oi;
	json_t *j;
	int ret = 0, k;

	if (rs == NULL) {
		rs = *state = xcalloc(1, sizeof(*rs));
		rs->msg_index = -1;
		rs->created = info->created;
		rs->items = json_array();
		buf_init(&rs->text, 1u << 24);
	}
	if (rs->ended)
		return 0;
	if ((j = json_loadb(data, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	if ((type = get_str(j, "type")) == NULL)
		type = event;
	oi = json_is_integer(json_object_get(j, "output_index")) ?
	    json_integer_value(json_object_get(j, "output_index")) : -1;
	if (strcmp(type, "response.created") == 0 && !rs->started) {
		r = json_object_get(j, "response");
		s = get_str(r, "id");
		snprintf(rs->id, sizeof(rs->id), "chatcmpl-%s",
		    s ? s : "llmfb");
		rs->model = xstrdup(get_str(r, "model") ?
		    get_str(r, "model") : "");
		if (json_is_integer(json_object_get(r, "created_at")))
			rs->created = json_integer_value(json_object_get(r,
			    "created_at"));
		rs->started = true;
		ret = chunk(rs, out, json_pack("{s:s, s:s}", "role",
		    "assistant", "content", ""), NULL, NULL);
	} else if (!rs->started) {
		ret = -1;	/* a Response stream opens with created */
	} else if (strcmp(type, "response.output_text.delta") == 0) {
		if ((s = get_str(j, "delta")) != NULL && *s != '\0')
			ret = chunk(rs, out, json_pack("{s:s}", "content", s),
			    NULL, NULL);
	} else if (strcmp(type, "response.refusal.delta") == 0) {
		if ((s = get_str(j, "delta")) != NULL && *s != '\0')
			ret = chunk(rs, out, json_pack("{s:s}", "refusal", s),
			    NULL, NULL);
	} else if (strcmp(type, "response.output_item.added") == 0 &&
	    is_str(json_object_get(j, "item"), "type", "function_call")) {
		it = json_object_get(j, "item");
		if (rs->ntools >= RESP_TOOLS_MAX ||
		    get_str(it, "call_id") == NULL ||
		    get_str(it, "name") == NULL) {
			ret = -1;
		} else {
			k = rs->ntools++;
			rs->tools[k].output_index = (int)oi;
			buf_init(&rs->tools[k].args, 0);
			ret = chunk(rs, out, json_pack("{s:[{s:i, s:s, s:s, "
			    "s:{s:s, s:s}}]}", "tool_calls", "index", k, "id",
			    get_str(it, "call_id"), "type", "function",
			    "function", "name", get_str(it, "name"),
			    "arguments", ""), NULL, NULL);
		}
	} else if (strcmp(type, "response.function_call_arguments.delta") ==
	    0) {
		for (k = 0; k < rs->ntools; k++)
			if (rs->tools[k].output_index == oi)
				break;
		s = get_str(j, "delta");
		if (k == rs->ntools || s == NULL)
			ret = -1;
		else if (*s != '\0')
			ret = chunk(rs, out, json_pack("{s:[{s:i, s:{s:s}}]}",
			    "tool_calls", "index", k, "function", "arguments",
			    s), NULL, NULL);
	} else if (strcmp(type, "response.completed") == 0 ||
	    strcmp(type, "response.incomplete") == 0) {
		r = json_object_get(j, "response");
		rs->ended = true;
		rs->usage = get_count(json_object_get(r, "usage"),
		    "input_tokens", &rs->in) | get_count(json_object_get(r,
		    "usage"), "output_tokens", &rs->out);
		*usage = rs->usage;
		*in = rs->in;
		*out_tokens = rs->out;
		ret = chunk(rs, out, json_object(), chat_finish(r,
		    rs->ntools > 0), NULL);
		if (ret == 0 && info->include_usage)
			ret = chunk(rs, out, NULL, NULL,
			    chat_usage(json_object_get(r, "usage")));
		if (ret == 0)
			ret = sse_emit(out, NULL, "[DONE]", 6);
	} else if (strcmp(type, "response.failed") == 0 ||
	    strcmp(type, "error") == 0) {
		const json_t *e = strcmp(type, "error") == 0 ? j :
		    json_object_get(json_object_get(j, "response"), "error");
		json_t *err = json_pack("{s:{s:s, s:s, s:s?}}", "error",
		    "message", get_str(e, "message") ? get_str(e, "message") :
		    "the provider gave an error", "type", "server_error",
		    "code", get_str(e, "code"));

		rs->ended = true;
		ret = err != NULL ? sse_emit_json(out, NULL, err) : -1;
		json_decref(err);
	}
	/* Everything else (content_part, .done events, in_progress)
	 * carries nothing a chat stream says. */
	json_decref(j);
	return ret;
}

/* ---- as dialect.c's table takes them ------------------------------------ */

int
responses_stream_from_chat(struct dialect_stream *s, const char *event,
    const char *data, size_t len)
{
	(void)event;
	return chat_chunk_to_responses((struct resp_stream **)&s->state,
	    &s->info, data, len, s->out, &s->usage, &s->in_tokens,
	    &s->out_tokens);
}

int
chat_stream_from_responses(struct dialect_stream *s, const char *event,
    const char *data, size_t len)
{
	return responses_event_to_chat((struct resp_stream **)&s->state,
	    &s->info, event, data, len, s->out, &s->usage, &s->in_tokens,
	    &s->out_tokens);
}

void
resp_stream_free_state(void *state)
{
	resp_stream_free(state);
}
