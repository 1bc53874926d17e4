/* What an attempt sends a provider besides its body: its URL and its
 * header lines (outbound.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "outbound.h"
#include "server.h"
#include "util.h"

/* Headers that describe one hop, never forwarded either way. */
bool
hop_by_hop(const char *name)
{
	static const char *const hop[] = { "connection", "keep-alive",
		"proxy-connection", "transfer-encoding", "te", "trailer",
		"upgrade", "content-length", "expect", "host",
		"accept-encoding", "content-encoding", NULL };
	size_t i;

	for (i = 0; hop[i] != NULL; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	return str_case_prefix(name, "x-llmfb-");
}

/* Headers that carry the caller's credentials. */
static bool
credential_header(const char *name)
{
	return strcasecmp(name, "authorization") == 0 ||
	    strcasecmp(name, "x-api-key") == 0 ||
	    strcasecmp(name, "api-key") == 0 ||
	    strcasecmp(name, "proxy-authorization") == 0;
}

/* What of the caller's request may go to a provider it did not call:
 * the body's type and what that API itself reads.  Everything else was
 * meant for the caller's own provider only: its credentials under any
 * name, cookies, organisation and project ids, gateway keys. */
static bool
foreign_header(const char *name, const struct api *same)
{
	static const char *const any[] = { "content-type", "accept",
		"user-agent", NULL };
	size_t i;

	for (i = 0; any[i] != NULL; i++)
		if (strcasecmp(name, any[i]) == 0)
			return true;
	for (i = 0; same != NULL && same->own_headers != NULL &&
	    same->own_headers[i] != NULL; i++)
		if (strcasecmp(name, same->own_headers[i]) == 0)
			return true;
	return false;
}

int
outbound_headers(const struct http_req *req, bool own, enum dialect caller,
    enum dialect to, const struct provider *p, struct buf *h)
{
	const struct api *api = p != NULL ? api_of(to) : NULL;
	bool caller_cred = false, has_version = false;
	size_t i;

	for (i = 0; i < req->nh; i++) {
		const struct header *rh = &req->h[i];

		if (hop_by_hop(rh->name) || (p != NULL && to != caller &&
		    api_header(rh->name)))
			continue;
		if (!own && !foreign_header(rh->name, to == caller ? api :
		    NULL))
			continue;
		if (credential_header(rh->name))
			caller_cred = true;
		if (api != NULL && api->version_header != NULL &&
		    strcasecmp(rh->name, api->version_header) == 0)
			has_version = true;
		if (buf_printf(h, "%s: %s\r\n", rh->name, rh->value) < 0)
			return -1;
	}
	if (p != NULL && p->api_key != NULL && !caller_cred) {
		int r;

		if (p->auth == AUTH_X_API_KEY)
			r = buf_printf(h, "x-api-key: %s\r\n", p->api_key);
		else if (p->auth == AUTH_API_KEY)
			r = buf_printf(h, "api-key: %s\r\n", p->api_key);
		else
			r = buf_printf(h, "Authorization: Bearer %s\r\n",
			    p->api_key);
		if (r < 0)
			return -1;
	}
	if (api != NULL && api->version_header != NULL && !has_version &&
	    buf_printf(h, "%s: %s\r\n", api->version_header, api->version) < 0)
		return -1;
	return 0;
}

/* Whether the query parameter at q is name ("name=..."). */
static bool
query_has_at(const char *q, const char *name)
{
	size_t n = strlen(name);

	return strncmp(q, name, n) == 0 && q[n] == '=';
}

/* Whether the query q has the parameter name. */
static bool
query_has(const char *q, const char *name)
{
	while (q != NULL && *q != '\0') {
		if (query_has_at(q, name))
			return true;
		if ((q = strchr(q, '&')) != NULL)
			q++;
	}
	return false;
}

/* A target's URL: the base URL's path, Azure's deployment, the
 * endpoint, then the queries: the base URL's own (an Azure
 * "?api-version=" given there stays after the path), the provider's
 * api_version, and the caller's.  A caller's own api-version (to its
 * own provider) wins over llmfb's: never two. */
void
outbound_url(struct buf *url, const struct target *t, enum dialect to,
    const char *query)
{
	const struct provider *p = t->provider;
	const char *bq = strchr(p->base_url, '?'), *q, *e;
	size_t plen = bq != NULL ? (size_t)(bq - p->base_url) :
	    strlen(p->base_url);
	bool own_version = query_has(query, "api-version");
	char sep = '?';

	buf_add(url, p->base_url, plen);
	/* Azure: {endpoint}/openai/deployments/{name}/chat/completions;
	 * the endpoint may be given with its "/openai" or without. */
	if (t->deployment != NULL)
		buf_printf(url, "%s/deployments/%s", plen >= 7 &&
		    strncmp(p->base_url + plen - 7, "/openai", 7) == 0 ? "" :
		    "/openai", t->deployment);
	buf_addstr(url, api_of(to)->path);
	/* The base URL's query, parameter by parameter. */
	for (q = bq != NULL ? bq + 1 : ""; *q != '\0';
	    q = *e == '&' ? e + 1 : e) {
		e = q + strcspn(q, "&");
		if (e == q || (own_version && query_has_at(q, "api-version")))
			continue;
		buf_printf(url, "%c%.*s", sep, (int)(e - q), q);
		sep = '&';
	}
	if (p->api_version != NULL && !own_version) {
		buf_printf(url, "%capi-version=%s", sep, p->api_version);
		sep = '&';
	}
	if (query != NULL && *query != '\0')
		buf_printf(url, "%c%s", sep, query);
}

