// The agent's side of the phone line on the console: their phone's SIP address, their status
// (available / on a call / away, F9 or the button toggles available and away) and the caller
// of the call the line is ringing them with. Status changes arrive over the console's
// websocket (console.js re-dispatches every message as a "console-message" event); a poll
// every 20 s catches what a dropped socket missed (a lapsed lease after a crash).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const panel = $("agent-panel");
  if (!panel) return;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const status = $("agent-status"), sip = $("agent-sip"), error = $("agent-error");
  const callLine = $("agent-call"), caller = $("agent-caller");

  function show(state) {
    status.textContent = state.text;
    status.dataset.status = state.status || "";
    if (typeof state.sip_uri === "string" && document.activeElement !== sip) sip.value = state.sip_uri;
    if (typeof state.sip_uri === "string") rememberPhone(Boolean(state.sip_uri));
    if (state.status !== "on_call" && !callLine.hidden) callLine.firstChild.textContent = "上一通来电：";
  }
  // The sign-in page asks for the phone only of agents this browser has not seen with one
  // (desk.js reads it); the address itself stays on the server.
  function rememberPhone(known) {
    const key = `desk-phone:${panel.dataset.user || ""}`;
    try {
      if (known) localStorage.setItem(key, "1"); else localStorage.removeItem(key);
    } catch (_) { /* storage off: the sign-in page simply keeps asking */ }
  }
  function fail(message) { error.textContent = message; error.hidden = !message; }

  async function send(body) {
    const response = await fetch("/desk/console/agent", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token, Accept: "application/json"},
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { fail(answer.error || "未能保存，请稍后再试"); return; }
    fail("");
    show(answer);
  }
  async function refresh() {
    const response = await fetch("/desk/console/agent", {credentials: "same-origin",
                                                        headers: {Accept: "application/json"}});
    if (response.ok) show(await response.json());
  }

  $("agent-phone").addEventListener("submit", (event) => {
    event.preventDefault();
    send({sip_uri: sip.value.trim()});
  });
  $("agent-toggle").addEventListener("click", () => send({status: "toggle"}));
  document.addEventListener("keydown", (event) => {
    if (event.key === "F9") { event.preventDefault(); send({status: "toggle"}); }
  });
  document.addEventListener("console-message", (event) => {
    const message = event.detail;
    if (message.type === "agent_status") show(message);
    if (message.type === "call" && typeof message.caller === "string") {
      callLine.firstChild.textContent = "当前来电：";
      caller.textContent = message.caller;  // textContent: never markup
      callLine.hidden = false;
    }
  });
  refresh();
  setInterval(refresh, 20000);
})();
