// Overview: the last hour of the account's operations as charts (counts by status,
// submissions per minute, p50/p95 duration per operation) and the queue (how many wait and
// run, the oldest waiting). Computed in the page from ListExecuteOperations listings, read
// once per visit or **Refresh** (each listing page is an audited call, so the page does not
// poll); at most MAX_PAGES pages of each listing are read, and the page says when a bound cut
// what it shows.

import { call } from './api.js';
import { h, fill } from './dom.js';
import { barChart, timeChart } from './charts.js';

const PAGE_SIZE = 100;
const MAX_PAGES = 10;
const HOUR_MS = 60 * 60 * 1000;
const STATUSES = ['INIT', 'RUNNING', 'SUCCESS', 'FAILURE'];

export async function overviewPage(main) {
  const body = h('div', { class: 'overview' });
  const stamp = h('span', { class: 'live' });
  const error = h('p', { class: 'error', role: 'alert' });
  const refresh = h('button', { type: 'button', onclick: () => load() }, 'Refresh');
  fill(main, h('h1', {}, 'Overview'), h('div', { class: 'toolbar' }, refresh, stamp), error, body);

  async function load() {
    refresh.disabled = true;
    try {
      const now = Date.now();
      const since = new Date(now - HOUR_MS).toISOString().replace(/\.\d+Z$/, 'Z');
      const [hour, waiting, running] = await Promise.all([
        listing({ CreateTimeStart: since }),
        listing({ Status: 'INIT' }),
        listing({ Status: 'RUNNING' }),
      ]);
      fill(error);
      fill(body, charts(hour, waiting, running, now));
      fill(stamp, `As of ${new Date(now).toLocaleTimeString()}`);
    } catch (e) {
      fill(error, `${e.code}: ${e.message}`);
    } finally {
      refresh.disabled = false;
    }
  }
  await load();
  return null;
}

/** The operations matching `query`, newest first, at most MAX_PAGES pages: `{ items, cut }`. */
async function listing(query) {
  const items = [];
  let token = '';
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const answer = await call('ListExecuteOperations', { ...query, MaxResults: PAGE_SIZE, NextToken: token });
    const data = answer.Data || {};
    items.push(...(data.Operations || []));
    token = data.NextToken || '';
    if (!token) return { items, cut: false };
  }
  return { items, cut: true };
}

function charts(hour, waiting, running, now) {
  const cutNote = (list, what) => (list.cut ? h('p', { class: 'note' },
    `Only the newest ${list.items.length} ${what} are counted.`) : null);

  const byStatus = STATUSES.map((status) => ({
    label: status,
    value: hour.items.filter((op) => op.Status === status).length,
    kind: `status-${status}`,
  }));

  const minutes = new Array(60).fill(0);
  for (const op of hour.items) {
    const age = now - Date.parse(op.CreateTime);
    const slot = 59 - Math.floor(age / 60000);
    if (slot >= 0 && slot < 60) minutes[slot] += 1;
  }
  const minuteLabel = (i) => new Date(now - (59 - i) * 60000).toISOString().slice(11, 16);
  const axis = { first: `${minuteLabel(0)} UTC`, last: `${minuteLabel(59)} UTC`, period: (i) => `${minuteLabel(i)} UTC` };

  const durations = new Map();
  for (const op of hour.items) {
    if (!op.FinishTime) continue;
    const name = `${op.ServiceType}.${op.Operation}`;
    if (!durations.has(name)) durations.set(name, []);
    durations.get(name).push((Date.parse(op.FinishTime) - Date.parse(op.CreateTime)) / 1000);
  }
  const percentiles = [...durations.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([name, values]) => {
      values.sort((a, b) => a - b);
      return [
        { label: `${name} p50`, value: percentile(values, 0.5), kind: 'p50' },
        { label: `${name} p95`, value: percentile(values, 0.95), kind: 'p95' },
      ].map((row) => ({ ...row, text: `${seconds(row.value)} (${values.length})` }));
    });

  const oldest = waiting.items[waiting.items.length - 1];
  const oldestText = oldest
    ? h('p', { class: 'stat' }, 'Oldest waiting: ',
      h('a', { href: `/console/operations/${encodeURIComponent(oldest.OperationId)}`, 'data-nav': true }, oldest.OperationId),
      `, waiting ${seconds((now - Date.parse(oldest.CreateTime)) / 1000)}${waiting.cut ? ' or more' : ''}`,
      ` (since ${oldest.CreateTime})`)
    : h('p', { class: 'stat' }, 'Nothing is waiting.');

  return [
    h('section', { 'aria-label': 'Last hour' },
      h('h2', {}, 'Last hour'),
      cutNote(hour, 'operations of the hour'),
      h('div', { class: 'charts' },
        barChart('Operations by status', byStatus),
        timeChart('Submitted per minute', minutes, axis),
        percentiles.length
          ? barChart('Duration per operation, submit to finish (count)', percentiles)
          : h('p', {}, 'No operation finished in the last hour.'))),
    h('section', { 'aria-label': 'Queue' },
      h('h2', {}, 'Queue'),
      h('div', { class: 'charts' },
        barChart('Unfinished operations', [
          { label: 'waiting (INIT)', value: waiting.items.length, kind: 'status-INIT', text: count(waiting) },
          { label: 'running (RUNNING)', value: running.items.length, kind: 'status-RUNNING', text: count(running) },
        ])),
      oldestText,
      h('p', {}, h('a', { href: '/console/operations?Status=INIT', 'data-nav': true }, 'See the waiting operations'))),
  ];
}

function count(list) {
  return list.cut ? `${list.items.length}+` : String(list.items.length);
}

/** The `q` quantile of sorted `values`, by the nearest rank. */
function percentile(values, q) {
  return values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))];
}

function seconds(value) {
  if (value < 60) return `${value.toFixed(value < 10 ? 1 : 0)} s`;
  if (value < 3600) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}
