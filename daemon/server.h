/* The data socket: an HTTP/1.1 server on a Unix socket, parsed with
 * http-parser.  Keep-alive, Content-Length and chunked bodies, Expect:
 * 100-continue, size caps; requests on one connection are answered in
 * order.  It knows nothing of LLMs: each complete request is handed to
 * the handlers the daemon registers (struct server_ops), which answer
 * through the conn_respond_* functions. */
#ifndef LLMFB_SERVER_H
#define LLMFB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "loop.h"
#include "util.h"

struct daemon;
struct conn;
struct call;
struct caller;

struct header {
	char	*name;
	char	*value;
};

struct http_req {
	struct http_req	*next;		/* queue on the connection */
	const char	*method;	/* static string from http-parser */
	int		 method_id;
	char		*target;	/* request target as sent */
	char		*path;		/* target without the query */
	char		*query;		/* after '?', or NULL */
	struct header	*h;
	size_t		 nh, caph;
	struct buf	 body;
	int		 http_minor;
	bool		 keep_alive;
	size_t		 header_bytes;
};

/* Bind a listening Unix stream socket at path (replacing a stale one),
 * with the given mode; *ret_id is the socket file made.  Returns the fd
 * or -errno. */
int unix_listen(const char *path, unsigned int mode, struct file_id *ret_id);
/* The same, or handed_fd (>= 0) when systemd handed one over: made
 * non-blocking and used as it is, *ret_id zeroed (systemd's file, never
 * ours to remove).  Returns the fd or -errno. */
int unix_listener(const char *path, unsigned int mode, int handed_fd,
    struct file_id *ret_id);
/* Close it, and unlink path if it is still the file id names: a newer
 * llmfbd may have bound its own socket there meanwhile. */
void unix_listener_close(int fd, const char *path, const struct file_id *id);

/* A listener out of file descriptors: accept() fails at once while a
 * client waits, and a level-triggered listener would wake the loop for
 * ever.  listener_pause() stops watching it for LISTENER_PAUSE_MS, and
 * says why (as "WHAT: accept: ...", errno's) at most every 10 s. */
struct listener_pause {
	struct timer	 t;
	struct loop	*l;
	struct watcher	*w;
	uint64_t	 said_ms;	/* when it was last said; 0: never */
};
#define LISTENER_PAUSE_MS	100
void listener_pause_init(struct listener_pause *p, struct loop *l,
    struct watcher *w);
void listener_pause(struct listener_pause *p, const char *what);
void listener_pause_cancel(struct listener_pause *p);

/* What the server hands on, chosen once by whoever starts it (the
 * daemon): it names none of these modules itself. */
struct server_ops {
	/* A request is whole: begin answering it (its call).  NULL when
	 * it was answered at once. */
	struct call	*(*start)(struct daemon *d, struct conn *c,
			    struct http_req *r);
	/* The call's client went away / its output queue drained. */
	void		 (*gone)(struct call *call);
	void		 (*drained)(struct call *call);
	/* A TLS connection to an intercepted host, to be served or
	 * carried untouched elsewhere (relay.c, tlsterm.c): pending are
	 * the bytes read of it, out what is owed to it. */
	void		 (*carry)(struct daemon *d, int fd,
			    const struct caller *who, const char *host,
			    int port, const void *pending, size_t npending,
			    const void *out, size_t nout);
	/* How many carried connections are open (they count against
	 * max_clients). */
	unsigned int	 (*carried)(struct daemon *d);
	/* The last connection closed while stopping. */
	void		 (*all_closed)(struct daemon *d);
};

/* The data socket at path: bound here (mode), or fd >= 0, a listening
 * socket systemd handed over, which is never unlinked. */
struct server *server_new(struct daemon *d, const struct server_ops *ops,
    const char *path, unsigned int mode, int fd);
void server_free(struct server *s);
/* Accept no more, close idle connections, and end each of the others
 * after its current answer; ops->all_closed() is called when the last
 * closes.  Returns true when none is left already. */
bool server_stop(struct server *s);
bool server_handed(const struct server *s);
unsigned int server_clients(const struct server *s);
/* Connections accepted since start (the shim's probes included). */
uint64_t server_accepted(const struct server *s);
/* Connections refused over limits.max_clients, max_clients_per_user or
 * the file limit; and those closed by request_timeout or idle_timeout
 * with a request unfinished. */
uint64_t server_refused(const struct server *s);
/* A relay that took a connection over ends: its user's place (held for
 * max_clients_per_user) is free again. */
void server_user_done(struct server *s, uid_t uid);
uint64_t server_timed_out(const struct server *s);
/* A connection the kernel redirected (not accepted here) holds a place
 * of uid's, given back by server_user_done(); over no limit, since
 * refusing it would break the program. */
void server_user_hold(struct server *s, uid_t uid);
/* Serve fd (one end of a socketpair, non-blocking) as a data-socket
 * connection of uid's, its caller who: the plaintext of a connection
 * whose TLS llmfbd terminated.  It holds no place of uid's (the
 * terminator holds the one its connection took).  0, or -1. */
int server_adopt(struct server *s, int fd, uid_t uid,
    const struct caller *who);

/* The value of a request header (first of that name), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);
void http_req_free(struct http_req *r);

/* Who is at the other end (SO_PEERCRED and /proc), read on first use. */
const struct caller *conn_caller(struct conn *c);
/* "https://host:port" from the shim's preamble (a redirected connect()),
 * or NULL when the connection carried none. */
const char *conn_origin(const struct conn *c);
/* The shim's SENT stamp for the connection's first request (once; then
 * 0).  CLOCK_MONOTONIC µs. */
uint64_t conn_take_sent(struct conn *c);
/* Start the response.  headers holds "Name: value\r\n" lines (may be
 * NULL).  content_length < 0 means the body is streamed (chunked).
 * Returns 0 or -EPIPE when the client is gone. */
int conn_respond_head(struct conn *c, int status, const struct buf *headers,
    long long content_length);
int conn_respond_body(struct conn *c, const void *p, size_t n);
/* The response is complete; the connection moves on to its next request
 * (or closes) once the call lets go of it. */
void conn_respond_end(struct conn *c);
/* Give up on the response mid-way: the client sees a truncated reply
 * (never a silent end), and the connection is closed. */
void conn_abort(struct conn *c);
/* Bytes queued for the client and not yet written: for backpressure. */
size_t conn_pending(const struct conn *c);
/* A whole response in one go, with Content-Length. */
int conn_respond_full(struct conn *c, int status, const struct buf *headers,
    const char *ctype, const void *body, size_t len);

#define CONN_HIGH_WATER	(256u * 1024)

#endif
