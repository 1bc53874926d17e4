/* Recent latency per target: time to first token and total time of the
 * last LATENCY_SAMPLES attempts, and nearest-rank percentiles over those
 * that fall in a window.  Fixed memory and a clock the caller passes in,
 * so a route can skip a target whose recent p95 breaks its SLO and the
 * status can show it, without allocating on the request path. */
#ifndef LLMFB_LATENCY_H
#define LLMFB_LATENCY_H

#include <stddef.h>
#include <stdint.h>

#define LATENCY_SAMPLES	128
#define LATENCY_NONE	UINT32_MAX	/* no value: e.g. no first token */

struct latency {
	struct {
		uint64_t at_ms;		/* monotonic, when it was added */
		uint32_t ttft_ms;	/* LATENCY_NONE: never got one */
		uint32_t total_ms;
	} sample[LATENCY_SAMPLES];
	unsigned	next;		/* the slot the next sample overwrites */
	unsigned	count;		/* slots in use, up to LATENCY_SAMPLES */
};

void latency_init(struct latency *l);
/* One attempt's times; past LATENCY_SAMPLES the oldest is overwritten.
 * ttft_ms is LATENCY_NONE when the attempt never produced a first token
 * (a failure with only a total). */
void latency_add(struct latency *l, uint64_t now_ms, uint32_t ttft_ms,
    uint32_t total_ms);
/* The pct-th percentile (1..100, nearest rank) of the samples added
 * less than window_ms before now_ms (window_ms 0: all of them), counting
 * only samples that have the value.  Returns how many samples the answer
 * is based on and writes *ret_ms; returns 0 and leaves *ret_ms alone when
 * there are none, or when pct is out of range. */
size_t latency_ttft_pct(const struct latency *l, uint64_t now_ms,
    uint64_t window_ms, int pct, uint32_t *ret_ms);
size_t latency_total_pct(const struct latency *l, uint64_t now_ms,
    uint64_t window_ms, int pct, uint32_t *ret_ms);

#endif
