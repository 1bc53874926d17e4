/* Server-sent events, framed as bytes arrive: lines end at \n, \r or
 * \r\n, an event ends at a blank line, its data lines are joined with
 * \n.  Whatever the chunking (one byte at a time included), the same
 * events come out, each once, in order.  No I/O: the answer reader and
 * the stream translator both sit on it. */
#ifndef LLMFB_SSE_H
#define LLMFB_SSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* One complete event.  event is its event field ("message" when there
 * was none, as the spec says), data its data lines joined with \n (len
 * bytes, NUL-terminated); its raw bytes are [raw_start, raw_end) of the
 * stream.  Events without data are not events (spec) and are not given,
 * nor is one that passed the cap. */
typedef void (*sse_event_fn)(void *arg, const char *event, const char *data,
    size_t len, size_t raw_start, size_t raw_end);

struct sse {
	sse_event_fn	 on_event;
	void		*arg;
	size_t		 fed;		/* bytes fed so far */
	size_t		 event_end;	/* offset past the last whole event */
	bool		 oversize;	/* an event passed the cap */

	/* Private. */
	size_t		 cap;
	struct buf	 line;		/* the partial line */
	struct buf	 data;		/* the pending event's data lines */
	char		 event[64];	/* its event field (cut if longer) */
	int		 ndata;
	bool		 cr;		/* a line ended in \r */
	bool		 line_any;	/* the partial line has bytes */
	bool		 skip;		/* the pending event is past its cap */
	bool		 any_line;	/* a line was seen (for the BOM) */
};

/* cap: the most bytes one event may hold (line and data together). */
void sse_init(struct sse *s, size_t cap, sse_event_fn fn, void *arg);
void sse_feed(struct sse *s, const char *p, size_t n);
void sse_free(struct sse *s);

/* Append one event, "event: EVENT\n" (when not NULL) then its data as
 * data lines, then a blank line.  Returns 0 or -1 (out's cap). */
int sse_emit(struct buf *out, const char *event, const char *data,
    size_t len);
/* The same for one JSON value, compact, on one data line. */
int sse_emit_json(struct buf *out, const char *event, const json_t *j);

#endif
