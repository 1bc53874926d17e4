#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "netview.h"
#include "netwatch.h"
#include "state.h"
#include "stats.h"
#include "upstream.h"
#include "util.h"

#define RESCAN_MS	5000	/* new libssl copies are found this soon */
#define BYPASS_HOSTS	256
#define LINKS_SHOWN	64

struct netview {
	struct daemon		*d;
	enum ebpf_mode		 mode;		/* as configured */
	bool			 bypass;	/* as configured */
	struct netlat_probes	*lat;
	char			 lat_why[160];
	struct bypass_watch	*bw;
	char			 bw_why[160];
	struct watcher		 bw_w;
	struct timer		 rescan;
	struct netwatch		*nw;
	char			 nw_why[160];
	struct watcher		 nw_w;
};

static const char *
mode_name(enum ebpf_mode m)
{
	return m == EBPF_ON ? "on" : m == EBPF_OFF ? "off" : "auto";
}

/* ---- the route watch ----------------------------------------------- */

static int
to_sockaddr(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* Is the way to this target there?  Opens or half-opens its breaker on
 * a change. */
static void
judge(struct netview *nv, const char *name, struct tstat *ts)
{
	struct sockaddr_storage ss;
	struct netpath p;

	if (nv->nw == NULL || ts->addr[0] == '\0' ||
	    to_sockaddr(ts->addr, &ss) < 0 ||
	    netwatch_path(nv->nw, (struct sockaddr *)&ss, &p) < 0)
		return;
	snprintf(ts->net_dev, sizeof(ts->net_dev), "%s", p.dev);
	if (!p.reachable && !ts->unreachable) {
		ts->unreachable = true;
		ts->net_since = time(NULL);
		snprintf(ts->net_why, sizeof(ts->net_why), "%s", p.why);
		breaker_unreachable(&ts->br, now_mono_ms());
		log_warnx("target %s: %s: breaker open until the way is back",
		    name, p.why);
	} else if (p.reachable && ts->unreachable) {
		ts->unreachable = false;
		ts->net_since = time(NULL);
		ts->net_why[0] = '\0';
		breaker_reachable(&ts->br);
		log_info("target %s: reachable again via %s: breaker "
		    "half-open", name, p.dev[0] ? p.dev : "?");
	}
}

static void
judge_all(void *arg)
{
	struct netview *nv = arg;
	const struct config *c = nv->d->cfg;
	size_t i;

	for (i = 0; i < c->ntargets; i++)
		judge(nv, c->targets[i].name, stats_target(nv->d->stats,
		    c->targets[i].name));
}

static void
on_netlink(struct watcher *w, uint32_t events)
{
	(void)events;
	netwatch_read(((struct netview *)w->arg)->nw);
}

static void
netwatch_start(struct netview *nv)
{
	int r;

	if ((r = netwatch_open(&nv->nw, judge_all, nv, nv->nw_why,
	    sizeof(nv->nw_why))) < 0) {
		log_warnx("network watch off: %s", nv->nw_why);
		return;
	}
	nv->nw_w = (struct watcher){ .fd = netwatch_fd(nv->nw),
	    .events = EPOLLIN, .cb = on_netlink, .arg = nv };
	if ((r = watcher_add(nv->d->loop, &nv->nw_w)) < 0) {
		snprintf(nv->nw_why, sizeof(nv->nw_why), "epoll: %s",
		    strerror(-r));
		netwatch_close(nv->nw);
		nv->nw = NULL;
		return;
	}
	nv->nw_why[0] = '\0';
	judge_all(nv);
}

static void
netwatch_stop(struct netview *nv, const char *why)
{
	if (nv->nw != NULL) {
		watcher_del(nv->d->loop, &nv->nw_w);
		netwatch_close(nv->nw);
		nv->nw = NULL;
	}
	snprintf(nv->nw_why, sizeof(nv->nw_why), "%s", why);
}

/* ---- the probes -------------------------------------------------------- */

/* The intercepted hosts the kernel can match: exact names, no globs. */
static size_t
exact_hosts(const struct config *c, const char **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < c->nintercept && n < max; i++)
		if (strchr(c->intercept[i], '*') == NULL)
			out[n++] = c->intercept[i];
	return n;
}

static void
on_bypass(struct watcher *w, uint32_t events)
{
	struct netview *nv = w->arg;
	int r;

	(void)events;
	if ((r = bypass_consume(nv->bw)) < 0)
		log_debug("bypass watch: %s", strerror(-r));
}

static void
rescan_fired(struct timer *t)
{
	struct netview *nv = t->arg;
	int n;

	if ((n = bypass_rescan(nv->bw)) > 0)
		log_info("bypass watch: %d more libssl cop%s watched", n,
		    n == 1 ? "y" : "ies");
	timer_set(nv->d->loop, &nv->rescan, RESCAN_MS);
}

static int
bypass_start(struct netview *nv, const struct config *c)
{
	const char *hosts[BYPASS_HOSTS];
	size_t n = exact_hosts(c, hosts, BYPASS_HOSTS);
	int r;

	if ((r = bypass_open(&nv->bw, getpid(), hosts, n, nv->bw_why,
	    sizeof(nv->bw_why))) < 0)
		return r;
	nv->bw_w = (struct watcher){ .fd = bypass_fd(nv->bw),
	    .events = EPOLLIN, .cb = on_bypass, .arg = nv };
	if ((r = watcher_add(nv->d->loop, &nv->bw_w)) < 0) {
		snprintf(nv->bw_why, sizeof(nv->bw_why), "epoll: %s",
		    strerror(-r));
		bypass_close(nv->bw);
		nv->bw = NULL;
		return r;
	}
	timer_init(&nv->rescan, rescan_fired, nv);
	timer_set(nv->d->loop, &nv->rescan, RESCAN_MS);
	return 0;
}

static void
probes_stop(struct netview *nv, const char *why)
{
	if (nv->bw != NULL) {
		watcher_del(nv->d->loop, &nv->bw_w);
		timer_cancel(nv->d->loop, &nv->rescan);
		bypass_close(nv->bw);
		nv->bw = NULL;
	}
	netlat_close(nv->lat);
	nv->lat = NULL;
	upstream_cookies(nv->d->up, false);
	snprintf(nv->lat_why, sizeof(nv->lat_why), "%s", why);
	snprintf(nv->bw_why, sizeof(nv->bw_why), "%s", why);
}

/* Load what loads; with `ebpf: on`, -1 and why when a part does not. */
static int
probes_start(struct netview *nv, const struct config *c, char *why,
    size_t whylen)
{
	if (netlat_open(&nv->lat, getpid(), nv->lat_why,
	    sizeof(nv->lat_why)) == 0) {
		nv->lat_why[0] = '\0';
		upstream_cookies(nv->d->up, true);
	} else {
		log_info("eBPF network timing off: %s", nv->lat_why);
	}
	if (!c->bypass_watch)
		snprintf(nv->bw_why, sizeof(nv->bw_why), "off in the config "
		    "(bypass_watch: false)");
	else if (bypass_start(nv, c) == 0)
		nv->bw_why[0] = '\0';
	else
		log_info("eBPF bypass watch off: %s", nv->bw_why);
	if (c->ebpf == EBPF_ON && (nv->lat == NULL ||
	    (c->bypass_watch && nv->bw == NULL))) {
		snprintf(why, whylen, "ebpf: on, but the %s cannot start: %s",
		    nv->lat == NULL ? "network timing" : "bypass watch",
		    nv->lat == NULL ? nv->lat_why : nv->bw_why);
		return -1;
	}
	return 0;
}

int
netview_start(struct daemon *d, const struct config *c, char *why,
    size_t whylen)
{
	struct netview *nv = xcalloc(1, sizeof(*nv));

	nv->d = d;
	d->netview = nv;
	nv->mode = c->ebpf;
	nv->bypass = c->bypass_watch;
	if (c->ebpf == EBPF_OFF)
		probes_stop(nv, "off in the config (ebpf: off)");
	else if (probes_start(nv, c, why, whylen) < 0)
		return -1;
	if (c->network_watch)
		netwatch_start(nv);
	else
		netwatch_stop(nv, "off in the config (network_watch: false)");
	return 0;
}

void
netview_reload(struct netview *nv, const struct config *c)
{
	const char *hosts[BYPASS_HOSTS];
	char why[256];
	int r;

	if (c->ebpf != nv->mode || c->bypass_watch != nv->bypass) {
		probes_stop(nv, "off in the config (ebpf: off)");
		if (c->ebpf != EBPF_OFF && probes_start(nv, c, why,
		    sizeof(why)) < 0)
			log_warnx("reload: %s; running without it", why);
		nv->mode = c->ebpf;
		nv->bypass = c->bypass_watch;
	} else if (nv->bw != NULL && (r = bypass_set_hosts(nv->bw, hosts,
	    exact_hosts(c, hosts, BYPASS_HOSTS))) < 0) {
		log_warnx("bypass watch: new hosts: %s", strerror(-r));
	}
	if (c->network_watch && nv->nw == NULL)
		netwatch_start(nv);
	else if (!c->network_watch && nv->nw != NULL)
		netwatch_stop(nv, "off in the config (network_watch: false)");
	else if (nv->nw != NULL)
		judge_all(nv);	/* targets may have come or gone */
}

void
netview_free(struct netview *nv)
{
	if (nv == NULL)
		return;
	probes_stop(nv, "stopped");
	netwatch_stop(nv, "stopped");
	free(nv);
}

/* ---- per attempt --------------------------------------------------- */

void
netview_head(struct netview *nv, struct net_call *nc)
{
	nc->have = false;
	if (nv == NULL || !netlat_has(nv->lat, NETLAT_PROBE) ||
	    !netlat_has(nv->lat, NETLAT_SEND) ||
	    !netlat_has(nv->lat, NETLAT_RECV) ||
	    (nc->cookie = netlat_last_read(nv->lat)) == 0)
		return;
	nc->have = netlat_lookup(nv->lat, nc->cookie, &nc->head) == 0 &&
	    nc->head.last_rx_ns > nc->head.last_tx_ns &&
	    nc->head.last_tx_ns > 0;
}

static uint32_t
us_of(uint64_t ns)
{
	return ns / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ns / 1000);
}

/* Learn the address the target was reached at, and judge it when it is
 * new: the address curl connected to, so DNS and connect_to pins are
 * already applied, and nothing is resolved here. */
static void
learn_addr(struct netview *nv, const struct xfer *x, struct tstat *ts)
{
	char *ip = NULL;

	if (curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_IP, &ip) !=
	    CURLE_OK || ip == NULL || ip[0] == '\0' ||
	    strcmp(ip, ts->addr) == 0)
		return;
	snprintf(ts->addr, sizeof(ts->addr), "%s", ip);
	judge(nv, ts->name, ts);
}

void
netview_attempt(struct netview *nv, const struct xfer *x,
    const struct net_call *nc, struct tstat *ts, struct net_rec *out)
{
	struct net_sample end;
	long connects = 0;
	uint32_t rtt;

	memset(out, 0, sizeof(*out));
	if (nv == NULL || x == NULL)
		return;
	learn_addr(nv, x, ts);
	if (!nc->have)
		return;
	out->have = true;
	curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
	out->new_conn = connects > 0;
	rtt = nc->head.srtt_us;
	out->srtt_us = rtt;
	out->wait_us = us_of(nc->head.last_rx_ns - nc->head.last_tx_ns);
	if (out->new_conn)
		out->connect_us = us_of(nc->head.connect_ns);
	out->network_us = rtt + out->connect_us;
	out->provider_us = out->wait_us > rtt ? out->wait_us - rtt : 0;
	/* Retransmits up to the end of the answer, not only its head (the
	 * probes may have been turned off by a reload meanwhile). */
	out->retrans = nv->lat != NULL &&
	    netlat_lookup(nv->lat, nc->cookie, &end) == 0 ?
	    end.retrans : nc->head.retrans;
	ts->retransmits += out->retrans;
	ts->srtt_us = rtt;
	hist_add(&ts->network_h, out->network_us / 1000.0);
	hist_add(&ts->provider_h, out->provider_us / 1000.0);
	samples_add(&ts->network_s, out->network_us);
	samples_add(&ts->provider_s, out->provider_us);
}

/* ---- status ---------------------------------------------------------- */

static json_t *
part_json(bool on, const char *why)
{
	return json_pack("{s:b, s:s?}", "on", on, "why", on ? NULL : why);
}

json_t *
netview_status_ebpf(const struct netview *nv)
{
	const struct ebpf_prog *p;
	struct bypass_info bi;
	json_t *lat, *progs, *bw;
	int i;

	lat = part_json(nv->lat != NULL, nv->lat_why);
	if (nv->lat != NULL) {
		progs = json_object();
		p = netlat_progs(nv->lat);
		for (i = 0; i < NETLAT_PROGS; i++)
			json_object_set_new(progs, p[i].name, p[i].on ?
			    json_string("on") : json_string(p[i].why));
		json_object_set_new(lat, "programs", progs);
	}
	bw = part_json(nv->bw != NULL, nv->bw_why);
	if (nv->bw != NULL) {
		bypass_info(nv->bw, &bi);
		json_object_update_new(bw, json_pack("{s:i, s:i, s:i, s:I, "
		    "s:s?}", "libssl_copies", (int)bi.libs,
		    "probes", (int)bi.probes,
		    "probes_failed", (int)bi.probes_failed,
		    "events", (json_int_t)bi.events,
		    "note", bi.note[0] ? bi.note : NULL));
	}
	return json_pack("{s:s, s:o, s:o}", "mode", mode_name(nv->mode),
	    "network_timing", lat, "bypass_watch", bw);
}

json_t *
netview_status_network(const struct netview *nv)
{
	struct netlink_view links[LINKS_SHOWN];
	const struct config *c = nv->d->cfg;
	json_t *o = part_json(nv->nw != NULL, nv->nw_why), *arr;
	size_t i, n;

	if (nv->nw == NULL)
		return o;
	arr = json_array();
	n = netwatch_links(nv->nw, links, LINKS_SHOWN);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:b, s:b, s:s, "
		    "s:i}", "name", links[i].name, "up", links[i].up,
		    "carrier", links[i].carrier, "operstate",
		    links[i].operstate, "addresses", (int)links[i].naddrs));
	json_object_set_new(o, "links", arr);
	json_object_set_new(o, "routes",
	    json_integer((json_int_t)netwatch_nroutes(nv->nw)));
	arr = json_array();
	for (i = 0; i < c->ntargets; i++) {
		struct tstat *ts = stats_target(nv->d->stats,
		    c->targets[i].name);

		if (ts->addr[0] == '\0')
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:s, "
		    "s:s?, s:I}", "target", ts->name, "address", ts->addr,
		    "reachable", !ts->unreachable, "link", ts->net_dev,
		    "why", ts->unreachable ? ts->net_why : NULL,
		    "since", (json_int_t)ts->net_since));
	}
	json_object_set_new(o, "targets", arr);
	return o;
}

json_t *
netview_bypass(struct netview *nv)
{
	const struct bypass *b;
	json_t *arr = json_array();
	size_t i, n;

	if (nv->bw == NULL)
		return arr;
	bypass_consume(nv->bw);	/* what waits is news too */
	n = bypass_list(nv->bw, &b);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:s, "
		    "s:I, s:I, s:f, s:f, s:f, s:I, s:I}",
		    "pid", (int)b[i].pid, "comm", b[i].comm, "exe", b[i].exe,
		    "host", b[i].host, "calls", (json_int_t)b[i].calls,
		    "answered", (json_int_t)b[i].answered,
		    "last_ms", b[i].answered ? b[i].last_us / 1000.0 : 0.0,
		    "avg_ms", b[i].answered ?
		    b[i].sum_us / 1000.0 / (double)b[i].answered : 0.0,
		    "max_ms", b[i].answered ? b[i].max_us / 1000.0 : 0.0,
		    "first_seen", (json_int_t)b[i].first_seen,
		    "last_seen", (json_int_t)b[i].last_seen));
	return arr;
}
