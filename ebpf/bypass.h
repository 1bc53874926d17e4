/* The bypass watch: programs on this host that talk TLS to an intercepted
 * LLM host themselves, without going through llmfb (a static binary, a
 * client that ignores LD_PRELOAD, a container without the shim), found
 * with eBPF uprobes on every copy of OpenSSL's libssl in use.  For each
 * program and host: pid, executable, calls and their latency.
 *
 * Hosts are matched as llmfb intercepts them: exactly, or "*.suffix"
 * for any subdomain.  Only programs using a shared libssl are seen;
 * static OpenSSL, BoringSSL, GnuTLS, NSS, rustls and Go's crypto/tls are
 * not.  No threads: the caller polls bypass_fd() and calls
 * bypass_consume(), and calls bypass_rescan() every few seconds. */
#ifndef LLMFB_BYPASS_H
#define LLMFB_BYPASS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BYPASS_HOST_MAX	64	/* a host name, NUL included */
#define BYPASS_MAX	256	/* programs x hosts remembered */

struct bypass {
	uint32_t	 pid;
	char		 comm[16];	/* of the thread first seen */
	/* readlink /proc/PID/exe when first seen; "" if it could not be
	 * read (the process was already gone) */
	char		 exe[256];
	char		 host[BYPASS_HOST_MAX];
	/* requests: the first SSL write after a read (or the first ever) */
	uint64_t	 calls;
	uint64_t	 answered;	/* of those, with a first answer byte */
	/* latency of the last answered call: first request byte written
	 * -> first answer byte read */
	uint64_t	 last_us;
	uint64_t	 max_us;
	uint64_t	 sum_us;	/* over `answered` */
	int64_t		 first_seen;	/* CLOCK_REALTIME seconds */
	int64_t		 last_seen;
};

struct bypass_info {
	unsigned	 libs;		/* libssl copies (inodes) attached */
	unsigned	 probes;	/* uprobes attached, over all copies */
	unsigned	 probes_failed;	/* symbols missing or attach refused */
	uint64_t	 events;	/* ring buffer records read */
	uint64_t	 scans;		/* /proc scans done */
	/* partial degradation, e.g. "SSL_read_ex missing in
	 * /usr/lib/.../libssl.so.1.1"; "" when none */
	char		 note[160];
};

struct bypass_watch;

/* Load the programs and attach to every libssl copy mapped by a process
 * now.  `self` is llmfbd's own pid: its own TLS (to the providers) is
 * never reported.  `hosts`: the intercepted host names or "*.suffix"
 * patterns, at most 256; others are ignored in the kernel.  Returns 0,
 * or -errno with `why` set to one sentence for an operator.  On success
 * `why` is "", or "no libssl is in use on this host" when nothing could
 * be attached yet: not an error, bypass_rescan() keeps looking. */
int bypass_open(struct bypass_watch **out, pid_t self,
    const char *const *hosts, size_t nhosts, char *why, size_t whylen);
/* The ring buffer's epoll fd: readable when events wait. */
int bypass_fd(const struct bypass_watch *bw);
/* Read waiting events, never blocking.  Returns records read or -errno. */
int bypass_consume(struct bypass_watch *bw);
/* Look through /proc/PID/maps for libssl copies not attached yet (one per
 * device and inode) and attach to them.  Returns how many new copies were
 * attached.  Bounded: each call lists /proc once and reads at most 64
 * maps files of processes not seen before plus 16 of known ones, in
 * turn, so that a process that loads libssl late (Python imports ssl on
 * demand) is found within a few rounds. */
int bypass_rescan(struct bypass_watch *bw);
/* Replace the intercepted host set (config reload).  0 or -errno. */
int bypass_set_hosts(struct bypass_watch *bw, const char *const *hosts,
    size_t nhosts);
/* The table, most recently seen first; *out stays valid until the next
 * call into this module. */
size_t bypass_list(struct bypass_watch *bw, const struct bypass **out);
void bypass_info(const struct bypass_watch *bw, struct bypass_info *out);
void bypass_close(struct bypass_watch *bw);	/* NULL is fine */

#endif
