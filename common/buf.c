#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = b->off = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = b->off = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

static int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return -E2BIG;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	/* Reclaim consumed space before growing. */
	if (b->off > 0 && need - b->off <= b->cap) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		return 0;
	}
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	int r;

	if ((r = buf_reserve(b, n)) < 0)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((r = buf_reserve(b, (size_t)n)) < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		buf_reset(b);
}

int
buf_send(struct buf *b, int fd)
{
	while (buf_pending(b) > 0) {
		ssize_t n = send(fd, buf_head(b), buf_pending(b), MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		buf_consume(b, (size_t)n);
	}
	return 0;
}
