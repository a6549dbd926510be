// The Space page: join through the API, audio through LiveKit, live state through the websocket.
import { Room, RoomEvent, Track } from "livekit-client";
import { captionsEvent, captionsSnapshot } from "./captions.js";

const { api, esc, toast } = window.Spaces;
const root = document.getElementById("space");
const spaceId = root.dataset.spaceId;
const me = { id: Number(document.body.dataset.userId), username: document.body.dataset.username };
const $ = (id) => document.getElementById(id);

const state = { seq: 0, role: null, stage: [], queue: [], spaceState: null, joined: false, handUp: false, invitation: null, micOn: false };
let ws = null;
let wsRetry = 0;
let room = null;
let closedFor = null; // set when the server tells us we are out (removed, banned, ended)

function status(text, cls) { const el = $("conn-status"); el.textContent = text; el.className = "pill " + (cls || ""); }
function banner(text) { const el = $("banner"); el.textContent = text; el.hidden = !text; }
const isHostTeam = () => state.role === "host" || state.role === "cohost";
const onStage = () => ["host", "cohost", "speaker"].includes(state.role);

const ERRORS = {
  not_eligible: "You need more followers to host a Space.",
  ticket_required: "This Space is ticketed: buy a ticket to join.",
  banned: "You were removed from this Space and cannot rejoin.",
  removed: "You were removed from this Space and cannot rejoin.",
  blocked: "You can't join this Space.",
  space_not_live: "This Space is not live.",
  space_full: "This Space is full right now.",
  account_suspended: "Your account is suspended.",
};
function explain(err) { return ERRORS[err.code] || err.message; }

// ---------------------------------------------------------------- rendering
function renderStage() {
  const ul = $("stage");
  ul.innerHTML = state.stage.map((p) => {
    const name = p.display_name || p.username;
    const tools = [];
    if (isHostTeam() && p.user_id !== me.id && p.role !== "host" && !(state.role === "cohost" && p.role === "cohost")) {
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

function renderQueue() {
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

function renderControls() {
  const live = state.spaceState === "live";
  $("controls").hidden = !(state.joined && live);
  $("join-panel").hidden = state.joined || !live || !!closedFor;
  $("hand-btn").hidden = onStage();
  $("hand-btn").textContent = state.handUp ? "✋ Lower hand" : "✋ Raise hand";
  $("hand-btn").setAttribute("aria-pressed", String(state.handUp));
  $("mic-btn").hidden = !onStage();
  $("mic-btn").textContent = state.micOn ? "🎙 Mute" : "🎙 Unmute";
  $("mic-btn").setAttribute("aria-pressed", String(state.micOn));
  $("leave-stage-btn").hidden = state.role !== "speaker" && state.role !== "cohost";
  $("end-btn").hidden = state.role !== "host";
  $("message-panel").hidden = !(state.joined && live) || isHostTeam();
  const inv = state.invitation;
  $("invite-banner").hidden = !inv;
  if (inv) $("invite-text").textContent = `You are invited to ${inv.role === "cohost" ? "co-host" : "speak"}.`;
  $("space-state").textContent = state.spaceState || "";
  $("space-state").className = "state state-" + (state.spaceState || "");
  renderStage();
  renderQueue();
}

// ---------------------------------------------------------------- websocket
function applySnapshot(data) {
  const you = data.you || {};
  state.spaceState = (data.space && data.space.state) || state.spaceState;
  state.stage = data.stage || [];
  state.queue = data.hands || [];
  state.invitation = you.invitation || null;
  state.handUp = !!you.hand;
  if (data.listener_count !== undefined) $("listener-count").textContent = data.listener_count;
  captionsSnapshot(data);
  setRole(you.role || null);
  if (state.spaceState === "ended") endedLocally("This Space has ended.");
}

function setRole(newRole) {
  const changed = newRole !== state.role;
  state.role = newRole;
  renderControls();
  if (changed) syncMicToRole();
}

function send(obj) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj)); }
const resync = () => send({ action: "resync" });

function handleEvent(ev) {
  if (ev.type === "snapshot") { state.seq = ev.seq || 0; applySnapshot(ev.data); return; }
  if (ev.type === "error") { const c = ev.data && ev.data.code; if (c) banner(ERRORS[c] || ev.data.detail || c); return; }
  if (typeof ev.seq === "number" && ev.seq > state.seq) {
    if (ev.seq > state.seq + 1 && state.seq) { resync(); return; }
    state.seq = ev.seq;
  }
  if (captionsEvent(ev)) return;
  const d = ev.data || {};
  switch (ev.type) {
    case "listeners.count": $("listener-count").textContent = d.count ?? d.listener_count; break;
    case "stage.updated": {
      if (!Array.isArray(d.stage)) { resync(); break; }
      state.stage = d.stage;
      const mine = d.stage.find((p) => p.user_id === me.id);
      if (mine) state.handUp = false;
      setRole(mine ? mine.role : (state.joined ? "listener" : state.role));
      break;
    }
    case "reaction": floatReactions(d); break;
    case "message.received": addInbox(d); break;
    case "invite.received": state.invitation = d.invitation || d; renderControls(); toast("You are invited to the stage"); break;
    case "participant.removed":
      if (d.user_id === me.id) { endedLocally("You were removed from this Space."); return; }
      resync(); break;
    case "participant.muted":
      if (d.user_id === me.id || (d.user_ids || []).includes(me.id) || d.all) { setMic(false); toast("A host muted you"); }
      resync(); break;
    case "space.ended": state.spaceState = "ended"; endedLocally("This Space has ended."); break;
    case "notification": toast(d.text || d.title || "Notification"); break;
    case "resync": resync(); break;
    default: resync(); // stage.updated, hand.*, request.*, space.started: take the fresh truth
  }
}

function connectWs() {
  if (closedFor) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/ws/spaces/${spaceId}/`);
  status("Connecting…", "warn");
  ws.onopen = () => { wsRetry = 0; status("Connected", "ok"); };
  ws.onmessage = (m) => { try { handleEvent(JSON.parse(m.data)); } catch (e) { console.error(e); } };
  ws.onclose = (e) => {
    if (closedFor) return; // we already know why we are out (removed, ended): keep that message
    if (e.code >= 4000) {
      // daphne drops close reasons, and the close can overtake the participant.removed frame: a 4403 on a
      // socket that was already in the Space means its user was taken out of it.
      const forbidden = state.joined ? ERRORS.removed : "You can't join this Space.";
      const why = ERRORS[e.reason] || { 4401: "Please log in again.", 4403: forbidden, 4402: ERRORS.ticket_required, 4404: "This Space does not exist.", 4410: "This Space has ended." }[e.code];
      if (why) { endedLocally(why); return; }
    }
    status("Connection lost — reconnecting…", "warn");
    const delay = Math.min(10000, 500 * 2 ** wsRetry++);
    setTimeout(connectWs, delay);
  };
}

// ---------------------------------------------------------------- audio (LiveKit)
async function connectAudio(creds) {
  room = new Room({ adaptiveStream: true, dynacast: true });
  room.on(RoomEvent.TrackSubscribed, (track) => {
    if (track.kind === Track.Kind.Audio) { const el = track.attach(); el.dataset.lk = "1"; document.body.appendChild(el); }
  });
  room.on(RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((el) => el.remove()));
  room.on(RoomEvent.ActiveSpeakersChanged, (speakers) => {
    // LiveKit identities are "<prefix><user id>" (rooms/livekit_client.py identity_for).
    const ids = new Set(speakers.map((s) => (s.identity.match(/(\d+)$/) || [])[1]));
    state.stage.forEach((p) => { p.is_speaking = ids.has(String(p.user_id)); });
    renderStage();
  });
  room.on(RoomEvent.ParticipantPermissionsChanged, () => syncMicToRole());
  room.on(RoomEvent.Disconnected, () => { if (!closedFor) status("Audio disconnected", "warn"); });
  await room.connect(creds.livekit_url, creds.token);
  await room.startAudio().catch(() => {});
  window.__spacesRoom = room;
}

async function setMic(on) {
  state.micOn = on;
  if (room && room.localParticipant) {
    try { await room.localParticipant.setMicrophoneEnabled(on); }
    catch (err) { state.micOn = false; banner("Microphone blocked: allow microphone access in your browser to speak."); }
  }
  renderControls();
}

function syncMicToRole() {
  if (!room) return;
  if (onStage()) {
    const mine = state.stage.find((p) => p.user_id === me.id);
    if (room.localParticipant.permissions?.canPublish !== false && !(mine && mine.is_muted)) setMic(true);
  } else if (state.micOn) {
    setMic(false);
  }
}

async function leaveAudio() { if (room) { await room.disconnect(); room = null; } }

function endedLocally(text) {
  closedFor = text;
  banner(text);
  state.joined = false;
  status("Disconnected", "");
  leaveAudio();
  if (ws) ws.close();
  renderControls();
  $("join-panel").hidden = true;
}

// ---------------------------------------------------------------- actions
async function act(fn, okText) {
  try { await fn(); if (okText) toast(okText); } catch (err) { toast(explain(err)); }
}

async function join() {
  try {
    const creds = await api("POST", `/spaces/${spaceId}/join`);
    state.role = creds.role;
    state.joined = true;
    banner("");
    connectWs();
    await connectAudio(creds);
    renderControls();
    syncMicToRole();
  } catch (err) {
    banner(explain(err));
    if (err.code === "ticket_required") $("ticket-btn").hidden = false;
  }
}

// Tickets: the server holds a seat and returns a PaymentIntent's client secret. With a publishable key
// configured, Stripe.js (which Stripe serves only from its own origin) collects the card; either way
// the ticket becomes valid only on Stripe's signed webhook, so the page waits for that and then joins.
async function buyTicket() {
  const res = await api("POST", `/spaces/${spaceId}/tickets`);
  const ticket = res.ticket;
  const until = ticket.hold_expires_at ? new Date(ticket.hold_expires_at).toLocaleTimeString() : "";
  $("ticket-btn").hidden = true;
  banner(`Seat held${until ? " until " + until : ""}: complete the payment of $${(ticket.price_cents / 100).toFixed(2)}.`);
  const key = document.body.dataset.stripeKey;
  if (key && window.Stripe && res.payment && res.payment.client_secret) {
    const stripe = window.Stripe(key);
    const elements = stripe.elements({ clientSecret: res.payment.client_secret });
    const box = document.createElement("div"); box.id = "payment-element"; $("join-panel").after(box);
    elements.create("payment").mount(box);
    const pay = document.createElement("button"); pay.className = "btn btn-primary"; pay.textContent = "Pay";
    box.after(pay);
    pay.addEventListener("click", async () => {
      const { error } = await stripe.confirmPayment({ elements, redirect: "if_required" });
      if (error) toast(error.message);
    });
  }
  waitForTicket(ticket.id);
}

async function waitForTicket(ticketId) {
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const data = await api("GET", "/me/tickets").catch(() => null);
    const mine = data && (data.results || data).find((t) => t.id === ticketId);
    if (mine && mine.status === "paid") { banner(""); toast("Ticket confirmed"); await join(); return; }
    if (mine && ["expired", "canceled", "refunded"].includes(mine.status)) { banner(`Your seat hold ${mine.status}.`); $("ticket-btn").hidden = false; return; }
  }
}

function floatReactions(d) {
  const host = $("reaction-float");
  const counts = d.counts || (d.emoji ? { [d.emoji]: d.count || 1 } : {});
  Object.entries(counts).forEach(([emoji, n]) => {
    for (let i = 0; i < Math.min(n, 5); i++) {
      const s = document.createElement("span"); s.textContent = emoji; host.appendChild(s);
      setTimeout(() => s.remove(), 1700);
    }
  });
}

async function loadListeners() {
  const data = await api("GET", `/spaces/${spaceId}/participants`);
  const rows = ((data.listeners && data.listeners.results) || []).map((p) => ({ ...p.user, ...p }));
  $("listeners").innerHTML = rows.length ? rows.map((p) => `<li><span>${esc(p.display_name || p.username)} <small class="muted">@${esc(p.username)}</small></span>
    <button class="btn btn-small" data-remove="${esc(p.username)}">Remove</button></li>`).join("") : `<li class="muted">No listeners.</li>`;
}

function addInbox(d) {
  const li = document.createElement("li");
  li.innerHTML = `<span><strong>@${esc(d.username || d.sender?.username || "")}</strong> ${esc(d.text || d.body || "")}</span>`;
  $("inbox").prepend(li);
}

function wire() {
  $("join-btn").addEventListener("click", join);
  $("ticket-btn").addEventListener("click", async (e) => {
    e.preventDefault();
    await act(buyTicket);
  });
  $("hand-btn").addEventListener("click", () => act(async () => {
    await api(state.handUp ? "DELETE" : "POST", `/spaces/${spaceId}/hand`);
    state.handUp = !state.handUp; renderControls();
  }));
  $("mic-btn").addEventListener("click", () => setMic(!state.micOn));
  $("leave-stage-btn").addEventListener("click", () => act(() => api("POST", `/spaces/${spaceId}/leave-stage`)));
  $("leave-btn").addEventListener("click", () => act(async () => {
    await api("POST", `/spaces/${spaceId}/leave`);
    closedFor = "You left the Space."; await leaveAudio(); if (ws) ws.close(); window.location.href = "/";
  }));
  $("end-btn").addEventListener("click", () => { if (confirm("End this Space for everyone?")) act(() => api("POST", `/spaces/${spaceId}/end`)); });
  $("mute-all-btn").addEventListener("click", () => act(() => api("POST", `/spaces/${spaceId}/mute-all`), "All speakers muted"));
  $("invite-accept").addEventListener("click", () => act(async () => {
    await api("POST", `/spaces/${spaceId}/invitations/${state.invitation.id}/accept`); state.invitation = null; renderControls();
  }));
  $("invite-decline").addEventListener("click", () => act(async () => {
    await api("POST", `/spaces/${spaceId}/invitations/${state.invitation.id}/decline`); state.invitation = null; renderControls();
  }));
  $("invite-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const username = $("invite-username").value.trim();
    if (username) act(() => api("POST", `/spaces/${spaceId}/invitations`, { username, role: "speaker" }), `Invited @${username}`);
  });
  $("message-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("message-text").value.trim();
    if (text) act(async () => { await api("POST", `/spaces/${spaceId}/messages`, { text }); $("message-text").value = ""; }, "Sent to the hosts");
  });
  document.querySelectorAll(".react").forEach((b) => b.addEventListener("click", () => act(() => api("POST", `/spaces/${spaceId}/reactions`, { emoji: b.dataset.emoji }))));
  $("queue").addEventListener("click", (e) => {
    const a = e.target.dataset.approve; const d = e.target.dataset.decline;
    if (a) act(() => api("POST", `/spaces/${spaceId}/hands/${a}/approve`));
    if (d) act(() => api("POST", `/spaces/${spaceId}/hands/${d}/decline`));
  });
  $("listeners-btn").addEventListener("click", () => act(loadListeners));
  $("listeners").addEventListener("click", (e) => {
    const u = e.target.dataset.remove;
    if (u) act(async () => { await api("POST", `/spaces/${spaceId}/participants/${u}/remove`); await loadListeners(); }, `Removed @${u}`);
  });
  $("stage").addEventListener("click", (e) => {
    const actName = e.target.dataset.act; const u = e.target.dataset.u;
    if (!actName) return;
    act(() => api("POST", `/spaces/${spaceId}/participants/${u}/${actName}`));
  });
}

function showScheduled(space) {
  $("scheduled-panel").hidden = false;
  const isHost = space.host && space.host.id === me.id;
  $("start-btn").hidden = !isHost;
  $("remind-btn").hidden = isHost;
  let reminded = !!space.reminded;
  const render = () => {
    $("remind-btn").textContent = reminded ? "🔔 Reminder set — cancel" : "🔔 Remind me";
    $("remind-btn").setAttribute("aria-pressed", String(reminded));
  };
  render();
  $("remind-btn").addEventListener("click", () => act(async () => {
    await api(reminded ? "DELETE" : "POST", `/spaces/${spaceId}/reminder`);
    reminded = !reminded; render();
  }, null));
  $("start-btn").addEventListener("click", () => act(async () => {
    await api("POST", `/spaces/${spaceId}/start`); window.location.reload();
  }));
}

async function init() {
  wire();
  try {
    const space = await api("GET", `/spaces/${spaceId}`);
    state.spaceState = space.state;
    if (space.state === "ended" || space.state === "canceled") banner(`This Space has ${space.state}.`);
    else if (space.state === "scheduled") {
      const when = space.scheduled_start ? ` It starts ${new Date(space.scheduled_start).toLocaleString()}.` : "";
      banner(`This Space hasn't started yet.${when}`);
      showScheduled(space);
    }
  } catch (err) { banner(explain(err)); }
  renderControls();
  setInterval(renderQueue, 5000);
}

// For tests and debugging: drop the socket as a network failure would (the page must recover by itself).
window.SpacesPage = { state, join, resync, dropSocket: () => ws && ws.close() };
init();
