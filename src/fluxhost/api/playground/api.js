// Calls to this server's API. URLs are resolved against the page, so the playground works behind
// a proxy under a path prefix; the key goes only to this page's own origin, in x-key.

const KEY_STORAGE = "fluxhost.playground.key";
export const TERMINAL = new Set([
  "Ready", "Error", "Content Moderated", "Request Moderated", "Task not found",
]);

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

/** A refusal from the server (status >= 400) or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(status, detail));
    this.status = status;
    this.detail = detail;
  }
}

function describe(status, detail) {
  const prefix = status ? `${status}: ` : "";
  if (typeof detail === "string") return prefix + detail;
  if (Array.isArray(detail)) {
    return prefix + detail.map((e) => `${fieldOf(e) || "body"}: ${e.msg}`).join("; ");
  }
  return prefix + JSON.stringify(detail);
}

/** The body field a 422 item is about ("width" for loc ["body", "width"]), or "". */
export function fieldOf(error) {
  const loc = Array.isArray(error?.loc) ? error.loc : [];
  return loc[0] === "body" && loc.length > 1 ? String(loc[1]) : "";
}

export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), document.baseURI).href;
}

function sameOrigin(url) {
  return new URL(url, document.baseURI).origin === window.location.origin;
}

/**
 * One call with a JSON `body` or a Blob as raw `bytes`; resolves to {status, data} for a 2xx
 * (and for the statuses in `accept`), throws an ApiError with the server's `detail` for any
 * other answer.
 */
export async function request(method, url, { body, bytes, accept = [] } = {}) {
  const headers = { accept: "application/json" };
  const key = getKey();
  if (key && sameOrigin(url)) headers["x-key"] = key;
  if (body !== undefined) headers["content-type"] = "application/json";
  if (bytes !== undefined) headers["content-type"] = "application/octet-stream";
  let response;
  try {
    response = await fetch(url, {
      method, headers, cache: "no-store", credentials: "omit",
      body: bytes !== undefined ? bytes : body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `the server did not answer (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok && !accept.includes(response.status)) {
    throw new ApiError(response.status, data?.detail ?? (text || response.statusText));
  }
  return { status: response.status, data };
}

export const get = (path, opts) => request("GET", apiUrl(path), opts);
export const post = (path, body, opts) => request("POST", apiUrl(path), { ...opts, body });
/** POST with a file (a Blob) as the raw body, as the LoRA upload route takes it. */
export const postBytes = (path, blob, opts) => request("POST", apiUrl(path),
                                                       { ...opts, bytes: blob });

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/**
 * Polls a task until it ends; `onUpdate` sees every answer. The polling URL is the server's own;
 * should it name another origin (a proxy rewriting hosts), this page's get_result is asked.
 */
export async function pollTask(pollingUrl, taskId, onUpdate, { signal, intervalMs = 500 } = {}) {
  const url = pollingUrl && sameOrigin(pollingUrl)
    ? pollingUrl
    : apiUrl(`v1/get_result?id=${encodeURIComponent(taskId)}`);
  for (;;) {
    signal?.throwIfAborted();
    const { data } = await request("GET", url, { accept: [404] });
    signal?.throwIfAborted();
    onUpdate(data);
    if (TERMINAL.has(data?.status)) return data;
    await sleep(intervalMs, signal);
  }
}
