// Building the page from data. Everything a tenant typed is put in as text (text nodes,
// attribute values set one by one), never parsed as markup: no innerHTML anywhere.

/** An element `tag` with attributes `props` (`on…` functions become listeners) and
 * `children` (nodes, or anything else as text). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A status badge. */
export function status(value) {
  return h('span', { class: `status status-${value}` }, value);
}

/** `text` pretty-printed when it is JSON, else as it is. */
export function formatJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Says `message` to screen readers. */
export function announce(message) {
  fill(document.getElementById('announce'), message);
}

/** Asks to confirm, in a modal dialog that keeps the keyboard in it; resolves to a boolean. */
export function confirmDialog(title, items, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      h('ul', {}, items.map((item) => h('li', {}, item))),
      h('form', { method: 'dialog', class: 'toolbar' },
        h('button', { value: 'yes', class: 'danger' }, confirmLabel),
        h('button', { value: 'no', autofocus: true }, 'Keep them')));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Runs `refresh` every `ms` while the tab is visible, and at once when it shows again;
 * `onState` hears `true` (live) or `false` (paused). Returns the function that stops it. */
export function whileVisible(refresh, ms, onState) {
  const tick = () => { if (!document.hidden) refresh(); };
  const timer = setInterval(tick, ms);
  const changed = () => {
    onState(!document.hidden);
    tick();
  };
  document.addEventListener('visibilitychange', changed);
  onState(!document.hidden);
  return () => {
    clearInterval(timer);
    document.removeEventListener('visibilitychange', changed);
  };
}

/** `text` under a heading `label`, with a button that copies it (or selects it, where the
 * clipboard is not available). */
export function copyBlock(label, text) {
  const pre = h('pre', {}, text);
  const button = h('button', {
    type: 'button',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        announce(`${label} copied`);
        fill(button, 'Copied');
      } catch {
        getSelection().selectAllChildren(pre);
        fill(button, 'Selected: press Ctrl+C');
      }
    },
  }, `Copy ${label}`);
  return h('section', { 'aria-label': label }, h('h3', {}, label), pre, button);
}
