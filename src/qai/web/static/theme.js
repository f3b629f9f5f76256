// The theme (light, dark or the system's), applied before the first paint and remembered in
// localStorage. Loaded as a classic script in <head>; the pickers are wired once the page exists.
(function () {
  "use strict";
  var KEY = "qai.theme";
  var media = window.matchMedia("(prefers-color-scheme: dark)");
  var unsaved = "system"; // the choice on this page when storage is disabled

  function choice() {
    var stored;
    try {
      stored = window.localStorage.getItem(KEY);
    } catch (error) {
      stored = unsaved;
    }
    return stored === "light" || stored === "dark" ? stored : "system";
  }

  function apply() {
    var chosen = choice();
    var root = document.documentElement;
    root.dataset.theme = chosen === "system" ? (media.matches ? "dark" : "light") : chosen;
    root.dataset.themeChoice = chosen;
  }

  function choose(value) {
    unsaved = value;
    try {
      if (value === "system") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, value);
    } catch (error) {
      // Storage is disabled: the choice holds for this page only.
    }
    apply();
  }

  apply();
  media.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-theme-picker]").forEach(function (picker) {
      picker.value = choice();
      picker.addEventListener("change", function () { choose(picker.value); });
    });
  });
})();
