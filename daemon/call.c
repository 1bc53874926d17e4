#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call.h"
#include "config.h"
#include "daemon.h"
#include "ladder.h"
#include "log.h"
#include "route.h"
#include "server.h"
#include "stats.h"
#include "upstream.h"
#include "util.h"

#define ERRBODY_MAX	(1u << 20)	/* an error answer held for delivery */
#define REASONS_MAX	512
#define PASSTHROUGH_CONNECT_MS	10000

struct call {
	struct daemon		*d;
	struct config		*cfg;		/* the config it started with */
	struct conn		*conn;		/* NULL once the client left */
	struct http_req		*req;		/* valid while conn is */
	struct buf		 body;		/* the request body (owned) */
	char			 host[256];	/* original host, lowercase */
	char			 scheme[8];
	int			 port;
	enum endpoint		 ep;
	enum dialect		 dialect;	/* the caller's */
	json_t			*json;		/* parsed body (ladder only) */
	char			*model;		/* requested model or NULL */
	const struct route	*route;		/* NULL: passthrough */
	struct ladder		 ladder;
	uint64_t		 start_ms;
	uint64_t		 deadline_ms;	/* monotonic */
	struct xfer		*xfer;		/* the running attempt */
	char			*attempt_body;	/* rewritten body, or NULL */
	const struct target	*target;	/* of the running attempt */
	struct curl_slist	*connect_to;
	struct timer		 first_byte;
	struct timer		 retry;
	struct buf		 errbody;	/* held non-2xx answer */
	char			 reasons[REASONS_MAX];
	bool			 committed;	/* answer's head went out */
	bool			 first_byte_seen;
	bool			 finishing;
};

static void attempt_start(struct call *call);
static void attempt_ended(struct call *call, const struct outcome *o);

/* ---- small helpers --------------------------------------------------- */

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum endpoint
endpoint_of(const char *method, const char *path)
{
	if (strcmp(method, "POST") != 0)
		return EP_OTHER;
	if (has_suffix(path, "/chat/completions"))
		return EP_OPENAI_CHAT;
	if (has_suffix(path, "/v1/messages"))
		return EP_ANTHROPIC_MESSAGES;
	return EP_OTHER;
}

static const char *
endpoint_suffix(enum dialect d)
{
	return d == DIALECT_ANTHROPIC ? "/messages" : "/chat/completions";
}

/* Headers that describe one hop, never forwarded either way. */
static bool
hop_by_hop(const char *name)
{
	static const char *const hop[] = { "connection", "keep-alive",
		"proxy-connection", "transfer-encoding", "te", "trailer",
		"upgrade", "content-length", "expect", "host",
		"accept-encoding", "content-encoding", NULL };
	size_t i;

	for (i = 0; hop[i] != NULL; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	return str_case_prefix(name, "x-llmfb-");
}

/* Headers that carry the caller's credentials. */
static bool
credential_header(const char *name)
{
	return strcasecmp(name, "authorization") == 0 ||
	    strcasecmp(name, "x-api-key") == 0 ||
	    strcasecmp(name, "api-key") == 0 ||
	    strcasecmp(name, "proxy-authorization") == 0;
}

static void
add_reason_str(struct call *call, const char *target, const char *why)
{
	size_t len = strlen(call->reasons);

	snprintf(call->reasons + len, sizeof(call->reasons) - len, "%s%s=%s",
	    len ? "," : "", target, why);
}

static void
add_reason(struct call *call, const char *target, const struct outcome *o)
{
	char why[32];

	if (o->kind == OUT_OK)
		snprintf(why, sizeof(why), "http-%d", o->status);
	else
		snprintf(why, sizeof(why), "%s", outcome_name(o));
	add_reason_str(call, target, why);
}

/* Whether an attempt's outcome speaks well of the target, for its
 * breaker: a failure is the target's (connect, TLS, a timeout, a broken
 * answer, 429, 5xx); any other answer, 4xx included, shows it working. */
static bool
breaker_ok(const struct outcome *o)
{
	return o->kind == OUT_OK && o->status != 429 && o->status < 500;
}

/* The running attempt's result, for its target's breaker. */
static void
target_result(struct call *call, bool ok)
{
	breaker_record(&stats_target(call->d->stats, call->target->name)->br,
	    &call->target->breaker, ok, now_mono_ms());
}

/* Seconds until the first open breaker of the route's ladder half-opens,
 * rounded up; 0 when none is open (or only by hand). */
static uint64_t
breakers_retry_after_s(const struct call *call)
{
	uint64_t now = now_mono_ms(), best = UINT64_MAX, w;
	const struct target *t;
	size_t i;

	for (i = 0; i < call->route->nladder; i++) {
		t = call->route->ladder[i];
		w = breaker_wait_ms(&stats_target(call->d->stats,
		    t->name)->br, &t->breaker, now);
		if (w > 0 && w < best)
			best = w;
	}
	return best == UINT64_MAX ? 0 : (best + 999) / 1000;
}

/* The x-llmfb-* headers every answer carries. */
static void
llmfb_headers(struct call *call, struct buf *h, const char *served)
{
	/* Fallback: the answer (or the safe failure) did not come from the
	 * first rung on its first try at it. */
	bool fell_back = call->route != NULL && (call->ladder.rungs_tried > 1 ||
	    (served != NULL && call->ladder.rung > 0));

	if (call->route == NULL) {
		buf_addstr(h, "x-llmfb-passthrough: 1\r\n");
		return;
	}
	buf_printf(h, "x-llmfb-route: %s\r\n", call->route->name);
	buf_printf(h, "x-llmfb-target: %s\r\n", served ? served : "none");
	buf_printf(h, "x-llmfb-attempts: %d\r\n", call->ladder.attempts);
	buf_printf(h, "x-llmfb-fallback: %d\r\n", fell_back ? 1 : 0);
	if (call->reasons[0] != '\0')
		buf_printf(h, "x-llmfb-reasons: %s\r\n", call->reasons);
}

/* ---- ending a call ----------------------------------------------------- */

static void
call_destroy(void *arg)
{
	struct call *call = arg;

	xfer_free(call->xfer);
	timer_cancel(call->d->loop, &call->first_byte);
	timer_cancel(call->d->loop, &call->retry);
	curl_slist_free_all(call->connect_to);
	json_decref(call->json);
	free(call->model);
	free(call->attempt_body);
	buf_free(&call->body);
	buf_free(&call->errbody);
	config_unref(call->cfg);
	free(call);
}

/* The call is over: nothing of it runs again, and it is freed after the
 * current batch of events (an upstream callback may be on the stack). */
static void
call_finish(struct call *call)
{
	if (call->finishing)
		return;
	call->finishing = true;
	call->d->stats->in_flight--;
	timer_cancel(call->d->loop, &call->first_byte);
	timer_cancel(call->d->loop, &call->retry);
	loop_defer(call->d->loop, call_destroy, call);
}

void
call_client_gone(struct call *call)
{
	if (call->finishing)
		return;
	call->conn = NULL;
	call->req = NULL;
	if (call->route != NULL)
		stats_route(call->d->stats, call->route->name)->client_gone++;
	call_finish(call);
}

void
call_client_drained(struct call *call)
{
	if (!call->finishing && call->xfer != NULL)
		xfer_resume(call->xfer);
}

/* An error answer of llmfb's own, in the caller's API shape. */
static void
respond_error(struct call *call, int status, const char *type,
    const char *message, const struct buf *extra)
{
	json_t *err;
	char *body;

	if (call->dialect == DIALECT_ANTHROPIC)
		err = json_pack("{s:s, s:{s:s, s:s}}", "type", "error",
		    "error", "type", type, "message", message);
	else
		err = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error",
		    "message", message, "type", type, "param", "code", type);
	body = err ? json_dumps(err, JSON_COMPACT) : NULL;
	if (call->conn != NULL)
		conn_respond_full(call->conn, status, extra,
		    "application/json", body ? body : "{}",
		    body ? strlen(body) : 2);
	free(body);
	json_decref(err);
	call_finish(call);
}

static void
respond_safe_failure(struct call *call)
{
	const struct safe_failure *sf = &call->route->policy.safe;
	char msg[REASONS_MAX + 128];
	uint64_t retry_after;
	struct buf h;
	const char *type;

	stats_route(call->d->stats, call->route->name)->safe_failures++;
	if (sf->message != NULL)
		snprintf(msg, sizeof(msg), "%s", sf->message);
	else
		snprintf(msg, sizeof(msg), "llmfb: no target could serve this "
		    "request (route %s; %s)", call->route->name,
		    call->reasons[0] ? call->reasons : "no usable target");
	buf_init(&h, 4096);
	llmfb_headers(call, &h, NULL);
	buf_addstr(&h, "x-llmfb-safe-failure: 1\r\n");
	/* When a breaker will half-open, that is when to come back. */
	if ((retry_after = breakers_retry_after_s(call)) == 0)
		retry_after = sf->retry_after_s;
	if (retry_after > 0)
		buf_printf(&h, "Retry-After: %llu\r\n",
		    (unsigned long long)retry_after);
	if (call->dialect == DIALECT_ANTHROPIC)
		type = sf->status == 529 ? "overloaded_error" : "api_error";
	else
		type = "llmfb_unavailable";
	log_info("call route=%s: safe failure after %d attempts (%s)",
	    call->route->name, call->ladder.attempts, call->reasons);
	respond_error(call, sf->status, type, msg, &h);
	buf_free(&h);
}

/* ---- delivering an upstream answer --------------------------------- */

/* Send the held response head: upstream headers less the hop-by-hop
 * ones, plus ours.  Returns 0 or -EPIPE. */
static int
commit(struct call *call, long long content_length)
{
	struct xfer *x = call->xfer;
	struct buf h;
	const char *p, *end;
	int r;

	call->committed = true;
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
			if (!hop_by_hop(name)) {
				buf_add(&h, p, len);
				if (len == 0 || p[len - 1] != '\r')
					buf_addstr(&h, "\r");
				buf_addstr(&h, "\n");
			}
		}
		p = eol ? eol + 1 : end;
	}
	llmfb_headers(call, &h, call->target ? call->target->name : NULL);
	r = conn_respond_head(call->conn, (int)x->status, &h, content_length);
	buf_free(&h);
	return r;
}

static void
count_served(struct call *call)
{
	struct tstat *ts;

	if (call->route == NULL || call->target == NULL)
		return;
	ts = stats_target(call->d->stats, call->target->name);
	ts->served++;
	if (call->ladder.rung > 0) {
		ts->fallback_served++;
		stats_route(call->d->stats, call->route->name)->fallbacks++;
	}
}

/* ---- upstream callbacks ------------------------------------------------ */

static size_t
on_body(struct xfer *x, const char *p, size_t n)
{
	struct call *call = x->arg;

	if (call->finishing || call->conn == NULL)
		return 0;
	if (!call->first_byte_seen) {
		call->first_byte_seen = true;
		timer_cancel(call->d->loop, &call->first_byte);
	}
	if (!call->committed) {
		if (x->status < 200 || x->status >= 300) {
			/* Held whole: it may still be a reason to move on. */
			if (call->errbody.len + n <= ERRBODY_MAX)
				buf_add(&call->errbody, p, n);
			return n;
		}
		if (call->target != NULL)	/* an answer has begun */
			target_result(call, true);
		count_served(call);
		if (commit(call, -1) < 0)
			return 0;
	}
	if (conn_pending(call->conn) >= CONN_HIGH_WATER)
		return XFER_PAUSE;
	if (conn_respond_body(call->conn, p, n) < 0)
		return 0;
	return n;
}

static enum outcome_kind
outcome_of_curl(struct xfer *x, CURLcode rc)
{
	double connect = 0;

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return OUT_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME, &connect);
		return connect > 0 ? OUT_TIMEOUT_TOTAL : OUT_TIMEOUT_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return OUT_TLS;
	default:
		return OUT_BROKEN;
	}
}

static void
on_done(struct xfer *x, CURLcode rc)
{
	struct call *call = x->arg;
	struct outcome o = { .kind = OUT_OK, .status = (int)x->status };

	if (x->status >= 400)
		o.retry_after_ms = retry_after_ms(x->headers.data,
		    x->headers.len, time(NULL));

	timer_cancel(call->d->loop, &call->first_byte);
	if (call->finishing)
		return;		/* call_destroy frees the xfer */
	if (call->committed) {
		if (rc == CURLE_OK)
			conn_respond_end(call->conn);
		else {
			/* Cut after the answer began: the client must see a
			 * broken reply, never a silent short one. */
			log_info("call route=%s target=%s: upstream broke "
			    "mid-answer: %s", call->route ? call->route->name :
			    "passthrough", call->target ? call->target->name :
			    call->host, x->errbuf[0] ? x->errbuf :
			    curl_easy_strerror(rc));
			conn_abort(call->conn);
		}
		call_finish(call);
		return;
	}
	if (rc != CURLE_OK) {
		o.kind = outcome_of_curl(x, rc);
		log_debug("attempt %s: %s", call->target ? call->target->name :
		    call->host, x->errbuf[0] ? x->errbuf :
		    curl_easy_strerror(rc));
	}
	attempt_ended(call, &o);
}

static const struct xfer_ops call_xfer_ops = {
	.on_body = on_body,
	.on_done = on_done,
};

static void
first_byte_timeout(struct timer *t)
{
	struct call *call = t->arg;
	struct outcome o = { .kind = OUT_TIMEOUT_FIRST_BYTE };

	if (call->finishing || call->committed)
		return;
	attempt_ended(call, &o);
}

static void
retry_fired(struct timer *t)
{
	attempt_start(t->arg);
}

/* ---- the ladder -------------------------------------------------------- */

/* Deliver the held answer of the last attempt as it is. */
static void
deliver_held(struct call *call)
{
	struct stats *st = call->d->stats;

	if (call->route != NULL && call->xfer->status >= 400)
		stats_route(st, call->route->name)->delivered_errors++;
	else
		count_served(call);
	if (commit(call, (long long)call->errbody.len) == 0) {
		if (call->errbody.len > 0)
			conn_respond_body(call->conn, call->errbody.data,
			    call->errbody.len);
		if (call->conn != NULL)
			conn_respond_end(call->conn);
	}
	call_finish(call);
}

static void
attempt_ended(struct call *call, const struct outcome *o)
{
	uint64_t now = now_mono_ms(), delay = 0, remaining;
	enum ladder_action a;
	struct tstat *ts;

	if (call->route == NULL) {
		/* Passthrough: one attempt, delivered whatever it is. */
		if (o->kind == OUT_OK)
			deliver_held(call);
		else
			respond_error(call, 502, "llmfb_passthrough_failed",
			    call->xfer->errbuf[0] ? call->xfer->errbuf :
			    "llmfb: the original host could not be reached",
			    NULL);
		return;
	}
	target_result(call, breaker_ok(o));
	remaining = call->deadline_ms > now ? call->deadline_ms - now : 0;
	a = ladder_next(&call->ladder, o, remaining, arc4random(), &delay);
	if (a == LADDER_DELIVER) {
		deliver_held(call);
		return;
	}
	ts = stats_target(call->d->stats, call->target->name);
	ts->failures++;
	ts->by_kind[o->kind]++;
	if (o->kind == OUT_OK && o->status >= 100 && o->status < 600)
		ts->by_status[o->status / 100]++;
	if (o->kind == OUT_OK)
		snprintf(ts->last_failure, sizeof(ts->last_failure),
		    "http-%d", o->status);
	else
		snprintf(ts->last_failure, sizeof(ts->last_failure), "%s",
		    outcome_name(o));
	add_reason(call, call->target->name, o);
	log_debug("route %s: %s failed (%s), %s", call->route->name,
	    call->target->name, outcome_name(o),
	    a == LADDER_TRY ? "moving on" : "giving up");

	xfer_free(call->xfer);
	call->xfer = NULL;
	buf_reset(&call->errbody);
	if (a == LADDER_FAIL) {
		respond_safe_failure(call);
		return;
	}
	if (delay > 0)
		timer_set(call->d->loop, &call->retry, delay);
	else
		attempt_start(call);
}

static enum fail_kind
target_usable(const struct target *t, int i, bool strict, void *arg)
{
	struct call *call = arg;
	struct tstat *ts;

	(void)i;
	(void)strict;
	/* Until dialect translation exists, a target must speak the
	 * caller's API. */
	if (t->provider->dialect != call->dialect)
		return FK_TECHNICAL;
	/* An open breaker costs no attempt. */
	ts = stats_target(call->d->stats, t->name);
	if (!breaker_allow(&ts->br, &t->breaker, now_mono_ms())) {
		ts->skipped_open++;
		add_reason_str(call, t->name, "breaker-open");
		return FK_TECHNICAL;
	}
	return FK_NONE;
}

/* The body for this target: the caller's bytes, or a copy with the
 * target's model.  NULL on allocation failure. */
static const char *
attempt_body(struct call *call, const struct target *t, size_t *ret_len)
{
	json_t *copy;

	free(call->attempt_body);
	call->attempt_body = NULL;
	if (t->model == NULL || (call->model != NULL &&
	    strcmp(t->model, call->model) == 0)) {
		*ret_len = call->body.len;
		return call->body.data ? call->body.data : "";
	}
	copy = json_copy(call->json);
	if (copy == NULL)
		return NULL;
	json_object_set_new(copy, "model", json_string(t->model));
	call->attempt_body = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (call->attempt_body == NULL)
		return NULL;
	*ret_len = strlen(call->attempt_body);
	return call->attempt_body;
}

/* Request headers for the upstream: the caller's, less hop-by-hop ones;
 * the caller's credentials only to its own provider (p == NULL means
 * passthrough, which is the caller's own host). */
static struct curl_slist *
upstream_headers(struct call *call, const struct provider *p)
{
	bool own = p == NULL || strcasecmp(p->origin, call->host) == 0;
	bool caller_cred = false, has_version = false;
	struct curl_slist *l = NULL, *n;
	struct buf line;
	size_t i;

	buf_init(&line, 64 * 1024);
	for (i = 0; i < call->req->nh; i++) {
		const struct header *h = &call->req->h[i];

		if (hop_by_hop(h->name))
			continue;
		if (credential_header(h->name)) {
			if (!own)
				continue;
			caller_cred = true;
		}
		if (strcasecmp(h->name, "anthropic-version") == 0)
			has_version = true;
		buf_reset(&line);
		if (buf_printf(&line, "%s: %s", h->name, h->value) < 0)
			continue;
		if ((n = curl_slist_append(l, line.data)) == NULL)
			goto fail;
		l = n;
	}
	if (p != NULL && p->api_key != NULL && !caller_cred) {
		buf_reset(&line);
		if (p->dialect == DIALECT_ANTHROPIC)
			buf_printf(&line, "x-api-key: %s", p->api_key);
		else
			buf_printf(&line, "Authorization: Bearer %s",
			    p->api_key);
		n = curl_slist_append(l, line.data);
		explicit_bzero(line.data, line.len);
		if (n == NULL)
			goto fail;
		l = n;
	}
	if (p != NULL && p->dialect == DIALECT_ANTHROPIC && !has_version) {
		if ((n = curl_slist_append(l, "anthropic-version: 2023-06-01"))
		    == NULL)
			goto fail;
		l = n;
	}
	/* No "Expect: 100-continue" round trip for large bodies. */
	if ((n = curl_slist_append(l, "Expect:")) == NULL)
		goto fail;
	buf_free(&line);
	return n;
fail:
	buf_free(&line);
	curl_slist_free_all(l);
	return NULL;
}

static void
set_method(CURL *e, struct call *call, const char *body, size_t len)
{
	const char *m = call->req->method;

	if (strcmp(m, "GET") == 0 && len == 0)
		return;
	if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		return;
	}
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (strcmp(m, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
}

static void
attempt_start(struct call *call)
{
	const struct target *t = call->route->ladder[call->ladder.rung];
	const struct policy *pol = &call->route->policy;
	uint64_t now = now_mono_ms(), total;
	struct outcome broken = { .kind = OUT_BROKEN };
	const char *body;
	struct xfer *x;
	struct buf url;
	size_t len;

	if (call->finishing || call->conn == NULL)
		return;
	call->target = t;
	call->first_byte_seen = false;
	stats_target(call->d->stats, t->name)->attempts++;
	buf_init(&url, 16384);
	buf_printf(&url, "%s%s%s%s", t->provider->base_url,
	    endpoint_suffix(t->provider->dialect), call->req->query ? "?" : "",
	    call->req->query ? call->req->query : "");
	x = xfer_new(call->d->up, &call_xfer_ops, call);
	body = attempt_body(call, t, &len);
	if (x == NULL || body == NULL ||
	    (x->req_headers = upstream_headers(call, t->provider)) == NULL) {
		buf_free(&url);
		xfer_free(x);
		log_warnx("route %s: cannot set up an attempt", call->route->name);
		respond_safe_failure(call);
		return;
	}
	call->xfer = x;
	curl_easy_setopt(x->easy, CURLOPT_URL, url.data);
	buf_free(&url);
	set_method(x->easy, call, body, len);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->req_headers);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)pol->connect_timeout_ms);
	total = pol->total_timeout_ms;
	if (call->deadline_ms > now && call->deadline_ms - now < total)
		total = call->deadline_ms - now;
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)(total ? total : 1));
	if (call->cfg->ca_file != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, call->cfg->ca_file);
	if (call->connect_to != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CONNECT_TO, call->connect_to);
	timer_set(call->d->loop, &call->first_byte, pol->first_byte_timeout_ms);
	if (xfer_start(x) < 0)
		attempt_ended(call, &broken);
}

/* ---- passthrough ------------------------------------------------------- */

static void
passthrough_start(struct call *call)
{
	struct outcome broken = { .kind = OUT_BROKEN };
	struct xfer *x;
	struct buf url;

	call->d->stats->passthrough++;
	x = xfer_new(call->d->up, &call_xfer_ops, call);
	if (x == NULL || (x->req_headers = upstream_headers(call, NULL)) ==
	    NULL) {
		xfer_free(x);
		respond_error(call, 502, "llmfb_passthrough_failed",
		    "llmfb: cannot set up the request", NULL);
		return;
	}
	call->xfer = x;
	buf_init(&url, 16384);
	buf_printf(&url, "%s://%s:%d%s", call->scheme, call->host, call->port,
	    call->req->target);
	curl_easy_setopt(x->easy, CURLOPT_URL, url.data);
	buf_free(&url);
	set_method(x->easy, call, call->body.data ? call->body.data : "",
	    call->body.len);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->req_headers);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)PASSTHROUGH_CONNECT_MS);
	if (call->cfg->ca_file != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, call->cfg->ca_file);
	if (call->connect_to != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CONNECT_TO, call->connect_to);
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
	if (hlen == 0 || hlen >= sizeof(call->host))
		return -EINVAL;
	if (colon != NULL && parse_int(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	for (size_t i = 0; i < hlen; i++) {
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' &&
		    h[i] != '_')
			return -EINVAL;
		call->host[i] = (char)tolower((unsigned char)h[i]);
	}
	call->host[hlen] = '\0';
	call->port = port;
	return 0;
}

static struct curl_slist *
connect_to_list(const struct config *cfg)
{
	struct curl_slist *l = NULL, *n;
	size_t i;

	for (i = 0; i < cfg->nconnect_to; i++) {
		if ((n = curl_slist_append(l, cfg->connect_to[i])) == NULL) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = n;
	}
	return l;
}

struct call *
call_start(struct daemon *d, struct conn *c, struct http_req *r)
{
	struct call *call = xcalloc(1, sizeof(*call));
	struct route_req rq;
	json_error_t jerr;
	json_t *model;

	call->d = d;
	call->cfg = config_ref(d->cfg);
	call->conn = c;
	call->req = r;
	call->body = r->body;			/* the call owns it now */
	buf_init(&r->body, 0);
	call->start_ms = now_mono_ms();
	timer_init(&call->first_byte, first_byte_timeout, call);
	timer_init(&call->retry, retry_fired, call);
	d->stats->calls++;
	d->stats->in_flight++;
	call->ep = endpoint_of(r->method, r->path);
	call->dialect = call->ep == EP_ANTHROPIC_MESSAGES ? DIALECT_ANTHROPIC :
	    DIALECT_OPENAI;

	if (parse_origin(call) < 0) {
		d->stats->rejected++;
		respond_error(call, 400, "invalid_request_error",
		    "llmfb: no usable Host or X-Llmfb-Origin header", NULL);
		return NULL;
	}
	if (!config_intercepts(call->cfg, call->host, strlen(call->host))) {
		d->stats->rejected++;
		respond_error(call, 421, "invalid_request_error",
		    "llmfb: this host is not intercepted", NULL);
		return NULL;
	}
	if (call->cfg->nconnect_to > 0 &&
	    (call->connect_to = connect_to_list(call->cfg)) == NULL) {
		respond_error(call, 500, "llmfb_internal", "llmfb: out of "
		    "memory", NULL);
		return NULL;
	}
	if (call->ep != EP_OTHER) {
		call->json = json_loadb(call->body.data ? call->body.data : "",
		    call->body.len, 0, &jerr);
		if (call->json == NULL || !json_is_object(call->json)) {
			d->stats->rejected++;
			respond_error(call, 400, "invalid_request_error",
			    "llmfb: the request body is not a JSON object",
			    NULL);
			return NULL;
		}
		model = json_object_get(call->json, "model");
		if (json_is_string(model))
			call->model = xstrdup(json_string_value(model));
		rq.host = call->host;
		rq.path = r->path;
		rq.model = call->model;
		rq.header = http_req_header(r, "x-llmfb-route");
		call->route = route_match(call->cfg, &rq);
	}
	if (call->route == NULL) {
		passthrough_start(call);
		return call->finishing ? NULL : call;
	}
	stats_route(d->stats, call->route->name)->calls++;
	call->deadline_ms = call->start_ms + call->route->policy.deadline_ms;
	ladder_init(&call->ladder, call->route, target_usable, call);
	if (ladder_first(&call->ladder) == LADDER_FAIL) {
		respond_safe_failure(call);
		return NULL;
	}
	attempt_start(call);
	return call->finishing ? NULL : call;
}
