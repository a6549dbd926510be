// HLS playback for listeners (issue 18): hls.js where the browser has Media Source, the browser's own HLS
// where it has not (Safari on iOS), and recovery without a reload: network and media errors, a stall, the
// playlist's discontinuity when another agent takes a Space over. The page (audio-session.js) owns the
// session: it gives a signed playlist URL, hears back when a fresh one is needed (onNeedLink), and keeps
// the autoplay prompt and the rejoin with backoff for HLS as for WebRTC.
//
// The policies here are plain functions and a class that takes hls.js and the media element as arguments,
// so frontend/test/hls-player.test.js runs them under node with fakes.
import HlsLight from "hls.js/light";

// hls.js (Media Source) first: it recovers from errors and follows links we refresh; else native HLS.
export function playbackMode({ mse, native }) {
  if (mse) return "hls.js";
  if (native) return "native";
  return null;
}

// Links are signed per listener and short-lived (SPACES_HLS_LINK_TTL_S). The signature sits in the
// playlist's path and the playlist names its segments relatively, so every URL hls.js asks for starts with
// the playlist's directory. A fresh join gives a fresh directory; requests are rewritten to it, so the
// stream goes on from the same buffer. A removed or banned listener gets no fresh link: theirs expires.
export function linkBase(url) { return url.slice(0, url.lastIndexOf("/") + 1); }
export function rewriteLink(url, loadedBase, freshBase) {
  return freshBase && loadedBase && url.startsWith(loadedBase) ? freshBase + url.slice(loadedBase.length) : url;
}

// What to do about a fatal hls.js error. Media errors: recoverMediaError(); a second within 10 s: swap the
// audio codec and recover; a third: a fresh link and a new load. Network errors (hls.js has already
// retried with its own backoff; an expired link and a removed listener look the same from here, as a 403
// without CORS headers has no readable status): a fresh link, through the page's rejoin, which applies
// refusals and backs off. Anything else: a fresh link too.
export const MEDIA_ERROR_WINDOW_MS = 10000;
export function fatalAction(type, history, now) {
  if (type === "mediaError") {
    const recent = history.filter((t) => now - t < MEDIA_ERROR_WINDOW_MS);
    if (recent.length === 0) return "recoverMedia";
    if (recent.length === 1) return "swapCodecAndRecover";
    return "relink";
  }
  return "relink";
}

// The stall watch, once a second: media time that does not move while we play. hls.js nudges small stalls
// itself; past STALL_SEEK_S we jump to the live edge (the playlist may have jumped on failover); past
// STALL_RELINK_S (longer than an agent's lease) a fresh link and a new load.
export const STALL_SEEK_S = 4;
export const STALL_RELINK_S = 20;
export function stallAction(stalledS, { behindLiveS }) {
  if (stalledS >= STALL_RELINK_S) return "relink";
  if (stalledS >= STALL_SEEK_S && stalledS % STALL_SEEK_S === 0 && behindLiveS > 1) return "seekLive";
  return "wait";
}

// The playlist is missing (404) for a moment when the Space's agent starts writing it: wait for it, a
// second apart, instead of a fatal error and a new join (hls.js retries no 4xx by itself). An origin that
// sends its CORS header only on success (nginx's add_header without `always`) shows that 404 as status 0,
// like a 403 (expired or revoked link), so status 0 is waited for too, up to the same bound; then the
// page's rejoin gets a fresh link (or a refusal).
export const PLAYLIST_WAIT_TRIES = 10;
export function waitForPlaylist(_config, count, _timeout, response, retry) {
  return retry || (!!response && (response.code === 404 || response.code === 0) && count < PLAYLIST_WAIT_TRIES);
}
const PLAYLIST_POLICY = {
  default: {
    maxTimeToFirstByteMs: 10000, maxLoadTimeMs: 20000,
    timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
    errorRetry: { maxNumRetry: 4, retryDelayMs: 1000, maxRetryDelayMs: 1000, shouldRetry: waitForPlaylist },
  },
};

// hls.js settings for a talk stream: no Web Worker (transmuxing AAC audio is light, and a worker would be
// a blob: script the Content-Security-Policy refuses), two 1-second segments behind live, catch up by
// jumping when more than six behind.
export const HLS_CONFIG = {
  enableWorker: false,
  liveSyncDurationCount: 2,
  liveMaxLatencyDurationCount: 6,
  backBufferLength: 10,
  manifestLoadPolicy: PLAYLIST_POLICY,
  playlistLoadPolicy: PLAYLIST_POLICY,
};

export class HlsPlayer {
  // el: the <audio> element; url: the signed playlist URL; onNeedLink(why): the page fetches a fresh
  // link (relink() with it, or ends); onPlayback(blocked): autoplay allowed or blocked.
  constructor({ el, url, onNeedLink, onPlayback = () => {}, Hls = HlsLight, now = () => Date.now(), log = console }) {
    Object.assign(this, { el, url, onNeedLink, onPlayback, Hls, now, log });
    this.hls = null;
    this.mode = null;
    this.loadedBase = linkBase(url);
    this.freshBase = null;
    this.mediaErrors = [];
    this.recoveries = [];
    this.stalled = 0;
    this.lastTime = -1;
    this.blocked = false;
    this.destroyed = false;
    this.needLink = false;
  }

  start() {
    this.mode = playbackMode({
      mse: !!(this.Hls && this.Hls.isSupported()),
      native: !!this.el.canPlayType && this.el.canPlayType("application/vnd.apple.mpegurl") !== "",
    });
    if (this.mode === "hls.js") {
      const hls = new this.Hls({
        ...HLS_CONFIG,
        xhrSetup: (xhr, url) => { xhr.open("GET", rewriteLink(url, this.loadedBase, this.freshBase), true); },
      });
      this.hls = hls;
      const { Events, ErrorTypes } = this.Hls;
      hls.on(Events.ERROR, (_event, data) => this.onError(data, ErrorTypes));
      hls.on(Events.MANIFEST_PARSED, () => this.play());
      hls.loadSource(this.url);
      hls.attachMedia(this.el);
    } else if (this.mode === "native") {
      this.el.addEventListener("error", () => this.relink("native playback error"));
      this.el.src = this.url;
      this.play();
    } else {
      throw new Error("This browser cannot play HLS");
    }
    return this.mode;
  }

  // Plays; a browser that wants a gesture first rejects, and the page shows "Tap to listen".
  async play() {
    if (this.destroyed) return false;
    try {
      await this.el.play();
      this.setBlocked(false);
      return true;
    } catch (err) {
      if (err && err.name === "NotAllowedError") this.setBlocked(true);
      return false;
    }
  }

  setBlocked(blocked) {
    if (this.blocked === blocked) return;
    this.blocked = blocked;
    this.onPlayback(blocked);
  }

  onError(data, ErrorTypes) {
    if (this.destroyed || !data.fatal) return;
    const type = data.type === ErrorTypes.MEDIA_ERROR ? "mediaError" : data.type === ErrorTypes.NETWORK_ERROR ? "networkError" : "other";
    const now = this.now();
    const action = fatalAction(type, this.mediaErrors, now);
    if (type === "mediaError") this.mediaErrors = [...this.mediaErrors.filter((t) => now - t < MEDIA_ERROR_WINDOW_MS), now];
    this.recoveries.push({ action, type, details: data.details, at: now });
    this.log.info(`spaces-hls: fatal ${type} (${data.details}): ${action}`);
    if (action === "recoverMedia") this.hls.recoverMediaError();
    else if (action === "swapCodecAndRecover") { this.hls.swapAudioCodec(); this.hls.recoverMediaError(); }
    else this.relink(`${type} ${data.details}`);
  }

  // Ask the page for a fresh link (once until it comes).
  relink(why) {
    if (this.destroyed || this.needLink) return;
    this.needLink = true;
    this.onNeedLink(why);
  }

  // A fresh signed link from a new join. Refresh (the old one still plays): later requests go to the new
  // directory. After a failure: load again from the new link.
  useLink(url) {
    if (this.destroyed) return;
    const failed = this.needLink;
    this.needLink = false;
    this.url = url;
    if (this.mode === "hls.js") {
      if (failed) {
        this.loadedBase = linkBase(url); this.freshBase = null;
        this.hls.loadSource(url);
        this.hls.startLoad(-1);
      } else {
        this.freshBase = linkBase(url);
      }
    } else if (failed) {
      this.el.src = url;
    }
    if (failed) { this.stalled = 0; this.play(); }
  }

  // Once a second (the page's timer): the stall watch.
  tick() {
    if (this.destroyed || this.blocked || this.el.paused) { this.lastTime = this.el.currentTime; this.stalled = 0; return; }
    const t = this.el.currentTime;
    this.stalled = t > this.lastTime ? 0 : this.stalled + 1;
    this.lastTime = t;
    const live = this.hls && typeof this.hls.liveSyncPosition === "number" ? this.hls.liveSyncPosition : null;
    const action = stallAction(this.stalled, { behindLiveS: live === null ? 0 : live - t });
    if (action === "seekLive") {
      this.recoveries.push({ action, at: this.now() });
      this.el.currentTime = live;
      this.lastTime = live; // a jump is not progress: the stall counts on until the time moves past it
    } else if (action === "relink") {
      this.recoveries.push({ action, at: this.now() });
      this.stalled = 0;
      this.relink("stalled");
    }
  }

  destroy() {
    this.destroyed = true;
    if (this.hls) { this.hls.destroy(); this.hls = null; }
    this.el.pause();
    this.el.removeAttribute("src");
    this.el.remove();
  }
}
