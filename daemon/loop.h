/* The event loop: epoll for fds, a binary heap of timers (ms resolution),
 * and deferred work that runs after the current batch of events, so a
 * callback never frees an object another event of the same batch still
 * points to. */
#ifndef LLMFB_LOOP_H
#define LLMFB_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct watcher;
struct timer;

typedef void (*watcher_cb)(struct watcher *w, uint32_t events);
typedef void (*timer_cb)(struct timer *t);
typedef void (*defer_cb)(void *arg);

struct watcher {
	int		 fd;
	uint32_t	 events;	/* EPOLLIN, EPOLLOUT, ... */
	watcher_cb	 cb;
	void		*arg;
};

struct timer {
	uint64_t	 when;		/* monotonic ms */
	size_t		 slot;		/* heap index + 1; 0 when not armed */
	timer_cb	 cb;
	void		*arg;
};

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Run until loop_stop(); returns 0 or -errno if epoll fails. */
int loop_run(struct loop *l);
/* One turn of loop_run, for a driver that steps the loop itself (the
 * fuzz harness of the data socket): waits at most timeout_ms (0: only
 * what is ready; -1: until something is), then runs what woke.  Returns
 * the number of fd events handled, or -errno if epoll fails. */
int loop_run_once(struct loop *l, int timeout_ms);
/* How long the next turn may sleep, in ms (-1: until an fd is ready):
 * 0 when deferred work waits or a timer is due by the clock read now. */
int loop_next_timeout(struct loop *l);
void loop_stop(struct loop *l);
uint64_t loop_now(struct loop *l);	/* cached at each wake-up */

/* Register, change or remove a watcher.  Return 0 or -errno. */
int watcher_add(struct loop *l, struct watcher *w);
int watcher_mod(struct loop *l, struct watcher *w, uint32_t events);
void watcher_del(struct loop *l, struct watcher *w);
/* Watch w for ev (0: not at all), *on saying whether it is registered:
 * one call whatever it was before.  A watcher with no fd is left be. */
void watcher_want(struct loop *l, struct watcher *w, bool *on, uint32_t ev);

void timer_init(struct timer *t, timer_cb cb, void *arg);
/* Arm (or re-arm) to fire after delay_ms. */
void timer_set(struct loop *l, struct timer *t, uint64_t delay_ms);
void timer_cancel(struct loop *l, struct timer *t);
static inline bool timer_armed(const struct timer *t) { return t->slot != 0; }

/* Run cb(arg) after the current batch of events.  Never fails (aborts
 * on allocation failure, like the rest of the daemon's bookkeeping). */
void loop_defer(struct loop *l, defer_cb cb, void *arg);

#endif
