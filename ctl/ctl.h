/* What llmfbctl's commands share. */
#ifndef LLMFB_CTL_H
#define LLMFB_CTL_H

#include <jansson.h>

extern const char *control_path;
extern int json_out;

/* One request; on success (0) *ret_doc holds the JSON reply.  1 when
 * the daemon said no or could not be reached (said on stderr). */
int ctl_call(const char *line, json_t **ret_doc);
json_int_t jnum(const json_t *o, const char *key);
const char *jstr(const json_t *o, const char *key, const char *dflt);
/* "3d04h", "2h05m", "7m30s", "12s". */
void fmt_uptime(char *out, size_t len, json_int_t s);
/* Milliseconds, whole or to two decimals, or "-" when v is none. */
void fmt_ms(char *out, size_t len, const json_t *v);

/* An attempt's kind as events and top print it: "ok" for the attempt
 * that answered (the event log's kind "none", no failure). */
const char *attempt_kind(const json_t *a);

/* llmfbctl import litellm FILE (ctl/import.c).  Returns the exit
 * status. */
int import_main(int argc, char **argv);

/* llmfbctl top ARGS: the live view (ctl/top.c).  Returns the exit
 * status. */
int top_main(int argc, char **argv);
/* llmfbctl ca VERB [-c CONFIG]: the local CA (ctl/ca.c). */
int ca_main(int argc, char **argv);

#endif
