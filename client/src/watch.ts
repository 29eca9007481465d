import { boot } from './lib/boot';
import { ServerError } from './lib/signaling';
import { Stage } from './lib/stage';
import { joinWhenServerAllows } from './lib/busy';
import { TileGrid } from './lib/tiles';
import { ChatPanel } from './lib/chat';
import { GuestSeat } from './lib/invitations';
import { CallPanel } from './lib/calls';
import { showRecording } from './lib/recording';
import { $, banner, endedText, setStatus, statusFor, toast } from './lib/ui';

// Viewer page: up to four tiles, who is speaking, viewer count.
async function main(): Promise<void> {
  const t0 = performance.now();
  const b = await boot();
  $('#room-name').textContent = b.room;
  const chat = new ChatPanel($('#side'), b.signaling);
  const stage = new Stage({
    signaling: b.signaling,
    ...(b.name ? { name: b.name } : {}),
    receive: true,
    chatSince: () => chat.since(),
    chatEpoch: () => chat.currentEpoch(),
    iceServers: b.iceServers,
    ...(b.iceTransportPolicy ? { iceTransportPolicy: b.iceTransportPolicy } : {}),
  });
  const grid = new TileGrid($('#stage'), stage, 'Nobody is on stage yet. Stay tuned.');
  // Joining the stage with consent: raise a hand, answer an invitation; the microphone is asked for only after yes.
  const seat = new GuestSeat($('#side'), b.signaling, stage, b.params.get('quality') === 'low' ? 'low' : 'hd');
  const call = new CallPanel(b.signaling, stage, { iceServers: b.iceServers, ...(b.iceTransportPolicy ? { iceTransportPolicy: b.iceTransportPolicy } : {}) }, chat);
  // Where join → first frame time goes (read by the first-frame benchmark).
  const marks: Record<string, number> = { booted: Math.round(performance.now() - t0) };
  b.signaling.onState((s) => s === 'open' && (marks.wsOpen ??= Math.round(performance.now() - t0)));
  stage.on('joined', () => (marks.joined ??= Math.round(performance.now() - t0)));
  stage.on('track', ({ kind }) => kind === 'video' && (marks.firstVideoTrack ??= Math.round(performance.now() - t0)));
  stage.on('viewers', ({ count }) => ($('#viewers').textContent = `${count} watching`));
  stage.on('joined', (info) => {
    $('#viewers').textContent = `${info.viewerCount} watching`;
    if (b.name && info.name !== b.name) toast(`The name “${b.name}” is reserved for hosts; you appear as “${info.name}”.`, 'info');
  });
  stage.on('error', ({ message }) => toast(message));
  stage.on('joined', (info) => chat.onJoined(info));
  showRecording(stage, b.signaling);
  stage.on('reset', () => toast('Media server restarted, reconnecting video…', 'info'));
  b.signaling.on('draining', () => toast('This server is restarting; you will be reconnected by yourself.', 'info'));

  b.signaling.onState((state, detail) => {
    if (state === 'refused') {
      banner(`This link was refused: ${detail ?? ''}`);
      setStatus('Refused', 'bad');
      return;
    }
    if (state === 'ended') {
      const ended = b.signaling.ended!;
      banner(endedText(ended.code, ended.reason));
      setStatus('Disconnected', 'bad');
      // Nothing plays any more: no frozen tiles, no speaking highlight, no chat box that cannot send.
      stage.stop();
      chat.disable('Chat is closed for you');
      return;
    }
    const [text, kind] = statusFor(state, b.signaling.wasOpen, detail);
    setStatus(text, kind);
  });
  const join = joinWhenServerAllows(b.signaling, () => stage.start());
  b.signaling.onOpen = () => {
    void join().then((err) => err && toast(err instanceof ServerError ? err.message : `Could not join: ${String(err)}`));
  };
  if (b.routerRtpCapabilities) void stage.preload(b.routerRtpCapabilities).catch(() => undefined);
  b.signaling.connect();

  // Browsers block audible autoplay until a gesture: offer one button.
  const unmute = $('#unmute');
  const blocked = () => [...document.querySelectorAll('audio')].some((a) => a.srcObject && a.paused);
  setInterval(() => unmute.classList.toggle('hidden', stage.stopped || !blocked()), 1000);
  unmute.addEventListener('click', () => document.querySelectorAll('audio').forEach((a) => void a.play()));

  void grid.firstFrame.then((t) => {
    const ms = Math.round(t - t0);
    (window as unknown as { fourcast: Record<string, unknown> }).fourcast.firstFrameMs = ms;
    void b.signaling.request('reportFirstFrame', { milliseconds: ms }).catch(() => undefined);
  });

  (window as unknown as { fourcast: unknown }).fourcast = { stage, signaling: b.signaling, grid, seat, call, firstFrameMs: null, marks };
}

main().catch((err: unknown) => toast(`Fourcast could not start: ${err instanceof Error ? err.message : String(err)}`));
