// The home page: create a project from a prompt (or an example), and page through projects.
import { api, describe, fetchPiece, promptBox, refreshTimes, toast } from "./common.js";

const form = document.getElementById("create-project");
const template = document.getElementById("template");
// Present only when the server offers more than one model.
const model = form.querySelector("[data-model]");

const box = promptBox(form, async (value) => {
  const body = { value, template: template.value };
  if (model) body.model = model.value;
  const project = await api("POST", "/api/projects", body);
  window.location.assign(`/projects/${encodeURIComponent(project.id)}`);
});

document.querySelectorAll("[data-example]").forEach((button) => {
  button.addEventListener("click", () => box.fill(button.dataset.example));
});

const more = document.getElementById("more-projects");
if (more) {
  more.addEventListener("click", async (event) => {
    event.preventDefault();
    more.setAttribute("aria-busy", "true");
    try {
      const cursor = encodeURIComponent(more.dataset.cursor);
      const { fragment, headers } = await fetchPiece(`/ui/projects?cursor=${cursor}`);
      const list = document.getElementById("project-list");
      const first = fragment.firstElementChild;
      list.append(fragment);
      refreshTimes(list);
      const next = headers.get("QAI-Next-Cursor");
      if (next) {
        more.dataset.cursor = next;
        more.href = `/?cursor=${encodeURIComponent(next)}`;
      } else {
        more.remove();
      }
      // Keyboard users continue where the new projects start.
      if (first) first.querySelector("a")?.focus();
    } catch (error) {
      toast(describe(error));
    } finally {
      more.removeAttribute("aria-busy");
    }
  });
}
