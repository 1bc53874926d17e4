#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "breaker.h"
#include "budget.h"
#include "config.h"
#include "state.h"
#include "latency.h"
#include "log.h"
#include "loop.h"
#include "shared.h"
#include "stats.h"
#include "util.h"

#define TICK_MS		100	/* breakers' lease checks */
#define HEARTBEAT_MS	1000
#define HOSTS_MAX	256	/* other hosts' heartbeats kept */
#define UNSENT_MAX	4096	/* spends Redis has not confirmed */
#define KEY_MAX		512
#define MSG_MAX		4096
#define BUDGET_OP_KEYS	2	/* a call's: its route's and its caller's */
#define TURN_KEYS	16	/* keys whose spend waits for the turn's end */
#define TURN_EVERY_MS	5	/* spend and counts sent at most this often */
#define HOUR_S		3600
#define DAY_S		86400

/* ---- a hiredis link on our loop --------------------------------------- */

/* hiredis drives the socket through these hooks (its adapters/ are the
 * same idea for libevent, libuv...).  A link is freed only in deferred
 * work: an epoll batch may still hold an event for its watcher after
 * hiredis has let go of the context inside an earlier callback. */
struct rconn {
	struct shared		*sh;
	redisAsyncContext	*ac;	/* NULL once hiredis let it go */
	struct watcher		 w;
	bool			 reading, writing, added;
};

struct host_view {
	char		*name;
	uint64_t	 seen_ms;	/* monotonic, here */
	uint64_t	 lag_us;
	json_t		*view;
};

/* Spend Redis has not confirmed: id 0, never sent (one per key, summed);
 * else one spend whose answer was lost with the link, sent again with
 * the same id so Redis counts it once (docs/fleet.md). */
struct unsent {
	char		*key;
	uint64_t	 id;
	int64_t		 hour, day;	/* the windows of h and d */
	double		 h, d;
};

/* A key's spend from the calls that ended in this loop turn. */
struct turn_spend {
	char		 key[KEY_MAX];
	double		 usd;
	time_t		 now;		/* of its first call: its windows */
};

/* An account's requests and tokens from the attempts that began in this
 * loop turn. */
struct turn_count {
	char		 account[KEY_MAX];
	uint64_t	 minute_ms;
	uint64_t	 req, tok;
};

struct shared {
	struct daemon	*d;
	struct shared_conf conf;	/* a copy: strings are ours */
	char		 where[300];	/* the address, for messages */
	char		 channel[SHARED_PREFIX_MAX + 16];
	struct rconn	*cmd, *sub;
	bool		 cmd_ready, sub_ready;
	bool		 failing;	/* a teardown is deferred */
	struct shared	**pending;	/* ... and holds this to us */
	bool		 freeing;
	bool		 auth_said;	/* the refusal is logged once */
	uint64_t	 opened_ms;	/* the links were opened then */
	uint64_t	 sub_seen_ms;	/* our heartbeat came back then */
	struct timer	 reconnect;
	struct timer	 tick;
	struct timer	 stall;		/* an answer overdue */
	struct timer	 lease;		/* max_wait for leases */
	uint64_t	 outstanding;	/* commands not answered yet */
	uint64_t	 last_answer_ms;
	uint64_t	 last_hb_ms;
	struct host_view hosts[HOSTS_MAX];
	size_t		 nhosts;
	struct unsent	*unsent;
	size_t		 nunsent;
	/* Spend is sent once the turn's answers are out, summed per key:
	 * off the answers' path, and one command for the calls of a turn. */
	struct turn_spend turn[TURN_KEYS];
	size_t		 nturn;
	struct turn_count counts[TURN_KEYS];	/* ... and rpm/tpm counts */
	size_t		 ncounts;
	struct timer	 turn_flush;
	uint64_t	 turn_sent_ms;	/* the turn's last were sent then */
	char		 sha[48];	/* the budget script's, loaded */
	char		 rl_sha[48];	/* the rate count script's */
	uint64_t	 nonce;		/* names this run's spend ids */
	uint64_t	 seq;
	char		 lat[MSG_MAX / 2];	/* this tick's samples */
	size_t		 latlen;
	struct shared_stats st;
};

enum op_kind { OP_AUTH, OP_PING, OP_PLAIN, OP_HB, OP_LEASE, OP_BREAKER_GET,
	OP_BUDGET, OP_SCRIPT, OP_RL_SCRIPT, OP_RL_GET, OP_RL_COUNT };

/* One command's context, freed by its callback (hiredis calls it once,
 * with NULL when the link went before the answer). */
struct op {
	struct shared	*sh;
	enum op_kind	 kind;
	uint64_t	 sent_us;
	uint64_t	 ask_ms;	/* OP_LEASE: its fleet_ask_ms */
	int64_t		 hour, day;	/* OP_BUDGET */
	size_t		 nkeys;		/* budget keys in name, \0 apart */
	double		 hadd[BUDGET_OP_KEYS], dadd[BUDGET_OP_KEYS];
	uint64_t	 id;		/* OP_BUDGET: the spend's id */
	uint64_t	 req, tok;	/* OP_RL_COUNT: what it adds, */
	uint64_t	 minute_ms;	/* ... to that minute */
	char		 name[];	/* target, budget key or account */
};

static void link_fail(struct shared *sh, enum shared_fail why,
    const char *detail);
static void went_up(struct shared *sh);

static const char *const fail_names[SHARED_FAIL_COUNT] = {
	[SHARED_FAIL_CONNECT] = "connect", [SHARED_FAIL_AUTH] = "auth",
	[SHARED_FAIL_TIMEOUT] = "timeout", [SHARED_FAIL_LOST] = "lost",
	[SHARED_FAIL_ERROR] = "error",
};

const char *
shared_fail_name(enum shared_fail f)
{
	return f < SHARED_FAIL_COUNT ? fail_names[f] : "?";
}

static uint64_t
now_wall_ms(void)
{
	return now_real_ns() / 1000000;
}

/* Messages carry the sender's wall clock in µs: on a LAN an open
 * arrives well within a millisecond. */
static uint64_t
now_wall_us(void)
{
	return now_real_ns() / 1000;
}

static void
rc_update(struct rconn *rc)
{
	struct loop *l = rc->sh->d->loop;
	uint32_t ev = (rc->reading ? EPOLLIN : 0) |
	    (rc->writing ? EPOLLOUT : 0);

	if (rc->ac == NULL)
		return;
	rc->w.fd = rc->ac->c.fd;
	watcher_want(l, &rc->w, &rc->added, ev);
}

static void
rc_add_read(void *p)
{
	struct rconn *rc = p;

	rc->reading = true;
	rc_update(rc);
}

static void
rc_del_read(void *p)
{
	struct rconn *rc = p;

	rc->reading = false;
	rc_update(rc);
}

static void
rc_add_write(void *p)
{
	struct rconn *rc = p;

	rc->writing = true;
	rc_update(rc);
}

static void
rc_del_write(void *p)
{
	struct rconn *rc = p;

	rc->writing = false;
	rc_update(rc);
}

/* hiredis is freeing the context: its fd closes after this. */
static void
rc_cleanup(void *p)
{
	struct rconn *rc = p;

	if (rc->added)
		watcher_del(rc->sh->d->loop, &rc->w);
	rc->added = false;
	rc->ac = NULL;
	if (!rc->sh->freeing)
		link_fail(rc->sh, SHARED_FAIL_LOST, "closed");
}

static void
rc_event(struct watcher *w, uint32_t events)
{
	struct rconn *rc = w->arg;

	if (rc->ac != NULL && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		redisAsyncHandleRead(rc->ac);
	if (rc->ac != NULL && (events & (EPOLLOUT | EPOLLERR)))
		redisAsyncHandleWrite(rc->ac);
}

static void
rc_on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->ev.data;

	if (status != REDIS_OK)
		link_fail(rc->sh, SHARED_FAIL_CONNECT, ac->errstr);
}

static void
rc_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->ev.data;

	if (status != REDIS_OK && !rc->sh->freeing)
		link_fail(rc->sh, SHARED_FAIL_LOST, ac->errstr);
}

/* A new link, or NULL having counted why. */
static struct rconn *
rc_new(struct shared *sh)
{
	struct rconn *rc;
	redisAsyncContext *ac;

	if (sh->conf.socket != NULL)
		ac = redisAsyncConnectUnix(sh->conf.socket);
	else
		ac = redisAsyncConnect(sh->conf.host, sh->conf.port);
	if (ac == NULL || ac->err) {
		sh->st.failures[SHARED_FAIL_CONNECT]++;
		log_debug("shared: connect %s: %s", sh->where,
		    ac ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		return NULL;
	}
	rc = xcalloc(1, sizeof(*rc));
	rc->sh = sh;
	rc->ac = ac;
	rc->w.fd = ac->c.fd;
	rc->w.cb = rc_event;
	rc->w.arg = rc;
	ac->ev.data = rc;
	ac->ev.addRead = rc_add_read;
	ac->ev.delRead = rc_del_read;
	ac->ev.addWrite = rc_add_write;
	ac->ev.delWrite = rc_del_write;
	ac->ev.cleanup = rc_cleanup;
	redisAsyncSetConnectCallback(ac, rc_on_connect);
	redisAsyncSetDisconnectCallback(ac, rc_on_disconnect);
	return rc;
}

static void
rc_free(struct rconn *rc)
{
	if (rc == NULL)
		return;
	if (rc->ac != NULL)
		redisAsyncFree(rc->ac);	/* calls rc_cleanup */
	free(rc);
}

/* ---- commands --------------------------------------------------------- */

static void op_done(redisAsyncContext *ac, void *reply, void *priv);

static struct op *
op_new_len(struct shared *sh, enum op_kind kind, const char *name,
    size_t len)
{
	struct op *op = xcalloc(1, sizeof(*op) + (len ? len : 1));

	op->sh = sh;
	op->kind = kind;
	op->sent_us = now_mono_us();
	if (name != NULL)
		memcpy(op->name, name, len);
	return op;
}

static struct op *
op_new(struct shared *sh, enum op_kind kind, const char *name)
{
	size_t len = name ? strlen(name) + 1 : 1;
	struct op *op = xcalloc(1, sizeof(*op) + len);

	op->sh = sh;
	op->kind = kind;
	op->sent_us = now_mono_us();
	if (name != NULL)
		memcpy(op->name, name, len);
	return op;
}

static void
stall_arm(struct shared *sh)
{
	if (!timer_armed(&sh->stall))
		timer_set(sh->d->loop, &sh->stall, sh->conf.timeout_ms);
}

/* Send argv on the command link; the op is the callback's (freed there,
 * or here when it cannot be sent). */
static int
cmd_send(struct shared *sh, struct op *op, int argc, const char **argv)
{
	if (sh->cmd == NULL || sh->cmd->ac == NULL || sh->failing ||
	    redisAsyncCommandArgv(sh->cmd->ac, op_done, op, argc, argv,
	    NULL) != REDIS_OK) {
		free(op);
		return -1;
	}
	if (sh->outstanding++ == 0)
		sh->last_answer_ms = now_mono_ms();
	sh->st.ops++;
	stall_arm(sh);
	return 0;
}

static int
cmd_plain(struct shared *sh, int argc, const char **argv)
{
	return cmd_send(sh, op_new(sh, OP_PLAIN, NULL), argc, argv);
}

static void
publish(struct shared *sh, const char *msg)
{
	const char *argv[] = { "PUBLISH", sh->channel, msg };

	cmd_plain(sh, 3, argv);
}

static void
stall_fired(struct timer *t)
{
	struct shared *sh = t->arg;
	uint64_t now = now_mono_ms();

	if (!sh->st.up && !sh->failing && now - sh->opened_ms >=
	    sh->conf.timeout_ms) {
		link_fail(sh, SHARED_FAIL_TIMEOUT, "no answer to connect");
		return;
	}
	if (sh->outstanding == 0)
		return;
	if (now - sh->last_answer_ms >= sh->conf.timeout_ms) {
		link_fail(sh, SHARED_FAIL_TIMEOUT, "no answer");
		return;
	}
	timer_set(sh->d->loop, &sh->stall, sh->last_answer_ms +
	    sh->conf.timeout_ms - now);
}

/* ---- breakers --------------------------------------------------------- */

static bool
breakers_on(const struct shared *sh)
{
	const struct shared_conf *c = sh->d->cfg->shared;

	return c != NULL && c->breakers;
}

static bool
latency_on(const struct shared *sh)
{
	const struct shared_conf *c = sh->d->cfg->shared;

	return c != NULL && c->latency;
}

static bool
budgets_on(const struct shared *sh)
{
	const struct shared_conf *c = sh->d->cfg->shared;

	return c != NULL && c->budgets;
}

static bool
rate_limits_on(const struct shared *sh)
{
	const struct shared_conf *c = sh->d->cfg->shared;

	return c != NULL && c->rate_limits;
}

static void
key_of(struct shared *sh, char *out, size_t len, const char *kind,
    const char *name)
{
	snprintf(out, len, "%s%s:%s", sh->conf.prefix, kind, name);
}

static void
release_holds(struct shared *sh)
{
	const struct config *c = sh->d->cfg;
	struct tstat *ts;
	size_t i;

	for (i = 0; i < c->ntargets; i++) {
		ts = stats_target(sh->d->stats, c->targets[i].name);
		ts->br.fleet_hold = false;
		ts->br.fleet_ask_ms = 0;
	}
}

static void
publish_open(struct shared *sh, const struct target *t, uint64_t left_ms)
{
	char key[KEY_MAX], val[128], px[32], msg[MSG_MAX];
	uint64_t wall = now_wall_ms();
	const char *set[] = { "SET", key, val, "PX", px };
	const char *del[] = { "DEL", key };

	if (left_ms == 0)
		left_ms = 1;
	snprintf(val, sizeof(val), "%s %" PRIu64, sh->conf.name, wall);
	snprintf(px, sizeof(px), "%" PRIu64, left_ms);
	key_of(sh, key, sizeof(key), "breaker", t->name);
	cmd_plain(sh, 5, set);
	/* A new half-open later: the lease is raced for afresh. */
	key_of(sh, key, sizeof(key), "probe", t->name);
	cmd_plain(sh, 2, del);
	snprintf(msg, sizeof(msg), "open %s %" PRIu64 " %s %" PRIu64,
	    sh->conf.name, now_wall_us(), t->name, left_ms);
	publish(sh, msg);
}

void
shared_breaker_changed(struct shared *sh, const struct target *t,
    struct breaker *b)
{
	char key[KEY_MAX], msg[MSG_MAX];
	const char *del[] = { "DEL", key };

	if (sh == NULL || !sh->st.up || !breakers_on(sh) || b->manual ||
	    b->unreachable)
		return;
	if (b->state == BREAKER_OPEN) {
		b->fleet_hold = true;
		publish_open(sh, t, t->breaker.cooldown_ms);
		log_info("shared: breaker of %s opened here: told the fleet",
		    t->name);
	} else if (b->state == BREAKER_CLOSED) {
		key_of(sh, key, sizeof(key), "breaker", t->name);
		cmd_plain(sh, 2, del);
		key_of(sh, key, sizeof(key), "probe", t->name);
		cmd_plain(sh, 2, del);
		snprintf(msg, sizeof(msg), "close %s %" PRIu64 " %s",
		    sh->conf.name, now_wall_us(), t->name);
		publish(sh, msg);
		log_info("shared: breaker of %s closed by a probe here: told "
		    "the fleet", t->name);
	}
}

static void
lease_reply(struct shared *sh, const struct op *op, const redisReply *r)
{
	const struct target *t = config_target(sh->d->cfg, op->name);
	struct breaker *b;

	if (t == NULL)
		return;
	b = &stats_target(sh->d->stats, t->name)->br;
	if (b->fleet_ask_ms != op->ask_ms || !b->fleet_hold)
		return;		/* late: it went on alone, or moved on */
	b->fleet_ask_ms = 0;
	if (r != NULL && r->type == REDIS_REPLY_STATUS) {
		b->fleet_hold = false;	/* ours: half-open here */
		sh->st.leases_won++;
		log_info("shared: %s: this host probes for the fleet",
		    t->name);
	} else if (r != NULL && r->type == REDIS_REPLY_NIL) {
		/* Another host probes: wait for its word, or for another
		 * cooldown if it never comes. */
		b->opened_ms = now_mono_ms();
		sh->st.leases_lost++;
	} else {
		b->fleet_hold = false;
	}
}

/* Held breakers whose cooldown has passed ask for the probe lease. */
static void
leases_ask(struct shared *sh)
{
	const struct config *c = sh->d->cfg;
	uint64_t now = now_mono_ms();
	char key[KEY_MAX], px[32];
	const char *argv[] = { "SET", key, sh->conf.name, "NX", "PX", px };
	struct breaker *b;
	struct op *op;
	size_t i;

	for (i = 0; i < c->ntargets; i++) {
		const struct target *t = &c->targets[i];

		b = &stats_target(sh->d->stats, t->name)->br;
		if (!b->fleet_hold || b->state != BREAKER_OPEN ||
		    b->fleet_ask_ms != 0 ||
		    now < b->opened_ms + t->breaker.cooldown_ms)
			continue;
		key_of(sh, key, sizeof(key), "probe", t->name);
		snprintf(px, sizeof(px), "%" PRIu64,
		    t->breaker.cooldown_ms ? t->breaker.cooldown_ms : 1);
		op = op_new(sh, OP_LEASE, t->name);
		op->ask_ms = b->fleet_ask_ms = now ? now : 1;
		if (cmd_send(sh, op, 6, argv) < 0) {
			b->fleet_hold = false;
			b->fleet_ask_ms = 0;
			continue;
		}
		if (!timer_armed(&sh->lease))
			timer_set(sh->d->loop, &sh->lease,
			    sh->conf.max_wait_ms);
	}
}

/* max_wait passed: a lease still unanswered is not waited for. */
static void
lease_fired(struct timer *tm)
{
	struct shared *sh = tm->arg;
	const struct config *c = sh->d->cfg;
	uint64_t now = now_mono_ms(), next = 0;
	struct breaker *b;
	size_t i;

	for (i = 0; i < c->ntargets; i++) {
		b = &stats_target(sh->d->stats, c->targets[i].name)->br;
		if (!b->fleet_hold || b->fleet_ask_ms == 0)
			continue;
		if (now - b->fleet_ask_ms >= sh->conf.max_wait_ms) {
			b->fleet_hold = false;
			b->fleet_ask_ms = 0;
			sh->st.leases_late++;
			log_warnx("shared: %s: no lease answer within %" PRIu64
			    " ms: half-open here alone", c->targets[i].name,
			    sh->conf.max_wait_ms);
		} else if (next == 0 || b->fleet_ask_ms +
		    sh->conf.max_wait_ms - now < next) {
			next = b->fleet_ask_ms + sh->conf.max_wait_ms - now;
		}
	}
	if (next > 0)
		timer_set(sh->d->loop, &sh->lease, next);
}

static void
breaker_get_reply(struct shared *sh, const struct op *op,
    const redisReply *r)
{
	const struct target *t = config_target(sh->d->cfg, op->name);
	struct breaker *b;
	long long pttl;

	if (t == NULL || r == NULL || r->type != REDIS_REPLY_ARRAY ||
	    r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_INTEGER)
		return;
	pttl = r->element[1]->integer;
	/* "HOST WALL_MS": our own open, from before a restart, counts
	 * the same as another host's. */
	if (pttl <= 0)
		return;
	b = &stats_target(sh->d->stats, t->name)->br;
	if (breaker_fleet_open(b, &t->breaker, (uint64_t)pttl,
	    now_mono_ms())) {
		sh->st.remote_opens++;
		log_info("shared: %s: open in the fleet (%s): open here too",
		    t->name, r->element[0]->str);
	}
}

/* On connecting: tell the fleet what opened here while Redis was away,
 * then learn what is open there. */
static void
breakers_resync(struct shared *sh)
{
	static const char script[] =
	    "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";
	const struct config *c = sh->d->cfg;
	uint64_t now = now_mono_ms();
	char key[KEY_MAX];
	const char *argv[] = { "EVAL", script, "1", key };
	struct breaker *b;
	size_t i;

	for (i = 0; i < c->ntargets; i++) {
		const struct target *t = &c->targets[i];

		b = &stats_target(sh->d->stats, t->name)->br;
		if (b->state == BREAKER_OPEN && !b->manual &&
		    !b->unreachable && !b->fleet_remote &&
		    breaker_wait_ms(b, &t->breaker, now) > 0) {
			b->fleet_hold = true;
			publish_open(sh, t, breaker_wait_ms(b, &t->breaker,
			    now));
		}
		key_of(sh, key, sizeof(key), "breaker", t->name);
		cmd_send(sh, op_new(sh, OP_BREAKER_GET, t->name), 4, argv);
	}
}

static void
on_open(struct shared *sh, const char *host, const char *target,
    uint64_t left_ms)
{
	const struct target *t = config_target(sh->d->cfg, target);
	struct breaker *b;

	if (t == NULL || !breakers_on(sh))
		return;
	b = &stats_target(sh->d->stats, t->name)->br;
	if (breaker_fleet_open(b, &t->breaker, left_ms, now_mono_ms())) {
		sh->st.remote_opens++;
		sh->st.open_lag_us = sh->st.lag_us;
		log_info("shared: %s opened the breaker of %s: open here too",
		    host, t->name);
	}
}

static void
on_close(struct shared *sh, const char *host, const char *target)
{
	const struct target *t = config_target(sh->d->cfg, target);

	if (t == NULL || !breakers_on(sh))
		return;
	if (breaker_fleet_close(&stats_target(sh->d->stats, t->name)->br)) {
		sh->st.remote_closes++;
		log_info("shared: %s's probe closed the breaker of %s: closed "
		    "here too", host, t->name);
	}
}

/* ---- budgets ---------------------------------------------------------- */

/* For each of N budget keys: raise its hour and day to at least the
 * floors, add, publish the totals; the totals back as strings (a Lua
 * number would lose the fraction).  The adds count once per id: a spend
 * sent again after its answer was lost is not counted twice (the id is
 * kept an hour).  KEYS: hour and day of each key, then the id.  ARGV:
 * hour floor, day floor, hour add, day add of each key; hour ttl ms, day
 * ttl ms, channel, message head, id ttl ms; the budget keys. */
static const char budget_script[] =
    "local n = (#KEYS - 1) / 2\n"
    "local any = false\n"
    "for i = 1, n do\n"
    "  if tonumber(ARGV[4*i-1]) > 0 or tonumber(ARGV[4*i]) > 0 then\n"
    "    any = true\n"
    "  end\n"
    "end\n"
    "local fresh = not any or\n"
    "    redis.call('SET', KEYS[#KEYS], '1', 'NX', 'PX', ARGV[4*n+5])\n"
    "local out = {}\n"
    "for i = 1, n do\n"
    "  local tot = {}\n"
    "  for j = 0, 1 do\n"
    "    local k = KEYS[2*i-1+j]\n"
    "    local v = tonumber(redis.call('GET', k) or '0') or 0\n"
    "    local floor = tonumber(ARGV[4*i-3+j])\n"
    "    if floor > v then redis.call('SET', k, ARGV[4*i-3+j]) v = floor end\n"
    "    local add = 0\n"
    "    if fresh then add = tonumber(ARGV[4*i-1+j]) end\n"
    "    if add > 0 then\n"
    "      tot[j+1] = redis.call('INCRBYFLOAT', k, ARGV[4*i-1+j])\n"
    "    else\n"
    "      tot[j+1] = string.format('%.17g', v)\n"
    "    end\n"
    "    if v > 0 or add > 0 then\n"
    "      redis.call('PEXPIRE', k, ARGV[4*n+1+j])\n"
    "    end\n"
    "  end\n"
    "  out[2*i-1] = tot[1]\n"
    "  out[2*i] = tot[2]\n"
    "  redis.call('PUBLISH', ARGV[4*n+3], ARGV[4*n+4] .. ' ' .. tot[1] ..\n"
    "      ' ' .. tot[2] .. ' ' .. ARGV[4*n+5+i])\n"
    "end\n"
    "return out\n";

static int64_t
window(time_t now, int64_t width)
{
	return (int64_t)now >= 0 ? (int64_t)now / width : -1;
}

/* What key has that Redis did not confirm, in now's windows. */
static struct spend
unsent_of(const struct unsent *v, size_t n, const char *key, int64_t hour,
    int64_t day, bool only_new)
{
	struct spend u = { 0, 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(v[i].key, key) != 0 || (only_new && v[i].id != 0))
			continue;
		if (v[i].hour == hour)
			u.hour += v[i].h;
		if (v[i].day == day)
			u.day += v[i].d;
	}
	return u;
}

/* Spend Redis did not take (id 0) or may not have (its id): sent on the
 * next connect.  Past UNSENT_MAX entries it is counted locally only. */
static void
unsent_add(struct shared *sh, const char *key, uint64_t id, double h,
    double d, int64_t hour, int64_t day)
{
	struct unsent *u = NULL;
	size_t i;

	for (i = 0; id == 0 && i < sh->nunsent; i++)
		if (sh->unsent[i].id == 0 &&
		    strcmp(sh->unsent[i].key, key) == 0)
			u = &sh->unsent[i];
	if (u == NULL) {
		if (sh->nunsent == UNSENT_MAX)
			return;
		if (sh->unsent == NULL)
			sh->unsent = xcalloc(UNSENT_MAX, sizeof(*sh->unsent));
		u = &sh->unsent[sh->nunsent++];
		u->key = xstrdup(key);
		u->id = id;
		u->hour = hour;
		u->day = day;
	}
	if (u->hour != hour) {
		u->hour = hour;
		u->h = 0;
	}
	if (u->day != day) {
		u->day = day;
		u->d = 0;
	}
	u->h += h;
	u->d += d;
}

static void
unsent_clear(struct shared *sh)
{
	size_t i;

	for (i = 0; i < sh->nunsent; i++)
		free(sh->unsent[i].key);
	sh->nunsent = 0;
}

/* One key's part of a budget command. */
struct bitem {
	const char	*key;
	double		 hfloor, dfloor;
	double		 hadd, dadd;
};

/* Send the keys' floors and adds (n at most BUDGET_OP_KEYS) in one
 * command; id 0: a new spend id.  What cannot be sent waits for the
 * next connect, under the id. */
static void
budget_sync(struct shared *sh, const struct bitem *it, size_t n, time_t now,
    uint64_t id)
{
	char hk[BUDGET_OP_KEYS][KEY_MAX], dk[BUDGET_OP_KEYS][KEY_MAX];
	char a[BUDGET_OP_KEYS][4][40], ik[KEY_MAX], head[200], nk[8];
	char names[BUDGET_OP_KEYS * KEY_MAX];
	int64_t hour = window(now, HOUR_S), day = window(now, DAY_S);
	const char *argv[9 + 7 * BUDGET_OP_KEYS];
	size_t i, j, argc = 0, len = 0, kl;
	struct op *op;

	if (n == 0 || n > BUDGET_OP_KEYS)
		return;
	if (id == 0)
		id = ++sh->seq;
	snprintf(ik, sizeof(ik), "%sspend:%s:%" PRIu64 ":%" PRIu64,
	    sh->conf.prefix, sh->conf.name, sh->nonce, id);
	snprintf(head, sizeof(head), "spend %s %" PRId64 " %" PRId64,
	    sh->conf.name, hour, day);
	snprintf(nk, sizeof(nk), "%zu", 2 * n + 1);
	/* EVALSHA once the script is loaded on this link: Redis need not
	 * hash the script for every spend. */
	argv[argc++] = sh->sha[0] ? "EVALSHA" : "EVAL";
	argv[argc++] = sh->sha[0] ? sh->sha : budget_script;
	argv[argc++] = nk;
	for (i = 0; i < n; i++) {
		snprintf(hk[i], sizeof(hk[i]), "%sbudget:h:%" PRId64 ":%s",
		    sh->conf.prefix, hour, it[i].key);
		snprintf(dk[i], sizeof(dk[i]), "%sbudget:d:%" PRId64 ":%s",
		    sh->conf.prefix, day, it[i].key);
		argv[argc++] = hk[i];
		argv[argc++] = dk[i];
	}
	argv[argc++] = ik;
	for (i = 0; i < n; i++) {
		double v[4] = { it[i].hfloor > 0 ? it[i].hfloor : 0,
			it[i].dfloor > 0 ? it[i].dfloor : 0, it[i].hadd,
			it[i].dadd };

		for (j = 0; j < 4; j++) {
			snprintf(a[i][j], sizeof(a[i][j]), "%.17g", v[j]);
			argv[argc++] = a[i][j];
		}
	}
	argv[argc++] = "7200000";
	argv[argc++] = "172800000";
	argv[argc++] = sh->channel;
	argv[argc++] = head;
	argv[argc++] = "3600000";
	for (i = 0; i < n; i++) {
		argv[argc++] = it[i].key;
		kl = strlen(it[i].key) + 1;
		if (len + kl > sizeof(names))
			return;
		memcpy(names + len, it[i].key, kl);
		len += kl;
	}
	op = op_new_len(sh, OP_BUDGET, names, len);
	op->hour = hour;
	op->day = day;
	op->nkeys = n;
	op->id = id;
	for (i = 0; i < n; i++) {
		op->hadd[i] = it[i].hadd;
		op->dadd[i] = it[i].dadd;
	}
	if (cmd_send(sh, op, (int)argc, argv) < 0)
		for (i = 0; i < n; i++)
			if (it[i].hadd > 0 || it[i].dadd > 0)
				unsent_add(sh, it[i].key, id, it[i].hadd,
				    it[i].dadd, hour, day);
}

/* The fleet's totals for key in windows hour and day: local spend is
 * raised to them, never lowered (local spend not yet in them is ours). */
static void
budget_apply(struct shared *sh, const char *key, int64_t hour, int64_t day,
    double htotal, double dtotal)
{
	time_t now = time(NULL);
	struct spend floor = { 0, 0 };

	if (!isfinite(htotal) || !isfinite(dtotal) || htotal < 0 ||
	    dtotal < 0)
		return;
	if (hour == window(now, HOUR_S))
		floor.hour = htotal;
	if (day == window(now, DAY_S))
		floor.day = dtotal;
	budgets_raise(sh->d->budgets, key, floor, now);
}

static bool
parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || (*end != '\0' && *end != ' '))
		return false;
	*ret = v;
	return true;
}

/* The op's keys, as items with no floors (for sending it again). */
static size_t
op_items(const struct op *op, struct bitem *it, bool hour, bool day)
{
	const char *k = op->name;
	size_t i;

	for (i = 0; i < op->nkeys; i++) {
		it[i] = (struct bitem){ .key = k,
			.hadd = hour ? op->hadd[i] : 0,
			.dadd = day ? op->dadd[i] : 0 };
		k += strlen(k) + 1;
	}
	return op->nkeys;
}

static void
budget_reply(struct shared *sh, const struct op *op, const redisReply *r)
{
	struct bitem it[BUDGET_OP_KEYS];
	double h, d;
	size_t i, n;

	if (r == NULL) {
		/* The link went with the answer: Redis may or may not have
		 * counted it.  Sent again on connect under its id, so it
		 * counts once either way. */
		if (sh->freeing)
			return;
		n = op_items(op, it, true, true);
		for (i = 0; i < n; i++)
			if (it[i].hadd > 0 || it[i].dadd > 0)
				unsent_add(sh, it[i].key, op->id, it[i].hadd,
				    it[i].dadd, op->hour, op->day);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) ==
	    0) {
		/* Flushed by hand (SCRIPT FLUSH): back to EVAL, and this
		 * spend sent again under its id. */
		time_t now = time(NULL);
		bool hour = op->hour == window(now, HOUR_S);
		bool day = op->day == window(now, DAY_S);

		sh->sha[0] = '\0';
		if (hour || day)
			budget_sync(sh, it, op_items(op, it, hour, day), now,
			    op->id);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * op->nkeys)
		return;
	n = op_items(op, it, true, true);
	for (i = 0; i < n; i++) {
		if (r->element[2 * i]->type != REDIS_REPLY_STRING ||
		    r->element[2 * i + 1]->type != REDIS_REPLY_STRING ||
		    !parse_double(r->element[2 * i]->str, &h) ||
		    !parse_double(r->element[2 * i + 1]->str, &d))
			continue;
		budget_apply(sh, it[i].key, op->hour, op->day, h, d);
	}
}

static void counts_flush(struct shared *sh);

/* Send the turn's spend: a command per BUDGET_OP_KEYS keys of the same
 * windows; and its rate counts. */
static void
turn_flush(struct shared *sh)
{
	struct bitem it[BUDGET_OP_KEYS];
	size_t i = 0, n;
	time_t now;

	while (i < sh->nturn) {
		now = sh->turn[i].now;
		for (n = 0; i < sh->nturn && n < BUDGET_OP_KEYS &&
		    window(sh->turn[i].now, HOUR_S) == window(now, HOUR_S) &&
		    window(sh->turn[i].now, DAY_S) == window(now, DAY_S);
		    i++, n++)
			it[n] = (struct bitem){ .key = sh->turn[i].key,
				.hadd = sh->turn[i].usd,
				.dadd = sh->turn[i].usd };
		budget_sync(sh, it, n, now, 0);
	}
	sh->nturn = 0;
	counts_flush(sh);
	sh->turn_sent_ms = now_mono_ms();
}

/* The next send of the turn's spend and counts: in the next turn, once
 * this one's answers are out, or TURN_EVERY_MS after the last send, so
 * that a busy host sends one command a key for many calls. */
static void
turn_arm(struct shared *sh)
{
	uint64_t now = now_mono_ms(), due = sh->turn_sent_ms + TURN_EVERY_MS;

	if (!timer_armed(&sh->turn_flush))
		timer_set(sh->d->loop, &sh->turn_flush, due > now ?
		    due - now : 0);
}

static void
turn_flush_fired(struct timer *t)
{
	turn_flush(t->arg);
}

static void
turn_add(struct shared *sh, const char *key, double usd, time_t now)
{
	struct turn_spend *t;
	size_t i;

	for (i = 0; i < sh->nturn; i++) {
		t = &sh->turn[i];
		if (strcmp(t->key, key) == 0 &&
		    window(t->now, DAY_S) == window(now, DAY_S) &&
		    window(t->now, HOUR_S) == window(now, HOUR_S)) {
			t->usd += usd;
			return;
		}
	}
	if (strlen(key) >= KEY_MAX)
		return;
	if (sh->nturn == TURN_KEYS)
		turn_flush(sh);
	t = &sh->turn[sh->nturn++];
	snprintf(t->key, sizeof(t->key), "%s", key);
	t->usd = usd;
	t->now = now;
}

void
shared_budget_add(struct shared *sh, const char *const *keys, size_t n,
    double usd, time_t now)
{
	size_t i;

	if (sh == NULL || !budgets_on(sh) || !isfinite(usd) || usd <= 0 ||
	    n > BUDGET_OP_KEYS)
		return;
	if (!sh->st.up) {
		sh->st.budget_offline++;
		for (i = 0; i < n; i++)
			unsent_add(sh, keys[i], 0, usd, usd,
			    window(now, HOUR_S), window(now, DAY_S));
		return;
	}
	for (i = 0; i < n; i++)
		turn_add(sh, keys[i], usd, now);
	turn_arm(sh);
}

/* On connecting: each key's spend as this host knows it, less what
 * Redis has not confirmed, is a floor for the fleet's (a Redis that
 * restarted empty gets it back); what was spent while Redis was away is
 * added on top, and spends whose answer was lost are sent again under
 * their ids (counted only if Redis had not). */
static void
budgets_resync(struct shared *sh)
{
	const struct config *c = sh->d->cfg;
	time_t now = time(NULL);
	int64_t hour = window(now, HOUR_S), day = window(now, DAY_S);
	struct unsent *pend = sh->unsent;
	size_t i, npend = sh->nunsent;
	struct spend s, u, a;
	char key[80];
	const char *k;

	/* This turn's spend is added before the floors are raised, so
	 * that the floors, which count it, do not count it twice. */
	turn_flush(sh);
	/* Sends that fail now queue anew: work from the old list. */
	sh->unsent = NULL;
	sh->nunsent = 0;
	for (i = 0; (k = budgets_key(sh->d->budgets, i, &s, now)) != NULL;
	    i++) {
		u = unsent_of(pend, npend, k, hour, day, false);
		a = unsent_of(pend, npend, k, hour, day, true);
		if (s.hour <= 0 && s.day <= 0)
			continue;
		budget_sync(sh, &(struct bitem){ .key = k,
		    .hfloor = s.hour - u.hour, .dfloor = s.day - u.day,
		    .hadd = a.hour, .dadd = a.day }, 1, now, 0);
	}
	/* A spend whose answer was lost goes again whole, its keys in one
	 * command under its id: they were added to the list together. */
	for (i = 0; i < npend; ) {
		struct bitem it[BUDGET_OP_KEYS];
		size_t n = 0;
		uint64_t id = pend[i].id;

		do {
			if (id != 0 && n < BUDGET_OP_KEYS)
				it[n++] = (struct bitem){ .key = pend[i].key,
				    .hadd = pend[i].hour == hour ?
				    pend[i].h : 0,
				    .dadd = pend[i].day == day ?
				    pend[i].d : 0 };
			i++;
		} while (id != 0 && i < npend && pend[i].id == id);
		if (n > 0)
			budget_sync(sh, it, n, now, id);
	}
	for (i = 0; i < npend; i++)
		free(pend[i].key);
	free(pend);
	/* Learn the fleet's spend on routes not spent on here yet. */
	for (i = 0; i < c->nroutes; i++) {
		snprintf(key, sizeof(key), "route:%s", c->routes[i].name);
		s = budgets_get(sh->d->budgets, key, now);
		if (s.hour <= 0 && s.day <= 0)
			budget_sync(sh, &(struct bitem){ .key = key }, 1,
			    now, 0);
	}
}

/* ---- rate limits ------------------------------------------------------ */

/* A provider's limits are an account's, not a host's: what one host
 * learns of an account (a window spent until its reset, a 429's
 * Retry-After) goes to the others, and the requests and tokens of
 * targets with an rpm or tpm are counted fleet-wide in Redis, in
 * wall-clock minutes (the minute in the key), with a local reservation
 * so no call waits.  Accounts are labels (a target's account, else its
 * name: config.c), never keys. */

#define RL_TELL_SLACK_MS	100	/* a later word that adds less: not sent */
#define RL_MAX_MS		(24ULL * 3600 * 1000)
#define RL_COUNT_TTL		"120000"	/* a minute's count, kept two */

static const char *const rl_kind_names[RL_KINDS] = { "requests", "tokens",
	"input-tokens", "output-tokens" };

/* KEYS: the minute's request and token counts.  ARGV: what to add to
 * each, their ttl, the channel, the message head.  The totals back, and
 * to the fleet. */
static const char rl_script[] =
    "local r = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "local t = redis.call('INCRBY', KEYS[2], ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
    "redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. r .. ' ' .. t)\n"
    "return {r, t}\n";

/* Whether st, as this host's own answers left it, says the account is
 * spent: why (429 or the window's name) and until when, else NULL. */
static const char *
rl_spent(const struct rl_state *st, uint64_t now, uint64_t *ret_until)
{
	const struct rl_window *w;
	int k;

	if (st->blocked_until_ms > now) {
		*ret_until = st->blocked_until_ms;
		return "429";
	}
	for (k = 0; k < RL_KINDS; k++) {
		w = &st->w[k];
		if (w->remaining == 0 && w->reset_ms > now) {
			*ret_until = w->reset_ms;
			return rl_kind_names[k];
		}
	}
	return NULL;
}

/* KEYS: P rl:ACCOUNT.  ARGV: "HOST WHY", how long, the channel, the
 * message.  The key keeps the latest end any host saw (one that says
 * less does not shorten it); every word is published. */
static const char rl_tell_script[] =
    "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "end\n"
    "return redis.call('PUBLISH', ARGV[3], ARGV[4])\n";

/* P rl:ACCOUNT says it for as long as it lasts (a host that was away
 * reads it on return), and the hosts linked now are told; one command,
 * sent only when a host sees an account spent. */
static void
rl_tell(struct shared *sh, const char *account, uint64_t left_ms,
    const char *why)
{
	char key[KEY_MAX], val[128], px[32], msg[MSG_MAX];
	const char *argv[] = { "EVAL", rl_tell_script, "1", key, val, px,
		sh->channel, msg };

	snprintf(val, sizeof(val), "%s %s", sh->conf.name, why);
	snprintf(px, sizeof(px), "%" PRIu64, left_ms);
	key_of(sh, key, sizeof(key), "rl", account);
	snprintf(msg, sizeof(msg), "rl %s %" PRIu64 " %s %" PRIu64 " %s",
	    sh->conf.name, now_wall_us(), account, left_ms, why);
	cmd_plain(sh, 8, argv);
	sh->st.rl_told++;
}

void
shared_ratelimit_seen(struct shared *sh, const struct target *t,
    struct tstat *ts)
{
	uint64_t now, until = 0;
	const char *why;

	if (sh == NULL || !rate_limits_on(sh) || !sh->st.up)
		return;		/* away: told on return (rl_resync) */
	now = now_wall_ms();
	if ((why = rl_spent(&ts->rl, now, &until)) == NULL ||
	    until <= ts->rl_fleet.told_ms + RL_TELL_SLACK_MS)
		return;
	ts->rl_fleet.told_ms = until;
	rl_tell(sh, target_account(t), until - now, why);
	log_info("shared: account %s of %s spent here (%s) for %" PRIu64
	    " ms: told the fleet", target_account(t), t->name, why,
	    until - now);
}

/* Another host says account is spent for left_ms: its targets here are
 * passed over until then. */
static void
on_rl(struct shared *sh, const char *host, const char *account,
    uint64_t left_ms, const char *why)
{
	const struct config *c = sh->d->cfg;
	uint64_t until = now_wall_ms() + (left_ms < RL_MAX_MS ? left_ms :
	    RL_MAX_MS);
	struct rl_fleet *f;
	size_t i, n = 0;

	if (!rate_limits_on(sh) || left_ms == 0)
		return;
	for (i = 0; i < c->ntargets; i++) {
		if (strcmp(target_account(&c->targets[i]), account) != 0)
			continue;
		f = &stats_target(sh->d->stats, c->targets[i].name)->rl_fleet;
		if (until <= f->until_ms)
			continue;
		f->until_ms = until;
		snprintf(f->from, sizeof(f->from), "%s", host);
		snprintf(f->why, sizeof(f->why), "%s", why);
		n++;
	}
	if (n == 0)
		return;
	sh->st.rl_remote++;
	sh->st.rl_lag_us = sh->st.lag_us;
	log_info("shared: %s saw account %s spent (%.12s) for %" PRIu64
	    " ms: passed over here too", host, account, why, left_ms);
}

/* The fleet's count for account in the minute at minute_ms: raised
 * into each of its targets here. */
static void
rl_raise(struct shared *sh, const char *account, uint64_t minute_ms,
    uint64_t req, uint64_t tok)
{
	const struct config *c = sh->d->cfg;
	uint64_t now = now_wall_ms();
	size_t i;

	for (i = 0; i < c->ntargets; i++)
		if (strcmp(target_account(&c->targets[i]), account) == 0)
			ratelimit_local_raise(&stats_target(sh->d->stats,
			    c->targets[i].name)->rl_fleet.count, now,
			    minute_ms, req, tok);
}

/* Counted while Redis was away: sent on return if still that minute. */
static void
rl_away(struct rl_fleet *f, uint64_t minute_ms, uint64_t req, uint64_t tok)
{
	if (f->away_start_ms != minute_ms) {
		f->away_start_ms = minute_ms;
		f->away_req = f->away_tok = 0;
	}
	f->away_req += req;
	f->away_tok += tok;
}

static void
rl_count_send(struct shared *sh, const char *account, struct rl_fleet *f,
    uint64_t minute_ms, uint64_t req, uint64_t tok)
{
	char rk[KEY_MAX], tk[KEY_MAX], a[2][24], head[KEY_MAX + 128];
	const char *argv[] = { sh->rl_sha[0] ? "EVALSHA" : "EVAL",
		sh->rl_sha[0] ? sh->rl_sha : rl_script, "2", rk, tk, a[0],
		a[1], RL_COUNT_TTL, sh->channel, head };
	uint64_t minute = minute_ms / RL_LOCAL_WINDOW_MS;
	struct op *op;

	snprintf(rk, sizeof(rk), "%srpm:%" PRIu64 ":%s", sh->conf.prefix,
	    minute, account);
	snprintf(tk, sizeof(tk), "%stpm:%" PRIu64 ":%s", sh->conf.prefix,
	    minute, account);
	snprintf(a[0], sizeof(a[0]), "%" PRIu64, req);
	snprintf(a[1], sizeof(a[1]), "%" PRIu64, tok);
	snprintf(head, sizeof(head), "rlc %s %" PRIu64 " %s %" PRIu64,
	    sh->conf.name, now_wall_us(), account, minute);
	op = op_new(sh, OP_RL_COUNT, account);
	op->req = req;
	op->tok = tok;
	op->minute_ms = minute_ms;
	if (cmd_send(sh, op, 10, argv) == 0)
		sh->st.rl_counts++;
	else if (f != NULL)
		rl_away(f, minute_ms, req, tok);
}

/* Send the turn's counts, one command an account.  A link that went
 * meanwhile loses them, as it does a count whose answer it took along
 * (docs/fleet.md). */
static void
counts_flush(struct shared *sh)
{
	size_t i;

	for (i = 0; i < sh->ncounts; i++)
		rl_count_send(sh, sh->counts[i].account, NULL,
		    sh->counts[i].minute_ms, sh->counts[i].req,
		    sh->counts[i].tok);
	sh->ncounts = 0;
}

static void
count_add(struct shared *sh, const char *account, uint64_t minute_ms,
    uint64_t tokens)
{
	struct turn_count *c;
	size_t i;

	for (i = 0; i < sh->ncounts; i++) {
		c = &sh->counts[i];
		if (c->minute_ms == minute_ms &&
		    strcmp(c->account, account) == 0) {
			c->req++;
			c->tok += tokens;
			return;
		}
	}
	if (strlen(account) >= KEY_MAX)
		return;
	if (sh->ncounts == TURN_KEYS)
		counts_flush(sh);
	c = &sh->counts[sh->ncounts++];
	snprintf(c->account, sizeof(c->account), "%s", account);
	c->minute_ms = minute_ms;
	c->req = 1;
	c->tok = tokens;
	turn_arm(sh);
}

void
shared_ratelimit_count(struct shared *sh, const struct target *t,
    struct tstat *ts, uint64_t tokens)
{
	uint64_t now;

	if (sh == NULL || !rate_limits_on(sh) || (t->rpm == 0 && t->tpm == 0))
		return;
	now = now_wall_ms();
	/* The reservation: this host's own call counts at once. */
	ratelimit_local_add(&ts->rl_fleet.count, now, tokens);
	if (!sh->st.up) {
		sh->st.rl_offline++;
		rl_away(&ts->rl_fleet, ratelimit_minute(now), 1, tokens);
		return;
	}
	count_add(sh, target_account(t), ratelimit_minute(now), tokens);
}

bool
shared_rate_limited(const struct shared *sh, const struct target *t,
    const struct tstat *ts, uint64_t est_tokens)
{
	uint64_t now;

	if (sh == NULL || !rate_limits_on(sh))
		return false;
	now = now_wall_ms();
	return ts->rl_fleet.until_ms > now || ratelimit_local_over(
	    &ts->rl_fleet.count, now, t->rpm, t->tpm, est_tokens);
}

static void
rl_count_reply(struct shared *sh, const struct op *op, const redisReply *r)
{
	if (r == NULL)
		return;	/* counted or not: a count is not sent twice */
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) ==
	    0) {
		sh->rl_sha[0] = '\0';
		if (op->minute_ms == ratelimit_minute(now_wall_ms()))
			rl_count_send(sh, op->name, NULL, op->minute_ms,
			    op->req, op->tok);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[0]->integer < 0 || r->element[1]->integer < 0)
		return;
	rl_raise(sh, op->name, op->minute_ms,
	    (uint64_t)r->element[0]->integer,
	    (uint64_t)r->element[1]->integer);
}

static void
rl_get_reply(struct shared *sh, const struct op *op, const redisReply *r)
{
	char host[RL_FROM_MAX], why[16];

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->integer <= 0 ||
	    sscanf(r->element[0]->str, "%64s %15s", host, why) != 2)
		return;
	/* Ours from before a restart counts as another host's would. */
	on_rl(sh, host, op->name, (uint64_t)r->element[1]->integer, why);
}

/* On connecting: tell the fleet what was seen spent here while Redis was
 * away, learn what is spent there, and bring the counts of this minute
 * to Redis (what was counted alone) and back (the fleet's totals). */
static void
rl_resync(struct shared *sh)
{
	static const char script[] =
	    "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";
	const struct config *c = sh->d->cfg;
	uint64_t now = now_wall_ms(), until, minute = ratelimit_minute(now);
	char key[KEY_MAX];
	const char *argv[] = { "EVAL", script, "1", key };
	const char *why, *acct;
	struct tstat *ts;
	size_t i, j;

	for (i = 0; i < c->ntargets; i++) {
		const struct target *t = &c->targets[i];

		ts = stats_target(sh->d->stats, t->name);
		acct = target_account(t);
		if ((why = rl_spent(&ts->rl, now, &until)) != NULL) {
			ts->rl_fleet.told_ms = until;
			rl_tell(sh, acct, until - now, why);
		}
		if (t->rpm > 0 || t->tpm > 0) {
			struct rl_fleet *f = &ts->rl_fleet;
			uint64_t req = 0, tok = 0;

			/* Another minute's are past counting; none sends 0 +
			 * 0, which reads the fleet's count back. */
			if (f->away_start_ms == minute) {
				req = f->away_req;
				tok = f->away_tok;
			}
			f->away_req = f->away_tok = 0;
			f->away_start_ms = 0;
			rl_count_send(sh, acct, f, minute, req, tok);
		}
		for (j = 0; j < i; j++)
			if (strcmp(target_account(&c->targets[j]), acct) == 0)
				break;
		if (j < i)
			continue;	/* that account is asked already */
		key_of(sh, key, sizeof(key), "rl", acct);
		cmd_send(sh, op_new(sh, OP_RL_GET, acct), 4, argv);
	}
}

/* For status and the heartbeat: the accounts passed over here now, on
 * this host's word or another's. */
static json_t *
rl_view(struct shared *sh)
{
	const struct config *c = sh->d->cfg;
	uint64_t now = now_wall_ms(), until = 0;
	json_t *a = json_array();
	const struct tstat *ts;
	const char *why;
	size_t i;

	for (i = 0; i < c->ntargets; i++) {
		ts = stats_target(sh->d->stats, c->targets[i].name);
		if ((why = rl_spent(&ts->rl, now, &until)) != NULL)
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, "
			    "s:I}", "target", c->targets[i].name, "account",
			    target_account(&c->targets[i]), "why", why,
			    "ms", (json_int_t)(until - now)));
		else if (ts->rl_fleet.until_ms > now)
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, "
			    "s:I, s:s}", "target", c->targets[i].name,
			    "account", target_account(&c->targets[i]), "why",
			    ts->rl_fleet.why, "ms",
			    (json_int_t)(ts->rl_fleet.until_ms - now), "from",
			    ts->rl_fleet.from));
	}
	return a;
}

/* ---- the channel ------------------------------------------------------ */

static struct host_view *
host_find(struct shared *sh, const char *name)
{
	size_t i, oldest = 0;

	for (i = 0; i < sh->nhosts; i++)
		if (strcmp(sh->hosts[i].name, name) == 0)
			return &sh->hosts[i];
	if (sh->nhosts < HOSTS_MAX) {
		sh->hosts[sh->nhosts].name = xstrdup(name);
		return &sh->hosts[sh->nhosts++];
	}
	for (i = 1; i < sh->nhosts; i++)
		if (sh->hosts[i].seen_ms < sh->hosts[oldest].seen_ms)
			oldest = i;
	free(sh->hosts[oldest].name);
	json_decref(sh->hosts[oldest].view);
	sh->hosts[oldest].view = NULL;
	sh->hosts[oldest].name = xstrdup(name);
	return &sh->hosts[oldest];
}

static void
note_lag(struct shared *sh, uint64_t sent_wall)
{
	uint64_t now = now_wall_us();

	sh->st.lag_us = now > sent_wall ? now - sent_wall : 0;
}

/* "TARGET TTFT TOTAL ..." from another host: into the fleet's view. */
static void
on_latency(struct shared *sh, char *p)
{
	const struct target *t;
	uint64_t ttft, total, now = now_mono_ms();
	char *name, *a, *b;

	if (!latency_on(sh))
		return;
	while ((name = strsep(&p, " ")) != NULL && (a = strsep(&p, " ")) !=
	    NULL && (b = strsep(&p, " ")) != NULL) {
		if (parse_u64(a, 0, UINT32_MAX, &ttft) < 0 ||
		    parse_u64(b, 0, UINT32_MAX, &total) < 0)
			return;
		if ((t = config_target(sh->d->cfg, name)) != NULL)
			latency_add(&stats_target(sh->d->stats,
			    t->name)->fleet_lat, now, (uint32_t)ttft,
			    (uint32_t)total);
	}
}

/* One message: "VERB HOST ..." split at spaces, the last field the rest
 * of the line (a budget key may hold spaces). */
static void
on_message(struct shared *sh, char *msg)
{
	char *f[7], *p = msg;
	size_t n = 0, want;
	uint64_t wall, left;
	int64_t hour, day;
	double h, d;

	if (strncmp(msg, "spend ", 6) == 0 || strncmp(msg, "rlc ", 4) == 0)
		want = 7;
	else if (strncmp(msg, "rl ", 3) == 0)
		want = 6;
	else if (strncmp(msg, "lat ", 4) == 0)
		want = 4;
	else if (strncmp(msg, "hb ", 3) == 0)
		want = 4;
	else if (strncmp(msg, "open ", 5) == 0)
		want = 5;
	else if (strncmp(msg, "close ", 6) == 0)
		want = 4;
	else
		return;
	while (n < want && p != NULL) {
		f[n++] = p;
		if (n < want && (p = strchr(p, ' ')) != NULL)
			*p++ = '\0';
	}
	if (n != want)
		return;
	if (f[0][0] == 's') {
		if (parse_u64(f[2], 0, INT64_MAX, &wall) < 0 ||
		    parse_u64(f[3], 0, INT64_MAX, &left) < 0 ||
		    !parse_double(f[4], &h) || !parse_double(f[5], &d))
			return;
		hour = (int64_t)wall;
		day = (int64_t)left;
		if (strcmp(f[1], sh->conf.name) != 0 && budgets_on(sh))
			budget_apply(sh, f[6], hour, day, h, d);
		return;
	}
	if (strcmp(f[1], sh->conf.name) == 0) {
		/* Our own heartbeat back: the subscription is alive. */
		if (f[0][0] == 'h')
			sh->sub_seen_ms = now_mono_ms();
		return;
	}
	if (parse_u64(f[2], 0, UINT64_MAX, &wall) < 0)
		return;
	note_lag(sh, wall);
	if (strcmp(f[0], "rl") == 0) {
		if (parse_u64(f[4], 0, UINT64_MAX, &left) == 0)
			on_rl(sh, f[1], f[3], left, f[5]);
	} else if (strcmp(f[0], "rlc") == 0) {
		uint64_t minute, req, tok;

		if (parse_u64(f[4], 0, UINT64_MAX / RL_LOCAL_WINDOW_MS,
		    &minute) == 0 && parse_u64(f[5], 0, INT64_MAX, &req) ==
		    0 && parse_u64(f[6], 0, INT64_MAX, &tok) == 0 &&
		    rate_limits_on(sh))
			rl_raise(sh, f[3], minute * RL_LOCAL_WINDOW_MS, req,
			    tok);
	} else if (f[0][0] == 'l') {
		on_latency(sh, f[3]);
	} else if (f[0][0] == 'h') {
		struct host_view *hv = host_find(sh, f[1]);

		json_decref(hv->view);
		hv->view = json_loads(f[3], 0, NULL);
		hv->seen_ms = now_mono_ms();
		hv->lag_us = sh->st.lag_us;
	} else if (f[0][0] == 'o') {
		if (parse_u64(f[4], 0, UINT64_MAX, &left) == 0)
			on_open(sh, f[1], f[3], left);
	} else {
		on_close(sh, f[1], f[3]);
	}
}

static void
sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct shared *sh = priv;
	redisReply *r = reply;
	char *msg;

	(void)ac;
	if (r == NULL || sh->freeing)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		link_fail(sh, SHARED_FAIL_ERROR, r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(r->element[0]->str, "subscribe") == 0) {
		/* Up once both links are: this answer or the PING's may
		 * come first. */
		sh->sub_ready = true;
		if (sh->cmd_ready && !sh->st.up && !sh->failing)
			went_up(sh);
		return;
	}
	if (strcmp(r->element[0]->str, "message") != 0 ||
	    r->element[2]->type != REDIS_REPLY_STRING ||
	    r->element[2]->len >= MSG_MAX)
		return;
	msg = xstrndup(r->element[2]->str, r->element[2]->len);
	on_message(sh, msg);
	free(msg);
}

/* ---- the links -------------------------------------------------------- */

static void
went_up(struct shared *sh)
{
	sh->st.up = true;
	sh->st.connects++;
	sh->auth_said = false;
	sh->sub_seen_ms = now_mono_ms();
	sh->sha[0] = '\0';
	sh->rl_sha[0] = '\0';
	log_info("shared: connected to Redis at %s as %s", sh->where,
	    sh->conf.name);
	if (budgets_on(sh)) {
		const char *load[] = { "SCRIPT", "LOAD", budget_script };

		cmd_send(sh, op_new(sh, OP_SCRIPT, NULL), 3, load);
	}
	if (breakers_on(sh))
		breakers_resync(sh);
	if (budgets_on(sh))
		budgets_resync(sh);
	if (rate_limits_on(sh)) {
		const char *load[] = { "SCRIPT", "LOAD", rl_script };

		cmd_send(sh, op_new(sh, OP_RL_SCRIPT, NULL), 3, load);
		rl_resync(sh);
	}
}

static void
auth_reply(struct shared *sh, const redisReply *r, bool on_sub)
{
	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		sh->st.failures[SHARED_FAIL_AUTH]++;
		if (!sh->auth_said)
			log_warnx("shared: Redis at %s refused the password: "
			    "%.200s; going on alone, trying again every %"
			    PRIu64 " ms", sh->where, r->str,
			    sh->conf.reconnect_ms);
		sh->auth_said = true;
		link_fail(sh, SHARED_FAIL_AUTH, NULL);
		return;
	}
	(void)on_sub;
}

static void
op_done(redisAsyncContext *ac, void *reply, void *priv)
{
	struct op *op = priv;
	struct shared *sh = op->sh;
	redisReply *r = reply;

	(void)ac;
	if (r != NULL && sh->outstanding > 0) {
		sh->outstanding--;
		sh->last_answer_ms = now_mono_ms();
	}
	if (r != NULL && r->type == REDIS_REPLY_ERROR && op->kind != OP_AUTH) {
		sh->st.failures[SHARED_FAIL_ERROR]++;
		log_warnx("shared: Redis at %s: %.200s", sh->where, r->str);
		if (strncmp(r->str, "NOAUTH", 6) == 0) {
			sh->st.failures[SHARED_FAIL_AUTH]++;
			log_warnx("shared: Redis at %s wants a password "
			    "(shared.password_env or password_file)",
			    sh->where);
			link_fail(sh, SHARED_FAIL_AUTH, NULL);
		}
	}
	switch (op->kind) {
	case OP_AUTH:
		auth_reply(sh, r, false);
		break;
	case OP_PING:
		if (r != NULL && r->type == REDIS_REPLY_STATUS &&
		    !sh->failing) {
			sh->cmd_ready = true;
			if (sh->sub_ready && !sh->st.up)
				went_up(sh);
		}
		break;
	case OP_HB:
		if (r != NULL)
			sh->st.rtt_us = now_mono_us() - op->sent_us;
		break;
	case OP_LEASE:
		if (!sh->freeing)
			lease_reply(sh, op, r);
		break;
	case OP_BREAKER_GET:
		if (!sh->freeing)
			breaker_get_reply(sh, op, r);
		break;
	case OP_BUDGET:
		budget_reply(sh, op, r);
		break;
	case OP_SCRIPT:
		if (r != NULL && r->type == REDIS_REPLY_STRING &&
		    r->len < sizeof(sh->sha))
			memcpy(sh->sha, r->str, r->len + 1);
		break;
	case OP_RL_SCRIPT:
		if (r != NULL && r->type == REDIS_REPLY_STRING &&
		    r->len < sizeof(sh->rl_sha))
			memcpy(sh->rl_sha, r->str, r->len + 1);
		break;
	case OP_RL_GET:
		if (!sh->freeing)
			rl_get_reply(sh, op, r);
		break;
	case OP_RL_COUNT:
		if (!sh->freeing)
			rl_count_reply(sh, op, r);
		break;
	case OP_PLAIN:
		break;
	}
	free(op);
}

static void
sub_auth_done(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	if (!((struct shared *)priv)->freeing)
		auth_reply(priv, reply, true);
}

static void
links_open(struct shared *sh)
{
	const char *auth[] = { "AUTH", sh->conf.password };
	const char *sub[] = { "SUBSCRIBE", sh->channel };
	const char *ping[] = { "PING" };

	sh->failing = false;
	sh->cmd_ready = sh->sub_ready = false;
	sh->outstanding = 0;
	sh->opened_ms = now_mono_ms();
	if ((sh->cmd = rc_new(sh)) == NULL || (sh->sub = rc_new(sh)) ==
	    NULL) {
		link_fail(sh, SHARED_FAIL_CONNECT, "connect");
		return;
	}
	if (sh->conf.password != NULL) {
		cmd_send(sh, op_new(sh, OP_AUTH, NULL), 2, auth);
		redisAsyncCommandArgv(sh->sub->ac, sub_auth_done, sh, 2,
		    auth, NULL);
	}
	redisAsyncCommandArgv(sh->sub->ac, sub_reply, sh, 2, sub, NULL);
	cmd_send(sh, op_new(sh, OP_PING, NULL), 1, ping);
	/* The SUBSCRIBE answer has no op: this bounds it too. */
	stall_arm(sh);
}

static void
reconnect_fired(struct timer *t)
{
	struct shared *sh = t->arg;

	if (sh->cmd == NULL && sh->sub == NULL)
		links_open(sh);
}

/* After the batch of events in which the link failed: free both links
 * (their unanswered commands see NULL), and try again later. */
static void
teardown(void *arg)
{
	struct shared **pending = arg, *sh = *pending;
	struct rconn *cmd, *sub;

	free(pending);
	if (sh == NULL)
		return;		/* shared_free came first */
	sh->pending = NULL;
	cmd = sh->cmd;
	sub = sh->sub;
	sh->cmd = sh->sub = NULL;
	/* failing is still set: rc_cleanup calls no second link_fail,
	 * and unanswered spends are kept to be sent again. */
	rc_free(cmd);
	rc_free(sub);
	sh->outstanding = 0;
	timer_cancel(sh->d->loop, &sh->stall);
	sh->failing = false;
	timer_set(sh->d->loop, &sh->reconnect, sh->conf.reconnect_ms);
}

static void
link_fail(struct shared *sh, enum shared_fail why, const char *detail)
{
	if (sh->failing || sh->freeing)
		return;
	sh->failing = true;
	if (why != SHARED_FAIL_AUTH)
		sh->st.failures[why]++;
	if (sh->st.up)
		log_warnx("shared: Redis at %s %s%s%s: going on alone",
		    sh->where, why == SHARED_FAIL_TIMEOUT ? "answers no more" :
		    "is gone", detail ? ": " : "", detail ? detail : "");
	else
		log_debug("shared: Redis at %s: %s%s%s", sh->where,
		    shared_fail_name(why), detail ? ": " : "",
		    detail ? detail : "");
	sh->st.up = false;
	sh->cmd_ready = sh->sub_ready = false;
	release_holds(sh);
	sh->pending = xcalloc(1, sizeof(*sh->pending));
	*sh->pending = sh;
	loop_defer(sh->d->loop, teardown, sh->pending);
}

/* ---- the tick: leases, heartbeat -------------------------------------- */

static json_t *
own_view(struct shared *sh)
{
	const struct config *c = sh->d->cfg;
	uint64_t now = now_mono_ms();
	json_t *open = json_array(), *spend = json_object();
	const struct breaker *b;
	char key[80];
	size_t i;

	for (i = 0; i < c->ntargets; i++) {
		b = &stats_target(sh->d->stats, c->targets[i].name)->br;
		if (breaker_state(b, &c->targets[i].breaker, now) !=
		    BREAKER_CLOSED)
			json_array_append_new(open, json_pack("{s:s, s:s, "
			    "s:b}", "target", c->targets[i].name, "state",
			    breaker_state_name(breaker_state(b,
			    &c->targets[i].breaker, now)), "from_fleet",
			    b->fleet_remote));
	}
	for (i = 0; i < c->nroutes; i++) {
		struct spend s;

		snprintf(key, sizeof(key), "route:%s", c->routes[i].name);
		s = budgets_get(sh->d->budgets, key, time(NULL));
		json_object_set_new(spend, c->routes[i].name, json_pack(
		    "{s:f, s:f}", "hour", s.hour, "day", s.day));
	}
	return json_pack("{s:o, s:o, s:o, s:I}", "breakers", open,
	    "route_spend", spend, "rate_limited", rl_view(sh), "calls",
	    (json_int_t)sh->d->stats->calls);
}

static void
heartbeat(struct shared *sh)
{
	const char *argv[] = { "PUBLISH", sh->channel, NULL };
	json_t *v = own_view(sh);
	char *text = json_dumps(v, JSON_COMPACT);
	char msg[MSG_MAX];

	json_decref(v);
	/* The heartbeat must go whatever the view: our own coming back is
	 * how the subscription is known alive.  Too big a view (hundreds of
	 * routes) goes as a note. */
	if (text == NULL || (size_t)snprintf(msg, sizeof(msg),
	    "hb %s %" PRIu64 " %s", sh->conf.name, now_wall_us(), text) >=
	    sizeof(msg))
		snprintf(msg, sizeof(msg), "hb %s %" PRIu64 " "
		    "{\"truncated\":true}", sh->conf.name, now_wall_us());
	argv[2] = msg;
	cmd_send(sh, op_new(sh, OP_HB, NULL), 3, argv);
	free(text);
}

/* This tick's samples, in one message: "lat HOST WALL_MS TARGET TTFT
 * TOTAL ...". */
static void
latency_flush(struct shared *sh)
{
	const char *argv[] = { "PUBLISH", sh->channel, NULL };
	char msg[MSG_MAX];

	if (sh->latlen == 0)
		return;
	if ((size_t)snprintf(msg, sizeof(msg), "lat %s %" PRIu64 "%.*s",
	    sh->conf.name, now_wall_us(), (int)sh->latlen, sh->lat) <
	    sizeof(msg) && sh->st.up) {
		argv[2] = msg;
		cmd_plain(sh, 3, argv);
	}
	sh->latlen = 0;
}

void
shared_latency_add(struct shared *sh, const struct target *t,
    struct tstat *ts, uint32_t ttft_ms, uint32_t total_ms)
{
	char one[128];
	int n;

	if (sh == NULL || !latency_on(sh))
		return;
	latency_add(&ts->fleet_lat, now_mono_ms(), ttft_ms, total_ms);
	if (!sh->st.up)
		return;
	n = snprintf(one, sizeof(one), " %s %" PRIu32 " %" PRIu32, t->name,
	    ttft_ms, total_ms);
	if (n < 0 || (size_t)n >= sizeof(one))
		return;
	if (sh->latlen + (size_t)n > sizeof(sh->lat))
		latency_flush(sh);
	memcpy(sh->lat + sh->latlen, one, (size_t)n);
	sh->latlen += (size_t)n;
}

const struct latency *
shared_latency_view(const struct shared *sh, const struct tstat *ts)
{
	if (sh == NULL || !latency_on(sh))
		return &ts->lat;
	return &ts->fleet_lat;
}

static void
tick_fired(struct timer *t)
{
	struct shared *sh = t->arg;
	uint64_t now = now_mono_ms();

	if (sh->st.up && now - sh->sub_seen_ms > HEARTBEAT_MS +
	    sh->conf.timeout_ms + TICK_MS) {
		link_fail(sh, SHARED_FAIL_TIMEOUT,
		    "the subscription is silent");
	} else if (sh->st.up) {
		latency_flush(sh);
		if (breakers_on(sh))
			leases_ask(sh);
		if (now - sh->last_hb_ms >= HEARTBEAT_MS) {
			sh->last_hb_ms = now;
			heartbeat(sh);
		}
	}
	timer_set(sh->d->loop, &sh->tick, TICK_MS);
}

/* ---- the module ------------------------------------------------------- */

static void
where_of(const struct shared_conf *c, char *out, size_t len)
{
	if (c->socket != NULL)
		snprintf(out, len, "unix:%s", c->socket);
	else if (strchr(c->host, ':') != NULL)
		snprintf(out, len, "[%s]:%d", c->host, c->port);
	else
		snprintf(out, len, "%s:%d", c->host, c->port);
}

int
shared_check(const struct shared_conf *c, uint64_t max_ms, char *err,
    size_t errlen)
{
	uint64_t ms = c->timeout_ms < max_ms ? c->timeout_ms : max_ms;
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)(ms % 1000) * 1000 };
	redisContext *rc;
	redisReply *r = NULL;
	char where[300];
	int ret = 1;

	where_of(c, where, sizeof(where));
	rc = c->socket ? redisConnectUnixWithTimeout(c->socket, tv) :
	    redisConnectWithTimeout(c->host, c->port, tv);
	if (rc == NULL || rc->err) {
		snprintf(err, errlen, "shared: Redis at %s: %s", where,
		    rc ? rc->errstr : "out of memory");
		goto out;
	}
	redisSetTimeout(rc, tv);
	if (c->password != NULL) {
		r = redisCommand(rc, "AUTH %s", c->password);
		if (r == NULL) {
			snprintf(err, errlen, "shared: Redis at %s: %s", where,
			    rc->errstr);
			goto out;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "shared: Redis at %s refused the "
			    "password (from %s): %.200s", where,
			    c->password_env ? c->password_env :
			    c->password_file, r->str);
			ret = -1;
			goto out;
		}
		freeReplyObject(r);
	}
	r = redisCommand(rc, "PING");
	if (r == NULL) {
		snprintf(err, errlen, "shared: Redis at %s: %s", where,
		    rc->errstr);
		goto out;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "shared: Redis at %s refused us: "
		    "%.200s%s", where, r->str,
		    strncmp(r->str, "NOAUTH", 6) == 0 ? " (set shared."
		    "password_env or shared.password_file)" : "");
		ret = -1;
		goto out;
	}
	ret = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (rc != NULL)
		redisFree(rc);
	return ret;
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct shared *
shared_new(struct daemon *d, const struct shared_conf *c)
{
	struct shared *sh = xcalloc(1, sizeof(*sh));

	sh->d = d;
	sh->conf = *c;
	sh->conf.host = dup_or_null(c->host);
	sh->conf.socket = dup_or_null(c->socket);
	sh->conf.password = dup_or_null(c->password);
	sh->conf.password_env = dup_or_null(c->password_env);
	sh->conf.password_file = dup_or_null(c->password_file);
	sh->conf.prefix = xstrdup(c->prefix);
	sh->conf.name = xstrdup(c->name);
	where_of(c, sh->where, sizeof(sh->where));
	snprintf(sh->channel, sizeof(sh->channel), "%sevents", c->prefix);
	sh->nonce = now_real_ns() / 1000;
	timer_init(&sh->reconnect, reconnect_fired, sh);
	timer_init(&sh->tick, tick_fired, sh);
	timer_init(&sh->stall, stall_fired, sh);
	timer_init(&sh->lease, lease_fired, sh);
	timer_init(&sh->turn_flush, turn_flush_fired, sh);
	timer_set(d->loop, &sh->tick, TICK_MS);
	links_open(sh);
	return sh;
}

void
shared_free(struct shared *sh)
{
	size_t i;

	if (sh == NULL)
		return;
	/* A reload: the turn's spend goes on the old links while they are
	 * still there. */
	if ((sh->nturn > 0 || sh->ncounts > 0) && sh->st.up)
		turn_flush(sh);
	timer_cancel(sh->d->loop, &sh->turn_flush);
	sh->freeing = true;
	rc_free(sh->cmd);
	rc_free(sh->sub);
	timer_cancel(sh->d->loop, &sh->reconnect);
	timer_cancel(sh->d->loop, &sh->tick);
	timer_cancel(sh->d->loop, &sh->stall);
	timer_cancel(sh->d->loop, &sh->lease);
	/* A teardown still deferred finds NULL and only frees this. */
	if (sh->pending != NULL)
		*sh->pending = NULL;
	release_holds(sh);
	for (i = 0; i < sh->nhosts; i++) {
		free(sh->hosts[i].name);
		json_decref(sh->hosts[i].view);
	}
	unsent_clear(sh);
	free(sh->unsent);
	free(sh->conf.host);
	free(sh->conf.socket);
	if (sh->conf.password != NULL)
		explicit_bzero(sh->conf.password, strlen(sh->conf.password));
	free(sh->conf.password);
	free(sh->conf.password_env);
	free(sh->conf.password_file);
	free(sh->conf.prefix);
	free(sh->conf.name);
	free(sh);
}

const struct shared_stats *
shared_stats(const struct shared *sh)
{
	static const struct shared_stats none;

	return sh ? &sh->st : &none;
}

json_t *
shared_status(struct shared *sh)
{
	json_t *hosts, *fails, *o;
	uint64_t now = now_mono_ms();
	size_t i;

	if (sh == NULL)
		return json_null();
	hosts = json_array();
	json_array_append_new(hosts, json_pack("{s:s, s:b, s:I, s:o}",
	    "host", sh->conf.name, "self", true, "age_ms", (json_int_t)0,
	    "view", own_view(sh)));
	for (i = 0; i < sh->nhosts; i++)
		json_array_append_new(hosts, json_pack("{s:s, s:b, s:I, s:I, "
		    "s:O?}", "host", sh->hosts[i].name, "self", false,
		    "age_ms", (json_int_t)(now - sh->hosts[i].seen_ms),
		    "lag_us", (json_int_t)sh->hosts[i].lag_us, "view",
		    sh->hosts[i].view));
	fails = json_object();
	for (i = 0; i < SHARED_FAIL_COUNT; i++)
		json_object_set_new(fails, fail_names[i],
		    json_integer((json_int_t)sh->st.failures[i]));
	o = json_pack("{s:s, s:s, s:s, s:b, s:I, s:o, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
	    "address", sh->where, "host", sh->conf.name,
	    "prefix", sh->conf.prefix, "up", sh->st.up,
	    "connects", (json_int_t)sh->st.connects, "failures", fails,
	    "ops", (json_int_t)sh->st.ops,
	    "remote_opens", (json_int_t)sh->st.remote_opens,
	    "remote_closes", (json_int_t)sh->st.remote_closes,
	    "leases_won", (json_int_t)sh->st.leases_won,
	    "leases_lost", (json_int_t)sh->st.leases_lost,
	    "leases_late", (json_int_t)sh->st.leases_late,
	    "budget_offline", (json_int_t)sh->st.budget_offline,
	    "unsent_keys", (json_int_t)sh->nunsent,
	    "lag_us", (json_int_t)sh->st.lag_us,
	    "open_lag_us", (json_int_t)sh->st.open_lag_us,
	    "rtt_us", (json_int_t)sh->st.rtt_us,
	    "hosts", hosts);
	json_object_set_new(o, "rate_limits", json_pack("{s:b, s:I, s:I, "
	    "s:I, s:I, s:I}", "shared", rate_limits_on(sh),
	    "told", (json_int_t)sh->st.rl_told,
	    "remote", (json_int_t)sh->st.rl_remote,
	    "counts", (json_int_t)sh->st.rl_counts,
	    "offline", (json_int_t)sh->st.rl_offline,
	    "lag_us", (json_int_t)sh->st.rl_lag_us));
	return o;
}
