/* The kernel path: see kredir.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caller.h"
#include "config.h"
#include "ebpf.h"
#include "kredir.h"
#include "log.h"
#include "server.h"
#include "state.h"
#include "util.h"

struct resolved {
	char			*host;
	struct sockaddr_storage	*addrs;
	size_t			 n;
};

/* One round of lookups, on a thread of its own (getaddrinfo blocks). */
struct kr_lookup {
	char		**hosts;
	size_t		  n;
	struct resolved	 *res;
	int		  done;		/* the pipe's write end */
};

struct kredir {
	struct daemon	*d;
	char		*cgroup;
	int		 port;
	struct redirect	*bpf;
	bool		 on;
	char		 why[256];
	struct watcher	 lw4, lw6;	/* the listeners (-1: none) */
	int		 pipe[2];
	struct watcher	 pw;
	struct timer	 t;
	bool		 lookup_out;
	bool		 again;		/* a reload came while one was out */
	struct resolved	*res;
	size_t		 nres;
	size_t		 naddrs;
	uint64_t	 accepted;
	uint64_t	 unknown;	/* accepted with no destination known */
};

static void
resolved_free(struct resolved *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i].host);
		free(r[i].addrs);
	}
	free(r);
}

static void *
lookup_run(void *arg)
{
	struct kr_lookup *lk = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai, *p;
	size_t i, n;
	int fd = lk->done;

	lk->res = xcalloc(lk->n ? lk->n : 1, sizeof(*lk->res));
	for (i = 0; i < lk->n; i++) {
		lk->res[i].host = lk->hosts[i];
		lk->hosts[i] = NULL;
		if (getaddrinfo(lk->res[i].host, "443", &hints, &ai) != 0)
			continue;
		for (n = 0, p = ai; p != NULL; p = p->ai_next)
			n++;
		lk->res[i].addrs = xcalloc(n ? n : 1,
		    sizeof(*lk->res[i].addrs));
		for (p = ai; p != NULL; p = p->ai_next)
			if (p->ai_addrlen <= sizeof(struct sockaddr_storage))
				memcpy(&lk->res[i].addrs[lk->res[i].n++],
				    p->ai_addr, p->ai_addrlen);
		freeaddrinfo(ai);
	}
	if (write(fd, &lk, sizeof(lk)) != (ssize_t)sizeof(lk))
		abort();	/* the loop would wait for ever */
	return NULL;
}

/* Resolve the intercepted names (not the patterns) again. */
static void
lookup_start(struct kredir *k)
{
	const struct config *c = k->d->cfg;
	struct kr_lookup *lk;
	pthread_attr_t at;
	pthread_t th;
	size_t i;

	if (k->lookup_out) {
		k->again = true;
		return;
	}
	lk = xcalloc(1, sizeof(*lk));
	lk->hosts = xcalloc(c->nintercept ? c->nintercept : 1,
	    sizeof(*lk->hosts));
	for (i = 0; i < c->nintercept; i++)
		if (c->intercept[i][0] != '*')
			lk->hosts[lk->n++] = xstrdup(c->intercept[i]);
	lk->done = k->pipe[1];
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	k->lookup_out = pthread_create(&th, &at, lookup_run, lk) == 0;
	pthread_attr_destroy(&at);
	if (!k->lookup_out) {
		for (i = 0; i < lk->n; i++)
			free(lk->hosts[i]);
		free(lk->hosts);
		free(lk);
	}
}

static void
lookup_done(struct watcher *w, uint32_t events)
{
	struct kredir *k = w->arg;
	struct sockaddr_storage *all;
	struct kr_lookup *lk;
	size_t i, j, n;
	int r;

	(void)events;
	while (read(k->pipe[0], &lk, sizeof(lk)) == (ssize_t)sizeof(lk)) {
		k->lookup_out = false;
		resolved_free(k->res, k->nres);
		k->res = lk->res;
		k->nres = lk->n;
		free(lk->hosts);
		free(lk);
		for (n = 0, i = 0; i < k->nres; i++)
			n += k->res[i].n;
		all = xcalloc(n ? n : 1, sizeof(*all));
		for (n = 0, i = 0; i < k->nres; i++)
			for (j = 0; j < k->res[i].n; j++)
				all[n++] = k->res[i].addrs[j];
		if (k->on && (r = redirect_set_targets(k->bpf, all, n)) < 0)
			log_warnx("redirect: the addresses could not be set: "
			    "%s", strerror(-r));
		else if (k->on && n != k->naddrs)
			log_info("redirect: %zu addresses of %zu intercepted "
			    "names go to llmfbd", n, k->nres);
		k->naddrs = n;
		free(all);
		if (k->again) {
			k->again = false;
			lookup_start(k);
		}
	}
}

static void
resolve_fired(struct timer *t)
{
	struct kredir *k = t->arg;

	lookup_start(k);
	timer_set(k->d->loop, &k->t, REDIR_RESOLVE_MS);
}

bool
kredir_has(const struct kredir *k, const char *host,
    const struct redirect_orig *o)
{
	size_t i, j;

	if (k == NULL)
		return false;
	for (i = 0; i < k->nres; i++) {
		if (strcasecmp(k->res[i].host, host) != 0)
			continue;
		for (j = 0; j < k->res[i].n; j++) {
			const struct sockaddr_storage *s = &k->res[i].addrs[j];

			if (s->ss_family == AF_INET && o->family == AF_INET &&
			    memcmp(&((const struct sockaddr_in *)s)->sin_addr,
			    o->addr, 4) == 0)
				return true;
			if (s->ss_family == AF_INET6 &&
			    o->family == AF_INET6 &&
			    memcmp(&((const struct sockaddr_in6 *)s)->sin6_addr,
			    o->addr, 16) == 0)
				return true;
		}
	}
	return false;
}

/* ---- accepting --------------------------------------------------------- */

static void
kredir_accept(struct watcher *w, uint32_t events)
{
	struct kredir *k = w->arg;
	struct sockaddr_storage peer;
	struct redirect_orig o;
	struct caller who;
	socklen_t len;
	uint16_t port;
	int fd, i;

	(void)events;
	for (i = 0; i < 64; i++) {
		len = sizeof(peer);
		fd = accept4(w->fd, (struct sockaddr *)&peer, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("redirect: accept");
			return;
		}
		port = peer.ss_family == AF_INET6 ?
		    ntohs(((struct sockaddr_in6 *)&peer)->sin6_port) :
		    ntohs(((struct sockaddr_in *)&peer)->sin_port);
		if (!k->on || redirect_take(k->bpf, peer.ss_family, port,
		    &o) < 0) {
			/* Not one the kernel sent: nobody's call. */
			k->unknown++;
			close(fd);
			continue;
		}
		k->accepted++;
		caller_from_pid((pid_t)o.pid, o.uid, o.gid, &who);
		server_user_hold(k->d->server, who.uid);
		if (k->d->hooks != NULL && k->d->hooks->kernel_conn != NULL)
			k->d->hooks->kernel_conn(k->d, fd, &who, &o);
		else
			close(fd);
		caller_release(&who);
	}
}

static int
listen_on(int family, int port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1;

	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		s->sin6_addr = in6addr_loopback;
		len = sizeof(*s);
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, 1024) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int
bound_port(int fd)
{
	struct sockaddr_in s;
	socklen_t len = sizeof(s);

	if (getsockname(fd, (struct sockaddr *)&s, &len) < 0)
		return -1;
	return ntohs(s.sin_port);
}

struct kredir *
kredir_start(struct daemon *d, const struct config *c)
{
	struct kredir *k;
	int fd, r;

	if (c->redirect_cgroup == NULL)
		return NULL;
	k = xcalloc(1, sizeof(*k));
	k->d = d;
	k->cgroup = xstrdup(c->redirect_cgroup);
	k->lw4.fd = k->lw6.fd = -1;
	k->pipe[0] = k->pipe[1] = -1;
	timer_init(&k->t, resolve_fired, k);
	if ((fd = listen_on(AF_INET, c->redirect_port)) < 0) {
		snprintf(k->why, sizeof(k->why), "the loopback listener on "
		    "port %d: %s", c->redirect_port, strerror(-fd));
		goto off;
	}
	k->lw4.fd = fd;
	k->port = bound_port(fd);
	/* IPv6 on the same port, where the host has ::1. */
	if ((fd = listen_on(AF_INET6, k->port)) >= 0)
		k->lw6.fd = fd;
	if ((r = redirect_open(&k->bpf, k->cgroup, getpid(),
	    (uint16_t)k->port, k->why, sizeof(k->why))) < 0)
		goto off;
	if (pipe2(k->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(k->why, sizeof(k->why), "pipe: %s", strerror(errno));
		goto off;
	}
	k->pw.fd = k->pipe[0];
	k->pw.cb = lookup_done;
	k->pw.arg = k;
	k->pw.events = EPOLLIN;
	k->lw4.cb = k->lw6.cb = kredir_accept;
	k->lw4.arg = k->lw6.arg = k;
	k->lw4.events = k->lw6.events = EPOLLIN;
	if (watcher_add(d->loop, &k->pw) < 0 ||
	    watcher_add(d->loop, &k->lw4) < 0 ||
	    (k->lw6.fd >= 0 && watcher_add(d->loop, &k->lw6) < 0)) {
		snprintf(k->why, sizeof(k->why), "epoll: %s",
		    strerror(errno));
		goto off;
	}
	k->on = true;
	log_info("redirect: connects to the intercepted hosts from cgroup %s "
	    "go to 127.0.0.1:%d", k->cgroup, k->port);
	resolve_fired(&k->t);
	return k;
off:
	log_warnx("redirect: off: %s", k->why);
	redirect_close(k->bpf);
	k->bpf = NULL;
	if (k->lw4.fd >= 0)
		close(k->lw4.fd);
	if (k->lw6.fd >= 0)
		close(k->lw6.fd);
	k->lw4.fd = k->lw6.fd = -1;
	return k;
}

void
kredir_reload(struct kredir *k, const struct config *c)
{
	if (k == NULL)
		return;
	if (c->redirect_cgroup == NULL ||
	    strcmp(c->redirect_cgroup, k->cgroup) != 0 ||
	    (c->redirect_port != 0 && c->redirect_port != k->port))
		log_warnx("reload: redirect changes only on restart; keeping "
		    "cgroup %s", k->cgroup);
	if (k->on)
		lookup_start(k);
}

json_t *
kredir_status(const struct kredir *k)
{
	json_t *o;

	if (k == NULL)
		return json_pack("{s:b}", "on", 0);
	o = json_pack("{s:b, s:s, s:i, s:I, s:I, s:I}", "on", k->on,
	    "cgroup", k->cgroup, "port", k->port,
	    "addresses", (json_int_t)k->naddrs,
	    "accepted", (json_int_t)k->accepted,
	    "unknown", (json_int_t)k->unknown);
	if (!k->on)
		json_object_set_new(o, "why", json_string(k->why));
	return o;
}

void
kredir_free(struct kredir *k)
{
	if (k == NULL)
		return;
	timer_cancel(k->d->loop, &k->t);
	/* Detached first: no connect is sent to a listener that is gone. */
	redirect_close(k->bpf);
	if (k->lw4.fd >= 0) {
		if (k->on)
			watcher_del(k->d->loop, &k->lw4);
		close(k->lw4.fd);
	}
	if (k->lw6.fd >= 0) {
		if (k->on)
			watcher_del(k->d->loop, &k->lw6);
		close(k->lw6.fd);
	}
	if (k->pipe[0] >= 0) {
		if (k->on)
			watcher_del(k->d->loop, &k->pw);
		close(k->pipe[0]);
	}
	/* A lookup still out writes to the write end, left open (the
	 * process is exiting) like the relays'. */
	resolved_free(k->res, k->nres);
	free(k->cgroup);
	free(k);
}
