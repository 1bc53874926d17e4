/* What a provider's API is, as data: one static table per API, in its own
 * file (api_openai_chat.c, api_anthropic_messages.c), the way a transport
 * or a protocol handler is one table elsewhere.  Everything the daemon
 * knows of an API and not of translating between two of them lives
 * there: which requests are its, where it is sent, how it authenticates,
 * which of its headers go along, how its answers are read, what its
 * errors look like, what a fault injected into it answers.  Translation
 * is dialect.c's, through its from/to table.
 *
 * Nothing of the project is included here, so any module may know what
 * an API is without knowing the modules that use one.  docs/extending.md
 * says how to add an API. */
#ifndef LLMFB_API_H
#define LLMFB_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* An API's id, an index into tables sized DIALECTS.  Nothing may depend
 * on the order: walk apis[] instead. */
enum dialect {
	DIALECT_OPENAI,
	DIALECT_ANTHROPIC,
	DIALECT_OPENAI_EMBEDDINGS,
	DIALECT_OPENAI_RESPONSES,
	DIALECT_OPENAI_COMPLETIONS,
};
#define DIALECTS	5

/* What an upstream error body says. */
enum provider_error {
	PE_OTHER,
	PE_CONTEXT,		/* the prompt does not fit the model */
	PE_CONTENT_FILTER,	/* the provider's content policy said no */
};

/* Why an answer ended, in no API's words: each API names these its way
 * (finish_reason, stop_reason, status), and a translated answer reads
 * the target's name into this and writes the caller's. */
enum finish {
	FINISH_STOP,		/* the model was done, or a stop sequence */
	FINISH_LENGTH,		/* cut at the token limit */
	FINISH_TOOL,		/* it called a tool */
	FINISH_FILTER,		/* refused, or the content filter */
	FINISHES
};

struct answer;
struct buf;
struct cont_state;

struct api {
	enum dialect	 dialect;
	const char	*name;		/* config's "dialect:", logs, records */
	const char	*maker;		/* OpenTelemetry's gen_ai.system */
	const char	*operation;	/* ... gen_ai.operation.name */
	enum dialect	 provider;	/* the providers (config's dialect)
					 * that speak it: itself for an API
					 * a provider is named by, OpenAI's
					 * chat for its embeddings */

	/* Requests. */
	const char	*match;		/* a caller's POST path ending so is a
					 * call of this API */
	const char	*path;		/* appended to a target's base URL */
	const char	*auth;		/* the key's header by default, as
					 * config's auth_header says it */
	const char	*version_header;/* sent when the caller sent none */
	const char	*version;
	const char *const *own_headers;	/* the caller's headers that may go
					 * to another provider of this API
					 * (NULL-ended) */
	const char	*header_prefix;	/* its headers, which mean nothing
					 * to another API: dropped when
					 * translating */
	const char *const *prompt_keys;	/* the request's members that hold
					 * its prompt (NULL-ended): what its
					 * tokens are estimated from */
	const char *const *max_tokens_keys; /* ... that cap its answer's
					 * tokens, the first that says */
	const char *const *json_format;	/* the path of members to the type
					 * of format its answer must have
					 * (NULL-ended): JSON when it says
					 * json_object or json_schema */
	bool		 deployments;	/* Azure's deployment paths */
	bool		 prefix_no_trailing_blank; /* refuses an assistant
					 * prefix that ends in white space */

	/* Answers: read as they arrive (answer.c feeds them). */
	void		(*read_event)(struct answer *a, const char *event,
			    const char *data, size_t len);
	void		(*read_body)(struct answer *a, json_t *body);
	bool		 calls_end_with_answer;
	bool		 no_text;	/* its answers are not text: what
					 * they hold is their content */
	bool		 dimensions;	/* its answers are vectors: a target
					 * of other dimensions (config) than
					 * the request's, or the first
					 * rung's, does not qualify */	/* tool calls' arguments are
					 * whole only at the end */
	const char	*finish_name[FINISHES];	/* how it says each */
	/* Its names for the ends, read into the common form: the first
	 * match wins, an unknown name reads as FINISH_STOP. */
	const struct finish_name {
		const char	*name;
		enum finish	 finish;
	} *finish_read;
	/* The request again, to be continued elsewhere: req (a copy, of
	 * this API) with text, the answer so far, as the assistant's to go
	 * on from.  Returns 0, or -1 when it cannot be said.  NULL: its
	 * broken streams are ended, never continued. */
	int		 (*continue_prefix)(json_t *req, const char *text,
			    size_t len);
	/* One event of a stream that continues prev's elsewhere, made to
	 * follow it: answer_continue_event (answer.h) says what. */
	int		 (*continue_event)(const struct answer *prev,
			    struct cont_state *cs, const char *event,
			    const char *data, struct buf *out);
	const char	*error_event;	/* the SSE event that carries an
					 * error in a stream (NULL: none) */
	bool		 done_marker;	/* its streams end "data: [DONE]" */
	bool		 usage_option;	/* its streams count tokens only when
					 * stream_options.include_usage asks */

	/* Errors. */
	void		(*error_type)(int status, const char **type,
			    const char **code);	/* *code may be NULL */
	json_t		*(*error_body)(const char *type, const char *code,
			    const char *message);
	int		 (*error_status)(int status); /* the status its SDKs
					 * expect for a provider's */
	enum provider_error (*error_kind)(int status, const json_t *body);
	const char	*stream_error_type;	/* llmfb's error ending a
					 * broken stream */
	/* Or that error's event data in a shape of its own: a is the
	 * answer the caller's events came from, or, when prev is not NULL,
	 * the one they continue, cs saying what the continuation gave.
	 * NULL: error_body's shape. */
	json_t		*(*stream_error)(const struct answer *a,
			    const struct answer *prev,
			    const struct cont_state *cs, const char *code,
			    const char *message);
	const char	*safe_failure_type;	/* NULL: error_type's */

	/* Faults put in on purpose: a refusal with no text, whole or as
	 * a stream (SSE), message the operator's words.  NULL: out of
	 * memory. */
	char		*(*fault_refusal)(bool stream, const char *model,
			    const char *message);
};

extern const struct api api_openai_chat;
extern const struct api api_anthropic_messages;
extern const struct api api_openai_embeddings;
extern const struct api api_openai_responses;
extern const struct api api_openai_completions;

/* Every API, NULL-ended. */
extern const struct api *const apis[];

const struct api *api_of(enum dialect d);
/* By config name, of the APIs a provider is named by; NULL: none. */
const struct api *api_named(const char *name);
/* Every API's name, as "a, b or c", for messages. */
void api_names(char *out, size_t size);
/* The API of a caller's request; NULL: not a call of any. */
const struct api *api_of_request(const char *method, const char *path);
/* Whether a header belongs to some API (its prefix). */
bool api_header(const char *name);
/* The common form of name in api a, and back. */
enum finish api_finish_read(const struct api *a, const char *name);
/* The API an attempt speaks to a provider of dialect provider for a
 * caller of api: the caller's own where that provider speaks it, else
 * the provider's (translated to, where dialect.c can). */
enum dialect api_for_target(const struct api *caller, enum dialect provider);

#endif
