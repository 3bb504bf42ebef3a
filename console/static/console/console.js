// Small progressive enhancements for the console (everything works without them).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  source.select();
  try {
    await navigator.clipboard.writeText(source.value);
  } catch {
    document.execCommand("copy"); // older browsers, or http without clipboard access
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// What is shown once (a new key) is scrolled to and focused, selected for copying: the
// swap that brings it keeps the scroll position, which left it above the fold.
function reveal(root) {
  const el = root.querySelector("[data-reveal]");
  if (!el) return;
  el.scrollIntoView({ block: "center" });
  el.focus({ preventScroll: true });
  if (el.select) el.select();
}
document.addEventListener("DOMContentLoaded", () => reveal(document));
document.addEventListener("htmx:afterSettle", (event) => reveal(event.detail.elt));

// The live tail: show whether the WebSocket is connected.
document.addEventListener("htmx:wsOpen", (e) => e.detail.elt.classList.add("connected"));
document.addEventListener("htmx:wsClose", (e) => e.detail.elt.classList.remove("connected"));

// Log detail: search within a body. In a stream, only the events containing the text
// stay listed; in a JSON or text body, matches are marked and the first scrolled to.
function findInBody(input) {
  const body = input.closest("details.body");
  const query = input.value.trim().toLowerCase();
  const count = body.querySelector(".body-search-count");
  const events = body.querySelectorAll(".events > li");
  if (events.length) {
    let shown = 0;
    events.forEach((li) => {
      const hit = !query || li.textContent.toLowerCase().includes(query);
      li.hidden = !hit;
      if (hit) shown += 1;
    });
    count.textContent = query ? `${shown} of ${events.length} events` : "";
    return;
  }
  const pre = body.querySelector(".body-text");
  if (!pre) return;
  if (pre.dataset.original === undefined) pre.dataset.original = pre.textContent;
  const text = pre.dataset.original;
  pre.textContent = "";
  if (!query) { pre.textContent = text; count.textContent = ""; return; }
  const lower = text.toLowerCase();
  let at = 0, found = 0, first = null;
  for (let hit = lower.indexOf(query); hit !== -1; hit = lower.indexOf(query, hit + query.length)) {
    pre.append(text.slice(at, hit));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(hit, hit + query.length);
    pre.append(mark);
    first = first || mark;
    found += 1;
    at = hit + query.length;
  }
  pre.append(text.slice(at));
  count.textContent = found === 1 ? "1 match" : `${found} matches`;
  if (first) pre.scrollTop = first.offsetTop - pre.offsetTop - 40;
}

let findTimer = null;
document.addEventListener("input", (event) => {
  if (!event.target.matches(".body-search")) return;
  clearTimeout(findTimer);
  findTimer = setTimeout(() => findInBody(event.target), 150);
});

// Keys: the route picker's filter and its count of ticked routes.
function refreshRoutePicker(picker) {
  const ticked = picker.querySelectorAll("input[type=checkbox]:checked").length;
  const count = picker.querySelector(".route-count");
  if (count) count.textContent = ticked ? `(${ticked} selected)` : "(none: every route)";
}
document.addEventListener("input", (event) => {
  if (!event.target.matches(".route-filter")) return;
  const picker = event.target.closest(".route-picker");
  const query = event.target.value.trim().toLowerCase();
  picker.querySelectorAll(".route-option").forEach((label) => {
    label.hidden = Boolean(query) && !label.textContent.toLowerCase().includes(query);
  });
});
document.addEventListener("change", (event) => {
  const picker = event.target.closest(".route-picker");
  if (picker) refreshRoutePicker(picker);
});
// The filter must not submit the form on Enter.
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches(".route-filter")) event.preventDefault();
});
function refreshAllRoutePickers() { document.querySelectorAll(".route-picker").forEach(refreshRoutePicker); }
document.addEventListener("DOMContentLoaded", refreshAllRoutePickers);
document.addEventListener("htmx:afterSettle", refreshAllRoutePickers);

// Provider form: show the fields and help of the chosen kind only ([data-kinds] lists
// the kinds an element belongs to). Without this script every field shows.
// The add-model form holds the same fields (prefixed: new-kind) in .provider-fields.
const KIND_FORMS = "#provider-form, .provider-fields";
function showKindFields(form) {
  const select = form.querySelector("select[name=kind], select[name$='-kind']");
  if (!select) return;
  form.querySelectorAll("[data-kinds]").forEach((el) => {
    el.hidden = !el.dataset.kinds.split(" ").includes(select.value);
  });
}
document.addEventListener("change", (event) => {
  const form = event.target.matches("select[name=kind], select[name$='-kind']") && event.target.closest(KIND_FORMS);
  if (form) showKindFields(form);
});
function showAllKindFields() { document.querySelectorAll(KIND_FORMS).forEach(showKindFields); }
document.addEventListener("DOMContentLoaded", showAllKindFields);
document.addEventListener("htmx:afterSettle", showAllKindFields);

// Add model: the catalog's figures for the chosen model become the placeholders of the
// fields that override them (the server sends them; the inputs are never swapped).
document.addEventListener("htmx:afterSettle", (event) => {
  const line = event.detail.elt.querySelector && event.detail.elt.querySelector("[data-placeholders]");
  const form = line && line.closest("form");
  if (!form) return;
  for (const [name, text] of Object.entries(JSON.parse(line.dataset.placeholders))) {
    const input = form.querySelector(`[name="${name}"]`);
    if (input) input.placeholder = text;
  }
});

// Computed widths and offsets come as data-width / data-left (percent): the page's
// Content-Security-Policy allows no inline style attributes.
function applyDataSizes(root) {
  root.querySelectorAll("[data-width]").forEach((el) => { el.style.width = `${el.dataset.width}%`; });
  root.querySelectorAll("[data-left]").forEach((el) => { el.style.left = `${el.dataset.left}%`; });
}
document.addEventListener("DOMContentLoaded", () => applyDataSizes(document));
document.addEventListener("htmx:afterSettle", (event) => applyDataSizes(event.detail.elt));

// Oversized input: a form whose text is larger than the server takes (the body cap, or
// a field's maxlength) gets a field error before it is sent. Without this the browser
// cut a pasted text at maxlength silently, and the server's 400/413 was dropped by htmx.
// maxlength moves to data-maxlength so a paste stays whole and the error says why.
function keepPastesWhole(root) {
  root.querySelectorAll("input[maxlength], textarea[maxlength]").forEach((el) => {
    el.dataset.maxlength = el.getAttribute("maxlength");
    el.removeAttribute("maxlength");
  });
}
// Every field's error at once, from the server: the browser's own checks (required,
// min) stopped a form at its first problem and showed one bubble at a time.
function allErrorsAtOnce(root) {
  keepPastesWhole(root);
  root.querySelectorAll("form").forEach((form) => { form.noValidate = true; });
  if (root.matches && root.matches("form")) root.noValidate = true;
}
document.addEventListener("DOMContentLoaded", () => allErrorsAtOnce(document));
document.addEventListener("htmx:afterSettle", (event) => allErrorsAtOnce(event.detail.elt));

const encoder = new TextEncoder();
function sizeText(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}
function clearClientErrors(form) {
  form.querySelectorAll(".errors[data-client]").forEach((el) => {
    el.closest(".has-error")?.classList.remove("has-error");
    el.remove();
  });
}
function showFieldError(el, message) {
  const box = el.closest(".field");
  const note = document.createElement("div");
  note.className = "errors";
  note.setAttribute("role", "alert");
  note.dataset.client = "";
  note.textContent = message;
  if (box) {
    box.classList.add("has-error");
    box.querySelector(".errors")?.remove();
    const help = [...box.children].find((child) => child.matches("small.help"));
    if (help) box.insertBefore(note, help); else box.append(note);
  } else {
    el.insertAdjacentElement("afterend", note);
  }
}
// The first problem of each oversized field, or null when the form may be sent.
function oversized(form) {
  const cap = Number(form.dataset.textCap || document.body.dataset.formCap || 0);
  const fields = [...form.elements].filter((el) => el.name && typeof el.value === "string" && el.type !== "file");
  const problems = [];
  let total = 0, largest = null, largestSize = 0;
  for (const el of fields) {
    const size = encoder.encode(el.value).length;
    total += size;
    if (size > largestSize) { largest = el; largestSize = size; }
    const most = Number(el.dataset.maxlength || 0);
    if (cap && size > cap) {
      problems.push([el, `Too large: ${sizeText(size)} here, and a form takes at most ${sizeText(cap)}.`]);
    } else if (most && el.value.length > most) {
      problems.push([el, `At most ${most.toLocaleString()} characters (this has ${el.value.length.toLocaleString()}).`]);
    }
  }
  if (!problems.length && cap && total > cap && largest) {
    problems.push([largest, `Too large: the form has ${sizeText(total)}, at most ${sizeText(cap)}; shorten this field.`]);
  }
  return problems;
}
document.addEventListener("submit", (event) => {
  const form = event.target;
  clearClientErrors(form);
  const problems = oversized(form);
  if (!problems.length) return;
  event.preventDefault();
  event.stopImmediatePropagation(); // htmx listens on the form: it must not send it
  problems.forEach(([el, message]) => showFieldError(el, message));
  problems[0][0].focus();
}, true);
// A body the server still refused (a file, a cap set lower), or a change another user
// made at the same moment (409: nothing saved): say so on the form.
const REFUSED = {
  413: "Too large for the server: make this smaller.",
  400: "The server could not read this form (too large or malformed).",
  409: "Changed by someone else at the same moment: nothing was saved. Reload the page and try again.",
};
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  if (!(status in REFUSED)) return;
  const form = event.detail.elt.closest("form") || event.detail.elt;
  if (!(form instanceof HTMLFormElement) || form.querySelector(".errors[data-client]")) return;
  const target = [...form.elements].find((el) => el.type === "file" && el.files.length) ||
    [...form.elements].filter((el) => el.name && typeof el.value === "string" && el.type !== "hidden")
      .sort((a, b) => b.value.length - a.value.length)[0] ||
    form.querySelector("button, [type=submit]");
  if (target) showFieldError(target, REFUSED[status]);
});

// The top bar's sections: one dropdown open at a time, closed by a click elsewhere or Esc.
function closeSections(except) {
  document.querySelectorAll(".nav-section[open]").forEach((el) => { if (el !== except) el.open = false; });
}
document.addEventListener("click", (event) => closeSections(event.target.closest(".nav-section")));
document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeSections(null); });
