/* Translation between provider APIs, through a from/to table (chat
 * completions and Anthropic messages here; Responses in
 * xlate_responses.c): requests, whole answers and errors (streams:
 * dialect_stream.h).
 * Pure functions over jansson, no I/O.  What the target's dialect cannot
 * express is dropped only when harmless; otherwise the request does not
 * translate and the target does not qualify.  docs/dialects.md has every
 * rule. */
#ifndef LLMFB_DIALECT_H
#define LLMFB_DIALECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "xlate.h"

#define DIALECT_MAX_TOKENS_DEFAULT	4096
#define DIALECT_JSON_TOOL		"json_answer"


/* The API a translation from one to another goes through, both ways
 * (OpenAI chat completions between Responses and Anthropic), or -1 when
 * it goes straight (or not at all).  The hops are infos of their own:
 * dialect_hops gives the target's to the middle, and the middle's to
 * the caller. */
int dialect_via(enum dialect from, enum dialect to);
void dialect_hops(const struct dialect_info *info,
    struct dialect_info *target_hop, struct dialect_info *caller_hop);

/* The stream translator from to's events to from's, and what frees its
 * state (*ret_free may be set NULL); NULL: none, or one through another
 * API (dialect_via: dialect_stream.c chains the hops). */
xlate_stream_fn *dialect_stream_fn(enum dialect from, enum dialect to,
    xlate_stream_free_fn **ret_free);

/* Whether a request of from can be said in to at all (then
 * dialect_request may still refuse one that asks what to cannot say). */
bool dialect_translates(enum dialect from, enum dialect to);
/* Whether the two name models alike (two APIs of one provider), so that
 * a target needs no model of its own for the caller's. */
bool dialect_same_models(enum dialect from, enum dialect to);

/* req (in info->from) in info->to, a new object (req is not changed),
 * with its model as it was (the caller sets the target's); from == to
 * gives a copy.  Fills the rest of info (from and to must be set, and
 * created).  NULL when it cannot be said without changing its meaning:
 * why then names what ("n", "logprobs", "tool:web_search_20250305",
 * "document", an unknown field's name, ...; docs/dialects.md, "The
 * rule"), and also on a request that is not valid in its own dialect
 * ("messages").  why is always NUL-terminated, and holds only characters
 * safe in a header. */
json_t *dialect_request(const json_t *req, struct dialect_info *info,
    char why[DIALECT_WHY_MAX]);

/* A whole 2xx answer of the target (in info->to) in the caller's dialect
 * (info->from), a new object; info->json_tool and info->created are
 * read.  NULL when resp is not an answer in info->to. */
json_t *dialect_response(const json_t *resp, const struct dialect_info *info);

/* An error answer of the target, status and body (any bytes, JSON or
 * not), as the caller's dialect says it: returns the body and sets
 * *ret_status.  Never NULL but on allocation failure. */
json_t *dialect_error(int status, const char *body, size_t len,
    enum dialect target, enum dialect caller, int *ret_status);

/* The pieces the stream translator shares. */
/* The caller's finish/stop reason for the target's; NULL for NULL. */
const char *dialect_finish(const char *reason, enum dialect target,
    enum dialect caller);
/* An error object ({"error": ...} or {"type": "error", "error": ...}) in
 * the caller's dialect for the target's err (any JSON, or NULL) with the
 * HTTP status it came with (0 inside a stream). */
json_t *dialect_error_json(const json_t *err, int status,
    enum dialect target, enum dialect caller);
/* An error body as dialect d says it: OpenAI's {"error": {message, type,
 * param, code}} (code may be NULL), Anthropic's {"type": "error",
 * "error": {type, message}} (no code).  llmfbd's own errors too. */
json_t *dialect_error_body(enum dialect d, const char *type,
    const char *code, const char *message);
/* The error body a provider of dialect d sends with this status. */
json_t *dialect_status_error(enum dialect d, int status,
    const char *message);
/* The status the caller's SDK expects for the target's. */
int dialect_error_status(int status, enum dialect caller);
/* The caller's error type (and OpenAI code, or NULL) for a status:
 * Anthropic's overloaded_error for 503 and 529, and so on. */
void dialect_error_type(int status, enum dialect caller, const char **type,
    const char **code);

#endif
