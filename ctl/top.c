/* llmfbctl top: a live view of llmfbd in the manner of top(1): the
 * busiest routes, targets and programs over the last interval, the
 * faults in force, and the calls that fell back or failed as they
 * happen.
 *
 * Two sources: a status request each interval, whose counters less the
 * previous ones give the rates, and a follow subscription, whose
 * records say at once which call fell back.  One ppoll() waits on the
 * keyboard, the subscription and the interval, with the signals we
 * catch unblocked only there, so that none is lost between a check and
 * the wait.
 *
 * When stdout is not a terminal, top prints one snapshot as plain text
 * and returns: a pipe or a script gets the same tables, without escape
 * sequences, instead of an error.  A live view without a terminal on
 * stdin has no keys; signals still stop it. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ctl.h"
#include "ctl_client.h"
#include "ctl_proto.h"
#include "util.h"

#define EXIT_USAGE	2
#define RECENT_MAX	256	/* fallback lines kept */
#define RECENT_MIN	3	/* rows the tables leave to them */
#define SNAPSHOT_EVENTS	"50"	/* calls a snapshot looks back on */
#define LINE_MAX_COLS	1023

static volatile sig_atomic_t got_quit, got_winch, got_tstp;

/* A counter at the last refresh, by its row's name. */
struct mark {
	char		*key;
	json_int_t	 n;
};

struct marks {
	struct mark	*v;	/* sorted by key */
	size_t		 n;
	bool		 primed;	/* filled by a refresh */
};

/* One element of a status array, and how much it grew. */
struct row {
	const json_t	*o;
	json_int_t	 delta;
	json_int_t	 total;
	size_t		 idx;
};

/* Rows busiest first, pointing into top.st; the marks outlive it. */
struct table {
	struct row	*v;
	size_t		 n;
	struct marks	 last;
};

/* How a line is coloured, when the terminal has colours. */
enum tone { TONE_PLAIN, TONE_WARN, TONE_BAD };

/* The latest fallbacks and failures as lines, newest at next - 1. */
struct recent {
	char		*line[RECENT_MAX];
	enum tone	 tone[RECENT_MAX];
	size_t		 next;
	size_t		 n;
};

struct top {
	uint64_t	 interval_ms;
	json_t		*st;		/* the last status; NULL: unreachable */
	char		 why[256];	/* why it is NULL */
	time_t		 when;		/* of the last refresh */
	uint64_t	 seen_ms;	/* the last status that came; 0: none */
	double		 dt;		/* seconds since the one before */
	json_int_t	 calls, fallbacks;	/* totals then */
	json_int_t	 dcalls, dfallbacks;
	struct table	 routes, targets, callers;
	int		 sub;		/* the follow subscription, or -1 */
	struct buf	 pending;	/* the start of a record */
	bool		 keys;		/* stdin is a terminal we read */
	struct recent	 recent;
};

struct term {
	struct termios	 saved;
	bool		 have;		/* saved holds stdin's own modes */
	bool		 on;		/* ours are in force */
};

/* Lines for one frame, cut to the screen and written at once. */
struct screen {
	bool		 tty;
	bool		 color;		/* a terminal that has colours */
	bool		 clear;		/* clear it all first (resized) */
	int		 rows, cols;
	int		 n;		/* lines so far */
	struct buf	 out;
};

static void
usage(void)
{
	fprintf(stderr, "usage: llmfbctl [-s socket] top [-i SECONDS]\n"
	    "  -i SECONDS  between refreshes, 0.2 to 60 (default 1)\n"
	    "keys: q quits, any other refreshes now\n");
}

/* Seconds with a fraction, as top(1) -d takes them. */
static int
parse_interval(const char *s, uint64_t *ret_ms)
{
	char *end;
	double v;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -1;
	v = strtod(s, &end);
	if (*end != '\0' || !(v >= 0.2 && v <= 60))
		return -1;
	*ret_ms = (uint64_t)(v * 1000 + 0.5);
	return 0;
}

static int
write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(STDOUT_FILENO, p, n)) < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
write_str(const char *s)
{
	return write_all(s, strlen(s));
}

/* ---- the terminal ------------------------------------------------------ */

static void
on_signal(int sig)
{
	if (sig == SIGWINCH)
		got_winch = 1;
	else if (sig == SIGTSTP)
		got_tstp = 1;
	else
		got_quit = 1;
}

static const int caught[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP };

/* Catch the signals, blocked but in the ppoll(); *waitmask unblocks
 * them there. */
static void
signals_catch(sigset_t *old, sigset_t *waitmask)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;
	size_t i;

	sigemptyset(&block);
	for (i = 0; i < ARRAY_SIZE(caught); i++)
		sigaddset(&block, caught[i]);
	sigprocmask(SIG_BLOCK, &block, old);
	*waitmask = *old;
	for (i = 0; i < ARRAY_SIZE(caught); i++) {
		sigdelset(waitmask, caught[i]);
		sigaction(caught[i], &sa, NULL);
	}
	/* A daemon that goes away mid-request is an error, not death. */
	signal(SIGPIPE, SIG_IGN);
}

/* Keys one at a time and unseen; ISIG stays, so Ctrl-C is SIGINT and
 * ends us through the same path as q.  The alternate screen keeps the
 * shell's screen as it was, and the cursor hides. */
static int
term_enter(struct term *tm, bool keys)
{
	struct termios t;

	if (keys && !tm->have && tcgetattr(STDIN_FILENO, &tm->saved) == 0)
		tm->have = true;
	if (tm->have) {
		t = tm->saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
	}
	tm->on = true;
	return write_str("\033[?1049h\033[?25l\033[H\033[2J");
}

/* Everything back as it was; safe to call twice. */
static void
term_leave(struct term *tm)
{
	if (!tm->on)
		return;
	write_str("\033[?25h\033[?1049l");
	if (tm->have)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &tm->saved);
	tm->on = false;
}

/* Ctrl-Z: hand the terminal back as it was, stop, take it again when
 * continued.  SIGTSTP is ours to catch; SIGSTOP cannot be. */
static void
suspend(struct term *tm, bool keys)
{
	term_leave(tm);
	raise(SIGSTOP);
	term_enter(tm, keys);
}

static void
term_size(struct screen *s)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		s->rows = ws.ws_row;
		s->cols = ws.ws_col < LINE_MAX_COLS ? ws.ws_col : LINE_MAX_COLS;
	} else {
		s->rows = 24;
		s->cols = 80;
	}
}

/* ---- the frame --------------------------------------------------------- */

/* One line, cut to the width; nothing past the last row.  Names and
 * error texts come from other programs: any byte that is not plain
 * printable ASCII becomes '?', so none can drive the terminal, and a
 * byte is a column. */
static void vput(struct screen *s, enum tone tone, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));
static void put(struct screen *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void tput(struct screen *s, enum tone tone, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A line in a tone: the whole line in one colour, after it was cut, so
 * that an escape never counts as a column. */
static void
vput(struct screen *s, enum tone tone, const char *fmt, va_list ap)
{
	static const char *const sgr[] = { "", "\033[33m", "\033[1;31m" };
	char text[LINE_MAX_COLS + 1];
	size_t len, i;

	if (s->n >= s->rows)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	len = strlen(text);
	if (len > (size_t)s->cols)
		len = (size_t)s->cols;
	for (i = 0; i < len; i++)
		if ((unsigned char)text[i] < 0x20 ||
		    (unsigned char)text[i] >= 0x7f)
			text[i] = '?';
	/* No newline after the last line: the screen never scrolls. */
	if (s->n > 0)
		buf_addstr(&s->out, s->tty ? "\r\n" : "\n");
	if (s->color && tone != TONE_PLAIN)
		buf_addstr(&s->out, sgr[tone]);
	buf_add(&s->out, text, len);
	if (s->color && tone != TONE_PLAIN)
		buf_addstr(&s->out, "\033[m");
	if (s->tty && len < (size_t)s->cols)
		buf_addstr(&s->out, "\033[K");
	s->n++;
}

static void
put(struct screen *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vput(s, TONE_PLAIN, fmt, ap);
	va_end(ap);
}

static void
tput(struct screen *s, enum tone tone, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vput(s, tone, fmt, ap);
	va_end(ap);
}

/* Columns past 80 that a name column may take (share: 1 for all of
 * them, 2 for half...), up to a name's 64 characters; none in a
 * snapshot, whose lines are not cut. */
static int
extra(const struct screen *s, int share, int base)
{
	int e = s->tty && s->cols > 80 ? (s->cols - 80) / share : 0;

	return base + e > 64 ? 64 - base : e;
}

/* Does the terminal have colours?  As ls(1) and most tools guess it: a
 * TERM that is not "dumb", and no NO_COLOR (no-color.org). */
static bool
term_has_color(void)
{
	const char *term = getenv("TERM"), *no = getenv("NO_COLOR");

	return term != NULL && term[0] != '\0' && strcmp(term, "dumb") != 0 &&
	    (no == NULL || no[0] == '\0');
}

/* HH:MM:SS, local time. */
static void
fmt_clock(char *out, size_t len, time_t when)
{
	struct tm tm;

	if (localtime_r(&when, &tm) == NULL ||
	    strftime(out, len, "%H:%M:%S", &tm) == 0)
		snprintf(out, len, "--:--:--");
}

static void
fmt_rate(char *out, size_t len, json_int_t delta, double dt)
{
	double v = dt > 0 ? (double)delta / dt : 0;

	if (dt <= 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, v > 0 && v < 0.1 ? "%.2f" : "%.1f", v);
}

static void
fmt_pct(char *out, size_t len, json_int_t part, json_int_t whole)
{
	if (whole <= 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.1f%%", 100.0 * (double)part /
		    (double)whole);
}

/* The end of a long path says more than its start. */
static void
fmt_tail(char *out, size_t len, const char *s, size_t width)
{
	size_t n = strlen(s);

	if (n <= width || width < 4)
		snprintf(out, len, "%s", s);
	else
		snprintf(out, len, "...%s", s + n - (width - 3));
}

/* A section: a blank line, then its heading, which says when the rows
 * did not all fit. */
static void
section(struct screen *s, const char *heading, size_t shown, size_t n)
{
	put(s, "%s", "");
	if (shown < n)
		put(s, "%s  (busiest %zu of %zu)", heading, shown, n);
	else
		put(s, "%s", heading);
}

static void
draw_header(const struct top *t, struct screen *s)
{
	char up[32], cr[16], fr[16], when[16];
	const json_t *st = t->st;

	fmt_clock(when, sizeof(when), t->when);
	if (st == NULL) {
		put(s, "llmfbd unreachable: %s", t->why);
	} else {
		fmt_uptime(up, sizeof(up), jnum(st, "uptime_s"));
		fmt_rate(cr, sizeof(cr), t->dcalls, t->dt);
		fmt_rate(fr, sizeof(fr), t->dfallbacks, t->dt);
		put(s, "llmfbd %s  up %s  calls %lld (%s/s)  fallbacks %lld "
		    "(%s/s)  in flight %lld", jstr(st, "version", "?"), up,
		    jnum(st, "calls"), cr, t->fallbacks, fr,
		    jnum(st, "in_flight"));
	}
	if (s->tty)
		put(s, "%s  %s  %s every %gs; q quits", when, control_path,
		    st == NULL ? "retrying" : "refreshing",
		    (double)t->interval_ms / 1000);
	else
		put(s, "%s  %s", when, control_path);
}

static void
draw_routes(const struct top *t, struct screen *s, size_t shown)
{
	char head[256], rate[16], pct[16];
	const struct row *r;
	int w = 24 + extra(s, 3, 24);
	size_t i;

	snprintf(head, sizeof(head), "%-*s %8s %10s %10s %9s %10s", w,
	    "BUSIEST ROUTES", "CALLS/S", "CALLS", "FALLBACKS", "FALLBACK%",
	    "SAFE-FAIL");
	section(s, head, shown, t->routes.n);
	for (i = 0; i < shown; i++) {
		r = &t->routes.v[i];
		fmt_rate(rate, sizeof(rate), r->delta, t->dt);
		fmt_pct(pct, sizeof(pct), jnum(r->o, "fallbacks"), r->total);
		tput(s, jnum(r->o, "safe_failures") > 0 ? TONE_WARN :
		    TONE_PLAIN, "%-*.*s %8s %10lld %10lld %9s %10lld", w, w,
		    jstr(r->o, "name", "?"), rate, r->total,
		    jnum(r->o, "fallbacks"), pct, jnum(r->o, "safe_failures"));
	}
}

static void
draw_targets(const struct top *t, struct screen *s, size_t shown)
{
	char head[256], rate[16], pct[16], ttft[16], total[16], state[40];
	const json_t *lat;
	const struct row *r;
	/* Wide: the provider too, then longer names. */
	bool prov = s->tty && s->cols >= 120;
	int w = 14 + (prov ? extra(s, 4, 14) : 0);
	const char *bs;
	size_t i;

	snprintf(head, sizeof(head), "%-*s %s%-15s %6s %8s %6s %6s %6s %9s",
	    w, "TARGETS", prov ? "PROVIDER             " : "", "BREAKER",
	    "REQ/S", "ATTEMPTS", "ERROR%", "TTFT95", "TOT95", "SPEND-USD");
	section(s, head, shown, t->targets.n);
	for (i = 0; i < shown; i++) {
		r = &t->targets.v[i];
		lat = json_object_get(r->o, "latency");
		fmt_rate(rate, sizeof(rate), r->delta, t->dt);
		fmt_pct(pct, sizeof(pct), jnum(r->o, "failures"), r->total);
		fmt_ms(ttft, sizeof(ttft), json_object_get(lat,
		    "first_token_p95_ms"));
		fmt_ms(total, sizeof(total), json_object_get(lat,
		    "total_p95_ms"));
		bs = jstr(json_object_get(r->o, "breaker"), "state", "?");
		snprintf(state, sizeof(state), "%s%s", bs,
		    json_is_true(json_object_get(r->o, "drained")) ?
		    ",drained" : "");
		tput(s, strcmp(bs, "open") == 0 ? TONE_BAD :
		    strcmp(bs, "closed") != 0 || json_is_true(json_object_get(
		    r->o, "drained")) ? TONE_WARN : TONE_PLAIN,
		    "%-*.*s %-*.*s%s%-15s %6s %8lld %6s %6s %6s %9.4f", w, w,
		    jstr(r->o, "name", "?"), prov ? 20 : 0, prov ? 20 : 0,
		    prov ? jstr(r->o, "provider", "?") : "", prov ? " " : "",
		    state, rate, r->total, pct, ttft, total,
		    json_number_value(json_object_get(r->o, "spend_usd")));
	}
}

static void
draw_callers(const struct top *t, struct screen *s, size_t shown)
{
	char head[256], rate[16], prog[80];
	const struct row *r;
	int w = 28 + extra(s, 2, 28);
	size_t i;

	snprintf(head, sizeof(head), "%-*s %6s %7s %8s %9s %5s %9s", w,
	    "BUSIEST PROGRAMS", "UID", "CALLS/S", "CALLS", "FALLBACKS", "SAFE",
	    "SPEND-USD");
	section(s, head, shown, t->callers.n);
	for (i = 0; i < shown; i++) {
		r = &t->callers.v[i];
		fmt_rate(rate, sizeof(rate), r->delta, t->dt);
		fmt_tail(prog, sizeof(prog), jstr(r->o, "program", "?"),
		    (size_t)w);
		put(s, "%-*s %6lld %7s %8lld %9lld %5lld %9.4f", w, prog,
		    jnum(r->o, "uid"), rate, r->total, jnum(r->o, "fallbacks"),
		    jnum(r->o, "safe_failures"), json_number_value(
		    json_object_get(r->o, "spend_usd")));
	}
}

static void
draw_faults(const struct top *t, struct screen *s, size_t shown)
{
	const json_t *arr = json_object_get(t->st, "faults"), *f;
	char head[160];
	size_t i;

	snprintf(head, sizeof(head), "%-14s %4s %-14s %-14s %-16s %8s %6s",
	    "ACTIVE FAULTS", "ID", "FAULT", "ROUTE", "CALLER", "ENDS-IN",
	    "HITS");
	section(s, head, shown, json_array_size(arr));
	for (i = 0; i < shown; i++) {
		f = json_array_get(arr, i);
		put(s, "%-14.14s %4lld %-14s %-14s %-16s %7llds %6lld",
		    jstr(f, "target", "?"), jnum(f, "id"),
		    jstr(f, "fault", "?"),
		    jstr(f, "route", "(any)"), jstr(f, "caller", "(any)"),
		    (jnum(f, "ends_in_ms") + 999) / 1000, jnum(f, "hits"));
	}
}

static void
draw_recent(const struct top *t, struct screen *s)
{
	const struct recent *rc = &t->recent;
	size_t i;

	put(s, "%s", "");
	put(s, "RECENT FALLBACKS AND FAILURES (newest first)%s",
	    t->sub < 0 && s->tty ? "  [not following: retrying]" : "");
	for (i = 0; i < rc->n; i++) {
		size_t k = (rc->next + RECENT_MAX - 1 - i) % RECENT_MAX;

		tput(s, rc->tone[k], "%s", rc->line[k]);
	}
}

/* How many rows each table gets: all when they fit, else the longest
 * gives one up, and again, so a short table stays whole. */
static void
fit(size_t *want, size_t n, long room)
{
	size_t i, big;
	long sum;

	for (;;) {
		for (i = big = 0, sum = 0; i < n; i++) {
			sum += (long)want[i];
			if (want[i] > want[big])
				big = i;
		}
		if (sum <= room || want[big] == 0)
			return;
		want[big]--;
	}
}

static void
draw(const struct top *t, struct screen *s)
{
	size_t want[4] = { t->routes.n, t->targets.n, t->callers.n,
	    json_array_size(json_object_get(t->st, "faults")) };
	long fixed = 2 + 2;	/* the header, the recent heading */
	size_t i;

	draw_header(t, s);
	if (t->st != NULL) {
		for (i = 0; i < ARRAY_SIZE(want); i++)
			fixed += want[i] > 0 ? 2 : 0;
		fit(want, ARRAY_SIZE(want), (long)s->rows - fixed - RECENT_MIN);
		if (t->routes.n > 0)
			draw_routes(t, s, want[0]);
		if (t->targets.n > 0)
			draw_targets(t, s, want[1]);
		if (t->callers.n > 0)
			draw_callers(t, s, want[2]);
		if (json_array_size(json_object_get(t->st, "faults")) > 0)
			draw_faults(t, s, want[3]);
	}
	draw_recent(t, s);
}

/* The frame in one write: over the last one in place (no clearing, no
 * flicker), each line's leftovers erased, and below the last line. */
static int
frame_write(const struct top *t, struct screen *s)
{
	buf_reset(&s->out);
	s->n = 0;
	if (s->tty)
		buf_addstr(&s->out, s->clear ? "\033[H\033[2J" : "\033[H");
	s->clear = false;
	draw(t, s);
	if (!s->tty)
		buf_addstr(&s->out, "\n");
	else if (s->n < s->rows)
		buf_addstr(&s->out, "\r\n\033[J");
	return write_all(s->out.data, s->out.len);
}

/* ---- the status, and the rates from it --------------------------------- */

static int
mark_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mark *)a)->key,
	    ((const struct mark *)b)->key);
}

static int
mark_find(const void *key, const void *m)
{
	return strcmp(key, ((const struct mark *)m)->key);
}

static void
marks_free(struct marks *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->v[i].key);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* What a counter grew by.  It went down: the daemon restarted, and
 * counted it all since. */
static json_int_t
grew(json_int_t now, json_int_t then)
{
	return now >= then ? now - then : now;
}

/* What a row's counter grew by since the last refresh. */
static json_int_t
delta_of(const struct marks *m, const char *key, json_int_t now)
{
	const struct mark *p;

	if (!m->primed)
		return 0;
	p = bsearch(key, m->v, m->n, sizeof(*m->v), mark_find);
	return p != NULL ? grew(now, p->n) : now;	/* or new since */
}

/* Busiest in the interval first, then in all, then as the daemon
 * lists them. */
static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->delta != y->delta)
		return x->delta > y->delta ? -1 : 1;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Rows from a status array, counted by count; a program's name is its
 * program and uid, anything else's its name. */
static void
table_build(struct table *tb, const json_t *arr, const char *count)
{
	size_t i, n = json_array_size(arr);
	struct marks next = { .v = xcalloc(n + 1, sizeof(struct mark)),
	    .primed = true };
	const json_t *o;
	char key[512];

	free(tb->v);
	tb->v = xcalloc(n + 1, sizeof(*tb->v));
	tb->n = 0;
	json_array_foreach(arr, i, o) {
		struct row *r = &tb->v[tb->n++];

		snprintf(key, sizeof(key), "%s/%lld", jstr(o, "name",
		    jstr(o, "program", "?")), jnum(o, "uid"));
		r->o = o;
		r->idx = i;
		r->total = jnum(o, count);
		r->delta = delta_of(&tb->last, key, r->total);
		next.v[next.n++] = (struct mark){ xstrdup(key), r->total };
	}
	qsort(tb->v, tb->n, sizeof(*tb->v), row_cmp);
	qsort(next.v, next.n, sizeof(*next.v), mark_cmp);
	marks_free(&tb->last);
	tb->last = next;
}

static void
table_free(struct table *tb)
{
	free(tb->v);
	tb->v = NULL;
	tb->n = 0;
	marks_free(&tb->last);
}

/* One request, quietly (ctl_call's messages would land on the view):
 * *ret_doc its JSON object, or why there is none. */
static int
fetch(const char *line, json_t **ret_doc, char *why, size_t len)
{
	struct buf reply;
	json_t *doc = NULL;
	bool ok;
	int r;

	buf_init(&reply, CTL_REPLY_MAX);
	r = ctl_request(control_path, line, &reply, &ok);
	if (r < 0) {
		snprintf(why, len, "%s: %s", control_path, r == -EPROTO ?
		    "the reply is malformed" : strerror(-r));
	} else if (!ok) {
		snprintf(why, len, "%s: %.*s", line, (int)reply.len,
		    reply.data ? reply.data : "");
	} else if ((doc = json_loadb(reply.data ? reply.data : "", reply.len,
	    0, NULL)) == NULL || !json_is_object(doc)) {
		snprintf(why, len, "%s: the reply is not a JSON object", line);
		json_decref(doc);
		doc = NULL;
	}
	buf_free(&reply);
	*ret_doc = doc;
	return doc != NULL ? 0 : -1;
}

/* A new status, and the deltas since the last one that came.  When none
 * comes, the tables go (their figures would look alive) but the marks
 * stay, for the deltas once it is back. */
static void
refresh(struct top *t)
{
	json_t *st, *v;
	json_int_t fb = 0;
	uint64_t now;
	size_t i;

	t->when = time(NULL);
	if (fetch(CTL_VERB_STATUS, &st, t->why, sizeof(t->why)) < 0) {
		t->routes.n = t->targets.n = t->callers.n = 0;
		json_decref(t->st);
		t->st = NULL;
		return;
	}
	now = now_mono_ms();
	json_array_foreach(json_object_get(st, "routes"), i, v)
		fb += jnum(v, "fallbacks");
	t->dt = t->seen_ms ? (double)(now - t->seen_ms) / 1000 : 0;
	t->dcalls = grew(jnum(st, "calls"), t->calls);
	t->dfallbacks = grew(fb, t->fallbacks);
	t->calls = jnum(st, "calls");
	t->fallbacks = fb;
	t->seen_ms = now;
	table_build(&t->routes, json_object_get(st, "routes"), "calls");
	table_build(&t->targets, json_object_get(st, "targets"), "attempts");
	table_build(&t->callers, json_object_get(st, "callers"), "calls");
	json_decref(t->st);
	t->st = st;
}

/* ---- the records -------------------------------------------------------- */

/* Fell back, or the caller got no answer of a target's. */
static bool
worth_showing(const json_t *ev)
{
	static const char *const bad[] = { "safe-failure", "midstream-error",
	    "broken", "client-gone" };
	const char *result = jstr(ev, "result", "");
	size_t i;

	if (json_is_true(json_object_get(ev, "fallback")))
		return true;
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (strcmp(result, bad[i]) == 0)
			return true;
	return false;
}

/* "HH:MM:SS route result served=X why 12ms program attempts=a:kind(why) >
 * b:ok": what happened and why first, so that an 80-column screen shows
 * them, then the detail a wide one has room for.  The why is the call's
 * reasons (x-llmfb-reasons: failures and skips alike, a breaker-open
 * rung included), else its failed attempts' kinds.  Past the cap an
 * attempt is left off. */
/* The why of a record (see recent_add), static. */
static const char *
reasons_of(const json_t *ev)
{
	static char why[256];
	const json_t *a;
	size_t i, k = 0;
	int n;

	if (jstr(ev, "reasons", NULL) != NULL)
		return jstr(ev, "reasons", "");
	why[0] = '\0';
	json_array_foreach(json_object_get(ev, "attempts"), i, a) {
		if (strcmp(jstr(a, "kind", "none"), "none") == 0)
			continue;
		n = snprintf(why + k, sizeof(why) - k, "%s%s=%s", k ? "," : "",
		    jstr(a, "target", "?"), jstr(a, "kind", "?"));
		if (n < 0 || (size_t)n >= sizeof(why) - k)
			break;
		k += (size_t)n;
	}
	return k ? why : "-";
}

static void
recent_add(struct recent *rc, const json_t *ev)
{
	const json_t *caller = json_object_get(ev, "caller"), *a;
	double secs = json_number_value(json_object_get(ev, "time"));
	const char *prog = jstr(caller, "comm", "");
	char when[16];
	struct buf b;
	size_t i;

	if (prog[0] == '\0')
		prog = jstr(caller, "exe", "?");
	/* In range before the conversion, which otherwise is undefined. */
	fmt_clock(when, sizeof(when), secs > 0 && secs < 1e12 ?
	    (time_t)secs : 0);
	buf_init(&b, LINE_MAX_COLS);
	buf_printf(&b, "%s %-12s %-12s served=%-6s %s %lldms %s", when,
	    jstr(ev, "route", "-"), jstr(ev, "result", "?"),
	    jstr(ev, "served", "-"), reasons_of(ev), jnum(ev, "duration_ms"),
	    prog);
	json_array_foreach(json_object_get(ev, "attempts"), i, a) {
		buf_printf(&b, "%s%s:%s", i ? " > " : " attempts=",
		    jstr(a, "target", "?"), attempt_kind(a));
		if (json_object_get(a, "error") != NULL)
			buf_printf(&b, "(%s)", jstr(a, "error", ""));
		if (json_object_get(a, "injected") != NULL)
			buf_printf(&b, "[injected %s]",
			    jstr(a, "injected", ""));
	}
	free(rc->line[rc->next]);
	rc->line[rc->next] = b.data ? b.data : xstrdup("");
	rc->tone[rc->next] = strcmp(jstr(ev, "result", ""), "fallback") == 0 ||
	    strcmp(jstr(ev, "result", ""), "continued") == 0 ? TONE_WARN :
	    TONE_BAD;
	rc->next = (rc->next + 1) % RECENT_MAX;
	if (rc->n < RECENT_MAX)
		rc->n++;
}

static void
recent_free(struct recent *rc)
{
	size_t i;

	for (i = 0; i < RECENT_MAX; i++)
		free(rc->line[i]);
}

static void
sub_close(struct top *t)
{
	if (t->sub >= 0)
		close(t->sub);
	t->sub = -1;
	buf_reset(&t->pending);
}

/* Follow every call (no filter says "fell back"; we pick).  On failure
 * the next refresh tries again. */
static void
sub_open(struct top *t)
{
	struct buf err;

	if (t->sub >= 0 || t->st == NULL)
		return;
	buf_init(&err, 1024);
	t->sub = ctl_subscribe(control_path, CTL_VERB_FOLLOW, &err);
	if (t->sub < 0)
		t->sub = -1;
	buf_free(&err);
}

/* What the subscription has; whole lines are records.  Returns whether
 * the view changed.  The daemon gone, or cutting us off for lagging,
 * closes it. */
static bool
sub_read(struct top *t)
{
	char chunk[8192];
	const char *nl;
	bool changed = false;
	json_t *ev;
	ssize_t n;
	size_t len;

	n = read(t->sub, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (n <= 0 || buf_add(&t->pending, chunk, (size_t)n) < 0) {
		sub_close(t);
		return true;
	}
	while ((nl = memchr(buf_head(&t->pending), '\n',
	    buf_pending(&t->pending))) != NULL) {
		len = (size_t)(nl - buf_head(&t->pending));
		ev = json_loadb(buf_head(&t->pending), len, 0, NULL);
		if (ev != NULL && worth_showing(ev)) {
			recent_add(&t->recent, ev);
			changed = true;
		}
		json_decref(ev);
		buf_consume(&t->pending, len + 1);
	}
	return changed;
}

/* A snapshot's recent fallbacks: among the daemon's latest records. */
static void
recent_seed(struct top *t)
{
	json_t *doc, *ev;
	char why[256];
	size_t i;

	if (fetch(CTL_VERB_EVENTS " " SNAPSHOT_EVENTS, &doc, why,
	    sizeof(why)) < 0)
		return;
	json_array_foreach(json_object_get(doc, "events"), i, ev)
		if (worth_showing(ev))
			recent_add(&t->recent, ev);
	json_decref(doc);
}

/* ---- the loop ------------------------------------------------------------ */

enum wake { WAKE_NONE, WAKE_DRAW, WAKE_REFRESH, WAKE_QUIT };

/* Keys: q quits, any other refreshes now.  A terminal that is gone
 * gives no more keys (its SIGHUP ends us). */
static enum wake
keys_read(struct top *t)
{
	char k[64];
	ssize_t n, i;

	n = read(STDIN_FILENO, k, sizeof(k));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return WAKE_NONE;
	if (n <= 0) {
		t->keys = false;
		return WAKE_NONE;
	}
	for (i = 0; i < n; i++)
		if (k[i] == 'q' || k[i] == 'Q')
			return WAKE_QUIT;
	return WAKE_REFRESH;
}

/* Until a key, a record, a signal or the next refresh is due. */
static enum wake
wait_for_wake(struct top *t, uint64_t next, const sigset_t *mask)
{
	struct pollfd p[2] = {
		{ .fd = t->keys ? STDIN_FILENO : -1, .events = POLLIN },
		{ .fd = t->sub, .events = POLLIN },
	};
	uint64_t now = now_mono_ms(), left = next > now ? next - now : 0;
	struct timespec ts = { (time_t)(left / 1000),
	    (long)(left % 1000) * 1000000 };
	enum wake w = WAKE_NONE;

	if (ppoll(p, 2, &ts, mask) <= 0)
		return WAKE_NONE;	/* due, or a signal: the loop looks */
	if (p[1].revents != 0 && sub_read(t))
		w = WAKE_DRAW;
	if (p[0].revents != 0) {
		enum wake k = keys_read(t);

		if (k > w)
			w = k;
	}
	return w;
}

static int
live(struct top *t)
{
	struct screen s = { .tty = true, .color = term_has_color() };
	struct term tm = { .have = false };
	sigset_t old, waitmask;
	uint64_t next = 0;
	enum wake w = WAKE_NONE;
	bool dirty = true;
	int rc = 0;

	buf_init(&s.out, 16u << 20);
	signals_catch(&old, &waitmask);
	t->keys = isatty(STDIN_FILENO);
	term_size(&s);
	if (term_enter(&tm, t->keys) < 0)
		rc = 1;
	while (rc == 0 && !got_quit && w != WAKE_QUIT) {
		if (w == WAKE_REFRESH || now_mono_ms() >= next) {
			refresh(t);
			sub_open(t);
			next = now_mono_ms() + t->interval_ms;
			dirty = true;
		}
		if (got_tstp) {
			got_tstp = 0;
			suspend(&tm, t->keys);
			got_winch = 1;
		}
		if (got_winch) {
			got_winch = 0;
			term_size(&s);
			s.clear = dirty = true;
		}
		if ((dirty || w == WAKE_DRAW) && frame_write(t, &s) < 0)
			rc = 1;	/* the terminal is gone */
		dirty = false;
		if (rc == 0)
			w = wait_for_wake(t, next, &waitmask);
	}
	term_leave(&tm);
	sigprocmask(SIG_SETMASK, &old, NULL);
	buf_free(&s.out);
	return rc;
}

/* Not a terminal: the tables once, as text. */
static int
snapshot(struct top *t)
{
	struct screen s = { .tty = false, .rows = INT_MAX,
	    .cols = LINE_MAX_COLS };
	int rc = 0;

	refresh(t);
	if (t->st == NULL) {
		fprintf(stderr, "llmfbctl: top: llmfbd unreachable: %s\n",
		    t->why);
		return 1;
	}
	recent_seed(t);
	buf_init(&s.out, 16u << 20);
	if (frame_write(t, &s) < 0)
		rc = 1;
	buf_free(&s.out);
	return rc;
}

int
top_main(int argc, char **argv)
{
	struct top t = { .interval_ms = 1000, .sub = -1 };
	int ch, rc;

	optind = 1;
	while ((ch = getopt(argc, argv, "i:")) != -1) {
		if (ch != 'i' || parse_interval(optarg, &t.interval_ms) < 0) {
			usage();
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage();
		return EXIT_USAGE;
	}
	buf_init(&t.pending, CTL_FOLLOW_MAX + 1);
	rc = isatty(STDOUT_FILENO) ? live(&t) : snapshot(&t);
	sub_close(&t);
	buf_free(&t.pending);
	table_free(&t.routes);
	table_free(&t.targets);
	table_free(&t.callers);
	recent_free(&t.recent);
	json_decref(t.st);
	return rc;
}
