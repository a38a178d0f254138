// Desk forms with data-api="/api/…" post their fields as JSON to the API with the
// session's CSRF token, then reload (or follow data-next); errors show in #flash, and
// success says so on the page that follows (kept in sessionStorage across the reload).
// Rule IDs in a refusal ("R8.2c: …") go into the message's tooltip, not its words.
"use strict";
const DONE_KEY = "desk-done";
function showFlash(message, kind, rules) {
  const flash = document.getElementById("flash");
  if (!flash) return;
  flash.textContent = message;
  flash.className = `flash ${kind}`;
  flash.setAttribute("role", kind === "error" ? "alert" : "status");
  if (rules.length) flash.title = `依据规定 ${rules.join("、")}`; else flash.removeAttribute("title");
  flash.hidden = false;
}
// The sign-in form's phone field (agents): hidden for a username whose console this browser
// saw with a stored phone (agent.js remembers it), with a button to change it anyway.
function loginPhone() {
  const field = document.getElementById("login-phone"), known = document.getElementById("login-phone-known");
  const user = document.getElementById("username"), sip = document.getElementById("login-sip");
  if (!field || !known || !user || !sip) return;
  let changing = Boolean(sip.value);
  const update = () => {
    let saved = false;
    try { saved = localStorage.getItem(`desk-phone:${user.value.trim()}`) === "1"; } catch (_) { saved = false; }
    const ask = changing || !saved;
    field.hidden = !ask;
    known.hidden = ask;
  };
  user.addEventListener("input", update);
  document.getElementById("login-phone-change").addEventListener("click", () => {
    changing = true; update(); sip.focus();
  });
  update();
}
document.addEventListener("DOMContentLoaded", () => {
  loginPhone();
  const done = sessionStorage.getItem(DONE_KEY);
  if (done) { sessionStorage.removeItem(DONE_KEY); showFlash(done, "ok", []); }
  // A queue refreshes itself, but never under someone typing or choosing a filter.
  const stamp = document.querySelector("[data-refresh]");
  if (stamp) {
    const every = Math.max(5, Number(stamp.dataset.refresh) || 60) * 1000;
    setInterval(() => {
      const busy = document.activeElement && document.activeElement.matches("input, select, textarea");
      if (document.visibilityState === "visible" && !busy) window.location.reload();
    }, every);
  }
});
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
  const token = document.querySelector('meta[name="csrf-token"]').content;
  // A second button may post the same fields elsewhere (受理 / 受理并交办).
  const api = (event.submitter && event.submitter.dataset.api) || form.dataset.api;
  const response = await fetch(api, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
    body: JSON.stringify(body),
  });
  if (response.ok) {
    const button = event.submitter || form.querySelector("button[type=submit]");
    const what = (button ? button.textContent : "").replace(/\s*\(.*\)\s*$/, "").trim();
    const done = (button && button.dataset.done) || form.dataset.done;
    sessionStorage.setItem(DONE_KEY, done || (what ? `已完成：${what}` : "已完成"));
    if (form.dataset.next) window.location.assign(form.dataset.next);
    else window.location.reload();
    return;
  }
  let message = `${response.status}`;
  try { message = (await response.json()).message || message; } catch (e) { /* not JSON */ }
  const rules = [];
  message = message.replace(/R\d+(?:\.\d+[a-z]?)?\s*[:：]\s*/g, (m) => { rules.push(m.replace(/[:：\s]/g, "")); return ""; });
  showFlash(message, "error", rules);
  window.scrollTo(0, 0);
});
