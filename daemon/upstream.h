/* Upstream HTTP(S) over libcurl's multi_socket interface, driven by the
 * daemon's event loop.  One multi handle holds the connection pool (keep-
 * alive, HTTP/2 multiplexing where the provider offers it); DNS and TLS
 * sessions are shared.  A transfer reports its final response's status
 * and headers, its body as it arrives, and its end. */
#ifndef LLMFB_UPSTREAM_H
#define LLMFB_UPSTREAM_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct loop;
struct upstream;
struct xfer;

/* Returned by on_body to ask for the data again later (backpressure). */
#define XFER_PAUSE	CURL_WRITEFUNC_PAUSE

/* How a transfer ended, in no library's words. */
enum xfer_end {
	XE_OK,
	XE_CONNECT,		/* no name, no connection */
	XE_TIMEOUT_CONNECT,	/* timed out before the request went */
	XE_TIMEOUT_TOTAL,	/* ... after it went */
	XE_TLS,			/* the handshake or the certificate */
	XE_BROKEN,		/* anything else: cut, refused, aborted */
};

/* What to send: everything an attempt sets, so that no module but this
 * one knows the library. */
struct xfer_request {
	const char	*url;
	const char	*method;	/* "GET" with no body, "HEAD", else
					 * body is sent */
	const char	*body;
	size_t		 len;
	const struct buf *headers;	/* "Name: value\r\n" lines */
	uint64_t	 connect_timeout_ms;
	uint64_t	 timeout_ms;	/* 0: none */
	const char	*ca_file;	/* NULL: the system's */
	char *const	*connect_to;	/* "HOST:PORT:CONNECT-TO-HOST:PORT" */
	size_t		 nconnect_to;
};

struct xfer_ops {
	/* The final response's status line and headers are complete
	 * (optional: x->status and x->headers are there either way). */
	void	(*on_headers)(struct xfer *x);
	/* Body bytes: return n (taken), XFER_PAUSE, or 0 to abort. */
	size_t	(*on_body)(struct xfer *x, const char *p, size_t n);
	/* The transfer ended (XE_OK or why not).  The callee must
	 * xfer_free() it, now or later. */
	void	(*on_done)(struct xfer *x, enum xfer_end e);
};

struct xfer {
	CURL			*easy;
	struct upstream		*up;
	const struct xfer_ops	*ops;
	void			*arg;
	long			 status;
	struct buf		 headers;	/* "Name: value\r\n" lines */
	struct curl_slist	*req_headers;	/* freed with the xfer */
	struct curl_slist	*connect_to;	/* ... as this is */
	bool			 running;
	bool			 paused;
	/* The body as decoded (a gzip answer grows): more than body_max
	 * bytes (0: no cap) ends the transfer with CURLE_WRITE_ERROR and
	 * too_big set. */
	uint64_t		 body_max;
	uint64_t		 body_bytes;
	bool			 too_big;
	char			 errbuf[CURL_ERROR_SIZE];
	CURLcode		 rc;		/* how it ended, for xfer_error */
};

struct upstream *upstream_new(struct loop *l);
void upstream_free(struct upstream *up);

/* A new transfer with its easy handle ready for the caller's options.
 * NULL if libcurl cannot make one. */
struct xfer *xfer_new(struct upstream *up, const struct xfer_ops *ops,
    void *arg);
/* Set what to send; 0 or -ENOMEM. */
int xfer_set(struct xfer *x, const struct xfer_request *rq);
/* Its whole timeout, from its start, changed (0: none). */
void xfer_set_timeout(struct xfer *x, uint64_t ms);
/* Seconds to its connection (TLS included), 0 when it was kept. */
double xfer_connect_s(struct xfer *x);
/* Why it ended, in words, for logs. */
const char *xfer_error(const struct xfer *x, enum xfer_end e);
/* Start it; 0 or -EIO. */
int xfer_start(struct xfer *x);
/* Stop (if running) and free.  Never from inside an xfer_ops callback
 * other than on_done. */
void xfer_free(struct xfer *x);
/* Give every new upstream socket a cookie before it connects (for the
 * eBPF probes), or stop. */
void upstream_cookies(struct upstream *up, bool on);
/* Resume a transfer whose on_body returned XFER_PAUSE. */
void xfer_resume(struct xfer *x);

#endif
