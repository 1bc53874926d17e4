/* The insides of a call, private to the modules that make one up:
 * call.c (its start, its ladder walk, its answer's delivery and its
 * end), attempt.c (one attempt's life: its transfer, timers, injected
 * fault, hedge race and release) and passthrough.c (a request no route
 * takes, carried as it is).  Include it nowhere else: every other
 * module knows a call only through call.h.  The call's state moves
 * only in call.c (commit_status, midstream_failed, call_finish); the
 * other modules read it.  The three are one component in three files,
 * and call one another: call.c starts attempts (attempt.h) and a
 * passthrough (passthrough.h), and these hand back what came of them
 * through the few functions of call.c declared at the end here. */
#ifndef LLMFB_CALL_IMPL_H
#define LLMFB_CALL_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "answer.h"
#include "api.h"
#include "buf.h"
#include "dialect_stream.h"
#include "inject.h"
#include "ladder.h"
#include "loop.h"
#include "netview.h"
#include "qualify.h"
#include "record.h"
#include "state.h"
#include "stats.h"
#include "upstream.h"

#define HELD_MAX	ANSWER_BODY_MAX	/* an answer held before delivery */

/* Where a call is.  It only moves down this list, and every step is
 * taken in one place, in call.c: commit_status(), midstream_failed() and
 * call_finish(). */
enum call_state {
	CS_CHOOSING,	/* walking its ladder: nothing sent yet, an answer
			 * held until it is judged */
	CS_ANSWERING,	/* an answer's head went out: it is delivered */
	CS_CONTINUING,	/* that answer's stream broke, and later rungs
			 * write the rest of it */
	CS_FINISHED,	/* over: nothing of it runs again */
};

/* One attempt at a target: its transfer, its timers, its answer read
 * and held as it comes, and its translation back.  A call runs one at a
 * time, or two while a hedge races the attempt it hedges (call->slot);
 * the first to bring content wins and the other is cancelled. */
struct attempt {
	struct call		*call;
	bool			 live;		/* started, not yet released */
	bool			 hedge;		/* started as a hedge */
	bool			 probe;		/* its target's half-open probe */
	int			 rung;		/* its ladder rung */
	struct xfer		*xfer;
	char			*attempt_body;	/* rewritten body, or NULL */
	const struct target	*target;
	const struct target	*busy;		/* counted in its in_flight */
	struct timer		 first_token;
	struct timer		 idle;
	/* A fault put in the attempt (llmfbctl inject): a copy, as the
	 * operator may end it meanwhile. */
	struct fault		 fault;
	bool			 faulted;
	bool			 fault_times_out; /* its delay passes the
						   * attempt's timeout */
	uint64_t		 cut_left;	/* bytes until a cut */
	char			 fault_name[FAULT_NAME_MAX];
	struct timer		 fault_timer;
	/* Its answer: read as it comes, and its bytes not yet sent (all of
	 * it until the call commits to it; after that, a stream's
	 * unfinished event). */
	struct answer		 ans;
	bool			 ans_live;
	struct buf		 held;
	size_t			 held_base;	/* answer offset of held[0] */
	/* Its answer on its way back, for a target of another API. */
	const struct xlation	*xl;
	bool			 xlating;
	struct dialect_stream	 xs;
	bool			 xs_live;
	struct buf		 xraw;		/* its whole body, untranslated */
	struct buf		 xout;		/* a stream's bytes, translated */
	uint64_t		 attempt_ms;	/* when it began */
	uint32_t		 ttft_ms;	/* its first token; NO_TIME */
	struct net_call		 net;		/* its socket, at its head */
	bool			 too_big;	/* outgrew the hold */
};

struct call {
	struct daemon		*d;
	struct config		*cfg;		/* the config it started with */
	struct conn		*conn;		/* NULL once the client left */
	struct http_req		*req;		/* valid while conn is */
	struct buf		 body;		/* the request body (owned) */
	char			 scheme[8];
	int			 port;
	const struct api	*api;		/* the caller's; NULL: none */
	enum dialect		 dialect;	/* the caller's */
	json_t			*json;		/* parsed body (ladder only) */
	struct ladder		 ladder;
	uint64_t		 deadline_ms;	/* monotonic */
	/* The attempts: at is the one whose event is being handled, or
	 * the one left running (the other slot is then free, or a hedge
	 * racing it). */
	struct attempt		 slot[2];
	struct attempt		*at;
	struct timer		 retry;
	struct timer		 hedge_timer;	/* hedges hedge_for */
	struct attempt		*hedge_for;
	bool			 hedged;	/* a hedge was started */
	bool			 race_done;	/* ... and its race is over */
	struct qualify		 q;		/* what its targets must meet */
	struct answer_want	 want;
	/* A stream that broke after it began, continued elsewhere. */
	struct answer		 prev;		/* what the caller has of it */
	struct cont_state	 cs;
	json_t			*cont_json;	/* the request with the prefix */
	json_t			*cont_trimmed;	/* ... less its trailing blanks,
						 * for Anthropic targets */
	size_t			 cont_trim;	/* how many blanks that is */
	uint64_t		 cont_out;	/* output tokens of the attempts
						 * it continues */
	/* The last bytes of a stream the caller got: whether they end an
	 * event, so that an error event of ours starts a new one. */
	char			 tail[4];
	struct record		 r;		/* what it says of itself */
	enum call_state		 state;
};

/* The head of an answer went out (and the call may have ended since). */
static inline bool
committed(const struct call *call)
{
	return call->state == CS_ANSWERING || call->state == CS_CONTINUING;
}

static inline bool
continuing(const struct call *call)
{
	return call->state == CS_CONTINUING;
}

static inline bool
finished(const struct call *call)
{
	return call->state == CS_FINISHED;
}

/* The API an attempt at t speaks: the caller's, where t's provider
 * speaks it; else t's provider's own, translated to. */
static inline enum dialect
target_dialect(const struct call *call, const struct target *t)
{
	return api_for_target(api_of(call->dialect), t->provider->dialect);
}

/* Whether p is the provider the caller called (p == NULL: passthrough,
 * the caller's own host). */
static inline bool
own_provider(const struct call *call, const struct provider *p)
{
	return p == NULL || strcasecmp(p->origin, call->r.host) == 0;
}

static inline struct tstat *
tstat_of(struct call *call, const struct target *t)
{
	return stats_target(call->d->stats, t->name);
}

static inline bool
is_2xx(long status)
{
	return status >= 200 && status < 300;
}

/* ---- what the call's modules ask of call.c ---------------------------- */

/* The call is over: nothing of it runs again, and it is freed after the
 * current batch of events. */
void call_finish(struct call *call, const char *result);
/* An error answer of llmfb's own, in the caller's API shape; the call
 * then ends so (result). */
void respond_error(struct call *call, int status, const char *type,
    const char *message, const struct buf *extra, const char *result);
/* Send the focused attempt's response head; the call is then
 * answering.  Returns 0 or -EPIPE. */
int commit(struct call *call, long long content_length);
/* Deliver the held answer of the focused attempt, and end the call. */
void deliver_held(struct call *call, const char *result);

/* The attempt in focus ended without a usable answer: the ladder walks
 * on (or, once the caller has part of an answer, the route says). */
void attempt_failed(struct call *call, const struct outcome *o);
/* No target can serve: the route's safe failure answers. */
void respond_safe_failure(struct call *call);
/* Bytes of the focused attempt's answer (past any injected cut), and
 * its end: as upstream.h's on_body and on_done. */
size_t call_xfer_body(struct call *call, struct xfer *x, const char *p,
    size_t n);
void call_xfer_done(struct call *call, struct xfer *x, enum xfer_end e);

#endif
