/* llmfbctl import litellm FILE: an llmfb configuration, on standard
 * output, from a LiteLLM proxy config.yaml.  What maps (docs/migrating.md
 * has the whole table):
 *
 *	model_list[].model_name		a route matching that requested model
 *	model_list[].litellm_params	a provider (by the model's prefix and
 *					api_base) and a target (the model)
 *	  api_key: os.environ/VAR	api_key_env: VAR (a literal key is never
 *					copied: the output says to set one)
 *	  timeout, stream_timeout	the route's timeouts.total, .first_token
 *	  input/output_cost_per_token	price (per million tokens)
 *	model_info.max_input_tokens	context
 *	fallbacks			the rest of the route's ladder
 *	context_window_fallbacks	on the ladder too, and on: { context: }
 *	content_policy_fallbacks	on the ladder too, and on: { content: }
 *	num_retries			defaults.attempts (num_retries + 1)
 *	timeout, request_timeout	defaults.timeouts.total
 *	allowed_fails, cooldown_time	breaker.failures, breaker.cooldown
 *
 * Deployments sharing a model_name (LiteLLM load-balances them) become
 * successive rungs, in the file's order: llmfb does not spread load.
 * What has no counterpart (routing_strategy, rpm/tpm, callbacks, caching,
 * keys and budgets of the proxy) is listed in a comment at the top, and
 * a provider llmfb cannot speak to (bedrock, vertex_ai...) is left out
 * with a warning.  Exit 0 with the config written, 1 when FILE cannot be
 * read or gives nothing to route, 2 usage. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"
#include "ynode.h"

#define IMPORT_MAX	256	/* deployments, providers, groups */
#define NAME_LEN	65	/* llmfb's names: 64 characters */

/* The LiteLLM provider prefixes llmfb can speak to, with their public
 * endpoints.  Those without one need the deployment's api_base. */
static const struct known {
	const char	*prefix;
	const char	*dialect;
	const char	*base_url;
} knowns[] = {
	{ "openai", "openai", "https://api.openai.com/v1" },
	{ "text-completion-openai", "openai", "https://api.openai.com/v1" },
	{ "anthropic", "anthropic", "https://api.anthropic.com/v1" },
	/* Azure's v1 API: the deployment is the model, no api-version. */
	{ "azure", "openai", NULL },
	{ "groq", "openai", "https://api.groq.com/openai/v1" },
	{ "mistral", "openai", "https://api.mistral.ai/v1" },
	{ "deepseek", "openai", "https://api.deepseek.com/v1" },
	{ "together_ai", "openai", "https://api.together.xyz/v1" },
	{ "openrouter", "openai", "https://openrouter.ai/api/v1" },
	{ "fireworks_ai", "openai", "https://api.fireworks.ai/inference/v1" },
	{ "xai", "openai", "https://api.x.ai/v1" },
	{ "perplexity", "openai", "https://api.perplexity.ai" },
	{ "gemini", "openai",
	    "https://generativelanguage.googleapis.com/v1beta/openai" },
	{ "ollama", "openai", "http://localhost:11434/v1" },
	{ "ollama_chat", "openai", "http://localhost:11434/v1" },
	{ "hosted_vllm", "openai", NULL },
	{ "lm_studio", "openai", "http://localhost:1234/v1" },
};

struct iprov {
	char	 name[NAME_LEN];
	char	*dialect;
	char	*base_url;
	char	*key_env;	/* NULL: none */
	bool	 key_literal;	/* the LiteLLM file had the key itself */
	char	 key_var[NAME_LEN + 16]; /* then the variable named for it */
};

/* The environment variable named for provider name's key:
 * LLMFB_KEY_ and the name in upper case, '_' for what a variable's name
 * cannot hold ("azure-2" -> LLMFB_KEY_AZURE_2). */
static void
key_var(const char *name, char *out, size_t outlen)
{
	static const char prefix[] = "LLMFB_KEY_";
	size_t n = sizeof(prefix) - 1;

	memcpy(out, prefix, n);
	for (; *name != '\0' && n + 1 < outlen; name++)
		out[n++] = isalnum((unsigned char)*name) ?
		    (char)toupper((unsigned char)*name) : '_';
	out[n] = '\0';
}

struct idep {
	char		*group;		/* model_name */
	char		 target[NAME_LEN];
	struct iprov	*prov;
	char		*model;		/* the provider's model */
	double		 price_in, price_out;	/* per token, <0: none */
	long long	 context;	/* 0: unknown */
	double		 timeout_s, stream_timeout_s;	/* 0: none */
};

struct import {
	const char	*path;
	struct iprov	 prov[IMPORT_MAX];
	size_t		 nprov;
	struct idep	 dep[IMPORT_MAX];
	size_t		 ndep;
	int		 warnings;
};

static void
warn_at(struct import *im, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
warn_at(struct import *im, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "llmfbctl: %s:%d:%d: ", im->path, at ? at->line : 0,
	    at ? at->col : 0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	im->warnings++;
}

static const char *
scalar(const struct ynode *map, const char *key)
{
	const struct ynode *n = map ? ynode_get(map, key) : NULL;

	return n && n->type == YNODE_SCALAR && !ynode_is_null(n) ? n->str :
	    NULL;
}

/* A number of a scalar, or -1 when absent or not a number. */
static double
number(const struct ynode *map, const char *key)
{
	const char *s = scalar(map, key);
	char *end;
	double v;

	if (s == NULL)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
		return -1;
	return v;
}

/* An llmfb name from any text: letters, digits, '.', '-', '_' and ':'
 * kept, anything else '-', at most 64 characters. */
static void
make_name(char *out, const char *in)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i < NAME_LEN - 1; i++)
		out[i] = isalnum((unsigned char)in[i]) ||
		    strchr(".-_:", in[i]) ? in[i] : '-';
	out[i] = '\0';
	if (i == 0)
		snprintf(out, NAME_LEN, "x");
}

/* A YAML double-quoted scalar. */
static void
put_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\x%02x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* A duration in llmfb's spelling, from LiteLLM's seconds. */
static void
put_secs(double s)
{
	long long ms = (long long)(s * 1000 + 0.5);

	if (ms % 1000 == 0)
		printf("%llds", ms / 1000);
	else
		printf("%lldms", ms);
}

static struct iprov *
provider_for(struct import *im, const struct ynode *at, const char *dialect,
    const char *base_url, const char *key, const char *hint)
{
	const char *env = NULL;
	char name[NAME_LEN];
	struct iprov *p;
	size_t i, k;

	if (key != NULL && strncmp(key, "os.environ/", 11) == 0)
		env = key + 11;
	for (i = 0; i < im->nprov; i++) {
		p = &im->prov[i];
		if (strcmp(p->dialect, dialect) == 0 &&
		    strcmp(p->base_url, base_url) == 0 &&
		    (p->key_env == NULL) == (env == NULL) &&
		    (env == NULL || strcmp(p->key_env, env) == 0) &&
		    p->key_literal == (key != NULL && env == NULL))
			return p;
	}
	if (im->nprov == IMPORT_MAX) {
		warn_at(im, at, "more than %d providers: left out",
		    IMPORT_MAX);
		return NULL;
	}
	p = &im->prov[im->nprov++];
	make_name(name, hint);
	/* Unique: openai, openai-2, ... */
	for (k = 1;; k++) {
		if (k == 1)
			snprintf(p->name, sizeof(p->name), "%s", name);
		else
			snprintf(p->name, sizeof(p->name), "%.55s-%zu", name,
			    k);
		for (i = 0; i + 1 < im->nprov; i++)
			if (strcmp(im->prov[i].name, p->name) == 0)
				break;
		if (i + 1 == im->nprov)
			break;
	}
	p->dialect = xstrdup(dialect);
	p->base_url = xstrdup(base_url);
	p->key_env = env ? xstrdup(env) : NULL;
	p->key_literal = key != NULL && env == NULL;
	if (p->key_literal) {
		key_var(p->name, p->key_var, sizeof(p->key_var));
		warn_at(im, at, "api_key is written in the file: llmfb reads "
		    "keys from the environment or a file; the output names "
		    "%s for provider %s (the key is not copied)",
		    p->key_var, p->name);
	}
	return p;
}

/* One model_list entry. */
static void
add_deployment(struct import *im, const struct ynode *e)
{
	const struct ynode *lp = ynode_get(e, "litellm_params");
	const struct ynode *mi = ynode_get(e, "model_info");
	const char *group = scalar(e, "model_name");
	const char *model = scalar(lp, "model"), *slash, *api_base, *base;
	const struct known *kn = NULL;
	char prefix[64], url[512];
	struct idep *d;
	size_t i, k;
	double v;

	if (group == NULL || lp == NULL || lp->type != YNODE_MAP ||
	    model == NULL) {
		warn_at(im, e, "an entry without model_name or "
		    "litellm_params.model: left out");
		return;
	}
	if ((slash = strchr(model, '/')) != NULL) {
		snprintf(prefix, sizeof(prefix), "%.*s",
		    (int)(slash - model), model);
		model = slash + 1;
	} else if (strncmp(model, "claude", 6) == 0) {
		snprintf(prefix, sizeof(prefix), "anthropic");
	} else {
		/* LiteLLM's own guess for a bare name is OpenAI too. */
		snprintf(prefix, sizeof(prefix), "openai");
	}
	for (i = 0; i < ARRAY_SIZE(knowns); i++)
		if (strcmp(knowns[i].prefix, prefix) == 0)
			kn = &knowns[i];
	api_base = scalar(lp, "api_base");
	/* LiteLLM reads os.environ/VAR at start; so does the import. */
	if (api_base != NULL && strncmp(api_base, "os.environ/", 11) == 0) {
		const char *var = api_base + 11;

		if ((api_base = getenv(var)) == NULL || *api_base == '\0') {
			warn_at(im, e, "%s: api_base is os.environ/%s, which "
			    "is not set here: left out (set it and import "
			    "again)", group, var);
			return;
		}
	}
	if (kn == NULL) {
		warn_at(im, e, "%s: provider '%s' has no OpenAI- or "
		    "Anthropic-compatible API llmfb can call: left out",
		    group, prefix);
		return;
	}
	base = api_base ? api_base : kn->base_url;
	if (base == NULL) {
		warn_at(im, e, "%s: a %s model needs api_base: left out",
		    group, prefix);
		return;
	}
	snprintf(url, sizeof(url), "%s", base);
	while (url[0] != '\0' && url[strlen(url) - 1] == '/')
		url[strlen(url) - 1] = '\0';
	if (strcmp(prefix, "azure") == 0 && strstr(url, "/openai") == NULL)
		strncat(url, "/openai/v1", sizeof(url) - strlen(url) - 1);
	/* Ollama's and LM Studio's OpenAI-compatible API is under /v1;
	 * LiteLLM's api_base for them is the server's root. */
	if ((strncmp(prefix, "ollama", 6) == 0 ||
	    strcmp(prefix, "lm_studio") == 0) && (strlen(url) < 3 ||
	    strcmp(url + strlen(url) - 3, "/v1") != 0))
		strncat(url, "/v1", sizeof(url) - strlen(url) - 1);
	if (im->ndep == IMPORT_MAX) {
		warn_at(im, e, "more than %d deployments: left out",
		    IMPORT_MAX);
		return;
	}
	d = &im->dep[im->ndep];
	memset(d, 0, sizeof(*d));
	if ((d->prov = provider_for(im, e, kn->dialect, url,
	    scalar(lp, "api_key"), prefix)) == NULL)
		return;
	im->ndep++;
	d->group = xstrdup(group);
	d->model = xstrdup(model);
	/* The target is named after the group; a second deployment of it
	 * gets -2, and so on. */
	make_name(d->target, group);
	for (k = 2;; k++) {
		for (i = 0; i + 1 < im->ndep; i++)
			if (strcmp(im->dep[i].target, d->target) == 0)
				break;
		if (i + 1 == im->ndep)
			break;
		make_name(d->target, group);
		snprintf(d->target + (strlen(d->target) > 58 ? 58 :
		    strlen(d->target)), 7, "-%zu", k);
	}
	d->price_in = number(mi, "input_cost_per_token");
	if (d->price_in < 0)
		d->price_in = number(lp, "input_cost_per_token");
	d->price_out = number(mi, "output_cost_per_token");
	if (d->price_out < 0)
		d->price_out = number(lp, "output_cost_per_token");
	if ((v = number(mi, "max_input_tokens")) > 0)
		d->context = (long long)v;
	if ((v = number(lp, "timeout")) > 0)
		d->timeout_s = v;
	if ((v = number(lp, "stream_timeout")) > 0)
		d->stream_timeout_s = v;
	if (scalar(lp, "rpm") != NULL || scalar(lp, "tpm") != NULL)
		warn_at(im, e, "%s: rpm/tpm have no counterpart (llmfb's "
		    "max_concurrency limits calls in flight instead)", group);
}

/* A setting: under router_settings, else litellm_settings (LiteLLM
 * reads the fallbacks from either). */
static const struct ynode *
setting(const struct ynode *doc, const char *key)
{
	const struct ynode *rs = ynode_get(doc, "router_settings");
	const struct ynode *ls = ynode_get(doc, "litellm_settings");
	const struct ynode *v = NULL;

	if (rs != NULL && rs->type == YNODE_MAP)
		v = ynode_get(rs, key);
	if (v == NULL && ls != NULL && ls->type == YNODE_MAP)
		v = ynode_get(ls, key);
	return v;
}

/* The first deployment of group g, or NULL. */
static const struct idep *
first_of(const struct import *im, const char *g)
{
	size_t i;

	for (i = 0; i < im->ndep; i++)
		if (strcmp(im->dep[i].group, g) == 0)
			return &im->dep[i];
	return NULL;
}

/* The groups a *_fallbacks list gives for group g: a list of one-key
 * maps, [{g: [a, b]}, ...].  NULL when none. */
static const struct ynode *
fallbacks_of(const struct ynode *list, const char *g)
{
	size_t i, k;

	if (list == NULL || list->type != YNODE_SEQ)
		return NULL;
	for (i = 0; i < list->n; i++) {
		const struct ynode *m = list->items[i];

		if (m->type != YNODE_MAP)
			continue;
		for (k = 0; k < m->n; k++)
			if (strcmp(m->keys[k]->str, g) == 0 &&
			    m->items[k]->type == YNODE_SEQ)
				return m->items[k];
	}
	return NULL;
}

/* The ladder of group g into rung[]: its own deployments, then each
 * fallback group's, each target once.  Returns the count. */
static size_t
ladder_add(struct import *im, const char *g, const struct idep **rung,
    size_t n)
{
	size_t i, k;

	for (i = 0; i < im->ndep && n < 32; i++) {
		if (strcmp(im->dep[i].group, g) != 0)
			continue;
		for (k = 0; k < n; k++)
			if (rung[k] == &im->dep[i])
				break;
		if (k == n)
			rung[n++] = &im->dep[i];
	}
	return n;
}

static const char *const unmapped[] = {
	"routing_strategy", "model_group_alias", "redis_host", "cache",
	"success_callback", "failure_callback", "callbacks", "master_key",
	"database_url", "max_budget", "guardrails",
};

static void
print_config(struct import *im, const struct ynode *doc)
{
	const struct ynode *fb = setting(doc, "fallbacks");
	const struct ynode *cw = setting(doc, "context_window_fallbacks");
	const struct ynode *cp = setting(doc, "content_policy_fallbacks");
	const struct ynode *settings[] = { ynode_get(doc, "router_settings"),
	    ynode_get(doc, "litellm_settings"),
	    ynode_get(doc, "general_settings") };
	const struct idep *rung[32];
	const char *hosts[IMPORT_MAX];
	size_t i, k, j, n, nhosts = 0;
	double v, retries = -1, timeout = -1, fails = -1, cooldown = -1;
	bool first;

	printf("# llmfb configuration imported from %s (LiteLLM) by "
	    "llmfbctl import.\n# Check it with llmfbd -n -c FILE; see "
	    "docs/migrating.md and llmfb.yaml(5).\n", im->path);
	for (i = 0; i < ARRAY_SIZE(settings); i++)
		for (k = 0; settings[i] && settings[i]->type == YNODE_MAP &&
		    k < settings[i]->n; k++)
			for (j = 0; j < ARRAY_SIZE(unmapped); j++)
				if (strcmp(settings[i]->keys[k]->str,
				    unmapped[j]) == 0)
					printf("# not carried over (no "
					    "counterpart): %s\n", unmapped[j]);
	/* Programs call their providers again; llmfb takes the calls to
	 * these hosts (loopback ones excepted: a local server is called
	 * where it is). */
	for (i = 0; i < im->nprov; i++) {
		const char *h = strstr(im->prov[i].base_url, "://");
		char host[256];

		if (h == NULL)
			continue;
		snprintf(host, sizeof(host), "%.*s", (int)strcspn(h + 3,
		    ":/"), h + 3);
		if (strcmp(host, "localhost") == 0 ||
		    strncmp(host, "127.", 4) == 0 || host[0] == '[' ||
		    strspn(host, "0123456789.") == strlen(host))
			continue;
		for (k = 0; k < nhosts; k++)
			if (strcmp(hosts[k], host) == 0)
				break;
		if (k == nhosts)
			hosts[nhosts++] = xstrdup(host);
	}
	printf("intercept: [");
	for (k = 0; k < nhosts; k++) {
		printf("%s", k ? ", " : "");
		put_str(hosts[k]);
		free((char *)hosts[k]);
	}
	printf("]\n");

	if ((v = number(ynode_get(doc, "router_settings"), "num_retries")) >= 0 ||
	    (v = number(ynode_get(doc, "litellm_settings"), "num_retries")) >= 0)
		retries = v;
	if ((v = number(ynode_get(doc, "router_settings"), "timeout")) > 0 ||
	    (v = number(ynode_get(doc, "litellm_settings"),
	    "request_timeout")) > 0)
		timeout = v;
	if ((v = number(ynode_get(doc, "router_settings"),
	    "allowed_fails")) >= 0)
		fails = v;
	if ((v = number(ynode_get(doc, "router_settings"),
	    "cooldown_time")) > 0 || (v = number(ynode_get(doc,
	    "litellm_settings"), "cooldown_time")) > 0)
		cooldown = v;
	if (retries >= 0 || timeout > 0) {
		printf("defaults:\n");
		/* LiteLLM retries a failed call num_retries times: llmfb
		 * counts tries per target. */
		if (retries >= 0)
			printf("  attempts: %lld\n", (long long)retries + 1);
		if (timeout > 0) {
			printf("  timeouts: { total: ");
			put_secs(timeout);
			printf(" }\n");
		}
	}
	if (fails >= 0 || cooldown > 0) {
		/* allowed_fails: failures (in a minute) before a deployment
		 * cools down; llmfb counts them in a row. */
		printf("breaker: {");
		if (fails >= 0)
			printf(" failures: %lld%s", (long long)fails + 1,
			    cooldown > 0 ? "," : "");
		if (cooldown > 0) {
			printf(" cooldown: ");
			put_secs(cooldown);
		}
		printf(" }\n");
	}

	printf("providers:\n");
	for (i = 0; i < im->nprov; i++) {
		const struct iprov *p = &im->prov[i];

		printf("  %s: { dialect: %s, base_url: ", p->name,
		    p->dialect);
		put_str(p->base_url);
		if (p->key_env != NULL) {
			printf(", api_key_env: ");
			put_str(p->key_env);
		} else if (p->key_literal) {
			printf(", api_key_env: \"%s\"", p->key_var);
		}
		printf(" }%s\n", p->key_literal ? "   # the key was in the "
		    "LiteLLM file: set it in this variable" : "");
	}

	printf("targets:\n");
	for (i = 0; i < im->ndep; i++) {
		const struct idep *d = &im->dep[i];

		printf("  %s: { provider: %s, model: ", d->target,
		    d->prov->name);
		put_str(d->model);
		if (d->price_in >= 0 || d->price_out >= 0)
			printf(", price: { input: %.6g, output: %.6g }",
			    d->price_in > 0 ? d->price_in * 1e6 : 0,
			    d->price_out > 0 ? d->price_out * 1e6 : 0);
		if (d->context > 0)
			printf(", context: %lld", d->context);
		printf(" }\n");
	}

	printf("routes:\n");
	for (i = 0; i < im->ndep; i++) {
		const struct idep *d = &im->dep[i];
		const struct ynode *l;
		const struct idep *on_context = NULL, *on_content = NULL;

		/* One route per group, at its first deployment. */
		for (k = 0; k < i; k++)
			if (strcmp(im->dep[k].group, d->group) == 0)
				break;
		if (k < i)
			continue;
		n = ladder_add(im, d->group, rung, 0);
		if ((l = fallbacks_of(fb, d->group)) != NULL)
			for (k = 0; k < l->n; k++)
				if (l->items[k]->type == YNODE_SCALAR)
					n = ladder_add(im, l->items[k]->str,
					    rung, n);
		if ((l = fallbacks_of(cw, d->group)) != NULL)
			for (k = 0; k < l->n; k++) {
				size_t was = n;

				if (l->items[k]->type != YNODE_SCALAR)
					continue;
				n = ladder_add(im, l->items[k]->str, rung, n);
				if (on_context == NULL && n > was)
					on_context = rung[was];
				else if (on_context == NULL)
					on_context = first_of(im,
					    l->items[k]->str);
			}
		if ((l = fallbacks_of(cp, d->group)) != NULL)
			for (k = 0; k < l->n; k++) {
				size_t was = n;

				if (l->items[k]->type != YNODE_SCALAR)
					continue;
				n = ladder_add(im, l->items[k]->str, rung, n);
				if (on_content == NULL && n > was)
					on_content = rung[was];
				else if (on_content == NULL)
					on_content = first_of(im,
					    l->items[k]->str);
			}
		printf("  - name: %s\n    match: { model: ", d->target);
		put_str(d->group);
		printf(" }\n    ladder: [");
		for (k = 0; k < n; k++)
			printf("%s%s", k ? ", " : "", rung[k]->target);
		printf("]\n");
		/* A context or content failure goes straight to its own
		 * fallback, past the general ones. */
		if ((on_context && on_context != rung[0]) ||
		    (on_content && on_content != rung[0])) {
			first = true;
			printf("    on: {");
			if (on_context && on_context != rung[0]) {
				printf(" context: %s", on_context->target);
				first = false;
			}
			if (on_content && on_content != rung[0])
				printf("%s content: %s", first ? "" : ",",
				    on_content->target);
			printf(" }\n");
		}
		if (d->timeout_s > 0 || d->stream_timeout_s > 0) {
			printf("    timeouts: {");
			if (d->timeout_s > 0) {
				printf(" total: ");
				put_secs(d->timeout_s);
			}
			if (d->stream_timeout_s > 0) {
				printf("%s first_token: ", d->timeout_s > 0 ?
				    "," : "");
				put_secs(d->stream_timeout_s);
			}
			printf(" }\n");
		}
	}
}

int
import_main(int argc, char **argv)
{
	const struct ynode *doc, *list;
	struct import *im;
	char err[512];
	size_t i;
	int r = 1;

	if (argc != 3 || strcmp(argv[1], "litellm") != 0) {
		fprintf(stderr, "usage: llmfbctl import litellm FILE\n");
		return 2;
	}
	if ((doc = ynode_load_file(argv[2], err, sizeof(err))) == NULL) {
		fprintf(stderr, "llmfbctl: %s\n", err);
		return 1;
	}
	im = xcalloc(1, sizeof(*im));
	im->path = argv[2];
	list = doc->type == YNODE_MAP ? ynode_get(doc, "model_list") : NULL;
	if (list == NULL || list->type != YNODE_SEQ) {
		fprintf(stderr, "llmfbctl: %s: no model_list: not a LiteLLM "
		    "proxy config\n", argv[2]);
		goto out;
	}
	for (i = 0; i < list->n; i++) {
		if (list->items[i]->type == YNODE_MAP)
			add_deployment(im, list->items[i]);
		else
			warn_at(im, list->items[i], "model_list entry is not "
			    "a map: left out");
	}
	if (im->ndep == 0) {
		fprintf(stderr, "llmfbctl: %s: no deployment llmfb can call\n",
		    argv[2]);
		goto out;
	}
	print_config(im, doc);
	r = 0;
out:
	for (i = 0; i < im->nprov; i++) {
		free(im->prov[i].dialect);
		free(im->prov[i].base_url);
		free(im->prov[i].key_env);
	}
	for (i = 0; i < im->ndep; i++) {
		free(im->dep[i].group);
		free(im->dep[i].model);
	}
	free(im);
	ynode_free((struct ynode *)doc);
	return r;
}
