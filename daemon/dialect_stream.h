/* A stream of the target's dialect, translated into the caller's as its
 * bytes arrive: one complete SSE event in, zero or more complete SSE
 * events out, so the output never depends on where the input was cut.
 * docs/dialects.md, "Streams", has the mapping. */
#ifndef LLMFB_DIALECT_STREAM_H
#define LLMFB_DIALECT_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dialect.h"	/* and xlate.h: struct dialect_stream */

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

#endif
