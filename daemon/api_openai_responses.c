/* OpenAI's Responses API (POST .../responses).  A caller of it is served
 * by providers that speak it (config dialect "openai-responses") as it
 * came, and by chat-completions targets through xlate_responses.c; an
 * Anthropic target does not qualify (no translation).  Its answers are a
 * Response object, or typed SSE events (response.created ...
 * response.output_text.delta ... response.completed, no [DONE]), as
 * https://developers.openai.com/api/reference ("Responses", "Streaming
 * events") gives them; its errors are OpenAI's shape. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "api.h"
#include "api_openai.h"
#include "jsonget.h"
#include "sse.h"

/* ---- answers --------------------------------------------------------- */

static void
responses_usage(struct answer *a, const json_t *u)
{
	bool in, out;

	in = get_count(u, "input_tokens", &a->in_tokens);
	out = get_count(u, "output_tokens", &a->out_tokens);
	if (in || out)
		a->usage = true;
}

/* A Response's end: its status, and why it is incomplete. */
static void
responses_end(struct answer *a, const json_t *r)
{
	const char *status = get_str(r, "status"), *why;

	if (status != NULL && strcmp(status, "failed") == 0) {
		a->error_event = true;
		return;
	}
	why = get_str(json_object_get(r, "incomplete_details"), "reason");
	answer_set_finish(a, why != NULL ? why : "completed");
	if (why != NULL && strcmp(why, "content_filter") == 0)
		a->refusal = true;
	responses_usage(a, json_object_get(r, "usage"));
}

static void
responses_item(struct answer *a, const json_t *it, size_t pos)
{
	const json_t *p, *args;
	const char *type = get_str(it, "type");
	size_t i;

	if (type != NULL && strcmp(type, "message") == 0) {
		json_array_foreach(json_object_get(it, "content"), i, p) {
			const char *t = get_str(p, "text");

			if (is_str(p, "type", "output_text") && t != NULL)
				answer_text_add(a, t, strlen(t));
			else if (is_str(p, "type", "refusal"))
				a->refusal = true;
		}
	} else if (type != NULL && strcmp(type, "function_call") == 0) {
		a->tool_call = true;
		args = json_object_get(it, "arguments");
		if (pos < ANSWER_TOOLS_MAX && json_is_string(args)) {
			answer_args_add(a, (int)pos, json_string_value(args),
			    json_string_length(args));
			answer_args_check(a, (int)pos);
		}
	}
}

static void
responses_object(struct answer *a, json_t *j)
{
	const json_t *it;
	size_t i;

	if (!null_or_absent(json_object_get(j, "error")) ||
	    is_str(j, "status", "failed")) {
		a->error_event = true;
		return;
	}
	if (!json_is_array(json_object_get(j, "output"))) {
		a->malformed = true;
		return;
	}
	json_array_foreach(json_object_get(j, "output"), i, it)
		responses_item(a, it, i);
	responses_end(a, j);
}

/* What a stream continued elsewhere must go on naming: the Response's
 * id, its message's id and place, and the events' next number. */
static void
responses_names(struct answer *a, const char *type, const json_t *j,
    json_int_t oi)
{
	const json_t *it = json_object_get(j, "item");
	const char *s;
	uint64_t n;

	/* An error, and what follows it, is never the caller's: the
	 * number is the last the caller got's. */
	if (a->error_event || strcmp(type, "error") == 0 ||
	    strcmp(type, "response.failed") == 0)
		return;
	if (get_count(j, "sequence_number", &n) && n < UINT64_MAX)
		a->seq_next = n + 1;
	if (strcmp(type, "response.created") == 0 &&
	    (s = get_str(json_object_get(j, "response"), "id")) != NULL)
		snprintf(a->stream_id, sizeof(a->stream_id), "%s", s);
	if (strcmp(type, "response.output_item.added") == 0 &&
	    is_str(it, "type", "message") && (s = get_str(it, "id")) !=
	    NULL && oi >= 0 && oi < INT32_MAX && a->item_id[0] == '\0') {
		snprintf(a->item_id, sizeof(a->item_id), "%s", s);
		a->item_index = (int)oi;
	}
}

/* Typed events: the data's "type" names them, as the event field does. */
static void
responses_event(struct answer *a, const char *event, const char *data,
    size_t len)
{
	const char *type, *d;
	json_t *j, *it;
	json_int_t oi;

	j = json_loadb(data, len, 0, NULL);
	if (!json_is_object(j)) {
		a->malformed = true;
		json_decref(j);
		return;
	}
	if ((type = get_str(j, "type")) == NULL)
		type = event;
	oi = json_is_integer(json_object_get(j, "output_index")) ?
	    json_integer_value(json_object_get(j, "output_index")) : -1;
	responses_names(a, type, j, oi);
	if (strcmp(type, "response.output_text.delta") == 0) {
		if ((d = get_str(j, "delta")) != NULL && *d != '\0') {
			answer_text_add(a, d, strlen(d));
			answer_got_content(a);
		}
	} else if (strcmp(type, "response.refusal.delta") == 0) {
		a->refusal = true;
		answer_got_content(a);
	} else if (strcmp(type, "response.output_item.added") == 0) {
		it = json_object_get(j, "item");
		if (is_str(it, "type", "function_call")) {
			a->tool_call = true;
			answer_got_content(a);
			if (oi >= 0 && oi < ANSWER_TOOLS_MAX)
				a->args_seen |= 1u << oi;
		}
	} else if (strcmp(type, "response.function_call_arguments.delta") ==
	    0) {
		if ((d = get_str(j, "delta")) != NULL && oi >= 0 &&
		    oi < ANSWER_TOOLS_MAX)
			answer_args_add(a, (int)oi, d, strlen(d));
	} else if (strcmp(type, "response.output_item.done") == 0) {
		if (is_str(json_object_get(j, "item"), "type",
		    "function_call") && oi >= 0 && oi < ANSWER_TOOLS_MAX)
			answer_args_check(a, (int)oi);
	} else if (strcmp(type, "response.completed") == 0 ||
	    strcmp(type, "response.incomplete") == 0) {
		a->done = true;
		responses_end(a, json_object_get(j, "response"));
	} else if (strcmp(type, "response.failed") == 0 ||
	    strcmp(type, "error") == 0) {
		a->error_event = true;
	}
	json_decref(j);
}

/* ---- continuing a stream elsewhere ---------------------------------- */

/* The request again with the answer so far as the assistant's: the
 * input as items (a string is the user's message), that one last. */
static int
responses_continue_prefix(json_t *req, const char *text, size_t len)
{
	json_t *in = json_object_get(req, "input"), *items;

	if (json_is_string(in))
		items = json_pack("[{s:s, s:O}]", "role", "user", "content",
		    in);
	else if (json_is_array(in))
		items = json_incref(in);
	else
		return -1;
	if (items == NULL || json_array_append_new(items, json_pack(
	    "{s:s, s:s%}", "role", "assistant", "content", text, len)) < 0 ||
	    json_object_set(req, "input", items) < 0) {
		json_decref(items);
		return -1;
	}
	json_decref(items);
	return 0;
}

/* The whole text of prev's message and its continuation's so far, t
 * less the blanks its first delta lost. */
static json_t *
joined(const struct answer *prev, const struct cont_state *cs,
    const char *t)
{
	size_t skip = 0;
	json_t *s;
	char *all;

	while (t != NULL && skip < cs->trimmed && (t[skip] == ' ' ||
	    t[skip] == '\n' || t[skip] == '\t' || t[skip] == '\r'))
		skip++;
	if (t == NULL)
		t = "";
	if ((all = malloc(prev->text.len + strlen(t + skip) + 1)) == NULL)
		return NULL;
	memcpy(all, prev->text.data ? prev->text.data : "", prev->text.len);
	strcpy(all + prev->text.len, t + skip);
	s = json_string(all);
	free(all);
	return s;
}

/* A message item of the continuation's as prev's own: its id and its
 * whole text. */
static void
as_prev_message(const struct answer *prev, const struct cont_state *cs,
    json_t *item)
{
	json_t *part = json_array_get(json_object_get(item, "content"), 0);

	json_object_set_new(item, "id", json_string(prev->item_id));
	if (is_str(part, "type", "output_text"))
		json_object_set_new(part, "text", joined(prev, cs,
		    get_str(part, "text")));
}

/* A continuation's event, made one of prev's stream: its response and
 * message events merge into prev's (whose start the caller has), its
 * numbers follow prev's, its text and usage are the whole answer's. */
static int
responses_continue_event(const struct answer *prev, struct cont_state *cs,
    const char *event, const char *data, struct buf *out)
{
	json_t *j = json_loads(data, 0, NULL), *r, *it;
	enum answer_cont ret = AC_REPLACE;
	bool merge = prev->item_id[0] != '\0';
	const char *type;
	json_int_t oi;
	size_t i;

	if (!json_is_object(j)) {
		json_decref(j);
		return AC_DROP;	/* the attempt's own reader breaks it */
	}
	if ((type = get_str(j, "type")) == NULL)
		type = event;
	oi = json_is_integer(json_object_get(j, "output_index")) ?
	    json_integer_value(json_object_get(j, "output_index")) : -1;
	/* prev's start stands for the continuation's: its message (at
	 * 0, the continuation's first item) is prev's open one. */
	if (strcmp(type, "response.created") == 0 ||
	    strcmp(type, "response.in_progress") == 0 ||
	    (merge && oi == 0 && (strcmp(type, "response.output_item.added")
	    == 0 || strcmp(type, "response.content_part.added") == 0))) {
		json_decref(j);
		return AC_DROP;
	}
	if (oi >= 0 && oi < INT32_MAX - prev->item_index) {
		json_object_set_new(j, "output_index",
		    json_integer(oi + prev->item_index));
		if (merge && oi == 0 && json_object_get(j, "item_id") != NULL)
			json_object_set_new(j, "item_id",
			    json_string(prev->item_id));
	}
	json_object_set_new(j, "sequence_number", json_integer((json_int_t)
	    (prev->seq_next + cs->events++)));
	if (merge && oi == 0) {
		if (strcmp(type, "response.output_text.delta") == 0)
			answer_trim_first_text(cs, j, "delta");
		else if (strcmp(type, "response.output_text.done") == 0)
			json_object_set_new(j, "text", joined(prev, cs,
			    get_str(j, "text")));
		else if (strcmp(type, "response.content_part.done") == 0 &&
		    is_str(json_object_get(j, "part"), "type", "output_text"))
			json_object_set_new(json_object_get(j, "part"), "text",
			    joined(prev, cs, get_str(json_object_get(j, "part"),
			    "text")));
		else if (strcmp(type, "response.output_item.done") == 0 &&
		    is_str(json_object_get(j, "item"), "type", "message"))
			as_prev_message(prev, cs, json_object_get(j, "item"));
	}
	r = json_object_get(j, "response");
	if (json_is_object(r)) {
		/* The end: prev's Response, whole. */
		if (prev->stream_id[0] != '\0')
			json_object_set_new(r, "id",
			    json_string(prev->stream_id));
		json_array_foreach(json_object_get(r, "output"), i, it)
			if (merge && i == 0 && is_str(it, "type", "message"))
				as_prev_message(prev, cs, it);
		if (answer_count_add(json_object_get(r, "usage"),
		    "output_tokens", cs->out_before))
			(void)answer_count_add(json_object_get(r, "usage"),
			    "total_tokens", cs->out_before);
	}
	if (sse_emit_json(out, type, j) < 0)
		ret = AC_ERROR;
	json_decref(j);
	return ret;
}

/* llmfb's error ending a broken stream: Responses' error event, numbered
 * after the last one the caller has. */
static json_t *
responses_stream_error(const struct answer *a, const struct answer *prev,
    const struct cont_state *cs, const char *code, const char *message)
{
	return json_pack("{s:s, s:s, s:s, s:n, s:I}", "type", "error", "code",
	    code, "message", message, "param", "sequence_number",
	    (json_int_t)(prev != NULL ? prev->seq_next + cs->events :
	    a->seq_next));
}

/* ---- faults ---------------------------------------------------------- */

static char *
responses_fault_refusal(bool stream, const char *model, const char *message)
{
	json_t *r;
	char *s;

	/* Whole only: a stream would be its events around the same. */
	(void)stream;
	r = json_pack("{s:s, s:s, s:I, s:s, s:s, s:n, s:n, s:[{s:s, s:s, "
	    "s:s, s:s, s:[{s:s, s:s}]}], s:{s:i, s:i, s:i}}", "id",
	    "resp_llmfb_fault", "object", "response", "created_at",
	    (json_int_t)time(NULL), "status", "completed", "model", model,
	    "error", "incomplete_details", "output", "type", "message", "id",
	    "msg_llmfb_fault", "status", "completed", "role", "assistant",
	    "content", "type", "refusal", "refusal", message, "usage",
	    "input_tokens", 0, "output_tokens", 0, "total_tokens", 0);
	s = r != NULL ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	return s;
}

/* ---- the table ------------------------------------------------------- */

static const char *const responses_own_headers[] = { "openai-beta", NULL };

static const struct finish_name responses_finish_read[] = {
	{ "completed", FINISH_STOP },
	{ "max_output_tokens", FINISH_LENGTH },
	{ "content_filter", FINISH_FILTER },
	{ NULL, FINISH_STOP }
};

static const char *const responses_prompt_keys[] = {
	"instructions", "input", "tools", NULL
};

static const char *const responses_max_tokens_keys[] = {
	"max_output_tokens", NULL
};

static const char *const responses_json_format[] = {
	"text", "format", "type", NULL
};

const struct api api_openai_responses = {
	.dialect = DIALECT_OPENAI_RESPONSES,
	.name = "openai-responses",
	.maker = "openai",
	.operation = "chat",
	.provider = DIALECT_OPENAI_RESPONSES,
	.match = "/responses",
	.path = "/responses",
	.auth = "bearer",
	.own_headers = responses_own_headers,
	.header_prefix = "openai-",
	.prompt_keys = responses_prompt_keys,
	.max_tokens_keys = responses_max_tokens_keys,
	.json_format = responses_json_format,
	.deployments = true,
	.read_event = responses_event,
	.read_body = responses_object,
	.calls_end_with_answer = false,
	.finish_name = {
		[FINISH_STOP] = "completed",
		[FINISH_LENGTH] = "max_output_tokens",
		[FINISH_TOOL] = "completed",
		[FINISH_FILTER] = "content_filter",
	},
	.finish_read = responses_finish_read,
	.continue_prefix = responses_continue_prefix,
	.continue_event = responses_continue_event,
	.error_event = "error",
	.error_type = openai_error_type,
	.error_body = openai_error_body,
	.error_status = openai_error_status,
	.error_kind = openai_error_kind,
	.stream_error_type = "server_error",
	.stream_error = responses_stream_error,
	.safe_failure_type = "llmfb_unavailable",
	.fault_refusal = responses_fault_refusal,
};
