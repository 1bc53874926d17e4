/* The preamble: what the shim sends on a connection it redirected in
 * connect(), before any byte of the program's own.  Shared by the shim
 * (which writes it) and llmfbd (which reads it).
 *
 *	LLMFB/1 CONNECT <host> <port>\r\n	first, always
 *	LLMFB/1 TLS\r\n				when the program starts TLS
 *						(the session is virtual)
 *	LLMFB/1 SENT <us>\r\n			just before the program's
 *						first request on a TLS one:
 *						CLOCK_MONOTONIC in µs
 *	LLMFB/1 ADMIT\r\n			the shim asks whether llmfbd
 *						takes the connection; alone,
 *						it is a probe
 *
 * llmfbd answers ADMIT, at once, with "LLMFB/1 OK\r\n" when it takes the
 * connection.  Anything else (a 503 when the user or llmfbd is at its
 * limit, a close, no answer in time) means it does not, and the shim
 * makes the program's connection itself: fail open.  Only a shim that
 * asks gets an answer, so an older shim in a running program is served
 * as before.
 *
 * Then the program's HTTP/1.1, in plaintext.  The host is the name the
 * program resolved, the port the one it connected to; TLS says the
 * program meant https.  Connections that start with anything else (the
 * libcurl layer's, which name their origin in X-Llmfb-Origin and stamp
 * X-Llmfb-Sent) carry no preamble.  The stamps let llmfbd measure the
 * time from the shim handing a request over to llmfbd having it.  A preamble line never appears after the first HTTP byte. */
#ifndef LLMFB_SHIM_PROTO_H
#define LLMFB_SHIM_PROTO_H

#define PREAMBLE_MAGIC		"LLMFB/1 "
#define PREAMBLE_CONNECT	PREAMBLE_MAGIC "CONNECT"
#define PREAMBLE_TLS		PREAMBLE_MAGIC "TLS\r\n"
#define PREAMBLE_SENT		PREAMBLE_MAGIC "SENT"
#define PREAMBLE_ADMIT		PREAMBLE_MAGIC "ADMIT\r\n"
#define PREAMBLE_ADMITTED	PREAMBLE_MAGIC "OK\r\n"
/* The libcurl layer's stamp, a request header: the same clock. */
#define SENT_HEADER		"X-Llmfb-Sent"
/* The longest line: magic, verb, a 253-byte name, a port, CRLF. */
#define PREAMBLE_LINE_MAX	300

#endif
