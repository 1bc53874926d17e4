/* The daemon's configuration: providers, targets, routes and their
 * ladders, loaded from YAML.  A loaded config is immutable and reference
 * counted: every call holds the config it started with, so a reload never
 * changes a call in flight. */
#ifndef LLMFB_CONFIG_H
#define LLMFB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"

#define CONFIG_DEFAULT_PATH	"/etc/llmfb/llmfb.yaml"
#define CONFIG_DEFAULT_LISTEN	"/run/llmfb/llmfb.sock"
#define CONFIG_DEFAULT_CONTROL	"/run/llmfb/control.sock"
#define CONFIG_ERR_MAX		512

enum dialect { DIALECT_OPENAI, DIALECT_ANTHROPIC };

struct provider {
	char		*name;
	enum dialect	 dialect;
	char		*base_url;	/* no trailing slash */
	char		*origin;	/* public host it stands for */
	char		*api_key;	/* secret: never logged; may be NULL */
	char		*api_key_env;	/* where it came from, for status */
	char		*api_key_file;
};

struct target {
	char		*name;
	struct provider	*provider;
	char		*model;		/* NULL: the caller's model */
	size_t		 index;
	struct breaker_conf breaker;
};

/* Which outcomes count as a failure that moves the ladder on. */
struct retry_on {
	bool		 connect;	/* connect, DNS or TLS error */
	bool		 timeout;	/* any attempt timeout */
	uint8_t		 status[600 / 8];	/* bitmap of HTTP statuses */
};

struct safe_failure {
	int		 status;
	char		*message;
	uint64_t	 retry_after_s;	/* 0: no Retry-After header */
};

/* Settings a route takes from `defaults:` unless it sets its own. */
struct policy {
	struct retry_on	 retry_on;
	int		 attempts;		/* per target */
	uint64_t	 backoff_base_ms;
	uint64_t	 backoff_max_ms;
	uint64_t	 connect_timeout_ms;
	uint64_t	 first_byte_timeout_ms;
	uint64_t	 total_timeout_ms;
	uint64_t	 deadline_ms;		/* whole call, all attempts */
	uint64_t	 retry_after_max_ms;	/* longest Retry-After waited */
	struct safe_failure safe;
};

struct route_match {
	char		**hosts;	/* host patterns; none = any */
	size_t		  nhosts;
	char		**paths;	/* globs on the path; none = any */
	size_t		  npaths;
	char		**models;	/* globs on the requested model */
	size_t		  nmodels;
	char		 *header;	/* x-llmfb-route value */
};

struct route {
	char		 *name;
	struct route_match match;
	struct target	**ladder;
	size_t		  nladder;
	struct policy	  policy;
	size_t		  index;
};

struct config {
	int		  refs;
	char		 *path;
	char		 *listen;	/* data socket */
	uint32_t	  listen_mode;
	char		 *control;	/* control socket */
	char		**intercept;	/* host patterns the shim hands over */
	size_t		  nintercept;
	char		 *ca_file;	/* upstream TLS trust; NULL = system */
	char		**connect_to;	/* curl CONNECT_TO pins */
	size_t		  nconnect_to;
	uint64_t	  max_request_body;
	uint64_t	  max_header_size;
	uint32_t	  max_clients;
	struct breaker_conf breaker;	/* every target's, unless its own */
	struct provider	 *providers;
	size_t		  nproviders;
	struct target	 *targets;
	size_t		  ntargets;
	struct route	 *routes;
	size_t		  nroutes;
};

/* Load and validate.  On error returns NULL and writes
 * "FILE:LINE:COL: message" (or "FILE: message") into err. */
struct config *config_load(const char *path, char *err, size_t errlen);
struct config *config_load_string(const char *name, const char *text,
    char *err, size_t errlen);
struct config *config_ref(struct config *c);
void config_unref(struct config *c);

const struct target *config_target(const struct config *c,
    const char *name);
bool config_intercepts(const struct config *c, const char *host,
    size_t hostlen);
const char *dialect_name(enum dialect d);

static inline bool
retry_on_status(const struct retry_on *r, int status)
{
	return status >= 0 && status < 600 &&
	    (r->status[status / 8] & (1u << (status % 8)));
}

#endif
