// The Spaces websocket's seq/resync/reconnect logic (src/socket.js), driven with a fake WebSocket and a
// fake timer under node's test runner (`node --test test/`, run by bin/test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SpaceSocket, closeVerdict, reconnectDelay } from "../src/socket.js";

class FakeWebSocket {
  static OPEN = 1;
  static made = [];
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; FakeWebSocket.made.push(this); }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.readyState = 3; this.onclose?.({ code: 1006, reason: "" }); }
  // What the server does:
  open() { this.readyState = 1; this.onopen?.(); }
  frame(obj) { this.onmessage?.({ data: JSON.stringify(obj) }); }
  lose(code = 1006, reason = "") { this.readyState = 3; this.onclose?.({ code, reason }); }
}

function harness(options = {}) {
  FakeWebSocket.made = [];
  const events = [];
  const statuses = [];
  const timers = [];
  const socket = new SpaceSocket({
    url: () => "ws://127.0.0.1/ws/spaces/7/",
    onEvent: (ev) => events.push(ev),
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: FakeWebSocket,
    schedule: (fn, ms) => timers.push({ fn, ms }),
    ...options,
  });
  socket.connect();
  const ws = () => FakeWebSocket.made.at(-1);
  ws().open();
  return { socket, events, statuses, timers, ws };
}

const types = (events) => events.map((e) => `${e.type}${e.seq === undefined ? "" : "@" + e.seq}`);

test("the snapshot sets seq, and each next event moves it", () => {
  const { socket, events, ws } = harness();
  ws().frame({ type: "snapshot", seq: 41, data: {} });
  ws().frame({ type: "hand.raised", seq: 42, data: {} });
  ws().frame({ type: "stage.updated", seq: 43, data: { stage: [] } });
  assert.equal(socket.seq, 43);
  assert.deepEqual(types(events), ["snapshot@41", "hand.raised@42", "stage.updated@43"]);
  assert.deepEqual(ws().sent, []);
});

test("a gap asks for a resync and does not apply the event past it", () => {
  const { socket, events, ws } = harness();
  ws().frame({ type: "snapshot", seq: 10, data: {} });
  ws().frame({ type: "hand.raised", seq: 12, data: {} });
  assert.deepEqual(ws().sent, [{ action: "resync" }]);
  assert.deepEqual(types(events), ["snapshot@10"]);
  assert.equal(socket.seq, 10);
  // The fresh snapshot the resync brings sets seq again, and the stream goes on from it.
  ws().frame({ type: "snapshot", seq: 12, data: {} });
  ws().frame({ type: "reaction", seq: 13, data: {} });
  assert.equal(socket.seq, 13);
  assert.deepEqual(types(events), ["snapshot@10", "snapshot@12", "reaction@13"]);
  assert.equal(ws().sent.length, 1);
});

test("before any seq is known, the first event's seq is taken as it comes", () => {
  const { socket, events, ws } = harness();
  ws().frame({ type: "snapshot", data: {} }); // a snapshot without seq counts as 0
  ws().frame({ type: "reaction", seq: 57, data: {} });
  assert.equal(socket.seq, 57);
  assert.deepEqual(types(events), ["snapshot", "reaction@57"]);
  assert.deepEqual(ws().sent, []);
});

test("frames without a seq, at or below it, and errors are applied without moving it", () => {
  const { socket, events, ws } = harness();
  ws().frame({ type: "snapshot", seq: 5, data: {} });
  ws().frame({ type: "caption", data: { text: "hi" } });
  ws().frame({ type: "listeners.count", seq: 5, data: { count: 3 } });
  ws().frame({ type: "reaction", seq: 4, data: {} });
  ws().frame({ type: "error", seq: 99, data: { code: "throttled" } });
  assert.equal(socket.seq, 5);
  assert.deepEqual(types(events), ["snapshot@5", "caption", "listeners.count@5", "reaction@4", "error@99"]);
  assert.deepEqual(ws().sent, []);
});

test("a frame that is not JSON is logged and skipped, the next one still applies", (t) => {
  const { socket, events, ws } = harness();
  t.mock.method(console, "error", () => {});
  ws().frame({ type: "snapshot", seq: 1, data: {} });
  ws().onmessage({ data: "{not json" });
  ws().frame({ type: "reaction", seq: 2, data: {} });
  assert.equal(socket.seq, 2);
  assert.equal(events.length, 2);
  assert.equal(console.error.mock.callCount(), 1);
});

test("resync is sent only on an open socket", () => {
  const { socket, ws } = harness();
  socket.resync();
  assert.deepEqual(ws().sent, [{ action: "resync" }]);
  ws().readyState = 0;
  socket.resync();
  assert.equal(ws().sent.length, 1);
});

test("a lost socket reconnects with backoff (0.5 s doubling, capped at 10 s) and an open resets it", () => {
  const { statuses, timers, ws } = harness();
  const first = ws();
  first.lose();
  assert.deepEqual(timers.map((t) => t.ms), [500]);
  assert.equal(statuses.at(-1), "lost");
  for (let i = 0; i < 6; i++) { timers.at(-1).fn(); ws().lose(); }
  assert.deepEqual(timers.map((t) => t.ms), [500, 1000, 2000, 4000, 8000, 10000, 10000]);
  timers.at(-1).fn();
  ws().open();
  assert.equal(statuses.at(-1), "open");
  ws().lose();
  assert.equal(timers.at(-1).ms, 500);
  assert.equal(FakeWebSocket.made.length, 8);
  assert.deepEqual([0, 1, 4, 5, 30].map(reconnectDelay), [500, 1000, 8000, 10000, 10000]);
});

test("the new socket after a reconnect keeps the seq check: a gap since the last event asks for a resync", () => {
  const { socket, events, timers, ws } = harness();
  ws().frame({ type: "snapshot", seq: 3, data: {} });
  ws().lose();
  timers.at(-1).fn();
  ws().open();
  ws().frame({ type: "hand.raised", seq: 9, data: {} });
  assert.deepEqual(ws().sent, [{ action: "resync" }]);
  assert.equal(socket.seq, 3);
  assert.deepEqual(types(events), ["snapshot@3"]);
});

test("the page may take a close (out of the Space): then no reconnect", () => {
  const closes = [];
  const { timers, ws } = harness({ onClose: (e) => { closes.push(e.code); return e.code >= 4000; } });
  ws().lose(4403);
  assert.deepEqual(closes, [4403]);
  assert.deepEqual(timers, []);
  assert.equal(FakeWebSocket.made.length, 1);
});

test("stop() closes for good; an old socket's late close does not reconnect", () => {
  const { socket, timers, ws } = harness();
  const old = ws();
  socket.drop(); // as a network failure: reconnects
  assert.equal(timers.length, 1);
  timers[0].fn();
  assert.notEqual(ws(), old);
  old.lose(); // the old socket's close, late: ignored
  assert.equal(timers.length, 1);
  socket.stop();
  assert.equal(timers.length, 1);
  socket.connect();
  assert.equal(FakeWebSocket.made.length, 2);
});

test("close codes from the server say why we are out; others reconnect", () => {
  assert.equal(closeVerdict({ code: 1006, reason: "" }, { joined: true }), null);
  assert.equal(closeVerdict({ code: 4403, reason: "" }, { joined: true }), "You were removed from this Space and cannot rejoin.");
  assert.equal(closeVerdict({ code: 4403, reason: "" }, { joined: false }), "You can't join this Space.");
  assert.equal(closeVerdict({ code: 4403, reason: "banned" }, { joined: false }), "You were removed from this Space and cannot rejoin.");
  assert.equal(closeVerdict({ code: 4410, reason: "" }, { joined: true }), "This Space has ended.");
  assert.equal(closeVerdict({ code: 4402, reason: "" }, { joined: true }), "This Space is ticketed: buy a ticket to join.");
  assert.equal(closeVerdict({ code: 4999, reason: "" }, { joined: true }), null);
});

test("reopen (the transport changed, so the URL did): a new connection at once, the old one's close ignored", () => {
  let path = "/ws/spaces/7/";
  const { socket, timers, ws } = harness({ url: () => `ws://127.0.0.1${path}` });
  const old = ws();
  path = "/ws/spaces/7/?transport=hls";
  socket.reopen();
  assert.equal(FakeWebSocket.made.length, 2);
  assert.equal(ws().url, "ws://127.0.0.1/ws/spaces/7/?transport=hls");
  assert.equal(old.readyState, 3);
  assert.deepEqual(timers, []);
  socket.stop();
  socket.reopen();
  assert.equal(FakeWebSocket.made.length, 2);
});
