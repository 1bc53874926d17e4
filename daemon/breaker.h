/* A circuit breaker per target, shared by every route and caller: pure
 * state over a clock the caller passes in, so every transition is unit
 * tested.
 *
 *	closed --(N failures in a row, or a failure ratio over the
 *	          window once it holds min_requests)--> open
 *	open --(cooldown)--> half-open: up to `probes` calls let through
 *	half-open --(a probe succeeds)--> closed
 *	half-open --(a probe fails)--> open, for another cooldown
 *
 * Tripped by hand, a breaker stays open until reset by hand.  Opened
 * because the network lost the way to the target (no route, link down),
 * it stays open until the way is back, then goes half-open at once.  A probe
 * that never reports (its caller left) stops counting after a cooldown,
 * so a breaker cannot stay half-open with nothing let through.
 *
 * In a fleet (daemon/shared.c) an open breaker is also held: it does not
 * half-open on time until this host holds the fleet's probe lease, so the
 * fleet sends `probes` probes, not that many per host.  Another host's
 * open opens it here (fleet_remote), its close closes it.  A host that
 * loses Redis lets go of every hold and goes on alone. */
#ifndef LLMFB_BREAKER_H
#define LLMFB_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#define BREAKER_BUCKETS	10	/* the window, in slices */

struct breaker_conf {
	unsigned	failures;	/* in a row; 0: not this rule */
	unsigned	ratio_pct;	/* over the window; 0: not this rule */
	uint64_t	window_ms;
	unsigned	min_requests;	/* in the window, for the ratio */
	uint64_t	cooldown_ms;
	unsigned	probes;		/* let through while half-open */
};

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
	enum breaker_state state;
	bool		manual;		/* tripped by hand */
	bool		unreachable;	/* no route or link to it */
	unsigned	in_a_row;	/* failures since the last success */
	uint64_t	opened_ms;	/* when it last opened */
	unsigned	probes_out;	/* half-open: let through, unanswered */
	uint64_t	probe_ms;	/* when the last probe went */
	uint64_t	opens;		/* times it opened */
	bool		fleet_hold;	/* open until the probe lease is ours */
	bool		fleet_remote;	/* opened by another host's failures */
	uint64_t	fleet_ask_ms;	/* probe lease asked then; 0: not */
	struct {
		uint64_t start_ms;
		uint32_t ok, failed;
	} slice[BREAKER_BUCKETS];
};

void breaker_init(struct breaker *b);
/* May a call go to this target now?  In half-open this lets a probe
 * through (and counts it). */
bool breaker_allow(struct breaker *b, const struct breaker_conf *c,
    uint64_t now_ms);
/* An attempt's result: ok is false for a failure of the target (connect,
 * TLS, timeouts, a broken answer, 429, 5xx). */
void breaker_record(struct breaker *b, const struct breaker_conf *c,
    bool ok, uint64_t now_ms);
/* A probe let through in half-open will give no result (its attempt was
 * cancelled): its place is free for the next call, not held for a
 * cooldown. */
void breaker_unprobe(struct breaker *b);
void breaker_trip(struct breaker *b, uint64_t now_ms);
/* The network view: the target cannot be reached (open now, until
 * breaker_reachable), or can again (half-open now). */
void breaker_unreachable(struct breaker *b, uint64_t now_ms);
void breaker_reachable(struct breaker *b);
void breaker_reset(struct breaker *b);
/* Another host opened this target's breaker, left_ms before it
 * half-opens there: open it here until the same time, held.  A breaker
 * tripped by hand or unreachable is left as it is.  Returns whether it
 * was not open before. */
bool breaker_fleet_open(struct breaker *b, const struct breaker_conf *c,
    uint64_t left_ms, uint64_t now_ms);
/* Another host's probe succeeded: close a breaker the fleet opened or
 * holds.  Returns whether it closed. */
bool breaker_fleet_close(struct breaker *b);
/* The state as it would be seen now (open turns half-open on time). */
enum breaker_state breaker_state(const struct breaker *b,
    const struct breaker_conf *c, uint64_t now_ms);
/* Milliseconds until an open breaker half-opens: 0 when it is not open,
 * UINT64_MAX when it was tripped by hand or is unreachable. */
uint64_t breaker_wait_ms(const struct breaker *b,
    const struct breaker_conf *c, uint64_t now_ms);
const char *breaker_state_name(enum breaker_state s);

#endif
