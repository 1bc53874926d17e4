/* The local CA (daemon/ca.c) and the ClientHello reader
 * (daemon/tlshello.c).  The CA must vouch for the intercepted hosts and
 * for nothing else, even to someone holding its key: a leaf for another
 * name is not made, and one forged with the key is refused by OpenSSL's
 * own verify (the library's, and the openssl command's). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "tlshello.h"

static char dir[] = "/tmp/llmfb-check-ca.XXXXXX";
static char *const hosts[] = { "api.openai.com", "*.llmfb.test" };

static struct ca *
fresh_ca(void)
{
	char err[512];
	struct ca *ca;

	ck_assert_msg(ca_make(dir, hosts, 2, err, sizeof(err)) == 0, "%s",
	    err);
	ca = ca_open(dir, err, sizeof(err));
	ck_assert_msg(ca != NULL, "%s", err);
	return ca;
}

/* Write cert as PEM to dir/name; the path into out. */
static void
write_pem(X509 *x, const char *name, char *out, size_t outlen)
{
	FILE *f;

	snprintf(out, outlen, "%s/%s", dir, name);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509(f, x), 1);
	fclose(f);
}

/* `openssl verify -CAfile ca.pem [-verify_hostname host] leaf`: its
 * exit status, and what it printed into out. */
static int
openssl_verify(const char *leaf, const char *host, char *out, size_t outlen)
{
	char cmd[2048];
	size_t n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "openssl verify -purpose sslserver "
	    "-CAfile %s/%s %s%s %s 2>&1", dir, CA_CERT_FILE,
	    host ? "-verify_hostname " : "", host ? host : "", leaf);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_files)
{
	struct ca *ca = fresh_ca();
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, CA_KEY_FILE);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/%s", dir, CA_CERT_FILE);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	ca_free(ca);
}
END_TEST

START_TEST(test_constraints_in_cert)
{
	struct ca *ca = fresh_ca();
	NAME_CONSTRAINTS *nc;
	BASIC_CONSTRAINTS *bc;
	int crit = 0;

	nc = X509_get_ext_d2i(ca_cert(ca), NID_name_constraints, &crit,
	    NULL);
	ck_assert_ptr_nonnull(nc);
	ck_assert_int_eq(crit, 1);
	/* Two DNS names permitted; both IP families excluded. */
	ck_assert_int_eq(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 2);
	ck_assert_int_eq(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees), 2);
	NAME_CONSTRAINTS_free(nc);
	bc = X509_get_ext_d2i(ca_cert(ca), NID_basic_constraints, &crit,
	    NULL);
	ck_assert_ptr_nonnull(bc);
	ck_assert(bc->ca);
	ck_assert_int_eq(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	ca_free(ca);
}
END_TEST

START_TEST(test_leaf_for_intercepted)
{
	struct ca *ca = fresh_ca();
	EVP_PKEY *k, *k2;
	X509 *x, *x2;
	char err[512], path[512], out[4096];

	ck_assert_msg(ca_leaf(ca, "api.openai.com", &x, &k, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(ca_verify(ca, x, "api.openai.com"), 0);
	/* Cached: the same one again. */
	ck_assert_int_eq(ca_leaf(ca, "api.openai.com", &x2, &k2, err,
	    sizeof(err)), 0);
	ck_assert_ptr_eq(x, x2);
	write_pem(x, "good.pem", path, sizeof(path));
	ck_assert_msg(openssl_verify(path, "api.openai.com", out,
	    sizeof(out)) == 0, "%s", out);
	/* A pattern's names, not the domain itself. */
	ck_assert_msg(ca_leaf(ca, "x.llmfb.test", &x, &k, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(ca_verify(ca, x, "x.llmfb.test"), 0);
	ca_free(ca);
}
END_TEST

START_TEST(test_no_leaf_outside)
{
	static const char *const others[] = { "example.com", "openai.com",
		"evilapi.openai.com", "api.openai.com.evil.net", "llmfb.test",
		"xllmfb.test", "127.0.0.1" };
	struct ca *ca = fresh_ca();
	EVP_PKEY *k;
	X509 *x;
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		ck_assert_msg(!ca_covers(ca, others[i]), "%s", others[i]);
		ck_assert_msg(ca_leaf(ca, others[i], &x, &k, err,
		    sizeof(err)) < 0, "a leaf for %s was made", others[i]);
		ck_assert_ptr_nonnull(strstr(err, "name constraints"));
	}
	ca_free(ca);
}
END_TEST

/* Someone with the key signs what ca_leaf would not: every verifier
 * that honours nameConstraints refuses it. */
START_TEST(test_forged_refused)
{
	struct ca *ca = fresh_ca();
	EVP_PKEY *key = EVP_EC_gen("P-256");
	char path[512], out[4096];
	X509 *x;

	x = ca_sign_unchecked(ca, "example.com", "DNS:example.com", key);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(ca_verify(ca, x, "example.com"),
	    X509_V_ERR_PERMITTED_VIOLATION);
	write_pem(x, "forged.pem", path, sizeof(path));
	ck_assert_int_ne(openssl_verify(path, NULL, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "permitted subtree violation") != NULL,
	    "%s", out);
	X509_free(x);
	/* An IP address: excluded outright. */
	x = ca_sign_unchecked(ca, "api.openai.com", "IP:127.0.0.1", key);
	ck_assert_ptr_nonnull(x);
	write_pem(x, "forged-ip.pem", path, sizeof(path));
	ck_assert_int_ne(openssl_verify(path, NULL, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "excluded subtree violation") != NULL,
	    "%s", out);
	X509_free(x);
	/* Only a CN, no SAN: the CN is checked as a name too. */
	x = ca_sign_unchecked(ca, "example.com", "email:a@example.com", key);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_ne(ca_verify(ca, x, "example.com"), 0);
	X509_free(x);
	EVP_PKEY_free(key);
	ca_free(ca);
}
END_TEST

START_TEST(test_rotate)
{
	struct ca *old = fresh_ca(), *ca;
	EVP_PKEY *k;
	X509 *x;
	char err[512];

	ck_assert_int_eq(ca_leaf(old, "api.openai.com", &x, &k, err,
	    sizeof(err)), 0);
	X509_up_ref(x);
	ca = fresh_ca();	/* made again over it */
	ck_assert_int_ne(X509_cmp(ca_cert(old), ca_cert(ca)), 0);
	ck_assert_int_ne(ca_verify(ca, x, "api.openai.com"), 0);
	X509_free(x);
	ca_free(old);
	ca_free(ca);
}
END_TEST

START_TEST(test_no_hosts)
{
	char err[512];

	ck_assert_int_eq(ca_make(dir, hosts, 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "every name"));
}
END_TEST

/* ---- the ClientHello ------------------------------------------------ */

/* A real ClientHello, as OpenSSL writes it, for sni (NULL: none). */
static size_t
client_hello(const char *sni, unsigned char *out, size_t outlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	int n;

	SSL_set_bio(ssl, r, w);
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	SSL_connect(ssl);
	n = BIO_read(w, out, (int)outlen);
	ck_assert_int_gt(n, 0);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return (size_t)n;
}

START_TEST(test_hello_sni)
{
	unsigned char h[16384];
	char sni[254];
	size_t n = client_hello("API.OpenAI.com", h, sizeof(h)), i;

	ck_assert_int_eq(tls_hello_sni(h, n, sni, sizeof(sni)),
	    TLS_HELLO_OK);
	ck_assert_str_eq(sni, "api.openai.com");
	/* Every shorter start wants more. */
	for (i = 0; i < n; i++)
		ck_assert_int_eq(tls_hello_sni(h, i, sni, sizeof(sni)),
		    TLS_HELLO_MORE);
	n = client_hello(NULL, h, sizeof(h));
	ck_assert_int_eq(tls_hello_sni(h, n, sni, sizeof(sni)),
	    TLS_HELLO_OK);
	ck_assert_str_eq(sni, "");
}
END_TEST

START_TEST(test_hello_split_records)
{
	unsigned char h[16384], s[16384 + 10];
	char sni[254];
	size_t n = client_hello("api.openai.com", h, sizeof(h)), body, half;

	/* The same handshake message in two records. */
	body = n - 5;
	half = body / 2;
	memcpy(s, h, 5);
	s[3] = (unsigned char)(half >> 8);
	s[4] = (unsigned char)half;
	memcpy(s + 5, h + 5, half);
	memcpy(s + 5 + half, h, 5);
	s[5 + half + 3] = (unsigned char)((body - half) >> 8);
	s[5 + half + 4] = (unsigned char)(body - half);
	memcpy(s + 10 + half, h + 5 + half, body - half);
	ck_assert_int_eq(tls_hello_sni(s, 5 + half, sni, sizeof(sni)),
	    TLS_HELLO_MORE);
	ck_assert_int_eq(tls_hello_sni(s, n + 5, sni, sizeof(sni)),
	    TLS_HELLO_OK);
	ck_assert_str_eq(sni, "api.openai.com");
}
END_TEST

START_TEST(test_hello_bad)
{
	static const unsigned char http[] = "POST / HTTP/1.1\r\n";
	static const unsigned char alert[] = { 0x15, 0x03, 0x03, 0, 2, 2, 40 };
	unsigned char h[16384];
	char sni[254];
	size_t n = client_hello("api.openai.com", h, sizeof(h)), i;

	ck_assert_int_eq(tls_hello_sni(http, sizeof(http) - 1, sni,
	    sizeof(sni)), TLS_HELLO_BAD);
	ck_assert_int_eq(tls_hello_sni(alert, sizeof(alert), sni,
	    sizeof(sni)), TLS_HELLO_BAD);
	/* A server hello is not a client's. */
	h[5] = 2;
	ck_assert_int_eq(tls_hello_sni(h, n, sni, sizeof(sni)),
	    TLS_HELLO_BAD);
	h[5] = 1;
	/* Cut lengths inside never read past the end: each byte of the
	 * message flipped, none crashes (ASan in make asan). */
	for (i = 5; i < n; i++) {
		unsigned char c = h[i];

		h[i] = 0xff;
		tls_hello_sni(h, n, sni, sizeof(sni));
		h[i] = c;
	}
	/* A name with a byte no host name has: none. */
	n = client_hello("api.openai.com", h, sizeof(h));
	for (i = 0; i + 14 <= n; i++)
		if (memcmp(h + i, "api.openai.com", 14) == 0)
			h[i + 3] = '/';
	ck_assert_int_eq(tls_hello_sni(h, n, sni, sizeof(sni)),
	    TLS_HELLO_OK);
	ck_assert_str_eq(sni, "");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ca");
	TCase *tc = tcase_create("ca"), *th = tcase_create("hello");
	SRunner *sr;
	char cmd[256];
	int failed;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_constraints_in_cert);
	tcase_add_test(tc, test_leaf_for_intercepted);
	tcase_add_test(tc, test_no_leaf_outside);
	tcase_add_test(tc, test_forged_refused);
	tcase_add_test(tc, test_rotate);
	tcase_add_test(tc, test_no_hosts);
	tcase_add_test(th, test_hello_sni);
	tcase_add_test(th, test_hello_split_records);
	tcase_add_test(th, test_hello_bad);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, th);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		failed++;
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
