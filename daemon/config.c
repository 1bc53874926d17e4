/* Config loading: YAML tree (ynode) -> struct config, with every error
 * naming file, line and column.  Unknown keys are errors: a typo in a
 * fallback policy must not silently become the default. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <hiredis/hiredis.h>	/* its version, for shared.tls */

#include "config.h"
#include "util.h"
#include "ynode.h"

#define API_KEY_MAX 4096

struct cctx {
	const char	*file;
	char		*err;
	size_t		 errlen;
	bool		 failed;
	char		**warn;		/* CONFIG_WARN_MAX, given to the config */
	size_t		 nwarn;
	size_t		 warn_dropped;
};

__attribute__((format(printf, 3, 4)))
static int
cerr(struct cctx *x, const struct ynode *at, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX];
	va_list ap;

	if (x->failed)
		return -1;
	x->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at != NULL)
		snprintf(x->err, x->errlen, "%s:%d:%d: %s", x->file, at->line,
		    at->col, msg);
	else
		snprintf(x->err, x->errlen, "%s: %s", x->file, msg);
	return -1;
}

/* What loads but is most likely a mistake: kept for the config, which
 * llmfbd -n prints and start and reload log.  Never fails the load. */
__attribute__((format(printf, 3, 4)))
static void
cwarn(struct cctx *x, const struct ynode *at, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX], line[CONFIG_ERR_MAX + 64];
	va_list ap;

	if (x->nwarn == CONFIG_WARN_MAX) {
		x->warn_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at != NULL)
		snprintf(line, sizeof(line), "%s:%d:%d: warning: %s", x->file,
		    at->line, at->col, msg);
	else
		snprintf(line, sizeof(line), "%s: warning: %s", x->file, msg);
	if (x->warn == NULL)
		x->warn = xcalloc(CONFIG_WARN_MAX, sizeof(*x->warn));
	x->warn[x->nwarn++] = xstrdup(line);
}

/* ---- typed accessors ---------------------------------------------- */

static int
want(struct cctx *x, const struct ynode *n, enum ynode_type t,
    const char *what)
{
	static const char *names[] = { "a scalar", "a list", "a mapping" };

	if (n->type != t)
		return cerr(x, n, "%s must be %s", what, names[t]);
	return 0;
}

/* ---- unknown keys, and what llmfb calls them ------------------------ */

/* Names other fallback tools (LiteLLM, OpenRouter, Portkey, SDK options)
 * use for what llmfb has under another name.  `is` is the llmfb key the
 * hint names; it is given only where that key is allowed, so `timeout`
 * points at timeouts in a route and at request_timeout in limits.  A
 * NULL `is` applies anywhere. */
static const struct {
	const char	*key;
	const char	*is;
	const char	*hint;
} key_aliases[] = {
	{ "max_retries", "attempts", "tries per target, e.g. attempts: 2" },
	{ "retries", "attempts", "tries per target, e.g. attempts: 2" },
	{ "num_retries", "attempts", "tries per target, e.g. attempts: 2" },
	{ "retry", "retry_on", "the outcomes that move the ladder on" },
	{ "fallbacks", "ladder", "the targets in order, e.g. ladder: "
	    "[gpt-4o, claude]" },
	{ "fallback", "ladder", "the targets in order, e.g. ladder: "
	    "[gpt-4o, claude]" },
	{ "fallback_models", "ladder", "the targets in order" },
	{ "models", "ladder", "the targets in order" },
	{ "targets", "ladder", "the targets in order" },
	{ "order", "ladder", "the targets in order" },
	{ "weights", NULL, "weights are a ladder group's: ladder: "
	    "[{ group: [a, b], pick: weighted, weights: { a: 3 } }]" },
	{ "weight", NULL, "weights are a ladder group's: ladder: "
	    "[{ group: [a, b], pick: weighted, weights: { a: 3 } }]" },
	{ "strategy", NULL, "a ladder is tried in order; a group on a rung "
	    "picks its members: ladder: [{ group: [a, b], pick: "
	    "least-busy }]" },
	{ "routing_strategy", NULL, "a ladder is tried in order; a group on "
	    "a rung picks its members: ladder: [{ group: [a, b], pick: "
	    "least-busy }]" },
	{ "timeout", "timeouts", "per attempt: timeouts: { connect: 5s, "
	    "first_token: 60s, total: 10m }; the whole call: deadline" },
	{ "timeout", "request_timeout", "a request's head and body" },
	{ "request_timeout", "timeouts", "per attempt: timeouts: { total: "
	    "10m }; the whole call: deadline" },
	{ "api_key", "api_key_env", "api_key_env: VARIABLE or api_key_file: "
	    "PATH (a key is never written in the file)" },
	{ "key", "api_key_env", "api_key_env: VARIABLE or api_key_file: PATH" },
	{ "api_base", "base_url", "e.g. base_url: https://api.openai.com/v1" },
	{ "url", "base_url", "e.g. base_url: https://api.openai.com/v1" },
	{ "endpoint", "base_url", "e.g. base_url: https://api.openai.com/v1" },
	{ "type", "dialect", "openai or anthropic" },
	{ "api", "dialect", "openai or anthropic" },
	{ "model_list", "targets", "a provider and a model each" },
	{ "cooldown", "breaker", "a circuit breaker's setting: breaker: { "
	    "cooldown: 30s } at the top or on a target" },
	{ "circuit_breaker", "breaker", "failures, ratio, window, "
	    "min_requests, cooldown, probes" },
	{ "max_budget", "budget", "USD per hour or day, e.g. budget: "
	    "{ day: 50 }" },
	{ "rpm", "targets", "a target's rpm: requests a minute" },
	{ "tpm", "targets", "a target's tpm: tokens a minute" },
	{ "max_parallel_requests", "max_concurrency", "attempts in flight "
	    "at once" },
	{ "hosts", "intercept", "the hosts the shim hands to llmfbd" },
	{ "host", "match", "a route's hosts: match: { host: api.openai.com }" },
};

static bool
key_in(const char *k, const char *const *list)
{
	size_t i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(k, list[i]) == 0)
			return true;
	return false;
}

/* Optimal string alignment distance (a swap of two neighbours is one
 * edit), cut off at 9: keys are short, and only small distances are
 * worth a suggestion. */
static size_t
key_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d[33][33];

	if (la > 32 || lb > 32)
		return 9;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			size_t c = tolower((unsigned char)a[i - 1]) ==
			    tolower((unsigned char)b[j - 1]) ? 0 : 1, v;

			v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + c < v)
				v = d[i - 1][j - 1] + c;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb] < 9 ? d[la][lb] : 9;
}

/* "unknown key" with a hint: what llmfb calls it, or the nearest allowed
 * key when it is a likely typo (a third of its letters at most, and at
 * least one edit allowed).  The allowed keys come in up to two lists. */
static int
unknown_key(struct cctx *x, const struct ynode *at, const char *what,
    const char *const *a, const char *const *b)
{
	const char *k = at->str, *best = NULL;
	const char *const *lists[2] = { a, b };
	size_t i, j, d, bestd = 9, limit;

	for (i = 0; i < ARRAY_SIZE(key_aliases); i++) {
		if (strcmp(k, key_aliases[i].key) != 0)
			continue;
		if (key_aliases[i].is == NULL)
			return cerr(x, at, "unknown key '%s' in %s: %s", k,
			    what, key_aliases[i].hint);
		if (key_in(key_aliases[i].is, a) ||
		    key_in(key_aliases[i].is, b))
			return cerr(x, at, "unknown key '%s' in %s: llmfb "
			    "calls it '%s' (%s)", k, what, key_aliases[i].is,
			    key_aliases[i].hint);
	}
	limit = strlen(k) / 3 > 0 ? strlen(k) / 3 : 1;
	for (i = 0; i < 2; i++)
		for (j = 0; lists[i] != NULL && lists[i][j] != NULL; j++) {
			d = key_distance(k, lists[i][j]);
			if (d < bestd) {
				bestd = d;
				best = lists[i][j];
			}
		}
	if (best != NULL && bestd <= limit)
		return cerr(x, at, "unknown key '%s' in %s: did you mean "
		    "'%s'?", k, what, best);
	return cerr(x, at, "unknown key '%s' in %s", k, what);
}

/* Refuse keys outside the allowed lists (b may be NULL): catches typos. */
static int
check_keys2(struct cctx *x, const struct ynode *map, const char *what,
    const char *const *a, const char *const *b)
{
	size_t i;

	if (want(x, map, YNODE_MAP, what) < 0)
		return -1;
	for (i = 0; i < map->n; i++)
		if (!key_in(map->keys[i]->str, a) &&
		    !key_in(map->keys[i]->str, b))
			return unknown_key(x, map->keys[i], what, a, b);
	return 0;
}

static int
check_keys(struct cctx *x, const struct ynode *map, const char *what,
    const char *const *allowed)
{
	return check_keys2(x, map, what, allowed, NULL);
}

static int
get_str(struct cctx *x, const struct ynode *n, const char *what,
    char **ret)
{
	if (want(x, n, YNODE_SCALAR, what) < 0)
		return -1;
	if (n->str[0] == '\0')
		return cerr(x, n, "%s must not be empty", what);
	free(*ret);
	*ret = xstrdup(n->str);
	return 0;
}

static int
get_duration(struct cctx *x, const struct ynode *n, const char *what,
    uint64_t *ret)
{
	const char *p;

	if (want(x, n, YNODE_SCALAR, what) < 0)
		return -1;
	/* A bare number would be milliseconds, which nobody reads
	 * `cooldown: 30` as: every duration says its unit.  0 needs none. */
	for (p = n->str; *p >= '0' && *p <= '9'; p++)
		;
	if (p > n->str && *p == '\0' && strspn(n->str, "0") != (size_t)(p -
	    n->str))
		return cerr(x, n, "%s: '%s' has no unit: write %ss or %sms "
		    "(units: ms, s, m, h)", what, n->str, n->str, n->str);
	if (parse_duration_ms(n->str, ret) < 0)
		return cerr(x, n, "%s: '%s' is not a duration (e.g. 500ms, "
		    "30s, 2m)", what, n->str);
	return 0;
}

static int
get_size(struct cctx *x, const struct ynode *n, const char *what,
    uint64_t *ret)
{
	if (want(x, n, YNODE_SCALAR, what) < 0)
		return -1;
	if (parse_size(n->str, ret) < 0)
		return cerr(x, n, "%s: '%s' is not a size (e.g. 64KiB, 32MiB)",
		    what, n->str);
	return 0;
}

static int
get_int(struct cctx *x, const struct ynode *n, const char *what, int min,
    int max, int *ret)
{
	if (want(x, n, YNODE_SCALAR, what) < 0)
		return -1;
	if (parse_int(n->str, min, max, ret) < 0)
		return cerr(x, n, "%s must be a whole number from %d to %d",
		    what, min, max);
	return 0;
}

static int
get_number(struct cctx *x, const struct ynode *n, const char *what,
    double *ret)
{
	char *end;
	double d;

	if (want(x, n, YNODE_SCALAR, what) < 0)
		return -1;
	errno = 0;
	d = strtod(n->str, &end);
	if (errno != 0 || end == n->str || *end != '\0' || !(d >= 0) ||
	    d > 1e12)
		return cerr(x, n, "%s: '%s' is not a number from 0 up", what,
		    n->str);
	*ret = d;
	return 0;
}

static int
get_bool(struct cctx *x, const struct ynode *n, const char *what, bool *ret)
{
	if (want(x, n, YNODE_SCALAR, what) < 0)
		return -1;
	if (strcmp(n->str, "true") == 0 || strcmp(n->str, "yes") == 0 ||
	    strcmp(n->str, "on") == 0)
		*ret = true;
	else if (strcmp(n->str, "false") == 0 || strcmp(n->str, "no") == 0 ||
	    strcmp(n->str, "off") == 0)
		*ret = false;
	else
		return cerr(x, n, "%s must be true or false", what);
	return 0;
}

/* A scalar or a list of scalars, into a NULL-free string array. */
static int
get_str_list(struct cctx *x, const struct ynode *n, const char *what,
    char ***ret, size_t *ret_n)
{
	size_t i;

	if (n->type == YNODE_SCALAR) {
		*ret = xcalloc(1, sizeof(char *));
		*ret_n = 1;
		return get_str(x, n, what, &(*ret)[0]);
	}
	if (want(x, n, YNODE_SEQ, what) < 0)
		return -1;
	*ret = xcalloc(n->n ? n->n : 1, sizeof(char *));
	*ret_n = n->n;
	for (i = 0; i < n->n; i++)
		if (get_str(x, n->items[i], what, &(*ret)[i]) < 0)
			return -1;
	return 0;
}

static void
free_str_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A program is known by the executable the kernel ran: /proc/PID/exe,
 * with every symbolic link resolved.  A path written as it is started
 * (/usr/bin/python3, a link to python3.11; an alternatives link) would
 * never match it, so a pattern that is a plain path (no glob) gains its
 * resolved form, as it is at load time: a reload follows a link that
 * moved. */
static void
add_resolved_exes(char ***list, size_t *n)
{
	char **all, *real;
	size_t i, nall = *n;

	if (*n == 0)
		return;
	all = xcalloc(2 * *n, sizeof(char *));
	memcpy(all, *list, *n * sizeof(char *));
	for (i = 0; i < *n; i++) {
		const char *pat = all[i];

		if (pat[0] != '/' || strpbrk(pat, "*?[\\") != NULL ||
		    (real = realpath(pat, NULL)) == NULL)
			continue;
		if (strcmp(real, pat) == 0)
			free(real);
		else
			all[nall++] = real;
	}
	free(*list);
	*list = all;
	*n = nall;
}

static bool
valid_host_pattern(const char *h)
{
	const char *p = h;

	if (p[0] == '*' && p[1] == '.')
		p += 2;
	if (*p == '\0' || strlen(h) > 253)
		return false;
	for (; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			return false;
	return true;
}

/* Names of providers, targets and routes travel in x-llmfb-* headers and
 * status output: letters, digits and ".-_:" only, so none can break a
 * header line. */
static int
check_name(struct cctx *x, const struct ynode *at, const char *what,
    const char *name)
{
	const char *p;

	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-_:", *p) == NULL)
			break;
	if (*p != '\0' || p == name || p - name > 64)
		return cerr(x, at, "%s name '%s': use 1 to 64 letters, digits "
		    "and . - _ :", what, name);
	return 0;
}

static void
lowercase(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
get_hosts(struct cctx *x, const struct ynode *n, const char *what,
    char ***ret, size_t *ret_n)
{
	size_t i;

	if (get_str_list(x, n, what, ret, ret_n) < 0)
		return -1;
	for (i = 0; i < *ret_n; i++) {
		const struct ynode *at = n->type == YNODE_SEQ ?
		    n->items[i] : n;

		lowercase((*ret)[i]);
		if (!valid_host_pattern((*ret)[i]))
			return cerr(x, at, "%s: '%s' is not a host name "
			    "(or *.domain)", what, (*ret)[i]);
	}
	return 0;
}

/* ---- policy (route settings and their defaults) ------------------- */

static void
retry_on_set(struct retry_on *r, int status)
{
	r->status[status / 8] |= (uint8_t)(1u << (status % 8));
}

/* A retry_on list replaces the one it would inherit (the defaults, or
 * `defaults:`'s) rather than add to it: say which of those it drops,
 * since leaving out 529 or 504 is rarely meant. */
static void
retry_on_dropped(struct cctx *x, const struct ynode *at,
    const struct retry_on *was, const struct retry_on *now)
{
	char list[128];		/* 8 names: "connect" is the longest */
	size_t len = 0, n = 0, more = 0;
	int st;

#define DROPPED(s) do {							\
	if (n < 8)							\
		len += (size_t)snprintf(list + len, sizeof(list) - len,	\
		    "%s%s", n > 0 ? ", " : "", (s));			\
	else								\
		more++;							\
	n++;								\
} while (0)
	for (st = 400; st < 600; st++)
		if (retry_on_status(was, st) && !retry_on_status(now, st)) {
			char num[8];

			snprintf(num, sizeof(num), "%d", st);
			DROPPED(num);
		}
	if (was->connect && !now->connect)
		DROPPED("connect");
	if (was->timeout && !now->timeout)
		DROPPED("timeout");
#undef DROPPED
	if (n == 0)
		return;
	if (more > 0)
		snprintf(list + len, sizeof(list) - len, " and %zu more", more);
	cwarn(x, at, "retry_on replaces the defaults; %s %s no longer "
	    "retried: list %s to keep %s", list, n > 1 ? "are" : "is",
	    n > 1 ? "them" : "it", n > 1 ? "them" : "it");
}

static int
get_retry_on(struct cctx *x, const struct ynode *n, struct retry_on *r)
{
	struct retry_on was = *r;
	size_t i;

	if (want(x, n, YNODE_SEQ, "retry_on") < 0)
		return -1;
	memset(r, 0, sizeof(*r));
	for (i = 0; i < n->n; i++) {
		const struct ynode *it = n->items[i];
		const char *s = it->str;
		int st, k;

		if (want(x, it, YNODE_SCALAR, "retry_on item") < 0)
			return -1;
		if (strcmp(s, "connect") == 0 || strcmp(s, "connect-error") == 0)
			r->connect = true;
		else if (strcmp(s, "timeout") == 0)
			r->timeout = true;
		else if (strlen(s) == 3 && s[0] >= '4' && s[0] <= '5' &&
		    s[1] == 'x' && s[2] == 'x')
			for (k = 0; k < 100; k++)
				retry_on_set(r, (s[0] - '0') * 100 + k);
		else if (parse_int(s, 400, 599, &st) == 0)
			retry_on_set(r, st);
		else
			return cerr(x, it, "retry_on: '%s' is not an HTTP "
			    "status (400-599), 4xx, 5xx, connect or timeout",
			    s);
	}
	retry_on_dropped(x, n, &was, r);
	return 0;
}

static const char *const policy_keys[] = { "retry_on", "attempts",
	"backoff", "timeouts", "deadline", "safe_failure", "retry_after_max",
	"quality", "midstream", "slo", "fallback_max_price", "hedge", NULL };

static void
policy_default(struct policy *p)
{
	static const int statuses[] = { 429, 500, 502, 503, 504, 529 };
	size_t i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < ARRAY_SIZE(statuses); i++)
		retry_on_set(&p->retry_on, statuses[i]);
	p->retry_on.connect = true;
	p->retry_on.timeout = true;
	p->attempts = 1;
	p->attempts_business = 1;
	p->attempts_policy = 1;
	p->backoff_base_ms = 200;
	p->backoff_max_ms = 2000;
	p->connect_timeout_ms = 5000;
	p->first_byte_timeout_ms = 60000;
	p->total_timeout_ms = 600000;
	p->idle_timeout_ms = 60000;
	p->deadline_ms = 900000;
	p->retry_after_max_ms = 1000;
	p->safe.status = 503;
	p->safe.message = NULL;
	p->q_empty = true;
	p->q_json = true;
	p->q_length = false;
	p->q_tool_args = true;
	p->q_refusal = true;
	p->midstream = MIDSTREAM_ERROR;
	p->slo_window_ms = 300000;
	p->slo_min_samples = 5;
	p->fallback_max_price = -1;
	p->hedge_floor_ms = 1000;
	p->hedge_min_samples = 20;
	p->hedge_max_percent = 10;
	p->hedge_window_ms = 60000;
}

/* attempts: a number (technical failures) or a map per class. */
static int
get_attempts(struct cctx *x, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = { "technical", "business",
		"policy", NULL };
	const struct ynode *v;

	if (n->type == YNODE_SCALAR)
		return get_int(x, n, "attempts", 1, 10, &p->attempts);
	if (check_keys(x, n, "attempts", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "technical")) != NULL &&
	    get_int(x, v, "attempts.technical", 1, 10, &p->attempts) < 0)
		return -1;
	if ((v = ynode_get(n, "business")) != NULL &&
	    get_int(x, v, "attempts.business", 1, 10,
	    &p->attempts_business) < 0)
		return -1;
	if ((v = ynode_get(n, "policy")) != NULL &&
	    get_int(x, v, "attempts.policy", 1, 10, &p->attempts_policy) < 0)
		return -1;
	return 0;
}

static int
get_quality(struct cctx *x, const struct ynode *n, struct policy *p)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} flags[] = {
		{ "empty", offsetof(struct policy, q_empty) },
		{ "json", offsetof(struct policy, q_json) },
		{ "length", offsetof(struct policy, q_length) },
		{ "tool_args", offsetof(struct policy, q_tool_args) },
		{ "refusal", offsetof(struct policy, q_refusal) },
	};
	static const char *const keys[] = { "empty", "json", "length",
		"tool_args", "refusal", "hold_stream", NULL };
	const struct ynode *v;
	char what[32];
	size_t i;

	if (check_keys(x, n, "quality", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "hold_stream")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "quality.hold_stream") < 0)
			return -1;
		if (strcmp(v->str, "json") == 0)
			p->q_hold_stream = HOLD_STREAM_JSON;
		else if (strcmp(v->str, "true") == 0)
			p->q_hold_stream = HOLD_STREAM_ALL;
		else if (strcmp(v->str, "false") == 0)
			p->q_hold_stream = HOLD_STREAM_NONE;
		else
			return cerr(x, v, "quality.hold_stream must be true, "
			    "false or json");
	}
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		if ((v = ynode_get(n, flags[i].key)) == NULL)
			continue;
		snprintf(what, sizeof(what), "quality.%s", flags[i].key);
		if (get_bool(x, v, what, (bool *)((char *)p + flags[i].off))
		    < 0)
			return -1;
	}
	return 0;
}

static int
get_slo(struct cctx *x, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = { "first_token_p95", "total_p95",
		"window", "min_samples", NULL };
	const struct ynode *v;

	if (check_keys(x, n, "slo", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "first_token_p95")) != NULL &&
	    get_duration(x, v, "slo.first_token_p95",
	    &p->slo_first_token_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "total_p95")) != NULL &&
	    get_duration(x, v, "slo.total_p95", &p->slo_total_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "window")) != NULL &&
	    get_duration(x, v, "slo.window", &p->slo_window_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "min_samples")) != NULL &&
	    get_int(x, v, "slo.min_samples", 1, 128, &p->slo_min_samples) < 0)
		return -1;
	return 0;
}

/* hedge.after: a duration, or pNN of the target's time to first token. */
static int
get_hedge_after(struct cctx *x, const struct ynode *v, struct policy *p)
{
	int pct;

	if (want(x, v, YNODE_SCALAR, "hedge.after") < 0)
		return -1;
	if (v->str[0] == 'p' && v->str[1] != '\0') {
		if (parse_int(v->str + 1, 1, 99, &pct) < 0)
			return cerr(x, v, "hedge.after: a percentile is p1 to "
			    "p99");
		p->hedge_pct = pct;
		p->hedge_after_ms = 0;
		return 0;
	}
	if (get_duration(x, v, "hedge.after", &p->hedge_after_ms) < 0)
		return -1;
	if (p->hedge_after_ms == 0)
		return cerr(x, v, "hedge.after must be more than 0");
	p->hedge_pct = 0;
	return 0;
}

/* hedge: { after: 800ms | p95, floor: 1s, min_samples: 20,
 * max_percent: 10, window: 60s }, or hedge: off. */
static int
get_hedge(struct cctx *x, const struct ynode *n, struct policy *p)
{
	static const char *const keys[] = { "after", "floor", "min_samples",
		"max_percent", "window", NULL };
	const struct ynode *v;

	if (n->type == YNODE_SCALAR && (strcmp(n->str, "off") == 0 ||
	    strcmp(n->str, "false") == 0)) {
		p->hedge_on = false;
		return 0;
	}
	if (check_keys(x, n, "hedge", keys) < 0)
		return -1;
	/* A route may change what defaults set, after included. */
	v = ynode_get(n, "after");
	if (v == NULL && !p->hedge_on)
		return cerr(x, n, "hedge needs after: a duration (800ms) or a "
		    "percentile of the target's time to first token (p95)");
	if (v != NULL && get_hedge_after(x, v, p) < 0)
		return -1;
	if ((v = ynode_get(n, "floor")) != NULL &&
	    get_duration(x, v, "hedge.floor", &p->hedge_floor_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "min_samples")) != NULL &&
	    get_int(x, v, "hedge.min_samples", 1, 128,
	    &p->hedge_min_samples) < 0)
		return -1;
	if ((v = ynode_get(n, "max_percent")) != NULL) {
		char s[32];
		size_t len;

		if (want(x, v, YNODE_SCALAR, "hedge.max_percent") < 0)
			return -1;
		/* "10" or "10%". */
		len = strlen(v->str);
		if (len > 0 && v->str[len - 1] == '%')
			len--;
		if (len == 0 || len >= sizeof(s))
			return cerr(x, v, "hedge.max_percent must be 1 to 100");
		memcpy(s, v->str, len);
		s[len] = '\0';
		if (parse_int(s, 1, 100, &p->hedge_max_percent) < 0)
			return cerr(x, v, "hedge.max_percent must be 1 to 100");
	}
	if ((v = ynode_get(n, "window")) != NULL) {
		if (get_duration(x, v, "hedge.window", &p->hedge_window_ms) < 0)
			return -1;
		if (p->hedge_window_ms == 0)
			return cerr(x, v, "hedge.window must be more than 0");
	}
	p->hedge_on = true;
	return 0;
}

static void
policy_copy(struct policy *dst, const struct policy *src)
{
	*dst = *src;
	dst->safe.message = src->safe.message ?
	    xstrdup(src->safe.message) : NULL;
}

/* Apply the policy keys present in map n on top of p. */
static int
get_policy(struct cctx *x, const struct ynode *n, struct policy *p)
{
	static const char *const backoff_keys[] = { "base", "max", NULL };
	static const char *const timeout_keys[] = { "connect", "first_byte",
		"first_token", "total", "idle", NULL };
	static const char *const safe_keys[] = { "status", "message",
		"retry_after", NULL };
	const struct ynode *v, *s;

	if ((v = ynode_get(n, "retry_on")) != NULL &&
	    get_retry_on(x, v, &p->retry_on) < 0)
		return -1;
	if ((v = ynode_get(n, "attempts")) != NULL &&
	    get_attempts(x, v, p) < 0)
		return -1;
	if ((v = ynode_get(n, "quality")) != NULL && get_quality(x, v, p) < 0)
		return -1;
	if ((v = ynode_get(n, "slo")) != NULL && get_slo(x, v, p) < 0)
		return -1;
	if ((v = ynode_get(n, "hedge")) != NULL && get_hedge(x, v, p) < 0)
		return -1;
	if ((v = ynode_get(n, "fallback_max_price")) != NULL &&
	    get_number(x, v, "fallback_max_price", &p->fallback_max_price) < 0)
		return -1;
	if ((v = ynode_get(n, "midstream")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "midstream") < 0)
			return -1;
		if (strcmp(v->str, "error") == 0)
			p->midstream = MIDSTREAM_ERROR;
		else if (strcmp(v->str, "continue") == 0)
			p->midstream = MIDSTREAM_CONTINUE;
		else
			return cerr(x, v, "midstream must be error or "
			    "continue");
	}
	if ((v = ynode_get(n, "backoff")) != NULL) {
		if (check_keys(x, v, "backoff", backoff_keys) < 0)
			return -1;
		if ((s = ynode_get(v, "base")) != NULL &&
		    get_duration(x, s, "backoff.base", &p->backoff_base_ms) < 0)
			return -1;
		if ((s = ynode_get(v, "max")) != NULL &&
		    get_duration(x, s, "backoff.max", &p->backoff_max_ms) < 0)
			return -1;
	}
	if ((v = ynode_get(n, "retry_after_max")) != NULL &&
	    get_duration(x, v, "retry_after_max", &p->retry_after_max_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "timeouts")) != NULL) {
		if (check_keys(x, v, "timeouts", timeout_keys) < 0)
			return -1;
		if ((s = ynode_get(v, "connect")) != NULL &&
		    get_duration(x, s, "timeouts.connect",
		    &p->connect_timeout_ms) < 0)
			return -1;
		/* first_byte is first_token's older name. */
		if ((s = ynode_get(v, "first_byte")) != NULL &&
		    get_duration(x, s, "timeouts.first_byte",
		    &p->first_byte_timeout_ms) < 0)
			return -1;
		if ((s = ynode_get(v, "first_token")) != NULL &&
		    get_duration(x, s, "timeouts.first_token",
		    &p->first_byte_timeout_ms) < 0)
			return -1;
		if ((s = ynode_get(v, "idle")) != NULL &&
		    get_duration(x, s, "timeouts.idle",
		    &p->idle_timeout_ms) < 0)
			return -1;
		if ((s = ynode_get(v, "total")) != NULL &&
		    get_duration(x, s, "timeouts.total",
		    &p->total_timeout_ms) < 0)
			return -1;
	}
	if ((v = ynode_get(n, "deadline")) != NULL &&
	    get_duration(x, v, "deadline", &p->deadline_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "safe_failure")) != NULL) {
		if (check_keys(x, v, "safe_failure", safe_keys) < 0)
			return -1;
		if ((s = ynode_get(v, "status")) != NULL &&
		    get_int(x, s, "safe_failure.status", 400, 599,
		    &p->safe.status) < 0)
			return -1;
		if ((s = ynode_get(v, "message")) != NULL &&
		    get_str(x, s, "safe_failure.message", &p->safe.message) < 0)
			return -1;
		if ((s = ynode_get(v, "retry_after")) != NULL) {
			if (get_duration(x, s, "safe_failure.retry_after",
			    &p->safe.retry_after_s) < 0)
				return -1;
			p->safe.retry_after_s = (p->safe.retry_after_s + 999) /
			    1000;
		}
	}
	if (p->backoff_max_ms < p->backoff_base_ms)
		return cerr(x, n, "backoff.max is below backoff.base");
	if (p->connect_timeout_ms == 0 || p->first_byte_timeout_ms == 0 ||
	    p->total_timeout_ms == 0 || p->deadline_ms == 0)
		return cerr(x, n, "timeouts and deadline must be above zero");
	return 0;
}

/* ---- providers, targets, routes ----------------------------------- */

/* A secret in a file (what: the key naming it, for errors; noun: what
 * it holds): one line, read once per load, never in an error. */
static int
read_secret_file(struct cctx *x, const struct ynode *at, const char *what,
    const char *noun, const char *path, char **ret)
{
	char buf[API_KEY_MAX + 1];
	ssize_t n;
	size_t len;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cerr(x, at, "%s %s: %s", what, path, strerror(errno));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return cerr(x, at, "%s %s: %s", what, path, strerror(errno));
	if ((size_t)n > API_KEY_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return cerr(x, at, "%s %s: larger than %d bytes", what, path,
		    API_KEY_MAX);
	}
	len = (size_t)n;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\n', len) != NULL ||
	    memchr(buf, '\r', len) != NULL) {
		explicit_bzero(buf, sizeof(buf));
		return cerr(x, at, "%s %s: must hold one %s on one line", what,
		    path, noun);
	}
	*ret = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* The host of an http(s) URL, into a new string. */
static char *
url_host(const char *url)
{
	const char *h = strstr(url, "://"), *e;

	if (h == NULL)
		return NULL;
	h += 3;
	if (*h == '[') {
		e = strchr(h, ']');
		return e ? xstrndup(h + 1, (size_t)(e - h - 1)) : NULL;
	}
	e = h + strcspn(h, ":/?#");
	return e > h ? xstrndup(h, (size_t)(e - h)) : NULL;
}

/* Whether host (from a base URL) is an Azure OpenAI resource, whose
 * keys go in "api-key". */
static bool
azure_host(const char *base_url)
{
	static const char *const sfx[] = { ".openai.azure.com",
		".cognitiveservices.azure.com", ".services.ai.azure.com" };
	char *h = url_host(base_url);
	size_t i, n, m;
	bool r = false;

	for (i = 0; h != NULL && i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		n = strlen(h);
		m = strlen(sfx[i]);
		r = r || (n > m && strcasecmp(h + n - m, sfx[i]) == 0);
	}
	free(h);
	return r;
}

/* auth_header and api_version: how a key and an API version go to the
 * provider (Azure OpenAI wants "api-key:" and "?api-version="). */
static int
get_auth(struct cctx *x, const struct ynode *n, struct provider *p)
{
	const struct ynode *v;
	const char *s;
	char *a = NULL;
	int r = -1;

	s = api_of(p->dialect)->auth;
	p->auth = strcasecmp(s, "x-api-key") == 0 ? AUTH_X_API_KEY :
	    azure_host(p->base_url) ? AUTH_API_KEY : AUTH_BEARER;
	if ((v = ynode_get(n, "auth_header")) != NULL) {
		if (get_str(x, v, "auth_header", &a) < 0)
			return -1;
		if (strcasecmp(a, "bearer") == 0)
			p->auth = AUTH_BEARER;
		else if (strcasecmp(a, "x-api-key") == 0)
			p->auth = AUTH_X_API_KEY;
		else if (strcasecmp(a, "api-key") == 0)
			p->auth = AUTH_API_KEY;
		else {
			cerr(x, v, "auth_header must be bearer, x-api-key or "
			    "api-key, not '%s'", a);
			goto out;
		}
	}
	if ((v = ynode_get(n, "api_version")) != NULL) {
		if (get_str(x, v, "api_version", &p->api_version) < 0)
			goto out;
		for (s = p->api_version; *s != '\0'; s++)
			if (!isalnum((unsigned char)*s) && *s != '-' &&
			    *s != '.' && *s != '_')
				break;
		if (*s != '\0' || s == p->api_version) {
			cerr(x, v, "api_version must be like 2024-10-21");
			goto out;
		}
		if ((s = strchr(p->base_url, '?')) != NULL &&
		    strstr(s, "api-version=") != NULL) {
			cerr(x, v, "api_version is in base_url already: give "
			    "it once");
			goto out;
		}
	}
	r = 0;
out:
	free(a);
	return r;
}

static int
load_provider(struct cctx *x, const struct ynode *key, const struct ynode *n,
    struct provider *p)
{
	static const char *const keys[] = { "dialect", "base_url", "origin",
		"api_key_env", "api_key_file", "auth_header", "api_version",
		NULL };
	const struct ynode *v;
	const struct api *api;
	char *dialect = NULL, *q, names[128];
	size_t len;
	int r = -1;

	p->name = xstrdup(key->str);
	if (check_name(x, key, "provider", p->name) < 0 ||
	    check_keys(x, n, "provider", keys) < 0)
		return -1;
	api_names(names, sizeof(names));
	if ((v = ynode_get(n, "dialect")) == NULL)
		return cerr(x, key, "provider %s: dialect is required "
		    "(%s)", p->name, names);
	if (get_str(x, v, "dialect", &dialect) < 0)
		return -1;
	if ((api = api_named(dialect)) != NULL)
		p->dialect = api->dialect;
	else {
		cerr(x, v, "dialect must be %s, not '%s'", names, dialect);
		goto out;
	}
	if ((v = ynode_get(n, "base_url")) == NULL) {
		cerr(x, key, "provider %s: base_url is required", p->name);
		goto out;
	}
	if (get_str(x, v, "base_url", &p->base_url) < 0)
		goto out;
	if (strncmp(p->base_url, "https://", 8) != 0 &&
	    strncmp(p->base_url, "http://", 7) != 0) {
		cerr(x, v, "base_url must start with https:// or http://");
		goto out;
	}
	/* The path ends before a query (Azure's "?api-version="): its
	 * trailing slashes go, the query stays for every call. */
	q = p->base_url + strcspn(p->base_url, "?");
	len = (size_t)(q - p->base_url);
	while (len > 0 && p->base_url[len - 1] == '/')
		len--;
	memmove(p->base_url + len, q, strlen(q) + 1);
	if (get_auth(x, n, p) < 0)
		goto out;
	if ((v = ynode_get(n, "origin")) != NULL) {
		if (get_str(x, v, "origin", &p->origin) < 0)
			goto out;
		lowercase(p->origin);
		if (!valid_host_pattern(p->origin) || p->origin[0] == '*') {
			cerr(x, v, "origin must be a host name");
			goto out;
		}
	} else if ((p->origin = url_host(p->base_url)) == NULL) {
		cerr(x, ynode_get(n, "base_url"), "base_url has no host");
		goto out;
	} else {
		lowercase(p->origin);
	}
	if ((v = ynode_get(n, "api_key_env")) != NULL) {
		const char *val;

		if (get_str(x, v, "api_key_env", &p->api_key_env) < 0)
			goto out;
		if ((val = getenv(p->api_key_env)) != NULL && *val != '\0')
			p->api_key = xstrdup(val);
	}
	if ((v = ynode_get(n, "api_key_file")) != NULL) {
		if (p->api_key_env != NULL) {
			cerr(x, v, "give api_key_env or api_key_file, not both");
			goto out;
		}
		if (get_str(x, v, "api_key_file", &p->api_key_file) < 0 ||
		    read_secret_file(x, v, "api_key_file", "key",
		    p->api_key_file, &p->api_key) < 0)
			goto out;
	}
	r = 0;
out:
	free(dialect);
	return r;
}

static struct provider *
find_provider(struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nproviders; i++)
		if (strcmp(c->providers[i].name, name) == 0)
			return &c->providers[i];
	return NULL;
}

const struct target *
config_target(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ntargets; i++)
		if (strcmp(c->targets[i].name, name) == 0)
			return &c->targets[i];
	return NULL;
}

const struct route *
config_route(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nroutes; i++)
		if (strcmp(c->routes[i].name, name) == 0)
			return &c->routes[i];
	return NULL;
}

static bool
str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
provider_same(const struct provider *a, const struct provider *b)
{
	return a->dialect == b->dialect && str_same(a->name, b->name) &&
	    str_same(a->base_url, b->base_url) &&
	    str_same(a->origin, b->origin) &&
	    str_same(a->api_key, b->api_key) && a->auth == b->auth &&
	    str_same(a->api_version, b->api_version);
}

static bool
breaker_conf_same(const struct breaker_conf *a, const struct breaker_conf *b)
{
	return a->failures == b->failures && a->ratio_pct == b->ratio_pct &&
	    a->window_ms == b->window_ms &&
	    a->min_requests == b->min_requests &&
	    a->cooldown_ms == b->cooldown_ms && a->probes == b->probes;
}

bool
target_same(const struct target *a, const struct target *b)
{
	size_t i;

	if (!provider_same(a->provider, b->provider) ||
	    !str_same(a->name, b->name) || !str_same(a->model, b->model) ||
	    !str_same(a->deployment, b->deployment) ||
	    !str_same(a->account, b->account) ||
	    a->nmodels != b->nmodels || a->ntags != b->ntags ||
	    !breaker_conf_same(&a->breaker, &b->breaker) ||
	    a->price.input != b->price.input ||
	    a->price.output != b->price.output ||
	    a->context != b->context ||
	    a->max_concurrency != b->max_concurrency ||
	    a->rpm != b->rpm || a->tpm != b->tpm ||
	    a->dimensions != b->dimensions)
		return false;
	for (i = 0; i < a->nmodels; i++)
		if (!str_same(a->models[i].requested, b->models[i].requested) ||
		    !str_same(a->models[i].own, b->models[i].own))
			return false;
	for (i = 0; i < a->ntags; i++)
		if (!str_same(a->tags[i], b->tags[i]))
			return false;
	return true;
}

static void
breaker_default(struct breaker_conf *b)
{
	b->failures = 5;
	b->ratio_pct = 50;
	b->window_ms = 60000;
	b->min_requests = 20;
	b->cooldown_ms = 30000;
	b->probes = 1;
}

/* Apply a breaker map on top of b. */
static int
get_breaker(struct cctx *x, const struct ynode *n, struct breaker_conf *b)
{
	static const char *const keys[] = { "failures", "ratio", "window",
		"min_requests", "cooldown", "probes", NULL };
	const struct ynode *v;
	int i;

	if (check_keys(x, n, "breaker", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "failures")) != NULL) {
		if (get_int(x, v, "breaker.failures", 0, 100000, &i) < 0)
			return -1;
		b->failures = (unsigned)i;
	}
	if ((v = ynode_get(n, "ratio")) != NULL) {
		char pct[16];
		size_t len;

		if (want(x, v, YNODE_SCALAR, "breaker.ratio") < 0)
			return -1;
		len = strlen(v->str);
		if (len > 0 && len < sizeof(pct) && v->str[len - 1] == '%') {
			memcpy(pct, v->str, len - 1);
			pct[len - 1] = '\0';
		} else {
			snprintf(pct, sizeof(pct), "%s", v->str);
		}
		if (parse_int(pct, 0, 100, &i) < 0)
			return cerr(x, v, "breaker.ratio must be a percentage "
			    "from 0%% to 100%%");
		b->ratio_pct = (unsigned)i;
	}
	if ((v = ynode_get(n, "window")) != NULL &&
	    get_duration(x, v, "breaker.window", &b->window_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "min_requests")) != NULL) {
		if (get_int(x, v, "breaker.min_requests", 1, 1000000, &i) < 0)
			return -1;
		b->min_requests = (unsigned)i;
	}
	if ((v = ynode_get(n, "cooldown")) != NULL &&
	    get_duration(x, v, "breaker.cooldown", &b->cooldown_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "probes")) != NULL) {
		if (get_int(x, v, "breaker.probes", 1, 1000, &i) < 0)
			return -1;
		b->probes = (unsigned)i;
	}
	if (b->window_ms == 0)
		return cerr(x, n, "breaker.window must be more than 0");
	return 0;
}

/* model: NAME, or a map { REQUESTED-GLOB: NAME, ... } tried in order. */
static int
get_model(struct cctx *x, const struct ynode *v, struct target *t)
{
	size_t i;

	if (v->type != YNODE_MAP)
		return get_str(x, v, "model", &t->model);
	t->models = xcalloc(v->n, sizeof(*t->models));
	t->nmodels = v->n;
	for (i = 0; i < v->n; i++)
		if (get_str(x, v->keys[i], "model", &t->models[i].requested) <
		    0 || get_str(x, v->items[i], "model", &t->models[i].own) < 0)
			return -1;
	return 0;
}

const char *
target_account(const struct target *t)
{
	return t->account != NULL ? t->account : t->name;
}

const char *
target_model(const struct target *t, const char *requested)
{
	size_t i;

	if (t->model != NULL)
		return t->model;
	for (i = 0; i < t->nmodels; i++)
		if (glob_match(t->models[i].requested, requested ? requested :
		    ""))
			return t->models[i].own;
	return NULL;
}

static int
load_target(struct cctx *x, struct config *c, const struct ynode *key,
    const struct ynode *n, struct target *t)
{
	static const char *const keys[] = { "provider", "model", "breaker",
		"price", "context", "tags", "max_concurrency", "deployment",
		"dimensions", "rpm", "tpm", "account", NULL };
	static const char *const price_keys[] = { "input", "output", NULL };
	const struct ynode *v, *s;
	char *prov = NULL;
	uint64_t u;

	t->name = xstrdup(key->str);
	t->breaker = c->breaker;
	if (check_name(x, key, "target", t->name) < 0 ||
	    check_keys(x, n, "target", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "provider")) == NULL)
		return cerr(x, key, "target %s: provider is required", t->name);
	if (get_str(x, v, "provider", &prov) < 0)
		return -1;
	t->provider = find_provider(c, prov);
	if (t->provider == NULL) {
		cerr(x, v, "target %s: no provider named '%s'", t->name, prov);
		free(prov);
		return -1;
	}
	free(prov);
	if ((v = ynode_get(n, "model")) != NULL &&
	    get_model(x, v, t) < 0)
		return -1;
	if ((v = ynode_get(n, "deployment")) != NULL) {
		/* Azure OpenAI's deployment names: letters, digits, - _ . */
		if (get_str(x, v, "deployment", &t->deployment) < 0)
			return -1;
		if (!api_of(t->provider->dialect)->deployments)
			return cerr(x, v, "target %s: deployment is for Azure "
			    "OpenAI, an openai provider", t->name);
		if (t->deployment[0] == '\0' || t->deployment[strspn(
		    t->deployment, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")] != '\0')
			return cerr(x, v, "deployment must be a name of "
			    "letters, digits, '-', '_' and '.'");
	}
	if ((v = ynode_get(n, "breaker")) != NULL &&
	    get_breaker(x, v, &t->breaker) < 0)
		return -1;
	if ((v = ynode_get(n, "price")) != NULL) {
		if (check_keys(x, v, "price", price_keys) < 0)
			return -1;
		if ((s = ynode_get(v, "input")) != NULL &&
		    get_number(x, s, "price.input", &t->price.input) < 0)
			return -1;
		if ((s = ynode_get(v, "output")) != NULL &&
		    get_number(x, s, "price.output", &t->price.output) < 0)
			return -1;
	}
	if ((v = ynode_get(n, "context")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "context") < 0)
			return -1;
		if (parse_u64(v->str, 1, 1ULL << 40, &t->context) < 0)
			return cerr(x, v, "context must be a number of tokens");
	}
	if ((v = ynode_get(n, "tags")) != NULL &&
	    get_str_list(x, v, "tags", &t->tags, &t->ntags) < 0)
		return -1;
	if ((v = ynode_get(n, "max_concurrency")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "max_concurrency") < 0)
			return -1;
		if (parse_u64(v->str, 1, 1000000, &u) < 0)
			return cerr(x, v, "max_concurrency must be a whole "
			    "number from 1 to 1000000");
		t->max_concurrency = (uint32_t)u;
	}
	/* Limits the provider does not advertise (or llmfb's share of an
	 * account's): requests and tokens a minute, counted here. */
	if ((v = ynode_get(n, "rpm")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "rpm") < 0)
			return -1;
		if (parse_u64(v->str, 1, 1000000000, &t->rpm) < 0)
			return cerr(x, v, "rpm must be a whole number from 1 "
			    "to 1000000000");
	}
	if ((v = ynode_get(n, "tpm")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "tpm") < 0)
			return -1;
		if (parse_u64(v->str, 1, 1000000000000ULL, &t->tpm) < 0)
			return cerr(x, v, "tpm must be a whole number from 1 "
			    "to 1000000000000");
	}
	/* The provider account it draws on: a label, not the key.  In a
	 * fleet, targets with one account share its rate limits (the key
	 * in Redis and the messages carry it): a name, so no secret and
	 * no space can get there. */
	if ((v = ynode_get(n, "account")) != NULL) {
		if (get_str(x, v, "account", &t->account) < 0 ||
		    check_name(x, v, "account", t->account) < 0)
			return -1;
	}
	/* The length of its embedding vectors: an embeddings call goes only
	 * to targets of its first rung's (or its request's) dimensions. */
	if ((v = ynode_get(n, "dimensions")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "dimensions") < 0)
			return -1;
		if (parse_u64(v->str, 1, 65536, &u) < 0)
			return cerr(x, v, "dimensions must be a whole number "
			    "from 1 to 65536");
		t->dimensions = (uint32_t)u;
	}
	return 0;
}

bool
target_has_tag(const struct target *t, const char *tag)
{
	size_t i;

	for (i = 0; i < t->ntags; i++)
		if (strcmp(t->tags[i], tag) == 0)
			return true;
	return false;
}

/* uid or gid: a number or a name, one or a list. */
static int
get_ids(struct cctx *x, const struct ynode *n, const char *what, bool group,
    uint32_t **ret, size_t *ret_n)
{
	char **names = NULL;
	size_t i, nnames = 0;
	uint64_t id;
	int rc = 0;

	if (get_str_list(x, n, what, &names, &nnames) < 0) {
		free_str_list(names, nnames);
		return -1;
	}
	*ret = xcalloc(nnames ? nnames : 1, sizeof(**ret));
	for (i = 0; i < nnames && rc == 0; i++) {
		const struct ynode *at = n->type == YNODE_SEQ ? n->items[i] : n;
		struct passwd *pw;
		struct group *gr;

		if (parse_u64(names[i], 0, UINT32_MAX - 1, &id) == 0)
			(*ret)[i] = (uint32_t)id;
		else if (!group && (pw = getpwnam(names[i])) != NULL)
			(*ret)[i] = pw->pw_uid;
		else if (group && (gr = getgrnam(names[i])) != NULL)
			(*ret)[i] = gr->gr_gid;
		else
			rc = cerr(x, at, "%s: no %s named '%s'", what,
			    group ? "group" : "user", names[i]);
		(*ret_n)++;
	}
	free_str_list(names, nnames);
	return rc;
}

static int
load_match(struct cctx *x, const struct ynode *n, struct route_match *m)
{
	static const char *const keys[] = { "host", "path", "model",
		"header", "exe", "comm", "unit", "cgroup", "uid", "gid", NULL };
	const struct ynode *v;

	if (check_keys(x, n, "match", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "host")) != NULL &&
	    get_hosts(x, v, "match.host", &m->hosts, &m->nhosts) < 0)
		return -1;
	if ((v = ynode_get(n, "path")) != NULL &&
	    get_str_list(x, v, "match.path", &m->paths, &m->npaths) < 0)
		return -1;
	if ((v = ynode_get(n, "model")) != NULL &&
	    get_str_list(x, v, "match.model", &m->models, &m->nmodels) < 0)
		return -1;
	if ((v = ynode_get(n, "header")) != NULL &&
	    get_str(x, v, "match.header", &m->header) < 0)
		return -1;
	if ((v = ynode_get(n, "exe")) != NULL) {
		if (get_str_list(x, v, "match.exe", &m->exes, &m->nexes) < 0)
			return -1;
		add_resolved_exes(&m->exes, &m->nexes);
	}
	if ((v = ynode_get(n, "comm")) != NULL &&
	    get_str_list(x, v, "match.comm", &m->comms, &m->ncomms) < 0)
		return -1;
	if ((v = ynode_get(n, "unit")) != NULL &&
	    get_str_list(x, v, "match.unit", &m->units, &m->nunits) < 0)
		return -1;
	if ((v = ynode_get(n, "cgroup")) != NULL &&
	    get_str_list(x, v, "match.cgroup", &m->cgroups, &m->ncgroups) < 0)
		return -1;
	if ((v = ynode_get(n, "uid")) != NULL &&
	    get_ids(x, v, "match.uid", false, &m->uids, &m->nuids) < 0)
		return -1;
	if ((v = ynode_get(n, "gid")) != NULL &&
	    get_ids(x, v, "match.gid", true, &m->gids, &m->ngids) < 0)
		return -1;
	return 0;
}

/* ---- what a route does per failure kind ---------------------------- */

static const char *const kind_names[FK_COUNT] = {
	[FK_NONE] = "none", [FK_TECHNICAL] = "technical",
	[FK_LATENCY] = "latency", [FK_BUDGET] = "budget",
	[FK_QUALITY] = "quality", [FK_CONTENT] = "content",
	[FK_REGION] = "region", [FK_CONTEXT] = "context",
	[FK_DIALECT] = "dialect", [FK_CLIENT] = "client",
};

const char *
fail_kind_name(enum fail_kind k)
{
	return k < FK_COUNT ? kind_names[k] : "?";
}

enum fail_class
fail_kind_class(enum fail_kind k)
{
	switch (k) {
	case FK_NONE:
		return FC_NONE;
	case FK_TECHNICAL:
		return FC_TECHNICAL;
	case FK_LATENCY:
	case FK_BUDGET:
	case FK_QUALITY:
		return FC_BUSINESS;
	case FK_CONTENT:
	case FK_REGION:
	case FK_CONTEXT:
	case FK_DIALECT:
		return FC_POLICY;
	default:
		return FC_CLIENT;
	}
}

const char *
fail_class_name(enum fail_class c)
{
	static const char *names[] = { "none", "technical", "business",
		"policy", "client" };

	return names[c];
}

/* A rung named in `on:` is one of the route's own. */
static int
get_rung(struct cctx *x, const struct ynode *v, const struct route *r,
    int *ret)
{
	size_t i;

	if (want(x, v, YNODE_SCALAR, "on") < 0)
		return -1;
	if (strcmp(v->str, "next") == 0) {
		*ret = RUNG_NEXT;
		return 0;
	}
	if (strcmp(v->str, "fail") == 0) {
		*ret = RUNG_FAIL;
		return 0;
	}
	for (i = 0; i < r->nladder; i++)
		if (strcmp(r->ladder[i]->name, v->str) == 0) {
			*ret = (int)i;
			return 0;
		}
	return cerr(x, v, "route %s: on: '%s' is not next, fail or a target "
	    "of its ladder", r->name, v->str);
}

/* on: { technical|business|policy|latency|budget|quality|content|region|
 * context|dialect: next | fail | TARGET }; a kind not named takes its class's
 * rung, and a class not named takes the next rung. */
static int
load_on(struct cctx *x, const struct ynode *n, struct route *r)
{
	static const char *const keys[] = { "technical", "business", "policy",
		"latency", "budget", "quality", "content", "region", "context",
		"dialect", NULL };
	int cls[FC_CLIENT + 1] = { RUNG_NEXT, RUNG_NEXT, RUNG_NEXT,
		RUNG_NEXT, RUNG_NEXT };
	const struct ynode *v;
	int k;

	for (k = 0; k < FK_COUNT; k++)
		r->on[k] = RUNG_NEXT;
	if (n == NULL)
		return 0;
	if (check_keys(x, n, "on", keys) < 0)
		return -1;
	for (k = FC_TECHNICAL; k <= FC_POLICY; k++)
		if ((v = ynode_get(n, fail_class_name((enum fail_class)k))) !=
		    NULL && get_rung(x, v, r, &cls[k]) < 0)
			return -1;
	for (k = FK_TECHNICAL; k < FK_CLIENT; k++) {
		r->on[k] = cls[fail_kind_class((enum fail_kind)k)];
		if (k != FK_TECHNICAL &&
		    (v = ynode_get(n, kind_names[k])) != NULL &&
		    get_rung(x, v, r, &r->on[k]) < 0)
			return -1;
	}
	return 0;
}

static int
load_budget(struct cctx *x, const struct ynode *n, struct budget_conf *b)
{
	static const char *const keys[] = { "hour", "day", "caller_hour",
		"caller_day", "call", "fallback_hour", "fallback_day", NULL };
	const struct {
		const char	*key;
		double		*dst;
	} f[] = {
		{ "hour", &b->hour }, { "day", &b->day },
		{ "caller_hour", &b->caller_hour },
		{ "caller_day", &b->caller_day }, { "call", &b->call },
		{ "fallback_hour", &b->fallback_hour },
		{ "fallback_day", &b->fallback_day },
	};
	const struct ynode *v;
	char what[32];
	size_t i;

	if (check_keys(x, n, "budget", keys) < 0)
		return -1;
	for (i = 0; i < ARRAY_SIZE(f); i++) {
		if ((v = ynode_get(n, f[i].key)) == NULL)
			continue;
		snprintf(what, sizeof(what), "budget.%s", f[i].key);
		if (get_number(x, v, what, f[i].dst) < 0)
			return -1;
	}
	return 0;
}

/* One more rung: the target it names, once per ladder. */
static int
add_rung(struct cctx *x, const struct config *c, const struct ynode *it,
    struct route *r)
{
	struct target *t = (struct target *)config_target(c, it->str);
	size_t j;

	if (t == NULL)
		return cerr(x, it, "route %s: no target named '%s'", r->name,
		    it->str);
	for (j = 0; j < r->nladder; j++)
		if (r->ladder[j] == t)
			return cerr(x, it, "route %s: target '%s' is on the "
			    "ladder twice", r->name, it->str);
	r->ladder[r->nladder++] = t;
	return 0;
}

static const char *const group_keys[] = { "group", "pick", "weights",
	"on_member_failure", NULL };

/* A ladder item { group: [a, b], pick: weighted, weights: { a: 3 },
 * on_member_failure: next_member | next_rung }: its members become
 * consecutive rungs, tried in the order pick gives each call. */
static int
load_group(struct cctx *x, const struct config *c, const struct ynode *n,
    struct route *r)
{
	struct rung_group *g = &r->groups[r->ngroups];
	const struct ynode *v, *m;
	size_t i, k;
	int pick;

	if (check_keys(x, n, "ladder group", group_keys) < 0)
		return -1;
	if ((m = ynode_get(n, "group")) == NULL)
		return cerr(x, n, "route %s: a ladder item that is a map is a "
		    "group: group: [TARGET, ...] is required", r->name);
	if (want(x, m, YNODE_SEQ, "group") < 0)
		return -1;
	if (m->n == 0 || m->n > GROUP_MAX)
		return cerr(x, m, "route %s: a group has 1 to %d targets",
		    r->name, GROUP_MAX);
	g->first = (uint8_t)r->nladder;
	g->n = (uint8_t)m->n;
	g->pick = GROUP_WEIGHTED;
	for (i = 0; i < m->n; i++) {
		if (want(x, m->items[i], YNODE_SCALAR, "group member") < 0 ||
		    add_rung(x, c, m->items[i], r) < 0)
			return -1;
		r->group_of[r->nladder - 1] = (uint8_t)(r->ngroups + 1);
		g->weight[i] = 1;
	}
	if ((v = ynode_get(n, "pick")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "pick") < 0)
			return -1;
		if ((pick = group_pick_parse(v->str)) < 0)
			return cerr(x, v, "route %s: pick: '%s' is not order, "
			    "weighted, least-busy, latency or price", r->name,
			    v->str);
		g->pick = (enum group_pick)pick;
	}
	if ((v = ynode_get(n, "weights")) != NULL) {
		if (want(x, v, YNODE_MAP, "weights") < 0)
			return -1;
		if (g->pick != GROUP_WEIGHTED)
			return cerr(x, v, "route %s: weights are for pick: "
			    "weighted, not %s", r->name,
			    group_pick_name(g->pick));
		for (k = 0; k < v->n; k++) {
			int w;

			for (i = 0; i < m->n; i++)
				if (strcmp(m->items[i]->str,
				    v->keys[k]->str) == 0)
					break;
			if (i == m->n)
				return cerr(x, v->keys[k], "route %s: weights: "
				    "'%s' is not a member of the group",
				    r->name, v->keys[k]->str);
			if (get_int(x, v->items[k], "a weight", 1, 1000000,
			    &w) < 0)
				return -1;
			g->weight[i] = (uint32_t)w;
		}
	}
	if ((v = ynode_get(n, "on_member_failure")) != NULL) {
		if (want(x, v, YNODE_SCALAR, "on_member_failure") < 0)
			return -1;
		if (strcmp(v->str, "next_rung") == 0)
			g->next_rung = true;
		else if (strcmp(v->str, "next_member") != 0)
			return cerr(x, v, "route %s: on_member_failure: '%s' "
			    "is not next_member or next_rung", r->name,
			    v->str);
	}
	r->ngroups++;
	return 0;
}

/* A route's own keys; it takes policy_keys too. */
static const char *const route_keys[] = { "name", "match", "ladder", "on",
	"require_tags", "fallback_targets", "budget", NULL };

static int
load_route(struct cctx *x, struct config *c, const struct ynode *n,
    const struct policy *defaults, struct route *r)
{
	const struct ynode *v;
	char namebuf[32];
	size_t i, j, nr;

	policy_copy(&r->policy, defaults);
	if (check_keys2(x, n, "route", route_keys, policy_keys) < 0)
		return -1;
	if ((v = ynode_get(n, "name")) != NULL) {
		if (get_str(x, v, "route name", &r->name) < 0 ||
		    check_name(x, v, "route", r->name) < 0)
			return -1;
	} else {
		snprintf(namebuf, sizeof(namebuf), "route%zu", r->index);
		r->name = xstrdup(namebuf);
	}
	for (j = 0; j < r->index; j++)
		if (strcmp(c->routes[j].name, r->name) == 0)
			return cerr(x, v ? v : n, "a route named '%s' exists "
			    "already", r->name);
	if ((v = ynode_get(n, "match")) != NULL &&
	    load_match(x, v, &r->match) < 0)
		return -1;
	if ((v = ynode_get(n, "ladder")) == NULL)
		return cerr(x, n, "route %s: ladder is required", r->name);
	if (want(x, v, YNODE_SEQ, "ladder") < 0)
		return -1;
	if (v->n == 0)
		return cerr(x, v, "route %s: ladder is empty", r->name);
	/* A group's members are rungs of their own. */
	for (i = 0, nr = 0; i < v->n; i++) {
		const struct ynode *g = v->items[i]->type == YNODE_MAP ?
		    ynode_get(v->items[i], "group") : NULL;

		nr += g != NULL && g->type == YNODE_SEQ ? g->n : 1;
	}
	if (nr > LADDER_MAX)
		return cerr(x, v, "route %s: a ladder has at most %d rungs "
		    "(a group's members count one each)", r->name, LADDER_MAX);
	r->ladder = xcalloc(nr, sizeof(*r->ladder));
	r->groups = xcalloc(v->n, sizeof(*r->groups));
	for (i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];

		if (it->type == YNODE_MAP) {
			if (load_group(x, c, it, r) < 0)
				return -1;
			continue;
		}
		if (want(x, it, YNODE_SCALAR, "ladder item") < 0)
			return -1;
		if (add_rung(x, c, it, r) < 0)
			return -1;
	}
	if (load_on(x, ynode_get(n, "on"), r) < 0)
		return -1;
	if ((v = ynode_get(n, "require_tags")) != NULL &&
	    get_str_list(x, v, "require_tags", &r->require_tags,
	    &r->nrequire_tags) < 0)
		return -1;
	if ((v = ynode_get(n, "fallback_targets")) != NULL) {
		char **names = NULL;
		size_t nnames = 0;
		int rc = get_str_list(x, v, "fallback_targets", &names,
		    &nnames);

		r->fallback_set = xcalloc(nnames ? nnames : 1,
		    sizeof(*r->fallback_set));
		for (i = 0; i < nnames && rc == 0; i++) {
			r->fallback_set[i] = (struct target *)config_target(c,
			    names[i]);
			if (r->fallback_set[i] == NULL)
				rc = cerr(x, v, "route %s: fallback_targets: "
				    "no target named '%s'", r->name, names[i]);
			r->nfallback_set++;
		}
		free_str_list(names, nnames);
		if (rc < 0)
			return -1;
	}
	r->budget = (struct budget_conf){ -1, -1, -1, -1, -1, -1, -1 };
	if ((v = ynode_get(n, "budget")) != NULL &&
	    load_budget(x, v, &r->budget) < 0)
		return -1;
	return get_policy(x, n, &r->policy);
}

static int
load_providers(struct cctx *x, struct config *c, const struct ynode *n)
{
	size_t i;

	if (want(x, n, YNODE_MAP, "providers") < 0)
		return -1;
	c->providers = xcalloc(n->n ? n->n : 1, sizeof(*c->providers));
	for (i = 0; i < n->n; i++) {
		c->nproviders++;
		if (load_provider(x, n->keys[i], n->items[i],
		    &c->providers[i]) < 0)
			return -1;
	}
	return 0;
}

static int
load_targets(struct cctx *x, struct config *c, const struct ynode *n)
{
	size_t i;

	if (want(x, n, YNODE_MAP, "targets") < 0)
		return -1;
	c->targets = xcalloc(n->n ? n->n : 1, sizeof(*c->targets));
	for (i = 0; i < n->n; i++) {
		c->ntargets++;
		c->targets[i].index = i;
		if (load_target(x, c, n->keys[i], n->items[i],
		    &c->targets[i]) < 0)
			return -1;
	}
	return 0;
}

static int
load_upstream(struct cctx *x, struct config *c, const struct ynode *n)
{
	static const char *const keys[] = { "ca_file", "connect_to", NULL };
	const struct ynode *v;

	if (check_keys(x, n, "upstream", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "ca_file")) != NULL) {
		if (get_str(x, v, "ca_file", &c->ca_file) < 0)
			return -1;
		if (access(c->ca_file, R_OK) < 0)
			return cerr(x, v, "ca_file %s: %s", c->ca_file,
			    strerror(errno));
	}
	if ((v = ynode_get(n, "connect_to")) != NULL &&
	    get_str_list(x, v, "connect_to", &c->connect_to,
	    &c->nconnect_to) < 0)
		return -1;
	return 0;
}

static int
load_limits(struct cctx *x, struct config *c, const struct ynode *n)
{
	static const char *const keys[] = { "max_request_body",
		"max_header_size", "max_clients", "max_clients_per_user",
		"request_timeout", "idle_timeout", "max_answer_body", NULL };
	const struct ynode *v;
	int clients;

	if (check_keys(x, n, "limits", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "max_request_body")) != NULL &&
	    get_size(x, v, "max_request_body", &c->max_request_body) < 0)
		return -1;
	if ((v = ynode_get(n, "max_header_size")) != NULL &&
	    get_size(x, v, "max_header_size", &c->max_header_size) < 0)
		return -1;
	if ((v = ynode_get(n, "max_answer_body")) != NULL &&
	    get_size(x, v, "max_answer_body", &c->max_answer_body) < 0)
		return -1;
	if ((v = ynode_get(n, "max_clients")) != NULL) {
		if (get_int(x, v, "max_clients", 1, 1000000, &clients) < 0)
			return -1;
		c->max_clients = (uint32_t)clients;
	}
	if ((v = ynode_get(n, "max_clients_per_user")) != NULL) {
		if (get_int(x, v, "max_clients_per_user", 1, 1000000,
		    &clients) < 0)
			return -1;
		c->max_clients_per_user = (uint32_t)clients;
	}
	if ((v = ynode_get(n, "request_timeout")) != NULL &&
	    get_duration(x, v, "request_timeout", &c->request_timeout_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "idle_timeout")) != NULL &&
	    get_duration(x, v, "idle_timeout", &c->idle_timeout_ms) < 0)
		return -1;
	if (c->max_request_body > (1ULL << 30) ||
	    c->max_header_size < 1024 || c->max_header_size > (1ULL << 24) ||
	    c->max_answer_body < (1ULL << 20) ||
	    c->max_answer_body > (4ULL << 30))
		return cerr(x, n, "limits out of range (max_request_body up "
		    "to 1GiB, max_header_size 1KiB to 16MiB, max_answer_body "
		    "1MiB to 4GiB)");
	if (c->request_timeout_ms < 100 || c->idle_timeout_ms < 100)
		return cerr(x, n, "limits out of range (request_timeout and "
		    "idle_timeout at least 100ms)");
	return 0;
}

static int
get_mode(struct cctx *x, const struct ynode *n, uint32_t *ret)
{
	unsigned long m;
	char *end;

	if (want(x, n, YNODE_SCALAR, "listen_mode") < 0)
		return -1;
	errno = 0;
	m = strtoul(n->str, &end, 8);
	if (errno != 0 || *end != '\0' || n->str[0] == '\0' || m > 0777)
		return cerr(x, n, "listen_mode must be octal, like \"0660\"");
	*ret = (uint32_t)m;
	return 0;
}

/* metrics_listen: "127.0.0.1:9464", "[::1]:9464" or "localhost:9464".
 * Loopback only: the metrics name every route, target and program. */
static int
get_metrics_listen(struct cctx *x, const struct ynode *n, struct config *c)
{
	struct in6_addr a6;
	struct in_addr a4;
	char host[64];
	const char *colon;
	size_t hlen;
	int port;

	if (want(x, n, YNODE_SCALAR, "metrics_listen") < 0)
		return -1;
	colon = strrchr(n->str, ':');
	hlen = colon ? (size_t)(colon - n->str) : 0;
	if (colon == NULL || hlen == 0 || hlen >= sizeof(host) ||
	    parse_int(colon + 1, 1, 65535, &port) < 0)
		return cerr(x, n, "metrics_listen must be HOST:PORT, like "
		    "\"127.0.0.1:9464\"");
	memcpy(host, n->str, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0) {
		snprintf(host, sizeof(host), "127.0.0.1");
	} else if (host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	if (!(inet_pton(AF_INET, host, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127) &&
	    !(inet_pton(AF_INET6, host, &a6) == 1 &&
	    IN6_IS_ADDR_LOOPBACK(&a6)))
		return cerr(x, n, "metrics_listen: %s is not a loopback "
		    "address (127.0.0.0/8, ::1)", host);
	c->metrics_addr = xstrdup(host);
	c->metrics_port = port;
	return 0;
}

static int
get_ebpf(struct cctx *x, const struct ynode *n, enum ebpf_mode *ret)
{
	if (want(x, n, YNODE_SCALAR, "ebpf") < 0)
		return -1;
	if (strcmp(n->str, "auto") == 0)
		*ret = EBPF_AUTO;
	else if (strcmp(n->str, "on") == 0 || strcmp(n->str, "true") == 0)
		*ret = EBPF_ON;
	else if (strcmp(n->str, "off") == 0 || strcmp(n->str, "false") == 0)
		*ret = EBPF_OFF;
	else
		return cerr(x, n, "ebpf must be auto, on or off");
	return 0;
}

/* Programs the shim leaves alone: globs that travel to the shim as lines
 * of the hosts file, so one line each, printable and short. */
static int
get_exclude(struct cctx *x, const struct ynode *n, struct config *c)
{
	const unsigned char *p;
	size_t i;

	if (get_str_list(x, n, "exclude", &c->exclude, &c->nexclude) < 0)
		return -1;
	if (c->nexclude > CONFIG_EXCLUDE_MAX)
		return cerr(x, n, "exclude: at most %d programs",
		    CONFIG_EXCLUDE_MAX);
	for (i = 0; i < c->nexclude; i++) {
		const struct ynode *at = n->type == YNODE_SEQ ?
		    n->items[i] : n;

		for (p = (const unsigned char *)c->exclude[i]; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				break;
		if (*p != '\0' || strlen(c->exclude[i]) > CONFIG_EXCLUDE_LEN)
			return cerr(x, at, "exclude: '%s': a glob of at most "
			    "%d printable characters", c->exclude[i],
			    CONFIG_EXCLUDE_LEN);
	}
	return 0;
}

/* ---- checks across sections --------------------------------------- */

/* A key named by api_key_env must be there when llmfbd starts, checks or
 * reloads: calls would otherwise go out with no key and come back 401
 * from a fallback the caller never chose.  Done here rather than while
 * the provider loads, so that llmfbctl status can still say where a key
 * came from. */
static int
check_key_env(struct cctx *x, const struct config *c,
    const struct ynode *providers)
{
	const struct ynode *at;
	size_t i;

	for (i = 0; i < c->nproviders; i++) {
		const struct provider *p = &c->providers[i];

		if (p->api_key_env == NULL || p->api_key != NULL)
			continue;
		at = ynode_get(ynode_get(providers, p->name), "api_key_env");
		return cerr(x, at, "provider %s: api_key_env %s is not set "
		    "(or empty) in llmfbd's environment: set it (as a service, "
		    "with EnvironmentFile= in a drop-in, see llmfbd(8)), use "
		    "api_key_file, or remove the line to send only the "
		    "callers' keys", p->name, p->api_key_env);
	}
	return 0;
}

/* Whether a call for host pattern h can reach llmfbd: only the hosts in
 * intercept are handed over by the shim.  A wildcard route host counts
 * as reachable when some intercepted host falls under it. */
static bool
host_intercepted(const struct config *c, const char *h)
{
	char probe[260];
	size_t i;

	if (h[0] == '*' && h[1] == '.') {
		snprintf(probe, sizeof(probe), "x%s", h + 1);
		if (config_intercepts(c, probe, strlen(probe)))
			return true;
		for (i = 0; i < c->nintercept; i++) {
			const char *p = c->intercept[i];

			if (p[0] == '*' && p[1] == '.')
				p += 2;
			if (host_match(h, p, strlen(p)))
				return true;
		}
		return false;
	}
	return config_intercepts(c, h, strlen(h));
}

/* A route for a host the shim never hands over never matches. */
static void
check_dead_routes(struct cctx *x, const struct config *c,
    const struct ynode *routes)
{
	size_t i, j;

	for (i = 0; i < c->nroutes; i++) {
		const struct route *r = &c->routes[i];
		const struct ynode *hn = ynode_get(ynode_get(routes->items[i],
		    "match"), "host");
		size_t live = 0;

		for (j = 0; j < r->match.nhosts; j++) {
			if (host_intercepted(c, r->match.hosts[j])) {
				live++;
				continue;
			}
			cwarn(x, hn->type == YNODE_SEQ ? hn->items[j] : hn,
			    "route %s: match.host %s is not in intercept, so "
			    "no call for it reaches llmfbd%s: add it to "
			    "intercept", r->name, r->match.hosts[j],
			    j + 1 == r->match.nhosts && live == 0 ?
			    " and the route never matches" : "");
		}
		if (r->match.nhosts == 0 && c->nintercept == 0)
			cwarn(x, routes->items[i], "route %s: intercept is "
			    "empty, so no call reaches llmfbd and the route "
			    "never matches: list the providers' hosts in "
			    "intercept", r->name);
	}
}

/* ---- ca: the local certificate authority ------------------------- */

/* ca: { enabled: BOOL, dir: PATH }.  The directory defaults to the
 * state directory's ca/ (read after state_dir). */
static int
load_ca(struct cctx *x, struct config *c, const struct ynode *n)
{
	static const char *const keys[] = { "enabled", "dir", NULL };
	const struct ynode *v;

	if (check_keys(x, n, "ca", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "enabled")) != NULL &&
	    get_bool(x, v, "ca.enabled", &c->ca_enabled) < 0)
		return -1;
	if ((v = ynode_get(n, "dir")) != NULL) {
		if (get_str(x, v, "ca.dir", &c->ca_dir) < 0)
			return -1;
		if (c->ca_dir[0] != '/')
			return cerr(x, v, "ca.dir must be an absolute path");
	}
	if (c->ca_enabled && c->nintercept == 0)
		return cerr(x, n, "ca: enabled with no intercepted host: it "
		    "would have no name to vouch for");
	return 0;
}

/* redirect: { cgroup: PATH, port: N }: the eBPF connect redirection. */
static int
load_redirect(struct cctx *x, struct config *c, const struct ynode *n)
{
	static const char *const keys[] = { "cgroup", "port", NULL };
	const struct ynode *v;

	if (check_keys(x, n, "redirect", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "cgroup")) == NULL)
		return cerr(x, n, "redirect: cgroup is required (a cgroup v2 "
		    "directory, e.g. /sys/fs/cgroup/system.slice/x.service)");
	if (get_str(x, v, "redirect.cgroup", &c->redirect_cgroup) < 0)
		return -1;
	if (c->redirect_cgroup[0] != '/')
		return cerr(x, v, "redirect.cgroup must be an absolute path");
	if ((v = ynode_get(n, "port")) != NULL &&
	    get_int(x, v, "redirect.port", 0, 65535, &c->redirect_port) < 0)
		return -1;
	return 0;
}

/* ---- shared: fleet state on Redis ----------------------------------- */

/* "HOST:PORT", "[V6]:PORT" or "unix:/path" (a path alone too). */
static int
get_shared_address(struct cctx *x, const struct ynode *v,
    struct shared_conf *s)
{
	char *a = NULL, *colon;
	int r = -1;

	if (get_str(x, v, "shared.address", &a) < 0)
		return -1;
	if (strncmp(a, "unix:", 5) == 0 || a[0] == '/') {
		s->socket = xstrdup(a[0] == '/' ? a : a + 5);
		if (s->socket[0] != '/') {
			cerr(x, v, "shared.address: a Unix socket path must "
			    "be absolute");
			goto out;
		}
		r = 0;
		goto out;
	}
	if ((colon = strrchr(a, ':')) == NULL || colon == a ||
	    parse_int(colon + 1, 1, 65535, &s->port) < 0) {
		cerr(x, v, "shared.address: '%s' is not HOST:PORT or "
		    "unix:/PATH", a);
		goto out;
	}
	*colon = '\0';
	if (a[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		s->host = xstrdup(a + 1);
	} else {
		s->host = xstrdup(a);
	}
	r = 0;
out:
	free(a);
	return r;
}

static char *
default_host_name(void)
{
	char h[256];

	if (gethostname(h, sizeof(h)) < 0 || h[0] == '\0')
		return xstrdup("llmfbd");
	h[sizeof(h) - 1] = '\0';
	h[strcspn(h, " \t\r\n")] = '\0';
	if (strlen(h) > SHARED_NAME_MAX)
		h[SHARED_NAME_MAX] = '\0';
	return xstrdup(h);
}

static void
shared_conf_free(struct shared_conf *s)
{
	if (s == NULL)
		return;
	free(s->host);
	free(s->socket);
	if (s->password != NULL)
		explicit_bzero(s->password, strlen(s->password));
	free(s->password);
	free(s->password_env);
	free(s->password_file);
	free(s->prefix);
	free(s->name);
	free(s);
}

static int
load_shared(struct cctx *x, struct config *c, const struct ynode *n)
{
	static const char *const keys[] = { "address", "password_env",
		"password_file", "tls", "prefix", "name", "max_wait",
		"timeout", "reconnect", "breakers", "budgets", "latency",
		"rate_limits", NULL };
	struct shared_conf *s;
	const struct ynode *v;
	const char *val;
	bool tls = false;
	const char *p;

	if (check_keys(x, n, "shared", keys) < 0)
		return -1;
	s = c->shared = xcalloc(1, sizeof(*s));
	s->max_wait_ms = 5;
	s->timeout_ms = 1000;
	s->reconnect_ms = 1000;
	s->breakers = s->budgets = s->latency = s->rate_limits = true;
	if ((v = ynode_get(n, "address")) == NULL)
		return cerr(x, n, "shared: address is required (HOST:PORT or "
		    "unix:/PATH)");
	if (get_shared_address(x, v, s) < 0)
		return -1;
	if ((v = ynode_get(n, "tls")) != NULL &&
	    get_bool(x, v, "shared.tls", &tls) < 0)
		return -1;
	/* Debian 12's hiredis (0.14) has no TLS: hiredis_ssl came with
	 * 1.0.  Say so rather than send the password in the clear; TLS
	 * is not built by hand on a plain link. */
	if (tls)
		return cerr(x, v, "shared.tls: this build's hiredis (%d.%d) "
		    "has no TLS (hiredis_ssl came with 1.0); reach Redis on "
		    "a Unix socket, on loopback, or through a TLS tunnel "
		    "(stunnel, spiped)", HIREDIS_MAJOR, HIREDIS_MINOR);
	if ((v = ynode_get(n, "password_env")) != NULL) {
		if (get_str(x, v, "shared.password_env", &s->password_env) < 0)
			return -1;
		if ((val = getenv(s->password_env)) == NULL || *val == '\0')
			return cerr(x, v, "shared.password_env: %s is not set",
			    s->password_env);
		s->password = xstrdup(val);
	}
	if ((v = ynode_get(n, "password_file")) != NULL) {
		if (s->password_env != NULL)
			return cerr(x, v, "shared: give password_env or "
			    "password_file, not both");
		if (get_str(x, v, "shared.password_file",
		    &s->password_file) < 0 ||
		    read_secret_file(x, v, "shared.password_file",
		    "password", s->password_file, &s->password) < 0)
			return -1;
	}
	if ((v = ynode_get(n, "prefix")) != NULL) {
		if (get_str(x, v, "shared.prefix", &s->prefix) < 0)
			return -1;
		for (p = s->prefix; *p != '\0'; p++)
			if (!isgraph((unsigned char)*p))
				break;
		if (*p != '\0' || strlen(s->prefix) > SHARED_PREFIX_MAX)
			return cerr(x, v, "shared.prefix: at most %d printable "
			    "characters, no spaces", SHARED_PREFIX_MAX);
	} else {
		s->prefix = xstrdup("llmfb:");
	}
	if ((v = ynode_get(n, "name")) != NULL) {
		if (get_str(x, v, "shared.name", &s->name) < 0 ||
		    check_name(x, v, "shared", s->name) < 0)
			return -1;
	} else {
		s->name = default_host_name();
	}
	if ((v = ynode_get(n, "max_wait")) != NULL &&
	    get_duration(x, v, "shared.max_wait", &s->max_wait_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "timeout")) != NULL &&
	    get_duration(x, v, "shared.timeout", &s->timeout_ms) < 0)
		return -1;
	if ((v = ynode_get(n, "reconnect")) != NULL &&
	    get_duration(x, v, "shared.reconnect", &s->reconnect_ms) < 0)
		return -1;
	if (s->max_wait_ms < 1 || s->max_wait_ms > 1000)
		return cerr(x, n, "shared.max_wait: from 1ms to 1s");
	if (s->timeout_ms < 10 || s->timeout_ms > 60000)
		return cerr(x, n, "shared.timeout: from 10ms to 60s");
	if (s->reconnect_ms < 10 || s->reconnect_ms > 600000)
		return cerr(x, n, "shared.reconnect: from 10ms to 10m");
	if ((v = ynode_get(n, "breakers")) != NULL &&
	    get_bool(x, v, "shared.breakers", &s->breakers) < 0)
		return -1;
	if ((v = ynode_get(n, "budgets")) != NULL &&
	    get_bool(x, v, "shared.budgets", &s->budgets) < 0)
		return -1;
	if ((v = ynode_get(n, "latency")) != NULL &&
	    get_bool(x, v, "shared.latency", &s->latency) < 0)
		return -1;
	if ((v = ynode_get(n, "rate_limits")) != NULL &&
	    get_bool(x, v, "shared.rate_limits", &s->rate_limits) < 0)
		return -1;
	return 0;
}

bool
shared_conf_same(const struct shared_conf *a, const struct shared_conf *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return str_same(a->host, b->host) && a->port == b->port &&
	    str_same(a->socket, b->socket) &&
	    str_same(a->password, b->password) &&
	    str_same(a->prefix, b->prefix) && str_same(a->name, b->name);
}

/* otel: { endpoint: URL, service_name: NAME, headers: { NAME: VALUE } } */
static int
load_otel(struct cctx *x, struct config *c, const struct ynode *n)
{
	static const char *const keys[] = { "endpoint", "service_name",
		"headers", NULL };
	const struct ynode *v;
	size_t i;

	if (check_keys(x, n, "otel", keys) < 0)
		return -1;
	if ((v = ynode_get(n, "endpoint")) == NULL)
		return cerr(x, n, "otel: endpoint is required, like "
		    "http://127.0.0.1:4318");
	if (get_str(x, v, "otel.endpoint", &c->otel_endpoint) < 0)
		return -1;
	if (strncmp(c->otel_endpoint, "http://", 7) != 0 &&
	    strncmp(c->otel_endpoint, "https://", 8) != 0)
		return cerr(x, v, "otel.endpoint: an http:// or https:// URL");
	if ((v = ynode_get(n, "service_name")) != NULL) {
		if (get_str(x, v, "otel.service_name", &c->otel_service) < 0)
			return -1;
	} else {
		c->otel_service = xstrdup("llmfbd");
	}
	if ((v = ynode_get(n, "headers")) == NULL)
		return 0;
	if (want(x, v, YNODE_MAP, "otel.headers") < 0)
		return -1;
	c->otel_headers = xcalloc(v->n + 1, sizeof(char *));
	for (i = 0; i < v->n; i++) {
		const struct ynode *k = v->keys[i], *val = v->items[i];

		if (want(x, val, YNODE_SCALAR, "otel.headers") < 0)
			return -1;
		if (strpbrk(k->str, ": \r\n") != NULL ||
		    strpbrk(val->str, "\r\n") != NULL)
			return cerr(x, k, "otel.headers: a header name and a "
			    "one-line value");
		if (asprintf(&c->otel_headers[c->notel_headers], "%s: %s",
		    k->str, val->str) < 0)
			return cerr(x, k, "otel.headers: out of memory");
		c->notel_headers++;
	}
	return 0;
}

static struct config *
config_from_tree(struct cctx *x, const struct ynode *root)
{
	static const char *const top_keys[] = { "listen", "listen_mode",
		"control", "intercept", "upstream", "limits", "providers",
		"targets", "defaults", "routes", "breaker", "state_dir",
		"events", "control_group", "metrics_listen", "ebpf",
		"bypass_watch", "network_watch", "exclude", "stop_timeout",
		"ca", "redirect", "shared", "otel", NULL };
	struct config *c = xcalloc(1, sizeof(*c));
	struct policy defaults;
	const struct ynode *v;

	c->refs = 1;
	c->max_request_body = 32ULL << 20;
	c->max_header_size = 64ULL << 10;
	/* Far above any chat answer; a gzip bomb stops here. */
	c->max_answer_body = 64ULL << 20;
	/* Room for 10,000 streams at once, and for one user to hold most
	 * of it without starving the others. */
	c->max_clients = 16384;
	c->max_clients_per_user = 12288;
	c->request_timeout_ms = 30000;
	c->idle_timeout_ms = 120000;
	c->listen_mode = 0666;
	c->network_watch = true;
	/* Off unless asked for: its uprobes slow every TLS read and write
	 * of every program on the host (bench/RESULTS.md, issue 25). */
	c->bypass_watch = false;
	c->stop_timeout_ms = 30000;
	breaker_default(&c->breaker);
	policy_default(&defaults);

	if (!ynode_is_null(root) &&
	    check_keys(x, root, "the configuration", top_keys) < 0)
		goto out;
	if (ynode_is_null(root) || root->n == 0) {
		cerr(x, root, "the configuration is empty: it needs at least "
		    "intercept, providers, targets and routes (see "
		    "llmfb.yaml(5) and examples/llmfb.yaml)");
		goto out;
	}
	if ((v = ynode_get(root, "listen")) != NULL &&
	    get_str(x, v, "listen", &c->listen) < 0)
		goto out;
	if ((v = ynode_get(root, "listen_mode")) != NULL &&
	    get_mode(x, v, &c->listen_mode) < 0)
		goto out;
	if ((v = ynode_get(root, "control")) != NULL &&
	    get_str(x, v, "control", &c->control) < 0)
		goto out;
	if ((v = ynode_get(root, "state_dir")) != NULL &&
	    get_str(x, v, "state_dir", &c->state_dir) < 0)
		goto out;
	if ((v = ynode_get(root, "events")) != NULL &&
	    get_str(x, v, "events", &c->events) < 0)
		goto out;
	if ((v = ynode_get(root, "control_group")) != NULL &&
	    get_ids(x, v, "control_group", true, &c->control_gids,
	    &c->ncontrol_gids) < 0)
		goto out;
	if ((v = ynode_get(root, "metrics_listen")) != NULL &&
	    get_metrics_listen(x, v, c) < 0)
		goto out;
	if ((v = ynode_get(root, "ebpf")) != NULL &&
	    get_ebpf(x, v, &c->ebpf) < 0)
		goto out;
	if ((v = ynode_get(root, "bypass_watch")) != NULL &&
	    get_bool(x, v, "bypass_watch", &c->bypass_watch) < 0)
		goto out;
	if ((v = ynode_get(root, "network_watch")) != NULL &&
	    get_bool(x, v, "network_watch", &c->network_watch) < 0)
		goto out;
	if ((v = ynode_get(root, "intercept")) != NULL &&
	    get_hosts(x, v, "intercept", &c->intercept, &c->nintercept) < 0)
		goto out;
	if ((v = ynode_get(root, "exclude")) != NULL &&
	    get_exclude(x, v, c) < 0)
		goto out;
	if ((v = ynode_get(root, "stop_timeout")) != NULL &&
	    get_duration(x, v, "stop_timeout", &c->stop_timeout_ms) < 0)
		goto out;
	if ((v = ynode_get(root, "upstream")) != NULL &&
	    load_upstream(x, c, v) < 0)
		goto out;
	if ((v = ynode_get(root, "limits")) != NULL &&
	    load_limits(x, c, v) < 0)
		goto out;
	if ((v = ynode_get(root, "defaults")) != NULL) {
		size_t i;

		/* budget, ladder, match...: a likely place to try them. */
		for (i = 0; v->type == YNODE_MAP && i < v->n; i++)
			if (key_in(v->keys[i]->str, route_keys)) {
				cerr(x, v->keys[i], "unknown key '%s' in "
				    "defaults: it is a route's own, put it on "
				    "each route", v->keys[i]->str);
				goto out;
			}
		if (check_keys(x, v, "defaults", policy_keys) < 0 ||
		    get_policy(x, v, &defaults) < 0)
			goto out;
	}
	if ((v = ynode_get(root, "breaker")) != NULL &&
	    get_breaker(x, v, &c->breaker) < 0)
		goto out;
	if ((v = ynode_get(root, "otel")) != NULL &&
	    load_otel(x, c, v) < 0)
		goto out;
	if ((v = ynode_get(root, "shared")) != NULL &&
	    load_shared(x, c, v) < 0)
		goto out;
	if ((v = ynode_get(root, "providers")) != NULL &&
	    (load_providers(x, c, v) < 0 || check_key_env(x, c, v) < 0))
		goto out;
	if ((v = ynode_get(root, "targets")) != NULL &&
	    load_targets(x, c, v) < 0)
		goto out;
	if ((v = ynode_get(root, "routes")) != NULL) {
		size_t i;

		if (want(x, v, YNODE_SEQ, "routes") < 0)
			goto out;
		c->routes = xcalloc(v->n ? v->n : 1, sizeof(*c->routes));
		for (i = 0; i < v->n; i++) {
			c->nroutes++;
			c->routes[i].index = i;
			if (load_route(x, c, v->items[i], &defaults,
			    &c->routes[i]) < 0)
				goto out;
		}
		check_dead_routes(x, c, v);
	}
	if (c->nroutes == 0 && c->nintercept > 0)
		cwarn(x, root, "no routes: every intercepted call goes to its "
		    "original host unchanged");
	if (c->listen == NULL)
		c->listen = xstrdup(CONFIG_DEFAULT_LISTEN);
	if (c->control == NULL)
		c->control = xstrdup(CONFIG_DEFAULT_CONTROL);
	if (c->state_dir == NULL)
		c->state_dir = xstrdup(CONFIG_DEFAULT_STATE_DIR);
	if ((v = ynode_get(root, "ca")) != NULL && load_ca(x, c, v) < 0)
		goto out;
	if ((v = ynode_get(root, "redirect")) != NULL &&
	    load_redirect(x, c, v) < 0)
		goto out;
	if (c->ca_dir == NULL) {
		size_t n = strlen(c->state_dir) + sizeof("/ca");

		c->ca_dir = xcalloc(1, n);
		snprintf(c->ca_dir, n, "%s/ca", c->state_dir);
	}
	if (strcmp(c->listen, c->control) == 0) {
		cerr(x, ynode_get(root, "control"), "control and listen "
		    "must be different sockets");
		goto out;
	}
	free(defaults.safe.message);
	c->warnings = x->warn;
	c->nwarnings = x->nwarn;
	c->warnings_dropped = x->warn_dropped;
	x->warn = NULL;
	x->nwarn = 0;
	return c;
out:
	free(defaults.safe.message);
	config_unref(c);
	return NULL;
}

static struct config *
config_finish(struct cctx *x, struct ynode *root, const char *path)
{
	struct config *c;

	if (root == NULL)
		return NULL;
	c = config_from_tree(x, root);
	ynode_free(root);
	free_str_list(x->warn, x->nwarn);	/* a failed load's */
	if (c != NULL)
		c->path = xstrdup(path);
	return c;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct cctx x = { .file = path, .err = err, .errlen = errlen };

	return config_finish(&x, ynode_load_file(path, err, errlen), path);
}

struct config *
config_load_string(const char *name, const char *text, char *err,
    size_t errlen)
{
	struct cctx x = { .file = name, .err = err, .errlen = errlen };

	return config_finish(&x, ynode_load_string(name, text, err, errlen),
	    name);
}

struct config *
config_ref(struct config *c)
{
	c->refs++;
	return c;
}

static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
config_unref(struct config *c)
{
	size_t i, j;

	if (c == NULL || --c->refs > 0)
		return;
	for (i = 0; i < c->nproviders; i++) {
		struct provider *p = &c->providers[i];

		free(p->name);
		free(p->base_url);
		free(p->origin);
		free_secret(p->api_key);
		free(p->api_key_env);
		free(p->api_key_file);
		free(p->api_version);
	}
	for (i = 0; i < c->ntargets; i++) {
		free(c->targets[i].name);
		free(c->targets[i].model);
		free(c->targets[i].deployment);
		free(c->targets[i].account);
		for (j = 0; j < c->targets[i].nmodels; j++) {
			free(c->targets[i].models[j].requested);
			free(c->targets[i].models[j].own);
		}
		free(c->targets[i].models);
		free_str_list(c->targets[i].tags, c->targets[i].ntags);
	}
	for (i = 0; i < c->nroutes; i++) {
		struct route *r = &c->routes[i];

		free(r->name);
		free_str_list(r->match.hosts, r->match.nhosts);
		free_str_list(r->match.paths, r->match.npaths);
		free_str_list(r->match.models, r->match.nmodels);
		free(r->match.header);
		free_str_list(r->match.exes, r->match.nexes);
		free_str_list(r->match.comms, r->match.ncomms);
		free_str_list(r->match.units, r->match.nunits);
		free_str_list(r->match.cgroups, r->match.ncgroups);
		free(r->match.uids);
		free(r->match.gids);
		free_str_list(r->require_tags, r->nrequire_tags);
		free(r->fallback_set);
		free(r->ladder);
		free(r->groups);
		free(r->policy.safe.message);
	}
	free(c->providers);
	free(c->targets);
	free(c->routes);
	free_str_list(c->intercept, c->nintercept);
	free_str_list(c->exclude, c->nexclude);
	free_str_list(c->connect_to, c->nconnect_to);
	free_str_list(c->warnings, c->nwarnings);
	free(c->path);
	free(c->listen);
	free(c->control);
	free(c->ca_file);
	free(c->state_dir);
	free(c->ca_dir);
	free(c->redirect_cgroup);
	free(c->events);
	free(c->control_gids);
	free(c->metrics_addr);
	shared_conf_free(c->shared);
	free(c->otel_endpoint);
	free(c->otel_service);
	free_str_list(c->otel_headers, c->notel_headers);
	free(c);
}

bool
config_intercepts(const struct config *c, const char *host, size_t hostlen)
{
	size_t i;

	for (i = 0; i < c->nintercept; i++)
		if (host_match(c->intercept[i], host, hostlen))
			return true;
	return false;
}

const char *
dialect_name(enum dialect d)
{
	return api_of(d)->name;
}
