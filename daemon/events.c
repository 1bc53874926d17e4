#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "util.h"

struct events {
	int		 fd;		/* the log file, or -1 */
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

int
events_open(struct events *e, const char *path)
{
	int fd = -1;

	if (path != NULL) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		if (fd < 0)
			return -errno;
	}
	if (e->fd >= 0)
		close(e->fd);
	e->fd = fd;
	free(e->path);
	e->path = path ? xstrdup(path) : NULL;
	return 0;
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
	if (e->fd >= 0 && writev(e->fd, iov, 2) != (ssize_t)(len + 1) &&
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
