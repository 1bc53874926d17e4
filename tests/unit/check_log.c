/* The daemon's log lines under systemd: when stderr is journald's stream
 * (JOURNAL_STREAM names it), each line starts with its syslog priority,
 * "<N>", which journald takes as the line's priority; elsewhere stderr
 * gets plain "prog: level: message" lines. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static char path[32];

/* stderr to a temporary file; JOURNAL_STREAM naming it when journal. */
static void
redirect(bool journal)
{
	struct stat st;
	char env[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/check_log.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (journal ? 0 : 1));
	setenv("JOURNAL_STREAM", env, 1);
}

/* What stderr got, as one string (static). */
static const char *
written(void)
{
	static char text[4096];
	FILE *f;
	size_t n;

	fflush(stderr);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(path);
	return text;
}

START_TEST(test_journal_priorities)
{
	redirect(true);
	ck_assert(log_stderr_is_journal());
	log_init("check_log", LOG_LVL_INFO, false);
	errno = ENOENT;
	log_msg(LOG_LVL_ERR, true, "config %s", "/x");
	log_warnx("reload refused: %s", "bad");
	log_info("reloaded");
	log_debug("not at this level");
	ck_assert_str_eq(written(),
	    "<3>error: config /x: No such file or directory\n"
	    "<4>warning: reload refused: bad\n"
	    "<6>info: reloaded\n");
}
END_TEST

/* JOURNAL_STREAM inherited by a program whose stderr went elsewhere:
 * no prefixes there. */
START_TEST(test_not_the_journal)
{
	redirect(false);
	ck_assert(!log_stderr_is_journal());
	log_init("check_log", LOG_LVL_INFO, false);
	log_warnx("plain");
	ck_assert_str_eq(written(), "check_log: warning: plain\n");
}
END_TEST

START_TEST(test_malformed_stream)
{
	redirect(true);
	setenv("JOURNAL_STREAM", "12:34x", 1);
	ck_assert(!log_stderr_is_journal());
	unsetenv("JOURNAL_STREAM");
	ck_assert(!log_stderr_is_journal());
	unlink(path);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_journal_priorities);
	tcase_add_test(tc, test_not_the_journal);
	tcase_add_test(tc, test_malformed_stream);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
