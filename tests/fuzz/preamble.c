/* Fuzz target: the shim's preamble (daemon/preamble.c).
 *
 * Input: [mode][cuts][bytes].  Mode bits 0-3: how many cuts (0-8; more:
 * one byte at a time); bits 4-7: the size of origin_format's buffer, in
 * steps of 20 bytes (0 included).
 *
 * The bytes are scanned whole, then as the server reads them: in pieces,
 * each scan starting at the first line not yet consumed.  Both must end
 * in the same state, having consumed the same bytes and read the same
 * origin: a preamble means one thing however the reads cut it. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "preamble.h"

struct incr {
	struct origin		 o;
	enum preamble_state	 st;
	char			*held;	/* bytes not consumed yet */
	size_t			 nheld;
	size_t			 used;	/* consumed in all */
};

static void
incr_piece(void *arg, const uint8_t *p, size_t n)
{
	struct incr *s = arg;
	size_t used;

	if (s->st != PREAMBLE_MORE)
		return;		/* the server stops scanning here too */
	memcpy(s->held + s->nheld, p, n);
	s->nheld += n;
	s->st = preamble_scan(&s->o, s->held, s->nheld, &used);
	FUZZ_CHECK(used <= s->nheld, "used %zu of %zu", used, s->nheld);
	memmove(s->held, s->held + used, s->nheld - used);
	s->nheld -= used;
	s->used += used;
}

static bool
origin_same(const struct origin *a, const struct origin *b)
{
	/* Every field of struct origin (preamble.h). */
	return strcmp(a->host, b->host) == 0 && a->port == b->port &&
	    a->tls == b->tls && a->sent_us == b->sent_us &&
	    a->admit == b->admit;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fuzz_cuts cuts;
	struct origin whole = { 0 };
	struct incr s = { .st = PREAMBLE_MORE };
	enum preamble_state st;
	uint8_t mode = fuzz_byte(&in);
	size_t used, outlen = (size_t)(mode >> 4) * 20;
	char *out;

	fuzz_cuts_take(&in, &cuts, mode & 0x0f);
	st = preamble_scan(&whole, (const char *)in.p, in.n, &used);
	FUZZ_CHECK(used <= in.n, "used %zu of %zu", used, in.n);

	if ((s.held = malloc(in.n + 1)) == NULL)
		return 0;
	fuzz_feed(&cuts, in.p, in.n, incr_piece, &s);
	free(s.held);
	FUZZ_CHECK(s.st == st, "whole %d, in pieces %d", st, s.st);
	if (st != PREAMBLE_BAD) {
		FUZZ_CHECK(s.used == used, "whole used %zu, in pieces %zu",
		    used, s.used);
		FUZZ_CHECK(origin_same(&whole, &s.o), "origins differ");
	}

	/* Exactly the size asked for, so that an overrun shows. */
	if ((out = malloc(outlen > 0 ? outlen : 1)) == NULL)
		return 0;
	origin_format(&whole, out, outlen);
	if (outlen > 0)
		FUZZ_CHECK(memchr(out, '\0', outlen) != NULL,
		    "origin not terminated");
	free(out);
	return 0;
}
