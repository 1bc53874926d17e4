/* One caller's request from arrival to its answer: origin, route, the
 * ladder walked over upstream attempts, the answer held until its first
 * byte and then streamed, or the safe failure. */
#ifndef LLMFB_CALL_H
#define LLMFB_CALL_H

struct daemon;
struct conn;
struct http_req;
struct call;

/* Start serving r on c.  Returns the call, or NULL when the request was
 * answered at once (the connection has already moved on). */
struct call *call_start(struct daemon *d, struct conn *c,
    struct http_req *r);
/* The client went away; safe to call from anywhere. */
void call_client_gone(struct call *call);
/* The client's output queue has drained: resume a paused upstream. */
void call_client_drained(struct call *call);

#endif
