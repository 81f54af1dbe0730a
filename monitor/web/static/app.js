// Small progressive enhancements; every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // "Select all" checkbox for bulk actions: <input type="checkbox" data-select-all="name">
  document.querySelectorAll("input[data-select-all]").forEach((box) => {
    box.addEventListener("change", () => {
      const name = box.getAttribute("data-select-all");
      document.querySelectorAll(`input[type=checkbox][name="${name}"]`).forEach((other) => {
        other.checked = box.checked;
      });
    });
  });
  // Ask before destructive actions: <button data-confirm="text">
  document.querySelectorAll("[data-confirm]").forEach((el) => {
    el.addEventListener("click", (event) => {
      if (!window.confirm(el.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
  // Filters that apply on change: <select data-autosubmit>
  document.querySelectorAll("[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form && el.form.requestSubmit());
  });
});
