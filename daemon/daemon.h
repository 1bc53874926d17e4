/* llmfbd's top-level state, shared by its modules. */
#ifndef LLMFB_DAEMON_H
#define LLMFB_DAEMON_H

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

struct daemon {
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

/* Start everything on a loaded config (takes its reference).
 * Returns 0 or -errno, having logged why. */
int daemon_start(struct daemon *d, struct config *cfg);
/* llmfbd could not start (a bad config, a failed daemon_start): make the
 * shims of a data socket systemd handed over fail open at once. */
void daemon_fail_open(struct daemon *d);
/* Load the config file again; on success swap it in.  A bad file leaves
 * the running config in place.  Returns 0 or -1 (error in err). */
int daemon_reload(struct daemon *d, char *err, size_t errlen);
int daemon_run(struct daemon *d);
/* Spend was added: persist it soon. */
void daemon_spent(struct daemon *d);
/* Stop taking calls; exit once those in flight are done (or after
 * stop_timeout).  A second SIGTERM stops at once. */
void daemon_stop(struct daemon *d);
/* The data socket's last connection has closed while stopping. */
void daemon_drained(struct daemon *d);
void daemon_free(struct daemon *d);

#endif
