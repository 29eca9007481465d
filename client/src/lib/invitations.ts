import type { InvitationInfo, Notifications, ParticipantInfo, ResponseData } from '../../../src/protocol/messages';
import type { ChatPanel } from './chat';
import { ServerError, type Signaling } from './signaling';
import type { Stage } from './stage';
import { el, toast } from './ui';

/**
 * Where a viewer stands with the stage, in words. `invited`: an invitation waits for an
 * answer; `joining`: accepted, the slot is held, the browser asks for the microphone;
 * `on-stage`: publishing; `full`: accepted while the stage was full (the invitation stays open).
 */
export type GuestPhase = 'audience' | 'hand-up' | 'invited' | 'full' | 'joining' | 'on-stage';

const QUALITY_LOW: MediaTrackConstraints = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } };
const QUALITY_HD: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

/**
 * The viewer's side of joining the stage with consent: raise a hand, see an invitation,
 * accept or decline it. Only after "Join the stage" does the page ask for the microphone
 * (and camera, if the invitation includes it), then it publishes on this same connection.
 */
export class GuestSeat {
  phase: GuestPhase = 'audience';
  private invitation: Notifications['stageInvitation'] | undefined;
  private stream: MediaStream | undefined;
  private note = '';
  private readonly box: HTMLElement;
  private readonly text: HTMLElement;
  private readonly hand: HTMLButtonElement;
  private readonly accept: HTMLButtonElement;
  private readonly decline: HTMLButtonElement;
  private readonly mute: HTMLButtonElement;
  private readonly leave: HTMLButtonElement;
  private readonly preview: HTMLVideoElement;
  private muted = false;
  private joined = false;
  private expiryTimer: number | undefined;

  constructor(
    root: HTMLElement,
    private readonly signaling: Signaling,
    private readonly stage: Stage,
    private readonly quality: 'low' | 'hd' = 'hd',
  ) {
    this.box = el('section', 'guest-seat');
    this.box.id = 'guest-seat';
    this.box.setAttribute('aria-label', 'Join the stage');
    this.text = el('p', 'guest-state');
    this.text.id = 'guest-state';
    this.text.setAttribute('role', 'status');
    const button = (id: string, label: string, cls = '') => {
      const b = el('button', cls, label);
      b.type = 'button';
      b.id = id;
      return b;
    };
    this.hand = button('raise-hand', 'Raise hand', 'secondary');
    this.accept = button('accept-invitation', 'Join the stage');
    this.decline = button('decline-invitation', 'No thanks', 'secondary');
    this.mute = button('guest-mute', 'Mute mic', 'secondary');
    this.leave = button('leave-stage', 'Leave the stage', 'secondary');
    this.preview = el('video', 'guest-preview');
    this.preview.muted = true;
    this.preview.autoplay = true;
    this.preview.playsInline = true;
    const buttons = el('div', 'buttons');
    buttons.append(this.hand, this.accept, this.decline, this.mute, this.leave);
    this.box.append(this.text, buttons, this.preview);
    root.prepend(this.box);

    this.hand.addEventListener('click', () => void this.toggleHand());
    this.accept.addEventListener('click', () => void this.answer(true));
    this.decline.addEventListener('click', () => void this.answer(false));
    this.leave.addEventListener('click', () => void this.signaling.request('sendToAudience', { peerId: this.stage.info?.peerId ?? '' }).catch((e: unknown) => toast(message(e))));
    this.mute.addEventListener('click', () => void this.toggleMute());

    signaling.on('stageInvitation', (inv) => {
      this.invitation = inv;
      this.note = '';
      this.set('invited');
      window.clearInterval(this.expiryTimer);
      // The countdown is shown in words; the server decides when it lapses.
      this.expiryTimer = window.setInterval(() => this.render(), 1000);
    });
    signaling.on('invitationClosed', ({ invitationId, reason }) => {
      if (this.invitation?.invitationId !== invitationId) return;
      this.closeInvitation();
      this.note = `The invitation ended: ${reason}.`;
      this.set('audience');
    });
    signaling.on('backToAudience', ({ reason }) => {
      void this.stopPublishing();
      this.note = `You are back in the audience: ${reason}.`;
      this.set('audience');
    });
    stage.on('joined', (info) => {
      this.joined = true;
      // A re-join is a new participant: a seat held by the old connection is gone.
      if (this.phase !== 'audience' && this.phase !== 'hand-up') {
        void this.stopPublishing();
        this.closeInvitation();
        this.note = 'The connection dropped, so you are back in the audience.';
      }
      this.phase = 'audience';
      this.hand.hidden = !!info.canPublish;
      this.render();
    });
    stage.on('stopped', () => {
      this.joined = false;
      void this.stopPublishing();
      this.set('audience');
    });
    this.render();
  }

  private async toggleHand(): Promise<void> {
    const raising = this.phase === 'audience';
    try {
      await this.signaling.request(raising ? 'raiseHand' : 'lowerHand', {});
      this.note = '';
      this.set(raising ? 'hand-up' : 'audience');
    } catch (e) {
      toast(message(e));
    }
  }

  private async answer(accept: boolean): Promise<void> {
    const inv = this.invitation;
    if (!inv) return;
    this.accept.disabled = this.decline.disabled = true;
    try {
      const res = await this.signaling.request('answerInvitation', { invitationId: inv.invitationId, accept });
      this.closeInvitation();
      if (!res.accepted) {
        this.note = 'You declined the invitation.';
        this.set('audience');
        return;
      }
      this.set('joining');
      await this.publish(res.video);
    } catch (e) {
      if (e instanceof ServerError && e.code === 'stage-full') {
        this.note = `The stage is full (${this.stage.maxPublishers} broadcasters), so you cannot join right now. You can accept again when a seat frees up.`;
        this.set('full');
      } else {
        toast(message(e));
        this.render();
      }
    } finally {
      this.accept.disabled = this.decline.disabled = false;
    }
  }

  /** Only now, after the viewer said yes, does the page ask for the microphone (and camera). */
  private async publish(video: boolean): Promise<void> {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, ...(video ? { video: this.quality === 'low' ? QUALITY_LOW : QUALITY_HD } : {}) });
    } catch (e) {
      this.note = `Your browser did not give the page your microphone (${e instanceof Error ? e.message : String(e)}), so you stay in the audience.`;
      await this.signaling.request('sendToAudience', { peerId: this.stage.info?.peerId ?? '' }).catch(() => undefined);
      this.set('audience');
      return;
    }
    try {
      await this.stage.publish('mic', this.stream.getAudioTracks()[0]!);
      const cam = this.stream.getVideoTracks()[0];
      if (cam) await this.stage.publish('camera', cam);
      this.preview.srcObject = cam ? new MediaStream([cam]) : null;
      this.muted = false;
      this.set('on-stage');
    } catch (e) {
      await this.stopPublishing();
      this.note = `Could not go on stage: ${message(e)}`;
      await this.signaling.request('sendToAudience', { peerId: this.stage.info?.peerId ?? '' }).catch(() => undefined);
      this.set('audience');
    }
  }

  private async toggleMute(): Promise<void> {
    try {
      await this.stage.setMuted('mic', !this.muted);
      this.muted = !this.muted;
    } catch (e) {
      toast(message(e));
    }
    this.render();
  }

  /** Closes producers and releases the microphone and camera (their lights go off). */
  private async stopPublishing(): Promise<void> {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = undefined;
    this.preview.srcObject = null;
    await this.stage.unpublish('camera');
    await this.stage.unpublish('mic');
  }

  private closeInvitation(): void {
    this.invitation = undefined;
    window.clearInterval(this.expiryTimer);
  }

  private set(phase: GuestPhase): void {
    this.phase = phase;
    this.render();
  }

  private render(): void {
    const inv = this.invitation;
    const p = this.phase;
    this.box.dataset.phase = p;
    const what = inv?.video ? 'your camera and microphone' : 'your microphone';
    const left = inv ? Math.max(0, Math.round((inv.expiresAt - Date.now()) / 1000)) : 0;
    const text: Record<GuestPhase, string> = {
      audience: this.note || (this.joined ? 'You are watching. Raise your hand to ask to join the stage.' : ''),
      'hand-up': 'Your hand is raised: the hosts have been told. Lower it if you change your mind.',
      invited: inv ? `${inv.from.name} invites you onto the stage with ${what}. Nothing is sent unless you join. (${left} s left to answer)` : '',
      full: `${this.note} (${left} s left to answer)`,
      joining: `Joining the stage: allow ${inv?.video ? 'camera and microphone' : 'the microphone'} when your browser asks.`,
      'on-stage': this.muted ? 'You are on stage with your microphone muted.' : 'You are on stage: everyone hears you.',
    };
    this.text.textContent = text[p];
    this.hand.textContent = p === 'hand-up' ? 'Lower hand' : 'Raise hand';
    this.hand.setAttribute('aria-pressed', String(p === 'hand-up'));
    this.hand.disabled = !this.joined || (p !== 'audience' && p !== 'hand-up');
    const answering = p === 'invited' || p === 'full';
    this.accept.hidden = this.decline.hidden = !answering;
    this.mute.hidden = this.leave.hidden = p !== 'on-stage';
    this.mute.textContent = this.muted ? 'Unmute mic' : 'Mute mic';
    this.mute.setAttribute('aria-pressed', String(this.muted));
    this.preview.hidden = p !== 'on-stage' || !this.preview.srcObject;
  }
}

/**
 * A host's side: raised hands and open invitations (with their states, in words), invite
 * buttons in the participant list, and "send back to the audience" for guests on stage.
 */
export class HostInvitations {
  private readonly hands = new Map<string, string>();
  private readonly invitations = new Map<string, InvitationInfo>();
  private readonly list: HTMLUListElement;
  private readonly box: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly signaling: Signaling,
    private readonly chat: ChatPanel,
  ) {
    this.box = el('section', 'host-invitations');
    this.box.id = 'host-invitations';
    this.box.append(el('h2', 'small', 'Stage requests'));
    this.list = el('ul', 'requests');
    this.list.setAttribute('aria-live', 'polite');
    this.box.append(this.list);
    root.prepend(this.box);
    signaling.on('handRaised', ({ peerId, name, raised }) => {
      if (raised) this.hands.set(peerId, name);
      else this.hands.delete(peerId);
      this.render();
    });
    signaling.on('invitationChanged', (inv) => {
      this.invitations.set(inv.invitationId, inv);
      // Finished invitations stay listed a little while, so the host sees the answer.
      if (inv.state !== 'pending') window.setTimeout(() => this.invitations.get(inv.invitationId)?.state === inv.state && (this.invitations.delete(inv.invitationId), this.render()), 15_000);
      this.render();
    });
    chat.addPersonActions((p, me) => this.actionsFor(p, me));
  }

  onJoined(info: ResponseData['join']): void {
    this.hands.clear();
    this.invitations.clear();
    for (const h of info.hands) this.hands.set(h.peerId, h.name);
    for (const i of info.invitations) this.invitations.set(i.invitationId, i);
    this.render();
  }

  invite(peerId: string, video: boolean): void {
    this.signaling.request('inviteToStage', { peerId, video }).then(
      (inv) => {
        this.invitations.set(inv.invitationId, inv);
        this.render();
      },
      (e: unknown) => toast(message(e)),
    );
  }

  private actionsFor(p: ParticipantInfo, me: ResponseData['join']): HTMLElement[] {
    if (!me.moderator || p.role !== 'viewer') return [];
    if (p.onStage) return [small('Send back', `Send ${p.name} back to the audience`, () => this.sendBack(p.peerId))];
    const pending = [...this.invitations.values()].some((i) => i.peerId === p.peerId && i.state === 'pending');
    if (pending) return [];
    return [small('Invite', `Invite ${p.name} onto the stage (microphone)`, () => this.invite(p.peerId, false)), small('Invite + camera', `Invite ${p.name} onto the stage with camera and microphone`, () => this.invite(p.peerId, true))];
  }

  private sendBack(peerId: string): void {
    void this.signaling.request('sendToAudience', { peerId }).catch((e: unknown) => toast(message(e)));
  }

  private render(): void {
    const items: HTMLLIElement[] = [];
    for (const [peerId, name] of this.hands) {
      const li = el('li', 'hand');
      li.dataset.peer = peerId;
      li.append(el('span', undefined, `${name} raised a hand`), small('Invite', `Invite ${name} onto the stage (microphone)`, () => this.invite(peerId, false)), small('Invite + camera', `Invite ${name} with camera and microphone`, () => this.invite(peerId, true)));
      items.push(li);
    }
    for (const inv of this.invitations.values()) {
      const li = el('li', 'invitation');
      li.dataset.invitation = inv.invitationId;
      li.dataset.state = inv.state;
      li.append(el('span', undefined, invitationText(inv)));
      if (inv.state === 'pending') li.append(small('Withdraw', `Withdraw the invitation to ${inv.name}`, () => void this.signaling.request('withdrawInvitation', { invitationId: inv.invitationId }).catch((e: unknown) => toast(message(e)))));
      items.push(li);
    }
    this.list.replaceChildren(...items);
    this.box.hidden = items.length === 0;
    this.chat.refreshPeople();
  }
}

function invitationText(inv: InvitationInfo): string {
  const who = `${inv.name}${inv.video ? ' (camera and microphone)' : ' (microphone)'}`;
  switch (inv.state) {
    case 'pending':
      return inv.refused ? `${who} tried to accept, but the stage is full; the invitation stays open` : `Invited ${who}; waiting for an answer`;
    case 'accepted':
      return `${inv.name} accepted and is joining the stage`;
    case 'declined':
      return `${inv.name} declined`;
    case 'withdrawn':
      return `The invitation to ${inv.name} was withdrawn`;
    case 'expired':
      return `${inv.name} did not answer in time`;
    case 'left':
      return `${inv.name} left before answering`;
  }
}

function small(text: string, label: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', 'mod', text);
  b.type = 'button';
  b.title = label;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

function message(e: unknown): string {
  return e instanceof ServerError ? e.message : e instanceof Error ? e.message : String(e);
}
