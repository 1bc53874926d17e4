#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "inject.h"
#include "util.h"

int
fault_parse(const char *spec, enum fault_kind *kind, uint32_t *arg,
    const char **why)
{
	static const struct {
		const char	*name;
		enum fault_kind	 kind;
		uint64_t	 min, max;
		const char	*why;
	} kinds[] = {
		{ "status", FAULT_STATUS, 100, 599,
		  "status=CODE takes an HTTP status from 100 to 599" },
		{ "delay", FAULT_DELAY, 1, 3600000,
		  "delay=MS takes 1 to 3600000 milliseconds" },
		{ "cut", FAULT_CUT, 0, 1u << 30,
		  "cut=BYTES takes a byte count" },
	};
	const char *eq = strchr(spec, '=');
	size_t i, nlen = eq ? (size_t)(eq - spec) : strlen(spec);
	uint64_t v;

	if (strcmp(spec, "refusal") == 0) {
		*kind = FAULT_REFUSAL;
		*arg = 0;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (strlen(kinds[i].name) != nlen ||
		    strncmp(spec, kinds[i].name, nlen) != 0)
			continue;
		if (eq == NULL || parse_u64(eq + 1, kinds[i].min,
		    kinds[i].max, &v) < 0) {
			*why = kinds[i].why;
			return -1;
		}
		*kind = kinds[i].kind;
		*arg = (uint32_t)v;
		return 0;
	}
	*why = "a fault is status=CODE, delay=MS, cut=BYTES or refusal";
	return -1;
}

void
fault_name(const struct fault *f, char *out, size_t len)
{
	static const char *const names[] = { "status", "delay", "cut",
		"refusal" };

	if (f->kind == FAULT_REFUSAL)
		snprintf(out, len, "refusal");
	else
		snprintf(out, len, "%s=%u", names[f->kind], f->arg);
}

struct fault *
faults_add(struct faults *fs, const char *target, enum fault_kind kind,
    uint32_t arg, const char *route, const char *caller, uint64_t for_ms,
    uint64_t now_ms)
{
	struct fault *f;

	if (fs->n == FAULTS_MAX)
		return NULL;
	f = &fs->v[fs->n++];
	memset(f, 0, sizeof(*f));
	f->id = ++fs->next_id;
	f->target = xstrdup(target);
	f->kind = kind;
	f->arg = arg;
	f->route = route ? xstrdup(route) : NULL;
	f->caller = caller ? xstrdup(caller) : NULL;
	f->until_ms = now_ms + for_ms;
	f->since = time(NULL);
	return f;
}

struct fault *
faults_match(struct faults *fs, const char *target, const char *route,
    const char *comm, const char *exe, const char *unit, long pid,
    uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < fs->n; i++) {
		struct fault *f = &fs->v[i];

		if (now_ms < f->until_ms && strcmp(f->target, target) == 0 &&
		    (f->route == NULL || strcmp(f->route, route) == 0) &&
		    (f->caller == NULL || caller_is(f->caller, comm, exe, unit,
		    pid)))
			return f;
	}
	return NULL;
}

static void
fault_drop(struct faults *fs, size_t i)
{
	free(fs->v[i].target);
	free(fs->v[i].route);
	free(fs->v[i].caller);
	memmove(&fs->v[i], &fs->v[i + 1], (fs->n - i - 1) * sizeof(fs->v[0]));
	fs->n--;
}

size_t
faults_expire(struct faults *fs, uint64_t now_ms,
    void (*on_end)(const struct fault *f))
{
	size_t i = 0, gone = 0;

	while (i < fs->n) {
		if (now_ms < fs->v[i].until_ms) {
			i++;
			continue;
		}
		if (on_end != NULL)
			on_end(&fs->v[i]);
		fault_drop(fs, i);
		gone++;
	}
	return gone;
}

size_t
faults_remove(struct faults *fs, unsigned id)
{
	size_t i = 0, gone = 0;

	while (i < fs->n) {
		if (id != 0 && fs->v[i].id != id) {
			i++;
			continue;
		}
		fault_drop(fs, i);
		gone++;
	}
	return gone;
}

void
faults_clear(struct faults *fs)
{
	faults_remove(fs, 0);
}

uint64_t
faults_next_end(const struct faults *fs)
{
	uint64_t best = 0;
	size_t i;

	for (i = 0; i < fs->n; i++)
		if (best == 0 || fs->v[i].until_ms < best)
			best = fs->v[i].until_ms;
	return best;
}

#define FAULT_MESSAGE	"llmfb: fault injected by an operator"

char *
fault_answer(const struct fault *f, enum dialect d, bool stream,
    const char *model, const char **ctype)
{
	const struct api *api = api_of(d);
	const char *type, *code;
	json_t *j;
	char *s;

	*ctype = "application/json";
	if (f->kind == FAULT_REFUSAL) {
		if (stream)
			*ctype = "text/event-stream";
		return api->fault_refusal(stream, model ? model :
		    "llmfb-fault", FAULT_MESSAGE);
	}
	api->error_type((int)f->arg, &type, &code);
	j = api->error_body(type, code, FAULT_MESSAGE);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}
