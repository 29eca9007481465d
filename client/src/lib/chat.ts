import type { ChatEvent, ChatMessage, ChatSync, ParticipantInfo, ResponseData } from '../../../src/protocol/messages';
import { ServerError, type Signaling } from './signaling';
import { el, toast } from './ui';

/**
 * The chat panel: messages in sequence order with no duplicates and no holes
 * across reconnections (the server replays what was missed, or says there is
 * a gap), moderation buttons for moderators, and the participant list of
 * small rooms. Everything a person typed is shown with textContent.
 */
export class ChatPanel {
  private lastSeq: number | undefined;
  private readonly items = new Map<string, { li: HTMLLIElement; seq: number }>();
  private readonly list: HTMLUListElement;
  private readonly input: HTMLInputElement;
  private readonly people: HTMLUListElement;
  private readonly peopleBox: HTMLDetailsElement;
  private me: ResponseData['join'] | undefined;

  constructor(
    root: HTMLElement,
    private readonly signaling: Signaling,
  ) {
    this.peopleBox = el('details', 'people');
    const summary = el('summary', undefined, 'People');
    this.people = el('ul');
    this.peopleBox.append(summary, this.people);
    this.peopleBox.hidden = true;
    const title = el('h2', 'small', 'Chat');
    this.list = el('ul', 'chat');
    this.list.setAttribute('aria-live', 'polite');
    const form = el('form', 'chat-form');
    this.input = el('input');
    this.input.placeholder = 'Say something…';
    this.input.maxLength = 500;
    this.input.autocomplete = 'off';
    this.input.name = 'chat';
    const send = el('button', undefined, 'Send');
    send.type = 'submit';
    form.append(this.input, send);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.send();
    });
    root.append(this.peopleBox, title, this.list, form);

    signaling.on('chatMessage', (m) => this.apply({ type: 'message', seq: m.seq, message: m }));
    signaling.on('chatDeleted', (d) => this.apply({ type: 'delete', seq: d.seq, id: d.id }));
    signaling.on('chatCleared', (d) => this.apply({ type: 'clear', seq: d.seq }));
    signaling.on('participants', ({ peers }) => this.renderPeople(peers));
  }

  /** For Stage: the sequence to resume from on re-join. */
  since(): number | undefined {
    return this.lastSeq;
  }

  onJoined(info: ResponseData['join']): void {
    this.me = info;
    this.input.disabled = false;
    this.applySync(info.chat);
  }

  private applySync(sync: ChatSync): void {
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
    try {
      await this.signaling.request('chatSend', { text });
      this.input.value = '';
    } catch (err) {
      toast(err instanceof ServerError ? err.message : `Message not sent: ${String(err)}`);
    }
  }

  private apply(e: ChatEvent, fromSnapshot = false): void {
    // Out of order or already applied (a replay overlapping live events): ignore.
    if (!fromSnapshot && this.lastSeq !== undefined && e.seq <= this.lastSeq) return;
    if (!fromSnapshot && this.lastSeq !== undefined && e.seq > this.lastSeq + 1) {
      // A hole: ask for exactly what is missing, then continue.
      void this.signaling.request('chatSync', { since: this.lastSeq }).then((s) => this.applySync(s), () => undefined);
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
    const text = el('span', 'text', m.text);
    const time = el('time', 'ts', new Date(m.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    li.append(who, text, time);
    if (this.me?.moderator) {
      const del = el('button', 'mod', '×');
      del.type = 'button';
      del.title = 'Delete message';
      del.addEventListener('click', () => void this.signaling.request('chatDelete', { messageId: m.id }).catch((err: unknown) => toast(String(err))));
      li.append(del);
    }
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(li);
    this.items.set(m.id, { li, seq: m.seq });
    if (nearBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  private remove(id: string): void {
    const item = this.items.get(id);
    item?.li.remove();
    this.items.delete(id);
  }

  private reset(): void {
    this.items.clear();
    this.list.replaceChildren();
  }

  private notice(text: string): void {
    this.list.append(el('li', 'notice', text));
  }

  private renderPeople(peers: ParticipantInfo[]): void {
    this.peopleBox.hidden = false;
    this.peopleBox.querySelector('summary')!.textContent = `People (${peers.length})`;
    this.people.replaceChildren(
      ...peers.map((p) => {
        const li = el('li', undefined, `${p.name}${p.onStage ? ' 🎥' : ''}${p.role === 'admin' ? ' (admin)' : ''}`);
        if (this.me?.moderator && p.peerId !== this.me.peerId && p.role === 'viewer') {
          for (const [label, method] of [['kick', 'kick'], ['ban', 'ban']] as const) {
            const b = el('button', 'mod', label);
            b.type = 'button';
            b.addEventListener('click', () => void this.signaling.request(method, { peerId: p.peerId }).catch((err: unknown) => toast(String(err))));
            li.append(b);
          }
        }
        return li;
      }),
    );
  }
}
