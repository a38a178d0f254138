// Desk forms with data-api="/api/…" post their fields as JSON to the API with the
// session's CSRF token, then reload (or follow data-next); errors show in #flash.
"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
  event.preventDefault();
  const body = {};
  for (const [name, value] of new FormData(form).entries()) {
    if (name === "csrf") continue;
    const field = form.elements[name];
    if (field && field.type === "checkbox") body[name] = field.checked;
    else if (name.endsWith("[]")) (body[name.slice(0, -2)] ||= []).push(value);
    else if (value === "true" || value === "false") body[name] = value === "true";
    else body[name] = value;
  }
  for (const box of form.querySelectorAll("input[type=checkbox]")) body[box.name] = box.checked;
  const flash = document.getElementById("flash");
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const response = await fetch(form.dataset.api, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
    body: JSON.stringify(body),
  });
  if (response.ok) {
    if (form.dataset.next) window.location.assign(form.dataset.next);
    else window.location.reload();
    return;
  }
  let message = `${response.status}`;
  try { message = (await response.json()).message || message; } catch (e) { /* not JSON */ }
  flash.textContent = message;
  flash.className = "flash error";
  flash.hidden = false;
  window.scrollTo(0, 0);
});
