/* connredir: see connredir.h. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "connredir.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 targ_tgid = 0;	/* llmfbd */
const volatile __u16 listen_port = 0;	/* its listener, network order */

#define AF_INET		2
#define AF_INET6	10
#define SOCK_STREAM	1

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, REDIR_TARGETS);
	__type(key, struct redir_key);
	__type(value, __u8);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, REDIR_CONNS);
	__type(key, __u64);
	__type(value, struct redir_dst);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, REDIR_CONNS);
	__type(key, __u32);
	__type(value, struct redir_dst);
} bysport SEC(".maps");

/* 198.19.0.0/22, the shim's synthetic addresses (shim/net.c). */
static __always_inline int
synthetic4(__u32 ip_be)
{
	return (bpf_ntohl(ip_be) & 0xfffffc00) == 0xc6130000;
}

static __always_inline void
keep(void *ctx, __u8 family, __u16 port, const __u32 *addr, int n,
    int synth)
{
	struct redir_dst d = {};
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u64 ug = bpf_get_current_uid_gid();
	int i;

	d.family = family;
	d.synthetic = synth;
	d.port = port;
	for (i = 0; i < 4; i++)
		if (i < n)
			((__u32 *)d.addr)[i] = addr[i];
	d.pid = bpf_get_current_pid_tgid() >> 32;
	d.uid = (__u32)ug;
	d.gid = ug >> 32;
	bpf_map_update_elem(&pending, &cookie, &d, BPF_ANY);
}

SEC("cgroup/connect4")
int
redir4(struct bpf_sock_addr *ctx)
{
	struct redir_key k = {};
	__u32 ip = ctx->user_ip4;
	int synth;

	if (ctx->type != SOCK_STREAM ||
	    (bpf_get_current_pid_tgid() >> 32) == targ_tgid)
		return 1;
	k.family = 4;
	k.port = (__u16)ctx->user_port;
	*(__u32 *)k.addr = ip;
	synth = synthetic4(ip) && k.port == bpf_htons(443);
	if (!synth && bpf_map_lookup_elem(&targets, &k) == NULL)
		return 1;
	keep(ctx, 4, k.port, &ip, 1, synth);
	ctx->user_ip4 = bpf_htonl(0x7f000001);
	ctx->user_port = listen_port;
	return 1;
}

SEC("cgroup/connect6")
int
redir6(struct bpf_sock_addr *ctx)
{
	struct redir_key k = {};
	__u32 a[4];
	int synth = 0, mapped;

	if (ctx->type != SOCK_STREAM ||
	    (bpf_get_current_pid_tgid() >> 32) == targ_tgid)
		return 1;
	a[0] = ctx->user_ip6[0];
	a[1] = ctx->user_ip6[1];
	a[2] = ctx->user_ip6[2];
	a[3] = ctx->user_ip6[3];
	k.port = (__u16)ctx->user_port;
	/* ::ffff:a.b.c.d, an IPv4 address on a dual-stack socket. */
	mapped = a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
	if (mapped) {
		k.family = 4;
		*(__u32 *)k.addr = a[3];
		synth = synthetic4(a[3]) && k.port == bpf_htons(443);
	} else {
		k.family = 6;
		__builtin_memcpy(k.addr, a, 16);
	}
	if (!synth && bpf_map_lookup_elem(&targets, &k) == NULL)
		return 1;
	if (mapped) {
		keep(ctx, 4, k.port, &a[3], 1, synth);
		ctx->user_ip6[3] = bpf_htonl(0x7f000001);
	} else {
		keep(ctx, 6, k.port, a, 4, 0);
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = 0;
		ctx->user_ip6[3] = bpf_htonl(1);	/* ::1 */
	}
	ctx->user_port = listen_port;
	return 1;
}

SEC("sockops")
int
redir_ops(struct bpf_sock_ops *skops)
{
	struct redir_dst *d;
	__u64 cookie;
	__u32 key;

	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	cookie = bpf_get_socket_cookie(skops);
	if ((d = bpf_map_lookup_elem(&pending, &cookie)) == NULL)
		return 1;
	/* As llmfbd will see its peer: a v4-mapped one on its IPv4
	 * listener. */
	key = redir_sport_key(skops->family == AF_INET6 &&
	    !(skops->remote_ip6[0] == 0 && skops->remote_ip6[1] == 0 &&
	    skops->remote_ip6[2] == bpf_htonl(0xffff)) ? 6 : 4,
	    skops->local_port);
	bpf_map_update_elem(&bysport, &key, d, BPF_ANY);
	bpf_map_delete_elem(&pending, &cookie);
	return 1;
}
