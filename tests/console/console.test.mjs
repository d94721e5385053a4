// Browser tests of the web console: the real `bpops serve` (on a fresh SQLite database, a
// free loopback port) and Debian's Chromium, headless, driven by Playwright. Operations are
// submitted with the real `bpops exec` client. Screenshots go to tests/console/screenshots/
// (git-ignored; CI keeps them as artifacts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const BPOPS = process.env.BPOPS_BIN || join(repo, 'target', 'debug', 'bpops');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = join(here, 'screenshots');

const ACCOUNT = '1000000000000001';
const ROOT = ['LTAI5tConsoleRoot000001', 'console-root-secret'];
const READER = ['LTAI5tConsoleReader0001', 'console-reader-secret'];
// Markup and script in every field a tenant types that the pages show: it must stay text.
const IMG = '<img src=x onerror=window.__pwned=1>';
const SCRIPT = '</script><script>window.__pwned=1</script>';

const CONFIG = (dir) => `
listen = "127.0.0.1:0"

[storage]
url = "sqlite://${dir}/bpops.db"

[[operations.emulation]]
service = "ecs"
operation = "modifyInstanceType"
latency = "2s"

[[operations.emulation]]
service = "ecs"
operation = "modifyPayType"
latency = "10m"

[[accounts]]
id = "${ACCOUNT}"

[[resource_groups]]
account = "${ACCOUNT}"
id = "rg-prod"

[[applications]]
account = "${ACCOUNT}"
id = "APP-WEB"
resource_group = "rg-prod"

[[resources]]
application = "APP-WEB"
service = "ecs"
id = "i-live"
properties = { instance_name = "live", instance_type = "ecs.g7.large", status = "Running", region_id = "cn-hangzhou" }

[[resources]]
application = "APP-WEB"
service = "ecs"
id = "i-slow"
properties = { instance_name = "slow", instance_type = "ecs.g7.large", status = "Running", region_id = "cn-hangzhou" }

[[resources]]
application = "APP-WEB"
service = "ecs"
id = "i-tags"
properties = { instance_name = "tags", instance_type = "ecs.g7.large", status = "Running", region_id = "cn-hangzhou" }

[[users]]
account = "${ACCOUNT}"
name = "reader"

[[access_keys]]
id = "${ROOT[0]}"
secret = "${ROOT[1]}"
account = "${ACCOUNT}"

[[access_keys]]
id = "${READER[0]}"
secret = "${READER[1]}"
account = "${ACCOUNT}"
user = "reader"

[[policies]]
account = "${ACCOUNT}"
name = "ReadOnly"
document = '''{"Version":"1","Statement":[{"Effect":"Allow","Action":["bpstudio:List*","bpstudio:Get*"],"Resource":"*"}]}'''

[[attachments]]
account = "${ACCOUNT}"
policy = "ReadOnly"
user = "reader"
scope = "account"
`;

let dir;
let server;
let endpoint;
let browser;
const started = Date.now();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bpops-console-'));
  mkdirSync(SHOTS, { recursive: true });
  writeFileSync(join(dir, 'bpops.toml'), CONFIG(dir));
  server = spawn(BPOPS, ['serve', '--config', join(dir, 'bpops.toml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  endpoint = await new Promise((resolveAddress, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`bpops did not start:\n${seen}`)), 20000);
    const read = (chunk) => {
      seen += chunk;
      const m = seen.match(/listening on (127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolveAddress(`http://${m[1]}`);
      }
    };
    server.stdout.on('data', read);
    server.stderr.on('data', read);
    server.on('exit', (code) => reject(new Error(`bpops exited ${code}:\n${seen}`)));
  });
  // Nothing but the server under test: no background fetches of Chromium's own.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
  console.log(`console browser tests took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

/** Runs the real client as the root key; its standard output. */
async function client(...args) {
  const { stdout } = await promisify(execFile)(BPOPS, args, {
    env: {
      ...process.env,
      BPOPS_ENDPOINT: endpoint,
      ALIBABA_CLOUD_ACCESS_KEY_ID: ROOT[0],
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: ROOT[1],
    },
  });
  return stdout;
}

/** Submits an operation with the real client as the root key; its id. */
async function submit(operation, attributes) {
  const stdout = await client('exec', 'ecs', operation, '--application', 'APP-WEB',
    '--attributes-json', JSON.stringify(attributes), '--json');
  const id = stdout.match(/op_[0-9A-Za-z]{22}/);
  assert.ok(id, `no operation id in ${stdout}`);
  return id[0];
}

/** How many `action` calls of `key` the audit trail holds since `since` (ISO 8601). */
async function audited(action, key, since) {
  const stdout = await client('audit', '--action', action, '--key', key, '--since', since,
    '--all', '--json');
  return (stdout.match(/"RequestId"/g) || []).length;
}

/** A new page, signed in with `key`, with anything a page script does not expect failing
 * the test: an uncaught error, or a payload that ran. */
async function signedIn(key) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.requests = [];
  page.on('request', (r) => page.requests.push(new URL(r.url()).pathname));
  await page.goto(`${endpoint}/console/operations`);
  await page.waitForURL(/\/console\/sign-in/);
  await page.getByLabel('AccessKeyId').fill(key[0]);
  await page.getByLabel('AccessKeySecret').fill(key[1]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/operations/);
  return page;
}

async function noPayloadRan(page) {
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'an injected script ran');
  assert.deepEqual(page.errors, []);
}

function row(page, id) {
  return page.locator(`tr[data-id="${id}"]`);
}

test('every console answer carries a strict CSP, and the pages need a session', async () => {
  for (const path of ['/console', '/console/assets/app.js', '/console/api', '/console/session', '/console/events']) {
    const response = await fetch(`${endpoint}${path}`);
    const csp = response.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
    assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
  }
  const api = await fetch(`${endpoint}/console/api`, {
    method: 'POST',
    body: new URLSearchParams({ Action: 'ListExecuteOperations' }),
  });
  assert.equal(api.status, 401);
  assert.equal((await api.json()).Code, 'InvalidSession');
  const events = await fetch(`${endpoint}/console/events`);
  assert.equal(events.status, 401);
  assert.equal((await events.json()).Code, 'InvalidSession');
});

test('a wrong secret is refused and never echoed', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${endpoint}/console/sign-in`);
  await page.getByLabel('AccessKeyId').fill(ROOT[0]);
  await page.getByLabel('AccessKeySecret').fill('not-the-secret');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'SignInFailed' }).waitFor();
  assert.ok(!(await page.content()).includes('not-the-secret'));
  await page.screenshot({ path: join(SHOTS, 'sign-in-refused.png') });
  await context.close();
});

test('sign in, filter in the URL, watch a row turn SUCCESS live, open its detail', async () => {
  const since = new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const page = await signedIn(ROOT);
  const id = await submit('modifyInstanceType', {
    instanceId: 'i-live', change_type: 'modify_status', status: 'Stopped',
  });
  // Live: the row appears and goes INIT → RUNNING → SUCCESS (2 s of emulated latency)
  // without a reload, pushed by the server.
  await row(page, id).waitFor();
  await page.locator(`tr[data-id="${id}"][data-status="RUNNING"]`).waitFor({ timeout: 5000 });
  await page.locator(`tr[data-id="${id}"][data-status="SUCCESS"]`).waitFor({ timeout: 15000 });
  await page.screenshot({ path: join(SHOTS, 'operations.png') });
  // One stream, authorized and audited once, and no listing call of the page's own.
  const streams = () => page.requests.filter((p) => p === '/console/events').length;
  assert.equal(streams(), 1);
  assert.equal(page.requests.filter((p) => p === '/console/api').length, 0);
  await page.waitForTimeout(300); // the trail is written in batches, every 100 ms
  assert.equal(await audited('ListExecuteOperations', ROOT[0], since), 1);

  // Hidden, the tab closes its stream; shown again, it opens one and is up to date at once.
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await page.getByText('Paused while the tab is hidden').waitFor();
  const hiddenId = await submit('modifyInstanceType', {
    instanceId: 'i-live', change_type: 'modify_status', status: 'Running',
  });
  await page.waitForTimeout(1500);
  assert.equal(streams(), 1, 'no stream while hidden');
  assert.equal(await row(page, hiddenId).count(), 0, 'no update while hidden');
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await row(page, hiddenId).waitFor();
  await page.getByText(/Live · updated/).waitFor();
  assert.equal(streams(), 2, 'a stream once shown again');

  // Filters combine and live in the URL; back restores the previous filter.
  await page.getByLabel('Status').selectOption('SUCCESS');
  await page.getByLabel('Operation', { exact: true }).fill('modifyInstanceType');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/Status=SUCCESS/);
  assert.match(page.url(), /Operation=modifyInstanceType/);
  await row(page, id).waitFor();
  await page.getByLabel('Status').selectOption('FAILURE');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/Status=FAILURE/);
  await page.getByText('No operations match.').waitFor();
  await page.goBack();
  await page.waitForURL(/Status=SUCCESS/);
  await row(page, id).waitFor();
  assert.equal(await page.getByLabel('Status').inputValue(), 'SUCCESS');

  // A shared link opens the same view in another tab.
  const shared = await page.context().newPage();
  await shared.goto(page.url());
  await shared.locator(`tr[data-id="${id}"]`).waitFor();
  await shared.close();

  // Detail: attributes, timeline, formatted JSON, copy-as.
  await row(page, id).getByRole('link', { name: id }).click();
  await page.waitForURL(new RegExp(`/console/operations/${id}$`));
  await page.getByText('Finished', { exact: true }).waitFor();
  const timeline = await page.locator('ol.timeline').innerText();
  assert.match(timeline, /Submitted[\s\S]*Claimed[\s\S]*Finished/);
  assert.match(await page.locator('dl.attributes').innerText(), /modifyInstanceType/);
  assert.match(await page.locator('pre').filter({ hasText: 'bpops get' }).innerText(), new RegExp(`bpops get ${id}`));
  assert.match(await page.locator('pre').filter({ hasText: 'get_execute_operation_result' }).innerText(), new RegExp(id));
  await page.screenshot({ path: join(SHOTS, 'detail.png'), fullPage: true });
  await noPayloadRan(page);
  await page.context().close();
});

test('select running operations and cancel them, with a confirmation and a result per row', async () => {
  const page = await signedIn(ROOT);
  const slow = await submit('modifyPayType', { instanceId: 'i-slow', pay_type: 'PrePaid' });
  const done = await submit('modifyInstanceType', {
    instanceId: 'i-live', change_type: 'modify_status', status: 'Running',
  });
  await page.locator(`tr[data-id="${slow}"][data-status="RUNNING"]`).waitFor({ timeout: 10000 });
  await page.locator(`tr[data-id="${done}"][data-status="SUCCESS"]`).waitFor({ timeout: 15000 });
  assert.ok(await row(page, done).getByRole('checkbox').isDisabled(), 'a final operation cannot be selected');
  await page.getByLabel('Select every unfinished operation shown').check();
  assert.ok(await row(page, slow).getByRole('checkbox').isChecked());
  await page.getByRole('button', { name: 'Cancel selected (1)' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(slow).waitFor();
  await page.screenshot({ path: join(SHOTS, 'cancel-confirm.png') });
  await dialog.getByRole('button', { name: 'Cancel them' }).click();
  await page.locator(`ul.results li[data-id="${slow}"]`).filter({ hasText: 'FAILURE' }).waitFor();
  await page.locator(`tr[data-id="${slow}"][data-status="FAILURE"]`).waitFor();
  await page.screenshot({ path: join(SHOTS, 'cancelled.png') });
  await noPayloadRan(page);
  await page.context().close();
});

test('start an operation from its schema\'s form: checked in the page, judged by the server, followed live', async () => {
  const page = await signedIn(ROOT);
  await page.getByRole('link', { name: 'Start an operation' }).click();
  await page.waitForURL(/\/console\/start$/);
  await page.getByLabel('Service').selectOption('ecs');
  await page.waitForURL(/ServiceType=ecs/);
  await page.getByLabel('Operation').selectOption('modifyInstanceType');
  await page.waitForURL(/ServiceType=ecs&Operation=modifyInstanceType/);
  const form = page.getByRole('form', { name: 'Attributes' });
  const attribute = (name) => form.locator(`[name="${name}"]`);
  // The form is the schema's: an enum is a choice of its values, descriptions are shown.
  await attribute('instanceId').waitFor();
  assert.deepEqual(await attribute('change_type').locator('option').allInnerTexts(),
    ['Choose', 'modify_instance_type', 'modify_status']);
  assert.match(await form.innerText(), /The id of the instance, e\.g\. i-web1\./);

  // Checked in the page first: nothing is sent while a required attribute is missing.
  const calls = () => page.requests.filter((p) => p === '/console/api').length;
  const before = calls();
  await form.getByRole('button', { name: 'Start' }).click();
  await form.getByRole('alert').filter({ hasText: 'instanceId: is required' }).waitFor();
  assert.equal(await attribute('instanceId').getAttribute('aria-invalid'), 'true');
  assert.equal(calls(), before, 'nothing sent');

  // The server judges what the schema cannot say (a type change needs instance_type).
  await attribute('instanceId').fill('i-tags');
  await attribute('change_type').selectOption('modify_instance_type');
  await form.getByRole('button', { name: 'Start' }).click();
  await form.getByRole('alert').filter({ hasText: /instance_type/ }).waitFor();
  assert.equal(calls(), before + 1, 'the server was asked');

  // Sent, then followed live to SUCCESS on the operation's page.
  await attribute('change_type').selectOption('modify_status');
  await attribute('status').selectOption('Stopped');
  await form.getByLabel('Application (its id)').fill('APP-WEB');
  await page.screenshot({ path: join(SHOTS, 'start.png'), fullPage: true });
  await form.getByRole('button', { name: 'Start' }).click();
  await page.waitForURL(/\/console\/operations\/op_[0-9A-Za-z]{22}$/);
  await page.getByText('Finished', { exact: true }).waitFor({ timeout: 15000 });
  assert.match(await page.locator('dl.attributes').innerText(), /SUCCESS[\s\S]*modifyInstanceType/);
  await noPayloadRan(page);
  await page.context().close();
});

test('the overview draws the last hour and the queue as charts', async () => {
  const page = await signedIn(ROOT);
  await submit('modifyPayType', { instanceId: 'i-slow', pay_type: 'PrePaid' }); // waits 10 min
  for (const name of ['first', 'second']) await submit('rename', { instanceId: 'i-tags', instance_name: name });
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.waitForURL(/\/console\/overview$/);
  const chart = (name) => page.getByRole('img', { name: new RegExp(`^${name}`) });
  // Each chart is an SVG with its numbers in its text alternative, and a bar for each.
  const byStatus = await chart('Operations by status').getAttribute('aria-label');
  const count = (status) => Number(byStatus.match(new RegExp(`${status}: (\\d+)`))[1]);
  assert.ok(count('SUCCESS') >= 2, byStatus);
  assert.ok(count('RUNNING') >= 1, byStatus);
  assert.equal(await chart('Operations by status').locator('rect').count(), 4);
  assert.equal(await chart('Submitted per minute').locator('rect').count(), 60);
  assert.match(await chart('Duration per operation').getAttribute('aria-label'),
    /ecs\.rename p50: [\d.]+ s \([2-9]\d*\); ecs\.rename p95/);
  assert.match(await chart('Unfinished operations').getAttribute('aria-label'), /running \(RUNNING\): [1-9]/);
  await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
  await noPayloadRan(page);
  await page.context().close();
});

test('an application: listed, then validated, valuated, deployed and released from its page, with progress', async () => {
  const id = (await client('app', 'create', '--template', 'ecs-instance', '--name', 'console-app',
    '--area', 'cn-hangzhou', '--var', `instance_name=${IMG}`)).match(/[0-9A-Z]{16}/)[0];
  const page = await signedIn(ROOT);
  await page.getByRole('link', { name: 'Applications' }).click();
  await page.waitForURL(/\/console\/applications$/);
  await page.getByLabel('Name contains').fill('console-');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/Keyword=console-/);
  await row(page, id).getByRole('link', { name: id }).click();
  await page.waitForURL(new RegExp(`/console/applications/${id}$`));
  const status = (value) => page.locator(`dd [data-status="${value}"]`).waitFor({ timeout: 15000 });
  await status('Modified');
  await page.getByRole('button', { name: 'Validate' }).click();
  await status('Verified_Success');
  await page.getByRole('button', { name: 'Valuate' }).click();
  await status('Valuating_Success');
  assert.match(await page.locator('pre[data-field="prices"]').innerText(), /ecs/);
  // Deploying asks first, then the progress reaches 100% and the resource is listed.
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Deploy' }).click();
  await status('Deployed_Success');
  assert.equal(await page.locator('progress').getAttribute('value'), '100');
  const resource = page.locator('table.resources tbody tr');
  assert.equal(await resource.count(), 1);
  assert.ok((await resource.innerText()).includes(IMG), 'the resource name, typed by the tenant, as text');
  assert.equal(await page.locator('main img').count(), 0);
  await page.screenshot({ path: join(SHOTS, 'application.png'), fullPage: true });
  await page.getByRole('button', { name: 'Release' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Release' }).click();
  await status('Destroyed_Success');
  await page.getByText('It holds no resources.').waitFor();
  await noPayloadRan(page);
  await page.context().close();
});

test('the API explorer signs in the page, shows the exact signed request, sends it and shows the answer', async () => {
  const page = await signedIn(ROOT);
  const bodies = [];
  page.on('request', (r) => bodies.push(`${r.url()} ${r.postData() || ''}`));
  await page.getByRole('link', { name: 'API Explorer' }).click();
  await page.getByLabel('Action').selectOption('ListOperations');
  await page.waitForURL(/\/console\/explorer\?Action=ListOperations$/);
  await page.getByLabel('ServiceType').fill('ecs');
  assert.equal(await page.getByLabel('AccessKeyId').inputValue(), ROOT[0]);
  await page.getByLabel('AccessKeySecret').fill(ROOT[1]);
  await page.getByRole('button', { name: 'Sign request' }).click();
  // The signature shown is the HMAC-SHA1 of the string to sign shown, keyed with the secret.
  const stringToSign = await page.locator('pre[data-field="string-to-sign"]').innerText();
  assert.match(stringToSign, /^POST&%2F&AccessKeyId%3DLTAI5tConsoleRoot000001%26Action%3DListOperations%26/);
  const expected = createHmac('sha1', `${ROOT[1]}&`).update(stringToSign).digest('base64');
  assert.equal(await page.locator('pre[data-field="signature"]').innerText(), expected);
  assert.match(await page.getByRole('region', { name: 'Python SDK' }).innerText(), /action="ListOperations"[\s\S]*"ServiceType": "ecs"/);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByText('Response: HTTP 200').waitFor();
  assert.match(await page.locator('pre[data-field="response"]').innerText(), /"Operation": "modifyInstanceType"/);
  assert.ok(await page.getByRole('button', { name: 'Send' }).isDisabled(), 'a nonce is sent once');
  await page.screenshot({ path: join(SHOTS, 'explorer.png'), fullPage: true });

  // The server's answer, payload echoed in it and all, is text.
  await page.getByLabel('ServiceType').fill(IMG);
  await page.getByRole('button', { name: 'Sign request' }).click();
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByText(/Response: HTTP 4\d\d/).waitFor();
  assert.ok((await page.locator('pre[data-field="response"]').innerText()).includes(IMG));
  assert.equal(await page.locator('main img').count(), 0);

  // A wrong secret signs a request the server refuses; no secret ever left the page.
  await page.getByLabel('ServiceType').fill('ecs');
  await page.getByLabel('AccessKeySecret').fill('not-the-secret');
  await page.getByRole('button', { name: 'Sign request' }).click();
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByText('Response: HTTP 400').waitFor();
  assert.match(await page.locator('pre[data-field="response"]').innerText(), /SignatureDoesNotMatch/);
  assert.ok(bodies.length > 0);
  for (const body of bodies) {
    assert.ok(!body.includes(ROOT[1]) && !body.includes('not-the-secret'), `a secret was sent: ${body}`);
  }
  await noPayloadRan(page);
  await page.context().close();
});

test('a read-only user sees no cancel buttons, and the server refuses a forged cancel', async () => {
  const slow = await submit('modifyPayType', { instanceId: 'i-slow', pay_type: 'PostPaid' });
  const page = await signedIn(READER);
  await page.locator(`tr[data-id="${slow}"]`).waitFor();
  assert.equal(await page.getByRole('checkbox').count(), 0);
  assert.equal(await page.getByRole('button', { name: /Cancel/ }).count(), 0);
  await row(page, slow).getByRole('link').click();
  await page.locator('ol.timeline').waitFor();
  assert.equal(await page.getByRole('button', { name: /Cancel/ }).count(), 0);
  // An unfinished operation's page is live by push: its result is read once per change of
  // its history, not every few seconds.
  const apiCalls = () => page.requests.filter((p) => p === '/console/api').length;
  const before = apiCalls();
  await page.waitForTimeout(2500);
  assert.equal(apiCalls(), before, 'no reads while nothing changes');
  await page.screenshot({ path: join(SHOTS, 'read-only.png') });

  // An application is shown without its steps.
  await page.goto(`${endpoint}/console/applications/APP-WEB`);
  await page.locator('table.resources').waitFor();
  assert.equal(await page.getByRole('group', { name: 'Steps' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: /Validate|Valuate|Deploy|Release/ }).count(), 0);

  // The form of an operation is shown, without a way to send it.
  await page.goto(`${endpoint}/console/start?ServiceType=ecs&Operation=rename`);
  await page.locator('[name="instance_name"]').waitFor();
  await page.getByText('This key may not start operations').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Start' }).count(), 0);

  // The page's own session and CSRF token, used to forge what the page does not offer.
  const forged = await page.evaluate(async (id) => {
    const me = await (await fetch('/console/session')).json();
    const response = await fetch('/console/api', {
      method: 'POST',
      headers: { 'X-CSRF-Token': me.CsrfToken },
      body: new URLSearchParams({ Action: 'CancelExecuteOperation', OperationId: id }),
    });
    return { status: response.status, body: await response.json() };
  }, slow);
  assert.equal(forged.status, 403);
  assert.equal(forged.body.Code, 'NoPermission');
  const forgedStart = await page.evaluate(async () => {
    const me = await (await fetch('/console/session')).json();
    const response = await fetch('/console/api', {
      method: 'POST',
      headers: { 'X-CSRF-Token': me.CsrfToken },
      body: new URLSearchParams({
        Action: 'ExecuteOperationASync', ServiceType: 'ecs', Operation: 'rename',
        ApplicationId: 'APP-WEB', Attributes: '{"instanceId":"i-tags","instance_name":"forged"}',
      }),
    });
    return (await response.json()).Code;
  });
  assert.equal(forgedStart, 'NoPermission');
  const forgedRelease = await page.evaluate(async () => {
    const me = await (await fetch('/console/session')).json();
    const response = await fetch('/console/api', {
      method: 'POST',
      headers: { 'X-CSRF-Token': me.CsrfToken },
      body: new URLSearchParams({ Action: 'ReleaseApplication', ApplicationId: 'APP-WEB' }),
    });
    return (await response.json()).Code;
  });
  assert.equal(forgedRelease, 'NoPermission');

  // A session holds a few live streams, no more (the detail page holds none): four open.
  const open = (n) => page.evaluate(async (n) => {
    const outcomes = await Promise.all(Array.from({ length: n }, () => new Promise((done) => {
      const source = new EventSource('/console/events');
      source.addEventListener('data', () => done({ source, ok: true }));
      source.addEventListener('error', () => done({ source, ok: false }));
    })));
    for (const { source } of outcomes) source.close();
    return outcomes.map(({ ok }) => ok).sort();
  }, n);
  assert.deepEqual(await open(5), [false, true, true, true, true]);
  // Closed, they are given back.
  await page.waitForTimeout(200);
  assert.deepEqual(await open(4), [true, true, true, true]);

  // Without the CSRF token even a read is refused.
  const noCsrf = await page.evaluate(async () => {
    const response = await fetch('/console/api', {
      method: 'POST',
      body: new URLSearchParams({ Action: 'ListExecuteOperations' }),
    });
    return (await response.json()).Code;
  });
  assert.equal(noCsrf, 'InvalidCsrfToken');

  // Signing out ends the session on the server: the old cookie no longer works.
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'bpops_console');
  assert.ok(session.httpOnly);
  assert.equal(session.sameSite, 'Strict');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/console\/sign-in/);
  const replayed = await fetch(`${endpoint}/console/session`, {
    headers: { cookie: `bpops_console=${session.value}` },
  });
  assert.equal(replayed.status, 401);
  await page.context().close();
});

test('what a tenant typed renders as text, never as markup', async () => {
  const tagged = await submit('addTags', {
    instanceId: 'i-tags', tags: { [IMG]: SCRIPT, env: IMG },
  });
  const renamed = await submit('rename', { instanceId: 'i-tags', instance_name: SCRIPT });
  const page = await signedIn(ROOT);
  // A payload in the URL's filters too: it is shown in the form, as text.
  await page.goto(`${endpoint}/console/operations?ServiceType=${encodeURIComponent(IMG)}`);
  assert.equal(await page.getByLabel('Service').inputValue(), IMG);
  await page.getByText('No operations match.').waitFor();
  for (const id of [tagged, renamed]) {
    await page.goto(`${endpoint}/console/operations/${id}`);
    await page.locator('pre[data-field="arguments"]').waitFor();
    await page.getByText('Finished', { exact: true }).waitFor();
    const shown = await page.locator('main').innerText();
    // Opened by its link alone, the page still knows what the operation is.
    assert.match(await page.locator('dl.attributes').innerText(), id === tagged ? /addTags/ : /rename/);
    assert.ok(shown.includes(id === tagged ? IMG : SCRIPT), `the payload is shown as text on ${id}`);
    assert.equal(await page.locator('main img').count(), 0);
    assert.equal(await page.locator('main script').count(), 0);
  }
  // The start form: a payload typed in it, and echoed back in the server's refusal.
  await page.goto(`${endpoint}/console/start?ServiceType=ecs&Operation=rename`);
  await page.locator('[name="instanceId"]').fill('i-tags');
  await page.locator('[name="instance_name"]').fill(SCRIPT);
  await page.getByLabel('Application (its id)').fill(IMG);
  await page.getByRole('button', { name: 'Start' }).click();
  await page.getByRole('alert').filter({ hasText: IMG }).waitFor();
  assert.equal(await page.locator('main img').count(), 0);
  await page.goto(`${endpoint}/console/operations/${tagged}`);
  await page.locator('pre[data-field="arguments"]').waitFor();
  await page.screenshot({ path: join(SHOTS, 'injection-as-text.png'), fullPage: true });
  await noPayloadRan(page);
  await page.context().close();
});

test('the keyboard reaches everything: sign in and open an operation without a mouse', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${endpoint}/console/sign-in`);
  await page.locator('input[name="AccessKeyId"]:focus').waitFor(); // focused once drawn
  await page.keyboard.type(ROOT[0]);
  await page.keyboard.press('Tab');
  await page.keyboard.type(ROOT[1]);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/console\/operations/);
  await page.locator('tbody a').first().waitFor();
  const first = await page.locator('tbody a').first().innerText();
  await page.locator('tbody a').first().focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`/console/operations/${first}$`));
  // Choosing with the arrow keys redraws the start page and keeps the keyboard in the choice.
  await page.goto(`${endpoint}/console/start`);
  await page.locator('select[name="ServiceType"]').focus();
  await page.keyboard.press('ArrowDown');
  await page.waitForURL(/ServiceType=ecs$/);
  await page.locator('select[name="ServiceType"]:focus').waitFor();
  await page.keyboard.press('Tab');
  await page.keyboard.press('ArrowDown');
  await page.waitForURL(/ServiceType=ecs&Operation=/);
  await page.locator('select[name="Operation"]:focus').waitFor();
  await page.locator('form[aria-label="Attributes"] [name="instanceId"]').waitFor();
  await context.close();
});
