/* Fuzz target: request translation (dialect_request() in
 * daemon/dialect.c), both ways, and request_estimate_tokens().
 *
 * Input: [mode][JSON request].  Mode bit 0: the caller's dialect (0
 * OpenAI, 1 Anthropic); bit 1: the target's the same as the caller's
 * (else the other); bit 2: info.json_tool set before the call (it must
 * be set either way).  A request that is not a JSON object is still
 * given to dialect_request() when it parses: the daemon checks only that
 * the body is an object, and the translator must refuse anything else.
 *
 * Properties (dialect.h): the request is not changed; a refusal says
 * why, NUL-terminated, in characters safe in a header (letters, digits,
 * "_.:+-", and "?" for the others).  What translates
 * is translated back, as a fallback from the other side would be. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "answer.h"
#include "dialect.h"
#include "fuzz.h"

static void
check_why(const char *why)
{
	const char *end = memchr(why, '\0', DIALECT_WHY_MAX);
	const char *p;

	FUZZ_CHECK(end != NULL, "why is not NUL-terminated");
	FUZZ_CHECK(why[0] != '\0', "a refusal without a why");
	for (p = why; p < end; p++)
		FUZZ_CHECK(isalnum((unsigned char)*p) ||
		    strchr("_.:+-?", *p) != NULL, "why holds byte 0x%02x",
		    (unsigned char)*p);
}

/* Translate req per info; the result (a new reference) or NULL. */
static json_t *
translate(const json_t *req, struct dialect_info *info)
{
	char why[DIALECT_WHY_MAX];
	json_t *copy = json_deep_copy(req), *out;

	memset(why, 'x', sizeof(why));
	out = dialect_request(req, info, why);
	FUZZ_CHECK(copy == NULL || json_equal(req, copy),
	    "the request was changed");
	json_decref(copy);
	if (out == NULL)
		check_why(why);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_byte(&in);
	struct dialect_info info = { 0 }, back = { 0 };
	json_t *req, *out, *again;
	char *s;

	info.from = (mode & 1) ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
	info.to = (mode & 2) ? info.from : !info.from;
	info.json_tool = (mode & 4) != 0;
	info.created = 1700000000;
	req = json_loadb((const char *)in.p, in.n, 0, NULL);
	if (req == NULL)
		return 0;
	(void)request_estimate_tokens(req);
	out = translate(req, &info);
	if (out != NULL) {
		/* The wire bytes, as attempt_body() makes them. */
		s = json_dumps(out, JSON_COMPACT);
		free(s);
		back.from = info.to;
		back.to = info.from;
		back.created = info.created;
		again = translate(out, &back);
		json_decref(again);
	}
	json_decref(out);
	json_decref(req);
	return 0;
}
