/* Reading the server name (SNI) off a TLS ClientHello, before any TLS
 * library sees it: llmfbd decides from it whether it terminates the
 * connection's TLS or carries it untouched, and a connection carried
 * untouched must get every byte as it came.  Pure: no I/O. */
#ifndef LLMFB_TLSHELLO_H
#define LLMFB_TLSHELLO_H

#include <stddef.h>

/* The most of a connection's start read to find a whole ClientHello (one
 * may span records; 16 KiB each). */
#define TLS_HELLO_MAX	(64 * 1024)

enum tls_hello {
	TLS_HELLO_MORE,		/* not whole yet */
	TLS_HELLO_OK,		/* whole: sni is set ("" when none) */
	TLS_HELLO_BAD,		/* not a ClientHello */
};

/* Scan p[0..n), the first bytes of a connection, for a ClientHello and
 * its server name (host_name, lower case, into sni[snilen]; a name that
 * does not fit or is not a host name counts as none). */
enum tls_hello tls_hello_sni(const unsigned char *p, size_t n, char *sni,
    size_t snilen);

#endif
