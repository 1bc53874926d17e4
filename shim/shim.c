/* libllmfb.so core: init, the real-symbol table, the recursion guard, the
 * debug log, the intercepted-host list and the daemon probe.  Nothing here
 * knows about libcurl or OpenSSL; see shim.h. */
#include "shim.h"
#include "shim_proto.h"
#include "util.h"	/* ARRAY_SIZE; the shim links none of util.c */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct shim_real shim_real;
bool shim_debug_enabled;

static pthread_once_t shim_once = PTHREAD_ONCE_INIT;
static bool shim_active;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char hosts_path[sizeof(sock_path) + sizeof(SHIM_HOSTS_SUFFIX)];

static __thread unsigned guard_depth;

/* ------------------------------------------------------------------ */
/* Init */

static bool
env_flag(const char *value)
{
	return value && value[0] && strcmp(value, "0") != 0;
}

static void hosts_atfork_prepare(void);
static void hosts_atfork_parent(void);
static void hosts_atfork_child(void);

static void
shim_do_init(void)
{
	const char *path;
	size_t len;

	/* Disabling is always safe, so plain getenv; the socket path and the
	 * debug switch come from secure_getenv so that a set-user-ID program
	 * cannot be pointed at someone else's "daemon". */
	if (env_flag(getenv("LLMFB_DISABLE")))
		return;
	shim_debug_enabled = env_flag(secure_getenv("LLMFB_DEBUG"));

	path = secure_getenv("LLMFB_SOCKET");
	if (!path || !path[0])
		path = SHIM_SOCKET_DEFAULT;
	len = strlen(path);
	if (len >= sizeof(sock_path)) {
		SHIM_DEBUG("init", "socket path too long (%zu bytes): "
			   "shim inactive", len);
		return;
	}
	memcpy(sock_path, path, len + 1);
	memcpy(hosts_path, path, len);
	memcpy(hosts_path + len, SHIM_HOSTS_SUFFIX, sizeof(SHIM_HOSTS_SUFFIX));

	pthread_atfork(hosts_atfork_prepare, hosts_atfork_parent,
		       hosts_atfork_child);
	shim_active = true;
	SHIM_DEBUG("init", "active, daemon socket %s", sock_path);
}

bool
shim_init(void)
{
	int saved = errno;

	pthread_once(&shim_once, shim_do_init);
	errno = saved;
	return shim_active;
}

/* Trivial: reads the environment and nothing else (no threads, no files),
 * so that a program changing its environment later does not matter. */
__attribute__((constructor)) static void shim_ctor(void)
{
	shim_libc();
	shim_init();
}

/* llmfbd calls this first thing in main(): with the shim preloaded host-
 * wide, llmfbd's own calls to the providers must not come back to it. */
SHIM_EXPORT void
llmfb_shim_disable(void)
{
	shim_init();
	shim_active = false;
	SHIM_DEBUG("init", "disabled by the program itself");
}

const char *
shim_socket_path(void)
{
	return sock_path;
}

/* ------------------------------------------------------------------ */
/* Real symbols */

void *
shim_sym(void *lib, const char *name, const void *self)
{
	int saved = errno;
	void *p;

	p = dlsym(lib ? lib : RTLD_NEXT, name);
	if (p == self)
		p = NULL;
	errno = saved;
	return p;
}

void *
shim_lib_open(const char *anchor, const void *self,
    const char *const *sonames)
{
	int saved = errno;
	void *lib = NULL;
	void *p;
	Dl_info di;

	p = dlsym(RTLD_NEXT, anchor);
	if (p && p != self && dladdr(p, &di) && di.dli_fname &&
	    di.dli_fname[0])
		lib = dlopen(di.dli_fname, RTLD_NOW | RTLD_NOLOAD);
	for (; !lib && sonames && *sonames; sonames++)
		lib = dlopen(*sonames, RTLD_NOW | RTLD_NOLOAD);
	errno = saved;
	return lib;
}

/* The libc functions the hooks forward to.  dlsym(RTLD_NEXT) finds libc's
 * (or a sanitizer's interceptor); never our own. */
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;

#define LIBC_SYM(name)							\
	do {								\
		*(void **)&shim_real.real_##name =			\
			shim_sym(NULL, #name, (const void *)name);	\
	} while (0)

static void
libc_resolve(void)
{
	LIBC_SYM(connect);
	LIBC_SYM(close);
	LIBC_SYM(close_range);
	LIBC_SYM(dup);
	LIBC_SYM(dup2);
	LIBC_SYM(dup3);
	LIBC_SYM(fcntl);
	LIBC_SYM(fcntl64);
	LIBC_SYM(getaddrinfo);
	LIBC_SYM(getnameinfo);
	LIBC_SYM(getpeername);
	LIBC_SYM(getsockname);
	LIBC_SYM(getsockopt);
	LIBC_SYM(setsockopt);
	LIBC_SYM(epoll_create);
	LIBC_SYM(epoll_create1);
	net_atfork_register();
}

void
shim_libc(void)
{
	int saved = errno;

	pthread_once(&libc_once, libc_resolve);
	errno = saved;
}

/* ------------------------------------------------------------------ */
/* Recursion guard */

bool
shim_guard_active(void)
{
	return guard_depth != 0;
}

void
shim_guard_enter(void)
{
	guard_depth++;
}

void
shim_guard_leave(void)
{
	guard_depth--;
}

/* ------------------------------------------------------------------ */
/* Debug log */

/* One write(2) of a stack buffer: no stdio (the app's stderr buffer and
 * its lock stay the app's), no malloc. */
void
shim_debug(const char *func, const char *fmt, ...)
{
	int saved = errno;
	char buf[512];
	va_list ap;
	int n, m;
	size_t len, off;

	n = snprintf(buf, sizeof(buf), "llmfb[%ld] %s: ", (long)getpid(),
		     func);
	if (n < 0 || (size_t)n >= sizeof(buf))
		goto out;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		goto out;
	len = (size_t)n + (size_t)m;
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;	/* truncated: keep the newline */
	buf[len++] = '\n';
	for (off = 0; off < len;) {
		ssize_t w = write(STDERR_FILENO, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
out:
	errno = saved;
}

/* ------------------------------------------------------------------ */
/* Intercepted hosts: "<socket path>.hosts", written by the daemon */

/* Hosts are stored normalised (see host_norm).  The whole list is swapped
 * under hosts_lock; a reader holds the lock for one short scan. */
struct hostlist {
	unsigned n;
	unsigned char len[SHIM_HOSTS_MAX];
	char name[SHIM_HOSTS_MAX][SHIM_HOST_MAX + 1];
	unsigned nexcl;			/* "!glob": programs left alone */
	char excl[SHIM_EXCL_MAX][SHIM_EXCL_LEN + 1];
};

/* The file is small (at most 256 names of 253 bytes plus comments); what
 * lies past this cap is ignored. */
#define HOSTS_FILE_CAP (256 * 1024)
#define HOSTS_CHECK_NS 1000000000LL

static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hostlist *hosts_cur;		/* under hosts_lock */
static atomic_uint hosts_count;		/* hosts_cur->n, lock-free */

/* Reloading: one thread at a time checks the file, at most once a second.
 * The very first check blocks the others, so that no thread sees an empty
 * list merely because it raced the first load. */
static pthread_mutex_t hosts_reload_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_llong hosts_next_check;	/* CLOCK_MONOTONIC_COARSE ns */
static atomic_bool hosts_checked;
static struct {				/* under hosts_reload_lock */
	bool valid;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
} hosts_id;

static void
hosts_atfork_prepare(void)
{
	pthread_mutex_lock(&hosts_reload_lock);
	pthread_mutex_lock(&hosts_lock);
}

static void
hosts_atfork_parent(void)
{
	pthread_mutex_unlock(&hosts_lock);
	pthread_mutex_unlock(&hosts_reload_lock);
}

static void
hosts_atfork_child(void)
{
	pthread_mutex_unlock(&hosts_lock);
	pthread_mutex_unlock(&hosts_reload_lock);
}

static long long
now_coarse_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0 &&
	    clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

unsigned long long
shim_now_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	       (unsigned long long)ts.tv_nsec / 1000;
}

size_t
shim_host_norm(const char *in, size_t len, char *out)
{
	size_t i;

	if (len >= 2 && in[0] == '[' && in[len - 1] == ']') {
		in++;
		len -= 2;
	}
	if (len && in[len - 1] == '.')
		len--;
	if (len == 0 || len > SHIM_HOST_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			   c == '.' || c == '-' || c == '_' || c == ':' ||
			   c == '*'))
			return 0;
		out[i] = c;
	}
	out[len] = '\0';
	return len;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Add one line of the hosts file to l (ignored when blank, a comment,
 * invalid, or past the cap).  "host:port" loses its port: matching ignores
 * ports. */
static void
hosts_add_line(struct hostlist *l, const char *s, size_t len)
{
	const char *colon;
	size_t n;

	while (len && is_space(*s)) {
		s++;
		len--;
	}
	while (len && is_space(s[len - 1]))
		len--;
	if (len == 0 || s[0] == '#')
		return;
	if (s[0] == '!') {
		if (len - 1 <= SHIM_EXCL_LEN && len > 1 &&
		    l->nexcl < SHIM_EXCL_MAX) {
			memcpy(l->excl[l->nexcl], s + 1, len - 1);
			l->excl[l->nexcl++][len - 1] = '\0';
		}
		return;
	}
	colon = memchr(s, ':', len);
	if (colon && s[0] != '[' && !memchr(colon + 1, ':',
					     len - (size_t)(colon + 1 - s)))
		len = (size_t)(colon - s);		/* name:port */
	else if (s[0] == '[' && (colon = memchr(s, ']', len)))
		len = (size_t)(colon + 1 - s);		/* [v6]:port */
	if (l->n >= SHIM_HOSTS_MAX)
		return;
	n = shim_host_norm(s, len, l->name[l->n]);
	if (n == 0)
		return;
	/* '*' only as a whole first label: "*.example.com" */
	if (memchr(l->name[l->n], '*', n) &&
	    (n < 3 || l->name[l->n][1] != '.' ||
	     memchr(l->name[l->n] + 1, '*', n - 1)))
		return;
	l->len[l->n++] = (unsigned char)n;
}

/* Read and parse the hosts file.  Returns a new list (maybe empty) and
 * fills *ret_st, or NULL when the file cannot be read. */
static struct hostlist *
hosts_read(struct stat *ret_st)
{
	struct hostlist *l = NULL;
	struct stat st;
	char *buf = NULL;
	size_t used = 0, i, start;
	int fd;

	fd = open(hosts_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	buf = malloc(HOSTS_FILE_CAP);
	l = calloc(1, sizeof(*l));
	if (!buf || !l)
		goto fail;
	while (used < HOSTS_FILE_CAP) {
		ssize_t r = read(fd, buf + used, HOSTS_FILE_CAP - used);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		used += (size_t)r;
	}
	for (i = 0, start = 0; i <= used; i++) {
		if (i == used || buf[i] == '\n') {
			/* a line cut by the cap is dropped */
			if (i < used || used < HOSTS_FILE_CAP)
				hosts_add_line(l, buf + start, i - start);
			start = i + 1;
		}
	}
	*ret_st = st;
	goto out;
fail:
	free(l);
	l = NULL;
out:
	free(buf);
	close(fd);
	return l;
}

static bool
hosts_same_file(const struct stat *st)
{
	return hosts_id.valid && hosts_id.dev == st->st_dev &&
	       hosts_id.ino == st->st_ino && hosts_id.size == st->st_size &&
	       hosts_id.mtim.tv_sec == st->st_mtim.tv_sec &&
	       hosts_id.mtim.tv_nsec == st->st_mtim.tv_nsec;
}

/* A lock-free first test for shim_host_intercepted(): the lengths of the
 * names listed (bit n: some name is n bytes long) and whether a wildcard
 * is among them.  Most names a program resolves are not intercepted, and
 * most of those are told so by their length alone.  A reader may see the
 * masks of the list before or after a swap: either answer is one it could
 * have had a moment earlier or later. */
static _Atomic uint64_t hosts_lenmask[(SHIM_HOST_MAX + 64) / 64];
static atomic_bool hosts_wild;

static void
hosts_swap(struct hostlist *l)
{
	uint64_t mask[ARRAY_SIZE(hosts_lenmask)] = { 0 };
	struct hostlist *old;
	bool wild = false;
	unsigned i;

	for (i = 0; l && i < l->n; i++) {
		if (l->name[i][0] == '*')
			wild = true;
		else
			mask[l->len[i] / 64] |= 1ull << (l->len[i] % 64);
	}
	pthread_mutex_lock(&hosts_lock);
	old = hosts_cur;
	hosts_cur = l;
	for (i = 0; i < ARRAY_SIZE(mask); i++)
		atomic_store(&hosts_lenmask[i], mask[i]);
	atomic_store(&hosts_wild, wild);
	atomic_store(&hosts_count, l ? l->n : 0);
	pthread_mutex_unlock(&hosts_lock);
	free(old);
}

/* The length host would have normalised (without "[]" or a final dot). */
static size_t
host_len(const char *host)
{
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		n -= 2;
	else if (n && host[n - 1] == '.')
		n--;
	return n;
}

/* Who this program is, for the "!glob" lines: its executable's path, that
 * path's base name, and its command name; read once, under
 * hosts_reload_lock. */
static struct {
	bool known;
	char exe[PATH_MAX];
	char comm[32];
} self;

static void
self_read(void)
{
	ssize_t n;
	int fd;

	self.known = true;
	n = readlink("/proc/self/exe", self.exe, sizeof(self.exe) - 1);
	self.exe[n > 0 ? n : 0] = '\0';
	fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, self.comm, sizeof(self.comm) - 1) : -1;
	if (fd >= 0)
		close(fd);
	self.comm[n > 0 ? n : 0] = '\0';
	self.comm[strcspn(self.comm, "\n")] = '\0';
}

/* The "!glob" of l that names this program, or NULL. */
static const char *
self_excluded(const struct hostlist *l)
{
	const char *base;
	unsigned i;

	if (l->nexcl == 0)
		return NULL;
	if (!self.known)
		self_read();
	base = strrchr(self.exe, '/');
	base = base ? base + 1 : self.exe;
	for (i = 0; i < l->nexcl; i++)
		if ((self.exe[0] && (fnmatch(l->excl[i], self.exe, 0) == 0 ||
				     fnmatch(l->excl[i], base, 0) == 0)) ||
		    (self.comm[0] && fnmatch(l->excl[i], self.comm, 0) == 0))
			return l->excl[i];
	return NULL;
}

/* Called with hosts_reload_lock held. */
static void
hosts_reload_locked(void)
{
	struct hostlist *l;
	struct stat st;
	const char *glob;

	if (stat(hosts_path, &st) != 0) {
		if (hosts_id.valid || atomic_load(&hosts_count))
			SHIM_DEBUG("hosts", "%s: gone: intercepting nothing",
				   hosts_path);
		hosts_id.valid = false;
		hosts_swap(NULL);
		return;
	}
	if (hosts_same_file(&st))
		return;
	l = hosts_read(&st);
	if (!l) {
		/* unreadable: intercept nothing, and try again next time */
		SHIM_DEBUG("hosts", "%s: unreadable: intercepting nothing",
			   hosts_path);
		hosts_id.valid = false;
		hosts_swap(NULL);
		return;
	}
	hosts_id.valid = true;
	hosts_id.dev = st.st_dev;
	hosts_id.ino = st.st_ino;
	hosts_id.size = st.st_size;
	hosts_id.mtim = st.st_mtim;
	if ((glob = self_excluded(l)) != NULL) {
		SHIM_DEBUG("hosts", "%s: this program is excluded (%s): "
			   "intercepting nothing", hosts_path, glob);
		l->n = 0;
	} else {
		SHIM_DEBUG("hosts", "%s: %u hosts", hosts_path, l->n);
	}
	hosts_swap(l);
}

static void
hosts_check(void)
{
	long long now = now_coarse_ns();
	int saved;

	if (now < atomic_load(&hosts_next_check))
		return;
	saved = errno;
	if (atomic_load(&hosts_checked)) {
		if (pthread_mutex_trylock(&hosts_reload_lock) != 0)
			goto out;	/* another thread is at it */
	} else {
		pthread_mutex_lock(&hosts_reload_lock);
	}
	if (now >= atomic_load(&hosts_next_check)) {
		shim_guard_enter();
		hosts_reload_locked();
		shim_guard_leave();
		atomic_store(&hosts_next_check,
			     now_coarse_ns() + HOSTS_CHECK_NS);
		atomic_store(&hosts_checked, true);
	}
	pthread_mutex_unlock(&hosts_reload_lock);
out:
	errno = saved;
}

bool
shim_hosts_empty(void)
{
	if (!shim_init())
		return true;
	hosts_check();
	return atomic_load(&hosts_count) == 0;
}

bool
shim_host_intercepted(const char *host)
{
	char h[SHIM_HOST_MAX + 1];
	const struct hostlist *l;
	size_t hlen;
	unsigned i;
	bool hit = false;

	if (!shim_init() || !host)
		return false;
	hosts_check();
	if (atomic_load_explicit(&hosts_count, memory_order_relaxed) == 0)
		return false;
	hlen = host_len(host);
	if (hlen == 0 || hlen > SHIM_HOST_MAX ||
	    (!atomic_load_explicit(&hosts_wild, memory_order_relaxed) &&
	     !(atomic_load_explicit(&hosts_lenmask[hlen / 64],
				    memory_order_relaxed) &
	       (1ull << (hlen % 64)))))
		return false;
	hlen = shim_host_norm(host, strlen(host), h);
	if (hlen == 0 || memchr(h, '*', hlen))
		return false;
	pthread_mutex_lock(&hosts_lock);
	l = hosts_cur;
	for (i = 0; l && i < l->n && !hit; i++) {
		const char *p = l->name[i];
		size_t plen = l->len[i];

		if (p[0] == '*')	/* "*.sfx": any subdomain of sfx */
			hit = hlen > plen - 1 &&
			      memcmp(h + hlen - (plen - 1), p + 1,
				     plen - 1) == 0;
		else
			hit = plen == hlen && memcmp(h, p, hlen) == 0;
	}
	pthread_mutex_unlock(&hosts_lock);
	return hit;
}

/* ------------------------------------------------------------------ */
/* Daemon probe */

/* strerror() may use a static buffer; this one is thread-safe. */
static const char *
errno_name(int e)
{
	const char *s = strerrordesc_np(e);

	return s ? s : "unknown error";
}

int
shim_daemon_connect(bool nonblock, int timeout_ms)
{
	struct sockaddr_un sa;
	size_t len = strlen(sock_path);
	struct timeval tv;
	int fd, e;

	shim_libc();
	if (!shim_init() || len == 0) {
		errno = ENOENT;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock_path, len);	/* len < sizeof(sun_path) */

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
		    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	if (!nonblock && timeout_ms > 0) {
		/* A blocking connect() on a Unix socket waits only while the
		 * listener's backlog is full; SO_SNDTIMEO bounds the wait. */
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	while (REAL(connect)(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno == EINTR && !nonblock)
			continue;	/* nothing was connected: retry */
		if (nonblock && (errno == EAGAIN || errno == EINPROGRESS))
			break;		/* backlog full: alive, but busy */
		e = errno;
		SHIM_DEBUG("daemon", "%s: cannot connect (%s)", sock_path,
			   errno_name(e));
		REAL(close)(fd);
		errno = e;
		return -1;
	}
	if (!nonblock && timeout_ms > 0) {
		memset(&tv, 0, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

bool
shim_daemon_admitted(int fd, int timeout_ms)
{
	static const char ok[] = PREAMBLE_ADMITTED;
	char got[sizeof(ok) - 1];
	unsigned long long until = shim_now_us() +
				   (unsigned long long)timeout_ms * 1000;
	size_t have = 0;

	while (have < sizeof(got)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		unsigned long long now = shim_now_us();
		ssize_t n;
		int r;

		if (now >= until)
			return false;
		r = poll(&p, 1, (int)((until - now + 999) / 1000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		/* Only the answer's bytes: what follows is the program's. */
		n = recv(fd, got + have, sizeof(got) - have, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return false;
		have += (size_t)n;
		if (memcmp(got, ok, have) != 0)
			return false;	/* a refusal: not worth reading on */
	}
	return true;
}

bool
shim_daemon_up(void)
{
	static const char admit[] = PREAMBLE_ADMIT;
	int saved = errno;
	bool up = false;
	int fd;

	shim_guard_enter();
	/* Non-blocking: a full backlog is a daemon that does not keep up,
	 * and the send below fails on the unconnected socket. */
	fd = shim_daemon_connect(true, 0);
	if (fd >= 0) {
		up = send(fd, admit, sizeof(admit) - 1, MSG_NOSIGNAL) ==
			     (ssize_t)(sizeof(admit) - 1) &&
		     shim_daemon_admitted(fd, SHIM_ADMIT_MS);
		if (!up)
			SHIM_DEBUG("daemon", "%s: not taking connections now",
				   sock_path);
		REAL(close)(fd);
	}
	shim_guard_leave();
	errno = saved;
	return up;
}
