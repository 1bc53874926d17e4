/* Translation between OpenAI's Responses API and its chat completions:
 * a Responses caller served by a chat-completions target.  The request
 * goes to chat, the answer (whole or streamed) comes back as a Response
 * with its typed events.  dialect.c and dialect_stream.c reach these
 * through their from/to tables.  docs/dialects.md, "Responses", has
 * the mapping and what does not translate. */
#ifndef LLMFB_XLATE_RESPONSES_H
#define LLMFB_XLATE_RESPONSES_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "xlate.h"

/* A Responses request as a chat-completions one, or NULL with why. */
json_t *responses_to_chat(const json_t *req, struct dialect_info *info,
    char why[DIALECT_WHY_MAX]);
/* A whole chat completion as a Response, or NULL when resp is none. */
json_t *chat_to_responses(const json_t *resp,
    const struct dialect_info *info);

/* A chat-completions stream as Responses events, one chunk (or [DONE])
 * at a time; out gets whole SSE events.  *state starts NULL and is
 * freed by resp_stream_free.  Returns 0 or -1 (not a chat chunk).  The
 * usage the chunks gave is set in *usage, *in and *out_tokens. */
struct resp_stream;
int chat_chunk_to_responses(struct resp_stream **state,
    const struct dialect_info *info, const char *data, size_t len,
    struct buf *out, bool *usage, uint64_t *in, uint64_t *out_tokens);
void resp_stream_free(struct resp_stream *rs);

/* The other way, a chat caller served by a Responses target: the
 * request, a whole Response as a chat completion, and Responses' typed
 * events as chat chunks (and [DONE]). */
json_t *chat_to_responses_request(const json_t *req,
    struct dialect_info *info, char why[DIALECT_WHY_MAX]);
json_t *responses_to_chat_answer(const json_t *resp,
    const struct dialect_info *info);
int responses_event_to_chat(struct resp_stream **state,
    const struct dialect_info *info, const char *event, const char *data,
    size_t len, struct buf *out, bool *usage, uint64_t *in,
    uint64_t *out_tokens);

/* Both stream translations as dialect.c's table takes them (xlate.h):
 * chat chunks for a Responses caller, Responses' events for a chat one;
 * their state is freed by resp_stream_free_state. */
xlate_stream_fn responses_stream_from_chat, chat_stream_from_responses;
xlate_stream_free_fn resp_stream_free_state;

#endif
