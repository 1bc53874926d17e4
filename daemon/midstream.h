/* A stream that broke after the caller got part of it.  Where its
 * route continues it (midstream: continue), the next rung is asked for
 * the rest: the request again, with what the caller has as the
 * assistant's prefix.  Where it cannot be finished, it ends with an
 * error event in the caller's API, so its SDK raises instead of taking
 * a short answer for a whole one.  These make both, through the API
 * tables (api.h: continue_prefix, stream_error); the call (call.c,
 * midstream_failed) decides which, and sends it. */
#ifndef LLMFB_MIDSTREAM_H
#define LLMFB_MIDSTREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "buf.h"

struct answer;
struct cont_state;

/* The request req of API dialect again, with prev's text as the
 * assistant's prefix.  Anthropic refuses a prefix that ends in white
 * space: trim says to cut it, and *ret_trim (unless NULL) is how much
 * went.  NULL when the API cannot continue or memory ran out. */
json_t *midstream_request(enum dialect dialect, const json_t *req,
    const struct answer *prev, bool trim, size_t *ret_trim);
/* The error event ending a broken stream of API dialect, into ev
 * (initialised here; the caller frees it).  ans is the broken
 * attempt's answer, prev what the caller had before a continuation
 * (NULL: none), cs the continuation's state, why what broke;
 * ends_event says whether what the caller has ends an event.  Returns
 * 0, or -1 when there is nothing to send. */
int midstream_error_event(struct buf *ev, enum dialect dialect,
    const struct answer *ans, const struct answer *prev,
    const struct cont_state *cs, const char *why, bool ends_event);

#endif
