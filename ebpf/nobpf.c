/* llmfbd built without eBPF (no clang, bpftool or libbpf at build time, or
 * `make BPF=0`): every open says so, and the daemon runs without it. */
#include <errno.h>
#include <stdio.h>

#include "ebpf.h"

#define NOBPF	"llmfbd was built without eBPF (no clang, bpftool or " \
		"libbpf at build time)"

const char *
ebpf_unavailable(void)
{
	return NOBPF;
}

void
ebpf_explain(int err, const char *what, char *why, size_t whylen)
{
	(void)err;
	snprintf(why, whylen, "cannot %s: %s", what, NOBPF);
}

void
ebpf_log_libbpf(void)
{
}

int
netlat_open(struct netlat_probes **out, pid_t self, char *why,
    size_t whylen)
{
	(void)self;
	*out = NULL;
	snprintf(why, whylen, "%s", NOBPF);
	return -ENOTSUP;
}

const struct ebpf_prog *
netlat_progs(const struct netlat_probes *n)
{
	(void)n;
	return NULL;
}

bool
netlat_has(const struct netlat_probes *n, enum netlat_prog p)
{
	(void)n;
	(void)p;
	return false;
}

uint64_t
netlat_last_read(const struct netlat_probes *n)
{
	(void)n;
	return 0;
}

int
netlat_lookup(struct netlat_probes *n, uint64_t cookie,
    struct net_sample *out)
{
	(void)n;
	(void)cookie;
	(void)out;
	return -ENOENT;
}

void
netlat_close(struct netlat_probes *n)
{
	(void)n;
}

int
bypass_open(struct bypass_watch **out, pid_t self, const char *const *hosts,
    size_t nhosts, char *why, size_t whylen)
{
	(void)self;
	(void)hosts;
	(void)nhosts;
	*out = NULL;
	snprintf(why, whylen, "%s", NOBPF);
	return -ENOTSUP;
}

int
bypass_fd(const struct bypass_watch *bw)
{
	(void)bw;
	return -1;
}

int
bypass_consume(struct bypass_watch *bw)
{
	(void)bw;
	return 0;
}

int
bypass_rescan(struct bypass_watch *bw)
{
	(void)bw;
	return 0;
}

int
bypass_set_hosts(struct bypass_watch *bw, const char *const *hosts,
    size_t nhosts)
{
	(void)bw;
	(void)hosts;
	(void)nhosts;
	return 0;
}

size_t
bypass_list(struct bypass_watch *bw, const struct bypass **out)
{
	(void)bw;
	*out = NULL;
	return 0;
}

void
bypass_info(const struct bypass_watch *bw, struct bypass_info *out)
{
	(void)bw;
	*out = (struct bypass_info){ .libs = 0 };
}

void
bypass_close(struct bypass_watch *bw)
{
	(void)bw;
}

int
redirect_open(struct redirect **out, const char *cgroup, pid_t self,
    uint16_t port, char *why, size_t whylen)
{
	(void)cgroup;
	(void)self;
	(void)port;
	*out = NULL;
	snprintf(why, whylen, "%s", NOBPF);
	return -ENOTSUP;
}

int
redirect_set_targets(struct redirect *r,
    const struct sockaddr_storage *addrs, size_t n)
{
	(void)r;
	(void)addrs;
	(void)n;
	return -ENOTSUP;
}

int
redirect_take(struct redirect *r, int family, uint16_t sport,
    struct redirect_orig *out)
{
	(void)r;
	(void)family;
	(void)sport;
	(void)out;
	return -ENOENT;
}

void
redirect_close(struct redirect *r)
{
	(void)r;
}
