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
	OUT_TIMEOUT_FIRST_BYTE,
	OUT_TIMEOUT_TOTAL,
	OUT_BROKEN,		/* reset or truncated before delivery */
};

/* The failure classes of the design brief; client is the caller's own
 * mistake and is never retried. */
enum fail_class { FC_NONE, FC_TECHNICAL, FC_BUSINESS, FC_POLICY, FC_CLIENT };

struct outcome {
	enum outcome_kind kind;
	int		  status;	/* HTTP status when kind == OUT_OK */
	uint64_t	  retry_after_ms; /* the answer's wish; 0: none */
};

enum ladder_action {
	LADDER_TRY,	/* attempt ladder->rung after *delay_ms */
	LADDER_DELIVER,	/* give this outcome to the caller */
	LADDER_FAIL,	/* nothing left: the safe failure */
};

/* Whether a target may be tried now (dialect, breaker, drain, ...). */
typedef bool (*ladder_usable_fn)(const struct target *t, void *arg);

struct ladder {
	const struct route *route;
	ladder_usable_fn    usable;
	void		   *usable_arg;
	int		    rung;	/* index into route->ladder; -1 before */
	int		    tries;	/* attempts made on this rung */
	int		    attempts;	/* attempts made in all */
	int		    rungs_tried;/* distinct rungs attempted */
	bool		    waited;	/* this rung's Retry-After wait is used */
};

enum fail_class outcome_class(const struct outcome *o);
const char *outcome_name(const struct outcome *o);
const char *fail_class_name(enum fail_class c);
/* True when the route's retry_on says this outcome moves the ladder. */
bool outcome_is_failure(const struct policy *p, const struct outcome *o);

void ladder_init(struct ladder *l, const struct route *r,
    ladder_usable_fn usable, void *arg);
/* The first attempt: LADDER_TRY with l->rung set, or LADDER_FAIL when
 * no rung is usable. */
enum ladder_action ladder_first(struct ladder *l);
/* After an attempt ended with o: deliver it, or try again (the same rung
 * after a backoff, or the next usable rung at once), or fail.
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
