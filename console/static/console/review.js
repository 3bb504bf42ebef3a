// A review queue's item (console/evals/templates/evals/queue_item.html): keys 1-9 pick
// the nth choice of the highlighted score field ([data-active]) and move the highlight
// to the next field; Enter submits (then the server opens the next item); s skips;
// c focuses the comment. Keys typed in a text field are the field's own (Enter in a
// one-line field submits, as a form does; Escape leaves the field). Without
// JavaScript the form works by mouse and Tab.
(function () {
  "use strict";

  function start() {
    const form = document.querySelector("[data-queue-review]");
    if (!form) return;
    const fields = Array.from(form.querySelectorAll("[data-score-field]"));

    function activate(field) {
      fields.forEach((f) => f.removeAttribute("data-active"));
      if (field) field.setAttribute("data-active", "");
    }

    fields.forEach((field) => {
      field.addEventListener("focusin", () => activate(field));
    });

    function typing(target) {
      if (!target || !target.closest) return false;
      const input = target.closest("textarea, select, input");
      if (!input) return false;
      return !(input.type === "radio" || input.type === "checkbox");
    }

    function submitWith(name) {
      const button = form.querySelector('button[data-key="' + name + '"]');
      if (button && !button.disabled) {
        if (form.requestSubmit) form.requestSubmit(button);
        else button.click();
      }
    }

    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
      if (event.key === "Escape" && typing(event.target)) {
        event.target.blur();
        return;
      }
      if (typing(event.target)) return;
      if (event.key === "Enter" && event.target.closest && event.target.closest("button, a")) return;
      const key = event.key.toLowerCase();
      if (/^[1-9]$/.test(key)) {
        const active = form.querySelector("[data-score-field][data-active]") || fields[0];
        if (!active) return;
        const choices = active.querySelectorAll('input[type="radio"]');
        const choice = choices[Number(key) - 1];
        if (!choice || choice.disabled) return;
        event.preventDefault();
        choice.checked = true;
        choice.dispatchEvent(new Event("change", { bubbles: true }));
        const next = fields[fields.indexOf(active) + 1];
        if (next) activate(next);
        return;
      }
      if (key === "enter") {
        event.preventDefault();
        submitWith("enter");
      } else if (key === "s") {
        event.preventDefault();
        submitWith("s");
      } else if (key === "c") {
        const comment = form.querySelector("textarea[name=comment]");
        if (comment && !comment.disabled) {
          event.preventDefault();
          comment.focus();
        }
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
