/* Where per-call records go: one JSON line each, appended to the event
 * log file (or sent to the journal) when the config names one, and kept in a ring of the latest
 * for the control socket.  Records never hold secrets: call.c builds
 * them from names, numbers and reasons only. */
#ifndef LLMFB_EVENTS_H
#define LLMFB_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define EVENTS_RING	256

struct events;

struct events *events_new(void);
void events_free(struct events *e);
/* Open (or reopen, for rotation or a new path) where records go: a file
 * (appended to), "journal" (journald's native socket) or
 * "journal:SOCKET" (another socket speaking its protocol); NULL: only the
 * ring.  Returns 0 or -errno; on error the old one stays. */
int events_open(struct events *e, const char *spec);
/* Open the same again: a rotated file is let go of. */
int events_reopen(struct events *e);
uint64_t events_write_errors(const struct events *e);
/* Take one record (a JSON object on one line, no newline). */
void events_add(struct events *e, const char *line, size_t len);
/* The latest n records (at most max), oldest first, into ret; returns
 * how many.  The strings belong to e and live until the next
 * events_add. */
size_t events_latest(const struct events *e, size_t n,
    const char **ret, size_t max);
uint64_t events_total(const struct events *e);

#endif
