// Shared helpers for every page, and the small pages (auth, home, create, profile, dashboard).

function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "error";
    this.extra = (body && body.extra) || {};
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
  const res = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

let toastTimer;
export function toast(text) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 3500);
}

function showFormError(err) {
  const el = document.getElementById("form-error");
  if (!el) return;
  const fields = err.extra && err.extra.fields;
  el.textContent = fields ? Object.entries(fields).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ") : err.message;
  el.hidden = false;
}

// Where to go after logging in: the path of `target` if it resolves to this origin, else "/". The URL
// parser decides, as the browser will: "//evil.example" and "/\evil.example" are other hosts.
export function sameOriginPath(target) {
  try {
    const url = new URL(target, window.location.origin);
    if (url.origin === window.location.origin) return url.pathname + url.search + url.hash;
  } catch { /* not a URL at all */ }
  return "/";
}

function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

const pages = {
  login() {
    const form = document.getElementById("login-form");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api("POST", "/auth/token", formData(form));
        window.location.href = sameOriginPath(form.dataset.next || "/");
      } catch (err) { showFormError(err); }
    });
  },
  signup() {
    const form = document.getElementById("signup-form");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api("POST", "/auth/register", formData(form));
        window.location.href = "/";
      } catch (err) { showFormError(err); }
    });
  },
  async home() {
    const live = document.getElementById("live-now");
    const upcoming = document.getElementById("upcoming");
    const liveCard = (s, extra) => `
        <a class="bubble" href="/spaces/${s.id}">
          <small>🟣 LIVE · ${esc(s.listener_count)} listening</small>
          <strong>${esc(s.title)}</strong>
          <small>${esc(extra || "@" + (s.host && s.host.username))}</small>
        </a>`;
    const upcomingRow = (s) => `
        <li><span><strong>${esc(s.title)}</strong><br><small class="muted">@${esc(s.host && s.host.username)} · ${esc(new Date(s.scheduled_start).toLocaleString())}</small></span>
        <a class="btn btn-small" href="/spaces/${s.id}" aria-label="Details: ${esc(s.title)}">Details</a></li>`;
    let liveItems = [];
    let upcomingItems = [];
    try {
      const data = await api("GET", "/spaces/live");
      liveItems = data.results || data;
      live.innerHTML = liveItems.map((s) => liveCard(s, (s.followed_on_stage || []).map((u) => u.display_name || u.username).join(", "))).join("");
    } catch (err) { live.innerHTML = `<p class="muted">${esc(err.message)}</p>`; }
    try {
      const data = await api("GET", "/spaces/upcoming");
      upcomingItems = data.results || data;
      upcoming.innerHTML = upcomingItems.map(upcomingRow).join("");
    } catch (err) { upcoming.innerHTML = `<li class="muted">${esc(err.message)}</li>`; }
    // A first visit that is not empty: when follows give nothing, the most listened-to live Spaces, the
    // soonest upcoming ones, and hosts worth following.
    if (!liveItems.length || !upcomingItems.length) {
      let found = { live: [], upcoming: [], hosts: [] };
      try { found = await api("GET", "/discover"); } catch { /* keep the empty states */ }
      if (!liveItems.length) {
        document.getElementById("live-h").textContent = found.live.length ? "Popular live now" : "Live now";
        live.innerHTML = found.live.length
          ? `<p class="muted">Nobody you follow is live right now. These are the most listened-to Spaces.</p>${found.live.map((s) => liveCard(s)).join("")}`
          : `<p class="muted">Nobody is live right now.</p>`;
      }
      if (!upcomingItems.length) {
        document.getElementById("up-h").textContent = found.upcoming.length ? "Coming up" : "Upcoming from people you follow";
        upcoming.innerHTML = found.upcoming.length ? found.upcoming.map(upcomingRow).join("") : `<li class="muted">Nothing scheduled.</li>`;
      }
      const hosts = document.getElementById("hosts");
      if (found.hosts.length) {
        document.getElementById("hosts-section").hidden = false;
        hosts.innerHTML = found.hosts.map((h) => `
          <li><span><a href="/u/${esc(h.username)}"><strong>${esc(h.display_name || h.username)}</strong></a>
          <small class="muted">@${esc(h.username)} · ${esc(h.follower_count)} followers</small></span>
          <button class="btn btn-small" type="button" data-follow="${esc(h.username)}" aria-pressed="false">Follow <span class="sr-only">@${esc(h.username)}</span></button></li>`).join("");
        hosts.addEventListener("click", async (e) => {
          const btn = e.target.closest("[data-follow]");
          if (!btn) return;
          const following = btn.getAttribute("aria-pressed") === "true";
          try {
            await api(following ? "DELETE" : "PUT", `/users/${btn.dataset.follow}/follow`);
            btn.setAttribute("aria-pressed", String(!following));
            btn.firstChild.textContent = following ? "Follow " : "Following ";
            toast(following ? `Unfollowed @${btn.dataset.follow}` : `Following @${btn.dataset.follow}`);
          } catch (err) { toast(err.message); }
        });
      }
    }
    const form = document.getElementById("browse-form");
    const browse = document.getElementById("browse");
    const search = async () => {
      try {
        const q = encodeURIComponent(document.getElementById("q").value);
        const data = await api("GET", `/spaces?q=${q}`);
        const items = data.results || data;
        browse.innerHTML = items.length ? items.map((s) => `
          <li><span><span class="state state-${esc(s.state)}">${esc(s.state)}</span> <strong>${esc(s.title)}</strong>
          <small class="muted">@${esc(s.host && s.host.username)}</small></span><a class="btn btn-small" href="/spaces/${s.id}">Open</a></li>`).join("")
          : `<li class="muted">No Spaces found.</li>`;
      } catch (err) { browse.innerHTML = `<li class="muted">${esc(err.message)}</li>`; }
    };
    form.addEventListener("submit", (e) => { e.preventDefault(); search(); });
    search();
  },
  async create() {
    const note = document.getElementById("eligibility");
    try {
      const me = await api("GET", "/me");
      if (!me.can_host) {
        const h = me.host_eligibility;
        note.textContent = `You can host once you have ${h.threshold} followers (you have ${h.followers}).`;
        note.hidden = false;
      }
    } catch { /* the form still reports errors */ }
    const form = document.getElementById("create-form");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const mode = e.submitter && e.submitter.value;
      const d = formData(form);
      const body = { title: d.title, description: d.description, topics: d.topics ? d.topics.split(",").map((t) => t.trim()).filter(Boolean) : [] };
      if (mode === "schedule") body.scheduled_start = d.scheduled_start ? new Date(d.scheduled_start).toISOString() : null;
      try {
        const space = await api("POST", "/spaces", body);
        if (mode === "now") await api("POST", `/spaces/${space.id}/start`);
        window.location.href = `/spaces/${space.id}`;
      } catch (err) { showFormError(err); }
    });
  },
  async profile() {
    const btn = document.getElementById("follow-btn");
    if (!btn) return;
    const username = document.querySelector("[data-profile]").dataset.profile;
    const render = (following) => { btn.textContent = following ? "Following" : "Follow"; btn.setAttribute("aria-pressed", String(following)); };
    let following = false;
    try { following = (await api("GET", `/users/${username}`)).followed_by_me; render(following); } catch { /* shown on click */ }
    btn.addEventListener("click", async () => {
      try {
        const res = await api(following ? "DELETE" : "PUT", `/users/${username}/follow`);
        following = !following;
        render(following);
        document.getElementById("follower-count").textContent = res.follower_count;
      } catch (err) { toast(err.message); }
    });
  },
  async dashboard() {
    const money = (c) => `$${(c / 100).toFixed(2)}`;
    try {
      const me = await api("GET", "/me");
      const h = me.host_eligibility;
      document.getElementById("host-status").textContent = me.can_host ? "You can host Spaces." : `You can host at ${h.threshold} followers (you have ${h.followers}).`;
    } catch (err) { toast(err.message); }
    try {
      const data = await api("GET", "/me/payouts");
      const rows = data.results || data;
      if (rows.length) document.getElementById("payouts").innerHTML = rows.map((p) => `<tr><td>${esc(p.space_title || p.space)}</td><td>${money(p.gross_cents)}</td><td>${money(p.platform_fee_cents)}</td><td>${money(p.net_cents)}</td><td>${esc(p.status)}</td></tr>`).join("");
    } catch { /* ledger unavailable */ }
    try {
      const data = await api("GET", "/me/tickets");
      const rows = data.results || data;
      if (rows.length) document.getElementById("my-tickets").innerHTML = rows.map((t) => `<li>${esc(t.space_title || t.space)} <span class="muted">${esc(t.status)}</span></li>`).join("");
    } catch { /* no tickets */ }
    document.getElementById("connect-payouts").addEventListener("click", async () => {
      try {
        const res = await api("POST", "/me/payout-account");
        if (res.onboarding_url) window.location.href = res.onboarding_url;
        else toast("Payout account connected.");
      } catch (err) { toast(err.message); }
    });
  },
};

window.Spaces = { api, esc, toast, ApiError };
const page = document.body.dataset.page;
if (pages[page]) pages[page]();
