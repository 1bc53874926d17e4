#include <string.h>

#include "group.h"

static const char *const names[] = {
	[GROUP_ORDER] = "order", [GROUP_WEIGHTED] = "weighted",
	[GROUP_LEAST_BUSY] = "least-busy", [GROUP_LATENCY] = "latency",
	[GROUP_PRICE] = "price",
};

const char *
group_pick_name(enum group_pick how)
{
	return names[how];
}

int
group_pick_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* Weighted random without replacement: each place goes to a member with
 * a chance of its weight over what the ones left weigh. */
static void
weighted(const struct group_member *m, size_t n, group_rnd_fn rnd,
    void *arg, uint8_t *order)
{
	uint64_t left = 0, r;
	uint8_t pick;
	size_t i, k;

	for (i = 0; i < n; i++) {
		order[i] = (uint8_t)i;
		left += m[i].weight ? m[i].weight : 1;
	}
	for (k = 0; k + 1 < n; k++) {
		r = ((uint64_t)rnd(arg) << 32 | rnd(arg)) % left;
		for (i = k; i < n; i++) {
			uint64_t w = m[order[i]].weight ? m[order[i]].weight : 1;

			if (r < w)
				break;
			r -= w;
		}
		left -= m[order[i]].weight ? m[order[i]].weight : 1;
		/* The rest keep their listed order. */
		pick = order[i];
		memmove(order + k + 1, order + k, i - k);
		order[k] = pick;
	}
}

/* The key a member is sorted by, smaller first. */
static double
key(enum group_pick how, const struct group_member *m)
{
	switch (how) {
	case GROUP_LEAST_BUSY:
		return m->in_flight;
	case GROUP_LATENCY:
		return m->latency_ms == GROUP_NO_LATENCY ? -1.0 :
		    (double)m->latency_ms;
	case GROUP_PRICE:
		return m->price;
	default:
		return 0;
	}
}

void
group_order(enum group_pick how, const struct group_member *m, size_t n,
    group_rnd_fn rnd, void *arg, uint8_t *order)
{
	size_t i, j;
	uint8_t t;

	if (n > GROUP_MAX)
		n = GROUP_MAX;
	if (how == GROUP_WEIGHTED) {
		weighted(m, n, rnd, arg, order);
		return;
	}
	for (i = 0; i < n; i++)
		order[i] = (uint8_t)i;
	if (how == GROUP_ORDER)
		return;
	/* Shuffle, then sort stably: equals end up in a random order. */
	for (i = n; i > 1; i--) {
		j = rnd(arg) % i;
		t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (i = 1; i < n; i++) {
		t = order[i];
		for (j = i; j > 0 && key(how, &m[order[j - 1]]) >
		    key(how, &m[t]); j--)
			order[j] = order[j - 1];
		order[j] = t;
	}
}
