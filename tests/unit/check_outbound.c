/* What an attempt sends besides its body (daemon/outbound.c): which of
 * the caller's headers go where, the key, an API's version header, and
 * the target's URL. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "outbound.h"
#include "server.h"

static struct config *cfg;

static void
setup(void)
{
	char err[CONFIG_ERR_MAX];

	setenv("CHECK_OUTBOUND_KEY", "sk-llmfb-key", 1);
	cfg = config_load_string("outbound.yaml",
	    "intercept: [api.openai.com, api.anthropic.com]\n"
	    "providers:\n"
	    "  oai: { dialect: openai, base_url: \"https://api.openai.com/v1\","
	    " origin: api.openai.com }\n"
	    "  ant: { dialect: anthropic, base_url: "
	    "\"https://api.anthropic.com/v1\", api_key_env: CHECK_OUTBOUND_KEY }\n"
	    "  az: { dialect: openai, base_url: "
	    "\"https://x.openai.azure.com/?api-version=2024-10-21\" }\n"
	    "targets:\n"
	    "  oai: { provider: oai }\n"
	    "  ant: { provider: ant, model: claude-x }\n"
	    "  az: { provider: az, deployment: gpt4o }\n"
	    "routes:\n"
	    "  - { name: r, ladder: [oai, ant, az] }\n", err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
}

static void
teardown(void)
{
	config_unref(cfg);
}

static const struct target *
target(const char *name)
{
	size_t i;

	for (i = 0; i < cfg->ntargets; i++)
		if (strcmp(cfg->targets[i].name, name) == 0)
			return &cfg->targets[i];
	ck_abort_msg("no target %s", name);
	return NULL;
}

static struct header hs[] = {
	{ "Authorization", "Bearer sk-caller" },
	{ "Content-Type", "application/json" },
	{ "OpenAI-Organization", "org-1" },
	{ "anthropic-beta", "tools-1" },
	{ "Connection", "keep-alive" },
	{ "X-Llmfb-Origin", "https://api.openai.com" },
	{ "Cookie", "c=1" },
};

static const char *
headers(bool own, enum dialect caller, enum dialect to, const char *target_name)
{
	static struct buf h;
	struct http_req req;

	memset(&req, 0, sizeof(req));
	req.h = hs;
	req.nh = sizeof(hs) / sizeof(hs[0]);
	buf_free(&h);
	buf_init(&h, 1 << 16);
	ck_assert_int_eq(outbound_headers(&req, own, caller, to,
	    target_name ? target(target_name)->provider : NULL, &h), 0);
	return h.data ? h.data : "";
}

START_TEST(test_own_provider_gets_everything)
{
	const char *h = headers(true, DIALECT_OPENAI, DIALECT_OPENAI, "oai");

	ck_assert_ptr_nonnull(strstr(h, "Authorization: Bearer sk-caller\r\n"));
	ck_assert_ptr_nonnull(strstr(h, "OpenAI-Organization: org-1\r\n"));
	ck_assert_ptr_nonnull(strstr(h, "Cookie: c=1\r\n"));
	ck_assert_ptr_null(strstr(h, "Connection"));
	ck_assert_ptr_null(strstr(h, "X-Llmfb"));
}
END_TEST

/* Another provider, translated: none of the caller's credentials or
 * API headers; llmfb's key; the API's version header. */
START_TEST(test_foreign_translated)
{
	const char *h = headers(false, DIALECT_OPENAI, DIALECT_ANTHROPIC,
	    "ant");

	ck_assert_ptr_null(strstr(h, "sk-caller"));
	ck_assert_ptr_null(strstr(h, "Cookie"));
	ck_assert_ptr_null(strstr(h, "OpenAI-Organization"));
	ck_assert_ptr_null(strstr(h, "anthropic-beta"));
	ck_assert_ptr_nonnull(strstr(h, "Content-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(h, "x-api-key: sk-llmfb-key\r\n"));
	ck_assert_ptr_nonnull(strstr(h, "anthropic-version: 2023-06-01\r\n"));
}
END_TEST

/* Another provider of the caller's own API: that API's headers go. */
START_TEST(test_foreign_same_api)
{
	const char *h = headers(false, DIALECT_ANTHROPIC, DIALECT_ANTHROPIC,
	    "ant");

	ck_assert_ptr_nonnull(strstr(h, "anthropic-beta: tools-1\r\n"));
	ck_assert_ptr_null(strstr(h, "sk-caller"));
}
END_TEST

START_TEST(test_urls)
{
	struct buf u;

	buf_init(&u, 4096);
	outbound_url(&u, target("oai"), DIALECT_OPENAI, NULL);
	ck_assert_str_eq(u.data, "https://api.openai.com/v1/chat/completions");
	buf_reset(&u);
	outbound_url(&u, target("oai"), DIALECT_OPENAI_EMBEDDINGS, "a=1");
	ck_assert_str_eq(u.data, "https://api.openai.com/v1/embeddings?a=1");
	buf_reset(&u);
	outbound_url(&u, target("oai"), DIALECT_OPENAI_RESPONSES, NULL);
	ck_assert_str_eq(u.data, "https://api.openai.com/v1/responses");
	buf_reset(&u);
	outbound_url(&u, target("ant"), DIALECT_ANTHROPIC, NULL);
	ck_assert_str_eq(u.data, "https://api.anthropic.com/v1/messages");
	buf_reset(&u);
	outbound_url(&u, target("az"), DIALECT_OPENAI, "api-version=2025-01-01");
	ck_assert_str_eq(u.data, "https://x.openai.azure.com/openai/"
	    "deployments/gpt4o/chat/completions?api-version=2025-01-01");
	buf_free(&u);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("outbound");
	TCase *tc = tcase_create("outbound");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_own_provider_gets_everything);
	tcase_add_test(tc, test_foreign_translated);
	tcase_add_test(tc, test_foreign_same_api);
	tcase_add_test(tc, test_urls);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
