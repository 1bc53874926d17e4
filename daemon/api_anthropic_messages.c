/* The Anthropic messages API (POST /v1/messages).  Everything llmfbd
 * knows of it but how to translate it. */
#include <string.h>

#include "answer.h"
#include "api.h"
#include "buf.h"
#include "jsonget.h"
#include "sse.h"
#include "util.h"

/* ---- answers --------------------------------------------------------- */

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
	answer_set_finish(a, s);
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
			answer_text_add(a, json_string_value(t),
			    json_string_length(t));
			answer_got_content(a);
		}
	} else if (a->open_tool) {
		a->tool_call = true;
		answer_got_content(a);
		/* Its input comes in input_json_delta pieces; the {} given
		 * here is a placeholder. */
		answer_args_reset(a, 0);
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
			answer_text_add(a, json_string_value(v),
			    json_string_length(v));
			answer_got_content(a);
		}
	} else if (is_str(d, "type", "input_json_delta") && a->open_tool &&
	    get_index(j) == a->open_block) {
		v = json_object_get(d, "partial_json");
		if (json_is_string(v))
			answer_args_add(a, 0, json_string_value(v),
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
		answer_args_check(a, 0);
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
				answer_text_add(a, json_string_value(t),
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
/* ---- continuing a stream elsewhere ---------------------------------- */

static int
emit_block_stop(struct buf *out, int index)
{
	return buf_printf(out, "event: content_block_stop\ndata: "
	    "{\"type\":\"content_block_stop\",\"index\":%d}\n\n", index);
}

/* A continuation's first text block is prev's open one: its start is
 * dropped, and text it carries (seldom) becomes a delta of prev's. */
static enum answer_cont
merge_start(const struct answer *prev, struct cont_state *cs, json_t *cb,
    struct buf *out)
{
	const char *t;

	answer_trim_first_text(cs, cb, "text");
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

static int
anthropic_continue_event(const struct answer *prev, struct cont_state *cs,
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
			answer_trim_first_text(cs, json_object_get(j, "delta"), "text");
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
		    answer_count_add(json_object_get(j, "usage"), "output_tokens",
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

/* ---- errors ---------------------------------------------------------- */

static void
anthropic_error_type(int status, const char **type, const char **code)
{
	*code = NULL;
	switch (status) {
	case 401: *type = "authentication_error"; break;
	case 403: *type = "permission_error"; break;
	case 404: *type = "not_found_error"; break;
	case 413: *type = "request_too_large"; break;
	case 429: *type = "rate_limit_error"; break;
	case 503: case 529: *type = "overloaded_error"; break;
	default:
		*type = status >= 500 || status == 0 ? "api_error" :
		    "invalid_request_error";
	}
}

/* {"type": "error", "error": {type, message}}: no code. */
static json_t *
anthropic_error_body(const char *type, const char *code, const char *message)
{
	(void)code;
	return json_pack("{s:s, s:{s:s, s:s}}", "type", "error",
	    "error", "type", type, "message", message);
}

static int
anthropic_error_status(int status)
{
	return status;
}

static enum provider_error
anthropic_error_kind(int status, const json_t *err)
{
	const char *type = get_str(err, "type"), *msg;

	if ((msg = get_str(err, "message")) == NULL)
		msg = "";
	/* Anthropic has no code for these: its messages are all there is
	 * ("prompt is too long: 208310 tokens > 200000 maximum"). */
	if (status == 400 && type != NULL &&
	    strcmp(type, "invalid_request_error") == 0 &&
	    (strcasestr(msg, "prompt is too long") != NULL ||
	    strcasestr(msg, "context limit") != NULL ||
	    strcasestr(msg, "context window") != NULL))
		return PE_CONTEXT;
	if (strcasestr(msg, "content filtering") != NULL)
		return PE_CONTENT_FILTER;
	return PE_OTHER;
}

/* ---- faults ---------------------------------------------------------- */

/* A refusal with no text: stop_reason "refusal", whole or as
 * message_start, message_delta, message_stop. */
static char *
anthropic_fault_refusal(bool stream, const char *model, const char *message)
{
	static const char *const events[3] = { "message_start",
		"message_delta", "message_stop" };
	json_t *parts[3] = { NULL, NULL, NULL };
	struct buf b;
	char *out = NULL;
	size_t i;

	(void)message;
	if (!stream) {
		parts[0] = json_pack("{s:s, s:s, s:s, s:s, s:[], s:s, s:n,"
		    " s:{s:i, s:i}}", "id", "msg_llmfb_fault", "type",
		    "message", "role", "assistant", "model", model, "content",
		    "stop_reason", "refusal", "stop_sequence", "usage",
		    "input_tokens", 0, "output_tokens", 0);
		out = parts[0] ? json_dumps(parts[0], JSON_COMPACT) : NULL;
		json_decref(parts[0]);
		return out;
	}
	parts[0] = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:[], s:n,"
	    " s:n, s:{s:i, s:i}}}", "type", "message_start", "message",
	    "id", "msg_llmfb_fault", "type", "message", "role",
	    "assistant", "model", model, "content", "stop_reason",
	    "stop_sequence", "usage", "input_tokens", 0,
	    "output_tokens", 0);
	parts[1] = json_pack("{s:s, s:{s:s, s:n}, s:{s:i}}", "type",
	    "message_delta", "delta", "stop_reason", "refusal",
	    "stop_sequence", "usage", "output_tokens", 0);
	parts[2] = json_pack("{s:s}", "type", "message_stop");
	buf_init(&b, 16384);
	for (i = 0; i < 3; i++)
		if (parts[i] == NULL ||
		    sse_emit_json(&b, events[i], parts[i]) < 0)
			goto out;
	out = xstrdup(b.data);
out:
	for (i = 0; i < 3; i++)
		json_decref(parts[i]);
	buf_free(&b);
	return out;
}

/* ---- the table ------------------------------------------------------- */

static const char *const anthropic_own_headers[] = { "anthropic-version",
	"anthropic-beta", NULL };

static const struct finish_name anthropic_finish_read[] = {
	{ "end_turn", FINISH_STOP },
	{ "max_tokens", FINISH_LENGTH },
	{ "tool_use", FINISH_TOOL },
	{ "refusal", FINISH_FILTER },
	{ "stop_sequence", FINISH_STOP },
	{ "pause_turn", FINISH_STOP },
	{ "model_context_window_exceeded", FINISH_LENGTH },
	{ NULL, FINISH_STOP }
};

static const char *const anthropic_prompt_keys[] = {
	"system", "messages", "tools", NULL
};

static const char *const anthropic_max_tokens_keys[] = {
	"max_tokens", NULL
};

static const char *const anthropic_json_format[] = {
	"output_config", "format", "type", NULL
};

const struct api api_anthropic_messages = {
	.dialect = DIALECT_ANTHROPIC,
	.name = "anthropic",
	.maker = "anthropic",
	.operation = "chat",
	.provider = DIALECT_ANTHROPIC,
	.match = "/v1/messages",
	.path = "/messages",
	.auth = "x-api-key",
	.version_header = "anthropic-version",
	.version = "2023-06-01",
	.own_headers = anthropic_own_headers,
	.header_prefix = "anthropic-",
	.prompt_keys = anthropic_prompt_keys,
	.max_tokens_keys = anthropic_max_tokens_keys,
	.json_format = anthropic_json_format,
	.prefix_no_trailing_blank = true,
	.read_event = anthropic_event,
	.read_body = anthropic_object,
	.finish_name = {
		[FINISH_STOP] = "end_turn",
		[FINISH_LENGTH] = "max_tokens",
		[FINISH_TOOL] = "tool_use",
		[FINISH_FILTER] = "refusal",
	},
	.finish_read = anthropic_finish_read,
	.error_event = "error",
	.continue_prefix = answer_prefix_messages,
	.continue_event = anthropic_continue_event,
	.error_type = anthropic_error_type,
	.error_body = anthropic_error_body,
	.error_status = anthropic_error_status,
	.error_kind = anthropic_error_kind,
	.stream_error_type = "api_error",
	.fault_refusal = anthropic_fault_refusal,
};
