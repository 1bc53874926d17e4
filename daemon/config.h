/* The daemon's configuration: providers, targets, routes and their
 * ladders, loaded from YAML.  A loaded config is immutable and reference
 * counted: every call holds the config it started with, so a reload never
 * changes a call in flight. */
#ifndef LLMFB_CONFIG_H
#define LLMFB_CONFIG_H

#include "api.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "group.h"

#define CONFIG_DEFAULT_PATH	"/etc/llmfb/llmfb.yaml"
#define CONFIG_DEFAULT_LISTEN	"/run/llmfb/llmfb.sock"
#define CONFIG_DEFAULT_CONTROL	"/run/llmfb/control.sock"
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/llmfb"
#define CONFIG_ERR_MAX		512
#define CONFIG_WARN_MAX		32	/* warnings kept; more are counted */

/* The header llmfb's key goes in: OpenAI's Authorization: Bearer,
 * Anthropic's x-api-key, Azure OpenAI's api-key. */
enum auth_header { AUTH_BEARER, AUTH_X_API_KEY, AUTH_API_KEY };

struct provider {
	char		*name;
	enum dialect	 dialect;
	char		*base_url;	/* no trailing slash */
	char		*origin;	/* public host it stands for */
	char		*api_key;	/* secret: never logged; may be NULL */
	char		*api_key_env;	/* where it came from, for status */
	char		*api_key_file;
	enum auth_header auth;		/* how api_key is sent */
	char		*api_version;	/* Azure: ?api-version=; NULL: none */
};

/* USD per million tokens. */
struct price {
	double		 input;
	double		 output;
};

struct model_map {
	char		*requested;	/* a glob */
	char		*own;
};

struct target {
	char		*name;
	struct provider	*provider;
	char		*model;		/* NULL: by models[], else the caller's */
	char		*deployment;	/* Azure: /deployments/NAME; may be NULL */
	struct model_map *models;	/* requested (glob) -> its own */
	size_t		  nmodels;
	size_t		 index;
	struct breaker_conf breaker;
	struct price	 price;		/* 0: free (a local model) */
	uint64_t	 context;	/* window in tokens; 0: unknown */
	char		**tags;		/* region, compliance, ... */
	size_t		  ntags;
	uint32_t	 max_concurrency; /* 0: no limit */
	uint64_t	 rpm, tpm;	/* counted locally; 0: no limit */
	char		*account;	/* whose limits; NULL: its name */
	uint32_t	 dimensions;	/* of its embeddings; 0: not said */
};

/* Why an attempt failed, or a target did not qualify, finer than the
 * four classes: a route names a next rung per kind (and per class). */
enum fail_kind {
	FK_NONE,
	FK_TECHNICAL,		/* technical */
	FK_LATENCY,		/* business */
	FK_BUDGET,
	FK_QUALITY,
	FK_CONTENT,		/* policy */
	FK_REGION,
	FK_CONTEXT,
	FK_DIALECT,		/* its dialect cannot say the request */
	FK_CLIENT,		/* the caller's own mistake */
	FK_COUNT
};

/* The failure classes of the design brief. */
enum fail_class { FC_NONE, FC_TECHNICAL, FC_BUSINESS, FC_POLICY, FC_CLIENT };

#define RUNG_NEXT	(-1)	/* the first rung not tried yet */
#define RUNG_FAIL	(-2)	/* the safe failure */
#define LADDER_MAX	32

enum midstream { MIDSTREAM_ERROR, MIDSTREAM_CONTINUE };
/* Which streams are held whole and judged as a body would be. */
enum hold_stream { HOLD_STREAM_NONE, HOLD_STREAM_JSON, HOLD_STREAM_ALL };

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
	int		 attempts;		/* per target: technical */
	int		 attempts_business;
	int		 attempts_policy;
	uint64_t	 backoff_base_ms;
	uint64_t	 backoff_max_ms;
	uint64_t	 connect_timeout_ms;
	uint64_t	 first_byte_timeout_ms;
	uint64_t	 total_timeout_ms;
	uint64_t	 idle_timeout_ms;	/* gap between stream bytes */
	uint64_t	 deadline_ms;		/* whole call, all attempts */
	uint64_t	 retry_after_max_ms;	/* longest Retry-After waited */
	struct safe_failure safe;
	/* Quality floor of a 2xx answer. */
	bool		 q_empty;		/* an empty answer fails */
	bool		 q_json;		/* invalid JSON fails, when asked */
	bool		 q_length;		/* finish by length fails */
	bool		 q_tool_args;		/* tool arguments not JSON fail */
	bool		 q_refusal;		/* a refusal is a policy failure */
	enum hold_stream q_hold_stream;		/* streams judged whole */
	enum midstream	 midstream;		/* a stream that broke */
	/* Latency SLO: a target whose recent p95 is over it is skipped
	 * while another qualifies.  0: none. */
	uint64_t	 slo_first_token_ms;
	uint64_t	 slo_total_ms;
	uint64_t	 slo_window_ms;
	int		 slo_min_samples;
	/* Fallback cost cap: rungs after the first must not cost more per
	 * million tokens (input or output).  < 0: no cap. */
	double		 fallback_max_price;
	/* Hedging (attempt.c): a second attempt on the next qualifying target
	 * when the first has no first token after hedge_after_ms, or after
	 * the first target's recent hedge_pct-th percentile time to first
	 * token (hedge_floor_ms while it has fewer than hedge_min_samples
	 * of them, and never sooner).  At most hedge_max_percent of the
	 * route's calls over hedge_window_ms are hedged.  hedge_on false:
	 * none. */
	bool		 hedge_on;
	uint64_t	 hedge_after_ms;
	int		 hedge_pct;		/* 0: hedge_after_ms is fixed */
	uint64_t	 hedge_floor_ms;
	int		 hedge_min_samples;
	int		 hedge_max_percent;
	uint64_t	 hedge_window_ms;
};

/* Spend limits in USD; < 0: none. */
struct budget_conf {
	double		 hour, day;		/* the route's */
	double		 caller_hour, caller_day; /* each caller's on it */
	double		 call;			/* one call's estimate */
	/* Spend on rungs after the first only: past it the fallbacks that
	 * cost money are passed over, and the primary still serves. */
	double		 fallback_hour, fallback_day;
};

struct route_match {
	char		**hosts;	/* host patterns; none = any */
	size_t		  nhosts;
	char		**paths;	/* globs on the path; none = any */
	size_t		  npaths;
	char		**models;	/* globs on the requested model */
	size_t		  nmodels;
	char		 *header;	/* x-llmfb-route value */
	/* The caller, from SO_PEERCRED and /proc. */
	char		**exes;		/* globs on the executable path */
	size_t		  nexes;
	char		**comms;	/* globs on the command name */
	size_t		  ncomms;
	char		**units;	/* globs on the systemd unit */
	size_t		  nunits;
	char		**cgroups;	/* globs on the cgroup path */
	size_t		  ncgroups;
	uint32_t	 *uids;
	size_t		  nuids;
	uint32_t	 *gids;
	size_t		  ngids;
};

/* A group of equivalent targets on one rung: at load, its members become
 * consecutive rungs [first, first + n), and each call tries them in the
 * order its strategy gives (group.c) before the rungs after them. */
struct rung_group {
	uint8_t		  first, n;
	enum group_pick	  pick;
	uint32_t	  weight[GROUP_MAX];	/* by member; weighted only */
	bool		  next_rung;	/* on_member_failure: a member's
					 * failure leaves the group */
};

struct route {
	char		 *name;
	struct route_match match;
	struct target	**ladder;
	size_t		  nladder;
	struct rung_group *groups;
	size_t		  ngroups;
	/* By rung: its group + 1; 0, as a zeroed route has it: none. */
	uint8_t		  group_of[LADDER_MAX];
	struct policy	  policy;
	size_t		  index;
	int		  on[FK_COUNT];	/* next rung per kind */
	char		**require_tags;	/* a target must carry them all */
	size_t		  nrequire_tags;
	struct target	**fallback_set;	/* later rungs only from these */
	size_t		  nfallback_set;
	struct budget_conf budget;
};

/* shared: fleet state on Redis (daemon/shared.c, docs/fleet.md).  Absent
 * from the config: NULL, every host on its own. */
/* The group rung i is a member of, or -1. */
static inline int
route_group(const struct route *r, int i)
{
	return i >= 0 && (size_t)i < r->nladder && i < LADDER_MAX ?
	    (int)r->group_of[i] - 1 : -1;
}

struct shared_conf {
	char		*host;		/* address: a TCP host and port ... */
	int		 port;
	char		*socket;	/* ... or a Unix socket path */
	char		*password;	/* secret: never logged; may be NULL */
	char		*password_env;	/* where it came from, for status */
	char		*password_file;
	char		*prefix;	/* every key and channel starts so */
	char		*name;		/* this host in the fleet */
	uint64_t	 max_wait_ms;	/* longest anything waits on Redis */
	uint64_t	 timeout_ms;	/* an answer this late drops the link */
	uint64_t	 reconnect_ms;	/* between tries while it is away */
	bool		 breakers;	/* what is shared */
	bool		 budgets;
	bool		 latency;	/* first-token samples, for SLOs */
	bool		 rate_limits;	/* per account: spent, rpm, tpm */
};

#define SHARED_PREFIX_MAX	64
#define SHARED_NAME_MAX		64

/* exclude: the shim keeps this many globs of this many bytes. */
#define CONFIG_EXCLUDE_MAX	64
#define CONFIG_EXCLUDE_LEN	255

/* ebpf: what llmfbd does when its probes cannot load. */
enum ebpf_mode { EBPF_AUTO, EBPF_ON, EBPF_OFF };

struct config {
	int		  refs;
	char		 *path;
	/* What loads but is likely a mistake: "FILE:LINE:COL: warning:
	 * ...", for llmfbd -n to print and start and reload to log. */
	char		**warnings;
	size_t		  nwarnings;
	size_t		  warnings_dropped; /* past CONFIG_WARN_MAX */
	char		 *listen;	/* data socket */
	uint32_t	  listen_mode;
	char		 *control;	/* control socket */
	char		**intercept;	/* host patterns the shim hands over */
	size_t		  nintercept;
	char		**exclude;	/* programs the shim leaves alone */
	size_t		  nexclude;
	uint64_t	  stop_timeout_ms; /* SIGTERM: calls in flight get
					 * this long */
	char		 *ca_file;	/* upstream TLS trust; NULL = system */
	char		**connect_to;	/* curl CONNECT_TO pins */
	size_t		  nconnect_to;
	uint64_t	  max_request_body;
	uint64_t	  max_header_size;
	uint64_t	  max_answer_body; /* an upstream answer, decoded */
	uint32_t	  max_clients;	/* connections, all users */
	uint32_t	  max_clients_per_user; /* ... of one uid */
	uint64_t	  request_timeout_ms; /* a request's head and body */
	uint64_t	  idle_timeout_ms; /* a kept-alive connection, idle */
	char		 *state_dir;	/* budgets persisted here */
	char		 *events;	/* event log: a file, "journal" or
					 * "journal:SOCKET"; NULL: none */
	uint32_t	 *control_gids;	/* admin groups: may use control */
	size_t		  ncontrol_gids;
	char		 *metrics_addr;	/* loopback IP of the metrics
					 * listener; NULL: none */
	int		  metrics_port;
	enum ebpf_mode	  ebpf;		/* auto: what loads; on: all or
					 * refuse to start */
	bool		  bypass_watch;	/* eBPF uprobes on every libssl */
	bool		  network_watch; /* rtnetlink: lost routes open
					 * breakers */
	struct breaker_conf breaker;	/* every target's, unless its own */
	/* ca: the local CA that terminates TLS the shim cannot virtualise
	 * (ca.h); off unless enabled. */
	bool		  ca_enabled;
	char		 *ca_dir;	/* its key and certificate */
	/* redirect: connects the shim does not see, sent to llmfbd by
	 * eBPF in this cgroup (NULL: none), to this loopback port (0:
	 * any). */
	char		 *redirect_cgroup;
	int		  redirect_port;
	struct shared_conf *shared;	/* NULL: not in a fleet */
	/* otel: traces to an OTLP/HTTP collector (otel.h); NULL: off. */
	char		 *otel_endpoint;
	char		 *otel_service;
	char		**otel_headers;	/* "Name: value" */
	size_t		  notel_headers;
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
const struct route *config_route(const struct config *c, const char *name);
/* Whether a and b (of two configs) are the same target: same provider
 * settings, models, breaker, price and limits.  A reload keeps a
 * target's breaker and latency state only when they are. */
bool target_same(const struct target *a, const struct target *b);
bool config_intercepts(const struct config *c, const char *host,
    size_t hostlen);
const char *dialect_name(enum dialect d);
/* The model t calls for a caller that asked for requested (may be NULL):
 * its one model, or the first of its map that matches; NULL when it has
 * neither (the requested one then goes as it is). */
const char *target_model(const struct target *t, const char *requested);
/* The provider account whose rate limits t draws on, as a fleet names
 * it in Redis: its account label, else its name.  Never a secret. */
const char *target_account(const struct target *t);
enum fail_class fail_kind_class(enum fail_kind k);
const char *fail_kind_name(enum fail_kind k);
const char *fail_class_name(enum fail_class c);
bool target_has_tag(const struct target *t, const char *tag);
/* Whether a and b reach the same Redis the same way (address, password,
 * prefix, name): a reload that keeps them keeps the links. */
bool shared_conf_same(const struct shared_conf *a,
    const struct shared_conf *b);

static inline bool
retry_on_status(const struct retry_on *r, int status)
{
	return status >= 0 && status < 600 &&
	    (r->status[status / 8] & (1u << (status % 8)));
}

#endif
