/* libllmfb.so, the TLS layer: a program that speaks TLS over a redirected
 * connection (net.c) gets a virtual session.  The daemon talks real TLS to
 * the provider; between the program and the daemon, on a local socket,
 * there is nothing to protect and no certificate to check.
 *
 * Which sessions are virtual.  One whose socket BIO is on a redirected fd
 * (SSL_set_fd: Python's ssl.SSLSocket, Ruby, Perl, PHP streams); or one
 * over BIOs the shim cannot see through (memory BIOs: asyncio's and anyio's
 * SSLObject, httpx.AsyncClient) whose SNI names an intercepted host while
 * a redirected connection to that host has no TLS session yet.  The second
 * rule pairs by name, not by fd; it can only pick wrongly in a process
 * that has, at the same moment, a redirected and a direct connection to
 * the same intercepted host, which the shim never makes itself (resolution
 * decides once per lookup).  A session is decided at its first handshake,
 * read or write, and only while it is a client that has not finished a
 * real handshake.
 *
 * What a virtual session does.  The handshake succeeds at once and tells
 * the daemon "TLS" (the preamble's second line) so that it knows the
 * program meant https.  SSL_read/_ex, SSL_peek/_ex, SSL_write/_ex carry
 * plaintext: on the fd with recv()/send(MSG_NOSIGNAL), or through the
 * session's BIOs.  The answers follow OpenSSL's: WANT_READ/WANT_WRITE when
 * the socket would block or a signal interrupted it, ZERO_RETURN (with
 * SSL_RECEIVED_SHUTDOWN, as after a close_notify) at the end of the stream,
 * SYSCALL with errno for a broken connection; an unfinished SSL_write is
 * resumed on retry as OpenSSL does.  SSL_get_verify_result says X509_V_OK;
 * the peer certificate is one made here for the host (subject and SAN
 * name it, issuer "llmfb virtual TLS"), so that programs checking the name
 * themselves (urllib3 1.26) pass; SSL_is_init_finished, SSL_get_state,
 * SSL_get_version ("TLSv1.3"), SSL_pending (0) and SSL_shutdown (done at
 * once) agree, and so does SSL_get_current_cipher (TLS 1.3's
 * TLS_AES_128_GCM_SHA256, from the program's libssl).  No ALPN protocol
 * is selected: every client then speaks HTTP/1.1, which is what the
 * daemon serves.
 *
 * Cost for every other session, per hooked call: two loads while no
 * connection of the process is redirected, a hash probe when some are.
 * libssl calls some hooked functions itself (SSL_in_init, SSL_get_state),
 * so a real SSL_read or SSL_write pays that two or three times: about
 * 20 ns in all (bench/RESULTS.md).
 */
#include "shim.h"
#include "shim_proto.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* OpenSSL 3 makes this a macro for SSL_get1_peer_certificate; 1.1 programs
 * call it by name. */
#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *s);

#define TLS_MARK_LEN	(sizeof(PREAMBLE_TLS) - 1)
#define CERTS_MAX	1024	/* one per synthetic name (net.c SYNTH_MAX) */

#define OSSL(name)	__typeof__(name) *name

/* OpenSSL's functions, from the libssl and libcrypto the program loaded. */
static struct {
	/* hooked */
	OSSL(SSL_do_handshake);
	OSSL(SSL_connect);
	OSSL(SSL_read);
	OSSL(SSL_read_ex);
	OSSL(SSL_peek);
	OSSL(SSL_peek_ex);
	OSSL(SSL_write);
	OSSL(SSL_write_ex);
	OSSL(SSL_get_error);
	OSSL(SSL_pending);
	OSSL(SSL_has_pending);
	OSSL(SSL_shutdown);
	OSSL(SSL_get_shutdown);
	OSSL(SSL_get_verify_result);
	OSSL(SSL_get1_peer_certificate);
	OSSL(SSL_get0_peer_certificate);
	OSSL(SSL_get_peer_certificate);
	OSSL(SSL_is_init_finished);
	OSSL(SSL_in_init);
	OSSL(SSL_in_before);
	OSSL(SSL_get_state);
	OSSL(SSL_get_version);
	OSSL(SSL_version);
	OSSL(SSL_free);
	OSSL(SSL_clear);
	OSSL(SSL_get_current_cipher);
	OSSL(SSL_get_peer_cert_chain);
	/* used */
	OSSL(SSL_get_rfd);
	OSSL(SSL_get_wfd);
	OSSL(SSL_get_rbio);
	OSSL(SSL_get_wbio);
	OSSL(SSL_get_servername);
	OSSL(SSL_is_server);
	OSSL(SSL_ctrl);
	OSSL(SSL_CIPHER_find);
	OSSL(SSL_get_info_callback);
	OSSL(SSL_CTX_get_info_callback);
	OSSL(SSL_get_SSL_CTX);
	OSSL(OPENSSL_sk_new_null);
	OSSL(OPENSSL_sk_push);
	OSSL(OPENSSL_sk_pop_free);
	OSSL(BIO_read);
	OSSL(BIO_write);
	OSSL(BIO_test_flags);
	OSSL(BIO_ctrl);
	OSSL(BIO_method_type);
	/* the peer certificate */
	OSSL(X509_new);
	OSSL(X509_free);
	OSSL(X509_up_ref);
	OSSL(X509_set_version);
	OSSL(X509_get_serialNumber);
	OSSL(ASN1_INTEGER_set);
	OSSL(X509_gmtime_adj);
	OSSL(X509_getm_notBefore);
	OSSL(X509_getm_notAfter);
	OSSL(X509_get_subject_name);
	OSSL(X509_NAME_new);
	OSSL(X509_NAME_free);
	OSSL(X509_NAME_add_entry_by_txt);
	OSSL(X509_set_issuer_name);
	OSSL(X509V3_EXT_nconf_nid);
	OSSL(X509_add_ext);
	OSSL(X509_EXTENSION_free);
	OSSL(X509_set_pubkey);
	OSSL(X509_sign);
	OSSL(EVP_PKEY_Q_keygen);
} o;

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static const char *const ssl_sonames[] = {
	"libssl.so.3", "libssl.so.1.1", NULL
};
static const char *const crypto_sonames[] = {
	"libcrypto.so.3", "libcrypto.so.1.1", NULL
};

#define HOOKED(lib, name)						\
	(*(void **)&o.name = shim_sym((lib), #name, (const void *)name))
#define USED(lib, name)							\
	(*(void **)&o.name = shim_sym((lib), #name, NULL))

static pthread_mutex_t vt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cert_lock = PTHREAD_MUTEX_INITIALIZER;

static void
tls_atfork_prepare(void)
{
	pthread_mutex_lock(&cert_lock);
	pthread_mutex_lock(&vt_lock);
}

static void
tls_atfork_release(void)
{
	pthread_mutex_unlock(&vt_lock);
	pthread_mutex_unlock(&cert_lock);
}

static void
tls_resolve(void)
{
	void *ssl = shim_lib_open("SSL_new", NULL, ssl_sonames);
	void *cr = shim_lib_open("BIO_read", NULL, crypto_sonames);

	HOOKED(ssl, SSL_do_handshake);
	HOOKED(ssl, SSL_connect);
	HOOKED(ssl, SSL_read);
	HOOKED(ssl, SSL_read_ex);
	HOOKED(ssl, SSL_peek);
	HOOKED(ssl, SSL_peek_ex);
	HOOKED(ssl, SSL_write);
	HOOKED(ssl, SSL_write_ex);
	HOOKED(ssl, SSL_get_error);
	HOOKED(ssl, SSL_pending);
	HOOKED(ssl, SSL_has_pending);
	HOOKED(ssl, SSL_shutdown);
	HOOKED(ssl, SSL_get_shutdown);
	HOOKED(ssl, SSL_get_verify_result);
	HOOKED(ssl, SSL_get1_peer_certificate);
	HOOKED(ssl, SSL_get0_peer_certificate);
	HOOKED(ssl, SSL_get_peer_certificate);
	HOOKED(ssl, SSL_is_init_finished);
	HOOKED(ssl, SSL_in_init);
	HOOKED(ssl, SSL_in_before);
	HOOKED(ssl, SSL_get_state);
	HOOKED(ssl, SSL_get_version);
	HOOKED(ssl, SSL_version);
	HOOKED(ssl, SSL_free);
	HOOKED(ssl, SSL_clear);
	HOOKED(ssl, SSL_get_current_cipher);
	HOOKED(ssl, SSL_get_peer_cert_chain);
	USED(ssl, SSL_get_rfd);
	USED(ssl, SSL_get_wfd);
	USED(ssl, SSL_get_rbio);
	USED(ssl, SSL_get_wbio);
	USED(ssl, SSL_get_servername);
	USED(ssl, SSL_is_server);
	USED(ssl, SSL_ctrl);
	USED(ssl, SSL_CIPHER_find);
	USED(ssl, SSL_get_info_callback);
	USED(ssl, SSL_CTX_get_info_callback);
	USED(ssl, SSL_get_SSL_CTX);
	USED(cr, OPENSSL_sk_new_null);
	USED(cr, OPENSSL_sk_push);
	USED(cr, OPENSSL_sk_pop_free);
	USED(cr, BIO_read);
	USED(cr, BIO_write);
	USED(cr, BIO_test_flags);
	USED(cr, BIO_ctrl);
	USED(cr, BIO_method_type);
	USED(cr, X509_new);
	USED(cr, X509_free);
	USED(cr, X509_up_ref);
	USED(cr, X509_set_version);
	USED(cr, X509_get_serialNumber);
	USED(cr, ASN1_INTEGER_set);
	USED(cr, X509_gmtime_adj);
	USED(cr, X509_getm_notBefore);
	USED(cr, X509_getm_notAfter);
	USED(cr, X509_get_subject_name);
	USED(cr, X509_NAME_new);
	USED(cr, X509_NAME_free);
	USED(cr, X509_NAME_add_entry_by_txt);
	USED(cr, X509_set_issuer_name);
	USED(cr, X509V3_EXT_nconf_nid);
	USED(cr, X509_add_ext);
	USED(cr, X509_EXTENSION_free);
	USED(cr, X509_set_pubkey);
	USED(cr, X509_sign);
	USED(cr, EVP_PKEY_Q_keygen);
	pthread_atfork(tls_atfork_prepare, tls_atfork_release,
		       tls_atfork_release);
}

static void
tls_init(void)
{
	int saved = errno;

	pthread_once(&tls_once, tls_resolve);
	errno = saved;
}

/* Forward a hooked call; a missing function fails like OpenSSL would. */
#define FORWARD(name, fail, ...)					\
	(o.name ? o.name(__VA_ARGS__) : (fail))

/* True when the virtual path can do its work at all. */
static bool
tls_usable(void)
{
	return o.SSL_get_rfd && o.SSL_get_wfd && o.SSL_get_rbio &&
	       o.SSL_get_wbio && o.SSL_get_servername && o.SSL_is_server &&
	       o.SSL_is_init_finished && o.SSL_ctrl && o.BIO_read &&
	       o.BIO_write && o.BIO_test_flags;
}

/* ------------------------------------------------------------------ */
/* Virtual sessions, by SSL pointer: open addressing, lock-free lookups
 * (an SSL is used by one thread at a time, its slot is only changed by
 * its own SSL_free), inserts and deletes under vt_lock. */

#define VT_SLOTS	4096
#define VT_TOMB		((SSL *)1)

struct vtls {
	int		fd;		/* -1: through the BIOs */
	unsigned	host;		/* synthetic name index */
	int		err;		/* for SSL_get_error() */
	int		shutdown;	/* SSL_SENT/RECEIVED_SHUTDOWN */
	size_t		wdone;		/* of an unfinished SSL_write */
	bool		need_mark;	/* the daemon is still to be told */
	bool		told_done;	/* the info callback heard the end */
	STACK_OF(X509)	*chain;		/* SSL_get_peer_cert_chain's, or NULL */
	bool		need_stamp;	/* ... when the first request left */
};

static _Atomic(SSL *) vt_key[VT_SLOTS];
static struct vtls vt_val[VT_SLOTS];
static atomic_uint vt_count;
static unsigned vt_used;		/* live + tombstones, under vt_lock */

static unsigned
vt_hash(const SSL *s)
{
	uint64_t p = (uint64_t)(uintptr_t)s;

	p ^= p >> 29;
	p *= 0x9E3779B97F4A7C15ull;
	return (unsigned)(p >> 40) & (VT_SLOTS - 1);
}

static struct vtls *
vt_find(const SSL *s)
{
	unsigned i = vt_hash(s), n;

	if (s == NULL || s == VT_TOMB)
		return NULL;	/* never a key: NULL marks a free slot */

	for (n = 0; n < VT_SLOTS; n++, i = (i + 1) & (VT_SLOTS - 1)) {
		SSL *k = atomic_load_explicit(&vt_key[i],
					      memory_order_acquire);

		if (k == s)
			return &vt_val[i];
		if (k == NULL)
			return NULL;
	}
	return NULL;
}

static struct vtls *
vt_insert(SSL *s, int fd, unsigned host, bool mark)
{
	struct vtls *v = NULL;
	unsigned i, n;

	pthread_mutex_lock(&vt_lock);
	if (vt_used < VT_SLOTS * 3 / 4) {
		i = vt_hash(s);
		for (n = 0; n < VT_SLOTS; n++, i = (i + 1) & (VT_SLOTS - 1)) {
			SSL *k = atomic_load(&vt_key[i]);

			if (k == NULL || k == VT_TOMB) {
				if (k == NULL)
					vt_used++;
				v = &vt_val[i];
				memset(v, 0, sizeof(*v));
				v->fd = fd;
				v->host = host;
				v->need_mark = mark;
				v->need_stamp = mark;
				atomic_fetch_add(&vt_count, 1);
				atomic_store_explicit(&vt_key[i], s,
						      memory_order_release);
				break;
			}
		}
	}
	pthread_mutex_unlock(&vt_lock);
	return v;
}

static void
vt_remove(const SSL *s)
{
	unsigned i;

	pthread_mutex_lock(&vt_lock);
	for (i = 0; i < VT_SLOTS; i++) {
		if (atomic_load(&vt_key[i]) == s) {
			if (vt_val[i].chain != NULL)
				o.OPENSSL_sk_pop_free(
				    (OPENSSL_STACK *)vt_val[i].chain,
				    (void (*)(void *))o.X509_free);
			vt_val[i].chain = NULL;
			atomic_store(&vt_key[i], VT_TOMB);
			if (atomic_fetch_sub(&vt_count, 1) == 1 &&
			    vt_used > VT_SLOTS / 4) {
				/* none left: sweep the tombstones (a reader
				 * racing this finds nothing, rightly) */
				for (i = 0; i < VT_SLOTS; i++)
					atomic_store(&vt_key[i], NULL);
				vt_used = 0;
			}
			break;
		}
	}
	pthread_mutex_unlock(&vt_lock);
}

/* Decide whether s is to be virtual, now. */
static struct vtls *
vt_claim(SSL *s)
{
	const char *name;
	unsigned host;
	bool first = true;
	int fd;

	if (s == NULL || !tls_usable() || o.SSL_is_server(s) ||
	    o.SSL_is_init_finished(s))
		return NULL;
	fd = o.SSL_get_rfd(s);
	if (fd >= 0) {
		if (o.SSL_get_wfd(s) != fd || !net_claim_fd(fd, &host, &first))
			return NULL;
	} else {
		if (!o.SSL_get_rbio(s) || !o.SSL_get_wbio(s))
			return NULL;
		name = o.SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
		if (name == NULL || !shim_host_intercepted(name) ||
		    !net_claim_name(name, &host))
			return NULL;
	}
	SHIM_DEBUG("tls", "%s: virtual TLS session (%s)",
		   net_synth_name(host), fd >= 0 ? "socket" : "BIOs");
	return vt_insert(s, fd, host, first);
}

/* The virtual session of s, deciding it when claim is set and s is new. */
static struct vtls *
vt_get(const SSL *s, bool claim)
{
	struct vtls *v;

	tls_init();
	if (atomic_load_explicit(&vt_count, memory_order_relaxed) == 0 &&
	    !net_any_redirected())
		return NULL;
	if ((v = vt_find(s)) != NULL || !claim)
		return v;
	return vt_claim((SSL *)s);
}

/* ------------------------------------------------------------------ */
/* The plaintext pipe */

static bool
would_block(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* Like recv(): >0 bytes, 0 at the end, -1 with errno (EAGAIN: retry). */
static ssize_t
vt_recv(struct vtls *v, SSL *s, void *buf, size_t n, bool peek)
{
	BIO *b;
	char *p;
	long avail;
	int r;

	if (v->fd >= 0)
		return recv(v->fd, buf, n, peek ? MSG_PEEK : 0);
	b = o.SSL_get_rbio(s);
	if (n > INT_MAX)
		n = INT_MAX;
	if (peek) {
		/* peeking is for memory BIOs only (none else can) */
		if (!o.BIO_method_type || !o.BIO_ctrl ||
		    o.BIO_method_type(b) != BIO_TYPE_MEM) {
			errno = EOPNOTSUPP;
			return -1;
		}
		avail = o.BIO_ctrl(b, BIO_CTRL_INFO, 0, &p);
		if (avail > 0) {
			if ((size_t)avail < n)
				n = (size_t)avail;
			memcpy(buf, p, n);
			return (ssize_t)n;
		}
		r = o.BIO_read(b, buf, 0);	/* EOF or retry, nothing read */
	} else {
		r = o.BIO_read(b, buf, (int)n);
	}
	if (r > 0)
		return r;
	if (o.BIO_test_flags(b, BIO_FLAGS_SHOULD_RETRY)) {
		errno = EAGAIN;
		return -1;
	}
	return 0;
}

/* Like send(): bytes written, or -1 with errno (EAGAIN: retry). */
static ssize_t
vt_send(struct vtls *v, SSL *s, const void *buf, size_t n)
{
	BIO *b;
	int r;

	if (v->fd >= 0)
		return send(v->fd, buf, n, MSG_NOSIGNAL);
	b = o.SSL_get_wbio(s);
	if (n > INT_MAX)
		n = INT_MAX;
	r = o.BIO_write(b, buf, (int)n);
	if (r > 0)
		return r;
	errno = o.BIO_test_flags(b, BIO_FLAGS_SHOULD_RETRY) ? EAGAIN : EPIPE;
	return -1;
}

/* Set v->err from a failed call's errno; always returns false. */
static bool
vt_fail(struct vtls *v, bool reading)
{
	if (would_block(errno))
		v->err = reading ? SSL_ERROR_WANT_READ : SSL_ERROR_WANT_WRITE;
	else
		v->err = SSL_ERROR_SYSCALL;
	return false;
}

/* The handshake: tell the daemon, once, that this connection is TLS. */
static bool
vt_handshake(struct vtls *v, SSL *s)
{
	ssize_t n;

	if (v->need_mark) {
		n = vt_send(v, s, PREAMBLE_TLS, TLS_MARK_LEN);
		if (n < 0)
			return vt_fail(v, false);
		if ((size_t)n != TLS_MARK_LEN) {
			/* 13 bytes on a fresh connection: cannot happen */
			errno = EPIPE;
			return vt_fail(v, false);
		}
		v->need_mark = false;
	}
	v->err = SSL_ERROR_NONE;
	if (!v->told_done) {
		/* As OpenSSL does at the end of a handshake, from inside the
		 * call that finished it: some programs learn from the info
		 * callback alone that the session is up (Node's TLS sockets
		 * emit 'secure' from SSL_CB_HANDSHAKE_DONE). */
		void (*cb)(const SSL *, int, int) = NULL;

		v->told_done = true;
		if (o.SSL_get_info_callback != NULL)
			cb = o.SSL_get_info_callback(s);
		if (cb == NULL && o.SSL_CTX_get_info_callback != NULL &&
		    o.SSL_get_SSL_CTX != NULL)
			cb = o.SSL_CTX_get_info_callback(o.SSL_get_SSL_CTX(s));
		if (cb != NULL) {
			cb(s, SSL_CB_HANDSHAKE_START, 1);
			cb(s, SSL_CB_HANDSHAKE_DONE, 1);
		}
	}
	return true;
}

static bool
vt_read(struct vtls *v, SSL *s, void *buf, size_t num,
    size_t *got, bool peek)
{
	ssize_t n;

	*got = 0;
	if (!vt_handshake(v, s))
		return false;
	if (num == 0)
		return true;
	n = vt_recv(v, s, buf, num, peek);
	if (n > 0) {
		*got = (size_t)n;
		return true;
	}
	if (n == 0) {
		/* the daemon closed: a clean close_notify, for the app */
		v->shutdown |= SSL_RECEIVED_SHUTDOWN;
		v->err = SSL_ERROR_ZERO_RETURN;
		return false;
	}
	return vt_fail(v, true);
}

static bool
vt_write(struct vtls *v, SSL *s, const void *buf, size_t num,
    size_t *put)
{
	bool partial;
	size_t off;
	ssize_t n;

	*put = 0;
	if (!vt_handshake(v, s))
		return false;
	if (v->need_stamp) {
		char line[64];
		int len = snprintf(line, sizeof(line), PREAMBLE_SENT " %llu\r\n",
				   shim_now_us());

		/* Like the mark: a short line on a connection that has sent
		 * nothing else yet goes whole. */
		n = vt_send(v, s, line, (size_t)len);
		if (n < 0)
			return vt_fail(v, false);
		if (n != len) {
			errno = EPIPE;
			return vt_fail(v, false);
		}
		v->need_stamp = false;
	}
	if (v->shutdown & SSL_SENT_SHUTDOWN) {
		v->err = SSL_ERROR_SSL;		/* protocol is shut down */
		return false;
	}
	partial = o.SSL_ctrl(s, SSL_CTRL_MODE, 0, NULL) &
		  SSL_MODE_ENABLE_PARTIAL_WRITE;
	/* A write that stopped on WANT_WRITE resumes where it stopped. */
	off = !partial && v->wdone < num ? v->wdone : 0;
	while (off < num) {
		n = vt_send(v, s, (const char *)buf + off, num - off);
		if (n < 0) {
			if (would_block(errno) && off > 0 && partial)
				break;
			v->wdone = would_block(errno) ? off : 0;
			return vt_fail(v, false);
		}
		off += (size_t)n;
		if (partial)
			break;
	}
	v->wdone = 0;
	*put = off;
	return true;
}

/* ------------------------------------------------------------------ */
/* The peer certificate: made once per name, never freed. */

static X509 *certs[CERTS_MAX];
static EVP_PKEY *cert_key;

static bool
cert_usable(void)
{
	return o.X509_new && o.X509_free && o.X509_up_ref &&
	       o.X509_set_version && o.X509_get_serialNumber &&
	       o.ASN1_INTEGER_set && o.X509_gmtime_adj &&
	       o.X509_getm_notBefore && o.X509_getm_notAfter &&
	       o.X509_get_subject_name && o.X509_NAME_new &&
	       o.X509_NAME_free && o.X509_NAME_add_entry_by_txt &&
	       o.X509_set_issuer_name && o.X509V3_EXT_nconf_nid &&
	       o.X509_add_ext && o.X509_EXTENSION_free;
}

static X509 *
cert_make(const char *name, unsigned serial)
{
	char san[SHIM_HOST_MAX + 8];
	X509_EXTENSION *ext;
	X509_NAME *issuer;
	X509 *x;

	if ((x = o.X509_new()) == NULL)
		return NULL;
	o.X509_set_version(x, 2);
	o.ASN1_INTEGER_set(o.X509_get_serialNumber(x), (long)serial + 1);
	o.X509_gmtime_adj(o.X509_getm_notBefore(x), -3600);
	o.X509_gmtime_adj(o.X509_getm_notAfter(x), 365L * 86400);
	o.X509_NAME_add_entry_by_txt(o.X509_get_subject_name(x), "CN",
				     MBSTRING_ASC, (const unsigned char *)name,
				     -1, -1, 0);
	if ((issuer = o.X509_NAME_new()) != NULL) {
		o.X509_NAME_add_entry_by_txt(issuer, "O", MBSTRING_ASC,
					     (const unsigned char *)"llmfb",
					     -1, -1, 0);
		o.X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC,
					     (const unsigned char *)
					     "llmfb virtual TLS", -1, -1, 0);
		o.X509_set_issuer_name(x, issuer);
		o.X509_NAME_free(issuer);
	}
	snprintf(san, sizeof(san), "DNS:%s", name);
	if ((ext = o.X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name,
					  san)) != NULL) {
		o.X509_add_ext(x, ext, -1);
		o.X509_EXTENSION_free(ext);
	}
	/* Signed, so that its DER form (getpeercert(True)) exists. */
	if (cert_key == NULL && o.EVP_PKEY_Q_keygen)
		cert_key = o.EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (cert_key != NULL && o.X509_set_pubkey && o.X509_sign) {
		o.X509_set_pubkey(x, cert_key);
		o.X509_sign(x, cert_key, NULL);
	}
	return x;
}

/* The certificate for a session, not counted (get0). */
static X509 *
vt_cert(const struct vtls *v)
{
	const char *name = net_synth_name(v->host);
	X509 *x = NULL;

	if (name == NULL || v->host >= CERTS_MAX || !cert_usable())
		return NULL;
	pthread_mutex_lock(&cert_lock);
	if (certs[v->host] == NULL) {
		shim_guard_enter();
		certs[v->host] = cert_make(name, v->host);
		shim_guard_leave();
	}
	x = certs[v->host];
	pthread_mutex_unlock(&cert_lock);
	return x;
}

static X509 *
vt_cert1(const struct vtls *v)
{
	X509 *x = vt_cert(v);

	if (x != NULL)
		o.X509_up_ref(x);
	return x;
}

/* ------------------------------------------------------------------ */
/* The hooks */

SHIM_EXPORT int
SSL_do_handshake(SSL *s)
{
	struct vtls *v = vt_get(s, true);

	if (v == NULL)
		return FORWARD(SSL_do_handshake, -1, s);
	return vt_handshake(v, s) ? 1 : -1;
}

SHIM_EXPORT int
SSL_connect(SSL *s)
{
	struct vtls *v = vt_get(s, true);

	if (v == NULL)
		return FORWARD(SSL_connect, -1, s);
	return vt_handshake(v, s) ? 1 : -1;
}

/* SSL_read's and SSL_write's int answer: bytes, 0 at a clean end, -1. */
static int
int_result(const struct vtls *v, bool ok, size_t n)
{
	if (ok)
		return (int)n;
	return v->err == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

SHIM_EXPORT int
SSL_read(SSL *s, void *buf, int num)
{
	struct vtls *v = vt_get(s, true);
	size_t got;
	bool ok;

	if (v == NULL || num < 0)
		return FORWARD(SSL_read, -1, s, buf, num);
	ok = vt_read(v, s, buf, (size_t)num, &got, false);
	return int_result(v, ok, got);
}

SHIM_EXPORT int
SSL_read_ex(SSL *s, void *buf, size_t num, size_t *got)
{
	struct vtls *v = vt_get(s, true);
	size_t n;
	bool ok;

	if (v == NULL)
		return FORWARD(SSL_read_ex, 0, s, buf, num, got);
	ok = vt_read(v, s, buf, num, &n, false);
	if (got)
		*got = n;
	return ok;
}

SHIM_EXPORT int
SSL_peek(SSL *s, void *buf, int num)
{
	struct vtls *v = vt_get(s, true);
	size_t got;
	bool ok;

	if (v == NULL || num < 0)
		return FORWARD(SSL_peek, -1, s, buf, num);
	ok = vt_read(v, s, buf, (size_t)num, &got, true);
	return int_result(v, ok, got);
}

SHIM_EXPORT int
SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *got)
{
	struct vtls *v = vt_get(s, true);
	size_t n;
	bool ok;

	if (v == NULL)
		return FORWARD(SSL_peek_ex, 0, s, buf, num, got);
	ok = vt_read(v, s, buf, num, &n, true);
	if (got)
		*got = n;
	return ok;
}

SHIM_EXPORT int
SSL_write(SSL *s, const void *buf, int num)
{
	struct vtls *v = vt_get(s, true);
	size_t put;
	bool ok;

	if (v == NULL || num < 0)
		return FORWARD(SSL_write, -1, s, buf, num);
	ok = vt_write(v, s, buf, (size_t)num, &put);
	return ok ? (int)put : -1;
}

SHIM_EXPORT int
SSL_write_ex(SSL *s, const void *buf, size_t num,
    size_t *put)
{
	struct vtls *v = vt_get(s, true);
	size_t n;
	bool ok;

	if (v == NULL)
		return FORWARD(SSL_write_ex, 0, s, buf, num, put);
	ok = vt_write(v, s, buf, num, &n);
	if (put)
		*put = n;
	return ok;
}

SHIM_EXPORT int
SSL_get_error(const SSL *s, int ret)
{
	struct vtls *v = vt_get(s, false);

	if (v == NULL)
		return FORWARD(SSL_get_error, SSL_ERROR_SSL, s, ret);
	return ret > 0 ? SSL_ERROR_NONE : v->err;
}

SHIM_EXPORT int
SSL_pending(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_pending, 0, s);
	return 0;	/* nothing is ever held back */
}

SHIM_EXPORT int
SSL_has_pending(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_has_pending, 0, s);
	return 0;
}

SHIM_EXPORT int
SSL_shutdown(SSL *s)
{
	struct vtls *v = vt_get(s, false);

	if (v == NULL)
		return FORWARD(SSL_shutdown, -1, s);
	/* Both close_notify done at once: the socket's own close (or the
	 * app's) ends the conversation with the daemon. */
	v->shutdown = SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN;
	v->err = SSL_ERROR_NONE;
	return 1;
}

SHIM_EXPORT int
SSL_get_shutdown(const SSL *s)
{
	struct vtls *v = vt_get(s, false);

	if (v == NULL)
		return FORWARD(SSL_get_shutdown, 0, s);
	return v->shutdown;
}

SHIM_EXPORT long
SSL_get_verify_result(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_get_verify_result,
			       X509_V_ERR_UNSPECIFIED, s);
	return X509_V_OK;
}

SHIM_EXPORT X509 *
SSL_get1_peer_certificate(const SSL *s)
{
	struct vtls *v = vt_get(s, false);

	if (v == NULL)
		return FORWARD(SSL_get1_peer_certificate, NULL, s);
	return vt_cert1(v);
}

SHIM_EXPORT X509 *
SSL_get_peer_certificate(const SSL *s)
{
	struct vtls *v = vt_get(s, false);

	if (v == NULL)
		return o.SSL_get_peer_certificate ?
			o.SSL_get_peer_certificate(s) :
			FORWARD(SSL_get1_peer_certificate, NULL, s);
	return vt_cert1(v);
}

SHIM_EXPORT X509 *
SSL_get0_peer_certificate(const SSL *s)
{
	struct vtls *v = vt_get(s, false);

	if (v == NULL)
		return FORWARD(SSL_get0_peer_certificate, NULL, s);
	return vt_cert(v);
}

SHIM_EXPORT int
SSL_is_init_finished(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_is_init_finished, 0, s);
	return 1;
}

SHIM_EXPORT int
SSL_in_init(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_in_init, 1, s);
	return 0;
}

SHIM_EXPORT int
SSL_in_before(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_in_before, 1, s);
	return 0;
}

SHIM_EXPORT OSSL_HANDSHAKE_STATE
SSL_get_state(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_get_state, TLS_ST_BEFORE, s);
	return TLS_ST_OK;
}

SHIM_EXPORT const char *
SSL_get_version(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_get_version, "unknown", s);
	return "TLSv1.3";
}

SHIM_EXPORT int
SSL_version(const SSL *s)
{
	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_version, 0, s);
	return TLS1_3_VERSION;
}

/* TLS 1.3's TLS_AES_128_GCM_SHA256, as the program's own libssl knows
 * it: a client may read the session's cipher (Ruby's net/http logs its
 * name on every connect, and fails on none). */
SHIM_EXPORT const SSL_CIPHER *
SSL_get_current_cipher(const SSL *s)
{
	static const unsigned char aes128gcm[] = { 0x13, 0x01 };

	if (vt_get(s, false) == NULL)
		return FORWARD(SSL_get_current_cipher, NULL, s);
	return o.SSL_CIPHER_find != NULL ?
		o.SSL_CIPHER_find((SSL *)s, aes128gcm) : NULL;
}

/* The chain a client sees: the peer certificate alone (OpenSSL's client
 * chain starts with it).  Node checks the server's identity from it. */
SHIM_EXPORT
STACK_OF(X509) *SSL_get_peer_cert_chain(const SSL *s)
{
	struct vtls *v = vt_get(s, false);
	OPENSSL_STACK *st;
	X509 *x;

	if (v == NULL)
		return FORWARD(SSL_get_peer_cert_chain, NULL, s);
	if (v->chain == NULL && o.OPENSSL_sk_new_null != NULL &&
	    o.OPENSSL_sk_push != NULL && (x = vt_cert1(v)) != NULL) {
		if ((st = o.OPENSSL_sk_new_null()) == NULL ||
		    o.OPENSSL_sk_push(st, x) <= 0) {
			o.X509_free(x);
			if (st != NULL)
				o.OPENSSL_sk_pop_free(st,
				    (void (*)(void *))o.X509_free);
			return NULL;
		}
		v->chain = (STACK_OF(X509) *)st;
	}
	return v->chain;
}

SHIM_EXPORT int
SSL_clear(SSL *s)
{
	if (vt_get(s, false) != NULL)
		vt_remove(s);
	return FORWARD(SSL_clear, 0, s);
}

SHIM_EXPORT void
SSL_free(SSL *s)
{
	if (s != NULL && vt_get(s, false) != NULL)
		vt_remove(s);
	if (o.SSL_free)
		o.SSL_free(s);
}
