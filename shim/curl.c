/* libllmfb.so, libcurl layer: hooks at the libcurl API.
 *
 * When a transfer starts (curl_easy_perform, curl_multi_add_handle) on an
 * http:// or https:// URL whose host the daemon intercepts, and the daemon
 * answers a probe, the handle is rewritten for the duration of the
 * transfer: the URL becomes http://HOST[:PORT]/path?q, CURLOPT_UNIX_SOCKET_
 * PATH points at the daemon and a header "X-Llmfb-Origin: https://HOST:PORT"
 * names the original destination (port always explicit).  curl 7.88 cannot
 * speak https over a Unix socket (curl#10633) and faking TLS beneath curl is
 * a dead end (its own BIO, a peer certificate), hence plain HTTP/1.1.
 *
 * What the app can observe stays as it would be without us: when the
 * transfer ends every option we touched gets the app's value back, and
 * curl_easy_getinfo answers the effective URL, scheme and port of the
 * original destination.  libcurl has no getopt, so the app's values come
 * from a shadow of curl_easy_setopt: one entry per easy handle in a hash
 * table keyed by the CURL pointer.
 *
 * Threads: libcurl lets one thread at a time use a handle, so an entry is
 * read and written by its handle's thread without a lock; tab_lock only
 * guards the table (insert, lookup, unlink).  We never call into libcurl
 * with tab_lock held: libcurl calls the app's callbacks, which may call us.
 *
 * Re-entry: Debian's libcurl 7.88 implements curl_easy_perform with the
 * exported curl_multi_add_handle/curl_multi_remove_handle, through the PLT,
 * so our multi hooks fire inside our perform hook; a per-thread counter
 * makes them forward.
 *
 * Anything unexpected (allocation failure, a URL we cannot parse, a
 * rejected option) leaves the call untouched: fail open.
 */
#include "shim.h"
#include "shim_proto.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ORIGIN_HEADER "X-Llmfb-Origin"

/* The transfer the shim rewrote on this handle, if one is under way. */
enum xfer {
	XFER_IDLE,
	XFER_EASY,		/* inside our curl_easy_perform */
	XFER_MULTI,		/* between add_handle and remove_handle */
};

/* How the app last set a protocol restriction. */
enum kind {
	KIND_UNSET,
	KIND_STR,		/* CURLOPT_*PROTOCOLS_STR */
	KIND_LONG,		/* CURLOPT_*PROTOCOLS (deprecated bitmask) */
};

/* A string from curl_easy_getinfo mapped back to the original scheme.  The
 * pointer handed to the app stays valid until the source string changes
 * (or the handle goes away), as libcurl's own would. */
struct mapped {
	char *src;
	char *out;
};

struct centry {
	CURL *easy;
	struct centry *next;		/* hash chain */

	/* The app's values, shadowed from curl_easy_setopt.  Strings are our
	 * copies; the slist and the CURLU are the app's. */
	char *url;			/* CURLOPT_URL */
	CURLU *curlu;			/* CURLOPT_CURLU */
	struct curl_slist *headers;	/* CURLOPT_HTTPHEADER */
	long http_version;		/* CURLOPT_HTTP_VERSION */
	enum kind proto;		/* CURLOPT_PROTOCOLS(_STR) */
	char *proto_str;
	long proto_mask;
	enum kind redir;		/* CURLOPT_REDIR_PROTOCOLS(_STR) */
	char *redir_str;
	long redir_mask;
	char *noproxy;			/* CURLOPT_NOPROXY */
	CURLSH *share;			/* CURLOPT_SHARE, the app's */
	bool hsts_on;			/* the app turned HSTS on */
	bool hsts_ctrl_set;
	long hsts_ctrl;			/* CURLOPT_HSTS_CTRL */
	bool hsts_write;		/* CURLOPT_HSTSWRITEFUNCTION set */
	char **hsts_files;		/* CURLOPT_HSTS, each since a NULL */
	size_t n_hsts_files;
	char *default_protocol;		/* CURLOPT_DEFAULT_PROTOCOL */
	long port;			/* CURLOPT_PORT */
	bool path_as_is;		/* CURLOPT_PATH_AS_IS */
	bool disallow_user;		/* ..._DISALLOW_USERNAME_IN_URL */
	bool connect_only;		/* CURLOPT_CONNECT_ONLY */
	bool unix_socket;		/* the app set its own Unix socket */
	bool opaque;			/* lost an app value: hands off */
	bool url_unknown;		/* duphandle of a CURLU handle */

	/* The redirected transfer (current, or the last one). */
	enum xfer xfer;
	bool last;			/* the last/current was redirected */
	bool https;			/* its original scheme */
	long oport;			/* its original port */
	char host[SHIM_HOST_MAX + 3];	/* its host, lower case ("[v6]") */
	struct curl_slist *our_headers;	/* app's list + our header */
	char *eff_done;			/* effective URL when it ended */
	struct mapped eff;		/* CURLINFO_EFFECTIVE_URL, live */
	struct mapped redir_url;	/* CURLINFO_REDIRECT_URL */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_on;			/* may rewrite, else forward only */

/* Set when a shadow could not be recorded (no memory for an entry): the
 * shim then no longer knows some handle's options and stops rewriting. */
static atomic_bool shadow_broken;

/* Inside our curl_easy_perform (see "Re-entry" above). */
static __thread unsigned t_in_perform;

/* ------------------------------------------------------------------ */
/* Real symbols */

static const char *const curl_sonames[] = {
	"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4", NULL,
};

static void tab_atfork_prepare(void);
static void tab_atfork_parent(void);
static void tab_atfork_child(void);

/* All real pointers come from the one libcurl that defines the next
 * curl_easy_perform, so that a process with two libcurls loaded does not
 * mix them.  Hooks are refused as their own "real" function. */
#define RESOLVE_HOOK(lib, name)						\
	(REAL(name) = (__typeof__(REAL(name)))shim_sym(lib, #name,	\
						       (const void *)name))
#define RESOLVE(lib, name)						\
	(REAL(name) = (__typeof__(REAL(name)))shim_sym(lib, #name, NULL))

static void
curl_layer_init(void)
{
	bool core = shim_init();
	void *lib;

	lib = shim_lib_open("curl_easy_perform",
			    (const void *)curl_easy_perform, curl_sonames);
	RESOLVE_HOOK(lib, curl_easy_init);
	RESOLVE_HOOK(lib, curl_easy_setopt);
	RESOLVE_HOOK(lib, curl_easy_perform);
	RESOLVE_HOOK(lib, curl_easy_getinfo);
	RESOLVE_HOOK(lib, curl_easy_cleanup);
	RESOLVE_HOOK(lib, curl_easy_reset);
	RESOLVE_HOOK(lib, curl_easy_duphandle);
	RESOLVE_HOOK(lib, curl_multi_add_handle);
	RESOLVE_HOOK(lib, curl_multi_remove_handle);
	RESOLVE(lib, curl_url);
	RESOLVE(lib, curl_url_cleanup);
	RESOLVE(lib, curl_url_set);
	RESOLVE(lib, curl_url_get);
	RESOLVE(lib, curl_free);
	RESOLVE(lib, curl_slist_append);
	RESOLVE(lib, curl_slist_free_all);

	curl_on = core && REAL(curl_easy_setopt) && REAL(curl_easy_perform) &&
		  REAL(curl_easy_getinfo) && REAL(curl_easy_cleanup) &&
		  REAL(curl_easy_reset) && REAL(curl_easy_duphandle) &&
		  REAL(curl_multi_add_handle) &&
		  REAL(curl_multi_remove_handle) && REAL(curl_url) &&
		  REAL(curl_url_cleanup) && REAL(curl_url_set) &&
		  REAL(curl_url_get) && REAL(curl_free) &&
		  REAL(curl_slist_append) && REAL(curl_slist_free_all);
	if (curl_on)
		pthread_atfork(tab_atfork_prepare, tab_atfork_parent,
			       tab_atfork_child);
	if (core)
		SHIM_DEBUG("init", "libcurl layer %s",
			   curl_on ? "active" : "inactive: forwarding only");
}

/* Resolve on the first curl hook, not in the constructor: libcurl may be
 * dlopen()ed late (PHP modules, plugins), but it is loaded by the time
 * anyone calls one of its functions. */
static bool
curl_ready(void)
{
	pthread_once(&curl_once, curl_layer_init);
	return curl_on;
}

static CURLcode
set_long(CURL *h, CURLoption opt, long v)
{
	return REAL(curl_easy_setopt)(h, opt, v);
}

static CURLcode
set_ptr(CURL *h, CURLoption opt, const void *p)
{
	return REAL(curl_easy_setopt)(h, opt, p);
}

/* ------------------------------------------------------------------ */
/* The shadow table */

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct centry **tab;		/* under tab_lock */
static size_t tab_size;			/* a power of two, or 0 */
static atomic_size_t tab_count;		/* written under tab_lock */

#define TAB_MIN 64

static void
tab_atfork_prepare(void)
{
	pthread_mutex_lock(&tab_lock);
}

static void
tab_atfork_parent(void)
{
	pthread_mutex_unlock(&tab_lock);
}

static void
tab_atfork_child(void)
{
	pthread_mutex_unlock(&tab_lock);
}

static size_t
tab_hash(const CURL *h, size_t size)
{
	uint64_t x = (uint64_t)(uintptr_t)h;

	x ^= x >> 29;
	x *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(x >> 32) & (size - 1);
}

static struct centry *
tab_find_locked(const CURL *h)
{
	struct centry *e;

	if (!tab)
		return NULL;
	for (e = tab[tab_hash(h, tab_size)]; e; e = e->next)
		if (e->easy == h)
			return e;
	return NULL;
}

/* Double the buckets when the chains grow long; on failure keep going
 * with longer chains. */
static void
tab_grow_locked(void)
{
	struct centry **nt;
	size_t ns = tab_size ? tab_size * 2 : TAB_MIN;
	size_t i;

	nt = calloc(ns, sizeof(*nt));
	if (!nt)
		return;
	for (i = 0; tab && i < tab_size; i++) {
		struct centry *e, *next;

		for (e = tab[i]; e; e = next) {
			size_t b = tab_hash(e->easy, ns);

			next = e->next;
			e->next = nt[b];
			nt[b] = e;
		}
	}
	free(tab);
	tab = nt;
	tab_size = ns;
}

static struct centry *
entry_find(const CURL *h)
{
	struct centry *e;

	if (!h || atomic_load(&tab_count) == 0)
		return NULL;
	pthread_mutex_lock(&tab_lock);
	e = tab_find_locked(h);
	pthread_mutex_unlock(&tab_lock);
	return e;
}

/* Insert e (e->easy set, not yet in the table).  Returns false when there
 * is no table and none could be allocated. */
static bool
tab_insert_locked(struct centry *e)
{
	size_t b;

	if (atomic_load(&tab_count) >= tab_size * 2)
		tab_grow_locked();
	if (!tab)
		return false;
	b = tab_hash(e->easy, tab_size);
	e->next = tab[b];
	tab[b] = e;
	atomic_store(&tab_count, atomic_load(&tab_count) + 1);
	return true;
}

/* The entry of h, created when missing.  NULL when out of memory. */
static struct centry *
entry_get(CURL *h)
{
	struct centry *e, *n;

	e = entry_find(h);
	if (e)
		return e;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->easy = h;
	pthread_mutex_lock(&tab_lock);
	e = tab_find_locked(h);
	if (!e && tab_insert_locked(n)) {
		e = n;
		n = NULL;
	}
	pthread_mutex_unlock(&tab_lock);
	free(n);
	return e;
}

/* Unlink the entry of h from the table; the caller frees it. */
static struct centry *
entry_take(const CURL *h)
{
	struct centry **pp, *e = NULL;

	if (!h || atomic_load(&tab_count) == 0)
		return NULL;
	pthread_mutex_lock(&tab_lock);
	if (tab) {
		for (pp = &tab[tab_hash(h, tab_size)]; *pp;
		     pp = &(*pp)->next) {
			if ((*pp)->easy == h) {
				e = *pp;
				*pp = e->next;
				atomic_store(&tab_count,
					     atomic_load(&tab_count) - 1);
				break;
			}
		}
	}
	pthread_mutex_unlock(&tab_lock);
	return e;
}

static void
hsts_files_clear(struct centry *e)
{
	size_t i;

	for (i = 0; i < e->n_hsts_files; i++)
		free(e->hsts_files[i]);
	free(e->hsts_files);
	e->hsts_files = NULL;
	e->n_hsts_files = 0;
}

/* Append a copy of file to e's HSTS file list; false when out of
 * memory. */
static bool
hsts_files_add(struct centry *e, const char *file)
{
	char **n;
	char *c;

	c = strdup(file);
	if (!c)
		return false;
	n = realloc(e->hsts_files, (e->n_hsts_files + 1) * sizeof(*n));
	if (!n) {
		free(c);
		return false;
	}
	n[e->n_hsts_files++] = c;
	e->hsts_files = n;
	return true;
}

static void
mapped_clear(struct mapped *m)
{
	free(m->src);
	free(m->out);
	m->src = m->out = NULL;
}

/* Frees e and our header list.  Call only when libcurl no longer holds
 * that list (the handle is gone, reset, or was given the app's back). */
static void
entry_free(struct centry *e)
{
	if (!e)
		return;
	if (e->our_headers)
		REAL(curl_slist_free_all)(e->our_headers);
	free(e->url);
	free(e->proto_str);
	free(e->redir_str);
	free(e->noproxy);
	hsts_files_clear(e);
	free(e->default_protocol);
	free(e->eff_done);
	mapped_clear(&e->eff);
	mapped_clear(&e->redir_url);
	free(e);
}

/* A copy of the app's values in e for the new handle h (curl_easy_
 * duphandle); NULL when out of memory.  The slist and CURLU pointers are
 * copied as pointers, as libcurl does; but a duplicate of a CURLU handle
 * gets a CURLU we do not know, so its URL is unknown until the app sets
 * CURLOPT_CURLU again. */
static struct centry *
entry_clone(const struct centry *e, CURL *h)
{
	struct centry *c;
	bool ok = true;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->easy = h;
#define CLONE_STR(f)							\
	do {								\
		if (e->f && !(c->f = strdup(e->f)))			\
			ok = false;					\
	} while (0)
	CLONE_STR(url);
	CLONE_STR(proto_str);
	CLONE_STR(redir_str);
	CLONE_STR(noproxy);
	CLONE_STR(default_protocol);
#undef CLONE_STR
	for (size_t i = 0; ok && i < e->n_hsts_files; i++)
		ok = hsts_files_add(c, e->hsts_files[i]);
	c->curlu = e->curlu;
	c->headers = e->headers;
	c->http_version = e->http_version;
	c->proto = e->proto;
	c->proto_mask = e->proto_mask;
	c->redir = e->redir;
	c->redir_mask = e->redir_mask;
	c->hsts_on = e->hsts_on;
	c->hsts_ctrl_set = e->hsts_ctrl_set;
	c->hsts_ctrl = e->hsts_ctrl;
	c->hsts_write = e->hsts_write;
	c->port = e->port;
	/* Which HSTS cache the duplicate of a share-attached handle gets
	 * (the share's, or a private copy of it) is libcurl's business and
	 * cannot be seen from here: hands off that handle. */
	c->opaque = e->opaque || e->share;
	c->path_as_is = e->path_as_is;
	c->disallow_user = e->disallow_user;
	c->connect_only = e->connect_only;
	c->unix_socket = e->unix_socket;
	c->url_unknown = e->url_unknown || e->curlu;
	if (!ok) {
		entry_free(c);
		return NULL;
	}
	return c;
}

/* ------------------------------------------------------------------ */
/* Shadowing curl_easy_setopt */

static bool
opt_tracked(CURLoption opt)
{
	switch (opt) {
	case CURLOPT_URL:
	case CURLOPT_CURLU:
	case CURLOPT_HTTPHEADER:
	case CURLOPT_HTTP_VERSION:
	case CURLOPT_PROTOCOLS_STR:
	case CURLOPT_PROTOCOLS:
	case CURLOPT_REDIR_PROTOCOLS_STR:
	case CURLOPT_REDIR_PROTOCOLS:
	case CURLOPT_NOPROXY:
	case CURLOPT_SHARE:
	case CURLOPT_HSTS:
	case CURLOPT_HSTS_CTRL:
	case CURLOPT_HSTSWRITEFUNCTION:
	case CURLOPT_DEFAULT_PROTOCOL:
	case CURLOPT_PORT:
	case CURLOPT_PATH_AS_IS:
	case CURLOPT_DISALLOW_USERNAME_IN_URL:
	case CURLOPT_CONNECT_ONLY:
	case CURLOPT_UNIX_SOCKET_PATH:
	case CURLOPT_ABSTRACT_UNIX_SOCKET:
		return true;
	default:
		return false;
	}
}

/* *dst = a copy of src (NULL allowed).  On allocation failure the entry
 * turns opaque: we could no longer give the app its value back. */
static void
shadow_str(struct centry *e, char **dst, const char *src)
{
	char *c = NULL;

	if (src && !(c = strdup(src))) {
		e->opaque = true;
		return;
	}
	free(*dst);
	*dst = c;
}

/* Record an option libcurl accepted.  l holds a long option's value, p a
 * pointer option's. */
static void
shadow_set(CURL *h, CURLoption opt, long l, const void *p)
{
	struct centry *e = entry_get(h);

	if (!e) {
		atomic_store(&shadow_broken, true);
		return;
	}
	switch (opt) {
	case CURLOPT_URL:
		shadow_str(e, &e->url, p);
		/* libcurl's effective URL becomes this one now */
		free(e->eff_done);
		e->eff_done = NULL;
		break;
	case CURLOPT_CURLU:
		e->curlu = (CURLU *)p;
		e->url_unknown = false;
		break;
	case CURLOPT_HTTPHEADER:
		e->headers = (struct curl_slist *)p;
		break;
	case CURLOPT_HTTP_VERSION:
		e->http_version = l;
		break;
	case CURLOPT_PROTOCOLS_STR:
		shadow_str(e, &e->proto_str, p);
		e->proto = p ? KIND_STR : KIND_UNSET;	/* NULL: default */
		break;
	case CURLOPT_PROTOCOLS:
		e->proto_mask = l;
		e->proto = KIND_LONG;
		break;
	case CURLOPT_REDIR_PROTOCOLS_STR:
		shadow_str(e, &e->redir_str, p);
		e->redir = p ? KIND_STR : KIND_UNSET;
		break;
	case CURLOPT_REDIR_PROTOCOLS:
		e->redir_mask = l;
		e->redir = KIND_LONG;
		break;
	case CURLOPT_NOPROXY:
		shadow_str(e, &e->noproxy, p);
		break;
	case CURLOPT_SHARE:
		e->share = (CURLSH *)p;
		break;
	case CURLOPT_HSTS:
		/* libcurl 7.88 keeps a list of file names, loaded into the
		 * cache at each transfer; NULL empties the list and drops a
		 * cache that is not a share's */
		if (!p) {
			hsts_files_clear(e);
			e->hsts_on = false;
		} else if (hsts_files_add(e, p)) {
			e->hsts_on = true;
		} else {
			e->opaque = true;
		}
		break;
	case CURLOPT_HSTS_CTRL:
		e->hsts_ctrl = l;
		e->hsts_ctrl_set = true;
		e->hsts_on = (l & CURLHSTS_ENABLE) != 0;
		break;
	case CURLOPT_HSTSWRITEFUNCTION:
		e->hsts_write = p != NULL;
		break;
	case CURLOPT_DEFAULT_PROTOCOL:
		shadow_str(e, &e->default_protocol, p);
		break;
	case CURLOPT_PORT:
		e->port = l;
		break;
	case CURLOPT_PATH_AS_IS:
		e->path_as_is = l != 0;
		break;
	case CURLOPT_DISALLOW_USERNAME_IN_URL:
		e->disallow_user = l != 0;
		break;
	case CURLOPT_CONNECT_ONLY:
		e->connect_only = l != 0;
		break;
	case CURLOPT_UNIX_SOCKET_PATH:
	case CURLOPT_ABSTRACT_UNIX_SOCKET:
		/* both set the one socket path libcurl keeps */
		e->unix_socket = p != NULL;
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Rewriting and restoring */

/* Give h the app's values (from e) for every option a rewrite touches.
 * Errors are ignored: each value was accepted by libcurl before. */
static void
restore_opts(const struct centry *e, CURL *h)
{
	set_ptr(h, CURLOPT_URL, e->url);
	if (e->curlu)
		set_ptr(h, CURLOPT_CURLU, e->curlu);
	set_ptr(h, CURLOPT_UNIX_SOCKET_PATH, NULL);
	set_ptr(h, CURLOPT_HTTPHEADER, e->headers);
	set_long(h, CURLOPT_HTTP_VERSION, e->http_version);
	switch (e->proto) {
	case KIND_STR:
		set_ptr(h, CURLOPT_PROTOCOLS_STR, e->proto_str);
		break;
	case KIND_LONG:
		set_long(h, CURLOPT_PROTOCOLS, e->proto_mask);
		break;
	case KIND_UNSET:
		set_ptr(h, CURLOPT_PROTOCOLS_STR, "ALL");
		break;
	}
	switch (e->redir) {
	case KIND_STR:
		set_ptr(h, CURLOPT_REDIR_PROTOCOLS_STR, e->redir_str);
		break;
	case KIND_LONG:
		set_long(h, CURLOPT_REDIR_PROTOCOLS, e->redir_mask);
		break;
	case KIND_UNSET:
		break;		/* never touched */
	}
	set_ptr(h, CURLOPT_NOPROXY, e->noproxy);
	if (e->hsts_on) {
		/* Switching HSTS off dropped the handle's private, in-memory
		 * cache (see hsts_blocks): what earlier transfers of this
		 * handle learned is lost, the price of keeping HSTS from
		 * upgrading our http:// URL back to https://. */
		set_long(h, CURLOPT_HSTS_CTRL,
			 (e->hsts_ctrl_set ? e->hsts_ctrl : 0) |
			 CURLHSTS_ENABLE);
	}
}

/* Apply the rewrite.  Returns false, with the app's values back, when
 * libcurl refused one of the options. */
static bool
apply_opts(const struct centry *e, CURL *h, const char *url,
    const struct curl_slist *hdrs)
{
	CURLcode rc = CURLE_OK;

#define TRY(x)								\
	do {								\
		if (rc == CURLE_OK)					\
			rc = (x);					\
	} while (0)
	TRY(set_ptr(h, CURLOPT_HTTPHEADER, hdrs));
	TRY(set_long(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1));
	TRY(set_ptr(h, CURLOPT_PROTOCOLS_STR, "http,https"));
	if (e->redir != KIND_UNSET)
		TRY(set_ptr(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
	/* HSTS would turn our http:// back into https:// (which curl 7.88
	 * cannot send over a Unix socket); hsts_blocks() let through only a
	 * private in-memory cache, safe to switch off */
	if (e->hsts_on)
		TRY(set_long(h, CURLOPT_HSTS_CTRL, 0L));
	/* a proxy (the app's or the environment's) never carries it */
	TRY(set_ptr(h, CURLOPT_NOPROXY, "*"));
	TRY(set_ptr(h, CURLOPT_UNIX_SOCKET_PATH, shim_socket_path()));
	if (e->curlu)
		TRY(set_ptr(h, CURLOPT_CURLU, NULL));
	TRY(set_ptr(h, CURLOPT_URL, url));
#undef TRY
	if (rc != CURLE_OK) {
		restore_opts(e, h);
		return false;
	}
	return true;
}

/* The app's header list, without any X-Llmfb-Origin of its own, plus
 * ours.  NULL when out of memory. */
static struct curl_slist *
headers_with(const struct curl_slist *app,
    const char *ours)
{
	struct curl_slist *l = NULL, *n;
	const size_t hl = sizeof(ORIGIN_HEADER) - 1;

	for (; app; app = app->next) {
		if (!app->data)
			continue;
		if (strncasecmp(app->data, ORIGIN_HEADER, hl) == 0 &&
		    (app->data[hl] == ':' || app->data[hl] == ';'))
			continue;
		n = REAL(curl_slist_append)(l, app->data);
		if (!n)
			goto fail;
		l = n;
	}
	n = REAL(curl_slist_append)(l, ours);
	if (n)
		return n;
fail:
	if (l)
		REAL(curl_slist_free_all)(l);
	return NULL;
}

/* Is url absolute, the way libcurl decides before applying CURLOPT_
 * DEFAULT_PROTOCOL: a scheme of up to 40 characters, then ":/". */
static bool
url_has_scheme(const char *url)
{
	size_t i;

	if (!((url[0] >= 'a' && url[0] <= 'z') ||
	      (url[0] >= 'A' && url[0] <= 'Z')))
		return false;
	for (i = 1; i < 40; i++) {
		char c = url[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		      c == '.'))
			break;
	}
	return url[i] == ':' && url[i + 1] == '/';
}

static bool
parse_port(const char *s, long *ret_port)
{
	char *end;
	long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return false;
	*ret_port = v;
	return true;
}

static void
forget_last(struct centry *e)
{
	e->last = false;
	free(e->eff_done);
	e->eff_done = NULL;
}

/* Why HSTS forbids a rewrite of e's handle, or NULL when it does not.
 *
 * An HSTS cache that lists the host upgrades our http:// URL back to
 * https://, which curl 7.88 cannot send over a Unix socket.  Switching the
 * cache off for the transfer is only safe for a private, in-memory one:
 * - CURLOPT_HSTS files: 7.88 loads them into the cache at the start of
 *   each transfer; without a cache it dereferences NULL, and with the
 *   load skipped, the save at cleanup writes an empty cache over the
 *   app's file.
 * - a share (CURLOPT_SHARE; the curl tool always shares its HSTS cache):
 *   CURLOPT_HSTS_CTRL=0 frees the share's cache under the other handles;
 *   leaving the share would lose the cookies loaded into it.
 * - CURLOPT_HSTSWRITEFUNCTION: the app would be handed an emptied cache.
 * A share whose HSTS cache we cannot see (HSTS not turned on by the app
 * for this handle) is left alone: see the upgrade check in
 * curl_easy_perform. */
static const char *
hsts_blocks(const struct centry *e)
{
	if (e->n_hsts_files)
		return "HSTS files in use (CURLOPT_HSTS)";
	if (e->hsts_on && e->share)
		return "HSTS cache of a share handle";
	if (e->hsts_on && e->hsts_write)
		return "HSTS cache with a write callback";
	return NULL;
}

/* A new transfer is starting on h: decide whether it goes to the daemon
 * and, if so, rewrite h.  Returns true when h was rewritten (the caller
 * sets e->xfer).  Must be called with errno saved by the caller. */
static bool
redirect_begin(struct centry *e, CURL *h, const char *api)
{
	char *from_curlu = NULL, *absolute = NULL, *scheme = NULL;
	char *host = NULL, *portstr = NULL, *newurl = NULL;
	char origin[sizeof(ORIGIN_HEADER) + SHIM_HOST_MAX + 32];
	struct curl_slist *hdrs = NULL;
	const char *src;
	unsigned int flags;
	CURLU *u = NULL;
	bool ok = false, said = false;
	size_t hlen, i;
	long port;

	forget_last(e);
	if (atomic_load(&shadow_broken) || e->opaque) {
		SHIM_DEBUG(api, "passthrough: options not tracked");
		return false;
	}
	if (e->unix_socket || e->connect_only) {
		SHIM_DEBUG(api, "passthrough: the app set %s",
			   e->unix_socket ? "its own Unix socket" :
					    "CURLOPT_CONNECT_ONLY");
		return false;
	}
	if (e->url_unknown) {
		SHIM_DEBUG(api, "passthrough: URL unknown (duplicate of a "
			   "CURLU handle)");
		return false;
	}
	if (hsts_blocks(e)) {
		SHIM_DEBUG(api, "passthrough: %s", hsts_blocks(e));
		return false;
	}
	if (shim_hosts_empty()) {
		SHIM_DEBUG(api, "passthrough: no intercepted hosts");
		return false;
	}

	/* The URL as libcurl will see it: its own parser, its own flags. */
	if (e->curlu) {
		if (REAL(curl_url_get)(e->curlu, CURLUPART_URL, &from_curlu,
				       0) != CURLUE_OK)
			goto out;
		src = from_curlu;
		/* libcurl uses the CURLU as it is: no normalising */
		flags = CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS;
	} else {
		src = e->url;
		flags = CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME |
			(e->disallow_user ? CURLU_DISALLOW_USER : 0) |
			(e->path_as_is ? CURLU_PATH_AS_IS : 0);
	}
	if (!src)
		goto out;
	if (!e->curlu && e->default_protocol && !url_has_scheme(src)) {
		size_t n = strlen(e->default_protocol) + 3 + strlen(src) + 1;

		absolute = malloc(n);
		if (!absolute)
			goto out;
		snprintf(absolute, n, "%s://%s", e->default_protocol, src);
		src = absolute;
	}
	u = REAL(curl_url)();
	if (!u || REAL(curl_url_set)(u, CURLUPART_URL, src, flags) !=
		  CURLUE_OK)
		goto out;
	if (REAL(curl_url_get)(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    REAL(curl_url_get)(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "https") == 0)
		e->https = true;
	else if (strcasecmp(scheme, "http") == 0)
		e->https = false;
	else
		goto out;		/* not HTTP: none of our business */
	if (!shim_host_intercepted(host)) {
		SHIM_DEBUG(api, "passthrough: %s not intercepted", host);
		said = true;
		goto out;
	}
	if (e->port > 0 && e->port <= 65535) {
		port = e->port;	/* CURLOPT_PORT wins over the URL */
	} else if (REAL(curl_url_get)(u, CURLUPART_PORT, &portstr,
				      CURLU_DEFAULT_PORT) != CURLUE_OK ||
		   !parse_port(portstr, &port)) {
		goto out;
	}
	hlen = strlen(host);
	if (hlen >= sizeof(e->host))
		goto out;
	for (i = 0; i <= hlen; i++) {
		char c = host[i];

		e->host[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	e->oport = port;
	if (!shim_daemon_up()) {
		SHIM_DEBUG(api, "passthrough: %s://%s:%ld: daemon down",
			   e->https ? "https" : "http", e->host, port);
		said = true;
		goto out;
	}

	if (REAL(curl_url_set)(u, CURLUPART_SCHEME, "http", 0) != CURLUE_OK ||
	    REAL(curl_url_get)(u, CURLUPART_URL, &newurl, 0) != CURLUE_OK)
		goto out;
	snprintf(origin, sizeof(origin), "%s: %s://%s:%ld", ORIGIN_HEADER,
		 e->https ? "https" : "http", e->host, port);
	hdrs = headers_with(e->headers, origin);
	if (!hdrs)
		goto out;
	{
		/* When the shim handed it over, for llmfbd's metrics. */
		char sent[sizeof(SENT_HEADER) + 32];
		struct curl_slist *n;

		snprintf(sent, sizeof(sent), "%s: %llu", SENT_HEADER,
			 shim_now_us());
		n = REAL(curl_slist_append)(hdrs, sent);
		if (!n) {
			REAL(curl_slist_free_all)(hdrs);
			goto out;
		}
		hdrs = n;
	}
	if (!apply_opts(e, h, newurl, hdrs)) {
		SHIM_DEBUG(api, "passthrough: libcurl refused an option");
		said = true;
		REAL(curl_slist_free_all)(hdrs);
		goto out;
	}
	e->our_headers = hdrs;
	e->last = true;
	ok = true;
	SHIM_DEBUG(api, "intercepted %s://%s:%ld -> %s", e->https ? "https" :
		   "http", e->host, port, shim_socket_path());
out:
	if (!ok && !said)
		SHIM_DEBUG(api, "passthrough: URL not rewritable (not HTTP, "
			   "unparsable, or out of memory)");
	REAL(curl_free)(newurl);
	REAL(curl_free)(portstr);
	REAL(curl_free)(host);
	REAL(curl_free)(scheme);
	if (u)
		REAL(curl_url_cleanup)(u);
	free(absolute);
	REAL(curl_free)(from_curlu);
	return ok;
}

/* url with "http://" turned back into "https://" when its host is the one
 * we redirected (a redirect elsewhere keeps what libcurl says).  A new
 * string, or NULL when nothing is to be mapped. */
static char *
map_url(const struct centry *e, const char *url)
{
	const char *a, *end, *hs, *he;
	size_t n, len;
	char *out;

	if (!e->https || !url || strncasecmp(url, "http://", 7) != 0)
		return NULL;
	a = url + 7;
	end = a + strcspn(a, "/?#");
	hs = memrchr(a, '@', (size_t)(end - a));
	hs = hs ? hs + 1 : a;
	if (*hs == '[') {
		he = memchr(hs, ']', (size_t)(end - hs));
		if (!he)
			return NULL;
		he++;
	} else {
		he = memchr(hs, ':', (size_t)(end - hs));
		if (!he)
			he = end;
	}
	n = (size_t)(he - hs);
	if (n != strlen(e->host) || strncasecmp(hs, e->host, n) != 0)
		return NULL;
	len = strlen(url);
	out = malloc(len + 2);
	if (!out)
		return NULL;
	memcpy(out, "https", 5);
	memcpy(out + 5, url + 4, len - 4 + 1);	/* "://..." and the NUL */
	return out;
}

/* The transfer on h ended: remember its effective URL (restoring
 * CURLOPT_URL resets libcurl's) and give h the app's options back. */
static void
redirect_end(struct centry *e, CURL *h, bool keep, const char *api)
{
	char *eff = NULL;

	free(e->eff_done);
	e->eff_done = NULL;
	if (keep && REAL(curl_easy_getinfo)(h, CURLINFO_EFFECTIVE_URL, &eff) ==
		    CURLE_OK && eff) {
		e->eff_done = map_url(e, eff);
		if (!e->eff_done)
			e->eff_done = strdup(eff);
	}
	restore_opts(e, h);
	if (e->our_headers) {
		REAL(curl_slist_free_all)(e->our_headers);
		e->our_headers = NULL;
	}
	e->xfer = XFER_IDLE;
	if (!keep)
		forget_last(e);
	SHIM_DEBUG(api, "restored the app's options");
}

/* ------------------------------------------------------------------ */
/* Hooks */

SHIM_EXPORT CURL *
curl_easy_init(void)
{
	int saved = errno;
	bool on = curl_ready();
	struct centry *stale;
	CURL *h;

	if (!REAL(curl_easy_init))
		return NULL;
	errno = saved;
	h = REAL(curl_easy_init)();
	if (h && on) {
		/* libcurl frees its internal handles (DoH) without our
		 * cleanup hook: drop whatever was left at this address */
		saved = errno;
		stale = entry_take(h);
		entry_free(stale);
		errno = saved;
	}
	return h;
}

typedef void (*shim_fn)(void);

SHIM_EXPORT CURLcode
curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	int saved = errno;
	bool on = curl_ready();
	const void *p = NULL;
	long l = 0;
	CURLcode rc;
	va_list ap;

	if (!REAL(curl_easy_setopt))
		return CURLE_FAILED_INIT;
	/* Forward by the option's type band, as libcurl reads it. */
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT) {
		l = va_arg(ap, long);
		va_end(ap);
		errno = saved;
		rc = REAL(curl_easy_setopt)(h, opt, l);
	} else if (opt < CURLOPTTYPE_FUNCTIONPOINT) {
		p = va_arg(ap, void *);
		va_end(ap);
		errno = saved;
		rc = REAL(curl_easy_setopt)(h, opt, p);
	} else if (opt < CURLOPTTYPE_OFF_T) {
		shim_fn f = va_arg(ap, shim_fn);

		va_end(ap);
		errno = saved;
		rc = REAL(curl_easy_setopt)(h, opt, f);
		p = f ? (const void *)h : NULL;	/* "set", for shadow */
	} else if (opt < CURLOPTTYPE_BLOB) {
		curl_off_t o = va_arg(ap, curl_off_t);

		va_end(ap);
		errno = saved;
		return REAL(curl_easy_setopt)(h, opt, o);
	} else {
		p = va_arg(ap, void *);
		va_end(ap);
		errno = saved;
		return REAL(curl_easy_setopt)(h, opt, p);
	}
	if (rc == CURLE_OK && on && h && opt_tracked(opt)) {
		saved = errno;
		shadow_set(h, opt, l, p);
		errno = saved;
	}
	return rc;
}

/* Why the redirected transfer on h failed before its first request
 * reached the daemon, or NULL.  Then a second try, untouched, repeats
 * nothing: no connection at all (the daemon went away after the probe),
 * or an HSTS cache we could not switch off (a share's) turned our
 * http:// URL into https:// and the transfer died in a TLS handshake
 * with the daemon.  After a redirect, a request did go out: no retry. */
static const char *
failed_before_send(CURL *h, CURLcode rc)
{
	char *eff = NULL;
	long redirects = -1;

	if (rc == CURLE_OK ||
	    REAL(curl_easy_getinfo)(h, CURLINFO_REDIRECT_COUNT, &redirects) !=
		    CURLE_OK || redirects != 0)
		return NULL;
	if (rc == CURLE_COULDNT_CONNECT)
		return "daemon refused the connection";
	if (REAL(curl_easy_getinfo)(h, CURLINFO_EFFECTIVE_URL, &eff) ==
		    CURLE_OK && eff && strncasecmp(eff, "https:", 6) == 0)
		return "HSTS upgraded the URL to https";
	return NULL;
}

SHIM_EXPORT CURLcode
curl_easy_perform(CURL *h)
{
	int saved = errno;
	bool on = curl_ready();
	struct centry *e = NULL;
	bool redirected = false;
	CURLcode rc;

	if (!REAL(curl_easy_perform))
		return CURLE_FAILED_INIT;
	if (on && !shim_guard_active()) {
		e = entry_find(h);
		/* XFER_MULTI: still in a multi handle (libcurl will refuse) */
		if (e && e->xfer == XFER_IDLE) {
			redirected = redirect_begin(e, h, "curl_easy_perform");
			if (redirected)
				e->xfer = XFER_EASY;
		}
	}
	errno = saved;
	t_in_perform++;
	rc = REAL(curl_easy_perform)(h);
	t_in_perform--;
	if (!redirected)
		return rc;

	saved = errno;
	e = entry_find(h);		/* the app cannot free it meanwhile */
	if (e && e->xfer == XFER_EASY) {
		const char *why = failed_before_send(h, rc);

		if (why) {
			/* fail open: once more, untouched */
			redirect_end(e, h, false, "curl_easy_perform");
			SHIM_DEBUG("curl_easy_perform", "%s: retrying "
				   "untouched", why);
			errno = saved;
			t_in_perform++;
			rc = REAL(curl_easy_perform)(h);
			t_in_perform--;
			return rc;
		}
		redirect_end(e, h, true, "curl_easy_perform");
	}
	errno = saved;
	return rc;
}

SHIM_EXPORT CURLMcode
curl_multi_add_handle(CURLM *m, CURL *h)
{
	int saved = errno;
	bool on = curl_ready();
	struct centry *e = NULL;
	bool redirected = false;
	CURLMcode rc;

	if (!REAL(curl_multi_add_handle))
		return CURLM_INTERNAL_ERROR;
	if (on && !t_in_perform && !shim_guard_active()) {
		e = entry_find(h);
		if (e && e->xfer == XFER_IDLE) {
			redirected = redirect_begin(e, h,
						    "curl_multi_add_handle");
			if (redirected)
				e->xfer = XFER_MULTI;
		}
	}
	errno = saved;
	rc = REAL(curl_multi_add_handle)(m, h);
	if (redirected && rc != CURLM_OK) {
		saved = errno;
		redirect_end(e, h, false, "curl_multi_add_handle");
		errno = saved;
	}
	return rc;
}

SHIM_EXPORT CURLMcode
curl_multi_remove_handle(CURLM *m, CURL *h)
{
	int saved = errno;
	bool on = curl_ready();
	struct centry *e;
	CURLMcode rc;

	if (!REAL(curl_multi_remove_handle))
		return CURLM_INTERNAL_ERROR;
	errno = saved;
	rc = REAL(curl_multi_remove_handle)(m, h);
	if (!on || t_in_perform || rc != CURLM_OK)
		return rc;
	saved = errno;
	e = entry_find(h);
	if (e && e->xfer == XFER_MULTI)
		redirect_end(e, h, true, "curl_multi_remove_handle");
	errno = saved;
	return rc;
}

/* The live or remembered answer for the redirected transfer of e. */
static void
info_adjust(struct centry *e, CURLINFO info, void *arg)
{
	char **sp = arg;
	long *lp = arg;
	char *out;

	switch (info) {
	case CURLINFO_EFFECTIVE_URL:
		if (e->xfer == XFER_IDLE) {
			if (e->eff_done)
				*sp = e->eff_done;
			return;
		}
		/* live: mapped like CURLINFO_REDIRECT_URL */
		__attribute__((fallthrough));
	case CURLINFO_REDIRECT_URL: {
		struct mapped *m = info == CURLINFO_REDIRECT_URL ?
				   &e->redir_url : &e->eff;

		if (!*sp)
			return;
		if (m->src && m->out && strcmp(m->src, *sp) == 0) {
			*sp = m->out;
			return;
		}
		out = map_url(e, *sp);
		if (!out)
			return;
		mapped_clear(m);
		m->src = strdup(*sp);
		if (!m->src) {
			free(out);
			return;
		}
		m->out = out;
		*sp = out;
		return;
	}
	case CURLINFO_SCHEME:
		if (e->https && *sp && strcasecmp(*sp, "http") == 0)
			*sp = (char *)((*sp)[0] == 'H' ? "HTTPS" : "https");
		return;
	case CURLINFO_PRIMARY_PORT:
		*lp = e->oport;
		return;
	case CURLINFO_PROTOCOL:
		if (e->https && *lp == CURLPROTO_HTTP)
			*lp = CURLPROTO_HTTPS;
		return;
	default:
		return;
	}
}

SHIM_EXPORT CURLcode
curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	int saved = errno;
	bool on = curl_ready();
	struct centry *e;
	CURLcode rc;
	va_list ap;
	void *arg;

	if (!REAL(curl_easy_getinfo))
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	arg = va_arg(ap, void *);	/* every CURLINFO takes a pointer */
	va_end(ap);
	errno = saved;
	rc = REAL(curl_easy_getinfo)(h, info, arg);
	if (rc != CURLE_OK || !on || !arg)
		return rc;
	switch (info) {
	case CURLINFO_EFFECTIVE_URL:
	case CURLINFO_REDIRECT_URL:
	case CURLINFO_SCHEME:
	case CURLINFO_PRIMARY_PORT:
	case CURLINFO_PROTOCOL:
		break;
	default:
		return rc;
	}
	saved = errno;
	e = entry_find(h);
	if (e && e->last)
		info_adjust(e, info, arg);
	errno = saved;
	return rc;
}

SHIM_EXPORT void
curl_easy_cleanup(CURL *h)
{
	int saved = errno;
	bool on = curl_ready();
	struct centry *e = NULL;

	if (!REAL(curl_easy_cleanup))
		return;
	/* Unlinked first: libcurl's cleanup calls curl_multi_remove_handle
	 * for a handle still in a multi, and that must not restore options
	 * on a handle being destroyed. */
	if (on)
		e = entry_take(h);
	errno = saved;
	REAL(curl_easy_cleanup)(h);
	saved = errno;
	entry_free(e);	/* libcurl no longer holds our header list */
	errno = saved;
}

SHIM_EXPORT void
curl_easy_reset(CURL *h)
{
	int saved = errno;
	bool on = curl_ready();
	struct centry *e;

	if (!REAL(curl_easy_reset))
		return;
	errno = saved;
	REAL(curl_easy_reset)(h);
	if (!on)
		return;
	saved = errno;
	e = entry_take(h);	/* every option is back to its default */
	entry_free(e);
	errno = saved;
}

SHIM_EXPORT CURL *
curl_easy_duphandle(CURL *h)
{
	int saved = errno;
	bool on = curl_ready();
	struct centry *e, *c, *stale;
	CURL *n;

	if (!REAL(curl_easy_duphandle))
		return NULL;
	errno = saved;
	n = REAL(curl_easy_duphandle)(h);
	if (!n || !on)
		return n;
	saved = errno;
	stale = entry_take(n);
	entry_free(stale);
	e = entry_find(h);
	if (e) {
		/* Duplicated mid-transfer: the copy got our rewrite and our
		 * header list (freed when the source's transfer ends). */
		if (e->xfer != XFER_IDLE)
			restore_opts(e, n);
		c = entry_clone(e, n);
		if (c) {
			pthread_mutex_lock(&tab_lock);
			if (!tab_insert_locked(c)) {
				entry_free(c);
				c = NULL;
			}
			pthread_mutex_unlock(&tab_lock);
		}
		if (!c)
			atomic_store(&shadow_broken, true);
	}
	errno = saved;
	return n;
}
