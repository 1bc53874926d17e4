/* An upstream answer read as it arrives: OpenAI chat completions or
 * Anthropic messages, streamed (SSE) or one JSON body.  Bytes may come in
 * any chunking, one at a time included, and give the same state: when the
 * first content came (a stream is held until then), whether the stream
 * ended with its end marker, the text so far (the assistant prefix when a
 * stream is continued elsewhere), tokens, and a verdict on its quality.
 * Pure state over jansson, no I/O, so every rule is unit tested.  Only the
 * pending partial event of a stream is kept, never the whole stream. */
#ifndef LLMFB_ANSWER_H
#define LLMFB_ANSWER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "api.h"
#include "sse.h"

#define ANSWER_EVENT_MAX	(1u << 20)	/* one SSE event */
#define ANSWER_BODY_MAX		(8u << 20)	/* a non-stream body */
#define ANSWER_TEXT_MAX		(4u << 20)	/* text kept */
#define ANSWER_ARGS_MAX		(1u << 20)	/* one tool call's arguments */
#define ANSWER_TOOLS_MAX	16		/* calls with args checked */

/* Called for every complete SSE event once the answer's state has taken
 * it in.  event is the event field ("message" when there was none, as the
 * SSE spec says), data the data lines joined with \n; the event's raw
 * bytes are [raw_start, raw_end) of the stream. */
typedef void (*answer_event_fn)(void *arg, const char *event,
    const char *data, size_t raw_start, size_t raw_end);

struct answer {
	enum dialect	 dialect;
	const struct api *api;		/* dialect's table */
	bool		 stream;
	answer_event_fn	 on_event;	/* optional: set before feeding */
	void		*on_event_arg;
	bool		 borrowed;	/* a body the caller holds itself:
					 * fed bytes are only counted, and
					 * answer_end_body() reads it */

	/* What has been seen so far. */
	bool		 content;	/* non-empty text, a tool call begun, a
					 * non-empty refusal */
	size_t		 content_end;	/* stream offset just past the event
					 * that carried the first content */
	bool		 done;		/* OpenAI `data: [DONE]`; Anthropic
					 * message_stop; non-stream: parsed */
	bool		 malformed;	/* not what the dialect says */
	bool		 error_event;	/* an error inside a 2xx answer */
	bool		 refusal;	/* refusal text, content_filter, or
					 * stop_reason "refusal" */
	/* Stream offsets where the first event that said so starts: what
	 * comes from there on is the provider's ending, not the answer. */
	size_t		 error_start;
	size_t		 refusal_start;
	bool		 tool_call;
	bool		 tool_args_bad;	/* a finished call's arguments are not
					 * a JSON object */
	char		 finish[32];	/* finish_reason / stop_reason as
					 * written, "" until known */
	struct buf	 text;		/* all text content, capped */
	bool		 text_truncated; /* text is a prefix of the answer's */
	uint64_t	 in_tokens, out_tokens;
	bool		 usage;		/* the counts came from the provider */
	size_t		 fed;		/* bytes fed so far */
	size_t		 event_end;	/* offset past the last whole event */

	/* Anthropic stream blocks, for continuing a stream elsewhere. */
	int		 blocks;	/* content_block_start events seen */
	int		 open_block;	/* index started, not stopped; -1 */
	bool		 open_text;	/* that block is text */
	/* The same for an API whose events name their answer and its
	 * items, and are numbered (Responses). */
	char		 stream_id[128];	/* the answer's id, "": none */
	char		 item_id[128];	/* its text item's, "": none */
	int		 item_index;	/* that item's place in the output */
	uint64_t	 seq_next;	/* the number the next event takes */

	/* Parse state, private to answer.c. */
	struct sse	 sse;
	bool		 open_tool;	/* the open block is tool_use */
	bool		 ended;		/* answer_end was called */
	bool		 read;		/* answer_read_tree read the body */
	struct buf	 body;		/* non-stream: the body so far */
	/* Tool call arguments by OpenAI index; Anthropic uses args[0] for
	 * its open tool_use block, as its blocks come one at a time.
	 * ANSWER_TOOLS_MAX of them, allocated with the first call's
	 * arguments (NULL until then: most answers call no tool). */
	struct buf	*args;
	uint32_t	 args_seen;	/* bit i: call i has begun */
	uint32_t	 args_unchecked;/* bit i: past ANSWER_ARGS_MAX */
};

void answer_init(struct answer *a, enum dialect d, bool stream);
/* Empty call i's arguments (as a call begins). */
void answer_args_reset(struct answer *a, int i);
/* For the API readers (api.h's read_event and read_body): what they
 * found, kept as every API's is. */
void answer_got_content(struct answer *a);	/* content begins here */
void answer_text_add(struct answer *a, const char *s, size_t n);
void answer_args_add(struct answer *a, int i, const char *s, size_t n);
void answer_args_check(struct answer *a, int i);	/* call i ended */
void answer_set_finish(struct answer *a, const char *s);
void answer_shrink(struct buf *b);	/* give back a big buffer */
void answer_free(struct answer *a);
/* Take the next n bytes of the body.  Ignored after answer_end. */
void answer_feed(struct answer *a, const char *p, size_t n);
/* The body ended cleanly: a non-stream body is parsed now, a stream's
 * tool calls are checked.  A partial last event is dropped (SSE spec). */
void answer_end(struct answer *a);
/* answer_end for a borrowed body: all of it, as the caller held it. */
void answer_end_body(struct answer *a, const char *body, size_t len);
/* A non-stream body the caller already has as a tree (it built it, e.g.
 * by translating): read from the tree, and not parsed again from its
 * bytes at answer_end / answer_end_body. */
void answer_read_tree(struct answer *a, json_t *body);

enum answer_verdict {
	AV_OK,
	AV_MALFORMED,
	AV_ERROR_EVENT,
	AV_TRUNCATED,		/* no end marker (or a body never parsed) */
	AV_REFUSAL,
	AV_TOOL_ARGS,
	AV_LENGTH,
	AV_EMPTY,
	AV_BAD_JSON,
};

/* What the request asked of the answer. */
struct answer_want {
	bool		 json;		/* response_format asked for JSON */
	bool		 forbid_length;	/* cut at max tokens is a failure */
};

/* The first that holds, in this order: malformed, error-event, truncated,
 * refusal, tool-args, length, empty, bad-json; else AV_OK.  w may be
 * NULL.  Meant for after answer_end. */
enum answer_verdict answer_verdict(const struct answer *a,
    const struct answer_want *w);
const char *answer_verdict_name(enum answer_verdict v);

/* Tokens for bytes of text when the provider gave no count. */
uint64_t answer_estimate_tokens(size_t bytes);
/* Tokens a request will cost, roughly: the bytes of every string value
 * under its API's prompt_keys ("messages", "system" and "tools" for
 * chat and Anthropic), over 4 rounded up, plus 4 per message and 3. */
uint64_t request_estimate_tokens(const json_t *req);
/* The most tokens a request asks for, by its API's max_tokens_keys (the
 * first that holds a positive integer); 0: not said. */
uint64_t request_max_tokens(const json_t *req);
/* Whether a request asks for a JSON answer, by its API's json_format
 * (a format type json_object or json_schema). */
bool request_wants_json(const json_t *req);


/* What an upstream error body (status, body of len bytes) says. */
enum provider_error provider_error_kind(enum dialect d, int status,
    const char *body, size_t len);
const char *provider_error_name(enum provider_error e);

/* ---- continuing a stream on another provider ----------------------- */

/* Where a continuation stands; zero it before the first event. */
struct cont_state {
	uint64_t	 out_before;	/* output tokens of the answer it
					 * continues, added to the usage the
					 * caller reads */
	bool		 merged;	/* its first text block went into
					 * prev's open one */
	bool		 closed_prev;	/* prev's open block was stopped */
	size_t		 trimmed;	/* how many trim dropped */
	uint64_t	 events;	/* events given the caller, where
					 * its API numbers them */
	size_t		 trim;		/* blanks to drop from its first
					 * text: the prefix it was asked to
					 * continue had lost them (Anthropic
					 * refuses trailing blanks, whatever
					 * the caller's dialect) */
};

enum answer_cont {
	AC_ERROR = -2,		/* out could not take the bytes (cap, memory) */
	AC_DROP = -1,
	AC_FORWARD = 0,		/* the event's raw bytes as they are */
	AC_REPLACE = 1,		/* out holds the complete SSE event(s) */
};

/* One event of a continuation stream (as given to on_event of its own
 * answer), rewritten to follow the stream prev has read so far.
 * Anthropic: message_start and ping are dropped; a first text block is
 * merged into prev's open text block, else prev's open block is stopped
 * first; block indices are moved past prev's.  OpenAI: the continuation's
 * role-only chunk is dropped, the rest goes as it is.  Both: the first
 * text loses up to cs->trim leading blanks, and the usage it reports
 * counts cs->out_before output tokens more (OpenAI's usage chunk,
 * Anthropic's message_delta), so that the caller reads what the whole
 * answer took.  Replacement bytes are appended to out. */
/* For the APIs' continue_event: add n to the count o[key], if it is one
 * (returns whether it was); drop the blanks the prefix lost from the
 * first text, o[key]. */
bool answer_count_add(json_t *o, const char *key, uint64_t n);
void answer_trim_first_text(struct cont_state *cs, json_t *o,
    const char *key);
/* The continue_prefix of the APIs of a "messages" array (api.h). */
int answer_prefix_messages(json_t *req, const char *text, size_t len);

enum answer_cont answer_continue_event(const struct answer *prev,
    struct cont_state *cs, const char *event, const char *data,
    struct buf *out);

#endif
