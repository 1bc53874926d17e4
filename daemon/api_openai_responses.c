/* OpenAI's Responses API (POST .../responses).  A caller of it is served
 * by providers that speak it (config dialect "openai-responses") as it
 * came, and by chat-completions targets through xlate_responses.c; an
 * Anthropic target does not qualify (no translation).  Its answers are a
 * Response object, or typed SSE events (response.created ...
 * response.output_text.delta ... response.completed, no [DONE]), as
 * https://developers.openai.com/api/reference ("Responses", "Streaming
 * events") gives them; its errors are OpenAI's shape. */
#include <string.h>
#include <time.h>

#include "answer.h"
#include "api.h"
#include "api_openai.h"
#include "jsonget.h"

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
	.error_event = "error",
	.error_type = openai_error_type,
	.error_body = openai_error_body,
	.error_status = openai_error_status,
	.error_kind = openai_error_kind,
	.stream_error_type = "server_error",
	.safe_failure_type = "llmfb_unavailable",
	.fault_refusal = responses_fault_refusal,
};
