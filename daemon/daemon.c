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

#include "buf.h"
#include "budget.h"
#include "call.h"
#include "ca.h"
#include "control.h"
#include "daemon.h"
#include "events.h"
#include "hostsfile.h"
#include "kredir.h"
#include "log.h"
#include "metrics.h"
#include "netview.h"
#include "otel.h"
#include "relay.h"
#include "server.h"
#include "shared.h"
#include "stats.h"
#include "systemd.h"
#include "tlsterm.h"
#include "upstream.h"
#include "util.h"

static struct watcher sigw = { .fd = -1 };

static int reload(struct daemon *d, char *err, size_t errlen);

static void
shared_free_cb(void *sh)
{
	shared_free(sh);
}

#define BUDGETS_SAVE_MS	1000	/* spend reaches the disk this soon */

/* ---- the local CA (ca:) ---------------------------------------------- */

/* The CA's public parts, beside the data socket (which every program
 * can reach, where the CA's own directory is llmfbd's): SOCKET.ca.pem,
 * and SOCKET.ca-bundle.pem, the system's trust and the CA, which
 * llmfbctl run points SSL_CERT_FILE at. */
static void
ca_publish(struct daemon *d, const struct config *c)
{
	char path[4096], pem[8192];
	struct buf b;
	FILE *f;
	int n, r;

	if (d->ca == NULL) {
		snprintf(path, sizeof(path), "%s.ca.pem", c->listen);
		unlink(path);
		snprintf(path, sizeof(path), "%s.ca-bundle.pem", c->listen);
		unlink(path);
		return;
	}
	if ((n = ca_cert_pem(d->ca, pem, sizeof(pem))) < 0)
		return;
	buf_init(&b, 64u << 20);
	buf_add(&b, pem, (size_t)n);
	snprintf(path, sizeof(path), "%s.ca.pem", c->listen);
	if ((r = file_replace(path, b.data, b.len, 0644,
	    (uid_t)-1, (gid_t)-1)) < 0)
		log_warnx("ca: %s: %s", path, strerror(-r));
	buf_reset(&b);
	if ((f = fopen(CA_SYSTEM_BUNDLE, "re")) != NULL) {
		char chunk[65536];
		size_t got;

		while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_add(&b, chunk, got);
		fclose(f);
		if (b.len > 0 && b.data[b.len - 1] != '\n')
			buf_add(&b, "\n", 1);
	}
	buf_add(&b, pem, (size_t)n);
	snprintf(path, sizeof(path), "%s.ca-bundle.pem", c->listen);
	if ((r = file_replace(path, b.data, b.len, 0644,
	    (uid_t)-1, (gid_t)-1)) < 0)
		log_warnx("ca: %s: %s", path, strerror(-r));
	buf_free(&b);
}

/* The CA as c says: off, or loaded from its directory (made there on
 * first use).  One that cannot be had leaves TLS the shim cannot
 * virtualise relayed untouched, and says why (status too); a reload
 * that finds none keeps the one it had from the same directory. */
static void
ca_update(struct daemon *d, const struct config *c)
{
	char err[sizeof(d->ca_error)];
	struct ca *ca;
	size_t i;

	d->ca_error[0] = '\0';
	if (!c->ca_enabled) {
		if (d->ca != NULL)
			log_info("ca: disabled; TLS the shim cannot "
			    "virtualise is relayed untouched");
		ca_free(d->ca);
		d->ca = NULL;
		terms_ca_changed(d->terms);
		ca_publish(d, c);
		return;
	}
	ca = ca_open(c->ca_dir, err, sizeof(err));
	if (ca == NULL && errno == ENOENT) {
		if (ca_make(c->ca_dir, c->intercept, c->nintercept, err,
		    sizeof(err)) == 0) {
			log_info("ca: made a local CA in %s for the %zu "
			    "intercepted hosts", c->ca_dir, c->nintercept);
			ca = ca_open(c->ca_dir, err, sizeof(err));
		}
	}
	if (ca == NULL) {
		snprintf(d->ca_error, sizeof(d->ca_error), "%s", err);
		if (d->ca != NULL && strcmp(ca_dir(d->ca), c->ca_dir) == 0) {
			log_warnx("ca: %s; keeping the CA loaded before", err);
			return;
		}
		log_warnx("ca: %s: TLS the shim cannot virtualise is relayed "
		    "untouched", err);
		ca_free(d->ca);
		d->ca = NULL;
		terms_ca_changed(d->terms);
		ca_publish(d, c);
		return;
	}
	ca_free(d->ca);
	d->ca = ca;
	terms_ca_changed(d->terms);
	for (i = 0; i < c->nintercept; i++) {
		const char *h = c->intercept[i];
		char probe[300];

		if (h[0] == '*' && h[1] == '.')
			snprintf(probe, sizeof(probe), "x%s", h + 1);
		else
			snprintf(probe, sizeof(probe), "%s", h);
		if (!ca_covers(ca, probe))
			log_warnx("ca: %s is intercepted but the CA in %s "
			    "cannot vouch for it (made before it was added): "
			    "relayed untouched until llmfbctl ca rotate", h,
			    c->ca_dir);
	}
	ca_publish(d, c);
}

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

/* ---- what the modules under the daemon hand up ---------------------- */

static void
publish_record(struct daemon *d, const json_t *rec, const char *line, size_t len)
{
	events_add(d->events, line, len);
	control_publish(d->control, rec, line, len);
}

static void
kernel_conn(struct daemon *d, int fd, const struct caller *who,
    const struct redirect_orig *o)
{
	term_start_kernel(d->terms, fd, who, o);
}

const struct daemon_hooks daemon_hooks = {
	.spent = daemon_spent,
	.reload = daemon_reload,
	.publish = publish_record,
	.kernel_conn = kernel_conn,
	.recorded = otel_record,
};

/* A TLS connection the data socket will not serve: while the local CA
 * is up, to the terminator, which serves it when its ClientHello names
 * the host and relays it otherwise; else relayed. */
static void
carry(struct daemon *d, int fd, const struct caller *who, const char *host,
    int port, const void *pending, size_t npending, const void *out,
    size_t nout)
{
	if (d->ca != NULL && d->terms != NULL)
		term_start(d->terms, fd, who, host, port, pending, npending,
		    out, nout);
	else
		relay_start(d->relays, fd, who, host, port, "tls-not-virtual",
		    pending, npending, out, nout);
}

static unsigned int
carried(struct daemon *d)
{
	return relays_open(d->relays);
}

const struct server_ops daemon_server_ops = {
	.start = call_start,
	.gone = call_client_gone,
	.drained = call_client_drained,
	.carry = carry,
	.carried = carried,
	.all_closed = daemon_drained,
};

int
daemon_start(struct daemon *d, struct config *cfg)
{
	char err[512];
	int r, data_fd, control_fd;

	d->hooks = &daemon_hooks;
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
	if (cfg->shared != NULL) {
		/* A wrong password stops the start: a fleet member that
		 * cannot join must not look like one that did.  Redis
		 * merely away is not fatal: the host goes on alone. */
		r = shared_check(cfg->shared, 2000, err, sizeof(err));
		if (r < 0) {
			log_warnx("%s", err);
			return -EACCES;
		}
		if (r > 0)
			log_warnx("%s; going on alone until it answers", err);
		d->shared = shared_new(d, cfg->shared);
	}
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
	d->terms = terms_new(d);
	ca_update(d, cfg);
	if ((d->server = server_new(d, &daemon_server_ops, cfg->listen, cfg->listen_mode,
	    data_fd)) == NULL)
		return -EIO;
	if ((d->control = control_new(d, cfg->control, control_fd)) == NULL)
		return -EIO;
	d->kredir = kredir_start(d, cfg);
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
	size_t i;
	int r;

	if (c == NULL) {
		d->reload_failures++;
		snprintf(d->last_reload_error, sizeof(d->last_reload_error),
		    "%s", err);
		return -1;
	}
	/* The loop waits here, at a reload that changes the link only:
	 * a short bound, and a Redis too slow for it is not an error. */
	if (c->shared != NULL && !shared_conf_same(c->shared,
	    d->cfg->shared) && shared_check(c->shared, 250, err, errlen) < 0) {
		config_unref(c);
		d->reload_failures++;
		snprintf(d->last_reload_error, sizeof(d->last_reload_error),
		    "%s", err);
		return -1;
	}
	for (i = 0; i < c->nwarnings; i++)
		log_warnx("reload: %s", c->warnings[i]);
	if (c->warnings_dropped > 0)
		log_warnx("reload: %s: %zu more warnings", c->path,
		    c->warnings_dropped);
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
	if (!shared_conf_same(c->shared, d->cfg->shared)) {
		/* After this batch of events: one may still name its link. */
		if (d->shared != NULL)
			loop_defer(d->loop, shared_free_cb, d->shared);
		d->shared = NULL;
	}
	config_unref(d->cfg);
	d->cfg = c;
	if (c->shared != NULL && d->shared == NULL)
		d->shared = shared_new(d, c->shared);
	netview_reload(d->netview, c);
	ca_update(d, c);
	kredir_reload(d->kredir, c);
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
	kredir_free(d->kredir);
	terms_free(d->terms);	/* they give their users' places back */
	relays_free(d->relays);
	ca_free(d->ca);
	shared_free(d->shared);
	server_free(d->server);
	control_free(d->control);
	metrics_http_free(d->metrics);
	netview_free(d->netview);
	otel_free(d->otel);	/* its batch in flight is a transfer */
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
