#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "control.h"
#include "daemon.h"
#include "events.h"
#include "hostsfile.h"
#include "log.h"
#include "metrics.h"
#include "netview.h"
#include "relay.h"
#include "server.h"
#include "stats.h"
#include "systemd.h"
#include "upstream.h"
#include "util.h"

static struct watcher sigw = { .fd = -1 };

static int reload(struct daemon *d, char *err, size_t errlen);

#define BUDGETS_SAVE_MS	1000	/* spend reaches the disk this soon */

static void
budgets_flush(struct daemon *d)
{
	char err[512];

	if (d->budgets_path == NULL || !budgets_dirty(d->budgets))
		return;
	if (budgets_save(d->budgets, d->budgets_path, err, sizeof(err)) < 0)
		log_warnx("%s", err);
}

static void
budgets_fired(struct timer *t)
{
	budgets_flush(t->arg);
}

void
daemon_spent(struct daemon *d)
{
	if (d->budgets_path != NULL && !timer_armed(&d->budgets_timer))
		timer_set(d->loop, &d->budgets_timer, BUDGETS_SAVE_MS);
}

/* Spend survives a restart: it lives in state_dir/budgets.json.  A
 * state_dir that cannot be made or read leaves spend in memory only. */
static void
budgets_start(struct daemon *d, const struct config *cfg)
{
	char err[512];
	struct buf p;

	d->budgets = budgets_new();
	timer_init(&d->budgets_timer, budgets_fired, d);
	if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
		log_warn("state_dir %s: spend is not persisted",
		    cfg->state_dir);
		return;
	}
	buf_init(&p, 4096);
	if (buf_printf(&p, "%s/budgets.json", cfg->state_dir) < 0) {
		buf_free(&p);
		return;
	}
	if (budgets_load(d->budgets, p.data, err, sizeof(err)) < 0) {
		/* Set aside for a human to look at; start afresh. */
		char aside[4200];

		snprintf(aside, sizeof(aside), "%s.bad", p.data);
		if (rename(p.data, aside) < 0)
			log_warn("rename %s", p.data);
		log_warnx("%s: moved to %s, starting with no recorded spend",
		    err, aside);
	}
	d->budgets_path = xstrdup(p.data);
	buf_free(&p);
}

static void
on_signal(struct watcher *w, uint32_t events)
{
	struct daemon *d = w->arg;
	struct signalfd_siginfo si;
	char err[CONFIG_ERR_MAX];
	int r;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			if (d->stopping)
				break;
			if (daemon_reload(d, err, sizeof(err)) < 0)
				log_warnx("reload refused, keeping the running "
				    "config: %s", err);
			break;
		case SIGUSR1:
			/* logrotate's postrotate: let go of the old file. */
			if ((r = events_reopen(d->events)) < 0) {
				errno = -r;
				log_warn("event log: reopen");
			} else {
				log_info("event log reopened");
			}
			break;
		case SIGTERM:
		case SIGINT:
			if (d->stopping) {
				log_info("signal %u again: stopping now",
				    si.ssi_signo);
				loop_stop(d->loop);
			} else {
				daemon_stop(d);
			}
			break;
		}
	}
}

static int
signals_start(struct daemon *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	sigw.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigw.fd < 0)
		return -errno;
	sigw.cb = on_signal;
	sigw.arg = d;
	sigw.events = EPOLLIN;
	return watcher_add(d->loop, &sigw);
}

/* Sockets handed over by systemd: "data" (or bound at listen) and
 * "control" (or bound at control).  A data socket bound elsewhere than
 * listen says where the shim's socket is: listen follows it, so the hosts
 * file lands beside it. */
static int
take_sockets(struct daemon *d, struct config *cfg, int *data_fd,
    int *control_fd)
{
	struct systemd_fd fds[SYSTEMD_FDS_MAX];
	char err[256];
	int i, n;

	*data_fd = *control_fd = -1;
	if ((n = systemd_listen_fds(fds, SYSTEMD_FDS_MAX, err,
	    sizeof(err))) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct systemd_fd *f = &fds[i];

		if (*data_fd < 0 && (strcmp(f->name, "data") == 0 ||
		    strcmp(f->path, cfg->listen) == 0)) {
			*data_fd = f->fd;
			if (f->path[0] != '\0' &&
			    strcmp(f->path, cfg->listen) != 0) {
				log_warnx("socket activation: the data socket "
				    "is %s, not %s (listen)", f->path,
				    cfg->listen);
				free(cfg->listen);
				cfg->listen = xstrdup(f->path);
			}
		} else if (*control_fd < 0 && (strcmp(f->name, "control") ==
		    0 || strcmp(f->path, cfg->control) == 0)) {
			*control_fd = f->fd;
		} else {
			log_warnx("socket activation: fd %d (%s%s%s) is "
			    "neither the data socket (named \"data\" or bound "
			    "at %s) nor the control socket", f->fd,
			    f->name[0] ? f->name : "unnamed",
			    f->path[0] ? ", " : "", f->path, cfg->listen);
			return -1;
		}
	}
	d->handed = *data_fd >= 0;
	d->handed_fd = *data_fd;
	if (n > 0)
		log_info("socket activation: %d socket%s handed over", n,
		    n == 1 ? "" : "s");
	return 0;
}

static void
watchdog_fired(struct timer *t)
{
	struct daemon *d = t->arg;

	systemd_notify("WATCHDOG=1");
	timer_set(d->loop, &d->watchdog, d->watchdog_ms);
}

static void
stop_timer_fired(struct timer *t)
{
	struct daemon *d = t->arg;

	log_warnx("stop_timeout: %u connection%s still open: stopping now",
	    server_clients(d->server), server_clients(d->server) == 1 ? "" :
	    "s");
	loop_stop(d->loop);
}

static void
notify_status(struct daemon *d)
{
	systemd_notifyf("STATUS=serving: %zu routes, %zu targets, %zu "
	    "intercepted hosts", d->cfg->nroutes, d->cfg->ntargets,
	    d->cfg->nintercept);
}

/* Each client may hold one descriptor here and one to its provider: the
 * soft limit (1024 by default) is raised to the hard one, and a hard one
 * too low for limits.max_clients is said.  Past it, clients are refused
 * and fail open (server.c), never left waiting. */
static void
raise_nofile(const struct config *cfg)
{
	uint64_t want = 2 * (uint64_t)cfg->max_clients + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit NOFILE");
	}
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		log_warnx("the file limit (%llu) is below what %u clients "
		    "need (%llu): past it, clients are refused and go direct",
		    (unsigned long long)rl.rlim_max, cfg->max_clients,
		    (unsigned long long)want);
}

int
daemon_start(struct daemon *d, struct config *cfg)
{
	char err[512];
	int r, data_fd, control_fd;

	d->cfg = cfg;
	d->cfg_path = xstrdup(cfg->path);
	d->started = time(NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("libcurl failed to initialise");
		return -EIO;
	}
	if ((d->loop = loop_new()) == NULL)
		return -errno;
	if ((d->up = upstream_new(d->loop)) == NULL) {
		log_warnx("libcurl multi handle could not be made");
		return -EIO;
	}
	d->stats = stats_new();
	budgets_start(d, cfg);
	d->events = events_new();
	if (cfg->events != NULL && (r = events_open(d->events, cfg->events)) <
	    0) {
		errno = -r;
		log_warn("event log %s", cfg->events);
		return r;
	}
	if ((r = signals_start(d)) < 0) {
		errno = -r;
		log_warn("signals");
		return r;
	}
	raise_nofile(cfg);
	if (take_sockets(d, cfg, &data_fd, &control_fd) < 0)
		return -EINVAL;
	if ((d->relays = relays_new(d)) == NULL)
		return -EIO;
	if ((d->server = server_new(d, cfg->listen, cfg->listen_mode,
	    data_fd)) == NULL)
		return -EIO;
	if ((d->control = control_new(d, cfg->control, control_fd)) == NULL)
		return -EIO;
	if (cfg->metrics_addr != NULL && (d->metrics = metrics_http_new(d,
	    cfg->metrics_addr, cfg->metrics_port)) == NULL)
		return -EIO;
	if ((r = hostsfile_write(cfg, &d->hosts_id)) < 0) {
		errno = -r;
		log_warn("writing %s.hosts", cfg->listen);
		return r;
	}
	if (netview_start(d, cfg, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -ENOTSUP;
	}
	log_info("listening on %s (control %s), %zu routes, %zu targets, "
	    "%zu intercepted hosts", cfg->listen, cfg->control, cfg->nroutes,
	    cfg->ntargets, cfg->nintercept);
	timer_init(&d->stop_timer, stop_timer_fired, d);
	timer_init(&d->watchdog, watchdog_fired, d);
	if ((d->watchdog_ms = systemd_watchdog_ms()) > 0)
		timer_set(d->loop, &d->watchdog, d->watchdog_ms);
	notify_status(d);
	systemd_notify("READY=1");
	return 0;
}

/* Let the shims of one handed data socket (at path) go direct: its hosts
 * file goes, and the calls already waiting in it are accepted and closed
 * (a close is a refusal to the shim's admission probe). */
static void
fail_open_socket(int fd, const char *path)
{
	char hosts[256];
	int c, n = 0;

	if (path[0] != '\0' && (size_t)snprintf(hosts, sizeof(hosts),
	    "%s.hosts", path) < sizeof(hosts)) {
		if (unlink(hosts) == 0)
			log_warnx("not serving: removed %s, so that shims "
			    "leave its hosts alone", hosts);
		else if (errno != ENOENT)
			log_warn("not serving: %s", hosts);
	}
	while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	    0) {
		close(c);
		n++;
	}
	if (n > 0)
		log_warnx("not serving: %d waiting call%s refused, to go "
		    "direct", n, n == 1 ? "" : "s");
}

/* systemd holds a handed data socket, and keeps it after llmfbd failed:
 * without this, shims would go on handing calls to a socket nobody
 * serves (each waiting out its admission probe), and each call would
 * start llmfbd again, to fail again.  The next llmfbd writes the hosts
 * file again. */
void
daemon_fail_open(struct daemon *d)
{
	struct systemd_fd fds[SYSTEMD_FDS_MAX];
	char err[256];
	int i, n;

	if (d->handed) {
		/* daemon_start took the sockets; listen is the socket's
		 * path by then. */
		fcntl(d->handed_fd, F_SETFL, fcntl(d->handed_fd, F_GETFL) |
		    O_NONBLOCK);
		fail_open_socket(d->handed_fd, d->cfg ? d->cfg->listen : "");
		return;
	}
	if ((n = systemd_listen_fds(fds, SYSTEMD_FDS_MAX, err,
	    sizeof(err))) <= 0)
		return;
	for (i = 0; i < n; i++) {
		if (strcmp(fds[i].name, "control") == 0 ||
		    (fds[i].name[0] == '\0' && i > 0))
			continue;
		fcntl(fds[i].fd, F_SETFL, fcntl(fds[i].fd, F_GETFL) |
		    O_NONBLOCK);
		fail_open_socket(fds[i].fd, fds[i].path);
	}
}

/* SIGTERM: no new calls; those in flight get stop_timeout to finish.
 * Under socket activation new calls wait in systemd's socket for the next
 * llmfbd; otherwise the socket and the hosts file go at once, and shims
 * fail open (their calls go straight to the provider). */
void
daemon_stop(struct daemon *d)
{
	unsigned int n;

	if (d->stopping)
		return;
	d->stopping = true;
	if (!server_handed(d->server))
		hostsfile_remove(d->cfg, &d->hosts_id);
	if (server_stop(d->server)) {
		log_info("stopping: no call in flight");
		systemd_notify("STOPPING=1\nSTATUS=stopping");
		loop_stop(d->loop);
		return;
	}
	n = server_clients(d->server);
	log_info("stopping: %u connection%s to finish (at most %llu ms)", n,
	    n == 1 ? "" : "s", (unsigned long long)d->cfg->stop_timeout_ms);
	systemd_notifyf("STOPPING=1\nSTATUS=stopping: %u connection%s to "
	    "finish", n, n == 1 ? "" : "s");
	timer_set(d->loop, &d->stop_timer, d->cfg->stop_timeout_ms);
}

void
daemon_drained(struct daemon *d)
{
	log_info("stopping: the last call has finished");
	loop_stop(d->loop);
}

/* State is kept by name: a target that is the same in the new config
 * keeps its breaker and recent times; one that changed (another URL,
 * model, key, breaker...) starts afresh, as a new target would.  Spend
 * is kept per route and program, and always carries over. */
static void
carry_state(struct daemon *d, const struct config *c)
{
	const struct target *old;
	size_t i;

	for (i = 0; i < c->ntargets; i++) {
		old = config_target(d->cfg, c->targets[i].name);
		if (old != NULL && target_same(old, &c->targets[i]))
			continue;
		if (old != NULL)
			log_info("reload: target %s changed: its breaker and "
			    "latency start afresh", old->name);
		stats_target_renew(stats_target(d->stats, c->targets[i].name));
	}
}

int
daemon_reload(struct daemon *d, char *err, size_t errlen)
{
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	systemd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	r = reload(d, err, errlen);
	notify_status(d);
	systemd_notify("READY=1");
	return r;
}

static int
reload(struct daemon *d, char *err, size_t errlen)
{
	struct config *c = config_load(d->cfg_path, err, errlen);
	int r;

	if (c == NULL) {
		d->reload_failures++;
		snprintf(d->last_reload_error, sizeof(d->last_reload_error),
		    "%s", err);
		return -1;
	}
	if (strcmp(c->listen, d->cfg->listen) != 0 ||
	    strcmp(c->control, d->cfg->control) != 0 ||
	    c->listen_mode != d->cfg->listen_mode)
		log_warnx("reload: socket paths and modes change only on "
		    "restart; keeping %s and %s", d->cfg->listen,
		    d->cfg->control);
	if ((c->metrics_addr == NULL) != (d->cfg->metrics_addr == NULL) ||
	    (c->metrics_addr != NULL && (strcmp(c->metrics_addr,
	    d->cfg->metrics_addr) != 0 ||
	    c->metrics_port != d->cfg->metrics_port)))
		log_warnx("reload: metrics_listen changes only on restart");
	/* The sockets stay where they are. */
	free(c->listen);
	free(c->control);
	c->listen = xstrdup(d->cfg->listen);
	c->control = xstrdup(d->cfg->control);
	c->listen_mode = d->cfg->listen_mode;
	if ((r = hostsfile_write(c, &d->hosts_id)) < 0) {
		snprintf(err, errlen, "%s.hosts: %s", c->listen, strerror(-r));
		config_unref(c);
		d->reload_failures++;
		return -1;
	}
	/* Reopened on every reload, so a rotated log is let go of. */
	if ((r = events_open(d->events, c->events)) < 0)
		log_warnx("event log %s: %s; keeping the one open before",
		    c->events, strerror(-r));
	carry_state(d, c);
	/* Calls in flight keep their reference to the old config. */
	config_unref(d->cfg);
	d->cfg = c;
	netview_reload(d->netview, c);
	d->reloads++;
	log_info("reloaded %s: %zu routes, %zu targets", c->path, c->nroutes,
	    c->ntargets);
	return 0;
}

int
daemon_run(struct daemon *d)
{
	return loop_run(d->loop);
}

void
daemon_free(struct daemon *d)
{
	/* A handed data socket outlives us: so does its hosts file. */
	if (d->cfg != NULL && !d->handed)
		hostsfile_remove(d->cfg, &d->hosts_id);
	if (d->loop != NULL) {
		timer_cancel(d->loop, &d->stop_timer);
		timer_cancel(d->loop, &d->watchdog);
	}
	relays_free(d->relays);	/* they give their users' places back */
	server_free(d->server);
	control_free(d->control);
	metrics_http_free(d->metrics);
	netview_free(d->netview);
	upstream_free(d->up);
	stats_free(d->stats);
	if (d->budgets != NULL) {
		budgets_flush(d);
		timer_cancel(d->loop, &d->budgets_timer);
		budgets_free(d->budgets);
	}
	free(d->budgets_path);
	events_free(d->events);
	if (sigw.fd >= 0)
		close(sigw.fd);
	loop_free(d->loop);
	config_unref(d->cfg);
	free(d->cfg_path);
	curl_global_cleanup();
}
