#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "loop.h"
#include "upstream.h"
#include "util.h"

/* Past BOMB_FLOOR decoded bytes, an answer that decodes to more than
 * BOMB_RATIO times its size on the wire is refused. */
#define BOMB_FLOOR	(4u << 20)
#define BOMB_RATIO	200

#define XFER_HEADERS_MAX	(256u * 1024)
#define EASY_POOL_MAX		64	/* idle easy handles kept for reuse */

struct upstream {
	struct loop	*loop;
	CURLM		*multi;
	CURLSH		*share;
	struct timer	 timer;
	int		 running;
	/* curl_easy_init allocates a lot; a reset handle is much cheaper. */
	CURL		*pool[EASY_POOL_MAX];
	size_t		 npool;
	bool		 cookies;	/* name each socket for the probes */
	bool		 ca_file_default; /* libcurl has a CA file of its own */
};

/* One per socket libcurl asks us to watch. */
struct upsock {
	struct watcher	 w;
	struct upstream	*up;
	bool		 dead;
};

static enum xfer_end
end_of(struct xfer *x, CURLcode rc)
{
	curl_off_t sent = 0;

	x->rc = rc;
	switch (rc) {
	case CURLE_OK:
		return XE_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return XE_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		/* The request went out (on a new connection or a kept one,
		 * whose connect time is 0): the limit of the whole ended
		 * it. */
		curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &sent);
		return sent > 0 ? XE_TIMEOUT_TOTAL : XE_TIMEOUT_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return XE_TLS;
	default:
		return XE_BROKEN;
	}
}

static void
check_done(struct upstream *up)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(up->multi, &left)) != NULL) {
		struct xfer *x;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		x->running = false;
		curl_multi_remove_handle(up->multi, x->easy);
		x->ops->on_done(x, end_of(x, m->data.result));
	}
}

static void
sock_event(struct watcher *w, uint32_t events)
{
	struct upsock *us = w->arg;
	struct upstream *up = us->up;
	int flags = 0;

	if (us->dead)
		return;
	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(up->multi, w->fd, flags, &up->running);
	check_done(up);
}

static int
curl_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct upstream *up = userp;
	struct upsock *us = socketp;
	uint32_t ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (us != NULL) {
			watcher_del(up->loop, &us->w);
			us->dead = true;
			curl_multi_assign(up->multi, s, NULL);
			loop_defer(up->loop, free, us);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (us == NULL) {
		us = xcalloc(1, sizeof(*us));
		us->up = up;
		us->w.fd = s;
		us->w.cb = sock_event;
		us->w.arg = us;
		us->w.events = ev;
		if (watcher_add(up->loop, &us->w) < 0) {
			log_warn("upstream: epoll add");
			free(us);
			return -1;
		}
		curl_multi_assign(up->multi, s, us);
		return 0;
	}
	if (watcher_mod(up->loop, &us->w, ev) < 0)
		log_warn("upstream: epoll mod");
	return 0;
}

static void
timer_fired(struct timer *t)
{
	struct upstream *up = t->arg;

	curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0,
	    &up->running);
	check_done(up);
}

static int
curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream *up = userp;

	(void)multi;
	if (timeout_ms < 0)
		timer_cancel(up->loop, &up->timer);
	else
		timer_set(up->loop, &up->timer, (uint64_t)timeout_ms);
	return 0;
}

/* Whether libcurl verifies with a CA file when it is given none (a build
 * default such as Debian's /etc/ssl/certs/ca-certificates.crt). */
static bool
ca_file_default(void)
{
	bool have = false;
#if LIBCURL_VERSION_NUM >= 0x075400	/* CURLINFO_CAINFO: 7.84.0 */
	CURL *e = curl_easy_init();
	char *f = NULL;

	if (e != NULL && curl_easy_getinfo(e, CURLINFO_CAINFO, &f) ==
	    CURLE_OK && f != NULL && f[0] != '\0')
		have = true;
	curl_easy_cleanup(e);
#endif
	return have;
}

struct upstream *
upstream_new(struct loop *l)
{
	struct upstream *up = xcalloc(1, sizeof(*up));

	up->loop = l;
	timer_init(&up->timer, timer_fired, up);
	up->multi = curl_multi_init();
	up->share = curl_share_init();
	if (up->multi == NULL || up->share == NULL) {
		upstream_free(up);
		return NULL;
	}
	/* One thread: the share needs no lock callbacks. */
	curl_share_setopt(up->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(up->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, 512L);
	curl_multi_setopt(up->multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
	up->ca_file_default = ca_file_default();
	return up;
}

void
upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	timer_cancel(up->loop, &up->timer);
	while (up->npool > 0)
		curl_easy_cleanup(up->pool[--up->npool]);
	if (up->multi != NULL)
		curl_multi_cleanup(up->multi);
	if (up->share != NULL)
		curl_share_cleanup(up->share);
	free(up);
}

/* ---- transfers ------------------------------------------------------- */

static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new status line: an interim (1xx) response's headers,
		 * or a redirect's, are not the final response's. */
		buf_reset(&x->headers);
		return len;
	}
	if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		long code = 0;

		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200) {
			x->status = code;
			if (x->ops->on_headers != NULL)
				x->ops->on_headers(x);
		}
		return len;
	}
	if (buf_add(&x->headers, p, len) < 0)
		return 0;	/* over the cap: abort the transfer */
	return len;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	curl_off_t wire = 0;
	size_t r;

	if (x->body_max > 0 && size * n > x->body_max - x->body_bytes) {
		x->too_big = true;
		snprintf(x->errbuf, sizeof(x->errbuf), "the answer passed "
		    "%llu bytes (limits.max_answer_body)",
		    (unsigned long long)x->body_max);
		return 0;
	}
	/* A decompression bomb is stopped before the caller gets any of
	 * it: no real answer of this size decodes to BOMB_RATIO times what
	 * came over the wire (libcurl counts the body before decoding). */
	if (x->body_bytes + size * n > BOMB_FLOOR &&
	    curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &wire) ==
	    CURLE_OK && wire > 0 &&
	    (x->body_bytes + size * n) / (uint64_t)wire > BOMB_RATIO) {
		x->too_big = true;
		snprintf(x->errbuf, sizeof(x->errbuf), "the answer decodes "
		    "to over %d times its %lld bytes on the wire", BOMB_RATIO,
		    (long long)wire);
		return 0;
	}
	r = x->ops->on_body(x, p, size * n);
	if (r == XFER_PAUSE)
		x->paused = true;
	else
		x->body_bytes += r;
	return r;
}

/* Asking for a socket's cookie makes the kernel give it one, before
 * connect(): the probes know llmfbd's sockets by it (ebpf/netlat.bpf.c). */
static int
sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	uint64_t cookie;
	socklen_t len = sizeof(cookie);

	(void)arg;
	(void)purpose;
	(void)getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
	return CURL_SOCKOPT_OK;
}

void
upstream_cookies(struct upstream *up, bool on)
{
	up->cookies = on;
}

struct xfer *
xfer_new(struct upstream *up, const struct xfer_ops *ops, void *arg)
{
	struct xfer *x = xcalloc(1, sizeof(*x));

	if (up->npool > 0) {
		x->easy = up->pool[--up->npool];
	} else if ((x->easy = curl_easy_init()) == NULL) {
		free(x);
		return NULL;
	}
	x->up = up;
	x->ops = ops;
	x->arg = arg;
	buf_init(&x->headers, XFER_HEADERS_MAX);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_SHARE, up->share);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, 1L);
	/* libcurl 7.88 copies an HTTPS request through its upload buffer
	 * (64 KiB by default) and keeps it for the whole transfer: a long
	 * stream held it for nothing.  It never sends more than 16 KiB at
	 * once over TLS, so the smallest it allows is enough. */
	curl_easy_setopt(x->easy, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	/* Decoded here so the daemon can read what it passes on; the
	 * caller gets identity encoding, which every client accepts. */
	curl_easy_setopt(x->easy, CURLOPT_ACCEPT_ENCODING, "");
	if (up->cookies)
		curl_easy_setopt(x->easy, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	return x;
}

/* Appended to *l; -1 when it cannot be. */
static int
slist_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *n;

	if ((n = curl_slist_append(*l, s)) == NULL)
		return -1;
	*l = n;
	return 0;
}

int
xfer_set(struct xfer *x, const struct xfer_request *rq)
{
	const char *p, *end, *m = rq->method;
	size_t i, n;
	char *line;
	int r;

	p = rq->headers != NULL && rq->headers->data != NULL ?
	    rq->headers->data : "";
	end = p + (rq->headers != NULL ? rq->headers->len : 0);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		n = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > 0) {
			line = xstrndup(p, n);
			r = slist_add(&x->req_headers, line);
			explicit_bzero(line, n);	/* it may hold a key */
			free(line);
			if (r < 0)
				return -ENOMEM;
		}
		p = eol != NULL ? eol + 1 : end;
	}
	/* No "Expect: 100-continue" round trip for large bodies. */
	if (slist_add(&x->req_headers, "Expect:") < 0)
		return -ENOMEM;
	for (i = 0; i < rq->nconnect_to; i++)
		if (slist_add(&x->connect_to, rq->connect_to[i]) < 0)
			return -ENOMEM;
	curl_easy_setopt(x->easy, CURLOPT_URL, rq->url);
	if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
	} else if (strcmp(m, "GET") != 0 || rq->len > 0) {
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)rq->len);
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, m);
	}
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->req_headers);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)rq->connect_timeout_ms);
	if (rq->timeout_ms > 0)
		xfer_set_timeout(x, rq->timeout_ms);
	if (rq->ca_file != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, rq->ca_file);
	/* libcurl (7.87 on) reads a CA file once and keeps its store for
	 * every connection (CURLOPT_CA_CACHE_TIMEOUT), but not where a CA
	 * directory is set too, as Debian's libcurl does by default: each
	 * new connection then parsed the whole file again and held a store
	 * of its own (the system bundle: about 140 certificates).  Where
	 * there is a file, the directory adds nothing. */
	if (rq->ca_file != NULL || x->up->ca_file_default)
		curl_easy_setopt(x->easy, CURLOPT_CAPATH, NULL);
	if (x->connect_to != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CONNECT_TO, x->connect_to);
	return 0;
}

void
xfer_set_timeout(struct xfer *x, uint64_t ms)
{
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)ms);
}

double
xfer_connect_s(struct xfer *x)
{
	double connect = 0;

	curl_easy_getinfo(x->easy, CURLINFO_APPCONNECT_TIME, &connect);
	if (connect <= 0)
		curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME, &connect);
	return connect;
}

const char *
xfer_error(const struct xfer *x, enum xfer_end e)
{
	if (x->errbuf[0] != '\0')
		return x->errbuf;
	return e == XE_OK ? "ok" : curl_easy_strerror(x->rc);
}

int
xfer_start(struct xfer *x)
{
	if (curl_multi_add_handle(x->up->multi, x->easy) != CURLM_OK)
		return -EIO;
	x->running = true;
	return 0;
}

void
xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	if (x->running)
		curl_multi_remove_handle(x->up->multi, x->easy);
	if (x->up->npool < EASY_POOL_MAX) {
		/* Back to the pool with no option of this transfer's left. */
		curl_easy_reset(x->easy);
		x->up->pool[x->up->npool++] = x->easy;
	} else {
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->req_headers);
	curl_slist_free_all(x->connect_to);
	buf_free(&x->headers);
	free(x);
}

void
xfer_resume(struct xfer *x)
{
	if (!x->paused || !x->running)
		return;
	x->paused = false;
	curl_easy_pause(x->easy, CURLPAUSE_CONT);
	/* Unpausing may have finished the transfer: look on the next turn
	 * of the loop, not from inside whoever called us. */
	timer_set(x->up->loop, &x->up->timer, 0);
}
