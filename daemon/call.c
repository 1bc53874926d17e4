#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "attempt.h"
#include "call.h"
#include "call_impl.h"
#include "caller.h"
#include "config.h"
#include "state.h"
#include "dialect.h"
#include "dialect_stream.h"
#include "events.h"
#include "inject.h"
#include "ladder.h"
#include "log.h"
#include "midstream.h"
#include "netview.h"
#include "outbound.h"
#include "passthrough.h"
#include "qualify.h"
#include "record.h"
#include "route.h"
#include "server.h"
#include "shared.h"
#include "stats.h"
#include "upstream.h"
#include "util.h"

static void attempt_ended(struct call *call, const struct outcome *o);

/* ---- small helpers --------------------------------------------------- */

/* What went wrong in an attempt, in a few words: "http-503",
 * "timeout-first-token", or what the body said ("empty", "context"). */
static void
outcome_why(const struct outcome *o, char *why, size_t len)
{
	if (o->why != NULL)
		snprintf(why, len, "%s", o->why);
	else if (o->kind == OUT_OK)
		snprintf(why, len, "http-%d", o->status);
	else
		snprintf(why, len, "%s", outcome_name(o));
}

/* The running attempt's result, for its target's breaker: a technical
 * failure counts against it; anything else shows it working. */
static void
target_result(struct call *call, bool ok)
{
	struct breaker *b = &tstat_of(call, call->at->target)->br;
	enum breaker_state was = b->state;
	uint64_t opens = b->opens;

	breaker_record(b, &call->at->target->breaker, ok, now_mono_ms());
	/* Opened, or closed by a probe: the fleet hears of it. */
	if (b->opens != opens || (was != BREAKER_CLOSED &&
	    b->state == BREAKER_CLOSED))
		shared_breaker_changed(call->d->shared, call->at->target, b);
}

/* Seconds until the first open breaker of the route's ladder half-opens,
 * rounded up; 0 when none is open (or only by hand). */
static uint64_t
breakers_retry_after_s(struct call *call)
{
	uint64_t now = now_mono_ms(), best = UINT64_MAX, w;
	const struct target *t;
	size_t i;

	for (i = 0; i < call->r.route->nladder; i++) {
		t = call->r.route->ladder[i];
		w = breaker_wait_ms(&tstat_of(call, t)->br, &t->breaker, now);
		if (w > 0 && w < best)
			best = w;
	}
	return best == UINT64_MAX ? 0 : (best + 999) / 1000;
}

/* The x-llmfb-* headers every answer carries; served is the target whose
 * answer it is, NULL for the safe failure. */
static void
llmfb_headers(struct call *call, struct buf *h, const struct target *served)
{
	if (call->r.route == NULL) {
		buf_addstr(h, "x-llmfb-passthrough: 1\r\n");
		return;
	}
	buf_printf(h, "x-llmfb-route: %s\r\n", call->r.route->name);
	buf_printf(h, "x-llmfb-target: %s\r\n", served ? served->name :
	    "none");
	buf_printf(h, "x-llmfb-attempts: %d\r\n", call->ladder.attempts);
	buf_printf(h, "x-llmfb-fallback: %d\r\n", record_fell_back(&call->r, served));
	if (call->r.reasons[0] != '\0')
		buf_printf(h, "x-llmfb-reasons: %s\r\n", call->r.reasons);
	if (served != NULL && call->at->xlating)
		buf_printf(h, "x-llmfb-translated: %s\r\n",
		    dialect_name(call->at->xl->info.to));
}

/* ---- the call's record (record.c) ---------------------------------- */

static void
note_times(struct call *call, uint32_t ttft, uint32_t total)
{
	record_times(&call->r, call->at->target, ttft, total);
}

/* The tokens an answer cost: the provider's count, or one from the
 * request and the text when it gave none.  Returns the cost. */
static double
account(struct call *call, const struct answer *a)
{
	uint64_t in = a->in_tokens, out = a->out_tokens;
	bool usage = a->usage, estimated = false;

	if (call->at->xs_live) {
		/* A translated stream: the target's own counts, which the
		 * caller's stream may have no room for (an OpenAI caller
		 * that did not ask) or must give as zeros (Anthropic). */
		usage = call->at->xs.usage;
		in = call->at->xs.in_tokens;
		out = call->at->xs.out_tokens;
	}
	if (!usage) {
		in = call->q.est_in;
		out = answer_estimate_tokens(a->text.len);
		estimated = true;
	} else if (a->stream && (!a->done || a->error_event) &&
	    out < answer_estimate_tokens(a->text.len)) {
		/* A stream that broke off: Anthropic's count so far is the
		 * one in message_start, before any text. */
		out = answer_estimate_tokens(a->text.len);
		estimated = true;
	}
	return record_account(&call->r, call->at->target, in, out, estimated,
	    !route_first_rung(call->r.route, call->at->rung));
}

/* ---- ending a call ----------------------------------------------------- */

static void
call_destroy(void *arg)
{
	struct call *call = arg;

	attempts_free(call);
	json_decref(call->json);
	json_decref(call->cont_json);
	json_decref(call->cont_trimmed);
	qualify_free(&call->q);
	/* What a continued stream's caller had: zeroed unless one was
	 * continued, and kept past the state's end. */
	answer_free(&call->prev);
	free(call->r.model);
	buf_free(&call->body);
	record_free(&call->r);
	config_unref(call->cfg);
	free(call);
}

/* The call is over: nothing of it runs again, and it is freed after the
 * current batch of events (an upstream callback may be on the stack). */
void
call_finish(struct call *call, const char *result)
{
	if (finished(call))
		return;
	call->state = CS_FINISHED;
	if (call->r.result == NULL)
		call->r.result = result;
	call->d->stats->in_flight--;
	attempts_stop(call);
	record_end(&call->r);
	loop_defer(call->d->loop, call_destroy, call);
}

void
call_client_gone(struct call *call)
{
	if (finished(call))
		return;
	call->conn = NULL;
	call->req = NULL;
	if (call->r.route != NULL) {
		struct rstat *rs = stats_route(call->d->stats,
		    call->r.route->name);

		rs->client_gone++;
		/* The user-impact signal: did waiting for a fallback lose
		 * them? */
		if (call->ladder.rungs_tried > 1 ||
		    !route_first_rung(call->r.route, call->ladder.rung))
			rs->client_gone_fell_back++;
	}
	call_finish(call, "client-gone");
}

void
call_client_drained(struct call *call)
{
	if (!finished(call) && call->at->xfer != NULL)
		xfer_resume(call->at->xfer);
}

/* An error answer of llmfb's own, in the caller's API shape. */
void
respond_error(struct call *call, int status, const char *type,
    const char *message, const struct buf *extra, const char *result)
{
	json_t *err;
	char *body;

	err = dialect_error_body(call->dialect, type, type, message);
	body = err ? json_dumps(err, JSON_COMPACT) : NULL;
	if (call->conn != NULL)
		conn_respond_full(call->conn, status, extra,
		    "application/json", body ? body : "{}",
		    body ? strlen(body) : 2);
	free(body);
	json_decref(err);
	call_finish(call, result);
}

void
respond_safe_failure(struct call *call)
{
	const struct safe_failure *sf = &call->r.route->policy.safe;
	char msg[REASONS_MAX + 128];
	uint64_t retry_after;
	struct buf h;
	const char *type, *code;

	stats_route(call->d->stats, call->r.route->name)->safe_failures++;
	if (sf->message != NULL)
		snprintf(msg, sizeof(msg), "%s", sf->message);
	else
		snprintf(msg, sizeof(msg), "llmfb: no target could serve this "
		    "request (route %s; %s)", call->r.route->name,
		    call->r.reasons[0] ? call->r.reasons : "no usable target");
	buf_init(&h, 4096);
	llmfb_headers(call, &h, NULL);
	buf_addstr(&h, "x-llmfb-safe-failure: 1\r\n");
	/* When a breaker will half-open, that is when to come back. */
	if ((retry_after = breakers_retry_after_s(call)) == 0)
		retry_after = sf->retry_after_s;
	if (retry_after > 0)
		buf_printf(&h, "Retry-After: %llu\r\n",
		    (unsigned long long)retry_after);
	/* A caller's SDK may read the type: unless its API has one for
	 * this, the one a provider's error of that status is translated
	 * to. */
	if ((type = api_of(call->dialect)->safe_failure_type) == NULL)
		dialect_error_type(sf->status, call->dialect, &type, &code);
	log_warnx("call route=%s: safe failure after %d attempts (%s)",
	    call->r.route->name, call->ladder.attempts, call->r.reasons);
	respond_error(call, sf->status, type, msg, &h, "safe-failure");
	buf_free(&h);
}

/* ---- delivering an upstream answer --------------------------------- */

/* Send the held response head with this status: upstream headers less
 * the hop-by-hop ones (and, translated, the other API's), plus ours.
 * Returns 0 or -EPIPE. */
static int
commit_status(struct call *call, int status, long long content_length)
{
	struct xfer *x = call->at->xfer;
	struct buf h;
	const char *p, *end;
	int r;

	if (call->state == CS_CHOOSING) {
		/* Nothing races what the caller now reads. */
		hedge_settle(call);
		call->state = CS_ANSWERING;
	}
	buf_init(&h, x->headers.len + 4096);
	p = x->headers.data ? x->headers.data : "";
	end = p + x->headers.len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *colon;
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		char name[128];
		size_t nlen;

		colon = memchr(p, ':', len);
		nlen = colon ? (size_t)(colon - p) : 0;
		if (colon != NULL && nlen > 0 && nlen < sizeof(name)) {
			memcpy(name, p, nlen);
			name[nlen] = '\0';
			if (!hop_by_hop(name) && !(call->at->xlating &&
			    (api_header(name) || (status >= 400 &&
			    strcasecmp(name, "content-type") == 0)))) {
				buf_add(&h, p, len);
				if (len == 0 || p[len - 1] != '\r')
					buf_addstr(&h, "\r");
				buf_addstr(&h, "\n");
			}
		}
		p = eol ? eol + 1 : end;
	}
	/* A translated error is llmfb's JSON, whatever the target sent. */
	if (call->at->xlating && status >= 400)
		buf_addstr(&h, "Content-Type: application/json\r\n");
	llmfb_headers(call, &h, call->at->target);
	r = conn_respond_head(call->conn, status, &h, content_length);
	buf_free(&h);
	return r;
}

int
commit(struct call *call, long long content_length)
{
	return commit_status(call, (int)call->at->xfer->status, content_length);
}

/* The answer being delivered came from call->at->target: count it, and its
 * cost against what the primary would have cost for the same tokens. */
static void
count_served(struct call *call)
{
	struct tstat *ts;
	struct rstat *rs;

	if (call->r.route == NULL || call->at->target == NULL)
		return;
	call->r.served = call->at->target;
	call->r.translated = call->at->xlating;
	ts = tstat_of(call, call->at->target);
	rs = stats_route(call->d->stats, call->r.route->name);
	ts->served++;
	if (record_fell_back(&call->r, call->at->target)) {
		ts->fallback_served++;
		rs->fallbacks++;
		if (call->r.nrec > 0)
			rs->fallback_by[call->r.rec[0].fk]++;
	}
}

/* Bytes of the answer to the caller; the last four are kept. */
static int
send_body(struct call *call, const char *p, size_t n)
{
	size_t keep = n < sizeof(call->tail) ? n : sizeof(call->tail);

	if (n == 0)
		return 0;
	memmove(call->tail, call->tail + keep, sizeof(call->tail) - keep);
	memcpy(call->tail + sizeof(call->tail) - keep, p + n - keep, keep);
	return conn_respond_body(call->conn, p, n);
}

/* Whether what the caller has of a stream ends an event (or is
 * nothing): an empty line, as "\n\n", "\r\r" or "\r\n\r\n". */
static bool
at_event_boundary(const struct call *call)
{
	const char *t = call->tail;

	return memcmp(t, "\0\0\0\0", 4) == 0 ||
	    memcmp(t + 2, "\n\n", 2) == 0 || memcmp(t + 2, "\r\r", 2) == 0 ||
	    memcmp(t, "\r\n\r\n", 4) == 0;
}

/* How many held bytes come before answer offset upto. */
static size_t
held_upto(const struct call *call, size_t upto)
{
	size_t n = upto > call->at->held_base ? upto - call->at->held_base : 0;

	return n < buf_pending(&call->at->held) ? n : buf_pending(&call->at->held);
}

/* Forget held bytes before answer offset upto. */
static void
held_drop(struct call *call, size_t upto)
{
	size_t n = held_upto(call, upto);

	buf_consume(&call->at->held, n);
	if (buf_pending(&call->at->held) == 0)
		buf_reset(&call->at->held);
	call->at->held_base += n;
}

/* Send held bytes up to answer offset upto. */
static int
send_held(struct call *call, size_t upto)
{
	size_t n = held_upto(call, upto);

	if (n > 0 && send_body(call, buf_head(&call->at->held), n) < 0)
		return -1;
	held_drop(call, upto);
	return 0;
}

/* Whether the stream being read has said it ends badly: the provider's
 * own error event, or a refusal the route counts as a failure.  From
 * that event on nothing goes to the caller: what it gets instead is the
 * route's to say (a continuation, or one error event of llmfb's). */
static bool
stream_withheld(const struct call *call, size_t *ret_from)
{
	const struct answer *a = &call->at->ans;
	bool refusal = a->refusal && call->r.route->policy.q_refusal;

	if (!a->stream || (!a->error_event && !refusal))
		return false;
	if (ret_from != NULL) {
		*ret_from = a->error_event ? a->error_start : SIZE_MAX;
		if (refusal && a->refusal_start < *ret_from)
			*ret_from = a->refusal_start;
	}
	return true;
}

/* The end of a held stream: what can be sent ends at its last complete
 * event, and before an ending withheld; a body, at its end. */
static size_t
sendable(const struct call *call)
{
	size_t from;

	if (!call->at->ans.stream)
		return call->at->ans.fed;
	if (stream_withheld(call, &from) && from < call->at->ans.event_end)
		return from;
	return call->at->ans.event_end;
}

/* Whether the route holds this stream whole, to judge it as a body. */
static bool
hold_stream(const struct call *call)
{
	switch (call->r.route->policy.q_hold_stream) {
	case HOLD_STREAM_ALL:
		return true;
	case HOLD_STREAM_JSON:
		return call->want.json;
	default:
		return false;
	}
}

/* ---- an attempt's answer, as it comes and at its end ----------------- */

static bool
is_event_stream(const struct xfer *x)
{
	return x->headers.data != NULL &&
	    strcasestr(x->headers.data, "text/event-stream") != NULL;
}

/* A continuation's events, rewritten to follow what the caller has. */
static void
cont_event(void *arg, const char *event, const char *data, size_t start,
    size_t end)
{
	struct call *call = arg;
	enum answer_cont r;
	struct buf out;

	if (call->conn == NULL || stream_withheld(call, NULL))
		return;
	buf_init(&out, ANSWER_EVENT_MAX + 1024);
	r = answer_continue_event(&call->prev, &call->cs, event, data, &out);
	switch (r) {
	case AC_FORWARD:
		if (start >= call->at->held_base && end - call->at->held_base <=
		    buf_pending(&call->at->held))
			send_body(call, buf_head(&call->at->held) +
			    (start - call->at->held_base), end - start);
		break;
	case AC_REPLACE:
		send_body(call, out.data, out.len);
		break;
	default:
		break;
	}
	buf_free(&out);
}

/* A stream outgrew the hold before it could be judged (no content yet,
 * or a route that holds streams whole): it is committed to at its last
 * whole event, and read on as a stream after its first token is, whole
 * events only.  One that is already unreadable (an event past the
 * reader's cap) is broken off instead, while nothing of it went out.
 * Returns n, or 0 to break the transfer. */
static size_t
take_over_hold(struct call *call, const char *p, size_t n)
{
	struct answer *a = &call->at->ans;

	answer_feed(a, p, n);
	if (a->malformed || a->error_event) {
		call->at->too_big = true;
		return 0;
	}
	log_debug("attempt %s: a stream held past %u bytes goes out "
	    "unjudged", call->at->target->name, HELD_MAX);
	count_served(call);
	if (commit(call, -1) < 0 || send_held(call, sendable(call)) < 0 ||
	    buf_add(&call->at->held, p, n) < 0 ||
	    send_held(call, sendable(call)) < 0)
		return 0;
	return n;
}

/* The bytes of a 2xx answer, in the caller's dialect: read, held until
 * they prove good, then sent.  Returns n, or 0 to break the transfer. */
static size_t
take(struct call *call, struct xfer *x, const char *p, size_t n)
{
	struct answer *a = &call->at->ans;

	if (!call->at->ans_live) {
		answer_init(a, call->dialect, is_event_stream(x));
		/* A whole answer is in held already: read from there. */
		a->borrowed = !a->stream;
		call->at->ans_live = true;
		if (continuing(call)) {
			a->on_event = cont_event;
			a->on_event_arg = call;
		}
	}
	if (!a->stream)
		first_content(call);
	if (buf_add(&call->at->held, p, n) < 0 && !committed(call)) {
		if (a->stream)
			return take_over_hold(call, p, n);
		/* Too big to hold: it goes out as it is, unchecked. */
		count_served(call);
		if (commit(call, -1) < 0 || send_held(call, a->fed) < 0 ||
		    send_body(call, p, n) < 0)
			return 0;
		call->at->held_base += n;
		answer_feed(a, p, n);
		return n;
	}
	answer_feed(a, p, n);
	if (continuing(call)) {
		/* cont_event sent what the caller gets of it. */
		if (a->content)
			first_content(call);
		held_drop(call, a->event_end);
		return n;
	}
	if (!committed(call)) {
		/* A stream is held until its first content: a refusal is
		 * held to its end, as it may be a reason to move on, and so
		 * is all of it where the route judges streams whole. */
		if (!a->stream || !a->content)
			return n;
		first_content(call);
		if (a->refusal || hold_stream(call))
			return n;
		count_served(call);
		if (commit(call, -1) < 0)
			return 0;
	}
	if (send_held(call, sendable(call)) < 0)
		return 0;
	return n;
}

/* A translated answer: a stream goes through the translator as it
 * comes; a body is kept whole and translated at its end (on_done). */
static size_t
take_translated(struct call *call, struct xfer *x, const char *p, size_t n)
{
	struct buf *out = &call->at->xout;

	if (!is_event_stream(x)) {
		first_content(call);
		/* Translated only once whole: past the hold it cannot be,
		 * and the caller could not read it as it is. */
		if (buf_add(&call->at->xraw, p, n) < 0) {
			call->at->too_big = true;
			return 0;
		}
		return n;
	}
	if (!call->at->xs_live) {
		dialect_stream_init(&call->at->xs, &call->at->xl->info);
		call->at->xs_live = true;
	}
	buf_reset(out);
	if (dialect_stream_feed(&call->at->xs, p, n, out) < 0) {
		log_debug("attempt %s: the stream cannot be translated",
		    call->at->target->name);
		return 0;
	}
	return out->len == 0 || take(call, x, out->data, out->len) ==
	    out->len ? n : 0;
}

/* The whole body of a translated answer, now that it ended.  Returns 0,
 * or -1 when it is not an answer of its target's dialect. */
static int
take_translated_body(struct call *call, struct xfer *x)
{
	json_t *in, *out;
	char *s = NULL;
	int r = -1;

	in = json_loadb(call->at->xraw.data ? call->at->xraw.data : "",
	    call->at->xraw.len, 0, NULL);
	out = in != NULL ? dialect_response(in, &call->at->xl->info) : NULL;
	if (out != NULL && (s = json_dumps(out, JSON_COMPACT)) != NULL &&
	    take(call, x, s, strlen(s)) == strlen(s)) {
		/* Read from the tree it is: its bytes are not parsed again. */
		answer_read_tree(&call->at->ans, out);
		r = 0;
	}
	free(s);
	json_decref(out);
	json_decref(in);
	return r;
}

size_t
call_xfer_body(struct call *call, struct xfer *x, const char *p, size_t n)
{
	/* Backpressure, before anything is taken: curl hands the same
	 * bytes again on resume. */
	if (committed(call) && conn_pending(call->conn) >= CONN_HIGH_WATER)
		return XFER_PAUSE;
	if (call->r.route == NULL)
		return passthrough_body(call, p, n);
	if (call->r.route->policy.idle_timeout_ms > 0)
		timer_set(call->d->loop, &call->at->idle,
		    call->r.route->policy.idle_timeout_ms);
	if (!is_2xx(x->status)) {
		/* An error answer, held whole: it may be a reason to move
		 * on, and it is read once it is complete. */
		buf_add(&call->at->held, p, n);
		first_token(call);
		return n;
	}
	if (call->at->xlating)
		return take_translated(call, x, p, n);
	return take(call, x, p, n);
}

static enum outcome_kind
outcome_of_end(enum xfer_end e)
{
	switch (e) {
	case XE_OK:
		return OUT_OK;
	case XE_CONNECT:
		return OUT_CONNECT;
	case XE_TIMEOUT_CONNECT:
		return OUT_TIMEOUT_CONNECT;
	case XE_TIMEOUT_TOTAL:
		return OUT_TIMEOUT_TOTAL;
	case XE_TLS:
		return OUT_TLS;
	case XE_BROKEN:
		break;
	}
	return OUT_BROKEN;
}

/* What a finished 2xx answer says about itself, under the route's
 * quality floor. */
static void
judge_answer(struct call *call, struct outcome *o)
{
	const struct policy *p = &call->r.route->policy;
	enum answer_verdict v = answer_verdict(&call->at->ans, &call->want);

	o->why = answer_verdict_name(v);
	switch (v) {
	case AV_OK:
		o->why = NULL;
		break;
	case AV_MALFORMED:
	case AV_ERROR_EVENT:
	case AV_TRUNCATED:
		o->body = FK_TECHNICAL;
		break;
	case AV_REFUSAL:
		o->body = p->q_refusal ? FK_CONTENT : FK_NONE;
		break;
	case AV_EMPTY:
		o->body = p->q_empty ? FK_QUALITY : FK_NONE;
		break;
	case AV_TOOL_ARGS:
		o->body = p->q_tool_args ? FK_QUALITY : FK_NONE;
		break;
	default:		/* AV_LENGTH, AV_BAD_JSON: asked for by want */
		o->body = FK_QUALITY;
		break;
	}
}

/* What a held error answer says: a context window or a content filter
 * is a policy matter, not the caller's mistake. */
static void
judge_error(struct call *call, struct outcome *o)
{
	switch (provider_error_kind(target_dialect(call, call->at->target),
	    o->status, call->at->held.data, call->at->held.len)) {
	case PE_CONTEXT:
		o->body = FK_CONTEXT;
		o->why = "context";
		break;
	case PE_CONTENT_FILTER:
		o->body = FK_CONTENT;
		o->why = "content-filter";
		break;
	default:
		break;
	}
}

static void midstream_failed(struct call *call, const struct outcome *o);

/* The attempt ended without a usable answer: walk on (or, once the
 * caller has part of an answer, see what the route says). */
void
attempt_failed(struct call *call, const struct outcome *o)
{
	if (committed(call))
		midstream_failed(call, o);
	else
		attempt_ended(call, o);
}

void
call_xfer_done(struct call *call, struct xfer *x, enum xfer_end e)
{
	struct outcome o = { .kind = OUT_OK, .status = (int)x->status };

	timer_cancel(call->d->loop, &call->at->first_token);
	timer_cancel(call->d->loop, &call->at->idle);
	if (finished(call))
		return;		/* call_destroy frees the xfer */
	if (e != XE_OK) {
		o.kind = outcome_of_end(e);
		if (x->too_big || call->at->too_big)
			o.why = "answer-too-large";
		log_debug("attempt %s: %s", call->at->target ? call->at->target->name :
		    call->r.host, xfer_error(x, e));
	}
	if (call->r.route == NULL) {
		passthrough_done(call, e, &o);
		return;
	}
	if (x->status >= 400)
		o.retry_after_ms = retry_after_ms(x->headers.data,
		    x->headers.len, time(NULL));
	if (x->status == 429 && call->at->target != NULL) {
		struct tstat *ts = tstat_of(call, call->at->target);

		/* Other calls pass it over until then: its Retry-After, or
		 * the reset of the window it says is spent. */
		uint64_t now = now_real_ns() / 1000000;

		ts->rl_429s++;
		ratelimit_blocked(&ts->rl, now, o.retry_after_ms);
		shared_ratelimit_seen(call->d->shared, call->at->target, ts);
		/* Without a Retry-After, the spent window's reset is the
		 * wait: this call's ladder honours it too. */
		if (o.retry_after_ms == 0 && ts->rl.blocked_until_ms > now)
			o.retry_after_ms = ts->rl.blocked_until_ms - now;
	}
	o.foreign = call->at->target != NULL &&
	    !own_provider(call, call->at->target->provider);
	o.own_key = !o.foreign &&
	    (http_req_header(call->req, "authorization") != NULL ||
	    http_req_header(call->req, "x-api-key") != NULL ||
	    http_req_header(call->req, "api-key") != NULL);
	if (e == XE_OK && call->at->xlating && is_2xx(x->status) &&
	    !is_event_stream(x) && take_translated_body(call, x) < 0) {
		o.body = FK_TECHNICAL;
		o.why = "untranslatable";
	} else if (e == XE_OK && is_2xx(x->status)) {
		/* No byte of it came: it is read all the same, as empty. */
		if (!call->at->ans_live)
			take(call, x, "", 0);
		/* A body too big to hold went out unread: it ends unjudged. */
		if (call->at->ans.stream) {
			answer_end(&call->at->ans);
			judge_answer(call, &o);
		} else if (!committed(call)) {
			answer_end_body(&call->at->ans, buf_head(&call->at->held),
			    buf_pending(&call->at->held));
			judge_answer(call, &o);
		} else {
			answer_end(&call->at->ans);
		}
	} else if (e == XE_OK && !is_2xx(x->status)) {
		judge_error(call, &o);
	}
	/* An answer that began has ended whole: a stream with its end
	 * marker and no error or counted refusal in it, or a body too big
	 * to have been held and read. */
	if (committed(call) && e == XE_OK && is_2xx(x->status) &&
	    (!call->at->ans.stream || (o.body != FK_TECHNICAL &&
	    !stream_withheld(call, NULL)))) {
		if (!continuing(call))
			send_held(call, call->at->ans.fed);
		/* A stream's miss found only at its end (bad JSON, a cut by
		 * length) cannot be taken back: the record says so. */
		call->r.served = call->at->target;
		call->r.translated = call->at->xlating;
		attempt_record(call, o.body, o.why, o.status);
		target_result(call, true);
		note_times(call, call->at->ttft_ms,
		    (uint32_t)(now_mono_ms() - call->at->attempt_ms));
		account(call, &call->at->ans);
		conn_respond_end(call->conn);
		call_finish(call, continuing(call) ? "continued" :
		    record_fell_back(&call->r, call->at->target) ? "fallback" : "served");
		return;
	}
	attempt_failed(call, &o);
}

/* ---- the ladder -------------------------------------------------------- */

/* The held error answer of a target of the other dialect, as the
 * caller's dialect says it.  Returns 0 or -1. */
static int
translate_error(struct call *call, int *status)
{
	json_t *j;
	char *s;
	int r = -1;

	j = dialect_error(*status, call->at->held.data, call->at->held.len,
	    target_dialect(call, call->at->target), call->dialect, status);
	if (j != NULL && (s = json_dumps(j, JSON_COMPACT)) != NULL) {
		buf_reset(&call->at->held);
		r = buf_addstr(&call->at->held, s);
		free(s);
	}
	json_decref(j);
	return r;
}

/* Whether the held answer is a JSON array: Gemini's errors,
 * [{"error": {...}}], which no OpenAI caller reads. */
static bool
held_is_array(const struct call *call)
{
	size_t i;

	for (i = 0; i < call->at->held.len; i++)
		if (!isspace((unsigned char)call->at->held.data[i]))
			return call->at->held.data[i] == '[';
	return false;
}

/* Deliver the held answer of the last attempt (an error, translated). */
void
deliver_held(struct call *call, const char *result)
{
	struct stats *st = call->d->stats;
	bool stream = call->at->ans_live && call->at->ans.stream;
	int status = (int)call->at->xfer->status;

	if (call->r.route != NULL && status >= 400)
		stats_route(st, call->r.route->name)->delivered_errors++;
	else
		count_served(call);
	if (call->r.route != NULL && status >= 400 && (call->at->xlating ||
	    held_is_array(call)) && translate_error(call, &status) < 0) {
		respond_error(call, 502, "api_error", "llmfb: out of memory",
		    NULL, result);
		return;
	}
	if (commit_status(call, status, stream ? -1 :
	    (long long)call->at->held.len) == 0) {
		if (call->at->held.len > 0)
			conn_respond_body(call->conn, call->at->held.data,
			    call->at->held.len);
		if (call->conn != NULL)
			conn_respond_end(call->conn);
	}
	call_finish(call, result);
}

/* Note an attempt's failure everywhere it is counted; its reason goes
 * at offset at of the reasons. */
static void
count_failure(struct call *call, const struct outcome *o, enum fail_kind fk,
    const char *why, size_t at)
{
	struct tstat *ts = tstat_of(call, call->at->target);

	ts->failures++;
	ts->by_kind[o->kind]++;
	ts->by_fail[fk]++;
	if (o->kind == OUT_OK && o->status >= 100 && o->status < 600)
		ts->by_status[o->status / 100]++;
	snprintf(ts->last_failure, sizeof(ts->last_failure), "%s", why);
	record_reason(&call->r, at, call->at->target->name, why);
}

/* Times worth keeping for the target's latency: answers, and timeouts
 * (a lower bound that still tells the truth about a slow target). */
static void
latency_sample(struct call *call, const struct outcome *o)
{
	uint64_t now = now_mono_ms();
	uint32_t total = (uint32_t)(now - call->at->attempt_ms);
	uint32_t ttft = call->at->ttft_ms;

	if (o->kind == OUT_TIMEOUT_FIRST_BYTE)
		ttft = total;
	else if (o->kind != OUT_OK && o->kind != OUT_TIMEOUT_TOTAL &&
	    o->kind != OUT_TIMEOUT_IDLE)
		return;
	note_times(call, ttft, total);
}

static void
attempt_ended(struct call *call, const struct outcome *o)
{
	uint64_t now = now_mono_ms(), delay = 0, remaining;
	struct attempt *other;
	enum fail_kind fk;
	enum ladder_action a;
	char why[64];
	size_t mark;

	if (call->r.route == NULL) {
		passthrough_ended(call, o);
		return;
	}
	fk = outcome_classify(o, &call->r.route->policy);
	outcome_why(o, why, sizeof(why));
	target_result(call, fk != FK_TECHNICAL);
	latency_sample(call, o);
	if (call->at->ans_live && is_2xx(o->status))
		account(call, &call->at->ans);	/* tokens spent all the same */
	if ((other = other_attempt(call)) != NULL) {
		/* One of a race ended with nothing to deliver first: the
		 * other goes on alone, and the ladder moves only once it
		 * ends too. */
		attempt_record(call, fk, fk == FK_NONE ? NULL : why,
		    o->status);
		if (fk != FK_NONE)
			count_failure(call, o, fk, why,
			    strlen(call->r.reasons));
		log_debug("route %s: %s failed (%s) while %s runs",
		    call->r.route->name, call->at->target->name, why,
		    other->target->name);
		attempt_release(call);
		buf_reset(&call->at->held);
		answer_drop(call);
		call->at = other;
		return;
	}
	/* The last of a race failed too: no winner. */
	if (call->hedged)
		call->race_done = true;
	remaining = call->deadline_ms > now ? call->deadline_ms - now : 0;
	mark = strlen(call->r.reasons);
	a = ladder_next(&call->ladder, o, remaining, arc4random(), &delay);
	attempt_record(call, fk, fk == FK_NONE ? NULL : why, o->status);
	if (a == LADDER_DELIVER) {
		deliver_held(call, record_fell_back(&call->r, call->at->target) ? "fallback" :
		    o->status >= 400 ? "error-delivered" : "served");
		return;
	}
	count_failure(call, o, fk, why, mark);
	log_debug("route %s: %s failed (%s, %s), %s", call->r.route->name,
	    call->at->target->name, fail_kind_name(fk), why,
	    a == LADDER_TRY ? "moving on" : "giving up");
	if (a == LADDER_FAIL && o->kind == OUT_OK && fk != FK_TECHNICAL &&
	    !outcome_llmfbs(o)) {
		/* Nothing better qualifies: a real answer (a miss of the
		 * quality floor, a refusal, a provider's 4xx) beats a safe
		 * failure. */
		deliver_held(call, "delivered-miss");
		return;
	}
	attempt_release(call);
	buf_reset(&call->at->held);
	answer_drop(call);
	if (a == LADDER_FAIL)
		respond_safe_failure(call);
	else
		attempt_next(call, delay);
}

/* ---- mid-stream ------------------------------------------------------ */

/* The error event that ends a stream that cannot be finished. */
static void
stream_error_event(struct call *call, const char *why)
{
	struct buf ev;

	if (midstream_error_event(&ev, call->dialect, &call->at->ans,
	    continuing(call) ? &call->prev : NULL, &call->cs, why,
	    at_event_boundary(call)) == 0)
		send_body(call, ev.data, ev.len);
	buf_free(&ev);
}

static void
midstream_failed(struct call *call, const struct outcome *o)
{
	struct rstat *rs = stats_route(call->d->stats, call->r.route->name);
	const struct answer *got = continuing(call) ? &call->prev : &call->at->ans;
	uint64_t now = now_mono_ms(), delay = 0, remaining;
	enum ladder_action a = LADDER_FAIL;
	enum fail_kind fk = outcome_classify(o, &call->r.route->policy);
	char why[64];

	/* A refusal after the first token is the answer's content, the
	 * rest a broken exchange. */
	if (fk != FK_CONTENT)
		fk = FK_TECHNICAL;
	outcome_why(o, why, sizeof(why));
	if (o->kind == OUT_OK && o->why == NULL)
		snprintf(why, sizeof(why), "%s", "broken");
	attempt_record(call, fk, why, o->status);
	count_failure(call, o, fk, why, strlen(call->r.reasons));
	target_result(call, fk != FK_TECHNICAL);
	if (call->at->ans_live && is_2xx(o->status)) {
		account(call, &call->at->ans);
		call->cont_out += call->r.last_out;
	}
	remaining = call->deadline_ms > now ? call->deadline_ms - now : 0;
	/* Continue only with a text prefix: never once a tool call went
	 * out, and never twice over content a continuation already sent. */
	if (call->r.route->policy.midstream == MIDSTREAM_CONTINUE &&
	    !got->tool_call && !(continuing(call) && call->at->ans.content) &&
	    got->content)
		a = ladder_next(&call->ladder, o, remaining, arc4random(),
		    &delay);
	log_warnx("call route=%s target=%s: the answer broke off (%s): %s",
	    call->r.route->name, call->at->target->name, why,
	    a == LADDER_TRY ? "continuing on the next rung" : "ending it");
	attempt_release(call);
	if (!got->stream || call->conn == NULL) {
		/* A body cannot carry an error event: the caller must see a
		 * broken reply, never a silent short one. */
		if (call->conn != NULL)
			conn_abort(call->conn);
		call_finish(call, "broken");
		return;
	}
	if (a == LADDER_TRY && !continuing(call)) {
		/* What the caller has is the base the rest must fit. */
		call->prev = call->at->ans;
		memset(&call->at->ans, 0, sizeof(call->at->ans));
		call->at->ans_live = false;
		call->state = CS_CONTINUING;
		memset(&call->cs, 0, sizeof(call->cs));
		call->cont_json = midstream_request(call->dialect, call->json,
		    &call->prev, false, NULL);
		call->cont_trimmed = midstream_request(call->dialect,
		    call->json, &call->prev, true, &call->cont_trim);
	}
	answer_drop(call);
	buf_reset(&call->at->held);
	call->at->held_base = 0;
	if (a != LADDER_TRY || call->cont_json == NULL ||
	    call->cont_trimmed == NULL) {
		rs->midstream_errors++;
		stream_error_event(call, why);
		conn_respond_end(call->conn);
		call_finish(call, "midstream-error");
		return;
	}
	rs->midstream_continued++;
	call->cs.out_before = call->cont_out;
	attempt_next(call, delay);
}

/* ---- the start of a call ---------------------------------------------- */

/* Where the caller meant to go: the preamble of a redirected connect(),
 * else the libcurl layer's X-Llmfb-Origin header (both
 * "http[s]://host:port"), else the Host header over https.  Returns 0 or
 * -EINVAL. */
static int
parse_origin(struct call *call)
{
	const char *o = conn_origin(call->conn);
	const char *h, *colon;
	size_t hlen;
	int port = 443;

	if (o == NULL)
		o = http_req_header(call->req, "x-llmfb-origin");
	snprintf(call->scheme, sizeof(call->scheme), "https");
	if (o != NULL) {
		if (strncasecmp(o, "http://", 7) == 0) {
			snprintf(call->scheme, sizeof(call->scheme), "http");
			port = 80;
			h = o + 7;
		} else if (strncasecmp(o, "https://", 8) == 0) {
			h = o + 8;
		} else {
			return -EINVAL;
		}
	} else if ((h = http_req_header(call->req, "host")) == NULL) {
		return -EINVAL;
	}
	colon = strchr(h, ':');
	hlen = colon ? (size_t)(colon - h) : strlen(h);
	if (hlen == 0 || hlen >= sizeof(call->r.host))
		return -EINVAL;
	if (colon != NULL && parse_int(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	for (size_t i = 0; i < hlen; i++) {
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' &&
		    h[i] != '_')
			return -EINVAL;
		call->r.host[i] = (char)tolower((unsigned char)h[i]);
	}
	call->r.host[hlen] = '\0';
	call->port = port;
	return 0;
}

/* Spend is kept per route and per caller: its user and its program,
 * not its pid.  A path too long for the key is cut: such callers share
 * one. */
static void
budget_keys(struct call *call)
{
	const struct caller *c = &call->r.caller;
	const char *prog = c->exe[0] ? c->exe : c->comm[0] ? c->comm : "?";

	snprintf(call->r.route_key, sizeof(call->r.route_key), "route:%s",
	    call->r.route->name);
	snprintf(call->r.fallback_key, sizeof(call->r.fallback_key),
	    "fallback:%s", call->r.route->name);
	snprintf(call->r.caller_key, sizeof(call->r.caller_key),
	    "caller:uid=%u:%.*s", (unsigned)c->uid,
	    (int)sizeof(call->r.caller_key) - 32, prog);
}

static uint64_t
json_u64(const json_t *j)
{
	return json_is_integer(j) && json_integer_value(j) > 0 ?
	    (uint64_t)json_integer_value(j) : 0;
}

/* What the request asks of an answer, and roughly what it costs. */
static void
read_request(struct call *call)
{
	call->q.est_in = request_estimate_tokens(call->json);
	call->q.max_out = request_max_tokens(call->json);
	call->want.json = call->r.route->policy.q_json &&
	    request_wants_json(call->json);
	call->want.forbid_length = call->r.route->policy.q_length;
	/* Vectors of the dimensions asked, else of the first rung's. */
	if (api_of(call->dialect)->dimensions) {
		call->q.dims = (uint32_t)json_u64(json_object_get(call->json,
		    "dimensions"));
		if (call->q.dims == 0)
			call->q.dims = call->r.route->ladder[0]->dimensions;
	}
}

/* From the shim handing the request over (its stamp: a preamble line
 * or, from the libcurl layer, a header) to llmfbd having all of it. */
static void
note_shim_latency(struct call *call)
{
	const char *h = http_req_header(call->req, "x-llmfb-sent");
	uint64_t sent = conn_take_sent(call->conn), now = now_mono_us();

	if (h != NULL && parse_u64(h, 1, UINT64_MAX, &sent) < 0)
		sent = 0;
	/* Another clock (a time namespace) or a stale stamp says nothing. */
	if (sent == 0 || sent > now || now - sent > 60 * 1000000ULL)
		return;
	hist_add(&call->d->stats->shim_h, (double)(now - sent) / 1000);
}

struct call *
call_start(struct daemon *d, struct conn *c, struct http_req *r)
{
	struct call *call = xcalloc(1, sizeof(*call));
	struct route_req rq;
	json_error_t jerr;
	json_t *model;

	call->d = d;
	call->r.d = d;
	call->q.d = d;
	call->q.r = &call->r;
	call->cfg = config_ref(d->cfg);
	call->conn = c;
	call->req = r;
	call->body = r->body;			/* the call owns it now */
	buf_init(&r->body, 0);
	call->r.start_ms = now_mono_ms();
	attempts_init(call);
	caller_copy(&call->r.caller, conn_caller(c));
	note_shim_latency(call);
	d->stats->calls++;
	d->stats->in_flight++;
	call->api = api_of_request(r->method, r->path);
	/* Not a call of any API: llmfb's own errors are OpenAI's shape. */
	call->dialect = call->api != NULL ? call->api->dialect :
	    DIALECT_OPENAI;
	call->r.dialect = call->dialect;

	if (parse_origin(call) < 0) {
		d->stats->rejected++;
		respond_error(call, 400, "invalid_request_error",
		    "llmfb: no usable Host or X-Llmfb-Origin header", NULL,
		    "rejected");
		return NULL;
	}
	if (!config_intercepts(call->cfg, call->r.host, strlen(call->r.host))) {
		d->stats->rejected++;
		respond_error(call, 421, "invalid_request_error",
		    "llmfb: this host is not intercepted", NULL, "rejected");
		return NULL;
	}
	if (call->api != NULL) {
		call->json = json_loadb(call->body.data ? call->body.data : "",
		    call->body.len, 0, &jerr);
		if (call->json == NULL || !json_is_object(call->json)) {
			d->stats->rejected++;
			respond_error(call, 400, "invalid_request_error",
			    "llmfb: the request body is not a JSON object",
			    NULL, "rejected");
			return NULL;
		}
		model = json_object_get(call->json, "model");
		if (json_is_string(model))
			call->r.model = xstrdup(json_string_value(model));
		rq = (struct route_req){
			.host = call->r.host, .path = r->path,
			.model = call->r.model,
			.header = http_req_header(r, "x-llmfb-route"),
			.exe = call->r.caller.exe, .comm = call->r.caller.comm,
			.unit = call->r.caller.unit,
			.cgroup = call->r.caller.cgroup,
			.cred = call->r.caller.cred, .uid = call->r.caller.uid,
			.gid = call->r.caller.gid,
		};
		call->r.route = route_match(call->cfg, &rq);
		if (call->r.route != NULL) {
			call->q.json = call->json;
			read_request(call);
			budget_keys(call);
		}
	}
	if (call->r.route == NULL) {
		passthrough_start(call);
		return finished(call) ? NULL : call;
	}
	stats_route(d->stats, call->r.route->name)->calls++;
	if (call->r.route->policy.hedge_on) {
		struct rstat *rs = stats_route(d->stats, call->r.route->name);

		/* Its share of hedges counts all the route's calls. */
		hedge_window(rs, call->r.route->policy.hedge_window_ms,
		    call->r.start_ms);
		rs->hedge_win_calls[0]++;
	}
	call->deadline_ms = call->r.start_ms + call->r.route->policy.deadline_ms;
	ladder_init(&call->ladder, call->r.route, qualify_target, &call->q);
	qualify_group_orders(&call->q, &call->ladder);
	if (ladder_first(&call->ladder) == LADDER_FAIL) {
		respond_safe_failure(call);
		return NULL;
	}
	attempt_start(call);
	return finished(call) ? NULL : call;
}
