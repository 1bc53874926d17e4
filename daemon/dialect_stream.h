/* A stream of the target's dialect, translated into the caller's as its
 * bytes arrive: one complete SSE event in, zero or more complete SSE
 * events out, so the output never depends on where the input was cut.
 * docs/dialects.md, "Streams", has the mapping. */
#ifndef LLMFB_DIALECT_STREAM_H
#define LLMFB_DIALECT_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dialect.h"
#include "sse.h"

/* The most one event of the target may hold: answer.c's own cap, so that
 * what it would read we translate. */
#define DIALECT_STREAM_EVENT_MAX	(1u << 20)

struct dialect_stream {
	struct dialect_info info;
	struct sse	 sse;		/* the target's events */
	struct buf	*out;		/* during dialect_stream_feed */
	bool		 failed;	/* the stream cannot be translated */

	/* What the target's stream said, for the caller's record (not read
	 * when the dialects are the same: the bytes only pass then).
	 * in_tokens counts prompt tokens as OpenAI does, cached included. */
	bool		 usage;		/* it gave token counts */
	uint64_t	 in_tokens, out_tokens;

	/* Private translation state. */
	struct buf	 head;		/* OpenAI chunks' opening, "id" to
					 * "model", from message_start */
	struct buf	 scratch;	/* the event being written */
	bool		 started;	/* message_start / role chunk sent */
	bool		 done;		/* the end marker was sent */
	int		 block;		/* Anthropic index of the open block,
					 * -1: none */
	int		 nblocks;	/* Anthropic blocks started */
	bool		 block_tool;	/* the open block is a tool call */
	bool		 block_json;	/* ... is the DIALECT_JSON_TOOL */
	bool		 block_args;	/* ... has had argument bytes */
	bool		 json_answer;	/* the JSON tool answered */
	bool		 refusal;	/* OpenAI refusal text was given */
	int		 tool;		/* OpenAI index of the open call, -1 */
	int		 last_tool;	/* ... of the last call begun, -1 */
	int		 ntools;	/* OpenAI tool calls given */
	uint64_t	 input_tokens;	/* Anthropic's, without the cache */
	uint64_t	 cache_creation;
	uint64_t	 cached_tokens;	/* read from the cache */
	const char	*finish;	/* the caller's stop reason, held */
	void		*state;		/* a translator's own (xlate.h) */
	xlate_stream_free_fn *state_free;
	struct dialect_stream *hop;	/* through another API: the
					 * target's stream into it, whose
					 * output this one translates */
};

void dialect_stream_init(struct dialect_stream *s,
    const struct dialect_info *info);
/* Take n bytes of the target's stream; append what they complete, in
 * the caller's dialect, to out.  Returns 0, or -1 once the stream cannot
 * be translated (an event that is not what its dialect says, an out of
 * order tool call fragment, out's cap): then the stream is broken, and
 * out ends with the last whole event that was translated. */
int dialect_stream_feed(struct dialect_stream *s, const char *p, size_t n,
    struct buf *out);
void dialect_stream_free(struct dialect_stream *s);

/* The translators of this file, entries of dialect.c's table: chat
 * completions' chunks for a caller of Anthropic messages, and the other
 * way. */
xlate_stream_fn chat_to_messages, messages_to_chat;

#endif
