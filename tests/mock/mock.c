/* llmfb-mock: a scriptable fake LLM provider for the tests and benchmarks.
 *
 * It speaks the OpenAI chat-completions and the Anthropic messages dialects
 * over HTTP/1.1, on TLS or plain TCP.  Every provider NAME (the first path
 * segment) can be scripted, one step per request, to fail, stall, stream
 * slowly or break the connection, and /_mock/stats shows what each one
 * received.  See tests/mock/README.md.
 *
 * One detached thread per connection with blocking I/O: simple, and fast
 * enough for hundreds of connections.  The shared state (scripts, counters)
 * sits behind one mutex that is only held for a few field updates. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <jansson.h>
#include <zlib.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "log.h"
#include "util.h"

#define BODY_MAX	((size_t)64 << 20)	/* request body; 413 past it */
#define URL_MAX		8192
#define HDR_BYTES_MAX	(64 * 1024)
#define HDRS_MAX	128
#define OUT_MAX		((size_t)256 << 20)	/* any response we build */
#define NAME_LEN_MAX	64
#define PROVS_MAX	4096	/* past it, new names count as "default" */
#define SEEN_MAX	16
#define DUR_MAX		3600000	/* 1 h: a longer sleep is a typo */
#define COUNT_MAX	1000000000000ULL
#define THREAD_STACK	((size_t)1 << 20)
#define IDLE_TIMEOUT_S	300
#define SEND_TIMEOUT_S	60
#define LINGER_MS	1000
#define LINGER_BYTES	((size_t)64 << 20)

/* What happens to a connection once a request is answered.  ABORT closes
 * without a TLS close_notify: the peer sees a truncated stream. */
enum { KEEP, CLOSE, ABORT };
enum dialect { D_OPENAI, D_ANTHROPIC };
enum endpoint { EP_OTHER, EP_CHAT, EP_MESSAGES, EP_EMBEDDINGS,
	EP_RESPONSES, EP_COMPLETIONS };

/* The provider error bodies error= can ask for. */
enum {
	ERR_PLAIN, ERR_CONTEXT, ERR_CONTENT_FILTER,
	ERR_GEMINI, ERR_GEMINI_CONTEXT,	/* [{"error": {...}}] */
	ERR_BALANCE,			/* DeepSeek's 402 */
	ERR_MODEL_NOT_FOUND,		/* Ollama's 404 */
	ERR_DEPLOYMENT_NOT_FOUND,	/* Azure OpenAI's 404 */
};

/* The error= names, in the order of the enum. */
static const char *const error_names[] = { "plain", "context",
	"content_filter", "gemini", "gemini_context", "balance",
	"model_not_found", "deployment_not_found" };

/* How much of a stream's ending no_end= leaves out. */
enum { END_ALL, END_NO_MARKER, END_NOTHING_AFTER };

/* One line of a script.  Every number is an int64_t so that one table
 * (step_keys) can parse them all; -1 means "not set".  The strings are
 * owned by the step (step_take copies them). */
struct step {
	int64_t	 status, retry_after, retry_after_ms;
	int64_t	 delay_ms, ttft_ms, chunks, pace_ms, cut_after;
	int64_t	 stall_after, stall_ms, no_end, refusal, error;
	int64_t	 malformed, close, prompt_tokens, completion_tokens;
	int64_t	 gzip_mb, stream_error, think_kb, text_kb, cut_bytes;
	int64_t	 rl_requests, rl_tokens, rl_reset;	/* rate limits */
	int64_t	 tail_ms, tail_pct;	/* a heavy tail of ttft_ms */
	char	*text;		/* NULL: "Hello from NAME" */
	char	*finish;	/* NULL: the dialect's usual one */
	char	*tool_args;	/* non-NULL: answer with a tool call */
	char	*azure;		/* non-NULL: Azure OpenAI, this deployment */
};

static const struct step default_step = {
	.status = 200, .retry_after = -1, .retry_after_ms = -1,
	.chunks = 3, .cut_after = -1, .stall_after = -1, .stream_error = -1,
	.cut_bytes = -1, .rl_requests = -1, .rl_tokens = -1, .rl_reset = -1,
	.tail_ms = -1,
	.prompt_tokens = 10, .completion_tokens = 5,
};

/* The string keys, decoded like text=; each is a char * in the step. */
static const struct str_key {
	const char	*name;
	size_t		 off;
} str_keys[] = {
	{ "text", offsetof(struct step, text) },
	{ "finish", offsetof(struct step, finish) },
	{ "tool_args", offsetof(struct step, tool_args) },
	{ "azure", offsetof(struct step, azure) },
};

#define STEP_STR(st, k) \
	((char **)(void *)((char *)(st) + (k)->off))

static const struct step_key {
	const char	*name;
	size_t		 off;
	uint64_t	 min, max;
	bool		 duration;	/* parse_duration_ms: "250", "2s" */
} step_keys[] = {
	{ "status", offsetof(struct step, status), 200, 599, false },
	{ "retry_after", offsetof(struct step, retry_after), 0, 1000000000,
	    false },
	{ "retry_after_ms", offsetof(struct step, retry_after_ms), 0,
	    COUNT_MAX, false },
	{ "delay_ms", offsetof(struct step, delay_ms), 0, DUR_MAX, true },
	{ "ttft_ms", offsetof(struct step, ttft_ms), 0, DUR_MAX, true },
	{ "pace_ms", offsetof(struct step, pace_ms), 0, DUR_MAX, true },
	{ "chunks", offsetof(struct step, chunks), 0, 100000, false },
	{ "cut_after", offsetof(struct step, cut_after), 0, 100000, false },
	{ "stall_after", offsetof(struct step, stall_after), 0, 100000,
	    false },
	{ "stall_ms", offsetof(struct step, stall_ms), 0, DUR_MAX, true },
	{ "no_end", offsetof(struct step, no_end), 0, 2, false },
	{ "refusal", offsetof(struct step, refusal), 0, 1, false },
	{ "malformed", offsetof(struct step, malformed), 0, 2, false },
	{ "close", offsetof(struct step, close), 0, 1, false },
	{ "prompt_tokens", offsetof(struct step, prompt_tokens), 0,
	    COUNT_MAX, false },
	{ "completion_tokens", offsetof(struct step, completion_tokens), 0,
	    COUNT_MAX, false },
	{ "gzip_mb", offsetof(struct step, gzip_mb), 1, 4096, false },
	{ "stream_error", offsetof(struct step, stream_error), 0, 100000,
	    false },
	{ "think_kb", offsetof(struct step, think_kb), 0, 65536, false },
	{ "text_kb", offsetof(struct step, text_kb), 0, 65536, false },
	{ "cut_bytes", offsetof(struct step, cut_bytes), 0, COUNT_MAX,
	    false },
	{ "rl_requests", offsetof(struct step, rl_requests), 0, COUNT_MAX,
	    false },
	{ "rl_tokens", offsetof(struct step, rl_tokens), 0, COUNT_MAX,
	    false },
	{ "rl_reset", offsetof(struct step, rl_reset), 0, DUR_MAX, true },
	{ "tail_ms", offsetof(struct step, tail_ms), 0, DUR_MAX, true },
	{ "tail_pct", offsetof(struct step, tail_pct), 0, 100, false },
};

/* A provider lives until exit (connections keep pointers to it); a reset
 * only empties it, and stats show it again once it is used. */
struct prov {
	char		 name[NAME_LEN_MAX + 1];
	struct step	*steps;
	size_t		 nsteps, next;
	uint64_t	 requests, streams, connections, body_bytes;
	/* Requests whose client hung up while the answer was still being
	 * waited for (delay_ms, ttft_ms): a gateway's cancel. */
	uint64_t	 cancelled;
	char		*model, *path, *auth, *api_key;
	char		*query;		/* the last target's, after '?' */
	json_t		*headers;
	json_t		*request;	/* the last request's body */
	/* The assistant message ending the last request's messages, if
	 * any: the prefix a client asked the answer to continue. */
	char		*prefix;
	bool		 last_stream;
	/* Chunk times belong to the response numbered resp_seq. */
	uint64_t	 resp_seq, first_chunk_ns, last_chunk_ns;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct prov *provs[PROVS_MAX];	/* [0] is "default" */
static size_t nprovs;
static uint64_t nconnections;
static uint64_t epoch;			/* bumped by a reset */
static uint64_t resp_counter;		/* atomic */
static SSL_CTX *ssl_ctx;

/* A header is two runs in conn.hdrbuf, as offsets (the buffer moves). */
struct hdr {
	size_t	 name, name_len, val, val_len;
};

struct conn {
	int		 fd;
	SSL		*ssl;
	http_parser	 parser;
	size_t		 rlen, roff;
	/* The request being parsed. */
	struct buf	 url, hdrbuf, body;
	struct hdr	 hdrs[HDRS_MAX];
	size_t		 nhdrs;
	int		 hstate;	/* 0 none, 1 in a name, 2 in a value */
	bool		 done, keep_alive;
	int		 reject;	/* answer this status, then close */
	/* Providers that already counted this connection. */
	uint64_t	 seen_epoch;
	struct prov	*seen[SEEN_MAX];
	size_t		 nseen;
	char		 rbuf[16384];
};

/* One API request being answered. */
struct req {
	struct conn	*c;
	struct prov	*prov;
	const char	*api;		/* the path after the provider's name */
	enum endpoint	 ep;
	enum dialect	 dialect;
	json_t		*json;		/* the request body, NULL if not JSON */
	const char	*json_model;	/* inside json, may be NULL */
	const char	*model;
	const char	*text;
	bool		 stream, include_usage, head_only;
	struct step	 st;
	uint64_t	 seq;
	time_t		 created;
	char		 id[64];
	char		 deftext[NAME_LEN_MAX + 32];
	char		*bigtext;	/* text_kb=: owned */
	int		 block;		/* Anthropic: the answer's block */
	uint64_t	 sent;		/* stream bytes written, framing too */
};

/* ---- I/O ---- */

static ssize_t
conn_read(struct conn *c, void *p, size_t n)
{
	ssize_t r;
	int sr;

	if (c->ssl != NULL) {
		sr = SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
		return sr > 0 ? sr : -1;
	}
	do
		r = read(c->fd, p, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static int
conn_write(struct conn *c, const void *p, size_t n)
{
	const char *s = p;
	ssize_t r;

	while (n > 0) {
		if (c->ssl != NULL)
			r = SSL_write(c->ssl, s, (int)(n > INT_MAX ? INT_MAX :
			    n));
		else
			r = send(c->fd, s, n, MSG_NOSIGNAL);
		if (r < 0 && c->ssl == NULL && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		s += r;
		n -= (size_t)r;
	}
	return 0;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sleep ms like sleep_ms, unless the client hangs up meanwhile (its FIN:
 * a gateway that gave up on this answer): then the request counts as
 * cancelled and -1 says to drop the connection.  0 otherwise. */
static int
wait_ms(struct req *r, int64_t ms)
{
	struct pollfd pfd = { .fd = r->c->fd, .events = POLLRDHUP };
	int64_t end, now;
	struct timespec ts;

	if (ms <= 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (now >= end)
			return 0;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(end - now)) < 0 && errno != EINTR)
			return 0;
		if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))
			break;
	}
	if (r->prov != NULL) {
		pthread_mutex_lock(&lock);
		r->prov->cancelled++;
		pthread_mutex_unlock(&lock);
	}
	return -1;
}

/* ---- HTTP responses ---- */

static const char *
reason(int status)
{
	static const struct { int code; const char *text; } tab[] = {
		{ 200, "OK" }, { 201, "Created" }, { 204, "No Content" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 413, "Content Too Large" }, { 414, "URI Too Long" },
		{ 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 502, "Bad Gateway" },
		{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
		{ 529, "Overloaded" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tab); i++)
		if (tab[i].code == status)
			return tab[i].text;
	return status < 400 ? "OK" : "Error";
}

/* The rate-limit headers of a step's rl_ keys, as each dialect sends
 * them on every answer.  OpenAI ("Rate limits", platform.openai.com/docs/
 * guides/rate-limits): x-ratelimit-{limit,remaining,reset}-{requests,
 * tokens}, the reset a Go duration ("1s", "6m0s", "20ms").  Anthropic
 * ("Rate limits", docs.anthropic.com/en/api/rate-limits): anthropic-
 * ratelimit-{requests,tokens}-{limit,remaining,reset}, the reset an RFC
 * 3339 time ("2024-08-21T12:40:59Z", to the second: rounded up here).
 * The limits themselves are made up: at least what remains. */
static int
ratelimit_headers(struct buf *out, const struct req *r)
{
	static const char *const kinds[] = { "requests", "tokens" };
	const int64_t rem[] = { r->st.rl_requests, r->st.rl_tokens };
	const int64_t lim[] = { 100, 100000 };
	int64_t reset = r->st.rl_reset >= 0 ? r->st.rl_reset : 60000;
	char when[64];
	struct tm tm;
	time_t at;
	size_t i;
	int e = 0;

	if (r->dialect == D_ANTHROPIC) {
		at = time(NULL) + (time_t)((reset + 999) / 1000);
		gmtime_r(&at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	} else if (reset % 1000 == 0) {
		snprintf(when, sizeof(when), "%" PRId64 "s", reset / 1000);
	} else {
		snprintf(when, sizeof(when), "%" PRId64 "ms", reset);
	}
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		int64_t l = rem[i] > lim[i] ? rem[i] : lim[i];

		if (rem[i] < 0)
			continue;
		if (r->dialect == D_ANTHROPIC)
			e |= buf_printf(out, "anthropic-ratelimit-%s-limit: %"
			    PRId64 "\r\nanthropic-ratelimit-%s-remaining: %"
			    PRId64 "\r\nanthropic-ratelimit-%s-reset: %s\r\n",
			    kinds[i], l, kinds[i], rem[i], kinds[i], when);
		else
			e |= buf_printf(out, "x-ratelimit-limit-%s: %" PRId64
			    "\r\nx-ratelimit-remaining-%s: %" PRId64
			    "\r\nx-ratelimit-reset-%s: %s\r\n", kinds[i], l,
			    kinds[i], rem[i], kinds[i], when);
	}
	return e;
}

/* Status line and headers.  clen < 0 means a chunked body; r (API
 * answers only) adds the provider and Retry-After headers. */
static int
head(struct buf *out, int status, const char *ctype, int64_t clen,
    const struct req *r, bool close)
{
	int e;

	e = buf_printf(out, "HTTP/1.1 %d %s\r\n", status, reason(status));
	if (ctype != NULL)
		e |= buf_printf(out, "Content-Type: %s\r\n", ctype);
	if (clen >= 0)
		e |= buf_printf(out, "Content-Length: %" PRId64 "\r\n", clen);
	else
		e |= buf_addstr(out, "Transfer-Encoding: chunked\r\n"
		    "Cache-Control: no-cache\r\n");
	if (r != NULL) {
		e |= buf_printf(out, "x-mock-provider: %s\r\n", r->prov->name);
		if (r->st.gzip_mb > 0)
			e |= buf_addstr(out, "Content-Encoding: gzip\r\n");
		if (r->st.retry_after >= 0)
			e |= buf_printf(out, "Retry-After: %" PRId64 "\r\n",
			    r->st.retry_after);
		if (r->st.retry_after_ms >= 0)
			e |= buf_printf(out, "retry-after-ms: %" PRId64 "\r\n",
			    r->st.retry_after_ms);
		e |= ratelimit_headers(out, r);
	}
	if (close)
		e |= buf_addstr(out, "Connection: close\r\n");
	e |= buf_addstr(out, "\r\n");
	return e == 0 ? 0 : -1;
}

/* A whole small answer in one write (control endpoints, refusals). */
static int
send_plain(struct conn *c, int status, const char *ctype, const char *body,
    size_t len, bool close)
{
	struct buf out;
	int rc = -1;

	buf_init(&out, OUT_MAX);
	if (head(&out, status, ctype, (int64_t)len, NULL, close) == 0 &&
	    buf_add(&out, body, len) == 0)
		rc = conn_write(c, out.data, out.len);
	buf_free(&out);
	if (rc < 0)
		return ABORT;
	return close ? CLOSE : KEEP;
}

static int
send_text(struct conn *c, int status, const char *msg)
{
	return send_plain(c, status, "text/plain; charset=utf-8", msg,
	    strlen(msg), !c->keep_alive);
}

/* Stats say when the current response of a provider wrote body bytes. */
static void
chunk_time(const struct req *r)
{
	uint64_t now = now_real_ns();
	struct prov *p = r->prov;

	pthread_mutex_lock(&lock);
	if (p->resp_seq == r->seq) {
		if (p->first_chunk_ns == 0)
			p->first_chunk_ns = now;
		p->last_chunk_ns = now;
	}
	pthread_mutex_unlock(&lock);
}

/* A non-streamed API answer, honouring ttft_ms and cut_after (half the
 * body, then an abrupt close). */
static int
send_body(struct req *r, int status, const char *ctype, const char *body,
    size_t len)
{
	struct conn *c = r->c;
	bool cut = r->st.cut_after >= 0;
	size_t n = cut ? len / 2 : len;
	struct buf out;
	int rc = -1;

	if (r->st.cut_bytes >= 0 && (uint64_t)r->st.cut_bytes < n) {
		n = (size_t)r->st.cut_bytes;
		cut = true;
	}
	if (r->head_only)
		n = 0;
	buf_init(&out, OUT_MAX);
	if (head(&out, status, ctype, (int64_t)len, r, !c->keep_alive) < 0)
		goto done;
	if (r->st.ttft_ms > 0) {
		if (conn_write(c, out.data, out.len) < 0)
			goto done;
		buf_reset(&out);
		if (wait_ms(r, r->st.ttft_ms) < 0)
			goto done;
	}
	if (buf_add(&out, body, n) < 0 || conn_write(c, out.data, out.len) < 0)
		goto done;
	if (n > 0)
		chunk_time(r);
	rc = 0;
done:
	buf_free(&out);
	if (rc < 0 || cut)
		return ABORT;
	return c->keep_alive ? KEEP : CLOSE;
}

static int
send_json(struct req *r, int status, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc;

	json_decref(j);
	if (s == NULL)
		return send_plain(r->c, 500, "text/plain", "mock: no JSON\n",
		    14, true);
	rc = send_body(r, status, "application/json", s, strlen(s));
	free(s);
	return rc;
}

/* ---- streams: each event is one HTTP chunk in one write ---- */

static int
stream_begin(struct req *r)
{
	struct buf out;
	int rc;

	buf_init(&out, OUT_MAX);
	rc = head(&out, (int)r->st.status, "text/event-stream", -1, r,
	    !r->c->keep_alive);
	if (rc == 0)
		rc = conn_write(r->c, out.data, out.len);
	buf_free(&out);
	if (rc == 0 && wait_ms(r, r->st.ttft_ms) < 0)
		rc = -1;
	return rc;
}

static int
stream_end(struct req *r)
{
	if (conn_write(r->c, "0\r\n\r\n", 5) < 0)
		return ABORT;
	return r->c->keep_alive ? KEEP : CLOSE;
}

static int
sse_write(struct req *r, const char *event, const char *data)
{
	size_t plen = strlen("data: ") + strlen(data) + 2;
	struct buf out;
	int rc;

	if (event != NULL)
		plen += strlen("event: ") + strlen(event) + 1;
	buf_init(&out, OUT_MAX);
	rc = buf_printf(&out, "%zx\r\n", plen);
	if (rc == 0 && event != NULL)
		rc = buf_printf(&out, "event: %s\n", event);
	if (rc == 0)
		rc = buf_printf(&out, "data: %s\n\n\r\n", data);
	/* cut_bytes=N: the connection drops there, mid-event as it falls. */
	if (rc == 0 && r->st.cut_bytes >= 0 &&
	    r->sent + out.len > (uint64_t)r->st.cut_bytes) {
		(void)conn_write(r->c, out.data, (size_t)((uint64_t)
		    r->st.cut_bytes - r->sent));
		rc = -1;
	}
	if (rc == 0)
		rc = conn_write(r->c, out.data, out.len);
	r->sent += out.len;
	buf_free(&out);
	if (rc < 0)
		return -1;
	chunk_time(r);
	return 0;
}

/* Takes the reference to j. */
static int
sse_json(struct req *r, const char *event, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(j);
	if (s != NULL)
		rc = sse_write(r, event, s);
	free(s);
	return rc;
}

/* Boundaries (n + 1 of them) that split text into n pieces: by words when
 * there are enough, so pieces read naturally, else by UTF-8 characters,
 * and when even those run out, one per piece and then empty pieces.  The
 * pieces always add up to the whole text. */
static size_t *
split_text(const char *text, size_t n)
{
	size_t len = strlen(text), nunits = 0, i, *units, *b;

	units = xcalloc(len + 1, sizeof(*units));
	for (i = 0; i < len; i++)
		if (i == 0 || (text[i] != ' ' && text[i - 1] == ' '))
			units[nunits++] = i;
	if (nunits < n) {
		nunits = 0;
		for (i = 0; i < len; i++)
			if (((unsigned char)text[i] & 0xc0) != 0x80)
				units[nunits++] = i;
	}
	b = xcalloc(n + 1, sizeof(*b));
	for (i = 0; i < n; i++)
		b[i] = nunits >= n ? units[i * nunits / n] :
		    i < nunits ? units[i] : len;
	b[n] = len;
	free(units);
	return b;
}

typedef int (*piece_fn)(struct req *, size_t, const char *, size_t);

#define STREAM_ERROR	1	/* stream_pieces: send the error event now */

static json_t *openai_chunk(const struct req *, json_t *, const char *);

/* The content events of text (the answer, or a tool call's arguments),
 * paced; -1 on a write error or at the cut.  A cut or a stall past the
 * last piece still happens, before the finishing events; a stall at the
 * cut comes first, so a client can see an idle gap and then the break. */
static int
stream_pieces(struct req *r, const char *text, piece_fn emit)
{
	size_t n = (size_t)r->st.chunks, *b = split_text(text, n), i;
	size_t stop = n, stall = SIZE_MAX;
	int rc = 0;

	if (r->st.cut_after >= 0 && (size_t)r->st.cut_after < n)
		stop = (size_t)r->st.cut_after;
	if (r->st.stream_error >= 0 && (size_t)r->st.stream_error < stop)
		stop = (size_t)r->st.stream_error;
	if (r->st.stall_after >= 0 && r->st.stall_ms > 0)
		stall = (size_t)r->st.stall_after < n ?
		    (size_t)r->st.stall_after : n;
	for (i = 0; i <= stop && rc == 0; i++) {
		if (i == stall)
			sleep_ms(r->st.stall_ms);
		if (i == stop)
			break;
		if (i > 0)
			sleep_ms(r->st.pace_ms);
		rc = emit(r, i, text + b[i], b[i + 1] - b[i]);
	}
	free(b);
	if (rc == 0 && r->st.stream_error >= 0 &&
	    (r->st.cut_after < 0 || r->st.stream_error <= r->st.cut_after))
		return STREAM_ERROR;
	return r->st.cut_after >= 0 ? -1 : rc;
}

/* stream_error=N: the error a provider sends inside a 200 stream that
 * fails after it began, then a clean end.  OpenAI writes an error object
 * where a chunk would be, and then [DONE] (seen from the API:
 * github.com/sashabaranov/go-openai/pull/396); Anthropic an `error` event,
 * most often overloaded_error ("Error events", docs.anthropic.com, API,
 * Streaming Messages). */
static int
stream_error_event(struct req *r)
{
	if (r->dialect == D_ANTHROPIC) {
		if (sse_json(r, "error", json_pack("{s:s, s:{s:s, s:s}}",
		    "type", "error", "error", "type", "overloaded_error",
		    "message", "Overloaded")) < 0)
			return ABORT;
	} else if (sse_json(r, NULL, json_pack("{s:{s:s, s:s, s:n, s:n}}",
	    "error", "message", "The server had an error while processing "
	    "your request. Sorry about that!", "type", "server_error",
	    "param", "code")) < 0 || sse_write(r, NULL, "[DONE]") < 0) {
		return ABORT;
	}
	return stream_end(r);
}

/* think_kb=N: reasoning that is not the answer, before it, in 16 KiB
 * events: OpenAI-compatible `reasoning_content` deltas (DeepSeek's
 * reasoner streams them before `content`), Anthropic a thinking block
 * (extended thinking: thinking_delta events, then signature_delta), which
 * moves the text block to index 1. */
static int
stream_thinking(struct req *r)
{
	static char piece[16 << 10];
	int64_t left = r->st.think_kb << 10;
	size_t n;
	int rc = 0;

	if (left <= 0)
		return 0;
	memset(piece, 't', sizeof(piece));
	if (r->dialect == D_ANTHROPIC)
		rc = sse_json(r, "content_block_start", json_pack("{s:s, s:i,"
		    " s:{s:s, s:s, s:s}}", "type", "content_block_start",
		    "index", 0, "content_block", "type", "thinking", "thinking",
		    "", "signature", ""));
	for (; rc == 0 && left > 0; left -= (int64_t)n) {
		n = left > (int64_t)sizeof(piece) ? sizeof(piece) :
		    (size_t)left;
		if (r->dialect == D_ANTHROPIC)
			rc = sse_json(r, "content_block_delta", json_pack(
			    "{s:s, s:i, s:{s:s, s:s%}}", "type",
			    "content_block_delta", "index", 0, "delta", "type",
			    "thinking_delta", "thinking", piece, n));
		else
			rc = sse_json(r, NULL, openai_chunk(r, json_pack(
			    "{s:s, s:n, s:s%}", "role", "assistant", "content",
			    "reasoning_content", piece, n), NULL));
	}
	if (rc == 0 && r->dialect == D_ANTHROPIC) {
		rc = sse_json(r, "content_block_delta", json_pack("{s:s, s:i,"
		    " s:{s:s, s:s}}", "type", "content_block_delta", "index", 0,
		    "delta", "type", "signature_delta", "signature",
		    "c2lnbmF0dXJl"));
		if (rc == 0)
			rc = sse_json(r, "content_block_stop", json_pack(
			    "{s:s, s:i}", "type", "content_block_stop",
			    "index", 0));
		r->block = 1;
	}
	return rc;
}

/* What the answer says about why it ended, unless finish= overrides. */
static const char *
finish_of(const struct req *r)
{
	bool a = r->dialect == D_ANTHROPIC;

	if (r->st.finish != NULL)
		return r->st.finish;
	if (r->st.tool_args != NULL)
		return a ? "tool_use" : "tool_calls";
	if (r->st.refusal && a)
		return "refusal";
	return a ? "end_turn" : "stop";
}

#define TOOL_NAME	"lookup"
#define OPENAI_TOOL_ID	"call_mock1"
#define ANTHROPIC_TOOL_ID "toolu_mock1"

/* ---- OpenAI ---- */

static json_t *
openai_chunk(const struct req *r, json_t *delta, const char *finish)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?}]}",
	    "id", r->id, "object", "chat.completion.chunk",
	    "created", (json_int_t)r->created, "model", r->model,
	    "choices", "index", 0, "delta", delta, "finish_reason", finish);
}

static json_t *
openai_usage(const struct req *r)
{
	json_int_t p = r->st.prompt_tokens, c = r->st.completion_tokens;

	return json_pack("{s:I, s:I, s:I}", "prompt_tokens", p,
	    "completion_tokens", c, "total_tokens", p + c);
}

/* A refusal streams "refusal" pieces where an answer streams "content";
 * a tool call streams its arguments after openai_tool_head. */
static int
openai_piece(struct req *r, size_t i, const char *p, size_t n)
{
	json_t *delta;

	if (r->st.tool_args != NULL)
		delta = json_pack("{s:[{s:i, s:{s:s%}}]}", "tool_calls",
		    "index", 0, "function", "arguments", p, n);
	else if (r->st.refusal && i == 0)
		delta = json_pack("{s:s, s:n, s:s%}", "role", "assistant",
		    "content", "refusal", p, n);
	else if (r->st.refusal)
		delta = json_pack("{s:s%}", "refusal", p, n);
	else if (i == 0)
		delta = json_pack("{s:s, s:s%}", "role", "assistant",
		    "content", p, n);
	else
		delta = json_pack("{s:s%}", "content", p, n);
	return sse_json(r, NULL, openai_chunk(r, delta, NULL));
}

static int
openai_tool_head(struct req *r)
{
	return sse_json(r, NULL, openai_chunk(r, json_pack("{s:s, s:n,"
	    " s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "role", "assistant",
	    "content", "tool_calls", "index", 0, "id", OPENAI_TOOL_ID,
	    "type", "function", "function", "name", TOOL_NAME,
	    "arguments", ""), NULL));
}

static int
openai_stream(struct req *r)
{
	const char *text = r->st.tool_args != NULL ? r->st.tool_args :
	    r->text;

	int rc;

	if (stream_begin(r) < 0 || stream_thinking(r) < 0 ||
	    (r->st.tool_args != NULL && openai_tool_head(r) < 0) ||
	    (rc = stream_pieces(r, text, openai_piece)) < 0)
		return ABORT;
	if (rc == STREAM_ERROR)
		return stream_error_event(r);
	if (r->st.no_end == END_NOTHING_AFTER)
		return stream_end(r);
	if (sse_json(r, NULL, openai_chunk(r, json_object(),
	    finish_of(r))) < 0)
		return ABORT;
	if (r->include_usage && sse_json(r, NULL, json_pack(
	    "{s:s, s:s, s:I, s:s, s:[], s:o}", "id", r->id,
	    "object", "chat.completion.chunk", "created",
	    (json_int_t)r->created, "model", r->model, "choices",
	    "usage", openai_usage(r))) < 0)
		return ABORT;
	if (r->st.no_end == END_ALL && sse_write(r, NULL, "[DONE]") < 0)
		return ABORT;
	return stream_end(r);
}

/* OpenAI's embeddings answer, as its API reference gives it ("Create
 * embeddings", https://developers.openai.com/api/reference): one vector
 * per input (a string or an array of them), of the request's
 * "dimensions" (8 when it asks none), whose first value tells the
 * provider: its name's length. */
/* OpenAI's Responses API, as its reference gives it
 * (https://developers.openai.com/api/reference, "Responses" and
 * "Streaming events"): a Response with one message of the text, and
 * usage 10 in, 5 out. */
static json_t *
responses_object(const struct req *r, const char *status)
{
	bool done = strcmp(status, "completed") == 0;

	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:n, s:n, s:o, s:o}",
	    "id", r->id, "object", "response", "created_at",
	    (json_int_t)r->created, "status", status, "model", r->model,
	    "error", "incomplete_details", "output", done ? json_pack(
	    "[{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:[]}]}]", "type", "message",
	    "id", "msg_mock", "status", "completed", "role", "assistant",
	    "content", "type", "output_text", "text", r->text,
	    "annotations") : json_array(), "usage", done ? json_pack(
	    "{s:i, s:i, s:i}", "input_tokens", 10, "output_tokens", 5,
	    "total_tokens", 15) : json_null());
}

static int
responses_event(struct buf *b, int *seq, const char *type, json_t *ev)
{
	char *s;
	int r;

	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "sequence_number", json_integer((*seq)++));
	s = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (s == NULL)
		return -1;
	r = buf_printf(b, "event: %s\ndata: %s\n\n", type, s);
	free(s);
	return r;
}

/* The events of a streamed Response, the text in two deltas. */
static int
responses_stream(struct req *r)
{
	size_t n = strlen(r->text), half = n / 2;
	char *first = xstrndup(r->text, half);
	struct buf b;
	int seq = 0, rc;

	buf_init(&b, OUT_MAX);
	responses_event(&b, &seq, "response.created", json_pack("{s:o}",
	    "response", responses_object(r, "in_progress")));
	responses_event(&b, &seq, "response.in_progress", json_pack("{s:o}",
	    "response", responses_object(r, "in_progress")));
	responses_event(&b, &seq, "response.output_item.added", json_pack(
	    "{s:i, s:{s:s, s:s, s:s, s:s, s:[]}}", "output_index", 0, "item",
	    "type", "message", "id", "msg_mock", "status", "in_progress",
	    "role", "assistant", "content"));
	responses_event(&b, &seq, "response.content_part.added", json_pack(
	    "{s:s, s:i, s:i, s:{s:s, s:s, s:[]}}", "item_id", "msg_mock",
	    "output_index", 0, "content_index", 0, "part", "type",
	    "output_text", "text", "", "annotations"));
	responses_event(&b, &seq, "response.output_text.delta", json_pack(
	    "{s:s, s:i, s:i, s:s}", "item_id", "msg_mock", "output_index", 0,
	    "content_index", 0, "delta", first));
	if (r->st.stream_error >= 0) {
		/* stream_error=N (any N): after the first half, the error
		 * event the Responses stream reference gives, no end. */
		responses_event(&b, &seq, "error", json_pack("{s:s, s:s, s:n}",
		    "code", "server_error", "message", "The server had an "
		    "error while processing your request.", "param"));
		goto send;
	}
	responses_event(&b, &seq, "response.output_text.delta", json_pack(
	    "{s:s, s:i, s:i, s:s}", "item_id", "msg_mock", "output_index", 0,
	    "content_index", 0, "delta", r->text + half));
	responses_event(&b, &seq, "response.output_text.done", json_pack(
	    "{s:s, s:i, s:i, s:s}", "item_id", "msg_mock", "output_index", 0,
	    "content_index", 0, "text", r->text));
	responses_event(&b, &seq, "response.output_item.done", json_pack(
	    "{s:i, s:o}", "output_index", 0, "item", json_pack("{s:s, s:s, "
	    "s:s, s:s, s:[{s:s, s:s, s:[]}]}", "type", "message", "id",
	    "msg_mock", "status", "completed", "role", "assistant", "content",
	    "type", "output_text", "text", r->text, "annotations")));
	responses_event(&b, &seq, "response.completed", json_pack("{s:o}",
	    "response", responses_object(r, "completed")));
send:
	rc = send_body(r, 200, "text/event-stream", b.data ? b.data : "",
	    b.len);
	buf_free(&b);
	free(first);
	return rc;
}

/* OpenAI's legacy Completions API, as its reference gives it
 * (https://developers.openai.com/api/reference, "Completions"): a
 * text_completion of the text, or its chunks (the text in two, then the
 * finish, the usage chunk when asked) and [DONE]. */
static json_t *
completions_object(const struct req *r, const char *text,
    const char *finish, bool usage)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:[{s:s, s:i, s:n, "
	    "s:s?}]}", "id", r->id, "object", "text_completion", "created",
	    (json_int_t)r->created, "model", r->model, "choices", "text", text,
	    "index", 0, "logprobs", "finish_reason", finish);

	if (usage)
		json_object_set_new(j, "usage", openai_usage(r));
	return j;
}

static int
completions_stream(struct req *r)
{
	size_t half = strlen(r->text) / 2;
	char *first = xstrndup(r->text, half);
	json_t *u;
	int rc = ABORT;

	if (stream_begin(r) < 0 ||
	    sse_json(r, NULL, completions_object(r, first, NULL, false)) < 0 ||
	    sse_json(r, NULL, completions_object(r, r->text + half, NULL,
	    false)) < 0 ||
	    sse_json(r, NULL, completions_object(r, "", finish_of(r),
	    false)) < 0)
		goto out;
	if (r->include_usage) {
		u = completions_object(r, "", NULL, true);
		json_object_set_new(u, "choices", json_array());
		if (sse_json(r, NULL, u) < 0)
			goto out;
	}
	if (sse_write(r, NULL, "[DONE]") < 0)
		goto out;
	rc = stream_end(r);
out:
	free(first);
	return rc;
}

/* A vector as "encoding_format": "base64" asks it (the openai SDKs ask
 * so by default): its float32s, little-endian, in base64. */
static json_t *
embedding_base64(json_int_t n, float first)
{
	size_t len = (size_t)n * 4;
	unsigned char *raw = xcalloc(len, 1);
	char *b64 = xcalloc(4 * ((len + 2) / 3) + 1, 1);
	json_t *s;
	json_int_t i;

	for (i = 0; i < n; i++) {
		float f = i == 0 ? first : 0.125f;
		uint32_t u;

		memcpy(&u, &f, 4);
		raw[4 * i] = u & 0xff;
		raw[4 * i + 1] = (u >> 8) & 0xff;
		raw[4 * i + 2] = (u >> 16) & 0xff;
		raw[4 * i + 3] = (u >> 24) & 0xff;
	}
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)len);
	s = json_string(b64);
	free(raw);
	free(b64);
	return s;
}

static json_t *
embeddings(const struct req *r)
{
	const json_t *in = json_object_get(r->json, "input");
	json_t *dims = json_object_get(r->json, "dimensions");
	bool b64 = json_is_string(json_object_get(r->json,
	    "encoding_format")) && strcmp(json_string_value(json_object_get(
	    r->json, "encoding_format")), "base64") == 0;
	json_int_t n = json_is_integer(dims) ? json_integer_value(dims) : 8;
	size_t k, count = json_is_array(in) ? json_array_size(in) : 1;
	json_t *data = json_array(), *v;
	json_int_t i;

	if (n < 1 || n > 65536)
		n = 8;
	for (k = 0; k < count; k++) {
		if (b64) {
			v = embedding_base64(n, (float)strlen(r->prov->name));
		} else {
			v = json_array();
			for (i = 0; i < n; i++)
				json_array_append_new(v, json_real(i == 0 ?
				    (double)strlen(r->prov->name) : 0.125));
		}
		json_array_append_new(data, json_pack("{s:s, s:i, s:o}",
		    "object", "embedding", "index", (int)k, "embedding", v));
	}
	return json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list",
	    "data", data, "model", r->model, "usage", "prompt_tokens", 10,
	    "total_tokens", 10);
}

static json_t *
openai_message(const struct req *r)
{
	json_t *msg;

	if (r->st.tool_args != NULL)
		msg = json_pack("{s:s, s:n, s:[{s:s, s:s, s:{s:s, s:s}}]}",
		    "role", "assistant", "content", "tool_calls",
		    "id", OPENAI_TOOL_ID, "type", "function", "function",
		    "name", TOOL_NAME, "arguments", r->st.tool_args);
	else if (r->st.refusal)
		msg = json_pack("{s:s, s:n, s:s}", "role", "assistant",
		    "content", "refusal", r->text);
	else
		msg = json_pack("{s:s, s:s}", "role", "assistant",
		    "content", r->text);
	return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s}], s:o}",
	    "id", r->id, "object", "chat.completion",
	    "created", (json_int_t)r->created, "model", r->model,
	    "choices", "index", 0, "message", msg,
	    "finish_reason", finish_of(r), "usage", openai_usage(r));
}

/* ---- Anthropic ---- */

static int
anthropic_piece(struct req *r, size_t i, const char *p, size_t n)
{
	(void)i;
	if (r->st.tool_args != NULL)
		return sse_json(r, "content_block_delta", json_pack(
		    "{s:s, s:i, s:{s:s, s:s%}}", "type", "content_block_delta",
		    "index", r->block, "delta", "type", "input_json_delta",
		    "partial_json", p, n));
	return sse_json(r, "content_block_delta", json_pack(
	    "{s:s, s:i, s:{s:s, s:s%}}", "type", "content_block_delta",
	    "index", r->block, "delta", "type", "text_delta", "text", p, n));
}

static json_t *
anthropic_block_start(const struct req *r)
{
	json_t *block;

	if (r->st.tool_args != NULL)
		block = json_pack("{s:s, s:s, s:s, s:{}}", "type", "tool_use",
		    "id", ANTHROPIC_TOOL_ID, "name", TOOL_NAME, "input");
	else
		block = json_pack("{s:s, s:s}", "type", "text", "text", "");
	return json_pack("{s:s, s:i, s:o}", "type", "content_block_start",
	    "index", r->block, "content_block", block);
}

static int
anthropic_stream(struct req *r)
{
	const char *text = r->st.tool_args != NULL ? r->st.tool_args :
	    r->text;
	int rc;

	if (stream_begin(r) < 0 ||
	    sse_json(r, "message_start", json_pack("{s:s, s:{s:s, s:s, s:s,"
	    " s:s, s:[], s:n, s:n, s:{s:I, s:i}}}", "type", "message_start",
	    "message", "id", r->id, "type", "message", "role", "assistant",
	    "model", r->model, "content", "stop_reason", "stop_sequence",
	    "usage", "input_tokens", (json_int_t)r->st.prompt_tokens,
	    "output_tokens", 0)) < 0 ||
	    stream_thinking(r) < 0 ||
	    sse_json(r, "content_block_start", anthropic_block_start(r)) < 0 ||
	    sse_json(r, "ping", json_pack("{s:s}", "type", "ping")) < 0 ||
	    (rc = stream_pieces(r, text, anthropic_piece)) < 0)
		return ABORT;
	if (rc == STREAM_ERROR)
		return stream_error_event(r);
	if (r->st.no_end == END_NOTHING_AFTER)
		return stream_end(r);
	if (sse_json(r, "content_block_stop", json_pack("{s:s, s:i}",
	    "type", "content_block_stop", "index", r->block)) < 0)
		return ABORT;
	if (r->st.no_end == END_NO_MARKER)
		return stream_end(r);
	if (sse_json(r, "message_delta", json_pack("{s:s, s:{s:s, s:n},"
	    " s:{s:I}}", "type", "message_delta", "delta", "stop_reason",
	    finish_of(r), "stop_sequence", "usage", "output_tokens",
	    (json_int_t)r->st.completion_tokens)) < 0 ||
	    sse_json(r, "message_stop", json_pack("{s:s}", "type",
	    "message_stop")) < 0)
		return ABORT;
	return stream_end(r);
}

/* A tool call's input is the arguments parsed; arguments that do not
 * parse go in as the raw string, since a wrong answer is the point. */
static json_t *
anthropic_message(const struct req *r)
{
	json_t *block, *input;

	if (r->st.tool_args != NULL) {
		input = json_loads(r->st.tool_args, JSON_DECODE_ANY, NULL);
		if (input == NULL)
			input = json_string(r->st.tool_args);
		block = json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use",
		    "id", ANTHROPIC_TOOL_ID, "name", TOOL_NAME,
		    "input", input);
	} else
		block = json_pack("{s:s, s:s}", "type", "text", "text",
		    r->text);
	return json_pack("{s:s, s:s, s:s, s:s, s:[o], s:s, s:n,"
	    " s:{s:I, s:I}}", "id", r->id, "type", "message",
	    "role", "assistant", "model", r->model, "content", block,
	    "stop_reason", finish_of(r), "stop_sequence",
	    "usage", "input_tokens", (json_int_t)r->st.prompt_tokens,
	    "output_tokens", (json_int_t)r->st.completion_tokens);
}

/* ---- errors and dispatch ---- */

/* Whether the query [q, end) has a non-empty parameter name. */
static bool
query_has(const char *q, const char *end, const char *name)
{
	size_t n = strlen(name);

	while (q < end) {
		if ((size_t)(end - q) > n + 1 && strncmp(q, name, n) == 0 &&
		    q[n] == '=' && q[n + 1] != '&')
			return true;
		if ((q = memchr(q, '&', (size_t)(end - q))) == NULL)
			break;
		q++;
	}
	return false;
}

/* Google's names for the statuses (google.rpc.Code), as Gemini puts
 * them in "status". */
static const char *
gemini_status(int status)
{
	switch (status) {
	case 400: return "INVALID_ARGUMENT";
	case 401: return "UNAUTHENTICATED";
	case 403: return "PERMISSION_DENIED";
	case 404: return "NOT_FOUND";
	case 429: return "RESOURCE_EXHAUSTED";
	case 503: return "UNAVAILABLE";
	case 504: return "DEADLINE_EXCEEDED";
	default: return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
	}
}

/* Gemini's OpenAI-compatible endpoint
 * (generativelanguage.googleapis.com/v1beta/openai/) answers errors as
 * an array of one Google error object, e.g. (github.com/FuzzAnything/
 * PromptFuzz/issues/42, a 400 from that endpoint):
 *   [{"error": {"code": 400, "message": "Invalid JSON payload received.
 *     ...", "status": "INVALID_ARGUMENT", "details": [...]}}]
 * and a prompt over the window says (github.com/google-gemini/
 * gemini-cli/issues/6678, 12214, 13006):
 *   "The input token count (1200293) exceeds the maximum number of
 *    tokens allowed (1048576)." */
static json_t *
error_gemini(const struct req *r, int status)
{
	const char *msg = r->st.error == ERR_GEMINI_CONTEXT ?
	    "The input token count (1200293) exceeds the maximum number of"
	    " tokens allowed (1048576)." : status == 429 ?
	    "Resource has been exhausted (e.g. check quota)." :
	    status >= 500 ? "The model is overloaded. Please try again"
	    " later." : "Request contains an invalid argument.";

	return json_pack("[{s:{s:i, s:s, s:s}}]", "error", "code", status,
	    "message", msg, "status", gemini_status(status));
}

/* Real bodies for the statuses a ladder must not take for the caller's
 * mistake:
 * - DeepSeek's 402 (api-docs.deepseek.com/quick_start/error_codes:
 *   "402 - Insufficient Balance"; the body as clients log it, e.g. in
 *   github.com/continuedev/continue/issues/9942):
 *   {"error": {"message": "Insufficient Balance", "type":
 *    "unknown_error", "param": null, "code": "invalid_request_error"}}
 * - Ollama's OpenAI-compatible /v1/chat/completions for a model not
 *   pulled (github.com/netease-youdao/QAnything/issues/555):
 *   {"error": {"message": "model \"llama3\" not found, try pulling it
 *    first", "type": "api_error", "param": null, "code": null}}
 * - Azure OpenAI for a deployment the resource has not (learn.microsoft
 *   .com/en-us/answers/questions/1299621; LibreChat discussion 1284):
 *   {"error": {"code": "DeploymentNotFound", "message": "The API
 *    deployment for this resource does not exist. ..."}} */
static json_t *
error_provider(const struct req *r)
{
	char msg[160];

	switch (r->st.error) {
	case ERR_BALANCE:
		return json_pack("{s:{s:s, s:s, s:n, s:s}}", "error",
		    "message", "Insufficient Balance", "type", "unknown_error",
		    "param", "code", "invalid_request_error");
	case ERR_MODEL_NOT_FOUND:
		snprintf(msg, sizeof(msg), "model \"%.64s\" not found, try "
		    "pulling it first", r->model);
		return json_pack("{s:{s:s, s:s, s:n, s:n}}", "error",
		    "message", msg, "type", "api_error", "param", "code");
	default:
		return json_pack("{s:{s:s, s:s}}", "error", "code",
		    "DeploymentNotFound", "message", "The API deployment for"
		    " this resource does not exist. If you created the"
		    " deployment within the last 5 minutes, please wait a"
		    " moment and try again.");
	}
}

/* The bodies real providers send for the errors a gateway must tell
 * apart from a plain failure: a prompt too long for the model, and a
 * content filter (Azure OpenAI's words for the OpenAI dialect). */
static json_t *
error_known(const struct req *r)
{
	bool ctx = r->st.error == ERR_CONTEXT;

	if (r->dialect == D_ANTHROPIC)
		return json_pack("{s:s, s:{s:s, s:s}}", "type", "error",
		    "error", "type", "invalid_request_error", "message", ctx ?
		    "prompt is too long: 210000 tokens > 200000 maximum" :
		    "Output blocked by content filtering policy");
	if (ctx)
		return json_pack("{s:{s:s, s:s, s:s, s:s}}", "error",
		    "message", "This model's maximum context length is 8192"
		    " tokens. However, your messages resulted in 9000 tokens.",
		    "type", "invalid_request_error", "param", "messages",
		    "code", "context_length_exceeded");
	return json_pack("{s:{s:s, s:n, s:s, s:s}}", "error",
	    "message", "The response was filtered due to the prompt"
	    " triggering Azure OpenAI's content management policy.",
	    "type", "param", "prompt", "code", "content_filter");
}

static json_t *
error_json(const struct req *r, int status)
{
	const char *type;
	char msg[128];

	if (r->st.error == ERR_GEMINI || r->st.error == ERR_GEMINI_CONTEXT)
		return error_gemini(r, status);
	if (r->st.error >= ERR_BALANCE)
		return error_provider(r);
	if (r->st.error != ERR_PLAIN)
		return error_known(r);
	snprintf(msg, sizeof(msg), "mock %s status %d", r->prov->name,
	    status);
	if (r->dialect == D_ANTHROPIC) {
		type = status == 529 ? "overloaded_error" :
		    status == 429 ? "rate_limit_error" :
		    status >= 500 ? "api_error" : "invalid_request_error";
		return json_pack("{s:s, s:{s:s, s:s}}", "type", "error",
		    "error", "type", type, "message", msg);
	}
	type = status == 429 ? "rate_limit_error" :
	    status < 500 ? "invalid_request_error" : "server_error";
	return json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", msg,
	    "type", type, "param", "code");
}

/* A malformed stream still has correct HTTP and SSE framing; malformed=2
 * is a stream with no event at all. */
static int
stream_malformed(struct req *r)
{
	if (stream_begin(r) < 0 || (r->st.malformed == 1 && sse_write(r,
	    r->ep == EP_MESSAGES ? "message_start" : NULL, "{not json") < 0))
		return ABORT;
	return stream_end(r);
}

/* gzip_mb=N: a gzip answer that decodes to N MiB of blanks (about a
 * thousandth of that on the wire), for the readers' size caps. */
static int
send_gzip_bomb(struct req *r)
{
	static char blanks[1 << 16];
	z_stream z;
	struct buf out;
	int64_t left = r->st.gzip_mb << 20;
	int rc = ABORT, zr;

	memset(blanks, ' ', sizeof(blanks));
	memset(&z, 0, sizeof(z));
	buf_init(&out, OUT_MAX);
	/* windowBits 15 + 16: a gzip wrapper. */
	if (deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		goto out;
	do {
		char chunk[1 << 14];
		size_t in = left > (int64_t)sizeof(blanks) ? sizeof(blanks) :
		    (size_t)left;

		left -= (int64_t)in;
		z.next_in = (Bytef *)blanks;
		z.avail_in = (uInt)in;
		do {
			z.next_out = (Bytef *)chunk;
			z.avail_out = sizeof(chunk);
			zr = deflate(&z, left > 0 ? Z_NO_FLUSH : Z_FINISH);
			if (zr == Z_STREAM_ERROR || buf_add(&out, chunk,
			    sizeof(chunk) - z.avail_out) < 0)
				goto end;
		} while (z.avail_out == 0);
	} while (left > 0);
	{
		struct buf h;

		buf_init(&h, 4096);
		if (head(&h, 200, "application/json", (int64_t)out.len, r,
		    !r->c->keep_alive) == 0 &&
		    conn_write(r->c, h.data, h.len) == 0 &&
		    conn_write(r->c, out.data, out.len) == 0)
			rc = r->c->keep_alive ? KEEP : CLOSE;
		buf_free(&h);
	}
end:
	deflateEnd(&z);
out:
	buf_free(&out);
	return rc;
}

static char *header_dup(const struct conn *, const char *);

/* azure=DEPLOYMENT: the request must be what Azure OpenAI takes, else
 * Azure's answer (learn.microsoft.com/azure/ai-foundry/openai/reference:
 * POST {endpoint}/openai/deployments/{deployment-id}/chat/completions
 * ?api-version=2024-10-21, the key in an "api-key" header; or the v1
 * API, {endpoint}/openai/v1/chat/completions, with no api-version):
 * - no api-key: 401 {"error": {"code": "401", "message": "Access
 *   denied due to invalid subscription key or wrong API endpoint. ..."}}
 *   (github.com/SciSharp/BotSharp/issues/386);
 * - no api-version, or another path: 404 {"error": {"code": "404",
 *   "message": "Resource not found"}} (learn.microsoft.com/en-us/
 *   answers/questions/1360789);
 * - another deployment: 404 DeploymentNotFound (error_provider).
 * Returns -1 when the request passes. */
static int
azure_check(struct req *r)
{
	static const char dep[] = "/openai/deployments/";
	const char *api = r->api, *d = r->st.azure, *q;
	char *key = header_dup(r->c, "api-key");
	size_t n = strlen(d);
	bool ok_key = key != NULL && *key != '\0';

	free(key);
	q = memchr(r->c->url.data, '?', r->c->url.len);
	if (!ok_key)
		return send_json(r, 401, json_pack("{s:{s:s, s:s}}", "error",
		    "code", "401", "message", "Access denied due to invalid"
		    " subscription key or wrong API endpoint. Make sure to"
		    " provide a valid key for an active subscription and use a"
		    " correct regional API endpoint for your resource."));
	if (strcmp(api, "/openai/v1/chat/completions") == 0)
		return -1;
	if (strncmp(api, dep, sizeof(dep) - 1) != 0 ||
	    strchr(api + sizeof(dep) - 1, '/') == NULL ||
	    strcmp(strchr(api + sizeof(dep) - 1, '/'), "/chat/completions")
	    != 0 || q == NULL || !query_has(q + 1, r->c->url.data +
	    r->c->url.len, "api-version"))
		return send_json(r, 404, json_pack("{s:{s:s, s:s}}", "error",
		    "code", "404", "message", "Resource not found"));
	api += sizeof(dep) - 1;
	if (strncmp(api, d, n) != 0 || api[n] != '/') {
		r->st.error = ERR_DEPLOYMENT_NOT_FOUND;
		return send_json(r, 404, error_provider(r));
	}
	return -1;
}

static int
respond(struct req *r)
{
	int status = (int)r->st.status, rc;

	if (wait_ms(r, r->st.delay_ms) < 0 || r->st.close)
		return ABORT;
	if (r->st.azure != NULL && (rc = azure_check(r)) >= 0)
		return rc;
	if (r->st.gzip_mb > 0)
		return send_gzip_bomb(r);
	if (status == 204 || status == 304)
		return send_body(r, status, NULL, "", 0);
	if (r->st.malformed)
		return r->stream && status < 400 ? stream_malformed(r) :
		    send_body(r, status, "application/json", "{not json",
		    r->st.malformed == 1 ? 9 : 0);
	if (status >= 400)
		return send_json(r, status, error_json(r, status));
	if (r->ep == EP_OTHER)
		return send_json(r, status, json_pack("{s:s, s:[], s:s}",
		    "object", "list", "data", "mock", r->prov->name));
	if (r->json == NULL)
		return send_json(r, 400, error_json(r, 400));
	if (r->ep == EP_CHAT)
		return r->stream ? openai_stream(r) :
		    send_json(r, status, openai_message(r));
	if (r->ep == EP_EMBEDDINGS)
		return send_json(r, status, embeddings(r));
	if (r->ep == EP_RESPONSES)
		return r->stream ? responses_stream(r) :
		    send_json(r, status, responses_object(r, "completed"));
	if (r->ep == EP_COMPLETIONS)
		return r->stream ? completions_stream(r) :
		    send_json(r, status, completions_object(r, r->text,
		    finish_of(r), true));
	return r->stream ? anthropic_stream(r) :
	    send_json(r, status, anthropic_message(r));
}

/* ---- providers ---- */

static bool
valid_name(const char *s, size_t n)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_-";
	size_t i;

	if (n == 0 || n > NAME_LEN_MAX || (n == 2 && memcmp(s, "v1", 2) == 0)
	    || (n == 5 && memcmp(s, "_mock", 5) == 0))
		return false;
	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(ok, s[i]) == NULL)
			return false;
	return true;
}

/* "/NAME/rest" is provider NAME with API path "/rest"; any other path
 * belongs to "default" whole. */
static const char *
split_provider(const char *path, char name[NAME_LEN_MAX + 1])
{
	size_t n = strcspn(path + 1, "/");

	if (valid_name(path + 1, n)) {
		memcpy(name, path + 1, n);
		name[n] = '\0';
		return path[1 + n] == '\0' ? "/" : path + 1 + n;
	}
	snprintf(name, NAME_LEN_MAX + 1, "default");
	return path;
}

static void
step_strings_free(struct step *st)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(str_keys); i++) {
		free(*STEP_STR(st, &str_keys[i]));
		*STEP_STR(st, &str_keys[i]) = NULL;
	}
}

static void
steps_free(struct step *steps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		step_strings_free(&steps[i]);
	free(steps);
}

/* Called locked.  NULL when the table is full. */
static struct prov *
prov_get(const char *name)
{
	struct prov *p;
	size_t i;

	for (i = 0; i < nprovs; i++)
		if (strcmp(provs[i]->name, name) == 0)
			return provs[i];
	if (nprovs == PROVS_MAX)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	provs[nprovs++] = p;
	return p;
}

/* Called locked. */
static void
prov_clear(struct prov *p)
{
	steps_free(p->steps, p->nsteps);
	free(p->model);
	free(p->path);
	free(p->query);
	free(p->auth);
	free(p->api_key);
	free(p->prefix);
	json_decref(p->headers);
	json_decref(p->request);
	memset((char *)p + offsetof(struct prov, steps), 0,
	    sizeof(*p) - offsetof(struct prov, steps));
}

/* Called locked: the next step; the last one sticks. */
static void
step_take(struct prov *p, struct step *st)
{
	size_t i;
	char **s;

	if (p->nsteps == 0) {
		*st = default_step;
		return;
	}
	*st = p->steps[p->next];
	for (i = 0; i < ARRAY_SIZE(str_keys); i++) {
		s = STEP_STR(st, &str_keys[i]);
		if (*s != NULL)
			*s = xstrdup(*s);
	}
	if (p->next + 1 < p->nsteps)
		p->next++;
}

/* Called locked: count the connection once per provider. */
static void
count_connection(struct conn *c, struct prov *p)
{
	size_t i;

	if (c->seen_epoch != epoch) {
		c->seen_epoch = epoch;
		c->nseen = 0;
	}
	for (i = 0; i < c->nseen; i++)
		if (c->seen[i] == p)
			return;
	p->connections++;
	if (c->nseen < SEEN_MAX)
		c->seen[c->nseen++] = p;
}

static void
swap_str(char **slot, char *s)
{
	free(*slot);
	*slot = s;
}

static char *
header_dup(const struct conn *c, const char *name)
{
	const struct hdr *h;
	size_t i;

	for (i = 0; i < c->nhdrs; i++) {
		h = &c->hdrs[i];
		if (mem_case_eq(c->hdrbuf.data + h->name, h->name_len, name))
			return xstrndup(c->hdrbuf.data + h->val, h->val_len);
	}
	return NULL;
}

/* Lowercased names; a repeated header is joined with ", ".  Names or
 * values that are not UTF-8 are left out. */
static json_t *
headers_json(const struct conn *c)
{
	json_t *o = json_object(), *old;
	const struct hdr *h;
	struct buf v;
	char *key;
	size_t i, k;

	for (i = 0; i < c->nhdrs; i++) {
		h = &c->hdrs[i];
		key = xstrndup(c->hdrbuf.data + h->name, h->name_len);
		for (k = 0; key[k] != '\0'; k++)
			key[k] = (char)tolower((unsigned char)key[k]);
		buf_init(&v, 2 * HDR_BYTES_MAX);
		if ((old = json_object_get(o, key)) != NULL) {
			buf_addstr(&v, json_string_value(old));
			buf_addstr(&v, ", ");
		}
		if (buf_add(&v, c->hdrbuf.data + h->val, h->val_len) == 0)
			json_object_set_new(o, key,
			    json_stringn(v.data, v.len));
		buf_free(&v);
		free(key);
	}
	return o;
}

/* When the messages end with an assistant message, its text: a string
 * content, or the text parts of an array joined.  NULL otherwise. */
static char *
prefix_of(const json_t *body)
{
	json_t *msgs = json_object_get(body, "messages"), *last, *content;
	const char *role, *t;
	struct buf b;
	size_t i;
	char *s;

	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return NULL;
	last = json_array_get(msgs, json_array_size(msgs) - 1);
	role = json_string_value(json_object_get(last, "role"));
	if (role == NULL || strcmp(role, "assistant") != 0)
		return NULL;
	content = json_object_get(last, "content");
	if (json_is_string(content))
		return xstrndup(json_string_value(content),
		    json_string_length(content));
	buf_init(&b, BODY_MAX);
	for (i = 0; i < json_array_size(content); i++) {
		t = json_string_value(json_object_get(
		    json_array_get(content, i), "text"));
		if (t != NULL)
			buf_addstr(&b, t);
	}
	s = xstrndup(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return s;
}

/* Counters change before any answer is sent: a client that got its
 * answer sees itself counted.  Also takes the request's script step. */
static void
record(struct req *r, const char *name, const char *target)
{
	struct conn *c = r->c;
	json_t *hdrs = headers_json(c);
	char *prefix = prefix_of(r->json);
	char *model = r->json_model ? xstrdup(r->json_model) : NULL;
	char *path = xstrdup(target);
	const char *q = c->url.data != NULL ?
	    memchr(c->url.data, '?', c->url.len) : NULL;
	char *query = q != NULL ? xstrndup(q + 1,
	    c->url.len - (size_t)(q + 1 - c->url.data)) : NULL;
	char *auth = header_dup(c, "authorization");
	char *key = header_dup(c, "x-api-key");
	struct prov *p;

	pthread_mutex_lock(&lock);
	if ((p = prov_get(name)) == NULL)
		p = provs[0];
	p->requests++;
	if (r->stream)
		p->streams++;
	count_connection(c, p);
	swap_str(&p->model, model);
	swap_str(&p->path, path);
	swap_str(&p->query, query);
	swap_str(&p->auth, auth);
	swap_str(&p->api_key, key);
	swap_str(&p->prefix, prefix);
	p->last_stream = r->stream;
	json_decref(p->headers);
	p->headers = hdrs;
	json_decref(p->request);
	p->request = json_incref(r->json);	/* never changed once parsed */
	p->body_bytes = c->body.len;
	p->resp_seq = r->seq;
	p->first_chunk_ns = p->last_chunk_ns = 0;
	step_take(p, &r->st);
	pthread_mutex_unlock(&lock);
	r->prov = p;
	/* A heavy tail: this share of answers wait tail_ms for their first
	 * byte instead of ttft_ms. */
	if (r->st.tail_ms >= 0 && r->st.tail_pct > 0 &&
	    (int64_t)(arc4random() % 100) < r->st.tail_pct)
		r->st.ttft_ms = r->st.tail_ms;
}

/* ---- API requests ---- */

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static enum endpoint
endpoint_of(const char *api, unsigned method)
{
	if (method != HTTP_POST)
		return EP_OTHER;
	if (has_suffix(api, "/chat/completions"))
		return EP_CHAT;
	if (has_suffix(api, "/messages"))
		return EP_MESSAGES;
	if (has_suffix(api, "/embeddings"))
		return EP_EMBEDDINGS;
	if (has_suffix(api, "/responses"))
		return EP_RESPONSES;
	if (has_suffix(api, "/completions"))
		return EP_COMPLETIONS;
	return EP_OTHER;
}

static void
parse_body(struct req *r)
{
	const struct buf *b = &r->c->body;
	json_t *j, *so;

	j = b->len > 0 ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	r->json = j;
	r->json_model = json_string_value(json_object_get(j, "model"));
	r->stream = json_is_true(json_object_get(j, "stream"));
	so = json_object_get(j, "stream_options");
	r->include_usage = json_is_true(json_object_get(so, "include_usage"));
}

/* text_kb=: size bytes of words, "w0001 w0002 ...", so that a reader can
 * tell a piece lost or doubled. */
static char *
big_text(size_t size)
{
	char *t = xcalloc(size + 1, 1);
	size_t i, n;

	for (i = 0, n = 0; i + 6 <= size; i += 6, n++)
		snprintf(t + i, 7, "w%04zu ", n % 10000);
	memset(t + i, 'x', size - i);
	return t;
}

static int
api_request(struct conn *c, const char *target, const char *path)
{
	char name[NAME_LEN_MAX + 1];
	const char *api;
	struct req r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.c = c;
	api = split_provider(path, name);
	r.api = api;
	r.ep = endpoint_of(api, c->parser.method);
	r.dialect = r.ep == EP_MESSAGES ? D_ANTHROPIC : D_OPENAI;
	r.head_only = c->parser.method == HTTP_HEAD;
	if (r.ep != EP_OTHER)
		parse_body(&r);
	r.model = r.json_model != NULL ? r.json_model : "mock";
	r.created = time(NULL);
	r.seq = __atomic_add_fetch(&resp_counter, 1, __ATOMIC_RELAXED);
	snprintf(r.id, sizeof(r.id), r.dialect == D_ANTHROPIC ?
	    "msg_mock_%" PRIu64 : r.ep == EP_RESPONSES ? "resp_mock_%" PRIu64 :
	    r.ep == EP_COMPLETIONS ? "cmpl-mock-%" PRIu64 :
	    "chatcmpl-mock-%" PRIu64, r.seq);
	record(&r, name, target);
	snprintf(r.deftext, sizeof(r.deftext), "Hello from %s", r.prov->name);
	r.text = r.st.text != NULL ? r.st.text : r.deftext;
	if (r.st.text_kb > 0)
		r.text = r.bigtext = big_text((size_t)r.st.text_kb << 10);
	rc = respond(&r);
	free(r.bigtext);
	json_decref(r.json);
	step_strings_free(&r.st);
	return rc;
}

/* ---- scripts ---- */

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* text=Hi+there: '+' is a space, %XX a byte; the result must be UTF-8
 * (it goes into JSON) without NUL bytes. */
static int
text_decode(const char *s, char **ret)
{
	char *out = xcalloc(strlen(s) + 1, 1), *o = out;
	json_t *check;
	int hi, lo;

	for (; *s != '\0'; s++) {
		if (*s == '%') {
			hi = hexval(s[1]);
			lo = hi < 0 ? -1 : hexval(s[2]);
			if (lo < 0 || hi + lo == 0)
				goto bad;
			*o++ = (char)(hi * 16 + lo);
			s += 2;
		} else {
			*o++ = *s == '+' ? ' ' : *s;
		}
	}
	if ((check = json_string(out)) == NULL)
		goto bad;
	json_decref(check);
	free(*ret);
	*ret = out;
	return 0;
bad:
	free(out);
	return -1;
}

/* 0, -1 for an unknown key, -2 for a bad value. */
static int
step_set(struct step *st, const char *key, const char *val)
{
	const struct step_key *k;
	uint64_t v;
	size_t i;
	int r;

	for (i = 0; i < ARRAY_SIZE(str_keys); i++)
		if (strcmp(key, str_keys[i].name) == 0)
			return text_decode(val, STEP_STR(st, &str_keys[i])) <
			    0 ? -2 : 0;
	if (strcmp(key, "error") == 0) {
		for (i = 1; i < ARRAY_SIZE(error_names); i++)
			if (strcmp(val, error_names[i]) == 0) {
				st->error = (int64_t)i;
				return 0;
			}
		return -2;
	}
	for (i = 0; i < ARRAY_SIZE(step_keys); i++) {
		k = &step_keys[i];
		if (strcmp(key, k->name) != 0)
			continue;
		r = k->duration ? parse_duration_ms(val, &v) :
		    parse_u64(val, k->min, k->max, &v);
		if (r < 0 || v < k->min || v > k->max)
			return -2;
		*(int64_t *)(void *)((char *)st + k->off) = (int64_t)v;
		return 0;
	}
	return -1;
}

/* 1 for a step, 0 for a blank or '#' line, -1 with err filled. */
static int
step_parse(char *line, size_t lineno, struct step *st, char *err,
    size_t errlen)
{
	static const char sep[] = " \t\r";
	char *save = NULL, *tok, *val;
	int r, found = 0;

	*st = default_step;
	if (line[strspn(line, sep)] == '#')
		return 0;
	for (tok = strtok_r(line, sep, &save); tok != NULL;
	    tok = strtok_r(NULL, sep, &save)) {
		if ((val = strchr(tok, '=')) != NULL)
			*val++ = '\0';
		r = val != NULL ? step_set(st, tok, val) : -1;
		if (r < 0) {
			snprintf(err, errlen, "line %zu: bad %s '%.64s'\n",
			    lineno, r == -1 ? "key" : "value", r == -1 ?
			    tok : val);
			step_strings_free(st);
			return -1;
		}
		found = 1;
	}
	return found;
}

static int
script_parse(const char *s, size_t len, struct step **ret, size_t *ret_n,
    char *err, size_t errlen)
{
	const char *end = s + len, *nl;
	struct step *steps = NULL, st;
	size_t n = 0, lineno = 0;
	char *line;
	int r;

	if (len > 0 && memchr(s, '\0', len) != NULL) {
		snprintf(err, errlen, "bad script: NUL byte\n");
		return -1;
	}
	while (s < end) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		line = xstrndup(s, (size_t)(nl - s));
		s = nl < end ? nl + 1 : end;
		r = step_parse(line, ++lineno, &st, err, errlen);
		free(line);
		if (r < 0) {
			steps_free(steps, n);
			return -1;
		}
		if (r == 0)
			continue;
		if ((steps = realloc(steps, (n + 1) * sizeof(*steps))) == NULL)
			fatal("realloc");
		steps[n++] = st;
	}
	*ret = steps;
	*ret_n = n;
	return 0;
}

/* ---- control endpoints ---- */

static int
script_request(struct conn *c, const char *name)
{
	struct step *steps = NULL;
	struct prov *p;
	size_t n = 0;
	char err[256];

	if (!valid_name(name, strlen(name)))
		return send_text(c, 400, "bad provider name\n");
	if (script_parse(c->body.data != NULL ? c->body.data : "",
	    c->body.len, &steps, &n, err, sizeof(err)) < 0)
		return send_text(c, 400, err);
	pthread_mutex_lock(&lock);
	if ((p = prov_get(name)) != NULL) {
		steps_free(p->steps, p->nsteps);
		p->steps = steps;
		p->nsteps = n;
		p->next = 0;
	}
	pthread_mutex_unlock(&lock);
	if (p == NULL) {
		steps_free(steps, n);
		return send_text(c, 503, "too many providers\n");
	}
	return send_text(c, 200, "ok\n");
}

static json_t *
jstr(const char *s)
{
	json_t *j = s != NULL ? json_string(s) : NULL;

	return j != NULL ? j : json_null();
}

/* Called locked. */
static json_t *
prov_json(const struct prov *p)
{
	return json_pack("{s:I, s:I, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:I, "
	    "s:I, s:I, s:o, s:b, s:o, s:I}", "requests", (json_int_t)p->requests,
	    "streams", (json_int_t)p->streams, "last_model", jstr(p->model),
	    "last_path", jstr(p->path), "last_query", jstr(p->query),
	    "last_body_bytes", (json_int_t)p->body_bytes,
	    "last_authorization", jstr(p->auth),
	    "last_x_api_key", jstr(p->api_key),
	    "last_headers", p->headers != NULL ? json_deep_copy(p->headers) :
	    json_object(),
	    "first_chunk_ns", (json_int_t)p->first_chunk_ns,
	    "last_chunk_ns", (json_int_t)p->last_chunk_ns,
	    "connections", (json_int_t)p->connections,
	    "last_prefix", jstr(p->prefix), "last_stream", p->last_stream,
	    "last_request", p->request != NULL ?
	    json_deep_copy(p->request) : json_null(),
	    "cancelled", (json_int_t)p->cancelled);
}

static int
stats_request(struct conn *c)
{
	json_t *o = json_object();
	char *s;
	size_t i;
	int rc;

	pthread_mutex_lock(&lock);
	json_object_set_new(o, "_connections", json_integer(
	    (json_int_t)nconnections));
	for (i = 0; i < nprovs; i++)
		if (provs[i]->requests > 0 || provs[i]->nsteps > 0)
			json_object_set_new(o, provs[i]->name,
			    prov_json(provs[i]));
	pthread_mutex_unlock(&lock);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return send_text(c, 500, "no JSON\n");
	rc = send_plain(c, 200, "application/json", s, strlen(s),
	    !c->keep_alive);
	free(s);
	return rc;
}

static int
reset_request(struct conn *c)
{
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nprovs; i++)
		prov_clear(provs[i]);
	nconnections = 0;
	epoch++;
	pthread_mutex_unlock(&lock);
	return send_text(c, 200, "ok\n");
}

static int
control_request(struct conn *c, const char *path)
{
	static const char script[] = "/_mock/script/";
	unsigned m = c->parser.method;

	if (strcmp(path, "/_mock/stats") == 0)
		return m == HTTP_GET ? stats_request(c) :
		    send_text(c, 405, "GET only\n");
	if (strcmp(path, "/_mock/reset") == 0)
		return m == HTTP_POST ? reset_request(c) :
		    send_text(c, 405, "POST only\n");
	if (strncmp(path, script, strlen(script)) == 0)
		return m == HTTP_POST ? script_request(c, path +
		    strlen(script)) : send_text(c, 405, "POST only\n");
	return send_text(c, 404, "no such control endpoint\n");
}

/* ---- request parsing ---- */

/* The path of an origin-form or absolute-form target, without query. */
static int
target_path(const char *t, size_t len, char *path, size_t size)
{
	struct http_parser_url u;
	size_t n;

	if (len > 0 && t[0] == '/') {
		n = strcspn(t, "?#");
	} else {
		http_parser_url_init(&u);
		if (http_parser_parse_url(t, len, 0, &u) != 0 ||
		    !(u.field_set & (1 << UF_PATH)))
			return -1;
		t += u.field_data[UF_PATH].off;
		n = u.field_data[UF_PATH].len;
	}
	if (n >= size)
		return -1;
	memcpy(path, t, n);
	path[n] = '\0';
	return 0;
}

static int
handle_request(struct conn *c)
{
	char path[URL_MAX + 1];

	if (c->url.data == NULL ||
	    target_path(c->url.data, c->url.len, path, sizeof(path)) < 0)
		return send_plain(c, 400, "text/plain", "bad target\n", 11,
		    true);
	if (strcmp(path, "/_mock") == 0 || strncmp(path, "/_mock/", 7) == 0)
		return control_request(c, path);
	return api_request(c, c->url.data, path);
}

static int
refuse(struct conn *c, int status)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "%d %s\n", status, reason(status));
	return send_plain(c, status, "text/plain", msg, strlen(msg), true);
}

static void
request_reset(struct conn *c)
{
	buf_reset(&c->url);
	buf_reset(&c->hdrbuf);
	/* Do not keep a huge body's memory for the next small request. */
	if (c->body.cap > ((size_t)1 << 20))
		buf_free(&c->body);
	else
		buf_reset(&c->body);
	c->nhdrs = 0;
	c->hstate = 0;
	c->done = false;
	c->keep_alive = false;
}

static int
on_message_begin(http_parser *p)
{
	request_reset(p->data);
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (buf_add(&c->url, at, len) < 0) {
		c->reject = 414;
		return -1;
	}
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct hdr *h;

	if (c->hstate != 1) {
		if (c->nhdrs == HDRS_MAX) {
			c->reject = 431;
			return -1;
		}
		h = &c->hdrs[c->nhdrs++];
		h->name = h->val = c->hdrbuf.len;
		h->name_len = h->val_len = 0;
		c->hstate = 1;
	}
	h = &c->hdrs[c->nhdrs - 1];
	if (buf_add(&c->hdrbuf, at, len) < 0) {
		c->reject = 431;
		return -1;
	}
	h->name_len += len;
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	struct hdr *h;

	if (c->nhdrs == 0)
		return -1;
	h = &c->hdrs[c->nhdrs - 1];
	if (c->hstate != 2) {
		h->val = c->hdrbuf.len;
		h->val_len = 0;
		c->hstate = 2;
	}
	if (buf_add(&c->hdrbuf, at, len) < 0) {
		c->reject = 431;
		return -1;
	}
	h->val_len += len;
	return 0;
}

static bool
expects_continue(const struct conn *c)
{
	const struct hdr *h;
	size_t i;

	for (i = 0; i < c->nhdrs; i++) {
		h = &c->hdrs[i];
		if (mem_case_eq(c->hdrbuf.data + h->name, h->name_len,
		    "expect") && mem_case_eq(c->hdrbuf.data + h->val,
		    h->val_len, "100-continue"))
			return true;
	}
	return false;
}

/* Refuse an announced oversized body before it is sent, and only then
 * tell a waiting client to go on. */
static int
on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	bool has_body = (p->flags & F_CHUNKED) ||
	    ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);

	if ((p->flags & F_CONTENTLENGTH) && p->content_length > BODY_MAX) {
		c->reject = 413;
		return -1;
	}
	if (has_body && p->http_major == 1 && p->http_minor >= 1 &&
	    expects_continue(c) &&
	    conn_write(c, cont, sizeof(cont) - 1) < 0)
		return -1;
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (buf_add(&c->body, at, len) < 0) {
		c->reject = 413;
		return -1;
	}
	return 0;
}

/* Pause so that the request is answered before a pipelined next one is
 * parsed over it. */
static int
on_message_complete(http_parser *p)
{
	struct conn *c = p->data;

	c->done = true;
	c->keep_alive = http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static int
conn_serve(struct conn *c)
{
	size_t used;
	ssize_t n;
	int rc;

	for (;;) {
		if (c->roff == c->rlen) {
			if ((n = conn_read(c, c->rbuf, sizeof(c->rbuf))) <= 0)
				return CLOSE;
			c->rlen = (size_t)n;
			c->roff = 0;
		}
		used = http_parser_execute(&c->parser, &settings,
		    c->rbuf + c->roff, c->rlen - c->roff);
		c->roff += used;
		if (c->done) {
			rc = handle_request(c);
			/* No protocol switch here: the request got its
			 * HTTP/1.1 answer, and that is the end of it. */
			if (rc != KEEP || c->parser.upgrade)
				return rc == KEEP ? CLOSE : rc;
			c->done = false;
			http_parser_pause(&c->parser, 0);
		} else if (c->reject != 0) {
			return refuse(c, c->reject);
		} else if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK ||
		    used == 0) {
			return refuse(c, 400);
		}
	}
}

/* ---- connections ---- */

/* Before closing, drain what the peer still sends for a moment: closing
 * with unread data (a refused body) makes a reset that can destroy our
 * answer before the peer reads it. */
static void
drain(int fd)
{
	struct timeval tv = { 0, 200000 };
	uint64_t end = now_mono_ms() + LINGER_MS;
	size_t total = 0;
	char junk[4096];
	ssize_t r;

	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (total < LINGER_BYTES && now_mono_ms() < end) {
		r = read(fd, junk, sizeof(junk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		total += (size_t)r;
	}
}

static void
conn_free(struct conn *c, int how)
{
	if (c->ssl != NULL) {
		if (how == CLOSE)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (how == CLOSE)
		drain(c->fd);
	close(c->fd);
	buf_free(&c->url);
	buf_free(&c->hdrbuf);
	buf_free(&c->body);
	free(c);
}

static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	int how = ABORT;

	if (ssl_ctx != NULL) {
		if ((c->ssl = SSL_new(ssl_ctx)) == NULL ||
		    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_accept(c->ssl) != 1) {
			log_debug("TLS handshake failed");
			ERR_clear_error();
			conn_free(c, ABORT);
			return NULL;
		}
	}
	how = conn_serve(c);
	ERR_clear_error();
	conn_free(c, how);
	return NULL;
}

static void
tune_socket(int fd)
{
	struct timeval idle = { IDLE_TIMEOUT_S, 0 };
	struct timeval snd = { SEND_TIMEOUT_S, 0 };
	int one = 1;

	/* Small SSE chunks must leave at once, not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A peer that vanishes must not pin a thread forever. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
}

static void
spawn(int fd)
{
	pthread_attr_t attr;
	struct conn *c;
	pthread_t t;
	int e;

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	buf_init(&c->url, URL_MAX);
	buf_init(&c->hdrbuf, HDR_BYTES_MAX);
	buf_init(&c->body, BODY_MAX);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	if ((e = pthread_create(&t, &attr, conn_main, c)) != 0) {
		errno = e;
		log_warn("pthread_create");
		close(fd);
		free(c);
	}
	pthread_attr_destroy(&attr);
}

static void __attribute__((noreturn))
accept_loop(int lfd)
{
	int fd;

	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno != EINTR && errno != ECONNABORTED) {
				log_warn("accept");
				sleep_ms(50);	/* EMFILE: let some close */
			}
			continue;
		}
		tune_socket(fd);
		pthread_mutex_lock(&lock);
		nconnections++;
		pthread_mutex_unlock(&lock);
		spawn(fd);
	}
}

/* ---- setup ---- */

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static void __attribute__((noreturn))
ssl_fatal(const char *what, const char *file)
{
	char msg[256];

	ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
	fatalx("%s %s: %s", what, file, msg);
}

static SSL_CTX *
tls_setup(const char *cert, const char *key)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		ssl_fatal("SSL_CTX_new", "");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		ssl_fatal("cannot load certificate", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		ssl_fatal("cannot load key", key);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

static int
listen_on(const char *addr, int port, int *ret_port)
{
	struct addrinfo hints, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ps[16];
	int fd, e, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%d", port);
	if ((e = getaddrinfo(addr, ps, &hints, &ai)) != 0)
		fatalx("bad --bind %s: %s", addr, gai_strerror(e));
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		fatal("bind %s port %d", addr, port);
	freeaddrinfo(ai);
	if (listen(fd, 4096) < 0)
		fatal("listen");
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		fatal("getsockname");
	*ret_port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Written aside and renamed: a reader never sees half a number. */
static void
write_ready(const char *file, int port)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= (int)sizeof(tmp))
		fatalx("--ready-file: name too long");
	if ((f = fopen(tmp, "w")) == NULL)
		fatal("%s", tmp);
	if (fprintf(f, "%d\n", port) < 0 || fclose(f) != 0)
		fatal("%s", tmp);
	if (rename(tmp, file) < 0)
		fatal("rename %s", file);
}

static void __attribute__((noreturn))
on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void
signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

struct opts {
	const char	*cert, *key, *bind, *ready;
	int		 port;
	bool		 plain;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: llmfb-mock --cert FILE --key FILE [--port N]"
	    " [--bind ADDR]\n\t[--ready-file FILE] [--plain] [--verbose]\n");
	exit(2);
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "plain", no_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'b': o->bind = optarg; break;
		case 'r': o->ready = optarg; break;
		case 'P': o->plain = true; break;
		case 'v': log_verbosity = LOG_LVL_DEBUG; break;
		case 'p':
			if (parse_int(optarg, 0, 65535, &o->port) < 0)
				fatalx("bad --port %s", optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (!o->plain && (o->cert == NULL ||
	    o->key == NULL)))
		usage();
}

int
main(int argc, char **argv)
{
	struct opts o = { .bind = "127.0.0.1" };
	int lfd, port;

	log_init("llmfb-mock", LOG_LVL_WARN, false);
	parse_args(argc, argv, &o);
	signals();
	json_object_seed(0);
	if (!o.plain)
		ssl_ctx = tls_setup(o.cert, o.key);
	pthread_mutex_lock(&lock);
	prov_get("default");
	pthread_mutex_unlock(&lock);
	lfd = listen_on(o.bind, o.port, &port);
	if (o.ready != NULL)
		write_ready(o.ready, port);
	accept_loop(lfd);
}
