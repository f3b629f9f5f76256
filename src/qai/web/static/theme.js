// The theme (light, dark or the system's), applied before the first paint and remembered in
// localStorage. Loaded as a classic script in <head>; the pickers are wired once the page exists.
(function () {
  "use strict";
  var KEY = "qai.theme";
  var media = window.matchMedia("(prefers-color-scheme: dark)");

  function choice() {
    try {
      var stored = window.localStorage.getItem(KEY);
      return stored === "light" || stored === "dark" ? stored : "system";
    } catch (error) {
      return "system"; // storage can be disabled; the system's theme is a fine default
    }
  }

  function apply() {
    var chosen = choice();
    var root = document.documentElement;
    root.dataset.theme = chosen === "system" ? (media.matches ? "dark" : "light") : chosen;
    root.dataset.themeChoice = chosen;
  }

  function choose(value) {
    try {
      if (value === "system") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, value);
    } catch (error) {
      // Not remembered, but still applied to this page below.
    }
    apply();
    if (value !== choice()) document.documentElement.dataset.theme = value === "system" ? (media.matches ? "dark" : "light") : value;
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
