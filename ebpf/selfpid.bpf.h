/* Is the current task llmfbd, and what is its pid as llmfbd counts pids?
 * Shared by netlat.bpf.c and sslwatch.bpf.c.
 *
 * bpf_get_current_pid_tgid() gives pids as the initial pid namespace
 * sees them; llmfbd's getpid() is its pid in its own namespace.  The two
 * differ when llmfbd runs in a container, and comparing them matched
 * nothing: no timing, and llmfbd's own calls listed as a bypass.  So the
 * loader passes getpid() and its pid namespace (the device and inode of
 * /proc/self/ns/pid), and a task is llmfbd when
 * bpf_get_ns_current_pid_tgid() (Linux 5.7) in that namespace gives that
 * tgid.  The kernel-wide tgid found so is remembered, so that from then
 * on the check is one compare, as it was. */
#ifndef LLMFB_SELFPID_BPF_H
#define LLMFB_SELFPID_BPF_H

const volatile __u32 self_tgid = 0;	/* getpid() */
const volatile __u64 self_ns_dev = 0;	/* /proc/self/ns/pid's st_dev */
const volatile __u64 self_ns_ino = 0;	/* and st_ino */
/* Set when llmfbd is in the initial pid namespace: pids are the kernel's
 * and no translation is needed. */
const volatile __u8 self_init_ns = 0;

/* llmfbd's kernel-wide tgid, 0 until first seen. */
__u32 self_ktgid = 0;

static __always_inline int
is_self(__u64 id)
{
	struct bpf_pidns_info ns = {};
	__u32 tgid = id >> 32;

	if (self_init_ns)
		return tgid == self_tgid;
	if (self_ktgid != 0)
		return tgid == self_ktgid;
	if (bpf_get_ns_current_pid_tgid(self_ns_dev, self_ns_ino, &ns,
	    sizeof(ns)) != 0 || ns.tgid != self_tgid)
		return 0;
	self_ktgid = tgid;
	return 1;
}

/* The current task's pid and tid as llmfbd's /proc names them, or 0
 * when it has none there (a task outside llmfbd's pid namespace, or in
 * one below it: the helper translates into one namespace only). */
static __always_inline __u64
self_view(__u64 id)
{
	struct bpf_pidns_info ns = {};

	if (self_init_ns)
		return id;
	if (bpf_get_ns_current_pid_tgid(self_ns_dev, self_ns_ino, &ns,
	    sizeof(ns)) != 0)
		return 0;
	return (__u64)ns.tgid << 32 | ns.pid;
}

#endif
