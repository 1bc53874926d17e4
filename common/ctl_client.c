#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_client.h"
#include "ctl_proto.h"
#include "util.h"

#define CTL_TIMEOUT_MS 10000

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* Read until EOF into b, waiting at most CTL_TIMEOUT_MS for each read. */
static int
read_all(int fd, struct buf *b)
{
	char chunk[65536];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int r;

	for (;;) {
		r = poll(&p, 1, CTL_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (buf_add(b, chunk, (size_t)n) < 0)
			return -E2BIG;
	}
}

/* "OK LEN\nPAYLOAD" or "ERR LEN\nMESSAGE", whole, into reply. */
static int
parse_reply(const struct buf *raw, struct buf *reply, bool *ret_ok)
{
	const char *nl;
	uint64_t len;
	char num[32];
	size_t hdr, off;
	bool ok;

	if (raw->len == 0 || (nl = memchr(raw->data, '\n', raw->len)) == NULL)
		return -EPROTO;
	hdr = (size_t)(nl - raw->data);
	if (hdr > 3 && memcmp(raw->data, "OK ", 3) == 0) {
		ok = true;
		off = 3;
	} else if (hdr > 4 && memcmp(raw->data, "ERR ", 4) == 0) {
		ok = false;
		off = 4;
	} else {
		return -EPROTO;
	}
	if (hdr - off >= sizeof(num))
		return -EPROTO;
	memcpy(num, raw->data + off, hdr - off);
	num[hdr - off] = '\0';
	if (parse_u64(num, 0, CTL_REPLY_MAX, &len) < 0 ||
	    raw->len - hdr - 1 != len)
		return -EPROTO;
	if (buf_add(reply, nl + 1, (size_t)len) < 0)
		return -E2BIG;
	*ret_ok = ok;
	return 0;
}

static int
send_line(int fd, const char *line, size_t n)
{
	size_t off = 0;

	while (off < n + 1) {
		const char *p = off < n ? line + off : "\n";
		ssize_t w = send(fd, p, off < n ? n - off : 1, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	return 0;
}

/* Connect and send the request line: the fd, or -errno. */
static int
ctl_send(const char *path, const char *line)
{
	size_t n = strlen(line);
	int fd, r;

	if (n == 0 || n >= CTL_LINE_MAX || strchr(line, '\n') != NULL)
		return -EINVAL;
	if ((fd = ctl_connect(path)) < 0)
		return fd;
	/* A daemon that refuses us may close before reading the line: its
	 * reply is still there to read. */
	if ((r = send_line(fd, line, n)) < 0 && r != -EPIPE) {
		close(fd);
		return r;
	}
	return fd;
}

int
ctl_request(const char *path, const char *line, struct buf *reply,
    bool *ret_ok)
{
	struct buf raw;
	int fd, r;

	if ((fd = ctl_send(path, line)) < 0)
		return fd;
	buf_init(&raw, CTL_REPLY_MAX + 64);
	r = read_all(fd, &raw);
	close(fd);
	if (r == 0)
		r = parse_reply(&raw, reply, ret_ok);
	buf_free(&raw);
	return r;
}

int
ctl_subscribe(const char *path, const char *line, struct buf *err)
{
	struct buf raw, reply;
	size_t got = 0;
	bool ok;
	char c;
	int fd, r;

	if ((fd = ctl_send(path, line)) < 0)
		return fd;
	/* "OK -\n" byte by byte: what follows belongs to the caller. */
	while (got < strlen(CTL_FOLLOW_OK)) {
		ssize_t k = read(fd, &c, 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || c != CTL_FOLLOW_OK[got])
			break;
		got++;
	}
	if (got == strlen(CTL_FOLLOW_OK))
		return fd;
	/* Not a subscription: an ordinary reply, most likely ERR. */
	buf_init(&raw, CTL_REPLY_MAX + 64);
	buf_init(&reply, CTL_REPLY_MAX);
	buf_add(&raw, CTL_FOLLOW_OK, got);
	buf_add(&raw, &c, 1);
	r = read_all(fd, &raw);
	close(fd);
	if (r == 0 && (r = parse_reply(&raw, &reply, &ok)) == 0) {
		if (!ok)
			buf_add(err, reply.data ? reply.data : "", reply.len);
		r = -EPROTO;
	}
	buf_free(&raw);
	buf_free(&reply);
	return r;
}
