// The emergency key (R3.8): hands the live call the phone line bridged to this agent to
// 110 / 119 / 120 / 122. F8 arms the panel, then 1–4 (or a click) picks the service; the
// answer says at once whether the line took the caller or the caller is still with us.
// The live call (the screen pop's id) and the case registered during it survive the form's
// page reload in this tab's sessionStorage, so the transfer is logged on that case.
"use strict";
(() => {
  const LIVE = "console-live-call";
  const $ = (id) => document.getElementById(id);
  const panel = $("emergency-transfer");
  if (!panel) return;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const keys = [...panel.querySelectorAll("button[data-service]")];
  const result = $("emergency-result"), label = $("emergency-call");
  const load = () => { try { return JSON.parse(sessionStorage.getItem(LIVE) || "null"); } catch (e) { return null; } };
  const save = (live) => { sessionStorage.setItem(LIVE, JSON.stringify(live)); show(); };
  let busy = false;

  function show() {
    const live = load();
    panel.dataset.call = live ? live.call : "";
    label.textContent = live ? `当前来电 ${live.caller}${live.case ? ` · 案件 ${live.case}` : ""}` : "当前没有电话线路转来的来电";
    for (const key of keys) key.disabled = busy || !live;
  }
  function say(text, good) {
    result.textContent = text;
    result.className = good ? "ok" : "error";
    result.hidden = !text;
  }

  // A case registered on this page (the form's answer) belongs to the live call.
  const registered = $("case-number");
  const live = load();
  if (registered && live && !live.case) { live.case = registered.textContent.trim(); sessionStorage.setItem(LIVE, JSON.stringify(live)); }

  document.addEventListener("hotline:call", (event) => {
    const message = event.detail || {};
    if (typeof message.call === "string" && message.call) {
      save({call: message.call, caller: message.caller, case: ""});
      say("", true);
    } else {
      sessionStorage.removeItem(LIVE);
      show();
    }
  });

  async function transfer(service) {
    const current = load();
    if (!current || busy) return;
    busy = true; show();
    say(`正在转接 ${service}…（接通前请继续与来电人通话）`, true);
    let body = {};
    let ok = false;
    try {
      const response = await fetch("/desk/console/emergency", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": token, Accept: "application/json"},
        body: JSON.stringify({call: current.call, service, case: current.case || ""}),
      });
      body = await response.json().catch(() => ({}));
      ok = response.ok && body.ok === true;
    } catch (e) {
      body = {error: "网络错误，转接结果未知"};
    }
    busy = false;
    if (body.case) current.case = body.case;
    say(body.message || body.error || "转接失败", ok);
    if (ok) sessionStorage.removeItem(LIVE); else sessionStorage.setItem(LIVE, JSON.stringify(current));
    show();
  }
  for (const key of keys) key.addEventListener("click", () => transfer(key.dataset.service));

  let armed = false;
  document.addEventListener("keydown", (event) => {
    if (event.key === "F8") {
      event.preventDefault();
      armed = !keys[0].disabled;
      if (armed) { keys[0].focus(); say("按 1 转 110，2 转 119，3 转 120，4 转 122（Esc 取消）", true); }
      return;
    }
    if (!armed) return;
    const index = ["1", "2", "3", "4"].indexOf(event.key);
    if (index >= 0 || event.key === "Escape") {
      event.preventDefault();
      armed = false;
      if (index >= 0) transfer(keys[index].dataset.service); else say("", true);
    }
  });
  show();
})();
