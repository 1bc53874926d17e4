/* netlat: what the kernel saw of llmfbd's upstream TCP connections, one
 * map entry per socket, keyed by its socket cookie.  Shared by the BPF
 * programs (netlat.bpf.c) and their loader (netlat.c).
 *
 * An "exchange" is a run of sends followed by a run of answers: a send
 * after data came in starts a new one.  For a call, the request's last
 * byte sent is last_tx_ns and its answer's first byte is the data segment
 * that arrived last before llmfbd read the answer's head, so llmfbd reads
 * the entry at that moment (a TLS session ticket arriving between the two
 * would otherwise pass for the answer). */
#ifndef LLMFB_NETLAT_H
#define LLMFB_NETLAT_H

#define NETLAT_SOCKS	8192	/* sockets remembered (LRU) */

struct netlat_sock {
	__u64	 syn_ns;	/* SYN sent; 0: connected before we looked */
	__u64	 connect_ns;	/* SYN sent to established; 0: unknown */
	__u64	 last_tx_ns;	/* the last send */
	__u64	 last_rx_ns;	/* the last segment with data in */
	__u32	 srtt_us;	/* smoothed round trip, at that segment */
	__u32	 retrans;	/* retransmits in this exchange */
	__u32	 retrans_total;
	__u32	 rx_after_tx;	/* data came in since the last send */
};

#endif
