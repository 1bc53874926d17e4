/* One attempt at a target, from its start to its release: the body and
 * headers it sends, its transfer (upstream.h) and the callbacks that
 * hand its answer to the call, its timers (first token, idle, the
 * retry after it), a fault an operator injected in it, and the hedge
 * that may race it.  A call (call_impl.h) has two slots: one attempt
 * runs at a time, or two while a hedge races the one it hedges; the
 * first to bring content wins and the other is cancelled.  What comes
 * of an attempt is the call's to judge (call_xfer_body, call_xfer_done,
 * attempt_failed).  The functions taking a call act on the attempt in
 * focus, call->at. */
#ifndef LLMFB_ATTEMPT_H
#define LLMFB_ATTEMPT_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "upstream.h"

struct attempt;
struct call;
struct rstat;

/* The call's two slots and its retry and hedge timers: set up at its
 * start, stopped at its end, freed with it. */
void attempts_init(struct call *call);
void attempts_stop(struct call *call);
void attempts_free(struct call *call);

/* An attempt at the ladder's rung, in a free slot: now, or after
 * delay_ms (the ladder's backoff). */
void attempt_start(struct call *call);
void attempt_next(struct call *call, uint64_t delay_ms);
/* The attempt no longer occupies its target: its transfer is freed and
 * its timers stop. */
void attempt_release(struct call *call);
/* Its answer's reader, freed. */
void answer_drop(struct call *call);
/* It ended so (fk FK_NONE: it answered): its times, its connection and
 * what the kernel saw of it go into the call's record. */
void attempt_record(struct call *call, enum fail_kind fk, const char *why,
    int status);
/* The other slot's attempt, when it runs beside call->at (a hedge, or
 * the attempt it hedges); else NULL. */
struct attempt *other_attempt(struct call *call);

/* Its first token arrived; its first content arrived (a race is then
 * over); or the call commits to it: the race, if any, is over and the
 * other attempt is cancelled. */
void first_token(struct call *call);
void first_content(struct call *call);
void hedge_settle(struct call *call);
/* The route's hedging window (w ms) moved on to now. */
void hedge_window(struct rstat *rs, uint64_t w, uint64_t now);

/* What an attempt sends, less its URL, body and timeouts; and the
 * callbacks of its transfer (arg: the struct attempt).  A passthrough
 * uses both for its one transfer. */
void attempt_request(struct call *call, struct xfer_request *rq,
    const char *url, const struct buf *headers);
extern const struct xfer_ops attempt_xfer_ops;

#endif
