// Listening that heals itself: rejoin backoff, the refusals that end it, and the inbound-audio watch.
// Kept apart from space.js (the page's wiring) so the policies read in one place; docs/architecture.md
// ("Web client: listening that heals itself") explains the choices and the per-browser limits.

// Join refusals: the server said no, so retrying cannot help — stop and say why. Anything else (the
// network, a 5xx, a throttle, LiveKit not answering) is retried with backoff.
export const REFUSALS = new Set([
  "banned", "removed", "blocked", "space_not_live", "space_not_found", "ticket_required",
  "account_suspended", "not_authenticated", "authentication_failed", "permission_denied", "guests_not_allowed",
]);

// Backoff with full jitter around an exponential base (0.5 s, 1 s, 2 s … capped at 15 s): a LiveKit
// node coming back is not met by every listener in the same instant.
export function backoffDelay(attempt, { base = 500, cap = 15000, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

// The SDK's own reconnect (ICE restart / resume) is kept short: it fixes a brief blip without a new
// token; anything longer becomes our rejoin through the REST join (fresh token, bans, tickets, role).
export const SDK_RECONNECT_DELAYS_MS = [0, 300, 1200];

export const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

// Inbound audio per remote speaker, from the receiver's getStats(): packets and audio energy. A speaker
// the SFU reports as speaking whose packets do not grow at this listener for SILENT_CHECKS checks in a
// row is "silent to me".
export const CHECK_EVERY_MS = 1000;
export const SILENT_CHECKS = 3;

export async function inboundCounters(track) {
  const receiver = track && track.receiver;
  if (!receiver) return null;
  let packets = 0; let energy = 0;
  const report = await receiver.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && (s.kind === "audio" || s.mediaType === "audio")) {
      packets += s.packetsReceived || 0;
      energy += s.totalAudioEnergy || 0;
    }
  });
  return { packets, energy };
}

// Microphone failures, in words a listener can act on.
export function micProblem(err) {
  const name = (err && err.name) || "";
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError")
    return "Microphone access is blocked. Allow the microphone for this site in your browser's settings, then try again.";
  if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError")
    return "No microphone was found. Plug one in, then try again.";
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError")
    return "Your microphone is in use by another app or could not start. Close the other app, then try again.";
  return `Your microphone could not start (${(err && err.message) || "unknown error"}). Try again.`;
}
