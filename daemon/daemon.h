/* llmfbd itself: its state (state.h) started, reloaded and stopped.
 * The one module above the others. */
#ifndef LLMFB_DAEMON_H
#define LLMFB_DAEMON_H

#include "state.h"

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

/* The daemon's handlers for the modules under it (state.h) and for the
 * data socket (server.h). */
extern const struct daemon_hooks daemon_hooks;
struct server_ops;
extern const struct server_ops daemon_server_ops;

#endif
