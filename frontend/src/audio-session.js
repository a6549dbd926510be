// The audio session: over WebRTC one LiveKit Room at a time, or over HLS one player (hls-player.js; a
// listener past the Space's WebRTC capacity, or one who chose the data saver); the rejoin loop, the
// self-healing inbound watch, the microphone, and the lock screen (Media Session, wake lock). The `join`
// answer says which transport (`creds.transport`); a role change switches it without leaving the page.
// Policies (backoff, refusals, thresholds) are in audio.js; the page's reactions to a rejoin (its role,
// being out, the socket following the transport) come in as hooks.
import Hls from "hls.js/light";
import { Room, RoomEvent, Track, DefaultReconnectPolicy, DisconnectReason, createAudioAnalyser } from "livekit-client";
import {
  REFUSALS, backoffDelay, SDK_RECONNECT_DELAYS_MS, sleep, inboundCounters, CHECK_EVERY_MS, SILENT_CHECKS, micProblem,
} from "./audio.js";
import { HlsPlayer } from "./hls-player.js";
import { explain } from "./messages.js";
import { $, api, toast, ApiError, page, state, onStage, root, joinCredentials, wantHls } from "./page.js";
import { announce, audioStatus, renderControls, renderStage } from "./render.js";

// The audio session: which Room is current (gen), the rejoin loop, the inbound watch, the heal log.
export const audio = {
  gen: 0, rejoining: false, abort: null, watch: new Map(), timer: null, heals: [], rejoins: 0,
  lastRejoinMs: null, lastSilentRejoin: 0, meter: null, wakeLock: null, micTrack: null, outputMuted: false,
  hls: null, linkTimer: null, switches: 0, switchPending: false,
};
let room = null;
export const currentRoom = () => room;

// What the page does after a rejoin: take the role the join answered, or end when refused.
const hooks = { setRole: () => {}, endedLocally: () => {}, transportChanged: () => {} };
export function setAudioHooks(h) { Object.assign(hooks, h); }

// The transport the join answered: LiveKit credentials, or a signed HLS playlist (no LiveKit).
export async function connectMedia(creds) {
  const transport = creds.transport === "hls" ? "hls" : "webrtc";
  if (creds.asked === "hls" && transport !== "hls") page.listenOverHls = false; // this server has no HLS
  if (transport === "hls") page.listenOverHls = true; // moved to the stage and back: HLS again
  const changed = transport !== page.transport;
  page.transport = transport;
  if (changed) hooks.transportChanged(transport);
  if (transport === "hls") startHls(creds);
  else await connectAudio(creds);
}

function teardownHls() {
  if (audio.linkTimer) { clearTimeout(audio.linkTimer); audio.linkTimer = null; }
  if (audio.hls) { audio.hls.destroy(); audio.hls = null; }
  document.querySelectorAll("audio[data-hls]").forEach((el) => el.remove());
}

// HLS: one player at a time, in the same generation scheme as Rooms. A fresh join for the same session
// (the link refresh, a rejoin after a network error) hands the player the new link instead of a new load.
function startHls(creds) {
  const expiresMs = Math.max(10, creds.expires_in || 120) * 1000;
  if (audio.hls && !audio.hls.destroyed) {
    audio.hls.useLink(creds.hls_url);
  } else {
    const gen = ++audio.gen;
    const old = room;
    room = null;
    if (old) { old.removeAllListeners(); old.disconnect().catch(() => {}); }
    document.querySelectorAll("audio[data-lk]").forEach((el) => el.remove());
    if (audio.meter) { clearInterval(audio.meter.timer); audio.meter.cleanup(); audio.meter = null; }
    state.micOn = false;
    teardownHls();
    const current = () => gen === audio.gen && !page.closedFor;
    const el = document.createElement("audio");
    el.dataset.hls = "1";
    el.muted = audio.outputMuted;
    document.body.appendChild(el);
    audio.hls = new HlsPlayer({
      el, url: creds.hls_url, Hls,
      onNeedLink: (why) => current() && rejoin(`hls: ${why}`),
      onPlayback: () => current() && onPlaybackStatus(),
    });
    console.info(`spaces-audio: HLS (${audio.hls.start()})`);
    window.__spacesRoom = null;
    if (!audio.timer) audio.timer = setInterval(checkInbound, CHECK_EVERY_MS);
  }
  // Refresh the signed link at three quarters of its life, so playback never meets an expired one.
  if (audio.linkTimer) clearTimeout(audio.linkTimer);
  audio.linkTimer = setTimeout(refreshHlsLink, expiresMs * 0.75);
  onPlaybackStatus();
}

async function refreshHlsLink() {
  audio.linkTimer = null;
  if (!audio.hls || page.closedFor || !state.joined) return;
  if (audio.rejoining) { audio.linkTimer = setTimeout(refreshHlsLink, 5000); return; }
  try {
    const creds = await joinCredentials();
    if (page.closedFor || !audio.hls) return;
    await connectMedia(creds);
    hooks.setRole(creds.role);
  } catch (err) {
    if (err instanceof ApiError && REFUSALS.has(err.code)) { hooks.endedLocally(explain(err)); return; }
    audio.linkTimer = setTimeout(refreshHlsLink, 5000); // the old link still has a quarter of its life
  }
}

// After a role change: on stage means WebRTC (publishing); back in the audience, HLS again for someone
// who listened over HLS before (or chose the data saver). Through the rejoin loop, so refusals and
// backoff apply; the page stays, and so does the socket.
export function syncTransportToRole() {
  if (!state.joined || page.closedFor || !page.transport) return;
  const want = onStage() ? "webrtc" : wantHls() ? "hls" : null;
  if (!want || want === page.transport) return;
  if (audio.rejoining) { audio.switchPending = true; return; }
  rejoin(`switch to ${want}`, { switching: true });
}

// One Room at a time: every rejoin makes a new one and bumps audio.gen, so a late event of an old Room
// (its Disconnected, its tracks) is ignored.
export async function connectAudio(creds) {
  const gen = ++audio.gen;
  teardownHls();
  const old = room;
  room = null;
  if (old) { old.removeAllListeners(); await old.disconnect().catch(() => {}); }
  document.querySelectorAll("audio[data-lk]").forEach((el) => el.remove());
  audio.watch.clear();
  const r = new Room({ adaptiveStream: true, dynacast: true, reconnectPolicy: new DefaultReconnectPolicy(SDK_RECONNECT_DELAYS_MS) });
  const current = () => gen === audio.gen && !page.closedFor;
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
export function onPlaybackStatus() {
  const blocked = ((!!room && !room.canPlaybackAudio) || (!!audio.hls && audio.hls.blocked)) && !page.closedFor;
  if (blocked === $("tap-to-listen").hidden) console.info(`spaces-audio: playback ${blocked ? "blocked" : "allowed"}`);
  $("tap-to-listen").hidden = !blocked;
  if (blocked) announce("Your browser paused the sound. Press Tap to listen.");
}

export async function tapToListen() {
  if (audio.hls) {
    if (await audio.hls.play()) announce("Listening.");
    else toast("Your browser still blocks the sound: tap again.");
    onPlaybackStatus();
    return;
  }
  if (!room) return;
  try { await room.startAudio(); } catch { toast("Your browser still blocks the sound: tap again."); }
  onPlaybackStatus();
  if (room && room.canPlaybackAudio) announce("Listening.");
}

// Rejoin: ask the REST join again (fresh token; bans, tickets and role changes apply), with backoff and
// jitter; only a refusal stops it.
export async function rejoin(why, { switching = false } = {}) {
  if (audio.rejoining || page.closedFor || !state.joined) return;
  audio.rejoining = true;
  audio.switchPending = false;
  const words = switching
    ? { trying: "Switching audio…", done: "Audio switched", said: onStage() ? "Live audio on: you can speak." : "Back to the audience stream." }
    : { trying: "Reconnecting audio…", done: "Audio reconnected", said: "Audio reconnected." };
  const started = performance.now();
  console.info("rejoining audio:", why);
  let attempt = 0;
  try {
    while (!page.closedFor) {
      audioStatus(attempt ? `${words.trying.slice(0, -1)} (attempt ${attempt + 1})…` : words.trying, "warn");
      try {
        const creds = await joinCredentials();
        if (page.closedFor) return;
        await connectMedia(creds);
        if (page.closedFor) return;
        if (switching) audio.switches += 1; else audio.rejoins += 1;
        audio.lastRejoinMs = Math.round(performance.now() - started);
        audioStatus(words.done, "ok");
        setTimeout(() => { if ($("audio-status").textContent === words.done) audioStatus(""); }, 4000);
        announce(words.said);
        hooks.setRole(creds.role);
        syncMicToRole();
        return;
      } catch (err) {
        if (err instanceof ApiError && REFUSALS.has(err.code)) {
          const text = err.code === "space_not_live" ? "This Space has ended." : explain(err);
          hooks.endedLocally(text);
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
    if (audio.switchPending) { audio.switchPending = false; setTimeout(syncTransportToRole, 0); }
  }
}

// Self-healing: every second, for each remote speaker with an unmuted microphone, check that this
// listener has the track and, while the SFU says they are speaking, that its receiver still gets packets.
// Missing or silent for SILENT_CHECKS checks: resubscribe; still so: rejoin (at most once a minute).
async function checkInbound() {
  if (audio.hls && !audio.rejoining && !page.closedFor) audio.hls.tick();
  const r = room;
  if (!r || audio.rejoining || page.closedFor || r.state !== "connected") return;
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
  if (page.guest) return; // the counter is per account; a guest has none
  api("POST", `/spaces/${page.spaceId}/audio-reports`, { kind }).catch(() => {});
}

// "Can't hear?": unlock playback (this is a gesture), resubscribe everyone, report it; if a speaker is
// still silent a few seconds later, rejoin.
export async function cantHear() {
  reportAudio("cant_hear");
  audio.heals.push({ kind: "cant_hear", at: Date.now() });
  announce("Trying to fix the sound…");
  if (audio.hls) {
    // HLS: play inside the gesture; a player that is not moving gets a fresh link and a new load.
    await audio.hls.play();
    onPlaybackStatus();
    if (audio.hls && audio.hls.stalled > 0) audio.hls.relink("can't hear");
    return;
  }
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
  if (r !== room || page.closedFor) return;
  for (const p of r.remoteParticipants.values()) {
    const pub = [...p.audioTrackPublications.values()][0];
    if (!pub || pub.isMuted || !p.isSpeaking) continue;
    const now = pub.track ? await inboundCounters(pub.track).catch(() => null) : null;
    if (!now || now.packets === 0) { logHeal("rejoin", p.identity, "button"); rejoin("can't hear"); return; }
  }
  announce("Sound checked.");
}

// ---------------------------------------------------------------- microphone
export function micProblemShow(text) {
  $("mic-problem").hidden = !text;
  $("mic-problem-text").textContent = text || "";
  if (text) announce(text);
}

export async function setMic(on) {
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

export function syncMicToRole() {
  if (!room) return;
  if (onStage()) {
    const mine = state.stage.find((p) => p.user_id === page.me.id);
    if (room.localParticipant.permissions?.canPublish !== false && !(mine && mine.is_muted)) setMic(true);
  } else if (state.micOn) {
    setMic(false);
  }
}

// ---------------------------------------------------------------- background and lock screen
// Media Session: the Space's title and host on the lock screen / notification, pause = mute what we hear,
// hang up = leave, toggle microphone for speakers. Wake lock: the screen stays on while speaking.
export function mediaSessionSetup() {
  if (!("mediaSession" in navigator)) return;
  try {
    navigator.mediaSession.metadata = new MediaMetadata({
      title: $("space-title").textContent, artist: `Hosted by @${root.dataset.host}`, album: "Spaces",
    });
  } catch { /* MediaMetadata unsupported */ }
  const handlers = {
    pause: () => setOutputMuted(true),
    play: () => { setOutputMuted(false); if (room) room.startAudio().catch(() => {}); if (audio.hls) audio.hls.play(); },
    stop: () => $("leave-btn").click(),
    hangup: () => $("leave-btn").click(),
    togglemicrophone: () => { if (onStage()) setMic(!state.micOn); },
  };
  Object.entries(handlers).forEach(([action, fn]) => { try { navigator.mediaSession.setActionHandler(action, fn); } catch { /* not in this browser */ } });
  mediaSessionSync();
}

export function setOutputMuted(muted) {
  audio.outputMuted = muted;
  document.querySelectorAll("audio[data-lk], audio[data-hls]").forEach((el) => { el.muted = muted; });
  mediaSessionSync();
}

function mediaSessionSync() {
  if (!("mediaSession" in navigator)) return;
  try {
    navigator.mediaSession.playbackState = audio.outputMuted ? "paused" : "playing";
    if (navigator.mediaSession.setMicrophoneActive) navigator.mediaSession.setMicrophoneActive(!!state.micOn);
  } catch { /* partial support */ }
}

export async function wakeLockSync() {
  const want = state.micOn && !page.closedFor && document.visibilityState === "visible";
  if (want && !audio.wakeLock && "wakeLock" in navigator) {
    try {
      audio.wakeLock = await navigator.wakeLock.request("screen");
      audio.wakeLock.addEventListener("release", () => { audio.wakeLock = null; });
    } catch { audio.wakeLock = null; /* refused (battery saver, not visible): nothing to do */ }
  } else if (!want && audio.wakeLock) {
    const lock = audio.wakeLock; audio.wakeLock = null; lock.release().catch(() => {});
  }
}

export async function leaveAudio() {
  audio.gen += 1;
  if (audio.timer) { clearInterval(audio.timer); audio.timer = null; }
  if (audio.meter) { clearInterval(audio.meter.timer); audio.meter.cleanup(); audio.meter = null; }
  state.micOn = false;
  wakeLockSync();
  teardownHls();
  if (room) { const r = room; room = null; r.removeAllListeners(); await r.disconnect(); }
  document.querySelectorAll("audio[data-lk]").forEach((el) => el.remove());
}
