/* OpenTelemetry traces of each call: a span per call and a child span
 * per attempt (GenAI semantic conventions and llmfb's own attributes),
 * sent in batches as OTLP/HTTP JSON to {endpoint}/v1/traces on the
 * daemon's loop.  A call never waits on it: a batch that cannot be
 * queued or sent is dropped and counted.  Never a key, a header or a
 * prompt in a span. */
#ifndef LLMFB_OTEL_H
#define LLMFB_OTEL_H

#include <jansson.h>
#include <stdint.h>

struct daemon;
struct record;
struct otel;

#define OTEL_BATCH	64	/* spans: sent at once */
#define OTEL_FLUSH_MS	1000	/* ... or this long after the first */
#define OTEL_QUEUE_MAX	2048	/* spans waiting; more are dropped */

/* The call's spans, queued (nothing if d->cfg has no otel). */
void otel_record(struct daemon *d, const struct record *r);
void otel_free(struct otel *o);
uint64_t otel_exported(const struct otel *o);
uint64_t otel_dropped(const struct otel *o);

/* The spans of one record, as OTLP JSON span objects (for the tests):
 * appended to spans.  trace and span ids are made here. */
void otel_spans(const struct record *r, uint64_t end_ns, json_t *spans);

#endif
