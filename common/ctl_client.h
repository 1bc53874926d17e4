/* The client side of the control protocol (see ctl_proto.h). */
#ifndef LLMFB_CTL_CLIENT_H
#define LLMFB_CTL_CLIENT_H

#include <stdbool.h>

#include "buf.h"

/* Send one request line to the control socket at path and read the
 * reply into reply (initialised by the caller).  Returns 0 with *ret_ok
 * telling OK from ERR, or -errno when the daemon could not be reached or
 * answered outside the protocol (-EPROTO). */
int ctl_request(const char *path, const char *line, struct buf *reply,
    bool *ret_ok);

#endif
