/* OpenAI's embeddings API (POST .../embeddings), and the servers that
 * copy it: the same providers as its chat completions (config dialect
 * "openai"), at the same base URL.  No translation: a target of another
 * API does not qualify, nor one whose vectors have other dimensions
 * (qualify.c, by the target's "dimensions").
 *
 * The answer, as https://developers.openai.com/api/reference (Embeddings,
 * "Create embeddings") gives it: {"object": "list", "data": [{"object":
 * "embedding", "index": 0, "embedding": [floats] or a base64 string}],
 * "model": ..., "usage": {"prompt_tokens", "total_tokens"}}.  Never a
 * stream. */
#include <string.h>

#include "answer.h"
#include "api.h"
#include "api_openai.h"
#include "jsonget.h"

/* ---- answers --------------------------------------------------------- */

static void
embeddings_event(struct answer *a, const char *event, const char *data,
    size_t len)
{
	(void)event;
	(void)data;
	(void)len;
	a->malformed = true;		/* it has no streams */
}

static void
embeddings_object(struct answer *a, json_t *j)
{
	json_t *data, *e, *v;
	size_t i;

	if (!null_or_absent(json_object_get(j, "error"))) {
		a->error_event = true;
		return;
	}
	data = json_object_get(j, "data");
	if (!json_is_array(data)) {
		a->malformed = true;
		return;
	}
	json_array_foreach(data, i, e) {
		v = json_object_get(e, "embedding");
		if (!json_is_object(e) || !(json_is_array(v) ||
		    json_is_string(v))) {
			a->malformed = true;
			return;
		}
		/* An empty vector is no embedding. */
		if (json_array_size(v) > 0 || json_string_length(v) > 0)
			answer_got_content(a);
	}
	if (get_count(json_object_get(j, "usage"), "prompt_tokens",
	    &a->in_tokens))
		a->usage = true;
	a->out_tokens = 0;
}

/* ---- faults ---------------------------------------------------------- */

/* Embeddings have no refusal: a list with nothing in it, which is no
 * answer either. */
static char *
embeddings_fault_refusal(bool stream, const char *model, const char *message)
{
	json_t *j;
	char *s;

	(void)stream;
	(void)message;
	j = json_pack("{s:s, s:[], s:s, s:{s:i, s:i}}", "object", "list",
	    "data", "model", model, "usage", "prompt_tokens", 0,
	    "total_tokens", 0);
	s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

/* ---- the table ------------------------------------------------------- */

static const char *const embeddings_own_headers[] = { "openai-beta", NULL };

static const char *const embeddings_prompt_keys[] = {
	"input", NULL
};

const struct api api_openai_embeddings = {
	.dialect = DIALECT_OPENAI_EMBEDDINGS,
	.name = "openai-embeddings",
	.maker = "openai",
	.operation = "embeddings",
	.provider = DIALECT_OPENAI,
	.match = "/embeddings",
	.path = "/embeddings",
	.auth = "bearer",
	.own_headers = embeddings_own_headers,
	.header_prefix = "openai-",
	.prompt_keys = embeddings_prompt_keys,
	.deployments = true,
	.read_event = embeddings_event,
	.read_body = embeddings_object,
	.no_text = true,
	.dimensions = true,
	.error_type = openai_error_type,
	.error_body = openai_error_body,
	.error_status = openai_error_status,
	.error_kind = openai_error_kind,
	.stream_error_type = "server_error",
	.safe_failure_type = "llmfb_unavailable",
	.fault_refusal = embeddings_fault_refusal,
};
