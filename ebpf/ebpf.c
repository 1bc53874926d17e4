/* The checks and messages netlat and the bypass watch share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "ebpf.h"
#include "log.h"

#define VMLINUX_BTF	"/sys/kernel/btf/vmlinux"

const char *
ebpf_unavailable(void)
{
	if (access(VMLINUX_BTF, R_OK) < 0)
		return errno == EACCES ?
		    "cannot read the kernel's BTF (" VMLINUX_BTF "): "
		    "needs root, or CAP_BPF and CAP_PERFMON" :
		    "the kernel has no BTF (" VMLINUX_BTF " is missing)";
	return NULL;
}

void
ebpf_explain(int err, const char *what, char *why, size_t whylen)
{
	if (err < 0)
		err = -err;
	if (err == EPERM || err == EACCES)
		snprintf(why, whylen, "no permission to %s (needs root, "
		    "or CAP_BPF and CAP_PERFMON)", what);
	else
		snprintf(why, whylen, "cannot %s: %s", what, strerror(err));
}

static int
print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	if (level == LIBBPF_DEBUG || log_verbosity < LOG_LVL_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("libbpf: %s", msg);
	return 0;
}

void
ebpf_log_libbpf(void)
{
	libbpf_set_print(print_libbpf);
}
