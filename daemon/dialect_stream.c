#include <string.h>

#include "dialect_stream.h"

/* To be written. */
void
dialect_stream_init(struct dialect_stream *s, const struct dialect_info *info)
{
	memset(s, 0, sizeof(*s));
	s->info = *info;
}

int
dialect_stream_feed(struct dialect_stream *s, const char *p, size_t n,
    struct buf *out)
{
	(void)p;
	(void)n;
	(void)out;
	s->failed = true;
	return -1;
}

void
dialect_stream_free(struct dialect_stream *s)
{
	(void)s;
}
