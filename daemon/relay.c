/* Carrying an unservable redirected connection to its real origin. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "caller.h"
#include "config.h"
#include "state.h"
#include "log.h"
#include "relay.h"
#include "server.h"
#include "stats.h"
#include "util.h"

#define CHUNK		65536		/* one read */
#define QUEUE_MAX	(2 * CHUNK)	/* what waits for a slow side */

enum relay_state { R_RESOLVING, R_CONNECTING, R_RELAYING };

/* One direction: what was read from one side, waiting for the other. */
struct pipe_half {
	struct buf	 q;
	bool		 rd_eof;	/* its source has ended */
	bool		 wr_shut;	/* its sink was told so */
	uint64_t	 bytes;
};

struct relay {
	struct relays	*rs;
	struct relay	*prev, *next;
	enum relay_state st;
	struct watcher	 cw, uw;	/* the client, the origin */
	bool		 cw_on, uw_on;	/* in the loop's epoll set */
	struct pipe_half up, down;	/* client->origin, origin->client */
	struct addrinfo	*ai, *next_ai;	/* what the name resolved to */
	bool		 ended;		/* relay_end() ran: its events are
					 * stale (freed after this batch) */
	bool		 lookup_out;	/* its lookup thread runs */
	bool		 dead;		/* closed meanwhile: freed after */
	char		 host[254];
	int		 port;
	char		 why[32];
	struct caller	 who;
	uint64_t	 start_ms;
};

/* A lookup runs on a thread of its own and comes back through a pipe:
 * getaddrinfo() blocks, and the loop must not. */
struct lookup {
	struct relay	*r;
	int		 done;		/* the pipe's write end */
	char		 name[256];
	char		 port[8];
	struct addrinfo	*res;
	int		 err;
};

struct relays {
	struct daemon	*d;
	struct relay	*list;
	unsigned int	 n;
	int		 pipe[2];
	struct watcher	 pw;
};

static void relay_end(struct relay *r, const char *result);
static void relay_event(struct watcher *w, uint32_t events);
static void relay_connect_next(struct relay *r);

/* ---- the record ---------------------------------------------------- */

static void
relay_record(struct relay *r, const char *result)
{
	struct daemon *d = r->rs->d;
	struct timespec ts;
	char labels[256];
	json_t *rec;
	char *line;

	if (prom_labels(labels, sizeof(labels), "why", r->why, NULL) == 0)
		lset_add(&d->stats->unserved, labels, 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	rec = json_pack("{s:f, s:s, s:i, s:{s:i, s:i, s:i, s:s, s:s, s:s},"
	    " s:s, s:s, s:I, s:I, s:i}",
	    "time", (double)ts.tv_sec + ts.tv_nsec / 1e9,
	    "host", r->host, "port", r->port,
	    "caller", "pid", (int)r->who.pid, "uid", (int)r->who.uid, "gid",
	    (int)r->who.gid, "exe", r->who.exe, "comm", r->who.comm, "unit",
	    r->who.unit,
	    "result", "unserved", "why", r->why,
	    "bytes_up", (json_int_t)r->up.bytes,
	    "bytes_down", (json_int_t)r->down.bytes,
	    "duration_ms", (int)(now_mono_ms() - r->start_ms));
	if (rec == NULL)
		return;
	json_object_set_new(rec, "relay", json_string(result));
	if ((line = json_dumps(rec, JSON_COMPACT)) != NULL) {
		daemon_hook_publish(d, rec, line, strlen(line));
	}
	free(line);
	json_decref(rec);
}

/* ---- relaying ------------------------------------------------------ */

/* Watch w for ev; with nothing to wait for it leaves the epoll set, where
 * a peer's hang-up would otherwise wake the loop for ever. */
/* Each side is read only while what it sent before has gone on (the
 * queue is the window), and written while something waits for it. */
static void
relay_watch(struct relay *r)
{
	struct loop *l = r->rs->d->loop;
	uint32_t ce = 0, ue = 0;

	if (!r->up.rd_eof && buf_pending(&r->up.q) == 0)
		ce |= EPOLLIN;
	if (r->st != R_RELAYING) {
		/* Until the origin answers, only the client's first
		 * bytes, which wait in up. */
		watcher_want(l, &r->cw, &r->cw_on, ce);
		return;
	}
	if (buf_pending(&r->down.q) > 0)
		ce |= EPOLLOUT;
	if (!r->down.rd_eof && buf_pending(&r->down.q) == 0)
		ue |= EPOLLIN;
	if (buf_pending(&r->up.q) > 0)
		ue |= EPOLLOUT;
	watcher_want(l, &r->cw, &r->cw_on, ce);
	watcher_want(l, &r->uw, &r->uw_on, ue);
}

/* Send what h holds to fd; once its source has ended and all went, tell
 * fd so.  0, or -1 when the socket failed. */
static int
half_flush(struct pipe_half *h, int fd)
{
	int e = buf_send(&h->q, fd);

	if (e < 0 && e != -EAGAIN)
		return -1;
	if (buf_pending(&h->q) == 0 && h->rd_eof && !h->wr_shut) {
		shutdown(fd, SHUT_WR);
		h->wr_shut = true;
	}
	return 0;
}

/* Read from fd into h (only when h is empty: the queue is the window).
 * 0, or -1 when the socket failed. */
static int
half_fill(struct pipe_half *h, int fd, int to)
{
	char data[CHUNK];
	ssize_t n;

	if (h->rd_eof || buf_pending(&h->q) > 0)
		return 0;
	n = recv(fd, data, sizeof(data), 0);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		h->rd_eof = true;
		return to >= 0 ? half_flush(h, to) : 0;
	}
	h->bytes += (uint64_t)n;
	if (buf_add(&h->q, data, (size_t)n) < 0)
		return -1;
	return to >= 0 ? half_flush(h, to) : 0;
}

static void
relay_event(struct watcher *w, uint32_t events)
{
	struct relay *r = w->arg;
	bool client = w == &r->cw;
	int ufd = r->st == R_RELAYING ? r->uw.fd : -1;
	int e;

	(void)events;
	/* The other side's event of the same batch, after the end. */
	if (r->ended)
		return;
	if (r->st == R_CONNECTING && !client) {
		socklen_t len = sizeof(e);

		if (getsockopt(r->uw.fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = errno;
		if (e != 0) {
			log_debug("relay %s:%d: %s", r->host, r->port,
			    strerror(e));
			watcher_want(r->rs->d->loop, &r->uw, &r->uw_on, 0);
			close(r->uw.fd);
			r->uw.fd = -1;
			relay_connect_next(r);
			return;
		}
		r->st = R_RELAYING;
		ufd = r->uw.fd;
		if (half_flush(&r->up, ufd) < 0 ||
		    half_flush(&r->down, r->cw.fd) < 0) {
			relay_end(r, "broken");
			return;
		}
		relay_watch(r);
		return;
	}
	if (client) {
		if (half_fill(&r->up, r->cw.fd, ufd) < 0 ||
		    half_flush(&r->down, r->cw.fd) < 0) {
			relay_end(r, "broken");
			return;
		}
	} else if (half_fill(&r->down, r->uw.fd, r->cw.fd) < 0 ||
	    half_flush(&r->up, r->uw.fd) < 0) {
		relay_end(r, "broken");
		return;
	}
	if (r->st == R_RELAYING && r->up.wr_shut && r->down.wr_shut) {
		relay_end(r, "ended");
		return;
	}
	if (r->st != R_RELAYING && r->up.rd_eof) {
		relay_end(r, "client-gone");	/* before the origin answered */
		return;
	}
	relay_watch(r);
}

/* ---- connecting ---------------------------------------------------- */

/* Try the next address; at the end of them, give up. */
static void
relay_connect_next(struct relay *r)
{
	struct loop *l = r->rs->d->loop;
	struct addrinfo *ai;
	int fd;

	while ((ai = r->next_ai) != NULL) {
		r->next_ai = ai->ai_next;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
		    errno != EINPROGRESS) {
			close(fd);
			continue;
		}
		r->st = R_CONNECTING;
		r->uw.fd = fd;
		r->uw.cb = relay_event;
		r->uw.arg = r;
		watcher_want(l, &r->uw, &r->uw_on, EPOLLOUT);
		if (!r->uw_on) {
			close(fd);
			r->uw.fd = -1;
			continue;
		}
		return;
	}
	log_warnx("relay %s:%d for pid %ld: the origin cannot be reached",
	    r->host, r->port, (long)r->who.pid);
	relay_end(r, "unreachable");
}

static void *
lookup_run(void *arg)
{
	struct lookup *lk = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int fd = lk->done;

	lk->err = getaddrinfo(lk->name, lk->port, &hints, &lk->res);
	/* One pointer: a write that small to a pipe is atomic. */
	if (write(fd, &lk, sizeof(lk)) != (ssize_t)sizeof(lk))
		abort();	/* the loop would wait for ever */
	return NULL;
}

static void
lookup_done(struct watcher *w, uint32_t events)
{
	struct relays *rs = w->arg;
	struct lookup *lk;
	struct relay *r;

	(void)events;
	while (read(rs->pipe[0], &lk, sizeof(lk)) == (ssize_t)sizeof(lk)) {
		r = lk->r;
		r->lookup_out = false;
		if (r->dead) {
			if (lk->res != NULL)
				freeaddrinfo(lk->res);
			free(lk);
			free(r);
			continue;
		}
		if (lk->err != 0) {
			log_warnx("relay %s:%d: %s", r->host, r->port,
			    gai_strerror(lk->err));
			free(lk);
			relay_end(r, "unresolved");
			continue;
		}
		r->ai = r->next_ai = lk->res;
		free(lk);
		relay_connect_next(r);
	}
}

/* Where host:port is to be reached: upstream.connect_to pins it as curl
 * does ("HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT", empty parts meaning
 * any, or the same), else the name itself. */
static void
pinned(const struct config *c, const char *host, int port, char *name,
    size_t nlen, char *ps, size_t plen)
{
	size_t i;

	snprintf(name, nlen, "%s", host);
	snprintf(ps, plen, "%d", port);
	for (i = 0; i < c->nconnect_to; i++) {
		char h[256], p[8], th[256], tp[8];
		int v;

		if (sscanf(c->connect_to[i], "%255[^:]:%7[^:]:%255[^:]:%7s",
		    h, p, th, tp) != 4)
			continue;
		if (strcasecmp(h, host) != 0 || parse_int(p, 1, 65535, &v) < 0 ||
		    v != port)
			continue;
		snprintf(name, nlen, "%s", th);
		snprintf(ps, plen, "%s", tp);
		return;
	}
}

/* A relay set up, listed, with what it owes each side queued; NULL when
 * that failed (it has ended). */
static struct relay *
relay_new(struct relays *rs, int fd, const struct caller *who,
    const char *host, int port, const char *why, const void *pending,
    size_t npending, const void *out, size_t nout)
{
	struct relay *r;

	r = xcalloc(1, sizeof(*r));
	r->rs = rs;
	r->st = R_RESOLVING;
	r->start_ms = now_mono_ms();
	caller_copy(&r->who, who);
	r->port = port;
	snprintf(r->host, sizeof(r->host), "%s", host);
	snprintf(r->why, sizeof(r->why), "%s", why);
	buf_init(&r->up.q, QUEUE_MAX);
	buf_init(&r->down.q, QUEUE_MAX);
	r->uw.fd = -1;
	r->cw.fd = fd;
	r->cw.cb = relay_event;
	r->cw.arg = r;
	r->cw.events = 0;
	r->next = rs->list;
	if (rs->list != NULL)
		rs->list->prev = r;
	rs->list = r;
	rs->n++;
	r->up.bytes = npending;
	if (buf_add(&r->up.q, pending, npending) < 0 ||
	    buf_add(&r->down.q, out, nout) < 0) {
		relay_end(r, "broken");
		return NULL;
	}
	log_info("relay %s:%d for pid %ld (%s): %s, carried to the origin "
	    "untouched", host, port, (long)who->pid, who->exe[0] ? who->exe :
	    who->comm, why);
	return r;
}

void
relay_start_addr(struct relays *rs, int fd, const struct caller *who,
    const char *host, const char *addr, int port, const char *why,
    const void *pending, size_t npending)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct relay *r;
	char ps[8];

	if ((r = relay_new(rs, fd, who, host, port, why, pending, npending,
	    NULL, 0)) == NULL)
		return;
	snprintf(ps, sizeof(ps), "%d", port);
	/* A numeric address: no lookup, nothing blocks. */
	if (getaddrinfo(addr, ps, &hints, &r->ai) != 0) {
		r->ai = NULL;
		relay_end(r, "unresolved");
		return;
	}
	r->next_ai = r->ai;
	relay_connect_next(r);
	if (!r->ended)
		relay_watch(r);
}

void
relay_start(struct relays *rs, int fd, const struct caller *who,
    const char *host, int port, const char *why, const void *pending,
    size_t npending, const void *out, size_t nout)
{
	struct daemon *d = rs->d;
	struct lookup *lk;
	struct relay *r;
	pthread_attr_t at;
	pthread_t th;

	if ((r = relay_new(rs, fd, who, host, port, why, pending, npending,
	    out, nout)) == NULL)
		return;
	lk = xcalloc(1, sizeof(*lk));
	lk->r = r;
	lk->done = rs->pipe[1];
	pinned(d->cfg, host, port, lk->name, sizeof(lk->name), lk->port,
	    sizeof(lk->port));
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	r->lookup_out = pthread_create(&th, &at, lookup_run, lk) == 0;
	pthread_attr_destroy(&at);
	if (!r->lookup_out) {
		free(lk);
		relay_end(r, "broken");
		return;
	}
	relay_watch(r);
}

/* ---- the end ------------------------------------------------------- */

static void
relay_end(struct relay *r, const char *result)
{
	struct relays *rs = r->rs;
	struct loop *l = rs->d->loop;

	if (r->ended)
		return;
	r->ended = true;
	server_user_done(rs->d->server, r->who.uid);
	relay_record(r, result);
	caller_release(&r->who);
	watcher_want(l, &r->cw, &r->cw_on, 0);
	close(r->cw.fd);
	if (r->uw.fd >= 0) {
		watcher_want(l, &r->uw, &r->uw_on, 0);
		close(r->uw.fd);
	}
	if (r->ai != NULL)
		freeaddrinfo(r->ai);
	buf_free(&r->up.q);
	buf_free(&r->down.q);
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		rs->list = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	rs->n--;
	/* A lookup still out holds it: freed when that comes back. */
	if (r->lookup_out)
		r->dead = true;
	else
		loop_defer(l, free, r);
}

struct relays *
relays_new(struct daemon *d)
{
	struct relays *rs = xcalloc(1, sizeof(*rs));

	rs->d = d;
	if (pipe2(rs->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(rs);
		return NULL;
	}
	rs->pw.fd = rs->pipe[0];
	rs->pw.cb = lookup_done;
	rs->pw.arg = rs;
	rs->pw.events = EPOLLIN;
	if (watcher_add(d->loop, &rs->pw) < 0) {
		close(rs->pipe[0]);
		close(rs->pipe[1]);
		free(rs);
		return NULL;
	}
	return rs;
}

void
relays_free(struct relays *rs)
{
	if (rs == NULL)
		return;
	while (rs->list != NULL)
		relay_end(rs->list, "stopped");
	watcher_del(rs->d->loop, &rs->pw);
	/* A lookup thread still out would write to a closed pipe: the
	 * write end stays open (the process is exiting). */
	close(rs->pipe[0]);
	free(rs);
}

unsigned int
relays_open(const struct relays *rs)
{
	return rs != NULL ? rs->n : 0;
}
