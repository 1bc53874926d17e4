#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"

/* ---- transcripts ----------------------------------------------------- */

/* OpenAI, as gpt-4o streams with stream_options.include_usage: a role
 * chunk with empty content, the text, a finish chunk, a usage chunk with
 * no choices, [DONE]. */
#define OA_HEAD	"{\"id\":\"chatcmpl-AHv1b2\",\"object\":" \
	"\"chat.completion.chunk\"," \
	"\"created\":1727000000,\"model\":\"gpt-4o-2024-08-06\"," \
	"\"system_fingerprint\":\"fp_5f20662549\","
#define OA_CHUNK(delta, finish) "data: " OA_HEAD "\"choices\":[{\"index\":0," \
	"\"delta\":" delta ",\"logprobs\":null,\"finish_reason\":" finish \
	"}],\"usage\":null}\n\n"
#define OA_ROLE	OA_CHUNK("{\"role\":\"assistant\",\"content\":\"\"," \
	"\"refusal\":null}", "null")
#define OA_USAGE "data: " OA_HEAD "\"choices\":[],\"usage\":{" \
	"\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17," \
	"\"prompt_tokens_details\"" \
	":{\"cached_tokens\":0}}}\n\n"
#define OA_DONE	"data: [DONE]\n\n"

static const char oa_text[] =
    OA_ROLE
    OA_CHUNK("{\"content\":\"Hello\"}", "null")
    OA_CHUNK("{\"content\":\" wor\"}", "null")
    OA_CHUNK("{\"content\":\"ld \\u00e9!\"}", "null")
    OA_CHUNK("{}", "\"stop\"")
    OA_USAGE
    OA_DONE;

/* Two parallel tool calls, arguments in fragments. */
#define OA_TOOLS_HEAD \
    OA_CHUNK("{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{" \
	"\"index\":0,\"id\":\"call_Dn2RJJSxzDm49vlVTehseJ0k\",\"type\":" \
	"\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":" \
	"\"\"}}],\"refusal\":null}", "null") \
    OA_CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":" \
	"\"{\\\"lo\"}}]}", "null") \
    OA_CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":" \
	"\"cation\\\": \\\"Paris, France\\\"}\"}}]}", "null") \
    OA_CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_Qm1x\",\"type\":" \
	"\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":" \
	"\"\"}}]}", "null")

static const char oa_tools[] =
    OA_TOOLS_HEAD
    OA_CHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":" \
	"\"{\\\"tz\\\":\"}}]}", "null")
    OA_CHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":" \
	"\"\\\"CET\\\"}\"}}]}", "null")
    OA_CHUNK("{}", "\"tool_calls\"")
    OA_USAGE
    OA_DONE;

/* The second call's arguments stop half way. */
static const char oa_tools_bad[] =
    OA_TOOLS_HEAD
    OA_CHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":" \
	"\"{\\\"tz\\\":\"}}]}", "null")
    OA_CHUNK("{}", "\"tool_calls\"")
    OA_DONE;

/* Anthropic, as claude streams: message_start .. message_stop, a ping. */
#define AN_EV(name, json) "event: " name "\ndata: " json "\n\n"
#define AN_START AN_EV("message_start", "{\"type\":\"message_start\"," \
	"\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":" \
	"\"message\",\"role\":\"assistant\",\"model\":" \
	"\"claude-3-5-sonnet-20241022\",\"content\":[],\"stop_reason\":null," \
	"\"stop_sequence\":null,\"usage\":{\"input_tokens\":25," \
	"\"output_tokens\":1}}}")
#define AN_PING	AN_EV("ping", "{\"type\": \"ping\"}")
#define AN_BSTART(i, block) AN_EV("content_block_start", \
	"{\"type\":\"content_block_start\",\"index\":" #i \
	",\"content_block\":" \
	block "}")
#define AN_TEXT_START(i) AN_BSTART(i, "{\"type\":\"text\",\"text\":\"\"}")
#define AN_DELTA(i, delta) AN_EV("content_block_delta", \
	"{\"type\":\"content_block_delta\",\"index\":" #i ",\"delta\":" \
	delta "}")
#define AN_TEXT(i, t) AN_DELTA(i, "{\"type\":\"text_delta\",\"text\":" \
	"\"" t "\"}")
#define AN_JSON(i, t) AN_DELTA(i, "{\"type\":\"input_json_delta\"," \
	"\"partial_json\":\"" t "\"}")
#define AN_BSTOP(i) AN_EV("content_block_stop", \
	"{\"type\":\"content_block_stop\",\"index\":" #i "}")
#define AN_MDELTA(reason, out) AN_EV("message_delta", "{\"type\":" \
	"\"message_delta\",\"delta\":{\"stop_reason\":\"" reason "\"," \
	"\"stop_sequence\":null},\"usage\":{\"output_tokens\":" #out "}}")
#define AN_STOP	AN_EV("message_stop", "{\"type\":\"message_stop\"}")

static const char an_text[] =
    AN_START
    AN_TEXT_START(0)
    AN_PING
    AN_TEXT(0, "Hello")
    AN_TEXT(0, " world")
    AN_BSTOP(0)
    AN_MDELTA("end_turn", 15)
    AN_STOP;

/* Extended thinking, then text, then a tool call. */
#define AN_TOOLS_HEAD \
    AN_START \
    AN_BSTART(0, "{\"type\":\"thinking\",\"thinking\":\"\"}") \
    AN_DELTA(0, "{\"type\":\"thinking_delta\",\"thinking\":" \
	"\"The user wants the weather.\"}") \
    AN_DELTA(0, "{\"type\":\"signature_delta\",\"signature\":" \
	"\"EqQBCgIYAhIM\"}") \
    AN_BSTOP(0) \
    AN_TEXT_START(1) \
    AN_TEXT(1, "I'll look it up.") \
    AN_BSTOP(1) \
    AN_BSTART(2, "{\"type\":\"tool_use\",\"id\":" \
	"\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\"," \
	"\"input\":{}}") \
    AN_JSON(2, "") \
    AN_JSON(2, "{\\\"location\\\": \\\"San Fra")

static const char an_tools[] =
    AN_TOOLS_HEAD
    AN_JSON(2, "ncisco, CA\\\", \\\"unit\\\": \\\"fahrenheit\\\"}")
    AN_BSTOP(2)
    AN_MDELTA("tool_use", 89)
    AN_STOP;

static const char an_tools_bad[] =
    AN_TOOLS_HEAD
    AN_BSTOP(2)
    AN_MDELTA("tool_use", 89)
    AN_STOP;

/* ---- feeding --------------------------------------------------------- */

enum chunking { WHOLE, BYTES, RANDOM };

static uint32_t
xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
feed(struct answer *a, const char *s, size_t len, enum chunking how,
    uint32_t *rnd)
{
	size_t i = 0, n;

	while (i < len) {
		switch (how) {
		case WHOLE:
			n = len;
			break;
		case BYTES:
			n = 1;
			break;
		default:
			/* Mostly small pieces, now and then an empty or a
			 * big one. */
			n = xorshift(rnd) % 40;
			if (n == 39)
				n = xorshift(rnd) % 600;
			break;
		}
		if (n > len - i)
			n = len - i;
		answer_feed(a, s + i, n);
		i += n;
	}
}

static void
log_event(void *arg, const char *event, const char *data, size_t start,
    size_t end)
{
	struct buf *log = arg;

	ck_assert_int_eq(buf_printf(log, "%s|%s|%zu|%zu\n", event, data,
	    start, end), 0);
}

struct run {
	struct answer	 a;
	struct buf	 log;		/* every event, with its offsets */
};

static void
run_start(struct run *r, enum dialect d, bool stream)
{
	answer_init(&r->a, d, stream);
	buf_init(&r->log, 1u << 24);
	r->a.on_event = log_event;
	r->a.on_event_arg = &r->log;
}

static void
run(struct run *r, enum dialect d, bool stream, const char *s, size_t len,
    enum chunking how, uint32_t *rnd)
{
	run_start(r, d, stream);
	feed(&r->a, s, len, how, rnd);
	answer_end(&r->a);
}

static void
run_str(struct run *r, enum dialect d, bool stream, const char *s)
{
	run(r, d, stream, s, strlen(s), WHOLE, NULL);
}

static void
run_free(struct run *r)
{
	answer_free(&r->a);
	buf_free(&r->log);
}

static const char *
text(const struct answer *a)
{
	return a->text.data != NULL ? a->text.data : "";
}

static enum answer_verdict
verdict(const struct answer *a)
{
	return answer_verdict(a, NULL);
}

/* Everything a caller reads, offsets included. */
static void
assert_same(const struct answer *x, const struct answer *y)
{
	ck_assert_int_eq(x->content, y->content);
	ck_assert_uint_eq(x->content_end, y->content_end);
	ck_assert_int_eq(x->done, y->done);
	ck_assert_int_eq(x->malformed, y->malformed);
	ck_assert_int_eq(x->error_event, y->error_event);
	ck_assert_int_eq(x->refusal, y->refusal);
	ck_assert_int_eq(x->tool_call, y->tool_call);
	ck_assert_int_eq(x->tool_args_bad, y->tool_args_bad);
	ck_assert_str_eq(x->finish, y->finish);
	ck_assert_uint_eq(x->text.len, y->text.len);
	ck_assert_str_eq(text(x), text(y));
	ck_assert_uint_eq(x->in_tokens, y->in_tokens);
	ck_assert_uint_eq(x->out_tokens, y->out_tokens);
	ck_assert_int_eq(x->usage, y->usage);
	ck_assert_uint_eq(x->fed, y->fed);
	ck_assert_uint_eq(x->event_end, y->event_end);
	ck_assert_int_eq(x->blocks, y->blocks);
	ck_assert_int_eq(x->open_block, y->open_block);
	ck_assert_int_eq(x->open_text, y->open_text);
}

/* Just past the blank line of the first event holding needle. */
static size_t
end_of_event_with(const char *s, const char *needle, const char *blank)
{
	const char *p = strstr(s, needle);

	ck_assert_ptr_nonnull(p);
	p = strstr(p, blank);
	ck_assert_ptr_nonnull(p);
	return (size_t)(p - s) + strlen(blank);
}

/* The transcript with every \n made eol. */
static char *
with_eol(const char *s, const char *eol)
{
	struct buf b;

	buf_init(&b, 1u << 20);
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			ck_assert_int_eq(buf_addstr(&b, eol), 0);
		else
			ck_assert_int_eq(buf_add(&b, s, 1), 0);
	}
	return b.data;
}

/* ---- building variants ------------------------------------------------ */

static void
add_json_event(struct buf *b, const char *event, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	ck_assert_ptr_nonnull(s);
	if (event != NULL)
		ck_assert_int_eq(buf_printf(b, "event: %s\n", event), 0);
	ck_assert_int_eq(buf_printf(b, "data: %s\n\n", s), 0);
	free(s);
	json_decref(j);
}

static void
oa_chunk(struct buf *b, json_t *delta, const char *finish)
{
	add_json_event(b, NULL, json_pack("{s:s, s:s, s:i, s:s, "
	    "s:[{s:i, s:o, s:n, s:o}], s:n}", "id", "chatcmpl-AHv1b2",
	    "object", "chat.completion.chunk", "created", 1727000000,
	    "model", "gpt-4o-2024-08-06", "choices", "index", 0, "delta", delta,
	    "logprobs", "finish_reason",
	    finish != NULL ? json_string(finish) : json_null(), "usage"));
}

/* An OpenAI stream of these content pieces (NULL-terminated). */
static void
oa_stream(struct buf *b, const char *finish, const char *const *pieces)
{
	buf_init(b, 1u << 24);
	oa_chunk(b, json_pack("{s:s, s:s, s:n}", "role", "assistant",
	    "content", "", "refusal"), NULL);
	for (; *pieces != NULL; pieces++)
		oa_chunk(b, json_pack("{s:s}", "content", *pieces), NULL);
	oa_chunk(b, json_object(), finish);
	ck_assert_int_eq(buf_addstr(b, OA_DONE), 0);
}

static void
an_stream(struct buf *b, const char *stop_reason, const char *const *pieces)
{
	buf_init(b, 1u << 24);
	ck_assert_int_eq(buf_addstr(b, AN_START AN_TEXT_START(0) AN_PING), 0);
	for (; *pieces != NULL; pieces++)
		add_json_event(b, "content_block_delta", json_pack("{s:s, s:i, "
		    "s:{s:s, s:s}}", "type", "content_block_delta", "index", 0,
		    "delta", "type", "text_delta", "text", *pieces));
	ck_assert_int_eq(buf_addstr(b, AN_BSTOP(0)), 0);
	add_json_event(b, "message_delta", json_pack("{s:s, s:{s:s, s:n}, "
	    "s:{s:i}}", "type", "message_delta", "delta", "stop_reason",
	    stop_reason, "stop_sequence", "usage", "output_tokens", 7));
	ck_assert_int_eq(buf_addstr(b, AN_STOP), 0);
}

static enum answer_verdict
stream_verdict(enum dialect d, const char *finish, const char *const *pieces,
    const struct answer_want *w)
{
	enum answer_verdict v;
	struct run r;
	struct buf b;

	if (d == DIALECT_OPENAI)
		oa_stream(&b, finish, pieces);
	else
		an_stream(&b, finish, pieces);
	run(&r, d, true, b.data, b.len, WHOLE, NULL);
	v = answer_verdict(&r.a, w);
	run_free(&r);
	buf_free(&b);
	return v;
}

/* ---- streams: what they say ----------------------------------------- */

START_TEST(test_openai_stream)
{
	struct run r;

	run_str(&r, DIALECT_OPENAI, true, oa_text);
	ck_assert_str_eq(text(&r.a), "Hello world \xc3\xa9!");
	ck_assert(r.a.content);
	ck_assert(r.a.done);
	ck_assert(!r.a.malformed && !r.a.tool_call && !r.a.refusal);
	ck_assert_str_eq(r.a.finish, "stop");
	ck_assert(r.a.usage);
	ck_assert_uint_eq(r.a.in_tokens, 12);
	ck_assert_uint_eq(r.a.out_tokens, 5);
	ck_assert_uint_eq(r.a.fed, strlen(oa_text));
	ck_assert_uint_eq(r.a.event_end, strlen(oa_text));
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);
}
END_TEST

START_TEST(test_anthropic_stream)
{
	struct run r;

	run_str(&r, DIALECT_ANTHROPIC, true, an_text);
	ck_assert_str_eq(text(&r.a), "Hello world");
	ck_assert(r.a.content && r.a.done && !r.a.malformed);
	ck_assert_str_eq(r.a.finish, "end_turn");
	ck_assert(r.a.usage);
	ck_assert_uint_eq(r.a.in_tokens, 25);
	ck_assert_uint_eq(r.a.out_tokens, 15);
	ck_assert_int_eq(r.a.blocks, 1);
	ck_assert_int_eq(r.a.open_block, -1);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);
}
END_TEST

static const struct {
	enum dialect	 d;
	const char	*s;
} transcripts[] = {
	{ DIALECT_OPENAI, oa_text },
	{ DIALECT_OPENAI, oa_tools },
	{ DIALECT_OPENAI, oa_tools_bad },
	{ DIALECT_ANTHROPIC, an_text },
	{ DIALECT_ANTHROPIC, an_tools },
	{ DIALECT_ANTHROPIC, an_tools_bad },
	/* Cut short, and cut inside an event. */
	{ DIALECT_OPENAI, OA_ROLE OA_CHUNK("{\"content\":\"Hi\"}", "null")
	    "data: {\"id\":" },
	{ DIALECT_ANTHROPIC, AN_START AN_TEXT_START(0) AN_TEXT(0, "Hi")
	    "event: content_block_delta\r\ndata: {" },
};

/* Whole, a byte at a time, or cut anywhere: the same answer, the same
 * events at the same offsets. */
START_TEST(test_any_chunking)
{
	const char *s = transcripts[_i].s;
	enum dialect d = transcripts[_i].d;
	uint32_t rnd = 0x2545f491u + (uint32_t)_i;
	struct run whole, r;
	int k;

	run(&whole, d, true, s, strlen(s), WHOLE, NULL);
	ck_assert(whole.log.len > 0);
	run(&r, d, true, s, strlen(s), BYTES, NULL);
	assert_same(&whole.a, &r.a);
	ck_assert_str_eq(whole.log.data, r.log.data);
	run_free(&r);
	for (k = 0; k < 300; k++) {
		run(&r, d, true, s, strlen(s), RANDOM, &rnd);
		assert_same(&whole.a, &r.a);
		ck_assert_str_eq(whole.log.data, r.log.data);
		run_free(&r);
	}
	run_free(&whole);
}
END_TEST

/* \r\n and \r end lines as well as \n does. */
START_TEST(test_line_ends)
{
	static const char *eols[] = { "\r\n", "\r" };
	const char *s = transcripts[_i].s;
	enum dialect d = transcripts[_i].d;
	struct run lf, r;
	uint32_t rnd = 7;
	size_t e;
	char *t;

	run_str(&lf, d, true, s);
	for (e = 0; e < 2; e++) {
		t = with_eol(s, eols[e]);
		run(&r, d, true, t, strlen(t), RANDOM, &rnd);
		ck_assert_str_eq(text(&r.a), text(&lf.a));
		ck_assert_int_eq(r.a.done, lf.a.done);
		ck_assert_int_eq(r.a.content, lf.a.content);
		ck_assert_int_eq(r.a.malformed, lf.a.malformed);
		ck_assert_int_eq(r.a.tool_args_bad, lf.a.tool_args_bad);
		ck_assert_str_eq(r.a.finish, lf.a.finish);
		ck_assert_uint_eq(r.a.out_tokens, lf.a.out_tokens);
		ck_assert_int_eq(r.a.blocks, lf.a.blocks);
		run_free(&r);
		free(t);
	}
	run_free(&lf);
}
END_TEST

/* A stream is held until its first content: known the moment the blank
 * line of the event that carries it arrives, not a byte later. */
static void
assert_content_at(enum dialect d, const char *s, size_t expect)
{
	struct answer a;
	size_t i;

	answer_init(&a, d, true);
	for (i = 0; s[i] != '\0'; i++) {
		answer_feed(&a, s + i, 1);
		ck_assert_msg(a.content == (i + 1 >= expect),
		    "content %d after %zu bytes, expected at %zu", a.content,
		    i + 1, expect);
	}
	ck_assert_uint_eq(a.content_end, expect);
	answer_free(&a);
}

START_TEST(test_first_content_offset)
{
	char *crlf;

	/* The role chunk's "" is not content. */
	assert_content_at(DIALECT_OPENAI, oa_text,
	    end_of_event_with(oa_text, "\"Hello\"", "\n\n"));
	assert_content_at(DIALECT_ANTHROPIC, an_text,
	    end_of_event_with(an_text, "\"Hello\"", "\n\n"));
	/* Thinking is not content; the text after it is. */
	assert_content_at(DIALECT_ANTHROPIC, an_tools,
	    end_of_event_with(an_tools, "I'll look", "\n\n"));
	/* A tool call is content from its first chunk. */
	assert_content_at(DIALECT_OPENAI, oa_tools,
	    end_of_event_with(oa_tools, "call_Dn2", "\n\n"));
	/* With \r\n the event is complete at the blank line's \r. */
	crlf = with_eol(oa_text, "\r\n");
	assert_content_at(DIALECT_OPENAI, crlf,
	    end_of_event_with(crlf, "\"Hello\"", "\r\n\r"));
	free(crlf);
}
END_TEST

/* on_event sees the answer with its event taken in. */
static void
check_end(void *arg, const char *event, const char *data, size_t start,
    size_t end)
{
	const struct answer *a = arg;

	(void)event;
	(void)start;
	ck_assert_uint_eq(a->event_end, end);
	ck_assert_uint_eq(a->fed, end);
	if (strstr(data, "\"Hello\"") != NULL)
		ck_assert(a->content && a->content_end == end);
}

START_TEST(test_event_state)
{
	struct answer a;

	answer_init(&a, DIALECT_OPENAI, true);
	a.on_event = check_end;
	a.on_event_arg = &a;
	feed(&a, oa_text, strlen(oa_text), BYTES, NULL);
	answer_end(&a);
	ck_assert(a.done);
	answer_free(&a);
}
END_TEST

/* The events' bytes tile the stream; comments lie between them. */
START_TEST(test_event_offsets)
{
	static const char s[] = ": OPENROUTER PROCESSING\n\n"
	    OA_CHUNK("{\"content\":\"Hi\"}", "null") OA_DONE;
	size_t first = strlen(": OPENROUTER PROCESSING\n\n");
	size_t second = first + strlen(OA_CHUNK("{\"content\":\"Hi\"}",
	    "null"));
	struct buf want;
	struct run r;

	run_str(&r, DIALECT_OPENAI, true, s);
	buf_init(&want, 1u << 16);
	ck_assert_int_eq(buf_printf(&want, "message|%.*s|%zu|%zu\n"
	    "message|[DONE]|%zu|%zu\n", (int)(second - first - 8),
	    s + first + 6, first, second, second, strlen(s)), 0);
	ck_assert_str_eq(r.log.data, want.data);
	ck_assert_str_eq(text(&r.a), "Hi");
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	buf_free(&want);
	run_free(&r);
}
END_TEST

START_TEST(test_sse_fields)
{
	/* A byte order mark, a field without its space, data in two lines,
	 * id and retry, a comment inside an event. */
	static const char s[] = "\xef\xbb\xbf" "event:message_start\n"
	    "data:{\"type\":\"message_start\",\"message\":{\"usage\":"
	    "{\"input_tokens\":3}}}\n\n"
	    AN_TEXT_START(0)
	    "id: 17\nretry: 3000\n"
	    "event: content_block_delta\n"
	    ": a comment\n"
	    "data: {\"type\":\"content_block_delta\",\"index\":0,\n"
	    "data:  \"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n"
	    AN_BSTOP(0) AN_MDELTA("end_turn", 1) AN_STOP;
	struct run r;

	run_str(&r, DIALECT_ANTHROPIC, true, s);
	ck_assert(!r.a.malformed);
	ck_assert_str_eq(text(&r.a), "ok");
	ck_assert_uint_eq(r.a.in_tokens, 3);
	ck_assert(strncmp(r.log.data, "message_start|{", 15) == 0);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	ck_assert_ptr_nonnull(strstr(r.log.data, "content_block_delta|"
	    "{\"type\":\"content_block_delta\",\"index\":0,\n "
	    "\"delta\""));
	run_free(&r);
}
END_TEST

/* ---- streams: verdicts ----------------------------------------------- */

START_TEST(test_truncated)
{
	static const char *cut[] = {
		OA_ROLE OA_CHUNK("{\"content\":\"Hello\"}", "null")
		    OA_CHUNK("{}", "\"stop\""),
		OA_ROLE OA_CHUNK("{\"content\":\"Hello\"}", "null") "data: [DO",
		/* [DONE] without its blank line is an unfinished event. */
		OA_ROLE OA_CHUNK("{\"content\":\"Hello\"}", "null")
		    "data: [DONE]\n",
	};
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		run_str(&r, DIALECT_OPENAI, true, cut[i]);
		ck_assert(r.a.content && !r.a.done);
		ck_assert_int_eq(verdict(&r.a), AV_TRUNCATED);
		run_free(&r);
	}
	run_str(&r, DIALECT_ANTHROPIC, true,
	    AN_START AN_TEXT_START(0) AN_TEXT(0, "Hello") AN_BSTOP(0)
	    AN_MDELTA("end_turn", 2));
	ck_assert_str_eq(r.a.finish, "end_turn");
	ck_assert_int_eq(verdict(&r.a), AV_TRUNCATED);
	ck_assert_str_eq(answer_verdict_name(verdict(&r.a)), "truncated");
	run_free(&r);
}
END_TEST

START_TEST(test_malformed_event)
{
	struct run r;

	run_str(&r, DIALECT_OPENAI, true, OA_ROLE
	    "data: {\"id\":\"chatcmpl-AHv1b2\",\"choices\":[{\"index\":0,"
	    "\"delta\":{\"content\":\"Hel\n\n"
	    OA_CHUNK("{\"content\":\"lo\"}", "\"stop\"") OA_DONE);
	ck_assert(r.a.malformed);
	ck_assert(r.a.done);		/* it read on */
	ck_assert_int_eq(verdict(&r.a), AV_MALFORMED);
	ck_assert_str_eq(answer_verdict_name(AV_MALFORMED), "malformed");
	run_free(&r);

	run_str(&r, DIALECT_ANTHROPIC, true, AN_START AN_TEXT_START(0)
	    "event: content_block_delta\ndata: <html>502</html>\n\n" AN_STOP);
	ck_assert_int_eq(verdict(&r.a), AV_MALFORMED);
	run_free(&r);

	/* choices must be an array. */
	run_str(&r, DIALECT_OPENAI, true, "data: {\"choices\":{}}\n\n" OA_DONE);
	ck_assert_int_eq(verdict(&r.a), AV_MALFORMED);
	run_free(&r);
}
END_TEST

/* An event past its cap is not kept: malformed, and the stream reads on
 * from the next event. */
START_TEST(test_event_cap)
{
	char chunk[4096];
	struct answer a;
	size_t i;

	memset(chunk, 'a', sizeof(chunk));
	answer_init(&a, DIALECT_OPENAI, true);
	answer_feed(&a, "data: {\"x\":\"", 12);
	for (i = 0; i < 2 * ANSWER_EVENT_MAX / sizeof(chunk); i++) {
		answer_feed(&a, chunk, sizeof(chunk));
		ck_assert_uint_le(a.sse.line.cap, 2 * ANSWER_EVENT_MAX);
	}
	ck_assert(a.malformed);
	ck_assert_uint_eq(a.sse.line.cap, 0);
	/* The rest of that event goes with it. */
	answer_feed(&a, "\"}\ndata: [DONE]\n\n", 17);
	ck_assert(!a.done);
	ck_assert_uint_eq(a.event_end, a.fed);
	answer_feed(&a, OA_DONE, strlen(OA_DONE));
	answer_end(&a);
	ck_assert(a.done);
	ck_assert_int_eq(answer_verdict(&a, NULL), AV_MALFORMED);
	answer_free(&a);
}
END_TEST

START_TEST(test_error_event)
{
	struct run r;

	run_str(&r, DIALECT_OPENAI, true, OA_ROLE
	    OA_CHUNK("{\"content\":\"Hel\"}", "null")
	    "data: {\"error\":{\"message\":\"The server had an error while "
	    "processing your request. Sorry about that!\",\"type\":"
	    "\"server_error\",\"param\":null,\"code\":null}}\n\n");
	ck_assert(r.a.error_event && !r.a.malformed);
	/* Not truncated: the error says more. */
	ck_assert_int_eq(verdict(&r.a), AV_ERROR_EVENT);
	ck_assert_str_eq(answer_verdict_name(AV_ERROR_EVENT), "error-event");
	run_free(&r);

	run_str(&r, DIALECT_ANTHROPIC, true, AN_START AN_TEXT_START(0)
	    AN_TEXT(0, "Hel")
	    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
	    "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
	ck_assert(r.a.error_event);
	ck_assert_int_eq(verdict(&r.a), AV_ERROR_EVENT);
	run_free(&r);
}
END_TEST

START_TEST(test_refusal)
{
	/* gpt-4o with structured outputs refuses in delta.refusal. */
	static const char oa[] = OA_ROLE
	    OA_CHUNK("{\"refusal\":\"I'm sorry, \"}", "null")
	    OA_CHUNK("{\"refusal\":\"I can't help with that.\"}", "null")
	    OA_CHUNK("{}", "\"stop\"") OA_DONE;
	struct run r;

	run_str(&r, DIALECT_OPENAI, true, oa);
	ck_assert(r.a.refusal && r.a.content);
	ck_assert_uint_eq(r.a.content_end, end_of_event_with(oa, "sorry",
	    "\n\n"));
	ck_assert_int_eq(verdict(&r.a), AV_REFUSAL);
	ck_assert_str_eq(answer_verdict_name(AV_REFUSAL), "refusal");
	run_free(&r);

	run_str(&r, DIALECT_OPENAI, true, OA_ROLE
	    OA_CHUNK("{\"content\":\"Here is\"}", "null")
	    OA_CHUNK("{}", "\"content_filter\"") OA_DONE);
	ck_assert_str_eq(r.a.finish, "content_filter");
	ck_assert_int_eq(verdict(&r.a), AV_REFUSAL);
	run_free(&r);

	run_str(&r, DIALECT_ANTHROPIC, true, AN_START AN_TEXT_START(0)
	    AN_TEXT(0, "I") AN_BSTOP(0) AN_MDELTA("refusal", 1) AN_STOP);
	ck_assert_int_eq(verdict(&r.a), AV_REFUSAL);
	run_free(&r);
}
END_TEST

/* Where the event that said it starts: what the caller is not sent. */
START_TEST(test_ending_offsets)
{
	static const char oa_head[] = OA_ROLE
	    OA_CHUNK("{\"content\":\"Hel\"}", "null");
	static const char an_head[] = AN_START AN_TEXT_START(0)
	    AN_TEXT(0, "I") AN_BSTOP(0);
	struct run r;

	run_str(&r, DIALECT_OPENAI, true, OA_ROLE
	    OA_CHUNK("{\"content\":\"Hel\"}", "null")
	    "data: {\"error\":{\"message\":\"x\",\"type\":"
	    "\"server_error\",\"param\":null,\"code\":null}}\n\n" OA_DONE);
	ck_assert(r.a.error_event && !r.a.refusal);
	ck_assert_uint_eq(r.a.error_start, strlen(oa_head));
	run_free(&r);

	run_str(&r, DIALECT_ANTHROPIC, true, AN_START AN_TEXT_START(0)
	    AN_TEXT(0, "I") AN_BSTOP(0) AN_MDELTA("refusal", 1) AN_STOP);
	ck_assert(r.a.refusal && !r.a.error_event);
	ck_assert_uint_eq(r.a.refusal_start, strlen(an_head));
	run_free(&r);
}
END_TEST

START_TEST(test_empty)
{
	static const char *none[] = { NULL };
	static const char *blank[] = { "", "", NULL };
	struct run r;

	ck_assert_int_eq(stream_verdict(DIALECT_OPENAI, "stop", none, NULL),
	    AV_EMPTY);
	ck_assert_int_eq(stream_verdict(DIALECT_OPENAI, "stop", blank, NULL),
	    AV_EMPTY);
	ck_assert_int_eq(stream_verdict(DIALECT_ANTHROPIC, "end_turn", blank,
	    NULL), AV_EMPTY);
	ck_assert_str_eq(answer_verdict_name(AV_EMPTY), "empty");
	run_str(&r, DIALECT_ANTHROPIC, true, AN_START AN_MDELTA("end_turn", 0)
	    AN_STOP);
	ck_assert(!r.a.content && r.a.done);
	ck_assert_int_eq(verdict(&r.a), AV_EMPTY);
	run_free(&r);
}
END_TEST

START_TEST(test_want_json)
{
	static const char *good[] = { "\n{\"city\": ", "\"Par", "is\"}  ",
	    NULL };
	static const char *prose[] = { "Sure: ", "{\"city\": \"Paris\"}",
	    NULL };
	static const char *fenced[] = { "```json\n{\"a\":1}\n```", NULL };
	static const char *number[] = { " 42\n", NULL };
	const struct answer_want json = { .json = true };
	const struct api *const *api;

	for (api = apis; *api != NULL; api++) {
		enum dialect d = (*api)->dialect;
		const char *fin = (*api)->finish_name[FINISH_STOP];

		/* The two whose streams stream_verdict writes. */
		if (d != DIALECT_OPENAI && d != DIALECT_ANTHROPIC)
			continue;

		ck_assert_int_eq(stream_verdict(d, fin, good, &json), AV_OK);
		ck_assert_int_eq(stream_verdict(d, fin, prose, &json),
		    AV_BAD_JSON);
		ck_assert_int_eq(stream_verdict(d, fin, fenced, &json),
		    AV_BAD_JSON);
		ck_assert_int_eq(stream_verdict(d, fin, number, &json), AV_OK);
		/* Not asked: prose is fine. */
		ck_assert_int_eq(stream_verdict(d, fin, prose, NULL), AV_OK);
	}
	ck_assert_str_eq(answer_verdict_name(AV_BAD_JSON), "bad-json");
}
END_TEST

START_TEST(test_length)
{
	static const char *some[] = { "Once upon a", NULL };
	const struct answer_want forbid = { .forbid_length = true };

	ck_assert_int_eq(stream_verdict(DIALECT_OPENAI, "length", some,
	    &forbid), AV_LENGTH);
	ck_assert_int_eq(stream_verdict(DIALECT_OPENAI, "length", some, NULL),
	    AV_OK);
	ck_assert_int_eq(stream_verdict(DIALECT_ANTHROPIC, "max_tokens", some,
	    &forbid), AV_LENGTH);
	/* Each dialect has its own word for it. */
	ck_assert_int_eq(stream_verdict(DIALECT_ANTHROPIC, "length", some,
	    &forbid), AV_OK);
	ck_assert_str_eq(answer_verdict_name(AV_LENGTH), "length");
}
END_TEST

START_TEST(test_verdict_order)
{
	static const char *prose[] = { "not json", NULL };
	static const char *none[] = { NULL };
	const struct answer_want all = { .json = true, .forbid_length = true };
	struct run r;

	/* length before bad-json, refusal before empty. */
	ck_assert_int_eq(stream_verdict(DIALECT_OPENAI, "length", prose, &all),
	    AV_LENGTH);
	ck_assert_int_eq(stream_verdict(DIALECT_OPENAI, "content_filter", none,
	    &all), AV_REFUSAL);
	/* malformed before error-event before truncated. */
	run_str(&r, DIALECT_OPENAI, true,
	    "data: {\"error\":{}}\n\ndata: x\n\n");
	ck_assert_int_eq(answer_verdict(&r.a, &all), AV_MALFORMED);
	run_free(&r);
}
END_TEST

START_TEST(test_openai_tool_calls)
{
	struct run r;

	run_str(&r, DIALECT_OPENAI, true, oa_tools);
	ck_assert(r.a.tool_call && r.a.content && !r.a.tool_args_bad);
	ck_assert_str_eq(r.a.finish, "tool_calls");
	ck_assert_uint_eq(r.a.text.len, 0);
	ck_assert_int_eq(answer_verdict(&r.a, &(struct answer_want){
	    .json = true }), AV_OK);
	run_free(&r);

	run_str(&r, DIALECT_OPENAI, true, oa_tools_bad);
	ck_assert(r.a.tool_call && r.a.tool_args_bad);
	ck_assert_int_eq(verdict(&r.a), AV_TOOL_ARGS);
	ck_assert_str_eq(answer_verdict_name(AV_TOOL_ARGS), "tool-args");
	run_free(&r);

	/* Arguments are judged when the answer ends, not before. */
	run_start(&r, DIALECT_OPENAI, true);
	answer_feed(&r.a, oa_tools_bad, strlen(oa_tools_bad));
	ck_assert(!r.a.tool_args_bad);
	answer_end(&r.a);
	ck_assert(r.a.tool_args_bad);
	run_free(&r);

	/* A call without arguments, or with a non-object, ... */
	run_str(&r, DIALECT_OPENAI, true, OA_CHUNK("{\"role\":\"assistant\","
	    "\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":"
	    "\"function\",\"function\":{\"name\":\"now\",\"arguments\":"
	    "\"\"}}]}",
	    "null") OA_CHUNK("{}", "\"tool_calls\"") OA_DONE);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);
	run_str(&r, DIALECT_OPENAI, true, OA_CHUNK("{\"role\":\"assistant\","
	    "\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":"
	    "\"function\",\"function\":{\"name\":\"now\",\"arguments\":"
	    "\"[1]\"}}]}", "null") OA_CHUNK("{}", "\"tool_calls\"") OA_DONE);
	ck_assert_int_eq(verdict(&r.a), AV_TOOL_ARGS);
	run_free(&r);
}
END_TEST

START_TEST(test_anthropic_tool_use)
{
	struct run r;

	run_str(&r, DIALECT_ANTHROPIC, true, an_tools);
	ck_assert(r.a.tool_call && !r.a.tool_args_bad);
	ck_assert_str_eq(text(&r.a), "I'll look it up.");
	ck_assert_str_eq(r.a.finish, "tool_use");
	ck_assert_int_eq(r.a.blocks, 3);
	ck_assert_int_eq(r.a.open_block, -1);
	ck_assert_uint_eq(r.a.out_tokens, 89);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);

	/* Judged at the block's stop, before the answer ends. */
	run_start(&r, DIALECT_ANTHROPIC, true);
	feed(&r.a, an_tools_bad, end_of_event_with(an_tools_bad,
	    "San Fra", "\n\n"), WHOLE, NULL);
	ck_assert(!r.a.tool_args_bad);
	ck_assert_int_eq(r.a.open_block, 2);
	ck_assert(!r.a.open_text);
	feed(&r.a, an_tools_bad + r.a.fed, strlen(an_tools_bad) - r.a.fed,
	    WHOLE, NULL);
	ck_assert(r.a.tool_args_bad);
	answer_end(&r.a);
	ck_assert_int_eq(verdict(&r.a), AV_TOOL_ARGS);
	run_free(&r);

	/* No input_json_delta at all: a tool without input. */
	run_str(&r, DIALECT_ANTHROPIC, true, AN_START
	    AN_BSTART(0, "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":"
	    "\"now\",\"input\":{}}") AN_JSON(0, "") AN_BSTOP(0)
	    AN_MDELTA("tool_use", 9) AN_STOP);
	ck_assert(r.a.tool_call && r.a.content);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);
}
END_TEST

/* Text past the cap is cut at a character, and the verdict does not
 * judge JSON it cannot see whole. */
START_TEST(test_text_cap)
{
	const struct answer_want json = { .json = true };
	size_t piece = 460800, i;
	const char *pieces[6];
	char *e;
	struct run r;
	struct buf b;

	e = malloc(2 * piece + 2);
	ck_assert_ptr_nonnull(e);
	e[0] = 'a';
	for (i = 0; i < piece; i++)
		memcpy(e + 1 + 2 * i, "\xc3\xa9", 2);
	e[1 + 2 * piece] = '\0';
	for (i = 0; i < 5; i++)
		pieces[i] = i == 0 ? e : e + 1;
	pieces[5] = NULL;
	oa_stream(&b, "stop", pieces);
	run(&r, DIALECT_OPENAI, true, b.data, b.len, WHOLE, NULL);
	ck_assert(!r.a.malformed);
	ck_assert(r.a.text_truncated);
	ck_assert_uint_eq(r.a.text.len, ANSWER_TEXT_MAX - 1);
	ck_assert(memcmp(r.a.text.data + r.a.text.len - 2, "\xc3\xa9", 2) ==
	    0);
	ck_assert_int_eq(answer_verdict(&r.a, &json), AV_OK);
	run_free(&r);
	buf_free(&b);
	free(e);
}
END_TEST

START_TEST(test_after_end)
{
	struct run r;
	size_t fed;

	run_str(&r, DIALECT_OPENAI, true, oa_text);
	fed = r.a.fed;
	answer_feed(&r.a, OA_DONE, strlen(OA_DONE));
	answer_end(&r.a);
	ck_assert_uint_eq(r.a.fed, fed);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);
}
END_TEST

/* ---- whole bodies ----------------------------------------------------- */

static const char oa_body[] =
    "{\n  \"id\": \"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\n"
    "  \"object\": \"chat.completion\",\n  \"created\": 1741570283,\n"
    "  \"model\": \"gpt-4o-2024-08-06\",\n  \"choices\": [\n    {\n"
    "      \"index\": 0,\n      \"message\": {\n"
    "        \"role\": \"assistant\",\n"
    "        \"content\": \"The image shows a wooden boardwalk.\",\n"
    "        \"refusal\": null,\n        \"annotations\": []\n      },\n"
    "      \"logprobs\": null,\n      \"finish_reason\": \"stop\"\n"
    "    }\n  ],\n  \"usage\": {\n    \"prompt_tokens\": 1117,\n"
    "    \"completion_tokens\": 46,\n    \"total_tokens\": 1163,\n"
    "    \"prompt_tokens_details\": {\"cached_tokens\": 0},\n"
    "    \"completion_tokens_details\": {\"reasoning_tokens\": 0}\n"
    "  },\n  \"service_tier\": \"default\",\n"
    "  \"system_fingerprint\": \"fp_fc9f1d7035\"\n}\n";

#define OA_BODY(message, finish) "{\"id\":\"chatcmpl-1\",\"object\":" \
	"\"chat.completion\",\"created\":1741570283,\"model\":\"gpt-4o\"," \
	"\"choices\":[{\"index\":0,\"message\":" message ",\"logprobs\":null," \
	"\"finish_reason\":\"" finish "\"}],\"usage\":{\"prompt_tokens\":82," \
	"\"completion_tokens\":17,\"total_tokens\":99}}"

static const char an_body[] =
    "{\"id\":\"msg_01Aq9w938a90dw8q\",\"type\":\"message\",\"role\":"
    "\"assistant\",\"model\":\"claude-3-5-sonnet-20241022\",\"content\":["
    "{\"type\":\"text\",\"text\":\"I'll check the weather.\"},"
    "{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\","
    "\"name\":\"get_weather\",\"input\":{\"location\":\"San Francisco, CA\"}}"
    "],\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":"
    "{\"input_tokens\":2095,\"output_tokens\":503}}";

START_TEST(test_openai_body)
{
	struct run whole, r;

	run_str(&whole, DIALECT_OPENAI, false, oa_body);
	ck_assert(whole.a.done && whole.a.content && !whole.a.malformed);
	ck_assert_str_eq(text(&whole.a), "The image shows a wooden boardwalk.");
	ck_assert_str_eq(whole.a.finish, "stop");
	ck_assert(whole.a.usage);
	ck_assert_uint_eq(whole.a.in_tokens, 1117);
	ck_assert_uint_eq(whole.a.out_tokens, 46);
	ck_assert_uint_eq(whole.a.content_end, strlen(oa_body));
	ck_assert_uint_eq(whole.log.len, 0);	/* no events in a body */
	ck_assert_int_eq(verdict(&whole.a), AV_OK);
	run(&r, DIALECT_OPENAI, false, oa_body, strlen(oa_body), BYTES, NULL);
	assert_same(&whole.a, &r.a);
	run_free(&r);
	run_free(&whole);

	/* Not parsed until it ends. */
	run_start(&r, DIALECT_OPENAI, false);
	answer_feed(&r.a, oa_body, strlen(oa_body));
	ck_assert(!r.a.content && !r.a.done);
	ck_assert_int_eq(verdict(&r.a), AV_TRUNCATED);
	run_free(&r);
}
END_TEST

START_TEST(test_openai_body_kinds)
{
	struct run r;

	run_str(&r, DIALECT_OPENAI, false, OA_BODY("{\"role\":\"assistant\","
	    "\"content\":null,\"tool_calls\":[{\"id\":\"call_abc\",\"type\":"
	    "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
	    "\"{\\\"location\\\":\\\"Boston, MA\\\"}\"}}],\"refusal\":null}",
	    "tool_calls"));
	ck_assert(r.a.tool_call && r.a.content && !r.a.tool_args_bad);
	ck_assert_uint_eq(r.a.in_tokens, 82);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);

	run_str(&r, DIALECT_OPENAI, false, OA_BODY("{\"role\":\"assistant\","
	    "\"content\":null,\"tool_calls\":[{\"id\":\"call_abc\",\"type\":"
	    "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
	    "\"{\\\"location\\\":\\\"Bos\"}}]}", "tool_calls"));
	ck_assert_int_eq(verdict(&r.a), AV_TOOL_ARGS);
	run_free(&r);

	run_str(&r, DIALECT_OPENAI, false, OA_BODY("{\"role\":\"assistant\","
	    "\"content\":null,\"refusal\":\"I'm sorry, I cannot assist with "
	    "that request.\"}", "stop"));
	ck_assert(r.a.refusal && r.a.content);
	ck_assert_int_eq(verdict(&r.a), AV_REFUSAL);
	run_free(&r);

	run_str(&r, DIALECT_OPENAI, false, OA_BODY("{\"role\":\"assistant\","
	    "\"content\":\"\"}", "stop"));
	ck_assert(!r.a.content);
	ck_assert_int_eq(verdict(&r.a), AV_EMPTY);
	run_free(&r);

	run_str(&r, DIALECT_OPENAI, false, OA_BODY("{\"role\":\"assistant\","
	    "\"content\":\"The answer is\"}", "length"));
	ck_assert_int_eq(answer_verdict(&r.a, &(struct answer_want){
	    .forbid_length = true }), AV_LENGTH);
	run_free(&r);

	/* An error in a 200 answer, as some gateways send. */
	run_str(&r, DIALECT_OPENAI, false, "{\"error\":{\"message\":\"Upstream "
	    "timed out\",\"type\":\"server_error\",\"code\":502}}");
	ck_assert_int_eq(verdict(&r.a), AV_ERROR_EVENT);
	run_free(&r);
}
END_TEST

START_TEST(test_borrowed_body)
{
	struct run whole, r;

	/* The caller holds the body: it is counted, not copied, and read
	 * whole at the end to the same state. */
	run_str(&whole, DIALECT_OPENAI, false, oa_body);
	run_start(&r, DIALECT_OPENAI, false);
	r.a.borrowed = true;
	answer_feed(&r.a, oa_body, 10);
	answer_feed(&r.a, oa_body + 10, strlen(oa_body) - 10);
	ck_assert_uint_eq(r.a.body.len, 0);
	ck_assert_uint_eq(r.a.fed, strlen(oa_body));
	answer_end_body(&r.a, oa_body, strlen(oa_body));
	assert_same(&whole.a, &r.a);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);
	run_free(&whole);
}
END_TEST

/* A body the caller already built as a tree (a translated answer) is
 * read from the tree, to the state its bytes give, and its bytes are not
 * read again at the end. */
START_TEST(test_body_read_from_tree)
{
	struct run whole, r;
	json_t *j = json_loads(oa_body, 0, NULL);

	run_str(&whole, DIALECT_OPENAI, false, oa_body);
	run_start(&r, DIALECT_OPENAI, false);
	r.a.borrowed = true;
	answer_feed(&r.a, oa_body, strlen(oa_body));
	answer_read_tree(&r.a, j);
	json_decref(j);
	answer_end_body(&r.a, "not json", 8);
	assert_same(&whole.a, &r.a);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	run_free(&r);
	run_free(&whole);
}
END_TEST

START_TEST(test_anthropic_body)
{
	struct run whole, r;

	run_str(&whole, DIALECT_ANTHROPIC, false, an_body);
	ck_assert(whole.a.done && whole.a.content && whole.a.tool_call);
	ck_assert(!whole.a.tool_args_bad);
	ck_assert_str_eq(text(&whole.a), "I'll check the weather.");
	ck_assert_str_eq(whole.a.finish, "tool_use");
	ck_assert_uint_eq(whole.a.in_tokens, 2095);
	ck_assert_uint_eq(whole.a.out_tokens, 503);
	ck_assert_int_eq(verdict(&whole.a), AV_OK);
	run(&r, DIALECT_ANTHROPIC, false, an_body, strlen(an_body), BYTES,
	    NULL);
	assert_same(&whole.a, &r.a);
	run_free(&r);
	run_free(&whole);

	run_str(&r, DIALECT_ANTHROPIC, false, "{\"id\":\"msg_1\",\"type\":"
	    "\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
	    "\"text\",\"text\":\"Once upon\"}],\"stop_reason\":\"max_tokens\","
	    "\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}");
	ck_assert_int_eq(answer_verdict(&r.a, &(struct answer_want){
	    .forbid_length = true }), AV_LENGTH);
	run_free(&r);

	run_str(&r, DIALECT_ANTHROPIC, false, "{\"id\":\"msg_1\",\"type\":"
	    "\"message\",\"role\":\"assistant\",\"content\":[],\"stop_reason\":"
	    "\"end_turn\",\"usage\":{\"input_tokens\":5,\"output_tokens\":0}}");
	ck_assert_int_eq(verdict(&r.a), AV_EMPTY);
	run_free(&r);

	run_str(&r, DIALECT_ANTHROPIC, false, "{\"type\":\"error\",\"error\":"
	    "{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}");
	ck_assert_int_eq(verdict(&r.a), AV_ERROR_EVENT);
	run_free(&r);
}
END_TEST

START_TEST(test_body_malformed)
{
	static const char *bad[] = {
		"", "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"mess",
		"[]", "<html><body>502 Bad Gateway</body></html>",
		"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\"}",
	};
	char chunk[65536];
	struct answer a;
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_str(&r, i < 4 ? DIALECT_OPENAI : DIALECT_ANTHROPIC, false,
		    bad[i]);
		ck_assert_msg(verdict(&r.a) == AV_MALFORMED, "%s", bad[i]);
		run_free(&r);
	}
	/* Past the cap: no more is kept. */
	memset(chunk, ' ', sizeof(chunk));
	answer_init(&a, DIALECT_OPENAI, false);
	answer_feed(&a, "{", 1);
	for (i = 0; i <= ANSWER_BODY_MAX / sizeof(chunk); i++)
		answer_feed(&a, chunk, sizeof(chunk));
	ck_assert(a.malformed);
	ck_assert_uint_eq(a.body.cap, 0);
	answer_feed(&a, "}", 1);
	answer_end(&a);
	ck_assert_int_eq(answer_verdict(&a, NULL), AV_MALFORMED);
	answer_free(&a);
}
END_TEST

/* ---- estimates and provider errors ----------------------------------- */

START_TEST(test_estimates)
{
	json_t *req;

	ck_assert_uint_eq(answer_estimate_tokens(0), 0);
	ck_assert_uint_eq(answer_estimate_tokens(1), 1);
	ck_assert_uint_eq(answer_estimate_tokens(4), 1);
	ck_assert_uint_eq(answer_estimate_tokens(5), 2);
	ck_assert_uint_eq(answer_estimate_tokens(SIZE_MAX),
	    (uint64_t)(SIZE_MAX / 4) + 1);

	/* Strings: system 9; messages 4 + 11 + 9 + 4 + 2 = 30; tools
	 * 11 + 7 + 6 = 24: 63 bytes, 16 tokens, + 2 * 4 + 3. */
	req = json_loads("{\"model\":\"claude-3-5-sonnet-20241022\","
	    "\"max_tokens\":100,\"system\":\"Be brief.\",\"messages\":["
	    "{\"role\":\"user\",\"content\":\"Hello there\"},"
	    "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
	    "\"text\":\"Hi\"}]}],\"tools\":[{\"name\":\"get_weather\","
	    "\"description\":\"Weather\",\"input_schema\":{\"type\":"
	    "\"object\"}}]}", 0, NULL);
	ck_assert_ptr_nonnull(req);
	ck_assert_uint_eq(request_estimate_tokens(req), 27);
	json_decref(req);
	req = json_loads("{\"model\":\"gpt-4o\"}", 0, NULL);
	ck_assert_uint_eq(request_estimate_tokens(req), 3);
	json_decref(req);
	/* Each API's prompt, by its table: a Completions prompt of 40
	 * bytes, a Responses input and instructions of 40. */
	req = json_loads("{\"model\":\"m\",\"prompt\":\"0123456789"
	    "012345678901234567890123456789\"}", 0, NULL);
	ck_assert_uint_eq(request_estimate_tokens(req), 13);
	json_decref(req);
	req = json_loads("{\"model\":\"m\",\"instructions\":\"0123456789\","
	    "\"input\":[{\"role\":\"user\",\"content\":\"0123456789"
	    "0123456789012345\"}]}", 0, NULL);
	ck_assert_uint_eq(request_estimate_tokens(req), 13);
	/* The answer's cap, in each API's name for it. */
	ck_assert_uint_eq(request_max_tokens(req), 0);
	json_object_set_new(req, "max_output_tokens", json_integer(300));
	ck_assert_uint_eq(request_max_tokens(req), 300);
	json_decref(req);
	req = json_pack("{s:i, s:i}", "max_tokens", -1,
	    "max_completion_tokens", 50);
	ck_assert_uint_eq(request_max_tokens(req), 50);
	json_object_set_new(req, "max_tokens", json_integer(7));
	ck_assert_uint_eq(request_max_tokens(req), 7);
	json_decref(req);
}
END_TEST

/* JSON mode, in each API's words for it. */
START_TEST(test_wants_json)
{
	static const struct {
		const char	*req;
		bool		 json;
	} t[] = {
		{ "{\"response_format\":{\"type\":\"json_object\"}}", true },
		{ "{\"response_format\":{\"type\":\"text\"}}", false },
		{ "{\"text\":{\"format\":{\"type\":\"json_schema\"}}}", true },
		{ "{\"text\":{\"format\":{\"type\":\"text\"}}}", false },
		{ "{\"output_config\":{\"format\":{\"type\":"
		    "\"json_schema\"}}}", true },
		{ "{\"text\":\"json_schema\",\"response_format\":[]}", false },
		{ "{}", false },
	};
	size_t i;
	json_t *j;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		j = json_loads(t[i].req, 0, NULL);
		ck_assert_msg(request_wants_json(j) == t[i].json, "%s",
		    t[i].req);
		json_decref(j);
	}
}
END_TEST

static enum provider_error
pe(enum dialect d, int status, const char *body)
{
	return provider_error_kind(d, status, body, strlen(body));
}

START_TEST(test_provider_errors)
{
	static const char oa_context[] = "{\n  \"error\": {\n"
	    "    \"message\": \"This model's maximum context length is 128000 "
	    "tokens. However, your messages resulted in 130542 tokens. Please "
	    "reduce the length of the messages.\",\n"
	    "    \"type\": \"invalid_request_error\",\n"
	    "    \"param\": \"messages\",\n"
	    "    \"code\": \"context_length_exceeded\"\n  }\n}\n";
	static const char an_context[] = "{\"type\":\"error\",\"error\":"
	    "{\"type\":\"invalid_request_error\",\"message\":\"prompt is "
	    "too long: 208310 tokens > 200000 maximum\"}}";
	const enum dialect O = DIALECT_OPENAI, A = DIALECT_ANTHROPIC;

	ck_assert_int_eq(pe(O, 400, oa_context), PE_CONTEXT);
	/* A compatible server that has only the message. */
	ck_assert_int_eq(pe(O, 400, "{\"object\":\"error\",\"error\":{"
	    "\"message\":\"This model's maximum context length is 32768 tokens."
	    "\",\"type\":\"BadRequestError\",\"code\":400}}"), PE_CONTEXT);
	ck_assert_int_eq(pe(O, 400, "{\"error\":{\"message\":\"The response "
	    "was filtered due to the prompt triggering Azure OpenAI's content "
	    "management policy. Please modify your prompt and retry.\","
	    "\"type\":null,\"param\":\"prompt\",\"code\":\"content_filter\","
	    "\"status\":400}}"), PE_CONTENT_FILTER);
	ck_assert_int_eq(pe(O, 400, "{\"error\":{\"code\":"
	    "\"content_policy_violation\",\"message\":\"Your request was "
	    "rejected as a result of our safety system.\",\"param\":null,"
	    "\"type\":\"invalid_request_error\"}}"), PE_CONTENT_FILTER);
	ck_assert_int_eq(pe(O, 429, "{\"error\":{\"message\":\"Rate limit "
	    "reached for gpt-4o in organization org-abc on tokens per min.\","
	    "\"type\":\"tokens\",\"param\":null,\"code\":"
	    "\"rate_limit_exceeded\"}}"), PE_OTHER);

	ck_assert_int_eq(pe(A, 400, an_context), PE_CONTEXT);
	ck_assert_int_eq(pe(A, 413, an_context), PE_OTHER);
	ck_assert_int_eq(pe(A, 400, "{\"type\":\"error\",\"error\":{\"type\":"
	    "\"invalid_request_error\",\"message\":\"input length and "
	    "`max_tokens` exceed context limit: 198000 + 8192 > 200000, "
	    "decrease input length or `max_tokens` and try again\"}}"),
	    PE_CONTEXT);
	ck_assert_int_eq(pe(A, 400, "{\"type\":\"error\",\"error\":{\"type\":"
	    "\"invalid_request_error\",\"message\":\"Output blocked by content "
	    "filtering policy\"}}"), PE_CONTENT_FILTER);
	ck_assert_int_eq(pe(A, 529, "{\"type\":\"error\",\"error\":{\"type\":"
	    "\"overloaded_error\",\"message\":\"Overloaded\"}}"), PE_OTHER);
	/* Each reads its own dialect. */
	ck_assert_int_eq(pe(A, 400, "{\"error\":{\"code\":\"content_filter\","
	    "\"message\":\"filtered\"}}"), PE_OTHER);

	/* Gemini's OpenAI-compatible endpoint: an array of one error. */
	ck_assert_int_eq(pe(O, 400, "[{\"error\":{\"code\":400,\"message\":"
	    "\"The input token count (1200293) exceeds the maximum number of "
	    "tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}]"),
	    PE_CONTEXT);
	ck_assert_int_eq(pe(O, 400, "[{\"error\":{\"code\":400,\"message\":"
	    "\"Request contains an invalid argument.\",\"status\":"
	    "\"INVALID_ARGUMENT\"}}]"), PE_OTHER);
	ck_assert_int_eq(pe(O, 400, "[]"), PE_OTHER);
	ck_assert_int_eq(pe(O, 400, "[1, \"x\"]"), PE_OTHER);

	ck_assert_int_eq(pe(O, 502, "<html><body>502 Bad Gateway</body>"
	    "</html>"), PE_OTHER);
	ck_assert_int_eq(provider_error_kind(O, 500, NULL, 0), PE_OTHER);
	ck_assert_int_eq(provider_error_kind(O, 400, oa_context, 40), PE_OTHER);
	ck_assert_str_eq(provider_error_name(PE_CONTEXT), "context");
	ck_assert_str_eq(provider_error_name(PE_CONTENT_FILTER),
	    "content-filter");
}
END_TEST

/* ---- continuing a stream --------------------------------------------- */

struct cont_run {
	const struct answer	*prev;
	struct cont_state	 cs;
	const char		*src;	/* the continuation stream */
	struct buf		*out;	/* what the client sees */
	int			 dropped, forwarded, replaced;
};

static void
cont_event(void *arg, const char *event, const char *data, size_t start,
    size_t end)
{
	struct cont_run *c = arg;

	switch (answer_continue_event(c->prev, &c->cs, event, data, c->out)) {
	case AC_DROP:
		c->dropped++;
		break;
	case AC_FORWARD:
		c->forwarded++;
		ck_assert_int_eq(buf_add(c->out, c->src + start, end - start),
		    0);
		break;
	case AC_REPLACE:
		c->replaced++;
		break;
	case AC_ERROR:
		ck_abort_msg("continuation failed on %s", event);
	}
}

/* What a client checks of an Anthropic stream: blocks in order, one at
 * a time, deltas and stops for the open one, all closed at the end. */
struct blocks_check {
	int		 open, next;
	int		 starts;
};

static void
check_blocks(void *arg, const char *event, const char *data, size_t start,
    size_t end)
{
	struct blocks_check *bc = arg;
	json_t *j = json_loads(data, 0, NULL);
	json_int_t i;

	(void)start;
	(void)end;
	ck_assert_ptr_nonnull(j);
	i = json_integer_value(json_object_get(j, "index"));
	if (strcmp(event, "content_block_start") == 0) {
		ck_assert_int_eq(bc->open, -1);
		ck_assert_int_eq(i, bc->next);
		bc->open = (int)i;
		bc->next++;
		bc->starts++;
	} else if (strcmp(event, "content_block_delta") == 0) {
		ck_assert_int_eq(i, bc->open);
	} else if (strcmp(event, "content_block_stop") == 0) {
		ck_assert_int_eq(i, bc->open);
		bc->open = -1;
	} else if (strcmp(event, "message_start") == 0) {
		ck_assert_int_eq(bc->next, 0);
	} else if (strncmp(event, "message_", 8) == 0) {
		ck_assert_int_eq(bc->open, -1);
	}
	json_decref(j);
}

/* prev read first; then next, rewritten, appended to what prev sent:
 * the client's stream, in out. */
static void
continue_stream(enum dialect d, const char *first, const char *next,
    struct buf *out, struct cont_run *c, struct answer *prev)
{
	struct answer a;

	answer_init(prev, d, true);
	answer_feed(prev, first, strlen(first));
	buf_init(out, 1u << 20);
	ck_assert_int_eq(buf_add(out, first, prev->event_end), 0);
	memset(c, 0, sizeof(*c));
	c->prev = prev;
	c->src = next;
	c->out = out;
	answer_init(&a, d, true);
	a.on_event = cont_event;
	a.on_event_arg = c;
	feed(&a, next, strlen(next), BYTES, NULL);
	answer_end(&a);
	ck_assert(a.done && !a.malformed);
	answer_free(&a);
}

/* The client's whole stream, read as a client would. */
static void
read_client(const struct buf *out, struct answer *a)
{
	struct blocks_check bc = { .open = -1 };

	answer_init(a, DIALECT_ANTHROPIC, true);
	a->on_event = check_blocks;
	a->on_event_arg = &bc;
	answer_feed(a, out->data, out->len);
	answer_end(a);
	ck_assert_int_eq(bc.starts, a->blocks);
}

static int
count(const char *s, const char *needle)
{
	int n = 0;

	for (; (s = strstr(s, needle)) != NULL; s++)
		n++;
	return n;
}

START_TEST(test_continue_anthropic_merge)
{
	/* Cut inside the text block, after thinking. */
	static const char first[] = AN_START
	    AN_BSTART(0, "{\"type\":\"thinking\",\"thinking\":\"\"}")
	    AN_DELTA(0, "{\"type\":\"thinking_delta\",\"thinking\":\"Hm.\"}")
	    AN_BSTOP(0) AN_TEXT_START(1) AN_TEXT(1, "The weather in");
	/* The other provider, prefilled with "The weather in". */
	static const char next[] =
	    AN_EV("message_start", "{\"type\":\"message_start\",\"message\":"
	    "{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\","
	    "\"content\":[],\"usage\":{\"input_tokens\":40,"
	    "\"output_tokens\":1}}}")
	    AN_TEXT_START(0) AN_PING AN_TEXT(0, " Paris is sunny.")
	    AN_BSTOP(0)
	    AN_BSTART(1, "{\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":"
	    "\"get_forecast\",\"input\":{}}")
	    AN_JSON(1, "{\\\"city\\\": \\\"Paris\\\"}") AN_BSTOP(1)
	    AN_MDELTA("tool_use", 20) AN_STOP;
	struct answer prev, client;
	struct cont_run c;
	struct buf out;

	continue_stream(DIALECT_ANTHROPIC, first, next, &out, &c, &prev);
	ck_assert_int_eq(prev.blocks, 2);
	ck_assert_int_eq(prev.open_block, 1);
	ck_assert(prev.open_text);
	ck_assert(c.cs.merged && !c.cs.closed_prev);
	ck_assert_int_eq(c.dropped, 3);	/* message_start, start, ping */
	ck_assert_int_eq(count(out.data, "message_start"), 2); /* 1 event */
	ck_assert_ptr_nonnull(strstr(out.data, "event: content_block_delta\n"
	    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
	    "{\"type\":\"text_delta\",\"text\":\" Paris is sunny.\"}}\n\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\"type\":"
	    "\"content_block_start\",\"index\":2,\"content_block\":"
	    "{\"type\":\"tool_use\""));
	ck_assert_ptr_nonnull(strstr(out.data, "{\"type\":"
	    "\"content_block_stop\",\"index\":2}"));
	read_client(&out, &client);
	ck_assert(!client.malformed);
	ck_assert_str_eq(text(&client), "The weather in Paris is sunny.");
	ck_assert_int_eq(client.blocks, 3);
	ck_assert(client.tool_call && !client.tool_args_bad);
	ck_assert_str_eq(client.finish, "tool_use");
	ck_assert_int_eq(answer_verdict(&client, NULL), AV_OK);
	answer_free(&client);
	answer_free(&prev);
	buf_free(&out);
}
END_TEST

START_TEST(test_continue_trims_openai_first_text)
{
	/* An OpenAI caller's prefix went to an Anthropic target without its
	 * blank: the first content chunk gives it back, and loses it. */
	static const char first[] = OA_ROLE OA_CHUNK("{\"content\":\"one \"}",
	    "null");
	struct cont_state cs = { .trim = 1 };
	struct answer prev;
	struct buf out;

	answer_init(&prev, DIALECT_OPENAI, true);
	answer_feed(&prev, first, strlen(first));
	buf_init(&out, 1u << 20);
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "message",
	    "{\"choices\":[{\"index\":0,\"delta\":{\"role\":"
	    "\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}",
	    &out), AC_DROP);
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "message",
	    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"  two\"},"
	    "\"finish_reason\":null}]}", &out), AC_REPLACE);
	ck_assert_uint_eq(cs.trim, 0);
	ck_assert_ptr_nonnull(strstr(out.data, "\"content\":\" two\""));
	ck_assert(strncmp(out.data, "data: {", 7) == 0);
	ck_assert(out.len > 2 && strcmp(out.data + out.len - 2, "\n\n") == 0);
	/* Later chunks go as they are. */
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "message",
	    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" three\"},"
	    "\"finish_reason\":null}]}", &out), AC_FORWARD);
	answer_free(&prev);
	buf_free(&out);
}
END_TEST

/* The usage a continuation reports counts the output before it too. */
START_TEST(test_continue_usage)
{
	static const char oa[] = OA_ROLE OA_CHUNK("{\"content\":\"one\"}",
	    "null");
	static const char an[] = AN_START AN_TEXT_START(0) AN_TEXT(0, "one");
	struct cont_state cs = { .out_before = 2 };
	struct answer prev;
	struct buf out;

	answer_init(&prev, DIALECT_OPENAI, true);
	answer_feed(&prev, oa, strlen(oa));
	buf_init(&out, 1u << 20);
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "message",
	    "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
	    "\"completion_tokens\":5,\"total_tokens\":17}}", &out),
	    AC_REPLACE);
	ck_assert_ptr_nonnull(strstr(out.data, "\"completion_tokens\":7"));
	ck_assert_ptr_nonnull(strstr(out.data, "\"total_tokens\":19"));
	ck_assert_ptr_nonnull(strstr(out.data, "\"prompt_tokens\":12"));
	/* A chunk without usage goes as it is. */
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "message",
	    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" two\"},"
	    "\"finish_reason\":null}],\"usage\":null}", &out), AC_FORWARD);
	answer_free(&prev);

	buf_reset(&out);
	memset(&cs, 0, sizeof(cs));
	cs.out_before = 2;
	answer_init(&prev, DIALECT_ANTHROPIC, true);
	answer_feed(&prev, an, strlen(an));
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "message_delta",
	    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
	    "\"end_turn\",\"stop_sequence\":null},\"usage\":"
	    "{\"output_tokens\":5}}", &out), AC_REPLACE);
	/* prev's open block is closed first, then the usage counts 7. */
	ck_assert(strncmp(out.data, "event: content_block_stop\n", 26) == 0);
	ck_assert_ptr_nonnull(strstr(out.data, "event: message_delta\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\"output_tokens\":7"));
	answer_free(&prev);
	buf_free(&out);
}
END_TEST

START_TEST(test_continue_trims_first_text)
{
	/* The prefix "one two " went up as "one two": the continuation's
	 * first text gives the blank back, and only that one blank goes. */
	static const char first[] = AN_START AN_TEXT_START(0)
	    AN_TEXT(0, "one two ");
	struct cont_state cs = { .trim = 1 };
	struct answer prev;
	struct buf out;

	answer_init(&prev, DIALECT_ANTHROPIC, true);
	answer_feed(&prev, first, strlen(first));
	buf_init(&out, 1u << 20);
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "content_block_start",
	    "{\"type\":\"content_block_start\",\"index\":0,"
	    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}", &out),
	    AC_DROP);
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "content_block_delta",
	    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
	    "{\"type\":\"text_delta\",\"text\":\"  three\"}}", &out),
	    AC_REPLACE);
	ck_assert_uint_eq(cs.trim, 0);
	ck_assert_ptr_nonnull(strstr(out.data, "\"text\":\" three\""));
	/* Later text is left alone. */
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "content_block_delta",
	    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
	    "{\"type\":\"text_delta\",\"text\":\" four\"}}", &out),
	    AC_REPLACE);
	ck_assert_ptr_nonnull(strstr(out.data, "\"text\":\" four\""));
	answer_free(&prev);
	buf_free(&out);
}
END_TEST

START_TEST(test_continue_anthropic_close)
{
	/* Cut inside a thinking block: it cannot take the new text. */
	static const char first[] = AN_START
	    AN_BSTART(0, "{\"type\":\"thinking\",\"thinking\":\"\"}")
	    AN_DELTA(0, "{\"type\":\"thinking_delta\",\"thinking\":\"Hm.\"}");
	static const char next[] = AN_START AN_TEXT_START(0)
	    AN_TEXT(0, "Hi there.") AN_BSTOP(0) AN_MDELTA("end_turn", 3)
	    AN_STOP;
	/* Cut between blocks: nothing to close. */
	static const char between[] = AN_START AN_TEXT_START(0)
	    AN_TEXT(0, "One.") AN_BSTOP(0);
	/* Nothing new at all: prev's block still gets its stop. */
	static const char nothing[] = AN_START AN_MDELTA("end_turn", 0) AN_STOP;
	static const char open_text[] = AN_START AN_TEXT_START(0)
	    AN_TEXT(0, "Done.");
	struct answer prev, client;
	struct cont_run c;
	struct buf out;
	const char *stop, *start;

	continue_stream(DIALECT_ANTHROPIC, first, next, &out, &c, &prev);
	ck_assert(!c.cs.merged && c.cs.closed_prev);
	stop = strstr(out.data,
	    "{\"type\":\"content_block_stop\",\"index\":0}");
	start = strstr(out.data, "\"content_block_start\",\"index\":1,");
	ck_assert_ptr_nonnull(stop);
	ck_assert_ptr_nonnull(start);
	ck_assert(stop < start);
	read_client(&out, &client);
	ck_assert_str_eq(text(&client), "Hi there.");
	ck_assert_int_eq(client.blocks, 2);
	ck_assert_int_eq(answer_verdict(&client, NULL), AV_OK);
	answer_free(&client);
	answer_free(&prev);
	buf_free(&out);

	continue_stream(DIALECT_ANTHROPIC, between, next, &out, &c, &prev);
	ck_assert(!c.cs.merged && !c.cs.closed_prev);
	ck_assert_int_eq(count(out.data, "content_block_stop\n"), 2);
	read_client(&out, &client);
	ck_assert_str_eq(text(&client), "One.Hi there.");
	ck_assert_int_eq(client.blocks, 2);
	answer_free(&client);
	answer_free(&prev);
	buf_free(&out);

	continue_stream(DIALECT_ANTHROPIC, open_text, nothing, &out, &c, &prev);
	ck_assert(c.cs.closed_prev);
	read_client(&out, &client);
	ck_assert_str_eq(text(&client), "Done.");
	ck_assert_int_eq(client.open_block, -1);
	ck_assert_int_eq(answer_verdict(&client, NULL), AV_OK);
	answer_free(&client);
	answer_free(&prev);
	buf_free(&out);
}
END_TEST

/* A replacement that does not fit leaves out as it was. */
START_TEST(test_continue_error)
{
	static const char first[] = AN_START AN_TEXT_START(0) AN_TEXT(0, "A");
	struct cont_state cs = { 0 };
	struct answer prev;
	struct buf out;

	answer_init(&prev, DIALECT_ANTHROPIC, true);
	answer_feed(&prev, first, strlen(first));
	/* Room for prev's block stop, not for the start after it. */
	buf_init(&out, 128);
	ck_assert_int_eq(buf_addstr(&out, "kept"), 0);
	ck_assert_int_eq(answer_continue_event(&prev, &cs,
	    "content_block_start", "{\"type\":\"content_block_start\","
	    "\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":"
	    "\"toolu_1\",\"name\":\"x\",\"input\":{}}}", &out), AC_ERROR);
	ck_assert_str_eq(out.data, "kept");
	ck_assert(!cs.closed_prev);
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "error",
	    "{\"type\":\"error\",\"error\":{\"type\":\"api_error\"}}", &out),
	    AC_FORWARD);
	buf_free(&out);
	answer_free(&prev);
}
END_TEST

START_TEST(test_continue_openai)
{
	static const char first[] = OA_ROLE
	    OA_CHUNK("{\"content\":\"Hello\"}", "null");
	static const char next[] = OA_ROLE
	    OA_CHUNK("{\"content\":\" wor\"}", "null")
	    OA_CHUNK("{\"content\":\"ld\"}", "null")
	    OA_CHUNK("{}", "\"stop\"") OA_USAGE OA_DONE;
	struct answer prev, client;
	struct cont_run c;
	struct cont_state cs = { 0 };
	struct buf out;

	continue_stream(DIALECT_OPENAI, first, next, &out, &c, &prev);
	ck_assert_int_eq(c.dropped, 1);
	ck_assert_int_eq(c.forwarded, 5);
	ck_assert_int_eq(c.replaced, 0);
	ck_assert_int_eq(count(out.data, "\"role\""), 1);
	answer_init(&client, DIALECT_OPENAI, true);
	answer_feed(&client, out.data, out.len);
	answer_end(&client);
	ck_assert_str_eq(text(&client), "Hello world");
	ck_assert_int_eq(answer_verdict(&client, NULL), AV_OK);
	answer_free(&client);
	/* A first chunk with text in it is kept. */
	ck_assert_int_eq(answer_continue_event(&prev, &cs, "message",
	    "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
	    "\"content\":\"Hi\"},\"finish_reason\":null}]}", &out),
	    AC_FORWARD);
	answer_free(&prev);
	buf_free(&out);
}
END_TEST

/* A Responses stream continued elsewhere is one Response: the
 * continuation's start and message opening go (prev's stand for them),
 * its events name prev's message and are numbered on, and its end has
 * prev's id and the whole text. */
#define RE(type, seq, rest) "event: " type "\ndata: {\"type\":\"" type "\"," \
	"\"sequence_number\":" #seq rest "}\n\n"
#define RE_START(id, msg) \
	RE("response.created", 0, ",\"response\":{\"id\":\"" id "\"," \
	    "\"status\":\"in_progress\",\"output\":[]}") \
	RE("response.in_progress", 1, ",\"response\":{\"id\":\"" id "\"," \
	    "\"status\":\"in_progress\",\"output\":[]}") \
	RE("response.output_item.added", 2, ",\"output_index\":0,\"item\":{" \
	    "\"type\":\"message\",\"id\":\"" msg "\",\"content\":[]}") \
	RE("response.content_part.added", 3, ",\"item_id\":\"" msg "\"," \
	    "\"output_index\":0,\"content_index\":0,\"part\":{\"type\":" \
	    "\"output_text\",\"text\":\"\"}")
#define RE_DELTA(seq, msg, d) RE("response.output_text.delta", seq, \
	",\"item_id\":\"" msg "\",\"output_index\":0,\"content_index\":0," \
	"\"delta\":\"" d "\"")
START_TEST(test_continue_responses)
{
	static const char first[] = RE_START("resp_1", "msg_1")
	    RE_DELTA(4, "msg_1", "one ");
	static const char next[] = RE_START("resp_2", "msg_2")
	    RE_DELTA(4, "msg_2", "two")
	    RE("response.output_text.done", 5, ",\"item_id\":\"msg_2\","
	    "\"output_index\":0,\"content_index\":0,\"text\":\"two\"")
	    RE("response.completed", 6, ",\"response\":{\"id\":\"resp_2\","
	    "\"status\":\"completed\",\"output\":[{\"type\":\"message\","
	    "\"id\":\"msg_2\",\"content\":[{\"type\":\"output_text\","
	    "\"text\":\"two\"}]}],\"usage\":{\"input_tokens\":3,"
	    "\"output_tokens\":1,\"total_tokens\":4}}");
	struct answer prev, client;
	struct cont_run c;
	struct buf out;

	continue_stream(DIALECT_OPENAI_RESPONSES, first, next, &out, &c,
	    &prev);
	ck_assert_int_eq(c.dropped, 4);
	ck_assert_int_eq(c.replaced, 3);
	ck_assert_int_eq(count(out.data, "response.created"), 2);
	ck_assert_int_eq(count(out.data, "resp_2"), 0);
	ck_assert_int_eq(count(out.data, "msg_2"), 0);
	ck_assert_ptr_nonnull(strstr(out.data, "\"sequence_number\":5,"
	    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
	    "\"delta\":\"two\"}"));
	ck_assert_ptr_nonnull(strstr(out.data, "\"sequence_number\":6,"
	    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
	    "\"text\":\"one two\"}"));
	ck_assert_ptr_nonnull(strstr(out.data, "\"sequence_number\":7,"
	    "\"response\":{\"id\":\"resp_1\",\"status\":\"completed\","
	    "\"output\":[{\"type\":\"message\",\"id\":\"msg_1\","
	    "\"content\":[{\"type\":\"output_text\",\"text\":"
	    "\"one two\"}]}]"));
	answer_init(&client, DIALECT_OPENAI_RESPONSES, true);
	answer_feed(&client, out.data, out.len);
	answer_end(&client);
	ck_assert_str_eq(text(&client), "one two");
	ck_assert_int_eq(answer_verdict(&client, NULL), AV_OK);
	ck_assert_uint_eq(client.seq_next, 8);
	answer_free(&client);
	answer_free(&prev);
	buf_free(&out);
}
END_TEST

/* Responses (api_openai_responses.c), read natively: a whole Response
 * and its typed events. */
START_TEST(test_responses_reader)
{
	static const char whole[] = "{\"id\":\"resp_1\",\"object\":"
	    "\"response\",\"status\":\"completed\",\"error\":null,"
	    "\"output\":[{\"type\":\"message\",\"content\":[{\"type\":"
	    "\"output_text\",\"text\":\"Hi\"}]},{\"type\":"
	    "\"function_call\",\"call_id\":\"c\",\"name\":\"f\","
	    "\"arguments\":\"{}\"}],\"usage\":{\"input_tokens\":3,"
	    "\"output_tokens\":2}}";
	static const char stream[] =
	    "event: response.created\ndata: {\"type\":\"response.created\","
	    "\"response\":{\"status\":\"in_progress\",\"output\":[]}}\n\n"
	    "event: response.output_text.delta\ndata: {\"type\":"
	    "\"response.output_text.delta\",\"output_index\":0,\"delta\":"
	    "\"Hel\"}\n\n"
	    "event: response.output_text.delta\ndata: {\"type\":"
	    "\"response.output_text.delta\",\"output_index\":0,\"delta\":"
	    "\"lo\"}\n\n"
	    "event: response.incomplete\ndata: {\"type\":"
	    "\"response.incomplete\",\"response\":{\"status\":"
	    "\"incomplete\",\"incomplete_details\":{\"reason\":"
	    "\"max_output_tokens\"},\"usage\":{\"input_tokens\":4,"
	    "\"output_tokens\":9}}}\n\n";
	const struct answer_want forbid = { .forbid_length = true };
	struct run r;

	run_str(&r, DIALECT_OPENAI_RESPONSES, false, whole);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	ck_assert_str_eq(text(&r.a), "Hi");
	ck_assert(r.a.tool_call);
	ck_assert_uint_eq(r.a.out_tokens, 2);
	run_free(&r);

	run_str(&r, DIALECT_OPENAI_RESPONSES, true, stream);
	ck_assert(r.a.done);
	ck_assert_str_eq(text(&r.a), "Hello");
	ck_assert_str_eq(r.a.finish, "max_output_tokens");
	ck_assert_int_eq(answer_verdict(&r.a, &forbid), AV_LENGTH);
	ck_assert_uint_eq(r.a.out_tokens, 9);
	run_free(&r);

	/* No end event: truncated. */
	run_str(&r, DIALECT_OPENAI_RESPONSES, true, "event: "
	    "response.output_text.delta\ndata: {\"type\":"
	    "\"response.output_text.delta\",\"delta\":\"x\"}\n\n");
	ck_assert_int_eq(verdict(&r.a), AV_TRUNCATED);
	run_free(&r);
}
END_TEST

/* Completions (api_openai_completions.c), read natively: a whole
 * text_completion, its chunks and [DONE]; a request's path is its. */
START_TEST(test_completions_reader)
{
	static const char whole[] = "{\"id\":\"cmpl-1\",\"object\":"
	    "\"text_completion\",\"created\":1,\"model\":\"m\","
	    "\"choices\":[{\"text\":\"Hi\",\"index\":0,\"logprobs\":null,"
	    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,"
	    "\"completion_tokens\":2,\"total_tokens\":5}}";
	static const char stream[] =
	    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\","
	    "\"choices\":[{\"text\":\"Hel\",\"index\":0,\"logprobs\":null,"
	    "\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\","
	    "\"choices\":[{\"text\":\"lo\",\"index\":0,\"logprobs\":null,"
	    "\"finish_reason\":\"length\"}]}\n\n"
	    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\","
	    "\"choices\":[],\"usage\":{\"prompt_tokens\":4,"
	    "\"completion_tokens\":9,\"total_tokens\":13}}\n\n"
	    "data: [DONE]\n\n";
	const struct answer_want forbid = { .forbid_length = true };
	struct run r;

	ck_assert_ptr_eq(api_of_request("POST", "/v1/completions"),
	    &api_openai_completions);
	ck_assert_ptr_eq(api_of_request("POST", "/v1/chat/completions"),
	    &api_openai_chat);
	run_str(&r, DIALECT_OPENAI_COMPLETIONS, false, whole);
	ck_assert_int_eq(verdict(&r.a), AV_OK);
	ck_assert_str_eq(text(&r.a), "Hi");
	ck_assert_uint_eq(r.a.out_tokens, 2);
	run_free(&r);

	run_str(&r, DIALECT_OPENAI_COMPLETIONS, true, stream);
	ck_assert(r.a.done);
	ck_assert_str_eq(text(&r.a), "Hello");
	ck_assert_int_eq(answer_verdict(&r.a, &forbid), AV_LENGTH);
	ck_assert_uint_eq(r.a.in_tokens, 4);
	ck_assert_uint_eq(r.a.out_tokens, 9);
	run_free(&r);

	/* No [DONE]: truncated. */
	run_str(&r, DIALECT_OPENAI_COMPLETIONS, true, "data: {\"choices\":"
	    "[{\"text\":\"x\",\"index\":0}]}\n\n");
	ck_assert_int_eq(verdict(&r.a), AV_TRUNCATED);
	run_free(&r);
}
END_TEST

/* Embeddings (api_openai_embeddings.c): a vector is content, floats or
 * base64; an empty list or an empty vector is none; anything else is
 * malformed; the usage is the prompt's. */
START_TEST(test_embeddings_bodies)
{
	static const struct {
		const char		*body;
		enum answer_verdict	 v;
	} c[] = {
		{ "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
		    "\"index\":0,\"embedding\":[0.1,0.2]}],\"model\":\"m\","
		    "\"usage\":{\"prompt_tokens\":4,\"total_tokens\":4}}",
		    AV_OK },
		{ "{\"object\":\"list\",\"data\":[{\"index\":0,"
		    "\"embedding\":\"AAAAPw==\"}]}", AV_OK },
		{ "{\"object\":\"list\",\"data\":[]}", AV_EMPTY },
		{ "{\"object\":\"list\",\"data\":[{\"embedding\":[]}]}",
		    AV_EMPTY },
		{ "{\"object\":\"list\"}", AV_MALFORMED },
		{ "{\"data\":[{\"embedding\":7}]}", AV_MALFORMED },
		{ "{\"error\":{\"message\":\"no\",\"type\":\"x\"}}",
		    AV_ERROR_EVENT },
	};
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		run_str(&r, DIALECT_OPENAI_EMBEDDINGS, false, c[i].body);
		ck_assert_msg(verdict(&r.a) == c[i].v, "case %zu: %s", i,
		    answer_verdict_name(verdict(&r.a)));
		if (i == 0) {
			ck_assert(r.a.usage);
			ck_assert_uint_eq(r.a.in_tokens, 4);
			ck_assert_uint_eq(r.a.out_tokens, 0);
		}
		run_free(&r);
	}
	/* It has no streams. */
	run_str(&r, DIALECT_OPENAI_EMBEDDINGS, true, "data: {}\n\n");
	ck_assert_int_eq(verdict(&r.a), AV_MALFORMED);
	run_free(&r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("answer");
	TCase *streams = tcase_create("streams");
	TCase *verdicts = tcase_create("verdicts");
	TCase *bodies = tcase_create("bodies");
	TCase *errors = tcase_create("errors");
	TCase *cont = tcase_create("continue");
	SRunner *sr;
	int failed, n = sizeof(transcripts) / sizeof(transcripts[0]);

	tcase_set_timeout(streams, 60);
	tcase_add_test(streams, test_openai_stream);
	tcase_add_test(streams, test_anthropic_stream);
	tcase_add_loop_test(streams, test_any_chunking, 0, n);
	tcase_add_loop_test(streams, test_line_ends, 0, n);
	tcase_add_test(streams, test_first_content_offset);
	tcase_add_test(streams, test_event_offsets);
	tcase_add_test(streams, test_event_state);
	tcase_add_test(streams, test_sse_fields);
	tcase_add_test(streams, test_event_cap);
	tcase_add_test(streams, test_text_cap);
	tcase_add_test(streams, test_after_end);
	suite_add_tcase(s, streams);

	tcase_add_test(verdicts, test_truncated);
	tcase_add_test(verdicts, test_malformed_event);
	tcase_add_test(verdicts, test_error_event);
	tcase_add_test(verdicts, test_refusal);
	tcase_add_test(verdicts, test_ending_offsets);
	tcase_add_test(verdicts, test_empty);
	tcase_add_test(verdicts, test_want_json);
	tcase_add_test(verdicts, test_length);
	tcase_add_test(verdicts, test_verdict_order);
	tcase_add_test(verdicts, test_openai_tool_calls);
	tcase_add_test(verdicts, test_anthropic_tool_use);
	suite_add_tcase(s, verdicts);

	tcase_set_timeout(bodies, 60);
	tcase_add_test(bodies, test_openai_body);
	tcase_add_test(bodies, test_openai_body_kinds);
	tcase_add_test(bodies, test_anthropic_body);
	tcase_add_test(bodies, test_borrowed_body);
	tcase_add_test(bodies, test_body_malformed);
	suite_add_tcase(s, bodies);

	tcase_add_test(errors, test_estimates);
	tcase_add_test(errors, test_wants_json);
	tcase_add_test(errors, test_provider_errors);
	suite_add_tcase(s, errors);

	tcase_add_test(cont, test_continue_anthropic_merge);
	tcase_add_test(cont, test_continue_anthropic_close);
	tcase_add_test(cont, test_continue_trims_first_text);
	tcase_add_test(cont, test_continue_trims_openai_first_text);
	tcase_add_test(cont, test_continue_error);
	tcase_add_test(cont, test_continue_openai);
	tcase_add_test(cont, test_continue_responses);
	tcase_add_test(cont, test_continue_usage);
	tcase_add_test(bodies, test_embeddings_bodies);
	tcase_add_test(bodies, test_responses_reader);
	tcase_add_test(bodies, test_completions_reader);
	tcase_add_test(bodies, test_body_read_from_tree);
	suite_add_tcase(s, cont);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
