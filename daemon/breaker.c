#include <string.h>

#include "breaker.h"

void
breaker_init(struct breaker *b)
{
	memset(b, 0, sizeof(*b));
}

static void
window_clear(struct breaker *b)
{
	memset(b->slice, 0, sizeof(b->slice));
}

/* The slice for now, emptied if it holds an older period. */
static unsigned
slice_at(struct breaker *b, const struct breaker_conf *c, uint64_t now)
{
	uint64_t width = c->window_ms / BREAKER_BUCKETS;
	uint64_t period, start;
	unsigned i;

	if (width == 0)
		width = 1;
	period = now / width;
	start = period * width;
	i = (unsigned)(period % BREAKER_BUCKETS);
	if (b->slice[i].start_ms != start) {
		b->slice[i].start_ms = start;
		b->slice[i].ok = b->slice[i].failed = 0;
	}
	return i;
}

static void
window_totals(const struct breaker *b, const struct breaker_conf *c,
    uint64_t now, uint64_t *ok, uint64_t *failed)
{
	unsigned i;

	*ok = *failed = 0;
	for (i = 0; i < BREAKER_BUCKETS; i++) {
		if (b->slice[i].start_ms + c->window_ms <= now)
			continue;	/* out of the window */
		*ok += b->slice[i].ok;
		*failed += b->slice[i].failed;
	}
}

static void
open_now(struct breaker *b, uint64_t now)
{
	b->state = BREAKER_OPEN;
	b->opened_ms = now;
	b->probes_out = 0;
	b->opens++;
	b->fleet_remote = false;
	b->fleet_ask_ms = 0;
}

enum breaker_state
breaker_state(const struct breaker *b, const struct breaker_conf *c,
    uint64_t now)
{
	if (b->state == BREAKER_OPEN && !b->manual && !b->unreachable &&
	    !b->fleet_hold && now >= b->opened_ms + c->cooldown_ms)
		return BREAKER_HALF_OPEN;
	return b->state;
}

bool
breaker_allow(struct breaker *b, const struct breaker_conf *c, uint64_t now)
{
	if (breaker_state(b, c, now) == BREAKER_HALF_OPEN &&
	    b->state == BREAKER_OPEN) {
		b->state = BREAKER_HALF_OPEN;
		b->probes_out = 0;
	}
	switch (b->state) {
	case BREAKER_CLOSED:
		return true;
	case BREAKER_OPEN:
		return false;
	case BREAKER_HALF_OPEN:
		/* A probe silent for a cooldown no longer holds its place. */
		if (b->probes_out > 0 && now >= b->probe_ms + c->cooldown_ms)
			b->probes_out = 0;
		if (b->probes_out >= (c->probes ? c->probes : 1))
			return false;
		b->probes_out++;
		b->probe_ms = now;
		return true;
	}
	return false;
}

void
breaker_unprobe(struct breaker *b)
{
	if (b->state == BREAKER_HALF_OPEN && b->probes_out > 0)
		b->probes_out--;
}

void
breaker_record(struct breaker *b, const struct breaker_conf *c, bool ok,
    uint64_t now)
{
	uint64_t nok, nfailed;
	unsigned i;

	switch (b->state) {
	case BREAKER_OPEN:
		return;		/* started before it opened: old news */
	case BREAKER_HALF_OPEN:
		if (b->probes_out > 0)
			b->probes_out--;
		if (ok) {
			b->state = BREAKER_CLOSED;
			b->in_a_row = 0;
			b->fleet_remote = false;
			window_clear(b);
		} else {
			open_now(b, now);
		}
		return;
	case BREAKER_CLOSED:
		break;
	}
	i = slice_at(b, c, now);
	if (ok) {
		b->slice[i].ok++;
		b->in_a_row = 0;
		return;
	}
	b->slice[i].failed++;
	b->in_a_row++;
	if (c->failures > 0 && b->in_a_row >= c->failures) {
		open_now(b, now);
		return;
	}
	if (c->ratio_pct > 0) {
		window_totals(b, c, now, &nok, &nfailed);
		if (nok + nfailed >= c->min_requests &&
		    nfailed * 100 >= (uint64_t)c->ratio_pct * (nok + nfailed))
			open_now(b, now);
	}
}

void
breaker_trip(struct breaker *b, uint64_t now)
{
	open_now(b, now);
	b->manual = true;
}

void
breaker_unreachable(struct breaker *b, uint64_t now)
{
	if (b->unreachable)
		return;
	b->unreachable = true;
	if (b->state != BREAKER_OPEN)
		open_now(b, now);
}

void
breaker_reachable(struct breaker *b)
{
	if (!b->unreachable)
		return;
	b->unreachable = false;
	if (b->manual)
		return;
	/* Back: one probe, not a flood onto a path just restored. */
	b->state = BREAKER_HALF_OPEN;
	b->probes_out = 0;
}

void
breaker_reset(struct breaker *b)
{
	uint64_t opens = b->opens;

	breaker_init(b);
	b->opens = opens;
}

bool
breaker_fleet_open(struct breaker *b, const struct breaker_conf *c,
    uint64_t left_ms, uint64_t now)
{
	bool was_open = b->state == BREAKER_OPEN;
	uint64_t at;

	if (b->manual || b->unreachable)
		return false;
	if (left_ms > c->cooldown_ms)
		left_ms = c->cooldown_ms;
	/* Opened so as to half-open when it does on the other host. */
	at = now + left_ms >= c->cooldown_ms ? now + left_ms - c->cooldown_ms :
	    0;
	if (!was_open) {
		open_now(b, at);
		b->fleet_remote = true;
	} else if (at > b->opened_ms) {
		b->opened_ms = at;
		b->fleet_ask_ms = 0;
	}
	b->fleet_hold = true;
	return !was_open;
}

bool
breaker_fleet_close(struct breaker *b)
{
	if (b->state == BREAKER_CLOSED || b->manual || b->unreachable)
		return false;
	b->state = BREAKER_CLOSED;
	b->in_a_row = 0;
	b->probes_out = 0;
	b->fleet_hold = false;
	b->fleet_remote = false;
	b->fleet_ask_ms = 0;
	window_clear(b);
	return true;
}

uint64_t
breaker_wait_ms(const struct breaker *b, const struct breaker_conf *c,
    uint64_t now)
{
	if (b->state != BREAKER_OPEN)
		return 0;
	if (b->manual || b->unreachable)
		return UINT64_MAX;
	if (now >= b->opened_ms + c->cooldown_ms)
		return 0;
	return b->opened_ms + c->cooldown_ms - now;
}

const char *
breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "?";
}
