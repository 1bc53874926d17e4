/* netwatch against a real kernel.  Each test makes a network namespace
 * of its own (unshare in Check's forked child, inherited by the `ip`
 * commands it runs), so the host's network is never touched.  That needs
 * root: without it no test is added and the binary says why.
 *
 * nw0 is one end of a veth pair whose other end is up: the dummy driver
 * is not in every kernel, veth is (and the carrier case needs it).
 * Changes are waited for by poll() on netwatch_fd(), never by sleeping. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>

#include "log.h"
#include "netwatch.h"
#include "util.h"

#define WAIT_MS		5000	/* for one batch of changes */
#define NLINKS		16	/* room in netwatch_links() */

static void
on_change(void *arg)
{
	(*(unsigned *)arg)++;
}

static void
sh(const char *cmd)
{
	int st = system(cmd);

	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "failed: %s", cmd);
}

/* A namespace of our own: lo up, nw0 up with 10.9.0.1/24, netwatch on. */
static struct netwatch *
setup(unsigned *count)
{
	struct netwatch *nw;
	char why[128];
	int r;

	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	sh("ip link set lo up && "
	    "ip link add nw0 type veth peer name nw0p && "
	    "ip addr add 10.9.0.1/24 dev nw0 && "
	    "ip link set nw0p up && ip link set nw0 up");
	*count = 0;
	r = netwatch_open(&nw, on_change, count, why, sizeof(why));
	ck_assert_msg(r == 0, "netwatch_open: %d: %s", r, why);
	return nw;
}

/* Read changes until cb has run once more; false after WAIT_MS. */
static bool
wait_change(struct netwatch *nw, unsigned *count)
{
	uint64_t deadline = now_mono_ms() + WAIT_MS, now;
	unsigned before = *count;
	struct pollfd pfd;
	int r;

	while (*count == before) {
		if ((now = now_mono_ms()) >= deadline)
			return false;
		pfd.fd = netwatch_fd(nw);
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r == -1 && errno != EINTR)
			return false;
		if (r > 0 && (pfd.revents & POLLIN))
			netwatch_read(nw);
	}
	return true;
}

static int
path(struct netwatch *nw, const char *addr, struct netpath *p)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr),
		    1);
		sin6->sin6_family = AF_INET6;
	}
	return netwatch_path(nw, (struct sockaddr *)&ss, p);
}

/* Ask until the answer is `want`, taking in changes between asks (a link
 * that comes up is running only once the kernel's linkwatch says so). */
static void
wait_path(struct netwatch *nw, unsigned *count, const char *addr, bool want,
    struct netpath *p)
{
	for (;;) {
		ck_assert_int_eq(path(nw, addr, p), 0);
		if (p->reachable == want)
			return;
		ck_assert_msg(wait_change(nw, count),
		    "%s still %sreachable (%s)", addr, want ? "un" : "",
		    p->why);
	}
}

static const struct netlink_view *
find_link(const struct netlink_view *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/* The kernel's own count, from a dump of our own. */
static size_t
kernel_count(const char *what, int ifindex)
{
	struct nl_sock *sk;
	struct nl_cache *c;
	struct nl_object *o;
	size_t n = 0;

	ck_assert_ptr_nonnull(sk = nl_socket_alloc());
	ck_assert_int_eq(nl_connect(sk, NETLINK_ROUTE), 0);
	if (strcmp(what, "routes") == 0)
		ck_assert_int_eq(rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &c),
		    0);
	else
		ck_assert_int_eq(rtnl_addr_alloc_cache(sk, &c), 0);
	for (o = nl_cache_get_first(c); o != NULL; o = nl_cache_get_next(o))
		if (ifindex == 0 ||
		    rtnl_addr_get_ifindex((struct rtnl_addr *)o) == ifindex)
			n++;
	nl_cache_free(c);
	nl_socket_free(sk);
	return n;
}

/* Wait until the route cache holds what the kernel holds. */
static void
wait_routes_match(struct netwatch *nw, unsigned *count)
{
	while (netwatch_nroutes(nw) != kernel_count("routes", 0))
		ck_assert_msg(wait_change(nw, count),
		    "route cache has %zu, the kernel %zu",
		    netwatch_nroutes(nw), kernel_count("routes", 0));
}

/* Wait until the cache has on link `name` the addresses the kernel has
 * (IPv6 gives a link its link-local address once it has a carrier, a
 * moment after it comes up). */
static const struct netlink_view *
wait_addrs_match(struct netwatch *nw, unsigned *count, const char *name,
    struct netlink_view *v, size_t nv)
{
	const struct netlink_view *l;
	size_t k;

	for (;;) {
		k = netwatch_links(nw, v, nv);
		ck_assert_ptr_nonnull(l = find_link(v, k, name));
		if (l->naddrs == kernel_count("addresses", l->ifindex))
			return l;
		ck_assert_msg(wait_change(nw, count),
		    "%s: %u addresses in the cache, %zu in the kernel", name,
		    l->naddrs, kernel_count("addresses", l->ifindex));
	}
}

/* Notifications the kernel dropped for this socket (/proc/net/netlink). */
static unsigned long
drops(int fd)
{
	unsigned long d, ino;
	struct stat st;
	char line[256];
	FILE *f;

	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_ptr_nonnull(f = fopen("/proc/net/netlink", "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%*s %*d %*u %*x %*d %*d %*d %*d %lu %lu",
		    &d, &ino) == 2 && ino == (unsigned long)st.st_ino) {
			fclose(f);
			return d;
		}
	}
	fclose(f);
	ck_abort_msg("socket %lu not in /proc/net/netlink",
	    (unsigned long)st.st_ino);
	return 0;
}

START_TEST(test_reachable)
{
	struct sockaddr_storage ss;
	struct netwatch *nw;
	struct netpath p;
	unsigned n;

	nw = setup(&n);
	wait_path(nw, &n, "10.9.0.5", true, &p);
	ck_assert_str_eq(p.dev, "nw0");
	ck_assert_str_eq(p.via, "");
	ck_assert_str_eq(p.why, "");

	ck_assert_int_eq(path(nw, "127.0.0.1", &p), 0);
	ck_assert(p.reachable);
	ck_assert_str_eq(p.dev, "lo");
	ck_assert_int_eq(path(nw, "10.9.0.1", &p), 0);	/* our own */
	ck_assert(p.reachable);

	ck_assert_int_eq(path(nw, "10.10.0.5", &p), 0);
	ck_assert(!p.reachable);
	ck_assert_str_eq(p.dev, "");
	ck_assert_str_eq(p.why, "no route to 10.10.0.5");

	/* The daemon's loop must never block on it, nor leak it to a child. */
	ck_assert_int_ne(fcntl(netwatch_fd(nw), F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_ne(fcntl(netwatch_fd(nw), F_GETFD) & FD_CLOEXEC, 0);

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ck_assert_int_eq(netwatch_path(nw, (struct sockaddr *)&ss, &p),
	    -EAFNOSUPPORT);
	netwatch_close(nw);
	netwatch_close(NULL);
}
END_TEST

START_TEST(test_link_down_up)
{
	struct netwatch *nw;
	struct netpath p;
	size_t before;
	unsigned n;

	nw = setup(&n);
	wait_path(nw, &n, "10.9.0.5", true, &p);
	sh("ip route add 10.20.0.0/16 via 10.9.0.254 && "
	    "ip route add 10.21.0.0/16 via 10.9.0.254 && "
	    "ip route add 10.22.0.0/16 dev nw0");
	wait_routes_match(nw, &n);
	before = netwatch_nroutes(nw);

	sh("ip link set nw0 down");
	ck_assert(wait_change(nw, &n));
	ck_assert_int_eq(path(nw, "10.9.0.5", &p), 0);
	ck_assert(!p.reachable);
	ck_assert_str_eq(p.why, "no route to 10.9.0.5");
	/* The kernel dropped nw0's IPv4 routes (five) without a word: the
	 * cache followed anyway. */
	wait_routes_match(nw, &n);
	ck_assert_uint_le(netwatch_nroutes(nw) + 5, before);

	sh("ip link set nw0 up");
	ck_assert(wait_change(nw, &n));
	wait_path(nw, &n, "10.9.0.5", true, &p);
	ck_assert_str_eq(p.dev, "nw0");
	wait_routes_match(nw, &n);
	netwatch_close(nw);
}
END_TEST

START_TEST(test_gateway)
{
	struct netwatch *nw;
	struct netpath p;
	unsigned n;

	nw = setup(&n);
	wait_path(nw, &n, "10.9.0.5", true, &p);

	sh("ip route add 10.20.0.0/16 via 10.9.0.254");
	ck_assert(wait_change(nw, &n));
	ck_assert_int_eq(path(nw, "10.20.1.1", &p), 0);
	ck_assert(p.reachable);
	ck_assert_str_eq(p.dev, "nw0");
	ck_assert_str_eq(p.via, "10.9.0.254");

	sh("ip route del 10.20.0.0/16");
	ck_assert(wait_change(nw, &n));
	ck_assert_int_eq(path(nw, "10.20.1.1", &p), 0);
	ck_assert(!p.reachable);
	ck_assert_str_eq(p.why, "no route to 10.20.1.1");
	ck_assert_str_eq(p.via, "");

	/* The default route counts, as does policy routing. */
	sh("ip route add default via 10.9.0.254");
	ck_assert_int_eq(path(nw, "192.0.2.1", &p), 0);
	ck_assert(p.reachable);
	ck_assert_str_eq(p.via, "10.9.0.254");
	sh("ip route add 10.50.0.0/16 via 10.9.0.253 table 100 && "
	    "ip rule add to 10.50.0.0/16 table 100");
	ck_assert_int_eq(path(nw, "10.50.1.1", &p), 0);
	ck_assert(p.reachable);
	ck_assert_str_eq(p.dev, "nw0");
	ck_assert_str_eq(p.via, "10.9.0.253");
	netwatch_close(nw);
}
END_TEST

START_TEST(test_route_types)
{
	static const struct {
		const char *addr, *why;
	} cases[] = {
		{ "10.40.0.1", "the route to 10.40.0.1 is a blackhole" },
		{ "10.41.0.1", "the route to 10.41.0.1 is prohibited" },
		{ "10.42.0.1", "the route to 10.42.0.1 is unreachable" },
		{ "2001:db8:40::1",
		    "the route to 2001:db8:40::1 is a blackhole" },
	};
	struct netwatch *nw;
	struct netpath p;
	unsigned n;
	size_t i;

	nw = setup(&n);
	sh("ip route add blackhole 10.40.0.0/16 && "
	    "ip route add prohibit 10.41.0.0/16 && "
	    "ip route add unreachable 10.42.0.0/16 && "
	    "ip -6 route add blackhole 2001:db8:40::/48");
	/* A default route that the more specific ones override. */
	sh("ip route add default via 10.9.0.254");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(path(nw, cases[i].addr, &p), 0);
		ck_assert_msg(!p.reachable, "%s reachable", cases[i].addr);
		ck_assert_str_eq(p.why, cases[i].why);
		ck_assert_str_eq(p.dev, "");
	}
	netwatch_close(nw);
}
END_TEST

START_TEST(test_no_carrier)
{
	struct netwatch *nw;
	struct netpath p;
	char why[128];
	unsigned n = 0;
	int r;

	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	sh("ip link set lo up && ip link add nwa type veth peer name nwb && "
	    "ip addr add 10.30.0.1/24 dev nwa && ip link set nwa up");
	r = netwatch_open(&nw, on_change, &n, why, sizeof(why));
	ck_assert_msg(r == 0, "netwatch_open: %s", why);

	ck_assert_int_eq(path(nw, "10.30.0.2", &p), 0);
	ck_assert(!p.reachable);
	ck_assert_str_eq(p.dev, "nwa");
	ck_assert_str_eq(p.why, "link nwa has no carrier");

	sh("ip link set nwb up");
	wait_path(nw, &n, "10.30.0.2", true, &p);
	ck_assert_str_eq(p.dev, "nwa");
	ck_assert_str_eq(p.why, "");
	netwatch_close(nw);
}
END_TEST

/* How many entries netwatch_links gives for a name: one, always. */
static size_t
count_named(const struct netlink_view *v, size_t n, const char *name)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			c++;
	return c;
}

START_TEST(test_links)
{
	struct netlink_view v[NLINKS];
	const struct netlink_view *lo, *l;
	struct netwatch *nw;
	struct netpath p;
	unsigned n;
	size_t k;

	nw = setup(&n);
	wait_path(nw, &n, "10.9.0.5", true, &p);	/* nw0 running */
	k = netwatch_links(nw, v, NLINKS);
	ck_assert_uint_eq(k, 3);			/* lo, nw0, nw0p */
	ck_assert_ptr_nonnull(lo = find_link(v, k, "lo"));
	ck_assert_int_eq(lo->ifindex, 1);
	ck_assert(lo->up && lo->carrier);
	ck_assert_uint_eq(lo->naddrs, 2);		/* 127.0.0.1, ::1 */
	ck_assert_ptr_nonnull(l = find_link(v, k, "nw0"));
	ck_assert(l->up && l->carrier);
	ck_assert_str_eq(l->operstate, "up");
	l = wait_addrs_match(nw, &n, "nw0", v, NLINKS);
	ck_assert_uint_ge(l->naddrs, 1);
	ck_assert_uint_eq(netwatch_links(nw, v, 1), 1);
	ck_assert_uint_eq(netwatch_links(nw, v, 0), 0);
	ck_assert_uint_gt(netwatch_nroutes(nw), 0);

	/* Setting a token makes the kernel announce nw0 for AF_INET6 too,
	 * with the flags of now: that must not stand for nw0 later. */
	sh("ip token set ::5/64 dev nw0");
	sh("ip link set nw0p down");		/* nw0 loses its carrier */
	wait_path(nw, &n, "10.9.0.5", false, &p);
	ck_assert_str_eq(p.dev, "nw0");
	ck_assert_str_eq(p.why, "link nw0 has no carrier");
	k = netwatch_links(nw, v, NLINKS);
	ck_assert_uint_eq(k, 3);
	ck_assert_uint_eq(count_named(v, k, "nw0"), 1);
	ck_assert_ptr_nonnull(l = find_link(v, k, "nw0"));
	ck_assert(l->up && !l->carrier);
	ck_assert_str_eq(l->operstate, "lowerlayerdown");

	sh("ip link set nw0 down");
	for (;;) {
		k = netwatch_links(nw, v, NLINKS);
		ck_assert_ptr_nonnull(l = find_link(v, k, "nw0"));
		if (!l->up)
			break;
		ck_assert(wait_change(nw, &n));
	}
	ck_assert(!l->carrier);
	ck_assert_str_eq(l->operstate, "down");
	ck_assert_uint_eq(count_named(v, k, "nw0"), 1);
	netwatch_close(nw);
}
END_TEST

START_TEST(test_ipv6)
{
	struct netwatch *nw;
	struct netpath p;
	unsigned n;

	nw = setup(&n);
	ck_assert_int_eq(path(nw, "::1", &p), 0);
	ck_assert(p.reachable);
	ck_assert_str_eq(p.dev, "lo");
	ck_assert_int_eq(path(nw, "2001:db8::1", &p), 0);
	ck_assert(!p.reachable);
	ck_assert_str_eq(p.why, "no route to 2001:db8::1");

	sh("ip -6 addr add 2001:db8:9::1/64 dev nw0 nodad");
	wait_path(nw, &n, "2001:db8:9::5", true, &p);
	ck_assert_str_eq(p.dev, "nw0");
	ck_assert_str_eq(p.via, "");
	sh("ip -6 route add 2001:db8:20::/48 via 2001:db8:9::fe");
	ck_assert_int_eq(path(nw, "2001:db8:20::1", &p), 0);
	ck_assert(p.reachable);
	ck_assert_str_eq(p.via, "2001:db8:9::fe");
	/* An IPv4-mapped address is routed as IPv4. */
	ck_assert_int_eq(path(nw, "::ffff:10.9.0.5", &p), 0);
	ck_assert(p.reachable);
	ck_assert_str_eq(p.dev, "nw0");
	netwatch_close(nw);
}
END_TEST

/* Lost notifications: a tiny receive buffer and a burst of 200 addresses
 * (and their local routes) overrun it; one read resyncs the caches. */
START_TEST(test_overrun)
{
	struct netlink_view v[NLINKS];
	const struct netlink_view *l;
	struct netwatch *nw;
	struct netpath p;
	unsigned n, before;
	int one = 1, fd;
	size_t k;

	nw = setup(&n);
	wait_path(nw, &n, "10.9.0.5", true, &p);
	fd = netwatch_fd(nw);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one,
	    sizeof(one)), 0);
	sh("for i in $(seq 1 200); do echo addr add 10.9.1.$i/32 dev nw0; "
	    "done | ip -batch -");
	ck_assert_uint_gt(drops(fd), 0);

	before = n;
	netwatch_read(nw);
	ck_assert_uint_eq(n, before + 1);		/* once per read */
	k = netwatch_links(nw, v, NLINKS);
	ck_assert_ptr_nonnull(l = find_link(v, k, "nw0"));
	ck_assert_uint_ge(l->naddrs, 201);
	wait_addrs_match(nw, &n, "nw0", v, NLINKS);
	wait_routes_match(nw, &n);
	netwatch_close(nw);
}
END_TEST

/* Changes are logged at debug level, and only there. */
START_TEST(test_debug_log)
{
	char tmpl[] = "/tmp/check_netwatch.XXXXXX", buf[16384];
	struct netwatch *nw;
	struct netpath p;
	unsigned n;
	ssize_t len;
	int fd, saved;

	nw = setup(&n);
	wait_path(nw, &n, "10.9.0.5", true, &p);
	ck_assert_int_ge(fd = mkstemp(tmpl), 0);
	ck_assert_int_eq(unlink(tmpl), 0);
	fflush(stderr);
	ck_assert_int_ge(saved = dup(STDERR_FILENO), 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);

	log_verbosity = LOG_LVL_INFO;
	sh("ip route add 10.20.0.0/16 via 10.9.0.254");
	ck_assert(wait_change(nw, &n));
	log_verbosity = LOG_LVL_DEBUG;
	sh("ip route add 10.21.0.0/16 via 10.9.0.254 && "
	    "ip addr add 10.9.0.2/24 dev nw0 && ip link set nw0 down");
	ck_assert(wait_change(nw, &n));
	while (path(nw, "10.9.0.5", &p) == 0 && p.reachable)
		ck_assert(wait_change(nw, &n));
	netwatch_close(nw);
	log_verbosity = LOG_LVL_WARN;

	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	ck_assert_int_ge(len = pread(fd, buf, sizeof(buf) - 1, 0), 0);
	buf[len] = '\0';
	close(fd);
	ck_assert_msg(strstr(buf, "10.20.0.0/16 table 254 new") == NULL, "%s",
	    buf);
	ck_assert_msg(strstr(buf, "netwatch: unicast route 10.21.0.0/16 "
	    "table 254 new") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "netwatch: address 10.9.0.2/24 on nw0 new")
	    != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "netwatch: link nw0 changed: down") != NULL,
	    "%s", buf);
	ck_assert_msg(strstr(buf, "netwatch: reloaded the routes") != NULL,
	    "%s", buf);
	ck_assert_msg(strstr(buf, "runtime error") == NULL, "%s", buf);
}
END_TEST

/* Short of fds at each socket netwatch needs (three: queries, events and
 * libnl's own for dumps): an error and a sentence, nothing left open. */
START_TEST(test_open_fails)
{
	struct netwatch *nw;
	struct rlimit rl, saved;
	char why[128];
	unsigned n = 0;
	int lowest, fd, r, extra;

	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	ck_assert_int_ge(lowest = dup(STDIN_FILENO), 0);
	close(lowest);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	for (extra = 0; extra <= 3; extra++) {
		nw = (struct netwatch *)&nw;
		why[0] = '\0';
		rl = saved;
		rl.rlim_cur = (rlim_t)(lowest + extra);
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
		r = netwatch_open(&nw, on_change, &n, why, sizeof(why));
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
		if (extra == 3) {
			ck_assert_int_eq(r, 0);
			netwatch_close(nw);
		} else {
			ck_assert_msg(r < 0, "%d", r);
			ck_assert_ptr_null(nw);
			ck_assert_msg(strstr(why, "rtnetlink") != NULL,
			    "%d: %s", r, why);
		}
		ck_assert_int_eq(fd = dup(STDIN_FILENO), lowest); /* no leak */
		close(fd);
	}
}
END_TEST

/* Why these tests cannot run here, or NULL when they can. */
static const char *
cannot_run(void)
{
	pid_t pid;
	int st;

	if (geteuid() != 0)
		return "not root";
	if ((pid = fork()) == -1)
		return "fork failed";
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 &&
		    system("ip -V >/dev/null 2>&1") == 0 ? 0 : 1);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return "cannot make a network namespace with ip(8) in it";
	return NULL;
}

int
main(void)
{
	Suite *s = suite_create("netwatch");
	TCase *tc;
	const char *why;
	SRunner *sr;
	int failed;

	log_init("check_netwatch", LOG_LVL_WARN, false);
	if ((why = cannot_run()) != NULL) {
		printf("check_netwatch: skipped: %s (each test makes its own "
		    "network namespace)\n", why);
		fflush(stdout);
	} else {
		tc = tcase_create("netns");
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, test_reachable);
		tcase_add_test(tc, test_link_down_up);
		tcase_add_test(tc, test_gateway);
		tcase_add_test(tc, test_route_types);
		tcase_add_test(tc, test_no_carrier);
		tcase_add_test(tc, test_links);
		tcase_add_test(tc, test_ipv6);
		tcase_add_test(tc, test_overrun);
		tcase_add_test(tc, test_debug_log);
		tcase_add_test(tc, test_open_fails);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
