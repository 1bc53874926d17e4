#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "ctl_proto.h"
#include "otel.h"
#include "record.h"
#include "state.h"
#include "upstream.h"
#include "util.h"

struct otel {
	struct daemon	*d;
	json_t		*spans;		/* waiting to be sent */
	struct timer	 flush;
	struct xfer	*x;		/* the batch in flight, or NULL */
	char		*body;		/* its body */
	size_t		 body_spans;
	struct buf	 hdrs;
	uint64_t	 exported, dropped;
};

static void
hex_id(char *out, size_t bytes)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < bytes; i++) {
		uint32_t v = arc4random();

		out[2 * i] = hx[(v >> 4) & 15];
		out[2 * i + 1] = hx[v & 15];
	}
	out[2 * bytes] = '\0';
}

static void
attr_str(json_t *a, const char *k, const char *v)
{
	if (v != NULL)
		json_array_append_new(a, json_pack("{s:s, s:{s:s}}", "key", k,
		    "value", "stringValue", v));
}

/* OTLP JSON carries 64-bit integers as strings. */
static void
attr_int(json_t *a, const char *k, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	json_array_append_new(a, json_pack("{s:s, s:{s:s}}", "key", k,
	    "value", "intValue", s));
}

static void
attr_bool(json_t *a, const char *k, bool v)
{
	json_array_append_new(a, json_pack("{s:s, s:{s:b}}", "key", k,
	    "value", "boolValue", v));
}

static json_t *
span_new(const char *trace, const char *id, const char *parent,
    const char *name, uint64_t start_ns, uint64_t end_ns, bool error,
    json_t *attrs)
{
	char s[24], e[24];
	json_t *sp;

	snprintf(s, sizeof(s), "%llu", (unsigned long long)start_ns);
	snprintf(e, sizeof(e), "%llu", (unsigned long long)end_ns);
	sp = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:o, s:{s:i}}",
	    "traceId", trace, "spanId", id, "name", name,
	    "kind", parent ? 3 : 2,	/* CLIENT, SERVER */
	    "startTimeUnixNano", s, "endTimeUnixNano", e,
	    "attributes", attrs, "status", "code", error ? 2 : 1);
	if (sp != NULL && parent != NULL)
		json_object_set_new(sp, "parentSpanId", json_string(parent));
	return sp;
}

static const struct target *
ladder_target(const struct record *r, const char *name)
{
	size_t i;

	if (r->route == NULL || name == NULL)
		return NULL;
	for (i = 0; i < r->route->nladder; i++)
		if (strcmp(r->route->ladder[i]->name, name) == 0)
			return r->route->ladder[i];
	return NULL;
}

/* GenAI's names: the system is the API's maker ("openai" for its chat,
 * Responses and embeddings alike; "anthropic"), not the config's name
 * for the provider, which goes in llmfb.provider. */
static const char *
gen_ai_system(const struct target *t)
{
	return api_of(t->provider->dialect)->maker;
}

static const char *
gen_ai_operation(const struct record *r)
{
	return api_of(r->dialect)->operation;
}

void
otel_spans(const struct record *r, uint64_t end_ns, json_t *spans)
{
	char trace[33], call_id[17], id[17], name[160];
	uint64_t dur_ns = (now_mono_ms() - r->start_ms) * 1000000ULL;
	uint64_t start_ns = end_ns > dur_ns ? end_ns - dur_ns : 0, at;
	const char *result = r->result ? r->result : "unknown";
	const struct target *t;
	json_t *a;
	int i;

	hex_id(trace, 16);
	hex_id(call_id, 8);
	a = json_array();
	attr_str(a, "gen_ai.operation.name", gen_ai_operation(r));
	t = r->served ? r->served : r->route && r->route->nladder ?
	    r->route->ladder[0] : NULL;
	if (t != NULL) {
		attr_str(a, "gen_ai.system", gen_ai_system(t));
		attr_str(a, "llmfb.provider", t->provider->name);
	}
	attr_str(a, "gen_ai.request.model", r->model);
	if (r->served != NULL)
		attr_str(a, "gen_ai.response.model",
		    target_model(r->served, r->model) ?
		    target_model(r->served, r->model) : r->model);
	attr_int(a, "gen_ai.usage.input_tokens", (int64_t)r->in_tokens);
	attr_int(a, "gen_ai.usage.output_tokens", (int64_t)r->out_tokens);
	attr_str(a, "llmfb.route", r->route ? r->route->name : "");
	attr_str(a, "llmfb.target", r->served ? r->served->name : "none");
	attr_str(a, "llmfb.result", result);
	attr_bool(a, "llmfb.fallback", r->served != NULL ?
	    record_fell_back(r, r->served) : strcmp(result,
	    "safe-failure") == 0);
	if (r->reasons[0] != '\0')
		attr_str(a, "llmfb.reasons", r->reasons);
	attr_str(a, "server.address", r->host);
	snprintf(name, sizeof(name), "%s %.100s", gen_ai_operation(r),
	    r->model ? r->model :
	    r->route ? r->route->name : r->host);
	json_array_append_new(spans, span_new(trace, call_id, NULL, name,
	    start_ns, end_ns, r->served == NULL, a));
	/* An attempt's start is not kept: they ran one after another
	 * from the call's start. */
	at = start_ns;
	for (i = 0; i < r->nrec; i++) {
		const struct attempt_rec *ar = &r->rec[i];
		uint64_t end = at + (uint64_t)ar->total_ms * 1000000ULL;

		if (end > end_ns)
			end = end_ns;
		if (at > end)
			at = end;
		hex_id(id, 8);
		a = json_array();
		attr_str(a, "gen_ai.operation.name", gen_ai_operation(r));
		if ((t = ladder_target(r, ar->target)) != NULL) {
			attr_str(a, "gen_ai.system", gen_ai_system(t));
			attr_str(a, "llmfb.provider", t->provider->name);
			attr_str(a, "gen_ai.request.model",
			    target_model(t, r->model) ?
			    target_model(t, r->model) : r->model);
		}
		attr_str(a, "llmfb.target", ar->target);
		attr_str(a, "llmfb.class",
		    fail_class_name(fail_kind_class(ar->fk)));
		attr_str(a, "llmfb.kind", fail_kind_name(ar->fk));
		if (ar->status > 0)
			attr_int(a, "http.response.status_code", ar->status);
		if (ar->why[0] != '\0')
			attr_str(a, "error.type", ar->why);
		snprintf(name, sizeof(name), "attempt %.100s", ar->target);
		json_array_append_new(spans, span_new(trace, id, call_id,
		    name, at, end, ar->fk != FK_NONE, a));
		at = end;
	}
}

static void
sent(struct xfer *x, enum xfer_end e)
{
	struct otel *o = x->arg;

	if (e == XE_OK && x->status >= 200 && x->status < 300)
		o->exported += o->body_spans;
	else
		o->dropped += o->body_spans;
	xfer_free(x);
	o->x = NULL;
	free(o->body);
	o->body = NULL;
	o->body_spans = 0;
	/* The next batch from the loop, not from inside libcurl's. */
	if (json_array_size(o->spans) >= OTEL_BATCH)
		timer_set(o->d->loop, &o->flush, 0);
	else if (json_array_size(o->spans) > 0 && !timer_armed(&o->flush))
		timer_set(o->d->loop, &o->flush, OTEL_FLUSH_MS);
}

static size_t
sink(struct xfer *x, const char *p, size_t n)
{
	(void)x;
	(void)p;
	return n;
}

static const struct xfer_ops otel_ops = { NULL, sink, sent };

static void
otel_send(struct otel *o)
{
	const struct config *c = o->d->cfg;
	struct xfer_request rq;
	char url[1024];
	json_t *body;
	size_t i;

	timer_cancel(o->d->loop, &o->flush);
	if (o->x != NULL || json_array_size(o->spans) == 0)
		return;
	if (c->otel_endpoint == NULL) {
		o->dropped += json_array_size(o->spans);
		json_array_clear(o->spans);
		return;
	}
	body = json_pack("{s:[{s:{s:[{s:s, s:{s:s}}]}, s:[{s:{s:s, s:s}, "
	    "s:o}]}]}", "resourceSpans", "resource", "attributes", "key",
	    "service.name", "value", "stringValue", c->otel_service,
	    "scopeSpans", "scope", "name", "llmfbd", "version",
	    LLMFB_VERSION, "spans", o->spans);
	o->body_spans = json_array_size(o->spans);
	o->spans = json_array();	/* the batch's went with body */
	o->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	i = strlen(c->otel_endpoint);
	snprintf(url, sizeof(url), "%.*s/v1/traces",
	    (int)(i > 0 && c->otel_endpoint[i - 1] == '/' ? i - 1 : i),
	    c->otel_endpoint);
	buf_reset(&o->hdrs);
	buf_addstr(&o->hdrs, "Content-Type: application/json\r\n");
	for (i = 0; i < c->notel_headers; i++)
		buf_printf(&o->hdrs, "%s\r\n", c->otel_headers[i]);
	memset(&rq, 0, sizeof(rq));
	rq.url = url;
	rq.method = "POST";
	rq.body = o->body;
	rq.len = o->body ? strlen(o->body) : 0;
	rq.headers = &o->hdrs;
	rq.connect_timeout_ms = 1000;
	rq.timeout_ms = 5000;
	rq.ca_file = c->ca_file;
	if (o->body == NULL ||
	    (o->x = xfer_new(o->d->up, &otel_ops, o)) == NULL ||
	    xfer_set(o->x, &rq) < 0 || xfer_start(o->x) < 0) {
		if (o->x != NULL)
			xfer_free(o->x);
		o->x = NULL;
		o->dropped += o->body_spans;
		o->body_spans = 0;
		free(o->body);
		o->body = NULL;
	}
}

static void
flush_cb(struct timer *t)
{
	otel_send(t->arg);
}

void
otel_record(struct daemon *d, const struct record *r)
{
	struct otel *o = d->otel;
	json_t *spans;
	size_t n;

	if (d->cfg == NULL || d->cfg->otel_endpoint == NULL ||
	    d->up == NULL || r->route == NULL)
		return;
	if (o == NULL) {
		o = d->otel = xcalloc(1, sizeof(*o));
		o->d = d;
		o->spans = json_array();
		buf_init(&o->hdrs, 64 << 10);
		timer_init(&o->flush, flush_cb, o);
	}
	spans = json_array();
	otel_spans(r, now_real_ns(), spans);
	n = json_array_size(spans);
	if (json_array_size(o->spans) + n > OTEL_QUEUE_MAX)
		o->dropped += n;
	else
		json_array_extend(o->spans, spans);
	json_decref(spans);
	if (json_array_size(o->spans) >= OTEL_BATCH)
		otel_send(o);
	else if (!timer_armed(&o->flush) && o->x == NULL)
		timer_set(d->loop, &o->flush, OTEL_FLUSH_MS);
}

void
otel_free(struct otel *o)
{
	if (o == NULL)
		return;
	timer_cancel(o->d->loop, &o->flush);
	if (o->x != NULL)
		xfer_free(o->x);
	free(o->body);
	json_decref(o->spans);
	buf_free(&o->hdrs);
	free(o);
}

uint64_t
otel_exported(const struct otel *o)
{
	return o ? o->exported : 0;
}

uint64_t
otel_dropped(const struct otel *o)
{
	return o ? o->dropped : 0;
}
