/* Spend in US dollars per key ("route:chat",
 * "caller:uid=1000:/usr/bin/python3.11"), over two fixed calendar windows
 * of wall-clock time in UTC: the current hour (now / 3600) and the
 * current day (now / 86400).  Spend added in a new window starts it from
 * zero, and a window that has passed reads 0.  A window is current only
 * while the clock is in it, either way: a clock stepped back across a
 * boundary starts the window afresh rather than leave a key stuck in a
 * window it may never reach again.
 *
 * At most BUDGET_MAX_KEYS keys are held.  A new key past that evicts the
 * least recently updated one: usually a key not seen today, which holds
 * nothing; refusing new keys instead would leave every new caller with an
 * unlimited budget.  budgets_dropped() counts the evictions that did lose
 * spend of the current day.
 *
 * The state survives a restart in a JSON file, written atomically
 * (PATH.tmp, fsync, rename):
 *
 *	{"version": 1, "keys": {
 *		"route:chat": {"hour": 482113, "hour_usd": 0.25,
 *		    "day": 20088, "day_usd": 3.5},
 *		...}}
 *
 * where hour and day are the window numbers the amounts belong to. */
#ifndef LLMFB_BUDGET_H
#define LLMFB_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BUDGET_MAX_KEYS		4096
#define BUDGET_FILE_VERSION	1
#define BUDGET_FILE_MAX		(64 << 20)	/* bytes we agree to load */

struct budgets;

struct spend {
	double	hour;
	double	day;
};

/* Empty, not dirty.  Never NULL: out of memory is fatal. */
struct budgets *budgets_new(void);
void budgets_free(struct budgets *b);
/* Count usd against key in now's hour and day.  An amount that is
 * negative, NaN or infinite is a caller's bug and is ignored. */
void budgets_add(struct budgets *b, const char *key, double usd, time_t now);
/* The fleet's figure (daemon/shared.c): raise key's spend in now's
 * windows to at least floor, never lower it.  Amounts that are not
 * finite and non-negative are ignored. */
void budgets_raise(struct budgets *b, const char *key, struct spend floor,
    time_t now);
/* Spend in now's windows; an unknown key has spent nothing. */
struct spend budgets_get(const struct budgets *b, const char *key,
    time_t now);
/* Changed since the last successful load or save. */
bool budgets_dirty(const struct budgets *b);
/* Keys evicted while they still held spend of their current day. */
uint64_t budgets_dropped(const struct budgets *b);

/* Replace the state with the file's.  A missing file is an empty state
 * (returns 0).  A file that cannot be read or is not a valid budget file
 * returns -1, writes "PATH: reason" into err and leaves the state as it
 * was.  On success the state is not dirty. */
int budgets_load(struct budgets *b, const char *path, char *err,
    size_t errlen);
/* Write the state to path atomically: PATH.tmp, fsync, rename.  Returns
 * 0 and clears dirty, or -1 with "PATH: reason" in err, the previous file
 * untouched and dirty still set.  A key that is not valid UTF-8 cannot be
 * a JSON string: it is counted in memory but not written. */
int budgets_save(struct budgets *b, const char *path, char *err,
    size_t errlen);

/* For the status: key i (0 <= i < budgets_count()) and its spend in
 * now's windows into *ret (if not NULL); NULL past the end.  Indices are
 * stable until the next budgets_add or budgets_load. */
size_t budgets_count(const struct budgets *b);
const char *budgets_key(const struct budgets *b, size_t i,
    struct spend *ret, time_t now);

#endif
