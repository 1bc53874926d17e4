/* Fleet state on Redis: breakers and budgets shared by the llmfbd of
 * many hosts (docs/fleet.md).
 *
 * Nothing here is ever waited for by a call.  Every decision reads local
 * state (the breaker in stats, the spend in budgets); this module feeds
 * that state in the background from two hiredis async links on llmfbd's
 * own loop, one for commands and one subscribed to the fleet's channel.
 * Redis away, slow or partitioned: the links drop (an answer overdue by
 * shared.timeout), the host goes on alone, counts it, and resynchronises
 * when a link is back.
 *
 * Keys and channel, all under shared.prefix P:
 *	P breaker:TARGET	"HOST WALL_MS", expires when it half-opens
 *	P probe:TARGET		HOST holding the half-open probe lease
 *	P budget:h:HOUR:KEY	the fleet's spend in that UTC hour (USD)
 *	P budget:d:DAY:KEY	... that UTC day
 *	P spend:HOST:RUN:N	a spend counted (an hour): sent again, it
 *				is not counted twice
 *	P rl:ACCOUNT		"HOST WHY": the account is spent (its window,
 *				or a 429), expires when the latest seen ends
 *	P rpm:MINUTE:ACCOUNT	requests to the account in that wall-clock
 *	P tpm:MINUTE:ACCOUNT	minute (epoch ms / 60000), and tokens
 *	P events		the channel: open, close, spend, lat, hb,
 *				rl (spent), rlc (a minute's counts)
 */
#ifndef LLMFB_SHARED_H
#define LLMFB_SHARED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct daemon;
struct shared;
struct shared_conf;
struct target;
struct breaker;
struct latency;

enum shared_fail {
	SHARED_FAIL_CONNECT,	/* could not connect */
	SHARED_FAIL_AUTH,	/* the password was refused */
	SHARED_FAIL_TIMEOUT,	/* an answer later than shared.timeout */
	SHARED_FAIL_LOST,	/* the link broke */
	SHARED_FAIL_ERROR,	/* a command answered an error */
	SHARED_FAIL_COUNT
};

struct shared_stats {
	bool		 up;		/* both links ready */
	uint64_t	 connects;	/* times they became ready */
	uint64_t	 failures[SHARED_FAIL_COUNT];
	uint64_t	 ops;		/* commands sent */
	uint64_t	 remote_opens;	/* opened by another host */
	uint64_t	 remote_closes;
	uint64_t	 leases_won;	/* probes this host made */
	uint64_t	 leases_lost;	/* ... another host made */
	uint64_t	 leases_late;	/* unanswered in max_wait */
	uint64_t	 budget_offline; /* spends while Redis was away */
	uint64_t	 lag_us;	/* last remote message's age */
	uint64_t	 open_lag_us;	/* ... of the last open */
	uint64_t	 rtt_us;	/* the last heartbeat's round trip */
	uint64_t	 rl_told;	/* accounts seen spent here, told */
	uint64_t	 rl_remote;	/* ... seen spent by another host */
	uint64_t	 rl_lag_us;	/* ... the last one's age */
	uint64_t	 rl_counts;	/* rpm/tpm counts sent */
	uint64_t	 rl_offline;	/* ... counted while Redis was away */
};

const char *shared_fail_name(enum shared_fail f);

/* Ask Redis, synchronously and within shared.timeout (at most max_ms),
 * whether it takes the password.  Returns 0 when it does, 1 when Redis
 * cannot be reached (err says why; the daemon goes on alone), -1 when it
 * refused (err says so, without the password). */
int shared_check(const struct shared_conf *c, uint64_t max_ms, char *err,
    size_t errlen);
/* Start the links on d's loop (never NULL).  shared_free ends them. */
struct shared *shared_new(struct daemon *d, const struct shared_conf *c);
void shared_free(struct shared *sh);
/* A target's breaker opened here (by its own failures) or closed after
 * a probe: tell the fleet.  sh may be NULL. */
void shared_breaker_changed(struct shared *sh, const struct target *t,
    struct breaker *b);
/* A call's spend, added locally to its n keys (at most 2: its route's
 * and its caller's): count it in the fleet's windows, in one command. */
void shared_budget_add(struct shared *sh, const char *const *keys,
    size_t n, double usd, time_t now);
/* An attempt's times at t: into the fleet's view here, and to the other
 * hosts with the next tick's batch. */
struct tstat;
void shared_latency_add(struct shared *sh, const struct target *t,
    struct tstat *ts, uint32_t ttft_ms, uint32_t total_ms);
/* The samples an SLO is judged on: the fleet's (this host's and the
 * others') in a fleet that shares latency, else this host's. */
const struct latency *shared_latency_view(const struct shared *sh,
    const struct tstat *ts);
/* A provider's rate limits, per account (a target's account label):
 * after an answer's headers or a 429 at t, tell the fleet if they say
 * the account is spent until a reset. */
void shared_ratelimit_seen(struct shared *sh, const struct target *t,
    struct tstat *ts);
/* An attempt to t (with an rpm or tpm) starts: counted in the fleet's
 * minute at once here, and in Redis in the background. */
void shared_ratelimit_count(struct shared *sh, const struct target *t,
    struct tstat *ts, uint64_t tokens);
/* Whether t is passed over on the fleet's word: another host saw its
 * account spent, or the fleet's count of it would pass its rpm or tpm
 * with one more call of est_tokens.  False when sh is NULL. */
bool shared_rate_limited(const struct shared *sh, const struct target *t,
    const struct tstat *ts, uint64_t est_tokens);
const struct shared_stats *shared_stats(const struct shared *sh);
/* For status --fleet: the links and each host's last heartbeat. */
json_t *shared_status(struct shared *sh);

#endif
