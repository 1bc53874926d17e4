#include <stdbool.h>
#include <string.h>

#include "latency.h"

void
latency_init(struct latency *l)
{
	memset(l, 0, sizeof(*l));
}

void
latency_add(struct latency *l, uint64_t now_ms, uint32_t ttft_ms,
    uint32_t total_ms)
{
	l->sample[l->next].at_ms = now_ms;
	l->sample[l->next].ttft_ms = ttft_ms;
	l->sample[l->next].total_ms = total_ms;
	l->next = (l->next + 1) % LATENCY_SAMPLES;
	if (l->count < LATENCY_SAMPLES)
		l->count++;
}

/* Written as a difference so that neither a huge window nor a sample
 * stamped after now_ms (a caller's clock read early) can overflow: such
 * a sample counts as fresh. */
static bool
in_window(uint64_t at, uint64_t now, uint64_t window)
{
	if (window == 0 || at >= now)
		return true;
	return now - at < window;
}

/* Insertion sort: at most LATENCY_SAMPLES values, so its n^2 is a few
 * thousand moves, cheaper than qsort's calls through a pointer. */
static void
sort_u32(uint32_t *v, size_t n)
{
	size_t i, j;
	uint32_t x;

	for (i = 1; i < n; i++) {
		x = v[i];
		for (j = i; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static size_t
pct_of(const struct latency *l, bool ttft, uint64_t now, uint64_t window,
    int pct, uint32_t *ret_ms)
{
	uint32_t v[LATENCY_SAMPLES], x;
	size_t n = 0, rank;
	unsigned i;

	if (pct < 1 || pct > 100)
		return 0;
	for (i = 0; i < l->count; i++) {
		if (!in_window(l->sample[i].at_ms, now, window))
			continue;
		x = ttft ? l->sample[i].ttft_ms : l->sample[i].total_ms;
		if (x != LATENCY_NONE)
			v[n++] = x;
	}
	if (n == 0)
		return 0;
	sort_u32(v, n);
	/* Nearest rank: the smallest value with at least pct% of the
	 * samples at or below it, rank = ceil(pct / 100 * n). */
	rank = ((size_t)pct * n + 99) / 100;
	*ret_ms = v[rank - 1];
	return n;
}

size_t
latency_ttft_pct(const struct latency *l, uint64_t now_ms,
    uint64_t window_ms, int pct, uint32_t *ret_ms)
{
	return pct_of(l, true, now_ms, window_ms, pct, ret_ms);
}

size_t
latency_total_pct(const struct latency *l, uint64_t now_ms,
    uint64_t window_ms, int pct, uint32_t *ret_ms)
{
	return pct_of(l, false, now_ms, window_ms, pct, ret_ms);
}
