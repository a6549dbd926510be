// Replay player on the share page (/s/<id>?t=…): start time, speeds, jump to a speaker, share a moment.
// Seeking and speed are the browser's own (the server answers byte ranges).
(() => {
  const audio = document.getElementById("replay");
  if (!audio) return;
  const seek = (t) => { audio.currentTime = t; };
  const start = parseFloat(audio.dataset.start || "0");
  if (start > 0) {
    if (audio.readyState >= 1) seek(start);
    else audio.addEventListener("loadedmetadata", () => seek(start), { once: true });
  }
  const rates = document.querySelectorAll("[data-rate]");
  rates.forEach((button) => button.addEventListener("click", () => {
    audio.playbackRate = parseFloat(button.dataset.rate);
    rates.forEach((other) => other.setAttribute("aria-pressed", String(other === button)));
  }));
  document.querySelectorAll("[data-seek]").forEach((button) => button.addEventListener("click", () => {
    seek(parseFloat(button.dataset.seek));
    audio.play().catch(() => {});
  }));
  const share = document.getElementById("share-at");
  if (share) share.addEventListener("click", () => {
    const url = `${location.origin}${location.pathname}?t=${Math.floor(audio.currentTime)}`;
    document.getElementById("share-at-url").textContent = url;
    if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  });
})();
