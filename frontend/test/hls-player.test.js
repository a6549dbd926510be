// The HLS player's policies and recovery (src/hls-player.js) with a fake hls.js and a fake <audio>, under
// node's test runner. What Chromium does with the real hls.js is tests/web/test_hls_browser.py's part.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  HlsPlayer, fatalAction, linkBase, playbackMode, rewriteLink, stallAction, waitForPlaylist, HLS_CONFIG,
  PLAYLIST_WAIT_TRIES, STALL_RELINK_S,
} from "../src/hls-player.js";

const LINK = "http://127.0.0.1:9/hls/AAAAAAAAAAAAAAAAAAAAAA/1000/u7/3/index.m3u8";
const FRESH = "http://127.0.0.1:9/hls/BBBBBBBBBBBBBBBBBBBBBB/1090/u7/3/index.m3u8";

class FakeHls {
  static Events = { ERROR: "hlsError", MANIFEST_PARSED: "hlsManifestParsed" };
  static ErrorTypes = { NETWORK_ERROR: "networkError", MEDIA_ERROR: "mediaError", MUX_ERROR: "muxError" };
  static supported = true;
  static isSupported() { return FakeHls.supported; }
  constructor(config) { this.config = config; this.handlers = {}; this.calls = []; this.liveSyncPosition = null; FakeHls.last = this; }
  on(name, fn) { this.handlers[name] = fn; }
  emit(name, data) { this.handlers[name](name, data); }
  loadSource(url) { this.calls.push(["loadSource", url]); }
  attachMedia(el) { this.calls.push(["attachMedia", el.id]); }
  startLoad(at) { this.calls.push(["startLoad", at]); }
  recoverMediaError() { this.calls.push(["recoverMediaError"]); }
  swapAudioCodec() { this.calls.push(["swapAudioCodec"]); }
  destroy() { this.calls.push(["destroy"]); }
  // What the XHR loader does with xhrSetup: the URL it finally opens.
  opened(url) { let got = null; this.config.xhrSetup({ open: (_m, u) => { got = u; } }, url); return got; }
}

function fakeAudio({ native = "", refuse = null } = {}) {
  const listeners = {};
  return {
    id: "a1", paused: false, currentTime: 0, src: "", removed: false, attrs: {},
    canPlayType: (type) => (type === "application/vnd.apple.mpegurl" ? native : ""),
    play() { return refuse ? Promise.reject(Object.assign(new Error("no"), { name: refuse })) : Promise.resolve(); },
    pause() { this.paused = true; },
    removeAttribute(name) { this.attrs[name] = null; },
    remove() { this.removed = true; },
    addEventListener(name, fn) { listeners[name] = fn; },
    fire(name) { listeners[name](); },
  };
}

function player({ el = fakeAudio(), supported = true, now = () => 1000 } = {}) {
  FakeHls.supported = supported;
  const needs = [];
  const playback = [];
  const p = new HlsPlayer({
    el, url: LINK, Hls: FakeHls, now, log: { info() {} },
    onNeedLink: (why) => needs.push(why), onPlayback: (blocked) => playback.push(blocked),
  });
  return { p, el, needs, playback };
}

const tick = () => new Promise((r) => setImmediate(r));

test("hls.js where Media Source exists, native HLS where not (Safari), else nothing", () => {
  assert.equal(playbackMode({ mse: true, native: true }), "hls.js");
  assert.equal(playbackMode({ mse: false, native: true }), "native");
  assert.equal(playbackMode({ mse: false, native: false }), null);
  const { p, el } = player({ supported: false, el: fakeAudio({ native: "maybe" }) });
  assert.equal(p.start(), "native");
  assert.equal(el.src, LINK);
  assert.equal(p.hls, null);
  const none = player({ supported: false, el: fakeAudio({ native: "" }) });
  assert.throws(() => none.p.start(), /cannot play HLS/);
});

test("hls.js loads the signed playlist into the element, with no Web Worker (the CSP refuses blob: scripts)", () => {
  const { p } = player();
  assert.equal(p.start(), "hls.js");
  assert.deepEqual(p.hls.calls, [["loadSource", LINK], ["attachMedia", "a1"]]);
  assert.equal(p.hls.config.enableWorker, false);
  assert.equal(HLS_CONFIG.enableWorker, false);
});

test("a fresh link: every later request goes to its directory, segments included, without a reload", () => {
  assert.equal(linkBase(LINK), "http://127.0.0.1:9/hls/AAAAAAAAAAAAAAAAAAAAAA/1000/u7/3/");
  assert.equal(rewriteLink(LINK.replace("index.m3u8", "s12.ts"), linkBase(LINK), linkBase(FRESH)), FRESH.replace("index.m3u8", "s12.ts"));
  assert.equal(rewriteLink("http://elsewhere/x.ts", linkBase(LINK), linkBase(FRESH)), "http://elsewhere/x.ts");
  const { p } = player();
  p.start();
  assert.equal(p.hls.opened(LINK.replace("index.m3u8", "s5.ts")), LINK.replace("index.m3u8", "s5.ts"));
  p.useLink(FRESH);
  assert.equal(p.hls.opened(LINK.replace("index.m3u8", "s6.ts")), FRESH.replace("index.m3u8", "s6.ts"));
  assert.equal(p.hls.opened(LINK), FRESH);
  assert.deepEqual(p.hls.calls.map((c) => c[0]), ["loadSource", "attachMedia"]); // no reload
});

test("media errors: recover, then swap the codec and recover, then a fresh link", () => {
  assert.equal(fatalAction("mediaError", [], 0), "recoverMedia");
  assert.equal(fatalAction("mediaError", [1000], 5000), "swapCodecAndRecover");
  assert.equal(fatalAction("mediaError", [1000, 2000], 5000), "relink");
  assert.equal(fatalAction("mediaError", [1000, 2000], 60000), "recoverMedia"); // long ago: start over
  let t = 1000;
  const { p, needs } = player({ now: () => t });
  p.start();
  const fatal = (type, details) => p.hls.emit("hlsError", { fatal: true, type, details });
  p.hls.emit("hlsError", { fatal: false, type: "mediaError", details: "bufferStalledError" }); // hls.js's own
  fatal("mediaError", "bufferAppendError");
  t += 1000; fatal("mediaError", "bufferAppendError");
  t += 1000; fatal("mediaError", "bufferAppendError");
  assert.deepEqual(p.hls.calls.slice(2).map((c) => c[0]), ["recoverMediaError", "swapAudioCodec", "recoverMediaError"]);
  assert.deepEqual(needs, ["mediaError bufferAppendError"]);
  assert.deepEqual(p.recoveries.map((r) => r.action), ["recoverMedia", "swapCodecAndRecover", "relink"]);
});

test("a fatal network error (an expired link or a removed listener look alike) asks the page once for a fresh link, then reloads from it", () => {
  const { p, needs } = player();
  p.start();
  p.hls.emit("hlsError", { fatal: true, type: "networkError", details: "levelLoadError" });
  p.hls.emit("hlsError", { fatal: true, type: "networkError", details: "fragLoadError" });
  assert.deepEqual(needs, ["networkError levelLoadError"]); // once until the link comes
  p.useLink(FRESH);
  assert.deepEqual(p.hls.calls.slice(2), [["loadSource", FRESH], ["startLoad", -1]]);
  assert.equal(p.hls.opened(FRESH.replace("index.m3u8", "s9.ts")), FRESH.replace("index.m3u8", "s9.ts"));
  p.hls.emit("hlsError", { fatal: true, type: "muxError", details: "fragParsingError" });
  assert.equal(needs.length, 2);
});

test("native HLS: a playback error asks for a fresh link and plays it", async () => {
  const { p, el, needs } = player({ supported: false, el: fakeAudio({ native: "probably" }) });
  p.start();
  el.fire("error");
  assert.deepEqual(needs, ["native playback error"]);
  p.useLink(FRESH);
  assert.equal(el.src, FRESH);
});

test("autoplay refused: the page hears 'blocked', and play() in a gesture clears it", async () => {
  const el = fakeAudio({ refuse: "NotAllowedError" });
  const { p, playback } = player({ el });
  p.start();
  p.hls.emit("hlsManifestParsed", {});
  await tick();
  assert.equal(p.blocked, true);
  el.play = () => Promise.resolve();
  assert.equal(await p.play(), true);
  assert.deepEqual(playback, [true, false]);
});

test("a stall: jump to the live edge every few seconds (the playlist moved on, as after failover), a fresh link past the lease", () => {
  assert.equal(stallAction(1, { behindLiveS: 10 }), "wait");
  assert.equal(stallAction(4, { behindLiveS: 10 }), "seekLive");
  assert.equal(stallAction(4, { behindLiveS: 0.5 }), "wait");
  assert.equal(stallAction(STALL_RELINK_S, { behindLiveS: 0 }), "relink");
  const { p, el, needs } = player();
  p.start();
  el.currentTime = 5;
  p.tick(); // baseline
  el.currentTime = 6; p.tick();
  assert.equal(p.stalled, 0);
  p.hls.liveSyncPosition = 30;
  for (let i = 0; i < 4; i++) p.tick();
  assert.equal(el.currentTime, 30);
  for (let i = 0; i < STALL_RELINK_S; i++) p.tick();
  assert.deepEqual(needs, ["stalled"]);
  // Paused (the listener's choice) or blocked is not a stall.
  const quiet = player();
  quiet.p.start();
  quiet.el.paused = true;
  for (let i = 0; i < STALL_RELINK_S + 2; i++) quiet.p.tick();
  assert.deepEqual(quiet.needs, []);
});

test("destroy stops hls.js and removes the element; a destroyed player asks for nothing", () => {
  const { p, el, needs } = player();
  p.start();
  const hls = p.hls;
  p.destroy();
  assert.deepEqual(hls.calls.at(-1), ["destroy"]);
  assert.equal(el.removed, true);
  p.relink("late");
  assert.deepEqual(needs, []);
});

test("a playlist not written yet (404, or status 0 from an origin without CORS on errors) is waited for, up to a bound", () => {
  assert.equal(HLS_CONFIG.manifestLoadPolicy.default.errorRetry.shouldRetry, waitForPlaylist);
  assert.equal(waitForPlaylist({}, 0, false, { code: 404 }, false), true);
  assert.equal(waitForPlaylist({}, PLAYLIST_WAIT_TRIES - 1, false, { code: 404 }, false), true);
  assert.equal(waitForPlaylist({}, PLAYLIST_WAIT_TRIES, false, { code: 404 }, false), false);
  assert.equal(waitForPlaylist({}, 0, false, { code: 403 }, false), false);
  assert.equal(waitForPlaylist({}, 0, false, { code: 0 }, false), true);
  assert.equal(waitForPlaylist({}, PLAYLIST_WAIT_TRIES, false, { code: 0 }, false), false);
  assert.equal(waitForPlaylist({}, 0, false, { code: 503 }, true), true); // hls.js's own answer stands
});
