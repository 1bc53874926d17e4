/* What OpenAI's APIs share (api_openai_chat.c has it): one error shape,
 * which its embeddings and legacy completions APIs speak too, and the
 * answer shape chat and legacy completions have in common. */
#ifndef LLMFB_API_OPENAI_H
#define LLMFB_API_OPENAI_H

#include "api.h"

void openai_error_type(int status, const char **type, const char **code);
json_t *openai_error_body(const char *type, const char *code,
    const char *message);
int openai_error_status(int status);
enum provider_error openai_error_kind(int status, const json_t *err);

struct answer;
/* A whole answer or a chunk: an error member, choices of which only
 * choice 0 is read (its content by content(), its finish_reason), and
 * usage. */
void openai_read_choices(struct answer *a, json_t *j,
    void (*content)(struct answer *, const json_t *));
/* A stream's event: [DONE], or one such object, read by object(). */
void openai_read_event(struct answer *a, const char *event, const char *data,
    size_t len, void (*object)(struct answer *, json_t *));

#endif
