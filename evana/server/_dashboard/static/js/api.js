// The public HTTP API, called with the session cookie (and the CSRF token on unsafe methods).

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

let csrf = "";
export function setCsrf(token) { csrf = token; }

function message(status, body) {
  if (body && body.detail) {
    const detail = Array.isArray(body.detail) ? body.detail.join("; ") : typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    return `${detail} (HTTP ${status})`;
  }
  return `the server answered HTTP ${status}`;
}

export async function api(path, { method = "GET", body, query } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = csrf;
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      for (const item of Array.isArray(v) ? v : [v]) if (item !== undefined && item !== null && item !== "") q.append(k, item);
    }
    if ([...q].length) url += `?${q}`;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, `cannot reach the server (${error.message})`);
  }
  if (response.status === 401 && path !== "/dashboard/session") {
    window.location.assign("/signin" + window.location.hash);
    throw new ApiError(401, "the session ended: sign in again");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, message(response.status, data));
  return data;
}
