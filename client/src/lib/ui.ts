/** Small DOM helpers. Text always goes through textContent: nothing a user typed is parsed as HTML. */

export function $(selector: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

let toastTimer: number | undefined;
/** Shows an error or notice to the person, not only in the console. */
export function toast(message: string, kind: 'error' | 'info' = 'error'): void {
  let box = document.querySelector<HTMLElement>('#toast');
  if (!box) {
    box = el('div');
    box.id = 'toast';
    box.setAttribute('role', 'status');
    document.body.append(box);
  }
  box.textContent = message;
  box.className = `toast ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => box?.classList.add('hidden'), kind === 'error' ? 8000 : 4000);
  if (kind === 'error') console.error(message);
}

export function setStatus(text: string, kind: 'ok' | 'warn' | 'bad' = 'ok'): void {
  const s = document.querySelector<HTMLElement>('#status');
  if (!s) return;
  s.textContent = text;
  s.dataset.kind = kind;
}

/** A lasting notice at the top of the page (a refused link): stays until the page changes. */
export function banner(message: string): void {
  let box = document.querySelector<HTMLElement>('#banner');
  if (!box) {
    box = el('div', 'banner');
    box.id = 'banner';
    box.setAttribute('role', 'alert');
    document.body.prepend(box);
  }
  box.textContent = message;
}
