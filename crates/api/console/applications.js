// Applications: the account's applications (ListApplication, filtered and paged in the URL),
// and one application (GetApplication): its status and deploy progress, checklist, prices
// and ResourceList, with its steps (validate, valuate, deploy, release). A step runs in the
// background; while one does, the page reads the application again every two seconds (each
// read an audited call) while the tab is visible, and stops when the step ends.

import { call } from './api.js';
import { h, fill, formatJson, announce, confirmDialog, whileVisible } from './dom.js';

const REFRESH_MS = 1000;
const PAGE_SIZE = 20;
/** The statuses of a step under way. */
const IN_PROGRESS = new Set(['Verifying', 'Valuating', 'Deploying', 'Destroying']);
/** The steps, in their order: action, button, and whether it changes resources (asks first). */
const STEPS = [
  ['ValidateApplication', 'Validate', false],
  ['ValuateApplication', 'Valuate', false],
  ['DeployApplication', 'Deploy', true],
  ['ReleaseApplication', 'Release', true],
];

function appLink(id) {
  return h('a', { href: `/console/applications/${encodeURIComponent(id)}`, 'data-nav': true }, id);
}

export async function applicationsPage(main, ctx) {
  const keyword = ctx.params.get('Keyword') || '';
  const page = Math.max(1, Number.parseInt(ctx.params.get('NextToken') || '1', 10) || 1);
  const answer = await call('ListApplication', { Keyword: keyword, MaxResults: PAGE_SIZE, NextToken: page });
  const items = answer.Data || [];
  const url = (next) => {
    const params = new URLSearchParams();
    if (next.keyword) params.set('Keyword', next.keyword);
    if (next.page > 1) params.set('NextToken', String(next.page));
    const text = params.toString();
    return text ? `/console/applications?${text}` : '/console/applications';
  };
  const search = h('form', { class: 'toolbar', role: 'search' },
    h('label', {}, 'Name contains', h('input', { name: 'Keyword', value: keyword })),
    h('button', { class: 'primary' }, 'Search'));
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    ctx.navigate(url({ keyword: search.elements.Keyword.value.trim(), page: 1 }));
  });
  fill(main,
    h('h1', {}, 'Applications'),
    search,
    h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Applications'),
      h('thead', {}, h('tr', {}, ['Application id', 'Name', 'Status', 'Resource group', 'Created (UTC)']
        .map((name) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, items.length
        ? items.map((app) => h('tr', { 'data-id': app.ApplicationId },
          h('td', { class: 'id' }, appLink(app.ApplicationId)),
          h('td', {}, app.Name),
          h('td', {}, h('span', { class: 'app-status' }, app.Status)),
          h('td', {}, app.ResourceGroupId || ''),
          h('td', {}, app.CreateTime)))
        : h('tr', {}, h('td', { colspan: 5 }, 'No applications match.')))),
    h('div', { class: 'toolbar' },
      page > 1 ? h('a', { href: url({ keyword, page: page - 1 }), 'data-nav': true }, 'Previous page') : null,
      answer.NextToken ? h('a', { href: url({ keyword, page: answer.NextToken }), 'data-nav': true }, 'Next page') : null));
  return null;
}

export async function applicationPage(main, ctx) {
  const id = decodeURIComponent(ctx.match[1]);
  const body = h('div');
  const error = h('p', { class: 'error', role: 'alert' });
  const steps = STEPS.filter(([action]) => (ctx.me.ApplicationSteps || []).includes(action));
  const buttons = steps.map(([action, label, asks]) =>
    h('button', { type: 'button', class: asks ? 'danger' : 'primary', onclick: () => run(action, label, asks) }, label));
  fill(main,
    h('p', {}, h('a', { href: '/console/applications', 'data-nav': true }, '← Applications')),
    h('h1', {}, 'Application ', h('code', {}, id)),
    buttons.length ? h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Steps' }, buttons) : null,
    error,
    body);

  let busy = true;
  async function refresh() {
    if (!busy) return;
    try {
      const app = (await call('GetApplication', { ApplicationId: id })).Data;
      busy = IN_PROGRESS.has(app.Status);
      for (const button of buttons) button.disabled = busy;
      draw(app);
    } catch (e) {
      busy = false;
      fill(error, `${e.code}: ${e.message}`);
    }
  }

  function draw(app) {
    const attributes = [
      ['Name', app.Name],
      ['Status', h('span', { class: 'app-status', 'data-status': app.Status }, app.Status)],
      ['Progress', h('span', {},
        h('progress', { max: 100, value: app.DeployPercent, 'aria-label': 'Deployed' }), ` ${app.DeployPercent}%`)],
      ['Template', app.TemplateId || '(declared in the configuration)'],
      ['Resource group', app.ResourceGroupId || ''],
      ['Created (UTC)', app.CreateTime],
      ['Error', app.Error || ''],
    ].filter(([, value]) => value !== '');
    const resources = app.ResourceList || [];
    fill(body,
      h('dl', { class: 'attributes' }, attributes.map(([name, value]) => [h('dt', {}, name), h('dd', {}, value)])),
      h('h2', {}, 'Resources'),
      h('table', { class: 'resources' },
        h('caption', { class: 'visually-hidden' }, 'ResourceList'),
        h('thead', {}, h('tr', {}, ['Resource id', 'Name', 'Type', 'Status', 'Charge type']
          .map((name) => h('th', { scope: 'col' }, name)))),
        h('tbody', {}, resources.length
          ? resources.map((r) => h('tr', { 'data-id': r.ResourceId },
            h('td', { class: 'id' }, r.ResourceId),
            h('td', {}, r.ResourceName),
            h('td', {}, r.ResourceType),
            h('td', {}, r.Status),
            h('td', {}, r.ChargeType || '')))
          : h('tr', {}, h('td', { colspan: 5 }, 'It holds no resources.')))),
      h('h2', {}, 'Checklist'),
      h('pre', { 'data-field': 'checklist' }, formatJson(JSON.stringify(app.Checklist || []))),
      h('h2', {}, 'Prices'),
      h('pre', { 'data-field': 'prices' }, formatJson(JSON.stringify(app.PriceList || []))),
      h('p', {}, h('a', {
        href: `/console/operations?ServiceType=bpstudio&ApplicationId=${encodeURIComponent(id)}`,
        'data-nav': true,
      }, 'Its steps as operations')));
  }

  async function run(action, label, asks) {
    if (asks && !(await confirmDialog(`${label} ${id}?`, [id], label))) return;
    fill(error);
    try {
      await call(action, { ApplicationId: id });
      announce(`${label} started`);
      busy = true;
    } catch (e) {
      fill(error, `${e.code}: ${e.message}`);
    }
    refresh();
  }

  await refresh();
  return whileVisible(refresh, REFRESH_MS, () => {});
}
