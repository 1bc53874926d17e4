#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "buf.h"
#include "config.h"
#include "control.h"
#include "ctl_proto.h"
#include "state.h"
#include "events.h"
#include "inject.h"
#include "kredir.h"
#include "ladder.h"
#include "log.h"
#include "metrics.h"
#include "netview.h"
#include "relay.h"
#include "server.h"
#include "shared.h"
#include "stats.h"
#include "tlsterm.h"
#include "util.h"

/* What a follower or an events request wants to see; NULL: any. */
struct filter {
	char		*route;
	char		*target;
	char		*klass;
	char		*caller;
};

struct cconn {
	struct watcher	 w;
	struct control	*ctl;
	struct buf	 in;
	struct buf	 out;
	bool		 replied;
	bool		 closed;
	bool		 following;
	bool		 refused;	/* not an admin: told once it asks */
	struct filter	 filter;
	struct cconn	*next_follower;
};

#define NGROUPS_MAX_PEER	256	/* supplementary groups looked at */

struct control {
	struct daemon	*d;
	struct watcher	 w;
	char		*path;
	struct file_id	 id;		/* zeroed when systemd's */
	struct listener_pause pause;	/* out of descriptors */
	struct cconn	*followers;
};

static void
filter_free(struct filter *f)
{
	free(f->route);
	free(f->target);
	free(f->klass);
	free(f->caller);
	memset(f, 0, sizeof(*f));
}

/* "route=R target=T class=C caller=P" (any of them, in any order).
 * 0, or -1 with the word it could not take in why. */
static int
filter_parse(struct filter *f, char *args, char *why, size_t whylen)
{
	static const char *const keys[] = { "route", "target", "class",
		"caller" };
	char **slot[] = { &f->route, &f->target, &f->klass, &f->caller };
	char *word, *save = NULL, *eq;
	size_t i;

	for (word = strtok_r(args, " ", &save); word != NULL;
	    word = strtok_r(NULL, " ", &save)) {
		eq = strchr(word, '=');
		for (i = 0; eq != NULL && i < ARRAY_SIZE(keys); i++)
			if ((size_t)(eq - word) == strlen(keys[i]) &&
			    strncmp(word, keys[i], strlen(keys[i])) == 0)
				break;
		if (eq == NULL || eq[1] == '\0' || i == ARRAY_SIZE(keys)) {
			snprintf(why, whylen, "bad filter '%s': route=, "
			    "target=, class= or caller=", word);
			return -1;
		}
		free(*slot[i]);
		*slot[i] = xstrdup(eq + 1);
	}
	return 0;
}

static bool
str_is(const json_t *j, const char *want)
{
	const char *v = json_string_value(j);

	return v != NULL && strcmp(v, want) == 0;
}

/* Whether a per-call record passes the filter. */
static bool
filter_match(const struct filter *f, const json_t *rec)
{
	const json_t *attempts = json_object_get(rec, "attempts"), *a;
	const json_t *c = json_object_get(rec, "caller");
	bool target = f->target == NULL, klass = f->klass == NULL;
	size_t i;

	if (f->route != NULL && !str_is(json_object_get(rec, "route"),
	    f->route))
		return false;
	if (f->caller != NULL && !caller_is(f->caller,
	    json_string_value(json_object_get(c, "comm")) ?: "",
	    json_string_value(json_object_get(c, "exe")) ?: "",
	    json_string_value(json_object_get(c, "unit")) ?: "",
	    (long)json_integer_value(json_object_get(c, "pid"))))
		return false;
	if (f->target != NULL && str_is(json_object_get(rec, "served"),
	    f->target))
		target = true;
	json_array_foreach(attempts, i, a) {
		if (f->target != NULL && str_is(json_object_get(a, "target"),
		    f->target))
			target = true;
		if (f->klass != NULL && !str_is(json_object_get(a, "kind"),
		    "none") && (str_is(json_object_get(a, "class"), f->klass) ||
		    str_is(json_object_get(a, "kind"), f->klass)))
			klass = true;
	}
	return target && klass;
}

static void
cconn_close(struct cconn *cc)
{
	struct cconn **pp;

	if (cc->closed)
		return;
	cc->closed = true;
	for (pp = &cc->ctl->followers; *pp != NULL; pp = &(*pp)->next_follower)
		if (*pp == cc) {
			*pp = cc->next_follower;
			break;
		}
	filter_free(&cc->filter);
	watcher_del(cc->ctl->d->loop, &cc->w);
	close(cc->w.fd);
	buf_free(&cc->in);
	buf_free(&cc->out);
	loop_defer(cc->ctl->d->loop, free, cc);
}

static void
cconn_flush(struct cconn *cc)
{
	int r = buf_send(&cc->out, cc->w.fd);

	if (r == -EAGAIN) {
		watcher_mod(cc->ctl->d->loop, &cc->w, EPOLLOUT);
		return;
	}
	if (r < 0) {
		cconn_close(cc);
		return;
	}
	buf_reset(&cc->out);
	if (cc->following)
		watcher_mod(cc->ctl->d->loop, &cc->w, EPOLLIN);
	else
		cconn_close(cc);
}

static void
reply(struct cconn *cc, bool ok, const char *payload)
{
	size_t len = strlen(payload);

	cc->replied = true;
	buf_printf(&cc->out, "%s %zu\n", ok ? "OK" : "ERR", len);
	buf_add(&cc->out, payload, len);
	cconn_flush(cc);
}

static void
reply_json(struct cconn *cc, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s == NULL)
		reply(cc, false, "out of memory");
	else
		reply(cc, true, s);
	free(s);
	json_decref(j);
}

static json_t *
status_breaker(const struct target *t, const struct tstat *ts)
{
	uint64_t now = now_mono_ms();
	uint64_t wait = breaker_wait_ms(&ts->br, &t->breaker, now);

	return json_pack("{s:s, s:b, s:b, s:b, s:b, s:I, s:I, s:I}",
	    "state", breaker_state_name(breaker_state(&ts->br, &t->breaker,
	    now)),
	    "manual", ts->br.manual,
	    /* In a fleet: opened by another host's failures; held open
	     * while another host probes. */
	    "from_fleet", ts->br.fleet_remote,
	    "fleet_hold", ts->br.fleet_hold,
	    "unreachable", ts->br.unreachable,
	    "opens", (json_int_t)ts->br.opens,
	    "skipped", (json_int_t)ts->skipped_open,
	    "half_open_in_ms", wait == UINT64_MAX ? (json_int_t)-1 :
	    (json_int_t)wait);
}

static json_t *
pct_ms(const struct samples *s, int pct)
{
	uint32_t us;

	return samples_pct(s, pct, &us) ? json_real(us / 1000.0) : json_null();
}

/* What the kernel saw of the target: the network's share of its answers'
 * wait and the provider's (eBPF), and the way to it (netlink). */
static json_t *
status_net(const struct tstat *ts)
{
	return json_pack("{s:i, s:o, s:o, s:o, s:o, s:f, s:I, s:s?, "
	    "s:b, s:s?}",
	    "samples", (int)ts->network_s.n,
	    "network_ms_p50", pct_ms(&ts->network_s, 50),
	    "network_ms_p95", pct_ms(&ts->network_s, 95),
	    "provider_ms_p50", pct_ms(&ts->provider_s, 50),
	    "provider_ms_p95", pct_ms(&ts->provider_s, 95),
	    "srtt_ms", ts->srtt_us / 1000.0,
	    "retransmits", (json_int_t)ts->retransmits,
	    "address", ts->addr[0] ? ts->addr : NULL,
	    "reachable", !ts->unreachable,
	    "why", ts->unreachable ? ts->net_why : NULL);
}

/* trip/reset/drain/undrain TARGET: a breaker (reset: and the rate
 * limits its answers said), or its share of new calls, by hand. */
static void
handle_target(struct cconn *cc, const char *verb, const char *name)
{
	struct daemon *d = cc->ctl->d;
	const struct target *t = config_target(d->cfg, name);
	struct tstat *ts;

	if (t == NULL) {
		reply(cc, false, "no such target");
		return;
	}
	ts = stats_target(d->stats, t->name);
	if (strcmp(verb, CTL_VERB_TRIP) == 0) {
		breaker_trip(&ts->br, now_mono_ms());
	} else if (strcmp(verb, CTL_VERB_RESET) == 0) {
		/* What the provider said of its limits goes too: the
		 * operator knows better (a raised quota, a new key). */
		breaker_reset(&ts->br);
		ratelimit_init(&ts->rl);
		/* And the fleet's word; a spent account seen next is
		 * told anew. */
		ts->rl_fleet.until_ms = ts->rl_fleet.told_ms = 0;
	} else {
		ts->drained = strcmp(verb, CTL_VERB_DRAIN) == 0;
	}
	if (strcmp(verb, CTL_VERB_TRIP) == 0 ||
	    strcmp(verb, CTL_VERB_RESET) == 0)
		log_info("target %s: breaker %s by hand", t->name,
		    ts->br.state == BREAKER_OPEN ? "tripped" : "reset");
	else
		log_info("target %s: %s by hand (%llu calls on it finish)",
		    t->name, ts->drained ? "drained" : "undrained",
		    (unsigned long long)ts->in_flight);
	reply_json(cc, json_pack("{s:s, s:o, s:b}", "target", t->name,
	    "breaker", status_breaker(t, ts), "drained", ts->drained));
}

/* Nonzero counters by failure kind, {"quality": 2, ...}. */
static json_t *
by_fail_kind(const uint64_t *v)
{
	json_t *o = json_object();
	int k;

	for (k = FK_TECHNICAL; k < FK_COUNT; k++)
		if (v[k] > 0)
			json_object_set_new(o, fail_kind_name((enum fail_kind)k),
			    json_integer((json_int_t)v[k]));
	return o;
}

/* What share of total each failure class has: {"technical": 0.25}. */
static json_t *
rate_by_class(const uint64_t *by_kind, uint64_t total)
{
	uint64_t by_class[FC_CLIENT + 1] = { 0 };
	json_t *o = json_object();
	int k;

	for (k = FK_TECHNICAL; k < FK_COUNT; k++)
		by_class[fail_kind_class((enum fail_kind)k)] += by_kind[k];
	for (k = FC_TECHNICAL; k <= FC_CLIENT; k++)
		if (by_class[k] > 0 && total > 0)
			json_object_set_new(o, fail_class_name(
			    (enum fail_class)k), json_real((double)by_class[k] /
			    (double)total));
	return o;
}

static json_t *
pct_or_null(size_t (*fn)(const struct latency *, uint64_t, uint64_t, int,
    uint32_t *), const struct latency *l, uint64_t now, int pct)
{
	uint32_t v;

	return fn(l, now, 0, pct, &v) > 0 ? json_integer(v) : json_null();
}

/* Recent times, over the samples the target keeps. */
static json_t *
status_latency(const struct latency *l)
{
	uint64_t now = now_mono_ms();

	return json_pack("{s:i, s:o, s:o, s:o, s:o}", "samples",
	    (int)l->count,
	    "first_token_p50_ms", pct_or_null(latency_ttft_pct, l, now, 50),
	    "first_token_p95_ms", pct_or_null(latency_ttft_pct, l, now, 95),
	    "total_p50_ms", pct_or_null(latency_total_pct, l, now, 50),
	    "total_p95_ms", pct_or_null(latency_total_pct, l, now, 95));
}

static json_t *
status_spend(struct daemon *d, const char *kind, const char *name)
{
	char key[400];
	struct spend s;

	snprintf(key, sizeof(key), "%s:%s", kind, name);
	s = budgets_get(d->budgets, key, time(NULL));
	return json_pack("{s:f, s:f}", "hour_usd", s.hour, "day_usd", s.day);
}

/* A reload's answer: the file, and its warnings, so that whoever
 * reloaded sees them and not only the log. */
static json_t *
reload_reply(const struct config *c)
{
	json_t *w = json_array();
	size_t i;

	for (i = 0; i < c->nwarnings; i++)
		json_array_append_new(w, json_string(c->warnings[i]));
	return json_pack("{s:s, s:o, s:I}", "config", c->path, "warnings", w,
	    "warnings_dropped", (json_int_t)c->warnings_dropped);
}

/* Connections llmfb let be, by why: {"tls-not-virtual": 3}. */
static json_t *
status_unserved(const struct daemon *d)
{
	const struct lset *u = &d->stats->unserved;
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < u->n; i++) {
		/* The labels are why="...", escaped: no quote inside. */
		const char *l = u->v[i].labels, *e;

		if (strncmp(l, "why=\"", 5) != 0 ||
		    (e = strchr(l + 5, '"')) == NULL)
			continue;
		char why[64];

		snprintf(why, sizeof(why), "%.*s", (int)(e - l - 5), l + 5);
		json_object_set_new(o, why,
		    json_integer((json_int_t)u->v[i].v));
	}
	return o;
}

/* The provider's limits as its last answers advertised them: per window
 * that was, its limit, what is left and when it resets (in ms from now);
 * whether the ladder passes the target over now, and until when. */
static json_t *
status_ratelimit(const struct target *t, const struct tstat *ts)
{
	static const char *const names[RL_KINDS] = { "requests", "tokens",
		"input_tokens", "output_tokens" };
	uint64_t now = now_real_ns() / 1000000, until;
	json_t *o = json_object(), *w;
	bool near = ratelimit_near(&ts->rl, now, 0, 0, &until);
	int k;

	for (k = 0; k < RL_KINDS; k++) {
		const struct rl_window *rw = &ts->rl.w[k];

		if (rw->remaining == RL_UNKNOWN && rw->limit == RL_UNKNOWN)
			continue;
		w = json_object();
		if (rw->limit != RL_UNKNOWN)
			json_object_set_new(w, "limit",
			    json_integer((json_int_t)rw->limit));
		if (rw->remaining != RL_UNKNOWN)
			json_object_set_new(w, "remaining",
			    json_integer((json_int_t)rw->remaining));
		if (rw->reset_ms != 0)
			json_object_set_new(w, "reset_ms", json_integer(
			    rw->reset_ms > now ?
			    (json_int_t)(rw->reset_ms - now) : 0));
		json_object_set_new(o, names[k], w);
	}
	json_object_set_new(o, "limited", json_boolean(near));
	if (near && until > now)
		json_object_set_new(o, "limited_ms",
		    json_integer((json_int_t)(until - now)));
	json_object_set_new(o, "headroom",
	    json_real(ratelimit_headroom(&ts->rl, now)));
	json_object_set_new(o, "answered_429",
	    json_integer((json_int_t)ts->rl_429s));
	/* The configured ones, counted here over the current minute and
	 * the one before. */
	if (t->rpm > 0 || t->tpm > 0)
		json_object_set_new(o, "configured", json_pack(
		    "{s:I, s:I, s:I, s:I}", "rpm", (json_int_t)t->rpm,
		    "tpm", (json_int_t)t->tpm, "requests",
		    (json_int_t)(ts->rl_local.req[0] + ts->rl_local.req[1]),
		    "tokens",
		    (json_int_t)(ts->rl_local.tok[0] + ts->rl_local.tok[1])));
	/* In a fleet: another host's word on its account, and the fleet's
	 * count of it (this minute and the one before). */
	if (ts->rl_fleet.until_ms > now || ts->rl_fleet.count.start_ms != 0) {
		w = json_pack("{s:s, s:I, s:I}", "account",
		    target_account(t), "requests",
		    (json_int_t)(ts->rl_fleet.count.req[0] +
		    ts->rl_fleet.count.req[1]), "tokens",
		    (json_int_t)(ts->rl_fleet.count.tok[0] +
		    ts->rl_fleet.count.tok[1]));
		if (ts->rl_fleet.until_ms > now) {
			json_object_set_new(w, "limited_ms", json_integer(
			    (json_int_t)(ts->rl_fleet.until_ms - now)));
			json_object_set_new(w, "from",
			    json_string(ts->rl_fleet.from));
			json_object_set_new(w, "why",
			    json_string(ts->rl_fleet.why));
		}
		json_object_set_new(o, "fleet", w);
	}
	return o;
}

static json_t *
status_targets(struct daemon *d)
{
	const struct config *c = d->cfg;
	json_t *arr = json_array();
	size_t i, k;

	for (i = 0; i < c->ntargets; i++) {
		const struct target *t = &c->targets[i];
		struct tstat *ts = stats_target(d->stats, t->name);
		json_t *kinds = json_object(), *v;

		for (k = 0; k < OUTCOME_KINDS; k++) {
			struct outcome o = { .kind = (enum outcome_kind)k };

			if (ts->by_kind[k] > 0 && k != OUT_OK)
				json_object_set_new(kinds, outcome_name(&o),
				    json_integer((json_int_t)ts->by_kind[k]));
		}
		for (k = 1; k < 6; k++) {
			char key[8];

			if (ts->by_status[k] == 0)
				continue;
			snprintf(key, sizeof(key), "%zuxx", k);
			json_object_set_new(kinds, key,
			    json_integer((json_int_t)ts->by_status[k]));
		}
		json_array_append_new(arr, json_pack(
		    "{s:s, s:s, s:s, s:s?, s:s, s:I, s:I, s:I, s:I, s:o, s:s?,"
		    " s:o, s:o, s:o, s:o, s:I, s:{s:I, s:I}, s:f, s:{s:f, s:f}}",
		    "name", t->name, "provider", t->provider->name,
		    "dialect", dialect_name(t->provider->dialect),
		    "model", t->model, "base_url", t->provider->base_url,
		    "attempts", (json_int_t)ts->attempts,
		    "served", (json_int_t)ts->served,
		    "fallback_served", (json_int_t)ts->fallback_served,
		    "failures", (json_int_t)ts->failures,
		    "failures_by", kinds,
		    "last_failure", ts->last_failure[0] ?
		    ts->last_failure : NULL,
		    "breaker", status_breaker(t, ts),
		    "failures_by_kind", by_fail_kind(ts->by_fail),
		    "skipped", by_fail_kind(ts->skipped),
		    "latency", status_latency(&ts->lat),
		    "in_flight", (json_int_t)ts->in_flight,
		    "tokens", "input", (json_int_t)ts->in_tokens,
		    "output", (json_int_t)ts->out_tokens,
		    "spend_usd", ts->spend_usd,
		    "price", "input", t->price.input, "output",
		    t->price.output));
		v = json_array_get(arr, json_array_size(arr) - 1);
		json_object_set_new(v, "error_rate_by_class",
		    rate_by_class(ts->by_fail, ts->attempts));
		json_object_set_new(v, "drained", json_boolean(ts->drained));
		/* In a fleet sharing latency: the samples SLOs are judged
		 * on, this host's and the others'. */
		if (d->shared != NULL && d->cfg->shared != NULL &&
		    d->cfg->shared->latency)
			json_object_set_new(v, "fleet_latency",
			    status_latency(&ts->fleet_lat));
		json_object_set_new(v, "injected",
		    json_integer((json_int_t)ts->injected));
		json_object_set_new(v, "network", status_net(ts));
		json_object_set_new(v, "rate_limit",
		    status_ratelimit(t, ts));
	}
	return arr;
}

/* A route's groups: each member, its weight, the answers it served
 * (on any route) and its share of its group's. */
static json_t *
status_groups(struct daemon *d, const struct route *r)
{
	json_t *arr = json_array();
	size_t g, k;

	for (g = 0; g < r->ngroups; g++) {
		const struct rung_group *rg = &r->groups[g];
		json_t *members = json_array();
		uint64_t total = 0;

		for (k = 0; k < rg->n; k++)
			total += stats_target(d->stats,
			    r->ladder[rg->first + k]->name)->served;
		for (k = 0; k < rg->n; k++) {
			const struct target *t = r->ladder[rg->first + k];
			const struct tstat *ts = stats_target(d->stats,
			    t->name);

			json_array_append_new(members, json_pack(
			    "{s:s, s:I, s:I, s:I, s:f, s:o}", "name", t->name,
			    "weight", (json_int_t)rg->weight[k],
			    "in_flight", (json_int_t)ts->in_flight,
			    "served", (json_int_t)ts->served,
			    "share", total ? (double)ts->served /
			    (double)total : 0.0,
			    "rate_limit", status_ratelimit(t, ts)));
		}
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o}",
		    "pick", group_pick_name(rg->pick), "on_member_failure",
		    rg->next_rung ? "next_rung" : "next_member",
		    "members", members));
	}
	return arr;
}

/* A route's hedging: what it is set to, and what came of it. */
static json_t *
status_hedge(const struct rstat *rs, const struct policy *p)
{
	char after[32];

	if (p->hedge_pct > 0)
		snprintf(after, sizeof(after), "p%d", p->hedge_pct);
	else
		snprintf(after, sizeof(after), "%llums",
		    (unsigned long long)p->hedge_after_ms);
	return json_pack("{s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:f}",
	    "after", after, "floor_ms", (json_int_t)p->hedge_floor_ms,
	    "max_percent", p->hedge_max_percent,
	    "started", (json_int_t)rs->hedges,
	    "won", (json_int_t)rs->hedges_won,
	    "cancelled", (json_int_t)rs->hedges_cancelled,
	    "capped", (json_int_t)rs->hedges_capped,
	    "rate", rs->calls ? (double)rs->hedges / (double)rs->calls : 0.0);
}

static json_t *
status_routes(struct daemon *d)
{
	const struct config *c = d->cfg;
	json_t *arr = json_array();
	size_t i, k;

	for (i = 0; i < c->nroutes; i++) {
		const struct route *r = &c->routes[i];
		struct rstat *rs = stats_route(d->stats, r->name);
		json_t *ladder = json_array(), *v;

		for (k = 0; k < r->nladder; k++)
			json_array_append_new(ladder,
			    json_string(r->ladder[k]->name));
		json_array_append_new(arr, json_pack(
		    "{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:f,"
		    " s:o}",
		    "name", r->name, "ladder", ladder,
		    "calls", (json_int_t)rs->calls,
		    "fallbacks", (json_int_t)rs->fallbacks,
		    "safe_failures", (json_int_t)rs->safe_failures,
		    "errors_passed_on", (json_int_t)rs->delivered_errors,
		    "client_gone", (json_int_t)rs->client_gone,
		    "fallbacks_by_kind", by_fail_kind(rs->fallback_by),
		    "midstream_continued", (json_int_t)rs->midstream_continued,
		    "midstream_errors", (json_int_t)rs->midstream_errors,
		    "spend_usd", rs->spend_usd,
		    "budget", status_spend(d, "route", r->name)));
		v = json_array_get(arr, json_array_size(arr) - 1);
		json_object_set_new(v, "fallback_rate_by_class",
		    rate_by_class(rs->fallback_by, rs->calls));
		json_object_set_new(v, "client_gone_fell_back",
		    json_integer((json_int_t)rs->client_gone_fell_back));
		json_object_set_new(v, "fallback_cost_diff_usd",
		    json_real(rs->fallback_cost_diff_usd));
		/* What its fallbacks spent, for budget.fallback_*. */
		json_object_set_new(v, "fallback_budget",
		    status_spend(d, "fallback", r->name));
		if (r->ngroups > 0)
			json_object_set_new(v, "groups", status_groups(d, r));
		if (r->policy.hedge_on)
			json_object_set_new(v, "hedge", status_hedge(rs,
			    &r->policy));
	}
	return arr;
}

/* Programs, busiest first is the reader's choice: in order seen. */
static json_t *
status_callers(struct daemon *d)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < d->stats->nc; i++) {
		const struct cstat *c = &d->stats->c[i];

		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I,"
		    " s:I, s:f}", "program", c->name, "uid",
		    c->uid == UINT32_MAX ? (json_int_t)-1 : (json_int_t)c->uid,
		    "calls", (json_int_t)c->calls,
		    "fallbacks", (json_int_t)c->fallbacks,
		    "safe_failures", (json_int_t)c->safe_failures,
		    "client_gone", (json_int_t)c->client_gone,
		    "spend_usd", c->spend_usd));
	}
	return arr;
}

static void
fault_ended(const struct fault *f)
{
	char name[FAULT_NAME_MAX];

	fault_name(f, name, sizeof(name));
	log_info("fault %u on %s (%s) ended: put in %llu attempts", f->id,
	    f->target, name, (unsigned long long)f->hits);
}

static json_t *
fault_json(const struct fault *f, uint64_t now)
{
	char name[FAULT_NAME_MAX];

	fault_name(f, name, sizeof(name));
	return json_pack("{s:i, s:s, s:s, s:s?, s:s?, s:I, s:I, s:I}",
	    "id", (int)f->id, "target", f->target, "fault", name,
	    "route", f->route, "caller", f->caller,
	    "since", (json_int_t)f->since,
	    "ends_in_ms", (json_int_t)(f->until_ms > now ?
	    f->until_ms - now : 0), "hits", (json_int_t)f->hits);
}

static json_t *
status_faults(struct daemon *d)
{
	uint64_t now = now_mono_ms();
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < d->faults.n; i++)
		json_array_append_new(arr, fault_json(&d->faults.v[i], now));
	return arr;
}

static size_t
followers(const struct control *ctl)
{
	const struct cconn *cc;
	size_t n = 0;

	for (cc = ctl ? ctl->followers : NULL; cc != NULL;
	    cc = cc->next_follower)
		n++;
	return n;
}

/* The local CA: whether it is up, where its public parts are for
 * programs (llmfbctl run), and what terminating TLS with it came to. */
static json_t *
status_ca(const struct daemon *d)
{
	const struct config *c = d->cfg;
	const struct lset *u = &d->stats->terminated;
	json_t *o, *counts = json_object();
	char path[4096];
	size_t i;

	for (i = 0; i < u->n; i++) {
		const char *l = u->v[i].labels, *e;
		char key[64];

		if (strncmp(l, "result=\"", 8) != 0 ||
		    (e = strchr(l + 8, '"')) == NULL)
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(e - (l + 8)), l + 8);
		json_object_set_new(counts, key,
		    json_integer((json_int_t)u->v[i].v));
	}
	o = json_pack("{s:b, s:b, s:s, s:o, s:I}",
	    "enabled", c->ca_enabled, "loaded", d->ca != NULL,
	    "dir", c->ca_dir, "terminated", counts,
	    "open", (json_int_t)terms_open(d->terms));
	if (d->ca_error[0] != '\0')
		json_object_set_new(o, "error", json_string(d->ca_error));
	if (d->ca != NULL) {
		snprintf(path, sizeof(path), "%s.ca.pem", c->listen);
		json_object_set_new(o, "cert", json_string(path));
		snprintf(path, sizeof(path), "%s.ca-bundle.pem", c->listen);
		json_object_set_new(o, "bundle", json_string(path));
	}
	return o;
}

json_t *
control_status(struct daemon *d)
{
	const struct config *c = d->cfg;
	json_t *hosts = json_array(), *st;
	size_t i;

	for (i = 0; i < c->nintercept; i++)
		json_array_append_new(hosts, json_string(c->intercept[i]));
	st = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, "
	    "s:o, s:I, s:o, s:o, s:o, s:o}",
	    "version", LLMFB_VERSION,
	    "pid", (json_int_t)getpid(),
	    "uptime_s", (json_int_t)(time(NULL) - d->started),
	    "config", c->path, "listen", c->listen, "control", c->control,
	    "intercept", hosts,
	    "reloads", (json_int_t)d->reloads,
	    "reload_failures", (json_int_t)d->reload_failures,
	    "clients", (json_int_t)server_clients(d->server),
	    "accepted", (json_int_t)server_accepted(d->server),
	    "refused", (json_int_t)server_refused(d->server),
	    "relays", (json_int_t)relays_open(d->relays),
	    "timed_out", (json_int_t)server_timed_out(d->server),
	    "calls", (json_int_t)d->stats->calls,
	    "in_flight", (json_int_t)d->stats->in_flight,
	    "passthrough", (json_int_t)d->stats->passthrough,
	    "rejected", (json_int_t)d->stats->rejected,
	    "targets", status_targets(d),
	    "unserved", status_unserved(d),
	    "routes", status_routes(d),
	    "callers", status_callers(d),
	    "faults", status_faults(d),
	    "followers", (json_int_t)followers(d->control),
	    "ebpf", netview_status_ebpf(d->netview),
	    "network", netview_status_network(d->netview),
	    "ca", status_ca(d),
	    "redirect", kredir_status(d->kredir));
	/* null when not in a fleet (llmfbctl status --fleet). */
	if (st != NULL)
		json_object_set_new(st, "fleet", shared_status(d->shared));
	return st;
}

/* events [N] [FILTER...]: the latest N records that pass, oldest
 * first. */
static void
handle_events(struct cconn *cc, char *args)
{
	const char *lines[EVENTS_RING];
	struct filter f = { 0 };
	json_t *arr = json_array(), *ev;
	char why[128], *rest = args;
	uint64_t n = 20;
	size_t i, got, first;

	if (args != NULL && args[0] >= '0' && args[0] <= '9') {
		rest = strchr(args, ' ');
		if (rest != NULL)
			*rest++ = '\0';
		if (parse_u64(args, 1, EVENTS_RING, &n) < 0) {
			json_decref(arr);
			reply(cc, false, "events: N is a number from 1 to 256");
			return;
		}
	}
	if (rest != NULL && filter_parse(&f, rest, why, sizeof(why)) < 0) {
		filter_free(&f);
		json_decref(arr);
		reply(cc, false, why);
		return;
	}
	got = events_latest(cc->ctl->d->events, EVENTS_RING, lines,
	    EVENTS_RING);
	for (i = 0; i < got; i++) {
		ev = json_loads(lines[i], 0, NULL);
		if (ev != NULL && filter_match(&f, ev))
			json_array_append_new(arr, ev);
		else
			json_decref(ev);
	}
	filter_free(&f);
	first = json_array_size(arr) > n ? json_array_size(arr) - n : 0;
	for (i = 0; i < first; i++)
		json_array_remove(arr, 0);
	reply_json(cc, json_pack("{s:I, s:o}", "total",
	    (json_int_t)events_total(cc->ctl->d->events), "events", arr));
}

/* follow [FILTER...]: the connection stays open and gets each record. */
static void
handle_follow(struct cconn *cc, char *args)
{
	char why[128];

	if (args != NULL && filter_parse(&cc->filter, args, why,
	    sizeof(why)) < 0) {
		reply(cc, false, why);
		return;
	}
	cc->replied = true;
	cc->following = true;
	cc->next_follower = cc->ctl->followers;
	cc->ctl->followers = cc;
	buf_addstr(&cc->out, CTL_FOLLOW_OK);
	cconn_flush(cc);
}

void
control_publish(struct control *ctl, const json_t *rec, const char *line,
    size_t len)
{
	struct cconn *cc, *next;
	json_t *tree = NULL;

	if (ctl == NULL || ctl->followers == NULL)
		return;
	/* A record written without a tree is read into one only when
	 * someone follows. */
	if (rec == NULL && (rec = tree = json_loadb(line, len, 0,
	    NULL)) == NULL)
		return;
	for (cc = ctl->followers; cc != NULL; cc = next) {
		next = cc->next_follower;
		if (!filter_match(&cc->filter, rec))
			continue;
		/* One that cannot keep up is let go, never waited for. */
		if (buf_pending(&cc->out) + len + 1 > CTL_FOLLOW_MAX ||
		    buf_add(&cc->out, line, len) < 0 ||
		    buf_addstr(&cc->out, "\n") < 0) {
			log_info("control: a follower fell behind; closing it");
			cconn_close(cc);
			continue;
		}
		cconn_flush(cc);
	}
	json_decref(tree);
}

static void
faults_timer_fired(struct timer *t)
{
	struct daemon *d = t->arg;
	uint64_t next;

	faults_expire(&d->faults, now_mono_ms(), fault_ended);
	if ((next = faults_next_end(&d->faults)) != 0)
		timer_set(d->loop, &d->faults_timer, next - now_mono_ms() + 1);
}

/* inject TARGET FAULT [for=S] [route=R] [caller=P] */
static void
handle_inject(struct cconn *cc, char *args)
{
	struct daemon *d = cc->ctl->d;
	char *target, *spec, *word, *save = NULL, why[160];
	const char *route = NULL, *caller = NULL, *w;
	uint64_t for_s = FAULT_FOR_DEFAULT_S, now = now_mono_ms();
	enum fault_kind kind;
	struct fault *f;
	uint32_t arg;

	target = strtok_r(args, " ", &save);
	spec = strtok_r(NULL, " ", &save);
	if (target == NULL || spec == NULL) {
		reply(cc, false, "inject TARGET FAULT [for=SECONDS] "
		    "[route=ROUTE] [caller=PROGRAM]");
		return;
	}
	if (config_target(d->cfg, target) == NULL) {
		reply(cc, false, "no such target");
		return;
	}
	if (fault_parse(spec, &kind, &arg, &w) < 0) {
		reply(cc, false, w);
		return;
	}
	while ((word = strtok_r(NULL, " ", &save)) != NULL) {
		if (strncmp(word, "for=", 4) == 0 &&
		    parse_u64(word + 4, 1, FAULT_FOR_MAX_S, &for_s) == 0)
			continue;
		if (strncmp(word, "route=", 6) == 0 && word[6] != '\0') {
			route = word + 6;
			continue;
		}
		if (strncmp(word, "caller=", 7) == 0 && word[7] != '\0') {
			caller = word + 7;
			continue;
		}
		snprintf(why, sizeof(why), "bad option '%s': for=SECONDS (1 "
		    "to 86400), route=ROUTE or caller=PROGRAM", word);
		reply(cc, false, why);
		return;
	}
	if (route != NULL && config_route(d->cfg, route) == NULL) {
		reply(cc, false, "no such route");
		return;
	}
	f = faults_add(&d->faults, target, kind, arg, route, caller,
	    for_s * 1000, now);
	if (f == NULL) {
		reply(cc, false, "too many faults at once");
		return;
	}
	fault_name(f, why, sizeof(why));
	log_info("fault %u on %s: %s for %llus (route %s, caller %s)", f->id,
	    target, why, (unsigned long long)for_s, route ? route : "any",
	    caller ? caller : "any");
	timer_set(d->loop, &d->faults_timer,
	    faults_next_end(&d->faults) - now + 1);
	reply_json(cc, fault_json(f, now));
}

/* uninject ID|all */
static void
handle_uninject(struct cconn *cc, const char *arg)
{
	struct daemon *d = cc->ctl->d;
	uint64_t id = 0;
	size_t gone;

	if (strcmp(arg, "all") != 0 && parse_u64(arg, 1, UINT32_MAX, &id) <
	    0) {
		reply(cc, false, "uninject ID|all");
		return;
	}
	gone = faults_remove(&d->faults, (unsigned)id);
	if (id != 0 && gone == 0) {
		reply(cc, false, "no such fault");
		return;
	}
	log_info("%zu fault%s ended by hand", gone, gone == 1 ? "" : "s");
	reply_json(cc, json_pack("{s:I}", "ended", (json_int_t)gone));
}

/* metrics: the exposition as text, the one reply that is not JSON. */
static void
handle_metrics(struct cconn *cc)
{
	struct buf text;

	buf_init(&text, CTL_REPLY_MAX);
	if (metrics_render(cc->ctl->d, &text) < 0)
		reply(cc, false, "metrics: too large");
	else
		reply(cc, true, text.data ? text.data : "");
	buf_free(&text);
}

static void
handle(struct cconn *cc, char *line)
{
	struct daemon *d = cc->ctl->d;
	char err[CONFIG_ERR_MAX], *arg;

	if (cc->refused) {
		log_warnx("control: refused a peer that is neither root nor in "
		    "control_group");
		reply(cc, false, "permission denied");
		return;
	}
	if ((arg = strchr(line, ' ')) != NULL)
		*arg++ = '\0';
	if (strcmp(line, CTL_VERB_STATUS) == 0 && arg == NULL) {
		reply_json(cc, control_status(d));
	} else if (strcmp(line, CTL_VERB_VERSION) == 0 && arg == NULL) {
		reply_json(cc, json_pack("{s:s}", "version", LLMFB_VERSION));
	} else if (strcmp(line, CTL_VERB_RELOAD) == 0 && arg == NULL) {
		if (d->hooks == NULL || d->hooks->reload == NULL ||
		    d->hooks->reload(d, err, sizeof(err)) < 0) {
			log_warnx("reload refused, keeping the running "
			    "config: %s", err);
			reply(cc, false, err);
		} else
			reply_json(cc, reload_reply(d->cfg));
	} else if (strcmp(line, CTL_VERB_METRICS) == 0 && arg == NULL) {
		handle_metrics(cc);
	} else if (strcmp(line, CTL_VERB_BYPASS) == 0 && arg == NULL) {
		reply_json(cc, json_pack("{s:o, s:o}", "watch",
		    netview_status_ebpf(d->netview), "programs",
		    netview_bypass(d->netview)));
	} else if (strcmp(line, CTL_VERB_EVENTS) == 0) {
		handle_events(cc, arg);
	} else if (strcmp(line, CTL_VERB_FOLLOW) == 0) {
		handle_follow(cc, arg);
	} else if (arg != NULL && (strcmp(line, CTL_VERB_TRIP) == 0 ||
	    strcmp(line, CTL_VERB_RESET) == 0 ||
	    strcmp(line, CTL_VERB_DRAIN) == 0 ||
	    strcmp(line, CTL_VERB_UNDRAIN) == 0)) {
		handle_target(cc, line, arg);
	} else if (strcmp(line, CTL_VERB_INJECT) == 0 && arg != NULL) {
		handle_inject(cc, arg);
	} else if (strcmp(line, CTL_VERB_UNINJECT) == 0 && arg != NULL) {
		handle_uninject(cc, arg);
	} else {
		reply(cc, false, "unknown request");
	}
}

static void
cconn_event(struct watcher *w, uint32_t events)
{
	struct cconn *cc = w->arg;
	char chunk[1024], *nl;
	ssize_t n;

	if (cc->closed)
		return;
	if (cc->following && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		/* A follower says nothing more: anything is the end. */
		n = recv(w->fd, chunk, sizeof(chunk), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		cconn_close(cc);
		return;
	}
	if (cc->replied) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			cconn_flush(cc);
		return;
	}
	n = recv(w->fd, chunk, sizeof(chunk), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		cconn_close(cc);
		return;
	}
	if (buf_add(&cc->in, chunk, (size_t)n) < 0) {
		reply(cc, false, "request line too long");
		return;
	}
	if ((nl = memchr(cc->in.data, '\n', cc->in.len)) == NULL)
		return;
	*nl = '\0';
	handle(cc, cc->in.data);
}

static bool
admin_gid(const struct config *c, gid_t g)
{
	size_t i;

	for (i = 0; i < c->ncontrol_gids; i++)
		if (c->control_gids[i] == g)
			return true;
	return false;
}

/* Root, the daemon's own user, and the control groups' members (by the
 * peer's primary or supplementary groups).  The socket's mode says the
 * same; this holds even if someone loosens the mode. */
static bool
peer_allowed(int fd, const struct config *c)
{
	gid_t groups[NGROUPS_MAX_PEER];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	size_t i, n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	if (c->ncontrol_gids == 0)
		return false;
	if (admin_gid(c, cred.gid))
		return true;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;	/* more groups than we look at: no */
	n = len / sizeof(groups[0]);
	for (i = 0; i < n; i++)
		if (admin_gid(c, groups[i]))
			return true;
	return false;
}

static void
control_accept(struct watcher *w, uint32_t events)
{
	struct control *ctl = w->arg;
	struct cconn *cc;
	int fd;

	(void)events;
	while ((fd = accept4(w->fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		cc = xcalloc(1, sizeof(*cc));
		cc->ctl = ctl;
		cc->w.fd = fd;
		cc->w.cb = cconn_event;
		cc->w.arg = cc;
		cc->w.events = EPOLLIN;
		buf_init(&cc->in, CTL_LINE_MAX);
		buf_init(&cc->out, CTL_REPLY_MAX + 64);
		if (watcher_add(ctl->d->loop, &cc->w) < 0) {
			close(fd);
			buf_free(&cc->in);
			buf_free(&cc->out);
			free(cc);
			continue;
		}
		/* Told after its request is read: a socket closed with
		 * unread bytes would reset the connection, reply and all. */
		cc->refused = !peer_allowed(fd, ctl->d->cfg);
	}
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM) {
		listener_pause(&ctl->pause, "control");
	}
}

struct control *
control_new(struct daemon *d, const char *path, int fd)
{
	const struct config *c = d->cfg;
	struct control *ctl;
	bool handed = fd >= 0;
	struct file_id id;

	if ((fd = unix_listener(path, c->ncontrol_gids ? 0660 : 0600,
	    fd, &id)) < 0) {
		errno = -fd;
		log_warn("control socket %s", path);
		return NULL;
	}
	if (!handed && c->ncontrol_gids > 0 &&
	    chown(path, (uid_t)-1, c->control_gids[0]) < 0)
		log_warn("control socket %s: chgrp %u (members get in only "
		    "if they can reach it)", path, c->control_gids[0]);
	timer_init(&d->faults_timer, faults_timer_fired, d);
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->d = d;
	ctl->id = id;
	ctl->path = xstrdup(path);
	ctl->w.fd = fd;
	ctl->w.cb = control_accept;
	ctl->w.arg = ctl;
	ctl->w.events = EPOLLIN;
	listener_pause_init(&ctl->pause, d->loop, &ctl->w);
	if (watcher_add(d->loop, &ctl->w) < 0) {
		close(fd);
		free(ctl->path);
		free(ctl);
		return NULL;
	}
	return ctl;
}

void
control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	while (ctl->followers != NULL)
		cconn_close(ctl->followers);
	timer_cancel(ctl->d->loop, &ctl->d->faults_timer);
	faults_clear(&ctl->d->faults);
	listener_pause_cancel(&ctl->pause);
	watcher_del(ctl->d->loop, &ctl->w);
	unix_listener_close(ctl->w.fd, ctl->path, &ctl->id);
	free(ctl->path);
	free(ctl);
}
