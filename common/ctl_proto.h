/* The control socket's protocol, shared by llmfbd and llmfbctl.
 *
 * A client connects and sends one request line.  For every verb but
 * follow the daemon sends one reply and closes the connection:
 *
 *	request:  VERB [ARG ...] "\n"           (at most CTL_LINE_MAX bytes)
 *	reply:    "OK " LENGTH "\n" PAYLOAD      (PAYLOAD: LENGTH bytes)
 *	          "ERR " LENGTH "\n" MESSAGE     (MESSAGE: text, LENGTH bytes)
 *
 * PAYLOAD is JSON, except for metrics (Prometheus text exposition).
 *
 * Verbs:
 *	status			the daemon, targets, routes, callers, faults
 *	version			{"version": ...}
 *	reload			load the config file again; ERR with its
 *				file:line:col error keeps the running one
 *	metrics			the Prometheus metrics, as text
 *	trip TARGET		open its breaker until reset
 *	reset TARGET		close it
 *	drain TARGET		no new calls go to it (calls on it finish)
 *	undrain TARGET
 *	events [N] [FILTER...]	the latest N (1..256, default 20) per-call
 *				records that pass the filters, oldest first:
 *				{"total": ..., "events": [...]}
 *	follow [FILTER...]	a subscription: "OK -\n", then each call's
 *				record, one JSON object per line, as calls
 *				end, until the client closes.  A follower
 *				more than CTL_FOLLOW_MAX bytes behind is
 *				cut off (the connection closes).
 *	inject TARGET FAULT [for=SECONDS] [route=ROUTE] [caller=PROGRAM]
 *				make TARGET fail on purpose for a while
 *				(default 60 s, at most a day), for one route,
 *				one program, or every call.  FAULT is
 *				status=CODE (it answers CODE), delay=MS (its
 *				answer starts MS later), cut=BYTES (its
 *				answer breaks off after BYTES) or refusal (it
 *				refuses).  {"id": N, ...}
 *	uninject ID|all		end faults before their time
 *	bypass			programs seen talking TLS to an intercepted
 *				host without llmfb (the eBPF bypass watch):
 *				{"watch": {...}, "programs": [{"pid", "exe",
 *				"host", "calls", "last_ms", ...}]}
 *
 * FILTER is route=NAME, target=NAME (tried or served), class=NAME (an
 * attempt failed or was skipped with this class or kind: technical,
 * business, policy, latency, ...) or caller=PROGRAM (its command name,
 * executable path or base name, systemd unit, or pid).
 *
 * Access: root, the daemon's own user, and members of the config's
 * control_group.  The socket's mode says the same (0600, or 0660 and the
 * group), and the daemon checks the peer with SO_PEERCRED and
 * SO_PEERGROUPS, so a loosened mode opens nothing. */
#ifndef LLMFB_CTL_PROTO_H
#define LLMFB_CTL_PROTO_H

#define LLMFB_VERSION		"0.1.0"
#define CTL_LINE_MAX		4096
#define CTL_REPLY_MAX		(16u << 20)
#define CTL_FOLLOW_MAX		(1u << 20)

#define CTL_VERB_STATUS		"status"
#define CTL_VERB_RELOAD		"reload"
#define CTL_VERB_VERSION	"version"
#define CTL_VERB_METRICS	"metrics"
#define CTL_VERB_TRIP		"trip"
#define CTL_VERB_RESET		"reset"
#define CTL_VERB_DRAIN		"drain"
#define CTL_VERB_UNDRAIN	"undrain"
#define CTL_VERB_EVENTS		"events"
#define CTL_VERB_FOLLOW		"follow"
#define CTL_VERB_INJECT		"inject"
#define CTL_VERB_UNINJECT	"uninject"
#define CTL_VERB_BYPASS		"bypass"
/* The first line of a follow reply. */
#define CTL_FOLLOW_OK		"OK -\n"

#endif
