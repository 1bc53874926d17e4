/* Fuzz target: the config loader (daemon/config.c over daemon/ynode.c)
 * on arbitrary YAML text, through config_load_string().
 *
 * Input: the text, all of it (no mode byte: a config is one thing).
 * Bytes after a NUL are not seen, as with a file read by libyaml.
 *
 * Properties: an error is said (err is set, NUL-terminated, not empty);
 * a config loaded twice from the same text has the same targets
 * (target_same(), which a reload trusts to keep a target's state), and
 * its lookups find what it holds.
 *
 * api_key_env names are read from the environment, and an unset one
 * stops the load: LLMFB_FUZZ_KEY is set, and so are the names the seeds
 * (the unit tests', the e2e's, the examples') use, so that they get past
 * it.  api_key_file and ca_file are
 * real paths: run the fuzzer with stdin from /dev/null (fuzz.mk does). */
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

static void
check_same(const struct config *a, const struct config *b)
{
	size_t i;

	FUZZ_CHECK(a->ntargets == b->ntargets && a->nroutes == b->nroutes,
	    "two loads differ");
	for (i = 0; i < a->ntargets; i++) {
		FUZZ_CHECK(target_same(&a->targets[i], &b->targets[i]),
		    "target %s differs from itself", a->targets[i].name);
		FUZZ_CHECK(config_target(a, a->targets[i].name) != NULL,
		    "target %s not found by name", a->targets[i].name);
		(void)target_model(&a->targets[i], "gpt-4o");
		(void)target_model(&a->targets[i], NULL);
	}
	for (i = 0; i < a->nroutes; i++)
		FUZZ_CHECK(config_route(a, a->routes[i].name) != NULL,
		    "route %s not found by name", a->routes[i].name);
	for (i = 0; i < a->nintercept; i++)
		FUZZ_CHECK(config_intercepts(a, a->intercept[i],
		    strlen(a->intercept[i])) || strchr(a->intercept[i], '*'),
		    "%s not intercepted by itself", a->intercept[i]);
	(void)config_intercepts(a, "api.openai.com", 14);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "LLMFB_FUZZ_KEY",
		"CHECK_CONFIG_KEY", "LLMFB_TEST_BACKUP_KEY",
		"LLMFB_TEST_ABACKUP_KEY", "DEMO_BACKUP_KEY", "OPENAI_API_KEY",
		"ANTHROPIC_API_KEY", "AZURE_OPENAI_KEY" };
	char err[CONFIG_ERR_MAX], err2[CONFIG_ERR_MAX];
	struct config *a, *b;
	char *text;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		setenv(names[i], "sk-fuzz", 0);
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 'x', sizeof(err));
	a = config_load_string("fuzz.yaml", text, err, sizeof(err));
	if (a == NULL) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL &&
		    err[0] != '\0', "an error without a message");
		free(text);
		return 0;
	}
	b = config_load_string("fuzz.yaml", text, err2, sizeof(err2));
	FUZZ_CHECK(b != NULL, "loads once, not twice: %s", err2);
	check_same(a, b);
	config_unref(b);
	config_unref(a);
	free(text);
	return 0;
}
