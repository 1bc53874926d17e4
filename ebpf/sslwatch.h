/* What the bypass watch's BPF programs (sslwatch.bpf.c) and its loader
 * (sslwatch.c) must agree on: map keys and values, and the record sent
 * through the ring buffer.
 *
 * Included from both sides, so it includes nothing itself: the BPF side
 * has __u32 and friends from vmlinux.h, user space from <linux/types.h>.
 * Every struct is laid out by hand with explicit padding, so that clang
 * targeting BPF and gcc targeting the host agree byte for byte. */
#ifndef LLMFB_SSLWATCH_H
#define LLMFB_SSLWATCH_H

#define SSLW_HOST_MAX	64	/* a host, NUL included: BYPASS_HOST_MAX */
#define SSLW_HOSTS_MAX	256	/* entries in the `hosts` map */
#define SSLW_CONNS_MAX	8192	/* LLM connections followed at once */
#define SSLW_READS_MAX	8192	/* SSL_read calls in flight at once */
#define SSLW_RINGBUF	(256 * 1024)

/* SSL_set_tlsext_host_name(s, name) is
 * SSL_ctrl(s, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, name)
 * in every OpenSSL from 0.9.8 to 3.x. */
#define SSLW_CTRL_SET_TLSEXT_HOSTNAME	55

/* A connection's place in its request/answer cycle. */
#define SSLW_IDLE	0	/* SNI seen, nothing written yet */
#define SSLW_REQ	1	/* written to, no answer byte yet */
#define SSLW_ANSWERED	2	/* answered; the next write starts a call */

/* Record types. */
#define SSLW_EV_REQ	1	/* first request byte written */
#define SSLW_EV_ANSWER	2	/* first answer byte read */

/* `hosts` key: a lower-case host name or "*.suffix", zero padded so that
 * the whole array can be hashed. */
struct sslw_host {
	char	 name[SSLW_HOST_MAX];
};

/* `conns`: an SSL * is only unique within its process. */
struct sslw_conn_key {
	__u32	 tgid;
	__u32	 pad;
	__u64	 ssl;
};

struct sslw_conn {
	char	 host[SSLW_HOST_MAX];
	__u64	 req_ns;	/* bpf_ktime_get_ns() at the first write */
	__u8	 state;		/* SSLW_IDLE, ... */
	__u8	 pad[7];
};

/* `reads`, by pid_tgid: SSL_read's arguments, for its return probe. */
struct sslw_read {
	__u64	 ssl;
	__u64	 readbytes;	/* SSL_read_ex's size_t *; 0 for SSL_read */
};

struct sslw_event {
	__u32	 type;		/* SSLW_EV_REQ, SSLW_EV_ANSWER */
	__u32	 pid;		/* tgid */
	__u32	 tid;
	__u32	 pad;
	__u64	 latency_ns;	/* SSLW_EV_ANSWER: first write -> first read */
	char	 comm[16];	/* the calling thread's */
	char	 host[SSLW_HOST_MAX];
};

#endif
