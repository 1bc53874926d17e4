/* The fallback ladder: what an attempt's outcome means, and what comes
 * next.  Pure logic over a route's policy, with no I/O, so every step is
 * unit tested. */
#ifndef LLMFB_LADDER_H
#define LLMFB_LADDER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

enum outcome_kind {
	OUT_OK,			/* a response worth delivering (any status) */
	OUT_CONNECT,		/* connect refused/unreachable, DNS */
	OUT_TLS,		/* handshake or verification failed */
	OUT_TIMEOUT_CONNECT,
	OUT_TIMEOUT_FIRST_BYTE,	/* no first content token in time */
	OUT_TIMEOUT_TOTAL,
	OUT_TIMEOUT_IDLE,	/* a gap inside a stream */
	OUT_BROKEN,		/* reset or truncated before delivery */
};

struct outcome {
	enum outcome_kind kind;
	int		  status;	/* HTTP status when kind == OUT_OK */
	uint64_t	  retry_after_ms; /* the answer's wish; 0: none */
	/* What reading the body found: for a 2xx, a quality (FK_QUALITY),
	 * content (FK_CONTENT) or broken-answer (FK_TECHNICAL) failure;
	 * for an error, FK_CONTEXT or FK_CONTENT when the provider's
	 * error body says so.  FK_NONE: nothing. */
	enum fail_kind	  body;
	const char	 *why;		/* what body found, for reasons */
	bool		  own_key;	/* the caller's credentials went up */
	bool		  foreign;	/* a provider the caller did not call */
};

enum ladder_action {
	LADDER_TRY,	/* attempt ladder->rung after *delay_ms */
	LADDER_DELIVER,	/* give this outcome to the caller */
	LADDER_FAIL,	/* nothing left: the safe failure */
};

/* Whether rung i (target t) may be tried now: FK_NONE, or the kind of
 * reason it may not (breaker, budget, context window, tags, ...).  When
 * strict is false, the latency SLO is waived: a slow target still beats
 * none. */
typedef enum fail_kind (*ladder_usable_fn)(const struct target *t, int i,
    bool strict, void *arg);

struct ladder {
	const struct route *route;
	ladder_usable_fn    usable;
	void		   *usable_arg;
	int		    rung;	/* index into route->ladder; -1 before */
	int		    tries;	/* attempts made on this rung */
	int		    attempts;	/* attempts made in all */
	int		    rungs_tried;/* distinct rungs attempted */
	bool		    waited;	/* this rung's Retry-After wait is used */
	uint32_t	    considered;	/* rungs tried or found unusable */
	/* Position -> rung: each group's members in this call's order
	 * (ladder_group_order); elsewhere the rung itself. */
	uint8_t		    order[LADDER_MAX];
};

/* What an attempt's outcome means under policy p (NULL: the defaults'
 * reading): FK_NONE for an answer to deliver, a failure kind (and so
 * class) otherwise.  A 4xx is the caller's mistake (FK_CLIENT) only when
 * the caller could have made it: at the provider it called, and not a
 * status the route's retry_on names. */
enum fail_kind outcome_classify(const struct outcome *o,
    const struct policy *p);
/* A 4xx that is llmfb's failure, never the caller's: a provider refused
 * llmfb's own key (401, 403), or a provider the caller did not call
 * answered 4xx other than 400 (DeepSeek's 402 for an empty balance,
 * Ollama's 404 for a model it lacks, a 422 for what translation sent).
 * A 400 is the request's own (malformed in itself), at any provider.
 * Never delivered as
 * it is (its body may even echo the key, and the caller's SDK would
 * blame its own request); it always moves the ladder on, whatever
 * retry_on says, and ends in the safe failure when nothing is left. */
bool outcome_llmfbs(const struct outcome *o);
const char *outcome_name(const struct outcome *o);

void ladder_init(struct ladder *l, const struct route *r,
    ladder_usable_fn usable, void *arg);
/* This call tries group g's members in the order member[0..n) (indexes
 * into the group, as group_order() writes them). */
void ladder_group_order(struct ladder *l, size_t g, const uint8_t *member);
/* The first attempt: LADDER_TRY with l->rung set, or LADDER_FAIL when
 * no rung is usable. */
enum ladder_action ladder_first(struct ladder *l);
/* A hedge beside the running attempt: the next rung that qualifies, as
 * a failure would have found it, taken (LADDER_TRY, l->rung set to it),
 * or LADDER_FAIL with the ladder as it was.  Either way the running
 * attempt's rung stays considered, so the walk goes on after both. */
enum ladder_action ladder_hedge(struct ladder *l);
/* After an attempt ended with o: deliver it, or try again (the same rung
 * after a backoff, or the rung the route names for the failure's kind,
 * at once), or fail.
 * remaining_ms is what is left of the call's deadline; rnd is a random
 * number for the backoff's jitter. */
enum ladder_action ladder_next(struct ladder *l, const struct outcome *o,
    uint64_t remaining_ms, uint32_t rnd, uint64_t *ret_delay_ms);
/* The wait an answer asks for: its retry-after-ms header (OpenAI's,
 * milliseconds), else Retry-After (seconds, or an HTTP date read against
 * now_s).  headers holds "Name: value\r\n" lines.  0 when there is none
 * or it makes no sense; at most a day. */
uint64_t retry_after_ms(const char *headers, size_t len, time_t now_s);
/* The backoff before retry number n (1-based) on the same rung: full
 * exponential, capped, with jitter between half and all of it. */
uint64_t ladder_backoff(const struct policy *p, int n, uint32_t rnd);

#endif
