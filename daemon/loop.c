#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define LOOP_BATCH 64

struct deferred {
	defer_cb	 cb;
	void		*arg;
};

struct loop {
	int		  epfd;
	bool		  stop;
	uint64_t	  now;
	struct timer	**heap;
	size_t		  nheap, capheap;
	struct deferred	 *defer;
	size_t		  ndefer, capdefer;
};

struct loop *
loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		free(l);
		return NULL;
	}
	l->now = now_mono_ms();
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l->heap);
	free(l->defer);
	free(l);
}

uint64_t
loop_now(struct loop *l)
{
	return l->now;
}

void
loop_stop(struct loop *l)
{
	l->stop = true;
}

int
watcher_add(struct loop *l, struct watcher *w)
{
	struct epoll_event ev = { .events = w->events, .data.ptr = w };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

int
watcher_mod(struct loop *l, struct watcher *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	w->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void
watcher_del(struct loop *l, struct watcher *w)
{
	if (w->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void
watcher_want(struct loop *l, struct watcher *w, bool *on, uint32_t ev)
{
	if (w->fd < 0)
		return;
	if (ev == 0) {
		if (*on)
			watcher_del(l, w);
		*on = false;
	} else if (!*on) {
		w->events = ev;
		*on = watcher_add(l, w) == 0;
	} else {
		watcher_mod(l, w, ev);
	}
}

/* ---- timers: a binary min-heap on 'when'; slot is index + 1 ---- */

static void
heap_place(struct loop *l, size_t i, struct timer *t)
{
	l->heap[i] = t;
	t->slot = i + 1;
}

static void
heap_up(struct loop *l, size_t i)
{
	struct timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (l->heap[parent]->when <= t->when)
			break;
		heap_place(l, i, l->heap[parent]);
		i = parent;
	}
	heap_place(l, i, t);
}

static void
heap_down(struct loop *l, size_t i)
{
	struct timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[c]->when)
			c++;
		if (t->when <= l->heap[c]->when)
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, t);
}

void
timer_init(struct timer *t, timer_cb cb, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

void
timer_cancel(struct loop *l, struct timer *t)
{
	size_t i;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	t->slot = 0;
	if (--l->nheap == i)
		return;
	heap_place(l, i, l->heap[l->nheap]);
	heap_up(l, i);
	heap_down(l, l->heap[i]->slot - 1);
}

void
timer_set(struct loop *l, struct timer *t, uint64_t delay_ms)
{
	timer_cancel(l, t);
	if (l->nheap == l->capheap) {
		size_t cap = l->capheap ? l->capheap * 2 : 64;
		struct timer **h = realloc(l->heap, cap * sizeof(*h));

		if (h == NULL)
			fatal("timer heap");
		l->heap = h;
		l->capheap = cap;
	}
	t->when = now_mono_ms() + delay_ms;
	heap_place(l, l->nheap++, t);
	heap_up(l, l->nheap - 1);
}

void
loop_defer(struct loop *l, defer_cb cb, void *arg)
{
	if (l->ndefer == l->capdefer) {
		size_t cap = l->capdefer ? l->capdefer * 2 : 32;
		struct deferred *d = realloc(l->defer, cap * sizeof(*d));

		if (d == NULL)
			fatal("defer list");
		l->defer = d;
		l->capdefer = cap;
	}
	l->defer[l->ndefer].cb = cb;
	l->defer[l->ndefer].arg = arg;
	l->ndefer++;
}

static void
run_deferred(struct loop *l)
{
	/* A deferred callback may defer more work: loop until empty. */
	size_t i;

	for (i = 0; i < l->ndefer; i++)
		l->defer[i].cb(l->defer[i].arg);
	l->ndefer = 0;
}

static void
run_timers(struct loop *l)
{
	while (l->nheap > 0 && l->heap[0]->when <= l->now) {
		struct timer *t = l->heap[0];

		timer_cancel(l, t);
		t->cb(t);
	}
}

int
loop_next_timeout(struct loop *l)
{
	uint64_t when;

	if (l->ndefer > 0)
		return 0;
	if (l->nheap == 0)
		return -1;
	when = l->heap[0]->when;
	if (when <= l->now)
		return 0;
	/* timer_set reads the clock when it arms a timer, so l->now (read at
	 * the wake-up) may be a millisecond behind a timer armed since: a
	 * timer due now (libcurl's 0 ms) would become a 1 ms sleep.  One more
	 * clock read (vDSO) before sleeping. */
	l->now = now_mono_ms();
	if (when <= l->now)
		return 0;
	return when - l->now > 60000 ? 60000 : (int)(when - l->now);
}

/* One wake-up: wait up to timeout ms (-1: no limit) for events, run their
 * callbacks, the deferred work and the timers due.  Returns the number of
 * fd events handled, or -errno if epoll fails (EINTR is 0). */
static int
loop_turn(struct loop *l, int timeout)
{
	struct epoll_event ev[LOOP_BATCH];
	int i, n;

	n = epoll_wait(l->epfd, ev, LOOP_BATCH, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->now = now_mono_ms();
	for (i = 0; i < n; i++) {
		struct watcher *w = ev[i].data.ptr;

		w->cb(w, ev[i].events);
	}
	run_deferred(l);
	run_timers(l);
	run_deferred(l);
	return n;
}

int
loop_run(struct loop *l)
{
	int r;

	l->stop = false;
	while (!l->stop)
		if ((r = loop_turn(l, loop_next_timeout(l))) < 0)
			return r;
	return 0;
}

int
loop_run_once(struct loop *l, int timeout_ms)
{
	int t = loop_next_timeout(l);

	if (t < 0 || (timeout_ms >= 0 && t > timeout_ms))
		t = timeout_ms;
	return loop_turn(l, t);
}
