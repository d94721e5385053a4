// Calls to the server. API actions go to /console/api as the form parameters of a signed
// request would, with the session's CSRF token; the server authorizes and answers them as
// it does signed requests. Errors become `ApiError` with the wire code and message.

let csrfToken = '';

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function send(url, init) {
  const response = await fetch(url, { credentials: 'same-origin', ...init });
  let body = {};
  try {
    body = await response.json();
  } catch {
    throw new ApiError('InternalError', `Unreadable answer (HTTP ${response.status}).`, response.status);
  }
  if (!response.ok) {
    // The session ended (expired, signed out elsewhere): the page goes back to sign-in.
    if (body.Code === 'InvalidSession' && url === '/console/api') {
      window.dispatchEvent(new Event('console:signed-out'));
    }
    throw new ApiError(body.Code || 'InternalError', body.Message || '', response.status);
  }
  return body;
}

/** Who is signed in, or `null`. */
export async function currentSession() {
  try {
    const me = await send('/console/session', { method: 'GET' });
    csrfToken = me.CsrfToken;
    return me;
  } catch (e) {
    if (e.code === 'InvalidSession') return null;
    throw e;
  }
}

/** Signs in with an AccessKey pair; the secret goes to the server once, in the body. */
export async function signIn(accessKeyId, accessKeySecret) {
  const me = await send('/console/session', {
    method: 'POST',
    headers: { 'X-Bpops-Console': 'sign-in' },
    body: new URLSearchParams({ AccessKeyId: accessKeyId, AccessKeySecret: accessKeySecret }),
  });
  csrfToken = me.CsrfToken;
  return me;
}

export async function signOut() {
  await send('/console/session', { method: 'DELETE', headers: { 'X-CSRF-Token': csrfToken } });
  csrfToken = '';
}

/** Calls API `action` with `params` (absent and empty values left out); the envelope. */
export async function call(action, params = {}) {
  const form = new URLSearchParams({ Action: action });
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') form.set(name, String(value));
  }
  return send('/console/api', {
    method: 'POST',
    headers: { 'X-CSRF-Token': csrfToken },
    body: form,
  });
}

/** Follows API `action` (ListExecuteOperations or ListExecuteOperationEvents) with `params`
 * by server-sent events, while the tab is visible (the stream is closed while it is hidden,
 * and opened again when it shows). The server authorizes and audits each opening once, then
 * sends the call's `Data` whenever it changed: `onData(data)`. `onState` hears 'live',
 * 'paused' or 'reconnecting'; `onError` an ApiError that ended it (the session ended, no
 * permission). Returns the function that stops it. */
export function follow(action, params, { onData, onState = () => {}, onError }) {
  const query = new URLSearchParams({ Action: action });
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, value);
  let source = null;
  let stopped = false;

  const close = () => {
    if (source) source.close();
    source = null;
  };
  const fail = (e) => {
    close();
    if (e.code === 'InvalidSession') window.dispatchEvent(new Event('console:signed-out'));
    onError(e);
  };
  const open = () => {
    close();
    if (stopped || document.hidden) {
      onState('paused');
      return;
    }
    source = new EventSource(`/console/events?${query}`);
    source.addEventListener('open', () => onState('live'));
    source.addEventListener('data', (event) => {
      onState('live');
      onData(JSON.parse(event.data));
    });
    source.addEventListener('refused', (event) => {
      const body = JSON.parse(event.data);
      fail(new ApiError(body.Code, body.Message, 0));
    });
    source.addEventListener('error', () => {
      if (source && source.readyState === EventSource.CONNECTING) {
        onState('reconnecting');
        return;
      }
      // Refused at the opening: the same listing as a call says why.
      close();
      call(action, params).then(
        () => fail(new ApiError('ServiceUnavailable', 'Live updates could not start; reload the page.', 0)),
        fail);
    });
  };
  document.addEventListener('visibilitychange', open);
  open();
  return () => {
    stopped = true;
    document.removeEventListener('visibilitychange', open);
    close();
  };
}
