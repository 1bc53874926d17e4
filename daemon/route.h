/* Route selection: the first route whose match block fits the request
 * wins; a route without a match block catches everything. */
#ifndef LLMFB_ROUTE_H
#define LLMFB_ROUTE_H

#include "config.h"

/* What of a request routing looks at.  model and header may be NULL. */
struct route_req {
	const char	*host;		/* original host, no port */
	const char	*path;		/* without the query string */
	const char	*model;
	const char	*header;	/* x-llmfb-route */
};

const struct route *route_match(const struct config *c,
    const struct route_req *rq);

#endif
