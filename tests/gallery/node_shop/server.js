// A gallery checkout for nodouble: Node.js, Express and the official `stripe` package.
//
// Nothing here is shaped like reference_app: a shopper opens a session with
// POST /session/open {"handle"} (cookie `ns_sid`), creates a purchase with
// POST /v2/purchases {"product", "count"}, pays it with
// POST /v2/purchases/:ref/payments {"method"} carrying its own idempotency header
// `X-Dedupe-Token`, and reads it back with GET /v2/purchases/:ref
// (`purchase.state` is "SETTLED" once paid). Errors are application/problem+json.
//
// Payment takes two provider calls: create the PaymentIntent, then confirm it. Both go
// through stripe-node pointed at the fake provider with its `host`/`port`/`protocol`
// options, under idempotency keys derived from the purchase and its attempt number, and
// carry the purchase in `metadata[purchase_ref]`.
//
// Environment: PORT, PROVIDER_URL (the fake provider), STRIPE_KEY (default
// sk_test_gallery_node), PROVIDER_TIMEOUT_MS (default 3000), RECONCILE_MS (default 1000),
// STATE_FILE (a JSON file written before every provider call and after every change, so a
// killed shop comes back knowing what it was doing; memory only when unset) and BROKEN:
//   unset              correct: answers stored per (user, token) with the body's
//                      fingerprint, one payment at a time per purchase, a paid purchase
//                      never charged again, an unknown provider outcome kept and settled
//                      from the provider (on the next request or by the reconciler).
//   no_dedupe          every payment request creates and confirms a new intent; no key of
//                      its own (stripe-node then makes up a fresh one per call).
//   release_on_error   like correct, but an unknown provider outcome (5xx, timeout, reset)
//                      forgets the attempt: the next request starts attempt n+1 with new
//                      provider keys, so it charges again if the first call did charge.
//
// What stripe-node does on its own (read in node_modules/stripe/cjs/RequestSender.js and seen
// against the fake provider, stripe 23.1.0):
// - it has no base-URL option: `host`, `port` and `protocol` point it at the fake;
// - every POST carries an Idempotency-Key: without `idempotencyKey` it makes one up
//   (`stripe-node-retry-<uuid>`), fresh for each call, so "no key" means "a new key";
// - a connection closed under it (ECONNRESET, EPIPE) is sent once more with the same key
//   even with maxNetworkRetries: 0, so an answer the provider drops after charging is
//   replayed, not charged again, whatever this shop does with its own records;
// - a timeout (ETIMEDOUT) is not retried with maxNetworkRetries: 0: the shop sees it.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const express = require('express');
const Stripe = require('stripe');

const MODES = ['', 'no_dedupe', 'release_on_error'];
const PRODUCTS = { 'mug-blue': 1800, 'poster-a2': 2400 };
const COOKIE = 'ns_sid';

const broken = process.env.BROKEN || '';
if (!MODES.includes(broken)) {
  console.error(`BROKEN=${JSON.stringify(broken)} is not one of ${MODES.map((m) => m || '(unset)').join(', ')}`);
  process.exit(2);
}
if (!process.env.PROVIDER_URL) {
  console.error('PROVIDER_URL is required (the URL of the fake provider)');
  process.exit(2);
}
const provider = new URL(process.env.PROVIDER_URL);
const stripe = new Stripe(process.env.STRIPE_KEY || 'sk_test_gallery_node', {
  host: provider.hostname,
  port: Number(provider.port || (provider.protocol === 'https:' ? 443 : 80)),
  protocol: provider.protocol.replace(':', ''),
  // Our own retries are explicit. stripe-node still retries once on ECONNRESET/EPIPE,
  // with the same Idempotency-Key, whatever this says (RequestSender._shouldRetry).
  maxNetworkRetries: 0,
  timeout: Number(process.env.PROVIDER_TIMEOUT_MS || 3000),
  telemetry: false,
});

const sessions = new Map(); // sid -> handle
const purchases = new Map(); // ref -> purchase
const records = new Map(); // `${handle}\0${token}` -> {fingerprint, state, status, body}
const locks = new Map(); // ref -> tail of the promise chain serialising its payments
const stateFile = process.env.STATE_FILE || '';

function save() {
  if (!stateFile) return;
  const done = [...records].filter(([, r]) => r.state === 'done');
  const data = JSON.stringify({ sessions: [...sessions], purchases: [...purchases], records: done });
  fs.writeFileSync(`${stateFile}.tmp`, data);
  fs.renameSync(`${stateFile}.tmp`, stateFile);
}

function load() {
  if (!stateFile || !fs.existsSync(stateFile)) return;
  const data = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  for (const [k, v] of data.sessions) sessions.set(k, v);
  for (const [k, v] of data.purchases) purchases.set(k, v);
  for (const [k, v] of data.records) records.set(k, v);
}
load();

function log(...args) {
  console.log(new Date().toISOString(), ...args);
}

function problem(res, status, title, detail, headers = {}) {
  res.status(status).set(headers).type('application/problem+json');
  res.send(JSON.stringify({ type: 'about:blank', title, status, detail }));
}

function view(p) {
  return { ref: p.ref, product: p.product, count: p.count, total_cents: p.total, currency: 'eur', state: p.state };
}

function shopper(req) {
  const cookies = Object.fromEntries(
    (req.get('cookie') || '').split(';').map((c) => c.trim().split('=')).filter((kv) => kv.length === 2),
  );
  return sessions.get(cookies[COOKIE]) || null;
}

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

async function withLock(ref, work) {
  const previous = locks.get(ref) || Promise.resolve();
  let release;
  const mine = new Promise((resolve) => { release = resolve; });
  const tail = previous.then(() => mine);
  locks.set(ref, tail);
  await previous;
  try {
    return await work();
  } finally {
    release();
    if (locks.get(ref) === tail) locks.delete(ref);
  }
}

// -- talking to the provider ------------------------------------------------------------

function definite(err) {
  // A decline or a refused request: the provider answered and moved no money.
  return err && (err.type === 'StripeCardError' || err.type === 'StripeInvalidRequestError') &&
    err.statusCode !== 409;
}

function describe(err) {
  return `${err.type || err.name}${err.statusCode ? ` ${err.statusCode}` : ''}${err.code ? ` ${err.code}` : ''}: ${err.message}`;
}

// Create (once per purchase) and confirm (once per attempt). Keys are derived from the
// purchase and its attempt, so a retry of the same attempt is replayed by the provider.
async function createAndConfirm(p, method) {
  const keys = broken === 'no_dedupe' ? {} : null;
  const prefix = `ns-${p.ref}-a${p.attempt}`;
  if (!p.intentId) {
    const intent = await stripe.paymentIntents.create(
      { amount: p.total, currency: 'eur', metadata: { purchase_ref: p.ref, shopper: p.owner } },
      keys || { idempotencyKey: `${prefix}-create` },
    );
    p.intentId = intent.id;
    save();
  }
  return stripe.paymentIntents.confirm(
    p.intentId, { payment_method: method }, keys || { idempotencyKey: `${prefix}-confirm` },
  );
}

// What the provider knows about a purchase whose last call ended without an answer.
async function settle(p) {
  if (!p.intentId) {
    const found = await stripe.paymentIntents.search({ query: `metadata['purchase_ref']:'${p.ref}'` });
    if (found.data.length === 0) {
      p.state = 'OPEN'; // the create never happened: the same attempt may start again
      return;
    }
    p.intentId = found.data[0].id;
  }
  const intent = await stripe.paymentIntents.retrieve(p.intentId);
  if (intent.status === 'succeeded') {
    p.state = 'SETTLED';
    log(`settled ${p.ref} from the provider (${intent.id})`);
  } else if (intent.status === 'requires_confirmation' || intent.status === 'requires_payment_method') {
    p.state = 'OPEN'; // not charged; confirming again under the same key is safe
  }
}

const retryLater = { 'Retry-After': '1' };

async function pay(p, method) {
  if (p.state === 'UNKNOWN') {
    try {
      await settle(p);
    } catch (err) {
      return ['unknown', 503, problemBody(503, 'payment outcome unknown', `the provider cannot tell yet (${describe(err)}); retry later`), retryLater];
    }
    if (p.state === 'UNKNOWN') {
      return ['unknown', 503, problemBody(503, 'payment outcome unknown', 'retry later'), retryLater];
    }
  }
  if (p.state === 'SETTLED') return ['done', 200, { purchase: view(p), payment: { intent: p.intentId } }, {}];
  p.state = 'UNKNOWN'; // from here until the provider answers, money may move
  save();
  try {
    const intent = await createAndConfirm(p, method);
    if (intent.status !== 'succeeded') {
      return ['unknown', 503, problemBody(503, 'payment outcome unknown', `intent is ${intent.status}`), retryLater];
    }
    p.state = 'SETTLED';
    return ['done', 200, { purchase: view(p), payment: { intent: intent.id } }, {}];
  } catch (err) {
    log(`provider call for ${p.ref} attempt ${p.attempt} failed: ${describe(err)}`);
    if (definite(err)) {
      p.state = 'OPEN';
      p.attempt += 1; // a new card needs new provider keys
      const status = err.type === 'StripeCardError' ? 402 : 400;
      return ['done', status, problemBody(status, 'payment refused', err.message), {}];
    }
    if (broken === 'release_on_error') {
      // BROKEN(release_on_error): forget the attempt as if it never happened.
      p.state = 'OPEN';
      p.intentId = null;
      p.attempt += 1;
      return ['released', 502, problemBody(502, 'payment failed', 'the provider failed; please try again'), {}];
    }
    return ['unknown', 503, problemBody(503, 'payment outcome unknown', 'the provider did not answer clearly; retry later'), retryLater];
  }
}

function problemBody(status, title, detail) {
  return { type: 'about:blank', title, status, detail };
}

// -- the app -----------------------------------------------------------------------------

const app = express();
app.use(express.json({ limit: '16kb' }));

app.get('/health', (req, res) => res.json({ ok: true, broken: broken || null }));

app.post('/session/open', (req, res) => {
  const handle = req.body && req.body.handle;
  if (typeof handle !== 'string' || !handle) return problem(res, 400, 'handle required', 'send {"handle": "..."}');
  const sid = crypto.randomBytes(16).toString('hex');
  sessions.set(sid, handle);
  save();
  res.set('Set-Cookie', `${COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`).json({ handle });
});

app.get('/v2/menu', (req, res) => res.json({ products: PRODUCTS }));

app.post('/v2/purchases', (req, res) => {
  const owner = shopper(req);
  if (!owner) return problem(res, 401, 'no session', 'POST /session/open first');
  const { product, count = 1 } = req.body || {};
  if (!(product in PRODUCTS) || !Number.isInteger(count) || count < 1 || count > 10) {
    return problem(res, 422, 'bad purchase', `product one of ${Object.keys(PRODUCTS).join(', ')}, count 1..10`);
  }
  const p = {
    ref: `pur_${crypto.randomBytes(6).toString('hex')}`, owner, product, count,
    total: PRODUCTS[product] * count, state: 'OPEN', attempt: 0, intentId: null,
  };
  purchases.set(p.ref, p);
  save();
  res.status(201).json({ purchase: view(p) });
});

app.get('/v2/purchases/:ref', (req, res) => {
  const p = purchases.get(req.params.ref);
  if (!p || p.owner !== shopper(req)) return problem(res, 404, 'no such purchase', 'check the ref');
  res.set('Cache-Control', 'no-store').json({ purchase: view(p) });
});

app.post('/v2/purchases/:ref/payments', async (req, res) => {
  const owner = shopper(req);
  const p = purchases.get(req.params.ref);
  if (!owner || !p || p.owner !== owner) return problem(res, 404, 'no such purchase', 'check the ref');
  const body = req.body || {};
  const extra = Object.keys(body).filter((k) => k !== 'method');
  if (extra.length) return problem(res, 422, 'unknown field', `only "method" is accepted, not ${extra.join(', ')}`);
  const method = typeof body.method === 'string' ? body.method : 'pm_card_visa';

  if (broken === 'no_dedupe') {
    // BROKEN(no_dedupe): no token, no lock, no paid check: every request is a new payment.
    const fresh = { ...p, intentId: null, state: 'OPEN' };
    const [, status, answer, headers] = await pay(fresh, method);
    if (status === 200) p.state = 'SETTLED';
    return send(res, status, answer, headers);
  }

  const token = req.get('X-Dedupe-Token');
  if (!token) return problem(res, 400, 'X-Dedupe-Token required', 'send one unique token per payment attempt');
  const fingerprint = crypto.createHash('sha256').update(`${p.ref}\n${canonical(body)}`).digest('hex');
  const slot = `${owner}\0${token}`;
  const stored = records.get(slot);
  if (stored) {
    if (stored.fingerprint !== fingerprint) {
      return problem(res, 422, 'X-Dedupe-Token reused', 'this token was used for another request');
    }
    if (stored.state === 'running') return problem(res, 409, 'payment in progress', 'retry shortly', retryLater);
    return res.status(stored.status).set('Dedupe-Replayed', 'true').json(stored.body);
  }
  const record = { fingerprint, state: 'running' };
  records.set(slot, record);
  const [kind, status, answer, headers] = await withLock(p.ref, () => pay(p, method));
  if (kind === 'done') {
    Object.assign(record, { state: 'done', status, body: answer });
  } else {
    records.delete(slot); // not decided (or, broken, given up): the same token may ask again
  }
  save();
  send(res, status, answer, headers);
});

function send(res, status, answer, headers) {
  res.status(status).set(headers).type(status >= 400 ? 'application/problem+json' : 'application/json');
  res.send(JSON.stringify(answer));
}

app.use((err, req, res, next) => {
  if (res.headersSent) return next(err);
  if (err.type === 'entity.parse.failed') return problem(res, 400, 'invalid JSON', err.message);
  log('unexpected error', err);
  return problem(res, 500, 'internal error', 'see the shop log');
});

// The reconciler: purchases whose payment outcome is unknown are settled from the provider.
if (broken !== 'no_dedupe') {
  setInterval(() => {
    for (const p of purchases.values()) {
      if (p.state !== 'UNKNOWN' || locks.has(p.ref)) continue;
      withLock(p.ref, async () => {
        if (p.state === 'UNKNOWN') await settle(p);
        save();
      })
        .catch((err) => log(`reconcile ${p.ref}: ${describe(err)}`));
    }
  }, Number(process.env.RECONCILE_MS || 1000)).unref();
}

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  log(`node_shop${broken ? ` (BROKEN=${broken})` : ''} listening on http://127.0.0.1:${server.address().port}`);
});
