/* Fuzz target: the data socket's HTTP/1.1 server (daemon/server.c), with
 * the shim's preamble (daemon/preamble.c) in front of it.
 *
 * The real server, on a Unix socket in a directory of its own under /tmp,
 * on the daemon's own loop, which the harness steps with loop_run_once().
 * The config has no routes and intercepts no host, so call.c answers each
 * complete request at once (400 or 421), the server itself what it
 * refuses (400, 413, 414, 417, 431), and nothing goes upstream.  Each
 * input is one client connection:
 *
 * Input: [mode][cuts][bytes].  Mode bits 0-1: 0-3 cuts; the pieces are
 * written one after another, and the loop runs until the server is quiet
 * between two of them (bit 4: it does not, so pieces may be read
 * together).  Bits 2-3, how the client ends:
 *	0  reads the answers until the server is quiet, then closes;
 *	1  closes right after its last write, before the server has read
 *	   it (a POST with Expect: 100-continue and its body in one write
 *	   then finds the 100 Continue undeliverable);
 *	2  shuts down its writing side after the last write, then reads
 *	   until the server closes;
 *	3  closes after one turn of the loop, mid-answer.
 * Bit 5: small limits (max_request_body 512, max_header_size 1 KiB), so
 * that 413 and 431 are reached with small inputs.  Bits 6-7: unused.
 *
 * Besides memory errors, two properties: once the client has closed, the
 * server closes its end within a few turns (no connection is left
 * behind); and a client that reads every answer gets the same statuses
 * however its bytes were cut (the preamble and the parser hold what a
 * read cut, never more nor less). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "events.h"
#include "fuzz.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "shim_proto.h"
#include "stats.h"

#define TURNS_MAX	10000	/* a client's whole exchange */
#define CLOSE_TURNS	100	/* the server's close after the client's */

enum ending { END_QUIET, END_CLOSE, END_SHUTDOWN, END_MIDWAY };

static struct daemon	 d;
static struct config	*cfgs[2];
static char		 dir[] = "/tmp/llmfb-fuzz-XXXXXX";

#define SEEN_MAX	(256 * 1024)	/* what a client keeps of the answers */

struct client {
	int	 fd;
	bool	 settle;	/* run the loop until quiet between pieces */
	bool	 eof;		/* the server has closed its end */
	int	 pieces;	/* written so far */
	char	*seen;		/* the answers' bytes, SEEN_MAX at most */
	size_t	 nseen;
};

static void
teardown(void)
{
	/* server_free() unlinks the socket it bound: the directory is then
	 * empty.  A crash leaves it behind, with the crash to look at. */
	server_free(d.server);
	d.server = NULL;
	rmdir(dir);
}

static void
setup(void)
{
	static const char *limits[2] = { "",
	    "limits: { max_request_body: 512, max_header_size: 1024 }\n" };
	char yaml[1024], err[CONFIG_ERR_MAX];
	int i;

	log_init("llmfbd-fuzz", LOG_LVL_ERR, false);
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	for (i = 0; i < 2; i++) {
		snprintf(yaml, sizeof(yaml), "listen: %s/data.sock\n"
		    "control: %s/control.sock\nstate_dir: %s\n%s", dir, dir,
		    dir, limits[i]);
		if ((cfgs[i] = config_load_string("fuzz.yaml", yaml, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "fuzz: %s\n", err);
			abort();
		}
	}
	d.hooks = &daemon_hooks;
	d.cfg = cfgs[0];
	if ((d.loop = loop_new()) == NULL) {
		perror("fuzz: loop_new");
		abort();
	}
	d.stats = stats_new();
	d.events = events_new();
	if ((d.server = server_new(&d, &daemon_server_ops,
	    cfgs[0]->listen, 0600, -1)) == NULL)
		abort();
	atexit(teardown);
}

/* Read what the server sent.  Returns the bytes read (0: none yet). */
static size_t
drain(struct client *cl)
{
	static char sink[65536];
	size_t got = 0;
	ssize_t n;

	while (cl->fd >= 0 && !cl->eof) {
		n = recv(cl->fd, sink, sizeof(sink), 0);
		if (n > 0) {
			got += (size_t)n;
			if (cl->seen != NULL && cl->nseen < SEEN_MAX) {
				size_t k = SEEN_MAX - cl->nseen;

				if (k > (size_t)n)
					k = (size_t)n;
				memcpy(cl->seen + cl->nseen, sink, k);
				cl->nseen += k;
			}
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			cl->eof = true;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	return got;
}

/* Run the loop until a turn finds nothing to do and nothing came back. */
static void
settle(struct client *cl)
{
	int i, n;
	size_t got;

	for (i = 0; i < TURNS_MAX; i++) {
		n = loop_run_once(d.loop, 0);
		FUZZ_CHECK(n >= 0, "loop: %s", strerror(-n));
		got = drain(cl);
		if (n == 0 && got == 0)
			return;
	}
	FUZZ_CHECK(0, "the server is still busy after %d turns", TURNS_MAX);
}

static void
client_close(struct client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	cl->fd = -1;
}

static void
write_piece(void *arg, const uint8_t *p, size_t len)
{
	struct client *cl = arg;
	ssize_t n;
	int i;

	/* Between pieces, not after the last: the ending says what then. */
	if (cl->pieces++ > 0 && cl->settle)
		settle(cl);
	for (i = 0; len > 0 && cl->fd >= 0 && i < TURNS_MAX; i++) {
		n = send(cl->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return;		/* the server has closed: moot */
		/* Full: let the server read, and read its answers. */
		loop_run_once(d.loop, 0);
		drain(cl);
	}
}

static bool
is_refusal(const char *code)
{
	static const char *const bad[] = { "400", "413", "414", "417",
		"431" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (memcmp(code, bad[i], 3) == 0)
			return true;
	return false;
}

/* The final status codes of the answers in what a client saw, in order,
 * walked answer by answer (each a head, and a body of its Content-Length:
 * the answers here are llmfb's own, never chunked).  An interim 100
 * depends on when the rest of its request came, and is left out. */
static void
statuses(const struct client *cl, char *out, size_t cap)
{
	static const char mark[] = "HTTP/1.1 ", clen[] = "\r\ncontent-length:";
	const char *p = cl->seen, *end = cl->seen + cl->nseen, *h, *e;
	size_t o = 0, body;

	out[0] = '\0';
	/* The answer to the shim's ADMIT comes as soon as that line is
	 * read, so whether it comes at all depends on the cuts too. */
	if ((size_t)(end - p) >= sizeof(PREAMBLE_ADMITTED) - 1 &&
	    memcmp(p, PREAMBLE_ADMITTED, sizeof(PREAMBLE_ADMITTED) - 1) == 0)
		p += sizeof(PREAMBLE_ADMITTED) - 1;
	while ((size_t)(end - p) > sizeof(mark) + 3 && o + 4 < cap &&
	    memcmp(p, mark, sizeof(mark) - 1) == 0) {
		e = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (e == NULL)
			break;
		body = 0;
		for (h = p; h + sizeof(clen) - 1 < e; h++)
			if (strncasecmp(h, clen, sizeof(clen) - 1) == 0) {
				body = strtoul(h + sizeof(clen) - 1, NULL, 10);
				break;
			}
		if (p[sizeof(mark) - 1] != '1') {
			/* A request both malformed and too big is refused
			 * for whichever the parser meets first, and where a
			 * read ends decides that: any refusal is "bad". */
			if (is_refusal(p + sizeof(mark) - 1))
				memcpy(out + o, "bad", 3);
			else
				memcpy(out + o, p + sizeof(mark) - 1, 3);
			out[o + 3] = ' ';
			o += 4;
			out[o] = '\0';
		}
		if (body > (size_t)(end - (e + 4)))
			break;
		p = e + 4 + body;
	}
}

/* One client's whole exchange: connect, write the pieces, end as told.
 * The statuses it read go to got (when not NULL). */
static void
exchange(const uint8_t *p, size_t n, const struct fuzz_cuts *cuts,
    enum ending end, bool settled, char *got, size_t gotcap)
{
	static char seen[SEEN_MAX];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client cl = { .fd = -1 };
	uint64_t accepted;
	int i;

	cl.settle = settled;
	cl.seen = got != NULL ? seen : NULL;
	accepted = server_accepted(d.server);
	memcpy(sa.sun_path, d.cfg->listen, strlen(d.cfg->listen) + 1);
	cl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	FUZZ_CHECK(cl.fd >= 0, "socket: %s", strerror(errno));
	FUZZ_CHECK(connect(cl.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
	    "connect: %s", strerror(errno));
	if (end != END_CLOSE)
		settle(&cl);	/* accepted before the first byte */

	fuzz_feed(cuts, p, n, write_piece, &cl);

	switch (end) {
	case END_QUIET:
		settle(&cl);
		break;
	case END_CLOSE:
		client_close(&cl);
		break;
	case END_SHUTDOWN:
		shutdown(cl.fd, SHUT_WR);
		settle(&cl);
		break;
	case END_MIDWAY:
		loop_run_once(d.loop, 0);
		break;
	}
	if (got != NULL)
		statuses(&cl, got, gotcap);
	client_close(&cl);
	/* Accepted (perhaps only now), read to its end, and closed. */
	for (i = 0; i < CLOSE_TURNS && (server_accepted(d.server) ==
	    accepted || server_clients(d.server) > 0); i++)
		loop_run_once(d.loop, 0);
	FUZZ_CHECK(server_accepted(d.server) > accepted, "never accepted");
	FUZZ_CHECK(server_clients(d.server) == 0, "%u connection(s) left "
	    "open after the client closed", server_clients(d.server));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fuzz_cuts cuts, whole = { 0 };
	uint8_t mode = fuzz_byte(&in);
	enum ending end = (enum ending)((mode >> 2) & 3);
	bool settled = !(mode & 0x10);
	bool compare = end == END_QUIET && settled;
	char cut_st[256], whole_st[256];

	if (d.loop == NULL)
		setup();
	d.cfg = cfgs[(mode >> 5) & 1];
	fuzz_cuts_take(&in, &cuts, mode & 3);
	exchange(in.p, in.n, &cuts, end, settled,
	    compare ? cut_st : NULL, sizeof(cut_st));
	if (compare && (cuts.n > 0 || cuts.bytewise)) {
		exchange(in.p, in.n, &whole, END_QUIET, true, whole_st,
		    sizeof(whole_st));
		FUZZ_CHECK(strcmp(cut_st, whole_st) == 0, "cut, the answers "
		    "were [%s]; whole, [%s]", cut_st, whole_st);
	}
	return 0;
}
