/* redirect's loader: see connredir.h and ebpf.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "ebpf.h"
#include "connredir.h"
#include "connredir.skel.h"
#include "util.h"

struct redirect {
	struct connredir	*skel;
	struct bpf_link		*link[3];
	int			 cgfd;
	int			 targets_fd, bysport_fd;
};

int
redirect_open(struct redirect **out, const char *cgroup, pid_t self,
    uint16_t port, char *why, size_t whylen)
{
	struct bpf_program *progs[3];
	struct redirect *r;
	const char *no;
	int i, e;

	*out = NULL;
	if ((no = ebpf_unavailable()) != NULL) {
		snprintf(why, whylen, "%s", no);
		return -ENOTSUP;
	}
	ebpf_log_libbpf();
	r = xcalloc(1, sizeof(*r));
	if ((r->cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
	    0) {
		e = -errno;
		snprintf(why, whylen, "cgroup %s: %s", cgroup, strerror(-e));
		goto fail;
	}
	if ((r->skel = connredir__open()) == NULL) {
		e = -errno;
		ebpf_explain(e, "open the redirect programs", why, whylen);
		goto fail;
	}
	r->skel->rodata->targ_tgid = (__u32)self;
	r->skel->rodata->listen_port = htons(port);
	if ((e = connredir__load(r->skel)) < 0) {
		ebpf_explain(e, "load the redirect programs", why, whylen);
		goto fail;
	}
	progs[0] = r->skel->progs.redir4;
	progs[1] = r->skel->progs.redir6;
	progs[2] = r->skel->progs.redir_ops;
	for (i = 0; i < 3; i++) {
		if ((r->link[i] = bpf_program__attach_cgroup(progs[i],
		    r->cgfd)) == NULL) {
			e = -errno;
			if (e == -EPERM || e == -EACCES)
				snprintf(why, whylen, "no permission to attach "
				    "to cgroup %s (needs root, or CAP_BPF and "
				    "CAP_NET_ADMIN)", cgroup);
			else
				ebpf_explain(e, "attach to the cgroup", why,
				    whylen);
			goto fail;
		}
	}
	r->targets_fd = bpf_map__fd(r->skel->maps.targets);
	r->bysport_fd = bpf_map__fd(r->skel->maps.bysport);
	*out = r;
	return 0;
fail:
	redirect_close(r);
	return e;
}

static int
key_of(const struct sockaddr_storage *ss, struct redir_key *k)
{
	memset(k, 0, sizeof(*k));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		k->family = 4;
		k->port = s->sin_port;
		memcpy(k->addr, &s->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			k->family = 4;
			memcpy(k->addr, s->sin6_addr.s6_addr + 12, 4);
		} else {
			k->family = 6;
			memcpy(k->addr, &s->sin6_addr, 16);
		}
		k->port = s->sin6_port;
		return 0;
	}
	return -1;
}

int
redirect_set_targets(struct redirect *r,
    const struct sockaddr_storage *addrs, size_t n)
{
	struct redir_key k, next, *prev = NULL, want;
	__u8 one = 1;
	size_t i;
	bool keep;

	/* Those no longer wanted go; then the new ones come. */
	while (bpf_map_get_next_key(r->targets_fd, prev, &next) == 0) {
		keep = false;
		for (i = 0; i < n && !keep; i++)
			keep = key_of(&addrs[i], &want) == 0 &&
			    memcmp(&want, &next, sizeof(want)) == 0;
		if (!keep && bpf_map_delete_elem(r->targets_fd, &next) == 0)
			continue;	/* the walk goes on from prev */
		k = next;
		prev = &k;
	}
	for (i = 0; i < n; i++)
		if (key_of(&addrs[i], &want) == 0 &&
		    bpf_map_update_elem(r->targets_fd, &want, &one,
		    BPF_ANY) < 0)
			return -errno;
	return 0;
}

int
redirect_take(struct redirect *r, int family, uint16_t sport,
    struct redirect_orig *out)
{
	struct redir_dst d;
	__u32 key = redir_sport_key(family == AF_INET6 ? 6 : 4, sport);

	if (bpf_map_lookup_elem(r->bysport_fd, &key, &d) < 0)
		return -ENOENT;
	bpf_map_delete_elem(r->bysport_fd, &key);
	memset(out, 0, sizeof(*out));
	out->family = d.family == 6 ? AF_INET6 : AF_INET;
	memcpy(out->addr, d.addr, 16);
	out->port = ntohs(d.port);
	out->synthetic = d.synthetic;
	out->pid = d.pid;
	out->uid = d.uid;
	out->gid = d.gid;
	return 0;
}

void
redirect_close(struct redirect *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < 3; i++)
		bpf_link__destroy(r->link[i]);
	connredir__destroy(r->skel);
	if (r->cgfd > 0)
		close(r->cgfd);
	free(r);
}
