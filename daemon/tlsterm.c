/* Terminating TLS with the local CA's leaves: see tlsterm.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "ca.h"
#include "caller.h"
#include "config.h"
#include "state.h"
#include "ebpf.h"
#include "kredir.h"
#include "log.h"
#include "relay.h"
#include "server.h"
#include "shim_proto.h"
#include "stats.h"
#include "tlshello.h"
#include "tlsterm.h"
#include "util.h"

#define CHUNK		16384
#define WINDOW		(128 * 1024)	/* what waits for a slow side */

enum term_state { T_HELLO, T_HANDSHAKE, T_PIPE };

struct term {
	struct terms	*ts;
	struct term	*prev, *next;
	enum term_state	 st;
	struct watcher	 cw, pw;	/* the client (TLS), the pair */
	bool		 cw_on, pw_on;
	struct timer	 timer;		/* the hello and handshake's */
	struct buf	 hello;		/* the ClientHello, while read */
	struct buf	 cout;		/* bytes for the client's socket */
	struct buf	 up;		/* plaintext for the pair */
	SSL		*ssl;
	BIO		*rbio, *wbio;	/* memory: we move the bytes */
	bool		 c_eof;		/* the client's socket has ended */
	bool		 up_eof;	/* the client's TLS has ended */
	bool		 up_shut;	/* ... and the pair was told */
	bool		 p_eof;		/* the pair (llmfbd's answer) ended */
	bool		 tls_shut;	/* close_notify sent */
	bool		 ended;
	bool		 sent_flight;	/* the leaf went to the client */
	uint64_t	 app_bytes;	/* plaintext the client sent */
	char		 host[254];
	int		 port;
	bool		 kernel;	/* redirected by the kernel: host
					 * comes from the hello */
	struct redirect_orig orig;	/* ... and where it was going */
	char		 orig_addr[INET6_ADDRSTRLEN];
	struct caller	 who;
	uint64_t	 start_ms;
};

/* One server context per host: its leaf, ALPN http/1.1. */
struct host_ctx {
	char		 host[254];
	X509		*leaf;
	SSL_CTX		*ctx;
};

struct terms {
	struct daemon	*d;
	struct term	*list;
	unsigned int	 n;
	struct host_ctx	*ctxs;
	size_t		 nctxs;
};

static void term_end(struct term *t, const char *result, const char *why);
static void term_event(struct watcher *w, uint32_t events);
static void term_pump(struct term *t);

/* ---- the record ---------------------------------------------------- */

static void
term_record(struct term *t, const char *result, const char *why)
{
	struct daemon *d = t->ts->d;
	struct timespec ts;
	char labels[128];
	json_t *rec;
	char *line;

	if (prom_labels(labels, sizeof(labels), "result", result, NULL) == 0)
		lset_add(&d->stats->terminated, labels, 1);
	/* A terminated call is recorded by the call path, as any other;
	 * here only what never got that far. */
	if (strcmp(result, "ok") == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	rec = json_pack("{s:f, s:s, s:i, s:{s:i, s:i, s:i, s:s, s:s, s:s},"
	    " s:s, s:s, s:s, s:i}",
	    "time", (double)ts.tv_sec + ts.tv_nsec / 1e9,
	    "host", t->host, "port", t->port,
	    "caller", "pid", (int)t->who.pid, "uid", (int)t->who.uid, "gid",
	    (int)t->who.gid, "exe", t->who.exe, "comm", t->who.comm, "unit",
	    t->who.unit,
	    "result", result, "why", why, "tls", "terminated",
	    "duration_ms", (int)(now_mono_ms() - t->start_ms));
	if (rec == NULL)
		return;
	if ((line = json_dumps(rec, JSON_COMPACT)) != NULL) {
		daemon_hook_publish(d, rec, line, strlen(line));
	}
	free(line);
	json_decref(rec);
}

/* ---- contexts ------------------------------------------------------ */

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "http/1.1";
	unsigned int i = 0;

	(void)ssl;
	(void)arg;
	/* Only HTTP/1.1 is served; a client that offers only h2 is told
	 * nothing, and speaks HTTP/1.1 or leaves. */
	while (i < inlen) {
		unsigned int l = in[i];

		if (i + 1 + l > inlen)
			break;
		if (l == sizeof(h11) - 1 && memcmp(in + i + 1, h11, l) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static void
ctxs_clear(struct terms *ts)
{
	size_t i;

	for (i = 0; i < ts->nctxs; i++)
		SSL_CTX_free(ts->ctxs[i].ctx);
	free(ts->ctxs);
	ts->ctxs = NULL;
	ts->nctxs = 0;
}

/* The context for host, its leaf made or renewed as need be; NULL when
 * the CA cannot vouch for host (said why in err). */
static SSL_CTX *
host_ctx(struct terms *ts, const char *host, char *err, size_t errlen)
{
	struct daemon *d = ts->d;
	struct host_ctx *hc = NULL;
	EVP_PKEY *key;
	X509 *leaf;
	SSL_CTX *ctx;
	size_t i;

	if (d->ca == NULL) {
		snprintf(err, errlen, "no CA");
		return NULL;
	}
	if (ca_leaf(d->ca, host, &leaf, &key, err, errlen) < 0)
		return NULL;
	for (i = 0; i < ts->nctxs; i++)
		if (strcmp(ts->ctxs[i].host, host) == 0) {
			hc = &ts->ctxs[i];
			break;
		}
	if (hc != NULL && hc->leaf == leaf)
		return hc->ctx;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_use_certificate(ctx, leaf) ||
	    !SSL_CTX_use_PrivateKey(ctx, key) ||
	    !SSL_CTX_check_private_key(ctx)) {
		snprintf(err, errlen, "%.200s: TLS context: %s", host,
		    ERR_reason_error_string(ERR_get_error()));
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_RELEASE_BUFFERS);
	if (hc == NULL) {
		struct host_ctx *v = realloc(ts->ctxs, (ts->nctxs + 1) *
		    sizeof(*v));

		if (v == NULL) {
			SSL_CTX_free(ctx);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		ts->ctxs = v;
		hc = &ts->ctxs[ts->nctxs++];
		snprintf(hc->host, sizeof(hc->host), "%s", host);
	} else {
		SSL_CTX_free(hc->ctx);	/* sessions hold their own */
	}
	hc->ctx = ctx;
	hc->leaf = leaf;
	return ctx;
}

/* ---- watching ------------------------------------------------------ */

static void
term_watch(struct term *t)
{
	struct loop *l = t->ts->d->loop;
	uint32_t ce = 0, pe = 0;

	if (!t->c_eof && buf_pending(&t->up) < WINDOW)
		ce |= EPOLLIN;
	if (buf_pending(&t->cout) > 0)
		ce |= EPOLLOUT;
	if (t->st == T_PIPE) {
		if (!t->p_eof && buf_pending(&t->cout) < WINDOW)
			pe |= EPOLLIN;
		if (buf_pending(&t->up) > 0)
			pe |= EPOLLOUT;
	}
	watcher_want(l, &t->cw, &t->cw_on, ce);
	watcher_want(l, &t->pw, &t->pw_on, pe);
}

/* ---- moving bytes ---------------------------------------------------- */

/* What the TLS engine wrote, to the client's queue. */
static int
drain_wbio(struct term *t)
{
	char data[CHUNK];
	int n;

	while ((n = BIO_read(t->wbio, data, sizeof(data))) > 0)
		if (buf_add(&t->cout, data, (size_t)n) < 0)
			return -1;
	return 0;
}

/* The client's socket, read into the TLS engine.  0, or -1 broken. */
static int
read_client(struct term *t)
{
	char data[CHUNK];
	ssize_t n;

	while (!t->c_eof && buf_pending(&t->up) < WINDOW) {
		n = recv(t->cw.fd, data, sizeof(data), 0);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0) {
			t->c_eof = true;
			BIO_set_mem_eof_return(t->rbio, 0);
			return 0;
		}
		if (BIO_write(t->rbio, data, (int)n) != (int)n)
			return -1;
		if (t->st == T_PIPE)
			break;	/* decrypted before more is read */
	}
	return 0;
}

/* The client refused the leaf: an alert that says so. */
static bool
cert_refused(unsigned long e)
{
	switch (ERR_GET_REASON(e)) {
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
		return true;
	default:
		return false;
	}
}

/* The handshake is done: a socketpair, one end to the HTTP server as a
 * virtual-TLS connection for host:443, whose preamble goes first. */
static int
term_adopt(struct term *t)
{
	struct daemon *d = t->ts->d;
	char pre[PREAMBLE_LINE_MAX * 2];
	int sv[2], n;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) < 0)
		return -1;
	if (server_adopt(d->server, sv[1], t->who.uid, &t->who) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	t->pw.fd = sv[0];
	t->pw.cb = term_event;
	t->pw.arg = t;
	n = snprintf(pre, sizeof(pre), "%s %s %d\r\n%s", PREAMBLE_CONNECT,
	    t->host, t->port, PREAMBLE_TLS);
	return buf_add(&t->up, pre, (size_t)n);
}

/* Decrypted bytes from the client, to the pair's queue. */
static int
pipe_up(struct term *t)
{
	char data[CHUNK];
	int n, e;

	while (!t->up_eof && buf_pending(&t->up) < WINDOW) {
		n = SSL_read(t->ssl, data, sizeof(data));
		if (n > 0) {
			t->app_bytes += (uint64_t)n;
			if (buf_add(&t->up, data, (size_t)n) < 0)
				return -1;
			continue;
		}
		e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ) {
			if (t->c_eof)
				t->up_eof = true;	/* cut, no notify */
			break;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			t->up_eof = true;
			break;
		}
		ERR_clear_error();
		t->up_eof = true;
		return t->app_bytes > 0 ? 0 : -1;
	}
	return 0;
}

/* llmfbd's answer from the pair, encrypted to the client. */
static int
pipe_down(struct term *t)
{
	char data[CHUNK];
	ssize_t n;

	while (!t->p_eof && buf_pending(&t->cout) < WINDOW) {
		n = recv(t->pw.fd, data, sizeof(data), 0);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0) {
			t->p_eof = true;
			break;
		}
		if (SSL_write(t->ssl, data, (int)n) != (int)n) {
			ERR_clear_error();
			return -1;
		}
		if (drain_wbio(t) < 0)
			return -1;
	}
	if (t->p_eof && !t->tls_shut) {
		t->tls_shut = true;
		SSL_shutdown(t->ssl);
		ERR_clear_error();
		if (drain_wbio(t) < 0)
			return -1;
	}
	return 0;
}

/* The client went (its socket failed or ended) where it was.  Ending
 * after the leaf was sent and before any request is how a client that
 * checks the certificate itself refuses it: Node ends the handshake
 * with no alert, wget and gnutls-cli end once it is done. */
static void
term_gone(struct term *t)
{
	if (t->st == T_PIPE && t->app_bytes > 0)
		term_end(t, "ok", "ended");
	else if (t->st == T_PIPE)
		term_end(t, "rejected", "closed-before-request");
	else if (t->sent_flight)
		term_end(t, "rejected", "closed-in-handshake");
	else
		term_end(t, "failed", "broken");
}

static void
term_pump(struct term *t)
{
	int r, e;

	if (read_client(t) < 0) {
		term_gone(t);
		return;
	}
	if (t->st == T_HANDSHAKE) {
		r = SSL_do_handshake(t->ssl);
		if (drain_wbio(t) < 0) {
			term_end(t, "failed", "broken");
			return;
		}
		if (buf_pending(&t->cout) > 0)
			t->sent_flight = true;
		if (r != 1) {
			unsigned long err;

			e = SSL_get_error(t->ssl, r);
			if (e == SSL_ERROR_WANT_READ && !t->c_eof)
				goto out;
			err = ERR_peek_last_error();
			if (t->c_eof && !cert_refused(err)) {
				log_info("tls %s for pid %ld (%s): the client "
				    "left in the handshake", t->host,
				    (long)t->who.pid, t->who.exe[0] ?
				    t->who.exe : t->who.comm);
				ERR_clear_error();
				term_gone(t);
				return;
			}
			log_info("tls %s for pid %ld (%s): the handshake failed: "
			    "%s", t->host, (long)t->who.pid, t->who.exe[0] ?
			    t->who.exe : t->who.comm, err ?
			    ERR_reason_error_string(err) : "the client left");
			ERR_clear_error();
			/* What is owed (an alert) goes out first. */
			buf_send(&t->cout, t->cw.fd);
			term_end(t, cert_refused(err) ? "rejected" : "failed",
			    cert_refused(err) ? "cert-rejected" :
			    "handshake-failed");
			return;
		}
		timer_cancel(t->ts->d->loop, &t->timer);
		if (term_adopt(t) < 0) {
			term_end(t, "failed", "broken");
			return;
		}
		t->st = T_PIPE;
	}
	if (t->st == T_PIPE) {
		if (pipe_up(t) < 0) {
			term_gone(t);
			return;
		}
		r = buf_send(&t->up, t->pw.fd);
		if (r < 0 && r != -EAGAIN) {
			term_gone(t);
			return;
		}
		if (t->up_eof && buf_pending(&t->up) == 0 && !t->up_shut) {
			t->up_shut = true;
			shutdown(t->pw.fd, SHUT_WR);
		}
		if (pipe_down(t) < 0) {
			term_gone(t);
			return;
		}
	}
out:
	r = buf_send(&t->cout, t->cw.fd);
	if (r < 0 && r != -EAGAIN) {
		term_gone(t);
		return;
	}
	if (t->st == T_PIPE && buf_pending(&t->cout) == 0 && t->p_eof &&
	    t->tls_shut) {
		/* llmfbd's side has ended (it does once the client has, or
		 * after its last answer) and all is out. */
		term_gone(t);
		return;
	}
	term_watch(t);
}

static void
term_event(struct watcher *w, uint32_t events)
{
	struct term *t = w->arg;

	(void)events;
	if (t->ended)
		return;
	if (t->st == T_HELLO)
		return;	/* not watched then: see hello_event */
	term_pump(t);
}

static void
term_timeout(struct timer *tm)
{
	struct term *t = tm->arg;

	if (!t->ended)
		term_end(t, "failed", "handshake-timeout");
}

/* ---- the hello: terminate, or hand to the relay ---------------------- */

static void
term_begin_tls(struct term *t, SSL_CTX *ctx)
{
	t->st = T_HANDSHAKE;
	if ((t->ssl = SSL_new(ctx)) == NULL ||
	    (t->rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (t->wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(t->rbio);
		t->rbio = NULL;
		term_end(t, "failed", "broken");
		return;
	}
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);	/* it owns them now */
	SSL_set_accept_state(t->ssl);
	if (BIO_write(t->rbio, buf_head(&t->hello),
	    (int)buf_pending(&t->hello)) != (int)buf_pending(&t->hello)) {
		term_end(t, "failed", "broken");
		return;
	}
	buf_free(&t->hello);
	log_info("tls %s:%d for pid %ld (%s): terminated with the local CA's "
	    "leaf", t->host, t->port, (long)t->who.pid, t->who.exe[0] ?
	    t->who.exe : t->who.comm);
	term_pump(t);
}

/* Carried untouched, as without a CA: the relay takes the socket and
 * the user's place. */
static void
term_to_relay(struct term *t, const char *why)
{
	struct terms *ts = t->ts;
	int fd = t->cw.fd;

	log_debug("tls %s:%d: %s: relayed untouched", t->host[0] ? t->host :
	    t->orig_addr, t->port, why);
	watcher_want(ts->d->loop, &t->cw, &t->cw_on, 0);
	t->cw.fd = -1;
	if (t->kernel && t->host[0] == '\0')
		relay_start_addr(ts->d->relays, fd, &t->who, t->orig_addr,
		    t->orig_addr, t->port, "kernel-not-ours",
		    buf_head(&t->hello), buf_pending(&t->hello));
	else
		relay_start(ts->d->relays, fd, &t->who, t->host, t->port,
		    t->kernel ? "kernel-not-served" : "tls-not-virtual",
		    buf_head(&t->hello), buf_pending(&t->hello),
		    buf_head(&t->cout), buf_pending(&t->cout));
	t->ended = true;	/* its user's place went with the socket */
	caller_release(&t->who);	/* the relay has its own */
	timer_cancel(ts->d->loop, &t->timer);
	buf_free(&t->hello);
	buf_free(&t->cout);
	buf_free(&t->up);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		ts->list = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	ts->n--;
	loop_defer(ts->d->loop, free, t);
}

/* Decide, once the ClientHello is whole. */
static void
term_decide(struct term *t)
{
	struct daemon *d = t->ts->d;
	char sni[254], err[256];
	enum tls_hello h;
	SSL_CTX *ctx;

	h = tls_hello_sni((const unsigned char *)buf_head(&t->hello),
	    buf_pending(&t->hello), sni, sizeof(sni));
	if (h == TLS_HELLO_MORE && !t->c_eof &&
	    buf_pending(&t->hello) < TLS_HELLO_MAX) {
		term_watch(t);
		return;
	}
	if (h != TLS_HELLO_OK) {
		term_to_relay(t, "no whole ClientHello");
		return;
	}
	if (t->kernel) {
		/* The name must be intercepted and have the address the
		 * program was going to: llmfbd serves no other name, and
		 * carries a shared address's other names where they went. */
		if (sni[0] == '\0' || !config_intercepts(d->cfg, sni,
		    strlen(sni)) || !(t->orig.synthetic ||
		    kredir_has(d->kredir, sni, &t->orig))) {
			term_to_relay(t, "not an intercepted host's name");
			return;
		}
		snprintf(t->host, sizeof(t->host), "%s", sni);
		if (d->ca == NULL) {
			term_to_relay(t, "no CA");
			return;
		}
	}
	if (sni[0] == '\0' || strcmp(sni, t->host) != 0) {
		term_to_relay(t, "its server name is not the host it "
		    "connected to");
		return;
	}
	if (!config_intercepts(d->cfg, sni, strlen(sni))) {
		term_to_relay(t, "not intercepted");
		return;
	}
	if ((ctx = host_ctx(t->ts, sni, err, sizeof(err))) == NULL) {
		log_info("tls %s: %s: relayed untouched", sni, err);
		term_to_relay(t, err);
		return;
	}
	term_begin_tls(t, ctx);
}

static void
hello_event(struct watcher *w, uint32_t events)
{
	struct term *t = w->arg;
	char data[CHUNK];
	ssize_t n;

	(void)events;
	if (t->ended)
		return;
	if (t->st != T_HELLO) {
		term_event(w, events);
		return;
	}
	if (buf_pending(&t->cout) > 0) {
		int r = buf_send(&t->cout, t->cw.fd);

		if (r < 0 && r != -EAGAIN) {
			term_end(t, "failed", "broken");
			return;
		}
	}
	n = recv(t->cw.fd, data, sizeof(data), 0);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		term_end(t, "failed", "broken");
		return;
	}
	if (n == 0)
		t->c_eof = true;
	if (n > 0 && buf_add(&t->hello, data, (size_t)n) < 0) {
		term_to_relay(t, "a ClientHello too long");
		return;
	}
	term_decide(t);
}

void
term_start(struct terms *ts, int fd, const struct caller *who,
    const char *host, int port, const void *pending, size_t npending,
    const void *out, size_t nout)
{
	struct daemon *d = ts->d;
	struct term *t = xcalloc(1, sizeof(*t));

	t->ts = ts;
	t->st = T_HELLO;
	t->start_ms = now_mono_ms();
	caller_copy(&t->who, who);
	t->port = port;
	snprintf(t->host, sizeof(t->host), "%s", host);
	buf_init(&t->hello, TLS_HELLO_MAX + CHUNK);
	buf_init(&t->cout, 4 * WINDOW);
	buf_init(&t->up, 4 * WINDOW);
	t->cw.fd = fd;
	t->cw.cb = hello_event;
	t->cw.arg = t;
	t->pw.fd = -1;
	timer_init(&t->timer, term_timeout, t);
	t->next = ts->list;
	if (ts->list != NULL)
		ts->list->prev = t;
	ts->list = t;
	ts->n++;
	timer_set(d->loop, &t->timer, d->cfg->request_timeout_ms);
	if (buf_add(&t->hello, pending, npending) < 0 ||
	    buf_add(&t->cout, out, nout) < 0) {
		term_end(t, "failed", "broken");
		return;
	}
	term_decide(t);
}

void
term_start_kernel(struct terms *ts, int fd, const struct caller *who,
    const struct redirect_orig *o)
{
	struct term *t;

	/* Started as any other, with no host yet: term_decide reads it
	 * from the hello. */
	term_start(ts, fd, who, "", o->port, NULL, 0, NULL, 0);
	if ((t = ts->list) == NULL || t->cw.fd != fd || t->ended)
		return;
	t->kernel = true;
	t->orig = *o;
	inet_ntop(o->family, o->addr, t->orig_addr, sizeof(t->orig_addr));
}

/* ---- the end --------------------------------------------------------- */

static void
term_end(struct term *t, const char *result, const char *why)
{
	struct terms *ts = t->ts;
	struct loop *l = ts->d->loop;

	if (t->ended)
		return;
	t->ended = true;
	timer_cancel(l, &t->timer);
	server_user_done(ts->d->server, t->who.uid);
	term_record(t, result, why);
	caller_release(&t->who);
	watcher_want(l, &t->cw, &t->cw_on, 0);
	watcher_want(l, &t->pw, &t->pw_on, 0);
	if (t->cw.fd >= 0)
		close(t->cw.fd);
	if (t->pw.fd >= 0)
		close(t->pw.fd);
	SSL_free(t->ssl);	/* and its BIOs */
	buf_free(&t->hello);
	buf_free(&t->cout);
	buf_free(&t->up);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		ts->list = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	ts->n--;
	loop_defer(l, free, t);
}

struct terms *
terms_new(struct daemon *d)
{
	struct terms *ts = xcalloc(1, sizeof(*ts));

	ts->d = d;
	return ts;
}

void
terms_free(struct terms *ts)
{
	if (ts == NULL)
		return;
	while (ts->list != NULL)
		term_end(ts->list, "failed", "stopped");
	ctxs_clear(ts);
	free(ts);
}

void
terms_ca_changed(struct terms *ts)
{
	if (ts != NULL)
		ctxs_clear(ts);
}

unsigned int
terms_open(const struct terms *ts)
{
	return ts != NULL ? ts->n : 0;
}
