// Sign in, create an account, and this browser's bidding key.

import { ApiError, currentSession, me, post, put, setSession } from "../api.js";
import { h } from "../format.js";
import { browserKey, makeKey, makeSeed, publicKeyOf, storeSeed } from "../keys.js";

export function mountSignIn(root, ctx) {
  const next = ctx.params.get("next") || "#/";
  if (me()) {
    renderAccount(root, ctx);
    return null;
  }
  root.append(
    h("h1", {}, "Sign in"),
    h("div", { class: "two-col" },
      form("signin", "Sign in", "Sign in", async (name, password) => {
        const session = await post("/sessions", { name, password });
        setSession(session);
        if (!keyMatches(session.account)) {
          if (!session.account.public_key) await registerNewKey(session.account.id);
          else return ctx.navigate("#/signin"); // show the key choice
        }
        ctx.navigate(next);
      }),
      form("signup", "Create an account", "Create account", async (name, password) => {
        const seed = makeSeed();
        const account = await post("/accounts", { name, password, public_key: publicKeyOf(seed) });
        storeSeed(account.id, seed);
        setSession(await post("/sessions", { name, password }));
        ctx.navigate(next);
      })),
  );
  return null;
}

function form(id, legend, action, submit) {
  const error = h("p", { class: "error", role: "alert", id: `${id}-error` });
  const button = h("button", { type: "submit" }, action);
  const el = h("form", { class: "card", id: `${id}-form`, novalidate: true },
    h("h2", {}, legend),
    h("div", { class: "field" },
      h("label", { for: `${id}-name` }, "Name"),
      h("input", { id: `${id}-name`, name: "name", autocomplete: "username", required: true,
        autocapitalize: "none", spellcheck: "false", "aria-describedby": `${id}-name-hint` }),
      id === "signup"
        ? h("small", { id: `${id}-name-hint` }, "Lowercase letters, digits, '_', '.', '-'.")
        : null),
    h("div", { class: "field" },
      h("label", { for: `${id}-password` }, "Password"),
      h("input", { id: `${id}-password`, name: "password", type: "password", required: true,
        autocomplete: id === "signup" ? "new-password" : "current-password",
        "aria-describedby": `${id}-password-hint` }),
      id === "signup" ? h("small", { id: `${id}-password-hint` }, "At least 8 characters.") : null),
    button,
    error,
  );
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const name = el.elements.name.value.trim();
    const password = el.elements.password.value;
    button.disabled = true;
    try {
      await submit(name, password);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err.message || err);
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

function keyMatches(account) {
  const key = browserKey(account.id);
  return Boolean(key && account.public_key && key.publicKey === account.public_key.toLowerCase());
}

async function registerNewKey(accountId) {
  const publicKey = makeKey(accountId);
  const account = await put("/me/key", { public_key: publicKey });
  const s = currentSession();
  setSession({ ...s, account: { ...s.account, ...account } });
}

function renderAccount(root, ctx) {
  const account = me();
  const status = h("p", { role: "status", id: "key-status" });
  const box = h("section", { class: "card", "aria-labelledby": "key-heading" });
  const draw = () => {
    const a = me();
    const ok = keyMatches(a);
    box.replaceChildren(
      h("h2", { id: "key-heading" }, "Bidding key"),
      h("p", {}, ok
        ? "This browser holds your Ed25519 key; every bid you place here is signed with it."
        : a.public_key
          ? "Your account's registered key is not in this browser (it was made elsewhere, " +
            "perhaps by the command line). Make a new key here to bid from this browser; " +
            "this replaces the registered key, so other devices will need a new one too."
          : "Your account has no key yet. Make one to bid from this browser."),
      a.public_key ? h("p", {}, "Registered public key: ",
        h("code", { class: "key", "data-testid": "public-key" }, a.public_key)) : null,
      h("button", { type: "button", onclick: async () => {
        try {
          await registerNewKey(a.id);
          status.textContent = "A new key is registered and kept in this browser.";
          draw();
        } catch (err) {
          status.textContent = err.message;
        }
      } }, ok ? "Replace with a new key" : "Make a key in this browser"),
      status,
    );
  };
  root.append(
    h("h1", {}, `Signed in as ${account.name || account.id}`),
    h("p", {}, `Role: ${account.role}. `, h("a", { href: "#/" }, "Go to the auctions"), "."),
    box,
  );
  draw();
  void ctx;
}
