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
  const clip = document.getElementById("clip-here");
  if (clip) clip.addEventListener("click", async () => {
    const start = Math.floor(audio.currentTime * 1000);
    const end = Math.min(start + 30000, parseInt(clip.dataset.durationMs, 10));
    const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
    const response = await fetch(`/api/v1/spaces/${clip.dataset.space}/clips`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": decodeURIComponent(csrf) },
      body: JSON.stringify({ start_ms: start, end_ms: end }),
    });
    const body = await response.json();
    const out = document.getElementById("share-at-url");
    if (response.ok) {
      out.innerHTML = "";
      const link = document.createElement("a");
      link.id = "clip-link";
      link.href = `/c/${body.id}`;
      link.textContent = `Clip ready: /c/${body.id}`;
      out.appendChild(link);
    } else {
      out.textContent = body.detail || "Could not make the clip.";
    }
  });
})();
