// The server's JSON Schema subset (type, enum, minimum, maximum, minLength, maxLength,
// pattern, properties, required, additionalProperties, minProperties, maxProperties, items),
// checked in the browser so a form can answer before it sends. The server checks again and
// decides; a pattern this browser cannot read is left to it.

/** What is wrong with `value` under `schema`: `[{ field, message }]`, empty when nothing. */
export function validate(schema, value, field = 'Attributes') {
  const problems = [];
  check(schema || {}, value, field, problems);
  return problems;
}

function check(schema, value, field, problems) {
  const problem = (message) => problems.push({ field, message });
  if (schema.type && !hasType(schema.type, value)) {
    problem(`must be ${article(schema.type)} ${schema.type}`);
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((allowed) => same(allowed, value))) {
    problem(`must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problem(`must be at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) problem(`must be at most ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) {
      problem(`must be at least ${schema.minLength} characters`);
    }
    if (schema.maxLength !== undefined && length > schema.maxLength) {
      problem(`must be at most ${schema.maxLength} characters`);
    }
    if (schema.pattern !== undefined && matches(schema.pattern, value) === false) {
      problem(`must match ${schema.pattern}`);
    }
  }
  if (isObject(value)) {
    const properties = schema.properties || {};
    const keys = Object.keys(value);
    for (const name of schema.required || []) {
      if (!(name in value)) problems.push({ field: `${field === 'Attributes' ? '' : `${field}.`}${name}`, message: 'is required' });
    }
    if (schema.minProperties !== undefined && keys.length < schema.minProperties) {
      problem(`must have at least ${schema.minProperties} entries`);
    }
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
      problem(`must have at most ${schema.maxProperties} entries`);
    }
    for (const key of keys) {
      const inner = field === 'Attributes' ? key : `${field}.${key}`;
      if (key in properties) check(properties[key], value[key], inner, problems);
      else if (schema.additionalProperties === false) problems.push({ field: inner, message: 'is not an attribute of this operation' });
      else if (isObject(schema.additionalProperties)) check(schema.additionalProperties, value[key], inner, problems);
    }
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => check(schema.items, item, `${field}[${i}]`, problems));
  }
}

function hasType(type, value) {
  switch (type) {
    case 'string': return typeof value === 'string';
    case 'integer': return Number.isInteger(value);
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'boolean': return typeof value === 'boolean';
    case 'object': return isObject(value);
    case 'array': return Array.isArray(value);
    default: return true;
  }
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function article(type) {
  return /^[aeiou]/.test(type) ? 'an' : 'a';
}

/** Whether `pattern` is found in `text`; `null` when this browser cannot read the pattern. */
function matches(pattern, text) {
  try {
    return new RegExp(pattern, 'u').test(text);
  } catch {
    return null;
  }
}
