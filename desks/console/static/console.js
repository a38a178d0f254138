// The agent console: Ctrl+Enter submits, F2 starts a new call, the caller panel shows the
// number's earlier cases, the live emergency hint follows the text, and the websocket pops
// calls announced by the phone channel. Served as a file: the CSP forbids inline script.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);

  // Ctrl+Enter (or Cmd+Enter) submits the form the cursor is in, on every console page.
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const form = event.target instanceof Element ? event.target.closest("form") : null;
      if (form) { event.preventDefault(); form.requestSubmit(); }
    }
  });

  const form = $("call-form");
  if (!form) return;  // the fax pages only need the shortcut above
  const caller = $("caller"), text = $("text"), historyList = $("history");
  const historyStatus = $("history-status"), live = $("live-emergency");
  let submitted = false;
  form.addEventListener("submit", (event) => {
    // One press is one case; the form id makes a second press harmless anyway.
    if (submitted) { event.preventDefault(); return; }
    submitted = true;
    $("submit").disabled = true;
  });

  const debounce = (fn, ms) => {
    let timer = 0;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  };

  async function getJson(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    return {ok: response.ok, body: await response.json().catch(() => ({}))};
  }

  // The caller panel: the number's earlier cases (repeats matter, R8.5).
  let shownFor = "";
  async function loadHistory() {
    const phone = caller.value.trim();
    if (phone.replace(/\D/g, "").length < 7 || phone === shownFor) return;
    shownFor = phone;
    historyStatus.textContent = "查询中…";
    const {ok, body} = await getJson(`/desk/console/history?phone=${encodeURIComponent(phone)}`);
    historyList.replaceChildren();
    if (!ok) { historyStatus.textContent = body.error || "查询失败"; return; }
    historyStatus.textContent = body.total
      ? `${body.phone} 此前共有 ${body.total} 件诉求${body.total > body.cases.length ? `，显示最近 ${body.cases.length} 件` : ""}：`
      : `${body.phone} 此前没有诉求记录。`;
    for (const item of body.cases) {
      const li = document.createElement("li");
      const head = document.createElement("div");
      head.className = "history-head";
      const number = document.createElement("a");  // a new tab: the call form stays as typed
      number.href = `/desk/cases/${encodeURIComponent(item.number)}`;
      number.target = "_blank";
      number.rel = "noopener";
      number.className = "case-link";
      number.textContent = item.number;
      head.append(number, ` ${item.date} · ${item.status}`);
      const body_ = document.createElement("div");
      body_.textContent = item.text;  // textContent: a citizen's words never become markup
      li.append(head, body_);
      historyList.append(li);
    }
  }
  caller.addEventListener("input", debounce(loadHistory, 500));
  caller.addEventListener("change", loadHistory);

  function newCall(number) {
    for (const field of form.querySelectorAll("input:not([type=hidden]), textarea")) field.value = "";
    for (const select of form.querySelectorAll("select")) select.selectedIndex = 0;
    for (const old of document.querySelectorAll(".field-error, #form-errors, #receipt")) old.remove();
    live.hidden = true;
    shownFor = "";
    historyList.replaceChildren();
    historyStatus.textContent = "输入来电号码后显示此号码此前的诉求。";
    if (number) {
      caller.value = number;
      loadHistory();
      $("name").focus();
    } else {
      caller.focus();
    }
  }
  $("new-call").addEventListener("click", () => newCall(""));
  document.addEventListener("keydown", (event) => {
    if (event.key === "F2") { event.preventDefault(); newCall(""); }
  });
  if (caller.value) loadHistory();

  // The live R3.8 hint: the agent sees the banner while the caller is still on the line.
  const screen = debounce(async () => {
    const value = text.value.trim();
    if (!value) { live.hidden = true; return; }
    const {ok, body} = await getJson(`/desk/console/screen?text=${encodeURIComponent(value.slice(0, 2000))}`);
    live.hidden = !(ok && body.advice);
    if (ok && body.advice) live.textContent = `紧急提示：${body.advice}（请立即告知来电人）`;
  }, 400);
  text.addEventListener("input", screen);

  // The screen pop: {"type": "call", "caller": "+86…"} from the phone channel.
  const state = $("ws-state");
  let delay = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/desk/console/ws`);
    socket.addEventListener("open", () => {
      delay = 1000;
      state.textContent = "来电推送已连接";
      state.dataset.state = "on";
    });
    socket.addEventListener("message", (event) => {
      let message = {};
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "call" && typeof message.caller === "string") {
        newCall(message.caller);
        document.title = `来电 ${message.caller}`;
      }
    });
    socket.addEventListener("close", () => {
      state.textContent = "来电推送未连接（可按“新来电”手工登记）";
      state.dataset.state = "off";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  connect();
})();
