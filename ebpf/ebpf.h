/* What llmfbd uses of ebpf/: the TCP timing of its upstream connections
 * (netlat) and the watch on libssl for calls that bypass llmfb (bypass.h).
 * Both are optional at run time: every open returns a sentence for the
 * operator when it cannot, and a build without clang or bpftool links
 * nobpf.c instead, whose opens all say so. */
#ifndef LLMFB_EBPF_H
#define LLMFB_EBPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bypass.h"

/* One BPF program, as status shows it. */
struct ebpf_prog {
	const char	*name;		/* the tracepoint it hangs on */
	bool		 on;
	char		 why[96];	/* when off */
};

/* Why eBPF cannot run here at all (no BTF, a build without it), or NULL.
 * The common checks, before any program is opened. */
const char *ebpf_unavailable(void);
/* One sentence for a failed load or attach: a missing privilege is the
 * usual one. */
void ebpf_explain(int err, const char *what, char *why, size_t whylen);
/* Send libbpf's own messages to the log, at debug level. */
void ebpf_log_libbpf(void);
/* llmfbd's pid namespace, as the BPF side needs it to know llmfbd's own
 * tasks (ebpf/selfpid.bpf.h): 0, or -errno when /proc cannot say. */
int ebpf_self_ns(uint64_t *ret_dev, uint64_t *ret_ino, bool *ret_init);
/* CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON: what loading needs. */
bool ebpf_may_load(void);
/* A skeleton's selfpid.bpf.h variables, for process self (getpid()).
 * Without /proc to ask, llmfbd is taken to be in the initial namespace. */
#define EBPF_SELF_NS_SET(ro, self) do {					\
	uint64_t dev_ = 0, ino_ = 0;					\
	bool init_ = true;						\
									\
	if (ebpf_self_ns(&dev_, &ino_, &init_) < 0)			\
		init_ = true;						\
	(ro)->self_tgid = (__u32)(self);				\
	(ro)->self_ns_dev = dev_;					\
	(ro)->self_ns_ino = ino_;					\
	(ro)->self_init_ns = init_;					\
} while (0)

enum netlat_prog { NETLAT_STATE, NETLAT_SEND, NETLAT_RECV, NETLAT_PROBE,
	NETLAT_RETRANS, NETLAT_PROGS };

/* One upstream socket as the probes saw it, at the moment of the lookup.
 * Times are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns), 0 unknown. */
struct net_sample {
	uint64_t	 connect_ns;	/* SYN sent to established */
	uint64_t	 last_tx_ns;	/* the last byte sent */
	uint64_t	 last_rx_ns;	/* the last data segment in */
	uint32_t	 srtt_us;
	uint32_t	 retrans;	/* in the current exchange */
};

struct netlat_probes;

/* Load and attach what this kernel allows, for the sockets of process
 * self.  0 when at least one program runs (the others say why in
 * netlat_progs), or -errno with why set. */
int netlat_open(struct netlat_probes **out, pid_t self, char *why,
    size_t whylen);
/* The programs, NETLAT_PROGS of them, for status. */
const struct ebpf_prog *netlat_progs(const struct netlat_probes *n);
bool netlat_has(const struct netlat_probes *n, enum netlat_prog p);
/* The cookie of the upstream socket llmfbd read from last (0: none).
 * From a libcurl header callback, the transfer's own socket. */
uint64_t netlat_last_read(const struct netlat_probes *n);
/* The socket with this cookie: 0, or -ENOENT when the probes never saw
 * it. */
int netlat_lookup(struct netlat_probes *n, uint64_t cookie,
    struct net_sample *out);
void netlat_close(struct netlat_probes *n);

/* ---- redirect: connects the shim does not see (connredir.h) ---------- */

struct redirect;
struct sockaddr_storage;

/* Where a redirected connection was going, and who made it. */
struct redirect_orig {
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 addr[16];	/* IPv4 in the first 4 */
	uint16_t	 port;		/* host order */
	bool		 synthetic;	/* the shim's range */
	uint32_t	 pid, uid, gid;
};

/* Load the connect4, connect6 and sockops programs and attach them to
 * the cgroup (v2) directory cgroup, sending connects to the redirected
 * addresses to port (host order) on loopback; process self is never
 * redirected.  0, or -errno with why set. */
int redirect_open(struct redirect **out, const char *cgroup, pid_t self,
    uint16_t port, char *why, size_t whylen);
/* The addresses (with their ports) redirected from now on, in place of
 * those before.  0 or -errno. */
int redirect_set_targets(struct redirect *r,
    const struct sockaddr_storage *addrs, size_t n);
/* The original destination of the accepted connection whose peer port
 * is sport (family AF_INET or AF_INET6, as accepted), taken from the map.
 * 0, or -ENOENT. */
int redirect_take(struct redirect *r, int family, uint16_t sport,
    struct redirect_orig *out);
void redirect_close(struct redirect *r);

#endif
