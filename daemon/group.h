/* Groups of equivalent targets on one rung of a ladder: the order a
 * call tries the members in, by the rung's strategy.  Pure: what is known
 * of each member (weight, calls in flight, recent latency, price) comes
 * in, random numbers come from the caller, an order comes out. */
#ifndef LLMFB_GROUP_H
#define LLMFB_GROUP_H

#include <stddef.h>
#include <stdint.h>

#define GROUP_MAX	16

enum group_pick {
	GROUP_ORDER,		/* as listed */
	GROUP_WEIGHTED,		/* weighted random */
	GROUP_LEAST_BUSY,	/* fewest calls in flight */
	GROUP_LATENCY,		/* lowest recent time to first token */
	GROUP_PRICE,		/* cheapest per million tokens */
};

#define GROUP_NO_LATENCY	UINT32_MAX

struct group_member {
	uint32_t	 weight;	/* GROUP_WEIGHTED; 0 counts as 1 */
	uint32_t	 in_flight;
	uint32_t	 latency_ms;	/* GROUP_NO_LATENCY: no samples yet */
	double		 price;		/* USD per million tokens, in + out */
};

typedef uint32_t (*group_rnd_fn)(void *arg);

/* Write to order[0..n) the members' indexes in the order to try them.
 * Ties are broken at random, so equal members share calls; a member with
 * no latency sample yet comes first under GROUP_LATENCY, to be learnt.
 * n is at most GROUP_MAX. */
void group_order(enum group_pick how, const struct group_member *m,
    size_t n, group_rnd_fn rnd, void *arg, uint8_t *order);
const char *group_pick_name(enum group_pick how);
/* The strategy named s ("order", "weighted", "least-busy", "latency",
 * "price"), or -1. */
int group_pick_parse(const char *s);

#endif
