// Every call the dashboard makes goes through here: the same JSON API that curl uses,
// with the token (if the service asked for one) sent as "Authorization: Bearer".
//
// The token lives in sessionStorage: only this tab, gone when the tab is closed, and
// never a cookie, so no other site can make the browser send it.

const TOKEN_KEY = "taskqueue.token";

/** An answer the dashboard cannot use: an HTTP error, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(status, message, needsToken = false) {
    super(message);
    this.status = status;
    this.needsToken = needsToken; // a 401: ask for a token, then try again
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * One request; resolves to {status, data} for a 2xx answer, else throws an ApiError
 * whose message is the API's own {"error": "..."}. `purpose` completes the sentence
 * "your token's role cannot …" for a 403.
 */
async function call(method, path, body, purpose) {
  const headers = { Accept: "application/json" };
  const sent = token();
  if (sent) headers.Authorization = `Bearer ${sent}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit", // the token is the only credential, and it is never a cookie
    });
  } catch (error) {
    throw new ApiError(0, `Cannot reach the service (${error.message}). Is it running?`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null; // not JSON (a proxy's error page): reported by status below
  }
  if (response.ok) return { status: response.status, data };
  const said = typeof data?.error === "string" ? data.error : response.statusText || "no reason given";
  if (response.status === 401) {
    const why = sent ? "The service refused this token" : "The service needs a token";
    throw new ApiError(401, `${why}: ${said}`, true);
  }
  if (response.status === 403) {
    throw new ApiError(403, `Your token's role cannot ${purpose}: ${said}`);
  }
  throw new ApiError(response.status, `${method} ${path} failed (${response.status}): ${said}`);
}

/** GET path → the JSON body. */
export async function get(path) {
  return (await call("GET", path, undefined, "read this")).data;
}

/** POST path (with an optional JSON body) → {status, data}. */
export function post(path, body, purpose) {
  return call("POST", path, body, purpose);
}
