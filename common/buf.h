/* A growable byte buffer with a hard cap (in the spirit of curl's dynbuf):
 * everything filled from a peer goes through one, and the cap is never
 * optional.  Data is kept NUL-terminated for convenience. */
#ifndef LLMFB_BUF_H
#define LLMFB_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;	/* allocated */
	size_t	 max;	/* hard limit on len */
	size_t	 off;	/* consumed from the front (for output queues) */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Returns 0, or -E2BIG past the cap, or -ENOMEM; on error b is unchanged. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addstr(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Unconsumed bytes, and dropping n of them from the front. */
static inline size_t buf_pending(const struct buf *b) { return b->len - b->off; }
static inline const char *buf_head(const struct buf *b) { return b->data + b->off; }
void buf_consume(struct buf *b, size_t n);
/* Send what b holds to socket fd (non-blocking, no SIGPIPE), consuming
 * what went.  0: all of it went; -EAGAIN: the rest must wait until fd is
 * writable; another -errno: the socket failed. */
int buf_send(struct buf *b, int fd);

#endif
