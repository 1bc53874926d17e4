/* OpenAI's Responses API served by chat completions
 * (daemon/xlate_responses.c, through dialect.c's table): golden pairs in
 * tests/golden/responses, one JSON file each, {what: request|response,
 * from: "openai-responses", to: "openai", in, out} (or why, for a
 * request that does not translate), with created for answers.  Names:
 * req-r2o is a Responses caller's request to a chat target, resp-o2r a
 * chat answer to a Responses caller.  LLMFB_GOLDEN_PRINT=1 prints what
 * each gives instead of comparing (to write a new pair, then read it). */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dialect.h"

#define GOLDEN_DIR	"tests/golden/responses"

static char	**golden;
static size_t	  ngolden;

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
golden_list(void)
{
	DIR *d = opendir(GOLDEN_DIR);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		golden = realloc(golden, (ngolden + 1) * sizeof(*golden));
		golden[ngolden++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(golden, ngolden, sizeof(*golden), by_name);
}

static enum dialect
dialect_of(const json_t *g, const char *key)
{
	const struct api *a = api_named(json_string_value(json_object_get(g,
	    key)));

	ck_assert_msg(a != NULL, "bad %s", key);
	return a->dialect;
}

START_TEST(test_golden)
{
	char path[512], why[DIALECT_WHY_MAX];
	const char *name = golden[_i], *what;
	struct dialect_info info;
	json_error_t jerr;
	json_t *g, *out = NULL;
	char *s;

	snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
	g = json_load_file(path, 0, &jerr);
	ck_assert_msg(g != NULL, "%s: %s", name, jerr.text);
	what = json_string_value(json_object_get(g, "what"));
	memset(&info, 0, sizeof(info));
	info.from = dialect_of(g, "from");
	info.to = dialect_of(g, "to");
	info.created = json_integer_value(json_object_get(g, "created"));
	if (strcmp(what, "request") == 0)
		out = dialect_request(json_object_get(g, "in"), &info, why);
	else
		out = dialect_response(json_object_get(g, "in"), &info);
	if (getenv("LLMFB_GOLDEN_PRINT") != NULL) {
		s = out ? json_dumps(out, JSON_COMPACT) : NULL;
		printf("%s\t%s\t%s\n", name, s ? s : "null", out ? "" : why);
		free(s);
	} else if (json_object_get(g, "why") != NULL) {
		ck_assert_msg(out == NULL, "%s: translated", name);
		ck_assert_str_eq(why, json_string_value(json_object_get(g,
		    "why")));
	} else {
		s = out ? json_dumps(out, JSON_COMPACT) : NULL;
		ck_assert_msg(json_equal(out, json_object_get(g, "out")),
		    "%s: got %s", name, s ? s : why);
		free(s);
	}
	json_decref(out);
	json_decref(g);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("responses");
	TCase *tc = tcase_create("golden");
	SRunner *sr;
	int failed;

	golden_list();
	if (ngolden == 0) {
		fprintf(stderr, "no golden pairs in %s\n", GOLDEN_DIR);
		return EXIT_FAILURE;
	}
	tcase_add_loop_test(tc, test_golden, 0, (int)ngolden);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
