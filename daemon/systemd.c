#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "systemd.h"
#include "util.h"

int
systemd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	size_t len;
	ssize_t n;
	int fd, e;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return 0;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')		/* an abstract socket */
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, salen);
	e = errno;
	close(fd);
	return n < 0 ? -e : 1;
}

int
systemd_notifyf(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return systemd_notify(msg);
}

/* The next ':'-separated name of LISTEN_FDNAMES into out. */
static const char *
next_name(const char *s, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	if (s == NULL)
		return NULL;
	for (; *s != '\0' && *s != ':'; s++)
		if (n + 1 < len)
			out[n++] = *s;
	out[n] = '\0';
	return *s == ':' ? s + 1 : s;
}

static int
check_fd(struct systemd_fd *f, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t salen = sizeof(sa);
	int type = 0, listening = 0, flags;
	socklen_t olen = sizeof(int);

	if (getsockopt(f->fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 ||
	    getsockopt(f->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &(socklen_t){ sizeof(int) }) < 0 || type != SOCK_STREAM ||
	    !listening) {
		snprintf(err, errlen, "socket activation: fd %d%s%s is not a "
		    "listening stream socket", f->fd, f->name[0] ? " " : "",
		    f->name);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	if (getsockname(f->fd, (struct sockaddr *)&sa, &salen) == 0 &&
	    sa.sun_family == AF_UNIX && salen > offsetof(struct sockaddr_un,
	    sun_path) && sa.sun_path[0] != '\0')
		snprintf(f->path, sizeof(f->path), "%.*s",
		    (int)(salen - offsetof(struct sockaddr_un, sun_path)),
		    sa.sun_path);
	if ((flags = fcntl(f->fd, F_GETFD)) >= 0)
		fcntl(f->fd, F_SETFD, flags | FD_CLOEXEC);
	return 0;
}

int
systemd_listen_fds(struct systemd_fd *fds, size_t max, char *err,
    size_t errlen)
{
	const char *pid_s = getenv("LISTEN_PID");
	const char *n_s = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	int pid = 0, n = 0, i, r = 0;

	if (pid_s == NULL || n_s == NULL)
		return 0;
	if (parse_int(pid_s, 1, INT32_MAX, &pid) < 0 || pid != getpid())
		goto out;		/* meant for another process */
	if (parse_int(n_s, 0, INT32_MAX, &n) < 0 || (size_t)n > max) {
		snprintf(err, errlen, "socket activation: LISTEN_FDS=%s: "
		    "expected at most %zu sockets", n_s, max);
		r = -1;
		goto out;
	}
	for (i = 0; i < n; i++) {
		fds[i].fd = SYSTEMD_FD_START + i;
		fds[i].path[0] = '\0';
		names = next_name(names, fds[i].name, sizeof(fds[i].name));
		if (check_fd(&fds[i], err, errlen) < 0) {
			r = -1;
			goto out;
		}
	}
	r = (int)n;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

uint64_t
systemd_watchdog_ms(void)
{
	const char *usec_s = getenv("WATCHDOG_USEC");
	const char *pid_s = getenv("WATCHDOG_PID");
	uint64_t usec = 0;
	int pid = 0;

	if (usec_s == NULL || parse_u64(usec_s, 1, UINT64_MAX, &usec) < 0)
		return 0;
	if (pid_s != NULL && (parse_int(pid_s, 1, INT32_MAX, &pid) < 0 ||
	    pid != getpid()))
		return 0;
	return usec / 2000 > 0 ? usec / 2000 : 1;
}
