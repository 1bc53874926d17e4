#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "dialect_stream.h"

/* ---- golden cases ------------------------------------------------------ */

/* tests/golden/dialect-stream/NAME.json holds the case's dialect_info
 * ("from" the caller's dialect, "to" the target's), NAME.in.sse what the
 * target streams and NAME.out.sse what the caller must get, to the byte.
 * With LLMFB_GOLDEN_UPDATE set, the .out.sse files are written instead of
 * compared (then read them before committing them). */
#define GOLDEN_DIR_DEFAULT	"tests/golden/dialect-stream"
#define GOLDEN_MIN		16
#define GOLDEN_MAX		64
#define FILE_MAX		(1u << 20)

struct gcase {
	char			 name[64];
	struct dialect_info	 info;
	struct buf		 in, out;
};

static struct gcase	 cases[GOLDEN_MAX];
static int		 ncases;
static char		 golden_dir[512];

static void
read_file(const char *name, const char *ext, struct buf *b, bool need)
{
	char path[1024], chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s%s", golden_dir, name, ext);
	buf_init(b, FILE_MAX);
	if ((f = fopen(path, "rb")) == NULL) {
		if (need || errno != ENOENT) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			exit(EXIT_FAILURE);
		}
		return;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(b, chunk, n) < 0) {
			fprintf(stderr, "%s: too big\n", path);
			exit(EXIT_FAILURE);
		}
	fclose(f);
}

static enum dialect
dialect_of(const json_t *j, const char *key, const char *name)
{
	const char *s = json_string_value(json_object_get(j, key));

	if (s != NULL && strcmp(s, "openai") == 0)
		return DIALECT_OPENAI;
	if (s != NULL && strcmp(s, "anthropic") == 0)
		return DIALECT_ANTHROPIC;
	fprintf(stderr, "%s: bad \"%s\"\n", name, key);
	exit(EXIT_FAILURE);
}

static void
load_case(const char *name)
{
	struct gcase *c = &cases[ncases++];
	char path[1024];
	json_t *j;

	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s.json", golden_dir, name);
	if ((j = json_load_file(path, 0, NULL)) == NULL) {
		fprintf(stderr, "%s: not JSON\n", path);
		exit(EXIT_FAILURE);
	}
	c->info.from = dialect_of(j, "from", path);
	c->info.to = dialect_of(j, "to", path);
	c->info.stream = true;
	c->info.include_usage = json_is_true(json_object_get(j,
	    "include_usage"));
	c->info.json_tool = json_is_true(json_object_get(j, "json_tool"));
	c->info.created = json_integer_value(json_object_get(j, "created"));
	json_decref(j);
	read_file(name, ".in.sse", &c->in, true);
	read_file(name, ".out.sse", &c->out, getenv("LLMFB_GOLDEN_UPDATE") ==
	    NULL);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
load_cases(void)
{
	const char *dir = getenv("LLMFB_GOLDEN_DIR");
	char *names[GOLDEN_MAX];
	struct dirent *de;
	size_t len;
	int i, n = 0;
	DIR *d;

	snprintf(golden_dir, sizeof(golden_dir), "%s",
	    dir != NULL ? dir : GOLDEN_DIR_DEFAULT);
	if ((d = opendir(golden_dir)) == NULL) {
		fprintf(stderr, "%s: %s\n", golden_dir, strerror(errno));
		exit(EXIT_FAILURE);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (n == GOLDEN_MAX || len - 5 >= sizeof(cases[0].name)) {
			fprintf(stderr, "%s: too many cases\n", golden_dir);
			exit(EXIT_FAILURE);
		}
		names[n++] = strndup(de->d_name, len - 5);
	}
	closedir(d);
	/* Sorted, so that a failing loop index names the same case. */
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	for (i = 0; i < n; i++) {
		load_case(names[i]);
		free(names[i]);
	}
	if (ncases < GOLDEN_MIN) {
		fprintf(stderr, "%s: %d cases, want %d at least\n", golden_dir,
		    ncases, GOLDEN_MIN);
		exit(EXIT_FAILURE);
	}
}

static void
free_cases(void)
{
	int i;

	for (i = 0; i < ncases; i++) {
		buf_free(&cases[i].in);
		buf_free(&cases[i].out);
	}
}

/* ---- feeding ----------------------------------------------------------- */

enum chunking { WHOLE, BYTES, RANDOM };

static uint32_t
xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* The stream in the caller's dialect (out is initialised here); returns
 * what the last feed returned. */
static int
translate(const struct dialect_info *info, const char *p, size_t len,
    enum chunking how, uint32_t *rnd, struct buf *out,
    struct dialect_stream *ret_s)
{
	struct dialect_stream s;
	size_t i = 0, n;
	int r = 0;

	dialect_stream_init(&s, info);
	buf_init(out, 1u << 24);
	while (i < len) {
		if (how == WHOLE)
			n = len;
		else if (how == BYTES)
			n = 1;
		else if ((n = xorshift(rnd) % 40) == 39)
			n = xorshift(rnd) % 600;
		if (n > len - i)
			n = len - i;
		r = dialect_stream_feed(&s, p + i, n, out);
		i += n;
	}
	dialect_stream_free(&s);
	if (ret_s != NULL)
		*ret_s = s;	/* its counters; its buffers are gone */
	return r;
}

static const char *
str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

static void
write_golden(const struct gcase *c, const struct buf *out)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.out.sse", golden_dir, c->name);
	ck_assert_ptr_nonnull(f = fopen(path, "wb"));
	ck_assert_uint_eq(fwrite(str(out), 1, out->len, f), out->len);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- what a stream says ------------------------------------------------ */

/* Its text and its tool calls, in either dialect, as one string. */
#define CALLS_MAX	16

struct digest {
	enum dialect	 d;
	bool		 json_tool;	/* the JSON tool's input is text */
	struct buf	 text;
	struct buf	 id[CALLS_MAX], name[CALLS_MAX], args[CALLS_MAX];
	int		 ncalls;
	int		 block;		/* Anthropic: the open tool block */
	int		 call;		/* ... its call; -1: the text */
};

static void
digest_event(void *arg, const char *event, const char *data, size_t len,
    size_t start, size_t end)
{
	struct digest *g = arg;
	json_t *j = json_loadb(data, len, 0, NULL), *tc, *d;
	const char *s;
	size_t i;
	int k;

	(void)event;
	(void)start;
	(void)end;
	if (g->d == DIALECT_OPENAI) {
		d = json_object_get(json_array_get(json_object_get(j,
		    "choices"), 0), "delta");
		if ((s = json_string_value(json_object_get(d, "content")))
		    != NULL)
			buf_addstr(&g->text, s);
		if ((s = json_string_value(json_object_get(d, "refusal")))
		    != NULL)
			buf_addstr(&g->text, s);
		json_array_foreach(json_object_get(d, "tool_calls"), i, tc) {
			k = (int)json_integer_value(json_object_get(tc,
			    "index"));
			ck_assert(k >= 0 && k < CALLS_MAX);
			if (k >= g->ncalls)
				g->ncalls = k + 1;
			if ((s = json_string_value(json_object_get(tc, "id")))
			    != NULL)
				buf_addstr(&g->id[k], s);
			d = json_object_get(tc, "function");
			if ((s = json_string_value(json_object_get(d,
			    "name"))) != NULL)
				buf_addstr(&g->name[k], s);
			if ((s = json_string_value(json_object_get(d,
			    "arguments"))) != NULL)
				buf_addstr(&g->args[k], s);
		}
	} else if ((s = json_string_value(json_object_get(j, "type"))) !=
	    NULL && strcmp(s, "content_block_start") == 0) {
		d = json_object_get(j, "content_block");
		g->block = -1;
		if ((s = json_string_value(json_object_get(d, "text"))) != NULL)
			buf_addstr(&g->text, s);
		s = json_string_value(json_object_get(d, "name"));
		if (s != NULL && g->json_tool && strcmp(s,
		    DIALECT_JSON_TOOL) == 0) {
			g->block = (int)json_integer_value(json_object_get(j,
			    "index"));
			g->call = -1;
		} else if (s != NULL) {
			ck_assert_int_lt(g->ncalls, CALLS_MAX);
			g->call = g->ncalls++;
			g->block = (int)json_integer_value(json_object_get(j,
			    "index"));
			buf_addstr(&g->id[g->call], json_string_value(
			    json_object_get(d, "id")));
			buf_addstr(&g->name[g->call], s);
		}
	} else if (s != NULL && strcmp(s, "content_block_delta") == 0) {
		d = json_object_get(j, "delta");
		if ((s = json_string_value(json_object_get(d, "text"))) != NULL)
			buf_addstr(&g->text, s);
		s = json_string_value(json_object_get(d, "partial_json"));
		if (s != NULL && json_integer_value(json_object_get(j,
		    "index")) == g->block)
			buf_addstr(g->call < 0 ? &g->text : &g->args[g->call],
			    s);
	}
	json_decref(j);
}

/* "" arguments are an empty input: "{}". */
static char *
digest(enum dialect d, bool json_tool, const struct buf *stream)
{
	struct digest g;
	struct sse sse;
	struct buf b;
	int i;

	memset(&g, 0, sizeof(g));
	g.d = d;
	g.json_tool = json_tool;
	g.block = -1;
	buf_init(&g.text, 1u << 24);
	for (i = 0; i < CALLS_MAX; i++) {
		buf_init(&g.id[i], 1u << 20);
		buf_init(&g.name[i], 1u << 20);
		buf_init(&g.args[i], 1u << 20);
	}
	sse_init(&sse, 1u << 24, digest_event, &g);
	sse_feed(&sse, str(stream), stream->len);
	sse_free(&sse);
	buf_init(&b, 1u << 24);
	buf_printf(&b, "text: %s\n", str(&g.text));
	for (i = 0; i < g.ncalls; i++)
		buf_printf(&b, "call: %s %s %s\n", str(&g.id[i]),
		    str(&g.name[i]), g.args[i].len > 0 ? str(&g.args[i]) :
		    "{}");
	buf_free(&g.text);
	for (i = 0; i < CALLS_MAX; i++) {
		buf_free(&g.id[i]);
		buf_free(&g.name[i]);
		buf_free(&g.args[i]);
	}
	return b.data;
}

/* As the daemon reads it. */
static void
judge(struct answer *a, enum dialect d, const struct buf *stream)
{
	answer_init(a, d, true);
	answer_feed(a, str(stream), stream->len);
	answer_end(a);
}

/* ---- (1) every case gives its golden bytes ----------------------------- */

START_TEST(test_golden)
{
	const struct gcase *c = &cases[_i];
	struct buf out;

	ck_assert_int_eq(translate(&c->info, str(&c->in), c->in.len, WHOLE,
	    NULL, &out, NULL), 0);
	if (getenv("LLMFB_GOLDEN_UPDATE") != NULL)
		write_golden(c, &out);
	else
		ck_assert_msg(out.len == c->out.len &&
		    memcmp(str(&out), str(&c->out), out.len) == 0,
		    "%s: got\n%s\nwant\n%s", c->name, str(&out), str(&c->out));
	buf_free(&out);
}
END_TEST

/* ---- (2) whatever the chunking ----------------------------------------- */

START_TEST(test_chunking)
{
	const struct gcase *c = &cases[_i];
	struct buf whole, out;
	uint32_t rnd = 0x9e3779b9u + (uint32_t)_i;
	int k;

	ck_assert_int_eq(translate(&c->info, str(&c->in), c->in.len, WHOLE,
	    NULL, &whole, NULL), 0);
	ck_assert_int_eq(translate(&c->info, str(&c->in), c->in.len, BYTES,
	    NULL, &out, NULL), 0);
	ck_assert_str_eq(str(&out), str(&whole));
	buf_free(&out);
	for (k = 0; k < 300; k++) {
		ck_assert_int_eq(translate(&c->info, str(&c->in), c->in.len,
		    RANDOM, &rnd, &out, NULL), 0);
		ck_assert_msg(out.len == whole.len && memcmp(str(&out),
		    str(&whole), out.len) == 0, "%s: split %d differs",
		    c->name, k);
		buf_free(&out);
	}
	buf_free(&whole);
}
END_TEST

/* ---- (3) the caller reads what the target said ------------------------- */

START_TEST(test_meaning)
{
	const struct gcase *c = &cases[_i];
	const struct dialect_info *info = &c->info;
	const char *want;
	struct dialect_stream s;
	struct answer in, out;
	struct buf o;
	char *din, *dout;

	ck_assert_int_eq(translate(info, str(&c->in), c->in.len, WHOLE, NULL,
	    &o, &s), 0);
	judge(&in, info->to, &c->in);
	judge(&out, info->from, &o);
	ck_assert(!in.malformed && !out.malformed);
	ck_assert_int_eq(out.done, in.done);
	ck_assert_int_eq(out.error_event, in.error_event);
	/* Cut short, a call is judged by OpenAI's rule (at the end) but not
	 * by Anthropic's (at its block's stop); truncated comes first. */
	if (in.done)
		ck_assert_int_eq(out.tool_args_bad, in.tool_args_bad);
	/* A refusal said in OpenAI text is said by the stop reason, which
	 * only the end brings. */
	ck_assert_int_eq(out.refusal, in.refusal && (in.done ||
	    info->to == DIALECT_ANTHROPIC));
	ck_assert_int_eq(answer_verdict(&out, NULL),
	    answer_verdict(&in, NULL));

	/* Text and tool calls, refusal text and the JSON tool included. */
	din = digest(info->to, info->json_tool, &c->in);
	dout = digest(info->from, false, &o);
	ck_assert_str_eq(dout, din);
	free(din);
	free(dout);
	if (info->json_tool) {
		ck_assert(in.tool_call && !out.tool_call);
	} else {
		ck_assert_int_eq(out.tool_call, in.tool_call);
		if (!in.refusal)
			ck_assert_str_eq(str(&out.text), str(&in.text));
	}

	want = in.finish[0] != '\0' ? dialect_finish(in.finish, info->to,
	    info->from) : "";
	if (info->json_tool && strcmp(in.finish, "tool_use") == 0)
		want = "stop";
	if (in.refusal && in.done && info->from == DIALECT_ANTHROPIC)
		want = "refusal";
	if (!in.done && info->to == DIALECT_OPENAI)
		want = "";	/* held until [DONE] */
	ck_assert_str_eq(out.finish, want);

	/* Usage, as the caller's dialect counts it. */
	if (info->from != info->to) {
		ck_assert_int_eq(s.usage, in.usage);
		ck_assert_uint_eq(s.out_tokens, in.out_tokens);
	}
	if (info->from == DIALECT_OPENAI && info->to == DIALECT_ANTHROPIC) {
		ck_assert_uint_ge(s.in_tokens, in.in_tokens);
		ck_assert_int_eq(out.usage, in.done && info->include_usage);
		if (out.usage) {
			ck_assert_uint_eq(out.in_tokens, s.in_tokens);
			ck_assert_uint_eq(out.out_tokens, in.out_tokens);
		}
	} else if (info->from == DIALECT_ANTHROPIC) {
		/* message_start says 0, message_delta the counts. */
		ck_assert_uint_eq(s.in_tokens, in.in_tokens);
		ck_assert_int_eq(out.usage,
		    strstr(str(&o), "message_start") != NULL);
		if (in.done && in.usage) {
			ck_assert_uint_eq(out.in_tokens,
			    in.in_tokens - s.cached_tokens);
			ck_assert_uint_eq(out.out_tokens, in.out_tokens);
		}
	}
	answer_free(&in);
	answer_free(&out);
	buf_free(&o);
}
END_TEST

/* ---- (4) there and back ------------------------------------------------ */

START_TEST(test_round_trip)
{
	const struct gcase *c = &cases[_i];
	struct dialect_info back = c->info;
	struct buf there, again;
	struct answer a, b;
	char *d0, *d1, *d2;

	ck_assert_int_eq(translate(&c->info, str(&c->in), c->in.len, WHOLE,
	    NULL, &there, NULL), 0);
	back.from = c->info.to;
	back.to = c->info.from;
	back.json_tool = false;
	back.include_usage = true;
	ck_assert_int_eq(translate(&back, str(&there), there.len, WHOLE, NULL,
	    &again, NULL), 0);
	d0 = digest(c->info.to, c->info.json_tool, &c->in);
	d1 = digest(c->info.from, false, &there);
	d2 = digest(c->info.to, false, &again);
	ck_assert_str_eq(d1, d0);
	ck_assert_str_eq(d2, d0);
	judge(&a, c->info.to, &c->in);
	judge(&b, c->info.to, &again);
	ck_assert_int_eq(b.done, a.done);
	ck_assert_int_eq(b.error_event, a.error_event);
	if (a.done)
		ck_assert_int_eq(b.tool_args_bad, a.tool_args_bad);
	if (!c->info.json_tool && !a.refusal)
		ck_assert_str_eq(str(&b.text), str(&a.text));
	answer_free(&a);
	answer_free(&b);
	free(d0);
	free(d1);
	free(d2);
	buf_free(&there);
	buf_free(&again);
}
END_TEST

/* ---- (5) what does not translate --------------------------------------- */

static const struct dialect_info an_to_oa = {
	.from = DIALECT_OPENAI, .to = DIALECT_ANTHROPIC, .stream = true,
	.include_usage = true, .created = 1741569952,
};
static const struct dialect_info oa_to_an = {
	.from = DIALECT_ANTHROPIC, .to = DIALECT_OPENAI, .stream = true,
	.created = 1741569952,
};

#define AN_START "event: message_start\ndata: {\"type\":\"message_start\"," \
	"\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":" \
	"\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":" \
	"{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
#define AN_TEXT "event: content_block_start\ndata: {\"type\":" \
	"\"content_block_start\",\"index\":0,\"content_block\":{\"type\":" \
	"\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: " \
	"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":" \
	"\"text_delta\",\"text\":\"Hi\"}}\n\n"
#define OA(delta) "data: {\"id\":\"c1\",\"model\":\"gpt\",\"choices\":[{" \
	"\"index\":0,\"delta\":" delta ",\"finish_reason\":null}]}\n\n"
#define OA_CALL(i, id) OA("{\"tool_calls\":[{\"index\":" #i ",\"id\":\"" \
	id "\",\"type\":\"function\",\"function\":{\"name\":\"f\"," \
	"\"arguments\":\"\"}}]}")
#define OA_FRAG(i) OA("{\"tool_calls\":[{\"index\":" #i ",\"function\":{" \
	"\"arguments\":\"{}\"}}]}")

/* Whole events, then -1 for good: later events, however good, give
 * nothing. */
static void
assert_fails(const struct dialect_info *info, const char *good,
    const char *bad, const char *after)
{
	struct dialect_stream s;
	struct buf out;
	size_t len;

	dialect_stream_init(&s, info);
	buf_init(&out, 1u << 20);
	ck_assert_int_eq(dialect_stream_feed(&s, good, strlen(good), &out), 0);
	len = out.len;
	ck_assert_int_eq(dialect_stream_feed(&s, bad, strlen(bad), &out), -1);
	ck_assert(s.failed);
	ck_assert_uint_eq(out.len, len);
	ck_assert_int_eq(dialect_stream_feed(&s, after, strlen(after), &out),
	    -1);
	ck_assert(s.failed);
	ck_assert_uint_eq(out.len, len);
	dialect_stream_free(&s);
	buf_free(&out);
}

START_TEST(test_errors)
{
	const char *oa_done = "data: [DONE]\n\n";
	const char *an_stop = "event: message_stop\ndata: {\"type\":"
	    "\"message_stop\"}\n\n";

	/* Data that is not JSON, or not an object. */
	assert_fails(&an_to_oa, AN_START, "event: content_block_delta\n"
	    "data: {\"type\":\"content_block_delta\",\"index\":0,\n\n",
	    an_stop);
	assert_fails(&an_to_oa, AN_START, "event: ping\ndata: [1]\n\n",
	    an_stop);
	assert_fails(&oa_to_an, OA("{\"content\":\"a\"}"),
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\n\n",
	    oa_done);
	assert_fails(&oa_to_an, "", "data: [DONE] \n\n", oa_done);
	/* Shapes the dialect does not have. */
	assert_fails(&an_to_oa, "", AN_TEXT, AN_START);
	assert_fails(&an_to_oa, AN_START, "event: content_block_start\n"
	    "data: {\"type\":\"content_block_start\",\"index\":-1,"
	    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	    an_stop);
	assert_fails(&an_to_oa, AN_START, "event: content_block_start\n"
	    "data: {\"type\":\"content_block_start\",\"index\":0,"
	    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\"}}\n\n",
	    an_stop);
	assert_fails(&an_to_oa, AN_START AN_TEXT, "event: content_block_delta\n"
	    "data: {\"type\":\"content_block_delta\",\"index\":0,"
	    "\"delta\":\"x\"}\n\n", an_stop);
	assert_fails(&oa_to_an, "", OA("{\"content\":[{\"type\":\"text\"}]}"),
	    oa_done);
	assert_fails(&oa_to_an, "", OA("[]"), oa_done);
	assert_fails(&oa_to_an, "", "data: {\"choices\":{}}\n\n", oa_done);
	assert_fails(&oa_to_an, "", "data: {\"choices\":[1]}\n\n", oa_done);
	assert_fails(&oa_to_an, "", OA("{\"tool_calls\":[1]}"), oa_done);
	/* Tool call fragments for a call that is not the open one. */
	assert_fails(&oa_to_an, OA_CALL(0, "a") OA_CALL(1, "b"), OA_FRAG(0),
	    oa_done);
	assert_fails(&oa_to_an, OA_CALL(0, "a"), OA_FRAG(1), oa_done);
	assert_fails(&oa_to_an, "", OA_FRAG(0), oa_done);
	assert_fails(&oa_to_an, OA_CALL(1, "a"), OA_CALL(0, "b"), oa_done);
	assert_fails(&oa_to_an, OA_CALL(0, "a") OA("{\"content\":\"x\"}"),
	    OA_FRAG(0), oa_done);
	assert_fails(&oa_to_an, OA_CALL(0, "a") OA("{\"content\":\"x\"}"),
	    OA_CALL(0, "b"), oa_done);
}
END_TEST

/* Not an error: a repeated id names the open call; an empty fragment or
 * an event of a later API says nothing. */
START_TEST(test_lenient)
{
	static const char in[] =
	    OA_CALL(0, "a") OA_CALL(0, "a") OA_FRAG(0)
	    OA("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
	    "\"\"}}]}")
	    "data: [DONE]\n\n";
	struct buf out;
	char *d;

	ck_assert_int_eq(translate(&oa_to_an, in, strlen(in), WHOLE, NULL,
	    &out, NULL), 0);
	d = digest(DIALECT_ANTHROPIC, false, &out);
	ck_assert_str_eq(d, "text: \ncall: a f {}\n");
	ck_assert_ptr_null(strstr(str(&out), "\"partial_json\":\"\""));
	free(d);
	buf_free(&out);
}
END_TEST

START_TEST(test_out_cap)
{
	const struct gcase *c = &cases[_i];
	struct dialect_stream s;
	struct buf out;
	size_t cap;

	/* Every cap below the whole output fails at an event boundary. */
	for (cap = 0; cap < c->out.len; cap += 1 + cap / 7) {
		dialect_stream_init(&s, &c->info);
		buf_init(&out, cap);
		ck_assert_int_eq(dialect_stream_feed(&s, str(&c->in),
		    c->in.len, &out), -1);
		ck_assert(s.failed);
		ck_assert_uint_le(out.len, cap);
		if (c->info.from != c->info.to) {
			ck_assert(out.len == 0 ||
			    strcmp(str(&out) + out.len - 2, "\n\n") == 0);
			ck_assert_int_eq(memcmp(str(&out), str(&c->out),
			    out.len), 0);
		}
		ck_assert_int_eq(dialect_stream_feed(&s, "", 0, &out), -1);
		dialect_stream_free(&s);
		buf_free(&out);
	}
}
END_TEST

START_TEST(test_oversize)
{
	struct dialect_stream s;
	struct buf out;
	size_t n = DIALECT_STREAM_EVENT_MAX + 10, i;
	char *big = malloc(n);

	ck_assert_ptr_nonnull(big);
	memcpy(big, "data: \"", 7);
	for (i = 7; i < n; i++)
		big[i] = 'x';
	dialect_stream_init(&s, &oa_to_an);
	buf_init(&out, 1u << 20);
	ck_assert_int_eq(dialect_stream_feed(&s, big, n, &out), -1);
	ck_assert(s.failed);
	ck_assert_uint_eq(out.len, 0);
	dialect_stream_free(&s);
	buf_free(&out);
	free(big);
}
END_TEST

/* ---- (6) whatever the bytes -------------------------------------------- */

static const char *const noise[] = {
	"\n", "\r", "\r\n", "\n\n", "{", "}", "[", "]", "\"", ":", ",", "null",
	"data: ", "event: ", "event: error\n", "data: [DONE]\n\n",
	"\"index\":", "\"index\":99,", "\"type\":\"tool_use\",",
	"\"type\":\"content_block_stop\",", "\"id\":\"x\",", "-1", "1e99",
	"\\u0000", "\xff", "\"error\":{},",
};

static void
mutate(struct buf *b, uint32_t *rnd)
{
	char twice[16];
	size_t at, n;
	const char *w;
	int k, times = 1 + (int)(xorshift(rnd) % 4);

	for (k = 0; k < times && b->len > 0; k++) {
		at = xorshift(rnd) % b->len;
		n = 1 + xorshift(rnd) % 16;
		if (n > b->len - at)
			n = b->len - at;
		switch (xorshift(rnd) % 5) {
		case 0:		/* cut the stream short */
			b->len = at;
			break;
		case 1:		/* flip a byte */
			b->data[at] ^= (char)(1u << (xorshift(rnd) % 8));
			break;
		case 2:		/* drop some */
			memmove(b->data + at, b->data + at + n,
			    b->len - at - n);
			b->len -= n;
			break;
		case 3:		/* say something twice */
			memcpy(twice, b->data + at, n);
			if (buf_add(b, twice, n) == 0) {
				memmove(b->data + at + n, b->data + at,
				    b->len - n - at);
			}
			break;
		default:	/* say something else */
			w = noise[xorshift(rnd) % (sizeof(noise) /
			    sizeof(noise[0]))];
			if (buf_add(b, w, strlen(w)) == 0) {
				memmove(b->data + at + strlen(w), b->data + at,
				    b->len - strlen(w) - at);
				memcpy(b->data + at, w, strlen(w));
			}
			break;
		}
		b->data[b->len] = '\0';
	}
}

START_TEST(test_fuzz)
{
	const struct gcase *c;
	struct answer a;
	struct buf in, out, whole;
	uint32_t rnd = 20240601;
	int k, r;

	for (k = 0; k < 2000; k++) {
		c = &cases[k % ncases];
		buf_init(&in, 1u << 22);
		ck_assert_int_eq(buf_add(&in, str(&c->in), c->in.len), 0);
		mutate(&in, &rnd);
		r = translate(&c->info, str(&in), in.len, RANDOM, &rnd, &out,
		    NULL);
		/* The same, whatever the cuts, right or wrong. */
		ck_assert_int_eq(translate(&c->info, str(&in), in.len, WHOLE,
		    NULL, &whole, NULL), r);
		ck_assert(whole.len == out.len &&
		    memcmp(str(&whole), str(&out), out.len) == 0);
		buf_free(&whole);
		/* Whatever came out is whole events of the caller's
		 * dialect, well formed. */
		if (c->info.from != c->info.to) {
			ck_assert(out.len == 0 ||
			    strcmp(str(&out) + out.len - 2, "\n\n") == 0);
			judge(&a, c->info.from, &out);
			ck_assert_msg(!a.malformed, "%s, mutation %d: r %d\n"
			    "%s\n->\n%s", c->name, k, r, str(&in), str(&out));
			answer_free(&a);
		}
		buf_free(&in);
		buf_free(&out);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dialect_stream");
	TCase *golden = tcase_create("golden");
	TCase *errors = tcase_create("errors");
	TCase *fuzz = tcase_create("fuzz");
	SRunner *sr;
	int failed;

	load_cases();
	tcase_set_timeout(golden, 120);
	tcase_add_loop_test(golden, test_golden, 0, ncases);
	tcase_add_loop_test(golden, test_chunking, 0, ncases);
	tcase_add_loop_test(golden, test_meaning, 0, ncases);
	tcase_add_loop_test(golden, test_round_trip, 0, ncases);
	suite_add_tcase(s, golden);

	tcase_add_test(errors, test_errors);
	tcase_add_test(errors, test_lenient);
	tcase_add_loop_test(errors, test_out_cap, 0, ncases);
	tcase_add_test(errors, test_oversize);
	suite_add_tcase(s, errors);

	tcase_set_timeout(fuzz, 300);
	tcase_add_test(fuzz, test_fuzz);
	suite_add_tcase(s, fuzz);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free_cases();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
