// The Space page: join through the API, audio through LiveKit, live state through the websocket.
import { Room, RoomEvent, Track, DefaultReconnectPolicy, DisconnectReason, createAudioAnalyser } from "livekit-client";
import {
  REFUSALS, backoffDelay, SDK_RECONNECT_DELAYS_MS, sleep, inboundCounters, CHECK_EVERY_MS, SILENT_CHECKS, micProblem,
} from "./audio.js";
import { captionsEvent, captionsSnapshot } from "./captions.js";

const { api, esc, toast, ApiError } = window.Spaces;
const root = document.getElementById("space");
const spaceId = root.dataset.spaceId;
const me = { id: Number(document.body.dataset.userId), username: document.body.dataset.username };
// A guest listener (no account; the host allows it): the same listening path, credentials from guest-join,
// the event socket opened with the guest pass, and no action controls (docs/security.md, "Guest listeners").
const guest = root.dataset.guest === "1";
let guestPass = null;
const $ = (id) => document.getElementById(id);

const state = { seq: 0, role: null, stage: [], queue: [], spaceState: null, joined: false, handUp: false, invitation: null, micOn: false };
let ws = null;
let wsRetry = 0;
let room = null;
let closedFor = null; // set when the server tells us we are out (removed, banned, ended)
// The audio session: which Room is current (gen), the rejoin loop, the inbound watch, the heal log.
const audio = {
  gen: 0, rejoining: false, abort: null, watch: new Map(), timer: null, heals: [], rejoins: 0,
  lastRejoinMs: null, lastSilentRejoin: 0, meter: null, wakeLock: null, micTrack: null, outputMuted: false,
};

function status(text, cls) { const el = $("conn-status"); el.textContent = text; el.className = "pill " + (cls || ""); }
function banner(text) { const el = $("banner"); el.textContent = text; el.hidden = !text; }
// Audio state, shown next to the socket's state: "Reconnecting audio…", "Audio reconnected".
function audioStatus(text, cls) { const el = $("audio-status"); el.textContent = text; el.className = "pill " + (cls || ""); el.hidden = !text; }
// Screen readers hear stage changes and hand-raise results here (a polite live region).
function announce(text) { const el = $("announcer"); el.textContent = ""; setTimeout(() => { el.textContent = text; }, 50); }
const isHostTeam = () => state.role === "host" || state.role === "cohost";
const onStageRole = (role) => ["host", "cohost", "speaker"].includes(role);
const onStage = () => onStageRole(state.role);

const ERRORS = {
  not_eligible: "You need more followers to host a Space.",
  ticket_required: "This Space is ticketed: buy a ticket to join.",
  banned: "You were removed from this Space and cannot rejoin.",
  space_not_found: "This Space does not exist.",
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
  $("hand-btn").hidden = onStage() || guest;
  $("guest-note").hidden = !guest;
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

function connectWs() {
  if (closedFor) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const query = guest && guestPass ? `?guest=${encodeURIComponent(guestPass)}` : "";
  ws = new WebSocket(`${proto}://${location.host}/ws/spaces/${spaceId}/${query}`);
  status("Connecting…", "warn");
  ws.onopen = () => { wsRetry = 0; status("Connected", "ok"); };
  ws.onmessage = (m) => { try { handleEvent(JSON.parse(m.data)); } catch (e) { console.error(e); } };
  ws.onclose = (e) => {
    if (closedFor) return; // we already know why we are out (removed, ended): keep that message
    if (guest && e.code === 4401 && state.joined) {
      // The guest pass is short-lived: a reconnect after it expired asks guest-join for a fresh one.
      joinCredentials().then(() => setTimeout(connectWs, 200), (err) => endedLocally(explain(err)));
      return;
    }
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

// The REST join, or guest-join for a guest; either gives the LiveKit credentials.
async function joinCredentials() {
  if (!guest) return api("POST", `/spaces/${spaceId}/join`);
  const creds = await api("POST", `/spaces/${spaceId}/guest-join`);
  guestPass = creds.ws_ticket;
  return { ...creds, role: "listener", is_muted: true };
}

// ---------------------------------------------------------------- audio (LiveKit)
// One Room at a time: every rejoin makes a new one and bumps audio.gen, so a late event of an old Room
// (its Disconnected, its tracks) is ignored.
async function connectAudio(creds) {
  const gen = ++audio.gen;
  const old = room;
  room = null;
  if (old) { old.removeAllListeners(); await old.disconnect().catch(() => {}); }
  document.querySelectorAll("audio[data-lk]").forEach((el) => el.remove());
  audio.watch.clear();
  const r = new Room({ adaptiveStream: true, dynacast: true, reconnectPolicy: new DefaultReconnectPolicy(SDK_RECONNECT_DELAYS_MS) });
  const current = () => gen === audio.gen && !closedFor;
  r.on(RoomEvent.TrackSubscribed, (track, pub, participant) => {
    if (track.kind !== Track.Kind.Audio || !current()) return;
    // One element per remote track: a server-side unsubscribe can leave the old one behind, paused.
    document.querySelectorAll("audio[data-lk]").forEach((old) => { if (old.dataset.sid === pub.trackSid) old.remove(); });
    const el = track.attach(); el.dataset.lk = "1"; el.dataset.identity = participant.identity; el.dataset.sid = pub.trackSid;
    el.muted = audio.outputMuted;
    document.body.appendChild(el);
    setTimeout(() => current() && onPlaybackStatus(), 0);
  });
  r.on(RoomEvent.TrackUnsubscribed, (track, pub) => {
    track.detach().forEach((el) => el.remove());
    document.querySelectorAll("audio[data-lk]").forEach((el) => { if (el.dataset.sid === pub.trackSid) el.remove(); });
  });
  r.on(RoomEvent.ActiveSpeakersChanged, (speakers) => {
    if (!current()) return;
    // LiveKit identities are "<prefix><user id>" (rooms/livekit_client.py identity_for).
    const ids = new Set(speakers.map((s) => (s.identity.match(/(\d+)$/) || [])[1]));
    state.stage.forEach((p) => { p.is_speaking = ids.has(String(p.user_id)); });
    renderStage();
  });
  r.on(RoomEvent.ParticipantPermissionsChanged, () => current() && syncMicToRole());
  r.on(RoomEvent.AudioPlaybackStatusChanged, () => current() && onPlaybackStatus());
  r.on(RoomEvent.Reconnecting, () => current() && audioStatus("Reconnecting audio…", "warn"));
  r.on(RoomEvent.Reconnected, () => current() && audioStatus(""));
  r.on(RoomEvent.MediaDevicesError, (err) => current() && micProblemShow(micProblem(err)));
  r.on(RoomEvent.Disconnected, (reason) => {
    if (!current()) return;
    if (reason === DisconnectReason.CLIENT_INITIATED) return;
    // Removed, banned, ended or a lost node: the REST join decides. A refusal ends it with the reason.
    rejoin(`disconnected (${reason})`);
  });
  await r.connect(creds.livekit_url, creds.token);
  if (!current()) { r.removeAllListeners(); await r.disconnect(); return; }
  room = r;
  window.__spacesRoom = r;
  // Not awaited: without a user gesture the AudioContext's resume() stays pending until one comes.
  r.startAudio().catch(() => {}).finally(() => current() && onPlaybackStatus());
  onPlaybackStatus();
  if (!audio.timer) audio.timer = setInterval(checkInbound, CHECK_EVERY_MS);
}

// Autoplay: a browser that blocks playback until a user gesture gets a "Tap to listen" control; one tap
// calls room.startAudio() inside the gesture.
function onPlaybackStatus() {
  const blocked = !!room && !room.canPlaybackAudio && !closedFor;
  if (blocked === $("tap-to-listen").hidden) console.info(`spaces-audio: playback ${blocked ? "blocked" : "allowed"}`);
  $("tap-to-listen").hidden = !blocked;
  if (blocked) announce("Your browser paused the sound. Press Tap to listen.");
}

async function tapToListen() {
  if (!room) return;
  try { await room.startAudio(); } catch (err) { toast("Your browser still blocks the sound: tap again."); }
  onPlaybackStatus();
  if (room && room.canPlaybackAudio) announce("Listening.");
}

// Rejoin: ask the REST join again (fresh token; bans, tickets and role changes apply), with backoff and
// jitter; only a refusal stops it.
async function rejoin(why) {
  if (audio.rejoining || closedFor || !state.joined) return;
  audio.rejoining = true;
  const started = performance.now();
  console.info("rejoining audio:", why);
  let attempt = 0;
  try {
    while (!closedFor) {
      audioStatus(attempt ? `Reconnecting audio (attempt ${attempt + 1})…` : "Reconnecting audio…", "warn");
      try {
        const creds = await joinCredentials();
        if (closedFor) return;
        await connectAudio(creds);
        if (closedFor) return;
        audio.rejoins += 1;
        audio.lastRejoinMs = Math.round(performance.now() - started);
        audioStatus("Audio reconnected", "ok");
        setTimeout(() => { if ($("audio-status").textContent === "Audio reconnected") audioStatus(""); }, 4000);
        announce("Audio reconnected.");
        setRole(creds.role);
        syncMicToRole();
        return;
      } catch (err) {
        if (err instanceof ApiError && REFUSALS.has(err.code)) {
          const text = err.code === "space_not_live" ? "This Space has ended." : explain(err);
          endedLocally(text);
          if (err.code === "ticket_required") $("ticket-btn").hidden = false;
          return;
        }
        console.warn("rejoin attempt failed", err && (err.code || err.message));
      }
      audio.abort = new AbortController();
      await sleep(backoffDelay(attempt), audio.abort.signal); // "online" cuts the wait short
      audio.abort = null;
      attempt += 1;
    }
  } finally {
    audio.rejoining = false;
  }
}

// Self-healing: every second, for each remote speaker with an unmuted microphone, check that this
// listener has the track and, while the SFU says they are speaking, that its receiver still gets packets.
// Missing or silent for SILENT_CHECKS checks: resubscribe; still so: rejoin (at most once a minute).
async function checkInbound() {
  const r = room;
  if (!r || audio.rejoining || closedFor || r.state !== "connected") return;
  for (const p of r.remoteParticipants.values()) {
    const pub = [...p.audioTrackPublications.values()].find((x) => x.source === Track.Source.Microphone) || [...p.audioTrackPublications.values()][0];
    if (!pub || pub.isMuted) { audio.watch.delete(p.identity); continue; }
    const w = audio.watch.get(p.identity) || { packets: -1, silent: 0, step: 0 };
    audio.watch.set(p.identity, w);
    const counters = pub.track ? await inboundCounters(pub.track).catch(() => null) : null;
    if (r !== room) return;
    const grew = !!counters && w.packets >= 0 && counters.packets > w.packets;
    const baseline = !!counters && w.packets < 0;
    w.packets = counters ? counters.packets : -1;
    if (grew) { w.silent = 0; w.step = 0; continue; }
    // Wanted, published and unmuted, yet no track here: the SFU is not sending it to us (the SDK then has
    // no level for that speaker either). With a track: the SFU says they speak but no packet arrives.
    const missing = !pub.track && pub.isDesired;
    if (!missing && (baseline || !p.isSpeaking)) continue;
    w.silent += 1;
    if (w.silent >= SILENT_CHECKS) { w.silent = 0; heal(p, pub, w, "auto"); }
  }
}

function heal(participant, pub, w, trigger) {
  if (w.step === 0) {
    w.step = 1;
    logHeal("resubscribe", participant.identity, trigger);
    resubscribe(pub);
  } else if (Date.now() - audio.lastSilentRejoin > 60000) {
    w.step = 0;
    audio.lastSilentRejoin = Date.now();
    logHeal("rejoin", participant.identity, trigger);
    rejoin("speaker silent to this listener");
  }
}

async function resubscribe(pub) {
  pub.setSubscribed(false);
  await sleep(300);
  pub.setSubscribed(true);
}

function logHeal(kind, identity, trigger) {
  audio.heals.push({ kind, identity, trigger, at: Date.now() });
  reportAudio(kind);
}

function reportAudio(kind) {
  if (guest) return; // the counter is per account; a guest has none
  api("POST", `/spaces/${spaceId}/audio-reports`, { kind }).catch(() => {});
}

// "Can't hear?": unlock playback (this is a gesture), resubscribe everyone, report it; if a speaker is
// still silent a few seconds later, rejoin.
async function cantHear() {
  reportAudio("cant_hear");
  audio.heals.push({ kind: "cant_hear", at: Date.now() });
  announce("Trying to fix the sound…");
  if (!room || room.state !== "connected") { rejoin("can't hear"); return; }
  await room.startAudio().catch(() => {});
  onPlaybackStatus();
  const r = room;
  const before = new Map();
  for (const p of r.remoteParticipants.values()) {
    for (const pub of p.audioTrackPublications.values()) {
      before.set(p.identity, pub.track ? await inboundCounters(pub.track).catch(() => null) : null);
      resubscribe(pub);
    }
  }
  await sleep(4000);
  if (r !== room || closedFor) return;
  for (const p of r.remoteParticipants.values()) {
    const pub = [...p.audioTrackPublications.values()][0];
    if (!pub || pub.isMuted || !p.isSpeaking) continue;
    const now = pub.track ? await inboundCounters(pub.track).catch(() => null) : null;
    if (!now || now.packets === 0) { logHeal("rejoin", p.identity, "button"); rejoin("can't hear"); return; }
  }
  announce("Sound checked.");
}

// ---------------------------------------------------------------- microphone
function micProblemShow(text) {
  $("mic-problem").hidden = !text;
  $("mic-problem-text").textContent = text || "";
  if (text) announce(text);
}

async function setMic(on) {
  state.micOn = on;
  if (room && room.localParticipant) {
    try {
      await room.localParticipant.setMicrophoneEnabled(on);
      if (on) micProblemShow(null);
    } catch (err) {
      state.micOn = false;
      micProblemShow(micProblem(err));
    }
  }
  meterSync();
  wakeLockSync();
  mediaSessionSync();
  renderControls();
}

// The speaker's own level meter, and a watch on the microphone track ending (device unplugged).
function meterSync() {
  const pub = room && room.localParticipant && room.localParticipant.getTrackPublication(Track.Source.Microphone);
  const track = state.micOn && pub && pub.track;
  if (audio.meter && audio.meter.track === track) return;
  if (audio.meter) { clearInterval(audio.meter.timer); audio.meter.cleanup(); audio.meter = null; }
  $("mic-meter").hidden = !track;
  if (!track) return;
  const analyser = createAudioAnalyser(track, { cloneTrack: true });
  const timer = setInterval(() => { $("mic-level").value = Math.min(1, analyser.calculateVolume() * 4); }, 100);
  audio.meter = { track, timer, cleanup: analyser.cleanup };
  const ms = track.mediaStreamTrack;
  if (ms && audio.micTrack !== ms) {
    audio.micTrack = ms;
    ms.addEventListener("ended", () => {
      if (audio.micTrack !== ms || !state.micOn) return;
      state.micOn = false;
      micProblemShow("Your microphone was disconnected. Plug it back in or choose another, then try again.");
      setMic(false);
    });
  }
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

// ---------------------------------------------------------------- background and lock screen
// Media Session: the Space's title and host on the lock screen / notification, pause = mute what we hear,
// hang up = leave, toggle microphone for speakers. Wake lock: the screen stays on while speaking.
function mediaSessionSetup() {
  if (!("mediaSession" in navigator)) return;
  try {
    navigator.mediaSession.metadata = new MediaMetadata({
      title: $("space-title").textContent, artist: `Hosted by @${root.dataset.host}`, album: "Spaces",
    });
  } catch (_) { /* MediaMetadata unsupported */ }
  const handlers = {
    pause: () => setOutputMuted(true),
    play: () => { setOutputMuted(false); if (room) room.startAudio().catch(() => {}); },
    stop: () => $("leave-btn").click(),
    hangup: () => $("leave-btn").click(),
    togglemicrophone: () => { if (onStage()) setMic(!state.micOn); },
  };
  Object.entries(handlers).forEach(([action, fn]) => { try { navigator.mediaSession.setActionHandler(action, fn); } catch (_) { /* not in this browser */ } });
  mediaSessionSync();
}

function setOutputMuted(muted) {
  audio.outputMuted = muted;
  document.querySelectorAll("audio[data-lk]").forEach((el) => { el.muted = muted; });
  mediaSessionSync();
}

function mediaSessionSync() {
  if (!("mediaSession" in navigator)) return;
  try {
    navigator.mediaSession.playbackState = audio.outputMuted ? "paused" : "playing";
    if (navigator.mediaSession.setMicrophoneActive) navigator.mediaSession.setMicrophoneActive(!!state.micOn);
  } catch (_) { /* partial support */ }
}

async function wakeLockSync() {
  const want = state.micOn && !closedFor && document.visibilityState === "visible";
  if (want && !audio.wakeLock && "wakeLock" in navigator) {
    try {
      audio.wakeLock = await navigator.wakeLock.request("screen");
      audio.wakeLock.addEventListener("release", () => { audio.wakeLock = null; });
    } catch (_) { audio.wakeLock = null; /* refused (battery saver, not visible): nothing to do */ }
  } else if (!want && audio.wakeLock) {
    const lock = audio.wakeLock; audio.wakeLock = null; lock.release().catch(() => {});
  }
}

async function leaveAudio() {
  audio.gen += 1;
  if (audio.timer) { clearInterval(audio.timer); audio.timer = null; }
  if (audio.meter) { clearInterval(audio.meter.timer); audio.meter.cleanup(); audio.meter = null; }
  state.micOn = false;
  wakeLockSync();
  if (room) { const r = room; room = null; r.removeAllListeners(); await r.disconnect(); }
  document.querySelectorAll("audio[data-lk]").forEach((el) => el.remove());
}

function endedLocally(text) {
  closedFor = text;
  banner(text);
  announce(text);
  audioStatus("");
  $("tap-to-listen").hidden = true;
  if (audio.abort) audio.abort.abort();
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
  banner("");
  connectWs();
  renderControls();
  mediaSessionSetup();
  try {
    await connectAudio(creds);
  } catch (err) {
    // LiveKit did not take us (node down, network): the rejoin loop keeps trying with fresh tokens.
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
  $("mic-retry").addEventListener("click", () => { micProblemShow(null); setMic(true); });
  $("tap-to-listen").addEventListener("click", tapToListen);
  $("cant-hear-btn").addEventListener("click", cantHear);
  window.addEventListener("online", () => {
    if (audio.abort) audio.abort.abort();
    else if (state.joined && !closedFor && (!room || room.state !== "connected")) rejoin("online");
  });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") wakeLockSync(); });
  $("leave-stage-btn").addEventListener("click", () => act(() => api("POST", `/spaces/${spaceId}/leave-stage`)));
  $("leave-btn").addEventListener("click", () => act(async () => {
    if (!guest) await api("POST", `/spaces/${spaceId}/leave`); // a guest just hangs up (LiveKit tells presence)
    closedFor = "You left the Space."; if (audio.abort) audio.abort.abort(); await leaveAudio(); if (ws) ws.close(); window.location.href = "/";
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
window.SpacesPage = { state, join, resync, audio, rejoin, dropSocket: () => ws && ws.close(), room: () => room };
init();
