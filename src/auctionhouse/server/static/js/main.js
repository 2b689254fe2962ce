// The page's shell: hash routes, the header (navigation, account, connection state) and one
// shared ticker that redraws countdowns from house time.

import { api, currentSession, get, me, onSession, setSession, syncTime } from "./api.js";
import { clock } from "./clock.js";
import { live } from "./live.js";
import { h, setHouseMoney, setText } from "./format.js";
import { mountList, mountMine } from "./views/list.js";
import { mountAuction } from "./views/auction.js";
import { mountSell } from "./views/sell.js";
import { mountSignIn } from "./views/account.js";
import { mountAdmin } from "./views/admin.js";
import { mountMarket, mountMarkets } from "./views/market.js";
import { mountAgent, mountAgents } from "./views/agents.js";

const ROUTES = [
  [/^$|^auctions$/, mountList],
  [/^auction\/([^/]+)$/, mountAuction],
  [/^sell$/, mountSell],
  [/^signin$/, mountSignIn],
  [/^mine$/, (root, p) => mountMine(root, p, "seller")],
  [/^bids$/, (root, p) => mountMine(root, p, "bidder")],
  [/^admin$/, mountAdmin],
  [/^markets$/, mountMarkets],
  [/^market\/([^/]+)$/, mountMarket],
  [/^agents$/, mountAgents],
  [/^agents\/([^/]+)$/, mountAgent],
];

const view = document.getElementById("view");
let unmount = null;
let routeToken = 0;

// "#/auction/12?x=1" -> {path: "auction/12", params: URLSearchParams}
export function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, q] = raw.split("?");
  return { path: decodeURIComponent(path || ""), params: new URLSearchParams(q || "") };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const token = ++routeToken;
  if (unmount) {
    try {
      unmount();
    } catch (e) {
      console.error(e);
    }
    unmount = null;
  }
  const { path, params } = currentRoute();
  let mount = null;
  let match = null;
  for (const [re, fn] of ROUTES) {
    match = re.exec(path);
    if (match) {
      mount = fn;
      break;
    }
  }
  view.replaceChildren();
  markNav(path);
  if (!mount) {
    view.append(h("h1", { tabindex: "-1" }, "Page not found"),
      h("p", {}, h("a", { href: "#/" }, "Back to the auctions")));
    focusHeading();
    return;
  }
  const root = h("div", { class: "page" });
  view.append(root);
  const args = match.slice(1).map(decodeURIComponent);
  try {
    const cleanup = await mount(root, { args, params, navigate });
    if (token !== routeToken) {
      if (cleanup) cleanup();
      return;
    }
    unmount = cleanup || null;
  } catch (e) {
    console.error(e);
    root.append(h("p", { class: "error", role: "alert" }, e.message || String(e)));
  }
  focusHeading();
}

function focusHeading() {
  const h1 = view.querySelector("h1");
  if (h1 && !view.contains(document.activeElement)) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
  const name = h1 ? h1.textContent : "auctionhouse";
  document.title = `${name} · auctionhouse`;
}

function markNav(path) {
  const first = path.split("/")[0] || "auctions";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.route === first) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// --------------------------------------------------------------------------- header

const CONNECTION_WORDS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  closed: "Offline",
};

function renderAccount() {
  const account = me();
  const box = document.getElementById("account");
  box.replaceChildren();
  document.body.classList.toggle("signed-in", Boolean(account));
  document.body.classList.toggle("is-admin", Boolean(account && account.role === "admin"));
  if (account) {
    box.append(
      h("a", { class: "who", href: "#/signin", "data-testid": "who", title: "Your account and key" },
        account.name || account.id),
      h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
    );
  } else {
    box.append(h("a", { href: "#/signin", "data-route": "signin" }, "Sign in"));
  }
}

// Signing out ends the session on the house too (DELETE /sessions/current): the token stops
// working everywhere, not just in this tab. Failing that (offline, already expired), the page
// forgets it anyway.
async function signOut() {
  try {
    await api("DELETE", "/sessions/current");
  } catch (e) {
    console.warn("the house did not confirm the sign-out", e);
  }
  setSession(null);
  navigate("#/");
}

// --------------------------------------------------------------------------- start

async function start() {
  const status = document.getElementById("connection");
  live.onState((state) => {
    status.dataset.state = state;
    setText(status.querySelector(".words"), CONNECTION_WORDS[state] || state);
  });
  renderAccount();
  let token = currentSession() && currentSession().token;
  onSession((s) => {
    renderAccount();
    const next = s && s.token;
    if (next !== token) {
      token = next;
      live.restart(); // the socket authenticates with the token it was opened with
    }
  });
  live.onUnauthorized = () => setSession(null);
  window.addEventListener("hashchange", route);
  window.addEventListener("online", () => live.start());
  try {
    setHouseMoney(await get("/house")); // the currency and locale amounts are shown in
  } catch (e) {
    console.warn("no /house answer yet: amounts shown in EUR", e);
  }
  try {
    await syncTime();
  } catch (e) {
    console.warn("no /time sample yet", e);
  }
  if (me()) {
    get("/me").then(
      (account) => {
        const s = currentSession();
        if (s) setSession({ ...s, account: { ...s.account, ...account } });
      },
      () => {},
    );
  }
  live.start();
  route();
}

// Hooks for tests and for people debugging in the console.
window.auctionhouse = { live, clock, navigate };

start();
