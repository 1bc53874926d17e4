/* Fuzz target: stream translation (daemon/dialect_stream.c) over the SSE
 * framer, the target's stream fed in pieces.
 *
 * Input: [mode][cap][cuts][stream].  Mode bit 0: the caller's dialect
 * (0 OpenAI, 1 Anthropic); bit 1: the target's the same (else the
 * other); bit 2: include_usage; bit 3: json_tool; bits 4-7: how many
 * cuts (0-8; more: one byte at a time).  cap: when not 0, a third run
 * with the output capped at cap * 16 bytes.
 *
 * Properties, the ones tests/unit/check_dialect_stream.c asserts on its
 * mutated transcripts (dialect_stream.h): the same bytes and the same
 * result whatever the cuts; translated, what comes out is whole events
 * that the caller's answer reader finds well formed, even when the
 * stream broke or out's cap was reached. */
#include <stdbool.h>
#include <string.h>

#include "answer.h"
#include "dialect_stream.h"
#include "fuzz.h"

#define OUT_MAX	(1u << 26)	/* never reached: no cap in play */

struct run {
	struct dialect_stream	 s;
	struct buf		 out;
	int			 r;
};

static void
feed_piece(void *arg, const uint8_t *p, size_t n)
{
	struct run *run = arg;

	if (dialect_stream_feed(&run->s, (const char *)p, n, &run->out) < 0)
		run->r = -1;
}

static void
run_start(struct run *run, const struct dialect_info *info, size_t cap)
{
	dialect_stream_init(&run->s, info);
	buf_init(&run->out, cap);
	run->r = 0;
}

static void
run_free(struct run *run)
{
	dialect_stream_free(&run->s);
	buf_free(&run->out);
}

/* Whole events of the caller's dialect, well formed. */
static void
check_events(const struct dialect_info *info, const struct buf *out)
{
	struct answer a;

	if (info->from == info->to)
		return;		/* the bytes passed as they came */
	FUZZ_CHECK(out->len == 0 || (out->len >= 2 &&
	    memcmp(out->data + out->len - 2, "\n\n", 2) == 0),
	    "the output ends mid-event");
	answer_init(&a, info->from, true);
	answer_feed(&a, out->data, out->len);
	answer_end(&a);
	FUZZ_CHECK(!a.malformed, "the caller reads a malformed stream");
	answer_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct dialect_info info = { 0 };
	struct fuzz_cuts cuts, whole = { 0 };
	struct run a, b;
	uint8_t mode = fuzz_byte(&in);
	size_t cap = (size_t)fuzz_byte(&in) * 16;

	info.from = (mode & 1) ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
	info.to = (mode & 2) ? info.from : !info.from;
	info.include_usage = (mode & 4) != 0;
	info.json_tool = (mode & 8) != 0;
	info.stream = true;
	info.created = 1700000000;
	fuzz_cuts_take(&in, &cuts, mode >> 4);

	run_start(&a, &info, OUT_MAX);
	fuzz_feed(&whole, in.p, in.n, feed_piece, &a);
	run_start(&b, &info, OUT_MAX);
	fuzz_feed(&cuts, in.p, in.n, feed_piece, &b);
	FUZZ_CHECK(a.r == b.r, "whole %d, in pieces %d", a.r, b.r);
	FUZZ_CHECK(a.out.len == b.out.len && (a.out.len == 0 ||
	    memcmp(a.out.data, b.out.data, a.out.len) == 0),
	    "the cuts changed the output (%zu bytes whole, %zu in pieces)",
	    a.out.len, b.out.len);
	check_events(&info, &a.out);
	run_free(&a);
	run_free(&b);

	if (cap > 0) {
		run_start(&a, &info, cap);
		fuzz_feed(&cuts, in.p, in.n, feed_piece, &a);
		FUZZ_CHECK(a.out.len <= cap, "past the cap");
		check_events(&info, &a.out);
		run_free(&a);
	}
	return 0;
}
