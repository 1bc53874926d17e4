/* libllmfb.so, the socket layer: programs that are not libcurl programs
 * (Python, Ruby, Perl, PHP streams...) reach a provider through
 * getaddrinfo() and connect().
 *
 * Names.  While the daemon is up, an intercepted name resolves without the
 * network to a synthetic address, one per name and process, from
 * 198.19.0.0/22: inside 198.18.0.0/15, which RFC 2544 sets aside for
 * benchmarks and nothing routes on the Internet.  It is an ordinary unicast
 * address of the family asked for (IPv4, or IPv4-mapped IPv6 when only
 * IPv6 is asked for), so programs that check what they get (a family, a
 * length, "not multicast", "not loopback") are content; proxychains' 224/4
 * fake addresses break exactly those.  getnameinfo() maps it back.  While
 * the daemon is away the real resolver answers: the program goes direct.
 *
 * connect() to a synthetic address.  A Unix stream socket connected to the
 * daemon takes the place of the program's socket on the same fd (dup3),
 * with the program's file status flags, FD_CLOEXEC, F_SETOWN and epoll
 * registrations, after the preamble naming the host and port
 * (common/shim_proto.h).  It returns 0 at once, blocking
 * or not: a local connect() may complete immediately, and every caller
 * handles that.  If the daemon cannot be reached, nothing was sent yet: the
 * name is resolved for real and the program's own socket connects there.
 *
 * Redirected fds.  A table indexed by fd says which fds are redirected and
 * what their TCP-side answers are: getpeername() gives the address the
 * program connected to, getsockname() a loopback one, getsockopt() and
 * setsockopt() keep IPPROTO_TCP/IP/IPV6 options (TCP_NODELAY, keep-alive,
 * TCP_INFO...) to themselves, SO_DOMAIN and SO_PROTOCOL say TCP.  close,
 * close_range, dup, dup2, dup3 and fcntl(F_DUPFD*) keep the table true;
 * a close we could not see (a libc-internal one) is caught by comparing
 * the socket's inode before each answer.
 *
 * Cost.  Any other call pays one range check and one load (connect: the
 * family and a subtraction; getaddrinfo: the host list, only when the
 * daemon publishes one).  The table lock is taken only for redirected fds,
 * with signals blocked, so that a handler that closes an fd cannot
 * deadlock against the thread it interrupted.  The shim keeps no fd of its
 * own across calls: there is nothing for the program to close by mistake,
 * and nothing to leak across exec.
 */
#include "shim.h"
#include "shim_proto.h"
#include "util.h"	/* ARRAY_SIZE only */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NET_FD_MAX	65536	/* higher fds are never redirected */
#define REDIR_MAX	1024	/* redirected connections at once */
#define OPTS_MAX	16	/* TCP-side options remembered per connection */
#define SYNTH_MAX	1024	/* intercepted names per process */
#define SYNTH_BASE	0xC6130000u	/* 198.19.0.0 */
#define DAEMON_CONNECT_MS 2000

/* ------------------------------------------------------------------ */
/* Synthetic names: index i is 198.19.0.0 + 1 + i.  Entries are written
 * once, before synth_n is raised past them, and never change. */

static char synth_name[SYNTH_MAX][SHIM_HOST_MAX + 1];
static atomic_uint synth_n;
static pthread_mutex_t synth_lock = PTHREAD_MUTEX_INITIALIZER;

/* The index of a synthetic address, or -1 for any other. */
static int
synth_index(const struct sockaddr *sa, socklen_t len)
{
	uint32_t a;

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
	} else if (sa->sa_family == AF_INET6 &&
		   len >= sizeof(struct sockaddr_in6)) {
		const struct in6_addr *p =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (!IN6_IS_ADDR_V4MAPPED(p))
			return -1;
		memcpy(&a, &p->s6_addr[12], sizeof(a));
		a = ntohl(a);
	} else {
		return -1;
	}
	a -= SYNTH_BASE + 1;	/* below the base wraps to a huge value */
	if (a >= atomic_load_explicit(&synth_n, memory_order_acquire))
		return -1;
	return (int)a;
}

/* The index for a (normalised) name, added if new; -1 when full. */
static int
synth_get(const char *name)
{
	unsigned i, n;
	int idx = -1;

	pthread_mutex_lock(&synth_lock);
	n = atomic_load_explicit(&synth_n, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		if (strcmp(synth_name[i], name) == 0) {
			idx = (int)i;
			break;
		}
	}
	if (idx < 0 && n < SYNTH_MAX) {
		memcpy(synth_name[n], name, strlen(name) + 1);
		atomic_store_explicit(&synth_n, n + 1, memory_order_release);
		idx = (int)n;
	}
	pthread_mutex_unlock(&synth_lock);
	return idx;
}

const char *
net_synth_name(unsigned idx)
{
	return idx < atomic_load_explicit(&synth_n, memory_order_acquire) ?
		synth_name[idx] : NULL;
}

static uint16_t
sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* ------------------------------------------------------------------ */
/* Redirected fds */

struct redir {
	unsigned	refs;		/* fds naming it; 0: free */
	unsigned	host;		/* synthetic name index */
	uint16_t	port;
	uint16_t	lport;		/* made-up local port */
	sa_family_t	family;
	bool		tls;		/* a virtual TLS session took it */
	dev_t		dev;		/* the Unix socket, to revalidate */
	ino_t		ino;
	struct sockaddr_in6 peer;	/* or a sockaddr_in */
	socklen_t	peerlen;
	unsigned	nopt;
	struct {
		int	level, name, value;
	} opt[OPTS_MAX];
};

/* What a hook needs, copied out under the lock. */
struct redir_view {
	unsigned	host;
	uint16_t	port, lport;
	sa_family_t	family;
	struct sockaddr_in6 peer;
	socklen_t	peerlen;
	unsigned	nopt;
	struct {
		int	level, name, value;
	} opt[OPTS_MAX];
};

static struct redir redir_pool[REDIR_MAX];
static _Atomic(struct redir *) fd_tab[NET_FD_MAX];
static atomic_uint redir_live;		/* fds in fd_tab */
static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;

/* Across fork() the locks are held, with signals blocked as always while
 * net_lock is (a handler's close() would wait for it forever). */
static __thread sigset_t fork_mask;

static void
net_atfork_prepare(void)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &fork_mask);
	pthread_mutex_lock(&synth_lock);
	pthread_mutex_lock(&net_lock);
}

static void
net_atfork_release(void)
{
	pthread_mutex_unlock(&net_lock);
	pthread_mutex_unlock(&synth_lock);
	pthread_sigmask(SIG_SETMASK, &fork_mask, NULL);
}

/* From shim_libc(), once, before any of our locks can be taken: a fork
 * while another thread holds one must not leave it held in the child. */
void
net_atfork_register(void)
{
	pthread_atfork(net_atfork_prepare, net_atfork_release,
		       net_atfork_release);
}

static void
net_lock_enter(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	pthread_mutex_lock(&net_lock);
}

static void
net_lock_leave(const sigset_t *old)
{
	pthread_mutex_unlock(&net_lock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* The hot test: may fd be redirected?  One range check, one load. */
static inline bool
fd_maybe(int fd)
{
	return (unsigned)fd < NET_FD_MAX &&
	       atomic_load_explicit(&fd_tab[fd], memory_order_acquire);
}

bool
net_any_redirected(void)
{
	return atomic_load_explicit(&redir_live, memory_order_relaxed) != 0;
}

/* Locked. */
static void
fd_unmap(int fd)
{
	struct redir *r = atomic_load(&fd_tab[fd]);

	if (r == NULL)
		return;
	atomic_store(&fd_tab[fd], NULL);
	r->refs--;
	atomic_fetch_sub(&redir_live, 1);
}

/* Locked. */
static void
fd_map(int fd, struct redir *r)
{
	fd_unmap(fd);
	r->refs++;
	atomic_fetch_add(&redir_live, 1);
	atomic_store(&fd_tab[fd], r);
}

/* Locked: the entry of fd, or NULL (and the stale entry dropped) when fd
 * no longer is the socket we put there. */
static struct redir *
fd_valid(int fd)
{
	struct redir *r = atomic_load(&fd_tab[fd]);
	struct stat st;

	if (r == NULL)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    st.st_dev != r->dev || st.st_ino != r->ino) {
		fd_unmap(fd);
		return NULL;
	}
	return r;
}

/* Copy out fd's entry; false when fd is not (or no longer) redirected. */
static bool
net_view(int fd, struct redir_view *v)
{
	struct redir *r;
	sigset_t old;
	int saved = errno;

	net_lock_enter(&old);
	r = fd_valid(fd);
	if (r != NULL) {
		v->host = r->host;
		v->port = r->port;
		v->lport = r->lport;
		v->family = r->family;
		v->peer = r->peer;
		v->peerlen = r->peerlen;
		v->nopt = r->nopt;
		memcpy(v->opt, r->opt, sizeof(r->opt[0]) * r->nopt);
	}
	net_lock_leave(&old);
	errno = saved;
	return r != NULL;
}

/* Locked: a free entry, or NULL. */
static struct redir *
redir_alloc(void)
{
	unsigned i;

	for (i = 0; i < REDIR_MAX; i++) {
		if (redir_pool[i].refs == 0) {
			memset(&redir_pool[i], 0, sizeof(redir_pool[i]));
			return &redir_pool[i];
		}
	}
	return NULL;
}

static void
opt_put(struct redir *r, int level, int name, int value)
{
	unsigned i;

	for (i = 0; i < r->nopt; i++) {
		if (r->opt[i].level == level && r->opt[i].name == name) {
			r->opt[i].value = value;
			return;
		}
	}
	if (r->nopt < OPTS_MAX) {
		r->opt[r->nopt].level = level;
		r->opt[r->nopt].name = name;
		r->opt[r->nopt].value = value;
		r->nopt++;
	}
}

/* What TCP would answer for an option nobody set. */
static int
opt_get(const struct redir_view *v, int level, int name)
{
	unsigned i;

	for (i = 0; i < v->nopt; i++)
		if (v->opt[i].level == level && v->opt[i].name == name)
			return v->opt[i].value;
	if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_KEEPIDLE:	return 7200;
		case TCP_KEEPINTVL:	return 75;
		case TCP_KEEPCNT:	return 9;
		case TCP_MAXSEG:	return 1448;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* TLS layer's view (tls.c) */

/* Claim fd for a virtual TLS session: true when fd is redirected (*host
 * set); *first tells whether this is the connection's first TLS session
 * (the daemon is told once). */
bool
net_claim_fd(int fd, unsigned *host, bool *first)
{
	struct redir *r;
	sigset_t old;
	int saved = errno;

	if (!fd_maybe(fd))
		return false;
	net_lock_enter(&old);
	if ((r = fd_valid(fd)) != NULL) {
		*host = r->host;
		*first = !r->tls;
		r->tls = true;
	}
	net_lock_leave(&old);
	errno = saved;
	return r != NULL;
}

/* Claim a redirected connection to name that no TLS session has taken
 * yet, for a session whose transport the shim cannot see (memory BIOs:
 * asyncio, anyio).  True when there is one (*host set). */
bool
net_claim_name(const char *name, unsigned *host)
{
	struct redir *best = NULL;
	char norm[SHIM_HOST_MAX + 1];
	sigset_t old;
	int saved = errno;
	unsigned i;

	if (!net_any_redirected() ||
	    shim_host_norm(name, strlen(name), norm) == 0)
		return false;
	net_lock_enter(&old);
	for (i = 0; i < REDIR_MAX; i++) {
		struct redir *r = &redir_pool[i];

		if (r->refs == 0 || r->tls ||
		    strcmp(synth_name[r->host], norm) != 0)
			continue;
		/* Prefer a connection to a TLS port over one to port 80. */
		if (best == NULL || (best->port == 80 && r->port != 80))
			best = r;
	}
	if (best != NULL) {
		best->tls = true;
		*host = best->host;
	}
	net_lock_leave(&old);
	errno = saved;
	return best != NULL;
}

/* ------------------------------------------------------------------ */
/* Programs whose connect() the shim never sees */

/* Go's runtime makes its own system calls, even when it resolves names
 * through libc (its cgo resolver): a synthetic address handed to it would
 * be a black hole, connected to with no connect() of ours in the way.
 * Such a program gets the real address and goes out as without the shim.
 * Known by its executable's build-info section (every Go binary since
 * 1.13 has one); looked at once, on the first intercepted name. */
static bool
self_raw_connects(void)
{
	static const char *const go[] = { ".go.buildinfo", ".note.go.buildid",
					   NULL };
	static atomic_int known;	/* 0: not yet; 1: no; 2: yes */
	int k = atomic_load_explicit(&known, memory_order_relaxed), fd;

	if (k == 0) {
		fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
		k = fd >= 0 && shim_elf_has_section(fd, go) ? 2 : 1;
		if (fd >= 0)
			REAL(close)(fd);
		atomic_store_explicit(&known, k, memory_order_relaxed);
		if (k == 2)
			SHIM_DEBUG("getaddrinfo", "a Go program: its connects "
				   "are its own system calls, names resolve "
				   "for real");
	}
	return k == 2;
}

/* ------------------------------------------------------------------ */
/* Resolution */

static int
net_resolve(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	char norm[SHIM_HOST_MAX + 1], lit[48];
	struct addrinfo h;
	uint32_t a;
	int idx, rc, family = hints ? hints->ai_family : AF_UNSPEC;

	if (shim_host_norm(node, strlen(node), norm) == 0 ||
	    self_raw_connects() || !shim_daemon_up() ||
	    (idx = synth_get(norm)) < 0)
		return REAL(getaddrinfo)(node, service, hints, res);
	a = SYNTH_BASE + 1 + (uint32_t)idx;
	snprintf(lit, sizeof(lit), "%s%u.%u.%u.%u",
		 family == AF_INET6 ? "::ffff:" : "", a >> 24,
		 (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	memset(&h, 0, sizeof(h));
	if (hints) {
		h.ai_flags = hints->ai_flags;
		h.ai_family = hints->ai_family;
		h.ai_socktype = hints->ai_socktype;
		h.ai_protocol = hints->ai_protocol;
	}
	/* A literal needs no lookup; AI_ADDRCONFIG could hide it on a host
	 * with only loopback configured, which is no reason to. */
	h.ai_flags &= ~(AI_ADDRCONFIG | AI_CANONNAME);
	h.ai_flags |= AI_NUMERICHOST;
	rc = REAL(getaddrinfo)(lit, service, &h, res);
	if (rc == 0 && hints && (hints->ai_flags & AI_CANONNAME) && *res) {
		/* freeaddrinfo() frees ai_canonname with free() */
		(*res)->ai_canonname = strdup(node);
	}
	SHIM_DEBUG("getaddrinfo", "%s: %s", norm, rc == 0 ? lit : "failed");
	return rc;
}

SHIM_EXPORT int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints,
    struct addrinfo **res)
{
	shim_libc();
	if (REAL(getaddrinfo) == NULL)
		return EAI_SYSTEM;
	if (node == NULL || shim_guard_active() ||
	    (hints && (hints->ai_flags & AI_NUMERICHOST)) ||
	    (hints && hints->ai_family != AF_UNSPEC &&
	     hints->ai_family != AF_INET && hints->ai_family != AF_INET6) ||
	    !shim_host_intercepted(node))
		return REAL(getaddrinfo)(node, service, hints, res);
	return net_resolve(node, service, hints, res);
}

SHIM_EXPORT int
getnameinfo(const struct sockaddr *sa, socklen_t salen,
    char *host, socklen_t hostlen, char *serv,
    socklen_t servlen, int flags)
{
	const char *name;
	size_t len;
	int idx, rc = 0;

	shim_libc();
	if (REAL(getnameinfo) == NULL)
		return EAI_SYSTEM;
	if (host == NULL || hostlen == 0 || (flags & NI_NUMERICHOST) ||
	    (idx = synth_index(sa, salen)) < 0)
		return REAL(getnameinfo)(sa, salen, host, hostlen, serv,
					 servlen, flags);
	if (serv != NULL && servlen > 0) {
		rc = REAL(getnameinfo)(sa, salen, NULL, 0, serv, servlen,
				       flags);
		if (rc != 0)
			return rc;
	}
	name = synth_name[idx];
	len = strlen(name);
	if (len >= hostlen)
		return EAI_OVERFLOW;
	memcpy(host, name, len + 1);
	return 0;
}

/* ------------------------------------------------------------------ */
/* connect() */

/* The daemon cannot take the connection (away, full, or silent past
 * SHIM_ADMIT_MS) and nothing of the program's was sent: connect fd where
 * the name really is, as if the shim had never been there. */
static int
net_direct(int fd, unsigned idx, uint16_t port, int family,
    bool nonblock)
{
	struct addrinfo h, *res = NULL, *ai;
	char ps[8];
	int rc, e = EHOSTUNREACH;

	memset(&h, 0, sizeof(h));
	h.ai_family = family;
	h.ai_socktype = SOCK_STREAM;
	h.ai_flags = family == AF_INET6 ? AI_V4MAPPED : 0;
	snprintf(ps, sizeof(ps), "%u", port);
	SHIM_DEBUG("connect", "%s:%u: not for llmfbd, connecting directly",
		   synth_name[idx], port);
	if (REAL(getaddrinfo)(synth_name[idx], ps, &h, &res) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	rc = -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		rc = REAL(connect)(fd, ai->ai_addr, ai->ai_addrlen);
		e = errno;
		/* a non-blocking connect is under way: that is its answer */
		if (rc == 0 || nonblock)
			break;
	}
	freeaddrinfo(res);
	errno = e;
	return rc;
}

/* Copy what the program set on its TCP socket before connect() and that a
 * Unix socket keeps too (timeouts, keep-alive), and remember its TCP-level
 * options for getsockopt(). */
static void
copy_opts(int tcp, int u, struct redir *r)
{
	static const int sol[] = { SO_RCVTIMEO, SO_SNDTIMEO };
	static const int tcpo[] = { TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL,
				    TCP_KEEPCNT, TCP_USER_TIMEOUT };
	struct linger lg;
	struct timeval tv;
	socklen_t len;
	unsigned i;
	int v;

	for (i = 0; i < ARRAY_SIZE(sol); i++) {
		len = sizeof(tv);
		if (REAL(getsockopt)(tcp, SOL_SOCKET, sol[i], &tv, &len) == 0 &&
		    (tv.tv_sec || tv.tv_usec))
			REAL(setsockopt)(u, SOL_SOCKET, sol[i], &tv, len);
	}
	len = sizeof(v);
	if (REAL(getsockopt)(tcp, SOL_SOCKET, SO_KEEPALIVE, &v, &len) == 0 &&
	    v)
		REAL(setsockopt)(u, SOL_SOCKET, SO_KEEPALIVE, &v, len);
	len = sizeof(lg);
	if (REAL(getsockopt)(tcp, SOL_SOCKET, SO_LINGER, &lg, &len) == 0 &&
	    lg.l_onoff)
		REAL(setsockopt)(u, SOL_SOCKET, SO_LINGER, &lg, len);
	for (i = 0; i < ARRAY_SIZE(tcpo); i++) {
		len = sizeof(v);
		if (REAL(getsockopt)(tcp, IPPROTO_TCP, tcpo[i], &v, &len) == 0)
			opt_put(r, IPPROTO_TCP, tcpo[i], v);
	}
}

/* epoll registrations of the program's socket.  dup3() closes the TCP
 * socket, and with it every epoll registration it had: an event loop that
 * registered at socket creation, before connect() (Boost.Asio, Netty),
 * would wait forever.  They are found before the swap (an epoll fd's
 * fdinfo lists each target's fd, events, data and inode) and added to the
 * new socket after it.  Only in a process that has created an epoll fd:
 * the search reads /proc. */

#define EP_REGS_MAX	8

struct ep_reg {
	int		epfd;
	uint32_t	events;
	uint64_t	data;
};

static atomic_bool epoll_seen;

/* Noted, so that connect() knows whether epoll registrations may exist. */
SHIM_EXPORT int
epoll_create(int size)
{
	shim_libc();
	atomic_store_explicit(&epoll_seen, true, memory_order_relaxed);
	return FORWARD_LIBC(epoll_create, size);
}

SHIM_EXPORT int
epoll_create1(int flags)
{
	shim_libc();
	atomic_store_explicit(&epoll_seen, true, memory_order_relaxed);
	return FORWARD_LIBC(epoll_create1, flags);
}

/* Scan one epoll fd's fdinfo for registrations of (fd, ino). */
static unsigned
ep_scan(int epfd, int fd, ino_t ino, struct ep_reg *regs,
    unsigned n)
{
	char path[64], buf[4096];
	size_t have = 0;
	ssize_t r;
	int in;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
	if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return n;
	for (;;) {
		char *line = buf, *nl;

		r = read(in, buf + have, sizeof(buf) - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = '\0';
		while ((nl = strchr(line, '\n')) != NULL) {
			unsigned long long data;
			unsigned long lino;
			unsigned events;
			int tfd;

			*nl = '\0';
			if (sscanf(line, "tfd: %d events: %x data: %llx pos:%*d "
				   "ino:%lx", &tfd, &events, &data,
				   &lino) == 4 &&
			    tfd == fd && (ino_t)lino == ino &&
			    n < EP_REGS_MAX) {
				regs[n].epfd = epfd;
				regs[n].events = events;
				regs[n].data = data;
				n++;
			}
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0;	/* no line is that long: skip it */
	}
	REAL(close)(in);
	return n;
}

/* The epoll registrations of socket fd (inode ino), at most EP_REGS_MAX. */
static unsigned
ep_find(int fd, ino_t ino, struct ep_reg *regs)
{
	char link[32], path[32];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;
	int e;

	if (!atomic_load_explicit(&epoll_seen, memory_order_relaxed) ||
	    (d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		ssize_t len;
		char *end;
		long l;

		l = strtol(de->d_name, &end, 10);
		if (end == de->d_name || *end != '\0' || l < 0 ||
		    l > INT_MAX || (e = (int)l) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", e);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strcmp(link, "anon_inode:[eventpoll]") == 0)
			n = ep_scan(e, fd, ino, regs, n);
	}
	closedir(d);
	return n;
}

static void
ep_restore(int fd, const struct ep_reg *regs, unsigned n)
{
	struct epoll_event ev;
	unsigned i;

	for (i = 0; i < n; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.events = regs[i].events;
		ev.data.u64 = regs[i].data;
		if (epoll_ctl(regs[i].epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			SHIM_DEBUG("connect", "fd %d: epoll %d: cannot carry "
				   "the registration over", fd, regs[i].epfd);
	}
}

static int
net_redirect(int fd, const struct sockaddr *sa, socklen_t salen,
    unsigned idx)
{
	const char *host = synth_name[idx];
	uint16_t port = sa_port(sa);
	char pre[2 * PREAMBLE_LINE_MAX];
	struct ep_reg regs[EP_REGS_MAX];
	struct redir *r = NULL;
	struct stat st, tcp_st;
	socklen_t tl = sizeof(int);
	sigset_t old;
	unsigned nregs;
	int saved = errno, type = 0, fl, fdfl, u = -1, n, owner;

	if ((unsigned)fd >= NET_FD_MAX ||
	    REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
	    type != SOCK_STREAM)
		return REAL(connect)(fd, sa, salen);	/* UDP: harmless */
	if ((fl = REAL(fcntl)(fd, F_GETFL)) < 0 ||
	    (fdfl = REAL(fcntl)(fd, F_GETFD)) < 0)
		return -1;

	net_lock_enter(&old);
	if (fd_valid(fd) != NULL) {
		net_lock_leave(&old);
		errno = EISCONN;
		return -1;
	}
	if ((r = redir_alloc()) != NULL)
		r->refs = 1;		/* reserved */
	net_lock_leave(&old);
	if (r == NULL)
		goto direct;

	n = snprintf(pre, sizeof(pre), PREAMBLE_CONNECT " %s %u\r\n"
		     PREAMBLE_ADMIT, host, port);
	shim_guard_enter();
	u = shim_daemon_connect(false, DAEMON_CONNECT_MS);
	shim_guard_leave();
	if (u < 0)
		goto direct;
	/* Nothing of the program's is sent before llmfbd says it takes the
	 * connection: at a limit, the connection is the program's own. */
	if (send(u, pre, (size_t)n, MSG_NOSIGNAL) != n ||
	    !shim_daemon_admitted(u, SHIM_ADMIT_MS))
		goto direct;
	copy_opts(fd, u, r);
	/* Signal-driven I/O (F_SETOWN, O_ASYNC) and O_NONBLOCK, as set. */
	if ((owner = REAL(fcntl)(fd, F_GETOWN)) != 0)
		REAL(fcntl)(u, F_SETOWN, owner);
	if (REAL(fcntl)(u, F_SETFL, fl) != 0)
		goto direct;
	if (fstat(u, &st) != 0 || fstat(fd, &tcp_st) != 0)
		goto direct;
	nregs = ep_find(fd, tcp_st.st_ino, regs);
	/* The program's fd now names the daemon's connection; the TCP
	 * socket it named is closed by dup3(), atomically. */
	if (REAL(dup3)(u, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		goto direct;
	REAL(close)(u);
	ep_restore(fd, regs, nregs);

	r->host = idx;
	r->port = port;
	r->lport = (uint16_t)(40000 + (unsigned)(r - redir_pool));
	r->family = sa->sa_family;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->peerlen = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
						sizeof(struct sockaddr_in6);
	memcpy(&r->peer, sa, r->peerlen);
	net_lock_enter(&old);
	r->refs = 0;
	fd_map(fd, r);
	net_lock_leave(&old);
	SHIM_DEBUG("connect", "fd %d: %s:%u redirected to the daemon", fd,
		   host, port);
	errno = saved;
	return 0;

direct:
	if (u >= 0)
		REAL(close)(u);
	if (r != NULL) {
		net_lock_enter(&old);
		r->refs = 0;
		net_lock_leave(&old);
	}
	return net_direct(fd, idx, port, sa->sa_family, fl & O_NONBLOCK);
}

SHIM_EXPORT int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int idx;

	shim_libc();
	if (REAL(connect) == NULL)
		return (int)syscall(SYS_connect, fd, sa, len);
	if ((idx = synth_index(sa, len)) < 0 || shim_guard_active())
		return REAL(connect)(fd, sa, len);
	return net_redirect(fd, sa, len, (unsigned)idx);
}

/* ------------------------------------------------------------------ */
/* What TCP would say */

static int
put_bytes(void *val, socklen_t *len, const void *p, size_t n)
{
	if (val == NULL || len == NULL) {
		errno = EFAULT;
		return -1;
	}
	if (*len < n)
		n = *len;
	memcpy(val, p, n);
	*len = (socklen_t)n;
	return 0;
}

static int
put_int(void *val, socklen_t *len, int v)
{
	return put_bytes(val, len, &v, sizeof(v));
}

static int
put_addr(struct sockaddr *sa, socklen_t *len, const void *p,
    socklen_t n)
{
	socklen_t want = n;

	if (sa == NULL || len == NULL) {
		errno = EFAULT;
		return -1;
	}
	memcpy(sa, p, *len < n ? *len : n);
	*len = want;		/* the full size, as the kernel does */
	return 0;
}

SHIM_EXPORT int
getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct redir_view v;

	shim_libc();
	if (!fd_maybe(fd) || !net_view(fd, &v))
		return REAL(getpeername)(fd, sa, len);
	return put_addr(sa, len, &v.peer, v.peerlen);
}

SHIM_EXPORT int
getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct redir_view v;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;

	shim_libc();
	if (!fd_maybe(fd) || !net_view(fd, &v))
		return REAL(getsockname)(fd, sa, len);
	if (v.family == AF_INET) {
		memset(&in4, 0, sizeof(in4));
		in4.sin_family = AF_INET;
		in4.sin_port = htons(v.lport);
		in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return put_addr(sa, len, &in4, sizeof(in4));
	}
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(v.lport);
	in6.sin6_addr = in6addr_loopback;
	return put_addr(sa, len, &in6, sizeof(in6));
}

SHIM_EXPORT int
getsockopt(int fd, int level, int name, void *val,
    socklen_t *len)
{
	struct redir_view v;
	struct tcp_info ti;

	shim_libc();
	if (!fd_maybe(fd) || !net_view(fd, &v))
		return REAL(getsockopt)(fd, level, name, val, len);
	switch (level) {
	case SOL_SOCKET:
		if (name == SO_DOMAIN)
			return put_int(val, len, v.family);
		if (name == SO_PROTOCOL)
			return put_int(val, len, IPPROTO_TCP);
		break;
	case IPPROTO_TCP:
		if (name == TCP_INFO) {
			memset(&ti, 0, sizeof(ti));
			ti.tcpi_state = TCP_ESTABLISHED;
			return put_bytes(val, len, &ti, sizeof(ti));
		}
		return put_int(val, len, opt_get(&v, level, name));
	case IPPROTO_IP:
	case IPPROTO_IPV6:
		return put_int(val, len, opt_get(&v, level, name));
	}
	return REAL(getsockopt)(fd, level, name, val, len);
}

SHIM_EXPORT int
setsockopt(int fd, int level, int name, const void *val,
    socklen_t len)
{
	struct redir_view v;
	struct redir *r;
	sigset_t old;
	int saved = errno, rc, iv;

	shim_libc();
	if (!fd_maybe(fd))
		return REAL(setsockopt)(fd, level, name, val, len);
	switch (level) {
	case IPPROTO_TCP:
	case IPPROTO_IP:
	case IPPROTO_IPV6:
		if (val == NULL || len < (socklen_t)sizeof(int)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(&iv, val, sizeof(iv));
		net_lock_enter(&old);
		r = fd_valid(fd);
		if (r != NULL)
			opt_put(r, level, name, iv);
		net_lock_leave(&old);
		if (r == NULL)
			return REAL(setsockopt)(fd, level, name, val, len);
		errno = saved;
		return 0;
	case SOL_SOCKET:
		/* Mostly meaningful on a Unix socket too; what is not (a
		 * TCP-only option) is accepted and has no effect. */
		rc = REAL(setsockopt)(fd, level, name, val, len);
		if (rc != 0 && (errno == ENOPROTOOPT || errno == EOPNOTSUPP ||
				errno == EINVAL) && net_view(fd, &v)) {
			errno = saved;
			return 0;
		}
		return rc;
	}
	return REAL(setsockopt)(fd, level, name, val, len);
}

/* ------------------------------------------------------------------ */
/* The life of an fd */

static void
net_forget(int fd)
{
	sigset_t old;
	int saved = errno;

	net_lock_enter(&old);
	fd_unmap(fd);
	net_lock_leave(&old);
	errno = saved;
}

/* newfd now names what oldfd names. */
static void
net_dup(int oldfd, int newfd)
{
	struct redir *r;
	sigset_t old;
	int saved = errno;

	if (!fd_maybe(oldfd) && !fd_maybe(newfd))
		return;
	net_lock_enter(&old);
	fd_unmap(newfd);
	if ((unsigned)oldfd < NET_FD_MAX && (unsigned)newfd < NET_FD_MAX &&
	    (r = fd_valid(oldfd)) != NULL)
		fd_map(newfd, r);
	net_lock_leave(&old);
	errno = saved;
}

SHIM_EXPORT int
close(int fd)
{
	shim_libc();
	if (fd_maybe(fd))
		net_forget(fd);
	if (REAL(close) == NULL)
		return (int)syscall(SYS_close, fd);
	return REAL(close)(fd);
}

SHIM_EXPORT int
close_range(unsigned int first, unsigned int last, int flags)
{
	sigset_t old;
	unsigned fd;

	shim_libc();
	if (!(flags & CLOSE_RANGE_CLOEXEC) && net_any_redirected() &&
	    first < NET_FD_MAX) {
		net_lock_enter(&old);
		for (fd = first; fd <= last && fd < NET_FD_MAX; fd++)
			fd_unmap((int)fd);
		net_lock_leave(&old);
	}
	if (REAL(close_range) == NULL)
		return (int)syscall(SYS_close_range, first, last, flags);
	return REAL(close_range)(first, last, flags);
}

SHIM_EXPORT int
dup(int oldfd)
{
	int fd;

	shim_libc();
	fd = REAL(dup)(oldfd);
	if (fd >= 0)
		net_dup(oldfd, fd);
	return fd;
}

SHIM_EXPORT int
dup2(int oldfd, int newfd)
{
	int fd;

	shim_libc();
	fd = REAL(dup2)(oldfd, newfd);
	if (fd >= 0 && oldfd != newfd)
		net_dup(oldfd, fd);
	return fd;
}

SHIM_EXPORT int
dup3(int oldfd, int newfd, int flags)
{
	int fd;

	shim_libc();
	fd = REAL(dup3)(oldfd, newfd, flags);
	if (fd >= 0)
		net_dup(oldfd, fd);
	return fd;
}

/* fcntl's third argument is an int or a pointer, by command; like libc, we
 * pass it on as a pointer-sized value. */
static int
fcntl_common(int (*real)(int, int, ...), int fd, int cmd,
    void *arg)
{
	int rc;

	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = real(fd, cmd, arg);
	if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		net_dup(fd, rc);
	return rc;
}

SHIM_EXPORT int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	shim_libc();
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

SHIM_EXPORT int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	shim_libc();
	return fcntl_common(REAL(fcntl64) ? REAL(fcntl64) : REAL(fcntl), fd,
			    cmd, arg);
}
