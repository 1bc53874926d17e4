/* call.c driven through its ladder with a fake upstream (fake_upstream.c):
 * the real data socket server and call on the daemon's own loop, a
 * client on a Unix socket, and scripted provider answers instead of a
 * network.  Each test says what the caller gets and what each rung was
 * sent. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "budget.h"
#include "config.h"
#include "daemon.h"
#include "fake_upstream.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "stats.h"
#include "upstream.h"

#define TURNS_MAX	2000

static struct daemon	 d;
static char		 dir[64];
static char		 sock[96];

static const char *const yaml_tail =
    "intercept: [api.openai.com, api.anthropic.com]\n"
    "breaker: { failures: 0, ratio: 0% }\n"
    "providers:\n"
    "  p1: { dialect: openai, base_url: \"http://p1.test/v1\" }\n"
    "  p2: { dialect: openai, base_url: \"http://p2.test/v1\" }\n"
    "  c1: { dialect: anthropic, base_url: \"http://c1.test/v1\" }\n"
    "  r1: { dialect: openai-responses, base_url: \"http://r1.test/v1\" }\n"
    "  k1: { dialect: openai-completions, base_url: \"http://k1.test/v1\" }\n"
    "targets:\n"
    "  k1: { provider: k1 }\n"
    "  p1: { provider: p1 }\n"
    "  p2: { provider: p2, model: backup-model }\n"
    "  c1: { provider: c1, model: claude-x }\n"
    "  r1: { provider: r1 }\n"
    "  r2: { provider: r1, model: gpt-r }\n"
    "  e1: { provider: p1, dimensions: 1536 }\n"
    "  e2: { provider: p2, model: small-768, dimensions: 768 }\n"
    "  e3: { provider: p2, model: big-1536, dimensions: 1536 }\n"
    "routes:\n"
    "  - name: two\n"
    "    match: { model: case-two }\n"
    "    ladder: [p1, p2]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: xlate\n"
    "    match: { model: case-xlate }\n"
    "    ladder: [p1, c1]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: back\n"
    "    match: { model: case-back }\n"
    "    ladder: [c1, p2]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: emb\n"
    "    match: { model: case-emb }\n"
    "    ladder: [e1, e2, c1, e3]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: to-resp\n"
    "    match: { model: case-to-resp }\n"
    "    ladder: [p1, r1]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: resp\n"
    "    match: { model: case-resp }\n"
    "    ladder: [r1, p1, p2]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: an-to-resp\n"
    "    match: { model: case-an-resp }\n"
    "    ladder: [c1, r2]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: resp-an\n"
    "    match: { model: case-resp-an }\n"
    "    ladder: [p1, c1]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: rcut\n"
    "    match: { model: case-rcut }\n"
    "    ladder: [p1, p2]\n"
    "    midstream: continue\n"
    "  - name: rerr\n"
    "    match: { model: case-rerr }\n"
    "    ladder: [p1, p2]\n"
    "  - name: cmpl\n"
    "    match: { model: case-cmpl }\n"
    "    ladder: [k1, p1, p2, c1]\n"
    "    attempts: { technical: 1 }\n"
    "  - name: hedge\n"
    "    match: { model: case-hedge }\n"
    "    ladder: [p1, p2]\n"
    "    attempts: { technical: 1 }\n"
    "    hedge: { after: 20ms, max_percent: 100 }\n"
    "  - name: hedge-cap\n"
    "    match: { model: case-hedge-cap }\n"
    "    ladder: [p1, p2]\n"
    "    attempts: { technical: 1 }\n"
    "    hedge: { after: 20ms, max_percent: 50% }\n"
    "  - name: hedge-late\n"
    "    match: { model: case-hedge-late }\n"
    "    ladder: [p1, p2]\n"
    "    attempts: { technical: 1 }\n"
    "    hedge: { after: 5s, max_percent: 100 }\n"
    "  - name: hedge-an\n"
    "    match: { model: case-hedge-an }\n"
    "    ladder: [c1, p2]\n"
    "    attempts: { technical: 1 }\n"
    "    hedge: { after: 20ms, max_percent: 100 }\n"
    "defaults:\n"
    "  retry_on: [429, 5xx, connect, timeout]\n"
    "  backoff: { base: 1ms, max: 1ms }\n";

static void
setup(void)
{
	char yaml[8192], err[CONFIG_ERR_MAX];

	log_init("check_call", LOG_LVL_ERR, false);
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/llmfb-check-call-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/data.sock", dir);
	snprintf(yaml, sizeof(yaml), "listen: %s\ncontrol: %s/control.sock\n"
	    "state_dir: %s\n%s", sock, dir, dir, yaml_tail);
	memset(&d, 0, sizeof(d));
	d.cfg = config_load_string("check_call.yaml", yaml, err, sizeof(err));
	if (d.cfg == NULL)
		ck_abort_msg("config: %s", err);
	ck_assert_ptr_nonnull(d.loop = loop_new());
	d.stats = stats_new();
	d.budgets = budgets_new();
	d.up = upstream_new(d.loop);
	d.server = server_new(&d, &daemon_server_ops, sock, 0600, -1);
	ck_assert_ptr_nonnull(d.server);
}

static void
teardown(void)
{
	int i;

	/* Let deferred frees run. */
	for (i = 0; i < 10; i++)
		loop_run_once(d.loop, 0);
	server_free(d.server);
	upstream_free(d.up);
	fake_reset();
	rmdir(dir);
}

struct reply {
	int	 status;
	char	 raw[65536];
	size_t	 len;
	char	*body;		/* into raw */
};

/* Whether raw holds a whole response: by Content-Length, or a chunked
 * body's last chunk. */
static bool
whole(struct reply *r)
{
	char *end = strstr(r->raw, "\r\n\r\n");
	const char *cl;

	if (end == NULL)
		return false;
	r->body = end + 4;
	if ((cl = strcasestr(r->raw, "\r\ncontent-length:")) != NULL &&
	    cl < end)
		return (size_t)(r->raw + r->len - r->body) >=
		    strtoul(cl + 17, NULL, 10);
	return strstr(r->body, "\r\n0\r\n\r\n") != NULL ||
	    strncmp(r->body, "0\r\n\r\n", 5) == 0;
}

/* Send one request, run the loop until its whole answer is back. */
static void
exchange(const char *path, const char *host, const char *body,
    struct reply *r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char req[8192];
	int fd, i, n;

	memset(r, 0, sizeof(*r));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0),
	    0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "X-Llmfb-Origin: https://%s:443\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    path, host, host, strlen(body), body);
	ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	for (i = 0; i < TURNS_MAX && !whole(r); i++) {
		ssize_t got;

		loop_run_once(d.loop, 5);
		while ((got = recv(fd, r->raw + r->len,
		    sizeof(r->raw) - 1 - r->len, 0)) > 0) {
			r->len += (size_t)got;
			r->raw[r->len] = '\0';
		}
	}
	close(fd);
	ck_assert_msg(whole(r), "no whole answer: %s", r->raw);
	r->status = atoi(r->raw + 9);
}

static bool
has_header(const struct reply *r, const char *line)
{
	return strcasestr(r->raw, line) != NULL &&
	    strcasestr(r->raw, line) < r->body;
}

#define OPENAI_OK(text) "{\"id\":\"c1\",\"object\":\"chat.completion\"," \
	"\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0," \
	"\"message\":{\"role\":\"assistant\",\"content\":\"" text "\"}," \
	"\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3," \
	"\"completion_tokens\":2,\"total_tokens\":5}}"
#define OPENAI_503 "{\"error\":{\"message\":\"overloaded\"," \
	"\"type\":\"server_error\",\"param\":null,\"code\":null}}"
#define ANTHROPIC_OK(text) "{\"id\":\"msg_1\",\"type\":\"message\"," \
	"\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":" \
	"[{\"type\":\"text\",\"text\":\"" text "\"}],\"stop_reason\":" \
	"\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":3," \
	"\"output_tokens\":2}}"
#define CHAT(model) "{\"model\":\"" model "\",\"messages\":[{\"role\":" \
	"\"user\",\"content\":\"hi\"}]}"

/* A 503 on the first rung: the second answers, with its own model. */
START_TEST(test_503_then_backup)
{
	static const struct fake_answer a[] = {
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, NULL, OPENAI_OK("from backup"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/chat/completions", "api.openai.com", CHAT("case-two"),
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "from backup"));
	ck_assert(has_header(&r, "x-llmfb-target: p2\r\n"));
	ck_assert(has_header(&r, "x-llmfb-attempts: 2\r\n"));
	ck_assert(has_header(&r, "x-llmfb-fallback: 1\r\n"));
	ck_assert_uint_eq(fake_nsent, 2);
	ck_assert_str_eq(fake_sent[0].url, "http://p1.test/v1/chat/completions");
	ck_assert_str_eq(fake_sent[1].url, "http://p2.test/v1/chat/completions");
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body,
	    "\"model\":\"backup-model\""));
}
END_TEST

/* Every rung fails: the safe failure, in the caller's shape, and each
 * rung was tried once. */
START_TEST(test_all_fail)
{
	static const struct fake_answer a[] = {
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 0, NULL, NULL, XE_TIMEOUT_TOTAL, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/chat/completions", "api.openai.com", CHAT("case-two"),
	    &r);
	ck_assert_int_ge(r.status, 500);
	ck_assert(has_header(&r, "x-llmfb-safe-failure: 1\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"error\""));
	ck_assert_ptr_nonnull(strstr(r.body, "llmfb_unavailable"));
	ck_assert_uint_eq(fake_nsent, 2);
}
END_TEST

/* An OpenAI caller's first rung cannot be reached; an Anthropic target
 * answers, and the caller reads a chat completion. */
START_TEST(test_translated_to_anthropic)
{
	static const struct fake_answer a[] = {
		{ 0, NULL, NULL, XE_CONNECT, 0 },
		{ 200, NULL, ANTHROPIC_OK("from claude"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/chat/completions", "api.openai.com", CHAT("case-xlate"),
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"object\":\"chat.completion\""));
	ck_assert_ptr_nonnull(strstr(r.body, "from claude"));
	ck_assert(has_header(&r, "x-llmfb-translated: anthropic\r\n"));
	ck_assert_uint_eq(fake_nsent, 2);
	ck_assert_str_eq(fake_sent[1].url, "http://c1.test/v1/messages");
	ck_assert_ptr_nonnull(strstr(fake_sent[1].headers,
	    "anthropic-version: 2023-06-01\r\n"));
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "\"max_tokens\""));
}
END_TEST

/* The other way: an Anthropic caller served by an OpenAI target after a
 * 529, reading an Anthropic message. */
START_TEST(test_translated_to_openai)
{
	static const struct fake_answer a[] = {
		{ 529, NULL, "{\"type\":\"error\",\"error\":{\"type\":"
		    "\"overloaded_error\",\"message\":\"busy\"}}", XE_OK, 0 },
		{ 200, NULL, OPENAI_OK("from gpt"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/messages", "api.anthropic.com", "{\"model\":\"case-back\","
	    "\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"}]}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"type\":\"message\""));
	ck_assert_ptr_nonnull(strstr(r.body, "from gpt"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"stop_reason\":\"end_turn\""));
	ck_assert_str_eq(fake_sent[0].url, "http://c1.test/v1/messages");
	ck_assert_str_eq(fake_sent[1].url, "http://p2.test/v1/chat/completions");
	ck_assert_ptr_null(strstr(fake_sent[1].headers, "anthropic-"));
}
END_TEST

/* A stream is held until its first content, then delivered as it is. */
START_TEST(test_stream_delivered)
{
	static const struct fake_answer a[] = {
		{ 200, "text/event-stream",
		    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
		    "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
		    "\"delta\":{\"role\":\"assistant\",\"content\":\"streamed\"},"
		    "\"finish_reason\":null}]}\n\n"
		    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
		    "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
		    "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
		    "data: [DONE]\n\n", XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 1);
	exchange("/v1/chat/completions", "api.openai.com", "{\"model\":"
	    "\"case-two\",\"stream\":true,\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}]}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "streamed"));
	ck_assert_ptr_nonnull(strstr(r.body, "data: [DONE]"));
	ck_assert(has_header(&r, "x-llmfb-target: p1\r\n"));
	ck_assert_uint_eq(fake_nsent, 1);
}
END_TEST

/* A 200 that is no answer of its API is a failure: the next rung. */
START_TEST(test_malformed_moves_on)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, "{\"nonsense\":true}", XE_OK, 0 },
		{ 200, NULL, OPENAI_OK("sound"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/chat/completions", "api.openai.com", CHAT("case-two"),
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "sound"));
	ck_assert(has_header(&r, "x-llmfb-target: p2\r\n"));
}
END_TEST

#define EMBEDDINGS "{\"object\":\"list\",\"data\":[{\"object\":" \
	"\"embedding\",\"index\":0,\"embedding\":[0.5,-0.25]}]," \
	"\"model\":\"m\",\"usage\":{\"prompt_tokens\":2," \
	"\"total_tokens\":2}}"

/* Embeddings walk the ladder among targets that speak them with the
 * first rung's dimensions: one of other dimensions and an Anthropic one
 * do not qualify, and the answer goes as it came. */
START_TEST(test_embeddings_ladder)
{
	static const struct fake_answer a[] = {
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, NULL, EMBEDDINGS, XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/embeddings", "api.openai.com", "{\"model\":\"case-emb\","
	    "\"input\":\"hello\"}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "[0.5,-0.25]"));
	ck_assert(has_header(&r, "x-llmfb-target: e3\r\n"));
	ck_assert(has_header(&r, "dimensions"));	/* e2's reason */
	ck_assert(has_header(&r, "dialect:no-translation"));	/* c1's */
	ck_assert_uint_eq(fake_nsent, 2);
	ck_assert_str_eq(fake_sent[0].url, "http://p1.test/v1/embeddings");
	ck_assert_str_eq(fake_sent[1].url, "http://p2.test/v1/embeddings");
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body,
	    "\"model\":\"big-1536\""));
}
END_TEST

/* Asked for 768: only e2 qualifies. */
START_TEST(test_embeddings_dimensions_asked)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, EMBEDDINGS, XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 1);
	exchange("/v1/embeddings", "api.openai.com", "{\"model\":\"case-emb\","
	    "\"input\":\"hello\",\"dimensions\":768}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(has_header(&r, "x-llmfb-target: e2\r\n"));
	ck_assert_uint_eq(fake_nsent, 1);
}
END_TEST

/* An empty list is no answer: the next rung. */
START_TEST(test_embeddings_empty_moves_on)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, "{\"object\":\"list\",\"data\":[],\"model\":"
		    "\"m\"}", XE_OK, 0 },
		{ 200, NULL, EMBEDDINGS, XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/embeddings", "api.openai.com", "{\"model\":\"case-emb\","
	    "\"input\":\"hello\"}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(has_header(&r, "x-llmfb-target: e3\r\n"));
}
END_TEST

/* A Responses caller: its own provider cannot be reached, the first
 * chat target fails, the next one's answer comes back as a Response. */
START_TEST(test_responses_whole)
{
	static const struct fake_answer a[] = {
		{ 0, NULL, NULL, XE_CONNECT, 0 },
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, NULL, OPENAI_OK("from chat"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 3);
	exchange("/v1/responses", "api.openai.com", "{\"model\":\"case-resp\","
	    "\"instructions\":\"be brief\",\"input\":\"hi\","
	    "\"max_output_tokens\":50}", &r);
	ck_assert_msg(r.status == 200, "%s", r.raw);
	ck_assert_ptr_nonnull(strstr(r.body, "\"object\":\"response\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"type\":\"output_text\","
	    "\"text\":\"from chat\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"completed\""));
	ck_assert(has_header(&r, "x-llmfb-target: p2\r\n"));
	ck_assert_uint_eq(fake_nsent, 3);
	/* The Responses provider was sent the caller's bytes. */
	ck_assert_str_eq(fake_sent[0].url, "http://r1.test/v1/responses");
	ck_assert_ptr_nonnull(strstr(fake_sent[0].body, "\"instructions\""));
	ck_assert_str_eq(fake_sent[1].url, "http://p1.test/v1/chat/completions");
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "\"messages\":[{"
	    "\"role\":\"system\",\"content\":\"be brief\"},{\"role\":"
	    "\"user\",\"content\":\"hi\"}]"));
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "\"max_tokens\":50"));
}
END_TEST

/* Streamed: the chat chunks come back as Responses' typed events. */
START_TEST(test_responses_stream)
{
	static const struct fake_answer a[] = {
		{ 0, NULL, NULL, XE_CONNECT, 0 },
		{ 200, "text/event-stream",
		    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
		    "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
		    "\"delta\":{\"role\":\"assistant\",\"content\":\"str\"},"
		    "\"finish_reason\":null}]}\n\n"
		    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
		    "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
		    "\"delta\":{\"content\":\"eamed\"},\"finish_reason\":"
		    "\"stop\"}]}\n\n"
		    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
		    "\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":"
		    "{\"prompt_tokens\":3,\"completion_tokens\":2,"
		    "\"total_tokens\":5}}\n\n"
		    "data: [DONE]\n\n", XE_OK, 0 },
	};
	static const char *const order[] = { "event: response.created",
		"event: response.in_progress",
		"event: response.output_item.added",
		"event: response.content_part.added",
		"event: response.output_text.delta",
		"event: response.output_text.delta",
		"event: response.output_text.done",
		"event: response.content_part.done",
		"event: response.output_item.done",
		"event: response.completed", NULL };
	struct reply r;
	const char *p;
	size_t i;

	fake_script(a, 2);
	exchange("/v1/responses", "api.openai.com", "{\"model\":\"case-resp\","
	    "\"input\":\"hi\",\"stream\":true}", &r);
	ck_assert_int_eq(r.status, 200);
	for (p = r.body, i = 0; order[i] != NULL; i++) {
		p = strstr(p, order[i]);
		ck_assert_msg(p != NULL, "no %s in order: %s", order[i], r.body);
		p += strlen(order[i]);
	}
	ck_assert_ptr_nonnull(strstr(r.body, "\"text\":\"streamed\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"output_tokens\":2"));
	ck_assert_ptr_null(strstr(r.body, "[DONE]"));
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body,
	    "\"include_usage\":true"));
}
END_TEST

/* What a chat server cannot do makes its targets not qualify. */
START_TEST(test_responses_not_translatable)
{
	struct reply r;

	fake_script(NULL, 0);
	exchange("/v1/responses", "api.openai.com", "{\"model\":\"case-resp\","
	    "\"input\":\"hi\",\"previous_response_id\":\"resp_1\"}", &r);
	ck_assert(has_header(&r, "x-llmfb-safe-failure: 1\r\n"));
	ck_assert(has_header(&r, "p1=dialect:previous_response_id"));
	/* Only the provider that speaks Responses was tried. */
	ck_assert_uint_eq(fake_nsent, 1);
	ck_assert_str_eq(fake_sent[0].url, "http://r1.test/v1/responses");
}
END_TEST

/* A provider of Responses itself answers as it is, read natively. */
START_TEST(test_responses_native)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, "{\"id\":\"resp_9\",\"object\":\"response\","
		    "\"status\":\"completed\",\"error\":null,\"output\":[{"
		    "\"type\":\"message\",\"content\":[{\"type\":"
		    "\"output_text\",\"text\":\"native\"}]}]}", XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 1);
	exchange("/v1/responses", "api.openai.com", "{\"model\":\"case-resp\","
	    "\"input\":\"hi\"}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"id\":\"resp_9\""));
	ck_assert(has_header(&r, "x-llmfb-target: r1\r\n"));
	ck_assert(!has_header(&r, "x-llmfb-translated"));
}
END_TEST

/* A chat caller served by a Responses target: translated there and
 * back, whole and streamed. */
START_TEST(test_chat_to_responses_target)
{
	static const struct fake_answer a[] = {
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, NULL, "{\"id\":\"resp_9\",\"object\":\"response\","
		    "\"status\":\"completed\",\"model\":\"m\",\"output\":[{"
		    "\"type\":\"message\",\"content\":[{\"type\":"
		    "\"output_text\",\"text\":\"via responses\"}]}],"
		    "\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}",
		    XE_OK, 0 },
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, "text/event-stream",
		    "event: response.created\ndata: {\"type\":"
		    "\"response.created\",\"response\":{\"id\":\"resp_9\","
		    "\"model\":\"m\",\"status\":\"in_progress\","
		    "\"output\":[]}}\n\n"
		    "event: response.output_text.delta\ndata: {\"type\":"
		    "\"response.output_text.delta\",\"output_index\":0,"
		    "\"delta\":\"via str\"}\n\n"
		    "event: response.output_text.delta\ndata: {\"type\":"
		    "\"response.output_text.delta\",\"output_index\":0,"
		    "\"delta\":\"eam\"}\n\n"
		    "event: response.completed\ndata: {\"type\":"
		    "\"response.completed\",\"response\":{\"id\":\"resp_9\","
		    "\"status\":\"completed\",\"output\":[],\"usage\":{"
		    "\"input_tokens\":3,\"output_tokens\":2}}}\n\n", XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 4);
	exchange("/v1/chat/completions", "api.openai.com",
	    CHAT("case-to-resp"), &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"object\":\"chat.completion\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"content\":\"via responses\""));
	ck_assert(has_header(&r, "x-llmfb-translated: openai-responses\r\n"));
	ck_assert_str_eq(fake_sent[1].url, "http://r1.test/v1/responses");
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "\"input\":[{"
	    "\"type\":\"message\",\"role\":\"user\",\"content\":\"hi\"}]"));

	exchange("/v1/chat/completions", "api.openai.com", "{\"model\":"
	    "\"case-to-resp\",\"stream\":true,\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}]}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"content\":\"via str\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"content\":\"eam\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"finish_reason\":\"stop\""));
	ck_assert_ptr_nonnull(strstr(r.body, "data: [DONE]"));
	ck_assert_ptr_null(strstr(r.body, "response.output_text"));
}
END_TEST

/* A Responses caller served by an Anthropic target, through chat
 * completions both ways: whole and streamed. */
START_TEST(test_responses_via_chat_to_anthropic)
{
	static const struct fake_answer a[] = {
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, NULL, ANTHROPIC_OK("from claude"), XE_OK, 0 },
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, "text/event-stream",
		    "event: message_start\ndata: {\"type\":\"message_start\","
		    "\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
		    "\"role\":\"assistant\",\"model\":\"claude-x\","
		    "\"content\":[],\"stop_reason\":null,\"usage\":{"
		    "\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
		    "event: content_block_start\ndata: {\"type\":"
		    "\"content_block_start\",\"index\":0,\"content_block\":"
		    "{\"type\":\"text\",\"text\":\"\"}}\n\n"
		    "event: content_block_delta\ndata: {\"type\":"
		    "\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		    "\"text_delta\",\"text\":\"claude streamed\"}}\n\n"
		    "event: content_block_stop\ndata: {\"type\":"
		    "\"content_block_stop\",\"index\":0}\n\n"
		    "event: message_delta\ndata: {\"type\":\"message_delta\","
		    "\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{"
		    "\"output_tokens\":4}}\n\n"
		    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		    XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 4);
	exchange("/v1/responses", "api.openai.com", "{\"model\":"
	    "\"case-resp-an\",\"instructions\":\"be brief\",\"input\":"
	    "\"hi\"}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"object\":\"response\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"text\":\"from claude\""));
	ck_assert(has_header(&r, "x-llmfb-target: c1\r\n"));
	ck_assert(has_header(&r, "x-llmfb-translated: anthropic\r\n"));
	ck_assert_str_eq(fake_sent[1].url, "http://c1.test/v1/messages");
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body,
	    "\"system\":\"be brief\""));
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body,
	    "\"model\":\"claude-x\""));

	exchange("/v1/responses", "api.openai.com", "{\"model\":"
	    "\"case-resp-an\",\"input\":\"hi\",\"stream\":true}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "event: response.created"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"delta\":\"claude streamed\""));
	ck_assert_ptr_nonnull(strstr(r.body, "event: response.completed"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"output_tokens\":4"));
	ck_assert_ptr_null(strstr(r.body, "[DONE]"));
	ck_assert_ptr_null(strstr(r.body, "message_start"));
}
END_TEST

/* An Anthropic caller served by a Responses target, through chat: it
 * reads an Anthropic message. */
START_TEST(test_anthropic_via_chat_to_responses)
{
	static const struct fake_answer a[] = {
		{ 529, NULL, "{\"type\":\"error\",\"error\":{\"type\":"
		    "\"overloaded_error\",\"message\":\"busy\"}}", XE_OK, 0 },
		{ 200, NULL, "{\"id\":\"resp_5\",\"object\":\"response\","
		    "\"status\":\"completed\",\"model\":\"m\",\"output\":[{"
		    "\"type\":\"message\",\"content\":[{\"type\":"
		    "\"output_text\",\"text\":\"from responses\"}]}],"
		    "\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}",
		    XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/messages", "api.anthropic.com", "{\"model\":"
	    "\"case-an-resp\",\"max_tokens\":10,\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}]}", &r);
	ck_assert_msg(r.status == 200, "%s", r.raw);
	ck_assert_ptr_nonnull(strstr(r.body, "\"type\":\"message\""));
	ck_assert_ptr_nonnull(strstr(r.body, "from responses"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"stop_reason\":\"end_turn\""));
	ck_assert_str_eq(fake_sent[1].url, "http://r1.test/v1/responses");
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "\"input\""));
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body,
	    "\"max_output_tokens\":10"));
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "\"model\":\"gpt-r\""));
}
END_TEST

/* ---- a Responses stream that breaks ------------------------------------- */

#define CHAT_CHUNK(delta, finish) "data: {\"id\":\"c\",\"object\":" \
	"\"chat.completion.chunk\",\"created\":1,\"model\":\"m\"," \
	"\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" \
	finish "}]}\n\n"
#define CHAT_BROKEN CHAT_CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", \
	"null") CHAT_CHUNK("{\"content\":\"one \"}", "null") \
	"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"," \
	"\"param\":null,\"code\":null}}\n\ndata: [DONE]\n\n"

/* The sequence_number of the error event in body, and how many events
 * came before it; -1: none. */
static long
error_seq(const char *body, int *before)
{
	const char *p = strstr(body, "event: error\n"), *q;

	*before = 0;
	for (q = strstr(body, "event: "); q != NULL && q < p;
	    q = strstr(q + 1, "event: "))
		(*before)++;
	if (p == NULL || (p = strstr(p, "\"sequence_number\":")) == NULL)
		return -1;
	return strtol(p + strlen("\"sequence_number\":"), NULL, 10);
}

/* Not continued: Responses' own error event, numbered after the last
 * event the caller got, and no end. */
START_TEST(test_responses_stream_error_ends)
{
	static const struct fake_answer a[] = {
		{ 200, "text/event-stream", CHAT_BROKEN, XE_OK, 0 },
	};
	struct reply r;
	int before;

	fake_script(a, 1);
	exchange("/v1/responses", "api.openai.com", "{\"model\":\"case-rerr\","
	    "\"input\":\"hi\",\"stream\":true}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"delta\":\"one \""));
	ck_assert_ptr_nonnull(strstr(r.body, "event: error\ndata: {\"type\":"
	    "\"error\",\"code\":\"llmfb_stream_interrupted\",\"message\":"
	    "\"llmfb: "));
	ck_assert_int_eq(error_seq(r.body, &before), before);
	ck_assert_ptr_null(strstr(r.body, "response.completed"));
	ck_assert_ptr_null(strstr(r.body, "boom"));
}
END_TEST

/* Continued on the next rung, as one Response. */
START_TEST(test_responses_stream_continued)
{
	static const struct fake_answer a[] = {
		{ 200, "text/event-stream", CHAT_BROKEN, XE_OK, 0 },
		{ 200, "text/event-stream",
		    CHAT_CHUNK("{\"role\":\"assistant\",\"content\":\"\"}",
		    "null") CHAT_CHUNK("{\"content\":\"two\"}", "null")
		    CHAT_CHUNK("{}", "\"stop\"") "data: [DONE]\n\n", XE_OK, 0 },
	};
	struct reply r;
	const char *p;

	fake_script(a, 2);
	exchange("/v1/responses", "api.openai.com", "{\"model\":\"case-rcut\","
	    "\"input\":\"hi\",\"stream\":true}", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(p = strstr(r.body, "event: response.created"));
	ck_assert_ptr_null(strstr(p + 1, "event: response.created"));
	ck_assert_ptr_null(strstr(r.body, "event: error"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"delta\":\"two\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"text\":\"one two\""));
	ck_assert_ptr_nonnull(strstr(r.body, "event: response.completed"));
	/* The next rung was asked for the rest, the answer so far the
	 * assistant's. */
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "{\"role\":"
	    "\"assistant\",\"content\":\"one \"}"));
}
END_TEST

/* ---- OpenAI's legacy Completions API ------------------------------------ */

#define CMPL(extra) "{\"model\":\"case-cmpl\",\"prompt\":\"hi\"" extra "}"

/* A provider of Completions answers the caller's bytes as they are. */
START_TEST(test_completions_native)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, "{\"id\":\"cmpl-9\",\"object\":\"text_completion\","
		    "\"created\":1,\"model\":\"m\",\"choices\":[{\"text\":"
		    "\"native\",\"index\":0,\"logprobs\":null,"
		    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
		    "1,\"completion_tokens\":1,\"total_tokens\":2}}", XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 1);
	exchange("/v1/completions", "api.openai.com", CMPL(",\"echo\":true"),
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"id\":\"cmpl-9\""));
	ck_assert(has_header(&r, "x-llmfb-target: k1\r\n"));
	ck_assert(!has_header(&r, "x-llmfb-translated"));
	ck_assert_str_eq(fake_sent[0].url, "http://k1.test/v1/completions");
	ck_assert_str_eq(fake_sent[0].body, CMPL(",\"echo\":true"));
}
END_TEST

/* After the Completions provider fails, a chat target serves the prompt
 * as a user message, and its answer comes back a text_completion. */
START_TEST(test_completions_whole)
{
	static const struct fake_answer a[] = {
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, NULL, OPENAI_OK("from chat"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/completions", "api.openai.com", CMPL(",\"stop\":\"\\n\""),
	    &r);
	ck_assert_msg(r.status == 200, "%s", r.raw);
	ck_assert_ptr_nonnull(strstr(r.body, "\"object\":\"text_completion\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"choices\":[{\"text\":"
	    "\"from chat\",\"index\":0,\"logprobs\":null,"
	    "\"finish_reason\":\"stop\"}]"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"completion_tokens\":2"));
	ck_assert(has_header(&r, "x-llmfb-target: p2\r\n"));
	ck_assert(has_header(&r, "x-llmfb-translated: openai\r\n"));
	/* Completions models are not chat's: a chat target names its
	 * own. */
	ck_assert(has_header(&r, "k1=http-503,p1=dialect:model"));
	ck_assert_str_eq(fake_sent[0].url, "http://k1.test/v1/completions");
	ck_assert_str_eq(fake_sent[1].url,
	    "http://p2.test/v1/chat/completions");
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "\"messages\":[{"
	    "\"role\":\"user\",\"content\":\"hi\"}]"));
	/* The API's default limit goes along; the target's model. */
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body, "\"max_tokens\":16"));
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body,
	    "\"model\":\"backup-model\""));
	ck_assert_ptr_null(strstr(fake_sent[1].body, "\"prompt\""));
}
END_TEST

/* Streamed: chat chunks as text_completion chunks, one [DONE], the usage
 * chunk only when the caller asked it. */
START_TEST(test_completions_stream)
{
#define CHUNKS \
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0," \
	"\"delta\":{\"role\":\"assistant\",\"content\":\"\"}," \
	"\"finish_reason\":null}]}\n\n" \
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0," \
	"\"delta\":{\"content\":\"str\"},\"finish_reason\":null}]}\n\n" \
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0," \
	"\"delta\":{\"content\":\"eamed\"},\"finish_reason\":" \
	"\"length\"}]}\n\n" \
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":" \
	"{\"prompt_tokens\":3,\"completion_tokens\":2," \
	"\"total_tokens\":5}}\n\n" \
	"data: [DONE]\n\n"
	static const struct fake_answer a[] = {
		{ 0, NULL, NULL, XE_CONNECT, 0 },
		{ 200, "text/event-stream", CHUNKS, XE_OK, 0 },
		{ 0, NULL, NULL, XE_CONNECT, 0 },
		{ 200, "text/event-stream", CHUNKS, XE_OK, 0 },
	};
	struct reply r;
	const char *p;

	fake_script(a, 4);
	exchange("/v1/completions", "api.openai.com", CMPL(",\"stream\":true"),
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "data: {\"id\":\"c\",\"object\":"
	    "\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{"
	    "\"text\":\"str\",\"index\":0,\"logprobs\":null,"
	    "\"finish_reason\":null}]}\n\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"text\":\"eamed\",\"index\":0,"
	    "\"logprobs\":null,\"finish_reason\":\"length\""));
	ck_assert_ptr_null(strstr(r.body, "chat.completion"));
	ck_assert_ptr_null(strstr(r.body, "usage"));
	ck_assert_ptr_nonnull(p = strstr(r.body, "data: [DONE]\n\n"));
	ck_assert_ptr_null(strstr(p + 12, "[DONE]"));
	/* Usage is asked of the target, and given the caller that asks. */
	ck_assert_ptr_nonnull(strstr(fake_sent[1].body,
	    "\"include_usage\":true"));
	exchange("/v1/completions", "api.openai.com", CMPL(",\"stream\":true,"
	    "\"stream_options\":{\"include_usage\":true}"), &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"choices\":[],\"usage\":{"
	    "\"prompt_tokens\":3,\"completion_tokens\":2,"
	    "\"total_tokens\":5}"));
#undef CHUNKS
}
END_TEST

/* What chat completions cannot say makes its targets not qualify. */
START_TEST(test_completions_not_translatable)
{
	struct reply r;

	fake_script(NULL, 0);
	exchange("/v1/completions", "api.openai.com", CMPL(",\"echo\":true"),
	    &r);
	ck_assert(has_header(&r, "x-llmfb-safe-failure: 1\r\n"));
	ck_assert(has_header(&r, "p1=dialect:echo"));
	ck_assert(has_header(&r, "c1=dialect:echo"));
	ck_assert_uint_eq(fake_nsent, 1);
	ck_assert_str_eq(fake_sent[0].url, "http://k1.test/v1/completions");
}
END_TEST

/* An Anthropic target, through chat completions: its message comes back
 * a text_completion. */
START_TEST(test_completions_via_chat_to_anthropic)
{
	static const struct fake_answer a[] = {
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
		{ 200, NULL, ANTHROPIC_OK("from claude"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 3);
	exchange("/v1/completions", "api.openai.com", CMPL(""), &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"object\":\"text_completion\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"text\":\"from claude\""));
	ck_assert(has_header(&r, "x-llmfb-target: c1\r\n"));
	ck_assert(has_header(&r, "x-llmfb-translated: anthropic\r\n"));
	ck_assert_str_eq(fake_sent[2].url, "http://c1.test/v1/messages");
	ck_assert_ptr_nonnull(strstr(fake_sent[2].body, "\"max_tokens\":16"));
}
END_TEST

/* ---- hedging ---------------------------------------------------------- */

static const struct rstat *
route_stats(const char *name)
{
	return stats_route(d.stats, name);
}

/* The first target says nothing; after 20 ms a hedge goes to the next,
 * which answers: the caller gets its answer, and the first transfer is
 * cancelled (freed while it still ran). */
START_TEST(test_hedge_won_by_second)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, OPENAI_OK("from p1"), XE_OK, FAKE_SILENT },
		{ 200, NULL, OPENAI_OK("from the hedge"), XE_OK, 0 },
	};
	const struct rstat *rs;
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/chat/completions", "api.openai.com",
	    CHAT("case-hedge"), &r);
	ck_assert_msg(r.status == 200, "%s", r.raw);
	ck_assert_ptr_nonnull(strstr(r.body, "from the hedge"));
	ck_assert(has_header(&r, "x-llmfb-target: p2\r\n"));
	ck_assert_uint_eq(fake_nsent, 2);
	ck_assert_str_eq(fake_sent[0].url, "http://p1.test/v1/chat/completions");
	ck_assert_str_eq(fake_sent[1].url, "http://p2.test/v1/chat/completions");
	ck_assert_uint_eq(fake_cancelled, 1);
	rs = route_stats("hedge");
	ck_assert_uint_eq(rs->hedges, 1);
	ck_assert_uint_eq(rs->hedges_won, 1);
	ck_assert_uint_eq(rs->hedges_cancelled, 1);
	ck_assert_uint_eq(rs->hedges_capped, 0);
	ck_assert_uint_eq(stats_target(d.stats, "p1")->in_flight, 0);
	ck_assert_uint_eq(stats_target(d.stats, "p2")->in_flight, 0);
}
END_TEST

/* The same for an Anthropic caller whose hedge is translated. */
START_TEST(test_hedge_anthropic_caller)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, ANTHROPIC_OK("from claude"), XE_OK, FAKE_SILENT },
		{ 200, NULL, OPENAI_OK("from the hedge"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/messages", "api.anthropic.com", "{\"model\":"
	    "\"case-hedge-an\",\"max_tokens\":10,\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}]}", &r);
	ck_assert_msg(r.status == 200, "%s", r.raw);
	ck_assert_ptr_nonnull(strstr(r.body, "\"type\":\"message\""));
	ck_assert_ptr_nonnull(strstr(r.body, "from the hedge"));
	ck_assert_str_eq(fake_sent[0].url, "http://c1.test/v1/messages");
	ck_assert_str_eq(fake_sent[1].url, "http://p2.test/v1/chat/completions");
	ck_assert_uint_eq(fake_cancelled, 1);
	ck_assert_uint_eq(route_stats("hedge-an")->hedges_won, 1);
}
END_TEST

/* The first target answers long before the hedge's delay: no hedge. */
START_TEST(test_hedge_not_needed)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, OPENAI_OK("from p1"), XE_OK, 30 },
		{ 200, NULL, OPENAI_OK("from p2"), XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/chat/completions", "api.openai.com",
	    CHAT("case-hedge-late"), &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "from p1"));
	ck_assert_uint_eq(fake_nsent, 1);
	ck_assert_uint_eq(fake_cancelled, 0);
	ck_assert_uint_eq(route_stats("hedge-late")->hedges, 0);
}
END_TEST

/* A hedge that fails leaves the first attempt to answer. */
START_TEST(test_hedge_fails_first_goes_on)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, OPENAI_OK("from p1"), XE_OK, 300 },
		{ 503, NULL, OPENAI_503, XE_OK, 0 },
	};
	struct reply r;

	fake_script(a, 2);
	exchange("/v1/chat/completions", "api.openai.com",
	    CHAT("case-hedge"), &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "from p1"));
	ck_assert(has_header(&r, "x-llmfb-target: p1\r\n"));
	ck_assert_uint_eq(fake_nsent, 2);
	ck_assert_uint_eq(fake_cancelled, 0);
	ck_assert_uint_eq(route_stats("hedge")->hedges, 1);
	ck_assert_uint_eq(route_stats("hedge")->hedges_won, 0);
}
END_TEST

/* max_percent: 50: of four slow calls, two are hedged; the other two
 * wait for their first target. */
START_TEST(test_hedge_cap)
{
	static const struct fake_answer a[] = {
		{ 200, NULL, OPENAI_OK("from p1"), XE_OK, 1000 },
		{ 200, NULL, OPENAI_OK("from p2"), XE_OK, 0 },
	};
	const struct rstat *rs;
	struct reply r;
	int i, hedged = 0;

	for (i = 0; i < 4; i++) {
		fake_script(a, 2);
		exchange("/v1/chat/completions", "api.openai.com",
		    CHAT("case-hedge-cap"), &r);
		ck_assert_int_eq(r.status, 200);
		if (fake_nsent == 2) {
			hedged++;
			ck_assert_ptr_nonnull(strstr(r.body, "from p2"));
		} else {
			ck_assert_ptr_nonnull(strstr(r.body, "from p1"));
		}
	}
	rs = route_stats("hedge-cap");
	ck_assert_int_eq(hedged, 2);
	ck_assert_uint_eq(rs->hedges, 2);
	ck_assert_uint_eq(rs->hedges_capped, 2);
}
END_TEST

static Suite *
call_suite(void)
{
	Suite *s = suite_create("call");
	TCase *tc = tcase_create("ladder");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_503_then_backup);
	tcase_add_test(tc, test_all_fail);
	tcase_add_test(tc, test_translated_to_anthropic);
	tcase_add_test(tc, test_translated_to_openai);
	tcase_add_test(tc, test_stream_delivered);
	tcase_add_test(tc, test_malformed_moves_on);
	tcase_add_test(tc, test_embeddings_ladder);
	tcase_add_test(tc, test_embeddings_dimensions_asked);
	tcase_add_test(tc, test_embeddings_empty_moves_on);
	tcase_add_test(tc, test_responses_whole);
	tcase_add_test(tc, test_responses_stream);
	tcase_add_test(tc, test_responses_not_translatable);
	tcase_add_test(tc, test_responses_native);
	tcase_add_test(tc, test_chat_to_responses_target);
	tcase_add_test(tc, test_responses_via_chat_to_anthropic);
	tcase_add_test(tc, test_anthropic_via_chat_to_responses);
	tcase_add_test(tc, test_responses_stream_error_ends);
	tcase_add_test(tc, test_responses_stream_continued);
	tcase_add_test(tc, test_completions_native);
	tcase_add_test(tc, test_completions_whole);
	tcase_add_test(tc, test_completions_stream);
	tcase_add_test(tc, test_completions_not_translatable);
	tcase_add_test(tc, test_completions_via_chat_to_anthropic);
	tcase_add_test(tc, test_hedge_won_by_second);
	tcase_add_test(tc, test_hedge_anthropic_caller);
	tcase_add_test(tc, test_hedge_not_needed);
	tcase_add_test(tc, test_hedge_fails_first_goes_on);
	tcase_add_test(tc, test_hedge_cap);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(call_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
