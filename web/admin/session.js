// The admin key and the admin API (functions/admin/app.py). Every request carries `Authorization: Bearer <key>`;
// the key lives in sessionStorage, so it goes when the tab closes.
import { say } from "./dom.js";

const KEY_STORAGE = "drcaptcha-admin-key";
// Where sessionStorage is refused (a private mode), the key lasts as long as this page.
let memoryKey = null;
// What a refused key leads to: set by admin.js, which signs out.
let keyRefused = () => {};

function storedKey() {
  try {
    return window.sessionStorage.getItem(KEY_STORAGE);
  } catch (error) {
    return null;
  }
}

export function storeKey(key) {
  try {
    if (key === null) {
      window.sessionStorage.removeItem(KEY_STORAGE);
    } else {
      window.sessionStorage.setItem(KEY_STORAGE, key);
    }
  } catch (error) {
    // Storage refused: memoryKey below still holds it.
  }
  memoryKey = key;
}

export function currentKey() {
  return storedKey() || memoryKey;
}

function errorMessage(body, status) {
  if (body && body.error && body.error.message) {
    return body.error.message;
  }
  if (body && typeof body.detail === "string") {
    return body.detail;
  }
  return "the service answered " + status;
}

/** The reply's JSON; an Error with the API's message and `status` (0: unreachable) when it is not a success. */
export function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + currentKey() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return window.fetch(path, init).then(
    (reply) => reply.json().catch(() => null).then((data) => {
      if (!reply.ok) {
        const error = new Error(errorMessage(data, reply.status));
        error.status = reply.status;
        throw error;
      }
      return data;
    }),
    () => {
      const error = new Error("the admin API cannot be reached");
      error.status = 0;
      throw error;
    }
  );
}

export function isAuthError(error) {
  return error.status === 401 || error.status === 403;
}

export function whenKeyRefused(handler) {
  keyRefused = handler;
}

/** Report a failed action in `node`; a refused key signs the admin out instead. */
export function failed(error, node, what) {
  if (isAuthError(error)) {
    keyRefused("Your admin key was refused (" + error.message + "). Sign in again.");
    return;
  }
  say(node, what + ": " + error.message + ".", "error");
}
