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
      if (form && form.id !== "kb-form") { event.preventDefault(); form.requestSubmit(); }
    }
  });

  // The district is typed, not scrolled to (永泰县 was 12 presses of ↓): its name, the start
  // of it (永泰) or its word (yongtai) settles on one district when the field is left; the
  // server resolves the same way (desks/console/form.py resolve_district). While the agent
  // has not chosen one, a district named in the text (仓山区…) fills it in, marked as such.
  const district = $("district");
  if (district) {
    const options = [...document.querySelectorAll("#district-list option")]
      .map((o) => ({name: o.value, key: o.dataset.key || ""}));
    const resolve = (raw) => {
      const value = raw.trim(), lowered = value.toLowerCase();
      if (!value || options.some((o) => o.name === value)) return value;
      const fits = options.filter((o) => o.name.startsWith(value) || o.key === lowered);
      return fits.length === 1 ? fits[0].name : value;
    };
    const auto = $("district-auto");
    let chosenByHand = Boolean(district.value);
    district.addEventListener("input", () => { chosenByHand = Boolean(district.value); auto.hidden = true; });
    district.addEventListener("change", () => { district.value = resolve(district.value); });
    district.addEventListener("blur", () => { district.value = resolve(district.value); });
    const textBox = $("text");
    const named = () => {
      if (chosenByHand) return;
      const words = textBox.value;
      const found = options.find((o) => words.includes(o.name))
        || options.find((o) => o.name.length > 2 && words.includes(o.name.slice(0, -1)));
      district.value = found ? found.name : "";
      auto.hidden = !found;
    };
    if (textBox) { textBox.addEventListener("input", named); named(); }
  }
  // A form sent back with errors: the cursor goes to the first field marked wrong.
  const wrong = document.querySelector("form [aria-invalid=true]");
  if (wrong) wrong.focus();

  const form = $("call-form");
  if (!form) return;  // the fax pages only need the shortcuts above
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
      head.append(number, ` ${item.date} · ${item.status} `);
      if (item.open) {  // a repeat caller chasing it: recorded on it, no new item (knowledge.js)
        const chase = document.createElement("button");
        chase.type = "button"; chase.className = "small secondary"; chase.dataset.urge = item.number;
        chase.textContent = "催办此件";
        head.append(chase);
      }
      const body_ = document.createElement("div");
      body_.textContent = item.text;  // textContent: a citizen's words never become markup
      li.append(head, body_);
      historyList.append(li);
    }
  }
  caller.addEventListener("input", debounce(loadHistory, 500));
  caller.addEventListener("change", loadHistory);

  // Drafts: a half-typed call is never cleared silently. F2 and a popped call park it in
  // this tab's sessionStorage (gone when the tab closes: personal data stays off the disk)
  // and list it under "暂存的未登记来电"; restoring it brings back its form id, so
  // submitting it twice still makes one case.
  const DRAFTS = "console-drafts";
  const KEPT = ["form_id", "caller", "name", "text", "category", "district", "public", "location",
                "reply", "reply_to"];
  const TYPED = ["name", "text", "location", "reply_to", "category", "district"];
  const draftNote = $("draft-note"), draftList = $("draft-list"), draftBox = $("drafts");
  const loadDrafts = () => { try { return JSON.parse(sessionStorage.getItem(DRAFTS) || "[]"); } catch (e) { return []; } };
  const saveDrafts = (list) => { sessionStorage.setItem(DRAFTS, JSON.stringify(list)); showDrafts(); };
  const hasDraft = () => TYPED.some((name) => form.elements[name].value.trim());
  function uuid4() {  // crypto.randomUUID needs a secure context; getRandomValues does not
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  function park() {
    if (!hasDraft()) return false;
    const draft = {at: new Date().toLocaleTimeString("zh-CN", {hour: "2-digit", minute: "2-digit"})};
    for (const name of KEPT) draft[name] = form.elements[name].value;
    saveDrafts([draft, ...loadDrafts()]);
    return true;
  }
  function showDrafts() {
    const list = loadDrafts();
    draftBox.hidden = list.length === 0;
    draftList.replaceChildren(...list.map((draft, index) => {
      const li = document.createElement("li");
      const head = document.createElement("div");
      head.className = "history-head";
      head.textContent = `${draft.at} · ${draft.caller || "未填号码"}`;
      const words = document.createElement("div");
      words.textContent = (draft.text || "（未填内容）").slice(0, 60);  // textContent: never markup
      const restore = document.createElement("button");
      restore.type = "button"; restore.className = "small"; restore.id = `draft-restore-${index}`;
      restore.textContent = "恢复到登记表";
      restore.addEventListener("click", () => restoreDraft(index));
      const drop = document.createElement("button");
      drop.type = "button"; drop.className = "small secondary"; drop.id = `draft-drop-${index}`;
      drop.textContent = "放弃";
      drop.addEventListener("click", () => {
        if (confirm(`放弃 ${draft.caller || "未填号码"} 的暂存内容？放弃后无法恢复。`)) {
          saveDrafts(loadDrafts().filter((_, i) => i !== index));
        }
      });
      li.append(head, words, restore, " ", drop);
      return li;
    }));
  }
  function tell(message) { draftNote.textContent = message; draftNote.hidden = !message; }

  function clearForm() {
    for (const field of form.querySelectorAll("input:not([type=hidden]), textarea")) field.value = "";
    for (const select of form.querySelectorAll("select")) select.selectedIndex = 0;
    for (const old of document.querySelectorAll(".field-error, #form-errors, #form-error, #receipt")) old.remove();
    for (const marked of form.querySelectorAll("[aria-invalid]")) marked.removeAttribute("aria-invalid");
    form.elements.form_id.value = uuid4();  // a new call is a new case, never the parked one's
    form.elements.district.dispatchEvent(new Event("input"));  // free for the text to fill again
    live.hidden = true;
    shownFor = "";
    historyList.replaceChildren();
    historyStatus.textContent = "输入来电号码后显示此号码此前的诉求。";
  }
  function newCall(number) {
    const parked = park();
    clearForm();
    tell(parked ? "上一通来电尚未登记，内容已暂存在右侧“暂存的未登记来电”，可随时恢复。" : "");
    if (number) {
      caller.value = number;
      loadHistory();
      $("name").focus();
    } else {
      caller.focus();
    }
  }
  function restoreDraft(index) {
    const drafts = loadDrafts();
    const draft = drafts[index];
    if (!draft) return;
    const rest = drafts.filter((_, i) => i !== index);
    sessionStorage.setItem(DRAFTS, JSON.stringify(rest));
    const parked = park();
    clearForm();
    for (const name of KEPT) if (name in draft) form.elements[name].value = draft[name];
    tell(parked ? "已恢复暂存的来电；刚才表上的内容也已暂存。" : "已恢复暂存的来电。");
    showDrafts();
    loadHistory();
    screen();
    text.focus();
  }
  $("new-call").addEventListener("click", () => newCall(""));
  document.addEventListener("keydown", (event) => {
    if (event.key === "F2") { event.preventDefault(); newCall(""); }
  });
  showDrafts();
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
  if (text.value.trim() && live.hidden) screen();

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
      // Other parts of the page (agent.js: the agent's status) listen to the same socket.
      document.dispatchEvent(new CustomEvent("console-message", {detail: message}));
      if (message.type === "call" && typeof message.caller === "string") {
        newCall(message.caller);
        document.title = `来电 ${message.caller}`;
        // Other panels (the emergency key, emergency.js) act on the live call too.
        document.dispatchEvent(new CustomEvent("hotline:call", {detail: message}));
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
