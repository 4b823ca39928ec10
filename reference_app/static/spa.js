// Single-page checkout: plain ES module, no bundler, talks to the JSON API only.
//
// What keeps a browser from charging twice here:
// - one Idempotency-Key per order attempt, kept in sessionStorage under the order id, so a
//   retry, a reload or a resumed tab (/spa?orderId=...) sends the same key again;
// - the Pay button is disabled for the whole attempt and a second click is ignored;
// - fetch has a timeout (AbortController) and bounded retries with backoff that reuse the
//   key on network errors, timeouts, 409 (in progress), 202 (being checked) and 5xx;
// - a decline is final for its key: the key is dropped so the next attempt gets a new one;
// - success leaves with location.replace(), so Back never returns to a live Pay button;
// - 3-D Secure (202 requires_action): the key is dropped and the page goes to the bank's
//   challenge; an order awaiting it shows Pay again, which confirms the same intent.

const app = document.getElementById("app");
const params = new URLSearchParams(location.search);
const METHODS = JSON.parse(app.dataset.methods || "[]");
const KEY_PREFIX = "nodouble.confirm.";
const MAX_ATTEMPTS = 6;
const TIMEOUT_MS = clamp(Number(params.get("timeoutMs")) || 10000, 200, 60000);
const POLL_LIMIT_MS = 120000;

function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- the attempt's stable key

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function storedAttempt(orderId) {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY_PREFIX + orderId) || "null");
    return value && typeof value.key === "string" ? value : null;
  } catch {
    return null;
  }
}

// The key and the payment method travel together: the server refuses a key reused with
// another body, so a retry must repeat the first attempt exactly.
export function beginAttempt(orderId, method) {
  const existing = storedAttempt(orderId);
  if (existing) return existing;
  const attempt = { key: newKey(), method };
  sessionStorage.setItem(KEY_PREFIX + orderId, JSON.stringify(attempt));
  return attempt;
}

export function endAttempt(orderId) {
  sessionStorage.removeItem(KEY_PREFIX + orderId);
}

// ---------------------------------------------------------------- HTTP with timeout + retry

async function fetchWithTimeout(url, init, timeoutMs = TIMEOUT_MS) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      ...init,
      signal: controller.signal,
    });
  } finally {
    clearTimeout(timer);
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetchWithTimeout(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  return { status: response.status, body: data };
}

export function backoffMs(attempt, retryAfter) {
  const base = Math.min(250 * 2 ** (attempt - 1), 4000);
  let wait = base + Math.random() * base * 0.5; // jitter: tabs and clients do not retry in step
  const seconds = Number(retryAfter);
  // Honour Retry-After, but only up to 2 s: the order is re-read before the next POST anyway.
  if (Number.isFinite(seconds) && seconds > 0) wait = Math.max(wait, Math.min(seconds * 1000, 2000));
  return wait;
}

async function isPaid(orderId) {
  try {
    const result = await api("GET", `/api/orders/${encodeURIComponent(orderId)}`);
    return result.status === 200 && result.body.status === "paid";
  } catch {
    return false;
  }
}

const RETRYABLE = (status) => status === 202 || status === 409 || status === 429 || status >= 500;

// Returns {kind: "paid" | "declined" | "error" | "unknown", status?, body?}.
export async function confirmWithRetry(orderId, attempt, report) {
  const url = `/api/orders/${encodeURIComponent(orderId)}/confirm`;
  for (let n = 1; n <= MAX_ATTEMPTS; n += 1) {
    let response;
    try {
      response = await fetchWithTimeout(url, {
        method: "POST",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "Idempotency-Key": attempt.key, // the same key on every retry of this attempt
        },
        // manual capture is API-only: the page takes the money at once, whatever the
        // checkout's NODOUBLE_CAPTURE_METHOD (it has no capture step)
        body: JSON.stringify({ payment_method: attempt.method, capture_method: "automatic" }),
      });
    } catch (error) {
      const why = error && error.name === "AbortError" ? "no answer in time" : "connection lost";
      report(`Still confirming (${why}); retrying ${n}/${MAX_ATTEMPTS - 1}…`);
      if (n < MAX_ATTEMPTS) await sleep(backoffMs(n));
      continue;
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 200) return { kind: "paid", status: 200, body };
    if (response.status === 402) return { kind: "declined", status: 402, body };
    if (response.status === 202 && body.status === "requires_action") {
      return { kind: "action", status: 202, body };
    }
    if (RETRYABLE(response.status)) {
      report("Your payment is being processed…");
      if (n === MAX_ATTEMPTS) break;
      await sleep(backoffMs(n, response.headers.get("Retry-After")));
      // Another request (another tab, an earlier click before a reload) may have finished
      // the payment meanwhile: a GET is enough to find out, no need to POST again.
      if (await isPaid(orderId)) return { kind: "paid", status: 200, body: {} };
      continue;
    }
    return { kind: "error", status: response.status, body };
  }
  return { kind: "unknown" };
}

// ---------------------------------------------------------------- rendering helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

function money(amount, currency) {
  return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(amount / 100);
}

function show(...nodes) {
  app.replaceChildren(...nodes);
}

function goToSuccess(orderId) {
  // replace(): this page leaves history, so Back cannot come back to a live Pay button.
  location.replace(`/success?orderId=${encodeURIComponent(orderId)}`);
}

function problemText(body, fallback) {
  return (body && (body.detail || body.title)) || fallback;
}

// ---------------------------------------------------------------- views

function signInView(then) {
  const input = el("input", { name: "user", value: "alice", required: true, maxlength: 64 });
  const button = el("button", { type: "submit", id: "signin" }, "Sign in");
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const form = el("form", { "data-testid": "signin" }, el("label", {}, "Sign in as ", input), " ", button, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const result = await api("POST", "/api/session", { user: input.value.trim() });
      if (result.status >= 400) throw new Error(problemText(result.body, "Sign-in refused."));
      app.dataset.user = input.value.trim();
      document.getElementById("who").textContent = `signed in as ${app.dataset.user}`;
      await then();
    } catch (err) {
      error.hidden = false;
      error.textContent = String(err.message || err);
      button.disabled = false;
    }
  });
  show(el("h1", {}, "Sign in"), form);
}

async function catalogView() {
  const result = await api("GET", "/api/catalog");
  const products = Array.isArray(result.body) ? result.body : result.body.data || result.body.products || [];
  const list = el("ul", { class: "products" });
  for (const product of products) {
    const buy = el("button", { type: "button", "data-testid": `buy-${product.sku}` }, "Buy");
    buy.addEventListener("click", () => createOrder(product.sku, buy));
    list.append(
      el("li", { class: "product", "data-sku": product.sku },
        el("span", { class: "name" }, product.name),
        el("span", { class: "price" }, money(product.unit_amount, product.currency)),
        buy),
    );
  }
  show(el("h1", {}, "Shop (single-page checkout)"), list);
}

async function createOrder(sku, button) {
  if (button.disabled) return;
  button.disabled = true;
  const result = await api("POST", "/api/orders", { items: [{ sku, quantity: 1 }] });
  if (result.status === 401) return signInView(() => createOrder(sku, button));
  if (result.status !== 201 && result.status !== 200) {
    button.disabled = false;
    return show(el("p", { class: "error", role: "alert" }, problemText(result.body, "Could not create the order.")));
  }
  // The order id goes into the URL so that a reload resumes this order, not a new one.
  history.replaceState(null, "", `/spa?orderId=${encodeURIComponent(result.body.order_id)}`);
  await loadOrder(result.body.order_id);
}

async function loadOrder(orderId) {
  let result;
  try {
    result = await api("GET", `/api/orders/${encodeURIComponent(orderId)}`);
  } catch {
    return show(el("p", { class: "error", role: "alert" }, "Could not load the order; reload to retry."));
  }
  if (result.status === 401) return signInView(() => loadOrder(orderId));
  if (result.status === 404) {
    return show(el("h1", { "data-testid": "error" }, "Order not found"), el("p", {}, el("a", { href: "/spa" }, "Start again")));
  }
  const order = result.body;
  if (order.status === "paid") {
    endAttempt(orderId);
    return goToSuccess(orderId);
  }
  if (order.payment && order.payment.status === "PENDING" && !order.payment.action_url) {
    return progressView(orderId);
  }
  return confirmView(order);
}

function confirmView(order, message) {
  const stored = storedAttempt(order.order_id);
  const selected = stored ? stored.method : METHODS[0][0];
  const radios = METHODS.map(([value, label]) =>
    el("label", { class: "method" },
      el("input", { type: "radio", name: "payment_method", value, checked: value === selected, disabled: Boolean(stored) }),
      ` ${label}`),
  );
  const button = el("button", { type: "submit", id: "pay", class: "pay" },
    el("span", { class: "spinner", "aria-hidden": "true" }),
    el("span", { class: "label" }, `Pay ${money(order.amount, order.currency)}`));
  const status = el("p", { class: "status", role: "status", "aria-live": "polite" });
  const notes = [];
  if (message) notes.push(el("p", { class: "error", role: "alert", "data-testid": "decline" }, message));
  if (stored) notes.push(el("p", { class: "note" }, "An earlier attempt did not finish; paying again safely repeats it."));
  const challenge = order.payment && order.payment.status === "PENDING" && order.payment.action_url;
  if (challenge) {
    notes.push(el("p", { class: "note", role: "status", "data-testid": "authentication-pending" },
      "Your bank asks you to confirm this payment (3-D Secure). ",
      el("a", { href: challenge, "data-testid": "continue-authentication" }, "Continue authentication"),
      ", or choose another card and pay: either way you are charged at most once."));
  }
  const form = el("form", { id: "confirm-form", "data-order-id": order.order_id },
    el("fieldset", {}, el("legend", {}, "Payment method"), ...radios), button, status);
  const items = el("tbody");
  for (const item of order.items || []) {
    items.append(el("tr", {}, el("td", {}, item.name), el("td", {}, String(item.quantity)),
      el("td", {}, money(item.amount, order.currency))));
  }
  let busy = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return; // a second click while the attempt runs does nothing
    busy = true;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.classList.add("is-loading");
    button.querySelector(".label").textContent = "Processing…";
    const choice = form.querySelector("input[name=payment_method]:checked");
    const attempt = beginAttempt(order.order_id, choice ? choice.value : selected);
    const result = await confirmWithRetry(order.order_id, attempt, (text) => { status.textContent = text; });
    if (result.kind === "paid") {
      endAttempt(order.order_id);
      return goToSuccess(order.order_id);
    }
    if (result.kind === "action") {
      endAttempt(order.order_id); // this key's answer is final; a new Pay gets a new key
      const next = (result.body.next_action || {}).redirect_to_url || {};
      return location.assign(next.url);
    }
    if (result.kind === "declined") {
      endAttempt(order.order_id); // a decline is this key's final answer: next try, new key
      return confirmView(order, problemText(result.body, "Your card was declined."));
    }
    // Unknown or unexpected: the charge may have happened. Ask the server, with GET only.
    return progressView(order.order_id);
  });
  show(
    el("h1", { "data-testid": "confirm" }, "Confirm your order"),
    el("table", { class: "summary", "data-testid": "order-summary" }, items,
      el("tfoot", {}, el("tr", {}, el("th", { colspan: 2 }, "Total"), el("td", { "data-testid": "amount" }, money(order.amount, order.currency))))),
    ...notes,
    form,
  );
}

async function progressView(orderId) {
  show(
    el("h1", { "data-testid": "progress" }, "Payment in progress"),
    el("p", { "aria-busy": "true" }, el("span", { class: "spinner", "aria-hidden": "true" }),
      "We are confirming your payment. Please do not pay again."),
  );
  const deadline = Date.now() + POLL_LIMIT_MS;
  for (let n = 1; Date.now() < deadline; n += 1) {
    await sleep(backoffMs(Math.min(n, 4)));
    let result;
    try {
      result = await api("GET", `/api/orders/${encodeURIComponent(orderId)}`);
    } catch {
      continue;
    }
    if (result.status === 401) return signInView(() => loadOrder(orderId));
    if (result.status !== 200) continue;
    const order = result.body;
    if (order.status === "paid") {
      endAttempt(orderId);
      return goToSuccess(orderId);
    }
    if (!order.payment || order.payment.status !== "PENDING" || order.payment.action_url) {
      // Nothing in flight: a failed payment, or an attempt that never reached the server.
      const failed = order.payment && order.payment.status === "FAILED";
      if (failed) endAttempt(orderId);
      return confirmView(order, failed ? `The payment was declined (${order.payment.failure_code}).` : undefined);
    }
  }
  show(el("h1", { "data-testid": "progress" }, "Still checking your payment"),
    el("p", {}, "We could not get a final answer yet. Reload this page later; you will not be charged twice."));
}

// ---------------------------------------------------------------- start

// A page restored from the back-forward cache is a snapshot; ask the server again.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) location.reload();
});

async function start() {
  const orderId = params.get("orderId");
  if (orderId) return loadOrder(orderId);
  if (!app.dataset.user) return signInView(catalogView);
  return catalogView();
}

start().catch((error) => {
  show(el("p", { class: "error", role: "alert" }, `Something went wrong: ${error.message || error}. Reload to retry.`));
});
