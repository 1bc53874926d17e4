/* A fake upstream.c for check_call: no network, no libcurl transfer.
 * Each started transfer takes the next scripted answer (fake_script) and
 * delivers it on the next turn of the loop, or after its delay (never:
 * a silent provider), through the same callbacks a real one would:
 * headers, the body in one piece, the end.  What each
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

/* A transfer and its answer's timer. */
struct fake_xfer {
	struct xfer	 x;
	struct timer	 t;
	const struct fake_answer *a;	/* taken at its start */
};

static struct fake_answer	 script[FAKE_MAX];
static size_t			 nscript, next;
struct fake_sent		 fake_sent[FAKE_MAX];
size_t				 fake_nsent;
size_t				 fake_cancelled;

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
	fake_nsent = nscript = next = fake_cancelled = 0;
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

static void deliver(struct timer *t);

struct xfer *
xfer_new(struct upstream *up, const struct xfer_ops *ops, void *arg)
{
	struct fake_xfer *fx = xcalloc(1, sizeof(*fx));
	struct xfer *x = &fx->x;

	timer_init(&fx->t, deliver, fx);
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
deliver(struct timer *t)
{
	struct fake_xfer *fx = t->arg;
	struct xfer *x = &fx->x;
	const struct fake_answer *a = fx->a;
	size_t len;

	if (!x->running)
		return;
	x->running = false;
	if (a == NULL) {
		x->ops->on_done(x, XE_CONNECT);
		return;
	}
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
	struct fake_xfer *fx = (struct fake_xfer *)x;

	x->running = true;
	fx->a = next < nscript ? &script[next++] : NULL;
	if (fx->a == NULL || fx->a->delay_ms != FAKE_SILENT)
		timer_set(x->up->loop, &fx->t, fx->a ? fx->a->delay_ms : 0);
	return 0;
}

void
xfer_free(struct xfer *x)
{
	struct fake_xfer *fx = (struct fake_xfer *)x;

	if (x == NULL)
		return;
	if (x->running)
		fake_cancelled++;
	timer_cancel(x->up->loop, &fx->t);
	buf_free(&x->headers);
	free(fx);
}

void
xfer_resume(struct xfer *x)
{
	(void)x;
}
