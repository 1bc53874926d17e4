/* llmfbd's top-level state, shared by its modules: what they read of
 * one another (the config, the loop, the stats ...) and the hooks by
 * which they ask the daemon for something.  The daemon (daemon.c) builds
 * it and is the only module above the others; they include this, never
 * daemon.h, so that no module under it depends on it. */
#ifndef LLMFB_STATE_H
#define LLMFB_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "inject.h"
#include "loop.h"
#include "util.h"

struct server;
struct control;
struct upstream;
struct stats;
struct budgets;
struct events;
struct metrics_http;
struct netview;
struct relays;
struct terms;
struct kredir;
struct ca;
struct shared;
struct otel;
struct caller;
struct daemon;
struct redirect_orig;
struct record;

/* What the modules under the daemon ask of it, by these and never by
 * name; daemon.c fills them in.  Any may be NULL (a test's state). */
struct daemon_hooks {
	/* Spend was added: persist it soon. */
	void	(*spent)(struct daemon *d);
	/* Load the config file again (control's reload). */
	int	(*reload)(struct daemon *d, char *err, size_t errlen);
	/* A record (line: it as one line of JSON; rec: the same as a tree,
	 * or NULL when it was written without one) to its sinks: the events
	 * file and the control socket's followers. */
	void	(*publish)(struct daemon *d, const json_t *rec,
		    const char *line, size_t len);
	/* A connection the kernel redirected, to serve or carry. */
	void	(*kernel_conn)(struct daemon *d, int fd,
		    const struct caller *who, const struct redirect_orig *o);
	/* A call's record is complete: to the sinks that read it whole,
	 * not as a line (OpenTelemetry's spans). */
	void	(*recorded)(struct daemon *d, const struct record *r);
};

struct daemon {
	const struct daemon_hooks *hooks;
	struct loop	*loop;
	struct config	*cfg;		/* the running config */
	char		*cfg_path;
	struct server	*server;
	struct control	*control;
	struct upstream	*up;
	struct stats	*stats;
	struct budgets	*budgets;	/* spend, persisted */
	char		*budgets_path;	/* NULL: not persisted */
	struct timer	 budgets_timer;
	struct events	*events;	/* per-call records */
	struct metrics_http *metrics;	/* the /metrics listener, or NULL */
	struct netview	*netview;	/* eBPF and netlink */
	struct relays	*relays;	/* connections carried untouched */
	struct terms	*terms;		/* TLS terminated with the CA's */
	struct kredir	*kredir;	/* connects sent by eBPF, or NULL */
	struct ca	*ca;		/* the local CA, when enabled and
					 * loaded */
	char		 ca_error[256];	/* why it is not, when enabled */
	struct shared	*shared;	/* fleet state on Redis, or NULL */
	struct otel	*otel;		/* traces, once the first is made */
	struct faults	 faults;	/* put in by hand, for a while */
	struct timer	 faults_timer;	/* the next one's end */
	struct timer	 stop_timer;	/* stop_timeout, once stopping */
	struct timer	 watchdog;	/* WATCHDOG=1 to systemd */
	uint64_t	 watchdog_ms;
	bool		 handed;	/* the data socket is systemd's */
	int		 handed_fd;	/* it, when handed */
	struct file_id	 hosts_id;	/* the hosts file we wrote last */
	bool		 stopping;	/* SIGTERM: finishing calls */
	time_t		 started;	/* wall clock */
	uint64_t	 reloads;
	uint64_t	 reload_failures;
	char		 last_reload_error[CONFIG_ERR_MAX];
};

static inline void
daemon_hook_spent(struct daemon *d)
{
	if (d->hooks != NULL && d->hooks->spent != NULL)
		d->hooks->spent(d);
}

static inline void
daemon_hook_publish(struct daemon *d, const json_t *rec, const char *line,
    size_t len)
{
	if (d->hooks != NULL && d->hooks->publish != NULL)
		d->hooks->publish(d, rec, line, len);
}

static inline void
daemon_hook_recorded(struct daemon *d, const struct record *r)
{
	if (d->hooks != NULL && d->hooks->recorded != NULL)
		d->hooks->recorded(d, r);
}

#endif
