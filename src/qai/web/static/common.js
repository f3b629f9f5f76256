// Shared by every page: talking to the API (and saying what went wrong in plain words),
// notifications, the prompt boxes, copying, and keeping times current.

export const PROMPT_MAX = 1000;

export class ApiError extends Error {
  constructor(message, { status = 0, code = "", requestId = "" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

const UNREACHABLE =
  "QAI could not be reached. Check that it is still running and try again.";

function plainWords(status, error) {
  const message = error && typeof error.message === "string" ? error.message : "";
  const requestId = error && error.requestId ? ` (request id ${error.requestId})` : "";
  if (status === 404) {
    return `${message || "Not found"}. It may have been deleted.`;
  }
  if (status === 413) {
    return "That is too large for QAI to accept. Shorten it and try again.";
  }
  if (status === 405) {
    return "QAI does not allow that action here.";
  }
  if (status >= 500) {
    return (
      `QAI ran into an internal error${requestId}. Try again; if it keeps happening, ` +
      "look for the request id in QAI's log."
    );
  }
  return message || `QAI refused the request (HTTP ${status}).`;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null; // not our JSON error shape: a proxy's page, or an empty body
  }
  const error = body && typeof body === "object" ? body.error : null;
  return new ApiError(plainWords(response.status, error), {
    status: response.status,
    code: (error && error.code) || "",
    requestId: (error && error.requestId) || "",
  });
}

/** fetch, with every failure turned into an ApiError whose message a person can read. */
export async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...options });
  } catch {
    throw new ApiError(UNREACHABLE);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** A JSON API call; ``body`` is sent as JSON. Resolves to the parsed answer (or null). */
export async function api(method, url, body) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await request(url, options);
  if (response.status === 204) return null;
  return response.json();
}

/** An HTML piece rendered by the server, as nodes ready to insert, with its headers. */
export async function fetchPiece(url) {
  const response = await request(url, { headers: { Accept: "text/html" } });
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  return { fragment: template.content, headers: response.headers };
}

export function describe(error) {
  return error instanceof ApiError ? error.message : `Something went wrong: ${error}`;
}

// --- notifications ---------------------------------------------------------------------------

export function toast(message, { kind = "error", timeout = 8000 } = {}) {
  const region = document.getElementById("toasts");
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("p");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => item.remove());
  item.append(text, close);
  region.append(item);
  if (timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

export function showFieldError(element, message) {
  if (!element) return;
  element.textContent = message || "";
  element.hidden = !message;
}

// --- prompt boxes ----------------------------------------------------------------------------

/**
 * A form with a prompt textarea: live counter, Enter sends, Shift+Enter breaks the line, the
 * button is disabled while empty, too long or sending. ``send(value)`` does the work; its
 * error is shown under the box.
 */
export function promptBox(form, send) {
  const input = form.querySelector("[data-prompt]");
  const counter = form.querySelector("[data-counter]");
  const button = form.querySelector("[data-submit]");
  const errorBox = form.querySelector("[data-error]");
  let sending = false;
  let failure = ""; // why the last send failed; cleared as soon as the text changes

  function tooLong() {
    return input.value.length > PROMPT_MAX;
  }

  function refresh() {
    counter.textContent = `${input.value.length}/${PROMPT_MAX}`;
    counter.classList.toggle("over", tooLong());
    button.disabled = sending || !input.value.trim() || tooLong();
    const message = tooLong() ? "Prompt must be less than 1000 characters" : failure;
    showFieldError(errorBox, message);
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  async function submit() {
    if (sending || tooLong()) return;
    if (!input.value.trim()) {
      failure = "Prompt is required";
      refresh();
      input.focus();
      return;
    }
    sending = true;
    failure = "";
    form.setAttribute("aria-busy", "true");
    refresh();
    try {
      await send(input.value);
      input.value = "";
    } catch (error) {
      failure = describe(error);
    } finally {
      sending = false;
      form.removeAttribute("aria-busy");
      refresh();
    }
  }

  input.addEventListener("input", () => {
    failure = "";
    refresh();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  refresh();

  return {
    input,
    fill(value) {
      input.value = value;
      failure = "";
      refresh();
      input.focus();
      input.setSelectionRange(value.length, value.length);
    },
  };
}

// --- clipboard -------------------------------------------------------------------------------

export async function copyText(text, what = "Copied") {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} to the clipboard`, { kind: "info", timeout: 2500 });
  } catch {
    toast("The browser did not allow copying; select the text and copy it by hand.");
  }
}

// --- times -----------------------------------------------------------------------------------

const UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** "3 minutes ago", in the reader's language (the server renders English first). */
export function relativeAge(date, now = Date.now()) {
  const seconds = Math.max(0, Math.floor((now - date.getTime()) / 1000));
  for (const [unit, size] of UNITS) {
    const count = Math.floor(seconds / size);
    if (count >= 1) return relative.format(-count, unit);
  }
  return "just now";
}

export function refreshTimes(root = document) {
  root.querySelectorAll("time[data-relative]").forEach((element) => {
    const date = new Date(element.dateTime);
    element.textContent = relativeAge(date);
    element.title = full.format(date);
  });
  root.querySelectorAll("time[data-clock]").forEach((element) => {
    const date = new Date(element.dateTime);
    element.textContent = clock.format(date);
    element.title = full.format(date);
  });
}

refreshTimes();
setInterval(() => refreshTimes(), 60_000);
