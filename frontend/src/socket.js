// The Spaces websocket (docs/protocol.md): one connection at a time, the `seq` check that asks for a
// resync when an event was missed, and reconnect with backoff. No DOM here: the page passes callbacks, and
// frontend/test/socket.test.js drives it with a fake WebSocket under node's test runner.
import { ERRORS } from "./messages.js";

// Reconnect backoff after a lost socket: 0.5 s, 1 s, 2 s … capped at 10 s; an open socket resets it.
export function reconnectDelay(retry) { return Math.min(10000, 500 * 2 ** retry); }

// A close code >= 4000 is the server saying why we are out: the text to show, or null to reconnect.
// daphne drops close reasons, and the close can overtake the participant.removed frame: a 4403 on a socket
// that was already in the Space means its user was taken out of it.
export function closeVerdict(e, { joined }) {
  if (!(e.code >= 4000)) return null;
  const forbidden = joined ? ERRORS.removed : "You can't join this Space.";
  const byCode = { 4401: "Please log in again.", 4403: forbidden, 4402: ERRORS.ticket_required, 4404: "This Space does not exist.", 4410: "This Space has ended." };
  return ERRORS[e.reason] || byCode[e.code] || null;
}

export class SpaceSocket {
  // url(): the address, asked at every (re)connect (a guest's pass changes). onEvent(ev): every frame the
  // page should apply. onStatus("connecting" | "open" | "lost"). onClose(closeEvent): return true when the
  // page takes it from there (out of the Space, or a reconnect of its own); otherwise we reconnect.
  constructor({ url, onEvent, onStatus = () => {}, onClose = () => false, WebSocketImpl = globalThis.WebSocket, schedule = (fn, ms) => setTimeout(fn, ms) }) {
    Object.assign(this, { url, onEvent, onStatus, onClose, WebSocketImpl, schedule });
    this.seq = 0; // the last seq applied (the snapshot's, then each event's)
    this.retry = 0;
    this.ws = null;
    this.stopped = false;
  }

  connect() {
    if (this.stopped) return;
    const ws = new this.WebSocketImpl(this.url());
    this.ws = ws;
    this.onStatus("connecting");
    ws.onopen = () => { this.retry = 0; this.onStatus("open"); };
    ws.onmessage = (m) => { try { this.receive(JSON.parse(m.data)); } catch (e) { console.error(e); } };
    ws.onclose = (e) => {
      if (this.stopped || ws !== this.ws) return; // we already know why we are out, or an old socket
      if (this.onClose(e)) return;
      this.onStatus("lost");
      this.schedule(() => this.connect(), reconnectDelay(this.retry++));
    };
  }

  // One frame from the server. A snapshot sets seq; an event one past the last is applied and moves it;
  // a gap (an event missed: a dropped frame, a slow consumer) asks for a fresh snapshot instead of
  // applying the event. Frames without a seq, and ones at or below it, are applied as they come.
  receive(ev) {
    if (ev.type === "snapshot") { this.seq = ev.seq || 0; this.onEvent(ev); return; }
    if (ev.type === "error") { this.onEvent(ev); return; }
    if (typeof ev.seq === "number" && ev.seq > this.seq) {
      if (ev.seq > this.seq + 1 && this.seq) { this.resync(); return; }
      this.seq = ev.seq;
    }
    this.onEvent(ev);
  }

  send(obj) {
    const OPEN = this.WebSocketImpl.OPEN ?? 1;
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify(obj));
  }

  resync() { this.send({ action: "resync" }); }

  // A new connection now (its URL changed: the listener switched transport); the old one's close is ignored.
  reopen() {
    if (this.stopped) return;
    const old = this.ws;
    this.ws = null;
    if (old) old.close();
    this.retry = 0;
    this.connect();
  }

  // Drop the connection as a network failure would: the socket reconnects by itself.
  drop() { if (this.ws) this.ws.close(); }

  // For good: the page is out of the Space (removed, ended, left).
  stop() { this.stopped = true; if (this.ws) this.ws.close(); }
}
