/* What every translator shares (dialect.c, dialect_stream.c, the
 * xlate_*.c of an API): what a translated request means for its answer,
 * the room for why one does not translate, and a stream being
 * translated.  Below dialect.h and dialect_stream.h, so that a
 * translator dialect.c's table names includes neither. */
#ifndef LLMFB_XLATE_H
#define LLMFB_XLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "buf.h"
#include "sse.h"

#define DIALECT_WHY_MAX			64

/* What a translated request means for the translation of its answer. */
struct dialect_info {
	enum dialect	 from;		/* the caller's */
	enum dialect	 to;		/* the target's */
	bool		 stream;
	bool		 include_usage;	/* OpenAI caller: the usage chunk */
	bool		 json_tool;	/* JSON mode asked through the forced
					 * DIALECT_JSON_TOOL (OpenAI caller,
					 * Anthropic target) */
	int64_t		 created;	/* OpenAI "created" of the answer */
	bool		 via_usage;	/* through another API (dialect_via):
					 * the middle stream has its usage */
};

/* The most one event of the target may hold: answer.c's own cap, so that
 * what it would read we translate. */
#define DIALECT_STREAM_EVENT_MAX	(1u << 20)

/* A stream being translated (dialect_stream.h runs it, a translator of
 * the table writes through it). */
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
	void		*state;		/* a translator's own */
	void		(*state_free)(void *state);
	struct dialect_stream *hop;	/* through another API: the
					 * target's stream into it, whose
					 * output this one translates */
};

/* A stream translator, an entry of dialect.c's from/to table: one whole
 * SSE event of the target's stream in, the caller's events appended to
 * s->out, whole ones only.  s->info says the pair, s->state is the
 * translator's own (NULL at first; the table's stream_free frees it),
 * and s->usage, s->in_tokens and s->out_tokens are set from what the
 * target's stream counted.  Returns 0, or -1 when the event is not what the target's API
 * says (the stream is then broken). */
typedef int xlate_stream_fn(struct dialect_stream *s, const char *event,
    const char *data, size_t len);
typedef void xlate_stream_free_fn(void *state);

/* dialect_stream.c's own translators: chat completions' chunks for a
 * caller of Anthropic messages, and the other way. */
xlate_stream_fn chat_to_messages, messages_to_chat;

#endif
