#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "tlshello.h"

/* Reading within a message: each read checks what is left. */
struct rd {
	const unsigned char *p;
	size_t	 n;
	int	 bad;
};

static unsigned
rd_u(struct rd *r, size_t len)
{
	unsigned v = 0;

	if (r->bad || r->n < len) {
		r->bad = 1;
		return 0;
	}
	while (len-- > 0) {
		v = v << 8 | *r->p++;
		r->n--;
	}
	return v;
}

static const unsigned char *
rd_skip(struct rd *r, size_t len)
{
	const unsigned char *at = r->p;

	if (r->bad || r->n < len) {
		r->bad = 1;
		return NULL;
	}
	r->p += len;
	r->n -= len;
	return at;
}

/* The server_name extension's body: the first host_name entry. */
static void
sni_of(struct rd ext, char *sni, size_t snilen)
{
	struct rd list;
	const unsigned char *name;
	unsigned type, len;
	size_t i;

	len = rd_u(&ext, 2);
	list.p = rd_skip(&ext, len);
	list.n = len;
	list.bad = ext.bad;
	while (!list.bad && list.n > 0) {
		type = rd_u(&list, 1);
		len = rd_u(&list, 2);
		name = rd_skip(&list, len);
		if (list.bad || type != 0)
			continue;
		if (len == 0 || len >= snilen)
			return;
		for (i = 0; i < len; i++)
			if (!isalnum(name[i]) && name[i] != '-' &&
			    name[i] != '.' && name[i] != '_')
				return;
		for (i = 0; i < len; i++)
			sni[i] = (char)tolower(name[i]);
		sni[len] = '\0';
		return;
	}
}

enum tls_hello
tls_hello_sni(const unsigned char *p, size_t n, char *sni, size_t snilen)
{
	unsigned char msg[TLS_HELLO_MAX];
	size_t have = 0, off = 0, need = 0;
	struct rd r, ext;
	unsigned len, type;

	if (snilen > 0)
		sni[0] = '\0';
	/* The handshake message, gathered from the records it spans. */
	for (;;) {
		if (n - off < 5)
			return n - off > 0 && p[off] != 0x16 ? TLS_HELLO_BAD :
			    TLS_HELLO_MORE;
		if (p[off] != 0x16 || p[off + 1] != 0x03)
			return TLS_HELLO_BAD;
		len = (unsigned)p[off + 3] << 8 | p[off + 4];
		if (len == 0 || len > 16384 + 2048)
			return TLS_HELLO_BAD;
		if (n - off - 5 < len)
			return TLS_HELLO_MORE;
		if (have + len > sizeof(msg))
			return TLS_HELLO_BAD;
		memcpy(msg + have, p + off + 5, len);
		have += len;
		off += 5 + len;
		if (need == 0 && have >= 4) {
			if (msg[0] != 1)	/* client_hello */
				return TLS_HELLO_BAD;
			need = 4 + ((size_t)msg[1] << 16 |
			    (size_t)msg[2] << 8 | msg[3]);
			if (need > sizeof(msg))
				return TLS_HELLO_BAD;
		}
		if (need != 0 && have >= need)
			break;
	}
	r.p = msg + 4;
	r.n = need - 4;
	r.bad = 0;
	rd_skip(&r, 2 + 32);			/* version, random */
	rd_skip(&r, rd_u(&r, 1));		/* session id */
	rd_skip(&r, rd_u(&r, 2));		/* cipher suites */
	rd_skip(&r, rd_u(&r, 1));		/* compression */
	if (r.bad)
		return TLS_HELLO_BAD;
	if (r.n == 0)
		return TLS_HELLO_OK;		/* no extensions */
	len = rd_u(&r, 2);
	if (r.bad || len > r.n)
		return TLS_HELLO_BAD;
	r.n = len;
	while (r.n > 0) {
		type = rd_u(&r, 2);
		len = rd_u(&r, 2);
		ext.p = rd_skip(&r, len);
		ext.n = len;
		ext.bad = 0;
		if (r.bad)
			return TLS_HELLO_BAD;
		if (type == 0 && snilen > 0) {
			sni_of(ext, sni, snilen);
			break;
		}
	}
	return TLS_HELLO_OK;
}
