/* A call's record, and its sinks: the counters (stats.h, for metrics and
 * status), the spend (budget.h), and the one JSON line per call that goes
 * to the events file and the control socket's followers (through the
 * daemon's publish hook).  The call (call.c) fills it in as it goes; what
 * is counted, priced and said of a call is decided here. */
#ifndef LLMFB_RECORD_H
#define LLMFB_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "buf.h"
#include "caller.h"
#include "config.h"
#include "inject.h"
#include "netview.h"

#define RECORDS_MAX	16		/* attempts kept in a call's record */
#define REASONS_MAX	512
#define NO_TIME		UINT32_MAX
/* A record's line is well under this (its strings are bounded); the
 * buffer it is written in is kept between calls up to RECORD_LINE_KEEP. */
#define RECORD_LINE_MAX	(256u << 10)
#define RECORD_LINE_KEEP	(16u << 10)

struct daemon;

/* One attempt, for the call's record. */
struct attempt_rec {
	const char		*target;	/* the config's, held by the call */
	enum fail_kind		 fk;		/* FK_NONE: it answered */
	char			 why[40];
	char			 injected[FAULT_NAME_MAX]; /* "": none */
	int			 status;
	uint32_t		 connect_ms, first_token_ms, total_ms;
	struct net_rec		 net;		/* what the kernel saw */
	bool			 hedge;		/* started as a hedge */
	bool			 cancelled;	/* lost a hedge's race */
};

struct record {
	struct daemon		*d;
	/* Who called what, set as the call learns it. */
	char			 host[256];	/* original host, lowercase */
	enum dialect		 dialect;	/* the caller's */
	char			*model;		/* requested model or NULL */
	const struct route	*route;		/* NULL: passthrough */
	struct caller		 caller;
	uint64_t		 start_ms;
	char			 route_key[80];	/* its spend's, in budgets */
	char			 fallback_key[80]; /* its fallbacks' spend */
	char			 caller_key[320];
	/* What happened: the first RECORDS_MAX attempts, in a block grown
	 * as they end (most calls make one; an open stream none yet). */
	struct attempt_rec	*rec;
	int			 nrec, caprec;
	uint64_t		 in_tokens, out_tokens;
	bool			 tokens_estimated;
	uint64_t		 last_in, last_out; /* the last answer's */
	double			 cost;
	const struct target	*served;
	bool			 translated;	/* its answer was */
	const char		*first_from;	/* the first target left */
	enum fail_kind		 first_fk;	/* and why */
	const char		*result;	/* how the call ended */
	char			 reasons[REASONS_MAX];
	/* Why each group's members were tried in the order they were:
	 * "PICK:a>b>c", one per group, comma separated. */
	char			 picks[REASONS_MAX];
	/* Hedging: which of the two attempts brought the first content
	 * ("hedge", "primary"; NULL: no race was run), and the target of
	 * the one cancelled, with what it cost. */
	bool			 hedged;	/* a hedge was started */
	const char		*hedge_winner;
	const struct target	*hedge_loser;
	double			 hedge_loser_cost;
	uint64_t		 hedge_loser_in, hedge_loser_out;
};

/* What "fallback" means wherever llmfb says it (x-llmfb-fallback, the
 * record, the counters): the caller's answer did not come from the
 * route's first rung.  A later rung's answer is one; so is the safe
 * failure (answered is NULL), which is the ladder's last rung.  Retries
 * on the first rung are not: x-llmfb-attempts counts them. */
bool record_fell_back(const struct record *r, const struct target *answered);
/* Whether rung i is (a member of) the route's first rung. */
bool route_first_rung(const struct route *r, int i);

double target_cost(const struct target *t, uint64_t in, uint64_t out);
bool target_priced(const struct target *t);

/* Add "target=why" to the reasons at offset at (their end, or where an
 * attempt's failure goes before the skips its ladder step found). */
void record_reason(struct record *r, size_t at, const char *target,
    const char *why);
/* An attempt at t ended (fk FK_NONE: it answered): counted, and kept
 * (a->target and a->fk are set here). */
void record_attempt(struct record *r, const struct target *t,
    enum fail_kind fk, struct attempt_rec *a);
/* An attempt's times, kept for the SLO and the status (recent) and for
 * the metrics (all). */
void record_times(struct record *r, const struct target *t, uint32_t ttft,
    uint32_t total);
/* The tokens an answer of t cost (estimated: not the provider's count),
 * on its target, its route and its caller (fallback: and on the route's
 * fallback spend).  Returns the cost. */
double record_account(struct record *r, const struct target *t,
    uint64_t in, uint64_t out, bool estimated, bool fallback);
/* The call's record as one line of JSON (appended to b), now its wall
 * clock time in seconds: what the events file, `llmfbctl events` and
 * followers read. */
void record_line(const struct record *r, double now, uint64_t duration_ms,
    struct buf *b);
/* The call ended: count it, and say it to the sinks. */
void record_end(struct record *r);
/* Free what r holds (its attempts and its caller); r may be zeroed. */
void record_free(struct record *r);

#endif
