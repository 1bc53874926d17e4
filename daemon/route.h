/* Route selection: the first route whose match block fits the request
 * wins; a route without a match block catches everything. */
#ifndef LLMFB_ROUTE_H
#define LLMFB_ROUTE_H

#include "config.h"

/* What of a request and its caller routing looks at.  Any string but
 * host and path may be NULL (unknown). */
struct route_req {
	const char	*host;		/* original host, no port */
	const char	*path;		/* without the query string */
	const char	*model;
	const char	*header;	/* x-llmfb-route */
	/* The caller, from SO_PEERCRED and /proc. */
	const char	*exe;
	const char	*comm;
	const char	*unit;
	const char	*cgroup;
	bool		 cred;		/* uid and gid are known */
	uint32_t	 uid, gid;
};

const struct route *route_match(const struct config *c,
    const struct route_req *rq);

#endif
