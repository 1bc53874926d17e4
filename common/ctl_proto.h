/* The control socket's protocol, shared by llmfbd and llmfbctl.
 *
 * A client connects, sends one request line, reads one reply, and the
 * daemon closes the connection:
 *
 *	request:  VERB [ARG ...] "\n"           (at most CTL_LINE_MAX bytes)
 *	reply:    "OK " LENGTH "\n" PAYLOAD      (PAYLOAD: JSON, LENGTH bytes)
 *	          "ERR " LENGTH "\n" MESSAGE     (MESSAGE: text, LENGTH bytes)
 *
 * Verbs: status, reload, version; trip TARGET and reset TARGET (its
 * circuit breaker, by hand: tripped, it stays open until reset); events
 * [N] (the latest N per-call records, default 20, at most 256).  Access:
 * the socket is mode 0600 and the daemon also checks the peer's uid (root
 * or its own) with SO_PEERCRED. */
#ifndef LLMFB_CTL_PROTO_H
#define LLMFB_CTL_PROTO_H

#define LLMFB_VERSION		"0.1.0"
#define CTL_LINE_MAX		4096
#define CTL_REPLY_MAX		(16u << 20)

#define CTL_VERB_STATUS		"status"
#define CTL_VERB_RELOAD		"reload"
#define CTL_VERB_VERSION	"version"
#define CTL_VERB_TRIP		"trip"
#define CTL_VERB_RESET		"reset"
#define CTL_VERB_EVENTS		"events"

#endif
