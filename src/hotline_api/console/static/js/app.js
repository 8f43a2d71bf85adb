// The console's shell: sign-in, the screens a user's roles allow, the live stream, the language
// switch, and sign-out after inactivity. Each screen is a module with
//   export async function mount(root, ctx, param) -> optional unmount()
import { ApiError, api, get, post, setCsrf, setHandlers } from "./api.js";
import { lang, setLang, t } from "./i18n.js";
import { clear, field, h, modal, toast } from "./ui.js";

const VIEWS = [
  { id: "counsellor", roles: ["counsellor"], label: "nav.counsellor", load: () => import("./counsellor.js") },
  {
    id: "supervisor",
    roles: ["supervisor", "national_supervisor"],
    label: "nav.supervisor",
    load: () => import("./supervisor.js"),
  },
  {
    id: "cases",
    roles: ["counsellor", "supervisor", "national_supervisor"],
    label: "nav.cases",
    load: () => import("./cases.js"),
  },
  {
    id: "reports",
    roles: ["analyst", "supervisor", "national_supervisor"],
    label: "nav.reports",
    load: () => import("./analyst.js"),
  },
  { id: "admin", roles: ["admin"], label: "nav.admin", load: () => import("./admin.js") },
];

const CODES_MAX_AGE_MS = 5 * 60 * 1000;

const state = {
  session: null, // GET /api/v1/auth/session
  view: null,
  unmount: null,
  live: null,
  liveListeners: new Set(),
  codes: null,
  codesAt: 0,
  lastActivity: Date.now(),
  idleTimer: null,
  idleWarning: null,
  busy: () => false,
};

const main = () => document.getElementById("main");

// ---- the context handed to every screen ------------------------------------------------------

const ctx = {
  get user() {
    return state.session.user;
  },
  has: (...roles) => state.session.user.roles.some((r) => roles.includes(r)),
  navigate: (hash) => {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  // fn(kind, data) for each live event the user may see; returns the function that stops it
  onLive(fn) {
    state.liveListeners.add(fn);
    return () => state.liveListeners.delete(fn);
  },
  // the code lists, {name: {label_vi, label_en, codes: [...]}}, read again once five minutes old:
  // a code an admin adds reaches a night shift's forms without signing in again. If that read
  // fails, the lists in hand serve.
  async codes() {
    if (!state.codes || Date.now() - state.codesAt > CODES_MAX_AGE_MS) {
      try {
        const data = await get("/api/v1/codes");
        state.codes = Object.fromEntries(data.lists.map((l) => [l.name, l]));
        state.codesAt = Date.now();
      } catch (err) {
        if (!state.codes) throw err;
      }
    }
    return state.codes;
  },
  // after a change to the lists in this browser (the admin's screen): the next form reads them
  forgetCodes() {
    state.codes = null;
  },
  // a screen says when its user is busy (a call in progress): inactivity does not count then
  setBusy(fn) {
    state.busy = fn;
  },
  error(err) {
    if (err instanceof ApiError && err.status === 401) return; // the sign-in screen shows why
    if (err instanceof ApiError && err.status === 0) toast(t("error.network"), "error");
    else if (err instanceof ApiError && err.status === 403) toast(t("error.forbidden"), "error");
    else if (err instanceof ApiError && err.status === 404) toast(t("error.notfound"), "error");
    else toast(t("error.generic", { m: err.message }), "error");
  },
};

// ---- sign-in ---------------------------------------------------------------------------------

function showLogin(message) {
  stopSession();
  renderChrome();
  const username = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const alert = h("p", { class: "form-error", role: "alert", id: "login-error" }, message || "");
  const form = h(
    "form",
    { class: "login card", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, t("login.title")),
    h("p", { class: "muted" }, t("login.intro")),
    alert,
    field(t("login.username"), username),
    field(t("login.password"), password),
    h("button", { type: "submit", class: "primary" }, t("login.submit")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    alert.textContent = "";
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const answer = await api(
        "POST",
        "/api/v1/auth/login",
        { username: username.value.trim(), password: password.value },
        { quiet401: true },
      );
      setCsrf(answer.csrf_token);
      password.value = "";
      await startSession();
    } catch (err) {
      if (err.status === 401) alert.textContent = t("login.wrong");
      else if (err.status === 429) alert.textContent = t("login.throttled", { s: err.retryAfter || 60 });
      else if (err.status === 422) alert.textContent = t("login.wrong");
      else alert.textContent = t("error.generic", { m: err.message });
      password.value = "";
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
  clear(main()).append(form);
  username.focus();
}

async function startSession() {
  try {
    state.session = await api("GET", "/api/v1/auth/session", undefined, { quiet401: true });
  } catch (err) {
    if (err.status === 401) {
      showLogin();
      return;
    }
    clear(main()).append(h("p", { class: "form-error", role: "alert" }, t("error.network")));
    setTimeout(startSession, 3000);
    return;
  }
  if (state.session.csrf_token) setCsrf(state.session.csrf_token);
  state.codes = null;
  state.lastActivity = Date.now();
  startIdleWatch();
  if (state.session.user.password_must_change) {
    // a password someone else chose: nothing else until its owner has changed it
    renderChrome();
    showPasswordChange(true);
    return;
  }
  startLive();
  renderChrome();
  route();
}

// ---- changing one's password ---------------------------------------------------------------------

// forced: the first sign-in with a password an admin gave (the server refuses everything else);
// otherwise chosen from the top bar. Changing it ends every session of the user, this one too: the
// page signs in again with the new password.
function showPasswordChange(forced) {
  if (state.unmount) state.unmount();
  state.unmount = null;
  state.view = "password/";
  state.busy = () => false;
  const input = (name, autocomplete) =>
    h("input", { name, type: "password", autocomplete, required: true, maxlength: 1024 });
  const current = input("current_password", "current-password");
  const fresh = input("new_password", "new-password");
  fresh.setAttribute("minlength", "12");
  fresh.setAttribute("aria-describedby", "password-rule");
  const again = input("new_password_again", "new-password");
  const alert = h("p", { class: "form-error", role: "alert", id: "password-error" });
  const form = h(
    "form",
    { class: "login card", "aria-labelledby": "password-title", novalidate: true },
    h("h1", { id: "password-title" }, t("password.title")),
    h("p", { class: forced ? "notice" : "muted" }, forced ? t("password.forced") : t("password.intro")),
    alert,
    field(forced ? t("password.given") : t("password.current"), current),
    field(t("password.new"), fresh),
    h("p", { class: "muted", id: "password-rule" }, t("password.rule")),
    field(t("password.again"), again),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("password.submit")),
      forced
        ? h("button", { type: "button", class: "link", onclick: () => signOut() }, t("logout"))
        : h("button", { type: "button", class: "link", onclick: () => route(true) }, t("password.cancel")),
    ),
  );
  const wrong = (el, message) => {
    for (const f of [current, fresh, again]) f.removeAttribute("aria-invalid");
    alert.textContent = message;
    if (el) {
      el.setAttribute("aria-invalid", "true");
      el.focus();
    }
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!current.value) return wrong(current, t("password.missing"));
    if (fresh.value.length < 12) return wrong(fresh, t("password.short"));
    if (fresh.value.trim() !== fresh.value) return wrong(fresh, t("password.space"));
    if (fresh.value === current.value) return wrong(fresh, t("password.same"));
    if (fresh.value !== again.value) return wrong(again, t("password.mismatch"));
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const username = state.session.user.username;
    try {
      await api("POST", "/api/v1/auth/password", {
        current_password: current.value,
        new_password: fresh.value,
      });
    } catch (err) {
      button.disabled = false;
      if (err.status === 422 && err.field === "current_password") wrong(current, t("password.wrongcurrent"));
      else if (err.status === 422) wrong(fresh, t("password.refused", { m: err.message }));
      else if (err.status !== 401) wrong(null, t("error.generic", { m: err.message }));
      return;
    }
    // every session has ended, this one too: sign in again with the new password
    const password = fresh.value;
    for (const f of [current, fresh, again]) f.value = "";
    try {
      stopSession();
      const answer = await api("POST", "/api/v1/auth/login", { username, password }, { quiet401: true });
      setCsrf(answer.csrf_token);
      await startSession();
      toast(t("password.changed"));
    } catch (err) {
      showLogin(t("password.changed.signin"));
    }
  });
  clear(main()).append(form);
  current.focus();
}

function stopSession() {
  if (state.unmount) state.unmount();
  state.unmount = null;
  state.view = null;
  state.session = null;
  state.busy = () => false;
  if (state.live) state.live.close();
  state.live = null;
  clearInterval(state.idleTimer);
  state.idleTimer = null;
  if (state.idleWarning) state.idleWarning();
  setCsrf(null);
}

async function signOut(message) {
  try {
    await api("POST", "/api/v1/auth/logout", {}, { quiet401: true });
  } catch (err) {
    // signed out already, or the server is away: the page forgets the session either way
  }
  showLogin(message || t("login.signedout"));
}

// ---- the live stream -------------------------------------------------------------------------

function startLive() {
  if (!ctx.has("counsellor", "supervisor", "national_supervisor")) return;
  const source = new EventSource("/api/v1/stream");
  state.live = source;
  const indicator = () => document.getElementById("live-status");
  const dispatch = (kind) => (e) => {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    for (const fn of state.liveListeners) fn(kind, data);
  };
  source.addEventListener("presence", dispatch("presence"));
  source.addEventListener("queue", dispatch("queue"));
  source.addEventListener("open", () => {
    const el = indicator();
    if (el) {
      el.textContent = t("live.on");
      el.className = "live on";
    }
    for (const fn of state.liveListeners) fn("reconnected", null);
  });
  source.addEventListener("error", async () => {
    const el = indicator();
    if (el) {
      el.textContent = t("live.off");
      el.className = "live off";
    }
    if (source.readyState === EventSource.CLOSED && state.live === source) {
      // refused (a session that ended): ask once who we are; a 401 shows the sign-in screen
      try {
        await get("/api/v1/auth/session");
        setTimeout(() => state.live === source && startLive(), 3000);
      } catch (err) {
        /* handled by the 401 handler */
      }
    }
  });
}

// ---- inactivity ------------------------------------------------------------------------------

function startIdleWatch() {
  clearInterval(state.idleTimer);
  const limit = state.session.idle_minutes * 60 * 1000;
  const warnBefore = Math.min(60 * 1000, limit / 2);
  state.idleTimer = setInterval(() => {
    if (state.busy()) state.lastActivity = Date.now();
    const idle = Date.now() - state.lastActivity;
    if (idle >= limit) {
      signOut(t("login.idle", { m: state.session.idle_minutes }));
    } else if (idle >= limit - warnBefore && !state.idleWarning) {
      warnIdle(Math.round((limit - idle) / 1000));
    }
  }, 1000);
}

function warnIdle(seconds) {
  let close;
  modal(t("idle.title"), (dialog, done) => {
    close = done;
    dialog.append(
      h("p", {}, t("idle.body", { s: seconds })),
      h("div", { class: "actions" }, h("button", { class: "primary", onclick: () => done(true) }, t("idle.stay"))),
    );
  }).then(() => {
    state.idleWarning = null;
    state.lastActivity = Date.now();
  });
  state.idleWarning = () => close && close(false);
}

for (const kind of ["keydown", "pointerdown", "wheel", "touchstart"]) {
  document.addEventListener(kind, () => (state.lastActivity = Date.now()), { passive: true, capture: true });
}

// ---- chrome and routing ------------------------------------------------------------------------

function allowedViews() {
  if (!state.session || state.session.user.password_must_change) return [];
  return VIEWS.filter((v) => ctx.has(...v.roles));
}

function renderChrome() {
  document.title = t("app.title");
  document.documentElement.lang = lang();
  const bar = clear(document.getElementById("topbar"));
  bar.append(h("a", { class: "brand", href: "#/" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "111"), t("app.brand")));
  if (allowedViews().length) {
    const current = (location.hash.split("/")[1] || "").split("?")[0];
    bar.append(
      h(
        "nav",
        { "aria-label": t("nav.main") },
        allowedViews().map((v) =>
          h("a", { href: `#/${v.id}`, "aria-current": current === v.id ? "page" : null }, t(v.label)),
        ),
      ),
    );
  } else {
    bar.append(h("span", { class: "spacer" }));
  }
  const tools = h("div", { class: "tools" });
  if (state.session) {
    tools.append(
      h("span", { id: "live-status", class: state.live ? "live on" : "live", role: "status" }, state.live ? t("live.on") : ""),
      h(
        "span",
        { class: "who" },
        state.session.user.display_name,
        h("small", {}, state.session.user.roles.map((r) => t(`role.${r}`)).join(", ")),
      ),
    );
  }
  tools.append(
    h(
      "button",
      {
        type: "button",
        class: "link",
        lang: lang() === "vi" ? "en" : "vi",
        "aria-label": t("lang.switch.label"),
        onclick: () => {
          setLang(lang() === "vi" ? "en" : "vi");
          if (state.session) {
            renderChrome();
            route(true);
          } else {
            showLogin();
          }
        },
      },
      t("lang.switch"),
    ),
  );
  if (state.session) {
    if (!state.session.user.password_must_change) {
      tools.append(
        h("button", { type: "button", class: "link", onclick: () => showPasswordChange(false) }, t("password.open")),
      );
    }
    tools.append(h("button", { type: "button", class: "link", onclick: () => signOut() }, t("logout")));
  }
  bar.append(tools);
}

async function route(force = false) {
  if (!state.session) return;
  if (state.session.user.password_must_change) return showPasswordChange(true);
  const [, name, param] = location.hash.split("/");
  const views = allowedViews();
  const view = views.find((v) => v.id === name) || views[0];
  if (!view) {
    clear(main()).append(h("p", {}, t("error.forbidden")));
    return;
  }
  const key = `${view.id}/${param || ""}`;
  if (!force && state.view === key) return;
  if (state.unmount) state.unmount();
  state.unmount = null;
  state.busy = () => false;
  state.view = key;
  renderChrome();
  const root = clear(main());
  root.append(h("p", { class: "muted" }, t("loading")));
  try {
    const module = await view.load();
    if (state.view !== key) return;
    clear(root);
    state.unmount = (await module.mount(root, ctx, param)) || null;
  } catch (err) {
    ctx.error(err);
  }
}

window.addEventListener("hashchange", () => route());

setHandlers({
  unauthorized: (body) => {
    if (!state.session) return;
    const message = body?.error?.message || "";
    showLogin(message.includes("disabled") ? message : t("login.expired"));
  },
  activity: () => (state.lastActivity = Date.now()),
});

const skip = document.getElementById("skip");
skip.textContent = t("app.skip");
skip.addEventListener("click", (e) => {
  e.preventDefault();
  main().focus();
});
startSession();
