/* systemd's two small protocols, spoken by hand so that llmfbd needs no
 * libsystemd and works the same without systemd:
 * - notification (sd_notify(3)): READY=1, RELOADING=1, STOPPING=1,
 *   STATUS=..., WATCHDOG=1 as datagrams to $NOTIFY_SOCKET;
 * - socket activation (sd_listen_fds(3)): listening sockets handed over
 *   from fd 3 on, with $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES.
 * Without those variables every function here does nothing. */
#ifndef LLMFB_SYSTEMD_H
#define LLMFB_SYSTEMD_H

#include <stddef.h>
#include <stdint.h>

#define SYSTEMD_FDS_MAX		8
#define SYSTEMD_FD_START	3

struct systemd_fd {
	int	 fd;
	char	 name[64];	/* LISTEN_FDNAMES' entry, or "" */
	char	 path[108];	/* the Unix socket's path, or "" */
};

/* Send one notification (lines "KEY=VALUE\n...") to $NOTIFY_SOCKET.
 * Returns 1 when sent, 0 when there is no $NOTIFY_SOCKET, -errno. */
int systemd_notify(const char *state);
int systemd_notifyf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Take the sockets systemd handed to this process: each gets FD_CLOEXEC,
 * and the LISTEN_* variables are removed from the environment so that a
 * child does not take them too.  Returns how many (0 when none were
 * meant for us), or -1 with err set (an fd that is not a listening
 * stream socket, too many, a malformed variable). */
int systemd_listen_fds(struct systemd_fd *fds, size_t max, char *err,
    size_t errlen);

/* How often to send WATCHDOG=1 (half of $WATCHDOG_USEC, in ms), or 0 when
 * the watchdog is not on for this process. */
uint64_t systemd_watchdog_ms(void);

#endif
