// A run you can watch: the activity's figures (turns, tokens, time), the sign that a model call
// is slow or retried, and each answer's activity kept under it (read when it is opened). Text
// only.
import { api, describe } from "./common.js";

const SLOW_MODEL_SECONDS = 10;

export function formatTokens(count) {
  return Number(count || 0).toLocaleString("en");
}

function seconds(from, to = Date.now()) {
  return Math.max(0, Math.round((to - new Date(from).getTime()) / 1000));
}

/** "retry 1 of 2" for a model call sent again after a failure; "" for one that needed none. */
export function retrySign(step) {
  return step.retry ? `retry ${step.retry} of ${step.maxRetries}` : "";
}

/** One step's line: its label, and for a model call its tokens, time and retries once it
 * ended (while it runs, refreshActivity says how long it has waited and which retry it is). */
export function fillStep(item, step) {
  item.className = `step ${step.outcome || "running"}`;
  item.dataset.seq = String(step.seq);
  item.dataset.kind = step.kind;
  item.dataset.started = step.startedAt || "";
  item.dataset.tokens = String((step.inputTokens || 0) + (step.outputTokens || 0));
  item.dataset.retry = retrySign(step);
  let label = item.querySelector(".step-label");
  if (!label) {
    label = document.createElement("span");
    label.className = "step-label";
    item.prepend(label);
  }
  label.textContent = step.label;
  let figures = item.querySelector(".step-figures");
  const done = step.kind === "model" && step.finishedAt;
  if (done) {
    if (!figures) {
      figures = document.createElement("span");
      figures.className = "step-figures";
      label.after(figures);
    }
    const took = (new Date(step.finishedAt) - new Date(step.startedAt)) / 1000;
    const parts = [`${formatTokens(item.dataset.tokens)} tokens`, `${took.toFixed(1)} s`];
    if (item.dataset.retry) parts.push(item.dataset.retry);
    figures.textContent = parts.join(" · ");
  } else if (figures) {
    figures.remove();
  }
  let detail = item.querySelector(".step-detail");
  if (step.detail) {
    if (!detail) {
      detail = document.createElement("span");
      detail.className = "step-detail";
      item.append(detail);
    }
    detail.textContent = step.detail;
  } else if (detail && (!detail.dataset.waiting || step.finishedAt)) {
    detail.remove();
  }
}

/** The running run's figures, and on a model call in flight the sign that it is slow or
 * retried: "waiting for the model: 40 s, retry 1 of 2". */
export function refreshActivity(activity) {
  if (activity.hidden) return;
  const steps = Array.from(activity.querySelectorAll("[data-steps] > li"));
  const turns = steps.filter((item) => item.dataset.kind === "model").length;
  const tokens = steps.reduce((sum, item) => sum + Number(item.dataset.tokens || 0), 0);
  const parts = [];
  if (turns) parts.push(`${turns} model turn${turns === 1 ? "" : "s"}`);
  if (tokens) parts.push(`${formatTokens(tokens)} tokens`);
  if (activity.dataset.runStarted) parts.push(`${seconds(activity.dataset.runStarted)} s`);
  activity.querySelector("[data-activity-stats]").textContent = parts.join(" · ");
  for (const item of steps) {
    if (item.dataset.kind !== "model" || !item.classList.contains("running")) continue;
    const waited = seconds(item.dataset.started);
    const sign = [];
    if (waited >= SLOW_MODEL_SECONDS) sign.push(`waiting for the model: ${waited} s`);
    if (item.dataset.retry) sign.push(item.dataset.retry);
    if (!sign.length) continue;
    let detail = item.querySelector(".step-detail");
    if (!detail) {
      detail = document.createElement("span");
      detail.className = "step-detail waiting";
      detail.dataset.waiting = "1";
      item.append(detail);
    }
    detail.textContent = sign.join(", ");
  }
}

/** Fill an answer's activity with its run's steps when it is first opened. */
export async function openRunLog(details) {
  if (details.dataset.loaded) return;
  details.dataset.loaded = "1";
  const list = details.querySelector("[data-run-log-steps]");
  try {
    const run = await api("GET", `/api/runs/${encodeURIComponent(details.dataset.runLog)}`);
    for (const step of run.steps) {
      const item = document.createElement("li");
      fillStep(item, step);
      list.append(item);
    }
    if (!run.steps.length) {
      const item = document.createElement("li");
      item.className = "step";
      item.textContent = "No steps.";
      list.append(item);
    }
  } catch (error) {
    delete details.dataset.loaded;
    const item = document.createElement("li");
    item.className = "step failed";
    item.textContent = `The activity could not be loaded: ${describe(error)}`;
    list.replaceChildren(item);
  }
}
