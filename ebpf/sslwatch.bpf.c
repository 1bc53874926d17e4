/* The bypass watch, kernel side: uprobes on OpenSSL's libssl that notice
 * a program talking TLS to an intercepted LLM host on its own, without
 * llmfb, and time its calls.
 *
 * A connection is recognised by its SNI: SSL_set_tlsext_host_name() is a
 * macro for SSL_ctrl(ssl, 55, 0, name), so a probe on SSL_ctrl sees every
 * host name a client asks for, before the handshake.  Connections to an
 * intercepted host are followed in `conns`; everything else costs one
 * hash lookup per SSL call and nothing more.  A call is the first write
 * after an answer (or the first ever); its latency runs from that write
 * to the first read that returns data, which is what a caller waits for
 * (the time to first byte, for a streamed answer).
 *
 * Only uprobes: the kernels llmfb runs on may have neither kprobes nor
 * fentry.  The loader attaches these programs to each libssl copy itself
 * (sslwatch.c), hence the bare SEC("uprobe"). */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sslwatch.h"
/* llmfbd's own process: its TLS to the providers is the intercepted path,
 * not a bypass (is_self).  Events name programs by their pid in llmfbd's
 * namespace, so that its /proc finds them (self_view_tgid). */
#include "selfpid.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Records the ring buffer had no room for; the loader reports them. */
__u64 sslw_dropped = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SSLW_HOSTS_MAX);
	__type(key, struct sslw_host);
	__type(value, __u8);
} hosts SEC(".maps");

/* LRU: a program that never calls SSL_free must not fill it for good. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SSLW_CONNS_MAX);
	__type(key, struct sslw_conn_key);
	__type(value, struct sslw_conn);
} conns SEC(".maps");

/* LRU too: a thread killed inside SSL_read never returns to clean up. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SSLW_READS_MAX);
	__type(key, __u64);
	__type(value, struct sslw_read);
} reads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SSLW_RINGBUF);
} events SEC(".maps");

/* Is `name` (lower case, zero padded to twice SSLW_HOST_MAX so that any
 * suffix of it can be copied whole) intercepted, by itself or by a
 * "*.suffix" pattern?  Runs once per connection, not per call. */
static __always_inline int
host_wanted(const char *name)
{
	struct sslw_host key;
	int i;

	if (bpf_map_lookup_elem(&hosts, name) != NULL)
		return 1;
	/* From 1: "*.x" needs at least one character before the dot. */
#pragma clang loop unroll(disable)
	for (i = 1; i < SSLW_HOST_MAX - 1; i++) {
		if (name[i] == '\0')
			break;
		if (name[i] != '.')
			continue;
		key.name[0] = '*';
		if (bpf_probe_read_kernel(&key.name[1], SSLW_HOST_MAX - 1,
		    &name[i]) != 0)
			return 0;
		if (bpf_map_lookup_elem(&hosts, &key) != NULL)
			return 1;
	}
	return 0;
}

static __always_inline void
emit(__u32 type, __u64 pid_tgid, __u64 latency_ns, const char *host)
{
	struct sslw_event *e;
	__u64 view = self_view(pid_tgid);

	if (view == 0)
		return;		/* a program llmfbd cannot name */
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e == NULL) {
		__sync_fetch_and_add(&sslw_dropped, 1);
		return;
	}
	e->type = type;
	e->pid = view >> 32;
	e->tid = (__u32)view;
	e->pad = 0;
	e->latency_ns = latency_ns;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->host, host, SSLW_HOST_MAX);
	bpf_ringbuf_submit(e, 0);
}

SEC("uprobe")
int
BPF_KPROBE(sslw_ctrl, void *ssl, int cmd, long larg, void *parg)
{
	struct sslw_conn_key k = {};
	struct sslw_conn c = {};
	char name[2 * SSLW_HOST_MAX] = {};
	__u64 id;
	long n;
	int i;

	if (cmd != SSLW_CTRL_SET_TLSEXT_HOSTNAME)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (is_self(id))
		return 0;
	k.tgid = id >> 32;
	k.ssl = (__u64)ssl;
	/* One byte more than a host can have, to tell a long name from a
	 * host of exactly SSLW_HOST_MAX - 1 characters. */
	n = 0;
	if (parg != NULL)
		n = bpf_probe_read_user_str(name, SSLW_HOST_MAX + 1, parg);
	if (n <= 1 || n > SSLW_HOST_MAX)
		goto forget;
#pragma unroll
	for (i = 0; i < SSLW_HOST_MAX; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] += 'a' - 'A';
	if (!host_wanted(name))
		goto forget;
	__builtin_memcpy(c.host, name, SSLW_HOST_MAX);
	c.state = SSLW_IDLE;
	bpf_map_update_elem(&conns, &k, &c, BPF_ANY);
	return 0;
forget:
	/* The SSL * may be reused for another host. */
	bpf_map_delete_elem(&conns, &k);
	return 0;
}

SEC("uprobe")
int
BPF_KPROBE(sslw_free, void *ssl)
{
	struct sslw_conn_key k = {};

	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.ssl = (__u64)ssl;
	bpf_map_delete_elem(&conns, &k);
	return 0;
}

/* SSL_write and SSL_write_ex alike: only the first argument matters. */
SEC("uprobe")
int
BPF_KPROBE(sslw_write, void *ssl)
{
	struct sslw_conn_key k = {};
	struct sslw_conn *c;
	__u64 id = bpf_get_current_pid_tgid();

	k.tgid = id >> 32;
	k.ssl = (__u64)ssl;
	c = bpf_map_lookup_elem(&conns, &k);
	if (c == NULL || c->state == SSLW_REQ)
		return 0;
	c->state = SSLW_REQ;
	c->req_ns = bpf_ktime_get_ns();
	emit(SSLW_EV_REQ, id, 0, c->host);
	return 0;
}

static __always_inline int
read_enter(void *ssl, void *readbytes)
{
	struct sslw_conn_key k = {};
	struct sslw_read r = {};
	struct sslw_conn *c;
	__u64 id = bpf_get_current_pid_tgid();

	k.tgid = id >> 32;
	k.ssl = (__u64)ssl;
	c = bpf_map_lookup_elem(&conns, &k);
	if (c == NULL || c->state != SSLW_REQ)
		return 0;
	r.ssl = (__u64)ssl;
	r.readbytes = (__u64)readbytes;
	bpf_map_update_elem(&reads, &id, &r, BPF_ANY);
	return 0;
}

/* Did the read that SSL_read (ex = 0) or SSL_read_ex (ex = 1) returned
 * bring data?  Then a waiting request has its answer. */
static __always_inline int
read_return(long ret, int ex)
{
	struct sslw_conn_key k = {};
	struct sslw_read *r;
	struct sslw_conn *c;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ssl, rbp, got = 0;

	r = bpf_map_lookup_elem(&reads, &id);
	if (r == NULL)
		return 0;
	ssl = r->ssl;
	rbp = r->readbytes;
	bpf_map_delete_elem(&reads, &id);
	if (ex) {
		/* SSL_read_ex: 1 on success, the count in *readbytes. */
		if ((int)ret != 1 || rbp == 0 ||
		    bpf_probe_read_user(&got, sizeof(got), (void *)rbp) != 0 ||
		    got == 0)
			return 0;
	} else if ((int)ret <= 0)
		return 0;
	k.tgid = id >> 32;
	k.ssl = ssl;
	c = bpf_map_lookup_elem(&conns, &k);
	if (c == NULL || c->state != SSLW_REQ)
		return 0;
	c->state = SSLW_ANSWERED;
	emit(SSLW_EV_ANSWER, id, bpf_ktime_get_ns() - c->req_ns, c->host);
	return 0;
}

SEC("uprobe")
int
BPF_KPROBE(sslw_read, void *ssl)
{
	return read_enter(ssl, NULL);
}

SEC("uprobe")
int
BPF_KPROBE(sslw_read_ex, void *ssl, void *buf, __u64 num, void *readbytes)
{
	return read_enter(ssl, readbytes);
}

SEC("uretprobe")
int
BPF_KRETPROBE(sslw_read_ret, long ret)
{
	return read_return(ret, 0);
}

SEC("uretprobe")
int
BPF_KRETPROBE(sslw_read_ex_ret, long ret)
{
	return read_return(ret, 1);
}
