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
};

export const state = { role: null, stage: [], queue: [], spaceState: null, joined: false, handUp: false, invitation: null, micOn: false };

export const isHostTeam = () => state.role === "host" || state.role === "cohost";
export const onStageRole = (role) => ["host", "cohost", "speaker"].includes(role);
export const onStage = () => onStageRole(state.role);

// The REST join, or guest-join for a guest; either gives the LiveKit credentials.
export async function joinCredentials() {
  if (!page.guest) return api("POST", `/spaces/${page.spaceId}/join`);
  const creds = await api("POST", `/spaces/${page.spaceId}/guest-join`);
  page.guestPass = creds.ws_ticket;
  return { ...creds, role: "listener", is_muted: true };
}
