/* Counters for llmfbctl status, kept by name so that they outlive a
 * reload for targets and routes that keep their names. */
#ifndef LLMFB_STATS_H
#define LLMFB_STATS_H

#include <stdint.h>

#include "breaker.h"
#include "ladder.h"
#include "latency.h"

#define OUTCOME_KINDS	(OUT_BROKEN + 1)

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
	struct breaker	 br;			/* shared by every route */
	struct latency	 lat;			/* recent answers' times */
};

struct rstat {
	char		*name;
	uint64_t	 calls;
	uint64_t	 fallbacks;		/* served by a later rung */
	uint64_t	 safe_failures;
	uint64_t	 delivered_errors;	/* non-retried errors passed on */
	uint64_t	 client_gone;
	uint64_t	 fallback_by[FK_COUNT];	/* why the primary was left */
	uint64_t	 midstream_continued;
	uint64_t	 midstream_errors;
	double		 spend_usd;
	double		 fallback_cost_diff_usd;/* served minus primary */
};

struct stats {
	struct tstat	*t;
	size_t		 nt;
	struct rstat	*r;
	size_t		 nr;
	uint64_t	 calls;
	uint64_t	 passthrough;
	uint64_t	 rejected;		/* malformed or not ours */
	uint64_t	 in_flight;
};

struct stats *stats_new(void);
void stats_free(struct stats *s);
struct tstat *stats_target(struct stats *s, const char *name);
struct rstat *stats_route(struct stats *s, const char *name);

#endif
