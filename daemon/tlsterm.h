/* Terminating the TLS of a program the shim cannot virtualise, with the
 * local CA's leaf for the host, so that its call is served through the
 * ladder (ca: in the config; off by default).
 *
 * A redirected connection whose program speaks TLS of its own (an
 * OpenSSL linked in, GnuTLS, Go's, rustls) is handed here instead of to
 * the relay while the CA is up.  Its ClientHello is read whole and its
 * server name looked at before any TLS library sees a byte: a name that
 * is intercepted, that the preamble's CONNECT named, and that the CA can
 * vouch for is answered with that host's leaf (ALPN http/1.1); anything
 * else goes to the relay with every byte as it came, as without a CA.
 *
 * A terminated connection's plaintext is fed to the data socket's HTTP
 * server through a socketpair, as a virtual-TLS connection's would be:
 * the same preamble ("CONNECT host 443", "TLS"), the same caller, the
 * same call path.  A client that refuses the certificate (an alert, or
 * an end before any request once the handshake is done, which is how
 * Node and wget say it) is counted and recorded. */
#ifndef LLMFB_TLSTERM_H
#define LLMFB_TLSTERM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct caller;
struct daemon;
struct terms;

struct terms *terms_new(struct daemon *d);
void terms_free(struct terms *t);
/* The CA changed (reload, rotation): leaves are made afresh. */
void terms_ca_changed(struct terms *t);
unsigned int terms_open(const struct terms *t);

/* Take over fd (the client's, non-blocking; closed here or by the relay
 * it is handed to) for host:port, as relay_start() does: pending are the
 * bytes read of it (the ClientHello's start), out what is owed to it
 * before any TLS (the answer to the shim's ADMIT). */
void term_start(struct terms *t, int fd, const struct caller *who,
    const char *host, int port, const void *pending, size_t npending,
    const void *out, size_t nout);

/* The same for a connection the kernel redirected (kredir.c): no host
 * is known but from its ClientHello, which is served when it names an
 * intercepted host that resolves to o's address (or o is in the shim's
 * synthetic range); anything else is carried to o untouched. */
struct redirect_orig;
void term_start_kernel(struct terms *t, int fd, const struct caller *who,
    const struct redirect_orig *o);

#endif
