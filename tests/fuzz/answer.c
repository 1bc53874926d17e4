/* Fuzz target: the answer reader (daemon/answer.c), whole and streamed,
 * both dialects, and the rewriting of a continuation stream.
 *
 * Input: [mode][want][cuts][body].  Mode bit 0: the dialect (0 OpenAI,
 * 1 Anthropic); bit 1: streamed (SSE), else one JSON body; bit 2: not
 * streamed, a borrowed body (answer_end_body()); streamed, a
 * continuation: the first cut ends the stream read so far, the rest is
 * another provider's stream continuing it (answer_continue_event());
 * bits 4-7: how many cuts (0-8; more: one byte at a time).  want bit 0:
 * JSON asked for; bit 1: a finish by length fails; bits 4-7: blanks to
 * trim off a continuation's first text.
 *
 * Property (answer.h): bytes in any chunking give the same state, as
 * tests/unit/check_answer.c's assert_same() reads it, with the same
 * events at the same offsets. */
#include <stdbool.h>
#include <string.h>

#include "answer.h"
#include "buf.h"
#include "fuzz.h"

#define LOG_MAX		(1u << 26)

struct run {
	struct answer	 a;
	struct buf	 log;		/* every event, with its offsets */
};

static void
log_event(void *arg, const char *event, const char *data, size_t start,
    size_t end)
{
	struct run *r = arg;

	FUZZ_CHECK(start <= end && end <= r->a.fed, "offsets %zu-%zu of %zu",
	    start, end, r->a.fed);
	/* Lengths first: data may hold any byte but NUL. */
	if (buf_printf(&r->log, "%zu:%s %zu-%zu %zu:", strlen(event), event,
	    start, end, strlen(data)) < 0 || buf_addstr(&r->log, data) < 0)
		FUZZ_CHECK(0, "log full");
}

static void
feed_piece(void *arg, const uint8_t *p, size_t n)
{
	struct run *r = arg;

	answer_feed(&r->a, (const char *)p, n);
}

static void
run(struct run *r, enum dialect d, bool stream, bool borrowed,
    const struct fuzz_cuts *cuts, const uint8_t *p, size_t n)
{
	answer_init(&r->a, d, stream);
	buf_init(&r->log, LOG_MAX);
	r->a.on_event = log_event;
	r->a.on_event_arg = r;
	r->a.borrowed = borrowed;
	fuzz_feed(cuts, p, n, feed_piece, r);
	if (borrowed)
		answer_end_body(&r->a, (const char *)p, n);
	else
		answer_end(&r->a);
}

static void
run_free(struct run *r)
{
	answer_free(&r->a);
	buf_free(&r->log);
}

static const char *
str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

/* check_answer.c's assert_same(), and the verdicts. */
static void
check_same(const struct answer *x, const struct answer *y,
    const struct answer_want *w)
{
	FUZZ_CHECK(x->content == y->content &&
	    x->content_end == y->content_end && x->done == y->done &&
	    x->malformed == y->malformed &&
	    x->error_event == y->error_event && x->refusal == y->refusal &&
	    x->tool_call == y->tool_call &&
	    x->tool_args_bad == y->tool_args_bad, "flags differ");
	FUZZ_CHECK(strcmp(x->finish, y->finish) == 0, "finish %s, %s",
	    x->finish, y->finish);
	FUZZ_CHECK(x->text.len == y->text.len &&
	    memcmp(str(&x->text), str(&y->text), x->text.len) == 0,
	    "text differs");
	FUZZ_CHECK(x->in_tokens == y->in_tokens &&
	    x->out_tokens == y->out_tokens && x->usage == y->usage,
	    "tokens differ");
	FUZZ_CHECK(x->fed == y->fed && x->event_end == y->event_end,
	    "offsets differ");
	FUZZ_CHECK(x->blocks == y->blocks && x->open_block == y->open_block &&
	    x->open_text == y->open_text, "blocks differ");
	FUZZ_CHECK(answer_verdict(x, w) == answer_verdict(y, w),
	    "verdict %s, %s", answer_verdict_name(answer_verdict(x, w)),
	    answer_verdict_name(answer_verdict(y, w)));
}

/* ---- a continuation --------------------------------------------------- */

struct cont {
	const struct answer	*prev;
	struct cont_state	 cs;
	const char		*src;	/* the continuation stream */
	struct buf		 out;	/* what the client sees */
};

static void
cont_event(void *arg, const char *event, const char *data, size_t start,
    size_t end)
{
	struct cont *c = arg;

	switch (answer_continue_event(c->prev, &c->cs, event, data, &c->out)) {
	case AC_FORWARD:
		(void)buf_add(&c->out, c->src + start, end - start);
		break;
	case AC_DROP:
	case AC_REPLACE:
	case AC_ERROR:		/* out's cap: the call would end here */
		break;
	}
}

/* prev reads first[0..n1), then the continuation next[0..n2) is
 * rewritten to follow it, as call.c does when a stream broke and
 * another target continues it; the client's stream is read last. */
static void
continuation(enum dialect d, const uint8_t *first, size_t n1,
    const uint8_t *next, size_t n2, size_t trim)
{
	struct answer prev, a, client;
	struct cont c;

	answer_init(&prev, d, true);
	answer_feed(&prev, (const char *)first, n1);
	memset(&c, 0, sizeof(c));
	c.prev = &prev;
	c.cs.trim = trim;
	c.src = (const char *)next;
	buf_init(&c.out, 1u << 20);
	(void)buf_add(&c.out, first, prev.event_end);
	answer_init(&a, d, true);
	a.on_event = cont_event;
	a.on_event_arg = &c;
	answer_feed(&a, (const char *)next, n2);
	answer_end(&a);
	answer_init(&client, d, true);
	answer_feed(&client, str(&c.out), c.out.len);
	answer_end(&client);
	(void)answer_verdict(&client, NULL);
	answer_free(&client);
	answer_free(&a);
	answer_free(&prev);
	buf_free(&c.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fuzz_cuts cuts, whole = { 0 };
	struct answer_want w = { 0 };
	struct run x, y;
	uint8_t mode = fuzz_byte(&in), want = fuzz_byte(&in);
	enum dialect d = (mode & 1) ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
	bool stream = (mode & 2) != 0;
	bool borrowed = !stream && (mode & 4);
	size_t at;

	w.json = (want & 1) != 0;
	w.forbid_length = (want & 2) != 0;
	fuzz_cuts_take(&in, &cuts, mode >> 4);

	run(&x, d, stream, borrowed, &whole, in.p, in.n);
	run(&y, d, stream, borrowed, &cuts, in.p, in.n);
	check_same(&x.a, &y.a, &w);
	FUZZ_CHECK(x.log.len == y.log.len && (x.log.len == 0 ||
	    memcmp(x.log.data, y.log.data, x.log.len) == 0),
	    "the cuts changed the events");
	run_free(&x);
	run_free(&y);

	if (stream && (mode & 4)) {
		at = cuts.n > 0 ? (size_t)cuts.at[0] * in.n / 256 : in.n / 2;
		continuation(d, in.p, at, in.p + at, in.n - at,
		    (size_t)(want >> 4));
	}
	return 0;
}
