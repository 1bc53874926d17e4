/* A fake upstream.c for check_call: no network, no libcurl transfer.
 * Each started transfer takes the next scripted answer (fake_script) and
 * delivers it on the next turn of the loop through the same callbacks a
 * real one would: headers, the body in one piece, the end.  What each
 * transfer was asked (URL, method, header lines, body) is kept for the
 * test to read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_upstream.h"
#include "loop.h"
#include "upstream.h"
#include "util.h"

struct upstream {
	struct loop	*loop;
};

static struct fake_answer	 script[FAKE_MAX];
static size_t			 nscript, next;
struct fake_sent		 fake_sent[FAKE_MAX];
size_t				 fake_nsent;

void
fake_script(const struct fake_answer *a, size_t n)
{
	size_t i;

	fake_reset();
	for (i = 0; i < n && i < FAKE_MAX; i++)
		script[i] = a[i];
	nscript = i;
}

void
fake_reset(void)
{
	size_t i;

	for (i = 0; i < fake_nsent; i++) {
		free(fake_sent[i].url);
		free(fake_sent[i].headers);
		free(fake_sent[i].body);
	}
	memset(fake_sent, 0, sizeof(fake_sent));
	fake_nsent = nscript = next = 0;
}

struct upstream *
upstream_new(struct loop *l)
{
	struct upstream *up = xcalloc(1, sizeof(*up));

	up->loop = l;
	return up;
}

void
upstream_free(struct upstream *up)
{
	free(up);
}

void
upstream_cookies(struct upstream *up, bool on)
{
	(void)up;
	(void)on;
}

struct xfer *
xfer_new(struct upstream *up, const struct xfer_ops *ops, void *arg)
{
	struct xfer *x = xcalloc(1, sizeof(*x));

	x->up = up;
	x->ops = ops;
	x->arg = arg;
	buf_init(&x->headers, 256 * 1024);
	return x;
}

int
xfer_set(struct xfer *x, const struct xfer_request *rq)
{
	struct fake_sent *s;

	(void)x;
	if (fake_nsent >= FAKE_MAX)
		return -1;
	s = &fake_sent[fake_nsent++];
	s->url = xstrdup(rq->url);
	snprintf(s->method, sizeof(s->method), "%s", rq->method);
	s->headers = xstrndup(rq->headers && rq->headers->data ?
	    rq->headers->data : "", rq->headers ? rq->headers->len : 0);
	s->body = xstrndup(rq->body ? rq->body : "", rq->len);
	return 0;
}

void
xfer_set_timeout(struct xfer *x, uint64_t ms)
{
	(void)x;
	(void)ms;
}

double
xfer_connect_s(struct xfer *x)
{
	(void)x;
	return 0;
}

const char *
xfer_error(const struct xfer *x, enum xfer_end e)
{
	(void)x;
	return e == XE_OK ? "ok" : "scripted failure";
}

static void
deliver(void *arg)
{
	struct xfer *x = arg;
	const struct fake_answer *a;
	size_t len;

	if (!x->running)
		return;
	x->running = false;
	if (next >= nscript) {
		x->ops->on_done(x, XE_CONNECT);
		return;
	}
	a = &script[next++];
	if (a->end != XE_OK && a->status == 0) {
		x->ops->on_done(x, a->end);
		return;
	}
	x->status = a->status;
	buf_printf(&x->headers, "Content-Type: %s\r\n", a->ctype ? a->ctype :
	    "application/json");
	if (x->ops->on_headers != NULL)
		x->ops->on_headers(x);
	len = a->body ? strlen(a->body) : 0;
	if (len > 0 && x->ops->on_body(x, a->body, len) != len) {
		x->ops->on_done(x, XE_BROKEN);
		return;
	}
	x->ops->on_done(x, a->end);
}

int
xfer_start(struct xfer *x)
{
	x->running = true;
	loop_defer(x->up->loop, deliver, x);
	return 0;
}

void
xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	buf_free(&x->headers);
	free(x);
}

void
xfer_resume(struct xfer *x)
{
	(void)x;
}
