// The console's entry point: finds who is signed in, draws the page the URL names, and
// keeps the URL the single source of what is shown (links and the back button change the
// URL, then the page is drawn from it). One module per page; each draws into <main> and
// returns what stops its live updates.

import { currentSession, signOut } from './api.js';
import { h, fill } from './dom.js';
import { signInPage } from './sign-in.js';
import { operationsPage } from './operations.js';
import { detailPage } from './detail.js';
import { startPage } from './start.js';
import { overviewPage } from './overview.js';
import { applicationsPage, applicationPage } from './applications.js';
import { explorerPage } from './explorer.js';

const PAGES = [
  [/^\/console\/sign-in$/, signInPage],
  [/^\/console\/start$/, startPage],
  [/^\/console\/overview$/, overviewPage],
  [/^\/console\/applications$/, applicationsPage],
  [/^\/console\/explorer$/, explorerPage],
  [/^\/console\/applications\/([A-Za-z0-9_-]+)$/, applicationPage],
  [/^\/console\/operations\/([A-Za-z0-9_]+)$/, detailPage],
  [/^\/console(\/|\/operations)?$/, operationsPage],
];

let me = null;
let stop = null;
let drawnPath = null;

/** Shows `url` (a path with its query), as a new history entry unless `replace`. */
function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  draw();
}

async function draw() {
  if (stop) stop();
  stop = null;
  const main = document.getElementById('main');
  const path = location.pathname;
  const [page, match] = PAGES.map(([re, fn]) => [fn, path.match(re)]).find(([, m]) => m) || [];
  if (!page) {
    fill(main, h('h1', {}, 'Not found'));
    return;
  }
  if (!me && page !== signInPage) {
    const next = location.pathname + location.search;
    navigate(`/console/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
    return;
  }
  drawHeader();
  // A page drawn again for a new query (a choice in one of its fields) keeps the keyboard
  // in the field that changed.
  const active = document.activeElement;
  const keep = path === drawnPath && main.contains(active) && active.name ? active.name : null;
  drawnPath = path;
  fill(main);
  const ctx = {
    me,
    navigate,
    params: new URLSearchParams(location.search),
    match,
    signedIn: (who) => { me = who; },
  };
  try {
    stop = (await page(main, ctx)) || null;
    if (keep) main.querySelector(`[name="${CSS.escape(keep)}"]`)?.focus();
  } catch (e) {
    if (e.code === 'InvalidSession') {
      me = null;
      navigate('/console/sign-in', { replace: true });
      return;
    }
    fill(main, h('p', { class: 'error', role: 'alert' }, `${e.code || 'Error'}: ${e.message}`));
  }
}

function drawHeader() {
  const link = (href, text) => h('a', {
    href, 'data-nav': true, 'aria-current': location.pathname === href ? 'page' : null,
  }, text);
  fill(document.getElementById('nav'), me ? [
    link('/console/operations', 'Operations'),
    link('/console/start', 'Start an operation'),
    link('/console/applications', 'Applications'),
    link('/console/overview', 'Overview'),
    link('/console/explorer', 'API Explorer'),
  ] : null);
  const who = document.getElementById('who');
  if (!me) {
    fill(who);
    return;
  }
  const name = me.UserName ? `${me.UserName} (RAM user)` : 'root';
  fill(who,
    h('span', {}, `${name} · ${me.AccessKeyId} · account ${me.AccountId}`),
    h('button', {
      type: 'button',
      onclick: async () => {
        await signOut();
        me = null;
        navigate('/console/sign-in');
      },
    }, 'Sign out'));
}

// Links within the console change the URL without reloading the page.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-nav]');
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', draw);
window.addEventListener('console:signed-out', () => {
  if (!me) return;
  me = null;
  const next = location.pathname + location.search;
  navigate(`/console/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
});

me = await currentSession();
draw();
