// Live captions on the Space page (issue 17): a toggle for the viewer, the host's switch, "don't caption
// me", and the captions themselves in an ARIA live region. Kept apart from space.js on purpose: space.js
// only calls captionsSnapshot(data) and captionsEvent(ev).
const { api, toast } = window.Spaces;
const LINES = 3;

let ui = null;
let state = { on: false, show: localStorage.getItem("spaces.captions") !== "off", lines: [], partial: null, isHost: false };

function build() {
  const root = document.getElementById("space");
  if (!root || ui) return;
  const box = document.createElement("section");
  box.className = "captions";
  box.setAttribute("aria-label", "Live captions");
  box.innerHTML = `
    <div class="captions-controls">
      <button type="button" class="btn" id="captions-toggle" aria-pressed="false">Captions</button>
      <button type="button" class="btn" id="captions-host" hidden>Turn captions on for everyone</button>
      <label><input type="checkbox" id="captions-decline"> Don't caption my voice</label>
    </div>
    <div id="captions-lines" class="captions-lines" role="log" aria-live="polite" aria-relevant="additions text" aria-atomic="false"></div>
    <p id="captions-partial" class="captions-partial" aria-hidden="true"></p>`;
  root.appendChild(box);
  ui = {
    box,
    toggle: box.querySelector("#captions-toggle"),
    host: box.querySelector("#captions-host"),
    decline: box.querySelector("#captions-decline"),
    lines: box.querySelector("#captions-lines"),
    partial: box.querySelector("#captions-partial"),
  };
  ui.toggle.addEventListener("click", () => {
    state.show = !state.show;
    localStorage.setItem("spaces.captions", state.show ? "on" : "off");
    render();
  });
  ui.host.addEventListener("click", async () => {
    try { await api("POST", `/api/v1/spaces/${root.dataset.spaceId}/captions`, { on: !state.on }); }
    catch (e) { toast(e.message); }
  });
  ui.decline.addEventListener("change", async () => {
    try { await api("PUT", `/api/v1/spaces/${root.dataset.spaceId}/captions/consent`, { captions: !ui.decline.checked }); }
    catch (e) { ui.decline.checked = !ui.decline.checked; toast(e.message); }
  });
}

function speaker(c) { return c.display_name || c.username || "Speaker"; }

function render() {
  if (!ui) return;
  ui.toggle.setAttribute("aria-pressed", String(state.show && state.on));
  ui.toggle.disabled = !state.on;
  ui.toggle.textContent = state.on ? (state.show ? "Hide captions" : "Show captions") : "Captions off";
  ui.host.hidden = !state.isHost;
  ui.host.textContent = state.on ? "Turn captions off for everyone" : "Turn captions on for everyone";
  const visible = state.on && state.show;
  ui.lines.hidden = !visible;
  ui.partial.hidden = !visible;
  ui.lines.replaceChildren(...state.lines.map((c) => {
    const p = document.createElement("p");
    const who = document.createElement("strong");
    who.textContent = `${speaker(c)}: `;
    p.append(who, document.createTextNode(c.text));
    return p;
  }));
  ui.partial.textContent = state.partial ? `${speaker(state.partial)}: ${state.partial.text}…` : "";
}

export function captionsSnapshot(data) {
  build();
  const space = data.space || {};
  const me = Number(document.body.dataset.userId);
  state.on = !!space.captions;
  state.isHost = space.host_id === me;
  state.lines = (data.captions || []).slice(-LINES);
  state.partial = null;
  const mine = (data.stage || []).find((m) => m.user_id === me);
  if (ui && mine) ui.decline.checked = !!mine.captions_declined;
  render();
}

// Returns true if the event was a captions event (handled here).
export function captionsEvent(ev) {
  const d = ev.data || {};
  if (ev.type === "captions.updated") { state.on = !!d.captions; if (!state.on) { state.lines = []; state.partial = null; } render(); return true; }
  if (ev.type !== "caption") return false;
  if (d.final) {
    state.lines = [...state.lines, d].slice(-LINES);
    if (state.partial && state.partial.phrase === d.phrase) state.partial = null;
  } else {
    state.partial = d; // partials are shown but not announced (aria-hidden): the final line is
  }
  render();
  return true;
}
