// The guardrail form: choosing another kind puts that kind's example in the params
// box, unless the box holds something of the user's own (the form works without this).
document.addEventListener("change", (event) => {
  const radio = event.target.closest("#guardrail-form input[name=kind]");
  if (!radio) return;
  const form = radio.form;
  const params = form.querySelector("textarea[name=params]");
  const examples = [...form.querySelectorAll("[data-kind-example]")];
  const current = params.value.trim();
  const untouched = !current || current === "{}" || examples.some((pre) => pre.textContent.trim() === current);
  const chosen = examples.find((pre) => pre.dataset.kindExample === radio.value);
  if (untouched && chosen) params.value = chosen.textContent;
});
