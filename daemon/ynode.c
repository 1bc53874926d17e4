#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util.h"
#include "ynode.h"

#define YNODE_MAX_DEPTH 32

struct yctx {
	yaml_parser_t	 parser;
	const char	*name;
	char		*err;
	size_t		 errlen;
	int		 failed;
};

static void
yerr(struct yctx *y, size_t line, size_t col, const char *msg)
{
	if (y->failed)
		return;
	y->failed = 1;
	snprintf(y->err, y->errlen, "%s:%zu:%zu: %s", y->name, line + 1,
	    col + 1, msg);
}

void
ynode_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++) {
		if (n->keys != NULL)
			ynode_free(n->keys[i]);
		ynode_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->str);
	free(n);
}

static struct ynode *
ynode_new(enum ynode_type type, const yaml_mark_t *m)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static void
ynode_append(struct ynode *parent, struct ynode *key, struct ynode *val)
{
	size_t cap = parent->n + 1;

	parent->items = realloc(parent->items, cap * sizeof(*parent->items));
	if (parent->type == YNODE_MAP)
		parent->keys = realloc(parent->keys, cap * sizeof(*parent->keys));
	if (parent->items == NULL ||
	    (parent->type == YNODE_MAP && parent->keys == NULL)) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	if (parent->type == YNODE_MAP)
		parent->keys[parent->n] = key;
	parent->items[parent->n++] = val;
}

static struct ynode *parse_node(struct yctx *y, yaml_event_t *ev, int depth);

/* Parse the children of a sequence or mapping until its end event. */
static int
parse_children(struct yctx *y, struct ynode *n, int depth)
{
	yaml_event_type_t end = n->type == YNODE_MAP ?
	    YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
	yaml_event_t ev;

	for (;;) {
		struct ynode *key = NULL, *val;

		if (!yaml_parser_parse(&y->parser, &ev))
			return -1;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (n->type == YNODE_MAP) {
			key = parse_node(y, &ev, depth + 1);
			yaml_event_delete(&ev);
			if (key == NULL)
				return -1;
			if (key->type != YNODE_SCALAR) {
				yerr(y, key->line - 1, key->col - 1,
				    "mapping keys must be plain scalars");
				ynode_free(key);
				return -1;
			}
			if (ynode_get(n, key->str) != NULL) {
				yerr(y, key->line - 1, key->col - 1,
				    "duplicate key");
				ynode_free(key);
				return -1;
			}
			if (!yaml_parser_parse(&y->parser, &ev)) {
				ynode_free(key);
				return -1;
			}
		}
		val = parse_node(y, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (val == NULL) {
			ynode_free(key);
			return -1;
		}
		ynode_append(n, key, val);
	}
}

static struct ynode *
parse_node(struct yctx *y, yaml_event_t *ev, int depth)
{
	struct ynode *n;

	if (depth > YNODE_MAX_DEPTH) {
		yerr(y, ev->start_mark.line, ev->start_mark.column,
		    "nested too deeply");
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = ynode_new(YNODE_SCALAR, &ev->start_mark);
		n->str = xstrndup((const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		if (strlen(n->str) != ev->data.scalar.length) {
			yerr(y, ev->start_mark.line, ev->start_mark.column,
			    "NUL byte in scalar");
			ynode_free(n);
			return NULL;
		}
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		return n;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		n = ynode_new(ev->type == YAML_MAPPING_START_EVENT ?
		    YNODE_MAP : YNODE_SEQ, &ev->start_mark);
		if (parse_children(y, n, depth) < 0) {
			ynode_free(n);
			return NULL;
		}
		return n;
	case YAML_ALIAS_EVENT:
		yerr(y, ev->start_mark.line, ev->start_mark.column,
		    "aliases are not supported");
		return NULL;
	default:
		yerr(y, ev->start_mark.line, ev->start_mark.column,
		    "unexpected YAML event");
		return NULL;
	}
}

static struct ynode *
load(struct yctx *y)
{
	struct ynode *root = NULL;
	yaml_event_t ev;
	int docs = 0;

	for (;;) {
		if (!yaml_parser_parse(&y->parser, &ev))
			break;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			docs++;
			if (docs > 1) {
				yerr(y, ev.start_mark.line,
				    ev.start_mark.column,
				    "only one YAML document is allowed");
				yaml_event_delete(&ev);
				break;
			}
		} else if (ev.type != YAML_STREAM_START_EVENT &&
		    ev.type != YAML_DOCUMENT_END_EVENT) {
			root = parse_node(y, &ev, 0);
			if (root == NULL) {
				yaml_event_delete(&ev);
				break;
			}
		}
		yaml_event_delete(&ev);
	}
	if (y->parser.error != YAML_NO_ERROR) {
		const yaml_mark_t *m = &y->parser.problem_mark;

		yerr(y, m->line, m->column, y->parser.problem ?
		    y->parser.problem : "YAML syntax error");
	}
	if (y->failed) {
		ynode_free(root);
		return NULL;
	}
	if (root == NULL) {
		yaml_mark_t m = { 0, 0, 0 };

		root = ynode_new(YNODE_MAP, &m);
	}
	return root;
}

struct ynode *
ynode_load_string(const char *name, const char *text, char *err,
    size_t errlen)
{
	struct yctx y = { .name = name, .err = err, .errlen = errlen };
	struct ynode *root;

	if (!yaml_parser_initialize(&y.parser)) {
		snprintf(err, errlen, "%s: cannot initialise YAML parser",
		    name);
		return NULL;
	}
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)text,
	    strlen(text));
	root = load(&y);
	yaml_parser_delete(&y.parser);
	return root;
}

struct ynode *
ynode_load_file(const char *path, char *err, size_t errlen)
{
	struct yctx y = { .name = path, .err = err, .errlen = errlen };
	struct ynode *root;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!yaml_parser_initialize(&y.parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: cannot initialise YAML parser",
		    path);
		return NULL;
	}
	yaml_parser_set_input_file(&y.parser, f);
	root = load(&y);
	yaml_parser_delete(&y.parser);
	fclose(f);
	return root;
}

struct ynode *
ynode_get(const struct ynode *map, const char *key)
{
	size_t i;

	if (map == NULL || map->type != YNODE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->str, key) == 0)
			return map->items[i];
	return NULL;
}

int
ynode_is_null(const struct ynode *n)
{
	return n->type == YNODE_SCALAR && n->plain &&
	    (n->str[0] == '\0' || strcmp(n->str, "~") == 0 ||
	    strcmp(n->str, "null") == 0);
}
