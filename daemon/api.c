/* The API tables, looked up: by id, by name, by a caller's request. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"

const struct api *const apis[] = {
	&api_openai_chat,
	&api_anthropic_messages,
	&api_openai_embeddings,
	&api_openai_responses,
	&api_openai_completions,
	NULL
};

const struct api *
api_of(enum dialect d)
{
	size_t i;

	for (i = 0; apis[i] != NULL; i++)
		if (apis[i]->dialect == d)
			return apis[i];
	return apis[0];
}

const struct api *
api_named(const char *name)
{
	size_t i;

	for (i = 0; apis[i] != NULL; i++)
		if (apis[i]->provider == apis[i]->dialect &&
		    strcmp(apis[i]->name, name) == 0)
			return apis[i];
	return NULL;
}

enum dialect
api_for_target(const struct api *caller, enum dialect provider)
{
	return caller->provider == provider ? caller->dialect : provider;
}

void
api_names(char *out, size_t size)
{
	size_t i, n = 0;

	out[0] = '\0';
	const char *last = NULL;

	/* The names a provider takes, the last after "or". */
	for (i = 0; apis[i] != NULL; i++)
		if (apis[i]->provider == apis[i]->dialect)
			last = apis[i]->name;
	for (i = 0; apis[i] != NULL && n < size; i++) {
		if (apis[i]->provider != apis[i]->dialect)
			continue;
		n += (size_t)snprintf(out + n, size - n, "%s%s", n == 0 ? "" :
		    apis[i]->name == last ? " or " : ", ", apis[i]->name);
	}
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

const struct api *
api_of_request(const char *method, const char *path)
{
	const struct api *best = NULL;
	size_t i;

	if (strcmp(method, "POST") != 0)
		return NULL;
	/* The longest match: "/chat/completions" is chat's, not the legacy
	 * "/completions", whatever the order of apis[]. */
	for (i = 0; apis[i] != NULL; i++)
		if (has_suffix(path, apis[i]->match) && (best == NULL ||
		    strlen(apis[i]->match) > strlen(best->match)))
			best = apis[i];
	return best;
}

bool
api_header(const char *name)
{
	size_t i, n;

	for (i = 0; apis[i] != NULL; i++) {
		if (apis[i]->header_prefix == NULL)
			continue;
		n = strlen(apis[i]->header_prefix);
		if (strncasecmp(name, apis[i]->header_prefix, n) == 0)
			return true;
	}
	return false;
}

enum finish
api_finish_read(const struct api *a, const char *name)
{
	const struct finish_name *f;

	for (f = a->finish_read; f != NULL && f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f->finish;
	return FINISH_STOP;
}
