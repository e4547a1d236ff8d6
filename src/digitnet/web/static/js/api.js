// Fetch helpers for digitnet's JSON API (/api/...; the schema is at /openapi.json).
// A non-2xx answer throws an Error whose message is the server's `detail` and whose .status is the
// HTTP status, so callers can tell "no ink on the pad" (422) from a real failure.

export async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : `${response.status} ${response.statusText}`;
    const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    error.status = response.status;
    throw error;
  }
  return body;
}

export const postJSON = (path, body) => api(path, {
  method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
});
