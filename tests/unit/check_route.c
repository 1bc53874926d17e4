#include <check.h>
#include <stdlib.h>

#include "call.h"
#include "config.h"
#include "route.h"

static struct config *cfg;
static char err[CONFIG_ERR_MAX];

static const char *yaml =
    "providers:\n"
    "  o: { dialect: openai, base_url: 'https://o/v1' }\n"
    "targets:\n"
    "  t: { provider: o }\n"
    "routes:\n"
    "  - name: by-header\n"
    "    match: { header: batch }\n"
    "    ladder: [t]\n"
    "  - name: mini\n"
    "    match: { host: api.openai.com, model: ['*-mini', 'o1*'] }\n"
    "    ladder: [t]\n"
    "  - name: azure\n"
    "    match: { host: '*.openai.azure.com', path: '/openai/*' }\n"
    "    ladder: [t]\n"
    "  - name: openai\n"
    "    match: { host: api.openai.com }\n"
    "    ladder: [t]\n";

static void
setup(void)
{
	cfg = config_load_string("route.yaml", yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
}

static void
teardown(void)
{
	config_unref(cfg);
}

static const char *
match(const char *host, const char *path, const char *model,
    const char *header)
{
	struct route_req rq = { host, path, model, header };
	const struct route *r = route_match(cfg, &rq);

	return r ? r->name : "(none)";
}

START_TEST(test_first_match_wins)
{
	const char *p = "/v1/chat/completions";

	ck_assert_str_eq(match("api.openai.com", p, "gpt-4o-mini", NULL),
	    "mini");
	ck_assert_str_eq(match("api.openai.com", p, "o1-preview", NULL),
	    "mini");
	ck_assert_str_eq(match("api.openai.com", p, "gpt-4o", NULL), "openai");
	ck_assert_str_eq(match("api.openai.com", p, NULL, NULL), "openai");
	ck_assert_str_eq(match("api.openai.com", p, "gpt-4o-mini", "batch"),
	    "by-header");
	ck_assert_str_eq(match("api.openai.com", p, "x", "other"), "openai");
}
END_TEST

START_TEST(test_no_match_is_passthrough)
{
	ck_assert_str_eq(match("api.anthropic.com", "/v1/messages", "c", NULL),
	    "(none)");
	ck_assert_str_eq(match("x.openai.azure.com",
	    "/openai/deployments/d/chat/completions", "m", NULL), "azure");
	ck_assert_str_eq(match("x.openai.azure.com", "/v1/chat/completions",
	    "m", NULL), "(none)");
}
END_TEST

START_TEST(test_endpoints)
{
	ck_assert_int_eq(endpoint_of("POST", "/v1/chat/completions"),
	    EP_OPENAI_CHAT);
	ck_assert_int_eq(endpoint_of("POST",
	    "/openai/deployments/d/chat/completions"), EP_OPENAI_CHAT);
	ck_assert_int_eq(endpoint_of("POST", "/v1/messages"),
	    EP_ANTHROPIC_MESSAGES);
	ck_assert_int_eq(endpoint_of("GET", "/v1/chat/completions"), EP_OTHER);
	ck_assert_int_eq(endpoint_of("POST", "/v1/messages/batches"), EP_OTHER);
	ck_assert_int_eq(endpoint_of("POST", "/v1/embeddings"), EP_OTHER);
}
END_TEST

static Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("match");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_first_match_wins);
	tcase_add_test(tc, test_no_match_is_passthrough);
	tcase_add_test(tc, test_endpoints);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(route_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
