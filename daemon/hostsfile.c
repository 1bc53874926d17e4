#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "hostsfile.h"

static int
hosts_path(const struct config *c, char *out, size_t len, const char *sfx)
{
	int n = snprintf(out, len, "%s.hosts%s", c->listen, sfx);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
hostsfile_write(const struct config *c, struct file_id *ret_id)
{
	struct stat st;
	char path[4096], tmp[4096];
	struct buf b;
	size_t i, off = 0;
	int fd, r = 0;

	if (hosts_path(c, path, sizeof(path), "") < 0 ||
	    hosts_path(c, tmp, sizeof(tmp), ".tmp") < 0)
		return -ENAMETOOLONG;
	buf_init(&b, 1 << 20);
	buf_addstr(&b, "# hosts llmfbd intercepts; written by llmfbd\n");
	for (i = 0; i < c->nintercept; i++)
		buf_printf(&b, "%s\n", c->intercept[i]);
	/* "!GLOB": a program the shim leaves alone (exclude:). */
	for (i = 0; i < c->nexclude; i++)
		buf_printf(&b, "!%s\n", c->exclude[i]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		buf_free(&b);
		return -errno;
	}
	while (off < b.len) {
		ssize_t n = write(fd, b.data + off, b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0644) < 0 && r == 0)
		r = -errno;
	/* The inode goes with the file through the rename. */
	if (fstat(fd, &st) < 0 && r == 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	else
		*ret_id = (struct file_id){ .dev = st.st_dev, .ino = st.st_ino };
	buf_free(&b);
	return r;
}

void
hostsfile_remove(const struct config *c, const struct file_id *id)
{
	char path[4096];

	if (hosts_path(c, path, sizeof(path), "") == 0)
		unlink_own(path, id);
}
