/* Fuzz target: the ClientHello reader (daemon/tlshello.c), which reads
 * the first bytes of any redirected connection whose program speaks TLS
 * of its own, before any TLS library does.
 *
 * Input: [mode][cuts][bytes].  Mode bits 0-3: how many cuts (0-8; more:
 * one byte at a time); bits 4-7: the size of the name's buffer, in steps
 * of 17 bytes (0 included).
 *
 * The bytes are read whole, then as the terminator reads them: growing,
 * stopping at the first answer that is not MORE.  Both must agree, and a
 * name found is a terminated host name of only the bytes a host name
 * has. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "tlshello.h"

struct incr {
	uint8_t		*held;
	size_t		 nheld;
	enum tls_hello	 st;
	char		*sni;
	size_t		 snilen;
};

static void
incr_piece(void *arg, const uint8_t *p, size_t n)
{
	struct incr *s = arg;

	if (s->st != TLS_HELLO_MORE)
		return;		/* the terminator decides here */
	memcpy(s->held + s->nheld, p, n);
	s->nheld += n;
	s->st = tls_hello_sni(s->held, s->nheld, s->sni, s->snilen);
}

static void
check_name(const char *sni, size_t snilen)
{
	size_t i, n;

	if (snilen == 0)
		return;
	FUZZ_CHECK(memchr(sni, '\0', snilen) != NULL, "name not terminated");
	n = strlen(sni);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(islower((unsigned char)sni[i]) ||
		    isdigit((unsigned char)sni[i]) || sni[i] == '-' ||
		    sni[i] == '.' || sni[i] == '_', "byte %02x in the name",
		    (unsigned char)sni[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fuzz_cuts cuts;
	struct incr s = { .st = TLS_HELLO_MORE };
	enum tls_hello st;
	uint8_t mode = fuzz_byte(&in);
	size_t snilen = (size_t)(mode >> 4) * 17;
	char *whole;

	fuzz_cuts_take(&in, &cuts, mode & 0x0f);
	/* Exactly the size asked for, so that an overrun shows. */
	if ((whole = malloc(snilen > 0 ? snilen : 1)) == NULL ||
	    (s.sni = malloc(snilen > 0 ? snilen : 1)) == NULL ||
	    (s.held = malloc(in.n + 1)) == NULL) {
		free(whole);
		free(s.sni);
		return 0;
	}
	s.snilen = snilen;
	st = tls_hello_sni(in.p, in.n, whole, snilen);
	check_name(whole, snilen);
	fuzz_feed(&cuts, in.p, in.n, incr_piece, &s);
	FUZZ_CHECK(s.st == st, "whole %d, in pieces %d", st, s.st);
	if (st == TLS_HELLO_OK && snilen > 0)
		FUZZ_CHECK(strcmp(whole, s.sni) == 0, "names differ: %s, %s",
		    whole, s.sni);
	free(whole);
	free(s.sni);
	free(s.held);
	return 0;
}
