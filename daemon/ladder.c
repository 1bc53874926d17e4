#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ladder.h"
#include "util.h"

enum fail_class
outcome_class(const struct outcome *o)
{
	if (o->kind != OUT_OK)
		return FC_TECHNICAL;
	if (o->status >= 500 || o->status == 429 || o->status == 408)
		return FC_TECHNICAL;
	if (o->status >= 400)
		return FC_CLIENT;
	return FC_NONE;
}

const char *
outcome_name(const struct outcome *o)
{
	static const char *names[] = {
		[OUT_OK] = "http", [OUT_CONNECT] = "connect",
		[OUT_TLS] = "tls", [OUT_TIMEOUT_CONNECT] = "timeout-connect",
		[OUT_TIMEOUT_FIRST_BYTE] = "timeout-first-byte",
		[OUT_TIMEOUT_TOTAL] = "timeout-total",
		[OUT_BROKEN] = "broken",
	};

	return names[o->kind];
}

const char *
fail_class_name(enum fail_class c)
{
	static const char *names[] = { "none", "technical", "business",
		"policy", "client" };

	return names[c];
}

bool
outcome_is_failure(const struct policy *p, const struct outcome *o)
{
	/* An exchange that broke or timed out has nothing to deliver. */
	return o->kind != OUT_OK || retry_on_status(&p->retry_on, o->status);
}

/* Whether a failure of this kind may be retried (on any rung). */
static bool
failure_moves_on(const struct policy *p, const struct outcome *o)
{
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

void
ladder_init(struct ladder *l, const struct route *r, ladder_usable_fn usable,
    void *arg)
{
	l->route = r;
	l->usable = usable;
	l->usable_arg = arg;
	l->rung = -1;
	l->tries = 0;
	l->attempts = 0;
	l->rungs_tried = 0;
}

/* Move to the next usable rung after the current one. */
static enum ladder_action
next_rung(struct ladder *l)
{
	const struct route *r = l->route;
	int i;

	for (i = l->rung + 1; i < (int)r->nladder; i++) {
		if (l->usable == NULL || l->usable(r->ladder[i], l->usable_arg)) {
			l->rung = i;
			l->tries = 1;
			l->waited = false;
			l->attempts++;
			l->rungs_tried++;
			return LADDER_TRY;
		}
	}
	l->rung = (int)r->nladder;
	return LADDER_FAIL;
}

enum ladder_action
ladder_first(struct ladder *l)
{
	l->rung = -1;
	return next_rung(l);
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
	uint64_t delay;

	*ret_delay_ms = 0;
	if (!outcome_is_failure(p, o))
		return LADDER_DELIVER;
	if (!failure_moves_on(p, o)) {
		/* A failure the route does not retry: what the provider said
		 * goes to the caller as it is; a broken exchange has nothing
		 * to say, so the safe failure answers. */
		return o->kind == OUT_OK ? LADDER_DELIVER : LADDER_FAIL;
	}
	if (remaining_ms == 0)
		return LADDER_FAIL;
	if (o->retry_after_ms > 0) {
		/* The provider said when to come back: worth one wait on
		 * this rung when it is short, else the next rung at once. */
		if (o->retry_after_ms <= p->retry_after_max_ms &&
		    o->retry_after_ms < remaining_ms && !l->waited) {
			l->waited = true;
			l->tries++;
			l->attempts++;
			*ret_delay_ms = o->retry_after_ms;
			return LADDER_TRY;
		}
		return next_rung(l);
	}
	if (l->tries < p->attempts) {
		delay = ladder_backoff(p, l->tries, rnd);
		if (delay < remaining_ms) {
			l->tries++;
			l->attempts++;
			*ret_delay_ms = delay;
			return LADDER_TRY;
		}
	}
	return next_rung(l);
}
