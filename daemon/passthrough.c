#include <stdio.h>
#include <string.h>

#include "attempt.h"
#include "call_impl.h"
#include "outbound.h"
#include "passthrough.h"
#include "server.h"

#define PASSTHROUGH_CONNECT_MS	10000

void
passthrough_start(struct call *call)
{
	struct outcome broken = { .kind = OUT_BROKEN };
	struct xfer_request rq;
	struct buf url, h;
	struct xfer *x;
	int r;

	/* Only an API's own port: llmfbd is no relay to whatever else an
	 * intercepted host runs.  A route serves any port: its targets are
	 * the config's. */
	if (!((strcmp(call->scheme, "https") == 0 && call->port == 443) ||
	    (strcmp(call->scheme, "http") == 0 && call->port == 80))) {
		call->d->stats->rejected++;
		respond_error(call, 421, "invalid_request_error",
		    "llmfb: passthrough only to port 443 (https) or 80 (http)",
		    NULL, "rejected");
		return;
	}
	call->d->stats->passthrough++;
	buf_init(&url, 16384);
	buf_printf(&url, "%s://%s:%d%s", call->scheme, call->r.host, call->port,
	    call->req->target);
	buf_init(&h, call->cfg->max_header_size + 64 * 1024);
	attempt_request(call, &rq, url.data, &h);
	rq.body = call->body.data ? call->body.data : "";
	rq.len = call->body.len;
	rq.connect_timeout_ms = PASSTHROUGH_CONNECT_MS;
	x = xfer_new(call->d->up, &attempt_xfer_ops, call->at);
	r = x == NULL || outbound_headers(call->req, true, call->dialect,
	    call->dialect, NULL, &h) < 0 ||
	    xfer_set(x, &rq) < 0 ? -1 : 0;
	if (h.data != NULL)
		explicit_bzero(h.data, h.len);
	buf_free(&h);
	buf_free(&url);
	if (r < 0) {
		xfer_free(x);
		respond_error(call, 502, "llmfb_passthrough_failed",
		    "llmfb: cannot set up the request", NULL,
		    "passthrough-failed");
		return;
	}
	call->at->xfer = x;
	x->body_max = call->cfg->max_answer_body;
	if (xfer_start(x) < 0)
		passthrough_ended(call, &broken);
}

size_t
passthrough_body(struct call *call, const char *p, size_t n)
{
	if (!committed(call)) {
		if (!is_2xx(call->at->xfer->status)) {
			buf_add(&call->at->held, p, n);
			return n;
		}
		if (commit(call, -1) < 0)
			return 0;
	}
	if (conn_respond_body(call->conn, p, n) < 0)
		return 0;
	return n;
}

/* Its transfer ended (o: as what): one attempt, delivered whatever it
 * is. */
void
passthrough_done(struct call *call, enum xfer_end e, const struct outcome *o)
{
	if (committed(call)) {
		if (e == XE_OK)
			conn_respond_end(call->conn);
		else
			conn_abort(call->conn);
		call_finish(call, "passthrough");
	} else {
		passthrough_ended(call, o);
	}
}

/* It ended before anything went to the caller: what the host said is
 * delivered, or llmfb's error when it could not be reached. */
void
passthrough_ended(struct call *call, const struct outcome *o)
{
	if (o->kind == OUT_OK)
		deliver_held(call, "passthrough");
	else
		respond_error(call, 502, "llmfb_passthrough_failed",
		    call->at->xfer->errbuf[0] ? call->at->xfer->errbuf :
		    "llmfb: the original host could not be reached",
		    NULL, "passthrough-failed");
}
