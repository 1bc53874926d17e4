/* llmfb-xlate: what translating between dialects costs a call.
 *
 * In-process, no I/O: the daemon's own translation code on a 2 KB
 * request (a system prompt, a multi-turn conversation, two tools) and a
 * 100-event stream, both ways.  Beside each figure, the work every call
 * already pays whatever its target, measured in the same run: parsing the
 * request (llmfbd parses it to route it), and reading the stream (the
 * answer reader sees every event).  Prints a Markdown table of medians
 * over --rounds rounds.
 *
 *     llmfb-xlate [--rounds N] [--reps N] */

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "buf.h"
#include "dialect.h"
#include "dialect_stream.h"
#include "util.h"

#define ROUNDS_MAX	99
#define STREAM_EVENTS	100

static int rounds = 11, reps = 2000;

/* ---- inputs ------------------------------------------------------------ */

static const char *words[] = { "the", "ladder", "falls", "back", "to",
	"another", "provider", "when", "one", "fails", "and", "keeps",
	"answers", "coming" };

static void
sentence(struct buf *b, unsigned seed, int n)
{
	int i;

	for (i = 0; i < n; i++)
		buf_printf(b, "%s%s", i ? " " : "",
		    words[(seed * 7 + (unsigned)i * 3) % ARRAY_SIZE(words)]);
}

/* A request of about 2 KB in dialect d. */
static char *
make_request(enum dialect d)
{
	struct buf b;
	int turn;

	buf_init(&b, 1 << 20);
	buf_printf(&b, "{\"model\":\"m\",\"max_tokens\":512,"
	    "\"temperature\":0.3,");
	if (d == DIALECT_ANTHROPIC)
		buf_addstr(&b, "\"system\":\"You are a careful assistant for "
		    "operators of a gateway. Answer briefly.\",\"tools\":["
		    "{\"name\":\"lookup\",\"description\":\"Weather in a "
		    "city\",\"input_schema\":{\"type\":\"object\",\"properties\""
		    ":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}},"
		    "{\"name\":\"search\",\"description\":\"Search the docs\","
		    "\"input_schema\":{\"type\":\"object\",\"properties\":{"
		    "\"q\":{\"type\":\"string\"}}}}],\"messages\":[");
	else
		buf_addstr(&b, "\"tools\":[{\"type\":\"function\",\"function\":"
		    "{\"name\":\"lookup\",\"description\":\"Weather in a city\","
		    "\"parameters\":{\"type\":\"object\",\"properties\":{"
		    "\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}},"
		    "{\"type\":\"function\",\"function\":{\"name\":\"search\","
		    "\"description\":\"Search the docs\",\"parameters\":{"
		    "\"type\":\"object\",\"properties\":{\"q\":{\"type\":"
		    "\"string\"}}}}}],\"messages\":[{\"role\":\"system\","
		    "\"content\":\"You are a careful assistant for operators of "
		    "a gateway. Answer briefly.\"},");
	for (turn = 0; b.len < 1900; turn++) {
		buf_printf(&b, "%s{\"role\":\"%s\",\"content\":\"", turn ? "," :
		    "", turn % 2 ? "assistant" : "user");
		sentence(&b, (unsigned)turn, 24);
		buf_addstr(&b, "\"}");
	}
	if (turn % 2 == 1)
		buf_addstr(&b, ",{\"role\":\"user\",\"content\":\"and then?\"}");
	buf_addstr(&b, "]}");
	return b.data;		/* NUL-terminated by buf */
}

/* A stream of STREAM_EVENTS events in dialect d, each a few words. */
static char *
make_stream(enum dialect d, size_t *len)
{
	struct buf b, t;
	int i, deltas = d == DIALECT_OPENAI ? STREAM_EVENTS - 4 :
	    STREAM_EVENTS - 5;

	buf_init(&b, 1 << 22);
	buf_init(&t, 1024);
	if (d == DIALECT_OPENAI) {
#define OC "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
		buf_addstr(&b, OC "\"delta\":{\"role\":\"assistant\","
		    "\"content\":\"\"},\"finish_reason\":null}]}\n\n");
		for (i = 0; i < deltas; i++) {
			buf_reset(&t);
			sentence(&t, (unsigned)i, 4);
			buf_printf(&b, OC "\"delta\":{\"content\":\" %s\"},"
			    "\"finish_reason\":null}]}\n\n", t.data);
		}
		buf_addstr(&b, OC "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
		buf_addstr(&b, "data: {\"id\":\"chatcmpl-1\",\"object\":"
		    "\"chat.completion.chunk\",\"created\":1700000000,"
		    "\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{"
		    "\"prompt_tokens\":500,\"completion_tokens\":400,"
		    "\"total_tokens\":900}}\n\n");
		buf_addstr(&b, "data: [DONE]\n\n");
#undef OC
	} else {
		buf_addstr(&b, "event: message_start\ndata: {\"type\":"
		    "\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
		    "\"message\",\"role\":\"assistant\",\"model\":\"claude\","
		    "\"content\":[],\"stop_reason\":null,\"usage\":{"
		    "\"input_tokens\":500,\"output_tokens\":1}}}\n\n");
		buf_addstr(&b, "event: content_block_start\ndata: {\"type\":"
		    "\"content_block_start\",\"index\":0,\"content_block\":{"
		    "\"type\":\"text\",\"text\":\"\"}}\n\n");
		for (i = 0; i < deltas; i++) {
			buf_reset(&t);
			sentence(&t, (unsigned)i, 4);
			buf_printf(&b, "event: content_block_delta\ndata: {"
			    "\"type\":\"content_block_delta\",\"index\":0,"
			    "\"delta\":{\"type\":\"text_delta\",\"text\":\" %s\"}}"
			    "\n\n", t.data);
		}
		buf_addstr(&b, "event: content_block_stop\ndata: {\"type\":"
		    "\"content_block_stop\",\"index\":0}\n\n");
		buf_addstr(&b, "event: message_delta\ndata: {\"type\":"
		    "\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
		    "\"usage\":{\"output_tokens\":400}}\n\n");
		buf_addstr(&b, "event: message_stop\ndata: {\"type\":"
		    "\"message_stop\"}\n\n");
	}
	buf_free(&t);
	*len = b.len;
	return b.data;
}

/* ---- timing ------------------------------------------------------------ */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef void (*work_fn)(void *arg);

/* µs per call of fn, one round of reps calls. */
static double
time_round(work_fn fn, void *arg, int n)
{
	uint64_t t0 = now_mono_ns();
	int i;

	for (i = 0; i < n; i++)
		fn(arg);
	return (double)(now_mono_ns() - t0) / 1e3 / n;
}

/* ---- the work ---------------------------------------------------------- */

struct req_job {
	const char	*text;
	enum dialect	 from, to;
	json_t		*parsed;
};

static void
parse_request(void *arg)
{
	struct req_job *j = arg;

	json_decref(json_loads(j->text, 0, NULL));
}

/* What a translated attempt adds: the request in the other dialect, and
 * its bytes for the wire. */
static void
translate_request(void *arg)
{
	struct req_job *j = arg;
	struct dialect_info info = { .from = j->from, .to = j->to,
		.created = 1700000000 };
	char why[DIALECT_WHY_MAX], *s;
	json_t *out;

	out = dialect_request(j->parsed, &info, why);
	if (out == NULL) {
		fprintf(stderr, "llmfb-xlate: request not translated: %s\n",
		    why);
		exit(1);
	}
	json_object_set_new(out, "model", json_string("other"));
	s = json_dumps(out, JSON_COMPACT);
	free(s);
	json_decref(out);
}

struct stream_job {
	const char	*text;
	size_t		 len;
	enum dialect	 from, to;	/* caller, target */
};

/* The stream fed one event at a time, as the network gives it. */
static void
feed_events(const char *p, size_t len, void (*feed)(void *, const char *,
    size_t), void *arg)
{
	const char *end = p + len, *e;

	while (p < end) {
		e = memmem(p, (size_t)(end - p), "\n\n", 2);
		e = e != NULL ? e + 2 : end;
		feed(arg, p, (size_t)(e - p));
		p = e;
	}
}

static void
answer_piece(void *arg, const char *p, size_t n)
{
	answer_feed(arg, p, n);
}

static void
read_stream(void *arg)
{
	struct stream_job *j = arg;
	struct answer a;

	answer_init(&a, j->to, true);
	feed_events(j->text, j->len, answer_piece, &a);
	answer_end(&a);
	answer_free(&a);
}

struct xs_feed {
	struct dialect_stream	 s;
	struct buf		 out;
};

static void
xlate_piece(void *arg, const char *p, size_t n)
{
	struct xs_feed *f = arg;

	buf_reset(&f->out);
	if (dialect_stream_feed(&f->s, p, n, &f->out) < 0) {
		fprintf(stderr, "llmfb-xlate: stream not translated\n");
		exit(1);
	}
}

static void
translate_stream(void *arg)
{
	struct stream_job *j = arg;
	struct dialect_info info = { .from = j->from, .to = j->to,
		.stream = true, .include_usage = true,
		.created = 1700000000 };
	struct xs_feed f;

	dialect_stream_init(&f.s, &info);
	buf_init(&f.out, 1 << 20);
	feed_events(j->text, j->len, xlate_piece, &f);
	buf_free(&f.out);
	dialect_stream_free(&f.s);
}

/* The already-paid work and the translation, interleaved round by round
 * (their order swapped every other round) so both see the same machine:
 * the median µs of each per call (divided by per) and the median of the
 * rounds' ratios. */
struct pair {
	double		 base, x, ratio;
};

static struct pair
measure(work_fn base, work_fn x, void *arg, int n, double per)
{
	double b[ROUNDS_MAX], t[ROUNDS_MAX], q[ROUNDS_MAX];
	struct pair p;
	int r;

	base(arg);			/* warm up */
	x(arg);
	for (r = 0; r < rounds; r++) {
		if (r % 2) {
			t[r] = time_round(x, arg, n) / per;
			b[r] = time_round(base, arg, n) / per;
		} else {
			b[r] = time_round(base, arg, n) / per;
			t[r] = time_round(x, arg, n) / per;
		}
		q[r] = t[r] / b[r];
	}
	p.base = median(b, rounds);
	p.x = median(t, rounds);
	p.ratio = median(q, rounds);
	return p;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "reps", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *name[] = { "OpenAI", "Anthropic" };
	int c, d, other;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((c == 'r' && parse_int(optarg, 1, ROUNDS_MAX, &rounds) ==
		    0) || (c == 'n' && parse_int(optarg, 1, 10000000, &reps) ==
		    0))
			continue;
		fprintf(stderr, "usage: llmfb-xlate [--rounds N] [--reps N]\n");
		return 2;
	}
	printf("| translation | size | already paid per call | translation | "
	    "ratio |\n|---|---|---|---|---|\n");
	for (d = DIALECT_OPENAI; d <= DIALECT_ANTHROPIC; d++) {
		struct req_job rj;
		char *text = make_request((enum dialect)d);
		struct pair m;

		other = d == DIALECT_OPENAI ? DIALECT_ANTHROPIC :
		    DIALECT_OPENAI;
		rj = (struct req_job){ .text = text, .from = (enum dialect)d,
			.to = (enum dialect)other,
			.parsed = json_loads(text, 0, NULL) };
		m = measure(parse_request, translate_request, &rj, reps, 1);
		printf("| request %s -> %s | %zu B | %.1f µs (parse) | "
		    "%.1f µs | %.2f |\n", name[d], name[other], strlen(text),
		    m.base, m.x, m.ratio);
		json_decref(rj.parsed);
		free(text);
	}
	for (d = DIALECT_OPENAI; d <= DIALECT_ANTHROPIC; d++) {
		struct stream_job sj;
		size_t len;
		char *text = make_stream((enum dialect)d, &len);
		struct pair m;
		int n = reps / 20 > 0 ? reps / 20 : 1;

		other = d == DIALECT_OPENAI ? DIALECT_ANTHROPIC :
		    DIALECT_OPENAI;
		sj = (struct stream_job){ .text = text, .len = len,
			.from = (enum dialect)other, .to = (enum dialect)d };
		m = measure(read_stream, translate_stream, &sj, n,
		    STREAM_EVENTS);
		printf("| stream %s -> %s, per chunk | %d events, %zu B | "
		    "%.2f µs (read) | %.2f µs | %.2f |\n", name[d],
		    name[other], STREAM_EVENTS, len, m.base, m.x, m.ratio);
		free(text);
	}
	printf("\nMedians of %d rounds (%d requests, %d streams per round), "
	    "the two columns interleaved; ratio: the median of the rounds' "
	    "ratios.\n", rounds, reps, reps / 20 > 0 ? reps / 20 : 1);
	return 0;
}
