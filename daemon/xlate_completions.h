/* Translation between OpenAI's legacy Completions API and its chat
 * completions: a Completions caller served by a chat-completions target
 * (and, through chat, by the other APIs dialect.c's table reaches).  The
 * prompt goes as one user message; the chat answer, whole or streamed,
 * comes back as text_completion objects.  dialect.c's from/to table names
 * these.  docs/dialects.md, "Completions", has the mapping and what does
 * not translate. */
#ifndef LLMFB_XLATE_COMPLETIONS_H
#define LLMFB_XLATE_COMPLETIONS_H

#include <jansson.h>

#include "xlate.h"

/* A Completions request as a chat-completions one, or NULL with why. */
json_t *completions_to_chat(const json_t *req, struct dialect_info *info,
    char why[DIALECT_WHY_MAX]);
/* A whole chat completion as a text_completion, or NULL when resp is
 * none. */
json_t *chat_to_completions(const json_t *resp,
    const struct dialect_info *info);
/* A chat stream's chunks (and [DONE]) as text_completion chunks. */
xlate_stream_fn completions_stream_from_chat;

#endif
