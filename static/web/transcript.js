// Transcript on the replay page (issue 17): captions under the player (an ARIA live region) and the
// whole transcript as a list of buttons that seek to their line. Kept apart from replay.js.
(() => {
  const audio = document.getElementById("replay");
  if (!audio) return;
  const match = (audio.getAttribute("src") || "").match(/\/spaces\/(\d+)\//);
  if (!match) return;
  const fmt = (ms) => { const s = Math.floor(ms / 1000); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
  fetch(`/api/v1/spaces/${match[1]}/recording/transcript`, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then((body) => {
      if (!body || !body.lines.length) return;
      const section = document.createElement("section");
      section.className = "transcript";
      section.setAttribute("aria-label", "Transcript");
      const current = document.createElement("p");
      current.className = "captions-lines";
      current.setAttribute("aria-live", "polite");
      const heading = document.createElement("h2");
      heading.textContent = "Transcript";
      const list = document.createElement("ol");
      const items = body.lines.map((line) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "btn-link";
        button.textContent = `${fmt(line.start_ms)} ${line.display_name || line.username}: ${line.text}`;
        button.addEventListener("click", () => { audio.currentTime = line.start_ms / 1000; audio.play().catch(() => {}); });
        li.appendChild(button);
        list.appendChild(li);
        return { line, li };
      });
      section.append(current, heading, list);
      audio.closest("section").after(section);
      let shown = null;
      audio.addEventListener("timeupdate", () => {
        const ms = audio.currentTime * 1000;
        const hit = items.find(({ line }) => line.start_ms <= ms && ms <= Math.max(line.end_ms, line.start_ms + 1500));
        if (hit === shown) return;
        if (shown) shown.li.removeAttribute("aria-current");
        shown = hit || null;
        if (shown) shown.li.setAttribute("aria-current", "true");
        current.textContent = shown ? `${shown.line.display_name || shown.line.username}: ${shown.line.text}` : "";
      });
    })
    .catch(() => {});
})();
