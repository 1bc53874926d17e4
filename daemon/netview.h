/* llmfbd's view of the network, from the kernel: the eBPF probes on its
 * upstream sockets (network time beside provider time, per attempt), the
 * bypass watch (programs that reach LLM hosts without llmfb), and the
 * rtnetlink watch (a target whose route or link is gone has its breaker
 * opened at once, and half-opened when the way is back).  Every part is
 * optional at run time; status says which run and why the others do
 * not. */
#ifndef LLMFB_NETVIEW_H
#define LLMFB_NETVIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ebpf.h"

struct config;
struct daemon;
struct netview;
struct tstat;
struct xfer;

/* One attempt's network figures, in µs, for its record. */
struct net_rec {
	bool		 have;		/* the probes saw its answer's head */
	bool		 new_conn;	/* it opened its connection */
	uint32_t	 connect_us;	/* TCP handshake, when new_conn */
	uint32_t	 srtt_us;
	uint32_t	 wait_us;	/* last byte out to first byte in */
	uint32_t	 network_us;	/* srtt + connect_us */
	uint32_t	 provider_us;	/* wait_us - srtt */
	uint32_t	 retrans;
};

/* What an attempt holds between its answer's head and its end. */
struct net_call {
	bool		 have;
	uint64_t	 cookie;
	struct net_sample head;
};

/* Start what the config asks for.  With `ebpf: on`, a probe that cannot
 * load fails the start: returns -1 with the reason in why.  Otherwise 0,
 * whatever could not start being told in status and the log. */
int netview_start(struct daemon *d, const struct config *cfg, char *why,
    size_t whylen);
/* A new config: new intercepted hosts for the bypass watch, parts turned
 * on or off. */
void netview_reload(struct netview *nv, const struct config *cfg);
void netview_free(struct netview *nv);

/* The answer's head is in: read its socket's timing now.  Only from the
 * transfer's header callback (the socket is the one just read from). */
void netview_head(struct netview *nv, struct net_call *nc);
/* The attempt on target ts ended: its figures (out), its target's
 * measures, and the address it reached, for the route watch. */
void netview_attempt(struct netview *nv, const struct xfer *x,
    const struct net_call *nc, struct tstat *ts, struct net_rec *out);

json_t *netview_status_ebpf(const struct netview *nv);
json_t *netview_status_network(const struct netview *nv);
/* llmfbctl bypass: the programs seen, most recent first. */
json_t *netview_bypass(struct netview *nv);

#endif
