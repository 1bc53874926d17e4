#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "api.h"
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
    "  - name: root-batch\n"
    "    match: { uid: [root, 4242], comm: 'batch*' }\n"
    "    ladder: [t]\n"
    "  - name: python\n"
    "    match: { exe: '/usr/bin/python3*', host: api.openai.com }\n"
    "    ladder: [t]\n"
    "  - name: ingest\n"
    "    match: { unit: 'ingest@*.service', gid: 100 }\n"
    "    ladder: [t]\n"
    "  - name: users\n"
    "    match: { cgroup: '/user.slice/*' }\n"
    "    ladder: [t]\n"
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
	struct route_req rq = { .host = host, .path = path, .model = model,
		.header = header };
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

static const char *
match_caller(const char *exe, const char *comm, const char *unit,
    const char *cgroup, bool cred, uint32_t uid, uint32_t gid)
{
	struct route_req rq = { "api.anthropic.com", "/v1/messages", "m",
		NULL, exe, comm, unit, cgroup, cred, uid, gid };
	const struct route *r = route_match(cfg, &rq);

	return r ? r->name : "(none)";
}

/* match.exe written as the program is started (/usr/bin/python3, a
 * link to python3.11) matches the executable the kernel names. */
START_TEST(test_exe_through_links)
{
	char dir[] = "/tmp/llmfb-route.XXXXXX", real[64], link[64], y[512];
	struct config *c;
	struct route_req rq = { "api.openai.com", "/v1/chat/completions",
		"gpt-4o", NULL, real, "python3", NULL, NULL, true, 1000,
		1000 };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(real, sizeof(real), "%s/python3.11", dir);
	snprintf(link, sizeof(link), "%s/python3", dir);
	fclose(fopen(real, "w"));
	ck_assert_int_eq(symlink("python3.11", link), 0);
	snprintf(y, sizeof(y), "providers:\n"
	    "  o: { dialect: openai, base_url: 'https://o/v1' }\n"
	    "targets:\n  t: { provider: o }\n  u: { provider: o }\n"
	    "routes:\n"
	    "  - { name: py, match: { exe: '%s' }, ladder: [t] }\n"
	    "  - { name: rest, ladder: [u] }\n", link);
	c = config_load_string("exe.yaml", y, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(route_match(c, &rq)->name, "py");
	rq.exe = link;			/* as it is written, too */
	ck_assert_str_eq(route_match(c, &rq)->name, "py");
	rq.exe = "/usr/bin/perl";
	ck_assert_str_eq(route_match(c, &rq)->name, "rest");
	config_unref(c);
	unlink(link);
	unlink(real);
	rmdir(dir);
}
END_TEST

START_TEST(test_by_caller)
{
	const char *py = "/usr/bin/python3.11", *sys = "/system.slice/x";

	/* uid by name or number, with comm: both must fit. */
	ck_assert_str_eq(match_caller("/bin/x", "batchjob", NULL, sys, true,
	    0, 0), "root-batch");
	ck_assert_str_eq(match_caller("/bin/x", "batchjob", NULL, sys, true,
	    4242, 5), "root-batch");
	ck_assert_str_eq(match_caller("/bin/x", "other", NULL, sys, true, 0,
	    0), "(none)");
	/* No credentials: a uid rule cannot match. */
	ck_assert_str_eq(match_caller("/bin/x", "batchjob", NULL, sys, false,
	    0, 0), "(none)");
	/* exe with host: python to anthropic does not fit "python". */
	ck_assert_str_eq(match_caller(py, "python3", NULL, sys, true, 1000,
	    1000), "(none)");
	{
		struct route_req rq = { "api.openai.com", "/v1/chat/completions",
			"gpt-4o", NULL, py, "python3", NULL, NULL, true, 1000,
			1000 };

		ck_assert_str_eq(route_match(cfg, &rq)->name, "python");
		rq.exe = "/usr/bin/curl";
		ck_assert_str_eq(route_match(cfg, &rq)->name, "openai");
		rq.exe = NULL;		/* unknown exe: no exe rule fits */
		ck_assert_str_eq(route_match(cfg, &rq)->name, "openai");
	}
	/* systemd unit with gid; cgroup path. */
	ck_assert_str_eq(match_caller("/bin/x", "x", "ingest@2.service",
	    "/system.slice/system-ingest.slice/ingest@2.service", true, 7,
	    100), "ingest");
	ck_assert_str_eq(match_caller("/bin/x", "x", "ingest@2.service", sys,
	    true, 7, 101), "(none)");
	ck_assert_str_eq(match_caller("/bin/x", "x", "app.scope",
	    "/user.slice/user-1000.slice/app.scope", true, 1000, 1000),
	    "users");
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
	ck_assert_ptr_eq(api_of_request("POST", "/v1/chat/completions"),
	    &api_openai_chat);
	ck_assert_ptr_eq(api_of_request("POST",
	    "/openai/deployments/d/chat/completions"), &api_openai_chat);
	ck_assert_ptr_eq(api_of_request("POST", "/v1/messages"),
	    &api_anthropic_messages);
	ck_assert_ptr_null(api_of_request("GET", "/v1/chat/completions"));
	ck_assert_ptr_null(api_of_request("POST", "/v1/messages/batches"));
	/* Embeddings walk a ladder too, among OpenAI-compatible targets. */
	ck_assert_ptr_eq(api_of_request("POST", "/v1/embeddings"),
	    &api_openai_embeddings);
}
END_TEST

static Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("match");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_first_match_wins);
	tcase_add_test(tc, test_by_caller);
	tcase_add_test(tc, test_exe_through_links);
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
