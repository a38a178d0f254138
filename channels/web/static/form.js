// The citizen form checks, before it is sent, what the server would refuse: a browser cannot
// put a chosen photo back into a form that comes back with an error, so the citizen is told
// here, with the photo still attached. The server checks everything again; this only spares
// the round trip. Served as a file: the CSP forbids inline script.
"use strict";
(() => {
  const form = document.getElementById("citizen-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const PHONE = "请填写 11 位手机号码（如 13805912345），或带区号的固定电话（如 0591-87654321）";
  const CONTACT = "请至少留下手机号码或电子邮箱中的一项，以便我们答复您";
  const EMAIL = "电子邮箱格式不正确：请检查是否漏写了 @ 或 @ 后面的部分";

  function show(field, message) {
    const target = $(field), note = $(`${field}-error`);
    note.textContent = message;
    note.hidden = !message;
    if (message) target.setAttribute("aria-invalid", "true"); else target.removeAttribute("aria-invalid");
  }

  function problems() {
    const found = [];
    const text = $("text").value.trim(), phone = $("phone").value.trim(), email = $("email").value.trim();
    found.push(["text", text ? "" : "请填写诉求内容：发生了什么、在哪里、您希望怎样解决"]);
    const digits = phone.replace(/\D/g, "");
    let phoneProblem = phone && (digits.length < 7 || digits.length > 15) ? PHONE : "";
    const emailProblem = email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email) ? EMAIL : "";
    if (!phone && !email) phoneProblem = CONTACT;
    found.push(["phone", phoneProblem], ["email", emailProblem]);
    const chosen = form.querySelector("input[name=public]:checked");
    found.push(["public", chosen ? "" : "请选择“同意公开”或“不同意公开”"]);
    return found;
  }

  form.addEventListener("submit", (event) => {
    const found = problems();
    for (const [field, message] of found) show(field, message);
    const first = found.find(([, message]) => message);
    if (first) {
      event.preventDefault();
      const target = first[0] === "public" ? form.querySelector("input[name=public]") : $(first[0]);
      target.focus();
    }
  });
  // Once a field was marked, re-check it as the citizen corrects it.
  for (const id of ["text", "phone", "email"]) {
    $(id).addEventListener("input", () => {
      if (!$(`${id}-error`).hidden) for (const [f, m] of problems()) if (f === id || (id !== "text" && f !== "text" && f !== "public")) show(f, m);
    });
  }
})();
