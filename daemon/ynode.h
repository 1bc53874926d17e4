/* A YAML document as a small tree of nodes that remember where they came
 * from, so every config error can name file, line and column.  Built with
 * libyaml's event parser; anchors and aliases are refused (a config has
 * no need for them and they make error positions ambiguous). */
#ifndef LLMFB_YNODE_H
#define LLMFB_YNODE_H

#include <stddef.h>

enum ynode_type { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

struct ynode {
	enum ynode_type	  type;
	int		  line, col;	/* 1-based */
	char		 *str;		/* YNODE_SCALAR */
	int		  plain;	/* scalar was unquoted */
	/* YNODE_SEQ: items[0..n); YNODE_MAP: keys[i] -> items[i] */
	struct ynode	**keys;
	struct ynode	**items;
	size_t		  n;
};

/* Load the first document of a file.  On error returns NULL and writes
 * "FILE:LINE:COL: message" into err.  An empty file gives an empty map. */
struct ynode *ynode_load_file(const char *path, char *err, size_t errlen);
struct ynode *ynode_load_string(const char *name, const char *text,
    char *err, size_t errlen);
void ynode_free(struct ynode *n);
/* The value under key in a map, or NULL. */
struct ynode *ynode_get(const struct ynode *map, const char *key);
/* True for a plain scalar spelling YAML's null (~, null, empty). */
int ynode_is_null(const struct ynode *n);

#endif
