// Start an operation: a service and an operation from the catalog (both in the URL), and a
// form drawn from the operation's GetOperationParams schema. The form checks what the schema
// says before sending, to answer at once; the server checks everything again and is the
// judge: its refusal is shown as it is. Once submitted, the operation's page follows it.

import { call } from './api.js';
import { h, fill } from './dom.js';
import { validate } from './schema.js';

export async function startPage(main, ctx) {
  const service = ctx.params.get('ServiceType') || '';
  const operation = ctx.params.get('Operation') || '';
  const choose = (next) => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(next)) if (value) params.set(name, value);
    ctx.navigate(`/console/start?${params}`, { replace: true });
  };

  const services = (await call('ListServices')).Data || [];
  const operations = service ? (await call('ListOperations', { ServiceType: service })).Data || [] : [];
  const serviceSelect = h('select', { name: 'ServiceType', onchange: () => choose({ ServiceType: serviceSelect.value }) },
    h('option', { value: '' }, 'Choose a service'),
    services.map((s) => h('option', { value: s, selected: s === service }, s)));
  const operationSelect = h('select', {
    name: 'Operation',
    disabled: !service,
    onchange: () => choose({ ServiceType: service, Operation: operationSelect.value }),
  },
  h('option', { value: '' }, 'Choose an operation'),
  operations.map((o) => h('option', { value: o.Operation, selected: o.Operation === operation },
    `${o.Operation} — ${o.DisplayName}`)));

  fill(main,
    h('h1', {}, 'Start an operation'),
    h('div', { class: 'filters', role: 'group', 'aria-label': 'What to start' },
      h('label', {}, 'Service', serviceSelect),
      h('label', {}, 'Operation', operationSelect)));
  if (!service || !operation) return null;

  const params = (await call('GetOperationParams', { ServiceType: service, Operation: operation })).Data;
  main.append(operationForm(params, ctx));
  return null;
}

/** The form of an operation's attributes, with its application and submit button. */
function operationForm(params, ctx) {
  const schema = params.Attributes || {};
  const required = new Set(schema.required || []);
  // The required attributes first, then the others, each in the schema's order.
  const fields = Object.entries(schema.properties || {})
    .map(([name, property]) => field(name, property, required.has(name)))
    .sort((a, b) => b.required - a.required);
  const application = h('input', { name: 'ApplicationId', value: ctx.params.get('ApplicationId') || '' });
  const error = h('div', { class: 'error', role: 'alert' });
  const submit = ctx.me.CanSubmit
    ? h('button', { class: 'primary' }, 'Start')
    : h('p', {}, 'This key may not start operations (bpstudio:ExecuteOperationASync).');
  const form = h('form', { class: 'operation-form', 'aria-label': 'Attributes', novalidate: true },
    h('label', {}, 'Application (its id)', application),
    fields.map((f) => f.node),
    submit,
    error);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!ctx.me.CanSubmit) return;
    fill(error);
    const attributes = {};
    const problems = [];
    for (const f of fields) {
      f.mark(null);
      try {
        const value = f.read();
        if (value !== undefined) attributes[f.name] = value;
      } catch (e) {
        problems.push({ field: f.name, message: e.message });
      }
    }
    if (!problems.length) problems.push(...validate(schema, attributes));
    if (problems.length) {
      for (const problem of problems) {
        const f = fields.find((x) => x.name === problem.field.split(/[.[]/)[0]);
        if (f) f.mark(problem.message);
      }
      fill(error, h('p', {}, 'Not sent: ', `${problems.length} attribute(s) to correct.`),
        h('ul', {}, problems.map((p) => h('li', {}, `${p.field}: ${p.message}`))));
      const first = fields.find((f) => f.invalid());
      if (first) first.focus();
      return;
    }
    submit.disabled = true;
    try {
      const answer = await call('ExecuteOperationASync', {
        ServiceType: params.Service,
        Operation: params.Operation,
        Attributes: JSON.stringify(attributes),
        ApplicationId: application.value.trim(),
      });
      ctx.navigate(`/console/operations/${encodeURIComponent(answer.Data)}`);
    } catch (e) {
      // The server is the judge: its refusal, as it is.
      fill(error, h('p', {}, `${e.code}: ${e.message}`));
      submit.disabled = false;
    }
  });
  return form;
}

/** The input of one attribute: its node, how to read its value (`undefined` when left
 * empty; throws when it cannot be read), and how to mark it invalid. */
function field(name, property, required) {
  const type = property.type;
  const described = `attr-${name}-help`;
  const props = { name, 'aria-describedby': described, 'aria-required': required ? 'true' : null };
  const initial = property.default === undefined ? '' : property.default;
  let input;
  let read;
  if (Array.isArray(property.enum) || type === 'boolean') {
    const choices = Array.isArray(property.enum) ? property.enum : [true, false];
    input = h('select', props,
      h('option', { value: '' }, required ? 'Choose' : '(not set)'),
      choices.map((c, i) => h('option', { value: String(i), selected: initial !== '' && c === initial },
        typeof c === 'string' ? c : JSON.stringify(c))));
    read = () => (input.value === '' ? undefined : choices[Number(input.value)]);
  } else if (type === 'integer' || type === 'number') {
    input = h('input', {
      ...props, type: 'number', step: type === 'integer' ? 1 : 'any',
      min: property.minimum, max: property.maximum, value: initial,
    });
    read = () => {
      const text = input.value.trim();
      if (text === '') return undefined;
      const value = Number(text);
      if (!Number.isFinite(value)) throw new Error('must be a number');
      return value;
    };
  } else if (type === 'string') {
    input = h('input', { ...props, maxlength: property.maxLength, value: initial });
    read = () => (input.value === '' ? undefined : input.value);
  } else {
    // Objects, arrays and values of any type: written as JSON.
    const example = type === 'array' ? '["…"]' : type === 'object' ? '{"key": "value"}' : 'JSON';
    input = h('textarea', { ...props, rows: 3, placeholder: example },
      initial === '' ? '' : JSON.stringify(initial, null, 2));
    read = () => {
      const text = input.value.trim();
      if (text === '') return undefined;
      try {
        return JSON.parse(text);
      } catch {
        throw new Error('must be JSON');
      }
    };
  }
  const message = h('span', { class: 'error' });
  const help = h('span', { id: described, class: 'help' },
    [property.description, type ? `(${type})` : null].filter(Boolean).join(' '));
  const node = h('label', {}, h('span', {}, property.title || name, required ? ' (required)' : ''),
    input, help, message);
  return {
    name,
    required,
    node,
    read,
    focus: () => input.focus(),
    invalid: () => input.getAttribute('aria-invalid') === 'true',
    mark(problem) {
      fill(message, problem || '');
      if (problem) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    },
  };
}
