// Drives the published @openpanel/sdk (Node) against the server in
// TALLY_API_URL, the way a backend uses it, and prints what each call
// resolved to as one JSON object on stdout.
//
// The SDK swallows errors: after its retries it logs "Max retries reached"
// and resolves to null (also at once on a 401). So a null here is a failure,
// which the Go test reports with the stderr of this script.
import { OpenPanel } from '@openpanel/sdk';

const op = new OpenPanel({
  clientId: process.env.TALLY_CLIENT_ID,
  clientSecret: process.env.TALLY_CLIENT_SECRET,
  apiUrl: process.env.TALLY_API_URL,
});

const results = {};
// Every call is awaited: the SDK sends at once (it queues only when
// disabled or waiting for a profile), and its promise settles with the
// server's answer, after any retries.
results.purchase = await op.track('purchase', {
  amount: 49.9,
  currency: 'EUR',
  gift: false,
  tags: ['new', 'promo'],
  order: { id: 'o-1001', items: { count: 3, sku: 'SKU-7' } },
});
results.identify = await op.identify({
  profileId: 'user-1',
  firstName: 'Ada',
  lastName: 'Lovelace',
  email: 'ada@example.com',
  properties: { plan: 'pro', address: { city: 'London' } },
});
results.increment = await op.increment({ profileId: 'user-1', property: 'credits', value: 10 });
results.decrement = await op.decrement({ profileId: 'user-1', property: 'credits', value: 3 });
results.incrementDefault = await op.increment({ profileId: 'user-1', property: 'logins' });
// identify() made the SDK remember the profile: this event carries it.
results.afterIdentify = await op.track('report_exported', { format: 'csv' });
results.explicitProfile = await op.track('checkout_completed', { profileId: 'user-2', step: 3 });

console.log(JSON.stringify({
  results,
  profileId: op.profileId ?? null,
  deviceId: op.getDeviceId(),
}));
