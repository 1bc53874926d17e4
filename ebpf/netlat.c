/* netlat's loader: open the skeleton, leave out the programs whose
 * tracepoint this kernel lacks, load, and attach each program on its own,
 * so one refusal costs one measurement, not all of them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "ebpf.h"
#include "log.h"
#include "netlat.h"
#include "netlat.skel.h"
#include "util.h"

static const char *const tp_names[NETLAT_PROGS] = {
	[NETLAT_STATE] = "inet_sock_set_state",
	[NETLAT_SEND] = "sock_send_length",
	[NETLAT_RECV] = "sock_recv_length",
	[NETLAT_PROBE] = "tcp_probe",
	[NETLAT_RETRANS] = "tcp_retransmit_skb",
};

struct netlat_probes {
	struct netlat		*skel;
	struct bpf_link		*link[NETLAT_PROGS];
	struct ebpf_prog	 prog[NETLAT_PROGS];
	int			 map_fd;
};

static struct bpf_program *
prog_of(struct netlat *skel, enum netlat_prog p)
{
	switch (p) {
	case NETLAT_STATE:	return skel->progs.set_state;
	case NETLAT_SEND:	return skel->progs.sent;
	case NETLAT_RECV:	return skel->progs.received;
	case NETLAT_PROBE:	return skel->progs.probe;
	case NETLAT_RETRANS:	return skel->progs.retransmit;
	default:		return NULL;
	}
}

/* A raw tracepoint exists when the kernel's BTF has its typedef. */
static bool
tracepoint_exists(const struct btf *vmlinux, const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) > 0;
}

int
netlat_open(struct netlat_probes **out, pid_t self, char *why, size_t whylen)
{
	struct netlat_probes *n;
	struct btf *vmlinux;
	const char *no;
	unsigned on = 0;
	int i, r;

	*out = NULL;
	if ((no = ebpf_unavailable()) != NULL) {
		snprintf(why, whylen, "%s", no);
		return -ENOTSUP;
	}
	ebpf_log_libbpf();
	n = xcalloc(1, sizeof(*n));
	for (i = 0; i < NETLAT_PROGS; i++)
		n->prog[i].name = tp_names[i];
	if ((n->skel = netlat__open()) == NULL) {
		r = -errno;
		ebpf_explain(r, "open the BPF programs", why, whylen);
		goto fail;
	}
	EBPF_SELF_NS_SET(n->skel->rodata, self);
	if ((vmlinux = btf__load_vmlinux_btf()) == NULL) {
		r = -errno;
		ebpf_explain(r, "read the kernel's BTF", why, whylen);
		goto fail;
	}
	for (i = 0; i < NETLAT_PROGS; i++) {
		if (tracepoint_exists(vmlinux, tp_names[i]))
			continue;
		bpf_program__set_autoload(prog_of(n->skel, i), false);
		snprintf(n->prog[i].why, sizeof(n->prog[i].why),
		    "this kernel has no %s tracepoint", tp_names[i]);
	}
	btf__free(vmlinux);
	if ((r = netlat__load(n->skel)) < 0) {
		ebpf_explain(r, "load the BPF programs", why, whylen);
		goto fail;
	}
	for (i = 0; i < NETLAT_PROGS; i++) {
		struct bpf_program *p = prog_of(n->skel, i);

		if (!bpf_program__autoload(p))
			continue;
		if ((n->link[i] = bpf_program__attach(p)) == NULL) {
			ebpf_explain(-errno, "attach", n->prog[i].why,
			    sizeof(n->prog[i].why));
			continue;
		}
		n->prog[i].on = true;
		on++;
	}
	if (on == 0) {
		snprintf(why, whylen, "no program could attach: %s",
		    n->prog[NETLAT_STATE].why);
		r = -ENOTSUP;
		goto fail;
	}
	n->map_fd = bpf_map__fd(n->skel->maps.socks);
	*out = n;
	return 0;
fail:
	netlat_close(n);
	return r;
}

const struct ebpf_prog *
netlat_progs(const struct netlat_probes *n)
{
	return n->prog;
}

bool
netlat_has(const struct netlat_probes *n, enum netlat_prog p)
{
	return n != NULL && p < NETLAT_PROGS && n->prog[p].on;
}

uint64_t
netlat_last_read(const struct netlat_probes *n)
{
	return *(volatile const __u64 *)&n->skel->bss->last_read_cookie;
}

int
netlat_lookup(struct netlat_probes *n, uint64_t cookie,
    struct net_sample *out)
{
	struct netlat_sock s;

	if (bpf_map_lookup_elem(n->map_fd, &cookie, &s) < 0)
		return -ENOENT;
	out->connect_ns = s.connect_ns;
	out->last_tx_ns = s.last_tx_ns;
	out->last_rx_ns = s.last_rx_ns;
	out->srtt_us = s.srtt_us;
	out->retrans = s.retrans;
	return 0;
}

void
netlat_close(struct netlat_probes *n)
{
	int i;

	if (n == NULL)
		return;
	for (i = 0; i < NETLAT_PROGS; i++)
		bpf_link__destroy(n->link[i]);
	netlat__destroy(n->skel);
	free(n);
}
