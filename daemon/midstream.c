#include <ctype.h>
#include <stdio.h>

#include "answer.h"
#include "dialect.h"
#include "midstream.h"
#include "sse.h"

int
midstream_error_event(struct buf *ev, enum dialect dialect,
    const struct answer *ans, const struct answer *prev,
    const struct cont_state *cs, const char *why, bool ends_event)
{
	const struct api *api = api_of(dialect);
	char msg[256];
	json_t *j;
	int r = -1;

	snprintf(msg, sizeof(msg), "llmfb: the answer broke off after it "
	    "began (%s); what was sent is incomplete", why);
	j = api->stream_error != NULL ? api->stream_error(ans, prev, cs,
	    "llmfb_stream_interrupted", msg) :
	    dialect_error_body(dialect, api->stream_error_type,
	    "llmfb_stream_interrupted", msg);
	buf_init(ev, 8 * sizeof(msg));	/* room for escapes */
	/* Whole events only go out, so this is a safeguard: an event cut
	 * short is ended, and never has ours glued to it. */
	if (!ends_event)
		buf_addstr(ev, "\n\n");
	if (j != NULL && sse_emit_json(ev, api->error_event, j) == 0)
		r = 0;
	json_decref(j);
	return r;
}

json_t *
midstream_request(enum dialect dialect, const json_t *req,
    const struct answer *prev, bool trim, size_t *ret_trim)
{
	const struct api *api = api_of(dialect);
	json_t *copy = json_deep_copy(req);
	const char *text = prev->text.data ? prev->text.data : "";
	size_t len = prev->text.len;

	if (copy == NULL)
		return NULL;
	while (trim && len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	if (ret_trim != NULL)
		*ret_trim = prev->text.len - len;
	if (api->continue_prefix == NULL ||
	    api->continue_prefix(copy, text, len) < 0) {
		json_decref(copy);
		return NULL;
	}
	return copy;
}
