/* connredir: connects the shim never sees (Go's own system calls, static
 * programs), sent to llmfbd by the kernel.  Shared by the BPF programs
 * (connredir.bpf.c) and their loader (redirect.c).
 *
 * A cgroup/connect4 and connect6 program rewrites a TCP connect to an
 * intercepted host's address (llmfbd's own resolution of the intercepted
 * names, in `targets`), or to the shim's synthetic range, into a connect
 * to llmfbd's listener on loopback, and keeps the original destination
 * under the socket's cookie.  A sockops program, at TCP_CONNECT (the local
 * port is known then, and it is before llmfbd can accept), moves it under
 * the local port, which is what llmfbd sees of the connection: its peer's
 * port.  llmfbd's own sockets (targ_tgid) are never touched. */
#ifndef LLMFB_CONNREDIR_H
#define LLMFB_CONNREDIR_H

#define REDIR_TARGETS	4096	/* addresses of intercepted hosts */
#define REDIR_CONNS	16384	/* connections waiting to be accepted */

/* An address of an intercepted host (family 4 or 6, port in network
 * order; an IPv4 one in addr[0..4)). */
struct redir_key {
	__u8	 family;
	__u8	 pad;
	__u16	 port;
	__u8	 addr[16];
};

/* Where a redirected connect was going, and who made it. */
struct redir_dst {
	__u8	 family;
	__u8	 synthetic;	/* to the shim's range: no real address */
	__u16	 port;		/* network order */
	__u8	 addr[16];
	__u32	 pid;
	__u32	 uid;
	__u32	 gid;
	__u32	 pad;
};

/* bysport's key: the connecting socket's family and local port. */
static inline __u32
redir_sport_key(__u32 family, __u32 port)
{
	return family << 16 | (port & 0xffff);
}

#endif
