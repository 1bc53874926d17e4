/* What the harnesses in tests/fuzz share: mode bytes and cut points read
 * off the front of an input, and a check that fails loudly.
 *
 * An input is [mode byte(s)][cut bytes][payload].  Each harness says in
 * its opening comment what its mode bits mean.  A cut byte places a cut
 * at byte/256 of the payload, so a mutation of the payload keeps the
 * cuts roughly where they were. */
#ifndef LLMFB_FUZZ_H
#define LLMFB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CUTS_MAX	8

struct fuzz_in {
	const uint8_t	*p;
	size_t		 n;
};

/* The next byte, or 0 once the input is spent. */
static inline uint8_t
fuzz_byte(struct fuzz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/* Where a payload is cut: up to FUZZ_CUTS_MAX places, or every byte. */
struct fuzz_cuts {
	size_t		 n;
	uint8_t		 at[FUZZ_CUTS_MAX];
	int		 bytewise;	/* one byte at a time */
};

/* Take n cut bytes (n > FUZZ_CUTS_MAX: one byte at a time instead). */
static inline void
fuzz_cuts_take(struct fuzz_in *in, struct fuzz_cuts *c, size_t n)
{
	size_t i, j;
	uint8_t v;

	c->bytewise = n > FUZZ_CUTS_MAX;
	c->n = c->bytewise ? 0 : n;
	for (i = 0; i < c->n; i++) {
		/* Kept sorted, so the pieces come in order. */
		v = fuzz_byte(in);
		for (j = i; j > 0 && c->at[j - 1] > v; j--)
			c->at[j] = c->at[j - 1];
		c->at[j] = v;
	}
}

typedef void (*fuzz_piece_fn)(void *arg, const uint8_t *p, size_t n);

/* Give p[0..len) to fn in the pieces c says (empty pieces included:
 * a reader must take a zero-length feed too). */
static inline void
fuzz_feed(const struct fuzz_cuts *c, const uint8_t *p, size_t len,
    fuzz_piece_fn fn, void *arg)
{
	size_t i, off = 0, end;

	if (len == 0) {
		fn(arg, p, 0);	/* p may be NULL: no arithmetic on it */
		return;
	}
	if (c->bytewise) {
		for (i = 0; i < len; i++)
			fn(arg, p + i, 1);
		return;
	}
	for (i = 0; i <= c->n; i++) {
		end = i < c->n ? (size_t)c->at[i] * len / 256 : len;
		fn(arg, p + off, end - off);
		off = end;
	}
}

/* A property the code under test promises has failed: a finding, like a
 * crash.  The message says which. */
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__,		\
		    __LINE__, #cond);					\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

#endif
