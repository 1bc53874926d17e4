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

/* Subscribe: send line (a follow request) and read the daemon's
 * "OK -" line.  Returns the connected fd, from which the records come one
 * JSON object per line; or -errno (-EPROTO with the daemon's message in
 * err when it said no). */
int ctl_subscribe(const char *path, const char *line, struct buf *err);

#endif
