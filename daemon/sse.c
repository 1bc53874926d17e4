#include <jansson.h>
#include <string.h>

#include "sse.h"

void
sse_init(struct sse *s, size_t cap, sse_event_fn fn, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->on_event = fn;
	s->arg = arg;
	s->cap = cap;
	buf_init(&s->line, cap);
	buf_init(&s->data, cap);
}

void
sse_free(struct sse *s)
{
	buf_free(&s->line);
	buf_free(&s->data);
}

/* A buffer that held a big event gives its memory back. */
static void
shrink(struct buf *b)
{
	if (b->cap > 64 * 1024)
		buf_free(b);
	else
		buf_reset(b);
}

static void
dispatch(struct sse *s)
{
	const char *event = s->event[0] != '\0' ? s->event : "message";
	size_t start = s->event_end;

	/* Without data there is no event (spec); comment-only blocks still
	 * end where the next event starts. */
	s->event_end = s->fed;
	if (!s->skip && s->ndata > 0 && s->on_event != NULL)
		s->on_event(s->arg, event, s->data.data != NULL ?
		    s->data.data : "", s->data.len, start, s->fed);
	s->event[0] = '\0';
	s->ndata = 0;
	s->skip = false;
	shrink(&s->data);
}

static void
oversize(struct sse *s)
{
	s->oversize = true;
	s->skip = true;
	buf_free(&s->line);
	buf_free(&s->data);
}

/* One line of the stream, without its end. */
static void
line(struct sse *s)
{
	const char *p = s->line.data != NULL ? s->line.data : "";
	const char *colon, *v;
	size_t n = s->line.len, flen, vlen;

	if (!s->any_line) {
		s->any_line = true;
		if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
			p += 3;		/* a byte order mark */
			n -= 3;
		}
	}
	/* Past the cap the bytes are not kept, only whether there were. */
	if (s->skip ? !s->line_any : n == 0) {
		dispatch(s);
		return;
	}
	if (s->skip || p[0] == ':')
		return;
	if ((colon = memchr(p, ':', n)) != NULL) {
		flen = (size_t)(colon - p);
		v = colon + 1;
		vlen = n - flen - 1;
		if (vlen > 0 && *v == ' ') {
			v++;
			vlen--;
		}
	} else {
		flen = n;
		v = "";
		vlen = 0;
	}
	if (flen == 5 && memcmp(p, "event", 5) == 0) {
		if (vlen >= sizeof(s->event))
			vlen = sizeof(s->event) - 1;
		memcpy(s->event, v, vlen);
		s->event[vlen] = '\0';
	} else if (flen == 4 && memcmp(p, "data", 4) == 0) {
		if ((s->ndata > 0 && buf_add(&s->data, "\n", 1) < 0) ||
		    buf_add(&s->data, v, vlen) < 0) {
			oversize(s);
			return;
		}
		s->ndata++;
	}
	/* id and retry mean nothing to a relay; other fields are ignored,
	 * as the spec says. */
}

void
sse_feed(struct sse *s, const char *p, size_t n)
{
	size_t i = 0, j, used;

	while (i < n) {
		if (s->cr) {
			s->cr = false;
			if (p[i] == '\n') {	/* the rest of a \r\n */
				i++;
				s->fed++;
				continue;
			}
		}
		for (j = i; j < n && p[j] != '\n' && p[j] != '\r'; j++)
			;
		if (j > i) {
			s->line_any = true;
			used = s->line.len + s->data.len;
			if (!s->skip && (used > s->cap ||
			    j - i > s->cap - used ||
			    buf_add(&s->line, p + i, j - i) < 0))
				oversize(s);
			s->fed += j - i;
			i = j;
		}
		if (i == n)
			break;
		/* A line ends at \r at once, whatever follows: the state
		 * then never depends on where the chunks were cut.  A \r\n
		 * event's last \n so counts in the next event's bytes. */
		s->cr = p[i] == '\r';
		i++;
		s->fed++;
		line(s);
		shrink(&s->line);
		s->line_any = false;
	}
}

int
sse_emit(struct buf *out, const char *event, const char *data, size_t len)
{
	const char *nl, *end = data + len;

	if (event != NULL && buf_printf(out, "event: %s\n", event) < 0)
		return -1;
	for (;;) {
		nl = memchr(data, '\n', (size_t)(end - data));
		if (buf_addstr(out, "data: ") < 0 || buf_add(out, data,
		    (size_t)((nl != NULL ? nl : end) - data)) < 0 ||
		    buf_addstr(out, "\n") < 0)
			return -1;
		if (nl == NULL)
			break;
		data = nl + 1;
	}
	return buf_addstr(out, "\n");
}

static int
dump_to_buf(const char *p, size_t n, void *arg)
{
	return buf_add(arg, p, n) < 0 ? -1 : 0;
}

int
sse_emit_json(struct buf *out, const char *event, const json_t *j)
{
	if ((event != NULL && buf_printf(out, "event: %s\n", event) < 0) ||
	    buf_addstr(out, "data: ") < 0 ||
	    json_dump_callback(j, dump_to_buf, out, JSON_COMPACT) < 0)
		return -1;
	return buf_addstr(out, "\n\n");
}
