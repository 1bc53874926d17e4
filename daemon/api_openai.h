/* What OpenAI's APIs share: one error shape (api_openai_chat.c has it),
 * which its embeddings API speaks too. */
#ifndef LLMFB_API_OPENAI_H
#define LLMFB_API_OPENAI_H

#include "api.h"

void openai_error_type(int status, const char **type, const char **code);
json_t *openai_error_body(const char *type, const char *code,
    const char *message);
int openai_error_status(int status);
enum provider_error openai_error_kind(int status, const json_t *err);

#endif
