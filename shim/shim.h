/* libllmfb.so: the core every interception layer shares.
 *
 * The shim is a guest in someone else's process.  The core owns: the table
 * of real symbols (one naming scheme, real_<name>), init (once, no threads,
 * no file I/O beyond getenv), a per-thread recursion guard for the shim's
 * own system calls, the debug log (silent unless LLMFB_DEBUG is set), the
 * list of intercepted hosts the daemon publishes and the daemon probe.
 * Layers: curl.c (libcurl's API), net.c (name resolution, connect() and
 * the life of redirected fds) and tls.c (virtual TLS over OpenSSL).  The
 * libc functions are resolved once, by shim_libc(); libcurl's and
 * OpenSSL's under each layer's own pthread_once, because the library they
 * hook may be dlopen()ed long after the core came up (tls.c keeps its
 * OpenSSL pointers to itself, so that only it needs OpenSSL's headers).
 *
 * Every function here preserves errno.
 */
#ifndef LLMFB_SHIM_H
#define LLMFB_SHIM_H

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* libcurl's types and constants only: the shim is not linked against
 * libcurl and resolves every curl function it calls at run time.  Without
 * these two, curl.h would turn curl_easy_setopt/getinfo into type-checking
 * macros and flag the deprecated options we must still shadow. */
#define CURL_DISABLE_TYPECHECK 1
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#undef curl_easy_setopt
#undef curl_easy_getinfo

#define SHIM_EXPORT __attribute__((visibility("default")))

#define SHIM_SOCKET_DEFAULT "/run/llmfb/llmfb.sock"
#define SHIM_HOSTS_SUFFIX ".hosts"
#define SHIM_HOSTS_MAX 256	/* entries kept from the hosts file */
#define SHIM_HOST_MAX 253	/* longest DNS name, without a trailing dot */
#define SHIM_EXCL_MAX 64	/* "!glob" lines: programs left alone */
#define SHIM_EXCL_LEN 255

/* The real functions behind our hooks, in one table.  A NULL pointer means
 * the symbol was not found (or only our own hook was). */
struct shim_real {
	/* libc, resolved by shim_libc() */
	int (*real_connect)(int, const struct sockaddr *, socklen_t);
	int (*real_close)(int);
	int (*real_close_range)(unsigned int, unsigned int, int);
	int (*real_dup)(int);
	int (*real_dup2)(int, int);
	int (*real_dup3)(int, int, int);
	int (*real_fcntl)(int, int, ...);
	int (*real_fcntl64)(int, int, ...);
	int (*real_getaddrinfo)(const char *, const char *,
				const struct addrinfo *, struct addrinfo **);
	int (*real_getnameinfo)(const struct sockaddr *, socklen_t, char *,
				socklen_t, char *, socklen_t, int);
	int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
	int (*real_getsockname)(int, struct sockaddr *, socklen_t *);
	int (*real_getsockopt)(int, int, int, void *, socklen_t *);
	int (*real_setsockopt)(int, int, int, const void *, socklen_t);
	int (*real_epoll_create)(int);
	int (*real_epoll_create1)(int);
	/* libcurl, resolved by curl.c on the first curl hook */
	CURL *(*real_curl_easy_init)(void);
	CURLcode (*real_curl_easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*real_curl_easy_perform)(CURL *);
	CURLcode (*real_curl_easy_getinfo)(CURL *, CURLINFO, ...);
	void (*real_curl_easy_cleanup)(CURL *);
	void (*real_curl_easy_reset)(CURL *);
	CURL *(*real_curl_easy_duphandle)(CURL *);
	CURLMcode (*real_curl_multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*real_curl_multi_remove_handle)(CURLM *, CURL *);
	/* libcurl helpers the curl layer calls (not hooked) */
	CURLU *(*real_curl_url)(void);
	void (*real_curl_url_cleanup)(CURLU *);
	CURLUcode (*real_curl_url_set)(CURLU *, CURLUPart, const char *,
				       unsigned int);
	CURLUcode (*real_curl_url_get)(const CURLU *, CURLUPart, char **,
				       unsigned int);
	void (*real_curl_free)(void *);
	struct curl_slist *(*real_curl_slist_append)(struct curl_slist *,
						     const char *);
	void (*real_curl_slist_free_all)(struct curl_slist *);
};

extern struct shim_real shim_real;
#define REAL(name) (shim_real.real_##name)
/* Call a libc function we hook; ENOSYS if it was not found. */
#define FORWARD_LIBC(name, ...)						\
	(REAL(name) ? REAL(name)(__VA_ARGS__) : (errno = ENOSYS, -1))

/* Written once by shim_init(), before any reader got past it. */
extern bool shim_debug_enabled;

/* Core init, once (pthread_once; also run by the constructor).  Reads
 * LLMFB_DISABLE, LLMFB_DEBUG and LLMFB_SOCKET.  Returns true when the shim
 * may act, false when it must only forward (disabled, unusable socket
 * path). */
bool shim_init(void);

/* The library that defines anchor (found with dlsym(RTLD_NEXT) and
 * dladdr), else the first of sonames already loaded (RTLD_NOLOAD: loaded
 * RTLD_LOCAL by a dlopen()), else NULL.  The handle is never closed. */
void *shim_lib_open(const char *anchor, const void *self,
		    const char *const *sonames);
/* name from lib (RTLD_NEXT when lib is NULL, then each of the sonames
 * loaded); NULL when missing or when it would be our own hook self. */
void *shim_sym(void *lib, const char *name, const void *self);

/* Resolve the libc functions we hook, once (pthread_once: cheap after the
 * first call).  Every libc hook calls it first: a hook may run before the
 * constructor did. */
void shim_libc(void);

/* Per-thread recursion guard: true while the shim itself is doing I/O
 * (probe, hosts file), so a hook that fires inside forwards at once. */
bool shim_guard_active(void);
void shim_guard_enter(void);
void shim_guard_leave(void);

/* One line "llmfb[pid] func: message" on stderr.  Never give it a header
 * value, a URL path or query (secrets live there); scheme, host and port
 * are fine. */
void shim_debug(const char *func, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define SHIM_DEBUG(func, ...)						\
	do {								\
		if (shim_debug_enabled)					\
			shim_debug((func), __VA_ARGS__);		\
	} while (0)

/* Normalise a host name into out[SHIM_HOST_MAX + 1]: lower case, without
 * the brackets of an IPv6 literal and without a trailing dot.  Returns its
 * length, 0 when it is empty, too long or holds characters no host name
 * has ('*' is allowed). */
size_t shim_host_norm(const char *in, size_t len, char *out);

/* Exported: llmfbd calls it to turn the shim off in itself. */
SHIM_EXPORT void llmfb_shim_disable(void);

/* The daemon's socket path (LLMFB_SOCKET or SHIM_SOCKET_DEFAULT). */
const char *shim_socket_path(void);
/* CLOCK_MONOTONIC in µs, for the stamps in shim_proto.h (0: none). */
unsigned long long shim_now_us(void);

/* True when the daemon's hosts file names no host at all (or is missing):
 * a cheap test before parsing anything.  Rechecks the file at most once a
 * second. */
bool shim_hosts_empty(void);
/* True when host (as found in a URL: any case, maybe "[v6]", maybe a
 * trailing dot, no port) is intercepted.  Rechecks the file at most once a
 * second. */
bool shim_host_intercepted(const char *host);

/* A new stream socket connected to the daemon (SOCK_CLOEXEC), or -1 with
 * errno set.  Non-blocking: a full backlog counts as connected (EAGAIN is
 * left for the caller to see on first use).  Blocking: waits at most
 * timeout_ms (0: no limit) for room in the backlog. */
int shim_daemon_connect(bool nonblock, int timeout_ms);

/* Wait at most timeout_ms for llmfbd's answer to the ADMIT line sent on
 * fd (common/shim_proto.h): true when it takes the connection.  Reads
 * that answer and nothing more. */
bool shim_daemon_admitted(int fd, int timeout_ms);

/* True when llmfbd takes a connection now: a probe connection asks it
 * (ADMIT) and is closed.  False when the daemon is away, its backlog is
 * full, this user is at its limit, or it does not answer within
 * SHIM_ADMIT_MS: then the program's call goes direct. */
bool shim_daemon_up(void);

/* curl.c: the Unix socket the libcurl layer just opened to llmfbd,
 * connected and admitted, which libcurl is about to connect() (then
 * answered 0 and reset to -1); -1 when none. */
extern __thread int shim_admitted_fd;

/* How long the shim waits for llmfbd to say it takes a connection; a
 * daemon that has not answered by then is treated as away. */
#define SHIM_ADMIT_MS	1000

/* elf.c: what an ELF file says of itself, read with pread, bounded (at
 * most 4096 section headers, 64 KiB of names).  64-bit files only. */

/* Whether the file has a section named one of names (NULL-ended). */
bool shim_elf_has_section(int fd, const char *const *names);
/* Whether the file needs (DT_NEEDED) a library whose name starts with
 * one of prefixes (NULL-ended). */
bool shim_elf_needs(int fd, const char *const *prefixes);

/* net.c, for tls.c and the core */

/* Keep net.c's locks consistent across fork(); called once. */
void net_atfork_register(void);

/* True while some fd of this process is redirected to the daemon. */
bool net_any_redirected(void);
/* The name behind synthetic address index idx, or NULL. */
const char *net_synth_name(unsigned idx);
/* Claim a redirected fd for a virtual TLS session: false when fd is not
 * redirected; else *host is its name's index and *first says whether this
 * is the connection's first TLS session. */
bool net_claim_fd(int fd, unsigned *host, bool *first);
/* Claim a redirected connection to name that has no TLS session yet (for
 * a session over memory BIOs, whose fd the shim cannot see). */
bool net_claim_name(const char *name, unsigned *host);

#endif
