/* The APIs dialect.c's table translates with a translator of their own:
 * OpenAI's Responses API (daemon/xlate_responses.c) and its legacy
 * Completions API (daemon/xlate_completions.c), against chat completions
 * and, through it, the others.  Golden pairs in tests/golden/responses
 * and tests/golden/completions, one JSON file each, {what:
 * request|response, from: "openai-responses", to: "openai", in, out} (or
 * why, for a request that does not translate), with created for
 * answers.  Names: req-r2o is a Responses caller's request to a chat
 * target, resp-o2r a chat answer to a Responses caller; c is
 * Completions.  LLMFB_GOLDEN_PRINT=1 prints what each gives instead of
 * comparing (to write a new pair, then read it). */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dialect.h"

/* The APIs translated by a translator of their own (xlate_*.c), each
 * its directory of pairs. */
static const char *const golden_dirs[] = {
	"tests/golden/responses",
	"tests/golden/completions",
};

static char	**golden;
static size_t	  ngolden;

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
golden_list(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		golden = realloc(golden, (ngolden + 1) * sizeof(*golden));
		golden[ngolden++] = strdup(path);
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

	snprintf(path, sizeof(path), "%s", name);
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

	size_t i, before;

	for (i = 0; i < sizeof(golden_dirs) / sizeof(golden_dirs[0]); i++) {
		before = ngolden;
		golden_list(golden_dirs[i]);
		if (ngolden == before) {
			fprintf(stderr, "no golden pairs in %s\n",
			    golden_dirs[i]);
			return EXIT_FAILURE;
		}
	}
	tcase_add_loop_test(tc, test_golden, 0, (int)ngolden);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
