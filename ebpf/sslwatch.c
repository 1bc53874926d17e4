/* The bypass watch, user side (bypass.h): loads sslwatch.bpf.c, attaches
 * it to each libssl copy that processes have mapped, and keeps a table of
 * who talks to which intercepted host from the records it sends.
 *
 * Copies are found in /proc/PID/maps, so that a container's own libssl or
 * a Python wheel's bundled one is watched as well as the system's; one
 * set of uprobes per file (device and inode) covers every process, now
 * and later, that maps it.  Each file is reached through the process's
 * /proc/PID/root (another mount namespace), or /proc/PID/map_files when
 * it has been deleted since (a library upgraded under a running
 * program), and attached through an fd of ours, so that the symbols are
 * read from the very file the probes land on. */
#include <sys/types.h>
#include <sys/sysmacros.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "util.h"
#include "bypass.h"
#include "ebpf.h"
#include "sslwatch.h"
#include "sslwatch.skel.h"

#define COPIES_MAX	64	/* libssl files attached (each costs 8 fds) */
#define SCAN_FRESH	64	/* maps of new processes read per rescan */
#define SCAN_AGAIN	16	/* ... and of known ones, in turn */
#define MAPS_LINE	4352	/* PATH_MAX and the fields before it */

enum prog { P_CTRL, P_FREE, P_WRITE, P_READ, P_READ_EX, P_READ_RET,
    P_READ_EX_RET };

/* What every copy is probed with.  A copy without the _ex functions
 * (OpenSSL before 1.1.1) still has the rest. */
static const struct probe {
	const char	*func;
	enum prog	 prog;
	bool		 ret;
} probes[] = {
	{ "SSL_ctrl",		P_CTRL,		false },
	{ "SSL_free",		P_FREE,		false },
	{ "SSL_write",		P_WRITE,	false },
	{ "SSL_write_ex",	P_WRITE,	false },
	{ "SSL_read",		P_READ,		false },
	{ "SSL_read",		P_READ_RET,	true },
	{ "SSL_read_ex",	P_READ_EX,	false },
	{ "SSL_read_ex",	P_READ_EX_RET,	true },
};
#define NPROBES	ARRAY_SIZE(probes)

struct copy {
	uint64_t	 dev;		/* as /proc/PID/maps has it */
	uint64_t	 ino;
	struct bpf_link	*link[NPROBES];
};

struct entry {
	struct bypass	 b;
	uint64_t	 seq;		/* when last seen, in events */
};

struct bypass_watch {
	struct sslwatch		*skel;
	struct ring_buffer	*rb;
	pid_t			 self;
	struct sslw_host	 host[SSLW_HOSTS_MAX];	/* what `hosts` holds */
	size_t			 nhost;
	struct copy		 copy[COPIES_MAX];	/* attached or tried */
	size_t			 ncopy;
	pid_t			*known;		/* maps read once, sorted */
	size_t			 nknown;
	pid_t			 cursor;	/* last known pid reread */
	bool			 denied;	/* a libssl not ours to probe */
	bool			 full;		/* COPIES_MAX said once */
	struct entry		 ent[BYPASS_MAX];
	size_t			 nent;
	uint64_t		 seq;
	struct bypass		 out[BYPASS_MAX];	/* bypass_list's */
	struct bypass_info	 info;
};

static void
say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static struct bpf_program *
prog_of(const struct bypass_watch *bw, enum prog p)
{
	switch (p) {
	case P_CTRL:
		return bw->skel->progs.sslw_ctrl;
	case P_FREE:
		return bw->skel->progs.sslw_free;
	case P_WRITE:
		return bw->skel->progs.sslw_write;
	case P_READ:
		return bw->skel->progs.sslw_read;
	case P_READ_EX:
		return bw->skel->progs.sslw_read_ex;
	case P_READ_RET:
		return bw->skel->progs.sslw_read_ret;
	case P_READ_EX_RET:
		return bw->skel->progs.sslw_read_ex_ret;
	}
	return NULL;
}

/* A host name or "*.suffix" as the kernel side compares it: lower case,
 * no trailing dot, zero padded.  -EINVAL if it cannot be one. */
static int
host_key(const char *name, struct sslw_host *k)
{
	size_t i, len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof(k->name))
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	for (i = 0; i < len; i++) {
		if (name[i] == '*' && (i != 0 || len < 3 || name[1] != '.'))
			return -EINVAL;		/* only a leading "*." */
		k->name[i] = (char)tolower((unsigned char)name[i]);
	}
	return 0;
}

static bool
host_in(const struct sslw_host *set, size_t n, const struct sslw_host *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(set[i].name, k->name, sizeof(k->name)) == 0)
			return true;
	return false;
}

int
bypass_set_hosts(struct bypass_watch *bw, const char *const *hosts,
    size_t nhosts)
{
	struct sslw_host *set;
	struct bpf_map *map = bw->skel->maps.hosts;
	size_t i, n = 0;
	uint8_t one = 1;
	int err;

	if (nhosts > SSLW_HOSTS_MAX)
		return -E2BIG;
	if (nhosts > 0 && hosts == NULL)
		return -EINVAL;
	if ((set = calloc(SSLW_HOSTS_MAX, sizeof(*set))) == NULL)
		return -ENOMEM;
	for (i = 0; i < nhosts; i++) {
		if (hosts[i] == NULL) {
			free(set);
			return -EINVAL;
		}
		if (host_key(hosts[i], &set[n]) != 0) {
			log_warnx("bypass watch: cannot watch host \"%s\"",
			    hosts[i]);
			continue;
		}
		if (!host_in(set, n, &set[n]))
			n++;
	}
	/* Add before removing, so that a host in both sets stays watched. */
	for (i = 0; i < n; i++) {
		err = bpf_map__update_elem(map, &set[i], sizeof(set[i]), &one,
		    sizeof(one), BPF_ANY);
		if (err != 0) {
			while (i-- > 0)
				if (!host_in(bw->host, bw->nhost, &set[i]))
					(void)bpf_map__delete_elem(map, &set[i],
					    sizeof(set[i]), 0);
			free(set);
			return err;
		}
	}
	for (i = 0; i < bw->nhost; i++) {
		if (host_in(set, n, &bw->host[i]))
			continue;
		err = bpf_map__delete_elem(map, &bw->host[i],
		    sizeof(bw->host[i]), 0);
		if (err != 0 && err != -ENOENT)
			log_debug("bypass watch: host %s stays in the kernel: "
			    "%s", bw->host[i].name, strerror(-err));
	}
	memcpy(bw->host, set, n * sizeof(*set));
	bw->nhost = n;
	free(set);
	return 0;
}

/* The kernel keeps following a connection to a host dropped by a reload
 * until its SSL_free; this is where such records stop. */
static bool
host_wanted(const struct bypass_watch *bw, const char *host)
{
	size_t i, len = strlen(host);

	for (i = 0; i < bw->nhost; i++)
		if (host_match(bw->host[i].name, host, len))
			return true;
	return false;
}

static void
exe_of(uint32_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	buf[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "/proc/%u/exe", pid) >=
	    sizeof(path))
		return;
	n = readlink(path, buf, len - 1);
	buf[n < 0 ? 0 : n] = '\0';
}

/* The entry for (pid, host), made if new, the least recently seen one
 * giving way when the table is full.  A pid reused by another program
 * within the table's memory would inherit the entry: rare, and the
 * counts say so plainly enough. */
static struct entry *
entry_get(struct bypass_watch *bw, uint32_t pid, const char *host,
    const char *comm, int64_t now)
{
	struct entry *e;
	size_t i, old = 0;

	for (i = 0; i < bw->nent; i++) {
		e = &bw->ent[i];
		if (e->b.pid == pid && strcmp(e->b.host, host) == 0)
			return e;
		if (e->seq < bw->ent[old].seq)
			old = i;
	}
	e = bw->nent < BYPASS_MAX ? &bw->ent[bw->nent++] : &bw->ent[old];
	memset(e, 0, sizeof(*e));
	e->b.pid = pid;
	/* The event's fields need not end in a NUL. */
	snprintf(e->b.comm, sizeof(e->b.comm), "%.*s",
	    (int)sizeof(e->b.comm) - 1, comm);
	snprintf(e->b.host, sizeof(e->b.host), "%.*s",
	    (int)sizeof(e->b.host) - 1, host);
	exe_of(pid, e->b.exe, sizeof(e->b.exe));
	e->b.first_seen = now;
	return e;
}

static int
on_event(void *ctx, void *data, size_t len)
{
	struct bypass_watch *bw = ctx;
	const struct sslw_event *ev = data;
	char host[BYPASS_HOST_MAX], comm[sizeof(ev->comm) + 1];
	struct entry *e;
	int64_t now;
	uint64_t us;

	bw->info.events++;
	if (len < sizeof(*ev) || ev->pid == (uint32_t)bw->self)
		return 0;
	/* The kernel pads both with zeros; never trust that here. */
	memcpy(host, ev->host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	memcpy(comm, ev->comm, sizeof(ev->comm));
	comm[sizeof(comm) - 1] = '\0';
	if (!host_wanted(bw, host))
		return 0;
	now = (int64_t)(now_real_ns() / 1000000000);
	e = entry_get(bw, ev->pid, host, comm, now);
	e->seq = ++bw->seq;
	e->b.last_seen = now;
	switch (ev->type) {
	case SSLW_EV_REQ:
		e->b.calls++;
		break;
	case SSLW_EV_ANSWER:
		us = ev->latency_ns / 1000;
		e->b.answered++;
		e->b.last_us = us;
		if (us > e->b.max_us)
			e->b.max_us = us;
		e->b.sum_us += us;
		break;
	default:
		break;
	}
	return 0;
}

static void
note(struct bypass_watch *bw, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The first degradation is kept for bypass_info, every one logged. */
static void
note(struct bypass_watch *bw, const char *fmt, ...)
{
	char msg[sizeof(bw->info.note)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("bypass watch: %s", msg);
	if (bw->info.note[0] == '\0')
		memcpy(bw->info.note, msg, sizeof(msg));
}

static bool
is_libssl(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	/* libssl.so.3, libssl.so.1.1, a wheel's libssl-1a2b3c4d.so.1.1;
	 * not NSS's libssl3.so, which is another API. */
	return strncmp(base, "libssl", 6) == 0 &&
	    (base[6] == '.' || base[6] == '-') && strstr(base, ".so") != NULL;
}

static struct copy *
copy_find(struct bypass_watch *bw, uint64_t dev, uint64_t ino)
{
	size_t i;

	for (i = 0; i < bw->ncopy; i++)
		if (bw->copy[i].dev == dev && bw->copy[i].ino == ino)
			return &bw->copy[i];
	return NULL;
}

/* Attach to the file pid maps at [start, end) as `path`.  1 if at least
 * one probe took.  A file that cannot be opened (its process is gone) is
 * not remembered: another process may show it again. */
static int
copy_attach(struct bypass_watch *bw, pid_t pid, const char *path,
    bool deleted, unsigned long start, unsigned long end, uint64_t dev,
    uint64_t ino)
{
	char via[MAPS_LINE + 64], fdpath[64];
	struct bpf_link *l;
	struct copy *c;
	unsigned took = 0;
	size_t i;
	int fd, n;

	if (bw->ncopy == COPIES_MAX) {
		if (!bw->full)
			note(bw, "more than %d libssl copies; %s and any "
			    "further ones are not watched", COPIES_MAX, path);
		bw->full = true;
		return 0;
	}
	if (deleted)
		n = snprintf(via, sizeof(via), "/proc/%d/map_files/%lx-%lx",
		    (int)pid, start, end);
	else
		n = snprintf(via, sizeof(via), "/proc/%d/root%s", (int)pid,
		    path);
	if (n < 0 || (size_t)n >= sizeof(via))
		return 0;
	if ((fd = open(via, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == EACCES || errno == EPERM)
			bw->denied = true;
		log_debug("bypass watch: %s: %s", via, strerror(errno));
		return 0;
	}
	n = snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (n < 0 || (size_t)n >= sizeof(fdpath)) {
		close(fd);
		return 0;
	}
	c = &bw->copy[bw->ncopy++];
	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->ino = ino;
	for (i = 0; i < NPROBES; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o,
		    .func_name = probes[i].func,
		    .retprobe = probes[i].ret);

		l = bpf_program__attach_uprobe_opts(prog_of(bw, probes[i].prog),
		    -1, fdpath, 0, &o);
		if (l == NULL) {
			bw->info.probes_failed++;
			if (errno == EACCES || errno == EPERM)
				bw->denied = true;
			if (errno == ENOENT)
				note(bw, "%s missing in %s", probes[i].func,
				    path);
			else
				note(bw, "%s%s refused in %s: %s",
				    probes[i].func, probes[i].ret ?
				    " (return)" : "", path, strerror(errno));
			continue;
		}
		c->link[i] = l;
		bw->info.probes++;
		took++;
	}
	close(fd);
	if (took == 0)
		return 0;
	bw->info.libs++;
	log_info("bypass watch: watching %s%s (pid %d's), %u of %zu probes",
	    path, deleted ? " (deleted)" : "", (int)pid, took, NPROBES);
	return 1;
}

/* Read one process's maps; how many new copies were attached. */
static int
scan_pid(struct bypass_watch *bw, pid_t pid)
{
	char path[64], perms[5], *line, *file;
	unsigned long start, end, inode;
	unsigned int major, minor;
	size_t len;
	FILE *f;
	bool deleted;
	int off, found = 0;

	if ((size_t)snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid) >=
	    sizeof(path))
		return 0;
	if ((f = fopen(path, "re")) == NULL)
		return 0;		/* gone, or not ours to read */
	if ((line = malloc(MAPS_LINE)) == NULL) {
		fclose(f);
		return 0;
	}
	while (fgets(line, MAPS_LINE, f) != NULL) {
		len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			int ch;

			/* Longer than a path can be: skip the rest. */
			while ((ch = getc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		line[--len] = '\0';
		if (strstr(line, "libssl") == NULL)
			continue;
		/* start-end perms offset major:minor inode path */
		off = -1;
		if (sscanf(line, "%lx-%lx %4s %*x %x:%x %lu %n", &start, &end,
		    perms, &major, &minor, &inode, &off) != 6 || off < 0)
			continue;
		file = line + off;
		/* One mapping per file is enough: the executable one. */
		if (file[0] != '/' || perms[2] != 'x')
			continue;
		deleted = false;
		if (len - (size_t)off > 10 &&
		    strcmp(line + len - 10, " (deleted)") == 0) {
			line[len - 10] = '\0';
			deleted = true;
		}
		if (!is_libssl(file) ||
		    copy_find(bw, makedev(major, minor), inode) != NULL)
			continue;
		found += copy_attach(bw, pid, file, deleted, start, end,
		    makedev(major, minor), inode);
	}
	free(line);
	fclose(f);
	return found;
}

static int
pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* The processes now, sorted. */
static int
list_pids(pid_t **out, size_t *nout)
{
	struct dirent *d;
	unsigned long v;
	pid_t *pids = NULL, *np;
	size_t n = 0, cap = 0;
	char *end;
	DIR *dir;

	if ((dir = opendir("/proc")) == NULL)
		return -errno;
	while ((d = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		errno = 0;
		v = strtoul(d->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || v == 0 || v > INT32_MAX)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 512;
			if ((np = reallocarray(pids, cap, sizeof(*pids))) ==
			    NULL) {
				free(pids);
				closedir(dir);
				return -ENOMEM;
			}
			pids = np;
		}
		pids[n++] = (pid_t)v;
	}
	closedir(dir);
	if (n > 0)
		qsort(pids, n, sizeof(*pids), pid_cmp);
	*out = pids;
	*nout = n;
	return 0;
}

/* Read the maps of up to `fresh` processes not read before, then of up
 * to `again` known ones, in pid order from where the last call stopped:
 * a process that maps libssl after its first look is found on a later
 * round.  A pid reused since the last call passes for known until its
 * turn comes. */
static int
rescan(struct bypass_watch *bw, size_t fresh, size_t again)
{
	pid_t *pids = NULL, *keep;
	size_t npids = 0, nkeep = 0, i, j, first;
	int err, found = 0;

	if ((err = list_pids(&pids, &npids)) != 0)
		return err;
	if ((keep = calloc(npids + 1, sizeof(*keep))) == NULL) {
		free(pids);
		return -ENOMEM;
	}
	for (i = j = 0; i < npids; i++) {
		while (j < bw->nknown && bw->known[j] < pids[i])
			j++;
		if (j < bw->nknown && bw->known[j] == pids[i]) {
			keep[nkeep++] = pids[i];
			continue;
		}
		if (fresh == 0)
			continue;	/* next round */
		fresh--;
		found += scan_pid(bw, pids[i]);
		keep[nkeep++] = pids[i];
	}
	for (first = 0; first < nkeep && keep[first] <= bw->cursor; first++)
		;
	for (i = 0; i < again && i < nkeep; i++) {
		j = (first + i) % nkeep;
		found += scan_pid(bw, keep[j]);
		bw->cursor = keep[j];
	}
	free(pids);
	free(bw->known);
	bw->known = keep;
	bw->nknown = nkeep;
	bw->info.scans++;
	return found;
}

int
bypass_rescan(struct bypass_watch *bw)
{
	return rescan(bw, SCAN_FRESH, SCAN_AGAIN);
}

int
bypass_open(struct bypass_watch **out, pid_t self, const char *const *hosts,
    size_t nhosts, char *why, size_t whylen)
{
	struct bypass_watch *bw;
	struct bpf_program *p;
	const char *no;
	int err;

	*out = NULL;
	say(why, whylen, "%s", "");
	if (nhosts > SSLW_HOSTS_MAX) {
		say(why, whylen, "more than %d intercepted hosts to watch",
		    SSLW_HOSTS_MAX);
		return -E2BIG;
	}
	if ((no = ebpf_unavailable()) != NULL) {
		say(why, whylen, "%s", no);
		return -EOPNOTSUPP;
	}
	ebpf_log_libbpf();
	if ((bw = calloc(1, sizeof(*bw))) == NULL) {
		say(why, whylen, "out of memory");
		return -ENOMEM;
	}
	bw->self = self;
	if ((bw->skel = sslwatch__open()) == NULL) {
		err = -errno;
		say(why, whylen, "could not open the BPF programs: %s",
		    strerror(-err));
		goto fail;
	}
	EBPF_SELF_NS_SET(bw->skel->rodata, self);
	/* Attached per libssl copy below, never by the skeleton. */
	bpf_object__for_each_program(p, bw->skel->obj)
		bpf_program__set_autoattach(p, false);
	if ((err = sslwatch__load(bw->skel)) != 0) {
		if (err > 0)
			err = -err;
		/* EPERM: no capability, or bpf() refused by a filter; the
		 * ring buffer probe would fail the same way and blame the
		 * kernel. */
		if (err == -EPERM || err == -EACCES)
			ebpf_explain(err, "load BPF programs", why, whylen);
		else if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF,
		    NULL) == 0)
			say(why, whylen, "kernel has no BPF ring buffer");
		else
			say(why, whylen, "the kernel refused the BPF programs "
			    "(%s); the debug log has libbpf's reasons",
			    strerror(-err));
		goto fail;
	}
	if ((err = bypass_set_hosts(bw, hosts, nhosts)) != 0) {
		say(why, whylen, "could not load the host names to watch: %s",
		    strerror(-err));
		goto fail;
	}
	bw->rb = ring_buffer__new(bpf_map__fd(bw->skel->maps.events),
	    on_event, bw, NULL);
	if (bw->rb == NULL) {
		err = -errno;
		say(why, whylen, "could not set up the BPF ring buffer: %s",
		    strerror(-err));
		goto fail;
	}
	/* The first look reads every process: what runs now matters most. */
	if ((err = rescan(bw, SIZE_MAX, 0)) < 0) {
		say(why, whylen, "could not list processes in /proc: %s",
		    strerror(-err));
		goto fail;
	}
	/* Loading needs less than attaching: CAP_BPF and CAP_PERFMON let
	 * the programs in, but perf refuses uprobes without CAP_SYS_ADMIN,
	 * and another user's /proc/PID/root needs CAP_SYS_PTRACE. */
	if (bw->info.libs == 0 && bw->denied) {
		say(why, whylen, "no permission to attach uprobes to libssl "
		    "(needs root, or CAP_SYS_ADMIN)");
		err = -EPERM;
		goto fail;
	}
	if (bw->info.libs == 0)
		say(why, whylen, "no libssl is in use on this host");
	*out = bw;
	return 0;
fail:
	bypass_close(bw);
	return err < 0 ? err : -EIO;
}

int
bypass_fd(const struct bypass_watch *bw)
{
	return ring_buffer__epoll_fd(bw->rb);
}

int
bypass_consume(struct bypass_watch *bw)
{
	return ring_buffer__consume(bw->rb);
}

/* Most recently seen first. */
static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return (x->seq < y->seq) - (x->seq > y->seq);
}

size_t
bypass_list(struct bypass_watch *bw, const struct bypass **out)
{
	size_t i;

	if (bw->nent > 0)
		qsort(bw->ent, bw->nent, sizeof(bw->ent[0]), entry_cmp);
	for (i = 0; i < bw->nent; i++)
		bw->out[i] = bw->ent[i].b;
	*out = bw->out;
	return bw->nent;
}

void
bypass_info(const struct bypass_watch *bw, struct bypass_info *out)
{
	uint64_t lost = 0;

	*out = bw->info;
	if (bw->skel->bss != NULL)
		lost = __atomic_load_n(&bw->skel->bss->sslw_dropped,
		    __ATOMIC_RELAXED);
	if (out->note[0] == '\0' && lost > 0)
		snprintf(out->note, sizeof(out->note), "%llu records lost: "
		    "the ring buffer was full", (unsigned long long)lost);
}

void
bypass_close(struct bypass_watch *bw)
{
	size_t i, j;

	if (bw == NULL)
		return;
	for (i = 0; i < bw->ncopy; i++)
		for (j = 0; j < NPROBES; j++)
			bpf_link__destroy(bw->copy[i].link[j]);
	ring_buffer__free(bw->rb);
	sslwatch__destroy(bw->skel);
	free(bw->known);
	free(bw);
}
