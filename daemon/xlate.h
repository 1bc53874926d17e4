/* What every translator shares (dialect.c, dialect_stream.c, the
 * xlate_*.c of an API): what a translated request means for its answer,
 * and the room for why one does not translate.  Below dialect.h, so
 * that a translator dialect.c's table names need not include it. */
#ifndef LLMFB_XLATE_H
#define LLMFB_XLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"

#define DIALECT_WHY_MAX			64

/* What a translated request means for the translation of its answer. */
struct dialect_info {
	enum dialect	 from;		/* the caller's */
	enum dialect	 to;		/* the target's */
	bool		 stream;
	bool		 include_usage;	/* OpenAI caller: the usage chunk */
	bool		 json_tool;	/* JSON mode asked through the forced
					 * DIALECT_JSON_TOOL (OpenAI caller,
					 * Anthropic target) */
	int64_t		 created;	/* OpenAI "created" of the answer */
	bool		 via_usage;	/* through another API (dialect_via):
					 * the middle stream has its usage */
};

#endif
