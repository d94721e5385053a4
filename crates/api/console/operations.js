// Operations: the account's operations, newest first, filtered by what the URL says;
// updated by the server's push while the tab is visible; several can be selected and
// cancelled, with a confirmation and the result of each.

import { call, follow } from './api.js';
import { h, fill, status, announce, confirmDialog } from './dom.js';

/** The filters, as ListExecuteOperations names them; the URL uses the same names. */
const FILTERS = ['Status', 'ServiceType', 'Operation', 'ApplicationId', 'ResourceGroupId',
  'CreateTimeStart', 'CreateTimeEnd'];
const STATUSES = ['INIT', 'RUNNING', 'SUCCESS', 'FAILURE'];
const LIVE_STATES = {
  paused: 'Paused while the tab is hidden',
  reconnecting: 'Reconnecting…',
};

export async function operationsPage(main, ctx) {
  const query = {};
  for (const name of [...FILTERS, 'NextToken']) {
    const value = ctx.params.get(name);
    if (value) query[name] = value;
  }
  const canCancel = ctx.me.CanCancel;
  const selected = new Set();
  const rows = new Map();
  const tbody = h('tbody');
  const liveState = h('span', { class: 'live' });
  const error = h('p', { class: 'error', role: 'alert' });
  const results = h('ul', { class: 'results', 'aria-label': 'Cancel results' });
  const cancelButton = canCancel
    ? h('button', { type: 'button', class: 'danger', disabled: true, onclick: () => cancelSelected() },
      'Cancel selected')
    : null;
  const more = h('div', { class: 'toolbar' });
  const selectAll = canCancel
    ? h('input', {
      type: 'checkbox',
      'aria-label': 'Select every unfinished operation shown',
      onchange: () => {
        for (const r of rows.values()) {
          if (!r.box || r.box.disabled) continue;
          r.box.checked = selectAll.checked;
          if (selectAll.checked) selected.add(r.item.OperationId);
          else selected.delete(r.item.OperationId);
        }
        selectionChanged();
      },
    })
    : null;

  function selectionChanged() {
    if (!cancelButton) return;
    cancelButton.disabled = selected.size === 0;
    fill(cancelButton, selected.size ? `Cancel selected (${selected.size})` : 'Cancel selected');
  }

  function row(item) {
    const final = item.Status === 'SUCCESS' || item.Status === 'FAILURE';
    const link = h('a', { href: `/console/operations/${encodeURIComponent(item.OperationId)}`, 'data-nav': true },
      item.OperationId);
    const cells = {
      status: h('td', {}, status(item.Status)),
      finished: h('td', {}, item.FinishTime || ''),
    };
    let box = null;
    if (canCancel) {
      box = h('input', {
        type: 'checkbox',
        'aria-label': `Select ${item.OperationId}`,
        disabled: final,
        onchange: () => {
          if (box.checked) selected.add(item.OperationId);
          else selected.delete(item.OperationId);
          selectionChanged();
        },
      });
    }
    const submitter = item.SubmittedBy
      ? (item.SubmittedBy.UserName || 'root')
      : '';
    const tr = h('tr', { 'data-id': item.OperationId, 'data-status': item.Status },
      canCancel ? h('td', {}, box) : null,
      h('td', { class: 'id' }, link),
      cells.status,
      h('td', {}, item.ServiceType),
      h('td', {}, item.Operation),
      h('td', {}, item.ApplicationId || ''),
      h('td', {}, item.CreateTime),
      cells.finished,
      h('td', {}, submitter));
    return { tr, box, cells, item };
  }

  /** Updates the table in place: rows keep their nodes (and the focus) across refreshes. */
  function show(items) {
    const order = [];
    const seen = new Set();
    for (const item of items) {
      seen.add(item.OperationId);
      let r = rows.get(item.OperationId);
      if (!r) {
        r = row(item);
        rows.set(item.OperationId, r);
      } else if (r.item.Status !== item.Status || r.item.FinishTime !== item.FinishTime) {
        fill(r.cells.status, status(item.Status));
        fill(r.cells.finished, item.FinishTime || '');
        r.tr.dataset.status = item.Status;
        if (r.box && (item.Status === 'SUCCESS' || item.Status === 'FAILURE')) {
          r.box.disabled = true;
          r.box.checked = false;
          selected.delete(item.OperationId);
        }
        r.item = item;
      }
      order.push(r.tr);
    }
    for (const id of [...rows.keys()]) {
      if (!seen.has(id)) {
        rows.delete(id);
        selected.delete(id);
      }
    }
    const current = [...tbody.children];
    if (current.length !== order.length || current.some((tr, i) => tr !== order[i])) {
      tbody.replaceChildren(...order);
    }
    if (!order.length) {
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: 9 }, 'No operations match.')));
    }
    selectionChanged();
  }

  function showPage(data) {
    show(data.Operations || []);
    fill(more, data.NextToken
      ? h('a', { href: url({ ...query, NextToken: data.NextToken }), 'data-nav': true }, 'Next page')
      : null,
    query.NextToken ? h('a', { href: url({ ...query, NextToken: '' }), 'data-nav': true }, 'First page') : null);
    fill(error);
    fill(liveState, `Live · updated ${new Date().toLocaleTimeString()}`);
  }

  async function cancelSelected() {
    const ids = [...selected];
    const ok = await confirmDialog(`Cancel ${ids.length} operation${ids.length > 1 ? 's' : ''}?`, ids, 'Cancel them');
    if (!ok) return;
    fill(results);
    for (const id of ids) {
      const line = h('li', { 'data-id': id }, `${id}: cancelling…`);
      results.append(line);
      try {
        const answer = await call('CancelExecuteOperation', {
          OperationId: id,
          ResourceGroupId: query.ResourceGroupId,
        });
        fill(line, `${id}: ${answer.Data ? answer.Data.Status : 'done'}`);
      } catch (e) {
        fill(line, h('span', { class: 'error' }, `${id}: ${e.code}: ${e.message}`));
      }
    }
    selected.clear();
    selectAll.checked = false;
    for (const r of rows.values()) if (r.box) r.box.checked = false;
    announce(`Cancel finished for ${ids.length} operation(s).`);
  }

  const form = filterForm(query, ctx);
  const search = h('form', { class: 'toolbar', role: 'search' },
    h('label', {}, 'Operation id', h('input', { name: 'id', placeholder: 'op_…', pattern: '[A-Za-z0-9_]{1,64}' })),
    h('button', {}, 'Open'));
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = search.elements.id.value.trim();
    if (id) ctx.navigate(`/console/operations/${encodeURIComponent(id)}`);
  });

  fill(main,
    h('h1', {}, 'Operations'),
    form,
    search,
    h('div', { class: 'toolbar' }, cancelButton, liveState),
    error,
    results,
    h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Operations, newest first'),
      h('thead', {}, h('tr', {},
        canCancel ? h('th', { scope: 'col' }, selectAll) : null,
        ['Operation id', 'Status', 'Service', 'Operation', 'Application', 'Created (UTC)', 'Finished (UTC)', 'Submitted by']
          .map((name) => h('th', { scope: 'col' }, name)))),
      tbody),
    more);
  return follow('ListExecuteOperations', query, {
    onData: showPage,
    onState: (state) => { if (LIVE_STATES[state]) fill(liveState, LIVE_STATES[state]); },
    onError: (e) => {
      fill(liveState, 'Not live');
      fill(error, `${e.code}: ${e.message}`);
    },
  });
}

/** The URL of the operations page with `query`. */
function url(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
  const text = params.toString();
  return text ? `/console/operations?${text}` : '/console/operations';
}

/** The filter form: submitting it changes the URL, which draws the page anew. */
function filterForm(query, ctx) {
  const field = (label, name, props = {}) =>
    h('label', {}, label, h('input', { name, value: query[name] || '', ...props }));
  const time = (label, name) =>
    h('label', {}, label, h('input', {
      name, type: 'datetime-local', step: 1,
      value: (query[name] || '').replace(/Z$/, ''),
    }));
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' },
    h('label', {}, 'Status', h('select', { name: 'Status' },
      h('option', { value: '' }, 'Any'),
      STATUSES.map((s) => h('option', { value: s, selected: query.Status === s }, s)))),
    field('Service', 'ServiceType'),
    field('Operation', 'Operation'),
    field('Application', 'ApplicationId'),
    field('Resource group', 'ResourceGroupId'),
    time('Created from (UTC)', 'CreateTimeStart'),
    time('Created before (UTC)', 'CreateTimeEnd'),
    h('button', { class: 'primary' }, 'Filter'),
    h('a', { href: '/console/operations', 'data-nav': true }, 'Clear'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = {};
    for (const name of FILTERS) {
      let value = form.elements[name].value.trim();
      if (value && name.startsWith('CreateTime')) value = utc(value);
      if (value) next[name] = value;
    }
    ctx.navigate(url(next));
  });
  return form;
}

/** A datetime-local value (`YYYY-MM-DDThh:mm[:ss]`), read as UTC, in the API's form. */
function utc(value) {
  return (value.length === 16 ? `${value}:00` : value.slice(0, 19)) + 'Z';
}
