// Thin client of /api/v1: same-origin fetch with the session cookie; errors carry the server's message.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const BASE = "/api/v1";

export async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(BASE + path, init);
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new ApiError(res.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return res.status === 204 ? null : res.json();
}

export const q = (params) => {
  const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
  return s.toString() ? `?${s}` : "";
};

// The session cookie is HttpOnly, so the page remembers who logged in to avoid probing with a 401.
const KEY = "sitewatch.user";
export const session = {
  get: () => JSON.parse(localStorage.getItem(KEY) || "null"),
  set: (user) => localStorage.setItem(KEY, JSON.stringify(user)),
  clear: () => localStorage.removeItem(KEY),
};
