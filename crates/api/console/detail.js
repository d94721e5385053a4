// One operation: its attributes, status and timeline (from its history), message and
// arguments, cancel, and the same read as a bpops command or an SDK call to copy. Live by
// push: the server sends the history whenever it grows, and each change reads the result
// once, until the operation is final. A key that may not read the history gets the result
// read every two seconds instead, while the operation is unfinished and the tab visible.

import { call, follow } from './api.js';
import { h, fill, status, formatJson, announce, confirmDialog, whileVisible, copyBlock } from './dom.js';

const REFRESH_MS = 2000;

export async function detailPage(main, ctx) {
  const id = decodeURIComponent(ctx.match[1]);
  const body = h('div');
  const error = h('p', { class: 'error', role: 'alert' });
  fill(main,
    h('p', {}, h('a', { href: '/console/operations', 'data-nav': true }, '← Operations')),
    h('h1', {}, 'Operation ', h('code', {}, id)),
    error,
    body);

  let final = false;
  let history = null;
  async function readResult() {
    try {
      const result = await call('GetExecuteOperationResult', { OperationId: id });
      fill(error);
      if (!result.Data) {
        final = true;
        fill(body, h('p', {}, result.Message));
        return;
      }
      final = result.Data.Status === 'SUCCESS' || result.Data.Status === 'FAILURE';
      draw(result.Data, history);
    } catch (e) {
      fill(error, `${e.code}: ${e.message}`);
    }
  }

  function draw(op, history) {
    const events = history ? history.Events : [];
    const submitted = events.find((e) => e.Type === 'Submitted');
    const finished = events.find((e) => e.Type === 'Finished');
    const attempts = events.filter((e) => e.Type === 'Claimed').length;
    const who = submitted && submitted.AccessKeyId
      ? `${submitted.UserName || 'root'} (${submitted.AccessKeyId}, ${submitted.SourceIp || ''})`
      : '';
    const attributes = [
      ['Status', status(op.Status)],
      ['Service', history ? history.ServiceType : ''],
      ['Operation', history ? history.Operation : ''],
      ['Application', (history && history.ApplicationId) || ''],
      ['Created (UTC)', submitted ? submitted.Time : ''],
      ['Finished (UTC)', finished ? finished.Time : ''],
      ['Submitted by', who],
      ['Attempts', String(attempts)],
      ['Trace id', submitted && submitted.TraceId ? submitted.TraceId : ''],
    ].filter(([, value]) => value !== '');
    const cancel = ctx.me.CanCancel && !final
      ? h('button', { type: 'button', class: 'danger', onclick: () => cancelIt() }, 'Cancel this operation')
      : null;
    fill(body,
      h('dl', { class: 'attributes' }, attributes.map(([name, value]) => [h('dt', {}, name), h('dd', {}, value)])),
      cancel,
      h('h2', {}, 'Message'),
      h('pre', { 'data-field': 'message' }, formatJson(op.Message || '')),
      h('h2', {}, 'Arguments'),
      h('pre', { 'data-field': 'arguments' }, formatJson(op.Arguments || '{}')),
      h('h2', {}, 'Timeline'),
      history
        ? h('ol', { class: 'timeline' }, events.map(eventLine))
        : h('p', {}, 'This key may not read the history (bpstudio:ListExecuteOperationEvents).'),
      h('h2', {}, 'Copy as'),
      copyAs(id));
  }

  async function cancelIt() {
    if (!(await confirmDialog('Cancel this operation?', [id], 'Cancel it'))) return;
    try {
      const answer = await call('CancelExecuteOperation', { OperationId: id });
      announce(`Cancelled: ${answer.Data ? answer.Data.Status : ''}`);
    } catch (e) {
      fill(error, `${e.code}: ${e.message}`);
    }
    readResult();
  }

  let stopPolling = () => {};
  const stopFollowing = follow('ListExecuteOperationEvents', { OperationId: id, MaxResults: 100 }, {
    onData: async (data) => {
      history = data;
      await readResult();
      if (final) stopFollowing();
    },
    // Without the history (not allowed, or no stream to be had): the result alone, polled.
    onError: () => {
      history = null;
      readResult();
      stopPolling = whileVisible(() => { if (!final) readResult(); }, REFRESH_MS, () => {});
    },
  });
  return () => {
    stopFollowing();
    stopPolling();
  };
}

function eventLine(event) {
  const details = [];
  if (event.Attempt) details.push(`attempt ${event.Attempt}`);
  if (event.Node) details.push(`on ${event.Node}`);
  if (event.UserName || event.AccessKeyId) details.push(`by ${event.UserName || 'root'}`);
  if (event.Reason) details.push(event.Reason);
  if (event.Status) details.push(event.Status);
  return h('li', {}, h('time', {}, event.Time), ' ', h('strong', {}, event.Type),
    details.length ? ` — ${details.join(', ')}` : '');
}

/** The same read, as a bpops command and as calls of the Python and Node.js SDKs. */
function copyAs(id) {
  const snippets = [
    ['bpops command', `bpops get ${id}`],
    ['Python SDK', [
      'from alibabacloud_bpstudio20210931 import models',
      `result = client.get_execute_operation_result(`,
      `    models.GetExecuteOperationResultRequest(operation_id="${id}")).body.data`,
    ].join('\n')],
    ['Node.js SDK', [
      "const { GetExecuteOperationResultRequest } = require('@alicloud/bpstudio20210931');",
      'const result = (await client.getExecuteOperationResult(',
      `  new GetExecuteOperationResultRequest({ operationId: '${id}' }))).body.data;`,
    ].join('\n')],
  ];
  return h('div', { class: 'copy' }, snippets.map(([label, text]) => copyBlock(label, text)));
}
