#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caller.h"

struct parsed {
	int	rc;
	char	path[512];
	char	unit[256];
};

static struct parsed
parse(const char *text)
{
	struct parsed p;

	memset(&p, 'x', sizeof(p));
	p.rc = caller_parse_cgroup(text, strlen(text), p.path, sizeof(p.path),
	    p.unit, sizeof(p.unit));
	return p;
}

START_TEST(test_v2_system_service)
{
	struct parsed p = parse("0::/system.slice/cron.service\n");

	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.path, "/system.slice/cron.service");
	ck_assert_str_eq(p.unit, "cron.service");
}
END_TEST

START_TEST(test_v2_user_service)
{
	/* The user manager is a unit too; the innermost one wins. */
	struct parsed p = parse("0::/user.slice/user-1000.slice/"
	    "user@1000.service/app.slice/foo.service\n");

	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.path, "/user.slice/user-1000.slice/"
	    "user@1000.service/app.slice/foo.service");
	ck_assert_str_eq(p.unit, "foo.service");
}
END_TEST

START_TEST(test_v2_scope_and_slices)
{
	struct parsed p;

	p = parse("0::/user.slice/user-1000.slice/session-3.scope\n");
	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.unit, "session-3.scope");
	/* An app scope under the user manager, no newline at the end. */
	p = parse("0::/user.slice/user-1000.slice/user@1000.service/"
	    "app.slice/app-gnome-firefox-1234.scope");
	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.unit, "app-gnome-firefox-1234.scope");
	/* Only slices: no unit.  A sub-cgroup inside a service still
	 * belongs to the service. */
	p = parse("0::/user.slice/user-1000.slice\n");
	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.unit, "");
	p = parse("0::/system.slice/docker.service/payload\n");
	ck_assert_str_eq(p.unit, "docker.service");
	p = parse("0::/system.slice/dev-sda2.swap\n");
	ck_assert_str_eq(p.unit, "dev-sda2.swap");
	p = parse("0::/system.slice/.service\n");
	ck_assert_str_eq(p.unit, "");
}
END_TEST

START_TEST(test_v2_root_and_deleted)
{
	struct parsed p = parse("0::/\n");

	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.path, "/");
	ck_assert_str_eq(p.unit, "");
	p = parse("0::/system.slice/gone.service (deleted)\n");
	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.path, "/system.slice/gone.service");
	ck_assert_str_eq(p.unit, "gone.service");
}
END_TEST

START_TEST(test_v1_name_systemd)
{
	struct parsed p = parse(
	    "12:cpuset:/\n"
	    "11:memory:/user.slice/user-1000.slice/session-2.scope\n"
	    "3:cpu,cpuacct:/user.slice\n"
	    "1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n");

	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.path, "/user.slice/user-1000.slice/session-2.scope");
	ck_assert_str_eq(p.unit, "session-2.scope");
}
END_TEST

START_TEST(test_hybrid_prefers_v2)
{
	struct parsed p = parse(
	    "1:name=systemd:/system.slice/old.service\n"
	    "0::/system.slice/new.service\n");

	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.path, "/system.slice/new.service");
	ck_assert_str_eq(p.unit, "new.service");
}
END_TEST

START_TEST(test_garbage)
{
	static const char nul[] = "0::/a\0b.service\n";
	char path[8], unit[8];
	struct parsed p;

	p = parse("");
	ck_assert_int_eq(p.rc, -EINVAL);
	ck_assert_str_eq(p.path, "");
	ck_assert_str_eq(p.unit, "");
	ck_assert_int_eq(parse("hello world\n").rc, -EINVAL);
	ck_assert_int_eq(parse("0::\n").rc, -EINVAL);
	ck_assert_int_eq(parse("0::relative\n").rc, -EINVAL);
	ck_assert_int_eq(parse("4:memory:/x.service\n").rc, -EINVAL);
	ck_assert_int_eq(parse(":::::\n\n\n").rc, -EINVAL);
	ck_assert_int_eq(caller_parse_cgroup(nul, sizeof(nul) - 1, path,
	    sizeof(path), unit, sizeof(unit)), -EINVAL);
	/* Garbage around a good line does not hide it. */
	p = parse("junk\n0::/system.slice/a.service\nmore junk");
	ck_assert_int_eq(p.rc, 0);
	ck_assert_str_eq(p.unit, "a.service");
	/* Too long for the caller's buffers. */
	ck_assert_int_eq(caller_parse_cgroup("0::/system.slice/a.service", 26,
	    path, sizeof(path), unit, sizeof(unit)), -ENAMETOOLONG);
	ck_assert_str_eq(path, "");
	ck_assert_str_eq(unit, "");
	ck_assert_int_eq(caller_parse_cgroup("0::/longname.service", 20,
	    p.path, sizeof(p.path), unit, sizeof(unit)), 0);
	ck_assert_str_eq(p.path, "/longname.service");
	ck_assert_str_eq(unit, "");	/* would be cut: none rather */
}
END_TEST

START_TEST(test_from_socketpair)
{
	char exe[PATH_MAX], comm[64];
	struct caller c;
	ssize_t n;
	int sv[2], fd;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(caller_from_fd(sv[0], &c), 0);
	ck_assert(c.cred);
	ck_assert_int_eq(c.pid, getpid());
	ck_assert_uint_eq(c.uid, getuid());
	ck_assert_uint_eq(c.gid, getgid());

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	ck_assert_str_eq(c.exe, exe);

	fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	ck_assert_str_eq(c.comm, comm);

	/* Every Linux with cgroups mounted says where we are. */
	ck_assert(access("/proc/self/cgroup", R_OK) != 0 ||
	    c.cgroup[0] == '/');
	caller_release(&c);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_from_bad_fd)
{
	struct caller c;
	int fds[2];

	ck_assert_int_eq(caller_from_fd(-1, &c), -EBADF);
	ck_assert(!c.cred);
	ck_assert_str_eq(c.exe, "");
	/* A pipe is no socket. */
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(caller_from_fd(fds[0], &c), -ENOTSOCK);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

/* A call copies its connection's caller and may outlive it (the client
 * left): the copy keeps the strings, sized to what they are. */
START_TEST(test_copy_outlives)
{
	struct caller conn, call, none;
	char exe[600];

	memset(exe, 'a', sizeof(exe) - 1);
	exe[0] = '/';
	exe[sizeof(exe) - 1] = '\0';
	memset(&conn, 0, sizeof(conn));
	conn.pid = 7;
	conn.uid = 1000;
	conn.cred = true;
	caller_set(&conn, exe, "app", "/system.slice/app.service",
	    "app.service");
	caller_copy(&call, &conn);
	ck_assert_ptr_eq(call.exe, conn.exe);	/* held once */
	caller_release(&conn);
	ck_assert_str_eq(conn.exe, "");
	ck_assert_str_eq(call.exe, exe);
	ck_assert_str_eq(call.comm, "app");
	ck_assert_str_eq(call.cgroup, "/system.slice/app.service");
	ck_assert_str_eq(call.unit, "app.service");
	ck_assert_int_eq(call.pid, 7);
	ck_assert(call.cred);
	caller_release(&call);
	caller_release(&call);		/* twice is harmless */
	ck_assert_str_eq(call.unit, "");

	/* Nothing known: empty strings, nothing held. */
	memset(&none, 0, sizeof(none));
	caller_set(&none, NULL, "", NULL, NULL);
	ck_assert_str_eq(none.exe, "");
	ck_assert_str_eq(none.comm, "");
	ck_assert_ptr_null(none.strs);
}
END_TEST

START_TEST(test_describe)
{
	struct caller c;
	char out[256], small[12];
	size_t n;

	memset(&c, 0, sizeof(c));
	c.cred = true;
	c.uid = 1000;
	c.pid = 42;
	caller_set(&c, "/usr/bin/python3.11", "python3", NULL, "foo.service");
	n = caller_describe(&c, out, sizeof(out));
	ck_assert_str_eq(out, "uid=1000 pid=42 exe=/usr/bin/python3.11"
	    " unit=foo.service");
	ck_assert_uint_eq(n, strlen(out));

	/* comm stands in for an unreadable exe; no unit, no field. */
	caller_set(&c, NULL, "python3", NULL, NULL);
	caller_describe(&c, out, sizeof(out));
	ck_assert_str_eq(out, "uid=1000 pid=42 comm=python3");

	/* A name cannot forge a log line or a field. */
	caller_set(&c, "/tmp/a b\nuid=0\\\xc3\xa9", "python3", NULL, NULL);
	caller_describe(&c, out, sizeof(out));
	ck_assert_str_eq(out, "uid=1000 pid=42"
	    " exe=/tmp/a\\x20b\\x0auid=0\\x5c\\xc3\\xa9");

	caller_release(&c);
	memset(&c, 0, sizeof(c));
	caller_describe(&c, out, sizeof(out));
	ck_assert_str_eq(out, "uid=? pid=?");

	/* Cut short, still terminated, and never in an escape's middle. */
	c.cred = true;
	c.uid = 1;
	c.pid = 2;
	caller_set(&c, "  ", NULL, NULL, NULL);
	n = caller_describe(&c, small, sizeof(small));
	ck_assert_str_eq(small, "uid=1 pid=2");
	ck_assert_uint_eq(n, 11);
	n = caller_describe(&c, out, 17);
	ck_assert_str_eq(out, "uid=1 pid=2 exe=");
	ck_assert_uint_eq(caller_describe(&c, out, 0), 0);
	caller_release(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("caller");
	TCase *tc = tcase_create("caller");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_v2_system_service);
	tcase_add_test(tc, test_v2_user_service);
	tcase_add_test(tc, test_v2_scope_and_slices);
	tcase_add_test(tc, test_v2_root_and_deleted);
	tcase_add_test(tc, test_v1_name_systemd);
	tcase_add_test(tc, test_hybrid_prefers_v2);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_from_socketpair);
	tcase_add_test(tc, test_from_bad_fd);
	tcase_add_test(tc, test_describe);
	tcase_add_test(tc, test_copy_outlives);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
