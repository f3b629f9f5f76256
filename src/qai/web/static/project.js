// The project page: the conversation, live over server-sent events, and the selected
// fragment's preview and code. The server renders every piece of HTML; this script fetches
// pieces and places them, and only ever sets text itself.
import {
  api,
  copyText,
  describe,
  fetchPiece,
  promptBox,
  refreshTimes,
  request,
  showFieldError,
  toast,
} from "./common.js";
import { fillStep, openRunLog, refreshActivity } from "./runs.js";

const main = document.querySelector("[data-split]");
const projectId = main.dataset.projectId;
const projectPath = `/api/projects/${encodeURIComponent(projectId)}`;
const scroller = document.querySelector("[data-messages]");
const list = document.querySelector("[data-message-list]");
const activity = document.getElementById("activity");
const workspace = document.querySelector("[data-workspace]");

const state = {
  lastEventId: main.dataset.lastEventId || "0",
  newestCursor: main.dataset.newestCursor || "",
  tab: workspace.querySelector(".workspace-inner")?.dataset.tab || "preview",
};

// --- the conversation ------------------------------------------------------------------------

function scrollToBottom(element) {
  if (element) element.scrollIntoView({ block: "end", behavior: "smooth" });
  else scroller.scrollTop = scroller.scrollHeight;
}

function markSelected(fragmentId) {
  list.querySelectorAll(".fragment-card").forEach((card) => {
    const selected = card.dataset.fragmentId === fragmentId;
    card.classList.toggle("selected", selected);
    if (selected) card.setAttribute("aria-current", "true");
    else card.removeAttribute("aria-current");
  });
}

function selectedFragmentId() {
  return workspace.querySelector(".workspace-inner")?.dataset.fragmentId || "";
}

/** Append the messages newer than the newest one shown; one catch-up at a time. */
let catchingUp = Promise.resolve();
function catchUp() {
  catchingUp = catchingUp.then(fetchNewer, fetchNewer);
  return catchingUp;
}

async function fetchNewer() {
  const added = [];
  for (;;) {
    const cursor = state.newestCursor ? `?after=${encodeURIComponent(state.newestCursor)}` : "";
    let piece;
    try {
      piece = await fetchPiece(`/ui/projects/${encodeURIComponent(projectId)}/messages${cursor}`);
    } catch (error) {
      toast(`New messages could not be loaded: ${describe(error)}`);
      break;
    }
    for (const item of Array.from(piece.fragment.children)) {
      if (!document.getElementById(item.id)) {
        list.append(item);
        added.push(item);
      }
    }
    state.newestCursor = piece.headers.get("QAI-Newest-Cursor") || state.newestCursor;
    if (!piece.headers.get("QAI-More")) break;
  }
  if (!added.length) return;
  refreshTimes(list);
  markSelected(selectedFragmentId());
  const last = added[added.length - 1];
  const answer = added.filter((item) => item.classList.contains("assistant")).pop();
  if (answer) announce(`QAI answered: ${answer.querySelector(".prose, .error-box").textContent}`);
  if (last.classList.contains("assistant")) hideActivity();
  else if (activity.hidden) showActivity("", "Waiting for the agent…");
  const cards = added.flatMap((item) => Array.from(item.querySelectorAll(".fragment-card")));
  if (cards.length) {
    // The newest fragment is what the agent just built: show it.
    await selectFragment(cards[cards.length - 1].dataset.fragmentId, { remember: false });
  } else if (answer && workspace.querySelector("[data-live-run-id]") && activity.hidden) {
    await leaveLivePreview();
  }
  scrollToBottom(activity.hidden ? last : activity);
}

const announcer = document.querySelector("[data-announcer]");
function announce(text) {
  announcer.textContent = text.trim().replace(/\s+/g, " ").slice(0, 300);
}

async function loadOlder(button) {
  if (button.getAttribute("aria-busy") === "true") return;
  button.setAttribute("aria-busy", "true");
  try {
    const before = encodeURIComponent(button.dataset.cursor);
    const piece = await fetchPiece(`/ui/projects/${encodeURIComponent(projectId)}/messages?before=${before}`);
    const height = scroller.scrollHeight;
    const items = Array.from(piece.fragment.children).filter((item) => !document.getElementById(item.id));
    list.prepend(...items);
    refreshTimes(list);
    markSelected(selectedFragmentId());
    // Keep the message the reader was looking at in place.
    scroller.scrollTop += scroller.scrollHeight - height;
    const previous = piece.headers.get("QAI-Prev-Cursor");
    if (previous) button.dataset.cursor = previous;
    else button.remove();
  } catch (error) {
    toast(`Older messages could not be loaded: ${describe(error)}`);
  } finally {
    button.removeAttribute("aria-busy");
  }
}

function watchOlder() {
  const button = document.querySelector("[data-load-older]");
  if (!button) return;
  button.addEventListener("click", () => loadOlder(button));
  const observer = new IntersectionObserver(
    (entries) => {
      if (!button.isConnected) observer.disconnect();
      else if (entries.some((entry) => entry.isIntersecting)) loadOlder(button);
    },
    { root: scroller, rootMargin: "200px 0px 0px 0px" },
  );
  // Start watching once the history is scrolled to its end, so opening the page loads nothing.
  requestAnimationFrame(() => observer.observe(button));
}

// --- the agent's activity --------------------------------------------------------------------

const statusText = activity.querySelector("[data-activity-status]");
const steps = activity.querySelector("[data-steps]");
const stopButton = activity.querySelector("[data-stop-run]");

function showActivity(runId, text) {
  if (runId && activity.dataset.runId !== runId) {
    activity.dataset.runId = runId;
    activity.dataset.runStarted = "";
    steps.replaceChildren();
    stopButton.disabled = false;
    stopButton.textContent = "Stop";
  }
  stopButton.hidden = !activity.dataset.runId;
  statusText.textContent = text;
  const wasHidden = activity.hidden;
  activity.hidden = false;
  if (wasHidden) scrollToBottom(activity);
}

function hideActivity() {
  activity.hidden = true;
  activity.dataset.runId = "";
  activity.dataset.runStatus = "";
  activity.dataset.runStarted = "";
  steps.replaceChildren();
}

function onRun(run) {
  const shown = activity.dataset.runId;
  if (run.status === "queued" || run.status === "running") {
    // A message queued behind the running run does not take the running run's place.
    if (run.status === "queued" && shown && shown !== run.id && activity.dataset.runStatus === "running") return;
    showActivity(run.id, run.status === "running" ? "Working…" : "Waiting for the agent…");
    activity.dataset.runStatus = run.status;
    activity.dataset.runStarted = run.startedAt || "";
    if (run.cancelRequestedAt) {
      stopButton.disabled = true;
      stopButton.textContent = "Stopping…";
    }
    if (run.status === "running" && run.previewUrl) showLivePreview(run.id);
    refreshActivity(activity);
  } else if (!shown || shown === run.id) {
    hideActivity();
  }
}

function onStep(step) {
  if (activity.dataset.runId && activity.dataset.runId !== step.runId && activity.dataset.runStatus === "running") return;
  showActivity(step.runId, "Working…");
  activity.dataset.runStatus = "running";
  let item = steps.querySelector(`[data-seq="${Number(step.seq)}"]`);
  if (!item) {
    item = document.createElement("li");
    steps.append(item);
  }
  fillStep(item, step);
  refreshActivity(activity);
  // Files changed: the live preview loads them (Next.js reloads itself; a static server does not).
  if (step.kind === "write" && step.outcome === "ok") reloadLivePreview(step.runId);
  const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  if (nearBottom) scroller.scrollTop = scroller.scrollHeight;
}

stopButton.addEventListener("click", async () => {
  const runId = activity.dataset.runId;
  if (!runId) return;
  stopButton.disabled = true;
  stopButton.textContent = "Stopping…";
  try {
    await api("POST", `/api/runs/${encodeURIComponent(runId)}/cancel`);
  } catch (error) {
    if (error.status !== 409) {
      stopButton.disabled = false;
      stopButton.textContent = "Stop";
    }
    toast(describe(error));
  }
});

setInterval(() => refreshActivity(activity), 1000);

list.addEventListener(
  "toggle",
  (event) => {
    if (event.target.matches?.("[data-run-log]") && event.target.open) openRunLog(event.target);
  },
  true,
);

// --- the live preview of the running run ---------------------------------------------------

// What the workspace showed before the live preview: shown again if the run made no version.
let beforeLive = null;
async function showLivePreview(runId) {
  if (workspace.querySelector(`[data-live-run-id="${CSS.escape(runId)}"]`)) return;
  if (!workspace.querySelector("[data-live-run-id]")) beforeLive = Array.from(workspace.childNodes);
  try {
    const piece = await fetchPiece(`/ui/runs/${encodeURIComponent(runId)}/live`);
    // The run may have answered meanwhile: its version is shown instead.
    if (activity.hidden || activity.dataset.runId !== runId) return;
    workspace.replaceChildren(piece.fragment);
    const frame = workspace.querySelector("[data-live-frame]");
    if (frame) navigating.add(frame);
    // Files written while the piece was on its way: load them once more, after they were.
    if (writtenBeforeFrame.delete(runId)) reloadLivePreview(runId);
  } catch (error) {
    toast(`The live preview could not be shown: ${describe(error)}`);
  }
}

// Runs whose files changed before their live frame was there to reload.
const writtenBeforeFrame = new Set();
function reloadLivePreview(runId) {
  const frame = workspace.querySelector(`[data-live-run-id="${CSS.escape(runId)}"] [data-live-frame]`);
  if (!frame) {
    writtenBeforeFrame.add(runId);
    return;
  }
  reloadFrame(frame);
}

// Live frames whose page is on its way, and those of them to load again once it is there: a
// frame told to load again while its page is being committed can drop that (Chromium does), and
// keep showing a page served before the files that made it reload were written.
const navigating = new WeakSet();
const loadAgain = new WeakSet();
function reloadFrame(frame) {
  if (navigating.has(frame)) {
    loadAgain.add(frame);
    return;
  }
  navigating.add(frame);
  // A cross-origin frame cannot be reloaded from here; setting its address again loads it.
  frame.src = frame.getAttribute("src");
}

// A frame's load does not bubble: heard on the way down.
workspace.addEventListener(
  "load",
  (event) => {
    const frame = event.target;
    if (!navigating.delete(frame)) return;
    if (loadAgain.delete(frame)) reloadFrame(frame);
  },
  true,
);

async function leaveLivePreview() {
  if (beforeLive) workspace.replaceChildren(...beforeLive);
  beforeLive = null;
}

// --- the live stream -------------------------------------------------------------------------

const connection = document.querySelector("[data-connection]");
let source = null;
let retryDelay = 1000;
let troubleTimer = null;
let disconnected = false;

function connect() {
  const after = encodeURIComponent(state.lastEventId);
  source = new EventSource(`${projectPath}/events?after=${after}`);
  source.addEventListener("open", () => {
    retryDelay = 1000;
    clearTimeout(troubleTimer);
    connection.hidden = true;
    if (disconnected) {
      disconnected = false;
      catchUp(); // whatever the stream cannot replay is read back from the history
    }
  });
  source.addEventListener("error", () => {
    disconnected = true;
    clearTimeout(troubleTimer);
    troubleTimer = setTimeout(() => {
      connection.hidden = false;
    }, 1500);
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (the server answered with an error): find out why, retry later.
      source.close();
      checkProjectThenReconnect();
    }
  });
  const handlers = {
    ready: () => {},
    "message.created": (message) => {
      if (!document.getElementById(`message-${message.id}`)) catchUp();
    },
    "run.updated": onRun,
    "run.step": onStep,
  };
  for (const [kind, handle] of Object.entries(handlers)) {
    source.addEventListener(kind, (event) => {
      if (event.lastEventId) state.lastEventId = event.lastEventId;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return; // not ours to show; the history stays the source of truth
      }
      handle(data);
    });
  }
}

async function checkProjectThenReconnect() {
  try {
    await request(projectPath, { headers: { Accept: "application/json" } });
  } catch (error) {
    if (error.status === 404) {
      connection.textContent = "This project was deleted.";
      connection.hidden = false;
      return;
    }
  }
  setTimeout(connect, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 15000);
}

// --- the workspace: preview and code ----------------------------------------------------------

async function selectFragment(fragmentId, { remember = true, file = "" } = {}) {
  const query = new URLSearchParams({ tab: state.tab });
  if (file) query.set("file", file);
  try {
    const piece = await fetchPiece(`/ui/fragments/${encodeURIComponent(fragmentId)}/workspace?${query}`);
    workspace.replaceChildren(piece.fragment);
  } catch (error) {
    toast(`This fragment could not be shown: ${describe(error)}`);
    return;
  }
  markSelected(fragmentId);
  const url = new URL(window.location.href);
  if (remember) url.searchParams.set("fragment", fragmentId);
  else url.searchParams.delete("fragment");
  url.searchParams.delete("file");
  history.replaceState(null, "", url);
}

function switchTab(tab, focus = false) {
  state.tab = tab;
  const inner = workspace.querySelector(".workspace-inner");
  if (!inner) return;
  inner.dataset.tab = tab;
  inner.querySelectorAll("[role=tab]").forEach((button) => {
    const selected = button.dataset.tab === tab;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    if (selected && focus) button.focus();
  });
  inner.querySelectorAll("[role=tabpanel]").forEach((panel) => {
    panel.hidden = panel.id !== `panel-${tab}`;
  });
  if (tab === "changes" && !inner.querySelector("[data-diff-of]")) loadDiff();
}

// --- versions: compare, restore, fork, edit by hand ------------------------------------------

async function loadDiff(against = null) {
  const inner = workspace.querySelector(".workspace-inner");
  if (!inner) return;
  const query = against === null ? "" : `?${new URLSearchParams({ against })}`;
  try {
    const piece = await fetchPiece(
      `/ui/fragments/${encodeURIComponent(inner.dataset.fragmentId)}/diff${query}`,
    );
    inner.querySelector("[data-diff-view]").replaceChildren(piece.fragment);
  } catch (error) {
    toast(`The changes could not be shown: ${describe(error)}`);
  }
}

async function restoreSelected() {
  const fragmentId = selectedFragmentId();
  try {
    await api("POST", `/api/fragments/${encodeURIComponent(fragmentId)}/restore`);
  } catch (error) {
    toast(`This version could not be restored: ${describe(error)}`);
    return;
  }
  toast("Restored as a new version", { kind: "info", timeout: 2500 });
  await catchUp(); // shows the new version's message and selects it
}

async function forkSelected() {
  const fragmentId = selectedFragmentId();
  let project;
  try {
    project = await api("POST", `/api/fragments/${encodeURIComponent(fragmentId)}/fork`);
  } catch (error) {
    toast(`This version could not be forked: ${describe(error)}`);
    return;
  }
  window.location.assign(`/projects/${encodeURIComponent(project.id)}`);
}

function numberLines(gutter, text) {
  const count = text.split("\n").length;
  gutter.textContent = Array.from({ length: count }, (_, index) => String(index + 1)).join("\n");
}

function openEditor() {
  const file = workspace.querySelector("[data-code-file]");
  if (!file) return;
  const editor = file.querySelector("[data-code-editor]");
  const text = editor.querySelector("[data-editor-text]");
  const code = file.querySelector(".code-content pre");
  text.value = code ? code.textContent : "";
  numberLines(editor.querySelector("[data-editor-gutter]"), text.value);
  file.querySelector("[data-code-view]").hidden = true;
  file.querySelector("[data-edit-file]").hidden = true;
  editor.hidden = false;
  text.focus();
}

function closeEditor() {
  const file = workspace.querySelector("[data-code-file]");
  if (!file) return;
  file.querySelector("[data-code-editor]").hidden = true;
  file.querySelector("[data-code-view]").hidden = false;
  file.querySelector("[data-edit-file]").hidden = false;
}

async function saveEditor(form) {
  const file = form.closest("[data-code-file]");
  const path = file.dataset.codeFile;
  const error = form.querySelector("[data-editor-error]");
  const fragmentId = selectedFragmentId();
  form.setAttribute("aria-busy", "true");
  try {
    await api("POST", `/api/fragments/${encodeURIComponent(fragmentId)}/edit`, {
      files: { [path]: form.querySelector("[data-editor-text]").value },
    });
  } catch (failure) {
    showFieldError(error, describe(failure));
    return;
  } finally {
    form.removeAttribute("aria-busy");
  }
  toast("Saved as a new version", { kind: "info", timeout: 2500 });
  await catchUp();
}

workspace.addEventListener("input", (event) => {
  const text = event.target.closest("[data-editor-text]");
  if (text) numberLines(text.closest("[data-code-editor]").querySelector("[data-editor-gutter]"), text.value);
});

workspace.addEventListener("scroll", (event) => {
  const text = event.target;
  if (text.matches?.("[data-editor-text]")) {
    text.closest("[data-code-editor]").querySelector("[data-editor-gutter]").scrollTop = text.scrollTop;
  }
}, true);

workspace.addEventListener("change", (event) => {
  const select = event.target.closest("[data-diff-against]");
  if (select) loadDiff(select.value);
});

workspace.addEventListener("submit", (event) => {
  const form = event.target.closest("[data-code-editor]");
  if (!form) return;
  event.preventDefault();
  saveEditor(form);
});

async function openFile(link) {
  const inner = workspace.querySelector(".workspace-inner");
  const path = link.dataset.file;
  try {
    const query = new URLSearchParams({ path });
    const piece = await fetchPiece(
      `/ui/fragments/${encodeURIComponent(inner.dataset.fragmentId)}/file?${query}`,
    );
    inner.querySelector("[data-file-view]").replaceChildren(piece.fragment);
  } catch (error) {
    toast(`${path} could not be shown: ${describe(error)}`);
    return;
  }
  inner.querySelectorAll("[data-file]").forEach((other) => {
    if (other === link) other.setAttribute("aria-current", "true");
    else other.removeAttribute("aria-current");
  });
}

workspace.addEventListener("click", (event) => {
  const tab = event.target.closest("[role=tab]");
  if (tab) return switchTab(tab.dataset.tab);
  const fileLink = event.target.closest("[data-file]");
  if (fileLink) {
    event.preventDefault();
    return openFile(fileLink);
  }
  if (event.target.closest("[data-copy-code]")) {
    const code = workspace.querySelector(".code-content pre");
    return copyText(code ? code.textContent : "", "Code copied");
  }
  if (event.target.closest("[data-restore]")) return restoreSelected();
  if (event.target.closest("[data-fork]")) return forkSelected();
  if (event.target.closest("[data-edit-file]")) return openEditor();
  if (event.target.closest("[data-editor-cancel]")) return closeEditor();
  if (event.target.closest("[data-copy-clone]")) {
    return copyText(workspace.querySelector("[data-clone-command]").value, "Clone command copied");
  }
  if (event.target.closest("[data-copy-url]")) {
    return copyText(workspace.querySelector(".preview-url").value, "Preview URL copied");
  }
  if (event.target.closest("[data-refresh-preview]")) {
    const frame = workspace.querySelector(".preview-frame");
    // A cross-origin frame cannot be reloaded from here; setting its address again loads it.
    frame.src = frame.getAttribute("src");
  }
});

workspace.addEventListener("keydown", (event) => {
  const tab = event.target.closest("[role=tab]");
  if (!tab || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
  event.preventDefault();
  const order = ["preview", "code", "changes"];
  const index = order.indexOf(tab.dataset.tab);
  const next =
    event.key === "Home" ? 0 : event.key === "End" ? order.length - 1
      : (index + (event.key === "ArrowRight" ? 1 : order.length - 1)) % order.length;
  switchTab(order[next], true);
});

list.addEventListener("click", (event) => {
  const card = event.target.closest(".fragment-card");
  if (!card) return;
  event.preventDefault();
  selectFragment(card.dataset.fragmentId);
});

// --- sending ---------------------------------------------------------------------------------

/** The version a message builds on: the selected one, when it is not the newest. */
function chosenVersion() {
  const cards = list.querySelectorAll(".fragment-card");
  const newest = cards.length ? cards[cards.length - 1].dataset.fragmentId : "";
  const selected = selectedFragmentId();
  return selected && selected !== newest ? selected : null;
}

// Present only when the server offers more than one model.
const modelPicker = document.querySelector("[data-composer] [data-model]");

async function sendMessage(value) {
  const fragmentId = chosenVersion();
  const body = fragmentId ? { value, fragmentId } : { value };
  if (modelPicker) body.model = modelPicker.value;
  await api("POST", `${projectPath}/messages`, body);
  showActivity("", "Waiting for the agent…");
  await catchUp();
}

promptBox(document.querySelector("[data-composer]"), sendMessage);

// A failed version's "Try to fix": a follow-up that carries the check's problems.
list.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-try-fix]");
  if (!button) return;
  event.preventDefault();
  button.disabled = true;
  try {
    await sendMessage(button.dataset.tryFix);
  } catch (error) {
    toast(`The fix could not be sent: ${describe(error)}`);
    button.disabled = false;
  }
});

// --- rename and delete -----------------------------------------------------------------------

const nameHeading = document.querySelector("[data-project-name]");
const renameForm = document.querySelector("[data-rename-form]");
const renameInput = renameForm.querySelector("input");
const renameError = document.querySelector("[data-rename-error]");
const renameButton = document.querySelector("[data-rename]");

function setRenaming(on) {
  renameForm.hidden = !on;
  nameHeading.hidden = on;
  renameButton.hidden = on;
  showFieldError(renameError, "");
  if (on) {
    renameInput.value = nameHeading.textContent;
    renameInput.focus();
    renameInput.select();
  } else {
    renameButton.focus();
  }
}

renameButton.addEventListener("click", () => setRenaming(true));
renameForm.querySelector("[data-rename-cancel]").addEventListener("click", () => setRenaming(false));
renameInput.addEventListener("keydown", (event) => {
  if (event.key === "Escape") setRenaming(false);
});
renameForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  renameForm.setAttribute("aria-busy", "true");
  try {
    const project = await api("PATCH", projectPath, { name: renameInput.value });
    nameHeading.textContent = project.name;
    document.title = `${project.name} · QAI`;
    document.getElementById("delete-title").textContent = `Delete “${project.name}”?`;
    setRenaming(false);
    toast("Project renamed", { kind: "info", timeout: 2500 });
  } catch (error) {
    showFieldError(renameError, describe(error));
    renameInput.setAttribute("aria-invalid", "true");
    renameInput.focus();
  } finally {
    renameForm.removeAttribute("aria-busy");
  }
});

const dialog = document.querySelector("[data-delete-dialog]");
const deleteError = dialog.querySelector("[data-delete-error]");
document.querySelector("[data-delete]").addEventListener("click", () => {
  showFieldError(deleteError, "");
  dialog.showModal();
});
dialog.querySelector("[data-delete-confirm]").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await api("DELETE", projectPath);
    if (source) source.close();
    window.location.assign("/");
  } catch (error) {
    showFieldError(deleteError, describe(error));
    button.disabled = false;
  }
});

// --- the resizable split ---------------------------------------------------------------------

const resizer = document.querySelector("[data-resizer]");
const SPLIT_KEY = "qai.split";

function setSplit(percent, store = true) {
  const value = Math.min(80, Math.max(20, percent));
  main.style.setProperty("--chat-width", `${value}%`);
  resizer.setAttribute("aria-valuenow", String(Math.round(value)));
  if (store) {
    try {
      localStorage.setItem(SPLIT_KEY, String(value));
    } catch {
      // not remembered; the split still moves
    }
  }
}

try {
  const stored = Number(localStorage.getItem(SPLIT_KEY));
  if (stored) setSplit(stored, false);
} catch {
  // storage disabled: the default split
}

resizer.addEventListener("pointerdown", (event) => {
  resizer.setPointerCapture(event.pointerId);
  document.body.classList.add("resizing");
});
resizer.addEventListener("pointermove", (event) => {
  if (!resizer.hasPointerCapture(event.pointerId)) return;
  const box = main.getBoundingClientRect();
  setSplit(((event.clientX - box.left) / box.width) * 100);
});
resizer.addEventListener("pointerup", (event) => {
  resizer.releasePointerCapture(event.pointerId);
  document.body.classList.remove("resizing");
});
resizer.addEventListener("keydown", (event) => {
  const now = Number(resizer.getAttribute("aria-valuenow"));
  const moves = { ArrowLeft: now - 2, ArrowRight: now + 2, Home: 20, End: 80 };
  if (!(event.key in moves)) return;
  event.preventDefault();
  setSplit(moves[event.key]);
});

// --- start -----------------------------------------------------------------------------------

scroller.scrollTop = scroller.scrollHeight;
watchOlder();
connect();
activity.dataset.runStatus = activity.dataset.runStarted ? "running" : "";
refreshActivity(activity);
if (activity.dataset.runId && activity.dataset.previewUrl) showLivePreview(activity.dataset.runId);
