/* The host's network as rtnetlink tells it: links, addresses and routes
 * (IPv4 and IPv6) kept in libnl-route caches that follow the kernel's
 * notifications, so that llmfbd can open a target's breaker the moment
 * the route to it goes away or its link goes down, instead of waiting for
 * connects to time out, and half-open it when the route comes back.
 *
 * Single-threaded: the daemon's loop watches netwatch_fd() and calls
 * netwatch_read(); nothing here blocks on anything but the kernel. */
#ifndef LLMFB_NETWATCH_H
#define LLMFB_NETWATCH_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct netwatch;
typedef void (*netwatch_cb)(void *arg);

/* Subscribe to link, address and route changes (IPv4 and IPv6) and load
 * the current state.  cb(arg) runs from netwatch_read() after a batch of
 * changes.  0, or -errno with why set to one sentence for an operator. */
int netwatch_open(struct netwatch **out, netwatch_cb cb, void *arg,
    char *why, size_t whylen);
/* The fd to watch for reading (non-blocking). */
int netwatch_fd(const struct netwatch *nw);
/* The fd is readable: take in everything waiting without blocking; call
 * cb once if anything changed.  Never fails loudly: an ENOBUFS overrun
 * (lost messages) resyncs the caches from the kernel, then calls cb. */
void netwatch_read(struct netwatch *nw);

/* why, when not reachable: "no route to 10.77.0.2", "link veth0 is down",
 * "link veth0 has no carrier", ... */
struct netpath {
	bool	 reachable;
	char	 dev[IF_NAMESIZE];	/* the route's link, or "" */
	char	 via[INET6_ADDRSTRLEN];	/* gateway, "" on-link */
	char	 why[96];
};
/* How the kernel routes to addr now (an RTM_GETROUTE query, as `ip route
 * get` does, so policy routing and the default route count), and whether
 * that route's output link is administratively up and running (IFF_UP and
 * IFF_RUNNING from the link cache).  A local or loopback destination is
 * reachable.  Returns 0 (out filled), or -errno when netlink itself fails
 * (not when unreachable: no route, and unreachable, blackhole or prohibit
 * routes, mean reachable=false). */
int netwatch_path(struct netwatch *nw, const struct sockaddr *addr,
    struct netpath *out);

struct netlink_view {
	char	 name[IF_NAMESIZE];
	int	 ifindex;
	bool	 up;		/* IFF_UP */
	bool	 carrier;	/* IFF_RUNNING (lower layer up) */
	char	 operstate[16];	/* "up", "lowerlayerdown", ... */
	unsigned naddrs;	/* addresses on it */
};
/* The links as the caches see them, for status; returns how many were
 * written (up to max). */
size_t netwatch_links(struct netwatch *nw, struct netlink_view *out,
    size_t max);
/* Routes in the cache (all tables), for status. */
size_t netwatch_nroutes(struct netwatch *nw);
void netwatch_close(struct netwatch *nw);	/* NULL is fine */

#endif
