// The Space page's shared context: which Space, who is looking, the live state every module reads, and
// the REST join. socket.js, render.js and audio-session.js share it; space.js wires them together.
export const { api, esc, toast, ApiError } = window.Spaces;

export const root = document.getElementById("space");
export const $ = (id) => document.getElementById(id);

export const page = {
  spaceId: root.dataset.spaceId,
  me: { id: Number(document.body.dataset.userId), username: document.body.dataset.username },
  // A guest listener (no account; the host allows it): the same listening path, credentials from
  // guest-join, the event socket opened with the guest pass, and no action controls (docs/security.md,
  // "Guest listeners").
  guest: root.dataset.guest === "1",
  guestPass: null,
  closedFor: null, // set when the server tells us we are out (removed, banned, ended)
  transport: null, // how the audio comes now: "webrtc" (LiveKit) or "hls" (the join answer's `transport`)
  // Ask for HLS when in the audience: the listener chose the data saver, or a join gave HLS before (a
  // listener of a Space past its WebRTC capacity goes back to HLS after the stage).
  listenOverHls: readDataSaver(),
};

function readDataSaver() { try { return localStorage.getItem("spaces.dataSaver") === "on"; } catch { return false; } }
export function setDataSaver(on) {
  page.listenOverHls = on;
  try { localStorage.setItem("spaces.dataSaver", on ? "on" : "off"); } catch { /* storage refused */ }
}

export const state = { role: null, stage: [], queue: [], spaceState: null, joined: false, handUp: false, invitation: null, micOn: false };

export const isHostTeam = () => state.role === "host" || state.role === "cohost";
export const onStageRole = (role) => ["host", "cohost", "speaker"].includes(role);
export const onStage = () => onStageRole(state.role);

// Whether the next join asks for HLS. Anyone on stage gets WebRTC whatever they ask (the server decides).
export const wantHls = () => page.listenOverHls && !page.guest && !onStage();

// The REST join, or guest-join for a guest: LiveKit credentials, or (`transport: "hls"`) a signed HLS
// playlist URL. `asked` remembers whether this join asked for HLS.
export async function joinCredentials() {
  if (!page.guest) {
    if (!wantHls()) return api("POST", `/spaces/${page.spaceId}/join`);
    return { ...(await api("POST", `/spaces/${page.spaceId}/join`, { transport: "hls" })), asked: "hls" };
  }
  const creds = await api("POST", `/spaces/${page.spaceId}/guest-join`);
  page.guestPass = creds.ws_ticket;
  return { ...creds, role: "listener", is_muted: true };
}
