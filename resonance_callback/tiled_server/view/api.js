// Talking to the Tiled server this page came from: its own routes, same origin only.
// The API key the user typed is kept in this tab's sessionStorage and sent in the
// Authorization header; it is never put in a URL.

const KEY_NAME = "resonance-callback-api-key";
const API = new URL("../api/v1/", document.baseURI);

export class NeedKey extends Error {
  constructor(hadKey) {
    super(hadKey ? "The key was not accepted." : "This server needs its API key.");
    this.hadKey = hadKey;
  }
}

export class Refused extends Error {
  constructor(status, detail) {
    super(`The server answered ${status}: ${detail}`);
    this.status = status;
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY_NAME);
}

export function keepKey(key) {
  sessionStorage.setItem(KEY_NAME, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_NAME);
}

// The URL of a route below /api/v1/ for a node's path (a list of keys) and parameters
// (a list of [name, value] pairs); every key is percent-encoded.
export function apiUrl(route, parts, params = []) {
  const path = parts.map(encodeURIComponent).join("/");
  const url = new URL(route + "/" + path, API);
  for (const [name, value] of params) url.searchParams.append(name, value);
  if (url.origin !== window.location.origin) throw new Error("refusing another origin");
  return url;
}

async function answer(route, parts, params, accept) {
  const key = storedKey();
  const headers = { Accept: accept };
  if (key) headers.Authorization = "Apikey " + key;
  const response = await fetch(apiUrl(route, parts, params), {
    headers, credentials: "same-origin", cache: "no-store", redirect: "error",
  });
  if (response.status === 401) throw new NeedKey(Boolean(key));
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      if (body && body.detail !== undefined) detail = String(JSON.stringify(body.detail));
    } catch (_) { /* not JSON: the status text says it */ }
    throw new Refused(response.status, detail.slice(0, 500));
  }
  return response;
}

export async function getJson(route, parts, params = []) {
  return (await answer(route, parts, params, "application/json")).json();
}

export async function getBlob(route, parts, params = [], accept = "image/png") {
  return (await answer(route, parts, params, accept)).blob();
}
