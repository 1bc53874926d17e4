/* The local certificate authority: see ca.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "ca.h"
#include "util.h"

#define CA_DAYS		3650
#define LEAF_DAYS	90
#define LEAF_RENEW_S	(30 * 86400)	/* a cached leaf this near its end
					 * is made again */
#define BACKDATE_S	3600		/* clocks a little behind */

struct leaf {
	char		*host;
	X509		*cert;
	EVP_PKEY	*key;
	time_t		 made;
};

struct ca {
	char		*dir;
	X509		*cert;
	EVP_PKEY	*key;
	X509_STORE	*store;		/* the CA alone, to check leaves */
	struct leaf	 leaves[CA_LEAF_MAX];
	size_t		 nleaves;
};

/* OpenSSL's last error, for err. */
static void
ssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char s[256];

	if (e != 0)
		ERR_error_string_n(e, s, sizeof(s));
	else
		snprintf(s, sizeof(s), "failed");
	snprintf(err, errlen, "%s: %s", what, s);
	ERR_clear_error();
}

static EVP_PKEY *
new_key(void)
{
	return EVP_EC_gen("P-256");
}

static int
set_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] &= 0x7f;	/* positive */
	b[0] |= 0x01;	/* and of its full length */
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		return -1;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (e == NULL)
		return -1;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* A certificate's common frame: v3, serial, validity, subject CN, key. */
static X509 *
cert_frame(const char *cn, const char *org, EVP_PKEY *key, long days)
{
	X509 *x = X509_new();
	X509_NAME *n;

	if (x == NULL)
		return NULL;
	n = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || set_serial(x) < 0 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_S) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ==
	    NULL ||
	    (org != NULL && !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)org, -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_pubkey(x, key)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* "critical,permitted;DNS:a,permitted;DNS:.b,excluded;IP:..." for the
 * host patterns: a "*.domain" pattern permits the names under domain
 * (".domain", which OpenSSL, GnuTLS and Go read as "subdomains only"). */
static int
constraints(struct buf *b, char *const *hosts, size_t nhosts)
{
	size_t i;

	buf_addstr(b, "critical");
	for (i = 0; i < nhosts; i++) {
		const char *h = hosts[i];

		if (h[0] == '*' && h[1] == '.')
			h++;
		if (*h == '\0' || strpbrk(h, ",;:") != NULL)
			return -1;
		buf_printf(b, ",permitted;DNS:%s", h);
	}
	/* With no constraint on IP addresses a CA may vouch for any: none
	 * at all, of either family. */
	return buf_addstr(b, ",excluded;IP:0.0.0.0/0.0.0.0"
	    ",excluded;IP:::/::");
}

/* The PEM of a key (private) or a certificate, into b. */
static int
pem_of(struct buf *b, EVP_PKEY *key, X509 *cert)
{
	BIO *m = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int ok;

	if (m == NULL)
		return -1;
	ok = key != NULL ? PEM_write_bio_PrivateKey(m, key, NULL, NULL, 0,
	    NULL, NULL) : PEM_write_bio_X509(m, cert);
	n = BIO_get_mem_data(m, &p);
	if (ok && n > 0)
		ok = buf_add(b, p, (size_t)n) == 0;
	BIO_free(m);
	return ok ? 0 : -1;
}

int
ca_make(const char *dir, char *const *hosts, size_t nhosts, char *err,
    size_t errlen)
{
	char path[PATH_MAX], host[256], cn[320];
	struct buf nc, kp, cp;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509V3_CTX ctx;
	struct stat st;
	bool give;
	int r, ret = -1;

	/* With no permitted name at all, names would be unconstrained. */
	if (nhosts == 0) {
		snprintf(err, errlen, "no intercepted host: a CA would vouch "
		    "for every name");
		return -1;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	/* Root makes it for llmfbd's user, who owns the directory. */
	give = geteuid() == 0 && st.st_uid != 0;
	buf_init(&nc, 1 << 16);
	buf_init(&kp, 1 << 16);
	buf_init(&cp, 1 << 16);
	if (constraints(&nc, hosts, nhosts) < 0) {
		snprintf(err, errlen, "a host name the constraint cannot say");
		goto out;
	}
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(cn, sizeof(cn), "llmfb local CA (%.200s)", host);
	if ((key = new_key()) == NULL) {
		ssl_err(err, errlen, "CA key");
		goto out;
	}
	if ((x = cert_frame(cn, "llmfb", key, CA_DAYS)) == NULL ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x))) {
		ssl_err(err, errlen, "CA certificate");
		goto out;
	}
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints,
	    "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") <
	    0 ||
	    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, &ctx, NID_name_constraints, nc.data) < 0 ||
	    !X509_sign(x, key, EVP_sha256())) {
		ssl_err(err, errlen, "CA certificate");
		goto out;
	}
	if (pem_of(&kp, key, NULL) < 0 || pem_of(&cp, NULL, x) < 0) {
		ssl_err(err, errlen, "PEM");
		goto out;
	}
	/* The key first: a cert without its key is never left in place. */
	snprintf(path, sizeof(path), "%s/%s", dir, CA_KEY_FILE);
	if ((r = file_replace(path, kp.data, kp.len, 0600,
	    give ? st.st_uid : (uid_t)-1, give ? st.st_gid : (gid_t)-1)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, CA_CERT_FILE);
	if ((r = file_replace(path, cp.data, cp.len, 0644,
	    give ? st.st_uid : (uid_t)-1, give ? st.st_gid : (gid_t)-1)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	ret = 0;
out:
	if (kp.data != NULL)
		explicit_bzero(kp.data, kp.len);
	buf_free(&nc);
	buf_free(&kp);
	buf_free(&cp);
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

struct ca *
ca_open(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct ca *ca;
	FILE *f;

	ca = xcalloc(1, sizeof(*ca));
	ca->dir = xstrdup(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, CA_CERT_FILE);
	if ((f = fopen(path, "re")) == NULL) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		ca_free(ca);
		errno = e;
		return NULL;
	}
	ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s", dir, CA_KEY_FILE);
	if ((f = fopen(path, "re")) == NULL) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		ca_free(ca);
		errno = e;
		return NULL;
	}
	ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (ca->cert == NULL || ca->key == NULL) {
		ssl_err(err, errlen, dir);
		ca_free(ca);
		errno = EINVAL;
		return NULL;
	}
	if (!X509_check_private_key(ca->cert, ca->key)) {
		snprintf(err, errlen, "%s: the key is not the certificate's "
		    "(rotated meanwhile?)", dir);
		ERR_clear_error();
		ca_free(ca);
		errno = EINVAL;
		return NULL;
	}
	if ((ca->store = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(ca->store, ca->cert)) {
		ssl_err(err, errlen, "CA store");
		ca_free(ca);
		errno = ENOMEM;
		return NULL;
	}
	return ca;
}

void
ca_free(struct ca *ca)
{
	size_t i;

	if (ca == NULL)
		return;
	for (i = 0; i < ca->nleaves; i++) {
		free(ca->leaves[i].host);
		X509_free(ca->leaves[i].cert);
		EVP_PKEY_free(ca->leaves[i].key);
	}
	X509_STORE_free(ca->store);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->dir);
	free(ca);
}

const char *
ca_dir(const struct ca *ca)
{
	return ca->dir;
}

X509 *
ca_cert(const struct ca *ca)
{
	return ca->cert;
}

int
ca_cert_pem(const struct ca *ca, char *out, size_t outlen)
{
	struct buf b;
	int n = -1;

	buf_init(&b, 1 << 16);
	if (pem_of(&b, NULL, ca->cert) == 0 && b.len < outlen) {
		memcpy(out, b.data, b.len);
		out[b.len] = '\0';
		n = (int)b.len;
	}
	buf_free(&b);
	return n;
}

X509 *
ca_sign_unchecked(struct ca *ca, const char *cn, const char *san,
    EVP_PKEY *key)
{
	X509V3_CTX ctx;
	X509 *x;

	if ((x = cert_frame(cn, NULL, key, LEAF_DAYS)) == NULL)
		return NULL;
	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, &ctx, NID_subject_alt_name, san) < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid") < 0 ||
	    !X509_sign(x, ca->key, EVP_sha256())) {
		X509_free(x);
		ERR_clear_error();
		return NULL;
	}
	return x;
}

int
ca_verify(const struct ca *ca, X509 *cert, const char *host)
{
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	int r;

	if (sc == NULL || !X509_STORE_CTX_init(sc, ca->store, cert, NULL)) {
		X509_STORE_CTX_free(sc);
		return X509_V_ERR_OUT_OF_MEM;
	}
	vp = X509_STORE_CTX_get0_param(sc);
	X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_SERVER);
	X509_VERIFY_PARAM_set1_host(vp, host, 0);
	r = X509_verify_cert(sc) == 1 ? 0 :
	    X509_STORE_CTX_get_error(sc);
	if (r == 0 && X509_STORE_CTX_get_error(sc) != X509_V_OK)
		r = X509_STORE_CTX_get_error(sc);
	X509_STORE_CTX_free(sc);
	ERR_clear_error();
	return r;
}

bool
ca_covers(const struct ca *ca, const char *host)
{
	NAME_CONSTRAINTS *nc;
	X509 *probe;
	EVP_PKEY *k;
	char san[300];
	X509V3_CTX ctx;
	bool ok = false;

	/* A leaf-shaped certificate for host, unsigned, against the CA's
	 * own constraints: what a verifier will check. */
	nc = X509_get_ext_d2i(ca->cert, NID_name_constraints, NULL, NULL);
	if (nc == NULL || strlen(host) > 253 || strchr(host, ',') != NULL) {
		NAME_CONSTRAINTS_free(nc);
		return false;
	}
	k = X509_get0_pubkey(ca->cert);
	if ((probe = cert_frame(host, NULL, (EVP_PKEY *)k, 1)) != NULL) {
		snprintf(san, sizeof(san), "DNS:%s", host);
		X509V3_set_ctx(&ctx, NULL, probe, NULL, NULL, 0);
		ok = add_ext(probe, &ctx, NID_subject_alt_name, san) == 0 &&
		    NAME_CONSTRAINTS_check(probe, nc) == X509_V_OK &&
		    NAME_CONSTRAINTS_check_CN(probe, nc) == X509_V_OK;
	}
	X509_free(probe);
	NAME_CONSTRAINTS_free(nc);
	ERR_clear_error();
	return ok;
}

int
ca_leaf(struct ca *ca, const char *host, X509 **ret_cert, EVP_PKEY **ret_key,
    char *err, size_t errlen)
{
	struct leaf *l = NULL;
	time_t now = time(NULL);
	char san[300];
	EVP_PKEY *key;
	X509 *x;
	size_t i;
	int v;

	for (i = 0; i < ca->nleaves; i++)
		if (strcasecmp(ca->leaves[i].host, host) == 0) {
			l = &ca->leaves[i];
			break;
		}
	if (l != NULL && now - l->made < (LEAF_DAYS * 86400 - LEAF_RENEW_S)) {
		*ret_cert = l->cert;
		*ret_key = l->key;
		return 0;
	}
	if (!ca_covers(ca, host)) {
		snprintf(err, errlen, "the CA's name constraints do not permit "
		    "%s (llmfbctl ca rotate makes one for the hosts "
		    "intercepted now)", host);
		return -1;
	}
	if ((key = new_key()) == NULL) {
		ssl_err(err, errlen, "leaf key");
		return -1;
	}
	snprintf(san, sizeof(san), "DNS:%s", host);
	if ((x = ca_sign_unchecked(ca, host, san, key)) == NULL) {
		EVP_PKEY_free(key);
		snprintf(err, errlen, "%s: the leaf could not be made", host);
		return -1;
	}
	/* As a client will check it: the constraints, the name, the use. */
	if ((v = ca_verify(ca, x, host)) != 0) {
		snprintf(err, errlen, "%s: the leaf does not verify: %s", host,
		    X509_verify_cert_error_string(v));
		X509_free(x);
		EVP_PKEY_free(key);
		return -1;
	}
	if (l == NULL) {
		if (ca->nleaves == CA_LEAF_MAX) {
			/* Full (patterns match many names): start over. */
			for (i = 0; i < ca->nleaves; i++) {
				free(ca->leaves[i].host);
				X509_free(ca->leaves[i].cert);
				EVP_PKEY_free(ca->leaves[i].key);
			}
			ca->nleaves = 0;
		}
		l = &ca->leaves[ca->nleaves++];
		l->host = xstrdup(host);
	} else {
		/* Still in use by sessions that hold their own references
		 * (SSL_CTX_use_certificate takes one). */
		X509_free(l->cert);
		EVP_PKEY_free(l->key);
	}
	l->cert = x;
	l->key = key;
	l->made = now;
	*ret_cert = x;
	*ret_key = key;
	return 0;
}
