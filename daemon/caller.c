#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caller.h"
#include "util.h"

#define CGROUP_TEXT_MAX	8192	/* v1 has a dozen lines; v2 one */
#define DELETED		" (deleted)"

/* The unit types that own a cgroup.  Slices do too, but they only group
 * units: a route wants the service, not the slice it sits in. */
static const char *const unit_suffixes[] = {
	".service", ".scope", ".socket", ".mount", ".swap",
};

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool
is_unit(const char *s, size_t n)
{
	size_t i, k;

	for (i = 0; i < ARRAY_SIZE(unit_suffixes); i++) {
		k = strlen(unit_suffixes[i]);
		/* A name, then the suffix: ".service" alone is not a unit. */
		if (n > k && ends_with(s, n, unit_suffixes[i]))
			return true;
	}
	return false;
}

/* Is the comma-separated controller list ctrls[0..n) naming systemd's
 * own v1 hierarchy? */
static bool
has_name_systemd(const char *ctrls, size_t n)
{
	static const char want[] = "name=systemd";
	const char *end = ctrls + n, *comma;
	size_t k;

	while (ctrls < end) {
		if ((comma = memchr(ctrls, ',', (size_t)(end - ctrls))) == NULL)
			comma = end;
		k = (size_t)(comma - ctrls);
		if (k == sizeof(want) - 1 && memcmp(ctrls, want, k) == 0)
			return true;
		ctrls = comma + 1;
	}
	return false;
}

/* The innermost unit of path[0..n) into unit, or "" (also when it does
 * not fit: a cut unit name would match the wrong routes). */
static void
unit_of(const char *path, size_t n, char *unit, size_t unitlen)
{
	const char *end = path + n, *p = path, *slash, *best = NULL;
	size_t k, bestlen = 0;

	while (p < end) {
		if ((slash = memchr(p, '/', (size_t)(end - p))) == NULL)
			slash = end;
		k = (size_t)(slash - p);
		if (is_unit(p, k)) {
			best = p;
			bestlen = k;
		}
		p = slash + 1;
	}
	if (unitlen == 0)
		return;
	unit[0] = '\0';
	if (best != NULL && bestlen < unitlen) {
		memcpy(unit, best, bestlen);
		unit[bestlen] = '\0';
	}
}

int
caller_parse_cgroup(const char *text, size_t len, char *path,
    size_t pathlen, char *unit, size_t unitlen)
{
	const char *end = text + len, *line, *eol, *c1, *c2;
	const char *v2 = NULL, *v1 = NULL, *p;
	size_t v2len = 0, v1len = 0, n;

	if (pathlen > 0)
		path[0] = '\0';
	if (unitlen > 0)
		unit[0] = '\0';
	for (line = text; line < end; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			eol = end;
		n = (size_t)(eol - line);
		if (memchr(line, '\0', n) != NULL)
			continue;
		/* "ID:CONTROLLERS:PATH"; the path may itself hold ':'. */
		if ((c1 = memchr(line, ':', n)) == NULL || (c2 = memchr(c1 + 1,
		    ':', (size_t)(eol - c1 - 1))) == NULL || c2 + 1 == eol ||
		    c2[1] != '/')
			continue;
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
			v2 = c2 + 1;
			v2len = (size_t)(eol - v2);
		} else if (v1 == NULL && has_name_systemd(c1 + 1,
		    (size_t)(c2 - c1 - 1))) {
			v1 = c2 + 1;
			v1len = (size_t)(eol - v1);
		}
	}
	if (v2 != NULL) {
		p = v2;
		n = v2len;
	} else if (v1 != NULL) {
		p = v1;
		n = v1len;
	} else
		return -EINVAL;
	if (ends_with(p, n, DELETED))
		n -= sizeof(DELETED) - 1;
	if (n >= pathlen)
		return -ENAMETOOLONG;
	memcpy(path, p, n);
	path[n] = '\0';
	unit_of(p, n, unit, unitlen);
	return 0;
}

/* Up to size - 1 bytes of dirfd/name, NUL-terminated; the length, or -1. */
static ssize_t
read_small(int dirfd, const char *name, char *buf, size_t size)
{
	size_t off = 0;
	ssize_t r;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while (off < size - 1) {
		r = read(fd, buf + off, size - 1 - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	buf[off] = '\0';
	return (ssize_t)off;
}

static void
read_exe(int dirfd, char *exe)
{
	ssize_t n;

	n = readlinkat(dirfd, "exe", exe, CALLER_EXE_MAX);
	/* A full buffer may be a cut path: better none than a wrong one. */
	if (n <= 0 || (size_t)n >= CALLER_EXE_MAX) {
		exe[0] = '\0';
		return;
	}
	if (ends_with(exe, (size_t)n, DELETED))
		n -= (ssize_t)(sizeof(DELETED) - 1);
	exe[n] = '\0';
}

/* The kernel keeps 15 bytes of a name and adds a newline. */
static void
read_comm(int dirfd, char *comm)
{
	char buf[CALLER_COMM_MAX + 1];
	ssize_t n;

	if ((n = read_small(dirfd, "comm", buf, sizeof(buf))) <= 0)
		return;
	if (buf[n - 1] == '\n')
		n--;
	if ((size_t)n >= CALLER_COMM_MAX)
		n = CALLER_COMM_MAX - 1;
	memcpy(comm, buf, (size_t)n);
	comm[n] = '\0';
}

static void
read_cgroup(int dirfd, char *cgroup, char *unit)
{
	char buf[CGROUP_TEXT_MAX], *nl;
	ssize_t n;

	if ((n = read_small(dirfd, "cgroup", buf, sizeof(buf))) <= 0)
		return;
	/* A full buffer may end in half a line: parse whole lines only. */
	if ((size_t)n == sizeof(buf) - 1 &&
	    (nl = memrchr(buf, '\n', (size_t)n)) != NULL)
		n = nl - buf;
	caller_parse_cgroup(buf, (size_t)n, cgroup, CALLER_CGROUP_MAX, unit,
	    CALLER_UNIT_MAX);
}

/* The strings of a caller, one after another, and how many callers share
 * them. */
struct caller_strs {
	unsigned int	 refs;
	char		 s[];
};

static void
caller_empty(struct caller *c)
{
	c->exe = c->comm = c->cgroup = c->unit = "";
	c->strs = NULL;
}

void
caller_release(struct caller *c)
{
	if (c->strs != NULL && --c->strs->refs == 0)
		free(c->strs);
	caller_empty(c);
}

void
caller_copy(struct caller *dst, const struct caller *src)
{
	*dst = *src;
	if (dst->strs != NULL)
		dst->strs->refs++;
}

void
caller_set(struct caller *c, const char *exe, const char *comm,
    const char *cgroup, const char *unit)
{
	const char *in[4] = { exe, comm, cgroup, unit };
	const char **out[4] = { &c->exe, &c->comm, &c->cgroup, &c->unit };
	struct caller_strs *strs;
	size_t len[4], total = 0, off = 0;
	int i;

	for (i = 0; i < 4; i++) {
		if (in[i] == NULL)
			in[i] = "";
		total += (len[i] = strlen(in[i])) + 1;
	}
	/* A peer with none of them (gone, or outside our pid namespace)
	 * costs nothing. */
	if (total == 4) {
		caller_release(c);
		return;
	}
	strs = xcalloc(1, sizeof(*strs) + total);
	strs->refs = 1;
	for (i = 0; i < 4; i++) {
		memcpy(strs->s + off, in[i], len[i] + 1);
		off += len[i] + 1;
	}
	caller_release(c);
	c->strs = strs;
	for (i = 0, off = 0; i < 4; i++) {
		*out[i] = strs->s + off;
		off += len[i] + 1;
	}
}

/* The /proc fields of pid into c, whose strings are empty. */
static void
read_proc(pid_t pid, struct caller *c)
{
	char dir[32], exe[CALLER_EXE_MAX], comm[CALLER_COMM_MAX];
	char cgroup[CALLER_CGROUP_MAX], unit[CALLER_UNIT_MAX];
	int dirfd;

	snprintf(dir, sizeof(dir), "/proc/%ld", (long)pid);
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	exe[0] = comm[0] = cgroup[0] = unit[0] = '\0';
	read_exe(dirfd, exe);
	read_comm(dirfd, comm);
	read_cgroup(dirfd, cgroup, unit);
	close(dirfd);
	caller_set(c, exe, comm, cgroup, unit);
}

int
caller_from_pid(pid_t pid, uid_t uid, gid_t gid, struct caller *c)
{
	memset(c, 0, sizeof(*c));
	caller_empty(c);
	c->pid = pid;
	c->uid = uid;
	c->gid = gid;
	if (pid > 0)
		read_proc(pid, c);
	return 0;
}

int
caller_from_fd(int fd, struct caller *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	memset(c, 0, sizeof(*c));
	caller_empty(c);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (len != sizeof(uc))
		return -EPROTO;
	c->pid = uc.pid;
	c->uid = uc.uid;
	c->gid = uc.gid;
	c->cred = true;
	/* pid 0: the peer is outside our pid namespace, /proc cannot help. */
	if (c->pid > 0)
		read_proc(c->pid, c);
	return 0;
}

/* Appends to out[*off..outlen), stopping short rather than overflowing;
 * an escape is never cut in half. */
static void
put(char *out, size_t outlen, size_t *off, const char *s, bool escape)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char ch;
	size_t need;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		need = escape && (ch <= ' ' || ch >= 0x7f || ch == '\\') ?
		    4 : 1;
		if (*off + need >= outlen)
			break;
		if (need == 1) {
			out[(*off)++] = (char)ch;
			continue;
		}
		out[(*off)++] = '\\';
		out[(*off)++] = 'x';
		out[(*off)++] = hex[ch >> 4];
		out[(*off)++] = hex[ch & 0xf];
	}
	out[*off] = '\0';
}

size_t
caller_describe(const struct caller *c, char *out, size_t outlen)
{
	char num[64];
	size_t off = 0;

	if (outlen == 0)
		return 0;
	out[0] = '\0';
	if (c->cred) {
		snprintf(num, sizeof(num), "uid=%lu pid=%ld",
		    (unsigned long)c->uid, (long)c->pid);
		put(out, outlen, &off, num, false);
	} else
		put(out, outlen, &off, "uid=? pid=?", false);
	/* A zeroed caller (never filled) has no strings at all. */
	if (c->exe != NULL && c->exe[0] != '\0') {
		put(out, outlen, &off, " exe=", false);
		put(out, outlen, &off, c->exe, true);
	} else if (c->comm != NULL && c->comm[0] != '\0') {
		put(out, outlen, &off, " comm=", false);
		put(out, outlen, &off, c->comm, true);
	}
	if (c->unit != NULL && c->unit[0] != '\0') {
		put(out, outlen, &off, " unit=", false);
		put(out, outlen, &off, c->unit, true);
	}
	return off;
}

bool
caller_is(const char *want, const char *comm, const char *exe,
    const char *unit, long pid)
{
	const char *base = strrchr(exe, '/');
	char num[24];

	snprintf(num, sizeof(num), "%ld", pid);
	return strcmp(want, comm) == 0 || (exe[0] != '\0' &&
	    (strcmp(want, exe) == 0 || (base && strcmp(want, base + 1) ==
	    0))) || (unit[0] != '\0' && strcmp(want, unit) == 0) ||
	    (pid > 0 && strcmp(want, num) == 0);
}
