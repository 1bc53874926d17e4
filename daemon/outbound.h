/* What an attempt sends a provider besides its body: the target's URL,
 * and the request's header lines (which of the caller's go where, the
 * key, an API's required header).  Pure functions of the config and the
 * request, no I/O. */
#ifndef LLMFB_OUTBOUND_H
#define LLMFB_OUTBOUND_H

#include <stdbool.h>

#include "api.h"
#include "buf.h"
#include "config.h"

struct http_req;

/* Headers that describe one hop, never forwarded either way. */
bool hop_by_hop(const char *name);

/* Request headers for provider p (NULL: passthrough to the caller's own
 * host), as "Name: value\r\n" lines into h: the caller's, less hop-by-hop
 * ones; all of them to its own provider (own), only those any API reads
 * and, for a provider of the caller's API (to == caller), that API's own
 * to any other; then llmfb's key for p unless the caller sent one to its
 * own, and the API's version header unless sent.  A translated attempt
 * (to != caller) drops every API's own headers.  0 or -1 (h full). */
int outbound_headers(const struct http_req *req, bool own, enum dialect caller,
    enum dialect to, const struct provider *p, struct buf *h);

/* A target's URL, for API to: the base URL's path, Azure's deployment,
 * the API's path, then the queries: the base URL's own (an Azure
 * "?api-version=" given there stays after the path), the provider's
 * api_version, and the caller's (query, or NULL).  A caller's own
 * api-version wins over llmfb's: never two. */
void outbound_url(struct buf *url, const struct target *t, enum dialect to,
    const char *query);

#endif
