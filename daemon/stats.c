#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"
#include "util.h"

/* From a local model's 25 ms to a long answer's minute. */
const double HIST_SLOW_S[HIST_BUCKETS - 1] = { 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 20, 30, 60 };
/* From 50 µs to a quarter second. */
const double HIST_FAST_S[HIST_BUCKETS - 1] = { 0.00005, 0.0001, 0.00025,
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25 };

const double *
hist_bounds(const struct hist *h)
{
	return h->bounds != NULL ? h->bounds : HIST_SLOW_S;
}

void
hist_add(struct hist *h, double ms)
{
	const double *bounds = hist_bounds(h);
	size_t i;

	if (!(ms >= 0))		/* NaN, or a clock that went back */
		ms = 0;
	for (i = 0; i < HIST_BUCKETS - 1; i++)
		if (ms <= bounds[i] * 1000)
			break;
	h->b[i]++;
	h->count++;
	h->sum_s += ms / 1000;
}

void
lset_add(struct lset *s, const char *labels, double v)
{
	struct lcount *c;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].labels, labels) == 0) {
			s->v[i].v += v;
			return;
		}
	if (s->n == LSET_MAX) {
		s->dropped++;
		return;
	}
	if ((c = realloc(s->v, (s->n + 1) * sizeof(*c))) == NULL)
		fatal("stats");
	s->v = c;
	c[s->n].labels = xstrdup(labels);
	c[s->n].v = v;
	s->n++;
}

void
stats_model_add(struct stats *s, const char *provider, const char *model,
    uint64_t in, uint64_t out, double cost)
{
	char labels[256];	/* metrics.c prints at most LABELS_MAX */

	if (model == NULL)
		model = "";
	/* A label set too long to print (a caller's model name over
	 * 256 bytes) is left out, as lset_add leaves out one too many. */
	if (prom_labels(labels, sizeof(labels), "provider", provider,
	    "model", model, "direction", "input", NULL) == 0)
		lset_add(&s->model_tokens, labels, (double)in);
	if (prom_labels(labels, sizeof(labels), "provider", provider,
	    "model", model, "direction", "output", NULL) == 0)
		lset_add(&s->model_tokens, labels, (double)out);
	if (prom_labels(labels, sizeof(labels), "provider", provider,
	    "model", model, NULL) == 0)
		lset_add(&s->model_spend, labels, cost);
}

void
lset_free(struct lset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].labels);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int
prom_escape(char *out, size_t len, const char *value)
{
	size_t k = 0;

	for (; *value != '\0'; value++) {
		const char *rep = *value == '\\' ? "\\\\" :
		    *value == '"' ? "\\\"" : *value == '\n' ? "\\n" : NULL;
		size_t n = rep ? 2 : 1;

		if (k + n >= len)
			return -1;
		if (rep != NULL)
			memcpy(out + k, rep, 2);
		else
			out[k] = *value;
		k += n;
	}
	if (len == 0)
		return -1;
	out[k] = '\0';
	return 0;
}

void
samples_add(struct samples *s, uint32_t us)
{
	s->v[s->next] = us;
	s->next = (s->next + 1) % SAMPLES_MAX;
	if (s->n < SAMPLES_MAX)
		s->n++;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool
samples_pct(const struct samples *s, int pct, uint32_t *ret_us)
{
	uint32_t v[SAMPLES_MAX];
	unsigned rank;

	if (s->n == 0 || pct < 1 || pct > 100)
		return false;
	memcpy(v, s->v, s->n * sizeof(v[0]));
	qsort(v, s->n, sizeof(v[0]), cmp_u32);
	rank = (s->n * (unsigned)pct + 99) / 100;
	*ret_us = v[rank > 0 ? rank - 1 : 0];
	return true;
}

struct stats *
stats_new(void)
{
	struct stats *s = xcalloc(1, sizeof(struct stats));

	s->shim_h.bounds = HIST_FAST_S;
	return s;
}

void
stats_free(struct stats *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nt; i++)
		free(s->t[i].name);
	for (i = 0; i < s->nr; i++)
		free(s->r[i].name);
	for (i = 0; i < s->nc; i++)
		free(s->c[i].name);
	free(s->t);
	free(s->r);
	free(s->c);
	lset_free(&s->requests);
	lset_free(&s->attempts);
	lset_free(&s->fallbacks);
	lset_free(&s->unserved);
	lset_free(&s->terminated);
	lset_free(&s->model_tokens);
	lset_free(&s->model_spend);
	free(s);
}

/* Linear search: a host has tens of targets, not thousands, and the
 * lookups happen once per attempt. */
struct tstat *
stats_target(struct stats *s, const char *name)
{
	struct tstat *t;
	size_t i;

	for (i = 0; i < s->nt; i++)
		if (strcmp(s->t[i].name, name) == 0)
			return &s->t[i];
	t = realloc(s->t, (s->nt + 1) * sizeof(*t));
	if (t == NULL)
		fatal("stats");
	s->t = t;
	t = &s->t[s->nt++];
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	t->network_h.bounds = HIST_FAST_S;
	ratelimit_init(&t->rl);
	t->rl_fleet.count.wall = true;
	return t;
}

struct rstat *
stats_route(struct stats *s, const char *name)
{
	struct rstat *r;
	size_t i;

	for (i = 0; i < s->nr; i++)
		if (strcmp(s->r[i].name, name) == 0)
			return &s->r[i];
	r = realloc(s->r, (s->nr + 1) * sizeof(*r));
	if (r == NULL)
		fatal("stats");
	s->r = r;
	r = &s->r[s->nr++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	return r;
}

int
prom_labels(char *out, size_t len, ...)
{
	const char *name, *value;
	char esc[512];
	size_t k = 0, n;
	va_list ap;
	int r = 0;

	if (len == 0)
		return -1;
	out[0] = '\0';
	va_start(ap, len);
	while (r == 0 && (name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (prom_escape(esc, sizeof(esc), value ? value : "") < 0) {
			r = -1;
			break;
		}
		n = (size_t)snprintf(out + k, len - k, "%s%s=\"%s\"",
		    k ? "," : "", name, esc);
		if (n >= len - k)
			r = -1;
		else
			k += n;
	}
	va_end(ap);
	return r;
}

struct cstat *
stats_caller(struct stats *s, const char *name, uint32_t uid)
{
	struct cstat *c;
	size_t i;

	for (i = 0; i < s->nc; i++)
		if (s->c[i].uid == uid && strcmp(s->c[i].name, name) == 0)
			return &s->c[i];
	if (s->nc >= CALLERS_MAX && strcmp(name, "(other)") != 0)
		return stats_caller(s, "(other)", UINT32_MAX);
	c = realloc(s->c, (s->nc + 1) * sizeof(*c));
	if (c == NULL)
		fatal("stats");
	s->c = c;
	c = &s->c[s->nc++];
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->uid = uid;
	return c;
}

void
stats_target_renew(struct tstat *t)
{
	uint64_t opens = t->br.opens;	/* a counter: it never goes back */

	breaker_init(&t->br);
	t->br.opens = opens;
	latency_init(&t->lat);
	latency_init(&t->fleet_lat);
	/* Perhaps another key or account: its limits are not ours. */
	ratelimit_init(&t->rl);
	memset(&t->rl_fleet, 0, sizeof(t->rl_fleet));
	t->rl_fleet.count.wall = true;
	/* Perhaps another host now: learn its address anew. */
	memset(&t->network_s, 0, sizeof(t->network_s));
	memset(&t->provider_s, 0, sizeof(t->provider_s));
	t->addr[0] = '\0';
	t->unreachable = false;
	t->net_why[0] = t->net_dev[0] = '\0';
}
