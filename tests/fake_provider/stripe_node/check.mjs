// stripe-node (the official `stripe` npm package), unchanged, against the fake provider.
//
//   node check.mjs http://127.0.0.1:12111
//
// Runs one check per feature a checkout relies on and prints one JSON line:
// {"stripe_node": "<version>", "checks": {"<name>": {"ok": true|false, ...what was seen}}}.
// tests/fake_provider/test_stripe_node.py runs it and asserts every check. `stripe` is
// resolved from tests/gallery/node_shop/node_modules (installed by `make node-shop`), or from
// the directory in STRIPE_NODE_FROM. The fake must be freshly reset: the checks arm a fault
// and register a webhook endpoint through its control API (/_fake/...).
import { createRequire } from 'node:module';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const from = process.env.STRIPE_NODE_FROM || path.join(here, '..', '..', 'gallery', 'node_shop');
const require = createRequire(path.join(from, 'package.json'));
const Stripe = require('stripe');
const version = Stripe.PACKAGE_VERSION;

const base = new URL(process.argv[2] || 'http://127.0.0.1:12111');
const KEY = 'sk_test_stripe_node';
const SECRET = 'whsec_stripe_node_check';

// No base-URL option: host, port and protocol point stripe-node at the fake.
function client(extra = {}) {
  return new Stripe(KEY, {
    host: base.hostname,
    port: Number(base.port || 80),
    protocol: base.protocol.replace(':', ''),
    maxNetworkRetries: 0,
    telemetry: false,
    timeout: 10000,
    ...extra,
  });
}

async function control(method, route, body) {
  const response = await fetch(new URL(route, base), {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
  return response.json();
}

const stripe = client();
const checks = {};

async function check(name, fn) {
  try {
    checks[name] = { ok: false, ...(await fn()) };
  } catch (err) {
    checks[name] = { ok: false, error: `${err && err.type ? err.type + ': ' : ''}${err && err.message}` };
  }
}

const pay = (order, extra = {}) => ({
  amount: 2000,
  currency: 'usd',
  metadata: { order_id: order },
  ...extra,
});

// A webhook receiver for the signature check, registered before anything is paid.
const received = [];
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    received.push({ body: Buffer.concat(chunks), signature: req.headers['stripe-signature'] });
    res.writeHead(200).end();
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
await control('POST', '/_fake/webhooks/endpoints', {
  url: `http://127.0.0.1:${receiver.address().port}/webhooks`,
  secret: SECRET,
  events: ['payment_intent.succeeded'],
  account: KEY,
});

let intent;
await check('no_base_url_option', async () => {
  try {
    new Stripe(KEY, { apiBase: base.href });
    return { seen: 'apiBase accepted' };
  } catch (err) {
    return { ok: /may only contain/.test(err.message), seen: err.message.slice(0, 60) };
  }
});

await check('create', async () => {
  intent = await stripe.paymentIntents.create(pay('node-1'));
  return { ok: intent.status === 'requires_payment_method', status: intent.status, id: intent.id };
});

let confirmed;
await check('confirm', async () => {
  confirmed = await stripe.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_visa' });
  return {
    ok: confirmed.status === 'succeeded' && confirmed.amount_received === 2000,
    status: confirmed.status,
    amount_received: confirmed.amount_received,
  };
});

await check('retrieve', async () => {
  const got = await stripe.paymentIntents.retrieve(intent.id);
  return {
    ok: got.id === intent.id && got.latest_charge === confirmed.latest_charge,
    latest_charge: got.latest_charge,
  };
});

await check('search', async () => {
  const found = await stripe.paymentIntents.search({ query: "metadata['order_id']:'node-1'" });
  const ids = found.data.map((i) => i.id);
  return { ok: ids.length === 1 && ids[0] === intent.id && found.object === 'search_result', ids };
});

await check('refund', async () => {
  const refund = await stripe.refunds.create({ payment_intent: intent.id, amount: 500 });
  return {
    ok: refund.amount === 500 && refund.charge === confirmed.latest_charge && refund.status === 'succeeded',
    amount: refund.amount,
    status: refund.status,
  };
});

await check('replay', async () => {
  const params = pay('node-2', { payment_method: 'pm_card_visa', confirm: true });
  const first = await stripe.paymentIntents.create(params, { idempotencyKey: 'node-replay' });
  const again = await stripe.paymentIntents.create(params, { idempotencyKey: 'node-replay' });
  const header = again.lastResponse.headers['idempotent-replayed'];
  return {
    ok: again.id === first.id && header === 'true' && !('idempotent-replayed' in first.lastResponse.headers),
    replayed_header: header ?? null,
    same_id: again.id === first.id,
  };
});

await check('idempotency_error', async () => {
  await stripe.paymentIntents.create(pay('node-3'), { idempotencyKey: 'node-reuse' });
  try {
    await stripe.paymentIntents.create(pay('node-3', { amount: 9999 }), { idempotencyKey: 'node-reuse' });
    return { seen: 'no error' };
  } catch (err) {
    return {
      ok: err instanceof Stripe.errors.StripeIdempotencyError && err.statusCode === 400,
      type: err.type,
      status: err.statusCode,
    };
  }
});

await check('own_key_per_post', async () => {
  // Without idempotencyKey stripe-node sends a key of its own on every POST.
  const made = await stripe.paymentIntents.create(pay('node-4'));
  const key = made.lastResponse.idempotencyKey || '';
  return { ok: key.startsWith('stripe-node-retry-'), key_prefix: key.slice(0, 18) };
});

await check('reset_retried_with_same_key', async () => {
  // A connection closed after the fake charged: stripe-node sends it again, same key,
  // although maxNetworkRetries is 0; the fake replays, so the order is charged once.
  const before = (await control('GET', '/_fake/requests/cursor')).seq;
  await control('POST', '/_fake/faults', { endpoint: 'POST /v1/payment_intents', mode: 'drop_after', count: 1 });
  const params = pay('node-5', { payment_method: 'pm_card_visa', confirm: true });
  const paid = await stripe.paymentIntents.create(params, { idempotencyKey: 'node-dropped' });
  const sent = (await control('GET', `/_fake/requests?after_seq=${before}`)).data.filter(
    (r) => r.path === '/v1/payment_intents',
  );
  const charges = (await control('GET', '/_fake/ledger?field=order_id&value=node-5&kind=charge')).data;
  return {
    ok:
      sent.length === 2 &&
      sent.every((r) => r.idempotency_key === 'node-dropped') &&
      sent[0].status === null &&
      sent[1].replayed === true &&
      paid.lastResponse.headers['idempotent-replayed'] === 'true' &&
      charges.length === 1,
    requests: sent.map((r) => ({ status: r.status, replayed: r.replayed, fault: r.fault })),
    charges: charges.length,
  };
});

await check('webhook_signature', async () => {
  const flushed = await control('POST', '/_fake/webhooks/flush?timeout=10');
  if (!flushed.done || received.length === 0) return { seen: 'no delivery', received: received.length };
  const { body, signature } = received[0];
  const event = Stripe.webhooks.constructEvent(body, signature, SECRET);
  const refused = (payload, secret) => {
    try {
      Stripe.webhooks.constructEvent(payload, signature, secret);
      return false;
    } catch (err) {
      return err instanceof Stripe.errors.StripeSignatureVerificationError;
    }
  };
  const tampered = Buffer.concat([body, Buffer.from(' ')]); // one byte more than was signed
  return {
    ok:
      event.type === 'payment_intent.succeeded' &&
      event.data.object.object === 'payment_intent' &&
      refused(tampered, SECRET) &&
      refused(body, 'whsec_someone_else'),
    type: event.type,
    signature_prefix: signature.slice(0, 2),
  };
});

receiver.close();
console.log(JSON.stringify({ stripe_node: version, checks }));
