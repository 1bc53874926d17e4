/* llmfb-hotpath: what the shim costs on calls that are not LLM calls.
 *
 * Tight loops of the calls libllmfb.so hooks, on sockets and a TLS
 * connection the shim has no business with: a TCP listener on 127.0.0.1
 * and a TLS echo server, both run by this program in threads, with a
 * self-signed key and certificate made in memory (no files).  Run it
 * without the shim and with it (LD_PRELOAD) and compare: bench/run.sh does,
 * interleaved, several rounds.
 *
 * Each loop runs one warm-up repetition and then --reps repetitions of its
 * N iterations (times --scale), and reports the median and the fastest
 * repetition in ns per iteration.  One line per loop, tab-separated:
 *
 *     id  median_ns  min_ns  iterations  hooked  description
 *
 * (hooked: how many calls of each iteration the shim hooks)
 *
 * preceded by one "# key=value ..." line saying whether the shim is in the
 * process (shim=1) and whether a redirected connection is held
 * (redirected=1).
 *
 * --hold-redirect HOST resolves HOST (port 443) and connects to it before
 * the loops and keeps the fd open throughout: with the shim and llmfbd up
 * and HOST intercepted, that fd is redirected to the daemon, and the TLS
 * hooks then take their slower path (a lookup per call) on every other
 * session.  It refuses to connect anywhere but to a synthetic llmfb address
 * (198.18.0.0/15), so it never reaches the network.
 *
 * Self-contained on purpose: it links OpenSSL and nothing of llmfb. */

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util.h"

#define MAX_REPS	99
#define SMALL		64	/* bytes per TLS record in the TLS loops */
#define BIG		16384	/* what the source server writes at once */
#define DUP_TARGET	200	/* dup2's target fd */

static const char *prog = "llmfb-hotpath";

static volatile long sink;	/* keeps results alive */

/* The plain TCP side */
static int tcp_listener = -1;
static struct sockaddr_in tcp_addr;	/* where tcp_listener listens */
static int tcp_conn = -1;		/* a connected client socket */
static int tcp_peer = -1;		/* its accepted end */

/* The TLS side */
static SSL_CTX *srv_ctx, *cli_ctx;
static int tls_listener = -1;
static struct sockaddr_in tls_addr;
static SSL *ssl_echo;			/* the server echoes */
static SSL *ssl_sink;			/* writes to a memory BIO */
static SSL *ssl_source;			/* the server writes without end */

static struct addrinfo gai_hints;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* A listening TCP socket on 127.0.0.1, any port; *addr says where. */
static int
listen_local(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0 ||
	    listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) != 0)
		die("listening on 127.0.0.1: %s", strerror(errno));
	return fd;
}

static int
connect_local(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0)
		die("connect to 127.0.0.1:%u: %s", ntohs(addr->sin_port),
		    strerror(errno));
	return fd;
}

/* Accepts what the connect loop opens (and has reset) and closes it. */
static void *
acceptor_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(tcp_listener, NULL, NULL);

		if (fd >= 0)
			close(fd);
		else if (errno != EINTR && errno != ECONNABORTED)
			return NULL;
	}
}

/* ------------------------------------------------------------------ */
/* The TLS server: one thread per connection; the client's first byte
 * picks what it does. */

static void
make_identity(EVP_PKEY **keyp, X509 **certp)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;

	if (!key || !x)
		die("making a key");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"hotpath.invalid", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_set_pubkey(x, key) || !X509_sign(x, key, EVP_sha256()))
		die("signing the certificate");
	*keyp = key;
	*certp = x;
}

static void *
tls_conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BIG], mode;
	SSL *s = SSL_new(srv_ctx);
	int n;

	memset(buf, 'x', sizeof(buf));
	if (!s || !SSL_set_fd(s, fd) || SSL_accept(s) != 1 ||
	    SSL_read(s, &mode, 1) != 1)
		goto out;
	switch (mode) {
	case 'E':		/* echo */
		while ((n = SSL_read(s, buf, sizeof(buf))) > 0)
			if (SSL_write(s, buf, n) != n)
				break;
		break;
	case 'D':		/* drain */
		while (SSL_read(s, buf, sizeof(buf)) > 0)
			;
		break;
	case 'S':		/* source, until the client goes */
		while (SSL_write(s, buf, sizeof(buf)) > 0)
			;
		break;
	}
out:
	SSL_free(s);
	close(fd);
	return NULL;
}

static void *
tls_server_main(void *arg)
{
	pthread_t t;

	(void)arg;
	for (;;) {
		int fd = accept(tls_listener, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		if (pthread_create(&t, NULL, tls_conn_main,
		    (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

/* A client session to the TLS server, in the given mode. */
static SSL *
tls_client(char mode)
{
	int fd = connect_local(&tls_addr), one = 1;
	SSL *s = SSL_new(cli_ctx);

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!s || !SSL_set_fd(s, fd) || SSL_connect(s) != 1)
		die("TLS handshake with the local server");
	if (SSL_write(s, &mode, 1) != 1)
		die("TLS write");
	return s;
}

static void
tls_setup(void)
{
	BIO *mem;
	pthread_t t;
	EVP_PKEY *key;
	X509 *cert;

	make_identity(&key, &cert);
	srv_ctx = SSL_CTX_new(TLS_server_method());
	cli_ctx = SSL_CTX_new(TLS_client_method());
	if (!srv_ctx || !cli_ctx ||
	    SSL_CTX_use_certificate(srv_ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(srv_ctx, key) != 1)
		die("setting up TLS");
	/* The client does not check who it talks to: it is its own server. */
	SSL_CTX_set_verify(cli_ctx, SSL_VERIFY_NONE, NULL);
	tls_listener = listen_local(&tls_addr);
	if (pthread_create(&t, NULL, tls_server_main, NULL) != 0)
		die("pthread_create");
	pthread_detach(t);
	ssl_echo = tls_client('E');
	/* An established session whose records from now on go to a memory
	 * BIO: the server never sees them, and never needs to. */
	ssl_sink = tls_client('D');
	mem = BIO_new(BIO_s_mem());
	if (!mem)
		die("BIO_new");
	SSL_set0_wbio(ssl_sink, mem);
	ssl_source = tls_client('S');
}

/* ------------------------------------------------------------------ */
/* The loops: each runs n iterations. */

static void
l_close_badfd(long n)
{
	for (long i = 0; i < n; i++)
		sink += close(-1);
}

static void
l_socket_close(long n)
{
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			die("socket: %s", strerror(errno));
		sink += close(fd);
	}
}

/* The client resets the connection as it closes it (SO_LINGER 0): no
 * TIME_WAIT is left behind, so the thousands of connections of a run do
 * not slow the next ones' port search, nor run out of ports. */
static void
l_tcp_connect(long n)
{
	static const struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			die("socket: %s", strerror(errno));
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg)) != 0)
			die("SO_LINGER: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&tcp_addr,
		    sizeof(tcp_addr)) != 0)
			die("connect: %s", strerror(errno));
		sink += close(fd);
	}
}

/* connect() on a connected socket: the kernel says EISCONN at once, so
 * this is the hook's own test plus the cheapest connect there is. */
static void
l_connect_eisconn(long n)
{
	for (long i = 0; i < n; i++)
		sink += connect(tcp_conn, (struct sockaddr *)&tcp_addr,
		    sizeof(tcp_addr));
}

static void
l_getsockopt(long n)
{
	int v;
	socklen_t len;

	for (long i = 0; i < n; i++) {
		len = sizeof(v);
		sink += getsockopt(tcp_conn, SOL_SOCKET, SO_ERROR, &v, &len);
	}
}

static void
l_setsockopt(long n)
{
	int one = 1;

	for (long i = 0; i < n; i++)
		sink += setsockopt(tcp_conn, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
}

static void
l_getpeername(long n)
{
	struct sockaddr_storage ss;
	socklen_t len;

	for (long i = 0; i < n; i++) {
		len = sizeof(ss);
		sink += getpeername(tcp_conn, (struct sockaddr *)&ss, &len);
	}
}

static void
l_getsockname(long n)
{
	struct sockaddr_storage ss;
	socklen_t len;

	for (long i = 0; i < n; i++) {
		len = sizeof(ss);
		sink += getsockname(tcp_conn, (struct sockaddr *)&ss, &len);
	}
}

static void
l_dup2_close(long n)
{
	for (long i = 0; i < n; i++) {
		if (dup2(tcp_conn, DUP_TARGET) != DUP_TARGET)
			die("dup2: %s", strerror(errno));
		sink += close(DUP_TARGET);
	}
}

static void
l_fcntl_getfl(long n)
{
	for (long i = 0; i < n; i++)
		sink += fcntl(tcp_conn, F_GETFL);
}

static void
gai_loop(const char *host, long n)
{
	struct addrinfo *res;
	int rc;

	for (long i = 0; i < n; i++) {
		rc = getaddrinfo(host, "80", &gai_hints, &res);
		if (rc != 0)
			die("getaddrinfo %s: %s", host, gai_strerror(rc));
		sink += res->ai_family;
		freeaddrinfo(res);
	}
}

static void
l_gai_localhost(long n)
{
	gai_loop("localhost", n);
}

static void
l_gai_numeric(long n)
{
	gai_loop("127.0.0.1", n);
}

static void
tls_write_all(SSL *s, const char *buf, int len)
{
	if (SSL_write(s, buf, len) != len)
		die("SSL_write: error %d", SSL_get_error(s, -1));
}

static void
tls_read_all(SSL *s, char *buf, int len)
{
	for (int got = 0; got < len;) {
		int r = SSL_read(s, buf + got, len - got);

		if (r <= 0)
			die("SSL_read: error %d", SSL_get_error(s, r));
		got += r;
	}
}

static void
l_ssl_echo(long n)
{
	char out[SMALL], in[SMALL];

	memset(out, 'e', sizeof(out));
	for (long i = 0; i < n; i++) {
		tls_write_all(ssl_echo, out, sizeof(out));
		tls_read_all(ssl_echo, in, sizeof(in));
	}
}

/* The session's records go to a memory BIO, emptied at 64 KiB so that it
 * stays in cache: the call alone, without a system call or a reader to
 * wait for. */
static void
l_ssl_write(long n)
{
	char out[SMALL];
	BIO *b = SSL_get_wbio(ssl_sink);

	memset(out, 'w', sizeof(out));
	for (long i = 0; i < n; i++) {
		tls_write_all(ssl_sink, out, sizeof(out));
		if (BIO_ctrl_pending(b) > (1u << 16))
			(void)BIO_reset(b);
	}
}

static void
l_ssl_read(long n)
{
	char in[SMALL];

	for (long i = 0; i < n; i++)
		tls_read_all(ssl_source, in, sizeof(in));
}

static void
l_ssl_pending(long n)
{
	for (long i = 0; i < n; i++)
		sink += SSL_pending(ssl_echo);
}

static void
l_ssl_get_error(long n)
{
	for (long i = 0; i < n; i++)
		sink += SSL_get_error(ssl_echo, 1);
}

struct loop {
	const char *id;
	void (*fn)(long);
	long n;			/* iterations per repetition, before --scale */
	int hooked;		/* hooked calls per iteration */
	const char *desc;
};

/* N aims at 10-30 ms per repetition on a 2-core Xeon VM.  hooked: calls
 * of this thread the shim hooks, per iteration (the server threads'
 * SSL_read/SSL_write and the acceptor's close are hooked too, not
 * counted). */
static const struct loop loops[] = {
	{ "close_badfd", l_close_badfd, 100000, 1, "close(-1) (EBADF)" },
	{ "socket_close", l_socket_close, 10000, 1,
	  "socket(AF_INET, SOCK_STREAM) + close" },
	{ "tcp_connect_close", l_tcp_connect, 1000, 3,
	  "socket + SO_LINGER 0 + connect to 127.0.0.1 (listener in a "
	  "thread) + close" },
	{ "connect_eisconn", l_connect_eisconn, 100000, 1,
	  "connect() on a connected socket (EISCONN)" },
	{ "getsockopt", l_getsockopt, 100000, 1, "getsockopt(SO_ERROR)" },
	{ "setsockopt", l_setsockopt, 100000, 1,
	  "setsockopt(TCP_NODELAY)" },
	{ "getpeername", l_getpeername, 100000, 1, "getpeername" },
	{ "getsockname", l_getsockname, 100000, 1, "getsockname" },
	{ "dup2_close", l_dup2_close, 50000, 2,
	  "dup2(fd, 200) + close(200)" },
	{ "fcntl_getfl", l_fcntl_getfl, 100000, 1, "fcntl(F_GETFL)" },
	{ "gai_localhost", l_gai_localhost, 3000, 1,
	  "getaddrinfo(\"localhost\", \"80\") + freeaddrinfo" },
	{ "gai_numeric", l_gai_numeric, 100000, 1,
	  "getaddrinfo(\"127.0.0.1\", \"80\") + freeaddrinfo" },
	{ "ssl_echo", l_ssl_echo, 600, 2,
	  "SSL_write + SSL_read, 64 B echoed by a thread" },
	{ "ssl_write", l_ssl_write, 50000, 1,
	  "SSL_write 64 B (into a memory BIO)" },
	{ "ssl_read", l_ssl_read, 200000, 1,
	  "SSL_read 64 B of a 16 KiB stream" },
	{ "ssl_pending", l_ssl_pending, 2000000, 1, "SSL_pending" },
	{ "ssl_get_error", l_ssl_get_error, 2000000, 1,
	  "SSL_get_error(s, 1)" },
};
#define NLOOPS (sizeof(loops) / sizeof(loops[0]))

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Is the shim in this process?  Where does connect() come from? */
static bool
shim_loaded(void)
{
	void *p = dlsym(RTLD_DEFAULT, "connect");
	Dl_info di;

	return p && dladdr(p, &di) && di.dli_fname &&
	    strstr(di.dli_fname, "llmfb") != NULL;
}

/* Connect to host:443 and keep the fd; only to a synthetic address. */
static int
hold_redirect(const char *host, char *addr, size_t addrlen)
{
	struct addrinfo h, *res;
	uint32_t a;
	int fd, rc;

	memset(&h, 0, sizeof(h));
	h.ai_family = AF_INET;
	h.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, "443", &h, &res);
	if (rc != 0)
		die("--hold-redirect: getaddrinfo %s: %s", host,
		    gai_strerror(rc));
	a = ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
	inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr,
	    addr, (socklen_t)addrlen);
	if ((a & 0xfffe0000u) != 0xc6120000u)	/* 198.18.0.0/15 */
		die("--hold-redirect: %s resolved to %s, not to an llmfb "
		    "address: is the shim loaded, llmfbd up and %s "
		    "intercepted?", host, addr, host);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0)
		die("--hold-redirect: connect %s (%s): %s", host, addr,
		    strerror(errno));
	freeaddrinfo(res);
	return fd;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s [--reps N (7)] [--scale F (1)] [--only ID,...]\n"
	    "       [--hold-redirect HOST] [--list]\n", prog);
	exit(2);
}

static bool
selected(const char *only, const char *id)
{
	size_t len = strlen(id);

	for (const char *p = only; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && strncmp(p, id, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return only == NULL;
}

int
main(int argc, char **argv)
{
	enum { O_REPS = 256, O_SCALE, O_ONLY, O_HOLD, O_LIST };
	static const struct option longopts[] = {
		{ "reps", required_argument, NULL, O_REPS },
		{ "scale", required_argument, NULL, O_SCALE },
		{ "only", required_argument, NULL, O_ONLY },
		{ "hold-redirect", required_argument, NULL, O_HOLD },
		{ "list", no_argument, NULL, O_LIST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *only = NULL, *hold = NULL;
	char held_addr[INET_ADDRSTRLEN] = "-";
	double scale = 1, per[MAX_REPS];
	long reps = 7;
	int c, held = -1;
	pthread_t t;
	char *end;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_REPS:
			reps = strtol(optarg, &end, 10);
			if (*end || reps < 1 || reps > MAX_REPS)
				usage();
			break;
		case O_SCALE:
			scale = strtod(optarg, &end);
			if (*end || !(scale > 0 && scale <= 1000))
				usage();
			break;
		case O_ONLY:
			only = optarg;
			break;
		case O_HOLD:
			hold = optarg;
			break;
		case O_LIST:
			for (size_t i = 0; i < NLOOPS; i++)
				printf("%s\t%d\t%s\n", loops[i].id,
				    loops[i].hooked, loops[i].desc);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	/* The source server writes into a connection the client closes. */
	signal(SIGPIPE, SIG_IGN);

	/* The plain TCP side: one connection kept, and an acceptor for the
	 * connect loop (started after the kept one is accepted here). */
	tcp_listener = listen_local(&tcp_addr);
	tcp_conn = connect_local(&tcp_addr);
	tcp_peer = accept(tcp_listener, NULL, NULL);
	if (tcp_peer < 0)
		die("accept: %s", strerror(errno));
	if (pthread_create(&t, NULL, acceptor_main, NULL) != 0)
		die("pthread_create");
	pthread_detach(t);

	tls_setup();

	gai_hints.ai_family = AF_UNSPEC;
	gai_hints.ai_socktype = SOCK_STREAM;

	if (hold)
		held = hold_redirect(hold, held_addr, sizeof(held_addr));

	printf("# shim=%d redirected=%d held=%s reps=%ld scale=%g\n",
	    shim_loaded(), held >= 0, held_addr, reps, scale);
	fflush(stdout);

	for (size_t i = 0; i < NLOOPS; i++) {
		const struct loop *l = &loops[i];
		long n = (long)((double)l->n * scale);
		uint64_t t0, t1;

		if (!selected(only, l->id))
			continue;
		if (n < 1)
			n = 1;
		l->fn(n);		/* warm-up */
		for (long r = 0; r < reps; r++) {
			t0 = now_mono_ns();
			l->fn(n);
			t1 = now_mono_ns();
			per[r] = (double)(t1 - t0) / (double)n;
		}
		qsort(per, (size_t)reps, sizeof(per[0]), cmp_double);
		printf("%s\t%.1f\t%.1f\t%ld\t%d\t%s\n", l->id,
		    reps % 2 ? per[reps / 2] :
		    (per[reps / 2 - 1] + per[reps / 2]) / 2, per[0], n,
		    l->hooked, l->desc);
		fflush(stdout);
	}

	/* Exit without tearing down: the server threads are still in their
	 * loops, and the process's end closes everything. */
	if (held >= 0)
		close(held);
	return 0;
}
