/* The control socket: llmfbctl's way in (protocol in ctl_proto.h). */
#ifndef LLMFB_CONTROL_H
#define LLMFB_CONTROL_H

#include <jansson.h>

struct daemon;
struct control;

/* The control socket at path, or fd >= 0 handed over by systemd. */
struct control *control_new(struct daemon *d, const char *path, int fd);
void control_free(struct control *c);
/* The status document llmfbctl status shows (new reference). */
json_t *control_status(struct daemon *d);
/* A call's record (line: it as one line of JSON; rec: the same as a
 * tree, or NULL to have it read from line when someone follows) to every
 * follower whose filter it passes. */
void control_publish(struct control *c, const json_t *rec, const char *line,
    size_t len);

#endif
