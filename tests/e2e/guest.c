/* guest: the shim's socket and TLS layers (shim/net.c, shim/tls.c) tested
 * from inside a process, without llmfbd: this program plays the daemon
 * itself, on the socket that LLMFB_SOCKET names.
 *
 *	LD_PRELOAD=build/libllmfb.so LLMFB_SOCKET=DIR/fake.sock \
 *	    build/guest DIR [CERTDIR]
 *
 * It listens on DIR/fake.sock, writes DIR/fake.sock.hosts ("localhost",
 * "api.guest.test") before its first getaddrinfo(), and a real TCP
 * listener on localhost's first IPv4 address, as the resolver gave it
 * before the name was listed (127.0.0.1 on most hosts; nothing here
 * assumes so): with the daemon away, a connect() to localhost's
 * synthetic address goes there.  CERTDIR (tests/gen-certs.sh output:
 * server.pem, server.key, ca.pem) is for the real TLS server; without
 * it a certificate is made in memory.
 *
 * One line per case, "ok - NAME" or "FAIL - NAME: REASON", then
 * "N passed, M failed"; the exit status is 0 only when every case passed.
 * Lines starting with '#' are notes.  Nothing waits by sleeping: every
 * wait is a poll() with a time limit, and each case runs under a guard (a
 * POSIX timer on SIGUSR1, apart from the SIGALRM the signals case uses)
 * that turns a hang into a failing line and exit status 3.
 *
 * The fake daemon's side: the shim asks the daemon to admit every
 * connection before it hands it over (common/shim_proto.h), on a probe at
 * each getaddrinfo() of a listed name and in connect(), and waits for the
 * answer.  The program's thread cannot answer while it is in the shim, so
 * an admitter thread owns the socket the shim reaches: it answers probes
 * itself, and passes each redirected connection, once it has asked, to
 * the cases through a pipe (g_lfd) with its preamble unread. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

extern char **environ;

#define HOST		"api.guest.test"
#define PORT		"443"
#define PRE_MAX		320	/* a preamble line, with room to spare */
#define TLS_MARK	"LLMFB/1 TLS\r\n"
#define ADMIT_LINE	"LLMFB/1 ADMIT\r\n"
#define ADMIT_OK	"LLMFB/1 OK\r\n"
#define BIG		(4u << 20)	/* the 4 MB virtual TLS write */
#define FD_LIST_MAX	1024

/* ------------------------------------------------------------------ */
/* State and reporting */

static const char *g_dir;
static const char *g_certdir;
static char g_sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int g_lfd = -1;		/* admitted connections' fds, from the
				 * admitter (a pipe's read end) */
static int g_tcp = -1;		/* a real TCP listener on g_local[0] */
static uint16_t g_tcp_port;
static char g_tcp_port_s[8];
/* localhost's IPv4 addresses, as the resolver gave them before the name
 * was listed (port 0), in order; none when it gave none, and then
 * g_local_why says why and the listener is on 127.0.0.1. */
#define LOCAL_MAX	16
static struct in_addr g_local[LOCAL_MAX];
static unsigned g_nlocal;
static char g_local_why[128];

static const char *volatile g_case = "setup";
static volatile sig_atomic_t g_pass, g_fail;
static timer_t g_guard;

/* Why the running case failed: the first reason only. */
static char g_why[1024];
/* What the last failing helper saw, per thread. */
static __thread char g_err[512];

static void why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
why(const char *fmt, ...)
{
	va_list ap;

	if (g_why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(g_why, sizeof(g_why), fmt, ap);
	va_end(ap);
}

static void errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
errf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_err, sizeof(g_err), fmt, ap);
	va_end(ap);
}

/* A case fails at its first unmet expectation and cleans up at "out". */
#define EXPECT(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			why(__VA_ARGS__);				\
			goto out;					\
		}							\
	} while (0)

static const char *
ename(int e)
{
	const char *s = strerrorname_np(e);

	return s ? s : "E?";
}

/* Printable copy of n bytes (\r \n and others escaped), for messages. */
static const char *
esc(char *out, size_t cap, const void *in, size_t n)
{
	const unsigned char *p = in;
	size_t o = 0, i;

	for (i = 0; i < n && o + 5 < cap; i++) {
		if (p[i] == '\r') {
			out[o++] = '\\';
			out[o++] = 'r';
		} else if (p[i] == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (p[i] < 0x20 || p[i] >= 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
		} else {
			out[o++] = (char)p[i];
		}
	}
	if (i < n && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* The hang guard: SIGUSR1 from a POSIX timer, armed for each case. */

static size_t
put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		buf[at++] = *s++;
	return at;
}

static size_t
put_uint(char *buf, size_t at, size_t cap, unsigned v)
{
	char tmp[16];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(tmp));
	while (n && at + 1 < cap)
		buf[at++] = tmp[--n];
	return at;
}

static void
guard_fired(int sig)
{
	char buf[512];
	size_t n = 0;
	ssize_t w;

	(void)sig;
	n = put_str(buf, n, sizeof(buf), "FAIL - ");
	n = put_str(buf, n, sizeof(buf), g_case);
	n = put_str(buf, n, sizeof(buf),
		    ": timed out: the case hung (guard fired)\n");
	n = put_uint(buf, n, sizeof(buf), (unsigned)g_pass);
	n = put_str(buf, n, sizeof(buf), " passed, ");
	n = put_uint(buf, n, sizeof(buf), (unsigned)g_fail + 1);
	n = put_str(buf, n, sizeof(buf), " failed\n");
	w = write(STDOUT_FILENO, buf, n);
	(void)w;
	_exit(3);
}

static void
guard_arm(int secs)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = secs;
	timer_settime(g_guard, 0, &its, NULL);
}

/* ------------------------------------------------------------------ */
/* I/O helpers (time-limited, EINTR-proof) */

/* poll() one fd: its revents, 0 on timeout, -1 on error. */
static int
wait_fd(int fd, short ev, int ms)
{
	long long end = now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = ev };
		long long left = end - now_ms();
		int r = poll(&p, 1, left > 0 ? (int)left : 0);

		if (r > 0)
			return p.revents;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static bool
read_exact(int fd, void *buf, size_t n, int ms)
{
	long long end = now_ms() + ms;
	size_t got = 0;

	while (got < n) {
		long long left = end - now_ms();
		int rv = wait_fd(fd, POLLIN, left > 0 ? (int)left : 0);
		ssize_t r;

		if (rv == 0) {
			errf("timed out after %zu of %zu bytes", got, n);
			return false;
		}
		if (rv < 0) {
			errf("poll: %s", ename(errno));
			return false;
		}
		r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			errf("read: %s after %zu of %zu bytes", ename(errno),
			     got, n);
			return false;
		}
		if (r == 0) {
			errf("end of stream after %zu of %zu bytes", got, n);
			return false;
		}
		got += (size_t)r;
	}
	return true;
}

/* Read exactly the n bytes of want, within ms. */
static bool
expect_read(int fd, const char *want, size_t n, int ms)
{
	char buf[1024], e1[256], e2[256];

	if (n > sizeof(buf)) {
		errf("expect_read: %zu bytes is too many", n);
		return false;
	}
	if (!read_exact(fd, buf, n, ms))
		return false;
	if (memcmp(buf, want, n) != 0) {
		errf("read \"%s\", want \"%s\"", esc(e1, sizeof(e1), buf, n),
		     esc(e2, sizeof(e2), want, n));
		return false;
	}
	return true;
}

static bool
write_all(int fd, const void *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = write(fd, (const char *)buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, 2000) <= 0) {
				errf("write: no room for 2 s");
				return false;
			}
			continue;
		}
		if (w < 0) {
			errf("write: %s", ename(errno));
			return false;
		}
		off += (size_t)w;
	}
	return true;
}

/* True when nothing more is waiting to be read on fd (now). */
static bool
nothing_more(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return true;
	if (r == 1)
		errf("more bytes follow (next: 0x%02x)", (unsigned char)c);
	else if (r == 0)
		errf("end of stream instead of nothing");
	else
		errf("recv: %s", ename(errno));
	return false;
}

/* Read until the end of the stream: the byte count, -1 on timeout. */
static ssize_t
read_all(int fd, char *buf, size_t cap, int ms)
{
	long long end = now_ms() + ms;
	size_t got = 0;

	for (;;) {
		long long left = end - now_ms();
		int rv = wait_fd(fd, POLLIN, left > 0 ? (int)left : 0);
		ssize_t r;

		if (rv <= 0)
			return -1;
		r = read(fd, buf + got, cap - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == cap - 1)
			break;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

static void
xclose(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ------------------------------------------------------------------ */
/* Addresses */

static const char *
addr_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, cap, "%s:%u", a, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, cap, "[%s]:%u", a, ntohs(s->sin6_port));
	} else {
		snprintf(buf, cap, "(family %d)", sa->sa_family);
	}
	return buf;
}

/* The IPv4 address in sa (plain or v4-mapped); false for anything else. */
static bool
v4_of(const struct sockaddr *sa, uint32_t *a)
{
	if (sa->sa_family == AF_INET) {
		*a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *p =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (!IN6_IS_ADDR_V4MAPPED(p))
			return false;
		memcpy(a, &p->s6_addr[12], 4);
		*a = ntohl(*a);
		return true;
	}
	return false;
}

/* In 198.19.0.0/16, the shim's synthetic range. */
static bool
is_synth(const struct sockaddr *sa)
{
	uint32_t a;

	return v4_of(sa, &a) && (a >> 16) == 0xC613u;
}

static uint16_t
port_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

/* Same family, address and port. */
static bool
same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family || port_of(a) != port_of(b))
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}

static bool
is_loop4(const struct sockaddr *sa, uint16_t port)
{
	return sa->sa_family == AF_INET &&
	       ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
	       htonl(INADDR_LOOPBACK) &&
	       (port == 0 || port_of(sa) == port);
}

/* The real listener's address (g_local[0]) with port. */
static bool
is_local(const struct sockaddr *sa, uint16_t port)
{
	return sa->sa_family == AF_INET &&
	       ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
	       g_local[0].s_addr && port_of(sa) == port;
}

/* The real listener's address, for connect(). */
static void
local_sin(struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(g_tcp_port);
	sin->sin_addr = g_local[0];
}

/* The first answer of getaddrinfo(name, port, {family, SOCK_STREAM}). */
static bool
resolve(const char *name, const char *port, int family,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo h, *res = NULL;
	int rc;

	memset(&h, 0, sizeof(h));
	h.ai_family = family;
	h.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(name, port, &h, &res);
	if (rc != 0) {
		errf("getaddrinfo(%s, %s): %s", name, port, gai_strerror(rc));
		return false;
	}
	if (res == NULL || res->ai_addrlen > sizeof(*ss)) {
		errf("getaddrinfo(%s): no usable answer", name);
		if (res)
			freeaddrinfo(res);
		return false;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

/* Resolve name (which must come out synthetic) and connect a new socket of
 * family with flags (SOCK_NONBLOCK, SOCK_CLOEXEC) there, waiting for a
 * non-blocking connect to finish.  The fd, or -1 (g_err says why). */
static int
synth_connect(const char *name, const char *port, int family,
    int flags, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_storage tmp;
	socklen_t tlen;
	char a[80];
	int fd, rc, e;

	if (ss == NULL) {
		ss = &tmp;
		len = &tlen;
	}
	if (!resolve(name, port, family, ss, len))
		return -1;
	if (!is_synth((struct sockaddr *)ss)) {
		errf("%s resolved to %s, not a synthetic address", name,
		     addr_str((struct sockaddr *)ss, a, sizeof(a)));
		return -1;
	}
	fd = socket(family, SOCK_STREAM | flags, 0);
	if (fd < 0) {
		errf("socket: %s", ename(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)ss, *len);
	e = errno;
	if (rc != 0 && !((flags & SOCK_NONBLOCK) && e == EINPROGRESS)) {
		errf("connect(%s): %s", addr_str((struct sockaddr *)ss, a,
						  sizeof(a)), ename(e));
		close(fd);
		return -1;
	}
	if (rc != 0 && !(wait_fd(fd, POLLOUT, 1000) & POLLOUT)) {
		errf("non-blocking connect: not writable within 1 s");
		close(fd);
		return -1;
	}
	return fd;
}

/* A blocking TCP connect to the real listener; the fd or -1. */
static int
real_connect(int flags)
{
	struct sockaddr_in sin;
	char a[80];
	int fd;

	local_sin(&sin);
	fd = socket(AF_INET, SOCK_STREAM | flags, 0);
	if (fd < 0) {
		errf("socket: %s", ename(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		errf("connect(%s): %s", addr_str((struct sockaddr *)&sin, a,
		     sizeof(a)), ename(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Accept from the real listener, within ms. */
static int
real_accept(int ms)
{
	long long end = now_ms() + ms;

	for (;;) {
		long long left = end - now_ms();
		int c;

		if (wait_fd(g_tcp, POLLIN, left > 0 ? (int)left : 0) <= 0) {
			errf("the real listener got no connection in %d ms",
			     ms);
			return -1;
		}
		c = accept4(g_tcp, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			return c;
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED) {
			errf("accept: %s", ename(errno));
			return -1;
		}
	}
}

/* ------------------------------------------------------------------ */
/* The fake daemon (inline) */

static int
preamble(char *out, size_t cap, const char *host, const char *port)
{
	return snprintf(out, cap, "LLMFB/1 CONNECT %s %s\r\n" ADMIT_LINE,
			host, port);
}

/* ------------------------------------------------------------------ */
/* The admitter (a thread): owns the socket the shim reaches, answers the
 * shim's ADMIT at once, and passes each redirected connection through
 * the pipe g_lfd, blocking, with its preamble unread.  Probes (ADMIT
 * alone) it answers and closes itself. */

#define ADM_MAX 256

static int g_ext = -1;		/* the listener at g_sock */
static int g_adm_out = -1;	/* g_lfd's write end */
static int g_adm_stop[2] = { -1, -1 };
static pthread_t g_adm_th;
static bool g_adm_on;

enum { ADM_WAIT, ADM_PROBE, ADM_ASKED, ADM_OTHER, ADM_GONE };

/* What connection c asks, by the bytes waiting on it. */
static int
adm_look(int c)
{
	static const char admit[] = ADMIT_LINE;
	const size_t alen = sizeof(admit) - 1;
	char b[2 * PRE_MAX];
	const char *eol;
	size_t rest;
	ssize_t r;

	r = recv(c, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? ADM_WAIT : ADM_GONE;
	if (r == 0)
		return ADM_GONE;
	if ((size_t)r >= alen && memcmp(b, admit, alen) == 0) {
		(void)!recv(c, b, alen, MSG_DONTWAIT);	/* the probe's line */
		return ADM_PROBE;
	}
	if ((eol = memmem(b, (size_t)r, "\r\n", 2)) == NULL)
		return (size_t)r == sizeof(b) ? ADM_OTHER : ADM_WAIT;
	eol += 2;
	rest = (size_t)r - (size_t)(eol - b);
	if (rest < alen)
		return memcmp(eol, admit, rest) == 0 ? ADM_WAIT : ADM_OTHER;
	return memcmp(eol, admit, alen) == 0 ? ADM_ASKED : ADM_OTHER;
}

static void *
adm_main(void *arg)
{
	int pend[ADM_MAX], n = 0, i;

	(void)arg;
	for (;;) {
		struct pollfd p[2 + ADM_MAX];
		int np = 0, c, v;

		p[np++] = (struct pollfd){ .fd = g_adm_stop[0],
					   .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = g_ext, .events =
					   n < ADM_MAX ? POLLIN : 0 };
		for (i = 0; i < n; i++)
			p[np++] = (struct pollfd){ .fd = pend[i],
						   .events = POLLIN };
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		/* downwards: dropping i moves the last one into i */
		for (i = n - 1; i >= 0; i--) {
			if (!p[2 + i].revents)
				continue;
			v = adm_look(pend[i]);
			if (v == ADM_WAIT)
				continue;
			if (v == ADM_PROBE || v == ADM_ASKED)
				(void)!write(pend[i], ADMIT_OK,
					     sizeof(ADMIT_OK) - 1);
			if (v == ADM_ASKED || v == ADM_OTHER) {
				/* the cases read it as accept() gave it */
				fcntl(pend[i], F_SETFL, 0);
				(void)!write(g_adm_out, &pend[i],
					     sizeof(pend[i]));
			} else {
				close(pend[i]);
			}
			pend[i] = pend[--n];
		}
		if (p[1].revents)
			while (n < ADM_MAX &&
			       (c = accept4(g_ext, NULL, NULL, SOCK_CLOEXEC |
					    SOCK_NONBLOCK)) >= 0)
				pend[n++] = c;
	}
	for (i = 0; i < n; i++)
		close(pend[i]);
	return NULL;
}

/* The next connection the admitter passed on, or -1 (errno EAGAIN when
 * none waits). */
static int
lfd_take(void)
{
	ssize_t r;
	int fd;

	r = read(g_lfd, &fd, sizeof(fd));
	if (r == (ssize_t)sizeof(fd))
		return fd;
	if (r >= 0)
		errno = EAGAIN;
	return -1;
}

static int spawn(pthread_t *t, void *(*fn)(void *), void *arg);

/* The fake daemon's socket at g_sock and its admitter.  0 or -1. */
static int
adm_start(void)
{
	struct sockaddr_un sun;
	int pp[2];

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, g_sock, strlen(g_sock) + 1);
	g_ext = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (g_ext < 0 || bind(g_ext, (struct sockaddr *)&sun, sizeof(sun)) ||
	    listen(g_ext, SOMAXCONN) || pipe2(pp, O_CLOEXEC) ||
	    pipe2(g_adm_stop, O_CLOEXEC))
		return -1;
	fcntl(pp[0], F_SETFL, O_NONBLOCK);
	g_lfd = pp[0];
	g_adm_out = pp[1];
	if (spawn(&g_adm_th, adm_main, NULL) != 0)
		return -1;
	g_adm_on = true;
	return 0;
}

/* The fake daemon goes away: its socket closes. */
static void
adm_stop(void)
{
	int c;

	if (!g_adm_on)
		return;
	(void)!write(g_adm_stop[1], "x", 1);
	pthread_join(g_adm_th, NULL);
	g_adm_on = false;
	xclose(&g_ext);
	while ((c = lfd_take()) >= 0)
		close(c);
	xclose(&g_lfd);
	xclose(&g_adm_out);
	xclose(&g_adm_stop[0]);
	xclose(&g_adm_stop[1]);
}

/* Accepted connections that have sent nothing yet.  Usually a probe about
 * to close; but a probe socket of another thread that a fork() copied into
 * the child stays open as long as the child lives, and a redirected
 * connection may be accepted between the shim's connect() and its
 * preamble: none of them may hold up the others. */
#define SILENT_MAX 64
static int g_silent[SILENT_MAX];
static int g_nsilent;

static void
silent_drop(int i)
{
	close(g_silent[i]);
	g_silent[i] = g_silent[--g_nsilent];
}

/* The next connection that carries bytes (the shim's probes, empty, are
 * skipped), within ms.  -1 with g_err. */
static int
daemon_accept(int ms)
{
	long long end = now_ms() + ms;
	struct pollfd p[1 + SILENT_MAX];

	for (;;) {
		long long left = end - now_ms();
		int i, n = 0, d, rv;

		if (g_lfd < 0) {
			errf("the fake daemon is not listening");
			return -1;
		}
		p[n++] = (struct pollfd){ .fd = g_lfd, .events = POLLIN };
		for (i = 0; i < g_nsilent; i++)
			p[n++] = (struct pollfd){ .fd = g_silent[i],
						  .events = POLLIN };
		rv = poll(p, (nfds_t)n, left > 0 ? (int)left : 0);
		if (rv < 0 && errno == EINTR)
			continue;
		if (rv <= 0) {
			errf("no connection with bytes reached the fake "
			     "daemon in %d ms (%d silent ones)", ms,
			     g_nsilent);
			return -1;
		}
		/* downwards: dropping i moves the last one into i */
		for (i = g_nsilent - 1; i >= 0; i--) {
			char c;
			ssize_t r;

			if (!p[1 + i].revents)
				continue;
			r = recv(g_silent[i], &c, 1, MSG_PEEK | MSG_DONTWAIT);
			if (r == 1) {
				d = g_silent[i];
				g_silent[i] = g_silent[--g_nsilent];
				return d;
			}
			if (r == 0 || (errno != EAGAIN && errno != EINTR))
				silent_drop(i);	/* a probe */
		}
		if (!p[0].revents)
			continue;
		d = lfd_take();
		if (d < 0) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				continue;
			errf("accept: %s", ename(errno));
			return -1;
		}
		if (g_nsilent == SILENT_MAX) {
			errf("%d connections to the fake daemon sent nothing",
			     SILENT_MAX);
			close(d);
			return -1;
		}
		g_silent[g_nsilent++] = d;
	}
}

/* Accept the next redirected connection and read its preamble, which must
 * name host and port. */
static int
daemon_take(const char *host, const char *port)
{
	char pre[PRE_MAX], e[600];
	int n = preamble(pre, sizeof(pre), host, port), d;

	for (;;) {
		char c;

		d = daemon_accept(2000);
		if (d < 0)
			return -1;
		if (!expect_read(d, pre, (size_t)n, 1000)) {
			snprintf(e, sizeof(e), "preamble: %s", g_err);
			errf("%s", e);
			close(d);
			return -1;
		}
		/* An earlier case's connection, passed on by the admitter
		 * after that case's drain_backlog() and closed since by its
		 * program: not this case's. */
		if (recv(d, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
			close(d);
			continue;
		}
		return d;
	}
}

/* Drop whatever waits on the listeners (earlier cases' leftovers). */
static void
drain_backlog(void)
{
	int c;

	while (g_nsilent > 0)
		silent_drop(g_nsilent - 1);
	while (g_lfd >= 0 && (c = lfd_take()) >= 0)
		close(c);
	while ((c = accept4(g_tcp, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(c);
}

/* Threads that must not take the process's signals (SIGALRM of the
 * signals case, the guard's SIGUSR1) start with all of them blocked. */
static int
spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The fake daemon (a thread): accepts on the listener, checks each
 * preamble names HOST (and the port that "port=N" in the program's bytes
 * names, if any), then echoes every byte.  Optionally accepts
 * and closes on the real TCP listener too. */

#define ECHO_CONNS 512

struct echo_conn {
	int fd;
	bool any, pre_ok;
	unsigned port;		/* the preamble's */
	size_t prelen;
	char pre[PRE_MAX];
};

static struct echo_srv {
	pthread_t th;
	int stop[2];
	bool tcp;
	char want[PRE_MAX];
	size_t wantlen;
	atomic_int good, probes, bad, tcp_accepted;
	char bad_msg[400];		/* the thread's; read after join */
	int n;
	struct echo_conn c[ECHO_CONNS];
} g_echo;

static void
echo_drop(struct echo_srv *s, int i)
{
	close(s->c[i].fd);
	s->c[i] = s->c[--s->n];
}

static void
echo_bad(struct echo_srv *s, const char *what, const char *p,
    size_t n)
{
	char e[300];

	if (atomic_fetch_add(&s->bad, 1) == 0)
		snprintf(s->bad_msg, sizeof(s->bad_msg), "%s: \"%s\"", what,
			 esc(e, sizeof(e), p, n));
}

/* The port a preamble line (with its CRLF) names after "LLMFB/1 CONNECT
 * HOST ", or 0 when it is not such a line. */
static unsigned
preamble_port(const struct echo_srv *s, const char *line,
    size_t len)
{
	unsigned port = 0;
	size_t i;

	if (len < s->wantlen + 3 || memcmp(line, s->want, s->wantlen) != 0 ||
	    memcmp(line + len - 2, "\r\n", 2) != 0)
		return 0;
	for (i = s->wantlen; i < len - 2; i++) {
		if (line[i] < '0' || line[i] > '9' || port > 65535)
			return 0;
		port = port * 10 + (unsigned)(line[i] - '0');
	}
	return port <= 65535 ? port : 0;
}

/* Feed n bytes read from connection i; false when it is to be dropped. */
static bool
echo_feed(struct echo_srv *s, int i, const char *buf, size_t n)
{
	struct echo_conn *c = &s->c[i];
	const char *eol, *p;
	size_t take, old;

	c->any = true;
	if (!c->pre_ok) {
		old = c->prelen;
		take = n;
		if (take > sizeof(c->pre) - c->prelen)
			take = sizeof(c->pre) - c->prelen;
		memcpy(c->pre + c->prelen, buf, take);
		c->prelen += take;
		eol = memmem(c->pre, c->prelen, "\r\n", 2);
		if (eol == NULL) {
			if (c->prelen == sizeof(c->pre)) {
				echo_bad(s, "preamble too long", c->pre,
					 c->prelen);
				return false;
			}
			return true;
		}
		take = (size_t)(eol + 2 - c->pre);
		c->port = preamble_port(s, c->pre, take);
		if (c->port == 0) {
			echo_bad(s, "bad preamble", c->pre, take);
			return false;
		}
		/* then the shim's ADMIT, which the admitter answered */
		if (c->prelen < take + sizeof(ADMIT_LINE) - 1) {
			if (memcmp(eol + 2, ADMIT_LINE, c->prelen - take)) {
				echo_bad(s, "no ADMIT after CONNECT", c->pre,
					 c->prelen);
				return false;
			}
			return true;
		}
		if (memcmp(eol + 2, ADMIT_LINE, sizeof(ADMIT_LINE) - 1)) {
			echo_bad(s, "no ADMIT after CONNECT", c->pre,
				 c->prelen);
			return false;
		}
		take += sizeof(ADMIT_LINE) - 1;
		c->pre_ok = true;
		atomic_fetch_add(&s->good, 1);
		/* the rest of what was read is the program's */
		buf += take - old;
		n -= take - old;
	}
	/* "port=N" in what the program sends: the port it connected to */
	p = memmem(buf, n, "port=", 5);
	if (p != NULL && strtoul(p + 5, NULL, 10) != c->port) {
		echo_bad(s, "the preamble's port is not the program's", c->pre,
			 c->prelen);
		return false;
	}
	return n == 0 || write_all(c->fd, buf, n);
}

static void *
echo_main(void *arg)
{
	struct echo_srv *s = arg;
	struct pollfd p[3 + ECHO_CONNS];
	char buf[4096];

	for (;;) {
		int np = 0, li = -1, ti = -1, base, nsnap, i, d;

		p[np++] = (struct pollfd){ .fd = s->stop[0], .events = POLLIN };
		if (s->n < ECHO_CONNS) {
			li = np;
			p[np++] = (struct pollfd){ .fd = g_lfd,
						   .events = POLLIN };
		}
		if (s->tcp) {
			ti = np;
			p[np++] = (struct pollfd){ .fd = g_tcp,
						   .events = POLLIN };
		}
		base = np;
		nsnap = s->n;
		for (i = 0; i < nsnap; i++)
			p[np++] = (struct pollfd){ .fd = s->c[i].fd,
						   .events = POLLIN };
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (li >= 0 && p[li].revents) {
			while (s->n < ECHO_CONNS && (d = lfd_take()) >= 0) {
				memset(&s->c[s->n], 0, sizeof(s->c[0]));
				s->c[s->n++].fd = d;
			}
		}
		if (ti >= 0 && p[ti].revents) {
			while ((d = accept4(g_tcp, NULL, NULL,
					    SOCK_CLOEXEC)) >= 0) {
				close(d);
				atomic_fetch_add(&s->tcp_accepted, 1);
			}
		}
		/* downwards: dropping i moves the last one into i */
		for (i = nsnap - 1; i >= 0; i--) {
			ssize_t r;

			if (!p[base + i].revents)
				continue;
			r = read(s->c[i].fd, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r > 0) {
				if (!echo_feed(s, i, buf, (size_t)r))
					echo_drop(s, i);
				continue;
			}
			if (!s->c[i].any)
				atomic_fetch_add(&s->probes, 1);
			else if (!s->c[i].pre_ok)
				echo_bad(s, "closed within its preamble",
					 s->c[i].pre, s->c[i].prelen);
			echo_drop(s, i);
		}
	}
	while (s->n > 0)
		echo_drop(s, s->n - 1);
	return NULL;
}

static bool
echo_start(bool tcp)
{
	struct echo_srv *s = &g_echo;

	s->n = 0;
	s->tcp = tcp;
	atomic_store(&s->good, 0);
	atomic_store(&s->probes, 0);
	atomic_store(&s->bad, 0);
	atomic_store(&s->tcp_accepted, 0);
	s->bad_msg[0] = '\0';
	s->wantlen = (size_t)snprintf(s->want, sizeof(s->want),
				      "LLMFB/1 CONNECT %s ", HOST);
	if (pipe2(s->stop, O_CLOEXEC) != 0) {
		errf("pipe2: %s", ename(errno));
		return false;
	}
	if (spawn(&s->th, echo_main, s) != 0) {
		errf("pthread_create failed");
		close(s->stop[0]);
		close(s->stop[1]);
		return false;
	}
	return true;
}

static void
echo_stop(void)
{
	struct echo_srv *s = &g_echo;
	ssize_t w = write(s->stop[1], "x", 1);

	(void)w;
	pthread_join(s->th, NULL);
	close(s->stop[0]);
	close(s->stop[1]);
}

/* ------------------------------------------------------------------ */
/* fds of this process */

/* The open fds (the listing's own excluded), sorted; with inheritable,
 * only those without FD_CLOEXEC.  The count, or -1. */
static int
list_fds(int *out, int max, bool inheritable)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0, i, j;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		if (inheritable && (fcntl(fd, F_GETFD) & FD_CLOEXEC))
			continue;
		if (n < max)
			out[n++] = fd;
	}
	closedir(d);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && out[j - 1] > out[j]; j--) {
			int t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static bool
fd_in(const int *set, int n, int fd)
{
	int i;

	for (i = 0; i < n; i++)
		if (set[i] == fd)
			return true;
	return false;
}

static void
fds_str(char *buf, size_t cap, const int *set, int n)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n && o + 12 < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? "," : "",
				      set[i]);
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* ------------------------------------------------------------------ */
/* 1. resolve */

/* In a child (so that a slow real DNS cannot hang the case): what does
 * name resolve to?  "synthetic ADDR", "real ADDR", "error ...", or
 * "no answer" when real DNS did not answer in 3 s. */
static void
lookup_in_child(const char *name, char *out, size_t cap)
{
	int p[2];
	pid_t pid;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(out, cap, "error pipe2: %s", ename(errno));
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct addrinfo h, *res = NULL, *ai;
		char line[256], a[80];
		const char *kind = "real";
		ssize_t w;
		int rc;

		signal(SIGALRM, SIG_DFL);
		alarm(3);
		memset(&h, 0, sizeof(h));
		h.ai_socktype = SOCK_STREAM;
		rc = getaddrinfo(name, PORT, &h, &res);
		if (rc != 0) {
			snprintf(line, sizeof(line), "error %s",
				 gai_strerror(rc));
		} else {
			for (ai = res; ai; ai = ai->ai_next)
				if (is_synth(ai->ai_addr))
					kind = "synthetic";
			snprintf(line, sizeof(line), "%s %s", kind,
				 addr_str(res->ai_addr, a, sizeof(a)));
			freeaddrinfo(res);
		}
		w = write(p[1], line, strlen(line));
		(void)w;
		_exit(0);
	}
	close(p[1]);
	if (pid < 0) {
		snprintf(out, cap, "error fork: %s", ename(errno));
		close(p[0]);
		return;
	}
	n = read_all(p[0], out, cap, 5000);
	close(p[0]);
	waitpid(pid, NULL, 0);
	if (n <= 0)
		snprintf(out, cap, "no answer");
}

static void
c_resolve(void)
{
	struct addrinfo h, *res = NULL, *ai;
	struct sockaddr_storage a4, a6, alt;
	socklen_t l4 = 0, l6 = 0, lalt;
	uint32_t v4, v6, valt;
	char host[NI_MAXHOST], serv[NI_MAXSERV], a[80], out[300];
	int rc, i;
	static const char *const unlisted[] = {
		"example.invalid", "localhost.localdomain",
	};

	/* AF_INET, with the canonical name */
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_INET;
	h.ai_socktype = SOCK_STREAM;
	h.ai_flags = AI_CANONNAME;
	rc = getaddrinfo(HOST, PORT, &h, &res);
	EXPECT(rc == 0, "getaddrinfo(" HOST ", AF_INET): %s",
	       gai_strerror(rc));
	EXPECT(res != NULL, "getaddrinfo: no answer");
	EXPECT(res->ai_family == AF_INET &&
	       res->ai_addrlen == sizeof(struct sockaddr_in) &&
	       res->ai_addr->sa_family == AF_INET,
	       "AF_INET answer has family %d, length %u", res->ai_family,
	       (unsigned)res->ai_addrlen);
	EXPECT(is_synth(res->ai_addr), "AF_INET answer %s is not in "
	       "198.19.0.0/16", addr_str(res->ai_addr, a, sizeof(a)));
	EXPECT(port_of(res->ai_addr) == 443, "port %u, want 443",
	       port_of(res->ai_addr));
	EXPECT(res->ai_socktype == SOCK_STREAM, "socktype %d",
	       res->ai_socktype);
	EXPECT(res->ai_canonname && strcmp(res->ai_canonname, HOST) == 0,
	       "canonname \"%s\", want \"" HOST "\"",
	       res->ai_canonname ? res->ai_canonname : "(null)");
	for (ai = res; ai; ai = ai->ai_next)
		EXPECT(is_synth(ai->ai_addr), "a further answer %s is not "
		       "synthetic", addr_str(ai->ai_addr, a, sizeof(a)));
	memcpy(&a4, res->ai_addr, res->ai_addrlen);
	l4 = res->ai_addrlen;
	freeaddrinfo(res);
	res = NULL;
	v4_of((struct sockaddr *)&a4, &v4);

	/* stable, case and trailing dot do not matter */
	EXPECT(resolve(HOST, PORT, AF_INET, &alt, &lalt), "again: %s", g_err);
	EXPECT(same_addr((struct sockaddr *)&alt, (struct sockaddr *)&a4),
	       "a second lookup gave %s",
	       addr_str((struct sockaddr *)&alt, a, sizeof(a)));
	EXPECT(resolve("API.Guest.TEST.", PORT, AF_INET, &alt, &lalt),
	       "API.Guest.TEST.: %s", g_err);
	EXPECT(same_addr((struct sockaddr *)&alt, (struct sockaddr *)&a4),
	       "API.Guest.TEST. gave %s, not the address of " HOST,
	       addr_str((struct sockaddr *)&alt, a, sizeof(a)));
	/* the other listed name: synthetic, and another address */
	EXPECT(resolve("localhost", PORT, AF_INET, &alt, &lalt),
	       "localhost: %s", g_err);
	EXPECT(is_synth((struct sockaddr *)&alt) &&
	       v4_of((struct sockaddr *)&alt, &valt) && valt != v4,
	       "localhost (listed) gave %s",
	       addr_str((struct sockaddr *)&alt, a, sizeof(a)));

	/* AF_INET6: the same address, v4-mapped */
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_INET6;
	h.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(HOST, PORT, &h, &res);
	EXPECT(rc == 0, "getaddrinfo(" HOST ", AF_INET6): %s",
	       gai_strerror(rc));
	EXPECT(res->ai_family == AF_INET6 &&
	       res->ai_addrlen == sizeof(struct sockaddr_in6),
	       "AF_INET6 answer has family %d, length %u", res->ai_family,
	       (unsigned)res->ai_addrlen);
	EXPECT(v4_of(res->ai_addr, &v6) && is_synth(res->ai_addr),
	       "AF_INET6 answer %s is not ::ffff:198.19.x.y",
	       addr_str(res->ai_addr, a, sizeof(a)));
	EXPECT(v6 == v4, "AF_INET6 answer %s does not map the AF_INET one",
	       addr_str(res->ai_addr, a, sizeof(a)));
	EXPECT(port_of(res->ai_addr) == 443, "AF_INET6 port %u",
	       port_of(res->ai_addr));
	memcpy(&a6, res->ai_addr, res->ai_addrlen);
	l6 = res->ai_addrlen;
	freeaddrinfo(res);
	res = NULL;

	/* AF_UNSPEC, no socket type: every answer synthetic */
	rc = getaddrinfo(HOST, NULL, NULL, &res);
	EXPECT(rc == 0, "getaddrinfo(" HOST ", no hints): %s",
	       gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next)
		EXPECT(is_synth(ai->ai_addr), "no-hints answer %s is not "
		       "synthetic", addr_str(ai->ai_addr, a, sizeof(a)));
	freeaddrinfo(res);
	res = NULL;

	/* and back */
	rc = getnameinfo((struct sockaddr *)&a4, l4, host, sizeof(host),
			 serv, sizeof(serv), NI_NAMEREQD | NI_NUMERICSERV);
	EXPECT(rc == 0, "getnameinfo(AF_INET): %s", gai_strerror(rc));
	EXPECT(strcmp(host, HOST) == 0 && strcmp(serv, PORT) == 0,
	       "getnameinfo(AF_INET) gave %s port %s", host, serv);
	rc = getnameinfo((struct sockaddr *)&a6, l6, host, sizeof(host),
			 NULL, 0, NI_NAMEREQD);
	EXPECT(rc == 0, "getnameinfo(AF_INET6): %s", gai_strerror(rc));
	EXPECT(strcmp(host, HOST) == 0, "getnameinfo(AF_INET6) gave %s",
	       host);
	rc = getnameinfo((struct sockaddr *)&a4, l4, host, sizeof(host),
			 NULL, 0, NI_NUMERICHOST);
	EXPECT(rc == 0 && strncmp(host, "198.19.", 7) == 0,
	       "getnameinfo(NI_NUMERICHOST) gave rc %d \"%s\"", rc, host);

	/* names not listed are not the shim's */
	rc = getaddrinfo("127.0.0.1", PORT, NULL, &res);
	EXPECT(rc == 0, "getaddrinfo(127.0.0.1): %s", gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next)
		EXPECT(is_loop4(ai->ai_addr, 443), "127.0.0.1 gave %s",
		       addr_str(ai->ai_addr, a, sizeof(a)));
	freeaddrinfo(res);
	res = NULL;
	for (i = 0; i < 2; i++) {
		lookup_in_child(unlisted[i], out, sizeof(out));
		EXPECT(strncmp(out, "synthetic", 9) != 0,
		       "%s (not listed) resolved to a synthetic address: %s",
		       unlisted[i], out);
		EXPECT(strncmp(out, "error fork", 10) != 0 &&
		       strncmp(out, "error pipe", 10) != 0, "%s", out);
	}
out:
	if (res)
		freeaddrinfo(res);
}

/* ------------------------------------------------------------------ */
/* 2. connect-blocking */

static void
c_connect_blocking(void)
{
	static const char req[] = "GET /ping HTTP/1.1\r\n\r\n";
	static const char rsp[] = "HTTP/1.1 200 OK\r\n\r\npong";
	struct sockaddr_storage ss;
	socklen_t len;
	char want[PRE_MAX + sizeof(req)], buf[64], s1[200], s2[200];
	int before[FD_LIST_MAX], after[FD_LIST_MAX], nb, na;
	int fd = -1, d = -1, rc, e, n;

	drain_backlog();
	nb = list_fds(before, FD_LIST_MAX, false);
	EXPECT(resolve(HOST, PORT, AF_INET, &ss, &len), "%s", g_err);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EXPECT(fd >= 0, "socket: %s", ename(errno));
	errno = 12345;
	rc = connect(fd, (struct sockaddr *)&ss, len);
	e = errno;
	EXPECT(rc == 0, "connect returned %d (%s)", rc, ename(e));
	EXPECT(e == 12345, "connect succeeded but changed errno to %d (%s)",
	       e, ename(e));
	errno = 0;
	rc = connect(fd, (struct sockaddr *)&ss, len);
	EXPECT(rc == -1 && errno == EISCONN, "a second connect gave %d (%s), "
	       "want -1 EISCONN as TCP does", rc,
	       errno ? ename(errno) : "no error");
	EXPECT(write_all(fd, req, sizeof(req) - 1), "app write: %s", g_err);

	d = daemon_accept(2000);
	EXPECT(d >= 0, "%s", g_err);
	n = preamble(want, sizeof(want), HOST, PORT);
	memcpy(want + n, req, sizeof(req) - 1);
	EXPECT(expect_read(d, want, (size_t)n + sizeof(req) - 1, 1000),
	       "fake daemon: %s", g_err);
	EXPECT(nothing_more(d), "fake daemon: %s", g_err);

	EXPECT(write_all(d, rsp, sizeof(rsp) - 1), "daemon write: %s", g_err);
	EXPECT(expect_read(fd, rsp, sizeof(rsp) - 1, 1000), "app: %s", g_err);
	xclose(&d);
	EXPECT(wait_fd(fd, POLLIN, 1000) > 0, "no end of stream within 1 s");
	EXPECT(read(fd, buf, sizeof(buf)) == 0,
	       "app read after the daemon closed: not the end of stream");
	/* the shim keeps no fd of its own */
	xclose(&fd);
	na = list_fds(after, FD_LIST_MAX, false);
	fds_str(s1, sizeof(s1), before, nb);
	fds_str(s2, sizeof(s2), after, na);
	EXPECT(na == nb && memcmp(before, after, sizeof(int) * (size_t)na)
	       == 0, "open fds before: %s, after: %s", s1, s2);
out:
	xclose(&d);
	xclose(&fd);
}

/* ------------------------------------------------------------------ */
/* 3. connect-nonblocking */

static bool
nonblocking_once(bool cloexec)
{
	struct sockaddr_storage ss;
	struct epoll_event ev, got;
	socklen_t len, el = sizeof(int);
	int fd = -1, d = -1, ep = -1, rc, e, err = -1, fl, fdfl, n;
	const char *how = cloexec ? "SOCK_CLOEXEC" : "no SOCK_CLOEXEC";
	char c;
	bool ok = false;

	EXPECT(resolve(HOST, PORT, AF_INET, &ss, &len), "%s", g_err);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    (cloexec ? SOCK_CLOEXEC : 0), 0);
	EXPECT(fd >= 0, "socket: %s", ename(errno));
	rc = connect(fd, (struct sockaddr *)&ss, len);
	e = errno;
	EXPECT(rc == 0 || e == EINPROGRESS, "%s: connect: %d (%s)", how, rc,
	       ename(e));
	EXPECT(wait_fd(fd, POLLOUT, 1000) & POLLOUT,
	       "%s: not writable within 1 s", how);
	EXPECT(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0,
	       "%s: SO_ERROR: %s", how, ename(errno));
	EXPECT(err == 0, "%s: SO_ERROR is %d (%s)", how, err, ename(err));
	fl = fcntl(fd, F_GETFL);
	EXPECT(fl >= 0 && (fl & O_NONBLOCK), "%s: O_NONBLOCK lost (flags "
	       "0x%x)", how, fl);
	fdfl = fcntl(fd, F_GETFD);
	EXPECT(fdfl >= 0 && !!(fdfl & FD_CLOEXEC) == cloexec,
	       "%s: FD_CLOEXEC is %s", how,
	       fdfl < 0 ? "unknown" : (fdfl & FD_CLOEXEC) ? "set" : "clear");
	/* really non-blocking, not merely flagged */
	errno = 0;
	EXPECT(read(fd, &c, 1) < 0 && (errno == EAGAIN ||
				       errno == EWOULDBLOCK),
	       "%s: read with nothing sent: %s, want EAGAIN", how,
	       ename(errno));

	ep = epoll_create1(EPOLL_CLOEXEC);
	EXPECT(ep >= 0, "epoll_create1: %s", ename(errno));
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = fd;
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0,
	       "%s: epoll_ctl: %s", how, ename(errno));
	EXPECT(epoll_wait(ep, &got, 1, 0) == 0,
	       "%s: epoll reports an event before the daemon wrote", how);

	d = daemon_take(HOST, PORT);
	EXPECT(d >= 0, "%s: %s", how, g_err);
	EXPECT(write_all(d, "x", 1), "daemon write: %s", g_err);
	n = epoll_wait(ep, &got, 1, 1000);
	EXPECT(n == 1 && (got.events & EPOLLIN) && got.data.fd == fd,
	       "%s: epoll_wait gave %d (events 0x%x) within 1 s, want "
	       "EPOLLIN", how, n, n == 1 ? got.events : 0);
	EXPECT(read(fd, &c, 1) == 1 && c == 'x', "%s: read after EPOLLIN",
	       how);
	ok = true;
out:
	xclose(&ep);
	xclose(&d);
	xclose(&fd);
	return ok;
}

static void
c_connect_nonblocking(void)
{
	drain_backlog();
	if (nonblocking_once(true))
		nonblocking_once(false);
}

/* ------------------------------------------------------------------ */
/* 3b. epoll-before-connect: an event loop that registers its socket when
 * it creates it, before connect() (Boost.Asio's reactor does, at open();
 * Netty's epoll transport at channel registration), must still hear of
 * it: the registration belongs to the fd's open file. */

static void
c_epoll_before_connect(void)
{
	struct sockaddr_storage ss;
	struct epoll_event ev, got;
	socklen_t len;
	int fd = -1, d = -1, ep = -1, rc, e, n, mod;

	drain_backlog();
	EXPECT(resolve(HOST, PORT, AF_INET, &ss, &len), "%s", g_err);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	EXPECT(fd >= 0, "socket: %s", ename(errno));
	ep = epoll_create1(EPOLL_CLOEXEC);
	EXPECT(ep >= 0, "epoll_create1: %s", ename(errno));
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = 0x5eed;
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl ADD: %s",
	       ename(errno));
	rc = connect(fd, (struct sockaddr *)&ss, len);
	e = errno;
	EXPECT(rc == 0 || e == EINPROGRESS, "connect: %d (%s)", rc, ename(e));

	/* connected: writable */
	n = epoll_wait(ep, &got, 1, 1000);
	if (n == 0) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLET;
		mod = epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
		EXPECT(false, "no EPOLLOUT within 1 s for a socket registered "
		       "with epoll before connect(): the registration went "
		       "with the TCP socket that connect() swapped out "
		       "(EPOLL_CTL_MOD on the fd now gives %s)",
		       mod == 0 ? "success" : ename(errno));
	}
	EXPECT(n == 1 && (got.events & EPOLLOUT) && got.data.u64 == 0x5eed,
	       "epoll_wait: %d (events 0x%x), want EPOLLOUT", n,
	       n == 1 ? got.events : 0);

	/* and readable when the daemon writes */
	d = daemon_take(HOST, PORT);
	EXPECT(d >= 0, "%s", g_err);
	EXPECT(write_all(d, "x", 1), "daemon write: %s", g_err);
	n = epoll_wait(ep, &got, 1, 1000);
	EXPECT(n == 1 && (got.events & EPOLLIN) && got.data.u64 == 0x5eed,
	       "epoll_wait after the daemon wrote: %d (events 0x%x), want "
	       "EPOLLIN", n, n == 1 ? got.events : 0);
out:
	xclose(&ep);
	xclose(&d);
	xclose(&fd);
	drain_backlog();
}

/* ------------------------------------------------------------------ */
/* 4. tcp-answers */

static int
get_int(int fd, int level, int name, int *v)
{
	socklen_t l = sizeof(*v);

	*v = -12345;
	return getsockopt(fd, level, name, v, &l) == 0 && l == sizeof(*v) ?
		0 : -1;
}

static int
set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

static bool
answers_once(int family)
{
	const char *fam = family == AF_INET ? "AF_INET" : "AF_INET6";
	struct sockaddr_storage ss, peer, self;
	struct tcp_info ti;
	socklen_t len, pl, tl;
	char a[80], b[80];
	int fd = -1, v;
	bool ok = false;

	EXPECT(resolve(HOST, PORT, family, &ss, &len), "%s", g_err);
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EXPECT(fd >= 0, "socket: %s", ename(errno));
	/* set on the TCP socket, before connect: must survive */
	EXPECT(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) == 0,
	       "TCP_NODELAY before connect: %s", ename(errno));
	EXPECT(connect(fd, (struct sockaddr *)&ss, len) == 0,
	       "%s connect: %s", fam, ename(errno));

	pl = sizeof(peer);
	memset(&peer, 0, sizeof(peer));
	EXPECT(getpeername(fd, (struct sockaddr *)&peer, &pl) == 0,
	       "%s getpeername: %s", fam, ename(errno));
	EXPECT(pl == len && same_addr((struct sockaddr *)&peer,
				      (struct sockaddr *)&ss),
	       "%s getpeername gave %s (len %u), want %s (len %u)", fam,
	       addr_str((struct sockaddr *)&peer, a, sizeof(a)), (unsigned)pl,
	       addr_str((struct sockaddr *)&ss, b, sizeof(b)), (unsigned)len);
	pl = sizeof(self);
	memset(&self, 0, sizeof(self));
	EXPECT(getsockname(fd, (struct sockaddr *)&self, &pl) == 0,
	       "%s getsockname: %s", fam, ename(errno));
	EXPECT(self.ss_family == family, "%s getsockname family %d", fam,
	       self.ss_family);
	EXPECT(get_int(fd, SOL_SOCKET, SO_DOMAIN, &v) == 0 && v == family,
	       "%s SO_DOMAIN is %d", fam, v);
	EXPECT(get_int(fd, SOL_SOCKET, SO_PROTOCOL, &v) == 0 &&
	       v == IPPROTO_TCP, "%s SO_PROTOCOL is %d", fam, v);
	EXPECT(get_int(fd, SOL_SOCKET, SO_TYPE, &v) == 0 && v == SOCK_STREAM,
	       "%s SO_TYPE is %d", fam, v);
	EXPECT(get_int(fd, IPPROTO_TCP, TCP_NODELAY, &v) == 0 && v == 1,
	       "%s TCP_NODELAY set before connect reads back %d", fam, v);
	EXPECT(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 0) == 0,
	       "%s set TCP_NODELAY 0: %s", fam, ename(errno));
	EXPECT(get_int(fd, IPPROTO_TCP, TCP_NODELAY, &v) == 0 && v == 0,
	       "%s TCP_NODELAY reads %d after set 0", fam, v);
	EXPECT(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) == 0,
	       "%s set TCP_NODELAY 1: %s", fam, ename(errno));
	EXPECT(get_int(fd, IPPROTO_TCP, TCP_NODELAY, &v) == 0 && v == 1,
	       "%s TCP_NODELAY reads %d after set 1", fam, v);
	EXPECT(set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 30) == 0,
	       "%s set TCP_KEEPIDLE: %s", fam, ename(errno));
	EXPECT(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v) == 0 && v == 30,
	       "%s TCP_KEEPIDLE reads %d after set 30", fam, v);
	EXPECT(set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1) == 0,
	       "%s set SO_KEEPALIVE: %s", fam, ename(errno));
	EXPECT(get_int(fd, SOL_SOCKET, SO_KEEPALIVE, &v) == 0 && v == 1,
	       "%s SO_KEEPALIVE reads %d after set 1", fam, v);
	memset(&ti, 0xff, sizeof(ti));
	tl = sizeof(ti);
	EXPECT(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0,
	       "%s TCP_INFO: %s", fam, ename(errno));
	EXPECT(tl > 0 && ti.tcpi_state == TCP_ESTABLISHED,
	       "%s TCP_INFO tcpi_state %u (len %u), want %d", fam,
	       ti.tcpi_state, (unsigned)tl, TCP_ESTABLISHED);
	ok = true;
out:
	xclose(&fd);
	return ok;
}

static void
c_tcp_answers(void)
{
	drain_backlog();
	if (answers_once(AF_INET))
		answers_once(AF_INET6);
	drain_backlog();
}

/* ------------------------------------------------------------------ */
/* 5. dup */

/* fd answers as a TCP socket connected to want. */
static bool
answers_tcp(int fd, const struct sockaddr_storage *want)
{
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	char a[80];
	int v;

	if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0) {
		errf("getpeername(%d): %s", fd, ename(errno));
		return false;
	}
	if (!same_addr((struct sockaddr *)&peer, (const void *)want)) {
		errf("getpeername(%d) gave %s", fd,
		     addr_str((struct sockaddr *)&peer, a, sizeof(a)));
		return false;
	}
	if (get_int(fd, SOL_SOCKET, SO_PROTOCOL, &v) != 0 ||
	    v != IPPROTO_TCP) {
		errf("SO_PROTOCOL(%d) is %d", fd, v);
		return false;
	}
	if (get_int(fd, SOL_SOCKET, SO_DOMAIN, &v) != 0 || v != AF_INET) {
		errf("SO_DOMAIN(%d) is %d", fd, v);
		return false;
	}
	return true;
}

/* The lowest fd at or above from that is not open. */
static int
free_fd_from(int from)
{
	while (fd_open(from))
		from++;
	return from;
}

static void
c_dup(void)
{
	struct sockaddr_storage ss, peer;
	socklen_t len, pl;
	int fd = -1, d = -1, n2 = -1, n3 = -1, c = -1, x = -1, v, fdfl;
	int p[2] = { -1, -1 };

	drain_backlog();
	fd = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, &ss, &len);
	EXPECT(fd >= 0, "%s", g_err);
	d = daemon_take(HOST, PORT);
	EXPECT(d >= 0, "%s", g_err);

	n2 = free_fd_from(200);
	EXPECT(dup2(fd, n2) == n2, "dup2(%d, %d): %s", fd, n2, ename(errno));
	EXPECT(answers_tcp(n2, &ss), "after dup2: %s", g_err);
	EXPECT(close(fd) == 0, "close original: %s", ename(errno));
	pl = sizeof(peer);
	EXPECT(getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 &&
	       errno == EBADF, "getpeername on the closed original %d: %s, "
	       "want EBADF", fd, ename(errno));
	fd = -1;
	EXPECT(answers_tcp(n2, &ss), "after closing the original: %s",
	       g_err);
	EXPECT(write_all(n2, "via dup2\n", 9), "write: %s", g_err);
	EXPECT(expect_read(d, "via dup2\n", 9, 1000), "daemon: %s", g_err);
	EXPECT(write_all(d, "back\n", 5), "daemon write: %s", g_err);
	EXPECT(expect_read(n2, "back\n", 5, 1000), "over the copy: %s", g_err);

	/* fcntl(F_DUPFD_CLOEXEC) */
	c = fcntl(n2, F_DUPFD_CLOEXEC, 0);
	EXPECT(c >= 0, "F_DUPFD_CLOEXEC: %s", ename(errno));
	fdfl = fcntl(c, F_GETFD);
	EXPECT(fdfl >= 0 && (fdfl & FD_CLOEXEC),
	       "F_DUPFD_CLOEXEC copy has no FD_CLOEXEC");
	EXPECT(answers_tcp(c, &ss), "F_DUPFD_CLOEXEC copy: %s", g_err);
	EXPECT(get_int(c, IPPROTO_TCP, TCP_NODELAY, &v) == 0,
	       "TCP_NODELAY on the F_DUPFD_CLOEXEC copy: %s", ename(errno));
	xclose(&c);
	EXPECT(answers_tcp(n2, &ss), "after closing the F_DUPFD_CLOEXEC copy: "
	       "%s", g_err);

	/* dup3, and plain dup */
	n3 = free_fd_from(n2 + 1);
	EXPECT(dup3(n2, n3, O_CLOEXEC) == n3, "dup3: %s", ename(errno));
	EXPECT(answers_tcp(n3, &ss), "dup3 copy: %s", g_err);
	x = dup(n3);
	EXPECT(x >= 0, "dup: %s", ename(errno));
	EXPECT(answers_tcp(x, &ss), "dup copy: %s", g_err);
	xclose(&x);

	/* a pipe put over the redirected number: a pipe, nothing else */
	EXPECT(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", ename(errno));
	EXPECT(dup2(p[0], n2) == n2, "dup2(pipe, %d): %s", n2, ename(errno));
	pl = sizeof(peer);
	errno = 0;
	EXPECT(getpeername(n2, (struct sockaddr *)&peer, &pl) != 0 &&
	       errno == ENOTSOCK, "getpeername on %d, now a pipe: %s, want "
	       "ENOTSOCK (a stale fake answer)", n2,
	       errno ? ename(errno) : "success");
	errno = 0;
	EXPECT(get_int(n2, SOL_SOCKET, SO_DOMAIN, &v) != 0 &&
	       errno == ENOTSOCK, "SO_DOMAIN on %d, now a pipe: %s (%d)", n2,
	       errno ? ename(errno) : "success", v);
	/* the connection lives on through the dup3 copy */
	EXPECT(answers_tcp(n3, &ss), "dup3 copy after the pipe: %s", g_err);
	EXPECT(write_all(n3, "via dup3\n", 9), "write: %s", g_err);
	EXPECT(expect_read(d, "via dup3\n", 9, 1000), "daemon: %s", g_err);
out:
	xclose(&x);
	xclose(&c);
	xclose(&n3);
	xclose(&n2);
	xclose(&fd);
	xclose(&d);
	xclose(&p[0]);
	xclose(&p[1]);
}

/* ------------------------------------------------------------------ */
/* 6. close_range */

/* fd is a real TCP connection to the real listener, whose accepted end
 * is a. */
static bool
real_answers(int fd, int a)
{
	struct sockaddr_storage peer, self, apeer;
	socklen_t pl = sizeof(peer), sl = sizeof(self), al = sizeof(apeer);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	char x[80], y[80];

	if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0) {
		errf("getpeername: %s", ename(errno));
		return false;
	}
	if (!is_local((struct sockaddr *)&peer, g_tcp_port)) {
		errf("getpeername gave %s, want %s:%u (a stale answer?)",
		     addr_str((struct sockaddr *)&peer, x, sizeof(x)),
		     inet_ntop(AF_INET, &g_local[0], y, sizeof(y)),
		     g_tcp_port);
		return false;
	}
	if (getsockname(fd, (struct sockaddr *)&self, &sl) != 0 ||
	    getpeername(a, (struct sockaddr *)&apeer, &al) != 0) {
		errf("getsockname: %s", ename(errno));
		return false;
	}
	if (!same_addr((struct sockaddr *)&self, (struct sockaddr *)&apeer)) {
		errf("getsockname gave %s, but the listener sees %s",
		     addr_str((struct sockaddr *)&self, x, sizeof(x)),
		     addr_str((struct sockaddr *)&apeer, y, sizeof(y)));
		return false;
	}
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0 ||
	    ti.tcpi_state != TCP_ESTABLISHED || ti.tcpi_rcv_mss == 0) {
		errf("TCP_INFO: not the kernel's (state %u, rcv_mss %u)",
		     ti.tcpi_state, ti.tcpi_rcv_mss);
		return false;
	}
	return true;
}

static void
c_close_range(void)
{
	struct sockaddr_storage ss, peer;
	socklen_t len, pl;
	int open_fds[FD_LIST_MAX], fillers[FD_LIST_MAX];
	int nf = 0, n, maxfd, f, fd = -1, t = -1, a = -1, i, fdfl, v = 0;

	drain_backlog();
	/* so that a new socket lands on the number just freed: no hole below
	 * it, nothing open above it */
	n = list_fds(open_fds, FD_LIST_MAX, false);
	EXPECT(n > 0, "cannot list /proc/self/fd");
	maxfd = open_fds[n - 1];
	while ((f = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0 &&
	       f < maxfd && nf < FD_LIST_MAX)
		fillers[nf++] = f;
	EXPECT(f >= 0, "open /dev/null: %s", ename(errno));
	close(f);

	fd = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, &ss, &len);
	EXPECT(fd > maxfd, "setup: %s (fd %d, highest open %d)",
	       fd < 0 ? g_err : "the socket is not above every open fd", fd,
	       maxfd);
	EXPECT(answers_tcp(fd, &ss), "before close_range: %s", g_err);

	/* CLOSE_RANGE_CLOEXEC closes nothing: still redirected */
	EXPECT(close_range((unsigned)fd, (unsigned)fd, CLOSE_RANGE_CLOEXEC)
	       == 0, "close_range(CLOEXEC): %s", ename(errno));
	fdfl = fcntl(fd, F_GETFD);
	EXPECT(fdfl >= 0 && (fdfl & FD_CLOEXEC), "close_range(CLOEXEC): "
	       "the fd is gone or has no FD_CLOEXEC");
	EXPECT(answers_tcp(fd, &ss), "after close_range(CLOSE_RANGE_CLOEXEC): "
	       "%s", g_err);

	EXPECT(close_range((unsigned)fd, ~0U, 0) == 0, "close_range: %s",
	       ename(errno));
	EXPECT(!fd_open(fd), "close_range(%d, ~0U, 0) left it open", fd);
	t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EXPECT(t == fd, "setup: the new socket is %d, not %d", t, fd);
	fd = -1;
	{
		struct sockaddr_in sin;

		local_sin(&sin);
		EXPECT(connect(t, (struct sockaddr *)&sin, sizeof(sin)) == 0,
		       "real connect on the reused number: %s",
		       ename(errno));
	}
	a = real_accept(1000);
	EXPECT(a >= 0, "%s", g_err);
	EXPECT(real_answers(t, a), "after close_range, fd %d reused by real "
	       "TCP: %s", t, g_err);
	xclose(&a);
	xclose(&t);

	/* closed behind the shim's back */
	fd = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, &ss, &len);
	EXPECT(fd >= 0, "%s", g_err);
	EXPECT(answers_tcp(fd, &ss), "second redirected fd: %s", g_err);
	EXPECT(syscall(SYS_close, fd) == 0, "SYS_close: %s", ename(errno));
	t = real_connect(SOCK_CLOEXEC);
	EXPECT(t >= 0, "%s", g_err);
	EXPECT(t == fd, "setup: the new socket is %d, not %d", t, fd);
	fd = -1;
	a = real_accept(1000);
	EXPECT(a >= 0, "%s", g_err);
	EXPECT(real_answers(t, a), "after SYS_close, fd %d reused by real "
	       "TCP: %s", t, g_err);
	/* and its TCP options are the kernel's */
	EXPECT(set_int(t, IPPROTO_TCP, TCP_KEEPIDLE, 77) == 0 &&
	       get_int(t, IPPROTO_TCP, TCP_KEEPIDLE, &v) == 0 && v == 77,
	       "TCP_KEEPIDLE on the reused number: %s (%d)", ename(errno), v);
	pl = sizeof(peer);
	EXPECT(getpeername(t, (struct sockaddr *)&peer, &pl) == 0 &&
	       !is_synth((struct sockaddr *)&peer), "still synthetic");
out:
	xclose(&a);
	xclose(&t);
	xclose(&fd);
	for (i = 0; i < nf; i++)
		close(fillers[i]);
	drain_backlog();
}

/* ------------------------------------------------------------------ */
/* 7. exec */

static void
c_exec(void)
{
	static char *const argv[] = {
		"sh", "-c", "echo \"$LD_PRELOAD\"; ls /proc/self/fd", NULL
	};
	int mine[FD_LIST_MAX], child[FD_LIST_MAX];
	char out[8192], s1[200], s2[200], *line, *save = NULL;
	int a = -1, b = -1, p[2] = { -1, -1 }, nm, nc = 0, i, st, ls_fd;
	int fdfl, extra = 0;
	pid_t pid = -1;
	ssize_t n;

	drain_backlog();
	a = synth_connect(HOST, PORT, AF_INET, 0, NULL, NULL);
	EXPECT(a >= 0, "%s", g_err);
	b = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, NULL, NULL);
	EXPECT(b >= 0, "%s", g_err);
	fdfl = fcntl(a, F_GETFD);
	EXPECT(fdfl == 0, "fd without cloexec: F_GETFD gives %d", fdfl);
	fdfl = fcntl(b, F_GETFD);
	EXPECT(fdfl == FD_CLOEXEC, "fd with SOCK_CLOEXEC: F_GETFD gives %d",
	       fdfl);

	/* what the child may inherit: 0, 1, 2 and a; nothing of the shim */
	nm = list_fds(mine, FD_LIST_MAX, true);
	fds_str(s1, sizeof(s1), mine, nm);
	EXPECT(nm == 4 && mine[0] == 0 && mine[1] == 1 && mine[2] == 2 &&
	       mine[3] == a, "fds without FD_CLOEXEC here: %s, want 0,1,2,%d",
	       s1, a);
	/* ls's own directory fd: the lowest number free in the child */
	for (ls_fd = 0; fd_in(mine, nm, ls_fd); ls_fd++)
		;

	EXPECT(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", ename(errno));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) == STDOUT_FILENO)
			execve("/bin/sh", argv, environ);
		_exit(127);
	}
	EXPECT(pid > 0, "fork: %s", ename(errno));
	xclose(&p[1]);
	n = read_all(p[0], out, sizeof(out), 8000);
	EXPECT(n >= 0, "no end of output from the child in 8 s");
	EXPECT(waitpid(pid, &st, 0) == pid, "waitpid: %s", ename(errno));
	pid = -1;
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "sh -c ... exited with status 0x%x; output: %s", st,
	       esc(s2, sizeof(s2), out, (size_t)n));
	line = strtok_r(out, "\n", &save);
	EXPECT(line && strstr(line, "libllmfb.so"), "LD_PRELOAD in the exec'd "
	       "program is \"%s\"", line ? line : "");
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		EXPECT(line[0] >= '0' && line[0] <= '9' &&
		       nc < FD_LIST_MAX, "unexpected output line \"%s\"",
		       line);
		child[nc++] = atoi(line);
	}
	fds_str(s1, sizeof(s1), child, nc);
	EXPECT(fd_in(child, nc, a), "the fd without cloexec (%d) is not open "
	       "after exec (open: %s)", a, s1);
	EXPECT(!fd_in(child, nc, b), "the SOCK_CLOEXEC fd (%d) is open after "
	       "exec (open: %s)", b, s1);
	for (i = 0; i < nc; i++)
		if (!fd_in(mine, nm, child[i]) && child[i] != ls_fd)
			extra++;
	EXPECT(extra == 0 && nc == nm + 1, "open after exec: %s; want "
	       "0,1,2,%d and ls's own %d", s1, a, ls_fd);
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	xclose(&p[0]);
	xclose(&p[1]);
	xclose(&a);
	xclose(&b);
	drain_backlog();
}

/* ------------------------------------------------------------------ */
/* 8. fork */

static atomic_bool g_busy_stop;

/* Keeps the shim's locks busy while the main thread forks. */
static void *
busy_main(void *arg)
{
	int fd = *(int *)arg, x;
	unsigned i;

	for (i = 0; !atomic_load(&g_busy_stop); i++) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);

		x = dup(fd);
		if (x >= 0) {
			getpeername(x, (struct sockaddr *)&peer, &pl);
			close(x);
		}
		if (i % 64 == 0) {
			struct addrinfo h, *res;

			memset(&h, 0, sizeof(h));
			h.ai_family = AF_INET;
			h.ai_socktype = SOCK_STREAM;
			if (getaddrinfo("localhost", "80", &h, &res) == 0)
				freeaddrinfo(res);
		}
	}
	return NULL;
}

/* The child: a fresh lookup, connect and round trip.  Its exit status
 * says which step failed. */
static void
fork_child(int inherited, const struct sockaddr_storage *ss,
    unsigned k)
{
	char msg[32], rsp[32];
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	int fd, n, m;

	signal(SIGALRM, SIG_DFL);
	alarm(5);
	if (getpeername(inherited, (struct sockaddr *)&peer, &pl) != 0 ||
	    !same_addr((struct sockaddr *)&peer, (const void *)ss))
		_exit(10);
	fd = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, NULL, NULL);
	if (fd < 0)
		_exit(11);
	n = snprintf(msg, sizeof(msg), "child %u\n", k);
	m = snprintf(rsp, sizeof(rsp), "ok child %u\n", k);
	if (!write_all(fd, msg, (size_t)n))
		_exit(12);
	if (!expect_read(fd, rsp, (size_t)m, 3000))
		_exit(13);
	close(fd);
	_exit(0);
}

static const char *
child_step(int code)
{
	switch (code) {
	case 10: return "the inherited redirected fd did not answer";
	case 11: return "getaddrinfo+connect failed";
	case 12: return "write failed";
	case 13: return "no answer to its request";
	}
	return "?";
}

#define FORKS 8

static void
c_fork(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	pthread_t busy;
	bool busy_on = false;
	char msg[32], rsp[32];
	int fd = -1, d = -1, c = -1, st, n, m;
	unsigned k;
	pid_t pid = -1;

	drain_backlog();
	fd = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, &ss, &len);
	EXPECT(fd >= 0, "%s", g_err);
	d = daemon_take(HOST, PORT);
	EXPECT(d >= 0, "%s", g_err);
	EXPECT(write_all(fd, "before\n", 7) &&
	       expect_read(d, "before\n", 7, 1000), "before fork: %s", g_err);

	atomic_store(&g_busy_stop, false);
	EXPECT(spawn(&busy, busy_main, &fd) == 0, "pthread_create failed");
	busy_on = true;
	for (k = 0; k < FORKS; k++) {
		fflush(stdout);
		pid = fork();
		if (pid == 0)
			fork_child(fd, &ss, k);
		EXPECT(pid > 0, "fork: %s", ename(errno));
		/* the parent serves the child's connection */
		n = snprintf(msg, sizeof(msg), "child %u\n", k);
		m = snprintf(rsp, sizeof(rsp), "ok child %u\n", k);
		c = daemon_take(HOST, PORT);
		if (c < 0 && waitpid(pid, &st, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			pid = -1;
			EXPECT(false, "fork %u: the child never connected and "
			       "hung (a lock held across fork?): %s", k,
			       g_err);
		}
		EXPECT(c >= 0, "fork %u: the child's connection: %s", k, g_err);
		EXPECT(expect_read(c, msg, (size_t)n, 2000),
		       "fork %u: the child's request: %s", k, g_err);
		EXPECT(write_all(c, rsp, (size_t)m), "write: %s", g_err);
		EXPECT(waitpid(pid, &st, 0) == pid, "waitpid: %s",
		       ename(errno));
		pid = -1;
		EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		       "fork %u: the child %s (status 0x%x: %s)", k,
		       WIFSIGNALED(st) ? "was killed" : "failed", st,
		       WIFSIGNALED(st) ? (WTERMSIG(st) == SIGALRM ?
					  "hung (deadlock after fork?)" :
					  strsignal(WTERMSIG(st))) :
		       child_step(WEXITSTATUS(st)));
		xclose(&c);
	}
	atomic_store(&g_busy_stop, true);
	pthread_join(busy, NULL);
	busy_on = false;

	/* the parent: its old connection, and a fresh one */
	EXPECT(answers_tcp(fd, &ss), "parent's fd after fork: %s", g_err);
	EXPECT(write_all(fd, "after\n", 6) &&
	       expect_read(d, "after\n", 6, 1000), "after fork: %s", g_err);
	EXPECT(write_all(d, "ok\n", 3) && expect_read(fd, "ok\n", 3, 1000),
	       "after fork, answer: %s", g_err);
	xclose(&d);
	xclose(&fd);
	fd = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, NULL, NULL);
	EXPECT(fd >= 0, "parent, fresh connect: %s", g_err);
	d = daemon_take(HOST, PORT);
	EXPECT(d >= 0, "parent, fresh connect: %s", g_err);
	EXPECT(write_all(fd, "parent\n", 7) &&
	       expect_read(d, "parent\n", 7, 1000) &&
	       write_all(d, "ok parent\n", 10) &&
	       expect_read(fd, "ok parent\n", 10, 1000),
	       "parent round trip: %s", g_err);
out:
	if (busy_on) {
		atomic_store(&g_busy_stop, true);
		pthread_join(busy, NULL);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	xclose(&c);
	xclose(&d);
	xclose(&fd);
	drain_backlog();
}

/* ------------------------------------------------------------------ */
/* 9. signals */

static volatile sig_atomic_t g_sig_fd = -1, g_sig_count, g_sig_bad;

static void
alrm_handler(int sig)
{
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	int saved = errno, x;

	(void)sig;
	x = dup(g_sig_fd);
	if (x < 0) {
		g_sig_bad++;
	} else {
		if (getpeername(x, (struct sockaddr *)&peer, &pl) != 0 ||
		    !is_synth((struct sockaddr *)&peer))
			g_sig_bad++;
		close(x);
	}
	g_sig_count++;
	errno = saved;
}

/* connect as a program that retries EINTR does: the connection goes on in
 * the background, so wait for it and ask SO_ERROR. */
static int
connect_eintr(int fd, const struct sockaddr *sa, socklen_t len,
    unsigned *eintr)
{
	socklen_t el = sizeof(int);
	int e;

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINTR)
		return errno;
	(*eintr)++;
	e = wait_fd(fd, POLLOUT, 2000);
	if (e <= 0)
		return ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
		return errno;
	return e;
}

/* At least SIG_ITER iterations of each kind, and on until SIG_MIN signals
 * came (within SIG_MS): a fast machine does 200 in a few ticks. */
#define SIG_ITER 200
#define SIG_MIN 300
#define SIG_MS 4000

static void
c_signals(void)
{
	static const char msg[] = "under signals port=443\n";
	struct sockaddr_storage ss;
	struct sockaddr_in real;
	struct sigaction sa;
	struct itimerval it;
	socklen_t len;
	bool echo_on = false, timer_on = false;
	unsigned eintr = 0, i = 0, j;
	long long t0;
	int k = -1, fd = -1, e;

	drain_backlog();
	EXPECT(echo_start(true), "%s", g_err);
	echo_on = true;
	k = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, &ss, &len);
	EXPECT(k >= 0, "%s", g_err);
	local_sin(&real);

	g_sig_fd = k;
	g_sig_count = 0;
	g_sig_bad = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = alrm_handler;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = 1000;
	it.it_value.tv_usec = 1000;
	EXPECT(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer: %s",
	       ename(errno));
	timer_on = true;

	t0 = now_ms();
	for (i = 0; i < SIG_ITER || (g_sig_count < SIG_MIN &&
				     now_ms() - t0 < SIG_MS); i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		EXPECT(fd >= 0, "iteration %u: socket: %s", i, ename(errno));
		e = connect_eintr(fd, (struct sockaddr *)&ss, len, &eintr);
		EXPECT(e == 0, "iteration %u: redirected connect: %s", i,
		       ename(e));
		EXPECT(write_all(fd, msg, sizeof(msg) - 1),
		       "iteration %u: write: %s", i, g_err);
		EXPECT(expect_read(fd, msg, sizeof(msg) - 1, 3000),
		       "iteration %u: echo: %s", i, g_err);
		/* what programs ask of their socket: each answer takes the
		 * table's lock, which the handler wants too */
		for (j = 0; j < 16; j++)
			EXPECT(answers_tcp(fd, &ss), "iteration %u: %s", i,
			       g_err);
		xclose(&fd);

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		EXPECT(fd >= 0, "iteration %u: socket: %s", i, ename(errno));
		e = connect_eintr(fd, (struct sockaddr *)&real, sizeof(real),
				  &eintr);
		EXPECT(e == 0, "iteration %u: real connect: %s", i, ename(e));
		xclose(&fd);
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	timer_on = false;
	signal(SIGALRM, SIG_IGN);
	EXPECT(g_sig_bad == 0, "in the SIGALRM handler, dup/getpeername of "
	       "the redirected fd failed %d times", (int)g_sig_bad);
	EXPECT(answers_tcp(k, &ss), "the handler's fd afterwards: %s", g_err);
	printf("# signals: %u iterations, %d SIGALRM handled, %u connects "
	       "interrupted\n", i, (int)g_sig_count, eintr);
	EXPECT(g_sig_count >= 10, "only %d SIGALRM arrived: the case proved "
	       "nothing", (int)g_sig_count);
out:
	if (timer_on) {
		memset(&it, 0, sizeof(it));
		setitimer(ITIMER_REAL, &it, NULL);
		signal(SIGALRM, SIG_IGN);
	}
	xclose(&fd);
	xclose(&k);
	if (echo_on) {
		echo_stop();
		if (!g_why[0] && atomic_load(&g_echo.bad))
			why("fake daemon: %d bad connections, first: %s",
			    atomic_load(&g_echo.bad), g_echo.bad_msg);
		if (!g_why[0] && atomic_load(&g_echo.good) != (int)i + 1)
			why("fake daemon: %d connections, want %u",
			    atomic_load(&g_echo.good), i + 1);
	}
	drain_backlog();
}

/* ------------------------------------------------------------------ */
/* 10. threads */

#define WORKERS 8
#define WORKER_ITER 200
#define PIPERS 2

struct worker {
	pthread_t th;
	int id;
	int done;
	char err[400];
};

static atomic_bool g_pipers_stop;
static atomic_int g_piper_bad, g_piper_loops;
static char g_piper_msg[200];

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct sockaddr_storage ss, peer;
	socklen_t len, pl;
	char msg[64], a[80], port[16];
	int i, fd, n;

	for (i = 0; i < WORKER_ITER; i++) {
		/* a port of its own: no connection may take another's */
		snprintf(port, sizeof(port), "%d", 10000 + w->id * 1000 + i);
		fd = synth_connect(HOST, port, AF_INET, SOCK_CLOEXEC, &ss,
				   &len);
		if (fd < 0) {
			snprintf(w->err, sizeof(w->err), "thread %d "
				 "iteration %d: %.300s", w->id, i, g_err);
			return NULL;
		}
		pl = sizeof(peer);
		if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
		    !same_addr((struct sockaddr *)&peer,
			       (struct sockaddr *)&ss)) {
			snprintf(w->err, sizeof(w->err), "thread %d "
				 "iteration %d: getpeername: %s, want port %s",
				 w->id, i, pl ? addr_str((struct sockaddr *)
							 &peer, a, sizeof(a))
				 : ename(errno), port);
			close(fd);
			return NULL;
		}
		n = snprintf(msg, sizeof(msg), "t%d i%d port=%s\n", w->id, i,
			     port);
		if (!write_all(fd, msg, (size_t)n) ||
		    !expect_read(fd, msg, (size_t)n, 5000)) {
			snprintf(w->err, sizeof(w->err), "thread %d "
				 "iteration %d: round trip: %.300s", w->id, i,
				 g_err);
			close(fd);
			return NULL;
		}
		close(fd);
		w->done++;
	}
	return NULL;
}

static void *
piper_main(void *arg)
{
	int p[2], x, y;

	(void)arg;
	if (pipe2(p, O_CLOEXEC) != 0) {
		atomic_fetch_add(&g_piper_bad, 1);
		return NULL;
	}
	while (!atomic_load(&g_pipers_stop)) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int v, e;

		x = dup(p[0]);
		if (x < 0)
			continue;
		errno = 0;
		if (getpeername(x, (struct sockaddr *)&peer, &pl) == 0 ||
		    errno != ENOTSOCK) {
			e = errno;
			if (atomic_fetch_add(&g_piper_bad, 1) == 0)
				snprintf(g_piper_msg, sizeof(g_piper_msg),
					 "getpeername on a dup of a pipe "
					 "(fd %d): %s", x,
					 e ? ename(e) : "answered");
		}
		y = fcntl(p[1], F_DUPFD_CLOEXEC, 0);
		if (y >= 0) {
			errno = 0;
			if (get_int(y, SOL_SOCKET, SO_DOMAIN, &v) == 0 &&
			    atomic_fetch_add(&g_piper_bad, 1) == 0)
				snprintf(g_piper_msg, sizeof(g_piper_msg),
					 "SO_DOMAIN on a pipe (fd %d) "
					 "answered %d", y, v);
			close(y);
		}
		close(x);
		atomic_fetch_add(&g_piper_loops, 1);
	}
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void
c_threads(void)
{
	static struct worker w[WORKERS];
	pthread_t pipers[PIPERS];
	int nw = 0, np = 0, i, total = 0;
	bool echo_on = false;

	drain_backlog();
	EXPECT(echo_start(false), "%s", g_err);
	echo_on = true;
	atomic_store(&g_pipers_stop, false);
	atomic_store(&g_piper_bad, 0);
	atomic_store(&g_piper_loops, 0);
	g_piper_msg[0] = '\0';
	for (np = 0; np < PIPERS; np++)
		EXPECT(spawn(&pipers[np], piper_main, NULL) == 0,
		       "pthread_create failed");
	for (nw = 0; nw < WORKERS; nw++) {
		memset(&w[nw], 0, sizeof(w[nw]));
		w[nw].id = nw;
		EXPECT(spawn(&w[nw].th, worker_main, &w[nw]) == 0,
		       "pthread_create failed");
	}
out:
	for (i = 0; i < nw; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].done;
		if (w[i].err[0])
			why("%s", w[i].err);
	}
	atomic_store(&g_pipers_stop, true);
	for (i = 0; i < np; i++)
		pthread_join(pipers[i], NULL);
	if (atomic_load(&g_piper_bad))
		why("%d bad answers on pipe fds, first: %s",
		    atomic_load(&g_piper_bad), g_piper_msg);
	if (nw == WORKERS && total != WORKERS * WORKER_ITER)
		why("%d of %d round trips", total, WORKERS * WORKER_ITER);
	if (echo_on) {
		echo_stop();
		if (atomic_load(&g_echo.bad))
			why("fake daemon: %d bad connections, first: %s",
			    atomic_load(&g_echo.bad), g_echo.bad_msg);
		if (nw == WORKERS &&
		    atomic_load(&g_echo.good) != WORKERS * WORKER_ITER)
			why("fake daemon: %d connections, want %d",
			    atomic_load(&g_echo.good), WORKERS * WORKER_ITER);
	}
	if (!g_why[0])
		printf("# threads: %d round trips, %d pipe dup loops\n", total,
		       atomic_load(&g_piper_loops));
	drain_backlog();
}

/* ------------------------------------------------------------------ */
/* 11. daemon-dies */

static void
c_daemon_dies(void)
{
	char buf[16];
	long long t0, dt;
	ssize_t r;
	int fd = -1, d = -1, rv;

	drain_backlog();
	fd = synth_connect(HOST, PORT, AF_INET, SOCK_CLOEXEC, NULL, NULL);
	EXPECT(fd >= 0, "%s", g_err);
	d = daemon_take(HOST, PORT);
	EXPECT(d >= 0, "%s", g_err);
	xclose(&d);

	t0 = now_ms();
	rv = wait_fd(fd, POLLIN, 1000);
	dt = now_ms() - t0;
	EXPECT(rv > 0, "poll(POLLIN) did not fire within 1 s of the daemon "
	       "closing");
	r = read(fd, buf, sizeof(buf));
	EXPECT(r == 0, "read after the daemon closed: %zd (%s), want 0", r,
	       r < 0 ? ename(errno) : "data");
	EXPECT(dt < 1000, "the end of stream took %lld ms", dt);
	errno = 0;
	r = write(fd, "x", 1);	/* SIGPIPE is ignored, as servers do */
	EXPECT(r == -1 && errno == EPIPE, "write after the daemon closed: %zd "
	       "(%s), want -1 EPIPE", r, errno ? ename(errno) : "no error");
out:
	xclose(&d);
	xclose(&fd);
}

/* ------------------------------------------------------------------ */
/* 13. tls */

struct tls_srv {
	pthread_t th;
	SSL_CTX *ctx;
	int lfd;
	int conns;		/* to serve */
	int served;		/* full round trips */
	char err[300];
};

static void *
tls_srv_main(void *arg)
{
	struct tls_srv *s = arg;
	struct timeval tv = { .tv_sec = 3 };
	int i;

	for (i = 0; i < s->conns; i++) {
		char b[4];
		size_t got;
		SSL *ssl;
		int c;

		if (wait_fd(s->lfd, POLLIN, 3000) <= 0) {
			snprintf(s->err, sizeof(s->err), "TLS server: no "
				 "connection %d within 3 s", i + 1);
			break;
		}
		c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		ssl = SSL_new(s->ctx);
		if (ssl && SSL_set_fd(ssl, c) == 1 && SSL_accept(ssl) == 1 &&
		    SSL_read_ex(ssl, b, 4, &got) == 1 && got == 4 &&
		    memcmp(b, "ping", 4) == 0 &&
		    SSL_write_ex(ssl, "pong", 4, &got) == 1) {
			SSL_shutdown(ssl);
			s->served++;
		}
		ERR_clear_error();
		SSL_free(ssl);
		close(c);
	}
	ERR_clear_error();
	return NULL;
}

/* A self-signed certificate for localhost, made here. */
static bool
make_cert(EVP_PKEY **kp, X509 **xp)
{
	static const struct {
		int nid;
		const char *value;
	} exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,digitalSignature,keyCertSign" },
		{ NID_subject_alt_name, "DNS:localhost" },
		{ NID_subject_key_identifier, "hash" },
	};
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_NAME *nm;
	size_t i;

	if (k == NULL || x == NULL)
		goto fail;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(getpid() & 0xffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
				   (const unsigned char *)"guest test CA", -1,
				   -1, 0);
	X509_set_issuer_name(x, nm);
	X509_set_pubkey(x, k);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx,
							exts[i].nid,
							exts[i].value);

		if (e == NULL)
			goto fail;
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (X509_sign(x, k, EVP_sha256()) == 0)
		goto fail;
	*kp = k;
	*xp = x;
	return true;
fail:
	EVP_PKEY_free(k);
	X509_free(x);
	return false;
}

static bool
name_cn(X509_NAME *nm, char *out, int cap)
{
	out[0] = '\0';
	return nm && X509_NAME_get_text_by_NID(nm, NID_commonName, out, cap)
		> 0;
}

/* The server's context and the CA's CN (the issuer to expect); the
 * client's trust store gets the CA. */
static bool
tls_setup(SSL_CTX *srv, SSL_CTX *trusting, char *ca_cn, int cap)
{
	char path[PATH_MAX];
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	FILE *f;
	bool ok = false;

	if (g_certdir == NULL) {
		if (!make_cert(&k, &x)) {
			errf("cannot make a certificate");
			return false;
		}
		ok = SSL_CTX_use_certificate(srv, x) == 1 &&
		     SSL_CTX_use_PrivateKey(srv, k) == 1 &&
		     X509_STORE_add_cert(SSL_CTX_get_cert_store(trusting), x)
		     == 1 && name_cn(X509_get_subject_name(x), ca_cn, cap);
		if (!ok)
			errf("cannot use the certificate made here");
		EVP_PKEY_free(k);
		X509_free(x);
		return ok;
	}
	snprintf(path, sizeof(path), "%s/server.pem", g_certdir);
	if (SSL_CTX_use_certificate_chain_file(srv, path) != 1) {
		errf("%s: cannot load", path);
		return false;
	}
	snprintf(path, sizeof(path), "%s/server.key", g_certdir);
	if (SSL_CTX_use_PrivateKey_file(srv, path, SSL_FILETYPE_PEM) != 1) {
		errf("%s: cannot load", path);
		return false;
	}
	snprintf(path, sizeof(path), "%s/ca.pem", g_certdir);
	if (SSL_CTX_load_verify_locations(trusting, path, NULL) != 1 ||
	    (f = fopen(path, "r")) == NULL) {
		errf("%s: cannot load", path);
		return false;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ok = x && name_cn(X509_get_subject_name(x), ca_cn, cap);
	X509_free(x);
	if (!ok)
		errf("%s: no CN", path);
	return ok;
}

/* One client session to the real TLS server: 1 when the handshake and a
 * round trip worked, 0 when the handshake failed (verify says why), -1
 * on any other trouble.  The peer's issuer CN goes to issuer. */
static int
real_tls(SSL_CTX *ctx, int lfd, long *verify, char *issuer,
    int cap)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct timeval tv = { .tv_sec = 3 };
	char b[4];
	size_t n;
	SSL *ssl = NULL;
	X509 *peer;
	int fd, rc = -1;

	issuer[0] = '\0';
	*verify = -1;
	if (getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		errf("connect to the TLS server: %s", ename(errno));
		goto out;
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, "localhost") != 1 ||
	    SSL_set1_host(ssl, "localhost") != 1) {
		errf("SSL setup failed");
		goto out;
	}
	ERR_clear_error();
	if (SSL_connect(ssl) != 1) {
		*verify = SSL_get_verify_result(ssl);
		rc = 0;
		goto out;
	}
	*verify = SSL_get_verify_result(ssl);
	peer = SSL_get1_peer_certificate(ssl);
	if (peer)
		name_cn(X509_get_issuer_name(peer), issuer, cap);
	X509_free(peer);
	if (SSL_write_ex(ssl, "ping", 4, &n) != 1 ||
	    SSL_read_ex(ssl, b, 4, &n) != 1 || n != 4 ||
	    memcmp(b, "pong", 4) != 0) {
		errf("no pong over real TLS");
		goto out;
	}
	rc = 1;
out:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return rc;
}

static bool
san_has(X509 *x, const char *name)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
					       NULL);
	bool hit = false;
	int i;

	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_DNS &&
		    ASN1_STRING_length(g->d.dNSName) == (int)strlen(name) &&
		    memcmp(ASN1_STRING_get0_data(g->d.dNSName), name,
			   strlen(name)) == 0)
			hit = true;
	}
	GENERAL_NAMES_free(gens);
	return hit;
}

/* A recognisable 4 MB: no period, so duplication or loss shows. */
static void
fill_pattern(unsigned char *p, size_t n)
{
	uint64_t s = 0x9E3779B97F4A7C15ull;
	size_t i;

	for (i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[i] = (unsigned char)(s >> 24);
	}
}

/* got[*checked..n) equals want[*checked..n) (n at most BIG); *checked
 * advances to the first difference. */
static bool
same_prefix(const unsigned char *got, const unsigned char *want,
    size_t *checked, size_t n)
{
	if (n > BIG)
		n = BIG;
	while (*checked < n && got[*checked] == want[*checked])
		(*checked)++;
	return *checked == n;
}

/* Read what is there now (at most cap - *have), non-blocking. */
static bool
drain_some(int d, unsigned char *buf, size_t cap, size_t *have)
{
	while (*have < cap) {
		ssize_t r = recv(d, buf + *have, cap - *have, MSG_DONTWAIT);

		if (r > 0) {
			*have += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		errf("daemon recv: %s", r ? ename(errno) : "end of stream");
		return false;
	}
	return true;
}

/* The shim's stamp before a connection's first request: "LLMFB/1 SENT
 * <digits>\r\n", read byte by byte so nothing after it is taken. */
static bool
read_stamp(int d)
{
	static const char head[] = "LLMFB/1 SENT ";
	char line[64];
	size_t n = 0;

	while (n < sizeof(line) - 1) {
		if (wait_fd(d, POLLIN, 2000) <= 0 ||
		    read(d, line + n, 1) != 1) {
			errf("no stamp line");
			return false;
		}
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	if (n < sizeof(head) + 2 || memcmp(line, head, sizeof(head) - 1) ||
	    strspn(line + sizeof(head) - 1, "0123456789") !=
	    n - sizeof(head) - 1 || line[n - 2] != '\r') {
		errf("bad stamp line \"%s\"", line);
		return false;
	}
	return true;
}

static void
c_tls(void)
{
	char pre[PRE_MAX + sizeof(TLS_MARK)], cn[256], ca_cn[256], s[300];
	unsigned char *big = NULL, *got = NULL;
	SSL_CTX *cli = NULL, *srvctx = NULL, *trusting = NULL;
	SSL *ssl = NULL;
	X509 *peer = NULL;
	struct tls_srv srv;
	struct sockaddr_in sin;
	size_t put = 0, have = 0, checked = 0, rn;
	long verify;
	int fd = -1, d = -1, n, r, e, wants = 0, rc, keep = -1;
	bool srv_on = false;

	memset(&srv, 0, sizeof(srv));
	srv.lfd = -1;
	drain_backlog();
	big = malloc(BIG);
	got = malloc(BIG + 1);
	EXPECT(big && got, "out of memory");
	fill_pattern(big, BIG);

	/* --- virtual: a redirected non-blocking fd --- */
	cli = SSL_CTX_new(TLS_client_method());
	EXPECT(cli, "SSL_CTX_new failed");
	SSL_CTX_set_verify(cli, SSL_VERIFY_PEER, NULL);	/* trusts nobody */
	fd = synth_connect(HOST, PORT, AF_INET, SOCK_NONBLOCK | SOCK_CLOEXEC,
			   NULL, NULL);
	EXPECT(fd >= 0, "%s", g_err);
	ssl = SSL_new(cli);
	EXPECT(ssl && SSL_set_fd(ssl, fd) == 1 &&
	       SSL_set_tlsext_host_name(ssl, HOST) == 1, "SSL setup failed");
	r = SSL_connect(ssl);
	EXPECT(r == 1, "SSL_connect on a redirected fd gave %d (error %d), "
	       "want 1 at once", r, SSL_get_error(ssl, r));
	d = daemon_accept(2000);
	EXPECT(d >= 0, "%s", g_err);
	n = preamble(pre, sizeof(pre), HOST, PORT);
	memcpy(pre + n, TLS_MARK, sizeof(TLS_MARK) - 1);
	n += (int)sizeof(TLS_MARK) - 1;
	EXPECT(expect_read(d, pre, (size_t)n, 1000), "fake daemon: %s",
	       g_err);
	EXPECT(nothing_more(d), "fake daemon, after the TLS line: %s", g_err);

	EXPECT(SSL_get_verify_result(ssl) == X509_V_OK,
	       "SSL_get_verify_result %ld", SSL_get_verify_result(ssl));
	peer = SSL_get1_peer_certificate(ssl);
	EXPECT(peer, "no peer certificate");
	EXPECT(X509_check_host(peer, HOST, 0,
			       X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) == 1,
	       "X509_check_host(" HOST ") on the SAN failed");
	EXPECT(san_has(peer, HOST), "no SAN DNS:" HOST);
	EXPECT(name_cn(X509_get_subject_name(peer), cn, sizeof(cn)) &&
	       strcmp(cn, HOST) == 0, "subject CN \"%s\"", cn);
	X509_free(peer);
	peer = NULL;

	/* 4 MB while the daemon does not read: WANT_WRITE */
	r = SSL_write_ex(ssl, big, BIG, &put);
	e = SSL_get_error(ssl, r);
	EXPECT(r == 0 && e == SSL_ERROR_WANT_WRITE, "SSL_write_ex of 4 MB "
	       "with nobody reading gave %d, error %d (put %zu), want "
	       "SSL_ERROR_WANT_WRITE", r, e, put);
	EXPECT(read_stamp(d), "fake daemon: %s", g_err);
	wants = 1;
	/* no room yet: the retry cannot progress */
	r = SSL_write_ex(ssl, big, BIG, &put);
	e = SSL_get_error(ssl, r);
	EXPECT(r == 0 && e == SSL_ERROR_WANT_WRITE, "retry with no room: %d, "
	       "error %d", r, e);
	/* the daemon drains while the program retries, same buffer */
	for (;;) {
		EXPECT(wait_fd(d, POLLIN, 2000) > 0, "the daemon has nothing "
		       "to read after %zu bytes", have);
		EXPECT(drain_some(d, got, BIG + 1, &have), "%s", g_err);
		EXPECT(same_prefix(got, big, &checked, have), "after %d "
		       "retries, the daemon's bytes differ from those written "
		       "from byte %zu on (a retry resent or skipped some)",
		       wants, checked);
		r = SSL_write_ex(ssl, big, BIG, &put);
		if (r == 1)
			break;
		e = SSL_get_error(ssl, r);
		EXPECT(e == SSL_ERROR_WANT_WRITE, "SSL_write_ex retry: error "
		       "%d (%s)", e, ename(errno));
		EXPECT(++wants < 100000, "SSL_write_ex never finished");
	}
	EXPECT(put == BIG, "SSL_write_ex finished with %zu of %u bytes", put,
	       BIG);
	while (have < BIG) {
		EXPECT(wait_fd(d, POLLIN, 2000) > 0, "the daemon got %zu of %u "
		       "bytes", have, BIG);
		EXPECT(drain_some(d, got, BIG + 1, &have), "%s", g_err);
		EXPECT(same_prefix(got, big, &checked, have), "the daemon's "
		       "bytes differ from those written from byte %zu on",
		       checked);
	}
	EXPECT(have <= BIG, "the daemon got more than the %u bytes written "
	       "(duplicated bytes)", BIG);
	EXPECT(nothing_more(d), "the daemon got more than the %u bytes "
	       "written: %s", BIG, g_err);
	EXPECT(same_prefix(got, big, &checked, BIG), "the 4 MB differ from "
	       "byte %zu on (after %d retries)", checked, wants);

	/* reading */
	r = SSL_read_ex(ssl, cn, sizeof(cn), &rn);
	e = SSL_get_error(ssl, r);
	EXPECT(r == 0 && e == SSL_ERROR_WANT_READ, "SSL_read_ex with nothing "
	       "to read: %d, error %d, want SSL_ERROR_WANT_READ", r, e);
	EXPECT(write_all(d, "hello", 5), "daemon write: %s", g_err);
	EXPECT(wait_fd(fd, POLLIN, 1000) > 0, "hello not readable in 1 s");
	r = SSL_read_ex(ssl, cn, sizeof(cn), &rn);
	EXPECT(r == 1 && rn == 5 && memcmp(cn, "hello", 5) == 0,
	       "SSL_read_ex: %d, %zu bytes \"%s\"", r, rn,
	       esc(s, sizeof(s), cn, r == 1 ? rn : 0));
	xclose(&d);
	EXPECT(wait_fd(fd, POLLIN, 1000) > 0, "no end of stream in 1 s");
	r = SSL_read_ex(ssl, cn, sizeof(cn), &rn);
	e = SSL_get_error(ssl, r);
	EXPECT(r == 0 && e == SSL_ERROR_ZERO_RETURN, "SSL_read_ex at the end: "
	       "%d, error %d, want SSL_ERROR_ZERO_RETURN", r, e);
	EXPECT(SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN,
	       "SSL_get_shutdown 0x%x has no SSL_RECEIVED_SHUTDOWN",
	       SSL_get_shutdown(ssl));
	SSL_free(ssl);
	ssl = NULL;
	xclose(&fd);

	/* --- real: a TLS server here, on 127.0.0.1 --- */
	srvctx = SSL_CTX_new(TLS_server_method());
	trusting = SSL_CTX_new(TLS_client_method());
	EXPECT(srvctx && trusting, "SSL_CTX_new failed");
	SSL_CTX_set_verify(trusting, SSL_VERIFY_PEER, NULL);
	EXPECT(tls_setup(srvctx, trusting, ca_cn, sizeof(ca_cn)), "%s",
	       g_err);
	srv.ctx = srvctx;
	srv.conns = 2;
	srv.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	EXPECT(srv.lfd >= 0 && bind(srv.lfd, (struct sockaddr *)&sin,
				    sizeof(sin)) == 0 &&
	       listen(srv.lfd, 8) == 0, "TLS listener: %s", ename(errno));
	EXPECT(spawn(&srv.th, tls_srv_main, &srv) == 0,
	       "pthread_create failed");
	srv_on = true;
	/* a redirected connection with no TLS yet, at the same time */
	keep = synth_connect("localhost", PORT, AF_INET, SOCK_CLOEXEC, NULL,
			     NULL);
	EXPECT(keep >= 0, "%s", g_err);

	/* trusting nobody: a real handshake must fail verification */
	rc = real_tls(cli, srv.lfd, &verify, cn, sizeof(cn));
	EXPECT(rc == 0 && verify != X509_V_OK, "real TLS with an empty trust "
	       "store: %s (verify %ld): the session is not real",
	       rc > 0 ? "handshake succeeded" : g_err, verify);
	/* trusting the CA: verified, and issued by it */
	rc = real_tls(trusting, srv.lfd, &verify, cn, sizeof(cn));
	EXPECT(rc == 1, "real TLS: %s (verify %ld: %s)",
	       rc == 0 ? "handshake failed" : g_err, verify,
	       X509_verify_cert_error_string(verify));
	EXPECT(verify == X509_V_OK, "real TLS: verify %ld", verify);
	EXPECT(strcmp(cn, ca_cn) == 0, "real TLS: the peer's issuer is \"%s\", "
	       "want \"%s\"", cn, ca_cn);
out:
	ERR_clear_error();
	if (srv_on) {
		pthread_join(srv.th, NULL);
		if (srv.err[0])
			why("%s", srv.err);
	}
	xclose(&srv.lfd);
	xclose(&keep);
	X509_free(peer);
	SSL_free(ssl);
	xclose(&d);
	xclose(&fd);
	SSL_CTX_free(cli);
	SSL_CTX_free(srvctx);
	SSL_CTX_free(trusting);
	free(big);
	free(got);
	drain_backlog();
}

/* ------------------------------------------------------------------ */
/* 12. daemon-away (last: it takes the fake daemon away) */

/* With the daemon away: a fresh lookup of localhost is the real one (the
 * addresses it had before it was listed), and a connect() to the
 * synthetic address s (obtained earlier) goes straight to the real
 * listener, on the first of them. */
static bool
away_once(const char *how, const struct sockaddr_storage *s,
    socklen_t slen, bool nonblock)
{
	struct addrinfo h, *res = NULL, *ai;
	char a[80], b[INET_ADDRSTRLEN];
	int rc, fd = -1, t = -1, e, err = -1;
	socklen_t el = sizeof(err);
	bool ok = false;
	unsigned i;

	EXPECT(g_nlocal > 0, "localhost has no IPv4 address here (%s): a "
	       "connect() to its synthetic address has nowhere real to go",
	       g_local_why);
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_INET;
	h.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo("localhost", g_tcp_port_s, &h, &res);
	EXPECT(rc == 0, "%s: getaddrinfo(localhost): %s", how,
	       gai_strerror(rc));
	for (ai = res, i = 0; ai; ai = ai->ai_next, i++)
		EXPECT(i < g_nlocal && ai->ai_family == AF_INET &&
		       port_of(ai->ai_addr) == g_tcp_port &&
		       ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr ==
		       g_local[i].s_addr, "%s: localhost's answer %u is %s, "
		       "want the real %s:%u", how, i,
		       addr_str(ai->ai_addr, a, sizeof(a)),
		       i < g_nlocal ? inet_ntop(AF_INET, &g_local[i], b,
						sizeof(b)) : "(none)",
		       g_tcp_port);
	EXPECT(i == g_nlocal, "%s: localhost has %u answers, not the real "
	       "%u", how, i, g_nlocal);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		    (nonblock ? SOCK_NONBLOCK : 0), 0);
	EXPECT(fd >= 0, "socket: %s", ename(errno));
	rc = connect(fd, (const struct sockaddr *)s, slen);
	e = errno;
	if (nonblock) {
		EXPECT(rc == 0 || e == EINPROGRESS, "%s: non-blocking connect "
		       "to %s: %s", how, addr_str((const void *)s, a,
						   sizeof(a)), ename(e));
		EXPECT(wait_fd(fd, POLLOUT, 1000) & POLLOUT, "%s: not "
		       "writable in 1 s", how);
		EXPECT(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
		       err == 0, "%s: SO_ERROR %s", how, ename(err));
	} else {
		EXPECT(rc == 0, "%s: connect to %s with the daemon away: %s "
		       "(no fail-open)", how,
		       addr_str((const void *)s, a, sizeof(a)), ename(e));
	}
	t = real_accept(1000);
	EXPECT(t >= 0, "%s: %s", how, g_err);
	EXPECT(real_answers(fd, t), "%s: %s", how, g_err);
	EXPECT(write_all(t, "real", 4) && expect_read(fd, "real", 4, 1000),
	       "%s: round trip over the direct connection: %s", how, g_err);
	ok = true;
out:
	if (res)
		freeaddrinfo(res);
	xclose(&t);
	xclose(&fd);
	return ok;
}

static void
c_daemon_away(void)
{
	struct sockaddr_storage s;
	struct sockaddr_un sun;
	socklen_t slen;
	int u = -1;

	drain_backlog();
	/* while the daemon is up, localhost is synthetic */
	EXPECT(resolve("localhost", g_tcp_port_s, AF_INET, &s, &slen), "%s",
	       g_err);
	EXPECT(is_synth((struct sockaddr *)&s), "localhost is not synthetic "
	       "while the daemon is up");

	/* removed */
	adm_stop();
	EXPECT(unlink(g_sock) == 0, "unlink %s: %s", g_sock, ename(errno));
	if (!away_once("socket removed", &s, slen, false) ||
	    !away_once("socket removed, non-blocking", &s, slen, true))
		goto out;

	/* there, but nobody listens: ECONNREFUSED */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, g_sock, strlen(g_sock) + 1);
	u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EXPECT(u >= 0 && bind(u, (struct sockaddr *)&sun, sizeof(sun)) == 0,
	       "bind %s: %s", g_sock, ename(errno));
	if (!away_once("socket bound, no listen()", &s, slen, false))
		goto out;
	/* a stale socket file */
	xclose(&u);
	if (!away_once("stale socket file", &s, slen, false))
		goto out;
out:
	xclose(&u);
	unlink(g_sock);
}

/* ------------------------------------------------------------------ */
/* Running */

static void
run(const char *name, void (*fn)(void), int guard_secs)
{
	long long t0 = now_ms(), dt;

	g_case = name;
	g_why[0] = '\0';
	g_err[0] = '\0';
	guard_arm(guard_secs);
	fn();
	guard_arm(0);
	dt = now_ms() - t0;
	if (dt * 2 > guard_secs * 1000LL)
		printf("# %s took %lld ms: over half its %d s guard\n", name,
		       dt, guard_secs);
	if (g_why[0]) {
		g_fail++;
		printf("FAIL - %s: %s\n", name, g_why);
	} else {
		g_pass++;
		printf("ok - %s\n", name);
	}
	fflush(stdout);
}

/* Fill g_local with localhost's IPv4 addresses, as the resolver gives
 * them without the shim: in a child, so that the shim's first look at
 * the hosts file (which it then trusts for a second) is the parent's,
 * after the file is written.  None: g_local_why says why, and the
 * listener goes on 127.0.0.1. */
static void
local_lookup(void)
{
	char buf[LOCAL_MAX * INET_ADDRSTRLEN + 128], *tok, *save = NULL;
	int p[2];
	pid_t pid;

	g_local[0].s_addr = htonl(INADDR_LOOPBACK);
	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(g_local_why, sizeof(g_local_why), "pipe2: %s",
			 ename(errno));
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct addrinfo h, *res = NULL, *ai;
		char a[INET_ADDRSTRLEN];
		FILE *f = fdopen(p[1], "w");
		int rc;

		if (f == NULL)
			_exit(1);
		memset(&h, 0, sizeof(h));
		h.ai_family = AF_INET;
		h.ai_socktype = SOCK_STREAM;
		rc = getaddrinfo("localhost", NULL, &h, &res);
		if (rc != 0)
			fprintf(f, "error getaddrinfo: %s", gai_strerror(rc));
		for (ai = res; ai; ai = ai->ai_next)
			if (ai->ai_family == AF_INET &&
			    inet_ntop(AF_INET, &((struct sockaddr_in *)
			    ai->ai_addr)->sin_addr, a, sizeof(a)))
				fprintf(f, "%s ", a);
		fclose(f);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0) {
		snprintf(g_local_why, sizeof(g_local_why), "fork: %s",
			 ename(errno));
		close(p[0]);
		return;
	}
	if (read_all(p[0], buf, sizeof(buf), 5000) < 0)
		snprintf(buf, sizeof(buf), "error no answer in 5 s");
	close(p[0]);
	waitpid(pid, NULL, 0);
	if (strncmp(buf, "error ", 6) == 0) {
		snprintf(g_local_why, sizeof(g_local_why), "%.100s", buf + 6);
		return;
	}
	for (tok = strtok_r(buf, " ", &save); tok && g_nlocal < LOCAL_MAX;
	     tok = strtok_r(NULL, " ", &save))
		if (inet_pton(AF_INET, tok, &g_local[g_nlocal]) == 1)
			g_nlocal++;
	if (g_nlocal == 0) {
		snprintf(g_local_why, sizeof(g_local_why), "no IPv4 answer");
		g_local[0].s_addr = htonl(INADDR_LOOPBACK);
	}
}

static int
setup(void)
{
	struct sockaddr_in sin;
	struct sigevent sev;
	struct sigaction sa;
	socklen_t sl = sizeof(sin);
	const char *env = getenv("LLMFB_SOCKET");
	char hosts[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;
	int i;

	/* 0, 1 and 2 open; anything else inherited is not passed on */
	for (i = 0; i < 3; i++)
		if (!fd_open(i) && open("/dev/null", O_RDWR) != i)
			return fprintf(stderr, "guest: no fd %d\n", i), -1;
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guard_fired;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	if (timer_create(CLOCK_MONOTONIC, &sev, &g_guard) != 0)
		return fprintf(stderr, "guest: timer_create: %s\n",
			       ename(errno)), -1;

	if ((size_t)snprintf(g_sock, sizeof(g_sock), "%s/fake.sock", g_dir) >=
	    sizeof(g_sock))
		return fprintf(stderr, "guest: %s: path too long\n", g_dir), -1;
	if (env == NULL || strcmp(env, g_sock) != 0)
		return fprintf(stderr, "guest: LLMFB_SOCKET must be %s\n",
			       g_sock), -1;
	env = getenv("LD_PRELOAD");
	if (env == NULL || strstr(env, "libllmfb.so") == NULL)
		return fprintf(stderr, "guest: run me with "
			       "LD_PRELOAD=.../libllmfb.so\n"), -1;

	/* localhost as the resolver has it, before it is listed (and
	 * before there is a thread to fork beside) */
	local_lookup();
	/* the fake daemon's socket, then the hosts file */
	unlink(g_sock);
	if (adm_start() != 0)
		return fprintf(stderr, "guest: listen on %s: %s\n", g_sock,
			       ename(errno)), -1;
	snprintf(hosts, sizeof(hosts), "%s.hosts", g_sock);
	snprintf(tmp, sizeof(tmp), "%s.tmp", hosts);
	f = fopen(tmp, "we");
	if (f == NULL || fputs("localhost\n" HOST "\n", f) < 0 ||
	    fclose(f) != 0 || rename(tmp, hosts) != 0)
		return fprintf(stderr, "guest: write %s: %s\n", hosts,
			       ename(errno)), -1;

	/* a real TCP listener, where localhost really is */
	g_tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr = g_local[0];
	if (g_tcp < 0 || bind(g_tcp, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(g_tcp, SOMAXCONN) ||
	    getsockname(g_tcp, (struct sockaddr *)&sin, &sl))
		return fprintf(stderr, "guest: TCP listener on %s: %s\n",
			       inet_ntoa(g_local[0]), ename(errno)), -1;
	g_tcp_port = ntohs(sin.sin_port);
	snprintf(g_tcp_port_s, sizeof(g_tcp_port_s), "%u", g_tcp_port);
	return 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: LD_PRELOAD=.../libllmfb.so "
			"LLMFB_SOCKET=DIR/fake.sock %s DIR [CERTDIR]\n",
			argv[0]);
		return 2;
	}
	g_dir = argv[1];
	g_certdir = argc > 2 ? argv[2] : NULL;
	if (setup() != 0)
		return 2;

	run("resolve", c_resolve, 10);
	run("connect-blocking", c_connect_blocking, 5);
	run("connect-nonblocking", c_connect_nonblocking, 5);
	run("epoll-before-connect", c_epoll_before_connect, 5);
	run("tcp-answers", c_tcp_answers, 5);
	run("dup", c_dup, 5);
	run("close_range", c_close_range, 5);
	run("exec", c_exec, 10);
	run("fork", c_fork, 10);
	run("signals", c_signals, 10);
	run("threads", c_threads, 10);
	run("daemon-dies", c_daemon_dies, 5);
	run("tls", c_tls, 10);
	run("daemon-away", c_daemon_away, 5);

	xclose(&g_tcp);
	timer_delete(g_guard);
	printf("%d passed, %d failed\n", (int)g_pass, (int)g_fail);
	return g_fail ? 1 : 0;
}
