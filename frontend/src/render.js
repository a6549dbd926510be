// Rendering: the stage, the hand queue, the controls, the status pills and the live region. Reads the
// shared state (page.js); changes nothing but the DOM.
import { $, esc, page, state, isHostTeam, onStage } from "./page.js";

export function status(text, cls) { const el = $("conn-status"); el.textContent = text; el.className = "pill " + (cls || ""); }
export function banner(text) { const el = $("banner"); el.textContent = text; el.hidden = !text; }
// Audio state, shown next to the socket's state: "Reconnecting audio…", "Audio reconnected".
export function audioStatus(text, cls) { const el = $("audio-status"); el.textContent = text; el.className = "pill " + (cls || ""); el.hidden = !text; }
// Screen readers hear stage changes and hand-raise results here (a polite live region).
export function announce(text) { const el = $("announcer"); el.textContent = ""; setTimeout(() => { el.textContent = text; }, 50); }

export function renderStage() {
  const ul = $("stage");
  ul.innerHTML = state.stage.map((p) => {
    const name = p.display_name || p.username;
    const tools = [];
    if (isHostTeam() && p.user_id !== page.me.id && p.role !== "host" && !(state.role === "cohost" && p.role === "cohost")) {
      if (!p.is_muted) tools.push(`<button data-act="mute" data-u="${esc(p.username)}">Mute</button>`);
      tools.push(`<button data-act="move-to-listeners" data-u="${esc(p.username)}">To listeners</button>`);
      tools.push(`<button data-act="remove" data-u="${esc(p.username)}">Remove</button>`);
    }
    return `<li class="${p.is_speaking && !p.is_muted ? "speaking" : ""}" data-user="${esc(p.username)}">
      <span class="muted-icon" aria-label="${p.is_muted ? "muted" : "unmuted"}">${p.is_muted ? "🔇" : "🎙"}</span>
      <div class="avatar" aria-hidden="true">${esc(name.slice(0, 1).toUpperCase())}</div>
      <div>${esc(name)}</div><div class="role">${esc(p.role)}</div>
      ${tools.length ? `<div class="tools">${tools.join("")}</div>` : ""}</li>`;
  }).join("");
}

export function renderQueue() {
  $("host-panel").hidden = !isHostTeam();
  if (!isHostTeam()) return;
  const now = Date.now();
  $("queue").innerHTML = state.queue.length ? state.queue.map((h) => {
    const waited = h.raised_at ? Math.max(0, Math.round((now - Date.parse(h.raised_at)) / 1000)) : (h.wait_s || 0);
    return `<li><span>✋ <strong>${esc(h.display_name || h.username)}</strong> <small class="muted">waiting ${waited}s</small></span>
      <span><button class="btn btn-small btn-primary" data-approve="${esc(h.username)}">Approve</button>
      <button class="btn btn-small" data-decline="${esc(h.username)}">Decline</button></span></li>`;
  }).join("") : `<li class="muted">No raised hands.</li>`;
}

export function renderControls() {
  const live = state.spaceState === "live";
  const guest = page.guest;
  $("controls").hidden = !(state.joined && live);
  $("join-panel").hidden = state.joined || !live || !!page.closedFor;
  $("hand-btn").hidden = onStage() || guest;
  $("guest-note").hidden = !guest;
  $("data-saver-wrap").hidden = guest || onStage() || !live || !!page.closedFor;
  document.querySelectorAll(".reactions").forEach((el) => { el.hidden = guest; });
  $("hand-btn").textContent = state.handUp ? "✋ Lower hand" : "✋ Raise hand";
  $("hand-btn").setAttribute("aria-pressed", String(state.handUp));
  $("mic-btn").hidden = !onStage();
  $("mic-btn").textContent = state.micOn ? "🎙 Mute" : "🎙 Unmute";
  $("mic-btn").setAttribute("aria-pressed", String(state.micOn));
  $("leave-stage-btn").hidden = state.role !== "speaker" && state.role !== "cohost";
  $("end-btn").hidden = state.role !== "host";
  $("message-panel").hidden = !(state.joined && live) || isHostTeam() || guest;
  const inv = state.invitation;
  $("invite-banner").hidden = !inv;
  if (inv) $("invite-text").textContent = `You are invited to ${inv.role === "cohost" ? "co-host" : "speak"}.`;
  $("space-state").textContent = state.spaceState || "";
  $("space-state").className = "state state-" + (state.spaceState || "");
  renderStage();
  renderQueue();
}

export function floatReactions(d) {
  const host = $("reaction-float");
  const counts = d.counts || (d.emoji ? { [d.emoji]: d.count || 1 } : {});
  Object.entries(counts).forEach(([emoji, n]) => {
    for (let i = 0; i < Math.min(n, 5); i++) {
      const s = document.createElement("span"); s.textContent = emoji; host.appendChild(s);
      setTimeout(() => s.remove(), 1700);
    }
  });
}

export function renderListeners(data) {
  const rows = ((data.listeners && data.listeners.results) || []).map((p) => ({ ...p.user, ...p }));
  $("listeners").innerHTML = rows.length ? rows.map((p) => `<li><span>${esc(p.display_name || p.username)} <small class="muted">@${esc(p.username)}</small></span>
    <button class="btn btn-small" data-remove="${esc(p.username)}">Remove</button></li>`).join("") : `<li class="muted">No listeners.</li>`;
}

export function addInbox(d) {
  const li = document.createElement("li");
  li.innerHTML = `<span><strong>@${esc(d.username || d.sender?.username || "")}</strong> ${esc(d.text || d.body || "")}</span>`;
  $("inbox").prepend(li);
}
