/* Requests, whole answers and errors between OpenAI chat completions and
 * Anthropic messages, as docs/dialects.md says.  All that is read here
 * came from a caller or a provider: any member may be missing or of any
 * type.  An allocation that fails is not checked where it happens: it
 * marks the work (oom), which is thrown away at the end.  So that nothing
 * is used after a failed attach freed it, every value is filled before it
 * is attached to its parent. */
#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dialect.h"
#include "jsonget.h"
#include "util.h"
#include "xlate_completions.h"
#include "xlate_responses.h"

/* Only bounds a buffer: a text never outgrows the body it came from. */
#define TEXT_MAX	((size_t)1 << 30)
/* Token counts are clamped to this, so their sums cannot overflow. */
#define COUNT_MAX	((json_int_t)1 << 48)
/* What the forced tool of JSON mode tells the model. */
#define JSON_TOOL_DESC	"Give your whole answer as this tool's input."

/* One request or answer being translated. */
struct xlat {
	const json_t	*in;
	json_t		*out;
	json_t		*msgs;		/* a request's messages */
	char		*why;		/* a request's: why it does not go */
	bool		 json_tool;
	bool		 oom;
};

/* A text joined from pieces. */
struct text {
	struct buf	 b;
	bool		 any;		/* a piece was added, maybe empty */
};

/* Tool choices that are one word in both dialects. */
static const struct {
	const char	*anthropic, *openai;
} choice_words[] = {
	{ "auto", "auto" },
	{ "any", "required" },
	{ "none", "none" },
};

/* ---- small helpers ----------------------------------------------------- */

/* A member, null taken as absent: both APIs mean the same by them. */
static json_t *
get(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_null(v) ? NULL : v;
}

/* A copy of a JSON string, embedded NULs and all. */
static json_t *
str_copy(const json_t *s)
{
	return json_stringn(json_string_value(s), json_string_length(s));
}

/* o[key] = v and a[] += v, owning v: NULL (a failed allocation) or a
 * failure marks x. */
static void
put(struct xlat *x, json_t *o, const char *key, json_t *v)
{
	if (json_object_set_new(o, key, v) < 0)
		x->oom = true;
}

static void
add(struct xlat *x, json_t *a, json_t *v)
{
	if (json_array_append_new(a, v) < 0)
		x->oom = true;
}

static void
text_init(struct text *t)
{
	buf_init(&t->b, TEXT_MAX);
	t->any = false;
}

/* Add the JSON string s, after sep unless it is the first piece. */
static void
text_add(struct xlat *x, struct text *t, const char *sep, const json_t *s)
{
	if ((t->any && buf_addstr(&t->b, sep) < 0) ||
	    buf_add(&t->b, json_string_value(s), json_string_length(s)) < 0)
		x->oom = true;
	t->any = true;
}

/* The text as a new JSON string; t is emptied. */
static json_t *
text_take(struct xlat *x, struct text *t)
{
	json_t *s = json_stringn(t->b.data != NULL ? t->b.data : "",
	    t->b.len);

	if (s == NULL)
		x->oom = true;
	buf_free(&t->b);
	return s;
}

/* A text block or part, {type: text, text}. */
static json_t *
text_part(const json_t *s)
{
	return json_pack("{s:s, s:s%}", "type", "text", "text",
	    json_string_value(s), json_string_length(s));
}

/* A message {role, content}, owning content. */
static json_t *
message(struct xlat *x, const char *role, json_t *content)
{
	json_t *m = json_pack("{s:s}", "role", role);

	put(x, m, "content", content);
	return m;
}

/* An OpenAI tool call.  The arguments are input's JSON text; an input
 * that is a string stands for arguments that were not a JSON object
 * (o2a_answer_call), which go back as they were. */
static json_t *
tool_call(const char *id, const char *name, const json_t *input)
{
	json_t *args = NULL, *c;
	char *s;

	if (json_is_string(input))
		args = str_copy(input);
	else if ((s = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY)) !=
	    NULL) {
		args = json_string(s);
		free(s);
	}
	c = json_pack("{s:s, s:s, s:{s:s, s:O}}", "id", id, "type",
	    "function", "function", "name", name, "arguments", args);
	json_decref(args);
	return c;
}

/* A token count of an answer: 0 when it is not one. */
static json_int_t
count(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;

	return n < 0 ? 0 : n > COUNT_MAX ? COUNT_MAX : n;
}

/* ---- requests: the frame ----------------------------------------------- */

struct field;
typedef int field_fn(struct xlat *, const struct field *, json_t *);

/* A top-level field of a request and what becomes of it. */
struct field {
	const char	*name;
	field_fn	*fn;		/* NULL: dropped, it is harmless */
	const char	*arg;		/* for fn */
	const char	*why;		/* what a refusal names; NULL: name */
	bool		 always;	/* fn is called when it is absent too */
};

/* Why the request does not translate; returns -1 for the caller to
 * return.  The token may come from the request (a field's name, a block's
 * type) and goes into a response header, so only characters safe there
 * are kept. */
static int
fail(struct xlat *x, const char *what, const char *name)
{
	char *p;

	snprintf(x->why, DIALECT_WHY_MAX, "%s%s", what,
	    name != NULL ? name : "");
	for (p = x->why; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("_.:+-", *p) == NULL)
			*p = '?';
	return -1;
}

static int
refuse(struct xlat *x, const struct field *f)
{
	return fail(x, f->why != NULL ? f->why : f->name, NULL);
}

/* *ret: a text from a string or from text blocks (or parts) joined with
 * sep; absent, "".  Another block is refused as bad, or when bad is NULL,
 * by its type. */
static int
join(struct xlat *x, const json_t *c, const char *sep, const char *bad,
    json_t **ret)
{
	const char *type;
	struct text t;
	json_t *b;
	size_t i;

	*ret = NULL;
	if (c == NULL || json_is_string(c)) {
		*ret = c != NULL ? str_copy(c) : json_string("");
		return 0;
	}
	if (!json_is_array(c))
		return fail(x, bad != NULL ? bad : "messages", NULL);
	text_init(&t);
	json_array_foreach(c, i, b) {
		type = get_str(b, "type");
		if (type == NULL || strcmp(type, "text") != 0 ||
		    !json_is_string(json_object_get(b, "text"))) {
			buf_free(&t.b);
			if (bad != NULL)
				return fail(x, bad, NULL);
			if (type != NULL && strcmp(type, "image") == 0)
				return fail(x, "tool_result_image", NULL);
			return fail(x, type != NULL && strcmp(type, "text") ?
			    type : "messages", NULL);
		}
		text_add(x, &t, sep, json_object_get(b, "text"));
	}
	*ret = text_take(x, &t);
	return 0;
}

/* Every field must be one the table knows: one that is not might change
 * what the answer must be, and the reasons header names it. */
static int
fields_known(struct xlat *x, const struct field *tab, size_t n)
{
	const char *key;
	json_t *v;
	size_t i;

	/* json_object_foreach wants a mutable object; it only reads. */
	json_object_foreach((json_t *)x->in, key, v) {
		for (i = 0; i < n && strcmp(key, tab[i].name) != 0; i++)
			;
		if (i == n && !json_is_null(v))
			return fail(x, key, NULL);
	}
	return 0;
}

/* The fields in the table's order, the order they must be done in. */
static int
fields_walk(struct xlat *x, const struct field *tab, size_t n)
{
	json_t *v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = get(x->in, tab[i].name);
		if (tab[i].fn == NULL || (v == NULL && !tab[i].always))
			continue;
		if (tab[i].fn(x, &tab[i], v) < 0)
			return -1;
	}
	return 0;
}

/* ---- requests: fields either way --------------------------------------- */

/* Done by another field's handler. */
static int
f_with(struct xlat *x, const struct field *f, json_t *v)
{
	(void)x;
	(void)f;
	(void)v;
	return 0;
}

/* The field as it is, when it is of the type arg names. */
static int
f_copy(struct xlat *x, const struct field *f, json_t *v)
{
	bool ok = strcmp(f->arg, "string") == 0 ? json_is_string(v) :
	    strcmp(f->arg, "number") == 0 ? json_is_number(v) :
	    strcmp(f->arg, "bool") == 0 ? json_is_boolean(v) :
	    json_is_integer(v) && json_integer_value(v) >= 0;

	if (!ok)
		return refuse(x, f);
	put(x, x->out, f->name, json_deep_copy(v));
	return 0;
}

/* A feature the target's dialect does not have: fine only when it is
 * off, that is one of the values in arg (a JSON list). */
static int
f_off(struct xlat *x, const struct field *f, json_t *v)
{
	json_t *off = json_loads(f->arg, 0, NULL), *o;
	bool ok = false;
	size_t i;

	json_array_foreach(off, i, o)
		ok = ok || json_equal(v, o);
	json_decref(off);
	return ok ? 0 : refuse(x, f);
}

/* ---- finish reasons ---------------------------------------------------- */

const char *
dialect_finish(const char *reason, enum dialect target, enum dialect caller)
{
	const char *name;

	if (reason == NULL || target == caller)
		return reason;
	name = api_of(caller)->finish_name[api_finish_read(api_of(target),
	    reason)];
	return name != NULL ? name : reason;
}

/* ---- errors: each API says its own (api.h) ---------------------------- */

int
dialect_error_status(int status, enum dialect caller)
{
	return api_of(caller)->error_status(status);
}

void
dialect_error_type(int status, enum dialect caller, const char **type,
    const char **code)
{
	api_of(caller)->error_type(status, type, code);
}

/* The status an in-stream error's type stands for (0: unknown). */
static int
status_of_type(const char *type)
{
	static const struct {
		const char	*type;
		int		 status;
	} map[] = {
		{ "invalid_request_error", 400 },
		{ "authentication_error", 401 },
		{ "permission_error", 403 },
		{ "not_found_error", 404 },
		{ "request_too_large", 413 },
		{ "rate_limit_error", 429 },
		{ "rate_limit_exceeded", 429 },
		{ "overloaded_error", 529 },
		{ "api_error", 500 },
		{ "server_error", 500 },
	};
	size_t i;

	for (i = 0; type != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i].type) == 0)
			return map[i].status;
	return 0;
}

/* An error as the caller's API says it; as it came only when the target
 * is of the caller's API and copy allows. */
static json_t *
error_json(const json_t *err, int status, bool copy, enum dialect caller)
{
	const json_t *e = json_object_get(err, "error");
	const char *msg, *type, *code;

	/* OpenAI: {"error": {message, type, param, code}}; Anthropic:
	 * {"type": "error", "error": {type, message}}.  Some servers put a
	 * bare string in "error". */
	msg = json_string_value(json_object_get(e, "message"));
	if (msg == NULL)
		msg = json_string_value(e);
	if (msg == NULL)
		msg = json_string_value(json_object_get(err, "message"));
	if (msg == NULL)	/* FastAPI servers (vLLM, ...) */
		msg = json_string_value(json_object_get(err, "detail"));
	if (msg == NULL)
		msg = "the provider gave an error";
	if (status == 0)
		status = status_of_type(json_string_value(json_object_get(e,
		    "type")));
	if (copy && json_is_object(e))
		return json_deep_copy(err);
	dialect_error_type(status, caller, &type, &code);
	return dialect_error_body(caller, type, code, msg);
}

json_t *
dialect_error_json(const json_t *err, int status, enum dialect target,
    enum dialect caller)
{
	return error_json(err, status, target == caller, caller);
}

json_t *
dialect_error_body(enum dialect d, const char *type, const char *code,
    const char *message)
{
	return api_of(d)->error_body(type, code, message);
}

json_t *
dialect_status_error(enum dialect d, int status, const char *message)
{
	const char *type, *code;

	dialect_error_type(status, d, &type, &code);
	return dialect_error_body(d, type, code, message);
}

json_t *
dialect_error(int status, const char *body, size_t len, enum dialect target,
    enum dialect caller, int *ret_status)
{
	json_t *in = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	bool copy = target == caller;
	json_t *out;

	*ret_status = dialect_error_status(status, caller);
	/* Gemini's errors come as an array of one error object: no
	 * caller's SDK reads that, so it is said again in the caller's
	 * own shape, even when the dialects are the same (it is read, never
	 * copied as it is). */
	if (json_is_array(in) && json_is_object(json_array_get(in, 0))) {
		json_t *e = json_incref(json_array_get(in, 0));

		json_decref(in);
		in = e;
		copy = false;
	}
	out = error_json(in, status, copy, caller);
	json_decref(in);
	return out;
}

/* ---- requests, Anthropic to OpenAI ------------------------------------- */

static int
a2o_system(struct xlat *x, const struct field *f, json_t *v)
{
	json_t *s;

	if (join(x, v, "\n", f->name, &s) < 0)
		return -1;
	/* An empty system prompt says nothing. */
	if (json_string_length(s) == 0)
		json_decref(s);
	else
		add(x, x->msgs, message(x, "system", s));
	return 0;
}

/* An image block as an image_url part: a base64 source as a data: URL. */
static int
a2o_image(struct xlat *x, json_t *parts, const json_t *b)
{
	const json_t *src = json_object_get(b, "source");
	const char *url = get_str(src, "url"), *media, *data;
	struct buf u;

	if (is_str(src, "type", "file"))
		return fail(x, "file", NULL);
	if (is_str(src, "type", "url") && url != NULL) {
		add(x, parts, json_pack("{s:s, s:{s:s}}", "type", "image_url",
		    "image_url", "url", url));
		return 0;
	}
	media = get_str(src, "media_type");
	data = get_str(src, "data");
	if (!is_str(src, "type", "base64") || media == NULL || data == NULL)
		return fail(x, "image", NULL);
	buf_init(&u, TEXT_MAX);
	if (buf_printf(&u, "data:%s;base64,%s", media, data) < 0)
		x->oom = true;
	else
		add(x, parts, json_pack("{s:s, s:{s:s}}", "type", "image_url",
		    "image_url", "url", u.data));
	buf_free(&u);
	return 0;
}

/* A tool_result block as a tool message. */
static int
a2o_tool_result(struct xlat *x, const json_t *b)
{
	const char *id = get_str(b, "tool_use_id");
	struct text t;
	json_t *s, *m;

	if (id == NULL)
		return fail(x, "messages", NULL);
	if (join(x, get(b, "content"), "\n", NULL, &s) < 0)
		return -1;
	if (json_is_true(json_object_get(b, "is_error"))) {
		text_init(&t);
		if (buf_addstr(&t.b, "Error: ") < 0 || s == NULL)
			x->oom = true;
		else
			text_add(x, &t, "", s);
		json_decref(s);
		s = text_take(x, &t);
	}
	m = json_pack("{s:s, s:s}", "role", "tool", "tool_call_id", id);
	put(x, m, "content", s);
	add(x, x->msgs, m);
	return 0;
}

/* A user message: its tool results first, as tool messages, since OpenAI
 * wants them right after the assistant's calls; then the rest, as a
 * string when it is one text. */
static int
a2o_user(struct xlat *x, const json_t *c)
{
	json_t *parts, *b, *text;
	const char *type;
	size_t i, results = 0;
	int r = 0;

	if (json_is_string(c)) {
		add(x, x->msgs, message(x, "user", str_copy(c)));
		return 0;
	}
	if (!json_is_array(c) || json_array_size(c) == 0)
		return fail(x, "messages", NULL);
	if ((parts = json_array()) == NULL)
		x->oom = true;
	json_array_foreach(c, i, b) {
		type = get_str(b, "type");
		text = json_object_get(b, "text");
		if (type == NULL || (strcmp(type, "text") == 0 &&
		    !json_is_string(text)))
			r = fail(x, "messages", NULL);
		else if (strcmp(type, "text") == 0)
			add(x, parts, text_part(text));
		else if (strcmp(type, "image") == 0)
			r = a2o_image(x, parts, b);
		else if (strcmp(type, "tool_result") == 0) {
			r = a2o_tool_result(x, b);
			results++;
		} else
			r = fail(x, type, NULL);
		if (r < 0)
			break;
	}
	b = json_array_get(parts, 0);
	if (r < 0 || results == json_array_size(c)) {
		json_decref(parts);
		return r;
	}
	if (json_array_size(parts) == 1 && is_str(b, "type", "text")) {
		text = str_copy(json_object_get(b, "text"));
		json_decref(parts);
		parts = text;
	}
	add(x, x->msgs, message(x, "user", parts));
	return 0;
}

/* A tool_use block as a tool call: its input must be an object, the only
 * thing arguments may say. */
static int
a2o_call(struct xlat *x, json_t *calls, const json_t *b)
{
	const char *id = get_str(b, "id"), *name = get_str(b, "name");

	if (id == NULL || name == NULL)
		return fail(x, "messages", NULL);
	if (!json_is_object(json_object_get(b, "input")))
		return fail(x, "tool_args", NULL);
	add(x, calls, tool_call(id, name, json_object_get(b, "input")));
	return 0;
}

/* An assistant message: its text blocks concatenated (as an answer's
 * are), its tool_use blocks as tool calls, its thinking dropped. */
static int
a2o_assistant(struct xlat *x, const json_t *c)
{
	json_t *calls, *b, *text, *m;
	const char *type;
	struct text t;
	size_t i;
	int r = 0;

	if (json_is_string(c)) {
		add(x, x->msgs, message(x, "assistant", str_copy(c)));
		return 0;
	}
	if (!json_is_array(c))
		return fail(x, "messages", NULL);
	if ((calls = json_array()) == NULL)
		x->oom = true;
	text_init(&t);
	json_array_foreach(c, i, b) {
		type = get_str(b, "type");
		text = json_object_get(b, "text");
		if (type == NULL || (strcmp(type, "text") == 0 &&
		    !json_is_string(text)))
			r = fail(x, "messages", NULL);
		else if (strcmp(type, "text") == 0)
			text_add(x, &t, "", text);
		else if (strcmp(type, "tool_use") == 0)
			r = a2o_call(x, calls, b);
		else if (strcmp(type, "thinking") != 0 &&
		    strcmp(type, "redacted_thinking") != 0)
			r = fail(x, type, NULL);
		if (r < 0)
			break;
	}
	if (r == 0) {
		m = message(x, "assistant", t.any ? text_take(x, &t) :
		    json_null());
		if (json_array_size(calls) > 0)
			put(x, m, "tool_calls", json_incref(calls));
		add(x, x->msgs, m);
	}
	buf_free(&t.b);
	json_decref(calls);
	return r;
}

static int
a2o_messages(struct xlat *x, const struct field *f, json_t *v)
{
	const json_t *m;
	size_t i;
	int r;

	if (!json_is_array(v))
		return refuse(x, f);
	json_array_foreach(v, i, m) {
		if (is_str(m, "role", "user"))
			r = a2o_user(x, json_object_get(m, "content"));
		else if (is_str(m, "role", "assistant"))
			r = a2o_assistant(x, json_object_get(m, "content"));
		else
			r = refuse(x, f);
		if (r < 0)
			return -1;
	}
	put(x, x->out, "messages", json_incref(x->msgs));
	return 0;
}

/* A list of strings; more than 4 stop sequences OpenAI does not take. */
static int
a2o_stop(struct xlat *x, const struct field *f, json_t *v)
{
	const json_t *s;
	size_t i;

	if (!json_is_array(v))
		return refuse(x, f);
	json_array_foreach(v, i, s)
		if (!json_is_string(s))
			return refuse(x, f);
	if (json_array_size(v) > 4)
		return fail(x, "stop", NULL);
	if (json_array_size(v) > 0)
		put(x, x->out, "stop", json_deep_copy(v));
	return 0;
}

/* A stream always asks for the usage chunk: the caller's dialect always
 * reports usage. */
static int
a2o_stream(struct xlat *x, const struct field *f, json_t *v)
{
	if (f_copy(x, f, v) < 0)
		return -1;
	if (json_is_true(v))
		put(x, x->out, "stream_options", json_pack("{s:b}",
		    "include_usage", 1));
	return 0;
}

static int
a2o_metadata(struct xlat *x, const struct field *f, json_t *v)
{
	const json_t *user = get(v, "user_id");

	if (!json_is_object(v) || (user != NULL && !json_is_string(user)))
		return refuse(x, f);
	if (user != NULL)
		put(x, x->out, "user", str_copy(user));
	return 0;
}

/* output_config: effort tunes how hard the model thinks (dropped, like
 * thinking); format asks the answer to follow a JSON schema, which the
 * OpenAI API asks with response_format.  Anything else might change what
 * the answer must be: refused, by name. */
static int
a2o_output_config(struct xlat *x, const struct field *f, json_t *v)
{
	const json_t *fmt, *schema;
	const char *key, *type;
	json_t *val;

	if (!json_is_object(v))
		return refuse(x, f);
	json_object_foreach(v, key, val) {
		if (strcmp(key, "effort") == 0 || json_is_null(val))
			continue;
		if (strcmp(key, "format") != 0)
			return fail(x, "output_config.", key);
	}
	if ((fmt = get(v, "format")) == NULL || json_is_null(fmt))
		return 0;
	type = get_str(fmt, "type");
	schema = get(fmt, "schema");
	if (type == NULL || strcmp(type, "json_schema") != 0 ||
	    !json_is_object(schema))
		return fail(x, "output_config.format", NULL);
	put(x, x->out, "response_format", json_pack("{s:s, s:{s:s, s:O}}",
	    "type", "json_schema", "json_schema", "name", "output", "schema",
	    schema));
	return 0;
}

/* Client tools become functions.  Server tools (a type naming a version:
 * web_search_20250305, bash_20250124, ...) run at Anthropic only. */
static int
a2o_tools(struct xlat *x, const struct field *f, json_t *v)
{
	const json_t *t, *schema, *type;
	json_t *tools, *tool, *fn;
	size_t i;

	if (!json_is_array(v))
		return refuse(x, f);
	json_array_foreach(v, i, t) {
		type = get(t, "type");
		schema = json_object_get(t, "input_schema");
		if (json_is_string(type) && !is_str(t, "type", "custom"))
			return fail(x, "tool:", json_string_value(type));
		if ((type != NULL && !json_is_string(type)) ||
		    get_str(t, "name") == NULL || !json_is_object(schema) ||
		    (get(t, "description") != NULL &&
		    get_str(t, "description") == NULL))
			return refuse(x, f);
	}
	if (json_array_size(v) == 0)
		return 0;
	tools = json_array();
	json_array_foreach(v, i, t) {
		fn = json_pack("{s:s}", "name", get_str(t, "name"));
		if (get_str(t, "description") != NULL)
			put(x, fn, "description", str_copy(json_object_get(t,
			    "description")));
		put(x, fn, "parameters", json_deep_copy(json_object_get(t,
		    "input_schema")));
		tool = json_pack("{s:s}", "type", "function");
		put(x, tool, "function", fn);
		add(x, tools, tool);
	}
	put(x, x->out, "tools", tools);
	return 0;
}

static int
a2o_tool_choice(struct xlat *x, const struct field *f, json_t *v)
{
	const char *type = get_str(v, "type"), *name = get_str(v, "name");
	size_t i;

	for (i = 0; type != NULL && i < ARRAY_SIZE(choice_words); i++)
		if (strcmp(type, choice_words[i].anthropic) == 0)
			break;
	if (type != NULL && i < ARRAY_SIZE(choice_words))
		put(x, x->out, "tool_choice",
		    json_string(choice_words[i].openai));
	else if (type != NULL && strcmp(type, "tool") == 0 && name != NULL)
		put(x, x->out, "tool_choice", json_pack("{s:s, s:{s:s}}",
		    "type", "function", "function", "name", name));
	else
		return refuse(x, f);
	if (json_is_true(json_object_get(v, "disable_parallel_tool_use")))
		put(x, x->out, "parallel_tool_calls", json_false());
	return 0;
}

static const struct field a2o_fields[] = {
	{ "model", f_copy, "string", NULL, false },
	{ "system", a2o_system, NULL, NULL, false },
	{ "messages", a2o_messages, NULL, NULL, true },
	{ "max_tokens", f_copy, "count", NULL, false },
	{ "temperature", f_copy, "number", NULL, false },
	{ "top_p", f_copy, "number", NULL, false },
	{ "stop_sequences", a2o_stop, NULL, NULL, false },
	{ "stream", a2o_stream, "bool", NULL, false },
	{ "metadata", a2o_metadata, NULL, NULL, false },
	{ "tools", a2o_tools, NULL, NULL, false },
	{ "tool_choice", a2o_tool_choice, NULL, NULL, false },
	{ "mcp_servers", f_off, "[[]]", NULL, false },
	{ "container", f_off, "[]", NULL, false },
	{ "output_config", a2o_output_config, NULL, NULL, false },
	/* They tune how the answer is made, not what it must be:
	 * context_management edits earlier turns (thinking, tool results)
	 * at Anthropic to save context; the target is sent them whole. */
	{ "top_k", NULL, NULL, NULL, false },
	{ "thinking", NULL, NULL, NULL, false },
	{ "service_tier", NULL, NULL, NULL, false },
	{ "context_management", NULL, NULL, NULL, false },
	{ "speed", NULL, NULL, NULL, false },
};

/* ---- requests, OpenAI to Anthropic ------------------------------------- */

/* An image_url part as an image block: a data: URL carries the image,
 * any other URL points at it. */
static int
o2a_image(struct xlat *x, json_t *blocks, const json_t *part)
{
	const json_t *iu = json_object_get(part, "image_url");
	const char *url = json_is_string(iu) ? json_string_value(iu) :
	    get_str(iu, "url"), *b64;

	if (url == NULL)
		return fail(x, "messages", NULL);
	if (strncmp(url, "data:", 5) != 0) {
		add(x, blocks, json_pack("{s:s, s:{s:s, s:s}}", "type",
		    "image", "source", "type", "url", "url", url));
		return 0;
	}
	if ((b64 = strstr(url, ";base64,")) == NULL)
		return fail(x, "image_url", NULL);
	add(x, blocks, json_pack("{s:s, s:{s:s, s:s%, s:s}}", "type", "image",
	    "source", "type", "base64", "media_type", url + 5,
	    strcspn(url + 5, ";,"), "data", b64 + 8));
	return 0;
}

static int
o2a_user(struct xlat *x, const json_t *m, json_t *blocks)
{
	const json_t *c = get(m, "content"), *p, *text;
	const char *type;
	size_t i;
	int r = 0;

	if (json_is_string(c)) {
		add(x, blocks, text_part(c));
		return 0;
	}
	if (!json_is_array(c))
		return fail(x, "messages", NULL);
	json_array_foreach(c, i, p) {
		type = get_str(p, "type");
		text = json_object_get(p, "text");
		if (type == NULL || (strcmp(type, "text") == 0 &&
		    !json_is_string(text)))
			r = fail(x, "messages", NULL);
		else if (strcmp(type, "text") == 0)
			add(x, blocks, text_part(text));
		else if (strcmp(type, "image_url") == 0)
			r = o2a_image(x, blocks, p);
		else
			r = fail(x, strcmp(type, "input_audio") == 0 ? "audio" :
			    type, NULL);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* A text block, but none for an empty text: Anthropic refuses those. */
static int
o2a_text(struct xlat *x, json_t *blocks, const json_t *s)
{
	if (!json_is_string(s))
		return fail(x, "messages", NULL);
	if (json_string_length(s) > 0)
		add(x, blocks, text_part(s));
	return 0;
}

/* A tool call as a tool_use block: its arguments must be a JSON object
 * ("" is a call without any), the only thing an input may be. */
static int
o2a_call(struct xlat *x, json_t *blocks, const json_t *tc)
{
	const json_t *fn = json_object_get(tc, "function");
	const json_t *args = get(fn, "arguments");
	const char *id = get_str(tc, "id"), *name = get_str(fn, "name");
	json_t *input = NULL, *b;

	if (get(tc, "type") != NULL && !is_str(tc, "type", "function"))
		return fail(x, "tool:", get_str(tc, "type") != NULL ?
		    get_str(tc, "type") : "?");
	if (id == NULL || name == NULL)
		return fail(x, "messages", NULL);
	if (args == NULL || (json_is_string(args) &&
	    json_string_length(args) == 0))
		input = json_object();
	else if (json_is_string(args))
		input = json_loadb(json_string_value(args),
		    json_string_length(args), 0, NULL);
	if (!json_is_object(input)) {
		json_decref(input);
		return fail(x, "tool_args", NULL);
	}
	b = json_pack("{s:s, s:s, s:s}", "type", "tool_use", "id", id, "name",
	    name);
	put(x, b, "input", input);
	add(x, blocks, b);
	return 0;
}

/* Its text (a refusal is text too), then its tool calls. */
static int
o2a_assistant(struct xlat *x, const json_t *m, json_t *blocks)
{
	const json_t *c = get(m, "content"), *calls = get(m, "tool_calls");
	const json_t *p;
	size_t i;
	int r = 0;

	if (get(m, "function_call") != NULL)
		return fail(x, "functions", NULL);
	if (get(m, "audio") != NULL)
		return fail(x, "audio", NULL);
	if ((c != NULL && !json_is_string(c) && !json_is_array(c)) ||
	    (calls != NULL && !json_is_array(calls)))
		return fail(x, "messages", NULL);
	if (json_is_string(c))
		r = o2a_text(x, blocks, c);
	json_array_foreach(c, i, p) {
		if (is_str(p, "type", "text") || is_str(p, "type", "refusal"))
			r = o2a_text(x, blocks, json_object_get(p,
			    get_str(p, "type")));
		else
			r = fail(x, "messages", NULL);
		if (r < 0)
			return -1;
	}
	if (r == 0 && get(m, "refusal") != NULL)
		r = o2a_text(x, blocks, get(m, "refusal"));
	if (r < 0)
		return -1;
	json_array_foreach(calls, i, p)
		if (o2a_call(x, blocks, p) < 0)
			return -1;
	return 0;
}

/* A tool message as a tool_result block. */
static int
o2a_tool_result(struct xlat *x, const json_t *m, json_t *blocks)
{
	const char *id = get_str(m, "tool_call_id");
	json_t *b, *s;

	if (id == NULL)
		return fail(x, "messages", NULL);
	if (join(x, get(m, "content"), "\n", "messages", &s) < 0)
		return -1;
	b = json_pack("{s:s, s:s}", "type", "tool_result", "tool_use_id", id);
	put(x, b, "content", s);
	add(x, blocks, b);
	return 0;
}

/* The roles whose messages become blocks, and the role they take. */
static const struct {
	const char	*role, *as;
	int		(*blocks)(struct xlat *, const json_t *, json_t *);
} o2a_roles[] = {
	{ "user", "user", o2a_user },
	{ "assistant", "assistant", o2a_assistant },
	{ "tool", "user", o2a_tool_result },
};

/* Blocks of role at the end of the messages.  Anthropic wants the roles
 * to alternate, so they join the message before when it has that role;
 * a message with no blocks says nothing and is left out. */
static void
o2a_push(struct xlat *x, const char *role, json_t *blocks)
{
	size_t n = json_array_size(x->msgs);
	json_t *last = n > 0 ? json_array_get(x->msgs, n - 1) : NULL;

	if (json_array_size(blocks) == 0)
		json_decref(blocks);
	else if (is_str(last, "role", role)) {
		if (json_array_extend(json_object_get(last, "content"),
		    blocks) < 0)
			x->oom = true;
		json_decref(blocks);
	} else
		add(x, x->msgs, message(x, role, blocks));
}

/* One message of the conversation; system and developer ones are text
 * for the system prompt. */
static int
o2a_message(struct xlat *x, const json_t *m, struct text *sys)
{
	const char *role = get_str(m, "role");
	json_t *blocks, *s;
	size_t i;

	if (is_str(m, "role", "system") || is_str(m, "role", "developer")) {
		if (join(x, get(m, "content"), "\n", "messages", &s) < 0)
			return -1;
		if (s != NULL)
			text_add(x, sys, "\n", s);
		json_decref(s);
		return 0;
	}
	if (is_str(m, "role", "function"))
		return fail(x, "functions", NULL);
	for (i = 0; role != NULL && i < ARRAY_SIZE(o2a_roles); i++) {
		if (strcmp(role, o2a_roles[i].role) != 0)
			continue;
		if ((blocks = json_array()) == NULL)
			x->oom = true;
		if (o2a_roles[i].blocks(x, m, blocks) < 0) {
			json_decref(blocks);
			return -1;
		}
		o2a_push(x, o2a_roles[i].as, blocks);
		return 0;
	}
	return fail(x, "messages", NULL);
}

static int
o2a_messages(struct xlat *x, const struct field *f, json_t *v)
{
	const json_t *b;
	struct text sys;
	json_t *m;
	size_t i;

	if (!json_is_array(v))
		return refuse(x, f);
	text_init(&sys);
	json_array_foreach(v, i, m) {
		if (o2a_message(x, m, &sys) < 0) {
			buf_free(&sys.b);
			return -1;
		}
	}
	if (sys.b.len > 0)
		put(x, x->out, "system", text_take(x, &sys));
	buf_free(&sys.b);
	/* A message whose one block is a plain text says it as a string. */
	json_array_foreach(x->msgs, i, m) {
		b = json_array_get(json_object_get(m, "content"), 0);
		if (json_array_size(json_object_get(m, "content")) == 1 &&
		    is_str(b, "type", "text") && json_object_size(b) == 2)
			put(x, m, "content", str_copy(json_object_get(b,
			    "text")));
	}
	put(x, x->out, "messages", json_incref(x->msgs));
	return 0;
}

/* max_completion_tokens is max_tokens' newer name.  Anthropic wants a
 * limit: without one, as much as any Claude model gives, since the
 * caller that set none expected a whole answer. */
static int
o2a_max_tokens(struct xlat *x, const struct field *f, json_t *v)
{
	const char *name = v != NULL ? f->name : "max_tokens";

	if (v == NULL && (v = get(x->in, name)) == NULL) {
		put(x, x->out, "max_tokens",
		    json_integer(DIALECT_MAX_TOKENS_DEFAULT));
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return fail(x, name, NULL);
	put(x, x->out, "max_tokens", json_copy(v));
	return 0;
}

/* Anthropic's range is 0..1, OpenAI's 0..2. */
static int
o2a_temperature(struct xlat *x, const struct field *f, json_t *v)
{
	if (!json_is_number(v))
		return refuse(x, f);
	put(x, x->out, f->name, json_number_value(v) > 1 ? json_real(1.0) :
	    json_copy(v));
	return 0;
}

static int
o2a_stop(struct xlat *x, const struct field *f, json_t *v)
{
	const json_t *s;
	size_t i;

	if (json_is_string(v)) {
		put(x, x->out, "stop_sequences", json_pack("[s%]",
		    json_string_value(v), json_string_length(v)));
		return 0;
	}
	if (!json_is_array(v))
		return refuse(x, f);
	json_array_foreach(v, i, s)
		if (!json_is_string(s))
			return refuse(x, f);
	if (json_array_size(v) > 0)
		put(x, x->out, "stop_sequences", json_deep_copy(v));
	return 0;
}

/* user, or its newer name safety_identifier, is metadata.user_id. */
static int
o2a_user_id(struct xlat *x, const struct field *f, json_t *v)
{
	json_t *si = get(x->in, "safety_identifier");

	if (v != NULL && !json_is_string(v))
		return refuse(x, f);
	if (si != NULL && !json_is_string(si))
		return fail(x, "safety_identifier", NULL);
	if (v != NULL || (v = si) != NULL)
		put(x, x->out, "metadata", json_pack("{s:s%}", "user_id",
		    json_string_value(v), json_string_length(v)));
	return 0;
}

/* A function tool as an Anthropic tool; other kinds (custom) have no
 * counterpart. */
static int
o2a_tool(struct xlat *x, json_t *tools, const json_t *t)
{
	const json_t *fn = json_object_get(t, "function");
	const json_t *desc = get(fn, "description");
	const json_t *params = get(fn, "parameters");
	json_t *tool;

	if (json_is_string(json_object_get(t, "type")) &&
	    !is_str(t, "type", "function"))
		return fail(x, "tool:", get_str(t, "type"));
	if (!is_str(t, "type", "function") || get_str(fn, "name") == NULL ||
	    (desc != NULL && !json_is_string(desc)) ||
	    (params != NULL && !json_is_object(params)))
		return fail(x, "tools", NULL);
	tool = json_pack("{s:s}", "name", get_str(fn, "name"));
	if (desc != NULL)
		put(x, tool, "description", str_copy(desc));
	put(x, tool, "input_schema", params != NULL ? json_deep_copy(params) :
	    json_pack("{s:s}", "type", "object"));
	add(x, tools, tool);
	return 0;
}

/* The Anthropic tool_choice for OpenAI's; NULL when it is none. */
static json_t *
o2a_tool_choice(const json_t *tc)
{
	const char *s = json_string_value(tc);
	const json_t *fn = json_object_get(tc, "function");
	size_t i;

	for (i = 0; s != NULL && i < ARRAY_SIZE(choice_words); i++)
		if (strcmp(s, choice_words[i].openai) == 0)
			return json_pack("{s:s}", "type",
			    choice_words[i].anthropic);
	if (is_str(tc, "type", "function") && get_str(fn, "name") != NULL)
		return json_pack("{s:s, s:s}", "type", "tool", "name",
		    get_str(fn, "name"));
	return NULL;
}

/* The schema a response_format asks the answer to follow, in *ret (NULL
 * for plain text). */
static int
o2a_json_schema(struct xlat *x, const json_t *rf, json_t **ret)
{
	const json_t *js = json_object_get(rf, "json_schema");

	*ret = NULL;
	if (is_str(rf, "type", "text"))
		return 0;
	if (is_str(rf, "type", "json_object")) {
		*ret = json_pack("{s:s}", "type", "object");
		return 0;
	}
	if (!is_str(rf, "type", "json_schema") || !json_is_object(js))
		return fail(x, "response_format", NULL);
	/* A tool's input is an object: only an object can be asked. */
	if (!is_str(json_object_get(js, "schema"), "type", "object"))
		return fail(x, "json_schema_root", NULL);
	*ret = json_deep_copy(json_object_get(js, "schema"));
	return 0;
}

/* JSON mode: Anthropic has none, so the answer is asked for as the input
 * of one forced tool.  Owns schema. */
static void
o2a_json_tool(struct xlat *x, const json_t *rf, json_t *schema)
{
	const char *desc = get_str(json_object_get(rf, "json_schema"),
	    "description");
	json_t *tool, *tools;

	tool = json_pack("{s:s, s:s}", "name", DIALECT_JSON_TOOL,
	    "description", desc != NULL ? desc : JSON_TOOL_DESC);
	put(x, tool, "input_schema", schema);
	tools = json_array();
	add(x, tools, tool);
	put(x, x->out, "tools", tools);
	put(x, x->out, "tool_choice", json_pack("{s:s, s:s}", "type", "tool",
	    "name", DIALECT_JSON_TOOL));
	x->json_tool = true;
}

/* tools, tool_choice, parallel_tool_calls and response_format, which
 * only make sense together. */
static int
o2a_tools(struct xlat *x, const struct field *f, json_t *rf)
{
	const json_t *tools = get(x->in, "tools"), *t;
	const json_t *tc = get(x->in, "tool_choice");
	const json_t *ptc = get(x->in, "parallel_tool_calls");
	json_t *schema = NULL, *out, *choice;
	size_t i;

	(void)f;
	if (rf != NULL && o2a_json_schema(x, rf, &schema) < 0)
		return -1;
	if (schema != NULL && json_array_size(tools) > 0) {
		json_decref(schema);
		return fail(x, "response_format+tools", NULL);
	}
	if (schema != NULL) {
		o2a_json_tool(x, rf, schema);
		return 0;
	}
	if (tools != NULL && !json_is_array(tools))
		return fail(x, "tools", NULL);
	if (ptc != NULL && !json_is_boolean(ptc))
		return fail(x, "parallel_tool_calls", NULL);
	choice = NULL;
	if (tc != NULL && (choice = o2a_tool_choice(tc)) == NULL)
		return fail(x, "tool_choice", NULL);
	if (choice == NULL && json_is_false(ptc))
		choice = json_pack("{s:s}", "type", "auto");
	out = json_array();
	json_array_foreach(tools, i, t) {
		if (o2a_tool(x, out, t) < 0) {
			json_decref(out);
			json_decref(choice);
			return -1;
		}
	}
	/* Anthropic's none takes nothing more. */
	if (json_is_false(ptc) && !is_str(choice, "type", "none"))
		put(x, choice, "disable_parallel_tool_use", json_true());
	if (json_array_size(out) == 0) {
		json_decref(out);
		json_decref(choice);
		return 0;
	}
	put(x, x->out, "tools", out);
	if (choice != NULL)
		put(x, x->out, "tool_choice", choice);
	return 0;
}

static const struct field o2a_fields[] = {
	{ "model", f_copy, "string", NULL, false },
	{ "messages", o2a_messages, NULL, NULL, true },
	{ "max_completion_tokens", o2a_max_tokens, NULL, NULL, true },
	{ "max_tokens", f_with, NULL, NULL, false },
	{ "temperature", o2a_temperature, NULL, NULL, false },
	{ "top_p", f_copy, "number", NULL, false },
	{ "stop", o2a_stop, NULL, NULL, false },
	{ "stream", f_copy, "bool", NULL, false },
	{ "stream_options", f_with, NULL, NULL, false },	/* info */
	{ "user", o2a_user_id, NULL, NULL, true },
	{ "safety_identifier", f_with, NULL, NULL, false },
	{ "response_format", o2a_tools, NULL, NULL, true },
	{ "tools", f_with, NULL, NULL, false },
	{ "tool_choice", f_with, NULL, NULL, false },
	{ "parallel_tool_calls", f_with, NULL, NULL, false },
	{ "n", f_off, "[1]", NULL, false },
	{ "logprobs", f_off, "[false]", NULL, false },
	{ "top_logprobs", f_off, "[0]", "logprobs", false },
	{ "logit_bias", f_off, "[{}]", NULL, false },
	{ "modalities", f_off, "[[\"text\"]]", "audio", false },
	{ "audio", f_off, "[]", NULL, false },
	{ "web_search_options", f_off, "[]", NULL, false },
	{ "functions", f_off, "[[]]", NULL, false },
	{ "function_call", f_off, "[]", "functions", false },
	/* They tune how the answer is made, not what it must be. */
	{ "frequency_penalty", NULL, NULL, NULL, false },
	{ "presence_penalty", NULL, NULL, NULL, false },
	{ "seed", NULL, NULL, NULL, false },
	{ "service_tier", NULL, NULL, NULL, false },
	{ "store", NULL, NULL, NULL, false },
	{ "metadata", NULL, NULL, NULL, false },
	{ "prediction", NULL, NULL, NULL, false },
	{ "reasoning_effort", NULL, NULL, NULL, false },
	{ "prompt_cache_key", NULL, NULL, NULL, false },
};

/* ---- the translations there are --------------------------------------- */

static json_t *a2o_response(struct xlat *, int64_t);
static json_t *o2a_response(struct xlat *, int64_t);

/* By the caller's API (row) and the target's (column).  An empty entry:
 * no translation, so a target of that API does not qualify for a caller
 * of this one.  Between an API and itself the bytes go as they are.
 * Everything a pair needs is here, so that an API adds rows and no
 * code: its request, its whole answer, its stream, and its model
 * names. */
static const struct xlate {
	const struct field	*fields;	/* the request's */
	size_t			 nfields;
	json_t			*(*response)(struct xlat *, int64_t created);
	/* Or a translator of its own (xlate_*.c), whole. */
	json_t			*(*request_fn)(const json_t *,
				    struct dialect_info *, char *);
	json_t			*(*response_fn)(const json_t *,
				    const struct dialect_info *);
	bool			 same_models;	/* one provider's APIs: the
						 * caller's model name is the
						 * target's */
	int			 via;		/* 1 + the API it goes
						 * through, both ways; 0: none */
	/* The target's stream for the caller (xlate.h); a pair through
	 * another API chains its two hops' own. */
	xlate_stream_fn		*stream;
	xlate_stream_free_fn	*stream_free;
} xlates[DIALECTS][DIALECTS] = {
	[DIALECT_OPENAI][DIALECT_ANTHROPIC] = { o2a_fields,
	    ARRAY_SIZE(o2a_fields), a2o_response, NULL, NULL, false, 0,
	    messages_to_chat, NULL },
	[DIALECT_ANTHROPIC][DIALECT_OPENAI] = { a2o_fields,
	    ARRAY_SIZE(a2o_fields), o2a_response, NULL, NULL, false, 0,
	    chat_to_messages, NULL },
	[DIALECT_OPENAI_RESPONSES][DIALECT_OPENAI] = { NULL, 0, NULL,
	    responses_to_chat, chat_to_responses, true, 0,
	    responses_stream_from_chat, resp_stream_free_state },
	[DIALECT_OPENAI][DIALECT_OPENAI_RESPONSES] = { NULL, 0, NULL,
	    chat_to_responses_request, responses_to_chat_answer, true, 0,
	    chat_stream_from_responses, resp_stream_free_state },
	/* Through chat completions, the API both translate to. */
	[DIALECT_OPENAI_RESPONSES][DIALECT_ANTHROPIC] = { NULL, 0, NULL,
	    NULL, NULL, false, 1 + DIALECT_OPENAI, NULL, NULL },
	[DIALECT_ANTHROPIC][DIALECT_OPENAI_RESPONSES] = { NULL, 0, NULL,
	    NULL, NULL, false, 1 + DIALECT_OPENAI, NULL, NULL },
	/* A Completions caller: its prompt as a chat, and on from there.
	 * Its models are not chat's (gpt-3.5-turbo-instruct): a target
	 * names its own. */
	[DIALECT_OPENAI_COMPLETIONS][DIALECT_OPENAI] = { NULL, 0, NULL,
	    completions_to_chat, chat_to_completions, false, 0,
	    completions_stream_from_chat, NULL },
	[DIALECT_OPENAI_COMPLETIONS][DIALECT_ANTHROPIC] = { NULL, 0, NULL,
	    NULL, NULL, false, 1 + DIALECT_OPENAI, NULL, NULL },
	[DIALECT_OPENAI_COMPLETIONS][DIALECT_OPENAI_RESPONSES] = { NULL, 0,
	    NULL, NULL, NULL, false, 1 + DIALECT_OPENAI, NULL, NULL },
};

xlate_stream_fn *
dialect_stream_fn(enum dialect from, enum dialect to,
    xlate_stream_free_fn **ret_free)
{
	*ret_free = xlates[from][to].stream_free;
	return xlates[from][to].stream;
}

int
dialect_via(enum dialect from, enum dialect to)
{
	return from == to ? -1 : xlates[from][to].via - 1;
}

void
dialect_hops(const struct dialect_info *info, struct dialect_info *target_hop,
    struct dialect_info *caller_hop)
{
	enum dialect via = (enum dialect)dialect_via(info->from, info->to);

	*caller_hop = *info;
	caller_hop->to = via;
	caller_hop->json_tool = false;
	*target_hop = *info;
	target_hop->from = via;
	target_hop->include_usage = info->via_usage;
}

bool
dialect_same_models(enum dialect from, enum dialect to)
{
	return from == to || xlates[from][to].same_models;
}

bool
dialect_translates(enum dialect from, enum dialect to)
{
	return from == to || xlates[from][to].fields != NULL ||
	    xlates[from][to].request_fn != NULL || xlates[from][to].via > 0;
}

/* ---- requests: either way ---------------------------------------------- */

json_t *
dialect_request(const json_t *req, struct dialect_info *info,
    char why[DIALECT_WHY_MAX])
{
	const struct xlate *t = &xlates[info->from][info->to];
	struct xlat x;

	memset(&x, 0, sizeof(x));
	x.in = req;
	x.why = why;
	why[0] = '\0';
	info->stream = json_is_true(json_object_get(req, "stream"));
	info->include_usage = api_of(info->from)->usage_option &&
	    json_is_true(json_object_get(json_object_get(req,
	    "stream_options"), "include_usage"));
	info->json_tool = false;
	if (!json_is_object(req)) {
		fail(&x, "request", NULL);
		return NULL;
	}
	if (info->from == info->to) {
		if ((x.out = json_deep_copy(req)) == NULL)
			fail(&x, "memory", NULL);
		return x.out;
	}
	if (t->request_fn != NULL)
		return t->request_fn(req, info, why);
	if (t->via > 0) {
		/* Two hops: to the middle API, then to the target's. */
		struct dialect_info a = *info, b = *info;
		json_t *mid, *out;

		a.to = b.from = (enum dialect)(t->via - 1);
		if ((mid = dialect_request(req, &a, why)) == NULL)
			return NULL;
		out = dialect_request(mid, &b, why);
		json_decref(mid);
		info->json_tool = b.json_tool;
		info->via_usage = b.include_usage;
		return out;
	}
	if (t->fields == NULL) {
		fail(&x, "no-translation", NULL);
		return NULL;
	}
	x.out = json_object();
	x.msgs = json_array();
	if (fields_known(&x, t->fields, t->nfields) == 0 &&
	    fields_walk(&x, t->fields, t->nfields) == 0 &&
	    !x.oom && x.out != NULL && x.msgs != NULL) {
		json_decref(x.msgs);
		info->json_tool = x.json_tool;
		return x.out;
	}
	if (why[0] == '\0')
		fail(&x, "memory", NULL);
	json_decref(x.msgs);
	json_decref(x.out);
	return NULL;
}

/* ---- answers, Anthropic to OpenAI -------------------------------------- */

/* The message of an answer's content blocks: text blocks concatenated,
 * tool_use blocks as tool calls; thinking dropped, as chat completions
 * have no place for it, and server tools' blocks too, as no translated
 * request asks for them.  The JSON mode tool's input is the answer's
 * text.  NULL when a block is not one. */
static json_t *
a2o_message(struct xlat *x, const json_t *content, bool *ret_json)
{
	const json_t *b, *text, *input;
	json_t *calls = json_array(), *m = NULL, *s;
	const char *type, *id, *name;
	struct text t;
	size_t i;
	char *dump;

	text_init(&t);
	json_array_foreach(content, i, b) {
		type = get_str(b, "type");
		text = json_object_get(b, "text");
		id = get_str(b, "id");
		name = get_str(b, "name");
		input = json_object_get(b, "input");
		if (type != NULL && strcmp(type, "text") == 0 &&
		    json_is_string(text))
			text_add(x, &t, "", text);
		else if (type != NULL && strcmp(type, "tool_use") == 0 &&
		    id != NULL && name != NULL && input != NULL) {
			if (!x->json_tool || strcmp(name, DIALECT_JSON_TOOL)) {
				add(x, calls, tool_call(id, name, input));
				continue;
			}
			*ret_json = true;
			dump = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY);
			if ((s = dump != NULL ? json_string(dump) : NULL) != NULL)
				text_add(x, &t, "", s);
			else
				x->oom = true;
			json_decref(s);
			free(dump);
		} else if (type == NULL || strcmp(type, "text") == 0 ||
		    strcmp(type, "tool_use") == 0)
			goto out;
	}
	m = message(x, "assistant", t.any ? text_take(x, &t) : json_null());
	put(x, m, "refusal", json_null());
	if (json_array_size(calls) > 0)
		put(x, m, "tool_calls", json_incref(calls));
out:
	buf_free(&t.b);
	json_decref(calls);
	return m;
}

/* Anthropic's input_tokens leaves out what was read from or written to
 * the cache; OpenAI's prompt_tokens counts it. */
static json_t *
a2o_usage(const json_t *u)
{
	json_int_t in = count(u, "input_tokens");
	json_int_t cached = count(u, "cache_read_input_tokens");
	json_int_t prompt = in + cached + count(u,
	    "cache_creation_input_tokens");
	json_int_t out = count(u, "output_tokens");

	return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", prompt,
	    "completion_tokens", out, "total_tokens", prompt + out,
	    "prompt_tokens_details", "cached_tokens", cached);
}

static json_t *
a2o_response(struct xlat *x, int64_t created)
{
	const char *stop = get_str(x->in, "stop_reason"), *finish;
	const char *id = get_str(x->in, "id"), *model = get_str(x->in, "model");
	const json_t *content = json_object_get(x->in, "content");
	json_t *msg, *choice, *choices;
	bool json_answer = false;

	if (!json_is_array(content) ||
	    (msg = a2o_message(x, content, &json_answer)) == NULL)
		return NULL;
	finish = dialect_finish(stop, DIALECT_ANTHROPIC, DIALECT_OPENAI);
	/* The JSON tool's call is the answer, not a call to make; an answer
	 * cut short stays cut short. */
	if (json_answer && stop != NULL && strcmp(stop, "tool_use") == 0)
		finish = "stop";
	choice = json_pack("{s:i}", "index", 0);
	put(x, choice, "message", msg);
	put(x, choice, "logprobs", json_null());
	put(x, choice, "finish_reason", finish != NULL ? json_string(finish) :
	    json_null());
	choices = json_array();
	add(x, choices, choice);
	x->out = json_pack("{s:s, s:s, s:I, s:s}", "id", id != NULL ? id : "",
	    "object", "chat.completion", "created", (json_int_t)created,
	    "model", model != NULL ? model : "");
	put(x, x->out, "choices", choices);
	/* No usage is better than an invented one. */
	if (json_is_object(json_object_get(x->in, "usage")))
		put(x, x->out, "usage", a2o_usage(json_object_get(x->in,
		    "usage")));
	return x->out;
}

/* ---- answers, OpenAI to Anthropic -------------------------------------- */

/* Choice 0: the one with index 0, or the first when none says. */
static const json_t *
openai_choice(const json_t *resp)
{
	const json_t *c, *i;
	size_t k;

	json_array_foreach(json_object_get(resp, "choices"), k, c) {
		i = json_object_get(c, "index");
		if (json_is_integer(i) ? json_integer_value(i) == 0 : k == 0)
			return c;
	}
	return NULL;
}

/* A tool call as a tool_use block.  Arguments that are not a JSON object
 * are given as a string input: the caller sees the model's mistake, not
 * an invented object. */
static int
o2a_answer_call(struct xlat *x, json_t *blocks, const json_t *tc)
{
	const json_t *fn = json_object_get(tc, "function");
	const json_t *args = get(fn, "arguments");
	const char *id = get_str(tc, "id"), *name = get_str(fn, "name");
	json_t *b, *input;

	if (id == NULL || name == NULL || (args != NULL &&
	    !json_is_string(args)))
		return -1;
	if (args == NULL || json_string_length(args) == 0)
		input = json_object();
	else {
		input = json_loadb(json_string_value(args),
		    json_string_length(args), 0, NULL);
		if (!json_is_object(input)) {
			json_decref(input);
			input = str_copy(args);
		}
	}
	b = json_pack("{s:s, s:s, s:s}", "type", "tool_use", "id", id, "name",
	    name);
	put(x, b, "input", input);
	add(x, blocks, b);
	return 0;
}

/* A text as one text block, none for an empty one: a string, or (as some
 * servers give) text parts. */
static int
o2a_answer_text(struct xlat *x, json_t *blocks, const json_t *c)
{
	const json_t *p;
	struct text t;
	json_t *b;
	size_t i;

	if (c != NULL && !json_is_string(c) && !json_is_array(c))
		return -1;
	text_init(&t);
	if (json_is_string(c))
		text_add(x, &t, "", c);
	json_array_foreach(c, i, p)
		if (is_str(p, "type", "text") &&
		    json_is_string(json_object_get(p, "text")))
			text_add(x, &t, "", json_object_get(p, "text"));
	if (t.b.len == 0) {
		buf_free(&t.b);
		return 0;
	}
	b = json_pack("{s:s}", "type", "text");
	put(x, b, "text", text_take(x, &t));
	add(x, blocks, b);
	return 0;
}

/* OpenAI's prompt_tokens counts the cached tokens, Anthropic's
 * input_tokens does not. */
static json_t *
o2a_usage(struct xlat *x, const json_t *u)
{
	json_int_t prompt = count(u, "prompt_tokens");
	json_int_t cached = count(json_object_get(u, "prompt_tokens_details"),
	    "cached_tokens");
	json_t *usage;

	if (cached > prompt)
		cached = prompt;
	usage = json_pack("{s:I, s:I}", "input_tokens", prompt - cached,
	    "output_tokens", count(u, "completion_tokens"));
	if (cached > 0)
		put(x, usage, "cache_read_input_tokens", json_integer(cached));
	return usage;
}

static json_t *
o2a_response(struct xlat *x, int64_t created)
{
	const json_t *c = openai_choice(x->in), *t;
	const json_t *m = json_object_get(c, "message");

	(void)created;
	const json_t *calls = get(m, "tool_calls"), *refusal = get(m, "refusal");
	const char *id = get_str(x->in, "id"), *model = get_str(x->in, "model");
	const char *stop;
	json_t *blocks;
	size_t i;

	if (!json_is_object(m) || (refusal != NULL && !json_is_string(refusal))
	    || (calls != NULL && !json_is_array(calls)))
		return NULL;
	if ((blocks = json_array()) == NULL)
		x->oom = true;
	if (o2a_answer_text(x, blocks, get(m, "content")) < 0 ||
	    o2a_answer_text(x, blocks, refusal) < 0) {
		json_decref(blocks);
		return NULL;
	}
	json_array_foreach(calls, i, t) {
		if (o2a_answer_call(x, blocks, t) < 0) {
			json_decref(blocks);
			return NULL;
		}
	}
	/* An empty refusal refuses nothing, as answer.c judges it. */
	stop = json_string_length(refusal) > 0 ? "refusal" :
	    dialect_finish(get_str(c, "finish_reason"), DIALECT_OPENAI,
	    DIALECT_ANTHROPIC);
	x->out = json_pack("{s:s, s:s, s:s, s:s}", "id", id != NULL ? id : "",
	    "type", "message", "role", "assistant", "model",
	    model != NULL ? model : "");
	put(x, x->out, "content", blocks);
	put(x, x->out, "stop_reason", stop != NULL ? json_string(stop) :
	    json_null());
	put(x, x->out, "stop_sequence", json_null());
	put(x, x->out, "usage", o2a_usage(x, get(x->in, "usage")));
	return x->out;
}

/* ---- answers: either way ----------------------------------------------- */

json_t *
dialect_response(const json_t *resp, const struct dialect_info *info)
{
	struct xlat x;
	json_t *out;

	memset(&x, 0, sizeof(x));
	x.in = resp;
	x.json_tool = info->json_tool;
	if (!json_is_object(resp))
		return NULL;
	if (info->from == info->to)
		return json_deep_copy(resp);
	if (xlates[info->from][info->to].response_fn != NULL)
		return xlates[info->from][info->to].response_fn(resp, info);
	if (xlates[info->from][info->to].via > 0) {
		struct dialect_info th, ch;
		json_t *mid;

		dialect_hops(info, &th, &ch);
		if ((mid = dialect_response(resp, &th)) == NULL)
			return NULL;
		out = dialect_response(mid, &ch);
		json_decref(mid);
		return out;
	}
	if (xlates[info->from][info->to].response == NULL)
		return NULL;
	out = xlates[info->from][info->to].response(&x, info->created);
	if (x.oom) {
		json_decref(out);
		return NULL;
	}
	return out;
}
