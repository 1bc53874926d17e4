/* What every translator shares (dialect.c, dialect_stream.c, the
 * xlate_*.c of an API): what a translated request means for its answer,
 * and the room for why one does not translate.  Below dialect.h, so
 * that a translator dialect.c's table names need not include it. */
#ifndef LLMFB_XLATE_H
#define LLMFB_XLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

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

/* A stream translator, an entry of dialect.c's from/to table: one whole
 * SSE event of the target's stream in (event NULL when it had no event
 * field), the caller's events appended to s->out (dialect_stream.h),
 * whole ones only.  s->info says the pair, s->state is the translator's
 * own (NULL at first; the table's stream_free frees it), and s->usage,
 * s->in_tokens and s->out_tokens are set from what the target's stream
 * counted.  Returns 0, or -1 when the event is not what the target's API
 * says (the stream is then broken). */
struct dialect_stream;
typedef int xlate_stream_fn(struct dialect_stream *s, const char *event,
    const char *data, size_t len);
typedef void xlate_stream_free_fn(void *state);

#endif
