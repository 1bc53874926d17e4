/* Reading members of JSON that came from outside: any of them may be
 * missing or of any type, and these say so instead of trusting it.  Shared
 * by the answer reader and the translators, which read the same APIs. */
#ifndef LLMFB_JSONGET_H
#define LLMFB_JSONGET_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A string member, or NULL. */
static inline const char *
get_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static inline bool
is_str(const json_t *o, const char *key, const char *want)
{
	const char *s = get_str(o, key);

	return s != NULL && strcmp(s, want) == 0;
}

/* A non-negative integer member: true and *ret_val, else false. */
static inline bool
get_count(const json_t *o, const char *key, uint64_t *ret_val)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*ret_val = (uint64_t)json_integer_value(v);
	return true;
}

/* A block or tool-call index: 0 .. INT_MAX / 2, so that moving it past
 * another stream's blocks cannot overflow.  -1 when missing or out of
 * range. */
static inline int
get_index(const json_t *o)
{
	json_t *v = json_object_get(o, "index");

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > INT_MAX / 2)
		return -1;
	return (int)json_integer_value(v);
}

static inline bool
null_or_absent(const json_t *v)
{
	return v == NULL || json_is_null(v);
}

#endif
