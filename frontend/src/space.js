// The Space page: join through the API, audio through LiveKit, live state through the websocket. This
// module wires the others together: page.js (shared state), socket.js (the websocket: seq, resync,
// reconnect), render.js (the DOM), audio-session.js (LiveKit, rejoin, self-healing, microphone) and
// captions.js.
import {
  audio, currentRoom, connectMedia, rejoin, setAudioHooks, setMic, syncMicToRole, syncTransportToRole,
  mediaSessionSetup, leaveAudio, micProblemShow, tapToListen, cantHear, wakeLockSync,
} from "./audio-session.js";
import { captionsEvent, captionsSnapshot } from "./captions.js";
import { ERRORS, explain } from "./messages.js";
import { $, api, toast, page, root, state, joinCredentials, onStage, onStageRole, setDataSaver } from "./page.js";
import {
  status, banner, audioStatus, announce, renderControls, renderQueue, floatReactions, renderListeners, addInbox,
} from "./render.js";
import { SpaceSocket, closeVerdict } from "./socket.js";

const { spaceId, me, guest } = page;

// ---------------------------------------------------------------- live state from the websocket
function applySnapshot(data) {
  const you = data.you || {};
  state.spaceState = (data.space && data.space.state) || state.spaceState;
  state.stage = data.stage || [];
  state.queue = data.hands || [];
  state.invitation = you.invitation || null;
  state.handUp = !!you.hand;
  if (data.listener_count !== undefined) $("listener-count").textContent = data.listener_count;
  captionsSnapshot(data);
  setRole(guest ? "listener" : you.role || null);
  if (state.spaceState === "ended") endedLocally("This Space has ended.");
}

const ROLE_WORDS = { host: "the host", cohost: "a co-host", speaker: "a speaker", listener: "a listener" };
function setRole(newRole) {
  const changed = newRole !== state.role;
  if (changed && state.role && newRole && state.joined) {
    announce(onStageRole(newRole) && !onStageRole(state.role) ? `You are on stage now, as ${ROLE_WORDS[newRole]}.`
      : !onStageRole(newRole) && onStageRole(state.role) ? "You are back in the audience." : `You are now ${ROLE_WORDS[newRole] || newRole}.`);
  }
  state.role = newRole;
  renderControls();
  if (changed) { syncMicToRole(); syncTransportToRole(); }
}

const resync = () => socket.resync();

// Every frame the socket passes on (it has already checked seq: a gap became a resync, not an event).
function handleEvent(ev) {
  if (ev.type === "snapshot") { applySnapshot(ev.data); return; }
  if (ev.type === "error") { const c = ev.data && ev.data.code; if (c) banner(ERRORS[c] || ev.data.detail || c); return; }
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
    case "request.declined":
      if (d.user_id === me.id) { state.handUp = false; renderControls(); announce("Your request to speak was declined."); toast("Your request to speak was declined"); }
      resync(); break;
    case "request.approved":
      if (d.user_id === me.id) toast("Your request to speak was approved");
      resync(); break;
    case "notification": toast(d.text); break; // one shape: data.text is always the line to show
    case "resync": resync(); break;
    default: resync(); // stage.updated, hand.*, request.*, space.started: take the fresh truth
  }
}

const STATUS = { connecting: ["Connecting…", "warn"], open: ["Connected", "ok"], lost: ["Connection lost — reconnecting…", "warn"] };
const socket = new SpaceSocket({
  url: () => {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    // An HLS listener's socket is their presence (LiveKit never sees them): the join's ws_url says so.
    const query = guest && page.guestPass ? `?guest=${encodeURIComponent(page.guestPass)}` : page.transport === "hls" ? "?transport=hls" : "";
    return `${proto}://${location.host}/ws/spaces/${spaceId}/${query}`;
  },
  onEvent: handleEvent,
  onStatus: (what) => status(...STATUS[what]),
  onClose: (e) => {
    if (page.closedFor) return true; // we already know why we are out (removed, ended): keep that message
    if (guest && e.code === 4401 && state.joined) {
      // The guest pass is short-lived: a reconnect after it expired asks guest-join for a fresh one.
      joinCredentials().then(() => setTimeout(() => socket.connect(), 200), (err) => endedLocally(explain(err)));
      return true;
    }
    const why = closeVerdict(e, { joined: state.joined });
    if (why) { endedLocally(why); return true; }
    return false;
  },
});
const connectWs = () => { if (!page.closedFor) socket.connect(); };

setAudioHooks({ setRole, endedLocally, transportChanged: () => { if (state.joined) socket.reopen(); } });

function endedLocally(text) {
  page.closedFor = text;
  banner(text);
  announce(text);
  audioStatus("");
  $("tap-to-listen").hidden = true;
  if (audio.abort) audio.abort.abort();
  state.joined = false;
  status("Disconnected", "");
  leaveAudio();
  socket.stop();
  renderControls();
  $("join-panel").hidden = true;
}

// ---------------------------------------------------------------- actions
async function act(fn, okText) {
  try { await fn(); if (okText) toast(okText); } catch (err) { toast(explain(err)); }
}

async function join() {
  let creds;
  try {
    creds = await joinCredentials();
  } catch (err) {
    banner(explain(err));
    if (err.code === "ticket_required") $("ticket-btn").hidden = false;
    return;
  }
  state.role = creds.role;
  state.joined = true;
  page.transport = creds.transport === "hls" ? "hls" : "webrtc";
  banner("");
  connectWs();
  renderControls();
  mediaSessionSetup();
  try {
    await connectMedia(creds);
  } catch (err) {
    // LiveKit (or the HLS origin) did not take us (node down, network): the rejoin loop keeps trying with fresh tokens.
    console.warn("audio connect failed", err);
    rejoin("connect failed");
    return;
  }
  renderControls();
  syncMicToRole();
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
  const key = $("space").dataset.stripeKey;
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

async function loadListeners() {
  renderListeners(await api("GET", `/spaces/${spaceId}/participants`));
}

function wire() {
  $("join-btn").addEventListener("click", join);
  // Data saver: a listener asks for the HLS stream (fewer bytes, a few seconds behind); switching it while
  // in the Space switches the transport through the rejoin loop.
  $("data-saver").checked = page.listenOverHls;
  $("data-saver").addEventListener("change", (e) => {
    setDataSaver(e.target.checked);
    if (state.joined && !onStage()) rejoin(e.target.checked ? "data saver on" : "data saver off", { switching: true });
  });
  $("ticket-btn").addEventListener("click", async (e) => {
    e.preventDefault();
    await act(buyTicket);
  });
  $("hand-btn").addEventListener("click", () => act(async () => {
    await api(state.handUp ? "DELETE" : "POST", `/spaces/${spaceId}/hand`);
    state.handUp = !state.handUp; renderControls();
  }));
  $("mic-btn").addEventListener("click", () => setMic(!state.micOn));
  $("mic-retry").addEventListener("click", () => { micProblemShow(null); setMic(true); });
  $("tap-to-listen").addEventListener("click", tapToListen);
  $("cant-hear-btn").addEventListener("click", cantHear);
  window.addEventListener("online", () => {
    if (audio.abort) audio.abort.abort();
    else if (state.joined && !page.closedFor && (!currentRoom() || currentRoom().state !== "connected")) rejoin("online");
  });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") wakeLockSync(); });
  $("leave-stage-btn").addEventListener("click", () => act(() => api("POST", `/spaces/${spaceId}/leave-stage`)));
  $("leave-btn").addEventListener("click", () => act(async () => {
    if (!guest) await api("POST", `/spaces/${spaceId}/leave`); // a guest just hangs up (LiveKit tells presence)
    page.closedFor = "You left the Space."; if (audio.abort) audio.abort.abort(); await leaveAudio(); socket.stop(); window.location.href = "/";
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
  if (guest) {
    // No account: the page was rendered for a live Space that allows guests; the API's detail needs one.
    state.spaceState = root.dataset.state;
    renderControls();
    if (new URLSearchParams(location.search).get("join") === "1" && state.spaceState === "live") join();
    return;
  }
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
  // The auto-join path (the share page's link): join on load. No user gesture has happened, so a browser
  // that blocks autoplay shows "Tap to listen" (onPlaybackStatus).
  if (new URLSearchParams(location.search).get("join") === "1" && state.spaceState === "live") join();
}

// For tests and debugging: drop the socket as a network failure would (the page must recover by itself).
window.SpacesPage = {
  state, socket, join, resync, audio, rejoin, dropSocket: () => socket.drop(), room: currentRoom,
  transport: () => page.transport, hls: () => audio.hls,
};
init();
