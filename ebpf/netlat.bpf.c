/* netlat: TCP timing of llmfbd's own upstream connections, from four
 * tracepoints, attached as raw tracepoints (no tracefs needed, no kprobes,
 * no fentry: this runs where only tracepoints and uprobes are allowed):
 *
 *	sock:inet_sock_set_state	SYN sent -> established: connect time
 *	sock:sock_send_length		a send by llmfbd: the last byte out
 *	sock:sock_recv_length		a read by llmfbd: which socket it was
 *	tcp:tcp_probe			a segment in: the first byte back, srtt
 *	tcp:tcp_retransmit_skb		a retransmit
 *
 * Sockets are keyed by cookie.  llmfbd asks for each upstream socket's
 * cookie before it connects (getsockopt SO_COOKIE), which makes the kernel
 * assign it, so a socket without one is never ours and costs a single load
 * on the receive path.  Each program loads and attaches on its own, so a
 * kernel without one tracepoint loses only what it measures. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "netlat.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 targ_tgid = 0;	/* llmfbd */

/* The upstream socket llmfbd's main thread read from last.  libcurl
 * hands over an answer's head straight after the read that completed it,
 * and cannot say which socket a transfer uses until it ends
 * (CURLINFO_ACTIVESOCKET), so llmfbd asks here from its header callback.
 * Read by user space through the skeleton's mmapped .bss. */
__u64 last_read_cookie = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NETLAT_SOCKS);
	__type(key, __u64);
	__type(value, struct netlat_sock);
} socks SEC(".maps");

static __always_inline __u64
cookie_of(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
}

static __always_inline int
ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

SEC("raw_tp/inet_sock_set_state")
int
BPF_PROG(set_state, const struct sock *sk, int oldstate, int newstate)
{
	struct netlat_sock *s, fresh = {};
	__u64 cookie;

	if (newstate == TCP_SYN_SENT) {
		/* In connect(), on the caller's thread. */
		if (!ours() || (cookie = cookie_of(sk)) == 0)
			return 0;
		fresh.syn_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&socks, &cookie, &fresh, BPF_ANY);
	} else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT) {
		/* In softirq: any thread; the cookie says whose. */
		if ((cookie = cookie_of(sk)) == 0 ||
		    (s = bpf_map_lookup_elem(&socks, &cookie)) == NULL ||
		    s->syn_ns == 0)
			return 0;
		s->connect_ns = bpf_ktime_get_ns() - s->syn_ns;
	}
	return 0;
}

SEC("raw_tp/sock_send_length")
int
BPF_PROG(sent, struct sock *sk, int ret, int flags)
{
	struct netlat_sock *s, fresh = {};
	__u64 cookie, now;

	if (ret <= 0 || !ours() || (cookie = cookie_of(sk)) == 0)
		return 0;
	now = bpf_ktime_get_ns();
	if ((s = bpf_map_lookup_elem(&socks, &cookie)) == NULL) {
		/* Connected before the probes were loaded. */
		fresh.last_tx_ns = now;
		bpf_map_update_elem(&socks, &cookie, &fresh, BPF_NOEXIST);
		return 0;
	}
	if (s->rx_after_tx) {
		s->rx_after_tx = 0;
		s->retrans = 0;
	}
	s->last_tx_ns = now;
	return 0;
}

SEC("raw_tp/sock_recv_length")
int
BPF_PROG(received, struct sock *sk, int ret, int flags)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie;

	/* The main thread only: curl's resolver threads read DNS. */
	if (ret <= 0 || id != ((__u64)targ_tgid << 32 | targ_tgid) ||
	    (cookie = cookie_of(sk)) == 0 ||
	    bpf_map_lookup_elem(&socks, &cookie) == NULL)
		return 0;
	last_read_cookie = cookie;
	return 0;
}

SEC("raw_tp/tcp_probe")
int
BPF_PROG(probe, struct sock *sk, struct sk_buff *skb)
{
	struct netlat_sock *s;
	unsigned char *data;
	unsigned int len;
	__u8 doff;
	__u64 cookie;

	if ((cookie = cookie_of(sk)) == 0 ||
	    (s = bpf_map_lookup_elem(&socks, &cookie)) == NULL)
		return 0;
	s->srtt_us = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
	/* skb->data is the TCP header here: data offset in its 13th byte. */
	len = BPF_CORE_READ(skb, len);
	data = BPF_CORE_READ(skb, data);
	if (bpf_probe_read_kernel(&doff, 1, data + 12) < 0 ||
	    len <= (unsigned int)(doff >> 4) * 4)
		return 0;	/* a bare ACK */
	s->last_rx_ns = bpf_ktime_get_ns();
	s->rx_after_tx = 1;
	return 0;
}

SEC("raw_tp/tcp_retransmit_skb")
int
BPF_PROG(retransmit, const struct sock *sk)
{
	struct netlat_sock *s;
	__u64 cookie;

	if ((cookie = cookie_of(sk)) == 0 ||
	    (s = bpf_map_lookup_elem(&socks, &cookie)) == NULL)
		return 0;
	__sync_fetch_and_add(&s->retrans, 1);
	__sync_fetch_and_add(&s->retrans_total, 1);
	return 0;
}
