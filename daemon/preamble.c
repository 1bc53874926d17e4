#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "preamble.h"
#include "util.h"

#define MAGIC_LEN	(sizeof(PREAMBLE_MAGIC) - 1)

/* One line without its CRLF.  Returns 0 or -1. */
static int
parse_line(struct origin *o, const char *s, size_t len)
{
	const char *host, *sp;
	char port[8];
	size_t hlen, plen, i;
	int v;

	if (len == sizeof(PREAMBLE_ADMIT) - 3 &&
	    memcmp(s, PREAMBLE_ADMIT, len) == 0) {
		if (o->admit)
			return -1;	/* twice */
		o->admit = true;
		return 0;
	}
	if (len == sizeof(PREAMBLE_TLS) - 3 &&
	    memcmp(s, PREAMBLE_TLS, len) == 0) {
		if (o->host[0] == '\0' || o->tls)
			return -1;	/* TLS before CONNECT, or twice */
		o->tls = true;
		return 0;
	}
	if (len > sizeof(PREAMBLE_SENT) &&
	    memcmp(s, PREAMBLE_SENT " ", sizeof(PREAMBLE_SENT)) == 0) {
		char num[24];
		uint64_t v64;

		len -= sizeof(PREAMBLE_SENT);
		if (o->host[0] == '\0' || o->sent_us != 0 ||
		    len >= sizeof(num))
			return -1;
		memcpy(num, s + sizeof(PREAMBLE_SENT), len);
		num[len] = '\0';
		if (parse_u64(num, 1, UINT64_MAX, &v64) < 0)
			return -1;
		o->sent_us = v64;
		return 0;
	}
	if (len <= sizeof(PREAMBLE_CONNECT) ||
	    memcmp(s, PREAMBLE_CONNECT " ", sizeof(PREAMBLE_CONNECT)) != 0 ||
	    o->host[0] != '\0')
		return -1;
	host = s + sizeof(PREAMBLE_CONNECT);
	len -= sizeof(PREAMBLE_CONNECT);
	if ((sp = memchr(host, ' ', len)) == NULL)
		return -1;
	hlen = (size_t)(sp - host);
	plen = len - hlen - 1;
	if (hlen == 0 || hlen >= sizeof(o->host) || plen == 0 ||
	    plen >= sizeof(port))
		return -1;
	memcpy(port, sp + 1, plen);
	port[plen] = '\0';
	if (parse_int(port, 1, 65535, &v) < 0)
		return -1;
	for (i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)host[i];

		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return -1;
		o->host[i] = (char)tolower(c);
	}
	o->host[hlen] = '\0';
	o->port = v;
	return 0;
}

enum preamble_state
preamble_scan(struct origin *o, const char *p, size_t n, size_t *used)
{
	const char *eol;
	size_t off = 0, avail, cmp;

	for (;;) {
		*used = off;
		avail = n - off;
		cmp = avail < MAGIC_LEN ? avail : MAGIC_LEN;
		if (memcmp(p + off, PREAMBLE_MAGIC, cmp) != 0)
			return PREAMBLE_DONE;
		if (avail < MAGIC_LEN)
			return PREAMBLE_MORE;
		eol = memchr(p + off, '\n', avail < PREAMBLE_LINE_MAX ? avail :
		    PREAMBLE_LINE_MAX);
		if (eol == NULL)
			return avail < PREAMBLE_LINE_MAX ? PREAMBLE_MORE :
			    PREAMBLE_BAD;
		if (eol == p + off || eol[-1] != '\r' ||
		    parse_line(o, p + off, (size_t)(eol - 1 - (p + off))) < 0)
			return PREAMBLE_BAD;
		off = (size_t)(eol + 1 - p);
	}
}

void
origin_format(const struct origin *o, char *out, size_t outlen)
{
	if (o->host[0] == '\0')
		snprintf(out, outlen, "%s", "");
	else
		snprintf(out, outlen, "%s://%s:%d", o->tls ? "https" : "http",
		    o->host, o->port);
}
