/* The fake upstream's script and what it was sent (fake_upstream.c). */
#ifndef LLMFB_FAKE_UPSTREAM_H
#define LLMFB_FAKE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

#define FAKE_MAX	16

/* One transfer's answer: status and body (status 0 with end != XE_OK:
 * it fails before any answer), then how it ends; after delay_ms on the
 * loop's clock (0: on its next turn; FAKE_SILENT: never, as a provider
 * that has not answered yet). */
struct fake_answer {
	int		 status;
	const char	*ctype;		/* NULL: application/json */
	const char	*body;
	enum xfer_end	 end;
	uint64_t	 delay_ms;
};

#define FAKE_SILENT	UINT64_MAX

struct fake_sent {
	char	*url;
	char	 method[16];
	char	*headers;		/* "Name: value\r\n" lines */
	char	*body;
};

extern struct fake_sent	fake_sent[FAKE_MAX];
extern size_t		fake_nsent;
/* Transfers freed while they still ran: cancelled, as a hedge's loser
 * is. */
extern size_t		fake_cancelled;

/* The answers of the next transfers, in order; one past them fails to
 * connect. */
void fake_script(const struct fake_answer *a, size_t n);
void fake_reset(void);

#endif
