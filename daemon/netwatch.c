/* Links, addresses and routes over rtnetlink, with libnl-route's cache
 * manager: one non-blocking socket subscribed to the link, address and
 * route groups keeps three caches current, and a second, ordinary socket
 * asks the kernel how it routes to an address (RTM_GETROUTE, as `ip route
 * get`), so policy rules, metrics and the default route all count without
 * redoing the kernel's lookup here.
 *
 * Two things the notifications do not say: messages lost to a full
 * socket buffer (ENOBUFS), and the IPv4 routes the kernel drops without
 * a word when a link goes down or away or loses its last IPv4 address.
 * Both are mended by resyncing from a dump on the second socket; the
 * kernel answers a dump at once, so that never waits on the network. */
#include <net/if.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rtnl.h>

#include "log.h"
#include "netwatch.h"

/* Room for a burst (a link going down takes many routes with it); the
 * kernel caps it at net.core.rmem_max. */
#define NETWATCH_RCVBUF		(1024 * 1024)
/* Reads of the event socket in one netwatch_read: an overrun ends a read
 * early, and what came after it is still queued. */
#define NETWATCH_ROUNDS		8
/* The kernel answers a query within the send; this only bounds a bug. */
#define NETWATCH_QUERY_SEC	2
/* Datagrams to look through for a query's answer. */
#define NETWATCH_QUERY_READS	8

struct netwatch {
	struct nl_sock	*msk;		/* the manager's: events */
	struct nl_sock	*qsk;		/* queries and resyncs */
	struct nl_cache_mngr *mngr;
	struct nl_cache	*links;
	struct nl_cache	*addrs;
	struct nl_cache	*routes;
	netwatch_cb	 cb;
	void		*arg;
	bool		 changed;	/* in this batch */
	bool		 lost;		/* events lost: resync all */
	bool		 routes_stale;	/* routes dropped silently */
};

/* libnl's errors as errno values, for the callers of this module. */
static int
nle_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case NLE_INTR:
	case NLE_DUMP_INTR:
		return EINTR;
	case NLE_BAD_SOCK:
		return EBADF;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_EXIST:
		return EEXIST;
	case NLE_INVAL:
		return EINVAL;
	case NLE_RANGE:
		return ERANGE;
	case NLE_MSGSIZE:
		return EMSGSIZE;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_NOADDR:
		return EADDRNOTAVAIL;
	case NLE_BUSY:
		return EBUSY;
	case NLE_PROTO_MISMATCH:
		return EPROTONOSUPPORT;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_PERM:
		return EPERM;
	case NLE_NODEV:
		return ENODEV;
	default:
		return EIO;
	}
}

static const char *
action_name(int action)
{
	switch (action) {
	case NL_ACT_NEW:
		return "new";
	case NL_ACT_DEL:
		return "gone";
	default:
		return "changed";
	}
}

/* The kernel also announces a link per address family (AF_INET6, with
 * IPv6's state of it; AF_BRIDGE for bridge ports).  libnl keeps each as
 * an object of its own, which no dump returns and no deletion removes,
 * and which keeps the flags of when it was sent: only the AF_UNSPEC one
 * is the link. */
static bool
is_link(struct nl_object *o)
{
	return rtnl_link_get_family((struct rtnl_link *)o) == AF_UNSPEC;
}

/* rtnl_link_get() would take whichever family comes first. */
static struct rtnl_link *
link_by_index(struct netwatch *nw, int ifindex)
{
	struct nl_object *o;

	for (o = nl_cache_get_first(nw->links); o != NULL;
	    o = nl_cache_get_next(o))
		if (is_link(o) &&
		    rtnl_link_get_ifindex((struct rtnl_link *)o) == ifindex)
			return (struct rtnl_link *)o;
	return NULL;
}

static void
prune_links(struct netwatch *nw)
{
	struct nl_object *o, *next;

	for (o = nl_cache_get_first(nw->links); o != NULL; o = next) {
		next = nl_cache_get_next(o);
		if (!is_link(o))
			nl_cache_remove(o);
	}
}

static const char *
link_name(struct netwatch *nw, int ifindex, char *buf, size_t len)
{
	struct rtnl_link *l = link_by_index(nw, ifindex);

	if (l != NULL && rtnl_link_get_name(l) != NULL)
		snprintf(buf, len, "%s", rtnl_link_get_name(l));
	else
		snprintf(buf, len, "if%d", ifindex);
	return buf;
}

/* One line per change, at debug level: formatting costs nothing else. */
static void
log_change(struct netwatch *nw, struct nl_cache *cache,
    struct nl_object *obj, int action)
{
	char a[INET6_ADDRSTRLEN + 8], b[IF_NAMESIZE + 8], c[32];
	unsigned flags;

	if (log_verbosity < LOG_LVL_DEBUG)
		return;
	if (cache == nw->links) {
		struct rtnl_link *l = (struct rtnl_link *)obj;

		flags = rtnl_link_get_flags(l);
		log_debug("netwatch: link %s %s: %s, %s, operstate %s",
		    rtnl_link_get_name(l) ? rtnl_link_get_name(l) : "?",
		    action_name(action), flags & IFF_UP ? "up" : "down",
		    flags & IFF_RUNNING ? "running" : "not running",
		    rtnl_link_operstate2str(rtnl_link_get_operstate(l), c,
		    sizeof(c)));
	} else if (cache == nw->addrs) {
		struct rtnl_addr *ad = (struct rtnl_addr *)obj;

		log_debug("netwatch: address %s on %s %s",
		    nl_addr2str(rtnl_addr_get_local(ad), a, sizeof(a)),
		    link_name(nw, rtnl_addr_get_ifindex(ad), b, sizeof(b)),
		    action_name(action));
	} else {
		struct rtnl_route *r = (struct rtnl_route *)obj;

		log_debug("netwatch: %s route %s table %u %s",
		    nl_rtntype2str(rtnl_route_get_type(r), c, sizeof(c)),
		    nl_addr2str(rtnl_route_get_dst(r), a, sizeof(a)),
		    (unsigned)rtnl_route_get_table(r), action_name(action));
	}
}

/* The cache manager's change callback, once per object changed. */
static void
on_change(struct nl_cache *cache, struct nl_object *obj, int action,
    void *arg)
{
	struct netwatch *nw = arg;

	if (cache == nw->links && !is_link(obj))
		return;		/* pruned after the read */
	nw->changed = true;
	log_change(nw, cache, obj, action);
	/* IPv4 routes through a link that goes down or away, or loses its
	 * last IPv4 address, are flushed without a notification. */
	if (cache == nw->links && (action == NL_ACT_DEL ||
	    (action == NL_ACT_CHANGE &&
	    !(rtnl_link_get_flags((struct rtnl_link *)obj) & IFF_UP))))
		nw->routes_stale = true;
	if (cache == nw->addrs && action == NL_ACT_DEL &&
	    rtnl_addr_get_family((struct rtnl_addr *)obj) == AF_INET)
		nw->routes_stale = true;
}

/* Throw away what a query that gave up on left on the query socket, so
 * that a dump reads only its own answer. */
static void
drain_queries(struct netwatch *nw)
{
	char buf[4096];
	int fd = nl_socket_get_fd(nw->qsk);

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

static bool
resync(struct netwatch *nw, struct nl_cache *cache, const char *what)
{
	int err;

	if ((err = nl_cache_resync(nw->qsk, cache, on_change, nw)) < 0) {
		log_warnx("netwatch: cannot reload the %s: %s", what,
		    nl_geterror(err));
		return false;
	}
	log_debug("netwatch: reloaded the %s (%d)", what,
	    nl_cache_nitems(cache));
	return true;
}

void
netwatch_read(struct netwatch *nw)
{
	int err, i;

	for (i = 0; i < NETWATCH_ROUNDS; i++) {
		if ((err = nl_cache_mngr_data_ready(nw->mngr)) >= 0)
			break;
		/* libnl reports ENOBUFS as NLE_NOMEM; any other error
		 * lost a message too. */
		if (err == -NLE_NOMEM)
			log_info("netwatch: notifications were lost (socket "
			    "buffer overrun); reloading the network state");
		else
			log_warnx("netwatch: reading notifications: %s; "
			    "reloading the network state", nl_geterror(err));
		nw->lost = true;
	}
	prune_links(nw);
	if (nw->lost || nw->routes_stale)
		drain_queries(nw);
	if (nw->lost) {
		/* The links first: the others are named after them. */
		if (resync(nw, nw->links, "links") &&
		    resync(nw, nw->addrs, "addresses") &&
		    resync(nw, nw->routes, "routes")) {
			nw->lost = false;
			nw->routes_stale = false;
		}
		nw->changed = true;
	} else if (nw->routes_stale) {
		if (resync(nw, nw->routes, "routes"))
			nw->routes_stale = false;
	}
	if (nw->changed) {
		nw->changed = false;
		if (nw->cb != NULL)
			nw->cb(nw->arg);
	}
}

int
netwatch_fd(const struct netwatch *nw)
{
	return nl_cache_mngr_get_fd(nw->mngr);
}

static int
set_cloexec(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -errno;
	return 0;
}

static int
open_fail_nl(char *why, size_t whylen, const char *what, int err)
{
	snprintf(why, whylen, "%s: %s", what, nl_geterror(err));
	return -nle_errno(err);
}

static int
open_fail_sys(char *why, size_t whylen, const char *what, int err)
{
	snprintf(why, whylen, "%s: %s", what, strerror(-err));
	return err;
}

/* Two spare fds, copies of fd. */
static int
hold_fds(int fd, int held[2])
{
	int err;

	if ((held[0] = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -errno;
	if ((held[1] = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		err = -errno;
		close(held[0]);
		return err;
	}
	return 0;
}

static int
open_socks(struct netwatch *nw, char *why, size_t whylen)
{
	struct timeval tv = { .tv_sec = NETWATCH_QUERY_SEC };
	int err, fd, fl, held[2];

	if ((nw->qsk = nl_socket_alloc()) == NULL ||
	    (nw->msk = nl_socket_alloc()) == NULL)
		return open_fail_sys(why, whylen,
		    "cannot allocate a netlink socket", -ENOMEM);
	errno = 0;
	if ((err = nl_connect(nw->qsk, NETLINK_ROUTE)) < 0) {
		/* libnl says "Unspecific failure" for EMFILE and others. */
		if (nle_errno(err) == EIO && errno != 0)
			return open_fail_sys(why, whylen,
			    "cannot open an rtnetlink socket", -errno);
		return open_fail_nl(why, whylen,
		    "cannot open an rtnetlink socket", err);
	}
	/* One answer per query: no acknowledgement after it. */
	nl_socket_disable_auto_ack(nw->qsk);
	fd = nl_socket_get_fd(nw->qsk);
	if ((err = set_cloexec(fd)) < 0)
		return open_fail_sys(why, whylen,
		    "cannot set up an rtnetlink socket", err);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		return open_fail_sys(why, whylen,
		    "cannot set up an rtnetlink socket", -errno);

	/* nl_cache_mngr_alloc opens two sockets, and when the second fails
	 * libnl 3.7 frees it twice and aborts: have two fds ready for it
	 * (nothing else runs in between to take them). */
	if ((err = hold_fds(fd, held)) < 0)
		return open_fail_sys(why, whylen,
		    "cannot open the rtnetlink event socket", err);
	close(held[0]);
	close(held[1]);
	if ((err = nl_cache_mngr_alloc(nw->msk, NETLINK_ROUTE,
	    NL_AUTO_PROVIDE, &nw->mngr)) < 0)
		return open_fail_nl(why, whylen,
		    "cannot subscribe to network changes over rtnetlink", err);
	if ((err = nl_socket_set_buffer_size(nw->msk, NETWATCH_RCVBUF, 0)) < 0)
		return open_fail_nl(why, whylen,
		    "cannot size the rtnetlink event socket", err);
	fd = nl_cache_mngr_get_fd(nw->mngr);
	if ((err = set_cloexec(fd)) < 0)
		return open_fail_sys(why, whylen,
		    "cannot set up the rtnetlink event socket", err);
	/* libnl makes it non-blocking; netwatch_read depends on that. */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1))
		return open_fail_sys(why, whylen,
		    "cannot make the rtnetlink event socket non-blocking",
		    -errno);
	return 0;
}

static int
add_cache(struct netwatch *nw, const char *type, const char *what,
    struct nl_cache **cache, char *why, size_t whylen)
{
	char msg[64];
	int err;

	if ((err = nl_cache_mngr_add(nw->mngr, type, on_change, nw,
	    cache)) < 0) {
		snprintf(msg, sizeof(msg), "cannot load the %s from the kernel",
		    what);
		return open_fail_nl(why, whylen, msg, err);
	}
	return 0;
}

int
netwatch_open(struct netwatch **out, netwatch_cb cb, void *arg, char *why,
    size_t whylen)
{
	struct netwatch *nw;
	int err;

	*out = NULL;
	/* libnl's debugging goes to stderr; the daemon logs its own. */
	nl_debug = 0;
	if ((nw = calloc(1, sizeof(*nw))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	nw->cb = cb;
	nw->arg = arg;
	/* The links first: addresses and routes are named after them. */
	if ((err = open_socks(nw, why, whylen)) < 0 ||
	    (err = add_cache(nw, "route/link", "links", &nw->links,
	    why, whylen)) < 0 ||
	    (err = add_cache(nw, "route/addr", "addresses", &nw->addrs,
	    why, whylen)) < 0 ||
	    (err = add_cache(nw, "route/route", "routes", &nw->routes,
	    why, whylen)) < 0) {
		netwatch_close(nw);
		return err;
	}
	log_debug("netwatch: %d links, %d addresses, %d routes",
	    nl_cache_nitems(nw->links), nl_cache_nitems(nw->addrs),
	    nl_cache_nitems(nw->routes));
	*out = nw;
	return 0;
}

void
netwatch_close(struct netwatch *nw)
{
	if (nw == NULL)
		return;
	/* Frees (and unprovides) the caches; closes but keeps msk. */
	nl_cache_mngr_free(nw->mngr);
	nl_socket_free(nw->msk);
	nl_socket_free(nw->qsk);
	free(nw);
}

/* Why the kernel found no usable route, from its error. */
static bool
unroutable(int err, const char *dst, struct netpath *out)
{
	switch (err) {
	case ENETUNREACH:
		snprintf(out->why, sizeof(out->why), "no route to %s", dst);
		return true;
	case EHOSTUNREACH:
		snprintf(out->why, sizeof(out->why),
		    "the route to %s is unreachable", dst);
		return true;
	case EACCES:
	case EPERM:
		snprintf(out->why, sizeof(out->why),
		    "the route to %s is prohibited", dst);
		return true;
	case EINVAL:	/* what the kernel says of a blackhole */
		snprintf(out->why, sizeof(out->why),
		    "the route to %s is a blackhole", dst);
		return true;
	case ENODEV:	/* a scope id naming no link */
		snprintf(out->why, sizeof(out->why), "no link for %s", dst);
		return true;
	default:
		return false;
	}
}

/* The output link's state decides: up, and running (carrier, and not
 * dormant). */
static void
judge_link(struct netwatch *nw, int oif, struct netpath *out)
{
	struct rtnl_link *l;
	unsigned flags;
	uint8_t oper;
	char os[32];

	if ((l = link_by_index(nw, oif)) == NULL) {
		/* Newer than the cache: its news is on the way. */
		if (if_indextoname((unsigned)oif, out->dev) == NULL)
			out->dev[0] = '\0';
		log_debug("netwatch: link %d is not in the cache yet", oif);
		out->reachable = true;
		return;
	}
	snprintf(out->dev, sizeof(out->dev), "%s",
	    rtnl_link_get_name(l) ? rtnl_link_get_name(l) : "");
	flags = rtnl_link_get_flags(l);
	oper = rtnl_link_get_operstate(l);
	if (!(flags & IFF_UP))
		snprintf(out->why, sizeof(out->why), "link %s is down",
		    out->dev);
	else if (!(flags & IFF_RUNNING) &&
	    (!(flags & IFF_LOWER_UP) || oper == IF_OPER_LOWERLAYERDOWN))
		snprintf(out->why, sizeof(out->why),
		    "link %s has no carrier", out->dev);
	else if (!(flags & IFF_RUNNING))
		snprintf(out->why, sizeof(out->why), "link %s is %s",
		    out->dev, rtnl_link_operstate2str(oper, os, sizeof(os)));
	else
		out->reachable = true;
}

/* The kernel's answer to a route query. */
static int
route_answer(struct netwatch *nw, struct nlmsghdr *h, const char *dst,
    struct netpath *out)
{
	static const struct nla_policy pol[RTA_MAX + 1] = {
		[RTA_OIF] = { .type = NLA_U32 },
	};
	struct nlattr *tb[RTA_MAX + 1];
	struct rtmsg *rtm;
	char tn[32];
	int oif = 0;

	if (nlmsg_parse(h, sizeof(*rtm), tb, RTA_MAX, pol) < 0)
		return -EBADMSG;
	rtm = nlmsg_data(h);
	switch (rtm->rtm_type) {
	case RTN_UNREACHABLE:
	case RTN_BLACKHOLE:
	case RTN_PROHIBIT:
	case RTN_THROW:
		snprintf(out->why, sizeof(out->why), "the route to %s is %s",
		    dst, nl_rtntype2str(rtm->rtm_type, tn, sizeof(tn)));
		return 0;
	}
	if (tb[RTA_GATEWAY] != NULL) {
		int len = nla_len(tb[RTA_GATEWAY]);

		if ((len == 4 || len == 16) && inet_ntop(len == 4 ? AF_INET :
		    AF_INET6, nla_data(tb[RTA_GATEWAY]), out->via,
		    sizeof(out->via)) == NULL)
			out->via[0] = '\0';
	} else if (tb[RTA_VIA] != NULL) {
		/* An IPv4 route through an IPv6 neighbour. */
		struct rtvia *v = nla_data(tb[RTA_VIA]);
		int len = nla_len(tb[RTA_VIA]) - (int)sizeof(*v);

		if (((v->rtvia_family == AF_INET && len == 4) ||
		    (v->rtvia_family == AF_INET6 && len == 16)) &&
		    inet_ntop(v->rtvia_family, v->rtvia_addr, out->via,
		    sizeof(out->via)) == NULL)
			out->via[0] = '\0';
	}
	if (tb[RTA_OIF] != NULL)
		oif = (int)nla_get_u32(tb[RTA_OIF]);
	if (oif <= 0) {
		out->reachable = true;	/* nothing to judge it by */
		return 0;
	}
	judge_link(nw, oif, out);
	return 0;
}

/* Read until the answer to query seq: a route, or an error. */
static int
read_answer(struct netwatch *nw, uint32_t seq, const char *dst,
    struct netpath *out)
{
	struct sockaddr_nl peer;
	struct nlmsghdr *h;
	struct nlmsgerr *e;
	unsigned char *buf;
	int i, n, err;

	for (i = 0; i < NETWATCH_QUERY_READS; i++) {
		buf = NULL;
		memset(&peer, 0, sizeof(peer));
		if ((n = nl_recv(nw->qsk, &peer, &buf, NULL)) <= 0) {
			free(buf);
			if (n == 0 || n == -NLE_AGAIN)
				return -ETIMEDOUT;
			return -nle_errno(n);
		}
		if (peer.nl_pid != 0) {		/* not the kernel */
			free(buf);
			continue;
		}
		for (h = (struct nlmsghdr *)buf; nlmsg_ok(h, n);
		    h = nlmsg_next(h, &n)) {
			if (h->nlmsg_seq != seq)
				continue;	/* a late answer */
			if (h->nlmsg_type == RTM_NEWROUTE) {
				err = route_answer(nw, h, dst, out);
				free(buf);
				return err;
			}
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (!nlmsg_valid_hdr(h, sizeof(*e))) {
				free(buf);
				return -EBADMSG;
			}
			e = nlmsg_data(h);
			if (e->error == 0)
				continue;	/* an acknowledgement */
			err = -e->error;
			free(buf);
			if (unroutable(err, dst, out))
				return 0;
			return -err;
		}
		free(buf);
	}
	return -EPROTO;
}

int
netwatch_path(struct netwatch *nw, const struct sockaddr *addr,
    struct netpath *out)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct rtmsg rtm;
	struct nl_msg *msg;
	unsigned char bin[16];
	char dst[INET6_ADDRSTRLEN];
	uint32_t oif = 0, seq;
	int family, alen, err;

	memset(out, 0, sizeof(*out));
	switch (addr->sa_family) {
	case AF_INET:
		memcpy(&sin, addr, sizeof(sin));
		family = AF_INET;
		alen = 4;
		memcpy(bin, &sin.sin_addr, 4);
		break;
	case AF_INET6:
		memcpy(&sin6, addr, sizeof(sin6));
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			/* The kernel routes it as IPv4. */
			family = AF_INET;
			alen = 4;
			memcpy(bin, &sin6.sin6_addr.s6_addr[12], 4);
		} else {
			family = AF_INET6;
			alen = 16;
			memcpy(bin, &sin6.sin6_addr, 16);
			oif = sin6.sin6_scope_id;
		}
		break;
	default:
		return -EAFNOSUPPORT;
	}
	if (inet_ntop(family, bin, dst, sizeof(dst)) == NULL)
		return -errno;

	memset(&rtm, 0, sizeof(rtm));
	rtm.rtm_family = (unsigned char)family;
	rtm.rtm_dst_len = (unsigned char)(alen * 8);
	if ((msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST)) == NULL)
		return -ENOMEM;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, alen, bin) < 0 ||
	    (oif != 0 && nla_put_u32(msg, RTA_OIF, oif) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	err = nl_send_auto(nw->qsk, msg);
	seq = nlmsg_hdr(msg)->nlmsg_seq;
	nlmsg_free(msg);
	if (err < 0)
		return -nle_errno(err);
	return read_answer(nw, seq, dst, out);
}

size_t
netwatch_links(struct netwatch *nw, struct netlink_view *out, size_t max)
{
	struct nl_object *o, *a;
	struct rtnl_link *l;
	unsigned flags;
	size_t n = 0;
	char os[32];

	for (o = nl_cache_get_first(nw->links); o != NULL && n < max;
	    o = nl_cache_get_next(o)) {
		struct netlink_view *v;

		if (!is_link(o))
			continue;
		v = &out[n++];
		l = (struct rtnl_link *)o;
		memset(v, 0, sizeof(*v));
		snprintf(v->name, sizeof(v->name), "%s",
		    rtnl_link_get_name(l) ? rtnl_link_get_name(l) : "");
		v->ifindex = rtnl_link_get_ifindex(l);
		flags = rtnl_link_get_flags(l);
		v->up = (flags & IFF_UP) != 0;
		v->carrier = (flags & IFF_RUNNING) != 0;
		snprintf(v->operstate, sizeof(v->operstate), "%s",
		    rtnl_link_operstate2str(rtnl_link_get_operstate(l), os,
		    sizeof(os)));
		for (a = nl_cache_get_first(nw->addrs); a != NULL;
		    a = nl_cache_get_next(a))
			if (rtnl_addr_get_ifindex((struct rtnl_addr *)a) ==
			    v->ifindex)
				v->naddrs++;
	}
	return n;
}

size_t
netwatch_nroutes(struct netwatch *nw)
{
	int n = nl_cache_nitems(nw->routes);

	return n > 0 ? (size_t)n : 0;
}
