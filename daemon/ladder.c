#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ladder.h"
#include "util.h"

static bool
key_refused(const struct outcome *o)
{
	return o->kind == OUT_OK && !o->own_key &&
	    (o->status == 401 || o->status == 403);
}

enum fail_kind
outcome_classify(const struct outcome *o, const struct policy *p)
{
	int st = o->status;

	if (o->kind != OUT_OK)
		return FK_TECHNICAL;
	if (st < 400)
		return o->body;		/* a 2xx may still miss the floor */
	if (st >= 500 || st == 429 || st == 408)
		return FK_TECHNICAL;	/* 529 (overloaded) included */
	if (o->body == FK_CONTEXT || o->body == FK_CONTENT)
		return o->body;		/* the provider's error says why */
	/* llmfb's own key refused: 403 is refused to this account or
	 * region; 401 is the key itself (the target's setup). */
	if (key_refused(o))
		return st == 403 ? FK_REGION : FK_TECHNICAL;
	if (outcome_llmfbs(o) ||
	    (p != NULL && retry_on_status(&p->retry_on, st)))
		return FK_TECHNICAL;
	return FK_CLIENT;		/* the caller's request to its host */
}

bool
outcome_llmfbs(const struct outcome *o)
{
	/* 400 is the one status every provider gives a request malformed
	 * in itself (bad JSON, a parameter out of range): walking on would
	 * hide the provider's word behind a safe failure the caller's SDK
	 * retries.  Any other 4xx says what this provider or account cannot
	 * do. */
	return key_refused(o) || (o->kind == OUT_OK && o->foreign &&
	    o->status > 400 && o->status < 500);
}

const char *
outcome_name(const struct outcome *o)
{
	static const char *names[] = {
		[OUT_OK] = "http", [OUT_CONNECT] = "connect",
		[OUT_TLS] = "tls", [OUT_TIMEOUT_CONNECT] = "timeout-connect",
		[OUT_TIMEOUT_FIRST_BYTE] = "timeout-first-token",
		[OUT_TIMEOUT_TOTAL] = "timeout-total",
		[OUT_TIMEOUT_IDLE] = "timeout-idle",
		[OUT_BROKEN] = "broken",
	};

	return names[o->kind];
}

/* Whether the route lets a failure of kind fk move the ladder at all;
 * a technical one only when retry_on names it. */
static bool
moves_on(const struct policy *p, const struct outcome *o, enum fail_kind fk)
{
	if (fk == FK_NONE || fk == FK_CLIENT)
		return false;
	if (fk != FK_TECHNICAL || o->body == FK_TECHNICAL ||
	    outcome_llmfbs(o))
		return true;
	switch (o->kind) {
	case OUT_OK:
		return retry_on_status(&p->retry_on, o->status);
	case OUT_CONNECT:
	case OUT_TLS:
	case OUT_BROKEN:
		return p->retry_on.connect;
	default:
		return p->retry_on.timeout;
	}
}

static int
attempts_for(const struct policy *p, enum fail_kind fk)
{
	switch (fail_kind_class(fk)) {
	case FC_BUSINESS:
		return p->attempts_business;
	case FC_POLICY:
		return p->attempts_policy;
	default:
		return p->attempts;
	}
}

void
ladder_init(struct ladder *l, const struct route *r, ladder_usable_fn usable,
    void *arg)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	l->route = r;
	l->usable = usable;
	l->usable_arg = arg;
	l->rung = -1;
	for (i = 0; i < LADDER_MAX; i++)
		l->order[i] = (uint8_t)i;
}

void
ladder_group_order(struct ladder *l, size_t g, const uint8_t *member)
{
	const struct rung_group *rg = &l->route->groups[g];
	size_t k;

	for (k = 0; k < rg->n; k++)
		l->order[rg->first + k] = (uint8_t)(rg->first + member[k]);
}

static bool
considered(const struct ladder *l, int i)
{
	return (l->considered & (1u << i)) != 0;
}

/* The rung to look at next: the hint when it is one not looked at yet,
 * else the first such rung of the ladder. */
static int
candidate(const struct ladder *l, int hint, uint32_t skip)
{
	const struct route *r = l->route;
	int i, p;

	if (route_group(r, hint) >= 0) {
		/* A member named in on: stands for its group, in this
		 * call's order. */
		const struct rung_group *g = &r->groups[route_group(r, hint)];

		for (p = g->first; p < g->first + g->n; p++) {
			i = l->order[p];
			if (!considered(l, i) && !(skip & (1u << i)))
				return i;
		}
	} else if (hint >= 0 && hint < (int)r->nladder &&
	    !considered(l, hint) && !(skip & (1u << hint)))
		return hint;
	for (p = 0; p < (int)r->nladder; p++) {
		i = l->order[p];
		if (!considered(l, i) && !(skip & (1u << i)))
			return i;
	}
	return -1;
}

/* An attempt on a member failed: with on_member_failure: next_rung, the
 * rest of its group is passed over too. */
static void
leave_group(struct ladder *l)
{
	const struct route *r = l->route;
	const struct rung_group *g;
	int i;

	if (route_group(r, l->rung) < 0)
		return;
	g = &r->groups[route_group(r, l->rung)];
	if (!g->next_rung)
		return;
	for (i = g->first; i < g->first + g->n; i++)
		l->considered |= 1u << i;
}

/* Choose the next rung from hint: each rung that does not qualify sends
 * the search where the route says for its reason.  Rungs over the
 * latency SLO are only taken when nothing else qualifies. */
static enum ladder_action
pick(struct ladder *l, int hint)
{
	const struct route *r = l->route;
	uint32_t slow = 0;
	enum fail_kind why;
	bool strict = true;
	int i;

	for (;;) {
		i = candidate(l, hint, strict ? slow : ~slow);
		if (i < 0) {
			if (!strict || slow == 0)
				break;
			strict = false;		/* a slow rung beats none */
			hint = -1;
			continue;
		}
		why = l->usable == NULL ? FK_NONE :
		    l->usable(r->ladder[i], i, strict, l->usable_arg);
		if (why == FK_NONE) {
			l->considered |= 1u << i;
			l->rung = i;
			l->tries = 1;
			l->waited = false;
			l->attempts++;
			l->rungs_tried++;
			return LADDER_TRY;
		}
		if (why == FK_LATENCY && strict)
			slow |= 1u << i;
		else
			l->considered |= 1u << i;
		if (r->on[why] == RUNG_FAIL)
			break;
		hint = r->on[why];
	}
	l->rung = (int)r->nladder;
	return LADDER_FAIL;
}

enum ladder_action
ladder_first(struct ladder *l)
{
	l->considered = 0;
	return pick(l, 0);
}

enum ladder_action
ladder_hedge(struct ladder *l)
{
	int rung = l->rung, tries = l->tries;
	bool waited = l->waited;

	if (pick(l, -1) == LADDER_TRY)
		return LADDER_TRY;
	l->rung = rung;
	l->tries = tries;
	l->waited = waited;
	return LADDER_FAIL;
}

#define RETRY_AFTER_CAP_MS	(24ULL * 3600 * 1000)

/* The value of header name (lower case, with its colon) in the lines, or
 * NULL; *vlen is its length without surrounding blanks. */
static const char *
header_value(const char *h, size_t len, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name), i = 0, end;

	while (i < len) {
		const char *eol = memchr(h + i, '\n', len - i);

		end = eol ? (size_t)(eol - h) : len;
		if (end - i > nlen && strncasecmp(h + i, name, nlen) == 0) {
			const char *v = h + i + nlen, *e = h + end;

			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == '\r' || e[-1] == ' ' ||
			    e[-1] == '\t'))
				e--;
			*vlen = (size_t)(e - v);
			return v;
		}
		i = end + 1;
	}
	return NULL;
}

uint64_t
retry_after_ms(const char *headers, size_t len, time_t now_s)
{
	char v[64], *end;
	const char *p;
	struct tm tm;
	size_t vlen;
	double d;
	time_t t;

	if ((p = header_value(headers, len, "retry-after-ms:", &vlen)) !=
	    NULL && vlen > 0 && vlen < sizeof(v)) {
		memcpy(v, p, vlen);
		v[vlen] = '\0';
		d = strtod(v, &end);
		if (*end == '\0' && d > 0 && d <= (double)RETRY_AFTER_CAP_MS)
			return d < 1 ? 1 : (uint64_t)d;
	}
	if ((p = header_value(headers, len, "retry-after:", &vlen)) == NULL ||
	    vlen == 0 || vlen >= sizeof(v))
		return 0;
	memcpy(v, p, vlen);
	v[vlen] = '\0';
	if (v[0] >= '0' && v[0] <= '9') {
		uint64_t s;

		if (parse_u64(v, 1, RETRY_AFTER_CAP_MS / 1000, &s) < 0)
			return 0;
		return s * 1000;
	}
	/* An HTTP date: "Sun, 06 Nov 1994 08:49:37 GMT". */
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0' || (t = timegm(&tm)) == (time_t)-1 ||
	    t <= now_s || (uint64_t)(t - now_s) > RETRY_AFTER_CAP_MS / 1000)
		return 0;
	return (uint64_t)(t - now_s) * 1000;
}

uint64_t
ladder_backoff(const struct policy *p, int n, uint32_t rnd)
{
	uint64_t d = p->backoff_base_ms;
	int i;

	for (i = 1; i < n && d < p->backoff_max_ms; i++)
		d *= 2;
	if (d > p->backoff_max_ms)
		d = p->backoff_max_ms;
	/* Jitter: between d/2 and d, so callers that failed together do
	 * not retry together. */
	return d / 2 + (d / 2 + 1) * (uint64_t)(rnd % 1024) / 1024;
}

enum ladder_action
ladder_next(struct ladder *l, const struct outcome *o, uint64_t remaining_ms,
    uint32_t rnd, uint64_t *ret_delay_ms)
{
	const struct policy *p = &l->route->policy;
	enum fail_kind fk = outcome_classify(o, p);
	uint64_t delay;
	int next;

	*ret_delay_ms = 0;
	if (!moves_on(p, o, fk)) {
		/* What the provider said goes to the caller as it is; a
		 * broken exchange has nothing to say, so the safe failure
		 * answers. */
		return o->kind == OUT_OK ? LADDER_DELIVER : LADDER_FAIL;
	}
	/* A refused key of llmfb's is not retried on the same rung: the
	 * key will not have changed; nor is a 4xx of a provider the caller
	 * did not call, unless retry_on names it (a 429 is worth a wait). */
	if (key_refused(o) || (outcome_llmfbs(o) &&
	    !retry_on_status(&p->retry_on, o->status))) {
		next = l->route->on[fk];
		leave_group(l);
		if (remaining_ms == 0 || next == RUNG_FAIL) {
			l->rung = (int)l->route->nladder;
			return LADDER_FAIL;
		}
		return pick(l, next);
	}
	if (remaining_ms == 0)
		return LADDER_FAIL;
	if (o->retry_after_ms > 0) {
		/* The provider said when to come back: worth one wait on
		 * this rung when it is short, else move on at once. */
		if (o->retry_after_ms <= p->retry_after_max_ms &&
		    o->retry_after_ms < remaining_ms && !l->waited) {
			l->waited = true;
			l->tries++;
			l->attempts++;
			*ret_delay_ms = o->retry_after_ms;
			return LADDER_TRY;
		}
	} else if (l->tries < attempts_for(p, fk)) {
		delay = ladder_backoff(p, l->tries, rnd);
		if (delay < remaining_ms) {
			l->tries++;
			l->attempts++;
			*ret_delay_ms = delay;
			return LADDER_TRY;
		}
	}
	if ((next = l->route->on[fk]) == RUNG_FAIL) {
		l->rung = (int)l->route->nladder;
		return LADDER_FAIL;
	}
	leave_group(l);
	return pick(l, next);
}
