/* Reading the shim's preamble (see common/preamble.h) off the start of a
 * connection.  Pure: no I/O, so that it is tested on its own. */
#ifndef LLMFB_DAEMON_PREAMBLE_H
#define LLMFB_DAEMON_PREAMBLE_H

#include <stdbool.h>
#include <stddef.h>

#include "shim_proto.h"

struct origin {
	char	host[254];	/* lower case; empty until CONNECT */
	int	port;
	bool	tls;
	bool	admit;	/* the shim asked to be told it is taken */
	unsigned long long sent_us;	/* the SENT stamp; 0: none */
};

enum preamble_state {
	PREAMBLE_MORE,		/* need more bytes to tell */
	PREAMBLE_DONE,		/* no further preamble line: HTTP follows */
	PREAMBLE_BAD,		/* a malformed or misplaced line */
};

/* Scan p[0..n) for preamble lines, filling o.  *used is set to the bytes
 * of the complete lines consumed (on MORE and DONE alike); the rest is to
 * be scanned again with more bytes (MORE) or is the start of HTTP (DONE). */
enum preamble_state preamble_scan(struct origin *o, const char *p, size_t n,
    size_t *used);

/* "http://host:port" or "https://host:port" into out, or "" when no
 * CONNECT line was seen. */
void origin_format(const struct origin *o, char *out, size_t outlen);

#endif
