/* The OpenAI chat completions API (POST .../chat/completions), and the
 * APIs that copy it: Azure OpenAI, Gemini's, Mistral's, vLLM, Ollama.
 * Everything llmfbd knows of it but how to translate it. */
#include <string.h>
#include <time.h>

#include "answer.h"
#include "api.h"
#include "api_openai.h"
#include "buf.h"
#include "jsonget.h"
#include "sse.h"
#include "util.h"

/* ---- answers --------------------------------------------------------- */

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
	answer_got_content(a);
	/* A stream names the call by index; a whole message by place. */
	v = json_object_get(tc, "index");
	i = json_is_integer(v) ? json_integer_value(v) : (json_int_t)pos;
	if (i < 0 || i >= ANSWER_TOOLS_MAX)
		return;		/* beyond what we check */
	args = json_object_get(json_object_get(tc, "function"), "arguments");
	if (json_is_string(args))
		answer_args_add(a, (int)i, json_string_value(args),
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
		answer_text_add(a, json_string_value(v), json_string_length(v));
		if (json_string_length(v) > 0)
			answer_got_content(a);
	} else if (!null_or_absent(v)) {
		a->malformed = true;	/* content parts are a request's */
	}
	v = json_object_get(m, "refusal");
	if (json_is_string(v) && json_string_length(v) > 0) {
		a->refusal = true;
		answer_got_content(a);
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

void
openai_read_choices(struct answer *a, json_t *j,
    void (*content)(struct answer *, const json_t *))
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
			content(a, c);
			if ((s = get_str(c, "finish_reason")) != NULL) {
				answer_set_finish(a, s);
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

void
openai_read_event(struct answer *a, const char *event, const char *data,
    size_t len, void (*object)(struct answer *, json_t *))
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
		object(a, j);
	else
		a->malformed = true;
	json_decref(j);
}

static void
openai_choice(struct answer *a, const json_t *c)
{
	openai_message(a, json_object_get(c, a->stream ? "delta" : "message"));
}

/* A chunk or a whole answer.  Only choice 0 is read: with n > 1 the
 * caller gets all of them, but one is enough to judge. */
static void
openai_object(struct answer *a, json_t *j)
{
	openai_read_choices(a, j, openai_choice);
}

static void
openai_event(struct answer *a, const char *event, const char *data,
    size_t len)
{
	openai_read_event(a, event, data, len, openai_object);
}

/* ---- continuing a stream elsewhere ---------------------------------- */

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
		answer_trim_first_text(cs, d, "content");
		changed = true;
	}
	if (answer_count_add(u, "completion_tokens", cs->out_before)) {
		(void)answer_count_add(u, "total_tokens", cs->out_before);
		changed = true;
	}
	if (changed)
		r = sse_emit_json(out, NULL, j) < 0 ? AC_ERROR : AC_REPLACE;
	json_decref(j);
	return r;
}

static int
openai_continue_event(const struct answer *prev, struct cont_state *cs,
    const char *event, const char *data, struct buf *out)
{
	(void)prev;
	(void)event;
	if (openai_role_only(data))
		return AC_DROP;
	return cs->trim > 0 || cs->out_before > 0 ?
	    openai_continue(cs, data, out) : AC_FORWARD;
}

/* ---- errors ---------------------------------------------------------- */

void
openai_error_type(int status, const char **type, const char **code)
{
	*code = NULL;
	switch (status) {
	case 401:
		*type = "invalid_request_error";
		*code = "invalid_api_key";
		break;
	case 403: *type = "permission_error"; break;
	case 404:
		*type = "invalid_request_error";
		*code = "model_not_found";
		break;
	case 429:
		*type = "rate_limit_error";
		*code = "rate_limit_exceeded";
		break;
	case 503: case 529:
		*type = "server_error";
		*code = "overloaded";
		break;
	default:
		*type = status >= 500 || status == 0 ? "server_error" :
		    "invalid_request_error";
	}
}

/* {"error": {message, type, param, code}} (code may be NULL). */
json_t *
openai_error_body(const char *type, const char *code, const char *message)
{
	return json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message",
	    message, "type", type, "param", "code", code);
}

/* Anthropic's 529 "overloaded" is a status no OpenAI SDK knows. */
int
openai_error_status(int status)
{
	return status == 529 ? 503 : status;
}

enum provider_error
openai_error_kind(int status, const json_t *err)
{
	const char *code = get_str(err, "code"), *msg;

	(void)status;
	if ((msg = get_str(err, "message")) == NULL)
		msg = "";
	/* Gemini says "The input token count (1200293) exceeds the
	 * maximum number of tokens allowed (1048576)." */
	if ((code != NULL && strcmp(code, "context_length_exceeded") == 0) ||
	    strcasestr(msg, "maximum context length") != NULL ||
	    (strcasestr(msg, "input token count") != NULL &&
	    strcasestr(msg, "exceeds the maximum") != NULL))
		return PE_CONTEXT;
	if (code != NULL && (strcmp(code, "content_filter") == 0 ||
	    strcmp(code, "content_policy_violation") == 0))
		return PE_CONTENT_FILTER;
	return PE_OTHER;
}

/* ---- faults ---------------------------------------------------------- */

/* A refusal: the message's refusal field, as a whole answer or as two
 * chunks and [DONE]. */
static char *
openai_fault_refusal(bool stream, const char *model, const char *message)
{
	json_t *parts[2] = { NULL, NULL };
	struct buf b;
	char *out = NULL;
	size_t i;

	if (!stream) {
		parts[0] = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s,"
		    " s:n, s:s}, s:s}], s:{s:i, s:i, s:i}}", "id",
		    "chatcmpl-llmfb-fault", "object", "chat.completion",
		    "created", (json_int_t)time(NULL), "model", model,
		    "choices", "index", 0, "message", "role", "assistant",
		    "content", "refusal", message, "finish_reason",
		    "stop", "usage", "prompt_tokens", 0, "completion_tokens",
		    0, "total_tokens", 0);
		out = parts[0] ? json_dumps(parts[0], JSON_COMPACT) : NULL;
		json_decref(parts[0]);
		return out;
	}
	parts[0] = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s,"
	    " s:n, s:s}, s:n}]}", "id", "chatcmpl-llmfb-fault",
	    "object", "chat.completion.chunk", "created",
	    (json_int_t)time(NULL), "model", model, "choices", "index",
	    0, "delta", "role", "assistant", "content", "refusal",
	    message, "finish_reason");
	parts[1] = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{},"
	    " s:s}]}", "id", "chatcmpl-llmfb-fault", "object",
	    "chat.completion.chunk", "created", (json_int_t)time(NULL),
	    "model", model, "choices", "index", 0, "delta",
	    "finish_reason", "stop");
	buf_init(&b, 16384);
	if (parts[0] == NULL || parts[1] == NULL)
		goto out;
	for (i = 0; i < 2; i++)
		if (sse_emit_json(&b, NULL, parts[i]) < 0)
			goto out;
	if (sse_emit(&b, NULL, "[DONE]", 6) < 0)
		goto out;
	out = xstrdup(b.data);
out:
	for (i = 0; i < 2; i++)
		json_decref(parts[i]);
	buf_free(&b);
	return out;
}

/* ---- the table ------------------------------------------------------- */

static const char *const openai_own_headers[] = { "openai-beta", NULL };

static const struct finish_name openai_finish_read[] = {
	{ "stop", FINISH_STOP },
	{ "length", FINISH_LENGTH },
	{ "tool_calls", FINISH_TOOL },
	{ "function_call", FINISH_TOOL },
	{ "content_filter", FINISH_FILTER },
	{ NULL, FINISH_STOP }
};

static const char *const openai_prompt_keys[] = {
	"messages", "tools", NULL
};

static const char *const openai_max_tokens_keys[] = {
	"max_tokens", "max_completion_tokens", NULL
};

static const char *const openai_json_format[] = {
	"response_format", "type", NULL
};

const struct api api_openai_chat = {
	.dialect = DIALECT_OPENAI,
	.name = "openai",
	.maker = "openai",
	.operation = "chat",
	.provider = DIALECT_OPENAI,
	.match = "/chat/completions",
	.path = "/chat/completions",
	.auth = "bearer",
	.own_headers = openai_own_headers,
	.header_prefix = "openai-",
	.prompt_keys = openai_prompt_keys,
	.max_tokens_keys = openai_max_tokens_keys,
	.json_format = openai_json_format,
	.deployments = true,
	.read_event = openai_event,
	.read_body = openai_object,
	.calls_end_with_answer = true,
	.finish_name = {
		[FINISH_STOP] = "stop",
		[FINISH_LENGTH] = "length",
		[FINISH_TOOL] = "tool_calls",
		[FINISH_FILTER] = "content_filter",
	},
	.finish_read = openai_finish_read,
	.done_marker = true,
	.usage_option = true,
	.continue_prefix = answer_prefix_messages,
	.continue_event = openai_continue_event,
	.error_type = openai_error_type,
	.error_body = openai_error_body,
	.error_status = openai_error_status,
	.error_kind = openai_error_kind,
	.stream_error_type = "server_error",
	.safe_failure_type = "llmfb_unavailable",
	.fault_refusal = openai_fault_refusal,
};
