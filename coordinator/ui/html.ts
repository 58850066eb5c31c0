// HTML from template literals, escaped by default: every value put into a page goes through
// `html`, which escapes it unless it is markup `html` made itself. Role names are safe by
// their schema, but reasons, actors and hosts' error texts are anyone's words.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Markup already escaped: put into a page as it is. */
export class Markup {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type Fragment = Markup | string | number | boolean | null | undefined | readonly Fragment[];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

function render(value: Fragment): string {
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  // null, undefined and false render nothing, so `${cond && html`...`}` reads naturally.
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** A tagged template: `html\`<td>${reason}</td>\`` escapes `reason`; nested `html` results and arrays of them pass as markup. */
export function html(strings: TemplateStringsArray, ...values: Fragment[]): Markup {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Markup(out);
}
