#include <jansson.h>
#include <string.h>

#include "dialect.h"

/* ---- finish reasons ---------------------------------------------------- */

const char *
dialect_finish(const char *reason, enum dialect target, enum dialect caller)
{
	static const struct {
		const char	*openai, *anthropic;
	} map[] = {
		{ "stop", "end_turn" },
		{ "length", "max_tokens" },
		{ "tool_calls", "tool_use" },
		{ "content_filter", "refusal" },
		/* One way only: below the first match of the other. */
		{ "stop", "stop_sequence" },
		{ "stop", "pause_turn" },
	};
	size_t i;

	if (reason == NULL || target == caller)
		return reason;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (target == DIALECT_ANTHROPIC &&
		    strcmp(reason, map[i].anthropic) == 0)
			return map[i].openai;
		if (target == DIALECT_OPENAI &&
		    strcmp(reason, map[i].openai) == 0)
			return map[i].anthropic;
	}
	if (target == DIALECT_OPENAI && strcmp(reason, "function_call") == 0)
		return "tool_use";
	return target == DIALECT_ANTHROPIC ? "stop" : "end_turn";
}

/* ---- errors ------------------------------------------------------------ */

int
dialect_error_status(int status, enum dialect caller)
{
	if (caller == DIALECT_OPENAI && status == 529)
		return 503;
	return status;
}

/* The caller's error type (and OpenAI code) for a status. */
static void
error_type(int status, enum dialect caller, const char **type,
    const char **code)
{
	*code = NULL;
	if (caller == DIALECT_ANTHROPIC) {
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
		return;
	}
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

/* The status an in-stream error's type stands for (0: unknown). */
static int
status_of_type(const char *type)
{
	static const struct {
		const char	*type;
		int		 status;
	} map[] = {
		{ "invalid_request_error", 400 },
		{ "authentication_error", 401 },
		{ "permission_error", 403 },
		{ "not_found_error", 404 },
		{ "request_too_large", 413 },
		{ "rate_limit_error", 429 },
		{ "rate_limit_exceeded", 429 },
		{ "overloaded_error", 529 },
		{ "api_error", 500 },
		{ "server_error", 500 },
	};
	size_t i;

	for (i = 0; type != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i].type) == 0)
			return map[i].status;
	return 0;
}

json_t *
dialect_error_json(const json_t *err, int status, enum dialect target,
    enum dialect caller)
{
	const json_t *e = json_object_get(err, "error");
	const char *msg, *type, *code;

	/* OpenAI: {"error": {message, type, param, code}}; Anthropic:
	 * {"type": "error", "error": {type, message}}.  Some servers put a
	 * bare string in "error". */
	msg = json_string_value(json_object_get(e, "message"));
	if (msg == NULL)
		msg = json_string_value(e);
	if (msg == NULL)
		msg = json_string_value(json_object_get(err, "message"));
	if (msg == NULL)
		msg = "the provider gave an error";
	if (status == 0)
		status = status_of_type(json_string_value(json_object_get(e,
		    "type")));
	if (target == caller && json_is_object(e))
		return json_deep_copy(err);
	error_type(status, caller, &type, &code);
	if (caller == DIALECT_ANTHROPIC)
		return json_pack("{s:s, s:{s:s, s:s}}", "type", "error",
		    "error", "type", type, "message", msg);
	return json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", msg,
	    "type", type, "param", "code", code);
}

json_t *
dialect_error(int status, const char *body, size_t len, enum dialect target,
    enum dialect caller, int *ret_status)
{
	json_t *in = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *out;

	*ret_status = dialect_error_status(status, caller);
	out = dialect_error_json(in, status, target, caller);
	json_decref(in);
	return out;
}

/* ---- requests and answers (to be written) ------------------------------ */

json_t *
dialect_request(const json_t *req, struct dialect_info *info,
    char why[DIALECT_WHY_MAX])
{
	(void)req;
	(void)info;
	strcpy(why, "unwritten");
	return NULL;
}

json_t *
dialect_response(const json_t *resp, const struct dialect_info *info)
{
	(void)resp;
	(void)info;
	return NULL;
}
