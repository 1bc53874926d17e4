/* A request no route takes (not a call of any API, or one no route
 * matches), carried as it is: one transfer to the host the caller
 * meant, with the caller's own headers and key, and its answer back as
 * it comes, whatever it is.  Only to an API's own port (443 over https,
 * 80 over http): llmfbd is no relay to whatever else an intercepted
 * host runs.  Its answers say x-llmfb-passthrough: 1. */
#ifndef LLMFB_PASSTHROUGH_H
#define LLMFB_PASSTHROUGH_H

#include <stddef.h>

#include "upstream.h"

struct call;
struct outcome;

/* Carry the call's request to its host. */
void passthrough_start(struct call *call);
/* Bytes of the host's answer: sent as they come (an error answer is
 * held whole).  Returns n, or 0 to break the transfer. */
size_t passthrough_body(struct call *call, const char *p, size_t n);
/* Its transfer ended (e), as o says. */
void passthrough_done(struct call *call, enum xfer_end e,
    const struct outcome *o);
/* It ended before anything went to the caller. */
void passthrough_ended(struct call *call, const struct outcome *o);

#endif
