#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "breaker.h"
#include "buf.h"
#include "config.h"
#include "ctl_proto.h"
#include "log.h"
#include "metrics.h"
#include "otel.h"
#include "server.h"
#include "state.h"
#include "shared.h"
#include "stats.h"
#include "util.h"

/* ---- rendering ---------------------------------------------------------- */

/* The first failure to append sticks, so the families below need not
 * check each line; metrics_render undoes a partial exposition. */
struct prom {
	struct buf	*b;
	int		 err;
};

/* A label set: a target's or route's name with room for more. */
#define LABELS_MAX	256

static void
put(struct prom *p, const char *s)
{
	if (p->err == 0 && buf_addstr(p->b, s) < 0)
		p->err = -1;
}

/* Counters are whole numbers and print as such ("3", never "3e+00");
 * anything else prints as the shortest text that reads back as the
 * same double ("0.025", not "0.025000000000000001"). */
static void
fmt_double(char *out, size_t len, double v)
{
	int prec;

	if (isnan(v)) {
		snprintf(out, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v > -1e15 && v < 1e15 && (double)(long long)v == v) {
		snprintf(out, len, "%lld", (long long)v);
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(out, len, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
	snprintf(out, len, "%.17g", v);
}

/* Money: US dollars to the nano-dollar (a token at $0.001 per million
 * costs one), never the binary noise of a sum of doubles
 * ("0.30000000000000004"): fixed decimals, trailing zeros trimmed. */
static void
fmt_usd(char *out, size_t len, double v)
{
	size_t n;

	if (!isfinite(v)) {
		fmt_double(out, len, v);
		return;
	}
	snprintf(out, len, "%.9f", v);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
	if (strcmp(out, "-0") == 0)
		snprintf(out, len, "0");
}

static void
family(struct prom *p, const char *name, const char *type, const char *help)
{
	put(p, "# HELP ");
	put(p, name);
	put(p, " ");
	put(p, help);
	put(p, "\n# TYPE ");
	put(p, name);
	put(p, " ");
	put(p, type);
	put(p, "\n");
}

static void
sample(struct prom *p, const char *name, const char *labels,
    const char *value)
{
	put(p, name);
	if (labels != NULL && labels[0] != '\0') {
		put(p, "{");
		put(p, labels);
		put(p, "}");
	}
	put(p, " ");
	put(p, value);
	put(p, "\n");
}

static void
sample_u(struct prom *p, const char *name, const char *labels, uint64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	sample(p, name, labels, s);
}

static void
sample_d(struct prom *p, const char *name, const char *labels, double v)
{
	char s[32];

	fmt_double(s, sizeof(s), v);
	sample(p, name, labels, s);
}

static void
sample_usd(struct prom *p, const char *name, const char *labels, double v)
{
	char s[48];

	fmt_usd(s, sizeof(s), v);
	sample(p, name, labels, s);
}

static void
scalar(struct prom *p, const char *name, const char *type, const char *help,
    uint64_t v)
{
	family(p, name, type, help);
	sample_u(p, name, NULL, v);
}

/* Buckets cumulative, as Prometheus wants them (h keeps each bucket's
 * own count), bounds in seconds. */
static void
hist(struct prom *p, const char *name, const char *labels,
    const struct hist *h)
{
	char bucket[128], sum[128], count[128], lb[LABELS_MAX + 32], le[32];
	const char *sep = labels[0] != '\0' ? "," : "";
	uint64_t cum = 0;
	size_t i;

	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	snprintf(sum, sizeof(sum), "%s_sum", name);
	snprintf(count, sizeof(count), "%s_count", name);
	for (i = 0; i < HIST_BUCKETS; i++) {
		cum += h->b[i];
		if (i < HIST_BUCKETS - 1)
			fmt_double(le, sizeof(le), hist_bounds(h)[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		snprintf(lb, sizeof(lb), "%s%sle=\"%s\"", labels, sep, le);
		sample_u(p, bucket, lb, cum);
	}
	sample_d(p, sum, labels, h->sum_s);
	sample_u(p, count, labels, h->count);
}

static void
lset_render(struct prom *p, const char *name, const struct lset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		sample_d(p, name, s->v[i].labels, s->v[i].v);
}

static void
render_daemon(struct prom *p, const struct daemon *d)
{
	family(p, "llmfb_info", "gauge", "The llmfbd version, as a label.");
	sample(p, "llmfb_info", "version=\"" LLMFB_VERSION "\"", "1");
	scalar(p, "llmfb_start_time_seconds", "gauge", "When llmfbd started, "
	    "in seconds since the Unix epoch.", (uint64_t)d->started);
	scalar(p, "llmfb_reloads_total", "counter", "Configuration reloads "
	    "that took effect.", d->reloads);
	scalar(p, "llmfb_reload_failures_total", "counter", "Configuration "
	    "reloads refused; the running configuration stayed.",
	    d->reload_failures);
	scalar(p, "llmfb_otel_spans_exported_total", "counter", "Trace "
	    "spans the OpenTelemetry collector took.",
	    otel_exported(d->otel));
	scalar(p, "llmfb_otel_spans_dropped_total", "counter", "Trace spans "
	    "dropped: the queue was full or the collector did not take "
	    "them.", otel_dropped(d->otel));
	if (d->server == NULL)
		return;
	scalar(p, "llmfb_clients", "gauge", "Client connections open on the "
	    "data socket.", server_clients(d->server));
	scalar(p, "llmfb_clients_refused_total", "counter", "Client "
	    "connections refused at a limit (max_clients, "
	    "max_clients_per_user, the file limit); their shims went direct.",
	    server_refused(d->server));
	scalar(p, "llmfb_client_timeouts_total", "counter", "Client "
	    "connections closed by request_timeout or idle_timeout with a "
	    "request unfinished.", server_timed_out(d->server));
}

static void
render_calls(struct prom *p, const struct stats *s)
{
	scalar(p, "llmfb_calls_total", "counter", "Calls the shim handed to "
	    "llmfbd.", s->calls);
	scalar(p, "llmfb_passthrough_total", "counter", "Calls no route took, "
	    "passed on to their own host.", s->passthrough);
	scalar(p, "llmfb_rejected_total", "counter", "Calls refused: "
	    "malformed, or not for an intercepted host.", s->rejected);
	scalar(p, "llmfb_in_flight", "gauge", "Calls running now.",
	    s->in_flight);
	family(p, "llmfb_requests_total", "counter", "Routed calls by route, "
	    "the target that served them (none: no target did) and how they "
	    "ended: served, fallback, continued, safe-failure, "
	    "error-delivered, delivered-miss, client-gone, midstream-error, "
	    "broken.");
	lset_render(p, "llmfb_requests_total", &s->requests);
	family(p, "llmfb_attempts_total", "counter", "Attempts by route, "
	    "target and outcome: ok, or the kind of failure.");
	lset_render(p, "llmfb_attempts_total", &s->attempts);
	family(p, "llmfb_fallbacks_total", "counter", "Calls served by a "
	    "later rung, by route, the target first left (from), the one "
	    "that served (to), and the class and kind of the first failure.");
	lset_render(p, "llmfb_fallbacks_total", &s->fallbacks);
	family(p, "llmfb_unserved_total", "counter", "Connections the shim "
	    "handed over that llmfb did not serve, by why: tls-not-virtual "
	    "(the program's own TLS; carried to the origin untouched), full "
	    "(refused at a limit; the shim went direct), kernel-not-served "
	    "(sent by eBPF, the CA off: carried to the host), kernel-not-ours "
	    "(sent by eBPF, another name: carried to its address).");
	lset_render(p, "llmfb_unserved_total", &s->unserved);
	family(p, "llmfb_tls_terminated_total", "counter", "Connections "
	    "whose own TLS llmfbd terminated with the local CA's leaf, by "
	    "result: ok (served), rejected (the client refused the "
	    "certificate), failed (another handshake failure).");
	lset_render(p, "llmfb_tls_terminated_total", &s->terminated);
}

/* 0 closed, 1 half-open, 2 open: rising with the trouble, which the
 * enum's order does not. */
static unsigned
breaker_gauge(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return 0;
	case BREAKER_HALF_OPEN:
		return 1;
	case BREAKER_OPEN:
		return 2;
	}
	return 2;
}

/* Per target and per route families that are one field each. */
enum vkind { V_U64, V_USD, V_BOOL };

struct field {
	const char	*name;
	const char	*type;
	const char	*help;
	size_t		 off;
	enum vkind	 kind;
};

static const struct field tfields[] = {
	{ "llmfb_breaker_opens_total", "counter", "Times a target's circuit "
	    "breaker opened.", offsetof(struct tstat, br.opens), V_U64 },
	{ "llmfb_target_drained", "gauge", "1 while a target is drained by "
	    "hand: it takes no new call.", offsetof(struct tstat, drained),
	    V_BOOL },
	{ "llmfb_target_in_flight", "gauge", "Attempts running now on a "
	    "target.", offsetof(struct tstat, in_flight), V_U64 },
	{ "llmfb_target_spend_usd_total", "counter", "Spend on a target in US "
	    "dollars, at its configured price.",
	    offsetof(struct tstat, spend_usd), V_USD },
	{ "llmfb_target_429_total", "counter", "429 answers of a target (too "
	    "many requests).", offsetof(struct tstat, rl_429s), V_U64 },
};

static const struct field rfields[] = {
	{ "llmfb_route_spend_usd_total", "counter", "Spend on a route in US "
	    "dollars.", offsetof(struct rstat, spend_usd), V_USD },
	/* A cheaper fallback makes it go down: a gauge. */
	{ "llmfb_fallback_cost_diff_usd", "gauge", "What fallbacks cost in US "
	    "dollars: served minus what the primary would have cost, summed "
	    "over fallbacks (negative: they saved).",
	    offsetof(struct rstat, fallback_cost_diff_usd), V_USD },
	{ "llmfb_safe_failures_total", "counter", "Calls answered with the "
	    "route's safe failure.", offsetof(struct rstat, safe_failures),
	    V_U64 },
	{ "llmfb_midstream_continued_total", "counter", "Broken streams "
	    "continued on another target.",
	    offsetof(struct rstat, midstream_continued), V_U64 },
	{ "llmfb_midstream_errors_total", "counter", "Broken streams ended "
	    "with an error.", offsetof(struct rstat, midstream_errors),
	    V_U64 },
	{ "llmfb_hedges_total", "counter", "Hedges started: a second attempt "
	    "beside one with no first token in time.",
	    offsetof(struct rstat, hedges), V_U64 },
	{ "llmfb_hedges_won_total", "counter", "Hedges that brought the first "
	    "content.", offsetof(struct rstat, hedges_won), V_U64 },
	{ "llmfb_hedges_cancelled_total", "counter", "Attempts cancelled as "
	    "the other of a hedge's race answered first.",
	    offsetof(struct rstat, hedges_cancelled), V_U64 },
	{ "llmfb_hedges_capped_total", "counter", "Hedges the route's "
	    "max_percent refused.", offsetof(struct rstat, hedges_capped),
	    V_U64 },
};

static void
field_sample(struct prom *p, const struct field *f, const char *labels,
    const void *base)
{
	const char *at = (const char *)base + f->off;

	switch (f->kind) {
	case V_U64:
		sample_u(p, f->name, labels, *(const uint64_t *)at);
		break;
	case V_USD:
		sample_usd(p, f->name, labels, *(const double *)at);
		break;
	case V_BOOL:
		sample_u(p, f->name, labels, *(const bool *)at ? 1 : 0);
		break;
	}
}

/* Names are checked by the config (64 characters at most), so this
 * fails only on a bug; the series is then left out, not cut short. */
static bool
name_label(char *out, const char *label, const char *value)
{
	return prom_labels(out, LABELS_MAX, label, value, NULL) == 0;
}

/* A target's series carry its provider too: dashboards group by it. */
static bool
target_label(char *out, const struct target *t)
{
	return prom_labels(out, LABELS_MAX, "target", t->name, "provider",
	    t->provider->name, NULL) == 0;
}

static void
render_target_hists(struct prom *p, struct daemon *d)
{
	const struct config *c = d->cfg;
	char lb[LABELS_MAX];
	size_t i;

	family(p, "llmfb_first_token_seconds", "histogram", "Time to an "
	    "answer's first token, by target.");
	for (i = 0; i < c->ntargets; i++)
		if (target_label(lb, &c->targets[i]))
			hist(p, "llmfb_first_token_seconds", lb, &stats_target(
			    d->stats, c->targets[i].name)->ttft_h);
	family(p, "llmfb_attempt_seconds", "histogram", "Time an answered "
	    "attempt took from its start to its end, by target.");
	for (i = 0; i < c->ntargets; i++)
		if (target_label(lb, &c->targets[i]))
			hist(p, "llmfb_attempt_seconds", lb, &stats_target(
			    d->stats, c->targets[i].name)->total_h);
}

/* What the kernel saw: eBPF timing of the upstream sockets, and the
 * netlink view of the way to each target. */
static void
render_target_net(struct prom *p, struct daemon *d)
{
	const struct config *c = d->cfg;
	char lb[LABELS_MAX];
	struct tstat *ts;
	size_t i;

	family(p, "llmfb_network_seconds", "histogram", "The network's "
	    "share of an answer's wait (a round trip, and the TCP handshake "
	    "when the attempt connected), by target; from eBPF.");
	for (i = 0; i < c->ntargets; i++)
		if (target_label(lb, &c->targets[i]))
			hist(p, "llmfb_network_seconds", lb, &stats_target(
			    d->stats, c->targets[i].name)->network_h);
	family(p, "llmfb_provider_seconds", "histogram", "The provider's "
	    "share: from the request's last byte out to the answer's first "
	    "byte in, less a round trip, by target; from eBPF.");
	for (i = 0; i < c->ntargets; i++)
		if (target_label(lb, &c->targets[i]))
			hist(p, "llmfb_provider_seconds", lb, &stats_target(
			    d->stats, c->targets[i].name)->provider_h);
	family(p, "llmfb_tcp_retransmits_total", "counter", "TCP "
	    "retransmits during attempts, by target; from eBPF.");
	for (i = 0; i < c->ntargets; i++)
		if (target_label(lb, &c->targets[i]))
			sample_u(p, "llmfb_tcp_retransmits_total", lb,
			    stats_target(d->stats,
			    c->targets[i].name)->retransmits);
	family(p, "llmfb_tcp_srtt_seconds", "gauge", "The smoothed round "
	    "trip time at the last answer, by target; from eBPF.");
	for (i = 0; i < c->ntargets; i++)
		if (target_label(lb, &c->targets[i]))
			sample_d(p, "llmfb_tcp_srtt_seconds", lb, stats_target(
			    d->stats, c->targets[i].name)->srtt_us / 1e6);
	family(p, "llmfb_target_reachable", "gauge", "1 when a route and a "
	    "link to the target's address are there, 0 when not; targets "
	    "whose address is not known yet are left out.");
	for (i = 0; i < c->ntargets; i++) {
		ts = stats_target(d->stats, c->targets[i].name);
		if (ts->addr[0] != '\0' &&
		    target_label(lb, &c->targets[i]))
			sample_u(p, "llmfb_target_reachable", lb,
			    !ts->unreachable);
	}
}

static void
render_breakers(struct prom *p, struct daemon *d)
{
	const struct config *c = d->cfg;
	uint64_t now = now_mono_ms();
	char lb[LABELS_MAX];
	size_t i;

	family(p, "llmfb_breaker_state", "gauge", "A target's circuit "
	    "breaker: 0 closed, 1 half-open, 2 open.");
	for (i = 0; i < c->ntargets; i++) {
		const struct target *t = &c->targets[i];
		const struct tstat *ts = stats_target(d->stats, t->name);

		if (target_label(lb, t))
			sample_u(p, "llmfb_breaker_state", lb, breaker_gauge(
			    breaker_state(&ts->br, &t->breaker, now)));
	}
}

static void
render_target_fields(struct prom *p, struct daemon *d)
{
	const struct config *c = d->cfg;
	char lb[LABELS_MAX];
	size_t i, k;

	for (k = 0; k < ARRAY_SIZE(tfields); k++) {
		family(p, tfields[k].name, tfields[k].type, tfields[k].help);
		for (i = 0; i < c->ntargets; i++)
			if (target_label(lb, &c->targets[i]))
				field_sample(p, &tfields[k], lb, stats_target(
				    d->stats, c->targets[i].name));
	}
}

/* The provider's limits as its answers advertised them: what is left
 * per window (windows not advertised, or reset since, are left out),
 * and whether the ladder passes the target over now. */
static void
render_ratelimits(struct prom *p, struct daemon *d)
{
	static const char *const names[RL_KINDS] = { "requests", "tokens",
		"input_tokens", "output_tokens" };
	const struct config *c = d->cfg;
	uint64_t now = now_real_ns() / 1000000, until;
	char lb[LABELS_MAX];
	size_t i;
	int k;

	family(p, "llmfb_target_ratelimit_remaining", "gauge", "What the "
	    "provider's last answer said is left of a rate-limit window "
	    "(requests, tokens, input_tokens, output_tokens), by target.");
	for (i = 0; i < c->ntargets; i++) {
		const struct tstat *ts = stats_target(d->stats,
		    c->targets[i].name);

		for (k = 0; k < RL_KINDS; k++) {
			const struct rl_window *w = &ts->rl.w[k];

			if (w->remaining == RL_UNKNOWN ||
			    (w->reset_ms != 0 && w->reset_ms <= now) ||
			    prom_labels(lb, LABELS_MAX, "target",
			    c->targets[i].name, "provider",
			    c->targets[i].provider->name, "window", names[k],
			    NULL) < 0)
				continue;
			sample_u(p, "llmfb_target_ratelimit_remaining", lb,
			    (uint64_t)w->remaining);
		}
	}
	family(p, "llmfb_target_rate_limited", "gauge", "1 while a target "
	    "is passed over for its rate limits: a window spent, or a 429's "
	    "Retry-After not over.");
	for (i = 0; i < c->ntargets; i++)
		if (target_label(lb, &c->targets[i]))
			sample_u(p, "llmfb_target_rate_limited", lb,
			    ratelimit_near(&stats_target(d->stats,
			    c->targets[i].name)->rl, now, 0, 0, &until));
}

static void
render_tokens(struct prom *p, struct daemon *d)
{
	const struct config *c = d->cfg;
	char lb[LABELS_MAX];
	size_t i;

	family(p, "llmfb_tokens_total", "counter", "Tokens by target and "
	    "direction, as the provider counted them (estimated when it did "
	    "not).");
	for (i = 0; i < c->ntargets; i++) {
		const struct target *t = &c->targets[i];
		const struct tstat *ts = stats_target(d->stats, t->name);

		if (prom_labels(lb, sizeof(lb), "target", t->name, "provider",
		    t->provider->name, "direction", "input", NULL) == 0)
			sample_u(p, "llmfb_tokens_total", lb, ts->in_tokens);
		if (prom_labels(lb, sizeof(lb), "target", t->name, "provider",
		    t->provider->name, "direction", "output", NULL) == 0)
			sample_u(p, "llmfb_tokens_total", lb, ts->out_tokens);
	}
}

/* What each target is (one series, value 1, to join on), and tokens and
 * spend by the model a provider was asked for. */
static void
render_models(struct prom *p, struct daemon *d)
{
	const struct config *c = d->cfg;
	const struct lset *s;
	char lb[LABELS_MAX];
	size_t i;

	family(p, "llmfb_target_info", "gauge", "A target's provider, dialect "
	    "and model (empty: the caller's, or mapped per request), value "
	    "1.");
	for (i = 0; i < c->ntargets; i++) {
		const struct target *t = &c->targets[i];

		if (prom_labels(lb, sizeof(lb), "target", t->name, "provider",
		    t->provider->name, "dialect",
		    dialect_name(t->provider->dialect), "model",
		    t->model ? t->model : "", NULL) == 0)
			sample_u(p, "llmfb_target_info", lb, 1);
	}
	family(p, "llmfb_model_tokens_total", "counter", "Tokens by provider, "
	    "the model it was asked for, and direction.");
	lset_render(p, "llmfb_model_tokens_total", &d->stats->model_tokens);
	family(p, "llmfb_model_spend_usd_total", "counter", "Spend in US "
	    "dollars by provider and the model it was asked for.");
	s = &d->stats->model_spend;
	for (i = 0; i < s->n; i++)
		sample_usd(p, "llmfb_model_spend_usd_total", s->v[i].labels,
		    s->v[i].v);
}

static void
render_route_fields(struct prom *p, struct daemon *d)
{
	const struct config *c = d->cfg;
	char lb[LABELS_MAX];
	size_t i, k;

	for (k = 0; k < ARRAY_SIZE(rfields); k++) {
		family(p, rfields[k].name, rfields[k].type, rfields[k].help);
		for (i = 0; i < c->nroutes; i++)
			if (name_label(lb, "route", c->routes[i].name))
				field_sample(p, &rfields[k], lb, stats_route(
				    d->stats, c->routes[i].name));
	}
}

static void
render_aborts(struct prom *p, struct daemon *d)
{
	const struct config *c = d->cfg;
	char lb[LABELS_MAX];
	size_t i;

	family(p, "llmfb_client_aborts_total", "counter", "Callers that went "
	    "away before their answer, by route and whether the ladder had "
	    "moved on by then (fell_back).");
	for (i = 0; i < c->nroutes; i++) {
		const char *name = c->routes[i].name;
		const struct rstat *rs = stats_route(d->stats, name);
		uint64_t fell = rs->client_gone_fell_back, stayed;

		if (prom_labels(lb, sizeof(lb), "route", name, "fell_back",
		    "true", NULL) == 0)
			sample_u(p, "llmfb_client_aborts_total", lb, fell);
		/* Counted apart: never let a miscount wrap around. */
		stayed = rs->client_gone > fell ? rs->client_gone - fell : 0;
		if (prom_labels(lb, sizeof(lb), "route", name, "fell_back",
		    "false", NULL) == 0)
			sample_u(p, "llmfb_client_aborts_total", lb, stayed);
	}
}

static void
render_tail(struct prom *p, const struct stats *s)
{
	family(p, "llmfb_shim_to_daemon_seconds", "histogram", "Time from "
	    "the shim handing a call over to llmfbd taking it.");
	hist(p, "llmfb_shim_to_daemon_seconds", "", &s->shim_h);
	scalar(p, "llmfb_metrics_label_sets_dropped_total", "counter",
	    "Label sets of requests, attempts, fallbacks and models not "
	    "counted: past 4096 per family.", s->requests.dropped +
	    s->attempts.dropped + s->fallbacks.dropped +
	    s->model_tokens.dropped + s->model_spend.dropped);
}

/* Fleet state on Redis: only in a fleet (shared: in the config), like
 * the client families only with a data socket. */
static void
render_shared(struct prom *p, const struct daemon *d)
{
	const struct shared_stats *st = shared_stats(d->shared);
	static const char *const leases[] = { "won", "lost", "late" };
	uint64_t lv[] = { st->leases_won, st->leases_lost, st->leases_late };
	char lb[LABELS_MAX];
	size_t i;

	if (d->shared == NULL)
		return;
	scalar(p, "llmfb_shared_up", "gauge", "1 while llmfbd is linked to "
	    "the fleet's Redis; 0: it decides alone.", st->up ? 1 : 0);
	scalar(p, "llmfb_shared_connects_total", "counter", "Times the links "
	    "to Redis became ready (the first, and each resynchronisation).",
	    st->connects);
	family(p, "llmfb_shared_failures_total", "counter", "Redis link "
	    "failures by kind: connect, auth, timeout (an answer later than "
	    "shared.timeout), lost, error.");
	for (i = 0; i < SHARED_FAIL_COUNT; i++) {
		snprintf(lb, sizeof(lb), "kind=\"%s\"", shared_fail_name(i));
		sample_u(p, "llmfb_shared_failures_total", lb,
		    st->failures[i]);
	}
	scalar(p, "llmfb_shared_ops_total", "counter", "Commands sent to "
	    "Redis.", st->ops);
	scalar(p, "llmfb_shared_remote_opens_total", "counter", "Breakers "
	    "opened here by another host's failures.", st->remote_opens);
	family(p, "llmfb_shared_probe_leases_total", "counter", "Half-open "
	    "probe leases: won (this host probes for the fleet), lost "
	    "(another does), late (no answer within shared.max_wait: probed "
	    "alone).");
	for (i = 0; i < ARRAY_SIZE(leases); i++) {
		snprintf(lb, sizeof(lb), "result=\"%s\"", leases[i]);
		sample_u(p, "llmfb_shared_probe_leases_total", lb, lv[i]);
	}
	scalar(p, "llmfb_shared_budget_offline_total", "counter", "Spends "
	    "counted while Redis was away, sent when it is back.",
	    st->budget_offline);
	family(p, "llmfb_shared_lag_seconds", "gauge", "Age of the last "
	    "message from another host on arrival (clocks apart count in).");
	sample_d(p, "llmfb_shared_lag_seconds", NULL, st->lag_us / 1e6);
	family(p, "llmfb_shared_rtt_seconds", "gauge", "The last heartbeat's "
	    "round trip to Redis.");
	sample_d(p, "llmfb_shared_rtt_seconds", NULL, st->rtt_us / 1e6);
	family(p, "llmfb_shared_rate_limit_words_total", "counter",
	    "Provider accounts seen spent (rate-limit headers or a 429): "
	    "told (seen here, told the fleet), remote (seen by another host: "
	    "its targets passed over here).");
	sample_u(p, "llmfb_shared_rate_limit_words_total", "kind=\"told\"",
	    st->rl_told);
	sample_u(p, "llmfb_shared_rate_limit_words_total",
	    "kind=\"remote\"", st->rl_remote);
	scalar(p, "llmfb_shared_rate_counts_total", "counter", "Attempts to "
	    "targets with an rpm or tpm counted in Redis.", st->rl_counts);
	scalar(p, "llmfb_shared_rate_counts_offline_total", "counter",
	    "... counted while Redis was away, sent when it is back (within "
	    "the minute).", st->rl_offline);
	family(p, "llmfb_shared_rate_limited", "gauge", "1 while a target is "
	    "passed over on the fleet's word (fleet-rate-limit): another "
	    "host saw its account spent, or the fleet's count of it is at "
	    "its rpm or tpm.");
	for (i = 0; i < d->cfg->ntargets; i++)
		if (target_label(lb, &d->cfg->targets[i]))
			sample_u(p, "llmfb_shared_rate_limited", lb,
			    shared_rate_limited(d->shared, &d->cfg->targets[i],
			    stats_target(d->stats, d->cfg->targets[i].name),
			    1));
}

int
metrics_render(struct daemon *d, struct buf *out)
{
	struct prom p = { .b = out };
	size_t len = out->len;

	render_daemon(&p, d);
	render_calls(&p, d->stats);
	render_target_hists(&p, d);
	render_target_net(&p, d);
	render_breakers(&p, d);
	render_target_fields(&p, d);
	render_ratelimits(&p, d);
	render_tokens(&p, d);
	render_models(&p, d);
	render_route_fields(&p, d);
	render_aborts(&p, d);
	render_tail(&p, d->stats);
	render_shared(&p, d);
	if (p.err == 0)
		return 0;
	out->len = len;
	if (out->data != NULL)
		out->data[len] = '\0';
	return -1;
}

/* ---- the HTTP listener -------------------------------------------------- */

#define HTTP_HEAD_MAX		8192	/* request line and headers */
#define HTTP_CONNS_MAX		64
#define HTTP_DEADLINE_MS	10000	/* to ask, and to take the reply */
#define HTTP_LINGER_MS		2000
#define HTTP_LINGER_MAX		65536

/* Read the head, answer, then linger: read and drop what the client
 * still sends until it closes, since closing with unread input would
 * reset the connection, which can destroy the answer on its way. */
enum mstate { M_READ, M_WRITE, M_LINGER };

struct mconn {
	struct watcher		 w;
	struct timer		 deadline;
	struct metrics_http	*m;
	struct mconn		*prev, *next;
	struct buf		 in;
	struct buf		 out;
	enum mstate		 state;
	size_t			 lingered;
	bool			 closed;
};

struct metrics_http {
	struct daemon		*d;
	struct watcher		 w;
	struct listener_pause	 pause;		/* out of descriptors */
	struct mconn		*conns;
	unsigned		 nconns;
};

static void
mconn_release(struct mconn *mc)
{
	struct metrics_http *m = mc->m;
	struct loop *l = m->d->loop;

	mc->closed = true;
	if (mc->prev != NULL)
		mc->prev->next = mc->next;
	else
		m->conns = mc->next;
	if (mc->next != NULL)
		mc->next->prev = mc->prev;
	m->nconns--;
	timer_cancel(l, &mc->deadline);
	watcher_del(l, &mc->w);
	close(mc->w.fd);
	buf_free(&mc->in);
	buf_free(&mc->out);
}

/* Freed after the current batch of events, which may still hold one of
 * its own. */
static void
mconn_close(struct mconn *mc)
{
	if (mc->closed)
		return;
	mconn_release(mc);
	loop_defer(mc->m->d->loop, free, mc);
}

static void
mconn_timeout(struct timer *t)
{
	mconn_close(t->arg);
}

static bool
is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A method (a token), or a request target (visible ASCII). */
static bool
all_of(const char *s, size_t n, bool token)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (token ? !is_tchar(ch) : (ch <= ' ' || ch >= 0x7f))
			return false;
	}
	return true;
}

static bool
mem_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(s, word, n) == 0;
}

/* The path of a request target: origin form "/metrics?x", or absolute
 * form "http://host/metrics", which a server must take too.  Its
 * length without query or fragment goes in *len. */
static const char *
target_path(const char *t, size_t n, size_t *len)
{
	const char *end = t + n, *slash;
	size_t k;

	if ((n > 7 && mem_case_eq(t, 7, "http://")) ||
	    (n > 8 && mem_case_eq(t, 8, "https://"))) {
		k = t[4] == ':' ? 7 : 8;
		slash = memchr(t + k, '/', n - k);
		t = slash != NULL ? slash : end;
	}
	for (k = 0; t + k < end && t[k] != '?' && t[k] != '#'; k++)
		;
	*len = k;
	return t;
}

/* The answer to a request line "METHOD TARGET HTTP/1.x": 200 for GET
 * or HEAD of /metrics, 404 for another path, 405 for another method,
 * 400 for anything else.  *head: a HEAD, which gets no body. */
static int
http_route(const char *line, size_t n, bool *head)
{
	const char *sp1, *sp2, *path, *end;
	size_t mlen, tlen, plen;

	if (n > 0 && line[n - 1] == '\r')
		n--;
	end = line + n;
	if ((sp1 = memchr(line, ' ', n)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1))) == NULL)
		return 400;
	mlen = (size_t)(sp1 - line);
	tlen = (size_t)(sp2 - sp1 - 1);
	if (!all_of(line, mlen, true) || !all_of(sp1 + 1, tlen, false) ||
	    end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    sp2[8] < '0' || sp2[8] > '9')
		return 400;
	*head = mem_is(line, mlen, "HEAD");
	path = target_path(sp1 + 1, tlen, &plen);
	if (!mem_is(path, plen, "/metrics") && !mem_is(path, plen, "/metrics/"))
		return 404;
	if (!*head && !mem_is(line, mlen, "GET"))
		return 405;
	return 200;
}

static const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	default:
		return "Internal Server Error";
	}
}

static int
respond(struct mconn *mc, int status, bool head, const char *type,
    const char *body, size_t len)
{
	int r;

	r = buf_printf(&mc->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
	    http_reason(status), type, len, status == 405 ?
	    "Allow: GET, HEAD\r\n" : "");
	if (r == 0 && !head)
		r = buf_add(&mc->out, body, len);
	return r;
}

static int
respond_error(struct mconn *mc, int status, bool head)
{
	char body[64];

	snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	return respond(mc, status, head, "text/plain; charset=utf-8", body,
	    strlen(body));
}

static int
respond_metrics(struct mconn *mc, bool head)
{
	struct buf body;
	int r;

	buf_init(&body, CTL_REPLY_MAX);
	if (metrics_render(mc->m->d, &body) < 0) {
		buf_free(&body);
		log_warnx("metrics: the exposition is over %u bytes",
		    CTL_REPLY_MAX);
		return respond_error(mc, 500, head);
	}
	r = respond(mc, 200, head, "text/plain; version=0.0.4; charset=utf-8",
	    body.data != NULL ? body.data : "", body.len);
	buf_free(&body);
	return r;
}

static void
mconn_linger(struct mconn *mc)
{
	char junk[4096];
	ssize_t n = recv(mc->w.fd, junk, sizeof(junk), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || (mc->lingered += (size_t)n) > HTTP_LINGER_MAX)
		mconn_close(mc);
}

/* The answer is out: say so with a FIN, then linger. */
static void
mconn_sent(struct mconn *mc)
{
	struct loop *l = mc->m->d->loop;

	buf_free(&mc->out);
	shutdown(mc->w.fd, SHUT_WR);
	mc->state = M_LINGER;
	watcher_mod(l, &mc->w, EPOLLIN);
	timer_set(l, &mc->deadline, HTTP_LINGER_MS);
}

static void
mconn_flush(struct mconn *mc)
{
	int r = buf_send(&mc->out, mc->w.fd);

	if (r == -EAGAIN) {
		watcher_mod(mc->m->d->loop, &mc->w, EPOLLOUT);
		return;
	}
	if (r < 0) {
		mconn_close(mc);
		return;
	}
	mconn_sent(mc);
}

static void
mconn_answer(struct mconn *mc)
{
	const char *line = mc->in.data;
	const char *nl = memchr(line, '\n', mc->in.len);
	bool head = false;
	int status, r;

	status = http_route(line, (size_t)(nl - line), &head);
	if (status == 200)
		r = respond_metrics(mc, head);
	else
		r = respond_error(mc, status, head);
	if (r < 0) {
		mconn_close(mc);
		return;
	}
	mc->state = M_WRITE;
	mconn_flush(mc);
}

/* The head ends with an empty line; a client that closed its side
 * after the request line alone gets an answer too. */
static void
mconn_read(struct mconn *mc)
{
	const struct buf *in = &mc->in;
	char chunk[2048];
	ssize_t n = recv(mc->w.fd, chunk, sizeof(chunk), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || (n > 0 && buf_add(&mc->in, chunk, (size_t)n) < 0)) {
		mconn_close(mc);		/* past HTTP_HEAD_MAX too */
		return;
	}
	if (in->len == 0 || memchr(in->data, '\n', in->len) == NULL) {
		if (n == 0)
			mconn_close(mc);
		return;
	}
	if (n > 0 && memmem(in->data, in->len, "\n\r\n", 3) == NULL &&
	    memmem(in->data, in->len, "\n\n", 2) == NULL)
		return;
	mconn_answer(mc);
}

static void
mconn_event(struct watcher *w, uint32_t events)
{
	struct mconn *mc = w->arg;

	(void)events;
	if (mc->closed)
		return;
	switch (mc->state) {
	case M_READ:
		mconn_read(mc);
		break;
	case M_WRITE:
		mconn_flush(mc);
		break;
	case M_LINGER:
		mconn_linger(mc);
		break;
	}
}

static void
mconn_new(struct metrics_http *m, int fd)
{
	struct mconn *mc = xcalloc(1, sizeof(*mc));

	mc->m = m;
	mc->w.fd = fd;
	mc->w.cb = mconn_event;
	mc->w.arg = mc;
	mc->w.events = EPOLLIN;
	if (watcher_add(m->d->loop, &mc->w) < 0) {
		close(fd);
		free(mc);
		return;
	}
	buf_init(&mc->in, HTTP_HEAD_MAX);
	buf_init(&mc->out, CTL_REPLY_MAX + 512);
	timer_init(&mc->deadline, mconn_timeout, mc);
	timer_set(m->d->loop, &mc->deadline, HTTP_DEADLINE_MS);
	mc->next = m->conns;
	if (m->conns != NULL)
		m->conns->prev = mc;
	m->conns = mc;
	m->nconns++;
}

static void
http_accept(struct watcher *w, uint32_t events)
{
	struct metrics_http *m = w->arg;
	int fd;

	(void)events;
	while ((fd = accept4(w->fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		/* Past the bound, closed at once: a scraper needs one. */
		if (m->nconns >= HTTP_CONNS_MAX)
			close(fd);
		else
			mconn_new(m, fd);
	}
	/* Out of descriptors, the listener stays readable: stop listening
	 * for a while rather than spin. */
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM) {
		listener_pause(&m->pause, "metrics");
	}
}

static bool
is_ip(const char *addr)
{
	struct in6_addr a;

	return inet_pton(AF_INET, addr, &a) == 1 ||
	    inet_pton(AF_INET6, addr, &a) == 1;
}

/* Returns the listening socket, or -1 with errno set. */
static int
tcp_listen(const char *addr, int port)
{
	union {
		struct sockaddr		sa;
		struct sockaddr_in	in;
		struct sockaddr_in6	in6;
	} u;
	socklen_t len;
	int fd, one = 1, e;

	memset(&u, 0, sizeof(u));
	if (inet_pton(AF_INET, addr, &u.in.sin_addr) == 1) {
		u.in.sin_family = AF_INET;
		u.in.sin_port = htons((uint16_t)port);
		len = sizeof(u.in);
	} else if (inet_pton(AF_INET6, addr, &u.in6.sin6_addr) == 1) {
		u.in6.sin6_family = AF_INET6;
		u.in6.sin6_port = htons((uint16_t)port);
		len = sizeof(u.in6);
	} else {
		errno = EINVAL;
		return -1;
	}
	fd = socket(u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, &u.sa, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct metrics_http *
metrics_http_new(struct daemon *d, const char *addr, int port)
{
	struct metrics_http *m;
	int fd, err;

	if (port < 0 || port > 65535) {
		log_warnx("metrics listener: port %d is out of range", port);
		return NULL;
	}
	if (!is_ip(addr)) {
		log_warnx("metrics listener: %s is not an IP address", addr);
		return NULL;
	}
	if ((fd = tcp_listen(addr, port)) < 0) {
		log_warn("metrics listener %s port %d", addr, port);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->d = d;
	m->w.fd = fd;
	m->w.cb = http_accept;
	m->w.arg = m;
	m->w.events = EPOLLIN;
	listener_pause_init(&m->pause, d->loop, &m->w);
	if ((err = watcher_add(d->loop, &m->w)) < 0) {
		errno = -err;
		log_warn("metrics listener %s port %d", addr, port);
		close(fd);
		free(m);
		return NULL;
	}
	log_info("metrics on http://%s%s%s:%d/metrics",
	    strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "",
	    port);
	return m;
}

void
metrics_http_free(struct metrics_http *m)
{
	struct mconn *mc;

	if (m == NULL)
		return;
	while ((mc = m->conns) != NULL) {
		mconn_release(mc);
		free(mc);
	}
	listener_pause_cancel(&m->pause);
	watcher_del(m->d->loop, &m->w);
	close(m->w.fd);
	free(m);
}
