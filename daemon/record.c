#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "latency.h"
#include "ladder.h"
#include "record.h"
#include "shared.h"
#include "state.h"
#include "stats.h"
#include "util.h"

bool
route_first_rung(const struct route *r, int i)
{
	if (i == 0)
		return true;
	return route_group(r, 0) >= 0 && route_group(r, i) == route_group(r, 0);
}

/* A group on the first rung: any of its members answers as the first
 * rung. */
bool
record_fell_back(const struct record *r, const struct target *answered)
{
	size_t i;

	if (r->route == NULL)
		return false;
	if (answered == NULL)
		return true;
	for (i = 0; i < r->route->nladder; i++)
		if (r->route->ladder[i] == answered)
			return !route_first_rung(r->route, (int)i);
	return true;
}

double
target_cost(const struct target *t, uint64_t in, uint64_t out)
{
	return ((double)in * t->price.input + (double)out * t->price.output) /
	    1e6;
}

bool
target_priced(const struct target *t)
{
	return t->price.input > 0 || t->price.output > 0;
}

void
record_reason(struct record *r, size_t at, const char *target,
    const char *why)
{
	char item[128], *s = r->reasons;
	size_t len = strlen(s), n;

	n = (size_t)snprintf(item, sizeof(item), "%s=%s%s", target, why,
	    at < len ? "," : "");
	if (at > 0 && at == len && n + 1 < sizeof(item)) {
		memmove(item + 1, item, n + 1);
		item[0] = ',';
		n++;
	}
	if (n >= sizeof(item) || len + n >= sizeof(r->reasons))
		return;		/* full: the first reasons matter most */
	memmove(s + at + n, s + at, len - at + 1);
	memcpy(s + at, item, n);
}

void
record_times(struct record *r, const struct target *t, uint32_t ttft,
    uint32_t total)
{
	struct tstat *ts = stats_target(r->d->stats, t->name);

	latency_add(&ts->lat, now_mono_ms(), ttft, total);
	shared_latency_add(r->d->shared, t, ts, ttft, total);
	if (ttft != NO_TIME)
		hist_add(&ts->ttft_h, ttft);
	hist_add(&ts->total_h, total);
}

void
record_attempt(struct record *r, const struct target *t, enum fail_kind fk,
    struct attempt_rec *a)
{
	char labels[1024];

	if (fk != FK_NONE && r->first_from == NULL) {
		r->first_from = t->name;
		r->first_fk = fk;
	}
	if (prom_labels(labels, sizeof(labels), "route", r->route->name,
	    "target", t->name, "outcome", a->cancelled ? "cancelled" :
	    fk == FK_NONE ? "ok" : fail_kind_name(fk), NULL) == 0)
		lset_add(&r->d->stats->attempts, labels, 1);
	if (r->nrec >= RECORDS_MAX)
		return;
	a->target = t->name;
	a->fk = fk;
	r->rec[r->nrec++] = *a;
}

double
record_account(struct record *r, const struct target *t, uint64_t in,
    uint64_t out, bool estimated, bool fallback)
{
	struct tstat *ts = stats_target(r->d->stats, t->name);
	time_t now = time(NULL);
	double cost;

	if (estimated)
		r->tokens_estimated = true;
	cost = target_cost(t, in, out);
	r->last_in = in;
	r->last_out = out;
	r->in_tokens += in;
	r->out_tokens += out;
	r->cost += cost;
	ts->in_tokens += in;
	ts->out_tokens += out;
	ts->spend_usd += cost;
	stats_route(r->d->stats, r->route->name)->spend_usd += cost;
	stats_model_add(r->d->stats, t->provider->name,
	    target_model(t, r->model) ? target_model(t, r->model) : r->model,
	    in, out, cost);
	if (cost > 0) {
		budgets_add(r->d->budgets, r->route_key, cost, now);
		budgets_add(r->d->budgets, r->caller_key, cost, now);
		if (fallback)
			budgets_add(r->d->budgets, r->fallback_key, cost, now);
		shared_budget_add(r->d->shared, (const char *const[]){
		    r->route_key, r->caller_key }, 2, cost, now);
		daemon_hook_spent(r->d);
	}
	return cost;
}

static double
ms_of(uint32_t us)
{
	return us / 1000.0;
}

/* The kernel's figures for one attempt (ebpf/netlat.bpf.c). */
static json_t *
net_json(const struct net_rec *n)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:o?, s:i, s:b}",
	    "network_ms", ms_of(n->network_us),
	    "provider_ms", ms_of(n->provider_us),
	    "wait_ms", ms_of(n->wait_us), "rtt_ms", ms_of(n->srtt_us),
	    "connect_ms", n->new_conn ? json_real(ms_of(n->connect_us)) :
	    NULL, "retransmits", (int)n->retrans, "new_connection",
	    n->new_conn);
}

/* A hedged call: who won, and what the attempt it cancelled cost. */
static json_t *
hedge_json(const struct record *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "winner", r->hedge_winner ?
	    json_string(r->hedge_winner) : json_null());
	if (r->hedge_loser != NULL)
		json_object_set_new(o, "cancelled", json_pack("{s:s, s:f, "
		    "s:{s:I, s:I}}", "target", r->hedge_loser->name,
		    "cost_usd", r->hedge_loser_cost, "tokens", "input",
		    (json_int_t)r->hedge_loser_in, "output",
		    (json_int_t)r->hedge_loser_out));
	return o;
}

static json_t *
attempts_json(const struct record *r)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < r->nrec; i++) {
		const struct attempt_rec *a = &r->rec[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}",
		    "target", a->target,
		    "class", fail_class_name(fail_kind_class(a->fk)),
		    "kind", fail_kind_name(a->fk), "status", a->status,
		    "connect_ms", (int)a->connect_ms,
		    "total_ms", (int)a->total_ms);

		if (o == NULL)
			continue;
		json_object_set_new(o, "first_token_ms", a->first_token_ms ==
		    NO_TIME ? json_null() : json_integer(a->first_token_ms));
		if (a->why[0] != '\0')
			json_object_set_new(o, "error", json_string(a->why));
		if (a->injected[0] != '\0')
			json_object_set_new(o, "injected",
			    json_string(a->injected));
		if (a->hedge)
			json_object_set_new(o, "hedge", json_true());
		if (a->cancelled)
			json_object_set_new(o, "cancelled", json_true());
		if (a->net.have)
			json_object_set_new(o, "net", net_json(&a->net));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* One JSON line per call for the event log and the control socket:
 * names, numbers and reasons, never a header or a body. */
static void
emit(struct record *r)
{
	const struct caller *c = &r->caller;
	struct timespec ts;
	json_t *rec;
	char *line;

	clock_gettime(CLOCK_REALTIME, &ts);
	rec = json_pack("{s:f, s:s, s:s, s:{s:i, s:i, s:i, s:s, s:s, s:s},"
	    " s:s, s:i}",
	    "time", (double)ts.tv_sec + ts.tv_nsec / 1e9,
	    "host", r->host, "route", r->route ? r->route->name : "",
	    "caller", "pid", (int)c->pid, "uid", (int)c->uid, "gid",
	    (int)c->gid, "exe", c->exe, "comm", c->comm, "unit", c->unit,
	    "result", r->result ? r->result : "unknown",
	    "duration_ms", (int)(now_mono_ms() - r->start_ms));
	if (rec == NULL)
		return;
	json_object_set_new(rec, "model", r->model ?
	    json_string(r->model) : json_null());
	if (r->route != NULL) {
		json_object_set_new(rec, "attempts", attempts_json(r));
		json_object_set_new(rec, "served", r->served ?
		    json_string(r->served->name) : json_null());
		json_object_set_new(rec, "fallback", json_boolean(
		    r->served != NULL ? record_fell_back(r, r->served) :
		    r->result != NULL &&
		    strcmp(r->result, "safe-failure") == 0));
		json_object_set_new(rec, "translated", json_boolean(
		    r->served != NULL && r->translated));
		json_object_set_new(rec, "tokens", json_pack("{s:I, s:I, s:b}",
		    "input", (json_int_t)r->in_tokens, "output",
		    (json_int_t)r->out_tokens, "estimated",
		    r->tokens_estimated));
		json_object_set_new(rec, "cost_usd", json_real(r->cost));
		if (r->served != NULL)
			json_object_set_new(rec, "cost_diff_usd", json_real(
			    r->cost - target_cost(r->route->ladder[0],
			    r->last_in, r->last_out)));
		if (r->reasons[0] != '\0')
			json_object_set_new(rec, "reasons",
			    json_string(r->reasons));
		if (r->picks[0] != '\0')
			json_object_set_new(rec, "picks",
			    json_string(r->picks));
		if (r->hedged)
			json_object_set_new(rec, "hedge", hedge_json(r));
	}
	if ((line = json_dumps(rec, JSON_COMPACT)) != NULL)
		daemon_hook_publish(r->d, rec, line, strlen(line));
	free(line);
	json_decref(rec);
}

/* Counted by route, served target and result, by its program, and what
 * its fallback cost beside the primary. */
static void
count(struct record *r)
{
	struct stats *st = r->d->stats;
	const struct caller *c = &r->caller;
	struct rstat *rs;
	struct cstat *cs;
	char labels[1024];
	bool served_later = r->served != NULL &&
	    record_fell_back(r, r->served);

	if (r->route == NULL)
		return;
	rs = stats_route(st, r->route->name);
	cs = stats_caller(st, c->exe[0] ? c->exe : c->comm[0] ? c->comm :
	    "?", (uint32_t)c->uid);
	cs->calls++;
	cs->spend_usd += r->cost;
	if (served_later)
		cs->fallbacks++;
	if (strcmp(r->result, "safe-failure") == 0)
		cs->safe_failures++;
	if (strcmp(r->result, "client-gone") == 0)
		cs->client_gone++;
	if (prom_labels(labels, sizeof(labels), "route", r->route->name,
	    "target", r->served ? r->served->name : "none", "outcome",
	    r->result, NULL) == 0)
		lset_add(&st->requests, labels, 1);
	if (!served_later)
		return;
	rs->fallback_cost_diff_usd += r->cost - target_cost(
	    r->route->ladder[0], r->last_in, r->last_out);
	if (prom_labels(labels, sizeof(labels), "route", r->route->name,
	    "from", r->first_from ? r->first_from :
	    r->route->ladder[0]->name, "to", r->served->name, "class",
	    fail_class_name(fail_kind_class(r->first_fk)), "kind",
	    fail_kind_name(r->first_fk), NULL) == 0)
		lset_add(&st->fallbacks, labels, 1);
}

void
record_end(struct record *r)
{
	count(r);
	emit(r);
	daemon_hook_recorded(r->d, r);
}
