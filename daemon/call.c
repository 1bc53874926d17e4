#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "budget.h"
#include "call.h"
#include "caller.h"
#include "config.h"
#include "state.h"
#include "dialect.h"
#include "dialect_stream.h"
#include "events.h"
#include "group.h"
#include "inject.h"
#include "ladder.h"
#include "log.h"
#include "netview.h"
#include "outbound.h"
#include "record.h"
#include "route.h"
#include "server.h"
#include "shared.h"
#include "stats.h"
#include "upstream.h"
#include "util.h"

#define HELD_MAX	ANSWER_BODY_MAX	/* an answer held before delivery */
#define PASSTHROUGH_CONNECT_MS	10000
/* A group picking by latency looks at the last minute's answers. */
#define GROUP_LATENCY_WINDOW_MS	60000

/* Where a call is.  It only moves down this list, and every step is
 * taken in one place: commit_status(), midstream_failed() and
 * call_finish(). */
enum call_state {
	CS_CHOOSING,	/* walking its ladder: nothing sent yet, an answer
			 * held until it is judged */
	CS_ANSWERING,	/* an answer's head went out: it is delivered */
	CS_CONTINUING,	/* that answer's stream broke, and later rungs
			 * write the rest of it */
	CS_FINISHED,	/* over: nothing of it runs again */
};

struct call {
	struct daemon		*d;
	struct config		*cfg;		/* the config it started with */
	struct conn		*conn;		/* NULL once the client left */
	struct http_req		*req;		/* valid while conn is */
	struct buf		 body;		/* the request body (owned) */
	char			 scheme[8];
	int			 port;
	const struct api	*api;		/* the caller's; NULL: none */
	enum dialect		 dialect;	/* the caller's */
	json_t			*json;		/* parsed body (ladder only) */
	struct ladder		 ladder;
	uint64_t		 deadline_ms;	/* monotonic */
	struct xfer		*xfer;		/* the running attempt */
	char			*attempt_body;	/* rewritten body, or NULL */
	const struct target	*target;	/* of the running attempt */
	const struct target	*busy;		/* counted in its in_flight */
	struct timer		 first_token;
	struct timer		 idle;
	struct timer		 retry;
	/* A fault put in the running attempt (llmfbctl inject): a copy,
	 * as the operator may end it meanwhile. */
	struct fault		 fault;
	bool			 faulted;
	bool			 fault_times_out; /* its delay passes the
						   * attempt's timeout */
	uint64_t		 cut_left;	/* bytes until a cut */
	char			 fault_name[FAULT_NAME_MAX];
	struct timer		 fault_timer;
	/* The running attempt's answer: read as it comes, and its bytes not
	 * yet sent (all of it until the call commits to it; after that, a
	 * stream's unfinished event). */
	struct answer		 ans;
	bool			 ans_live;
	struct buf		 held;
	size_t			 held_base;	/* answer offset of held[0] */
	struct answer_want	 want;
	/* Translation, for targets of another API: the request in each
	 * (made once, when a target of it is first considered), or why it
	 * cannot be; and the running attempt's answer on its way back. */
	struct xlation {
		json_t		*json;
		char		 why[DIALECT_WHY_MAX];
		struct dialect_info info;
	}			 x[DIALECTS];
	const struct xlation	*xl;		/* the running attempt's */
	bool			 xlating;	/* the running attempt is */
	struct dialect_stream	 xs;
	bool			 xs_live;
	struct buf		 xraw;		/* its whole body, untranslated */
	struct buf		 xout;		/* a stream's bytes, translated */
	uint64_t		 est_in;	/* the request's tokens, roughly */
	uint64_t		 max_out;	/* its max_tokens; 0: not set */
	uint32_t		 dims;		/* vectors' dimensions asked
						 * (api->dimensions); 0: any */
	uint64_t		 attempt_ms;	/* when the attempt began */
	uint32_t		 ttft_ms;	/* its first token; NO_TIME */
	struct net_call		 net;		/* its socket, at its head */
	/* A stream that broke after it began, continued elsewhere. */
	struct answer		 prev;		/* what the caller has of it */
	struct cont_state	 cs;
	json_t			*cont_json;	/* the request with the prefix */
	json_t			*cont_trimmed;	/* ... less its trailing blanks,
						 * for Anthropic targets */
	size_t			 cont_trim;	/* how many blanks that is */
	uint64_t		 cont_out;	/* output tokens of the attempts
						 * it continues */
	/* The last bytes of a stream the caller got: whether they end an
	 * event, so that an error event of ours starts a new one. */
	char			 tail[4];
	bool			 too_big;	/* outgrew the hold */
	struct record		 r;		/* what it says of itself */
	enum call_state		 state;
};

/* The head of an answer went out (and the call may have ended since). */
static bool
committed(const struct call *call)
{
	return call->state == CS_ANSWERING || call->state == CS_CONTINUING;
}

static bool
continuing(const struct call *call)
{
	return call->state == CS_CONTINUING;
}

static bool
finished(const struct call *call)
{
	return call->state == CS_FINISHED;
}

/* The API an attempt at t speaks: the caller's, where t's provider
 * speaks it; else t's provider's own, translated to. */
static enum dialect
target_dialect(const struct call *call, const struct target *t)
{
	return api_for_target(api_of(call->dialect), t->provider->dialect);
}

static void attempt_start(struct call *call);
static void attempt_ended(struct call *call, const struct outcome *o);
static void attempt_failed(struct call *call, const struct outcome *o);

/* ---- small helpers --------------------------------------------------- */

/* Whether p is the provider the caller called (p == NULL: passthrough,
 * the caller's own host). */
static bool
own_provider(const struct call *call, const struct provider *p)
{
	return p == NULL || strcasecmp(p->origin, call->r.host) == 0;
}

/* Add "target=why" to the reasons at offset at (their end, or where an
 * attempt's failure goes before the skips its ladder step found). */
static void
insert_reason(struct call *call, size_t at, const char *target,
    const char *why)
{
	char item[128], *r = call->r.reasons;
	size_t len = strlen(r), n;

	n = (size_t)snprintf(item, sizeof(item), "%s=%s%s", target, why,
	    at < len ? "," : "");
	if (at > 0 && at == len && n + 1 < sizeof(item)) {
		memmove(item + 1, item, n + 1);
		item[0] = ',';
		n++;
	}
	if (n >= sizeof(item) || len + n >= sizeof(call->r.reasons))
		return;		/* full: the first reasons matter most */
	memmove(r + at + n, r + at, len - at + 1);
	memcpy(r + at, item, n);
}

static void
add_reason_str(struct call *call, const char *target, const char *why)
{
	insert_reason(call, strlen(call->r.reasons), target, why);
}

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

static bool
is_2xx(long status)
{
	return status >= 200 && status < 300;
}

static struct tstat *
tstat_of(struct call *call, const struct target *t)
{
	return stats_target(call->d->stats, t->name);
}

/* The running attempt's result, for its target's breaker: a technical
 * failure counts against it; anything else shows it working. */
static void
target_result(struct call *call, bool ok)
{
	struct breaker *b = &tstat_of(call, call->target)->br;
	enum breaker_state was = b->state;
	uint64_t opens = b->opens;

	breaker_record(b, &call->target->breaker, ok, now_mono_ms());
	/* Opened, or closed by a probe: the fleet hears of it. */
	if (b->opens != opens || (was != BREAKER_CLOSED &&
	    b->state == BREAKER_CLOSED))
		shared_breaker_changed(call->d->shared, call->target, b);
}

/* The attempt no longer occupies its target. */
static void
attempt_release(struct call *call)
{
	if (call->busy != NULL) {
		tstat_of(call, call->busy)->in_flight--;
		call->busy = NULL;
	}
	xfer_free(call->xfer);
	call->xfer = NULL;
	timer_cancel(call->d->loop, &call->first_token);
	timer_cancel(call->d->loop, &call->idle);
	timer_cancel(call->d->loop, &call->fault_timer);
	call->faulted = false;
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
	if (served != NULL && call->xlating)
		buf_printf(h, "x-llmfb-translated: %s\r\n",
		    dialect_name(call->xl->info.to));
}

/* ---- the call's record (record.c) ---------------------------------- */

static void
note_times(struct call *call, uint32_t ttft, uint32_t total)
{
	record_times(&call->r, call->target, ttft, total);
}

/* The running attempt ended so: its times, its connection and what the
 * kernel saw of it go into the record. */
static void
attempt_record(struct call *call, enum fail_kind fk, const char *why,
    int status)
{
	struct attempt_rec a;

	if (call->target == NULL)
		return;
	memset(&a, 0, sizeof(a));
	snprintf(a.why, sizeof(a.why), "%s", why ? why : "");
	snprintf(a.injected, sizeof(a.injected), "%s", call->faulted ?
	    call->fault_name : "");
	a.status = status;
	if (call->xfer != NULL)
		a.connect_ms = (uint32_t)(xfer_connect_s(call->xfer) * 1000);
	netview_attempt(call->d->netview, call->xfer, &call->net,
	    tstat_of(call, call->target), &a.net);
	a.first_token_ms = call->ttft_ms;
	a.total_ms = (uint32_t)(now_mono_ms() - call->attempt_ms);
	record_attempt(&call->r, call->target, fk, &a);
}

/* The tokens an answer cost: the provider's count, or one from the
 * request and the text when it gave none.  Returns the cost. */
static double
account(struct call *call, const struct answer *a)
{
	uint64_t in = a->in_tokens, out = a->out_tokens;
	bool usage = a->usage, estimated = false;

	if (call->xs_live) {
		/* A translated stream: the target's own counts, which the
		 * caller's stream may have no room for (an OpenAI caller
		 * that did not ask) or must give as zeros (Anthropic). */
		usage = call->xs.usage;
		in = call->xs.in_tokens;
		out = call->xs.out_tokens;
	}
	if (!usage) {
		in = call->est_in;
		out = answer_estimate_tokens(a->text.len);
		estimated = true;
	} else if (a->stream && (!a->done || a->error_event) &&
	    out < answer_estimate_tokens(a->text.len)) {
		/* A stream that broke off: Anthropic's count so far is the
		 * one in message_start, before any text. */
		out = answer_estimate_tokens(a->text.len);
		estimated = true;
	}
	return record_account(&call->r, call->target, in, out, estimated,
	    !route_first_rung(call->r.route, call->ladder.rung));
}

/* ---- ending a call ----------------------------------------------------- */

static void
call_destroy(void *arg)
{
	struct call *call = arg;
	size_t i;

	attempt_release(call);
	timer_cancel(call->d->loop, &call->retry);
	timer_cancel(call->d->loop, &call->fault_timer);
	json_decref(call->json);
	json_decref(call->cont_json);
	json_decref(call->cont_trimmed);
	for (i = 0; i < DIALECTS; i++)
		json_decref(call->x[i].json);
	if (call->xs_live)
		dialect_stream_free(&call->xs);
	buf_free(&call->xraw);
	buf_free(&call->xout);
	if (call->ans_live)
		answer_free(&call->ans);
	/* What a continued stream's caller had: zeroed unless one was
	 * continued, and kept past the state's end. */
	answer_free(&call->prev);
	free(call->r.model);
	free(call->attempt_body);
	buf_free(&call->body);
	buf_free(&call->held);
	config_unref(call->cfg);
	free(call);
}

/* The call is over: nothing of it runs again, and it is freed after the
 * current batch of events (an upstream callback may be on the stack). */
static void
call_finish(struct call *call, const char *result)
{
	if (finished(call))
		return;
	call->state = CS_FINISHED;
	if (call->r.result == NULL)
		call->r.result = result;
	call->d->stats->in_flight--;
	timer_cancel(call->d->loop, &call->first_token);
	timer_cancel(call->d->loop, &call->idle);
	timer_cancel(call->d->loop, &call->retry);
	timer_cancel(call->d->loop, &call->fault_timer);
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
	if (!finished(call) && call->xfer != NULL)
		xfer_resume(call->xfer);
}

/* An error answer of llmfb's own, in the caller's API shape. */
static void
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

static void
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
	struct xfer *x = call->xfer;
	struct buf h;
	const char *p, *end;
	int r;

	if (call->state == CS_CHOOSING)
		call->state = CS_ANSWERING;
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
			if (!hop_by_hop(name) && !(call->xlating &&
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
	if (call->xlating && status >= 400)
		buf_addstr(&h, "Content-Type: application/json\r\n");
	llmfb_headers(call, &h, call->target);
	r = conn_respond_head(call->conn, status, &h, content_length);
	buf_free(&h);
	return r;
}

static int
commit(struct call *call, long long content_length)
{
	return commit_status(call, (int)call->xfer->status, content_length);
}

/* The answer being delivered came from call->target: count it, and its
 * cost against what the primary would have cost for the same tokens. */
static void
count_served(struct call *call)
{
	struct tstat *ts;
	struct rstat *rs;

	if (call->r.route == NULL || call->target == NULL)
		return;
	call->r.served = call->target;
	call->r.translated = call->xlating;
	ts = tstat_of(call, call->target);
	rs = stats_route(call->d->stats, call->r.route->name);
	ts->served++;
	if (record_fell_back(&call->r, call->target)) {
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
	size_t n = upto > call->held_base ? upto - call->held_base : 0;

	return n < buf_pending(&call->held) ? n : buf_pending(&call->held);
}

/* Forget held bytes before answer offset upto. */
static void
held_drop(struct call *call, size_t upto)
{
	size_t n = held_upto(call, upto);

	buf_consume(&call->held, n);
	if (buf_pending(&call->held) == 0)
		buf_reset(&call->held);
	call->held_base += n;
}

/* Send held bytes up to answer offset upto. */
static int
send_held(struct call *call, size_t upto)
{
	size_t n = held_upto(call, upto);

	if (n > 0 && send_body(call, buf_head(&call->held), n) < 0)
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
	const struct answer *a = &call->ans;
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

	if (!call->ans.stream)
		return call->ans.fed;
	if (stream_withheld(call, &from) && from < call->ans.event_end)
		return from;
	return call->ans.event_end;
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

/* ---- upstream callbacks ------------------------------------------------ */

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
		if (start >= call->held_base && end - call->held_base <=
		    buf_pending(&call->held))
			send_body(call, buf_head(&call->held) +
			    (start - call->held_base), end - start);
		break;
	case AC_REPLACE:
		send_body(call, out.data, out.len);
		break;
	default:
		break;
	}
	buf_free(&out);
}

/* The first token of the attempt arrived. */
static void
first_token(struct call *call)
{
	if (call->ttft_ms != NO_TIME)
		return;
	call->ttft_ms = (uint32_t)(now_mono_ms() - call->attempt_ms);
	timer_cancel(call->d->loop, &call->first_token);
}

static size_t
on_body_passthrough(struct call *call, const char *p, size_t n)
{
	if (!committed(call)) {
		if (!is_2xx(call->xfer->status)) {
			buf_add(&call->held, p, n);
			return n;
		}
		if (commit(call, -1) < 0)
			return 0;
	}
	if (conn_respond_body(call->conn, p, n) < 0)
		return 0;
	return n;
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
	struct answer *a = &call->ans;

	answer_feed(a, p, n);
	if (a->malformed || a->error_event) {
		call->too_big = true;
		return 0;
	}
	log_debug("attempt %s: a stream held past %u bytes goes out "
	    "unjudged", call->target->name, HELD_MAX);
	count_served(call);
	if (commit(call, -1) < 0 || send_held(call, sendable(call)) < 0 ||
	    buf_add(&call->held, p, n) < 0 ||
	    send_held(call, sendable(call)) < 0)
		return 0;
	return n;
}

/* The bytes of a 2xx answer, in the caller's dialect: read, held until
 * they prove good, then sent.  Returns n, or 0 to break the transfer. */
static size_t
take(struct call *call, struct xfer *x, const char *p, size_t n)
{
	struct answer *a = &call->ans;

	if (!call->ans_live) {
		answer_init(a, call->dialect, is_event_stream(x));
		/* A whole answer is in held already: read from there. */
		a->borrowed = !a->stream;
		call->ans_live = true;
		if (continuing(call)) {
			a->on_event = cont_event;
			a->on_event_arg = call;
		}
	}
	if (!a->stream)
		first_token(call);
	if (buf_add(&call->held, p, n) < 0 && !committed(call)) {
		if (a->stream)
			return take_over_hold(call, p, n);
		/* Too big to hold: it goes out as it is, unchecked. */
		count_served(call);
		if (commit(call, -1) < 0 || send_held(call, a->fed) < 0 ||
		    send_body(call, p, n) < 0)
			return 0;
		call->held_base += n;
		answer_feed(a, p, n);
		return n;
	}
	answer_feed(a, p, n);
	if (continuing(call)) {
		/* cont_event sent what the caller gets of it. */
		if (a->content)
			first_token(call);
		held_drop(call, a->event_end);
		return n;
	}
	if (!committed(call)) {
		/* A stream is held until its first content: a refusal is
		 * held to its end, as it may be a reason to move on, and so
		 * is all of it where the route judges streams whole. */
		if (!a->stream || !a->content)
			return n;
		first_token(call);
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
	struct buf *out = &call->xout;

	if (!is_event_stream(x)) {
		first_token(call);
		/* Translated only once whole: past the hold it cannot be,
		 * and the caller could not read it as it is. */
		if (buf_add(&call->xraw, p, n) < 0) {
			call->too_big = true;
			return 0;
		}
		return n;
	}
	if (!call->xs_live) {
		dialect_stream_init(&call->xs, &call->xl->info);
		call->xs_live = true;
	}
	buf_reset(out);
	if (dialect_stream_feed(&call->xs, p, n, out) < 0) {
		log_debug("attempt %s: the stream cannot be translated",
		    call->target->name);
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

	in = json_loadb(call->xraw.data ? call->xraw.data : "",
	    call->xraw.len, 0, NULL);
	out = in != NULL ? dialect_response(in, &call->xl->info) : NULL;
	if (out != NULL && (s = json_dumps(out, JSON_COMPACT)) != NULL &&
	    take(call, x, s, strlen(s)) == strlen(s)) {
		/* Read from the tree it is: its bytes are not parsed again. */
		answer_read_tree(&call->ans, out);
		r = 0;
	}
	free(s);
	json_decref(out);
	json_decref(in);
	return r;
}

static size_t on_body_bytes(struct call *call, struct xfer *x, const char *p,
    size_t n);

static size_t
on_body(struct xfer *x, const char *p, size_t n)
{
	struct call *call = x->arg;
	size_t keep;

	if (finished(call) || call->conn == NULL)
		return 0;
	if (!call->faulted || call->fault.kind != FAULT_CUT)
		return on_body_bytes(call, x, p, n);
	/* An injected cut: the answer breaks off here, as a reset
	 * connection breaks it (curl ends the transfer with an error). */
	if (n < call->cut_left) {
		keep = on_body_bytes(call, x, p, n);
		if (keep == n)
			call->cut_left -= n;
		return keep;
	}
	keep = (size_t)call->cut_left;
	call->cut_left = 0;
	if (keep > 0)
		on_body_bytes(call, x, p, keep);
	return 0;
}

static size_t
on_body_bytes(struct call *call, struct xfer *x, const char *p, size_t n)
{
	/* Backpressure, before anything is taken: curl hands the same
	 * bytes again on resume. */
	if (committed(call) && conn_pending(call->conn) >= CONN_HIGH_WATER)
		return XFER_PAUSE;
	if (call->r.route == NULL)
		return on_body_passthrough(call, p, n);
	if (call->r.route->policy.idle_timeout_ms > 0)
		timer_set(call->d->loop, &call->idle,
		    call->r.route->policy.idle_timeout_ms);
	if (!is_2xx(x->status)) {
		/* An error answer, held whole: it may be a reason to move
		 * on, and it is read once it is complete. */
		buf_add(&call->held, p, n);
		first_token(call);
		return n;
	}
	if (call->xlating)
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
	enum answer_verdict v = answer_verdict(&call->ans, &call->want);

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
	switch (provider_error_kind(target_dialect(call, call->target),
	    o->status, call->held.data, call->held.len)) {
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
static void
attempt_failed(struct call *call, const struct outcome *o)
{
	if (committed(call))
		midstream_failed(call, o);
	else
		attempt_ended(call, o);
}

static void
on_done(struct xfer *x, enum xfer_end e)
{
	struct call *call = x->arg;
	struct outcome o = { .kind = OUT_OK, .status = (int)x->status };

	timer_cancel(call->d->loop, &call->first_token);
	timer_cancel(call->d->loop, &call->idle);
	if (finished(call))
		return;		/* call_destroy frees the xfer */
	if (e != XE_OK) {
		o.kind = outcome_of_end(e);
		if (x->too_big || call->too_big)
			o.why = "answer-too-large";
		log_debug("attempt %s: %s", call->target ? call->target->name :
		    call->r.host, xfer_error(x, e));
	}
	if (call->r.route == NULL) {
		/* Passthrough: one attempt, delivered whatever it is. */
		if (committed(call)) {
			if (e == XE_OK)
				conn_respond_end(call->conn);
			else
				conn_abort(call->conn);
			call_finish(call, "passthrough");
		} else {
			attempt_ended(call, &o);
		}
		return;
	}
	if (x->status >= 400)
		o.retry_after_ms = retry_after_ms(x->headers.data,
		    x->headers.len, time(NULL));
	if (x->status == 429 && call->target != NULL) {
		struct tstat *ts = tstat_of(call, call->target);

		/* Other calls pass it over until then: its Retry-After, or
		 * the reset of the window it says is spent. */
		uint64_t now = now_real_ns() / 1000000;

		ts->rl_429s++;
		ratelimit_blocked(&ts->rl, now, o.retry_after_ms);
		/* Without a Retry-After, the spent window's reset is the
		 * wait: this call's ladder honours it too. */
		if (o.retry_after_ms == 0 && ts->rl.blocked_until_ms > now)
			o.retry_after_ms = ts->rl.blocked_until_ms - now;
	}
	o.foreign = call->target != NULL &&
	    !own_provider(call, call->target->provider);
	o.own_key = !o.foreign &&
	    (http_req_header(call->req, "authorization") != NULL ||
	    http_req_header(call->req, "x-api-key") != NULL ||
	    http_req_header(call->req, "api-key") != NULL);
	if (e == XE_OK && call->xlating && is_2xx(x->status) &&
	    !is_event_stream(x) && take_translated_body(call, x) < 0) {
		o.body = FK_TECHNICAL;
		o.why = "untranslatable";
	} else if (e == XE_OK && is_2xx(x->status)) {
		/* No byte of it came: it is read all the same, as empty. */
		if (!call->ans_live)
			take(call, x, "", 0);
		/* A body too big to hold went out unread: it ends unjudged. */
		if (call->ans.stream) {
			answer_end(&call->ans);
			judge_answer(call, &o);
		} else if (!committed(call)) {
			answer_end_body(&call->ans, buf_head(&call->held),
			    buf_pending(&call->held));
			judge_answer(call, &o);
		} else {
			answer_end(&call->ans);
		}
	} else if (e == XE_OK && !is_2xx(x->status)) {
		judge_error(call, &o);
	}
	/* An answer that began has ended whole: a stream with its end
	 * marker and no error or counted refusal in it, or a body too big
	 * to have been held and read. */
	if (committed(call) && e == XE_OK && is_2xx(x->status) &&
	    (!call->ans.stream || (o.body != FK_TECHNICAL &&
	    !stream_withheld(call, NULL)))) {
		if (!continuing(call))
			send_held(call, call->ans.fed);
		/* A stream's miss found only at its end (bad JSON, a cut by
		 * length) cannot be taken back: the record says so. */
		call->r.served = call->target;
		call->r.translated = call->xlating;
		attempt_record(call, o.body, o.why, o.status);
		target_result(call, true);
		note_times(call, call->ttft_ms,
		    (uint32_t)(now_mono_ms() - call->attempt_ms));
		account(call, &call->ans);
		conn_respond_end(call->conn);
		call_finish(call, continuing(call) ? "continued" :
		    record_fell_back(&call->r, call->target) ? "fallback" : "served");
		return;
	}
	attempt_failed(call, &o);
}

/* The answer's head: when its first byte came, as the socket saw it. */
static void
on_head(struct xfer *x)
{
	struct call *call = x->arg;

	netview_head(call->d->netview, &call->net);
	/* Every answer, a 2xx or not, may say how much of the provider's
	 * limits is left (ratelimit.c): the next call reads it. */
	if (call->target != NULL)
		ratelimit_update(&tstat_of(call, call->target)->rl,
		    x->headers.data ? x->headers.data : "", x->headers.len,
		    now_real_ns() / 1000000);
}

static const struct xfer_ops call_xfer_ops = {
	.on_headers = on_head,
	.on_body = on_body,
	.on_done = on_done,
};

static void
first_token_timeout(struct timer *t)
{
	struct call *call = t->arg;
	struct outcome o = { .kind = OUT_TIMEOUT_FIRST_BYTE };

	if (finished(call) || call->xfer == NULL)
		return;
	attempt_failed(call, &o);
}

static void
idle_timeout(struct timer *t)
{
	struct call *call = t->arg;
	struct outcome o = { .kind = OUT_TIMEOUT_IDLE };

	if (finished(call) || call->xfer == NULL)
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
	struct call *call = t->arg;
	struct xfer *x = call->xfer;
	struct outcome o = { .kind = OUT_BROKEN };
	const struct target *tg = call->target;
	const char *ctype, *model;
	enum xfer_end e = XE_BROKEN;
	char *body;
	bool stream;

	if (finished(call) || x == NULL)
		return;
	if (call->fault.kind == FAULT_DELAY) {
		if (call->fault_times_out)
			o.kind = OUT_TIMEOUT_TOTAL;
		else if (xfer_start(x) == 0)
			return;
		attempt_failed(call, &o);
		return;
	}
	model = target_model(tg, call->r.model);
	stream = json_is_true(json_object_get(call->json, "stream"));
	body = fault_answer(&call->fault, target_dialect(call, tg), stream,
	    model ? model : call->r.model, &ctype);
	x->status = call->fault.kind == FAULT_STATUS ? call->fault.arg : 200;
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

	f = faults_match(&call->d->faults, call->target->name,
	    call->r.route->name, c->comm, c->exe, c->unit, (long)c->pid,
	    call->attempt_ms);
	if (f == NULL)
		return false;
	f->hits++;
	tstat_of(call, call->target)->injected++;
	call->faulted = true;
	call->fault = *f;
	call->fault.target = call->fault.route = call->fault.caller = NULL;
	fault_name(f, call->fault_name, sizeof(call->fault_name));
	switch (f->kind) {
	case FAULT_CUT:
		call->cut_left = f->arg;
		return false;
	case FAULT_DELAY:
		call->fault_times_out = f->arg >= total_ms;
		timer_set(call->d->loop, &call->fault_timer,
		    call->fault_times_out ? total_ms : f->arg);
		return true;
	default:
		timer_set(call->d->loop, &call->fault_timer, 0);
		return true;
	}
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

	j = dialect_error(*status, call->held.data, call->held.len,
	    target_dialect(call, call->target), call->dialect, status);
	if (j != NULL && (s = json_dumps(j, JSON_COMPACT)) != NULL) {
		buf_reset(&call->held);
		r = buf_addstr(&call->held, s);
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

	for (i = 0; i < call->held.len; i++)
		if (!isspace((unsigned char)call->held.data[i]))
			return call->held.data[i] == '[';
	return false;
}

/* Deliver the held answer of the last attempt (an error, translated). */
static void
deliver_held(struct call *call, const char *result)
{
	struct stats *st = call->d->stats;
	bool stream = call->ans_live && call->ans.stream;
	int status = (int)call->xfer->status;

	if (call->r.route != NULL && status >= 400)
		stats_route(st, call->r.route->name)->delivered_errors++;
	else
		count_served(call);
	if (call->r.route != NULL && status >= 400 && (call->xlating ||
	    held_is_array(call)) && translate_error(call, &status) < 0) {
		respond_error(call, 502, "api_error", "llmfb: out of memory",
		    NULL, result);
		return;
	}
	if (commit_status(call, status, stream ? -1 :
	    (long long)call->held.len) == 0) {
		if (call->held.len > 0)
			conn_respond_body(call->conn, call->held.data,
			    call->held.len);
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
	struct tstat *ts = tstat_of(call, call->target);

	ts->failures++;
	ts->by_kind[o->kind]++;
	ts->by_fail[fk]++;
	if (o->kind == OUT_OK && o->status >= 100 && o->status < 600)
		ts->by_status[o->status / 100]++;
	snprintf(ts->last_failure, sizeof(ts->last_failure), "%s", why);
	insert_reason(call, at, call->target->name, why);
}

/* Times worth keeping for the target's latency: answers, and timeouts
 * (a lower bound that still tells the truth about a slow target). */
static void
latency_sample(struct call *call, const struct outcome *o)
{
	uint64_t now = now_mono_ms();
	uint32_t total = (uint32_t)(now - call->attempt_ms);
	uint32_t ttft = call->ttft_ms;

	if (o->kind == OUT_TIMEOUT_FIRST_BYTE)
		ttft = total;
	else if (o->kind != OUT_OK && o->kind != OUT_TIMEOUT_TOTAL &&
	    o->kind != OUT_TIMEOUT_IDLE)
		return;
	note_times(call, ttft, total);
}

static void
answer_drop(struct call *call)
{
	if (call->ans_live) {
		answer_free(&call->ans);
		call->ans_live = false;
	}
}

/* The next attempt: now, or after delay_ms. */
static void
attempt_next(struct call *call, uint64_t delay_ms)
{
	if (delay_ms > 0)
		timer_set(call->d->loop, &call->retry, delay_ms);
	else
		attempt_start(call);
}

static void
attempt_ended(struct call *call, const struct outcome *o)
{
	uint64_t now = now_mono_ms(), delay = 0, remaining;
	enum fail_kind fk;
	enum ladder_action a;
	char why[64];
	size_t mark;

	if (call->r.route == NULL) {
		if (o->kind == OUT_OK)
			deliver_held(call, "passthrough");
		else
			respond_error(call, 502, "llmfb_passthrough_failed",
			    call->xfer->errbuf[0] ? call->xfer->errbuf :
			    "llmfb: the original host could not be reached",
			    NULL, "passthrough-failed");
		return;
	}
	fk = outcome_classify(o, &call->r.route->policy);
	outcome_why(o, why, sizeof(why));
	target_result(call, fk != FK_TECHNICAL);
	latency_sample(call, o);
	if (call->ans_live && is_2xx(o->status))
		account(call, &call->ans);	/* tokens spent all the same */
	remaining = call->deadline_ms > now ? call->deadline_ms - now : 0;
	mark = strlen(call->r.reasons);
	a = ladder_next(&call->ladder, o, remaining, arc4random(), &delay);
	attempt_record(call, fk, fk == FK_NONE ? NULL : why, o->status);
	if (a == LADDER_DELIVER) {
		deliver_held(call, record_fell_back(&call->r, call->target) ? "fallback" :
		    o->status >= 400 ? "error-delivered" : "served");
		return;
	}
	count_failure(call, o, fk, why, mark);
	log_debug("route %s: %s failed (%s, %s), %s", call->r.route->name,
	    call->target->name, fail_kind_name(fk), why,
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
	buf_reset(&call->held);
	answer_drop(call);
	if (a == LADDER_FAIL)
		respond_safe_failure(call);
	else
		attempt_next(call, delay);
}

/* ---- mid-stream ------------------------------------------------------ */

/* The error event that ends a stream that cannot be finished, in the
 * caller's dialect, so its SDK raises instead of taking a short answer
 * for a whole one. */
static void
stream_error_event(struct call *call, const char *why)
{
	const struct api *api = api_of(call->dialect);
	char msg[256];
	struct buf ev;
	json_t *j;

	snprintf(msg, sizeof(msg), "llmfb: the answer broke off after it "
	    "began (%s); what was sent is incomplete", why);
	j = dialect_error_body(call->dialect, api->stream_error_type,
	    "llmfb_stream_interrupted", msg);
	buf_init(&ev, 8 * sizeof(msg));	/* room for escapes */
	/* Whole events only go out, so this is a safeguard: an event cut
	 * short is ended, and never has ours glued to it. */
	if (!at_event_boundary(call))
		buf_addstr(&ev, "\n\n");
	if (j != NULL && sse_emit_json(&ev, api->error_event, j) == 0)
		send_body(call, ev.data, ev.len);
	buf_free(&ev);
	json_decref(j);
}

/* The request again, with the partial answer as the assistant's prefix:
 * the next rung writes the rest.  Anthropic refuses a prefix that ends in
 * white space: trim says to cut it, and *ret_trim is how much went. */
static json_t *
continuation_request(struct call *call, bool trim, size_t *ret_trim)
{
	json_t *req = json_deep_copy(call->json), *msgs;
	const char *text = call->prev.text.data ? call->prev.text.data : "";
	size_t len = call->prev.text.len;

	if (req == NULL)
		return NULL;
	while (trim && len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	if (ret_trim != NULL)
		*ret_trim = call->prev.text.len - len;
	msgs = json_object_get(req, "messages");
	if (!json_is_array(msgs) || json_array_append_new(msgs,
	    json_pack("{s:s, s:s%}", "role", "assistant", "content", text,
	    len)) < 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

static void
midstream_failed(struct call *call, const struct outcome *o)
{
	struct rstat *rs = stats_route(call->d->stats, call->r.route->name);
	const struct answer *got = continuing(call) ? &call->prev : &call->ans;
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
	if (call->ans_live && is_2xx(o->status)) {
		account(call, &call->ans);
		call->cont_out += call->r.last_out;
	}
	remaining = call->deadline_ms > now ? call->deadline_ms - now : 0;
	/* Continue only with a text prefix: never once a tool call went
	 * out, and never twice over content a continuation already sent. */
	if (call->r.route->policy.midstream == MIDSTREAM_CONTINUE &&
	    !got->tool_call && !(continuing(call) && call->ans.content) &&
	    got->content)
		a = ladder_next(&call->ladder, o, remaining, arc4random(),
		    &delay);
	log_warnx("call route=%s target=%s: the answer broke off (%s): %s",
	    call->r.route->name, call->target->name, why,
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
		call->prev = call->ans;
		memset(&call->ans, 0, sizeof(call->ans));
		call->ans_live = false;
		call->state = CS_CONTINUING;
		memset(&call->cs, 0, sizeof(call->cs));
		call->cont_json = continuation_request(call, false, NULL);
		call->cont_trimmed = continuation_request(call, true,
		    &call->cont_trim);
	}
	answer_drop(call);
	buf_reset(&call->held);
	call->held_base = 0;
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

/* ---- qualifying a target --------------------------------------------- */

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
over_fallback_budget(struct call *call, const struct target *t)
{
	const struct budget_conf *b = &call->r.route->budget;

	return target_priced(t) && spent_past(call->d->budgets, call->r.fallback_key,
	    b->fallback_hour, b->fallback_day);
}

/* A paid target is out once the route's or the caller's spend reached
 * its limit, or when this call alone would pass the per-call one. */
static bool
over_budget(struct call *call, const struct target *t)
{
	const struct budget_conf *b = &call->r.route->budget;

	if (!target_priced(t))
		return false;
	if (b->call >= 0 && target_cost(t, call->est_in, call->max_out) > b->call)
		return true;
	return spent_past(call->d->budgets, call->r.route_key, b->hour,
	    b->day) || spent_past(call->d->budgets, call->r.caller_key,
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
skip(struct call *call, const struct target *t, enum fail_kind fk,
    const char *why)
{
	if (call->r.first_from == NULL) {
		call->r.first_from = t->name;
		call->r.first_fk = fk;
	}
	tstat_of(call, t)->skipped[fk]++;
	add_reason_str(call, t->name, why);
	return fk;
}

/* Whether the request can be said in API to; it is translated the
 * first time a target of that API is considered. */
static bool
translatable(struct call *call, enum dialect to)
{
	struct xlation *xl = &call->x[to];

	if (xl->json != NULL)
		return true;
	if (xl->why[0] != '\0')
		return false;
	xl->info = (struct dialect_info){
		.from = call->dialect,
		.to = to,
		.created = (int64_t)time(NULL),
	};
	xl->json = dialect_request(call->json, &xl->info, xl->why);
	if (xl->json == NULL && xl->why[0] == '\0')
		snprintf(xl->why, sizeof(xl->why), "%s", "unknown");
	return xl->json != NULL;
}

static enum fail_kind
target_usable(const struct target *t, int i, bool strict, void *arg)
{
	struct call *call = arg;
	const struct route *r = call->r.route;
	struct tstat *ts = tstat_of(call, t);
	uint64_t now = now_mono_ms(), until;
	char why[DIALECT_WHY_MAX + 16];
	enum dialect to = target_dialect(call, t);
	size_t k;

	if (to != call->dialect) {
		if (!translatable(call, to)) {
			snprintf(why, sizeof(why), "dialect:%s",
			    call->x[to].why);
			return skip(call, t, FK_DIALECT, why);
		}
		if (target_model(t, call->r.model) == NULL &&
		    !dialect_same_models(call->dialect, to))
			return skip(call, t, FK_DIALECT, "dialect:model");
	}
	if (call->dims > 0 && t->dimensions > 0 &&
	    t->dimensions != call->dims)
		return skip(call, t, FK_DIALECT, "dimensions");
	for (k = 0; k < r->nrequire_tags; k++)
		if (!target_has_tag(t, r->require_tags[k]))
			return skip(call, t, FK_REGION, "tags");
	if (t->context > 0 && call->est_in + call->max_out > t->context)
		return skip(call, t, FK_CONTEXT, "context-window");
	if (!route_first_rung(r, i) && !fallback_allowed(r, t))
		return skip(call, t, FK_BUDGET, "fallback-cap");
	if (!route_first_rung(r, i) && over_fallback_budget(call, t))
		return skip(call, t, FK_BUDGET, "fallback-budget");
	if (over_budget(call, t))
		return skip(call, t, FK_BUDGET, "budget");
	if (t->max_concurrency > 0 && ts->in_flight >= t->max_concurrency)
		return skip(call, t, FK_TECHNICAL, "queue-full");
	/* The provider's capacity, like queue-full: technical.  Passed
	 * over before it answers 429, while the limits its last answer
	 * advertised are spent (or too few tokens are left for this call),
	 * or while a 429's Retry-After lasts. */
	if (ratelimit_near(&ts->rl, now_real_ns() / 1000000, call->est_in,
	    call->max_out, &until) ||
	    ratelimit_local_over(&ts->rl_local, now, t->rpm, t->tpm,
	    call->est_in + call->max_out))
		return skip(call, t, FK_TECHNICAL, "rate-limit");
	/* fleet-slo: over only with the other hosts' samples. */
	if (strict && over_slo(&r->policy, shared_latency_view(call->d->shared,
	    ts), now))
		return skip(call, t, FK_LATENCY, over_slo(&r->policy, &ts->lat,
		    now) ? "slo" : "fleet-slo");
	if (ts->drained)
		return skip(call, t, FK_TECHNICAL, "drained");
	/* Last: in half-open, a yes takes one of the probes.  An open
	 * breaker costs no attempt. */
	if (!breaker_allow(&ts->br, &t->breaker, now)) {
		ts->skipped_open++;
		/* fleet-breaker-open: another host's failures opened it,
		 * and no call from here reached the target. */
		return skip(call, t, FK_TECHNICAL, ts->br.unreachable ?
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
static void
group_orders(struct call *call)
{
	const struct route *r = call->r.route;
	struct group_member m[GROUP_MAX];
	uint8_t order[GROUP_MAX];
	uint64_t now = now_mono_ms();
	size_t g, k, len = 0;
	char *p = call->r.picks;

	for (g = 0; g < r->ngroups; g++) {
		const struct rung_group *rg = &r->groups[g];
		int n;

		for (k = 0; k < rg->n; k++) {
			const struct target *t = r->ladder[rg->first + k];
			struct tstat *ts = tstat_of(call, t);
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
		ladder_group_order(&call->ladder, g, order);
		n = snprintf(p + len, sizeof(call->r.picks) - len, "%s%s:",
		    g > 0 ? "," : "", group_pick_name(rg->pick));
		for (k = 0; n >= 0 && len + (size_t)n < sizeof(call->r.picks) &&
		    k < rg->n; k++) {
			len += (size_t)n;
			n = snprintf(p + len, sizeof(call->r.picks) - len,
			    "%s%s", k > 0 ? ">" : "",
			    r->ladder[rg->first + order[k]]->name);
		}
		if (n < 0 || len + (size_t)n >= sizeof(call->r.picks)) {
			p[len] = '\0';
			break;
		}
		len += (size_t)n;
	}
}

/* ---- an attempt -------------------------------------------------------- */

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

	free(call->attempt_body);
	call->attempt_body = NULL;
	if (cont != NULL)
		call->cs.trim = trim ? call->cont_trim : 0;
	if (cont == NULL && !call->xlating && (model == NULL ||
	    (call->r.model != NULL && strcmp(model, call->r.model) == 0))) {
		*ret_len = call->body.len;
		return call->body.data ? call->body.data : "";
	}
	if (call->xlating)
		copy = cont == NULL ? json_copy(call->xl->json) :
		    dialect_request(cont, &call->x[to].info,
		    why);
	else
		copy = json_copy(cont != NULL ? cont : call->json);
	if (copy == NULL)
		return NULL;
	if (model != NULL)
		json_object_set_new(copy, "model", json_string(model));
	call->attempt_body = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (call->attempt_body == NULL)
		return NULL;
	*ret_len = strlen(call->attempt_body);
	return call->attempt_body;
}

/* What an attempt sends, less its URL, body and timeouts. */
static void
request_init(struct call *call, struct xfer_request *rq, const char *url,
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

static void
attempt_start(struct call *call)
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
	call->target = t;
	call->xl = &call->x[target_dialect(call, t)];
	call->xlating = call->xl != &call->x[call->dialect];
	if (call->xs_live) {
		dialect_stream_free(&call->xs);
		call->xs_live = false;
	}
	buf_reset(&call->xraw);
	call->attempt_ms = now;
	call->ttft_ms = NO_TIME;
	call->net.have = false;
	call->held_base = 0;
	call->too_big = false;
	buf_reset(&call->held);
	tstat_of(call, t)->attempts++;
	buf_init(&url, 16384);
	/* The caller's query (where some APIs take a key) is for its own
	 * provider only. */
	query = own_provider(call, t->provider) ? call->req->query : NULL;
	outbound_url(&url, t, target_dialect(call, t), query);
	buf_init(&h, call->cfg->max_header_size + 64 * 1024);
	x = xfer_new(call->d->up, &call_xfer_ops, call);
	body = attempt_body(call, t, &len);
	total = pol->total_timeout_ms;
	if (call->deadline_ms > now && call->deadline_ms - now < total)
		total = call->deadline_ms - now;
	if (!total)
		total = 1;
	request_init(call, &rq, url.data, &h);
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
		if (committed(call))
			attempt_failed(call, &broken);
		else
			respond_safe_failure(call);
		return;
	}
	call->xfer = x;
	x->body_max = call->cfg->max_answer_body;
	call->busy = t;
	tstat_of(call, t)->in_flight++;
	/* Against its rpm and tpm: what providers count, the prompt and
	 * all max_tokens allows. */
	ratelimit_local_add(&tstat_of(call, t)->rl_local, now_mono_ms(),
	    call->est_in + call->max_out);
	explicit_bzero(h.data, h.len);		/* it held a key */
	buf_free(&h);
	buf_free(&url);
	timer_set(call->d->loop, &call->first_token,
	    pol->first_byte_timeout_ms);
	if (fault_begin(call, total)) {
		/* The transfer's own timeout counts from its start. */
		if (call->fault.kind == FAULT_DELAY && !call->fault_times_out)
			xfer_set_timeout(x, total - call->fault.arg);
		return;
	}
	if (xfer_start(x) < 0)
		attempt_failed(call, &broken);
}

/* ---- passthrough ------------------------------------------------------- */

static void
passthrough_start(struct call *call)
{
	struct outcome broken = { .kind = OUT_BROKEN };
	struct xfer_request rq;
	struct buf url, h;
	struct xfer *x;
	int r;

	/* Only an API's own port: llmfbd is no relay to whatever else an
	 * intercepted host runs.  A route serves any port: its targets are
	 * the config's. */
	if (!((strcmp(call->scheme, "https") == 0 && call->port == 443) ||
	    (strcmp(call->scheme, "http") == 0 && call->port == 80))) {
		call->d->stats->rejected++;
		respond_error(call, 421, "invalid_request_error",
		    "llmfb: passthrough only to port 443 (https) or 80 (http)",
		    NULL, "rejected");
		return;
	}
	call->d->stats->passthrough++;
	buf_init(&url, 16384);
	buf_printf(&url, "%s://%s:%d%s", call->scheme, call->r.host, call->port,
	    call->req->target);
	buf_init(&h, call->cfg->max_header_size + 64 * 1024);
	request_init(call, &rq, url.data, &h);
	rq.body = call->body.data ? call->body.data : "";
	rq.len = call->body.len;
	rq.connect_timeout_ms = PASSTHROUGH_CONNECT_MS;
	x = xfer_new(call->d->up, &call_xfer_ops, call);
	r = x == NULL || outbound_headers(call->req, true, call->dialect,
	    call->dialect, NULL, &h) < 0 ||
	    xfer_set(x, &rq) < 0 ? -1 : 0;
	if (h.data != NULL)
		explicit_bzero(h.data, h.len);
	buf_free(&h);
	buf_free(&url);
	if (r < 0) {
		xfer_free(x);
		respond_error(call, 502, "llmfb_passthrough_failed",
		    "llmfb: cannot set up the request", NULL,
		    "passthrough-failed");
		return;
	}
	call->xfer = x;
	x->body_max = call->cfg->max_answer_body;
	if (xfer_start(x) < 0)
		attempt_ended(call, &broken);
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
	const json_t *rf = json_object_get(call->json, "response_format");
	const char *type = json_string_value(json_object_get(rf, "type"));

	call->est_in = request_estimate_tokens(call->json);
	call->max_out = json_u64(json_object_get(call->json, "max_tokens"));
	if (call->max_out == 0)
		call->max_out = json_u64(json_object_get(call->json,
		    "max_completion_tokens"));
	call->want.json = call->r.route->policy.q_json && type != NULL &&
	    (strcmp(type, "json_object") == 0 ||
	    strcmp(type, "json_schema") == 0);
	call->want.forbid_length = call->r.route->policy.q_length;
	/* Vectors of the dimensions asked, else of the first rung's. */
	if (api_of(call->dialect)->dimensions) {
		call->dims = (uint32_t)json_u64(json_object_get(call->json,
		    "dimensions"));
		if (call->dims == 0)
			call->dims = call->r.route->ladder[0]->dimensions;
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
	call->cfg = config_ref(d->cfg);
	call->conn = c;
	call->req = r;
	call->body = r->body;			/* the call owns it now */
	buf_init(&r->body, 0);
	call->r.start_ms = now_mono_ms();
	timer_init(&call->first_token, first_token_timeout, call);
	timer_init(&call->idle, idle_timeout, call);
	timer_init(&call->retry, retry_fired, call);
	timer_init(&call->fault_timer, fault_fired, call);
	buf_init(&call->held, HELD_MAX);
	buf_init(&call->xraw, ANSWER_BODY_MAX);
	buf_init(&call->xout, HELD_MAX);
	call->r.caller = *conn_caller(c);
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
			read_request(call);
			budget_keys(call);
		}
	}
	if (call->r.route == NULL) {
		passthrough_start(call);
		return finished(call) ? NULL : call;
	}
	stats_route(d->stats, call->r.route->name)->calls++;
	call->deadline_ms = call->r.start_ms + call->r.route->policy.deadline_ms;
	ladder_init(&call->ladder, call->r.route, target_usable, call);
	group_orders(call);
	if (ladder_first(&call->ladder) == LADDER_FAIL) {
		respond_safe_failure(call);
		return NULL;
	}
	attempt_start(call);
	return finished(call) ? NULL : call;
}
