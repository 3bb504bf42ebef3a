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
function showKindFields(form) {
  const select = form.querySelector("select[name=kind]");
  if (!select) return;
  form.querySelectorAll("[data-kinds]").forEach((el) => {
    el.hidden = !el.dataset.kinds.split(" ").includes(select.value);
  });
}
document.addEventListener("change", (event) => {
  if (event.target.matches("#provider-form select[name=kind]")) showKindFields(event.target.form);
});
function showAllKindFields() { document.querySelectorAll("#provider-form").forEach(showKindFields); }
document.addEventListener("DOMContentLoaded", showAllKindFields);
document.addEventListener("htmx:afterSettle", showAllKindFields);

// Computed widths and offsets come as data-width / data-left (percent): the page's
// Content-Security-Policy allows no inline style attributes.
function applyDataSizes(root) {
  root.querySelectorAll("[data-width]").forEach((el) => { el.style.width = `${el.dataset.width}%`; });
  root.querySelectorAll("[data-left]").forEach((el) => { el.style.left = `${el.dataset.left}%`; });
}
document.addEventListener("DOMContentLoaded", () => applyDataSizes(document));
document.addEventListener("htmx:afterSettle", (event) => applyDataSizes(event.detail.elt));
