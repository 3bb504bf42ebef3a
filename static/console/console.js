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
