/* Prometheus metrics: the daemon's counters in the text exposition
 * format (0.0.4), for the control socket's metrics verb and for an
 * optional HTTP listener on a loopback address.
 *
 * Only names and numbers go out: targets, routes, outcomes, failure
 * kinds.  Never a key, a header or a prompt. */
#ifndef LLMFB_METRICS_H
#define LLMFB_METRICS_H

struct daemon;
struct buf;
struct metrics_http;

/* The whole exposition, appended to out.  Returns 0, or -1 when out
 * is full; out is then left as it was. */
int metrics_render(struct daemon *d, struct buf *out);

/* Serve GET /metrics on addr (an IPv4 or IPv6 literal) and port, on
 * d->loop.  Returns NULL, having logged why, on error. */
struct metrics_http *metrics_http_new(struct daemon *d, const char *addr,
    int port);
/* Close the listener and its connections and free them at once: call
 * it once the loop has stopped, or from loop_defer() work, never from
 * a watcher's callback (the same batch may still hold their events). */
void metrics_http_free(struct metrics_http *m);

#endif
