#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret_val)
{
	unsigned long long v;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret_val = v;
	return 0;
}

int
parse_int(const char *s, int min, int max, int *ret_val)
{
	uint64_t v;
	int r;

	if (min < 0)
		return -EINVAL;	/* negative numbers are never config */
	r = parse_u64(s, (uint64_t)min, (uint64_t)max, &v);
	if (r == 0)
		*ret_val = (int)v;
	return r;
}

/* Split "123unit" into the number and the unit suffix; shared by the
 * duration and size parsers. */
static int
split_unit(const char *s, uint64_t *ret_num, const char **ret_unit)
{
	char digits[32];
	size_t n = 0;

	while (s[n] != '\0' && isdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || n >= sizeof(digits))
		return n == 0 ? -EINVAL : -ERANGE;
	memcpy(digits, s, n);
	digits[n] = '\0';
	*ret_unit = s + n;
	while (**ret_unit == ' ')
		(*ret_unit)++;
	return parse_u64(digits, 0, UINT64_MAX / 4, ret_num);
}

static int
scale(uint64_t v, uint64_t mul, uint64_t *ret)
{
	if (mul != 0 && v > UINT64_MAX / mul)
		return -ERANGE;
	*ret = v * mul;
	return 0;
}

struct unit {
	const char	*name;
	uint64_t	 mul;
};

/* "<digits><unit>" with unit one of the table's names. */
static int
parse_units(const char *s, const struct unit *units, size_t n,
    uint64_t *ret)
{
	const char *unit;
	uint64_t v;
	size_t i;
	int r;

	if ((r = split_unit(s, &v, &unit)) < 0)
		return r;
	for (i = 0; i < n; i++)
		if (strcmp(unit, units[i].name) == 0)
			return scale(v, units[i].mul, ret);
	return -EINVAL;
}

int
parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	static const struct unit units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};

	return parse_units(s, units, ARRAY_SIZE(units), ret_ms);
}

int
parse_size(const char *s, uint64_t *ret_bytes)
{
	static const struct unit units[] = {
		{ "", 1 }, { "B", 1 },
		{ "K", 1ULL << 10 }, { "KB", 1ULL << 10 }, { "KiB", 1ULL << 10 },
		{ "M", 1ULL << 20 }, { "MB", 1ULL << 20 }, { "MiB", 1ULL << 20 },
		{ "G", 1ULL << 30 }, { "GB", 1ULL << 30 }, { "GiB", 1ULL << 30 },
	};

	return parse_units(s, units, ARRAY_SIZE(units), ret_bytes);
}

uint64_t
now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

uint64_t
now_mono_us(void)
{
	return now_mono_ns() / 1000;
}

uint64_t
now_mono_ms(void)
{
	return now_mono_us() / 1000;
}

uint64_t
now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

bool
str_case_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool
mem_case_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

bool
glob_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

bool
host_match(const char *pattern, const char *host, size_t hostlen)
{
	size_t plen;

	if (pattern[0] == '*' && pattern[1] == '.') {
		plen = strlen(pattern + 1);	/* ".suffix" */
		return hostlen > plen &&
		    strncasecmp(host + hostlen - plen, pattern + 1, plen) == 0;
	}
	return mem_case_eq(host, hostlen, pattern);
}

int
file_id_of(const char *path, struct file_id *ret_id)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	ret_id->dev = st.st_dev;
	ret_id->ino = st.st_ino;
	return 0;
}

/* Between the lstat and the unlink another process could still put its
 * own file there: a window of two system calls, against the seconds a
 * restart overlaps. */
int
unlink_own(const char *path, const struct file_id *id)
{
	struct file_id now;
	int r;

	if (id->ino == 0)
		return -ESTALE;
	if ((r = file_id_of(path, &now)) < 0)
		return r;
	if (now.dev != id->dev || now.ino != id->ino)
		return -ESTALE;
	return unlink(path) < 0 ? -errno : 0;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		fatal("calloc");
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		fatal("strndup");
	return p;
}

int
file_replace(const char *path, const void *data, size_t len, mode_t mode,
    uid_t uid, gid_t gid)
{
	char tmp[PATH_MAX];
	size_t off = 0;
	int fd, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchown(fd, uid, gid) < 0)
		r = -errno;
	while (r == 0 && off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else
			off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}
