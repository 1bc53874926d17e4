#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "call_impl.h"
#include "dialect.h"
#include "log.h"
#include "outbound.h"
#include "ratelimit.h"
#include "route.h"
#include "server.h"
#include "shared.h"
#include "util.h"

static void attempt_begin(struct call *call, bool hedge);
static void hedge_fired(struct timer *t);

/* ---- an attempt in its slot ------------------------------------------ */

/* The attempt no longer occupies its target. */
void
attempt_release(struct call *call)
{
	struct attempt *at = call->at;

	if (at->busy != NULL) {
		tstat_of(call, at->busy)->in_flight--;
		at->busy = NULL;
	}
	xfer_free(at->xfer);
	at->xfer = NULL;
	timer_cancel(call->d->loop, &at->first_token);
	timer_cancel(call->d->loop, &at->idle);
	timer_cancel(call->d->loop, &at->fault_timer);
	if (call->hedge_for == at) {
		timer_cancel(call->d->loop, &call->hedge_timer);
		call->hedge_for = NULL;
	}
	at->faulted = false;
	at->live = false;
}

/* The other slot's attempt, when it runs beside call->at (a hedge, or
 * the attempt it hedges); else NULL. */
struct attempt *
other_attempt(struct call *call)
{
	struct attempt *o = call->at == &call->slot[0] ? &call->slot[1] :
	    &call->slot[0];

	return o->live ? o : NULL;
}

/* The call of attempt at, with at its attempt in focus: an event of at
 * is being handled. */
static struct call *
focus(struct attempt *at)
{
	at->call->at = at;
	return at->call;
}

/* The running attempt ended so: its times, its connection and what the
 * kernel saw of it go into the record. */
static void
attempt_record_as(struct call *call, enum fail_kind fk, const char *why,
    int status, bool cancelled)
{
	struct attempt_rec a;

	if (call->at->target == NULL)
		return;
	memset(&a, 0, sizeof(a));
	a.cancelled = cancelled;
	a.hedge = call->at->hedge;
	snprintf(a.why, sizeof(a.why), "%s", why ? why : "");
	snprintf(a.injected, sizeof(a.injected), "%s", call->at->faulted ?
	    call->at->fault_name : "");
	a.status = status;
	if (call->at->xfer != NULL)
		a.connect_ms = (uint32_t)(xfer_connect_s(call->at->xfer) * 1000);
	netview_attempt(call->d->netview, call->at->xfer, &call->at->net,
	    tstat_of(call, call->at->target), &a.net);
	a.first_token_ms = call->at->ttft_ms;
	a.total_ms = (uint32_t)(now_mono_ms() - call->at->attempt_ms);
	record_attempt(&call->r, call->at->target, fk, &a);
}

void
attempt_record(struct call *call, enum fail_kind fk, const char *why,
    int status)
{
	attempt_record_as(call, fk, why, status, false);
}

/* The attempt lost a race and was stopped: no failure of its target. */
static void
attempt_record_cancelled(struct call *call)
{
	attempt_record_as(call, FK_NONE, "hedge-lost", 0, true);
}

/* ---- hedging ---------------------------------------------------------- */

/* A transfer whose attempt lost a race: what still comes of it is
 * refused, and it is freed (its connection closed, or on HTTP/2 its
 * stream reset and the connection kept) once no libcurl callback is on
 * the stack, as libcurl asks. */
static size_t
orphan_body(struct xfer *x, const char *p, size_t n)
{
	(void)x;
	(void)p;
	(void)n;
	return 0;
}

static void
orphan_done(struct xfer *x, enum xfer_end e)
{
	(void)x;
	(void)e;			/* orphan_free frees it */
}

static const struct xfer_ops orphan_ops = {
	.on_body = orphan_body,
	.on_done = orphan_done,
};

static void
orphan_free(void *arg)
{
	xfer_free(arg);
}

/* The route's hedging window moved on to now: two fixed windows, the
 * one before counted by how much of it still lies in the last one. */
void
hedge_window(struct rstat *rs, uint64_t w, uint64_t now)
{
	if (rs->hedge_win_start_ms == 0 ||
	    now >= rs->hedge_win_start_ms + 2 * w) {
		rs->hedge_win_start_ms = now;
		rs->hedge_win_calls[0] = rs->hedge_win_calls[1] = 0;
		rs->hedge_win_hedges[0] = rs->hedge_win_hedges[1] = 0;
	} else if (now >= rs->hedge_win_start_ms + w) {
		rs->hedge_win_start_ms += w;
		rs->hedge_win_calls[1] = rs->hedge_win_calls[0];
		rs->hedge_win_hedges[1] = rs->hedge_win_hedges[0];
		rs->hedge_win_calls[0] = rs->hedge_win_hedges[0] = 0;
	}
}

/* Whether one more hedge keeps the route's hedged calls under its
 * max_percent of its calls (this one counted) over the window. */
static bool
hedge_allowed(struct rstat *rs, const struct policy *p, uint64_t now)
{
	uint64_t w = p->hedge_window_ms;
	double f, calls, hedges;

	hedge_window(rs, w, now);
	f = (double)(rs->hedge_win_start_ms + w - now) / (double)w;
	calls = (double)rs->hedge_win_calls[0] +
	    (double)rs->hedge_win_calls[1] * f;
	hedges = (double)rs->hedge_win_hedges[0] +
	    (double)rs->hedge_win_hedges[1] * f;
	return hedges * 100 < (double)p->hedge_max_percent * calls;
}

/* How long an attempt at t may go without a first token before a hedge
 * starts: fixed, or t's recent percentile (the floor while it has too
 * few samples to say). */
static uint64_t
hedge_delay(struct call *call, const struct target *t)
{
	const struct policy *p = &call->r.route->policy;
	uint32_t ms;

	if (p->hedge_pct == 0)
		return p->hedge_after_ms;
	if (latency_ttft_pct(&tstat_of(call, t)->lat, now_mono_ms(),
	    p->hedge_window_ms, p->hedge_pct, &ms) <
	    (size_t)p->hedge_min_samples)
		return p->hedge_floor_ms;
	return ms;
}

/* The attempt just started may be hedged: once a call, while nothing
 * went to the caller. */
static void
hedge_arm(struct call *call)
{
	const struct policy *p = &call->r.route->policy;

	if (!p->hedge_on || call->hedged || call->state != CS_CHOOSING ||
	    call->at->hedge || other_attempt(call) != NULL)
		return;
	call->hedge_for = call->at;
	timer_set(call->d->loop, &call->hedge_timer,
	    hedge_delay(call, call->at->target));
}

static void
hedge_fired(struct timer *t)
{
	struct call *call = t->arg;
	struct attempt *first = call->hedge_for;
	const struct policy *p;
	struct rstat *rs;

	call->hedge_for = NULL;
	if (finished(call) || call->state != CS_CHOOSING ||
	    call->conn == NULL || first == NULL || !first->live ||
	    first->ttft_ms != NO_TIME)
		return;
	p = &call->r.route->policy;
	rs = stats_route(call->d->stats, call->r.route->name);
	if (!hedge_allowed(rs, p, now_mono_ms())) {
		rs->hedges_capped++;
		return;
	}
	call->at = first;
	if (ladder_hedge(&call->ladder) != LADDER_TRY)
		return;		/* nothing else qualifies: it waits on */
	rs = stats_route(call->d->stats, call->r.route->name);
	call->hedged = true;
	call->r.hedged = true;
	rs->hedges++;
	rs->hedge_win_hedges[0]++;
	log_debug("route %s: %s has no first token after %llu ms: hedged "
	    "on %s", call->r.route->name, first->target->name,
	    (unsigned long long)(now_mono_ms() - first->attempt_ms),
	    call->r.route->ladder[call->ladder.rung]->name);
	attempt_begin(call, true);
}

/* The other attempt of a race lost it: stopped at once.  What it cost
 * is counted all the same (the provider has the prompt): its own count
 * when its answer gave one before content, else an estimate of the
 * prompt. */
static void
attempt_cancel(struct call *call, struct attempt *lose)
{
	struct attempt *keep = call->at;
	struct record *r = &call->r;
	uint64_t in = call->q.est_in, out = 0;
	bool estimated = true;
	uint32_t spent;

	call->at = lose;
	stats_route(call->d->stats, r->route->name)->hedges_cancelled++;
	if (lose->ans_live && lose->ans.usage && lose->xfer != NULL &&
	    is_2xx(lose->xfer->status)) {
		in = lose->xs_live && lose->xs.usage ? lose->xs.in_tokens :
		    lose->ans.in_tokens;
		estimated = false;
	}
	r->hedge_loser = lose->target;
	r->hedge_loser_cost = record_account(r, lose->target, in, out,
	    estimated, !route_first_rung(r->route, lose->rung));
	r->hedge_loser_in = in;
	r->hedge_loser_out = out;
	/* Its wait so far is a lower bound on its time to first token:
	 * left out, its target's percentile would forget its slow ones. */
	spent = (uint32_t)(now_mono_ms() - lose->attempt_ms);
	record_times(r, lose->target, spent, spent);
	attempt_record_cancelled(call);
	if (lose->probe)
		breaker_unprobe(&tstat_of(call, lose->target)->br);
	if (lose->xfer != NULL) {
		lose->xfer->ops = &orphan_ops;
		lose->xfer->arg = NULL;
		loop_defer(call->d->loop, orphan_free, lose->xfer);
		lose->xfer = NULL;
	}
	attempt_release(call);
	buf_reset(&lose->held);
	answer_drop(call);
	call->at = keep;
}

/* call->at brought the first content (or went out first): the race, if
 * any, is over and the other attempt is cancelled; no hedge starts now. */
void
hedge_settle(struct call *call)
{
	struct attempt *lose = other_attempt(call);

	timer_cancel(call->d->loop, &call->hedge_timer);
	call->hedge_for = NULL;
	if (!call->hedged || call->race_done)
		return;
	call->race_done = true;
	call->r.hedge_winner = call->at->hedge ? "hedge" : "primary";
	if (call->at->hedge)
		stats_route(call->d->stats, call->r.route->name)->hedges_won++;
	if (lose != NULL)
		attempt_cancel(call, lose);
}

/* The attempt in focus brought its first content. */
void
first_content(struct call *call)
{
	first_token(call);
	if (call->state == CS_CHOOSING)
		hedge_settle(call);
}

/* The first token of the attempt arrived. */
void
first_token(struct call *call)
{
	if (call->at->ttft_ms != NO_TIME)
		return;
	call->at->ttft_ms = (uint32_t)(now_mono_ms() - call->at->attempt_ms);
	timer_cancel(call->d->loop, &call->at->first_token);
}

/* ---- its transfer's callbacks, its timers, an injected fault --------- */

static size_t
on_body(struct xfer *x, const char *p, size_t n)
{
	struct call *call = focus(x->arg);
	size_t keep;

	if (finished(call) || call->conn == NULL)
		return 0;
	if (!call->at->faulted || call->at->fault.kind != FAULT_CUT)
		return call_xfer_body(call, x, p, n);
	/* An injected cut: the answer breaks off here, as a reset
	 * connection breaks it (curl ends the transfer with an error). */
	if (n < call->at->cut_left) {
		keep = call_xfer_body(call, x, p, n);
		if (keep == n)
			call->at->cut_left -= n;
		return keep;
	}
	keep = (size_t)call->at->cut_left;
	call->at->cut_left = 0;
	if (keep > 0)
		call_xfer_body(call, x, p, keep);
	return 0;
}

/* The answer's head: when its first byte came, as the socket saw it. */
static void
on_head(struct xfer *x)
{
	struct call *call = focus(x->arg);

	netview_head(call->d->netview, &call->at->net);
	/* Every answer, a 2xx or not, may say how much of the provider's
	 * limits is left (ratelimit.c): the next call reads it. */
	if (call->at->target != NULL &&
	    ratelimit_update(&tstat_of(call, call->at->target)->rl,
	    x->headers.data ? x->headers.data : "", x->headers.len,
	    now_real_ns() / 1000000) > 0)
		shared_ratelimit_seen(call->d->shared, call->at->target,
		    tstat_of(call, call->at->target));
}

/* The transfer ended: the call judges what came of it. */
static void
on_done(struct xfer *x, enum xfer_end e)
{
	call_xfer_done(focus(x->arg), x, e);
}

const struct xfer_ops attempt_xfer_ops = {
	.on_headers = on_head,
	.on_body = on_body,
	.on_done = on_done,
};

static void
first_token_timeout(struct timer *t)
{
	struct call *call = focus(t->arg);
	struct outcome o = { .kind = OUT_TIMEOUT_FIRST_BYTE };

	if (finished(call) || call->at->xfer == NULL)
		return;
	attempt_failed(call, &o);
}

static void
idle_timeout(struct timer *t)
{
	struct call *call = focus(t->arg);
	struct outcome o = { .kind = OUT_TIMEOUT_IDLE };

	if (finished(call) || call->at->xfer == NULL)
		return;
	attempt_failed(call, &o);
}

static void
retry_fired(struct timer *t)
{
	attempt_start(t->arg);
}

/* An injected fault's moment: a late answer starts now, or the answer
 * the fault stands for arrives, through the same callbacks as a
 * provider's. */
static void
fault_fired(struct timer *t)
{
	struct call *call = focus(t->arg);
	struct xfer *x = call->at->xfer;
	struct outcome o = { .kind = OUT_BROKEN };
	const struct target *tg = call->at->target;
	const char *ctype, *model;
	enum xfer_end e = XE_BROKEN;
	char *body;
	bool stream;

	if (finished(call) || x == NULL)
		return;
	if (call->at->fault.kind == FAULT_DELAY) {
		if (call->at->fault_times_out)
			o.kind = OUT_TIMEOUT_TOTAL;
		else if (xfer_start(x) == 0)
			return;
		attempt_failed(call, &o);
		return;
	}
	model = target_model(tg, call->r.model);
	stream = json_is_true(json_object_get(call->json, "stream"));
	body = fault_answer(&call->at->fault, target_dialect(call, tg), stream,
	    model ? model : call->r.model, &ctype);
	x->status = call->at->fault.kind == FAULT_STATUS ? call->at->fault.arg : 200;
	buf_printf(&x->headers, "Content-Type: %s\r\n", ctype);
	if (body != NULL && on_body(x, body, strlen(body)) == strlen(body))
		e = XE_OK;
	free(body);
	on_done(x, e);
}

/* Whether an operator put a fault in this attempt; if so, it is set up
 * and true says the attempt waits for fault_fired rather than starting
 * its transfer now. */
static bool
fault_begin(struct call *call, uint64_t total_ms)
{
	const struct caller *c = &call->r.caller;
	struct fault *f;

	f = faults_match(&call->d->faults, call->at->target->name,
	    call->r.route->name, c->comm, c->exe, c->unit, (long)c->pid,
	    call->at->attempt_ms);
	if (f == NULL)
		return false;
	f->hits++;
	tstat_of(call, call->at->target)->injected++;
	call->at->faulted = true;
	call->at->fault = *f;
	call->at->fault.target = call->at->fault.route = call->at->fault.caller = NULL;
	fault_name(f, call->at->fault_name, sizeof(call->at->fault_name));
	switch (f->kind) {
	case FAULT_CUT:
		call->at->cut_left = f->arg;
		return false;
	case FAULT_DELAY:
		call->at->fault_times_out = f->arg >= total_ms;
		timer_set(call->d->loop, &call->at->fault_timer,
		    call->at->fault_times_out ? total_ms : f->arg);
		return true;
	default:
		timer_set(call->d->loop, &call->at->fault_timer, 0);
		return true;
	}
}

void
answer_drop(struct call *call)
{
	if (call->at->ans_live) {
		answer_free(&call->at->ans);
		call->at->ans_live = false;
	}
}

/* The next attempt: now, or after delay_ms. */
void
attempt_next(struct call *call, uint64_t delay_ms)
{
	if (delay_ms > 0)
		timer_set(call->d->loop, &call->retry, delay_ms);
	else
		attempt_start(call);
}

/* ---- starting an attempt ---------------------------------------------- */

/* The body for this target: the caller's bytes, or a copy with the
 * target's model, in its dialect (and, for a continuation, with the
 * prefix).  NULL when that cannot be made. */
static const char *
attempt_body(struct call *call, const struct target *t, size_t *ret_len)
{
	const char *model = target_model(t, call->r.model);
	enum dialect to = target_dialect(call, t);
	bool trim = api_of(to)->prefix_no_trailing_blank;
	json_t *cont = trim ? call->cont_trimmed : call->cont_json;
	char why[DIALECT_WHY_MAX];
	json_t *copy;

	free(call->at->attempt_body);
	call->at->attempt_body = NULL;
	if (cont != NULL)
		call->cs.trim = trim ? call->cont_trim : 0;
	if (cont == NULL && !call->at->xlating && (model == NULL ||
	    (call->r.model != NULL && strcmp(model, call->r.model) == 0))) {
		*ret_len = call->body.len;
		return call->body.data ? call->body.data : "";
	}
	if (call->at->xlating)
		copy = cont == NULL ? json_copy(call->at->xl->json) :
		    dialect_request(cont, &call->q.x[to].info,
		    why);
	else
		copy = json_copy(cont != NULL ? cont : call->json);
	if (copy == NULL)
		return NULL;
	if (model != NULL)
		json_object_set_new(copy, "model", json_string(model));
	call->at->attempt_body = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (call->at->attempt_body == NULL)
		return NULL;
	*ret_len = strlen(call->at->attempt_body);
	return call->at->attempt_body;
}

/* What an attempt sends, less its URL, body and timeouts. */
void
attempt_request(struct call *call, struct xfer_request *rq, const char *url,
    const struct buf *headers)
{
	*rq = (struct xfer_request){
		.url = url,
		.method = call->req->method,
		.headers = headers,
		.ca_file = call->cfg->ca_file,
		.connect_to = call->cfg->connect_to,
		.nconnect_to = call->cfg->nconnect_to,
	};
}

void
attempt_start(struct call *call)
{
	attempt_begin(call, false);
}

/* An attempt at the ladder's rung, in a free slot: a hedge beside the
 * running attempt, or the next one. */
static void
attempt_begin(struct call *call, bool hedge)
{
	const struct target *t = call->r.route->ladder[call->ladder.rung];
	const struct policy *pol = &call->r.route->policy;
	uint64_t now = now_mono_ms(), total;
	struct outcome broken = { .kind = OUT_BROKEN };
	const char *body, *query;
	struct xfer_request rq;
	struct buf url, h;
	struct xfer *x;
	size_t len = 0;

	if (finished(call) || call->conn == NULL)
		return;
	if (call->at->live)
		call->at = call->at == &call->slot[0] ? &call->slot[1] :
		    &call->slot[0];
	call->at->live = true;
	call->at->hedge = hedge;
	call->at->rung = call->ladder.rung;
	/* The ladder's breaker_allow() just let it through. */
	call->at->probe = tstat_of(call, t)->br.state == BREAKER_HALF_OPEN;
	call->at->target = t;
	call->at->xl = &call->q.x[target_dialect(call, t)];
	call->at->xlating = call->at->xl != &call->q.x[call->dialect];
	if (call->at->xs_live) {
		dialect_stream_free(&call->at->xs);
		call->at->xs_live = false;
	}
	buf_reset(&call->at->xraw);
	call->at->attempt_ms = now;
	call->at->ttft_ms = NO_TIME;
	call->at->net.have = false;
	call->at->held_base = 0;
	call->at->too_big = false;
	buf_reset(&call->at->held);
	tstat_of(call, t)->attempts++;
	buf_init(&url, 16384);
	/* The caller's query (where some APIs take a key) is for its own
	 * provider only. */
	query = own_provider(call, t->provider) ? call->req->query : NULL;
	outbound_url(&url, t, target_dialect(call, t), query);
	buf_init(&h, call->cfg->max_header_size + 64 * 1024);
	x = xfer_new(call->d->up, &attempt_xfer_ops, call->at);
	body = attempt_body(call, t, &len);
	total = pol->total_timeout_ms;
	if (call->deadline_ms > now && call->deadline_ms - now < total)
		total = call->deadline_ms - now;
	if (!total)
		total = 1;
	attempt_request(call, &rq, url.data, &h);
	rq.body = body;
	rq.len = len;
	rq.connect_timeout_ms = pol->connect_timeout_ms;
	rq.timeout_ms = total;
	if (x == NULL || body == NULL ||
	    outbound_headers(call->req, own_provider(call, t->provider),
	    call->dialect, target_dialect(call, t), t->provider, &h) < 0 ||
	    xfer_set(x, &rq) < 0) {
		if (h.data != NULL)
			explicit_bzero(h.data, h.len);
		buf_free(&h);
		buf_free(&url);
		xfer_free(x);
		log_warnx("route %s: cannot set up an attempt", call->r.route->name);
		/* Once the caller has part of an answer, it must end as a
		 * stream ends, never with a second response head. */
		if (committed(call) || other_attempt(call) != NULL)
			attempt_failed(call, &broken);
		else
			respond_safe_failure(call);
		return;
	}
	call->at->xfer = x;
	x->body_max = call->cfg->max_answer_body;
	call->at->busy = t;
	tstat_of(call, t)->in_flight++;
	/* Against its rpm and tpm: what providers count, the prompt and
	 * all max_tokens allows. */
	ratelimit_local_add(&tstat_of(call, t)->rl_local, now_mono_ms(),
	    call->q.est_in + call->q.max_out);
	shared_ratelimit_count(call->d->shared, t, tstat_of(call, t),
	    call->q.est_in + call->q.max_out);
	explicit_bzero(h.data, h.len);		/* it held a key */
	buf_free(&h);
	buf_free(&url);
	timer_set(call->d->loop, &call->at->first_token,
	    pol->first_byte_timeout_ms);
	hedge_arm(call);
	if (fault_begin(call, total)) {
		/* The transfer's own timeout counts from its start. */
		if (call->at->fault.kind == FAULT_DELAY && !call->at->fault_times_out)
			xfer_set_timeout(x, total - call->at->fault.arg);
		return;
	}
	if (xfer_start(x) < 0)
		attempt_failed(call, &broken);
}

/* ---- the call's two slots ---------------------------------------------- */

void
attempts_init(struct call *call)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		struct attempt *at = &call->slot[i];

		at->call = call;
		timer_init(&at->first_token, first_token_timeout, at);
		timer_init(&at->idle, idle_timeout, at);
		timer_init(&at->fault_timer, fault_fired, at);
		buf_init(&at->held, HELD_MAX);
		buf_init(&at->xraw, ANSWER_BODY_MAX);
		buf_init(&at->xout, HELD_MAX);
	}
	call->at = &call->slot[0];
	timer_init(&call->retry, retry_fired, call);
	timer_init(&call->hedge_timer, hedge_fired, call);
}

void
attempts_stop(struct call *call)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		timer_cancel(call->d->loop, &call->slot[i].first_token);
		timer_cancel(call->d->loop, &call->slot[i].idle);
		timer_cancel(call->d->loop, &call->slot[i].fault_timer);
	}
	timer_cancel(call->d->loop, &call->retry);
	timer_cancel(call->d->loop, &call->hedge_timer);
}

void
attempts_free(struct call *call)
{
	struct attempt *at;
	size_t i;

	for (i = 0; i < 2; i++) {
		at = call->at = &call->slot[i];
		attempt_release(call);
		if (at->xs_live)
			dialect_stream_free(&at->xs);
		buf_free(&at->xraw);
		buf_free(&at->xout);
		if (at->ans_live)
			answer_free(&at->ans);
		free(at->attempt_body);
		buf_free(&at->held);
	}
	timer_cancel(call->d->loop, &call->retry);
	timer_cancel(call->d->loop, &call->hedge_timer);
}
