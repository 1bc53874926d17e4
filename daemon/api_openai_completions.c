/* OpenAI's legacy Completions API (POST .../completions): a prompt in,
 * text out, still called by programs written before chat completions.
 * A caller of it is served as it came by providers that speak it
 * (config dialect "openai-completions": OpenAI for its instruct models,
 * vLLM, llama.cpp, Ollama...), and by chat-completions targets through
 * xlate_completions.c (the prompt as one user message); an Anthropic or
 * a Responses target is reached through chat, in two hops.
 *
 * Its answer, as https://developers.openai.com/api/reference ("Legacy",
 * "Completions") gives it: {"id", "object": "text_completion", "created",
 * "model", "choices": [{"text", "index", "logprobs", "finish_reason"}],
 * "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}; a
 * stream is "data:" chunks of the same object, text pieces in choices,
 * the usage in a last chunk of no choices when stream_options asks, then
 * "data: [DONE]".  Its errors are OpenAI's shape. */
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

/* A choice's text, whole or a chunk's piece. */
static void
completions_choice(struct answer *a, const json_t *c)
{
	const json_t *v = json_object_get(c, "text");

	if (json_is_string(v)) {
		answer_text_add(a, json_string_value(v),
		    json_string_length(v));
		if (json_string_length(v) > 0)
			answer_got_content(a);
	} else if (!null_or_absent(v)) {
		a->malformed = true;
	}
}

/* A whole answer or a chunk: they share their shape, and chat's.  Only
 * choice 0 is read, as for chat completions. */
static void
completions_object(struct answer *a, json_t *j)
{
	openai_read_choices(a, j, completions_choice);
}

static void
completions_event(struct answer *a, const char *event, const char *data,
    size_t len)
{
	openai_read_event(a, event, data, len, completions_object);
}

/* ---- faults ---------------------------------------------------------- */

/* A refusal: no text, finish_reason content_filter (the API has no
 * refusal field), whole or as one chunk and [DONE].  The operator's
 * words have no place in it. */
static char *
completions_fault_refusal(bool stream, const char *model,
    const char *message)
{
	struct buf b;
	json_t *j;
	char *out = NULL;

	(void)message;
	j = json_pack("{s:s, s:s, s:I, s:s, s:[{s:s, s:i, s:n, s:s}]}",
	    "id", "cmpl-llmfb-fault", "object", "text_completion", "created",
	    (json_int_t)time(NULL), "model", model, "choices", "text", "",
	    "index", 0, "logprobs", "finish_reason", "content_filter");
	if (j == NULL)
		return NULL;
	if (!stream) {
		json_object_set_new(j, "usage", json_pack("{s:i, s:i, s:i}",
		    "prompt_tokens", 0, "completion_tokens", 0,
		    "total_tokens", 0));
		out = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		return out;
	}
	buf_init(&b, 16384);
	if (sse_emit_json(&b, NULL, j) == 0 && sse_emit(&b, NULL, "[DONE]",
	    6) == 0)
		out = xstrdup(b.data);
	buf_free(&b);
	json_decref(j);
	return out;
}

/* ---- the table ------------------------------------------------------- */

static const char *const completions_own_headers[] = { "openai-beta", NULL };

static const struct finish_name completions_finish_read[] = {
	{ "stop", FINISH_STOP },
	{ "length", FINISH_LENGTH },
	{ "content_filter", FINISH_FILTER },
	{ NULL, FINISH_STOP }
};

static const char *const completions_prompt_keys[] = {
	"prompt", "suffix", NULL
};

static const char *const completions_max_tokens_keys[] = {
	"max_tokens", NULL
};

const struct api api_openai_completions = {
	.dialect = DIALECT_OPENAI_COMPLETIONS,
	.name = "openai-completions",
	.maker = "openai",
	.operation = "text_completion",
	.provider = DIALECT_OPENAI_COMPLETIONS,
	.match = "/completions",
	.path = "/completions",
	.auth = "bearer",
	.own_headers = completions_own_headers,
	.header_prefix = "openai-",
	.prompt_keys = completions_prompt_keys,
	.max_tokens_keys = completions_max_tokens_keys,
	.deployments = true,
	.read_event = completions_event,
	.read_body = completions_object,
	.finish_name = {
		[FINISH_STOP] = "stop",
		[FINISH_LENGTH] = "length",
		[FINISH_TOOL] = "stop",		/* it has no tools */
		[FINISH_FILTER] = "content_filter",
	},
	.finish_read = completions_finish_read,
	.done_marker = true,
	.usage_option = true,
	.error_type = openai_error_type,
	.error_body = openai_error_body,
	.error_status = openai_error_status,
	.error_kind = openai_error_kind,
	.stream_error_type = "server_error",
	.safe_failure_type = "llmfb_unavailable",
	.fault_refusal = completions_fault_refusal,
};
