/* The kernel types llmfb's BPF programs read, and nothing else.
 *
 * Checked in, not generated from the build host's BTF: a package builder
 * or a container often has no /sys/kernel/btf/vmlinux, and a 3 MB dump
 * of one machine's kernel would be neither reviewable nor the kernel the
 * programs end up on anyway.  Every struct is marked preserve_access_index,
 * so clang emits CO-RE relocations by field name and libbpf fixes the
 * offsets against the running kernel's BTF at load time: the layouts
 * below only need the right names and types, not the right order.  A
 * program that needs a new field adds it here.  UAPI constants (map and
 * program types) come from the system's <linux/bpf.h>. */
#ifndef LLMFB_VMLINUX_H
#define LLMFB_VMLINUX_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>	/* struct pt_regs, for uprobes */

#pragma clang attribute push (__attribute__((preserve_access_index)), \
    apply_to = record)

typedef struct {
	__s64 counter;
} atomic64_t;

struct sock_common {
	__be32		 skc_daddr;
	__be32		 skc_rcv_saddr;
	__be16		 skc_dport;
	__u16		 skc_num;
	unsigned short	 skc_family;
	volatile unsigned char skc_state;
	atomic64_t	 skc_cookie;
};

struct sock {
	struct sock_common __sk_common;
};

struct tcp_sock {
	__u32		 srtt_us;	/* smoothed RTT << 3, in µs */
	__u32		 total_retrans;
};

struct sk_buff {
	unsigned int	 len;
	unsigned char	*data;
};

#pragma clang attribute pop

/* include/net/tcp_states.h */
enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT = 2,
	TCP_CLOSE = 7,
};

#endif
