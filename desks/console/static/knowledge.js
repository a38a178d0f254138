// The console's knowledge base and the chase of an earlier item (咨询直办, 催办). The agent
// searches policy answers and published answers; "用此解答" copies one into the call form's
// consultation part (answer and source), to read out and close on the call. In the caller
// panel, an open earlier item gets "催办此件": the chase is recorded on it, no new item.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const box = $("kb-q");
  if (!box) return;
  const results = $("kb-results"), status = $("kb-status"), form = $("kb-form");
  const token = document.querySelector('meta[name="csrf-token"]').content;

  function use(hit) {
    $("answer").value = hit.body;
    $("kb_source").value = `${hit.kind}：${hit.title}（${hit.source}）`;
    $("consult").open = true;
    $("consult-submit").focus();
  }

  async function find() {
    const q = box.value.trim(), category = $("category") ? $("category").value : "";
    if (!q && !category) { results.replaceChildren(); status.textContent = ""; return; }
    const url = `/desk/console/knowledge?q=${encodeURIComponent(q)}&category=${encodeURIComponent(category)}`;
    const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    const body = await response.json().catch(() => ({hits: []}));
    const hits = body.hits || [];
    status.textContent = hits.length ? `找到 ${hits.length} 条：` : "没有找到，请换个说法，或按一般诉求登记。";
    results.replaceChildren(...hits.map((hit, index) => {
      const li = document.createElement("li");
      const head = document.createElement("div");
      head.className = "history-head";
      head.textContent = `${hit.kind} · ${hit.title} · ${hit.source} · 有效期至 ${hit.valid_until}`;
      const text = document.createElement("div");
      text.textContent = hit.body.length > 120 ? `${hit.body.slice(0, 120)}…` : hit.body;
      const button = document.createElement("button");
      button.type = "button"; button.className = "small"; button.id = `kb-use-${index}`;
      button.textContent = "用此解答";
      button.addEventListener("click", () => use(hit));
      li.append(head, text, button);
      return li;
    }));
  }
  let timer = 0;
  box.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(find, 300); });
  form.addEventListener("submit", (event) => { event.preventDefault(); find(); });

  // 催办: buttons the caller panel's script leaves on open items (data-urge="number").
  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-urge]") : null;
    if (!button) return;
    const note = $("text").value.trim() || "市民来电询问办理进度";
    const response = await fetch("/desk/console/urge", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify({number: button.dataset.urge, note}),
    });
    const body = await response.json().catch(() => ({}));
    const said = document.createElement("span");
    said.className = response.ok ? "urged" : "field-error";
    said.textContent = response.ok ? body.message : (body.error || "催办未能登记");
    button.replaceWith(said);
  });
})();
