#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"
#include "util.h"

struct stats *
stats_new(void)
{
	return xcalloc(1, sizeof(struct stats));
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
	free(s->t);
	free(s->r);
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
