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

/** A lasting notice at the top of the page (a refused link, a kick): stays until the page changes. */
export function banner(message: string, kind: 'error' | 'info' = 'error'): void {
  let box = document.querySelector<HTMLElement>('#banner');
  if (!box) {
    box = el('div', 'banner');
    box.id = 'banner';
    box.setAttribute('role', 'alert');
    document.body.prepend(box);
  }
  box.hidden = false;
  box.dataset.kind = kind;
  box.textContent = message;
}

export function clearBanner(): void {
  const box = document.querySelector<HTMLElement>('#banner');
  if (box) box.hidden = true;
}

/** What the connection pill says, in words people use. */
export function statusFor(state: string, wasOpen: boolean, detail?: string): [string, 'ok' | 'warn' | 'bad'] {
  if (state === 'open') return ['Connected', 'ok'];
  if (state === 'connecting') return [wasOpen ? 'Reconnecting…' : 'Connecting…', 'warn'];
  return [`Reconnecting (${detail ?? 'connection lost'})`, 'bad'];
}

/** Why the server ended this session for good, and what the person can do. */
export function endedText(code: string, reason: string): string {
  switch (code) {
    case 'kicked':
      return `You were removed from this room by a moderator${reason && reason !== 'removed from this room' ? ` (${reason})` : ''}. Reload the page to come back.`;
    case 'banned':
      return `You were banned from this room${reason && reason !== 'banned from this room' ? ` (${reason})` : ''}. You cannot rejoin it with this link.`;
    case 'room-closed':
      return `This room was closed by its host${reason && reason !== 'room closed' ? ` (${reason})` : ''}.`;
    case 'replaced':
      return 'This broadcaster link was opened in another tab or window, which took over. This tab has stopped.';
    default:
      return `Disconnected: ${reason || code}.`;
  }
}

export async function copyText(text: string): Promise<void> {
  await navigator.clipboard.writeText(text);
}

/** A microphone level meter (Web Audio analyser) for the person's own microphone. */
export function levelMeter(bar: HTMLElement): { attach(stream: MediaStream | undefined): void; readonly level: number } {
  let ctx: AudioContext | undefined;
  let source: MediaStreamAudioSourceNode | undefined;
  let analyser: AnalyserNode | undefined;
  let level = 0;
  const buf = new Float32Array(1024);
  window.setInterval(() => {
    if (!analyser) {
      level = 0;
    } else {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      const rms = Math.sqrt(sum / buf.length);
      // RMS → dBFS → 0..1 over −60..0 dB.
      level = Math.max(0, Math.min(1, (20 * Math.log10(rms || 1e-9) + 60) / 60));
    }
    bar.style.width = `${Math.round(level * 100)}%`;
    bar.parentElement?.setAttribute('aria-valuenow', String(Math.round(level * 100)));
  }, 150);
  return {
    attach(stream) {
      source?.disconnect();
      source = undefined;
      analyser = undefined;
      const track = stream?.getAudioTracks()[0];
      if (!stream || !track) return;
      ctx ??= new AudioContext();
      void ctx.resume().catch(() => undefined);
      analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      source = ctx.createMediaStreamSource(new MediaStream([track]));
      source.connect(analyser);
    },
    get level() {
      return level;
    },
  };
}
