/* llmfb's local certificate authority (ca: in the config; off by
 * default).
 *
 * It exists so that llmfbd can terminate the TLS of a program whose TLS
 * the shim cannot virtualise (an OpenSSL linked in, GnuTLS, Go's,
 * rustls) and serve its call through the ladder.  It can vouch for the
 * intercepted hosts and nothing else: its certificate carries a critical
 * nameConstraints extension that permits exactly the DNS names that were
 * intercepted when it was made (a "*.domain" pattern as ".domain") and
 * excludes every IP address, an extendedKeyUsage of serverAuth only, and
 * a path length of 0.  A verifier that honours the extension (OpenSSL,
 * GnuTLS, Go, rustls, NSS, Node) refuses anything else it could sign,
 * even with the key in hand.
 *
 * In its directory: ca.key (0600, the owner's: llmfbd's user), ca.pem
 * (0644).  Leaf certificates are made in memory per host on demand,
 * checked against the CA's own constraints before they are used, and
 * cached. */
#ifndef LLMFB_CA_H
#define LLMFB_CA_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CA_CERT_FILE	"ca.pem"
#define CA_KEY_FILE	"ca.key"
/* Where Debian keeps the system's trust (what update-ca-certificates
 * writes): the start of the bundle llmfbctl run points SSL_CERT_FILE at. */
#define CA_SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define CA_LEAF_MAX	256	/* leaves cached */

struct ca;

/* Make a new CA in dir (created 0755 if missing) for the host patterns
 * given, replacing one there (rotation).  Run as root, the files are
 * given to the owner of dir (llmfbd's user).  Returns 0, or -1 with why
 * in err. */
int ca_make(const char *dir, char *const *hosts, size_t nhosts, char *err,
    size_t errlen);
/* Load the CA in dir.  NULL with why in err; errno ENOENT when there is
 * none yet. */
struct ca *ca_open(const char *dir, char *err, size_t errlen);
void ca_free(struct ca *ca);
const char *ca_dir(const struct ca *ca);
X509 *ca_cert(const struct ca *ca);
/* The CA certificate in PEM, into out (NUL-terminated); its length, or
 * -1 when it does not fit. */
int ca_cert_pem(const struct ca *ca, char *out, size_t outlen);
/* Whether the CA's name constraints permit host (a name, lower case). */
bool ca_covers(const struct ca *ca, const char *host);
/* The leaf for host, made now or from the cache (the CA keeps both:
 * borrowed).  -1 with why in err when the CA cannot vouch for host: its
 * constraints do not permit it, which is checked by verifying the leaf
 * as a client would. */
int ca_leaf(struct ca *ca, const char *host, X509 **ret_cert,
    EVP_PKEY **ret_key, char *err, size_t errlen);
/* Sign a leaf (subject CN cn, subjectAltName san, e.g. "DNS:host" or
 * "IP:127.0.0.1") with the CA's key, as ca_leaf does but without its
 * checks: ca_leaf's signer, and the tests' forger that proves a leaf
 * outside the constraints is refused.  NULL on error. */
X509 *ca_sign_unchecked(struct ca *ca, const char *cn, const char *san,
    EVP_PKEY *key);
/* Verify cert (a leaf) for host against the CA alone, as a client
 * would.  0, or OpenSSL's X509_V_ERR_* code. */
int ca_verify(const struct ca *ca, X509 *cert, const char *host);

#endif
