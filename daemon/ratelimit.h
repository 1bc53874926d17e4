/* A provider's rate limits as its answers advertise them, kept as live
 * state per target: OpenAI's x-ratelimit-{limit,remaining,reset}-
 * {requests,tokens} (resets as Go durations, "6m0s", "20ms"), and
 * Anthropic's anthropic-ratelimit-{requests,tokens,input-tokens,
 * output-tokens}-{limit,remaining,reset} (resets as RFC 3339 times).
 * Pure: the clock is passed in, nothing allocates, so a target near its
 * limit can be passed over before it answers 429. */
#ifndef LLMFB_RATELIMIT_H
#define LLMFB_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_UNKNOWN	(-1)

enum rl_kind { RL_REQUESTS, RL_TOKENS, RL_INPUT_TOKENS, RL_OUTPUT_TOKENS,
	RL_KINDS };

struct rl_window {
	int64_t		 limit;		/* RL_UNKNOWN: not advertised */
	int64_t		 remaining;	/* RL_UNKNOWN: not advertised */
	uint64_t	 reset_ms;	/* wall clock (epoch ms); 0: unknown */
};

struct rl_state {
	struct rl_window w[RL_KINDS];
	uint64_t	 seen_ms;	/* the answer that said so; 0: never */
	uint64_t	 blocked_until_ms; /* a 429's wish; 0: none */
};

void ratelimit_init(struct rl_state *st);
/* Take what an answer's headers ("Name: value\r\n" lines) say, read at
 * now_ms (wall clock).  Windows the answer does not mention keep what
 * they had.  Returns how many values it found. */
int ratelimit_update(struct rl_state *st, const char *headers, size_t len,
    uint64_t now_ms);
/* A 429 asked to come back after wait_ms (Retry-After, or the soonest
 * exhausted window's reset when it has none). */
void ratelimit_blocked(struct rl_state *st, uint64_t now_ms,
    uint64_t wait_ms);
/* Whether the target should be passed over now: blocked by a 429, or a
 * window whose reset is still ahead has no request left, or fewer tokens
 * left than the call needs: est_in + est_out of a tokens window, est_in
 * of an input one, est_out of an output one (Anthropic counts a request's
 * max_tokens against it at its start); at least 1 each.  *ret_until_ms
 * is when that ends (0: unknown). */
bool ratelimit_near(const struct rl_state *st, uint64_t now_ms,
    uint64_t est_in, uint64_t est_out, uint64_t *ret_until_ms);
/* The smallest remaining/limit over the windows that are advertised and
 * not reset yet, in [0, 1]; 1 when none is. */
double ratelimit_headroom(const struct rl_state *st, uint64_t now_ms);

/* Configured limits (a target's rpm, tpm), counted here: two fixed
 * minutes, the one before weighted by how much of it still lies within
 * the last 60 s, as a sliding window is estimated cheaply. */
#define RL_LOCAL_WINDOW_MS	60000

struct rl_local {
	uint64_t	 start_ms;	/* the current minute's; 0: none yet */
	uint64_t	 req[2], tok[2];	/* [0] current, [1] the one before */
	/* Minutes of the wall clock (start_ms a multiple of a minute), so
	 * that hosts counting one account in Redis agree on them; else
	 * from the first request (the monotonic clock). */
	bool		 wall;
};

/* In a fleet (shared.c): what the other hosts said of a target's
 * account.  until_ms: another host saw it spent (its headers, or a 429
 * with a reset) until then (wall clock; 0: no word); count: the fleet's
 * requests and tokens in wall-clock minutes, this host's own counted at
 * once (the reservation) and raised to Redis's totals as they come. */
#define RL_FROM_MAX	65

struct rl_fleet {
	uint64_t	 until_ms;
	char		 from[RL_FROM_MAX];	/* the host that saw it */
	char		 why[12];	/* 429, requests, tokens ... */
	uint64_t	 told_ms;	/* until, as this host last told it */
	struct rl_local	 count;
	uint64_t	 away_start_ms;	/* counted while Redis was away: */
	uint64_t	 away_req, away_tok;	/* that minute's, sent on return */
};

/* An attempt started at now_ms, counted as tokens (prompt plus
 * max_tokens, as providers count a request against its limit). */
void ratelimit_local_add(struct rl_local *l, uint64_t now_ms,
    uint64_t tokens);
/* Whether one more request of est_tokens would pass rpm or tpm (0: no
 * limit) over the last minute, at now_ms. */
bool ratelimit_local_over(const struct rl_local *l, uint64_t now_ms,
    uint64_t rpm, uint64_t tpm, uint64_t est_tokens);
/* Counts heard from elsewhere (the fleet's, from Redis) for the minute
 * that started at start_ms: l's figures for it are raised to them,
 * never lowered (what they lack of ours is on its way).  A minute that
 * is neither now's nor the one before is ignored. */
void ratelimit_local_raise(struct rl_local *l, uint64_t now_ms,
    uint64_t start_ms, uint64_t req, uint64_t tok);
/* The first ms of the wall-clock minute holding now_ms. */
uint64_t ratelimit_minute(uint64_t now_ms);

/* "6m0s", "1h2m3.5s", "20ms", "1.5s" -> milliseconds; -1 when it is not
 * a Go duration. */
int64_t go_duration_ms(const char *s, size_t n);
/* "2025-08-21T12:40:59Z" (or with fractions, or an offset) -> epoch ms;
 * 0 when it is not an RFC 3339 time. */
uint64_t rfc3339_ms(const char *s, size_t n);

#endif
