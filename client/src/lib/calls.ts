import type { types } from 'mediasoup-client';
import type { CallEndReason, ParticipantInfo, ResponseData } from '../../../src/protocol/messages';
import type { ChatPanel } from './chat';
import { ServerError, type Signaling } from './signaling';
import { transportOptions, type Stage } from './stage';
import { el, toast } from './ui';

/**
 * Where a private call stands. `calling`: ringing at the other side; `incoming`: ringing
 * here; `connecting`: answered, media being set up; `active`: the other side's media plays;
 * `ended`: over, with the reason shown until closed.
 */
export type CallPhase = 'idle' | 'calling' | 'incoming' | 'connecting' | 'active' | 'ended';

export interface CallOptions {
  iceServers: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
}

/**
 * Private 1:1 calls through the SFU: a call view (the other side large, yourself small), an
 * incoming-call dialog, and a Call button for each person in the participant list. The caller's
 * camera and microphone are opened before the call is placed (ready when the other side
 * answers); the callee's only after it accepts.
 */
export class CallPanel {
  phase: CallPhase = 'idle';
  /** Why the last call ended (tests and the page read it). */
  ended: { reason: CallEndReason | 'busy' | 'failed'; message: string } | undefined;
  private callId: string | undefined;
  private peer: { peerId: string; name: string } | undefined;
  private video = true;
  private local: MediaStream | undefined;
  private send: types.Transport | undefined;
  private recv: Promise<types.Transport> | undefined;
  private readonly consumers = new Map<string, types.Consumer>();
  /** Producers announced before the receive transport was ready. */
  private readonly box: HTMLElement;
  private readonly status: HTMLElement;
  private readonly remoteVideo: HTMLVideoElement;
  private readonly remoteAudio: HTMLAudioElement;
  private readonly selfVideo: HTMLVideoElement;
  private readonly accept: HTMLButtonElement;
  private readonly decline: HTMLButtonElement;
  private readonly hangup: HTMLButtonElement;
  private readonly dismiss: HTMLButtonElement;
  private policy: ResponseData['join']['calls'] = 'off';

  constructor(
    private readonly signaling: Signaling,
    private readonly stage: Stage,
    private readonly opts: CallOptions,
    chat: ChatPanel,
  ) {
    this.box = el('section', 'call-view');
    this.box.id = 'call';
    this.box.setAttribute('role', 'dialog');
    this.box.setAttribute('aria-label', 'Private call');
    this.status = el('p', 'call-state');
    this.status.id = 'call-state';
    this.status.setAttribute('role', 'status');
    this.remoteVideo = el('video', 'call-remote');
    this.remoteVideo.autoplay = this.remoteVideo.playsInline = true;
    this.remoteVideo.muted = true; // sound comes from the <audio> element
    this.remoteAudio = el('audio');
    this.remoteAudio.autoplay = true;
    this.selfVideo = el('video', 'call-self');
    this.selfVideo.autoplay = this.selfVideo.playsInline = this.selfVideo.muted = true;
    const button = (id: string, text: string, cls = '') => {
      const b = el('button', cls, text);
      b.type = 'button';
      b.id = id;
      return b;
    };
    this.accept = button('call-accept', 'Accept');
    this.decline = button('call-decline', 'Decline', 'danger');
    this.hangup = button('call-hangup', 'Hang up', 'danger');
    this.dismiss = button('call-close', 'Close', 'secondary');
    const buttons = el('div', 'buttons');
    buttons.append(this.accept, this.decline, this.hangup, this.dismiss);
    const media = el('div', 'call-media');
    media.append(this.remoteVideo, this.remoteAudio, this.selfVideo);
    this.box.append(this.status, media, buttons);
    document.body.append(this.box);

    this.accept.addEventListener('click', () => void this.answer(true));
    this.decline.addEventListener('click', () => void this.answer(false));
    this.hangup.addEventListener('click', () => void this.hangUp());
    this.dismiss.addEventListener('click', () => this.set('idle'));

    signaling.on('incomingCall', ({ callId, from, video }) => {
      this.teardown();
      this.callId = callId;
      this.peer = from;
      this.video = video;
      this.ended = undefined;
      this.set('incoming');
    });
    signaling.on('callAccepted', ({ callId }) => {
      if (callId !== this.callId) return;
      this.set('connecting');
      void this.setupMedia().catch((e: unknown) => this.fail(e));
    });
    signaling.on('callProducer', ({ callId, producerId }) => {
      if (callId === this.callId) void this.consume(producerId).catch((e: unknown) => this.fail(e));
    });
    signaling.on('callEnded', ({ callId, reason, message }) => {
      if (callId !== this.callId) return;
      this.finish({ reason, message });
    });
    // The connection went away: the server ended the call for the other side too.
    stage.on('joined', (info) => {
      this.policy = info.calls;
      if (this.callId) this.finish({ reason: 'disconnected', message: 'Your connection dropped, which ended the call' });
      chat.refreshPeople();
    });
    stage.on('stopped', () => this.callId && this.finish({ reason: 'disconnected', message: 'You were disconnected, which ended the call' }));
    chat.addPersonActions((p, me) => this.actionsFor(p, me));
    this.set('idle');
  }

  /** Calls `peer`: camera and microphone first, so they are ready when the other side answers. */
  async call(peer: { peerId: string; name: string }, video = true): Promise<void> {
    if (this.phase !== 'idle' && this.phase !== 'ended') return toast('Hang up the current call first.');
    this.teardown();
    this.peer = peer;
    this.video = video;
    this.ended = undefined;
    this.set('calling');
    try {
      await this.openDevices();
      const { callId } = await this.signaling.request('callStart', { peerId: peer.peerId, video });
      this.callId = callId;
      this.render();
    } catch (e) {
      const busy = e instanceof ServerError && e.code === 'busy';
      this.finish({ reason: busy ? 'busy' : 'failed', message: busy ? `${peer.name} is in another call` : `Could not call ${peer.name}: ${errorText(e)}` });
    }
  }

  private async answer(accept: boolean): Promise<void> {
    const callId = this.callId;
    if (!callId) return;
    this.accept.disabled = this.decline.disabled = true;
    try {
      await this.signaling.request('callAnswer', { callId, accept });
      if (!accept) return; // callEnded (declined) follows
      this.set('connecting');
      // Only now: the callee's browser asks for its camera and microphone after saying yes.
      await this.openDevices();
      await this.setupMedia();
    } catch (e) {
      if (this.callId === callId) await this.hangUp();
      this.fail(e);
    } finally {
      this.accept.disabled = this.decline.disabled = false;
    }
  }

  private async hangUp(): Promise<void> {
    const callId = this.callId;
    if (!callId) return this.set('idle');
    await this.signaling.request('callHangup', { callId }).catch(() => undefined);
    // callEnded arrives too; if the socket is gone, end here.
    if (this.callId === callId) this.finish({ reason: 'hung-up', message: 'You hung up' });
  }

  private async openDevices(): Promise<void> {
    if (this.local) return;
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, ...(this.video ? { video: { width: { ideal: 640 }, height: { ideal: 360 } } } : {}) });
    this.selfVideo.srcObject = this.video ? this.local : null;
  }

  private async createTransport(callId: string, direction: 'send' | 'recv'): Promise<types.Transport> {
    const device = this.stage.device;
    if (!device?.loaded) throw new Error('the page is not connected yet');
    const info = await this.signaling.request('callCreateTransport', { callId, direction });
    const options = transportOptions(info, this.opts);
    const t = direction === 'send' ? device.createSendTransport(options) : device.createRecvTransport(options);
    t.on('connect', ({ dtlsParameters }, ok, ko) => {
      this.signaling.request('callConnectTransport', { callId, transportId: t.id, dtlsParameters: dtlsParameters as never }).then(() => ok(), ko);
    });
    t.on('connectionstatechange', (state) => {
      if (state === 'failed' && this.callId === callId) {
        this.signaling
          .request('callRestartIce', { callId, transportId: t.id })
          .then(({ iceParameters }) => t.restartIce({ iceParameters: iceParameters as types.IceParameters }))
          .catch(() => undefined);
      }
    });
    if (direction === 'send') {
      t.on('produce', ({ kind, rtpParameters }, ok, ko) => {
        this.signaling.request('callProduce', { callId, transportId: t.id, kind, rtpParameters: rtpParameters as never }).then(({ producerId }) => ok({ id: producerId }), ko);
      });
    }
    return t;
  }

  private receiveTransport(callId: string): Promise<types.Transport> {
    this.recv ??= this.createTransport(callId, 'recv');
    return this.recv;
  }

  private async setupMedia(): Promise<void> {
    const callId = this.callId;
    if (!callId || !this.local) return;
    await this.receiveTransport(callId);
    this.send = await this.createTransport(callId, 'send');
    if (this.callId !== callId) return;
    for (const track of this.local.getTracks()) {
      await this.send.produce({ track, stopTracks: false, ...(track.kind === 'audio' ? { codecOptions: { opusDtx: true } } : {}) });
    }
  }

  private async consume(producerId: string): Promise<void> {
    const callId = this.callId;
    if (!callId) return;
    const transport = await this.receiveTransport(callId);
    const c = await this.signaling.request('callConsume', { callId, producerId });
    if (this.callId !== callId) return;
    const consumer = await transport.consume({ id: c.consumerId, producerId: c.producerId, kind: c.kind, rtpParameters: c.rtpParameters as types.RtpParameters });
    this.consumers.set(producerId, consumer);
    await this.signaling.request('callResumeConsumer', { callId, consumerId: c.consumerId });
    const target = c.kind === 'video' ? this.remoteVideo : this.remoteAudio;
    target.srcObject = new MediaStream([consumer.track]);
    void target.play().catch(() => undefined);
    this.set('active');
  }

  private fail(e: unknown): void {
    if (this.phase === 'ended' || this.phase === 'idle') return;
    toast(`Call: ${errorText(e)}`);
  }

  private finish(ended: NonNullable<CallPanel['ended']>): void {
    this.ended = ended;
    this.teardown();
    this.set('ended');
  }

  /** Closes the call's transports and releases camera and microphone. */
  private teardown(): void {
    this.callId = undefined;
    for (const c of this.consumers.values()) c.close();
    this.consumers.clear();
    this.send?.close();
    void this.recv?.then((t) => t.close(), () => undefined);
    this.send = undefined;
    this.recv = undefined;
    this.local?.getTracks().forEach((t) => t.stop());
    this.local = undefined;
    this.selfVideo.srcObject = this.remoteVideo.srcObject = this.remoteAudio.srcObject = null;
  }

  private actionsFor(p: ParticipantInfo, me: ResponseData['join']): HTMLElement[] {
    const allowed = this.policy === 'everyone' || (this.policy === 'hosts' && me.canPublish && p.role !== 'viewer');
    if (!allowed || p.inCall) return [];
    const b = el('button', 'mod call', 'Call');
    b.type = 'button';
    b.title = `Call ${p.name} (private video call)`;
    b.setAttribute('aria-label', b.title);
    b.addEventListener('click', () => void this.call({ peerId: p.peerId, name: p.name }));
    return [b];
  }

  private set(phase: CallPhase): void {
    this.phase = phase;
    this.render();
  }

  private render(): void {
    const p = this.phase;
    const who = this.peer?.name ?? '…';
    this.box.hidden = p === 'idle';
    this.box.dataset.phase = p;
    const text: Record<CallPhase, string> = {
      idle: '',
      calling: `Calling ${who}… (ringing)`,
      incoming: `${who} is calling you (${this.video ? 'video' : 'audio'} call). Your camera and microphone open only if you accept.`,
      connecting: `Connecting the call with ${who}…`,
      active: `In a private call with ${who}. The audience cannot see or hear it.`,
      ended: `Call ended: ${this.ended?.message ?? ''}`,
    };
    this.status.textContent = text[p];
    this.accept.hidden = this.decline.hidden = p !== 'incoming';
    this.hangup.hidden = !(p === 'calling' || p === 'connecting' || p === 'active');
    this.hangup.textContent = p === 'calling' ? 'Cancel' : 'Hang up';
    this.dismiss.hidden = p !== 'ended';
    this.selfVideo.hidden = !this.video || !this.local;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
