#include <string.h>

#include "route.h"
#include "util.h"

static bool
any_glob(char **globs, size_t n, const char *s)
{
	size_t i;

	if (n == 0)
		return true;
	if (s == NULL)
		return false;
	for (i = 0; i < n; i++)
		if (glob_match(globs[i], s))
			return true;
	return false;
}

static bool
any_id(const uint32_t *ids, size_t n, bool known, uint32_t id)
{
	size_t i;

	if (n == 0)
		return true;
	for (i = 0; known && i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static bool
any_host(char **hosts, size_t n, const char *host)
{
	size_t i;

	if (n == 0)
		return true;
	for (i = 0; i < n; i++)
		if (host_match(hosts[i], host, strlen(host)))
			return true;
	return false;
}

const struct route *
route_match(const struct config *c, const struct route_req *rq)
{
	size_t i;

	for (i = 0; i < c->nroutes; i++) {
		const struct route_match *m = &c->routes[i].match;

		if (!any_host(m->hosts, m->nhosts, rq->host))
			continue;
		if (!any_glob(m->paths, m->npaths, rq->path))
			continue;
		if (!any_glob(m->models, m->nmodels, rq->model))
			continue;
		if (m->header != NULL && (rq->header == NULL ||
		    strcmp(m->header, rq->header) != 0))
			continue;
		if (!any_glob(m->exes, m->nexes, rq->exe) ||
		    !any_glob(m->comms, m->ncomms, rq->comm) ||
		    !any_glob(m->units, m->nunits, rq->unit) ||
		    !any_glob(m->cgroups, m->ncgroups, rq->cgroup) ||
		    !any_id(m->uids, m->nuids, rq->cred, rq->uid) ||
		    !any_id(m->gids, m->ngids, rq->cred, rq->gid))
			continue;
		return &c->routes[i];
	}
	return NULL;
}
