#include <stdio.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "group.h"
#include "ladder.h"
#include "latency.h"
#include "qualify.h"
#include "ratelimit.h"
#include "record.h"
#include "route.h"
#include "shared.h"
#include "state.h"
#include "stats.h"
#include "util.h"

/* A group picking by latency looks at the last minute's answers. */
#define GROUP_LATENCY_WINDOW_MS	60000

static struct tstat *
tstat_of(struct qualify *q, const struct target *t)
{
	return stats_target(q->d->stats, t->name);
}

/* The API an attempt at t speaks: the caller's, where t's provider
 * speaks it; else t's provider's own, translated to. */
static enum dialect
target_dialect(const struct qualify *q, const struct target *t)
{
	return api_for_target(api_of(q->r->dialect), t->provider->dialect);
}

/* Whether a recent p95 breaks the route's SLO. */
static bool
over_slo(const struct policy *p, const struct latency *lat, uint64_t now)
{
	uint32_t v;

	if (p->slo_first_token_ms > 0 && latency_ttft_pct(lat, now,
	    p->slo_window_ms, 95, &v) >= (size_t)p->slo_min_samples &&
	    v > p->slo_first_token_ms)
		return true;
	return p->slo_total_ms > 0 && latency_total_pct(lat, now,
	    p->slo_window_ms, 95, &v) >= (size_t)p->slo_min_samples &&
	    v > p->slo_total_ms;
}

static bool
spent_past(const struct budgets *b, const char *key, double hour,
    double day)
{
	struct spend s;

	if (hour < 0 && day < 0)
		return false;
	s = budgets_get(b, key, time(NULL));
	return (hour >= 0 && s.hour >= hour) || (day >= 0 && s.day >= day);
}

/* A paid fallback (a rung after the first) is out once the route's
 * fallbacks spent their limit; the primary goes on serving. */
static bool
over_fallback_budget(struct qualify *q, const struct target *t)
{
	const struct budget_conf *b = &q->r->route->budget;

	return target_priced(t) && spent_past(q->d->budgets, q->r->fallback_key,
	    b->fallback_hour, b->fallback_day);
}

/* A paid target is out once the route's or the caller's spend reached
 * its limit, or when this call alone would pass the per-call one. */
static bool
over_budget(struct qualify *q, const struct target *t)
{
	const struct budget_conf *b = &q->r->route->budget;

	if (!target_priced(t))
		return false;
	if (b->call >= 0 && target_cost(t, q->est_in, q->max_out) > b->call)
		return true;
	return spent_past(q->d->budgets, q->r->route_key, b->hour,
	    b->day) || spent_past(q->d->budgets, q->r->caller_key,
	    b->caller_hour, b->caller_day);
}

/* A rung after the first is a fallback: the route may cap what it costs
 * or name the only targets it may be. */
static bool
fallback_allowed(const struct route *r, const struct target *t)
{
	size_t i;

	if (r->policy.fallback_max_price >= 0 &&
	    (t->price.input > r->policy.fallback_max_price ||
	    t->price.output > r->policy.fallback_max_price))
		return false;
	if (r->nfallback_set == 0)
		return true;
	for (i = 0; i < r->nfallback_set; i++)
		if (r->fallback_set[i] == t)
			return true;
	return false;
}

static enum fail_kind
skip(struct qualify *q, const struct target *t, enum fail_kind fk,
    const char *why)
{
	if (q->r->first_from == NULL) {
		q->r->first_from = t->name;
		q->r->first_fk = fk;
	}
	tstat_of(q, t)->skipped[fk]++;
	record_reason(q->r, strlen(q->r->reasons), t->name, why);
	return fk;
}

/* Whether the request can be said in API to; it is translated the
 * first time a target of that API is considered. */
static bool
translatable(struct qualify *q, enum dialect to)
{
	struct xlation *xl = &q->x[to];

	if (xl->json != NULL)
		return true;
	if (xl->why[0] != '\0')
		return false;
	xl->info = (struct dialect_info){
		.from = q->r->dialect,
		.to = to,
		.created = (int64_t)time(NULL),
	};
	xl->json = dialect_request(q->json, &xl->info, xl->why);
	if (xl->json == NULL && xl->why[0] == '\0')
		snprintf(xl->why, sizeof(xl->why), "%s", "unknown");
	return xl->json != NULL;
}

enum fail_kind
qualify_target(const struct target *t, int i, bool strict, void *arg)
{
	struct qualify *q = arg;
	const struct route *r = q->r->route;
	struct tstat *ts = tstat_of(q, t);
	uint64_t now = now_mono_ms(), until;
	char why[DIALECT_WHY_MAX + 16];
	enum dialect to = target_dialect(q, t);
	size_t k;

	if (to != q->r->dialect) {
		if (!translatable(q, to)) {
			snprintf(why, sizeof(why), "dialect:%s",
			    q->x[to].why);
			return skip(q, t, FK_DIALECT, why);
		}
		if (target_model(t, q->r->model) == NULL &&
		    !dialect_same_models(q->r->dialect, to))
			return skip(q, t, FK_DIALECT, "dialect:model");
	}
	if (q->dims > 0 && t->dimensions > 0 &&
	    t->dimensions != q->dims)
		return skip(q, t, FK_DIALECT, "dimensions");
	for (k = 0; k < r->nrequire_tags; k++)
		if (!target_has_tag(t, r->require_tags[k]))
			return skip(q, t, FK_REGION, "tags");
	if (t->context > 0 && q->est_in + q->max_out > t->context)
		return skip(q, t, FK_CONTEXT, "context-window");
	if (!route_first_rung(r, i) && !fallback_allowed(r, t))
		return skip(q, t, FK_BUDGET, "fallback-cap");
	if (!route_first_rung(r, i) && over_fallback_budget(q, t))
		return skip(q, t, FK_BUDGET, "fallback-budget");
	if (over_budget(q, t))
		return skip(q, t, FK_BUDGET, "budget");
	if (t->max_concurrency > 0 && ts->in_flight >= t->max_concurrency)
		return skip(q, t, FK_TECHNICAL, "queue-full");
	/* The provider's capacity, like queue-full: technical.  Passed
	 * over before it answers 429, while the limits its last answer
	 * advertised are spent (or too few tokens are left for this call),
	 * or while a 429's Retry-After lasts. */
	if (ratelimit_near(&ts->rl, now_real_ns() / 1000000, q->est_in,
	    q->max_out, &until) ||
	    ratelimit_local_over(&ts->rl_local, now, t->rpm, t->tpm,
	    q->est_in + q->max_out))
		return skip(q, t, FK_TECHNICAL, "rate-limit");
	/* fleet-rate-limit: on another host's word (its account spent), or
	 * over its rpm or tpm only with the other hosts' calls. */
	if (shared_rate_limited(q->d->shared, t, ts, q->est_in +
	    q->max_out))
		return skip(q, t, FK_TECHNICAL, "fleet-rate-limit");
	/* fleet-slo: over only with the other hosts' samples. */
	if (strict && over_slo(&r->policy, shared_latency_view(q->d->shared,
	    ts), now))
		return skip(q, t, FK_LATENCY, over_slo(&r->policy, &ts->lat,
		    now) ? "slo" : "fleet-slo");
	if (ts->drained)
		return skip(q, t, FK_TECHNICAL, "drained");
	/* Last: in half-open, a yes takes one of the probes.  An open
	 * breaker costs no attempt. */
	if (!breaker_allow(&ts->br, &t->breaker, now)) {
		ts->skipped_open++;
		/* fleet-breaker-open: another host's failures opened it,
		 * and no call from here reached the target. */
		return skip(q, t, FK_TECHNICAL, ts->br.unreachable ?
		    "unreachable" : ts->br.fleet_remote ?
		    "fleet-breaker-open" : "breaker-open");
	}
	return FK_NONE;
}

static uint32_t
group_rnd(void *arg)
{
	(void)arg;
	return arc4random();
}

/* The order this call tries each group's members in, by its pick, on
 * what is known of them now: calls in flight, the median time to first
 * token of the last minute, the price.  The record says it ("picks"). */
void
qualify_group_orders(struct qualify *q, struct ladder *l)
{
	const struct route *r = q->r->route;
	struct group_member m[GROUP_MAX];
	uint8_t order[GROUP_MAX];
	uint64_t now = now_mono_ms();
	size_t g, k, len = 0;
	char *p = q->r->picks;

	for (g = 0; g < r->ngroups; g++) {
		const struct rung_group *rg = &r->groups[g];
		int n;

		for (k = 0; k < rg->n; k++) {
			const struct target *t = r->ladder[rg->first + k];
			struct tstat *ts = tstat_of(q, t);
			uint32_t ms;

			m[k].weight = rg->weight[k];
			m[k].in_flight = ts->in_flight > UINT32_MAX ?
			    UINT32_MAX : (uint32_t)ts->in_flight;
			m[k].latency_ms = latency_ttft_pct(&ts->lat, now,
			    GROUP_LATENCY_WINDOW_MS, 50, &ms) > 0 ? ms :
			    GROUP_NO_LATENCY;
			m[k].price = t->price.input + t->price.output;
		}
		group_order(rg->pick, m, rg->n, group_rnd, NULL, order);
		ladder_group_order(l, g, order);
		n = snprintf(p + len, sizeof(q->r->picks) - len, "%s%s:",
		    g > 0 ? "," : "", group_pick_name(rg->pick));
		for (k = 0; n >= 0 && len + (size_t)n < sizeof(q->r->picks) &&
		    k < rg->n; k++) {
			len += (size_t)n;
			n = snprintf(p + len, sizeof(q->r->picks) - len,
			    "%s%s", k > 0 ? ">" : "",
			    r->ladder[rg->first + order[k]]->name);
		}
		if (n < 0 || len + (size_t)n >= sizeof(q->r->picks)) {
			p[len] = '\0';
			break;
		}
		len += (size_t)n;
	}
}

void
qualify_free(struct qualify *q)
{
	size_t i;

	for (i = 0; i < DIALECTS; i++)
		json_decref(q->x[i].json);
}
