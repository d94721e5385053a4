// Sign-in: an AccessKey pair in, a session out. The secret is sent once and forgotten by
// the page; the session then acts with that key's permissions.

import { signIn } from './api.js';
import { h, fill } from './dom.js';

export function signInPage(main, ctx) {
  const error = h('p', { class: 'error', role: 'alert' });
  const id = h('input', { name: 'AccessKeyId', autocomplete: 'username', required: true, autofocus: true });
  const secret = h('input', { name: 'AccessKeySecret', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'signin' },
    h('label', {}, 'AccessKeyId', id),
    h('label', {}, 'AccessKeySecret', secret),
    h('button', { class: 'primary' }, 'Sign in'),
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fill(error);
    try {
      const me = await signIn(id.value.trim(), secret.value);
      secret.value = '';
      ctx.signedIn(me);
      const next = ctx.params.get('next') || '';
      // Only a path of the console: the parameter must not send anyone elsewhere.
      const target = /^\/console(\/|$|\?)/.test(next) && !next.startsWith('//') ? next : '/console/operations';
      ctx.navigate(target, { replace: true });
    } catch (e) {
      secret.value = '';
      fill(error, `${e.code}: ${e.message}`);
    }
  });
  fill(main, h('h1', {}, 'Sign in to bpops'),
    h('p', {}, 'Use an AccessKey pair. The console then acts with exactly that key\'s permissions.'),
    form);
  id.focus();
}
