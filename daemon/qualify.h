/* Whether a target qualifies for a call, and why not: what the ladder
 * asks of a rung before it is tried (ladder.h, ladder_usable_fn).  A
 * target passes when the request can be said in its API (translated
 * here, once per API, when a target of it is first considered), its
 * model, dimensions, tags and context window fit, the route's and the
 * caller's budgets allow it, and its queue, rate limits, latency and
 * breaker leave room.  One passed over is counted on its target and
 * named in the call's record ("target=why" in its reasons).  Also the
 * order a call tries each of its route's groups in. */
#ifndef LLMFB_QUALIFY_H
#define LLMFB_QUALIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "config.h"
#include "dialect.h"

struct daemon;
struct ladder;
struct record;

/* Translation, for targets of another API: the request in each (made
 * once, when a target of it is first considered), or why it cannot
 * be. */
struct xlation {
	json_t		*json;
	char		 why[DIALECT_WHY_MAX];
	struct dialect_info info;
};

/* What a call's targets are measured against; the call fills it in
 * before its ladder starts and keeps it to its end. */
struct qualify {
	struct daemon	*d;
	struct record	*r;		/* the call's: route, model, caller's
					 * API, spend keys; skips go here */
	json_t		*json;		/* the request (the call's) */
	uint64_t	 est_in;	/* the request's tokens, roughly */
	uint64_t	 max_out;	/* its max_tokens; 0: not set */
	uint32_t	 dims;		/* vectors' dimensions asked
					 * (api->dimensions); 0: any */
	struct xlation	 x[DIALECTS];	/* the request in each API */
};

/* The ladder's ladder_usable_fn (arg: the struct qualify): FK_NONE when
 * t, at rung i, may be tried now; else why not, noted in the record. */
enum fail_kind qualify_target(const struct target *t, int i, bool strict,
    void *arg);
/* The order this call tries each group's members in, by its pick, set
 * in l and said in the record's picks. */
void qualify_group_orders(struct qualify *q, struct ladder *l);
/* Free the translations. */
void qualify_free(struct qualify *q);

#endif
