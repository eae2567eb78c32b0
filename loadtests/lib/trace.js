// A W3C traceparent per request, so each k6 request is a trace the service continues: a failing
// request's trace id is printed, and can be looked up in Tempo or in the logs (trace_id).
// (k6 1.1 has no k6/experimental/tracing, and jslib URLs are out of reach.)

function hex(bytes) {
  let s = '';
  for (let i = 0; i < bytes; i++) {
    s += Math.floor(Math.random() * 256).toString(16).padStart(2, '0');
  }
  return s;
}

/** A new trace: its id, and the header that starts it (sampled). */
export function newTrace() {
  const traceId = hex(16);
  return { traceId, traceparent: `00-${traceId}-${hex(8)}-01` };
}
