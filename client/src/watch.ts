import { boot } from './lib/boot';
import { ServerError } from './lib/signaling';
import { Stage } from './lib/stage';
import { TileGrid } from './lib/tiles';
import { ChatPanel } from './lib/chat';
import { $, banner, setStatus, toast } from './lib/ui';

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
    iceServers: b.iceServers,
    ...(b.iceTransportPolicy ? { iceTransportPolicy: b.iceTransportPolicy } : {}),
  });
  const grid = new TileGrid($('#stage'), stage, 'Nobody is on stage yet. Stay tuned.');
  // Where join → first frame time goes (read by the first-frame benchmark).
  const marks: Record<string, number> = { booted: Math.round(performance.now() - t0) };
  b.signaling.onState((s) => s === 'open' && (marks.wsOpen ??= Math.round(performance.now() - t0)));
  stage.on('joined', () => (marks.joined ??= Math.round(performance.now() - t0)));
  stage.on('track', ({ kind }) => kind === 'video' && (marks.firstVideoTrack ??= Math.round(performance.now() - t0)));
  stage.on('viewers', ({ count }) => ($('#viewers').textContent = `👁 ${count}`));
  stage.on('joined', (info) => ($('#viewers').textContent = `👁 ${info.viewerCount}`));
  stage.on('error', ({ message }) => toast(message));
  stage.on('joined', (info) => chat.onJoined(info));
  stage.on('reset', () => toast('Media server restarted, reconnecting video…', 'info'));
  b.signaling.on('closing', ({ reason }) => toast(`Disconnected: ${reason}`));
  b.signaling.on('draining', () => toast('This server is restarting; you will be reconnected.', 'info'));

  let joinedOnce = false;
  b.signaling.onState((state, detail) => {
    if (state === 'refused') {
      banner(`This link was refused: ${detail ?? ''}`);
      setStatus('refused', 'bad');
      return;
    }
    if (state === 'open') setStatus('live', 'ok');
    else if (state === 'connecting') setStatus(joinedOnce ? 'reconnecting…' : 'connecting…', 'warn');
    else setStatus(`offline: ${detail ?? ''}`, 'bad');
  });
  b.signaling.onOpen = () => {
    stage.start().then(
      () => (joinedOnce = true),
      (err: unknown) => toast(err instanceof ServerError ? `${err.code}: ${err.message}` : `Could not join: ${String(err)}`),
    );
  };
  if (b.routerRtpCapabilities) void stage.preload(b.routerRtpCapabilities).catch(() => undefined);
  b.signaling.connect();

  // Browsers block audible autoplay until a gesture: offer one button.
  const unmute = $('#unmute');
  const blocked = () => [...document.querySelectorAll('audio')].some((a) => a.srcObject && a.paused);
  setInterval(() => unmute.classList.toggle('hidden', !blocked()), 1000);
  unmute.addEventListener('click', () => document.querySelectorAll('audio').forEach((a) => void a.play()));

  void grid.firstFrame.then((t) => {
    const ms = Math.round(t - t0);
    (window as unknown as { fourcast: Record<string, unknown> }).fourcast.firstFrameMs = ms;
    void b.signaling.request('reportFirstFrame', { milliseconds: ms }).catch(() => undefined);
  });

  (window as unknown as { fourcast: unknown }).fourcast = { stage, signaling: b.signaling, grid, firstFrameMs: null, marks };
}

main().catch((err: unknown) => toast(`Fourcast could not start: ${err instanceof Error ? err.message : String(err)}`));
