/* Faults put in on purpose, so operators can rehearse their ladders on a
 * live host without touching a provider: for a while, a target answers
 * with a status, answers late, breaks its answer off, or refuses, for one
 * route, one program, or every call.  The call then walks its ladder as
 * it would for a real failure: retries, breakers, reasons, records.
 *
 * The faults are the daemon's, not a config's: a reload keeps them. */
#ifndef LLMFB_INJECT_H
#define LLMFB_INJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "caller.h"
#include "config.h"

#define FAULTS_MAX		64
#define FAULT_FOR_DEFAULT_S	60
#define FAULT_FOR_MAX_S		86400
#define FAULT_NAME_MAX		32

enum fault_kind { FAULT_STATUS, FAULT_DELAY, FAULT_CUT, FAULT_REFUSAL };

struct fault {
	unsigned	 id;
	char		*target;
	enum fault_kind	 kind;
	uint32_t	 arg;		/* the status, ms of delay, bytes */
	char		*route;		/* NULL: any */
	char		*caller;	/* NULL: any (see caller_is) */
	uint64_t	 until_ms;	/* monotonic */
	time_t		 since;		/* wall clock, for status */
	uint64_t	 hits;		/* attempts it was put in */
};

struct faults {
	struct fault	 v[FAULTS_MAX];
	size_t		 n;
	unsigned	 next_id;
};

/* "status=503", "delay=2000", "cut=100", "refusal".  0, or -1 with why
 * (a static string). */
int fault_parse(const char *spec, enum fault_kind *kind, uint32_t *arg,
    const char **why);
/* spec again, as fault_parse reads it. */
void fault_name(const struct fault *f, char *out, size_t len);
/* Add one; returns it, or NULL when FAULTS_MAX are active. */
struct fault *faults_add(struct faults *fs, const char *target,
    enum fault_kind kind, uint32_t arg, const char *route,
    const char *caller, uint64_t for_ms, uint64_t now_ms);
/* The fault for an attempt at target on route by this program (the
 * first added wins), or NULL.  Expired faults never match. */
struct fault *faults_match(struct faults *fs, const char *target,
    const char *route, const char *comm, const char *exe,
    const char *unit, long pid, uint64_t now_ms);
/* Drop expired faults; returns how many went.  on_end (may be NULL)
 * sees each before it goes. */
size_t faults_expire(struct faults *fs, uint64_t now_ms,
    void (*on_end)(const struct fault *f));
/* End fault id now (0: all of them).  Returns how many went. */
size_t faults_remove(struct faults *fs, unsigned id);
void faults_clear(struct faults *fs);
/* When the next one ends (monotonic ms), or 0 when none is active. */
uint64_t faults_next_end(const struct faults *fs);

/* A provider's answer carrying the fault, as target dialect d says it:
 * an error body for FAULT_STATUS, a refusal (a stream when stream) for
 * FAULT_REFUSAL.  *ctype is its Content-Type.  NULL: out of memory. */
char *fault_answer(const struct fault *f, enum dialect d, bool stream,
    const char *model, const char **ctype);

#endif
