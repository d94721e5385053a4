// API Explorer: any action, its parameters, and the exact signed request (RPC v1,
// HMAC-SHA1: the sorted parameters, the string to sign, the signature), signed in this page
// with a secret typed for it. The secret stays in its field: it is used by the browser's
// WebCrypto to compute the signature and is never stored or sent; only the signature is.
// **Send** posts the signed request to the API itself (not through the session), and the
// answer is shown as it came, with the same call as Python SDK code to copy.

import { h, fill, formatJson, copyBlock } from './dom.js';

const VERSION = '2021-09-31';
const STEP = ['ApplicationId', 'ResourceGroupId', 'ClientToken'];
const EXECUTE = ['ServiceType', 'Operation', 'Attributes', 'ApplicationId', 'ClientToken', 'ResourceGroupId'];
/** Each action and the parameters it takes (JSON ones are written as JSON text). */
const ACTIONS = {
  ListServices: [],
  ListOperations: ['ServiceType'],
  GetOperationParams: ['ServiceType', 'Operation'],
  ExecuteOperationASync: EXECUTE,
  ExecuteOperationSync: EXECUTE,
  GetExecuteOperationResult: ['OperationId', 'ResourceGroupId', 'WaitSeconds'],
  ListExecuteOperations: ['Status', 'ServiceType', 'Operation', 'ApplicationId', 'ResourceGroupId',
    'CreateTimeStart', 'CreateTimeEnd', 'MaxResults', 'NextToken'],
  CancelExecuteOperation: ['OperationId', 'ResourceGroupId'],
  ListExecuteOperationEvents: ['OperationId', 'ResourceGroupId', 'MaxResults', 'NextToken'],
  ListTemplate: ['Keyword', 'MaxResults', 'NextToken'],
  GetTemplate: ['TemplateId'],
  CreateApplication: ['Name', 'TemplateId', 'ResourceGroupId', 'AreaId', 'Variables', 'Configuration', 'ClientToken'],
  GetApplication: ['ApplicationId', 'ResourceGroupId'],
  ListApplication: ['Keyword', 'Status', 'TemplateId', 'ResourceId', 'ResourceGroupId', 'OrderType', 'MaxResults', 'NextToken'],
  DeleteApplication: ['ApplicationId', 'ResourceGroupId'],
  ValidateApplication: STEP,
  ValuateApplication: STEP,
  DeployApplication: STEP,
  ReleaseApplication: STEP,
  ChangeResourceGroup: ['ResourceId', 'NewResourceGroupId', 'ResourceType'],
  GetApplicationVariables: ['AppId'],
  ReConfigApplication: ['AppId', 'Variables'],
  ListNotificationDeliveries: ['OperationId', 'ApplicationId', 'NotificationName', 'Status', 'ResourceGroupId',
    'MaxResults', 'NextToken'],
  LookupEvents: ['StartTime', 'EndTime', 'LookupAttribute.1.Key', 'LookupAttribute.1.Value', 'MaxResults', 'NextToken'],
  AdvanceClock: ['Duration'],
};

export function explorerPage(main, ctx) {
  const chosen = ACTIONS[ctx.params.get('Action')] ? ctx.params.get('Action') : 'ListServices';
  const action = h('select', {
    name: 'Action',
    onchange: () => ctx.navigate(`/console/explorer?Action=${encodeURIComponent(action.value)}`, { replace: true }),
  }, Object.keys(ACTIONS).map((name) => h('option', { value: name, selected: name === chosen }, name)));
  const inputs = ACTIONS[chosen].map((name) => [name, h('input', { name })]);
  const keyId = h('input', { name: 'AccessKeyId', value: ctx.me.AccessKeyId, autocomplete: 'off' });
  const secret = h('input', {
    name: 'AccessKeySecret', type: 'password', autocomplete: 'off',
    'aria-describedby': 'secret-help',
  });
  const error = h('p', { class: 'error', role: 'alert' });
  const signed = h('div', { 'aria-live': 'polite' });
  const answer = h('div');
  const send = h('button', { type: 'button', class: 'primary', disabled: true, onclick: () => sendIt() }, 'Send');
  let request = null;

  const form = h('form', { class: 'operation-form', 'aria-label': 'Request' },
    h('label', {}, 'Action', action),
    inputs.map(([name, input]) => h('label', {}, name, input)),
    h('label', {}, 'AccessKeyId', keyId),
    h('label', {}, 'AccessKeySecret', secret,
      h('span', { id: 'secret-help', class: 'help' },
        'Used in this page only, to compute the signature: never stored, never sent.')),
    h('div', { class: 'toolbar' }, h('button', { class: 'primary' }, 'Sign request'), send),
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fill(error);
    fill(answer);
    try {
      const params = { Action: chosen };
      for (const [name, input] of inputs) if (input.value !== '') params[name] = input.value;
      request = await sign(params, keyId.value.trim(), secret.value);
      showSigned(request);
      send.disabled = false;
    } catch (e) {
      fill(error, e.message);
    }
  });

  function showSigned({ params, canonical, stringToSign, signature }) {
    fill(signed,
      h('h2', {}, 'Signed request'),
      h('p', {}, 'POST / with these form parameters and the signature; canonicalized (sorted by name, percent-encoded), as RPC v1 HMAC-SHA1 signs them:'),
      h('pre', { 'data-field': 'canonical' }, canonical.split('&').join('\n&')),
      h('h3', {}, 'String to sign'),
      h('pre', { 'data-field': 'string-to-sign' }, stringToSign),
      h('h3', {}, 'Signature'),
      h('pre', { 'data-field': 'signature' }, signature),
      h('h2', {}, 'As code'),
      copyBlock('Python SDK', python(params)));
  }

  async function sendIt() {
    // A signature's nonce is spent once: sign again to send again.
    send.disabled = true;
    const body = new URLSearchParams({ ...request.params, Signature: request.signature });
    try {
      const response = await fetch('/', { method: 'POST', body, credentials: 'omit' });
      const text = await response.text();
      fill(answer, h('h2', {}, `Response: HTTP ${response.status}`),
        h('pre', { 'data-field': 'response' }, formatJson(text)));
    } catch (e) {
      fill(error, `The request could not be sent: ${e.message}`);
    }
  }

  fill(main,
    h('h1', {}, 'API Explorer'),
    h('p', {}, 'Any action, signed in this page as an SDK signs it, and sent to this server\'s API.'),
    form, signed, answer);
}

/** The request `params` signed with `secret` as key `keyId`: fresh nonce and time. */
async function sign(params, keyId, secret) {
  if (!keyId || !secret) throw new Error('Type the AccessKeyId and its secret to sign with.');
  if (!crypto.subtle) throw new Error('This browser signs only on https:// or on localhost.');
  const all = {
    ...params,
    Version: VERSION,
    Format: 'JSON',
    AccessKeyId: keyId,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: crypto.randomUUID(),
    Timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  const utf8 = new TextEncoder();
  // Sorted by the bytes of the names, as the server sorts them.
  const names = Object.keys(all).sort((a, b) => compareBytes(utf8.encode(a), utf8.encode(b)));
  const canonical = names.map((name) => `${percent(name)}=${percent(all[name])}`).join('&');
  const stringToSign = `POST&${percent('/')}&${percent(canonical)}`;
  const key = await crypto.subtle.importKey('raw', utf8.encode(`${secret}&`),
    { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8.encode(stringToSign)));
  const signature = btoa(String.fromCharCode(...mac));
  return { params: all, canonical, stringToSign, signature };
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** RFC 3986 percent-encoding: all but A-Z a-z 0-9 - _ . ~ */
function percent(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The call with the Python SDK's generic client (any action, extensions too). */
function python(params) {
  const own = Object.fromEntries(Object.entries(params).filter(([name]) => ![
    'Version', 'Format', 'AccessKeyId', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp',
  ].includes(name) && name !== 'Action'));
  return [
    'from alibabacloud_tea_openapi import models as open_api_models',
    'from alibabacloud_tea_util import models as util_models',
    '',
    `params = open_api_models.Params(action=${JSON.stringify(params.Action)}, version="${VERSION}",`,
    '    protocol="HTTP", method="POST", auth_type="AK", style="RPC", pathname="/",',
    '    req_body_type="formData", body_type="json")',
    `request = open_api_models.OpenApiRequest(query=${JSON.stringify(own, null, 4)})`,
    'answer = client.call_api(params, request, util_models.RuntimeOptions())["body"]',
  ].join('\n');
}
