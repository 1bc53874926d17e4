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

struct xfer_ops {
	/* The final response's status line and headers are complete
	 * (optional: x->status and x->headers are there either way). */
	void	(*on_headers)(struct xfer *x);
	/* Body bytes: return n (taken), XFER_PAUSE, or 0 to abort. */
	size_t	(*on_body)(struct xfer *x, const char *p, size_t n);
	/* The transfer ended (rc CURLE_OK or an error).  The callee must
	 * xfer_free() it, now or later. */
	void	(*on_done)(struct xfer *x, CURLcode rc);
};

struct xfer {
	CURL			*easy;
	struct upstream		*up;
	const struct xfer_ops	*ops;
	void			*arg;
	long			 status;
	struct buf		 headers;	/* "Name: value\r\n" lines */
	struct curl_slist	*req_headers;	/* freed with the xfer */
	bool			 running;
	bool			 paused;
	/* The body as decoded (a gzip answer grows): more than body_max
	 * bytes (0: no cap) ends the transfer with CURLE_WRITE_ERROR and
	 * too_big set. */
	uint64_t		 body_max;
	uint64_t		 body_bytes;
	bool			 too_big;
	char			 errbuf[CURL_ERROR_SIZE];
};

struct upstream *upstream_new(struct loop *l);
void upstream_free(struct upstream *up);

/* A new transfer with its easy handle ready for the caller's options.
 * NULL if libcurl cannot make one. */
struct xfer *xfer_new(struct upstream *up, const struct xfer_ops *ops,
    void *arg);
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
