/* Who is calling: the process at the other end of a Unix socket, as the
 * kernel tells it (SO_PEERCRED) and /proc describes it.  Routes are chosen
 * by these fields.
 *
 * The credentials are the peer's at connect() (or socketpair()) time and
 * cannot be forged; the /proc fields are read afterwards, so a peer that
 * execs something else in between, or exits and has its pid reused,
 * describes itself differently.  The three /proc reads go through one
 * directory handle so they at least describe the same process, and a peer
 * that is gone leaves them empty.  Good for choosing a route, not for
 * granting anything.
 *
 * /proc/PID/exe is readable only by the peer's own uid or with
 * CAP_SYS_PTRACE: a daemon running as its own user sees exe "" for other
 * users' programs, while comm and cgroup are readable by anyone. */
#ifndef LLMFB_CALLER_H
#define LLMFB_CALLER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct caller_strs;

/* Its strings are never NULL once filled (caller_from_*, caller_set,
 * caller_copy): "" when unknown.  They live in one block sized to them,
 * shared by every copy made with caller_copy and freed with the last
 * caller_release, so a connection and its calls hold them once, and a
 * call that outlives its connection keeps them.  Main loop only (the
 * count is not atomic).  A zeroed caller has NULL strings: fill it
 * before reading it (caller_describe alone takes one). */
struct caller {
	pid_t	 pid;		/* 0: unknown */
	uid_t	 uid;
	gid_t	 gid;
	bool	 cred;		/* pid/uid/gid came from SO_PEERCRED */
	/* "" when unreadable; a " (deleted)" suffix is stripped. */
	const char *exe;
	const char *comm;
	/* The v2 path, e.g. "/system.slice/foo.service". */
	const char *cgroup;
	/* The innermost systemd unit, e.g. "foo.service"; "" if none. */
	const char *unit;
	struct caller_strs *strs;	/* NULL: the strings are static "" */
};

/* What /proc gives that is kept: longer is left "" (a cut name would
 * match the wrong routes). */
#define CALLER_EXE_MAX		PATH_MAX
#define CALLER_COMM_MAX		16
#define CALLER_CGROUP_MAX	512
#define CALLER_UNIT_MAX		256

/* Fill c from the peer of connected Unix socket fd.  Returns 0, or -errno
 * when even SO_PEERCRED fails (c is then all empty); /proc reads that fail
 * leave their fields empty. */
int caller_from_fd(int fd, struct caller *c);
/* The same for a process the kernel named otherwise (an eBPF program at
 * its connect): cred stays false, since a process of that uid may have
 * exited and its pid been reused by the time /proc is read. */
int caller_from_pid(pid_t pid, uid_t uid, gid_t gid, struct caller *c);
/* Both overwrite c without releasing it: it is new, or released. */

/* Set c's strings (NULL: ""), releasing the ones it had; c must have been
 * filled or zeroed. */
void caller_set(struct caller *c, const char *exe, const char *comm,
    const char *cgroup, const char *unit);
/* dst (new, or released: it is overwritten) becomes a copy of src that
 * shares its strings. */
void caller_copy(struct caller *dst, const struct caller *src);
/* Let go of c's strings; c is then empty ("" strings), and may be
 * released again. */
void caller_release(struct caller *c);

/* From /proc/PID/cgroup text (cgroup v2 "0::/path", or v1 lines
 * "N:ctrls:/path": the "0::" line is preferred, else the name=systemd
 * one), the path and the innermost systemd unit: the last path component
 * that ends in .service, .scope, .socket, .mount or .swap (slices group
 * units, they are not one here).  "/system.slice/cron.service" gives
 * "cron.service"; "/user.slice/user-1000.slice/user@1000.service/
 * app.slice/foo.service" gives "foo.service"; "/" gives "".  A " (deleted)"
 * suffix (the cgroup was removed) is dropped.  text need not end in NUL
 * or a newline.  Returns 0; -EINVAL when no usable line is found,
 * -ENAMETOOLONG when the path does not fit (then path and unit are "").
 * A unit name that does not fit leaves unit "".  Pure. */
int caller_parse_cgroup(const char *text, size_t len, char *path,
    size_t pathlen, char *unit, size_t unitlen);

/* "uid=1000 pid=42 exe=/usr/bin/python3.11 unit=foo.service": a short
 * description for logs and records, one line.  comm stands in when exe is
 * unknown; empty fields are left out.  Bytes that could break a log line,
 * a key=value field or a JSON string (controls, spaces, '\', anything not
 * ASCII) are written as \xHH.
 * Always NUL-terminates when outlen > 0; returns strlen(out). */
size_t caller_describe(const struct caller *c, char *out, size_t outlen);

/* Whether a program is the one named: its command name, its executable
 * path or that path's base name, its systemd unit, or its pid.  For
 * operators' filters and faults, which name programs these ways. */
bool caller_is(const char *want, const char *comm, const char *exe,
    const char *unit, long pid);

#endif
