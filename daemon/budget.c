#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "budget.h"
#include "util.h"

#define HOUR_S		3600
#define DAY_S		86400
/* Open addressing with linear probing, at most half full, so a probe
 * always ends at an empty slot and stays short. */
#define BUDGET_SLOTS	(2 * BUDGET_MAX_KEYS)

struct entry {
	char		*key;
	uint32_t	 hash;
	int64_t		 hour;		/* the window hour_usd belongs to */
	double		 hour_usd;
	int64_t		 day;		/* the window day_usd belongs to */
	double		 day_usd;
	uint64_t	 seq;		/* budgets.seq at the last update */
};

/* Both arrays are allocated whole up front (about 260 KiB, mostly never
 * touched): the bound is small, and a fixed table needs no growth path. */
struct budgets {
	struct entry	*entry;		/* n of BUDGET_MAX_KEYS in use */
	size_t		 n;
	uint32_t	*slot;		/* BUDGET_SLOTS: entry index + 1; 0 empty */
	uint64_t	 seq;		/* counts updates: the eviction order */
	uint64_t	 dropped;
	bool		 dirty;
};

/* floor(now / width), also for times before 1970. */
static int64_t
window_of(time_t now, int64_t width)
{
	int64_t t = (int64_t)now;

	if (t >= 0)
		return t / width;
	return -((-(t + 1)) / width) - 1;
}

/* FNV-1a.  A local user can choose keys that collide (an executable's
 * path is one), but a probe still passes at most BUDGET_MAX_KEYS. */
static uint32_t
key_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t
slot_find(const struct budgets *b, const char *key, uint32_t h)
{
	size_t i = h & (BUDGET_SLOTS - 1);
	const struct entry *e;

	while (b->slot[i] != 0) {
		e = &b->entry[b->slot[i] - 1];
		if (e->hash == h && strcmp(e->key, key) == 0)
			break;
		i = (i + 1) & (BUDGET_SLOTS - 1);
	}
	return i;
}

static struct entry *
entry_find(const struct budgets *b, const char *key)
{
	size_t i = slot_find(b, key, key_hash(key));

	return b->slot[i] ? &b->entry[b->slot[i] - 1] : NULL;
}

/* Take slot i out of the index.  No tombstones: each later slot of the
 * probe run moves back into the hole unless that would put it before its
 * home (Knuth's Algorithm R), so the table never fills with dead slots. */
static void
slot_remove(struct budgets *b, size_t i)
{
	size_t j = i, home;

	for (;;) {
		j = (j + 1) & (BUDGET_SLOTS - 1);
		if (b->slot[j] == 0)
			break;
		home = b->entry[b->slot[j] - 1].hash & (BUDGET_SLOTS - 1);
		/* Still reachable from its home where it is? */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		b->slot[i] = b->slot[j];
		i = j;
	}
	b->slot[i] = 0;
}

/* The least recently updated entry.  Every update moves an entry's hour
 * to the current one, so an older hour means an older update; within an
 * hour seq orders them (keys loaded from the file get theirs in file
 * order, older than any update since). */
static size_t
victim(const struct budgets *b)
{
	size_t i, v = 0;

	for (i = 1; i < b->n; i++) {
		if (b->entry[i].hour < b->entry[v].hour ||
		    (b->entry[i].hour == b->entry[v].hour &&
		    b->entry[i].seq < b->entry[v].seq))
			v = i;
	}
	return v;
}

/* A new entry for key, with nothing spent in now's windows.  Takes
 * ownership of key.  Past BUDGET_MAX_KEYS, the least recently updated
 * entry makes room. */
static struct entry *
entry_new(struct budgets *b, char *key, time_t now)
{
	struct entry *e;
	size_t i;

	if (b->n == BUDGET_MAX_KEYS) {
		/* A scan of every key per eviction: evictions happen only
		 * at the limit, and a heap kept in order would cost every
		 * update instead. */
		i = victim(b);
		e = &b->entry[i];
		if (e->day == window_of(now, DAY_S) && e->day_usd > 0)
			b->dropped++;
		slot_remove(b, slot_find(b, e->key, e->hash));
		free(e->key);
	} else {
		i = b->n++;
		e = &b->entry[i];
	}
	e->key = key;
	e->hash = key_hash(key);
	e->hour = window_of(now, HOUR_S);
	e->hour_usd = 0;
	e->day = window_of(now, DAY_S);
	e->day_usd = 0;
	e->seq = ++b->seq;
	b->slot[slot_find(b, key, e->hash)] = (uint32_t)i + 1;
	return e;
}

static struct spend
spend_of(const struct entry *e, time_t now)
{
	struct spend s = { 0, 0 };

	if (e->hour == window_of(now, HOUR_S))
		s.hour = e->hour_usd;
	if (e->day == window_of(now, DAY_S))
		s.day = e->day_usd;
	return s;
}

/* Sums saturate rather than become infinite, which JSON cannot hold. */
static double
sum(double a, double b)
{
	double s = a + b;

	return isfinite(s) ? s : DBL_MAX;
}

struct budgets *
budgets_new(void)
{
	struct budgets *b = xcalloc(1, sizeof(*b));

	b->entry = xcalloc(BUDGET_MAX_KEYS, sizeof(b->entry[0]));
	b->slot = xcalloc(BUDGET_SLOTS, sizeof(b->slot[0]));
	return b;
}

void
budgets_free(struct budgets *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		free(b->entry[i].key);
	free(b->entry);
	free(b->slot);
	free(b);
}

void
budgets_add(struct budgets *b, const char *key, double usd, time_t now)
{
	struct entry *e;
	int64_t hour = window_of(now, HOUR_S), day = window_of(now, DAY_S);

	if (!isfinite(usd) || usd < 0)
		return;
	e = entry_find(b, key);
	if (e == NULL)
		e = entry_new(b, xstrdup(key), now);
	if (e->hour != hour) {
		e->hour = hour;
		e->hour_usd = 0;
	}
	if (e->day != day) {
		e->day = day;
		e->day_usd = 0;
	}
	e->hour_usd = sum(e->hour_usd, usd);
	e->day_usd = sum(e->day_usd, usd);
	e->seq = ++b->seq;
	b->dirty = true;
}

void
budgets_raise(struct budgets *b, const char *key, struct spend floor,
    time_t now)
{
	int64_t hour = window_of(now, HOUR_S), day = window_of(now, DAY_S);
	struct spend s = budgets_get(b, key, now);
	struct entry *e;

	if (!isfinite(floor.hour) || !isfinite(floor.day) ||
	    (floor.hour <= s.hour && floor.day <= s.day))
		return;
	/* A new key starts at zero in now's windows; budgets_add rolls an
	 * old one over the same way. */
	budgets_add(b, key, 0, now);
	e = entry_find(b, key);
	if (e->hour == hour && floor.hour > e->hour_usd)
		e->hour_usd = floor.hour;
	if (e->day == day && floor.day > e->day_usd)
		e->day_usd = floor.day;
	b->dirty = true;
}

struct spend
budgets_get(const struct budgets *b, const char *key, time_t now)
{
	const struct entry *e = entry_find(b, key);
	struct spend none = { 0, 0 };

	return e ? spend_of(e, now) : none;
}

bool
budgets_dirty(const struct budgets *b)
{
	return b->dirty;
}

uint64_t
budgets_dropped(const struct budgets *b)
{
	return b->dropped;
}

size_t
budgets_count(const struct budgets *b)
{
	return b->n;
}

const char *
budgets_key(const struct budgets *b, size_t i, struct spend *ret,
    time_t now)
{
	if (i >= b->n)
		return NULL;
	if (ret != NULL)
		*ret = spend_of(&b->entry[i], now);
	return b->entry[i].key;
}

/* ------------------------------------------------------------------ */
/* The file */

static int
read_file(int fd, struct buf *out)
{
	char chunk[16384];
	ssize_t n;
	int r;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if ((r = buf_add(out, chunk, (size_t)n)) < 0)
			return r;
	}
}

static bool
amount_ok(const json_t *v)
{
	double d;

	if (!json_is_number(v))
		return false;
	d = json_number_value(v);
	return isfinite(d) && d >= 0;
}

/* One "key": {...} member into t, or NULL and the reason. */
static const char *
entry_from_json(struct budgets *t, const char *key, json_t *v)
{
	json_t *hour, *hour_usd, *day, *day_usd;
	struct entry *e;

	if (!json_is_object(v))
		return "not an object";
	hour = json_object_get(v, "hour");
	hour_usd = json_object_get(v, "hour_usd");
	day = json_object_get(v, "day");
	day_usd = json_object_get(v, "day_usd");
	if (!json_is_integer(hour) || !json_is_integer(day))
		return "hour and day must be integers";
	if (!amount_ok(hour_usd) || !amount_ok(day_usd))
		return "hour_usd and day_usd must be non-negative numbers";
	/* from_json counted the keys: this never evicts. */
	e = entry_new(t, xstrdup(key), 0);
	e->hour = json_integer_value(hour);
	e->hour_usd = json_number_value(hour_usd);
	e->day = json_integer_value(day);
	e->day_usd = json_number_value(day_usd);
	return NULL;
}

static int
from_json(struct budgets *t, json_t *root, const char *path, char *err,
    size_t errlen)
{
	json_t *version, *keys, *v;
	const char *key, *why;

	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: not a JSON object", path);
		return -1;
	}
	version = json_object_get(root, "version");
	if (!json_is_integer(version) ||
	    json_integer_value(version) != BUDGET_FILE_VERSION) {
		snprintf(err, errlen, "%s: not a version %d budget file",
		    path, BUDGET_FILE_VERSION);
		return -1;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_object(keys)) {
		snprintf(err, errlen, "%s: \"keys\" is not an object", path);
		return -1;
	}
	if (json_object_size(keys) > BUDGET_MAX_KEYS) {
		snprintf(err, errlen, "%s: %zu keys, more than %d", path,
		    json_object_size(keys), BUDGET_MAX_KEYS);
		return -1;
	}
	json_object_foreach(keys, key, v) {
		if ((why = entry_from_json(t, key, v)) != NULL) {
			snprintf(err, errlen, "%s: key \"%s\": %s", path, key,
			    why);
			return -1;
		}
	}
	return 0;
}

static void
swap_state(struct budgets *a, struct budgets *b)
{
	struct budgets x = *a;

	a->entry = b->entry;
	a->n = b->n;
	a->slot = b->slot;
	a->seq = b->seq;
	b->entry = x.entry;
	b->n = x.n;
	b->slot = x.slot;
	b->seq = x.seq;
}

int
budgets_load(struct budgets *b, const char *path, char *err, size_t errlen)
{
	struct budgets *t = budgets_new();
	json_error_t jerr;
	json_t *root = NULL;
	struct stat st;
	struct buf in;
	int fd, r = -1, e;

	buf_init(&in, BUDGET_FILE_MAX);
	/* O_NONBLOCK: a FIFO put there must not hang the daemon. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		r = 0;			/* the first run: nothing spent yet */
		goto done;
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((e = read_file(fd, &in)) == -E2BIG) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    BUDGET_FILE_MAX);
		goto out;
	}
	if (e < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-e));
		goto out;
	}
	root = json_loadb(in.data ? in.data : "", in.len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "%s: line %d: %s", path, jerr.line,
		    jerr.text);
		goto out;
	}
	if (from_json(t, root, path, err, errlen) < 0)
		goto out;
	r = 0;
done:
	swap_state(b, t);
	b->dirty = false;
out:
	if (fd >= 0)
		close(fd);
	json_decref(root);
	buf_free(&in);
	budgets_free(t);
	return r;
}

/* JSON strings are UTF-8, and a key is whatever bytes the caller built
 * it from (an executable's path need not be UTF-8). */
static bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	static const uint32_t min[] = { 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	unsigned i, n;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 1;
		else if ((*p & 0xf0) == 0xe0)
			n = 2;
		else if ((*p & 0xf8) == 0xf0)
			n = 3;
		else
			return false;
		cp = *p & (0x3f >> n);
		/* A NUL among the continuation bytes fails here, so this
		 * never reads past the string. */
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* Overlong forms, past Unicode, surrogates. */
		if (cp < min[n] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/* The file's text, or NULL when out of memory. */
static char *
to_json(const struct budgets *b)
{
	json_t *root, *keys, *v;
	const struct entry *e;
	char *text = NULL;
	size_t i;

	root = json_object();
	keys = json_object();
	if (root == NULL || keys == NULL ||
	    json_object_set_new(root, "version",
	    json_integer(BUDGET_FILE_VERSION)) < 0 ||
	    json_object_set(root, "keys", keys) < 0)
		goto out;
	for (i = 0; i < b->n; i++) {
		e = &b->entry[i];
		if (!utf8_valid(e->key))
			continue;
		v = json_pack("{s:I, s:f, s:I, s:f}",
		    "hour", (json_int_t)e->hour, "hour_usd", e->hour_usd,
		    "day", (json_int_t)e->day, "day_usd", e->day_usd);
		if (v == NULL || json_object_set_new(keys, e->key, v) < 0)
			goto out;
	}
	text = json_dumps(root, JSON_INDENT(1));
out:
	json_decref(keys);
	json_decref(root);
	return text;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The rename is durable once its directory is synced.  Best effort: the
 * file in place is whole either way, at worst the previous one. */
static void
sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd, n;

	n = snprintf(dir, sizeof(dir), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return;
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

int
budgets_save(struct budgets *b, const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX], *text;
	const char *step = "open";
	int fd, n, r = 0;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((text = to_json(b)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	step = "write";
	if ((r = write_all(fd, text, strlen(text))) == 0 &&
	    (r = write_all(fd, "\n", 1)) == 0) {
		step = "fsync";
		if (fsync(fd) < 0)
			r = -errno;
	}
	if (close(fd) < 0 && r == 0) {
		step = "close";
		r = -errno;
	}
	if (r == 0 && rename(tmp, path) < 0) {
		step = "rename";
		r = -errno;
	}
	if (r < 0)
		unlink(tmp);
out:
	free(text);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s %s: %s", path, step, tmp,
		    strerror(-r));
		return -1;
	}
	sync_dir(path);
	b->dirty = false;
	return 0;
}
