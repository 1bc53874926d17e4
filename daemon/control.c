#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "buf.h"
#include "config.h"
#include "control.h"
#include "ctl_proto.h"
#include "daemon.h"
#include "events.h"
#include "ladder.h"
#include "log.h"
#include "server.h"
#include "stats.h"
#include "util.h"

struct control {
	struct daemon	*d;
	struct watcher	 w;
	char		*path;
};

struct cconn {
	struct watcher	 w;
	struct control	*ctl;
	struct buf	 in;
	struct buf	 out;
	bool		 replied;
	bool		 closed;
};

static void
cconn_close(struct cconn *cc)
{
	if (cc->closed)
		return;
	cc->closed = true;
	watcher_del(cc->ctl->d->loop, &cc->w);
	close(cc->w.fd);
	buf_free(&cc->in);
	buf_free(&cc->out);
	loop_defer(cc->ctl->d->loop, free, cc);
}

static void
cconn_flush(struct cconn *cc)
{
	while (buf_pending(&cc->out) > 0) {
		ssize_t n = send(cc->w.fd, buf_head(&cc->out),
		    buf_pending(&cc->out), MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			watcher_mod(cc->ctl->d->loop, &cc->w, EPOLLOUT);
			return;
		}
		if (n < 0) {
			cconn_close(cc);
			return;
		}
		buf_consume(&cc->out, (size_t)n);
	}
	cconn_close(cc);
}

static void
reply(struct cconn *cc, bool ok, const char *payload)
{
	size_t len = strlen(payload);

	cc->replied = true;
	buf_printf(&cc->out, "%s %zu\n", ok ? "OK" : "ERR", len);
	buf_add(&cc->out, payload, len);
	cconn_flush(cc);
}

static void
reply_json(struct cconn *cc, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s == NULL)
		reply(cc, false, "out of memory");
	else
		reply(cc, true, s);
	free(s);
	json_decref(j);
}

static json_t *
status_breaker(const struct target *t, const struct tstat *ts)
{
	uint64_t now = now_mono_ms();
	uint64_t wait = breaker_wait_ms(&ts->br, &t->breaker, now);

	return json_pack("{s:s, s:b, s:I, s:I, s:I}",
	    "state", breaker_state_name(breaker_state(&ts->br, &t->breaker,
	    now)),
	    "manual", ts->br.manual,
	    "opens", (json_int_t)ts->br.opens,
	    "skipped", (json_int_t)ts->skipped_open,
	    "half_open_in_ms", wait == UINT64_MAX ? (json_int_t)-1 :
	    (json_int_t)wait);
}

/* trip/reset TARGET: a breaker by hand. */
static void
handle_breaker(struct cconn *cc, const char *verb, const char *name)
{
	struct daemon *d = cc->ctl->d;
	const struct target *t = config_target(d->cfg, name);
	struct tstat *ts;

	if (t == NULL) {
		reply(cc, false, "no such target");
		return;
	}
	ts = stats_target(d->stats, t->name);
	if (strcmp(verb, CTL_VERB_TRIP) == 0)
		breaker_trip(&ts->br, now_mono_ms());
	else
		breaker_reset(&ts->br);
	log_info("target %s: breaker %s by hand", t->name,
	    ts->br.state == BREAKER_OPEN ? "tripped" : "reset");
	reply_json(cc, json_pack("{s:s, s:o}", "target", t->name,
	    "breaker", status_breaker(t, ts)));
}

/* Nonzero counters by failure kind, {"quality": 2, ...}. */
static json_t *
by_fail_kind(const uint64_t *v)
{
	json_t *o = json_object();
	int k;

	for (k = FK_TECHNICAL; k < FK_COUNT; k++)
		if (v[k] > 0)
			json_object_set_new(o, fail_kind_name((enum fail_kind)k),
			    json_integer((json_int_t)v[k]));
	return o;
}

static json_t *
pct_or_null(size_t (*fn)(const struct latency *, uint64_t, uint64_t, int,
    uint32_t *), const struct latency *l, uint64_t now, int pct)
{
	uint32_t v;

	return fn(l, now, 0, pct, &v) > 0 ? json_integer(v) : json_null();
}

/* Recent times, over the samples the target keeps. */
static json_t *
status_latency(const struct latency *l)
{
	uint64_t now = now_mono_ms();

	return json_pack("{s:i, s:o, s:o, s:o, s:o}", "samples",
	    (int)l->count,
	    "first_token_p50_ms", pct_or_null(latency_ttft_pct, l, now, 50),
	    "first_token_p95_ms", pct_or_null(latency_ttft_pct, l, now, 95),
	    "total_p50_ms", pct_or_null(latency_total_pct, l, now, 50),
	    "total_p95_ms", pct_or_null(latency_total_pct, l, now, 95));
}

static json_t *
status_spend(struct daemon *d, const char *kind, const char *name)
{
	char key[400];
	struct spend s;

	snprintf(key, sizeof(key), "%s:%s", kind, name);
	s = budgets_get(d->budgets, key, time(NULL));
	return json_pack("{s:f, s:f}", "hour_usd", s.hour, "day_usd", s.day);
}

static json_t *
status_targets(struct daemon *d)
{
	const struct config *c = d->cfg;
	json_t *arr = json_array();
	size_t i, k;

	for (i = 0; i < c->ntargets; i++) {
		const struct target *t = &c->targets[i];
		struct tstat *ts = stats_target(d->stats, t->name);
		json_t *kinds = json_object();

		for (k = 0; k < OUTCOME_KINDS; k++) {
			struct outcome o = { .kind = (enum outcome_kind)k };

			if (ts->by_kind[k] > 0 && k != OUT_OK)
				json_object_set_new(kinds, outcome_name(&o),
				    json_integer((json_int_t)ts->by_kind[k]));
		}
		for (k = 1; k < 6; k++) {
			char key[8];

			if (ts->by_status[k] == 0)
				continue;
			snprintf(key, sizeof(key), "%zuxx", k);
			json_object_set_new(kinds, key,
			    json_integer((json_int_t)ts->by_status[k]));
		}
		json_array_append_new(arr, json_pack(
		    "{s:s, s:s, s:s, s:s?, s:s, s:I, s:I, s:I, s:I, s:o, s:s?,"
		    " s:o, s:o, s:o, s:o, s:I, s:{s:I, s:I}, s:f, s:{s:f, s:f}}",
		    "name", t->name, "provider", t->provider->name,
		    "dialect", dialect_name(t->provider->dialect),
		    "model", t->model, "base_url", t->provider->base_url,
		    "attempts", (json_int_t)ts->attempts,
		    "served", (json_int_t)ts->served,
		    "fallback_served", (json_int_t)ts->fallback_served,
		    "failures", (json_int_t)ts->failures,
		    "failures_by", kinds,
		    "last_failure", ts->last_failure[0] ?
		    ts->last_failure : NULL,
		    "breaker", status_breaker(t, ts),
		    "failures_by_kind", by_fail_kind(ts->by_fail),
		    "skipped", by_fail_kind(ts->skipped),
		    "latency", status_latency(&ts->lat),
		    "in_flight", (json_int_t)ts->in_flight,
		    "tokens", "input", (json_int_t)ts->in_tokens,
		    "output", (json_int_t)ts->out_tokens,
		    "spend_usd", ts->spend_usd,
		    "price", "input", t->price.input, "output",
		    t->price.output));
	}
	return arr;
}

static json_t *
status_routes(struct daemon *d)
{
	const struct config *c = d->cfg;
	json_t *arr = json_array();
	size_t i, k;

	for (i = 0; i < c->nroutes; i++) {
		const struct route *r = &c->routes[i];
		struct rstat *rs = stats_route(d->stats, r->name);
		json_t *ladder = json_array();

		for (k = 0; k < r->nladder; k++)
			json_array_append_new(ladder,
			    json_string(r->ladder[k]->name));
		json_array_append_new(arr, json_pack(
		    "{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:f,"
		    " s:o}",
		    "name", r->name, "ladder", ladder,
		    "calls", (json_int_t)rs->calls,
		    "fallbacks", (json_int_t)rs->fallbacks,
		    "safe_failures", (json_int_t)rs->safe_failures,
		    "errors_passed_on", (json_int_t)rs->delivered_errors,
		    "client_gone", (json_int_t)rs->client_gone,
		    "fallbacks_by_kind", by_fail_kind(rs->fallback_by),
		    "midstream_continued", (json_int_t)rs->midstream_continued,
		    "midstream_errors", (json_int_t)rs->midstream_errors,
		    "spend_usd", rs->spend_usd,
		    "budget", status_spend(d, "route", r->name)));
	}
	return arr;
}

json_t *
control_status(struct daemon *d)
{
	const struct config *c = d->cfg;
	json_t *hosts = json_array();
	size_t i;

	for (i = 0; i < c->nintercept; i++)
		json_array_append_new(hosts, json_string(c->intercept[i]));
	return json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
	    "version", LLMFB_VERSION,
	    "pid", (json_int_t)getpid(),
	    "uptime_s", (json_int_t)(time(NULL) - d->started),
	    "config", c->path, "listen", c->listen, "control", c->control,
	    "intercept", hosts,
	    "reloads", (json_int_t)d->reloads,
	    "reload_failures", (json_int_t)d->reload_failures,
	    "clients", (json_int_t)server_clients(d->server),
	    "accepted", (json_int_t)server_accepted(d->server),
	    "calls", (json_int_t)d->stats->calls,
	    "in_flight", (json_int_t)d->stats->in_flight,
	    "passthrough", (json_int_t)d->stats->passthrough,
	    "rejected", (json_int_t)d->stats->rejected,
	    "targets", status_targets(d),
	    "routes", status_routes(d));
}

/* events [N]: the latest per-call records, oldest first. */
static void
handle_events(struct cconn *cc, const char *arg)
{
	const char *lines[EVENTS_RING];
	json_t *arr = json_array();
	uint64_t n = 20;
	size_t i, got;

	if (arg != NULL && parse_u64(arg, 1, EVENTS_RING, &n) < 0) {
		json_decref(arr);
		reply(cc, false, "events: N is a number from 1 to 256");
		return;
	}
	got = events_latest(cc->ctl->d->events, (size_t)n, lines,
	    EVENTS_RING);
	for (i = 0; i < got; i++) {
		json_t *ev = json_loads(lines[i], 0, NULL);

		if (ev != NULL)
			json_array_append_new(arr, ev);
	}
	reply_json(cc, json_pack("{s:I, s:o}", "total",
	    (json_int_t)events_total(cc->ctl->d->events), "events", arr));
}

static void
handle(struct cconn *cc, char *line)
{
	struct daemon *d = cc->ctl->d;
	char err[CONFIG_ERR_MAX], *arg;

	if (strcmp(line, CTL_VERB_STATUS) == 0) {
		reply_json(cc, control_status(d));
	} else if (strcmp(line, CTL_VERB_EVENTS) == 0) {
		handle_events(cc, NULL);
	} else if (strcmp(line, CTL_VERB_VERSION) == 0) {
		reply_json(cc, json_pack("{s:s}", "version", LLMFB_VERSION));
	} else if (strcmp(line, CTL_VERB_RELOAD) == 0) {
		if (daemon_reload(d, err, sizeof(err)) < 0)
			reply(cc, false, err);
		else
			reply_json(cc, json_pack("{s:s}", "config",
			    d->cfg->path));
	} else if ((arg = strchr(line, ' ')) != NULL) {
		*arg++ = '\0';
		if (strcmp(line, CTL_VERB_TRIP) == 0 ||
		    strcmp(line, CTL_VERB_RESET) == 0)
			handle_breaker(cc, line, arg);
		else if (strcmp(line, CTL_VERB_EVENTS) == 0)
			handle_events(cc, arg);
		else
			reply(cc, false, "unknown request");
	} else {
		reply(cc, false, "unknown request");
	}
}

static void
cconn_event(struct watcher *w, uint32_t events)
{
	struct cconn *cc = w->arg;
	char chunk[1024], *nl;
	ssize_t n;

	if (cc->closed)
		return;
	if (cc->replied) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			cconn_flush(cc);
		return;
	}
	n = recv(w->fd, chunk, sizeof(chunk), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		cconn_close(cc);
		return;
	}
	if (buf_add(&cc->in, chunk, (size_t)n) < 0) {
		reply(cc, false, "request line too long");
		return;
	}
	if ((nl = memchr(cc->in.data, '\n', cc->in.len)) == NULL)
		return;
	*nl = '\0';
	handle(cc, cc->in.data);
}

/* Root and the daemon's own user only; the socket's mode says the same,
 * this holds even if someone loosens the mode. */
static bool
peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void
control_accept(struct watcher *w, uint32_t events)
{
	struct control *ctl = w->arg;
	struct cconn *cc;
	int fd;

	(void)events;
	while ((fd = accept4(w->fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		cc = xcalloc(1, sizeof(*cc));
		cc->ctl = ctl;
		cc->w.fd = fd;
		cc->w.cb = cconn_event;
		cc->w.arg = cc;
		cc->w.events = EPOLLIN;
		buf_init(&cc->in, CTL_LINE_MAX);
		buf_init(&cc->out, CTL_REPLY_MAX + 64);
		if (watcher_add(ctl->d->loop, &cc->w) < 0) {
			close(fd);
			buf_free(&cc->in);
			buf_free(&cc->out);
			free(cc);
			continue;
		}
		if (!peer_allowed(fd))
			reply(cc, false, "permission denied");
	}
}

struct control *
control_new(struct daemon *d, const char *path)
{
	struct control *ctl;
	int fd;

	if ((fd = unix_listen(path, 0600)) < 0) {
		errno = -fd;
		log_warn("control socket %s", path);
		return NULL;
	}
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->d = d;
	ctl->path = xstrdup(path);
	ctl->w.fd = fd;
	ctl->w.cb = control_accept;
	ctl->w.arg = ctl;
	ctl->w.events = EPOLLIN;
	if (watcher_add(d->loop, &ctl->w) < 0) {
		close(fd);
		free(ctl->path);
		free(ctl);
		return NULL;
	}
	return ctl;
}

void
control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	watcher_del(ctl->d->loop, &ctl->w);
	close(ctl->w.fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
