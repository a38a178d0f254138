// The case page: show the internal-reason picker for internal items, the R8.2b fields for
// complex answers, answer templates, and add split parts. Loaded as a file: the CSP forbids inline scripts.
"use strict";
document.addEventListener("change", (event) => {
  // An answer template fills an empty answer, or is added below what is written.
  if (event.target instanceof HTMLSelectElement && event.target.classList.contains("answer-template")) {
    const area = document.getElementById(event.target.dataset.target);
    const chosen = event.target.value;
    if (chosen) area.value = area.value.trim() ? `${area.value.trim()}\n${chosen}` : chosen;
    event.target.selectedIndex = 0;
    area.focus();
    return;
  }
  const input = event.target;
  if (!(input instanceof HTMLInputElement)) return;
  if (input.type === "radio" && (input.dataset.toggleOn || input.dataset.toggleOff)) {
    const box = document.getElementById(input.dataset.toggleOn || input.dataset.toggleOff);
    const on = Boolean(input.dataset.toggleOn) && input.checked;
    box.hidden = !on;
    for (const field of box.querySelectorAll("select, input, textarea")) {
      field.disabled = !on;
      field.required = on;
      if (!on) field.value = "";
    }
  }
  if (input.classList.contains("complex-toggle")) {
    const box = document.getElementById(input.dataset.target);
    box.hidden = !input.checked;
    for (const field of box.querySelectorAll("textarea")) field.required = input.checked;
  }
});
document.addEventListener("click", (event) => {
  const button = event.target;
  if (!(button instanceof HTMLButtonElement) || button.id !== "add-part") return;
  const parts = document.getElementById("split-parts");
  const n = parts.querySelectorAll("textarea").length + 1;
  const label = document.createElement("label");
  label.htmlFor = `part-${n}`;
  label.textContent = `事项 ${n}`;
  const area = document.createElement("textarea");
  area.name = "parts[]";
  area.id = `part-${n}`;
  area.rows = 2;
  parts.append(label, area);
  area.focus();
});
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-toggle-on]")) {
    const target = document.getElementById(box.dataset.toggleOn);
    if (target && !box.checked) for (const f of target.querySelectorAll("select")) f.disabled = true;
  }
});
