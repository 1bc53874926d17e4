/* A connection llmfb cannot serve, carried to its real origin untouched.
 *
 * The shim redirected a program's connect() to an intercepted host, but
 * the program then spoke TLS of its own (GnuTLS, an OpenSSL linked in,
 * Go's, rustls): its bytes are a ClientHello, not plaintext HTTP.  Rather
 * than break the program, llmfbd resolves the host for real (a pin in
 * upstream.connect_to first), connects, and copies bytes both ways until
 * both sides have ended: the program talks to its provider as it would
 * without the shim.  Each one is counted and recorded as unserved. */
#ifndef LLMFB_RELAY_H
#define LLMFB_RELAY_H

#include <stddef.h>

struct caller;
struct daemon;
struct relays;

struct relays *relays_new(struct daemon *d);
/* Close every relay (at exit). */
void relays_free(struct relays *r);
unsigned int relays_open(const struct relays *r);

/* Take over fd (the client's, non-blocking; the relay closes it) for
 * host:port.  pending: bytes already read from the client, to go up
 * first; out: bytes owed to the client, to go down first.  why is the
 * reason recorded ("tls-not-virtual").  Never fails: on error the client
 * is closed, as a failed connect would be. */
void relay_start(struct relays *r, int fd, const struct caller *who,
    const char *host, int port, const char *why, const void *pending,
    size_t npending, const void *out, size_t nout);
/* The same to a numeric address (a connection the kernel redirected,
 * whose destination is all that is known of it); host names it in the
 * record. */
void relay_start_addr(struct relays *r, int fd, const struct caller *who,
    const char *host, const char *addr, int port, const char *why,
    const void *pending, size_t npending);

#endif
