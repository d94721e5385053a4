// Charts as inline SVG, built node by node (no library, no markup parsed, nothing inline that
// the Content-Security-Policy refuses: colours come from classes in style.css). Each chart is
// a <figure> whose SVG has a text alternative, and each bar a <title> with its value.

import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

/** An SVG element `tag` with attributes `attrs` and `children` (nodes, or text). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function figure(caption, summary, svg) {
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', summary);
  return h('figure', { class: 'chart' }, h('figcaption', {}, caption), svg);
}

/** Horizontal bars: `rows` of `{ label, value, text, kind }` (`kind` a class for the colour;
 * `text` what is written after the bar, the value by default). */
export function barChart(caption, rows, { width = 560 } = {}) {
  const rowHeight = 26;
  const labelWidth = 200;
  const barSpace = width - labelWidth - 90;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const svg = s('svg', { viewBox: `0 0 ${width} ${Math.max(1, rows.length) * rowHeight + 4}`, width, class: 'bars' },
    rows.map((row, i) => {
      const y = i * rowHeight + 2;
      const length = Math.max(row.value > 0 ? 2 : 0, (row.value / max) * barSpace);
      const text = row.text ?? String(row.value);
      return s('g', {},
        s('text', { x: labelWidth - 8, y: y + 16, 'text-anchor': 'end', class: 'label' }, row.label),
        s('rect', { x: labelWidth, y: y + 3, width: length.toFixed(1), height: rowHeight - 8, class: `bar ${row.kind || ''}` },
          s('title', {}, `${row.label}: ${text}`)),
        s('text', { x: labelWidth + length + 6, y: y + 16, class: 'value' }, text));
    }));
  const summary = rows.length
    ? rows.map((r) => `${r.label}: ${r.text ?? r.value}`).join('; ')
    : 'nothing to show';
  return figure(caption, `${caption}. ${summary}`, svg);
}

/** Vertical bars over time: `counts[i]` for the i-th of `counts.length` equal periods ending
 * now, with `axis` labels `[first, last]`. */
export function timeChart(caption, counts, axis, { width = 560, height = 140 } = {}) {
  const max = Math.max(1, ...counts);
  const plot = height - 24;
  const step = width / counts.length;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, class: 'bars' },
    counts.map((count, i) => {
      const barHeight = (count / max) * (plot - 14);
      return s('rect', {
        x: (i * step + 1).toFixed(1), y: (plot - barHeight).toFixed(1),
        width: Math.max(1, step - 2).toFixed(1), height: barHeight.toFixed(1), class: 'bar',
      }, s('title', {}, `${axis.period(i)}: ${count}`));
    }),
    s('line', { x1: 0, y1: plot, x2: width, y2: plot, class: 'axis' }),
    s('text', { x: 0, y: height - 6, class: 'label' }, axis.first),
    s('text', { x: width, y: height - 6, 'text-anchor': 'end', class: 'label' }, axis.last),
    s('text', { x: 0, y: 11, class: 'label' }, `max ${max}`));
  const total = counts.reduce((a, b) => a + b, 0);
  return figure(caption, `${caption}. ${total} in all, at most ${max} in one period.`, svg);
}
