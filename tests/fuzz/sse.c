/* Fuzz target: the SSE framer (daemon/sse.c), the stream fed in pieces.
 *
 * Input: [mode][cuts][stream].  Mode bits 0-3: how many cuts (0-8; more:
 * one byte at a time); bits 4-7: the cap on one event, 0: 1 MiB (the
 * answer reader's), else that many times 16 bytes.
 *
 * Properties (sse.h): whatever the chunking, the same events come out,
 * each once, in order, with the same offsets, and the same oversize
 * verdict; and an event written back with sse_emit() frames into the
 * same event again. */
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "sse.h"

#define LOG_MAX		(1u << 26)
#define EVENT_CAP	(1u << 20)

/* Every event, length-prefixed (data may hold any byte), with its
 * offsets in log and without them in seen; and written back. */
struct run {
	struct sse	 s;
	struct buf	 log;
	struct buf	 seen;
	struct buf	 emitted;
	bool		 emit;
};

static void
on_event(void *arg, const char *event, const char *data, size_t len,
    size_t start, size_t end)
{
	struct run *r = arg;

	FUZZ_CHECK(data[len] == '\0', "data not NUL-terminated");
	FUZZ_CHECK(start <= end && end <= r->s.fed, "offsets %zu-%zu of %zu",
	    start, end, r->s.fed);
	if (buf_printf(&r->seen, "%zu:%s %zu:", strlen(event), event,
	    len) < 0 || buf_add(&r->seen, data, len) < 0 ||
	    buf_printf(&r->log, "%zu-%zu ", start, end) < 0)
		FUZZ_CHECK(0, "log full");
	if (r->emit)
		FUZZ_CHECK(sse_emit(&r->emitted, event, data, len) == 0,
		    "emit");
}

static void
feed_piece(void *arg, const uint8_t *p, size_t n)
{
	struct run *r = arg;

	sse_feed(&r->s, (const char *)p, n);
}

static void
run(struct run *r, const struct fuzz_cuts *cuts, const uint8_t *p,
    size_t n, size_t cap, bool emit)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->log, LOG_MAX);
	buf_init(&r->seen, LOG_MAX);
	buf_init(&r->emitted, LOG_MAX);
	r->emit = emit;
	sse_init(&r->s, cap, on_event, r);
	fuzz_feed(cuts, p, n, feed_piece, r);
	FUZZ_CHECK(r->s.fed == n, "fed %zu of %zu", r->s.fed, n);
	FUZZ_CHECK(r->s.event_end <= r->s.fed, "event_end past fed");
}

static void
run_free(struct run *r)
{
	sse_free(&r->s);
	buf_free(&r->log);
	buf_free(&r->seen);
	buf_free(&r->emitted);
}

static bool
same(const struct buf *x, const struct buf *y)
{
	return x->len == y->len && (x->len == 0 ||
	    memcmp(x->data, y->data, x->len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fuzz_cuts cuts, whole = { 0 };
	struct run a, b, c;
	uint8_t mode = fuzz_byte(&in);
	size_t cap = (mode >> 4) ? (size_t)(mode >> 4) * 16 : EVENT_CAP;

	fuzz_cuts_take(&in, &cuts, mode & 0x0f);
	run(&a, &whole, in.p, in.n, cap, true);
	run(&b, &cuts, in.p, in.n, cap, false);
	FUZZ_CHECK(same(&a.seen, &b.seen), "the cuts changed the events");
	FUZZ_CHECK(same(&a.log, &b.log), "the cuts changed the offsets");
	FUZZ_CHECK(a.s.oversize == b.s.oversize, "the cuts changed oversize");
	FUZZ_CHECK(a.s.event_end == b.s.event_end,
	    "the cuts changed event_end");

	/* Written back and framed again: the same events (a bigger cap:
	 * data lines gain a "data: " each). */
	run(&c, &whole, (const uint8_t *)a.emitted.data, a.emitted.len,
	    EVENT_CAP * 8, false);
	FUZZ_CHECK(same(&a.seen, &c.seen),
	    "sse_emit() wrote events that frame differently");
	run_free(&a);
	run_free(&b);
	run_free(&c);
	return 0;
}
