/* The data socket's HTTP/1.1 server. */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "caller.h"
#include "config.h"
#include "log.h"
#include "preamble.h"
#include "server.h"
#include "state.h"
#include "stats.h"
#include "util.h"

#define READ_CHUNK	65536
#define MAX_HEADERS	128
#define MAX_TARGET	8192
#define MAX_QUEUED	4		/* pipelined requests parsed ahead */
#define OUT_MAX		(64u << 20)	/* hard cap on queued output */
#define STOP_GRACE_MS	1000		/* a silent connection, stopping */
#define FULL_LOG_MS	10000		/* "full" said at most this often */
#define TRIM_PEAK_MIN	64		/* clients at once: a burst */
#define TRIM_DELAY_MS	200		/* trim once the burst has passed */
#define REAP_LOOK	8		/* a user's newest connections looked
					 * at for a gone probe, at its limit */

/* Connections one user holds: the per-user limit. */
struct user_count {
	uid_t		 uid;
	unsigned int	 n;
};

struct server {
	struct daemon	*d;
	const struct server_ops *ops;
	struct watcher	 w;
	char		*path;
	bool		 handed;	/* by systemd: never unlinked */
	struct file_id	 id;		/* the socket file we bound */
	bool		 stopping;	/* accepting no more */
	struct conn	*conns;		/* open connections */
	unsigned int	 nclients;
	uint64_t	 accepted;
	uint64_t	 refused;	/* over a limit, told so */
	uint64_t	 timed_out;	/* closed by a timeout */
	/* Few users hold connections at once: a short array, searched. */
	struct user_count *users;
	size_t		 nusers, capusers;
	/* Out of file descriptors: a spare one is let go to accept and
	 * refuse a waiting client, so that none waits on us for nothing. */
	int		 spare_fd;
	struct listener_pause pause;	/* out of fds, no spare */
	uint64_t	 full_said_ms;	/* when "full" was last logged */
	uint64_t	 stop_ms;	/* when stopping began */
	/* Memory back after a burst: see server_trim. */
	struct timer	 trim;
	unsigned int	 trim_peak;	/* most clients since the last trim */
};

struct conn {
	struct watcher	 w;
	struct server	*srv;
	struct conn	*prev, *next;	/* in srv->conns */
	uid_t		 uid;		/* SO_PEERCRED's, at accept */
	struct timer	 timer;		/* request_timeout or idle_timeout */
	uint64_t	 rx_since;	/* a request under way since; 0: none */
	http_parser	 parser;
	struct caller	 caller;	/* read on first use */
	bool		 caller_known;
	struct http_req	*parsing;	/* being parsed */
	struct http_req	*queue;		/* complete, in order */
	struct call	*call;		/* serving queue's head */
	struct buf	 out;
	struct buf	 pre;		/* the shim's preamble, while read */
	struct origin	 origin;	/* what the preamble said */
	char		 origin_url[300];
	bool		 pre_done;	/* HTTP has begun */
	bool		 in_value;	/* last header callback was a value */
	bool		 chunked;	/* response body is chunked */
	bool		 responding;	/* head sent, end not yet */
	bool		 last;		/* this response ends the conn */
	bool		 close_after;	/* close once all is answered */
	bool		 failed;	/* a request was malformed */
	bool		 closed;
	bool		 dispatch_queued;
	bool		 flush_queued;	/* conn_flush_turn is deferred */
	bool		 head_waits;	/* a response head waits in out for
					 * its body's first piece */
	bool		 read_eof;
	bool		 admit_said;	/* answered the shim's ADMIT */
	bool		 adopted;	/* a terminated TLS connection's
					 * plaintext: its place is held by
					 * the terminator (tlsterm.c) */
	int		 fail_status;	/* an error owed once the answers
					 * before it are out; 0: none */
	const char	*fail_msg;
};

static void conn_close(struct conn *c);
static void conn_fail_send(struct conn *c);
static void conn_fail(struct conn *c, int status, const char *msg);
static void conn_arm(struct conn *c);
static void conn_timeout(struct timer *t);
static void user_put(struct server *s, uid_t uid);
static void conn_dispatch(void *arg);
static void conn_read_preamble(struct conn *c, const char *data, size_t n);
static void conn_parse(struct conn *c, const char *data, size_t n);
static struct conn *conn_new(struct server *s, int fd, uid_t uid);

/* ---- request objects ------------------------------------------------ */

void
http_req_free(struct http_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nh; i++) {
		free(r->h[i].name);
		free(r->h[i].value);
	}
	free(r->h);
	free(r->target);
	free(r->path);
	free(r->query);
	buf_free(&r->body);
	free(r);
}

const char *
http_req_header(const struct http_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nh; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].value;
	return NULL;
}

const char *
conn_origin(const struct conn *c)
{
	return c->origin_url[0] ? c->origin_url : NULL;
}

uint64_t
conn_take_sent(struct conn *c)
{
	uint64_t v = c->origin.sent_us;

	c->origin.sent_us = 0;
	return v;
}

const struct caller *
conn_caller(struct conn *c)
{
	if (!c->caller_known) {
		c->caller_known = true;
		caller_from_fd(c->w.fd, &c->caller);
	}
	return &c->caller;
}

/* Append to a string being built from parser pieces, under the header
 * budget.  Returns 0, -E2BIG over the cap, or -EINVAL for a NUL byte,
 * which no field may hold (RFC 9110 5.5) and which would cut the string
 * short where the next piece is appended. */
static int
append_piece(struct conn *c, char **dst, const char *at, size_t len)
{
	struct http_req *r = c->parsing;
	size_t old = *dst ? strlen(*dst) : 0;
	char *p;

	if (memchr(at, '\0', len) != NULL)
		return -EINVAL;
	r->header_bytes += len;
	if (r->header_bytes > c->srv->d->cfg->max_header_size)
		return -E2BIG;
	if ((p = realloc(*dst, old + len + 1)) == NULL)
		return -E2BIG;
	memcpy(p + old, at, len);
	p[old + len] = '\0';
	*dst = p;
	return 0;
}

/* A piece that could not be taken: the client is told why. */
static int
piece_failed(struct conn *c, int e, int status, const char *msg)
{
	if (e == -EINVAL)
		conn_fail(c, 400, "a NUL byte in the request head");
	else
		conn_fail(c, status, msg);
	return -1;
}

/* ---- output ------------------------------------------------------------ */

static void
conn_update_events(struct conn *c)
{
	/* An adopted connection that has read its end is still answered
	 * (conn_read): its hang-up is no news then. */
	uint32_t ev = c->adopted && c->read_eof ? 0 : EPOLLRDHUP;

	if (c->closed)
		return;
	/* Stop reading while enough requests wait; keep RDHUP so a client
	 * that goes away is still noticed. */
	if (!c->read_eof) {
		size_t n = 0;
		struct http_req *r;

		for (r = c->queue; r != NULL; r = r->next)
			n++;
		if (n < MAX_QUEUED)
			ev |= EPOLLIN;
	}
	if (buf_pending(&c->out) > 0)
		ev |= EPOLLOUT;
	watcher_mod(c->srv->d->loop, &c->w, ev);
	conn_arm(c);
}

static void
conn_flush(struct conn *c)
{
	int r = buf_send(&c->out, c->w.fd);

	c->head_waits = false;
	if (r < 0 && r != -EAGAIN) {
		log_debug("client write: %s", strerror(-r));
		conn_close(c);
		return;
	}
	if (buf_pending(&c->out) == 0) {
		if (c->close_after && !c->responding && c->queue == NULL) {
			conn_close(c);
			return;
		}
		if (c->call != NULL)
			c->srv->ops->drained(c->call);
	}
	conn_update_events(c);
}

/* End of the loop turn: what conn_flush_batched held goes out. */
static void
conn_flush_turn(void *arg)
{
	struct conn *c = arg;

	c->flush_queued = false;
	if (c->closed || buf_pending(&c->out) == 0)
		return;
	conn_flush(c);
}

/* A stream's pieces arrive one upstream TLS record at a time, and libcurl
 * reads what is ready in one go: a write per piece was 200 writes for a
 * burst of 200 chunks.  The first piece of a loop turn goes out at once
 * (no hold: a slow stream's chunk is always the first of its turn); the
 * rest of the turn's are sent together when the turn's events are done.
 * conn_destroy is deferred too, and after: c is still there then. */
static void
conn_flush_batched(struct conn *c)
{
	if (c->flush_queued && !c->head_waits)
		return;
	conn_flush(c);
	if (c->closed || c->flush_queued)
		return;
	c->flush_queued = true;
	loop_defer(c->srv->d->loop, conn_flush_turn, c);
}

static int
conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->closed)
		return -EPIPE;
	if (buf_add(&c->out, p, n) < 0) {
		log_warnx("client output over %u bytes: closing", OUT_MAX);
		conn_close(c);
		return -EPIPE;
	}
	return 0;
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Overloaded";
	default:  return status < 400 ? "OK" : "Error";
	}
}

int
conn_respond_head(struct conn *c, int status, const struct buf *headers,
    long long content_length)
{
	struct http_req *r = c->queue;
	char line[128];
	int n;

	if (c->closed || r == NULL)
		return -EPIPE;
	c->responding = true;
	/* A stopping daemon ends each connection after its answer, so the
	 * client's next call goes to the next llmfbd. */
	c->last = !r->keep_alive || c->srv->stopping;
	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
	    reason_phrase(status));
	if (conn_write(c, line, (size_t)n) < 0)
		return -EPIPE;
	if (headers != NULL && headers->len > 0 &&
	    conn_write(c, headers->data, headers->len) < 0)
		return -EPIPE;
	c->chunked = false;
	if (content_length >= 0)
		n = snprintf(line, sizeof(line), "Content-Length: %lld\r\n",
		    content_length);
	else if (r->http_minor >= 1) {
		c->chunked = true;
		n = snprintf(line, sizeof(line),
		    "Transfer-Encoding: chunked\r\n");
	} else {
		/* An HTTP/1.0 client learns the end from the close. */
		c->last = true;
		n = 0;
	}
	if (n > 0 && conn_write(c, line, (size_t)n) < 0)
		return -EPIPE;
	n = snprintf(line, sizeof(line), "%s\r\n",
	    c->last ? "Connection: close\r\n" : "");
	if (conn_write(c, line, (size_t)n) < 0)
		return -EPIPE;
	/* The head goes out with the body's first piece, which mostly
	 * follows in the same turn: one write and one wake-up of the client
	 * instead of two.  A head with no body yet goes at the turn's end. */
	c->head_waits = true;
	if (!c->flush_queued) {
		c->flush_queued = true;
		loop_defer(c->srv->d->loop, conn_flush_turn, c);
	}
	return 0;
}

int
conn_respond_body(struct conn *c, const void *p, size_t n)
{
	char hdr[32];
	int hn;

	if (c->closed)
		return -EPIPE;
	if (n == 0)
		return 0;	/* an empty chunk would end the body */
	if (c->chunked) {
		hn = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
		if (conn_write(c, hdr, (size_t)hn) < 0 ||
		    conn_write(c, p, n) < 0 || conn_write(c, "\r\n", 2) < 0)
			return -EPIPE;
	} else if (conn_write(c, p, n) < 0) {
		return -EPIPE;
	}
	conn_flush_batched(c);
	return c->closed ? -EPIPE : 0;
}

void
conn_respond_end(struct conn *c)
{
	struct http_req *r;

	if (c->closed)
		return;
	if (c->chunked && conn_write(c, "0\r\n\r\n", 5) < 0)
		return;
	c->responding = false;
	c->chunked = false;
	c->call = NULL;
	r = c->queue;
	c->queue = r->next;
	http_req_free(r);
	if (c->last || c->srv->stopping) {
		/* Requests pipelined after a "Connection: close" are not
		 * answered. */
		while ((r = c->queue) != NULL) {
			c->queue = r->next;
			http_req_free(r);
		}
		c->close_after = true;
	}
	if (c->fail_status != 0 && c->queue == NULL && !c->last) {
		conn_fail_send(c);	/* the malformed one's turn */
		return;
	}
	conn_flush(c);
	if (!c->closed && c->queue != NULL &&
	    !c->dispatch_queued) {
		c->dispatch_queued = true;
		loop_defer(c->srv->d->loop, conn_dispatch, c);
	}
}

void
conn_abort(struct conn *c)
{
	/* Whatever is queued goes out, then the close tells the client the
	 * body is incomplete (no terminating chunk was sent). */
	struct http_req *r;

	c->call = NULL;
	c->responding = false;
	c->chunked = false;
	c->close_after = true;
	c->read_eof = true;
	while ((r = c->queue) != NULL) {
		c->queue = r->next;
		http_req_free(r);
	}
	conn_flush(c);
}

size_t
conn_pending(const struct conn *c)
{
	return buf_pending(&c->out);
}

int
conn_respond_full(struct conn *c, int status, const struct buf *headers,
    const char *ctype, const void *body, size_t len)
{
	struct buf h;
	int r;

	buf_init(&h, 1 << 20);
	if (headers != NULL && headers->len > 0)
		buf_add(&h, headers->data, headers->len);
	buf_printf(&h, "Content-Type: %s\r\n", ctype);
	r = conn_respond_head(c, status, &h, (long long)len);
	buf_free(&h);
	if (r == 0 && len > 0)
		r = conn_respond_body(c, body, len);
	if (r == 0)
		conn_respond_end(c);
	return r;
}

/* The error a failed request is owed, now (no answer before it is due). */
static void
conn_fail_send(struct conn *c)
{
	char head[256], body[256];
	int hn, bn;

	bn = snprintf(body, sizeof(body), "{\"error\":{\"message\":\"llmfb: "
	    "%s\",\"type\":\"invalid_request_error\",\"code\":null}}\n",
	    c->fail_msg);
	hn = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n"
	    "Connection: close\r\n\r\n", c->fail_status,
	    reason_phrase(c->fail_status), bn);
	c->fail_status = 0;
	if (conn_write(c, head, (size_t)hn) == 0)
		conn_write(c, body, (size_t)bn);
	conn_flush(c);
}

/* A malformed or oversized request: answered with an error, after the
 * answers to the requests before it (conn_respond_end sends it then),
 * and then the connection closes.  msg is a string literal. */
static void
conn_fail(struct conn *c, int status, const char *msg)
{
	if (c->failed)
		return;
	c->failed = true;
	c->read_eof = true;
	c->close_after = true;
	c->fail_status = status;
	c->fail_msg = msg;
	if (c->queue == NULL && !c->responding)
		conn_fail_send(c);
}

/* ---- parser callbacks -------------------------------------------------- */

static int
on_message_begin(http_parser *p)
{
	struct conn *c = p->data;
	struct http_req *r = xcalloc(1, sizeof(*r));

	if (c->rx_since == 0)
		c->rx_since = loop_now(c->srv->d->loop);
	buf_init(&r->body, c->srv->d->cfg->max_request_body);
	http_req_free(c->parsing);
	c->parsing = r;
	c->in_value = false;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	int e = append_piece(c, &c->parsing->target, at, len);

	if (e < 0)
		return piece_failed(c, e, 414, "request target too long");
	if (strlen(c->parsing->target) > MAX_TARGET) {
		conn_fail(c, 414, "request target too long");
		return -1;
	}
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct http_req *r = c->parsing;
	int e;

	if (c->in_value || r->nh == 0) {
		if (r->nh == MAX_HEADERS) {
			conn_fail(c, 431, "too many header fields");
			return -1;
		}
		if (r->nh == r->caph) {
			size_t cap = r->caph ? r->caph * 2 : 16;
			struct header *h = realloc(r->h, cap * sizeof(*h));

			if (h == NULL)
				return -1;
			r->h = h;
			r->caph = cap;
		}
		r->h[r->nh].name = NULL;
		r->h[r->nh].value = NULL;
		r->nh++;
		c->in_value = false;
	}
	if ((e = append_piece(c, &r->h[r->nh - 1].name, at, len)) < 0)
		return piece_failed(c, e, 431,
		    "request header fields too large");
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct http_req *r = c->parsing;

	int e;

	c->in_value = true;
	if ((e = append_piece(c, &r->h[r->nh - 1].value, at, len)) < 0)
		return piece_failed(c, e, 431,
		    "request header fields too large");
	return 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	struct http_req *r = c->parsing;
	const char *expect, *q;
	size_t i;

	for (i = 0; i < r->nh; i++)
		if (r->h[i].value == NULL)
			r->h[i].value = xstrdup("");
	if (r->target == NULL || r->target[0] != '/') {
		conn_fail(c, 400, "request target must be a path");
		return -1;
	}
	r->method = http_method_str(p->method);
	r->method_id = p->method;
	r->http_minor = p->http_major == 1 ? p->http_minor : 0;
	r->keep_alive = http_should_keep_alive(p);
	q = strchr(r->target, '?');
	r->path = xstrndup(r->target, q ? (size_t)(q - r->target) :
	    strlen(r->target));
	r->query = q ? xstrdup(q + 1) : NULL;
	if ((p->flags & F_CONTENTLENGTH) &&
	    p->content_length > c->srv->d->cfg->max_request_body) {
		conn_fail(c, 413, "request body too large");
		return -1;
	}
	expect = http_req_header(r, "Expect");
	if (expect != NULL) {
		if (strcasecmp(expect, "100-continue") != 0) {
			conn_fail(c, 417, "unsupported expectation");
			return -1;
		}
		/* The body is wanted: say so now rather than make the
		 * client wait out its Expect timeout; but only when no
		 * answer to an earlier request is due, which the 100 would
		 * land in the middle of.  The client may be gone already:
		 * then parsing stops here. */
		if (c->queue == NULL && c->call == NULL && !c->responding) {
			conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			conn_flush(c);
			if (c->closed)
				return -1;
		}
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (buf_add(&c->parsing->body, at, len) < 0) {
		conn_fail(c, 413, "request body too large");
		return -1;
	}
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct conn *c = p->data;
	struct http_req **tail = &c->queue;

	/* Nothing is queued for a connection that is gone: its memory is
	 * freed after this batch of events, before any work queued now. */
	if (c->closed)
		return -1;
	c->rx_since = 0;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = c->parsing;
	c->parsing = NULL;
	if (c->call == NULL && !c->responding && !c->dispatch_queued) {
		c->dispatch_queued = true;
		loop_defer(c->srv->d->loop, conn_dispatch, c);
	}
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- connection life --------------------------------------------------- */

static void
conn_dispatch(void *arg)
{
	struct conn *c = arg;

	c->dispatch_queued = false;
	if (c->closed || c->call != NULL || c->responding || c->queue == NULL)
		return;
	c->call = c->srv->ops->start(c->srv->d, c, c->queue);
	conn_update_events(c);
}

static void
conn_destroy(void *arg)
{
	struct conn *c = arg;

	while (c->queue != NULL) {
		struct http_req *r = c->queue;

		c->queue = r->next;
		http_req_free(r);
	}
	http_req_free(c->parsing);
	buf_free(&c->out);
	buf_free(&c->pre);
	caller_release(&c->caller);
	free(c);
}

/* The connection ends here: its call is told, it is unlinked and freed
 * after this batch of events.  Its socket is closed, unless it is handed
 * on (keep_fd: a relay took it). */
static void
conn_end(struct conn *c, bool keep_fd)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->call != NULL) {
		struct call *call = c->call;

		c->call = NULL;
		c->srv->ops->gone(call);
	}
	timer_cancel(c->srv->d->loop, &c->timer);
	watcher_del(c->srv->d->loop, &c->w);
	if (!keep_fd)
		close(c->w.fd);
	c->w.fd = -1;
	/* A relay or terminator holds the user's place until it ends. */
	if (!keep_fd && !c->adopted)
		user_put(c->srv, c->uid);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->srv->nclients--;
	if (c->srv->trim_peak >= TRIM_PEAK_MIN &&
	    c->srv->nclients <= c->srv->trim_peak / 4 &&
	    !timer_armed(&c->srv->trim))
		timer_set(c->srv->d->loop, &c->srv->trim, TRIM_DELAY_MS);
	/* Freed after this batch of events: one of them may be ours. */
	loop_defer(c->srv->d->loop, conn_destroy, c);
	if (c->srv->stopping && c->srv->nclients == 0 &&
	    c->srv->ops->all_closed != NULL)
		c->srv->ops->all_closed(c->srv->d);
}

static void
conn_close(struct conn *c)
{
	conn_end(c, false);
}

/* A redirected connection whose program speaks TLS of its own: its first
 * byte (0x16) starts a handshake record, where the shim's virtual TLS
 * would have sent plaintext.  Not ours to read, and not to be broken:
 * when it is for an intercepted host's HTTPS port, it is carried to the
 * origin untouched (relay.c), with what was read of it (p1, then p2) and
 * what is still owed to it; or, while the local CA is up, to the
 * terminator (tlsterm.c), which serves it when its ClientHello names the
 * host and the CA can vouch for it, and relays it otherwise.  Returns
 * whether it was. */
static bool
conn_relay(struct conn *c, const char *p1, size_t n1, const char *p2,
    size_t n2)
{
	const struct origin *o = &c->origin;
	const char *first = n1 > 0 ? p1 : p2;
	struct daemon *d = c->srv->d;
	struct caller who;
	struct buf in;
	int fd = c->w.fd;

	if (o->tls || o->host[0] == '\0' || n1 + n2 == 0 ||
	    (unsigned char)first[0] != 0x16 || o->port != 443 ||
	    !config_intercepts(d->cfg, o->host, strlen(o->host)) ||
	    d->relays == NULL || c->srv->ops->carry == NULL)
		return false;
	caller_copy(&who, conn_caller(c));
	who.uid = c->uid;	/* whose place the relay holds */
	buf_init(&in, n1 + n2 + 1);
	if (buf_add(&in, p1, n1) < 0 || buf_add(&in, p2, n2) < 0) {
		buf_free(&in);
		caller_release(&who);
		return false;
	}
	conn_end(c, true);
	c->srv->ops->carry(d, fd, &who, o->host, o->port, buf_head(&in),
	    buf_pending(&in), buf_head(&c->out), buf_pending(&c->out));
	buf_free(&in);
	caller_release(&who);
	return true;
}

static void
conn_read(struct conn *c)
{
	char data[READ_CHUNK];
	ssize_t n;

	n = recv(c->w.fd, data, sizeof(data), 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	if (n == 0) {
		/* Over terminated TLS a client may end its side after its
		 * request and wait for the answer (gnutls-cli sends its
		 * close_notify so): what it asked is answered, then the
		 * connection closes.  If it has really gone, writing to it
		 * fails at the terminator, which closes this end. */
		if (c->adopted && (c->queue != NULL || c->call != NULL ||
		    c->responding)) {
			c->read_eof = true;
			c->close_after = true;
			conn_update_events(c);
			return;
		}
		/* The client has gone (or half-closed, which HTTP clients
		 * do not do mid-request): whatever it waits for is moot. */
		conn_close(c);
		return;
	}
	if (c->rx_since == 0)
		c->rx_since = loop_now(c->srv->d->loop);
	if (!c->pre_done)
		conn_read_preamble(c, data, (size_t)n);
	else
		conn_parse(c, data, (size_t)n);
	conn_arm(c);
}

/* The start of a connection: the shim's preamble lines, if any, then
 * HTTP.  Bytes are scanned where they arrived; only a line cut by the
 * read is held in c->pre, and completed from the next read with just
 * what it lacks, so a long read after it is never held. */
static void
conn_read_preamble(struct conn *c, const char *data, size_t n)
{
	enum preamble_state st;
	const char *p, *nl;
	size_t len, used, take;
	bool held;

	for (;;) {
		held = buf_pending(&c->pre) > 0;
		take = n;
		if (held) {
			nl = memchr(data, '\n', n);
			if (nl != NULL)
				take = (size_t)(nl + 1 - data);
			if (buf_add(&c->pre, data, take) < 0)
				goto bad;
			p = buf_head(&c->pre);
			len = buf_pending(&c->pre);
		} else {
			p = data;
			len = n;
		}
		st = preamble_scan(&c->origin, p, len, &used);
		if (used > 0)
			origin_format(&c->origin, c->origin_url,
			    sizeof(c->origin_url));
		if (c->origin.admit && !c->admit_said && st != PREAMBLE_BAD) {
			/* Taken: the shim waits for this before it lets the
			 * program go on. */
			c->admit_said = true;
			if (conn_write(c, PREAMBLE_ADMITTED,
			    sizeof(PREAMBLE_ADMITTED) - 1) < 0)
				return;
			conn_flush(c);
			if (c->closed)
				return;
		}
		if (st == PREAMBLE_BAD) {
			log_debug("bad preamble from pid %ld",
			    (long)conn_caller(c)->pid);
			goto bad;
		}
		if (st == PREAMBLE_DONE) {
			if (conn_relay(c, p + used, len - used, held ?
			    data + take : NULL, held ? n - take : 0)) {
				return;
			}
			c->pre_done = true;
			if (len > used)
				conn_parse(c, p + used, len - used);
			if (held && !c->closed && n > take)
				conn_parse(c, data + take, n - take);
			buf_free(&c->pre);
			return;
		}
		if (!held) {
			/* A line cut by this read waits for the next. */
			if (len > used && buf_add(&c->pre, p + used,
			    len - used) < 0)
				goto bad;
			return;
		}
		buf_consume(&c->pre, used);
		data += take;
		n -= take;
		if (buf_pending(&c->pre) > 0 || n == 0)
			return;
		/* The held line is whole and read: on with the rest. */
	}
bad:
	conn_fail(c, 400, "malformed llmfb preamble");
	if (!c->closed)
		conn_update_events(c);
}

static void
conn_parse(struct conn *c, const char *data, size_t n)
{
	size_t done;

	done = http_parser_execute(&c->parser, &parser_settings, data, n);
	if (c->closed)
		return;
	if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || done != n) {
		log_debug("bad request: %s", http_errno_description(
		    HTTP_PARSER_ERRNO(&c->parser)));
		conn_fail(c, 400, "malformed HTTP request");
		if (!c->closed)
			conn_update_events(c);
		return;
	}
	conn_update_events(c);
}

static void
conn_event(struct watcher *w, uint32_t events)
{
	struct conn *c = w->arg;

	if (c->closed)
		return;
	if (events & EPOLLOUT)
		conn_flush(c);
	if (c->closed)
		return;
	if (events & (EPOLLIN | EPOLLERR))
		conn_read(c);
	else if (events & (EPOLLRDHUP | EPOLLHUP))
		conn_close(c);
}

/* ---- timeouts ---------------------------------------------------------- */

/* Idle: between requests, with nothing read of the next one and nothing
 * left to send. */
static bool
conn_idle(const struct conn *c)
{
	return c->pre_done && c->rx_since == 0 && c->parsing == NULL &&
	    c->queue == NULL && c->call == NULL && !c->responding &&
	    buf_pending(&c->out) == 0;
}

/* The connection's one timer, for where it is now: a request under way
 * (a new connection's included) must be in within request_timeout of
 * its first byte; an idle one is closed after idle_timeout; while a call
 * is served the call's own timeouts rule.  Stopping, what is not serving
 * a call gets STOP_GRACE_MS at most. */
static void
conn_arm(struct conn *c)
{
	const struct config *cfg = c->srv->d->cfg;
	struct loop *l = c->srv->d->loop;
	uint64_t now = loop_now(l), until;
	bool serving = c->queue != NULL || c->call != NULL || c->responding;

	if (c->closed)
		return;
	if (c->failed && !serving) {
		until = now + STOP_GRACE_MS;	/* its error is on the way */
	} else if (c->rx_since != 0 && !serving) {
		until = c->rx_since + cfg->request_timeout_ms;
		if (c->srv->stopping &&
		    until > c->srv->stop_ms + STOP_GRACE_MS)
			until = c->srv->stop_ms + STOP_GRACE_MS;
	} else if (conn_idle(c)) {
		until = now + (c->srv->stopping ? 0 : cfg->idle_timeout_ms);
	} else {
		timer_cancel(l, &c->timer);
		return;
	}
	timer_set(l, &c->timer, until > now ? until - now : 0);
}

static void
conn_timeout(struct timer *t)
{
	struct conn *c = t->arg;

	if (c->closed)
		return;
	if (c->parsing != NULL && !c->failed) {
		/* Half a request: the client is told why it ends. */
		c->srv->timed_out++;
		conn_fail(c, 408, "request timeout");
		if (!c->closed)
			conn_arm(c);
		return;
	}
	if (!conn_idle(c))
		c->srv->timed_out++;
	conn_close(c);
}

/* ---- limits ------------------------------------------------------------ */

static struct user_count *
user_find(struct server *s, uid_t uid)
{
	size_t i;

	for (i = 0; i < s->nusers; i++)
		if (s->users[i].uid == uid)
			return &s->users[i];
	return NULL;
}

/* One more connection for uid, unless it holds limit already. */
static bool
user_take(struct server *s, uid_t uid, unsigned int limit)
{
	struct user_count *u = user_find(s, uid);

	if (u == NULL) {
		if (s->nusers == s->capusers) {
			size_t cap = s->capusers ? s->capusers * 2 : 8;
			struct user_count *n = realloc(s->users,
			    cap * sizeof(*n));

			if (n == NULL)
				return false;
			s->users = n;
			s->capusers = cap;
		}
		u = &s->users[s->nusers++];
		u->uid = uid;
		u->n = 0;
	}
	if (u->n >= limit)
		return false;
	u->n++;
	return true;
}

static void
user_put(struct server *s, uid_t uid)
{
	struct user_count *u = user_find(s, uid);

	if (u != NULL && --u->n == 0)
		*u = s->users[--s->nusers];
}

/* A shim's probe (ADMIT alone, answered, then closed) holds its place
 * until its close is read, and the same program's next connection can
 * arrive in the same round of events, ahead of that close: at the
 * limit, the places of uid's newest connections whose peers have already
 * gone, with nothing owed either way, are given back first.  Only the
 * newest few are looked at (the list is newest first): a probe just
 * made is among them, and a user at its limit cannot make each of its
 * connects cost a system call per connection it holds.  Returns whether
 * any place was given back. */
static bool
user_reap_gone(struct server *s, uid_t uid)
{
	struct conn *c, *next;
	bool reaped = false;
	int looked = 0;
	char b;

	for (c = s->conns; c != NULL && looked < REAP_LOOK; c = next) {
		next = c->next;
		if (c->uid != uid || c->closed)
			continue;
		looked++;
		if (c->call != NULL || c->queue != NULL || c->parsing != NULL ||
		    buf_pending(&c->out) > 0 ||
		    recv(c->w.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0)
			continue;
		conn_close(c);
		reaped = true;
	}
	return reaped;
}

static uid_t
peer_uid(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 ||
	    len != sizeof(uc))
		return (uid_t)-1;	/* all such peers count as one user */
	return uc.uid;
}

/* Say it at most every FULL_LOG_MS: a flood must not become one in the
 * log too. */
static void
say_full(struct server *s, const char *fmt, unsigned long a, unsigned long b)
{
	uint64_t now = loop_now(s->d->loop);

	if (s->full_said_ms != 0 && now - s->full_said_ms < FULL_LOG_MS)
		return;
	s->full_said_ms = now;
	log_warnx(fmt, a, b);
}

/* A connection over a limit: told so at once and closed.  A shim that
 * asked to be admitted reads no "OK" and makes the program's connection
 * itself; a plain HTTP client reads a 503.  Nothing of the request is
 * read: what it sent is discarded with the socket. */
static void
conn_refuse(struct server *s, int fd)
{
	static const char body[] = "{\"error\":{\"message\":\"llmfb: at "
	    "its connection limit; call the provider directly\",\"type\":"
	    "\"server_error\",\"code\":\"llmfb_full\"}}\n";
	char msg[512];
	int n;

	s->refused++;
	lset_add(&s->d->stats->unserved, "why=\"full\"", 1);
	n = snprintf(msg, sizeof(msg), "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Retry-After: 1\r\nx-llmfb-full: 1\r\nConnection: close\r\n"
	    "\r\n%s", sizeof(body) - 1, body);
	if (send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("refusing a client: %s", strerror(errno));
	close(fd);
}

/* After a burst (TRIM_PEAK_MIN clients or more at once, down to a quarter
 * of that), what the burst's streams held (libcurl's receive buffers,
 * OpenSSL's, the answers) is free but stays in the process: glibc gives
 * back only the top of the main heap, and the resolver threads' arenas
 * not at all.  RSS grew over four bursts of 1,000 streams from 98 to
 * 164 MiB (issue 25).  malloc_trim hands every arena's free pages back;
 * it walks the heap, so once per burst, not per call. */
static void
server_trim(struct timer *t)
{
	struct server *s = t->arg;

	malloc_trim(0);
	s->trim_peak = s->nclients;
}

static void
listener_resume(struct timer *t)
{
	struct listener_pause *p = t->arg;

	if (p->w->fd >= 0)
		watcher_mod(p->l, p->w, EPOLLIN);
}

void
listener_pause_init(struct listener_pause *p, struct loop *l,
    struct watcher *w)
{
	timer_init(&p->t, listener_resume, p);
	p->l = l;
	p->w = w;
}

void
listener_pause(struct listener_pause *p, const char *what)
{
	uint64_t now = loop_now(p->l);

	if (what != NULL && (p->said_ms == 0 || now - p->said_ms >=
	    FULL_LOG_MS)) {
		p->said_ms = now;
		log_warn("%s: accept (pausing it %u ms)", what,
		    LISTENER_PAUSE_MS);
	}
	watcher_mod(p->l, p->w, 0);
	timer_set(p->l, &p->t, LISTENER_PAUSE_MS);
}

void
listener_pause_cancel(struct listener_pause *p)
{
	timer_cancel(p->l, &p->t);
}

/* accept() failed for want of file descriptors.  With the spare one let
 * go, the client at the head of the queue is accepted and refused, so it
 * fails open at once instead of waiting.  Without it, accepting pauses a
 * while: the listener is level-triggered, and would only spin.  Returns
 * whether to go on accepting. */
static bool
server_shed(struct server *s, int err)
{
	int fd;

	say_full(s, "out of file descriptors (%lu clients, errno %lu): "
	    "refusing connections; shims go direct", s->nclients,
	    (unsigned long)err);
	if (s->spare_fd >= 0) {
		close(s->spare_fd);
		fd = accept4(s->w.fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			conn_refuse(s, fd);
		s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return true;
	}
	listener_pause(&s->pause, NULL);	/* say_full() said it */
	return false;
}

static void
server_accept(struct watcher *w, uint32_t events)
{
	struct server *s = w->arg;
	const struct config *cfg = s->d->cfg;
	struct conn *c;
	uid_t uid;
	int fd, i;

	(void)events;
	for (i = 0; i < 64; i++) {
		fd = accept4(s->w.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				if (server_shed(s, errno))
					continue;
				return;
			}
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		uid = peer_uid(fd);
		if (s->nclients + (s->ops->carried != NULL ?
		    s->ops->carried(s->d) : 0) >=
		    cfg->max_clients) {
			say_full(s, "%lu clients, the most llmfbd takes "
			    "(limits.max_clients): refusing; shims go direct "
			    "(uid %lu)", s->nclients, (unsigned long)uid);
			conn_refuse(s, fd);
			continue;
		}
		if (!user_take(s, uid, cfg->max_clients_per_user) &&
		    (!user_reap_gone(s, uid) ||
		    !user_take(s, uid, cfg->max_clients_per_user))) {
			say_full(s, "uid %lu holds %lu connections, the most one "
			    "user may (limits.max_clients_per_user): refusing; "
			    "its shims go direct", (unsigned long)uid,
			    cfg->max_clients_per_user);
			conn_refuse(s, fd);
			continue;
		}
		if ((c = conn_new(s, fd, uid)) == NULL) {
			user_put(s, uid);
			close(fd);
			continue;
		}
		s->accepted++;
	}
}

/* A connection on fd, watched and listed; NULL when epoll says no. */
static struct conn *
conn_new(struct server *s, int fd, uid_t uid)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->srv = s;
	c->uid = uid;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	buf_init(&c->out, OUT_MAX);
	buf_init(&c->pre, 2 * PREAMBLE_LINE_MAX);
	timer_init(&c->timer, conn_timeout, c);
	c->w.fd = fd;
	c->w.cb = conn_event;
	c->w.arg = c;
	c->w.events = EPOLLIN | EPOLLRDHUP;
	if (watcher_add(s->d->loop, &c->w) < 0) {
		log_warn("epoll add");
		buf_free(&c->out);
		buf_free(&c->pre);
		free(c);
		return NULL;
	}
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nclients++;
	if (s->nclients > s->trim_peak)
		s->trim_peak = s->nclients;
	/* A new connection is a request under way: its first bytes are due
	 * within request_timeout. */
	c->rx_since = loop_now(s->d->loop);
	conn_arm(c);
	return c;
}

void
server_user_hold(struct server *s, uid_t uid)
{
	user_take(s, uid, UINT32_MAX);
}

int
server_adopt(struct server *s, int fd, uid_t uid, const struct caller *who)
{
	struct conn *c;

	if (s->stopping || (c = conn_new(s, fd, uid)) == NULL)
		return -1;
	c->adopted = true;
	caller_copy(&c->caller, who);
	c->caller_known = true;
	return 0;
}

int
unix_listen(const char *path, unsigned int mode, struct file_id *ret_id)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file left by a dead daemon would refuse the bind; one
	 * of a live daemon is taken over (a restart): it serves what it
	 * has and, leaving, removes only its own file. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, mode) < 0 || (e = file_id_of(path, ret_id)) < 0 ||
	    listen(fd, 1024) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int
unix_listener(const char *path, unsigned int mode, int handed_fd,
    struct file_id *ret_id)
{
	if (handed_fd < 0)
		return unix_listen(path, mode, ret_id);
	memset(ret_id, 0, sizeof(*ret_id));
	if (fcntl(handed_fd, F_SETFL, fcntl(handed_fd, F_GETFL) |
	    O_NONBLOCK) < 0)
		log_warn("socket activation: %s: O_NONBLOCK", path);
	return handed_fd;
}

void
unix_listener_close(int fd, const char *path, const struct file_id *id)
{
	close(fd);
	unlink_own(path, id);
}

struct server *
server_new(struct daemon *d, const struct server_ops *ops, const char *path,
    unsigned int mode, int fd)
{
	struct server *s;
	struct file_id id;
	bool handed = fd >= 0;

	if ((fd = unix_listener(path, mode, fd, &id)) < 0) {
		errno = -fd;
		log_warn("listen on %s", path);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->ops = ops;
	s->path = xstrdup(path);
	s->handed = handed;
	s->id = id;
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	listener_pause_init(&s->pause, d->loop, &s->w);
	timer_init(&s->trim, server_trim, s);
	s->w.fd = fd;
	s->w.cb = server_accept;
	s->w.arg = s;
	s->w.events = EPOLLIN;
	if (watcher_add(d->loop, &s->w) < 0) {
		log_warn("epoll add");
		unix_listener_close(fd, path, &id);
		if (s->spare_fd >= 0)
			close(s->spare_fd);
		free(s->path);
		free(s);
		return NULL;
	}
	return s;
}

bool
server_stop(struct server *s)
{
	struct conn *c, *next;

	if (s->stopping)
		return s->nclients == 0;
	/* A handed socket stays open in systemd: what arrives now waits in
	 * its queue for the next llmfbd.  Our own goes at once, so that
	 * shims fail open instead of waiting. */
	watcher_del(s->d->loop, &s->w);
	listener_pause_cancel(&s->pause);
	unix_listener_close(s->w.fd, s->path, &s->id);
	s->w.fd = -1;
	s->stop_ms = loop_now(s->d->loop);
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (conn_idle(c))
			conn_close(c);
	}
	/* Set after: the caller learns from the return that none is left,
	 * and ops->all_closed() is for the closes still to come.  What has
	 * sent no whole request yet gets a short grace. */
	s->stopping = true;
	for (c = s->conns; c != NULL; c = c->next)
		conn_arm(c);
	return s->nclients == 0;
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	listener_pause_cancel(&s->pause);
	timer_cancel(s->d->loop, &s->trim);
	if (s->w.fd >= 0) {
		watcher_del(s->d->loop, &s->w);
		unix_listener_close(s->w.fd, s->path, &s->id);
	}
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	free(s->users);
	free(s->path);
	free(s);
}

bool
server_handed(const struct server *s)
{
	return s->handed;
}

unsigned int
server_clients(const struct server *s)
{
	return s->nclients;
}

uint64_t
server_accepted(const struct server *s)
{
	return s->accepted;
}

void
server_user_done(struct server *s, uid_t uid)
{
	if (s != NULL)
		user_put(s, uid);
}

uint64_t
server_refused(const struct server *s)
{
	return s->refused;
}

uint64_t
server_timed_out(const struct server *s)
{
	return s->timed_out;
}
