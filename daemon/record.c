#include <math.h>
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
	struct attempt_rec *rec;
	char labels[1024];
	int cap;

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
	if (r->nrec == r->caprec) {
		cap = r->caprec == 0 ? 2 : r->caprec * 2;
		if (cap > RECORDS_MAX)
			cap = RECORDS_MAX;
		/* Out of memory: counted above, not kept. */
		if ((rec = realloc(r->rec, (size_t)cap * sizeof(*rec))) == NULL)
			return;
		r->rec = rec;
		r->caprec = cap;
	}
	a->target = t->name;
	a->fk = fk;
	r->rec[r->nrec++] = *a;
}

void
record_free(struct record *r)
{
	free(r->rec);
	r->rec = NULL;
	r->nrec = r->caprec = 0;
	caller_release(&r->caller);
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

/* ---- the record's line ------------------------------------------------- */

/* The line is written in one pass, as json_pack + json_dumps(JSON_COMPACT)
 * gave it (the same keys in the same order, numbers and escapes as
 * jansson prints them), without a tree per call: most calls have no one
 * reading their record but the ring.  Where jansson refused a string that
 * is not UTF-8 (and the whole record with it), a bad byte is written as
 * U+FFFD. */

/* Whether a piece of the line could not be added (memory, the cap): the
 * line is then dropped whole, never written broken. */
static bool jw_failed;

static void
jw_add(struct buf *b, const void *p, size_t n)
{
	if (buf_add(b, p, n) < 0)
		jw_failed = true;
}

/* The length of the UTF-8 sequence at s (n bytes left), 0 if it is not
 * one: overlong forms, surrogates and past U+10FFFF are not. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void
jw_str(struct buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), run = 0, k;
	char esc[8];

	jw_add(b, "\"", 1);
	while (run < n) {
		const unsigned char *p = s + run;

		/* The longest stretch that goes out as it is. */
		for (k = 0; run + k < n; ) {
			size_t l;

			if (p[k] < 0x20 || p[k] == '"' || p[k] == '\\')
				break;
			if ((l = utf8_len(p + k, n - run - k)) == 0)
				break;
			k += l;
		}
		jw_add(b, p, k);
		run += k;
		if (run >= n)
			break;
		switch (s[run]) {
		case '"':
			jw_add(b, "\\\"", 2);
			break;
		case '\\':
			jw_add(b, "\\\\", 2);
			break;
		case '\b':
			jw_add(b, "\\b", 2);
			break;
		case '\f':
			jw_add(b, "\\f", 2);
			break;
		case '\n':
			jw_add(b, "\\n", 2);
			break;
		case '\r':
			jw_add(b, "\\r", 2);
			break;
		case '\t':
			jw_add(b, "\\t", 2);
			break;
		default:
			if (s[run] < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04X", s[run]);
				jw_add(b, esc, 6);
			} else {
				jw_add(b, "\xef\xbf\xbd", 3);
			}
		}
		run++;
	}
	jw_add(b, "\"", 1);
}

/* As jansson prints a real: %.17g, with ".0" if it would read as an
 * integer, and the exponent without a '+' or leading zeros. */
static void
jw_real(struct buf *b, double v)
{
	char s[64], *e, *from;
	int n;

	if (!isfinite(v)) {
		jw_add(b, "null", 4);
		return;
	}
	n = snprintf(s, sizeof(s) - 3, "%.17g", v);
	if (n < 0 || (size_t)n >= sizeof(s) - 3) {
		jw_add(b, "null", 4);
		return;
	}
	if (strchr(s, '.') == NULL && strchr(s, 'e') == NULL) {
		memcpy(s + n, ".0", 3);
		n += 2;
	}
	if ((e = strchr(s, 'e')) != NULL) {
		e++;
		from = e + 1;
		if (*e == '-')
			e++;
		while (*from == '0')
			from++;
		if (from != e) {
			memmove(e, from, strlen(from) + 1);
			n = (int)strlen(s);
		}
	}
	jw_add(b, s, (size_t)n);
}

static void
jw_int(struct buf *b, long long v)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%lld", v);

	jw_add(b, s, (size_t)n);
}

static void
jw_bool(struct buf *b, bool v)
{
	if (v)
		jw_add(b, "true", 4);
	else
		jw_add(b, "false", 5);
}

/* "name": after a ',' unless it is the object's first. */
static void
jw_key(struct buf *b, const char *name, bool *first)
{
	if (!*first)
		jw_add(b, ",", 1);
	*first = false;
	jw_add(b, "\"", 1);
	jw_add(b, name, strlen(name));
	jw_add(b, "\":", 2);
}

static void
jw_str_or_null(struct buf *b, const char *s)
{
	if (s != NULL)
		jw_str(b, s);
	else
		jw_add(b, "null", 4);
}

/* The kernel's figures for one attempt (ebpf/netlat.bpf.c). */
static void
net_line(struct buf *b, const struct net_rec *n)
{
	bool first = true;

	jw_add(b, "{", 1);
	jw_key(b, "network_ms", &first);
	jw_real(b, ms_of(n->network_us));
	jw_key(b, "provider_ms", &first);
	jw_real(b, ms_of(n->provider_us));
	jw_key(b, "wait_ms", &first);
	jw_real(b, ms_of(n->wait_us));
	jw_key(b, "rtt_ms", &first);
	jw_real(b, ms_of(n->srtt_us));
	jw_key(b, "connect_ms", &first);
	if (n->new_conn)
		jw_real(b, ms_of(n->connect_us));
	else
		jw_add(b, "null", 4);
	jw_key(b, "retransmits", &first);
	jw_int(b, (int)n->retrans);
	jw_key(b, "new_connection", &first);
	jw_bool(b, n->new_conn);
	jw_add(b, "}", 1);
}

/* A hedged call: who won, and what the attempt it cancelled cost. */
static void
hedge_line(struct buf *b, const struct record *r)
{
	bool first = true, cfirst = true, tfirst = true;

	jw_add(b, "{", 1);
	jw_key(b, "winner", &first);
	jw_str_or_null(b, r->hedge_winner);
	if (r->hedge_loser != NULL) {
		jw_key(b, "cancelled", &first);
		jw_add(b, "{", 1);
		jw_key(b, "target", &cfirst);
		jw_str(b, r->hedge_loser->name);
		jw_key(b, "cost_usd", &cfirst);
		jw_real(b, r->hedge_loser_cost);
		jw_key(b, "tokens", &cfirst);
		jw_add(b, "{", 1);
		jw_key(b, "input", &tfirst);
		jw_int(b, (long long)r->hedge_loser_in);
		jw_key(b, "output", &tfirst);
		jw_int(b, (long long)r->hedge_loser_out);
		jw_add(b, "}", 1);
		jw_add(b, "}", 1);
	}
	jw_add(b, "}", 1);
}

static void
attempts_line(struct buf *b, const struct record *r)
{
	int i;

	jw_add(b, "[", 1);
	for (i = 0; i < r->nrec; i++) {
		const struct attempt_rec *a = &r->rec[i];
		bool first = true;

		if (i > 0)
			jw_add(b, ",", 1);
		jw_add(b, "{", 1);
		jw_key(b, "target", &first);
		jw_str(b, a->target);
		jw_key(b, "class", &first);
		jw_str(b, fail_class_name(fail_kind_class(a->fk)));
		jw_key(b, "kind", &first);
		jw_str(b, fail_kind_name(a->fk));
		jw_key(b, "status", &first);
		jw_int(b, a->status);
		jw_key(b, "connect_ms", &first);
		jw_int(b, (int)a->connect_ms);
		jw_key(b, "total_ms", &first);
		jw_int(b, (int)a->total_ms);
		jw_key(b, "first_token_ms", &first);
		if (a->first_token_ms == NO_TIME)
			jw_add(b, "null", 4);
		else
			jw_int(b, a->first_token_ms);
		if (a->why[0] != '\0') {
			jw_key(b, "error", &first);
			jw_str(b, a->why);
		}
		if (a->injected[0] != '\0') {
			jw_key(b, "injected", &first);
			jw_str(b, a->injected);
		}
		if (a->hedge) {
			jw_key(b, "hedge", &first);
			jw_bool(b, true);
		}
		if (a->cancelled) {
			jw_key(b, "cancelled", &first);
			jw_bool(b, true);
		}
		if (a->net.have) {
			jw_key(b, "net", &first);
			net_line(b, &a->net);
		}
		jw_add(b, "}", 1);
	}
	jw_add(b, "]", 1);
}

void
record_line(const struct record *r, double now, uint64_t duration_ms,
    struct buf *b)
{
	const struct caller *c = &r->caller;
	bool first = true, cfirst = true, tfirst = true;

	jw_add(b, "{", 1);
	jw_key(b, "time", &first);
	jw_real(b, now);
	jw_key(b, "host", &first);
	jw_str(b, r->host);
	jw_key(b, "route", &first);
	jw_str(b, r->route ? r->route->name : "");
	jw_key(b, "caller", &first);
	jw_add(b, "{", 1);
	jw_key(b, "pid", &cfirst);
	jw_int(b, (int)c->pid);
	jw_key(b, "uid", &cfirst);
	jw_int(b, (int)c->uid);
	jw_key(b, "gid", &cfirst);
	jw_int(b, (int)c->gid);
	jw_key(b, "exe", &cfirst);
	jw_str(b, c->exe);
	jw_key(b, "comm", &cfirst);
	jw_str(b, c->comm);
	jw_key(b, "unit", &cfirst);
	jw_str(b, c->unit);
	jw_add(b, "}", 1);
	jw_key(b, "result", &first);
	jw_str(b, r->result ? r->result : "unknown");
	jw_key(b, "duration_ms", &first);
	jw_int(b, (int)duration_ms);
	jw_key(b, "model", &first);
	jw_str_or_null(b, r->model);
	if (r->route != NULL) {
		jw_key(b, "attempts", &first);
		attempts_line(b, r);
		jw_key(b, "served", &first);
		jw_str_or_null(b, r->served ? r->served->name : NULL);
		jw_key(b, "fallback", &first);
		jw_bool(b, r->served != NULL ? record_fell_back(r, r->served) :
		    r->result != NULL && strcmp(r->result, "safe-failure") == 0);
		jw_key(b, "translated", &first);
		jw_bool(b, r->served != NULL && r->translated);
		jw_key(b, "tokens", &first);
		jw_add(b, "{", 1);
		jw_key(b, "input", &tfirst);
		jw_int(b, (long long)r->in_tokens);
		jw_key(b, "output", &tfirst);
		jw_int(b, (long long)r->out_tokens);
		jw_key(b, "estimated", &tfirst);
		jw_bool(b, r->tokens_estimated);
		jw_add(b, "}", 1);
		jw_key(b, "cost_usd", &first);
		jw_real(b, r->cost);
		if (r->served != NULL) {
			jw_key(b, "cost_diff_usd", &first);
			jw_real(b, r->cost - target_cost(r->route->ladder[0],
			    r->last_in, r->last_out));
		}
		if (r->reasons[0] != '\0') {
			jw_key(b, "reasons", &first);
			jw_str(b, r->reasons);
		}
		if (r->picks[0] != '\0') {
			jw_key(b, "picks", &first);
			jw_str(b, r->picks);
		}
		if (r->hedged) {
			jw_key(b, "hedge", &first);
			hedge_line(b, r);
		}
	}
	jw_add(b, "}", 1);
}

/* One JSON line per call for the event log and the control socket:
 * names, numbers and reasons, never a header or a body. */
static void
emit(struct record *r)
{
	static struct buf line;		/* one loop: kept from call to call */
	struct timespec ts;

	if (line.max == 0)
		buf_init(&line, RECORD_LINE_MAX);
	buf_reset(&line);
	jw_failed = false;
	clock_gettime(CLOCK_REALTIME, &ts);
	record_line(r, (double)ts.tv_sec + ts.tv_nsec / 1e9,
	    now_mono_ms() - r->start_ms, &line);
	if (!jw_failed)
		daemon_hook_publish(r->d, NULL, line.data, line.len);
	if (line.cap > RECORD_LINE_KEEP)
		buf_free(&line);
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
