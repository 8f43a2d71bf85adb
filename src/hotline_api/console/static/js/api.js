// The REST API with the session cookie. A request that changes something carries X-CSRF-Token,
// which only this page can know (the readable hotline_csrf cookie, or the sign-in answer).

export class ApiError extends Error {
  // the service's errors are {"error": {"code", "message", "field"?, "request_id"}}
  constructor(status, body) {
    const detail = body?.error || {};
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || null;
    this.field = detail.field || null;
  }
}

let csrf = null;
let onUnauthorized = () => {};
let onActivity = () => {};

export function setCsrf(value) {
  csrf = value;
}

export function setHandlers(handlers) {
  onUnauthorized = handlers.unauthorized || onUnauthorized;
  onActivity = handlers.activity || onActivity;
}

function csrfToken() {
  if (csrf) return csrf;
  const match = document.cookie.match(/(?:^|;\s*)hotline_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(method, path, body, { quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, { detail: "network" });
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.status === 401 && !quiet401) {
    onUnauthorized(data);
  }
  if (!response.ok) {
    const err = new ApiError(response.status, data);
    err.retryAfter = Number(response.headers.get("retry-after") || 0);
    throw err;
  }
  if (method !== "GET") onActivity();
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);

// query string from an object, leaving out empty values
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
