/* The kernel path (redirect: in the config): connects the shim does not
 * see (Go's own system calls, static programs) to an intercepted host's
 * address are sent by eBPF (ebpf/connredir.bpf.c, attached to the cgroup
 * the operator names) to a listener of llmfbd's on loopback.  Each
 * accepted connection carries its original destination (from the BPF
 * map, by its peer's port) and its caller (pid, uid, gid at connect), and
 * goes to the terminator (tlsterm.c): served with the local CA's leaf
 * when its ClientHello names an intercepted host that has that address,
 * else carried to where it was going, untouched.
 *
 * The addresses are llmfbd's own resolution of the intercepted names
 * (not patterns), done again every REDIR_RESOLVE_MS and at each reload,
 * so they follow DNS.  Where the programs cannot load or attach, llmfbd
 * runs without them and says why (log and status). */
#ifndef LLMFB_KREDIR_H
#define LLMFB_KREDIR_H

#include <stdbool.h>

#include <jansson.h>

#define REDIR_RESOLVE_MS	30000

struct config;
struct daemon;
struct kredir;
struct redirect_orig;

/* NULL when the config names no cgroup; else one that may be off (its
 * status says why). */
struct kredir *kredir_start(struct daemon *d, const struct config *c);
/* A reload: the names are resolved again (a new cgroup or port takes a
 * restart, and says so). */
void kredir_reload(struct kredir *k, const struct config *c);
/* Whether host (intercepted) resolved, at llmfbd's last look, to o's
 * address. */
bool kredir_has(const struct kredir *k, const char *host,
    const struct redirect_orig *o);
json_t *kredir_status(const struct kredir *k);
void kredir_free(struct kredir *k);

#endif
