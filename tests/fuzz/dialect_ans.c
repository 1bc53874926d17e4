/* Fuzz target: whole answers and error answers translated between the
 * dialects (daemon/dialect.c), and what an error body says
 * (provider_error_kind() in daemon/answer.c).
 *
 * Input: [mode][status hi][status lo][body].  Mode bit 0: the target's
 * dialect (0 OpenAI, 1 Anthropic); bit 1: the caller's the same (else the
 * other); bit 2: an error answer (else a 2xx answer); bit 3:
 * info.json_tool.  The status (big endian, modulo 600) is the error's;
 * 0 stands for an error inside a stream.
 *
 * Properties (dialect.h): a 2xx answer is not changed by its
 * translation; an error always translates (never NULL), into the
 * caller's shape: an object with an "error" object. */
#include <stdbool.h>
#include <string.h>

#include "answer.h"
#include "dialect.h"
#include "fuzz.h"

static void
answer_2xx(const struct fuzz_in *in, struct dialect_info *info)
{
	json_t *resp, *copy, *out;
	const char *finish;
	char *s;

	resp = json_loadb((const char *)in->p, in->n, 0, NULL);
	if (resp == NULL)
		return;
	copy = json_deep_copy(resp);
	out = dialect_response(resp, info);
	FUZZ_CHECK(copy == NULL || json_equal(resp, copy),
	    "the answer was changed");
	if (out != NULL) {
		s = json_dumps(out, JSON_COMPACT);
		free(s);
	}
	/* The stop reason as the stream translator maps it. */
	finish = json_string_value(json_object_get(resp, "stop_reason"));
	(void)dialect_finish(finish, info->to, info->from);
	json_decref(out);
	json_decref(copy);
	json_decref(resp);
}

static void
answer_error(const struct fuzz_in *in, const struct dialect_info *info,
    int status)
{
	const char *body = (const char *)in->p;
	json_t *out, *j;
	int st = -1;
	char *s;

	out = dialect_error(status, body, in->n, info->to, info->from, &st);
	FUZZ_CHECK(out != NULL, "an error that does not translate");
	FUZZ_CHECK(json_is_object(json_object_get(out, "error")),
	    "an error without an error object");
	FUZZ_CHECK(st == dialect_error_status(status, info->from),
	    "status %d for %d", st, status);
	s = json_dumps(out, JSON_COMPACT);
	free(s);
	json_decref(out);

	/* The same body as the stream translator sees it: any JSON. */
	j = json_loadb(body, in->n, JSON_DECODE_ANY, NULL);
	out = dialect_error_json(j, status, info->to, info->from);
	FUZZ_CHECK(out != NULL, "an error event that does not translate");
	json_decref(out);
	json_decref(j);

	(void)provider_error_name(provider_error_kind(info->to, status, body,
	    in->n));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct dialect_info info = { 0 };
	uint8_t mode = fuzz_byte(&in);
	int status;

	status = fuzz_byte(&in) << 8;
	status = (status | fuzz_byte(&in)) % 600;
	info.to = (mode & 1) ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
	info.from = (mode & 2) ? info.to : !info.to;
	info.json_tool = (mode & 8) != 0;
	info.created = 1700000000;
	if (mode & 4)
		answer_error(&in, &info, status);
	else
		answer_2xx(&in, &info);
	return 0;
}
