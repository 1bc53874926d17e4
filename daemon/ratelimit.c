#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ratelimit.h"

#define VALUE_MAX	64
#define RESET_CAP_MS	(24ULL * 3600 * 1000)	/* a longer one is noise */

void
ratelimit_init(struct rl_state *st)
{
	int k;

	memset(st, 0, sizeof(*st));
	for (k = 0; k < RL_KINDS; k++) {
		st->w[k].limit = RL_UNKNOWN;
		st->w[k].remaining = RL_UNKNOWN;
	}
}

int64_t
go_duration_ms(const char *s, size_t n)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = { { "ms", 1 }, { "us", 0.001 }, { "µs", 0.001 },
		{ "ns", 0.000001 }, { "h", 3600000 }, { "m", 60000 },
		{ "s", 1000 } };
	const char *p = s, *end = s + n;
	double total = 0;
	size_t i, ul;

	if (n == 0)
		return -1;
	while (p < end) {
		char num[32], *nend;
		size_t k = 0;
		double v;

		while (p < end && k < sizeof(num) - 1 &&
		    (isdigit((unsigned char)*p) || *p == '.'))
			num[k++] = *p++;
		num[k] = '\0';
		if (k == 0)
			return -1;
		v = strtod(num, &nend);
		if (*nend != '\0')
			return -1;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			ul = strlen(units[i].unit);
			if ((size_t)(end - p) >= ul &&
			    memcmp(p, units[i].unit, ul) == 0)
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		total += v * units[i].ms;
		p += ul;
	}
	return total > (double)RESET_CAP_MS ? (int64_t)RESET_CAP_MS :
	    (int64_t)(total + 0.5);
}

uint64_t
rfc3339_ms(const char *s, size_t n)
{
	char v[VALUE_MAX], *p;
	struct tm tm;
	double frac = 0;
	long off = 0;
	time_t t;

	if (n == 0 || n >= sizeof(v))
		return 0;
	memcpy(v, s, n);
	v[n] = '\0';
	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	if (*p == '.') {
		char *fe;

		frac = strtod(p, &fe);
		p = fe;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && p[3] == ':' &&
	    isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L +
		    ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return 0;
	}
	if (*p != '\0' || (t = timegm(&tm)) == (time_t)-1 || t - off < 0)
		return 0;
	return (uint64_t)(t - off) * 1000 + (uint64_t)(frac * 1000);
}

/* Where a header's value goes: its window and field, or false. */
static bool
classify(const char *name, size_t nlen, enum rl_kind *kind, char *field)
{
	static const struct {
		const char *word;
		enum rl_kind kind;
	} kinds[] = { { "requests", RL_REQUESTS }, { "tokens", RL_TOKENS },
		{ "input-tokens", RL_INPUT_TOKENS },
		{ "output-tokens", RL_OUTPUT_TOKENS } };
	static const char *const fields = "lrs";	/* limit remaining reset */
	static const char *const words[] = { "limit", "remaining", "reset" };
	char n[96];
	size_t i, f;

	if (nlen >= sizeof(n))
		return false;
	for (i = 0; i < nlen; i++)
		n[i] = (char)tolower((unsigned char)name[i]);
	n[nlen] = '\0';
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		for (f = 0; f < 3; f++) {
			char want[96];

			/* OpenAI: x-ratelimit-FIELD-KIND. */
			snprintf(want, sizeof(want), "x-ratelimit-%s-%s",
			    words[f], kinds[i].word);
			if (strcmp(n, want) == 0)
				goto found;
			/* Anthropic: anthropic-ratelimit-KIND-FIELD. */
			snprintf(want, sizeof(want), "anthropic-ratelimit-%s-%s",
			    kinds[i].word, words[f]);
			if (strcmp(n, want) == 0)
				goto found;
		}
	return false;
found:
	*kind = kinds[i].kind;
	*field = fields[f];
	return true;
}

static bool
parse_count(const char *v, int64_t *ret)
{
	char *end;
	long long x;

	if (!isdigit((unsigned char)v[0]))
		return false;
	x = strtoll(v, &end, 10);
	if (*end != '\0' || x < 0)
		return false;
	*ret = x;
	return true;
}

/* A reset: a Go duration from now (OpenAI), an RFC 3339 time
 * (Anthropic), or plain seconds from now. */
static uint64_t
parse_reset(const char *v, size_t n, uint64_t now_ms)
{
	int64_t d;
	uint64_t at;

	if ((at = rfc3339_ms(v, n)) != 0)
		return at;
	if ((d = go_duration_ms(v, n)) >= 0)
		return now_ms + (uint64_t)d;
	return 0;
}

int
ratelimit_update(struct rl_state *st, const char *h, size_t len,
    uint64_t now_ms)
{
	size_t i = 0;
	int found = 0;

	while (i < len) {
		const char *line = h + i, *eol = memchr(line, '\n', len - i);
		const char *colon, *v, *e;
		size_t llen = eol ? (size_t)(eol - line) : len - i;
		char val[VALUE_MAX], field;
		enum rl_kind kind;
		uint64_t at;
		bool ok;

		i += llen + 1;
		if ((colon = memchr(line, ':', llen)) == NULL ||
		    !classify(line, (size_t)(colon - line), &kind, &field))
			continue;
		v = colon + 1;
		e = line + llen;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == '\r' || e[-1] == ' ' ||
		    e[-1] == '\t'))
			e--;
		if ((size_t)(e - v) >= sizeof(val) || e == v)
			continue;
		memcpy(val, v, (size_t)(e - v));
		val[e - v] = '\0';
		if (field == 'l')
			ok = parse_count(val, &st->w[kind].limit);
		else if (field == 'r')
			ok = parse_count(val, &st->w[kind].remaining);
		else if ((ok = (at = parse_reset(val, (size_t)(e - v),
		    now_ms)) != 0))
			st->w[kind].reset_ms = at;
		if (ok)
			found++;
	}
	if (found > 0)
		st->seen_ms = now_ms;
	return found;
}

void
ratelimit_blocked(struct rl_state *st, uint64_t now_ms, uint64_t wait_ms)
{
	uint64_t until = 0;
	int k;

	if (wait_ms == 0) {
		/* The soonest exhausted window's reset, if one says so. */
		for (k = 0; k < RL_KINDS; k++)
			if (st->w[k].remaining == 0 &&
			    st->w[k].reset_ms > now_ms &&
			    (until == 0 || st->w[k].reset_ms < until))
				until = st->w[k].reset_ms;
		if (until == 0)
			return;
	} else {
		until = now_ms + (wait_ms > RESET_CAP_MS ? RESET_CAP_MS :
		    wait_ms);
	}
	if (until > st->blocked_until_ms)
		st->blocked_until_ms = until;
}

/* A window that still counts: advertised, and its reset not passed. */
static bool
live(const struct rl_window *w, uint64_t now_ms)
{
	return w->remaining != RL_UNKNOWN && (w->reset_ms == 0 ||
	    w->reset_ms > now_ms);
}

bool
ratelimit_near(const struct rl_state *st, uint64_t now_ms,
    uint64_t est_in, uint64_t est_out, uint64_t *ret_until_ms)
{
	const uint64_t need[RL_KINDS] = { 1, est_in + est_out, est_in,
		est_out };
	const struct rl_window *w;
	int k;

	*ret_until_ms = 0;
	if (st->blocked_until_ms > now_ms) {
		*ret_until_ms = st->blocked_until_ms;
		return true;
	}
	for (k = 0; k < RL_KINDS; k++) {
		w = &st->w[k];
		if (!live(w, now_ms))
			continue;
		if ((uint64_t)w->remaining < (need[k] ? need[k] : 1)) {
			*ret_until_ms = w->reset_ms;
			return true;
		}
	}
	return false;
}

double
ratelimit_headroom(const struct rl_state *st, uint64_t now_ms)
{
	double best = 1, r;
	int k;

	for (k = 0; k < RL_KINDS; k++) {
		const struct rl_window *w = &st->w[k];

		if (!live(w, now_ms) || w->limit <= 0)
			continue;
		r = (double)w->remaining / (double)w->limit;
		if (r < best)
			best = r < 0 ? 0 : r;
	}
	return best;
}

uint64_t
ratelimit_minute(uint64_t now_ms)
{
	return now_ms - now_ms % RL_LOCAL_WINDOW_MS;
}

/* Bring the window to now: past a minute the current one becomes the
 * one before; past two, both are empty. */
static void
local_roll(struct rl_local *l, uint64_t now_ms)
{
	uint64_t d;
	bool wall = l->wall;

	if (l->start_ms == 0 || now_ms < l->start_ms) {
		memset(l, 0, sizeof(*l));
		l->wall = wall;
		l->start_ms = wall ? ratelimit_minute(now_ms) : now_ms;
		if (l->start_ms == 0)
			l->start_ms = wall ? RL_LOCAL_WINDOW_MS : 1;
		return;
	}
	d = (now_ms - l->start_ms) / RL_LOCAL_WINDOW_MS;
	if (d == 0)
		return;
	if (d == 1) {
		l->req[1] = l->req[0];
		l->tok[1] = l->tok[0];
	} else {
		l->req[1] = l->tok[1] = 0;
	}
	l->req[0] = l->tok[0] = 0;
	l->start_ms += d * RL_LOCAL_WINDOW_MS;
}

void
ratelimit_local_add(struct rl_local *l, uint64_t now_ms, uint64_t tokens)
{
	local_roll(l, now_ms);
	l->req[0]++;
	l->tok[0] += tokens;
}

bool
ratelimit_local_over(const struct rl_local *l, uint64_t now_ms,
    uint64_t rpm, uint64_t tpm, uint64_t est_tokens)
{
	struct rl_local c = *l;
	double before;

	if (rpm == 0 && tpm == 0)
		return false;
	local_roll(&c, now_ms);
	/* The share of the minute before still within the last 60 s. */
	before = 1.0 - (double)(now_ms - c.start_ms) /
	    (double)RL_LOCAL_WINDOW_MS;
	if (rpm > 0 && (double)c.req[0] + before * (double)c.req[1] + 1 >
	    (double)rpm)
		return true;
	if (tpm > 0 && (double)c.tok[0] + before * (double)c.tok[1] +
	    (double)est_tokens > (double)tpm)
		return true;
	return false;
}

void
ratelimit_local_raise(struct rl_local *l, uint64_t now_ms, uint64_t start_ms,
    uint64_t req, uint64_t tok)
{
	int i;

	local_roll(l, now_ms);
	if (start_ms == l->start_ms)
		i = 0;
	else if (start_ms + RL_LOCAL_WINDOW_MS == l->start_ms)
		i = 1;
	else
		return;
	if (req > l->req[i])
		l->req[i] = req;
	if (tok > l->tok[i])
		l->tok[i] = tok;
}
