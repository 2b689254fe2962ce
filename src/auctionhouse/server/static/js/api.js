// HTTP to the house (docs/api.md) and the signed-in session.

import { clock } from "./clock.js";
import { when } from "./format.js";

const SESSION_KEY = "auctionhouse.session";

// The house says a time in its messages in UTC ("opens at 2030-01-31 18:00:00 UTC", with the
// epoch seconds in a field); people read it as their local time, like every time on the page.
export function localTimes(text) {
  return String(text).replace(
    /\b(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC\b/g,
    (_, y, mo, d, hh, mi, ss) => when(Date.UTC(+y, +mo - 1, +d, +hh, +mi, +ss) / 1000),
  );
}

export class ApiError extends Error {
  constructor(status, error) {
    super(localTimes(error.message || error.code));
    this.status = status;
    this.code = error.code;
    this.fields = error;
  }
}

// --------------------------------------------------------------------------- session

let session = readSession();
const listeners = new Set();

function readSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (s && s.token && s.account) return s;
  } catch {
    // a damaged entry is the same as none
  }
  return null;
}

export function currentSession() {
  return session;
}

export function me() {
  return session ? session.account : null;
}

export function setSession(next) {
  session = next;
  if (next) localStorage.setItem(SESSION_KEY, JSON.stringify(next));
  else localStorage.removeItem(SESSION_KEY);
  for (const fn of listeners) fn(session);
}

export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// --------------------------------------------------------------------------- requests

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, {
      code: "network",
      message: "The auction house cannot be reached. Check the connection and try again.",
    });
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {
      code: `http_${response.status}`,
      message: `The house answered ${response.status} ${response.statusText}.`,
    };
    if (response.status === 401 && session && error.code === "unauthorized" && path === "/me") {
      setSession(null); // the token expired or was revoked
    }
    throw new ApiError(response.status, error);
  }
  return data;
}

// POST raw bytes (a photo: docs/api.md "Photos"); answers like api().
export async function upload(path, blob) {
  const headers = { Accept: "application/json", "Content-Type": blob.type || "application/octet-stream" };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method: "POST", headers, body: blob, cache: "no-store" });
  } catch {
    throw new ApiError(0, { code: "network", message: "The auction house cannot be reached." });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.error) || {
      code: `http_${response.status}`, message: `The house answered ${response.status}.` });
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const put = (path, body) => api("PUT", path, body);

// One /time sample; the clock keeps the one with the shortest round trip.
export async function syncTime() {
  const sent = clock.local();
  const { now } = await get("/time");
  clock.sample(sent, now, clock.local());
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
