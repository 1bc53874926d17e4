#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "util.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

struct events {
	int		 fd;		/* the log file or journal, or -1 */
	bool		 journal;	/* fd is journald's socket */
	char		*path;
	char		*ring[EVENTS_RING];
	uint64_t	 total;		/* records ever added */
	uint64_t	 write_errors;
};

struct events *
events_new(void)
{
	struct events *e = xcalloc(1, sizeof(*e));

	e->fd = -1;
	return e;
}

void
events_free(struct events *e)
{
	size_t i;

	if (e == NULL)
		return;
	if (e->fd >= 0)
		close(e->fd);
	for (i = 0; i < EVENTS_RING; i++)
		free(e->ring[i]);
	free(e->path);
	free(e);
}

/* journald's native protocol: datagrams of KEY=VALUE lines. */
static int
journal_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int
events_open(struct events *e, const char *spec)
{
	bool journal = false;
	int fd = -1;

	if (spec != NULL && (strcmp(spec, "journal") == 0 ||
	    strncmp(spec, "journal:", 8) == 0)) {
		journal = true;
		fd = journal_open(spec[7] ? spec + 8 : JOURNAL_SOCKET);
	} else if (spec != NULL) {
		fd = open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0 && spec != NULL)
		return fd;
	if (e->fd >= 0)
		close(e->fd);
	e->fd = fd;
	e->journal = journal;
	free(e->path);
	e->path = spec ? xstrdup(spec) : NULL;
	return 0;
}

int
events_reopen(struct events *e)
{
	char *spec;
	int r;

	if (e->path == NULL)
		return 0;
	spec = xstrdup(e->path);
	r = events_open(e, spec);
	free(spec);
	return r;
}

uint64_t
events_write_errors(const struct events *e)
{
	return e->write_errors;
}

static ssize_t
journal_send(int fd, const char *line, size_t len)
{
	static const char head[] = "SYSLOG_IDENTIFIER=llmfbd\n"
	    "PRIORITY=6\nLLMFB_RECORD=call\nMESSAGE=";
	struct iovec iov[3] = {
		{ .iov_base = (void *)head, .iov_len = sizeof(head) - 1 },
		{ .iov_base = (void *)line, .iov_len = len },
		{ .iov_base = "\n", .iov_len = 1 },
	};
	ssize_t n = writev(fd, iov, 3);

	return n == (ssize_t)(sizeof(head) - 1 + len + 1) ? (ssize_t)len + 1 :
	    -1;
}

void
events_add(struct events *e, const char *line, size_t len)
{
	char **slot = &e->ring[e->total % EVENTS_RING];
	struct iovec iov[2] = {
		{ .iov_base = (void *)line, .iov_len = len },
		{ .iov_base = "\n", .iov_len = 1 },
	};

	free(*slot);
	*slot = xcalloc(1, len + 1);
	memcpy(*slot, line, len);
	(*slot)[len] = '\0';
	e->total++;
	/* One writev with O_APPEND: a line is never interleaved with
	 * another writer's.  A full disk loses records, not calls. */
	if (e->fd >= 0 && (e->journal ? journal_send(e->fd, line, len) :
	    writev(e->fd, iov, 2)) != (ssize_t)(len + 1) &&
	    e->write_errors++ == 0)
		log_warn("event log %s", e->path);
}

size_t
events_latest(const struct events *e, size_t n, const char **ret,
    size_t max)
{
	uint64_t have = e->total < EVENTS_RING ? e->total : EVENTS_RING;
	uint64_t i, first;
	size_t k = 0;

	if (n > max)
		n = max;
	if (n > have)
		n = (size_t)have;
	first = e->total - n;
	for (i = first; i < e->total; i++)
		ret[k++] = e->ring[i % EVENTS_RING];
	return k;
}

uint64_t
events_total(const struct events *e)
{
	return e->total;
}
