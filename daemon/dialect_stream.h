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

struct dialect_stream {
	struct dialect_info info;
	struct sse	 sse;		/* the target's events */
	struct buf	*out;		/* during dialect_stream_feed */
	bool		 failed;	/* the stream cannot be translated */

	/* What the target's stream said, for the caller's record. */
	bool		 usage;		/* it gave token counts */
	uint64_t	 in_tokens, out_tokens;

	/* Private translation state. */
	char		 id[128];
	char		 model[128];
	bool		 started;	/* message_start / role chunk sent */
	bool		 done;		/* the end marker was sent */
	int		 block;		/* Anthropic index of the open block,
					 * -1: none */
	int		 nblocks;	/* Anthropic blocks started */
	bool		 block_tool;	/* the open block is a tool call */
	bool		 block_skip;	/* ... is one the caller cannot see */
	bool		 block_json;	/* ... is the DIALECT_JSON_TOOL */
	int		 tool;		/* OpenAI index of the open call, -1 */
	int		 ntools;	/* OpenAI tool calls seen */
	uint64_t	 cached_tokens;
	char		 finish[32];	/* held until the end */
};

void dialect_stream_init(struct dialect_stream *s,
    const struct dialect_info *info);
/* Take n bytes of the target's stream; append what they complete, in
 * the caller's dialect, to out.  Returns 0, or -1 once the stream cannot
 * be translated (an event that is not what its dialect says, an out of
 * order tool call fragment, out's cap): then the stream is broken. */
int dialect_stream_feed(struct dialect_stream *s, const char *p, size_t n,
    struct buf *out);
void dialect_stream_free(struct dialect_stream *s);

#endif
