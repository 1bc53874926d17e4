/* OpenAI's legacy Completions API to its chat completions and back (see
 * xlate_completions.h).  The shapes are those of OpenAI's API reference
 * (https://developers.openai.com/api/reference, "Completions": create,
 * the completion object, and its stream of completion objects). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "jsonget.h"
#include "sse.h"
#include "util.h"
#include "xlate_completions.h"

/* What the API gives when a request names no max_tokens: a chat target
 * would write on, so the limit goes along. */
#define COMPLETIONS_MAX_TOKENS_DEFAULT	16

/* Why it does not translate, safe in a header.  Returns NULL. */
static json_t *
refuse(char why[DIALECT_WHY_MAX], const char *what, json_t *drop)
{
	char *p;

	snprintf(why, DIALECT_WHY_MAX, "%s", what);
	for (p = why; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("_.:+-", *p) == NULL)
			*p = '?';
	json_decref(drop);
	return NULL;
}

/* ---- requests ----------------------------------------------------------- */

/* Members chat completions takes as they are. */
static const char *const same_keys[] = {
	"model", "max_tokens", "temperature", "top_p", "stop", "stream",
	"stream_options", "user", "presence_penalty", "frequency_penalty",
	"logit_bias", "seed",
};

/* Whether v is absent in meaning: what the API does without it. */
static bool
harmless(const char *key, const json_t *v)
{
	if (json_is_null(v))
		return true;
	if (strcmp(key, "n") == 0 || strcmp(key, "best_of") == 0)
		return json_is_integer(v) && json_integer_value(v) == 1;
	if (strcmp(key, "echo") == 0)
		return json_is_false(v);
	if (strcmp(key, "suffix") == 0)
		return json_is_string(v) && json_string_length(v) == 0;
	return false;
}

/* The prompt as the one user message: a string, or an array of one
 * string.  Several prompts are several answers, and token arrays mean
 * nothing to another model: those do not translate. */
static const json_t *
prompt_of(const json_t *p)
{
	if (json_is_array(p) && json_array_size(p) == 1)
		p = json_array_get(p, 0);
	return json_is_string(p) ? p : NULL;
}

json_t *
completions_to_chat(const json_t *req, struct dialect_info *info,
    char why[DIALECT_WHY_MAX])
{
	const json_t *prompt, *v;
	const char *key;
	json_t *out;
	size_t i;
	bool same;

	if ((prompt = prompt_of(json_object_get(req, "prompt"))) == NULL)
		return refuse(why, "prompt", NULL);
	if ((out = json_object()) == NULL)
		return refuse(why, "memory", NULL);
	json_object_foreach((json_t *)req, key, v) {
		if (strcmp(key, "prompt") == 0)
			continue;
		for (same = false, i = 0; i < ARRAY_SIZE(same_keys); i++)
			if (strcmp(key, same_keys[i]) == 0)
				same = true;
		if (same)
			json_object_set(out, key, (json_t *)v);
		else if (!harmless(key, v))	/* n, echo, an unknown one */
			return refuse(why, key, out);
	}
	if (json_object_get(out, "max_tokens") == NULL)
		json_object_set_new(out, "max_tokens",
		    json_integer(COMPLETIONS_MAX_TOKENS_DEFAULT));
	/* The usage is counted whether the caller asked it or not; the
	 * stream gives it the caller only if it did. */
	if (info->stream)
		json_object_set_new(out, "stream_options", json_pack("{s:b}",
		    "include_usage", 1));
	if (json_object_set_new(out, "messages", json_pack("[{s:s, s:O}]",
	    "role", "user", "content", prompt)) < 0)
		return refuse(why, "memory", out);
	return out;
}

/* ---- answers ------------------------------------------------------------ */

/* The Completions name of chat's finish reason; NULL for NULL. */
static const char *
finish_of(const char *reason, bool refusal)
{
	const char *name;

	if (refusal)
		return api_openai_completions.finish_name[FINISH_FILTER];
	if (reason == NULL)
		return NULL;
	name = api_openai_completions.finish_name[api_finish_read(
	    &api_openai_chat, reason)];
	return name != NULL ? name : reason;
}

/* Chat's usage, its three counts only. */
static json_t *
usage_of(const json_t *u)
{
	static const char *const keys[] = { "prompt_tokens",
	    "completion_tokens", "total_tokens" };
	json_t *out = json_object();
	uint64_t n;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (get_count(u, keys[i], &n))
			json_object_set_new(out, keys[i],
			    json_integer((json_int_t)n));
	return out;
}

/* The frame of a whole answer or a chunk, its choice left to add. */
static json_t *
frame(const json_t *resp, const struct dialect_info *info)
{
	const json_t *created = json_object_get(resp, "created");
	const char *id = get_str(resp, "id"), *model = get_str(resp, "model");

	return json_pack("{s:s, s:s, s:I, s:s}", "id", id ? id : "cmpl-llmfb",
	    "object", "text_completion", "created", json_is_integer(created) ?
	    json_integer_value(created) : (json_int_t)info->created, "model",
	    model ? model : "");
}

static json_t *
choice(const char *text, const char *finish)
{
	return json_pack("{s:s, s:i, s:n, s:s?}", "text", text, "index", 0,
	    "logprobs", "finish_reason", finish);
}

json_t *
chat_to_completions(const json_t *resp, const struct dialect_info *info)
{
	const json_t *c = json_array_get(json_object_get(resp, "choices"), 0);
	const json_t *m = json_object_get(c, "message");
	const char *text = get_str(m, "content");
	const char *refusal = get_str(m, "refusal");
	bool refused = refusal != NULL && *refusal != '\0';
	json_t *out;

	if (!json_is_object(m) || (out = frame(resp, info)) == NULL)
		return NULL;
	if (json_object_set_new(out, "choices", json_pack("[o]", choice(
	    refused || text == NULL ? "" : text, finish_of(get_str(c,
	    "finish_reason"), refused)))) < 0 || json_object_set_new(out,
	    "usage", usage_of(json_object_get(resp, "usage"))) < 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ---- streams ------------------------------------------------------------ */

int
completions_stream_from_chat(struct dialect_stream *s, const char *event,
    const char *data, size_t len)
{
	const json_t *choices, *c, *d, *u;
	const char *text, *refusal, *fr;
	json_t *j, *out = NULL;
	int r = 0;

	(void)event;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		s->done = true;
		return sse_emit(s->out, NULL, "[DONE]", 6);
	}
	if ((j = json_loadb(data, len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	u = json_object_get(j, "usage");
	if (json_is_object(u)) {
		s->usage = get_count(u, "prompt_tokens", &s->in_tokens) |
		    get_count(u, "completion_tokens", &s->out_tokens);
		if (s->info.include_usage &&
		    (out = frame(j, &s->info)) != NULL &&
		    (json_object_set_new(out, "choices", json_array()) < 0 ||
		    json_object_set_new(out, "usage", usage_of(u)) < 0 ||
		    sse_emit_json(s->out, NULL, out) < 0))
			r = -1;
		json_decref(out);
		out = NULL;
	}
	choices = json_object_get(j, "choices");
	if (!json_is_array(choices) && !null_or_absent(choices))
		r = -1;
	c = json_array_get(choices, 0);
	d = json_object_get(c, "delta");
	text = get_str(d, "content");
	refusal = get_str(d, "refusal");
	fr = get_str(c, "finish_reason");
	if (refusal != NULL && *refusal != '\0')
		s->refusal = true;
	/* A chunk of the role only, or of a refusal, says nothing here. */
	if (r == 0 && ((text != NULL && *text != '\0') || fr != NULL)) {
		if ((out = frame(j, &s->info)) == NULL ||
		    json_object_set_new(out, "choices", json_pack("[o]",
		    choice(text ? text : "", finish_of(fr, s->refusal &&
		    fr != NULL)))) < 0 || sse_emit_json(s->out, NULL, out) < 0)
			r = -1;
		json_decref(out);
	}
	json_decref(j);
	return r;
}
