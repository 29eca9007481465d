import type { ChatEvent, ChatMessage, ChatSync, ParticipantInfo, ResponseData } from '../../../src/protocol/messages';
import { ServerError, type Signaling } from './signaling';
import { el, toast } from './ui';

/**
 * The chat panel: messages in sequence order with no duplicates and no holes
 * across reconnections (the server replays what was missed, or says there is
 * a gap), moderation buttons for moderators, and the participant list of
 * small rooms. Everything a person typed is shown with textContent.
 */
/** The server's default CHAT_MAX_LENGTH; it refuses longer lines with `too-large` and says its own limit. */
const MAX_LENGTH = 500;
const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/giu;

export class ChatPanel {
  private lastSeq: number | undefined;
  private epoch: string | undefined;
  private readonly counter: HTMLElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly items = new Map<string, { li: HTMLLIElement; seq: number }>();
  private readonly list: HTMLUListElement;
  private readonly input: HTMLInputElement;
  private readonly people: HTMLUListElement;
  private readonly peopleBox: HTMLDetailsElement;
  private me: ResponseData['join'] | undefined;
  /** Buttons other panels add to a person's line (invite to stage, call). */
  private readonly actions: ((p: ParticipantInfo, me: ResponseData['join']) => HTMLElement[])[] = [];
  private lastPeople: ParticipantInfo[] = [];

  constructor(
    root: HTMLElement,
    private readonly signaling: Signaling,
  ) {
    this.peopleBox = el('details', 'people');
    const summary = el('summary', undefined, 'People (…)');
    this.people = el('ul');
    this.peopleBox.append(summary, this.people);
    const title = el('h2', 'small', 'Chat');
    this.list = el('ul', 'chat');
    this.list.setAttribute('aria-live', 'polite');
    this.list.setAttribute('aria-label', 'Chat messages');
    // Scrollable: reachable by keyboard.
    this.list.tabIndex = 0;
    const form = el('form', 'chat-form');
    this.input = el('input');
    this.input.id = 'chat-input';
    this.input.placeholder = 'Say something…';
    this.input.autocomplete = 'off';
    this.input.name = 'chat';
    this.input.disabled = true;
    const label = el('label', 'sr-only', 'Chat message');
    label.htmlFor = 'chat-input';
    this.sendButton = el('button', undefined, 'Send');
    this.sendButton.type = 'submit';
    this.sendButton.disabled = true;
    this.counter = el('span', 'chat-counter');
    this.counter.id = 'chat-counter';
    this.counter.setAttribute('aria-live', 'polite');
    this.input.setAttribute('aria-describedby', 'chat-counter');
    // Longer text is not cut silently: the counter says how much too long it is, and Send waits.
    this.input.addEventListener('input', () => this.renderCounter());
    form.append(label, this.input, this.sendButton);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.send();
    });
    root.append(this.peopleBox, title, this.list, form, this.counter);

    signaling.on('chatMessage', ({ epoch, ...m }) => this.sameLog(epoch) && this.apply({ type: 'message', seq: m.seq, message: m }));
    signaling.on('chatDeleted', (d) => this.apply({ type: 'delete', seq: d.seq, id: d.id }));
    signaling.on('chatCleared', (d) => this.apply({ type: 'clear', seq: d.seq }));
    // Cluster mode: the node's copy of the chat was (re)loaded; catch up if it differs from ours.
    signaling.on('chatResync', (d) => {
      if (d.epoch !== this.epoch || d.lastSeq !== this.lastSeq) this.resync();
    });
    signaling.on('participants', ({ peers }) => this.renderPeople(peers));
  }

  /** For Stage: the sequence to resume from on re-join. */
  since(): number | undefined {
    return this.lastSeq;
  }

  /** An event of another log (the room was recreated under this socket): re-sync rather than compare sequences. */
  private sameLog(epoch: string): boolean {
    if (this.epoch === undefined || epoch === this.epoch) return true;
    this.resync();
    return false;
  }

  private resync(): void {
    void this.signaling
      .request('chatSync', { ...(this.lastSeq !== undefined ? { since: this.lastSeq } : {}), ...(this.epoch ? { epoch: this.epoch } : {}) })
      .then((s) => this.applySync(s), () => undefined);
  }

  /** For Stage: the chat log `since()` belongs to. */
  currentEpoch(): string | undefined {
    return this.epoch;
  }

  onJoined(info: ResponseData['join']): void {
    this.me = info;
    if (info.participants) this.renderPeople(info.participants);
    if (!this.ended) {
      this.input.disabled = false;
      this.renderCounter();
    }
    this.applySync(info.chat);
  }

  private ended = false;
  /** The session ended for good (kicked, banned, room closed): no more sending. */
  disable(reason: string): void {
    this.ended = true;
    this.input.disabled = true;
    this.sendButton.disabled = true;
    this.input.placeholder = reason;
  }

  private renderCounter(): void {
    const n = [...this.input.value].length;
    const over = n > MAX_LENGTH;
    this.counter.textContent = over ? `${n - MAX_LENGTH} characters too long (limit ${MAX_LENGTH})` : n > MAX_LENGTH - 50 ? `${MAX_LENGTH - n} characters left` : '';
    this.counter.classList.toggle('over', over);
    this.input.setAttribute('aria-invalid', String(over));
    this.sendButton.disabled = this.ended || this.input.disabled || over;
  }

  private applySync(sync: ChatSync): void {
    if (this.epoch !== undefined && sync.epoch !== this.epoch) {
      // A new log (the server restarted): earlier lines stay, marked as from before;
      // the new log's numbering starts again, so forget the old sequence.
      this.epoch = sync.epoch;
      this.lastSeq = undefined;
      this.divider('Server restarted — earlier messages are from before');
      for (const m of sync.snapshot ?? []) this.apply({ type: 'message', seq: m.seq, message: m }, true);
      for (const e of sync.events) this.apply(e);
      this.lastSeq = sync.lastSeq;
      return;
    }
    this.epoch = sync.epoch;
    if (sync.snapshot) {
      this.reset();
      if (sync.gap) this.notice('Some messages were missed while you were away.');
      for (const m of sync.snapshot) this.apply({ type: 'message', seq: m.seq, message: m }, true);
    }
    for (const e of sync.events) this.apply(e);
    this.lastSeq = Math.max(this.lastSeq ?? 0, sync.lastSeq);
  }

  private async send(): Promise<void> {
    const text = this.input.value;
    if (!text.trim()) return;
    if ([...text].length > MAX_LENGTH) return this.renderCounter();
    // Cleared at once, so the next line can be typed while this one travels; put back if it fails.
    this.input.value = '';
    this.renderCounter();
    try {
      await this.signaling.request('chatSend', { text });
    } catch (err) {
      if (!this.input.value) {
        this.input.value = text;
        this.renderCounter();
      }
      toast(err instanceof ServerError ? err.message : `Message not sent: ${String(err)}`);
    }
  }

  private apply(e: ChatEvent, fromSnapshot = false): void {
    // Out of order or already applied (a replay overlapping live events): ignore.
    if (!fromSnapshot && this.lastSeq !== undefined && e.seq <= this.lastSeq) return;
    if (!fromSnapshot && this.lastSeq !== undefined && e.seq > this.lastSeq + 1) {
      // A hole: ask for exactly what is missing, then continue.
      this.resync();
      return;
    }
    if (e.type === 'message') this.add(e.message);
    else if (e.type === 'delete') this.remove(e.id);
    else {
      this.reset();
      this.notice('The chat was cleared.');
    }
    this.lastSeq = Math.max(this.lastSeq ?? 0, e.seq);
  }

  private add(m: ChatMessage): void {
    if (this.items.has(m.id)) return;
    const li = el('li', `msg role-${m.role}`);
    li.dataset.id = m.id;
    li.dataset.seq = String(m.seq);
    const who = el('span', 'who', m.name);
    const text = el('span', 'text');
    text.append(...linkify(m.text));
    const time = el('time', 'ts', new Date(m.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    li.append(who);
    // Hosts are told apart by a word, not only by colour.
    if (m.role !== 'viewer') li.append(el('span', 'host-badge', m.role === 'admin' ? 'Admin' : 'Host'));
    li.append(text, time);
    if (this.me?.moderator) {
      const del = confirmButton('×', 'Delete message', 'Delete?', () => this.signaling.request('chatDelete', { messageId: m.id }));
      li.append(del);
    }
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(li);
    this.items.set(m.id, { li, seq: m.seq });
    if (nearBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  /** A deleted message leaves a placeholder, so the conversation around it still makes sense. */
  private remove(id: string): void {
    const item = this.items.get(id);
    this.items.delete(id);
    if (!item) return;
    item.li.className = 'msg deleted';
    item.li.replaceChildren(el('span', 'text', 'Message deleted by a moderator'));
  }

  private reset(): void {
    this.items.clear();
    this.list.replaceChildren();
  }

  private notice(text: string): void {
    this.list.append(el('li', 'notice', text));
  }

  private divider(text: string): void {
    this.list.append(el('li', 'notice divider', text));
  }

  /** Adds buttons to each person's line (drawn again with every participant list). */
  addPersonActions(fn: (p: ParticipantInfo, me: ResponseData['join']) => HTMLElement[]): void {
    this.actions.push(fn);
    this.refreshPeople();
  }

  /** Draws the last participant list again (a panel's state changed). */
  refreshPeople(): void {
    this.renderPeople(this.lastPeople);
  }

  private renderPeople(peers: ParticipantInfo[]): void {
    this.lastPeople = peers;
    this.peopleBox.querySelector('summary')!.textContent = `People (${peers.length})`;
    const rank = (p: ParticipantInfo) => (p.onStage ? 0 : p.role === 'viewer' ? 2 : 1);
    this.people.replaceChildren(
      ...[...peers].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name)).map((p) => {
        const li = el('li');
        li.dataset.peer = p.peerId;
        li.append(el('span', 'person', p.name));
        // Roles in words, not colour or emoji alone.
        const tag = p.onStage ? (p.role === 'viewer' ? 'Guest on stage' : 'On stage') : p.role === 'admin' ? 'Admin' : p.role === 'publisher' ? 'Host, not live' : '';
        if (tag) li.append(el('span', 'role-tag', tag));
        if (p.handRaised) li.append(el('span', 'role-tag hand', 'Hand raised'));
        if (p.inCall) li.append(el('span', 'role-tag', 'In a call'));
        if (p.peerId === this.me?.peerId) li.append(el('span', 'role-tag', 'you'));
        if (this.me?.moderator && p.peerId !== this.me.peerId && p.role === 'viewer') {
          li.append(confirmButton('Kick', `Remove ${p.name}`, 'Kick?', () => this.signaling.request('kick', { peerId: p.peerId })));
          li.append(confirmButton('Ban', `Ban ${p.name}`, 'Ban?', () => this.signaling.request('ban', { peerId: p.peerId })));
        }
        if (this.me && p.peerId !== this.me.peerId) for (const fn of this.actions) li.append(...fn(p, this.me));
        return li;
      }),
    );
  }
}

/**
 * A moderation button that acts on the second click: the first turns it into
 * "Delete?" / "Kick?" for a few seconds (no modal, nothing a stray tap can finish).
 */
function confirmButton(label: string, title: string, confirmLabel: string, act: () => Promise<unknown>): HTMLButtonElement {
  const b = el('button', 'mod', label);
  b.type = 'button';
  b.title = title;
  b.setAttribute('aria-label', title);
  let armed: number | undefined;
  b.addEventListener('click', () => {
    if (armed === undefined) {
      b.textContent = confirmLabel;
      b.classList.add('armed');
      b.setAttribute('aria-label', `${title}: press again to confirm`);
      armed = window.setTimeout(() => {
        armed = undefined;
        b.textContent = label;
        b.classList.remove('armed');
        b.setAttribute('aria-label', title);
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = undefined;
    b.disabled = true;
    act().catch((err: unknown) => {
      b.disabled = false;
      b.textContent = label;
      toast(err instanceof ServerError ? err.message : String(err));
    });
  });
  return b;
}

/** Text with http(s) links as anchors, built as DOM nodes (never HTML). */
export function linkify(text: string): Node[] {
  const out: Node[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const i = m.index;
    if (i > last) out.push(document.createTextNode(text.slice(last, i)));
    let href: URL | undefined;
    try {
      href = new URL(m[0]);
    } catch {
      href = undefined;
    }
    if (href && (href.protocol === 'http:' || href.protocol === 'https:')) {
      const a = el('a', undefined, m[0]);
      a.href = href.href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer nofollow';
      out.push(a);
    } else out.push(document.createTextNode(m[0]));
    last = i + m[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}
