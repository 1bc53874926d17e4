/* Counters for llmfbctl status, kept by name so that they outlive a
 * reload for targets and routes that keep their names. */
#ifndef LLMFB_STATS_H
#define LLMFB_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "breaker.h"
#include "ladder.h"
#include "latency.h"
#include "ratelimit.h"

#define OUTCOME_KINDS	(OUT_BROKEN + 1)

/* A latency histogram with fixed bucket bounds (in seconds, then +Inf),
 * as Prometheus counts them: b[i] is how many took at most bound i,
 * cumulative only when rendered.  Answers take from tens of
 * milliseconds to a minute (HIST_SLOW_S, the default); llmfbd's own
 * steps take microseconds (HIST_FAST_S). */
#define HIST_BUCKETS	13
extern const double HIST_SLOW_S[HIST_BUCKETS - 1];
extern const double HIST_FAST_S[HIST_BUCKETS - 1];

struct hist {
	const double	*bounds;	/* NULL: HIST_SLOW_S */
	uint64_t	 b[HIST_BUCKETS];
	uint64_t	 count;
	double		 sum_s;
};

void hist_add(struct hist *h, double ms);

/* The last SAMPLES_MAX values of a measure, in µs, for a median. */
#define SAMPLES_MAX	64

struct samples {
	uint32_t	 v[SAMPLES_MAX];
	unsigned	 n, next;
};

void samples_add(struct samples *s, uint32_t us);
/* The pct-th percentile (nearest rank); false when there is none. */
bool samples_pct(const struct samples *s, int pct, uint32_t *ret_us);
const double *hist_bounds(const struct hist *h);

/* Counters by a label set, for the metrics: "route=\"chat\",..." as
 * Prometheus writes it (already escaped) -> a value.  A host has tens of
 * routes and targets, so a short array and a linear search do; past
 * LSET_MAX label sets, further ones are counted in dropped. */
#define LSET_MAX	4096

struct lcount {
	char		*labels;
	double		 v;
};

struct lset {
	struct lcount	*v;
	size_t		 n;
	uint64_t	 dropped;
};

void lset_add(struct lset *s, const char *labels, double v);
struct stats;
/* One answer's tokens and cost under the model its provider was asked
 * for (NULL: unknown, counted as ""). */
void stats_model_add(struct stats *s, const char *provider,
    const char *model, uint64_t in, uint64_t out, double cost);
void lset_free(struct lset *s);

struct tstat {
	char		*name;
	uint64_t	 attempts;
	uint64_t	 served;		/* answers delivered */
	uint64_t	 failures;		/* attempts that moved on */
	uint64_t	 by_kind[OUTCOME_KINDS];/* failures by kind */
	uint64_t	 by_status[6];		/* failures by status class */
	uint64_t	 fallback_served;	/* served as a fallback */
	uint64_t	 skipped_open;		/* rungs passed: breaker open */
	uint64_t	 by_fail[FK_COUNT];	/* failed attempts by kind */
	uint64_t	 skipped[FK_COUNT];	/* not qualified, by reason */
	uint64_t	 in_flight;		/* attempts running now */
	uint64_t	 in_tokens, out_tokens;
	double		 spend_usd;
	char		 last_failure[64];
	bool		 drained;		/* by hand: takes no new call */
	uint64_t	 injected;		/* attempts a fault was put in */
	struct breaker	 br;			/* shared by every route */
	struct latency	 lat;			/* recent answers' times */
	struct latency	 fleet_lat;		/* in a fleet: ours and the
						 * other hosts' (shared.c) */
	/* The provider's limits as its last answers told them, and a
	 * 429's Retry-After (ratelimit.c). */
	struct rl_state	 rl;
	struct rl_local	 rl_local;		/* its rpm and tpm */
	struct rl_fleet	 rl_fleet;		/* its account, in a fleet */
	uint64_t	 rl_429s;		/* 429s answered */
	struct hist	 ttft_h, total_h;	/* all answers' times */
	/* What the kernel saw (eBPF, netview.c): per attempt with an
	 * answer's head, the network's share and the provider's. */
	struct hist	 network_h, provider_h;
	struct samples	 network_s, provider_s;	/* recent, for status */
	uint64_t	 retransmits;
	uint32_t	 srtt_us;		/* the last one seen */
	/* The network view (netlink): the address it was last reached
	 * at, and whether a route and a link to it are there. */
	char		 addr[48];		/* "" unknown */
	bool		 unreachable;
	char		 net_why[96];		/* when unreachable */
	char		 net_dev[16];		/* the route's link */
	int64_t		 net_since;		/* wall clock, last change */
};

struct rstat {
	char		*name;
	uint64_t	 calls;
	uint64_t	 fallbacks;		/* served by a later rung */
	uint64_t	 safe_failures;
	uint64_t	 delivered_errors;	/* non-retried errors passed on */
	uint64_t	 client_gone;
	uint64_t	 client_gone_fell_back;	/* ... after the ladder moved */
	uint64_t	 fallback_by[FK_COUNT];	/* why the primary was left */
	uint64_t	 midstream_continued;
	uint64_t	 midstream_errors;
	double		 spend_usd;
	double		 fallback_cost_diff_usd;/* served minus primary */
	/* Hedging (policy hedge): hedges started, answered first by the
	 * hedge, attempts cancelled as the other answered first, and hedges
	 * the route's cap refused. */
	uint64_t	 hedges;
	uint64_t	 hedges_won;
	uint64_t	 hedges_cancelled;
	uint64_t	 hedges_capped;
	/* The cap's sliding window, estimated from two fixed ones as
	 * ratelimit.c does: [0] the current, [1] the one before. */
	uint64_t	 hedge_win_start_ms;
	uint64_t	 hedge_win_calls[2], hedge_win_hedges[2];
};

/* Per program: its executable (or command name) and user. */
#define CALLERS_MAX	256

struct cstat {
	char		*name;			/* "exe" or "comm" */
	uint32_t	 uid;
	uint64_t	 calls;
	uint64_t	 fallbacks;
	uint64_t	 safe_failures;
	uint64_t	 client_gone;
	double		 spend_usd;
};

struct stats {
	struct tstat	*t;
	size_t		 nt;
	struct rstat	*r;
	size_t		 nr;
	struct cstat	*c;
	size_t		 nc;
	/* For the metrics. */
	struct lset	 requests;	/* route, target, outcome */
	struct lset	 attempts;	/* route, target, outcome */
	struct lset	 fallbacks;	/* route, from, to, class, kind */
	struct lset	 unserved;	/* why: connections llmfb let be */
	struct lset	 terminated;	/* result: TLS ended with the CA's
					 * leaves (tlsterm.c) */
	/* By the model a provider was asked for (the target's, or the
	 * caller's): provider, model, direction; and provider, model. */
	struct lset	 model_tokens;
	struct lset	 model_spend;
	struct hist	 shim_h;	/* shim to daemon */
	uint64_t	 calls;
	uint64_t	 passthrough;
	uint64_t	 rejected;		/* malformed or not ours */
	uint64_t	 in_flight;
};

struct stats *stats_new(void);
void stats_free(struct stats *s);
struct tstat *stats_target(struct stats *s, const char *name);
struct rstat *stats_route(struct stats *s, const char *name);
/* The program's counters; past CALLERS_MAX programs, one "(other)". */
struct cstat *stats_caller(struct stats *s, const char *name,
    uint32_t uid);
/* A target changed in a reload: its breaker and recent times start
 * afresh (its counters go on). */
void stats_target_renew(struct tstat *t);
/* Write a label value escaped as Prometheus wants it (\\, \", \n);
 * returns 0 or -1 when it does not fit. */
int prom_escape(char *out, size_t len, const char *value);
/* A label set from name, value pairs ending in NULL:
 * prom_labels(out, len, "route", "chat", "target", "a", NULL) writes
 * route="chat",target="a".  Returns 0, or -1 when it does not fit. */
int prom_labels(char *out, size_t len, ...);

#endif
