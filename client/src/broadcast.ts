import { boot } from './lib/boot';
import { ServerError } from './lib/signaling';
import { Stage } from './lib/stage';
import { TileGrid } from './lib/tiles';
import { ChatPanel } from './lib/chat';
import { $, banner, setStatus, toast } from './lib/ui';

/**
 * Where going live stands. `live` only once the send transport is connected
 * and the server is receiving bytes: a badge that says LIVE while nothing
 * reaches the server is worse than none.
 */
type Phase = 'idle' | 'starting' | 'connecting' | 'live' | 'failed';
const PHASE_TEXT: Record<Phase, string> = {
  idle: 'Not live',
  starting: 'Starting camera and microphone…',
  connecting: 'Connecting media to the server…',
  live: 'Viewers receive your camera and microphone',
  failed: '',
};
/** Connecting for longer than this is reported as a failure (ICE keeps retrying). */
const CONNECT_TIMEOUT_MS = 10_000;

// Broadcaster page: choose camera and mic, preview, go live, stop, mute.
const QUALITY: Record<string, MediaTrackConstraints> = {
  // `?quality=low` keeps tests and weak machines light.
  low: { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } },
  hd: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
};

async function main(): Promise<void> {
  const b = await boot();
  $('#room-name').textContent = b.room;
  const quality = QUALITY[b.params.get('quality') ?? 'hd'] ?? QUALITY.hd!;
  const chat = new ChatPanel($('#side'), b.signaling);
  const stage = new Stage({
    signaling: b.signaling,
    receive: true,
    chatSince: () => chat.since(),
    iceServers: b.iceServers,
    ...(b.iceTransportPolicy ? { iceTransportPolicy: b.iceTransportPolicy } : {}),
  });
  new TileGrid($('#stage'), stage, 'You are the only broadcaster.');
  const state = { live: false, phase: 'idle' as Phase, error: null as string | null, joined: false, canPublish: true, refused: false };
  const preview = $('#preview') as HTMLVideoElement;
  const cameraSel = $('#camera') as HTMLSelectElement;
  const micSel = $('#mic') as HTMLSelectElement;
  const goLive = $('#go-live') as HTMLButtonElement;
  const stop = $('#stop') as HTMLButtonElement;
  const muteMic = $('#mute-mic') as HTMLButtonElement;
  const muteCam = $('#mute-cam') as HTMLButtonElement;
  let stream: MediaStream | undefined;
  let micMuted = false;
  let camMuted = false;

  async function openDevices(): Promise<MediaStream> {
    stream?.getTracks().forEach((t) => t.stop());
    const video: MediaTrackConstraints = { ...quality, ...(cameraSel.value ? { deviceId: { exact: cameraSel.value } } : {}) };
    const audio: MediaTrackConstraints = micSel.value ? { deviceId: { exact: micSel.value } } : {};
    stream = await navigator.mediaDevices.getUserMedia({ video, audio });
    preview.srcObject = stream;
    return stream;
  }

  async function listDevices(): Promise<void> {
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [sel, kind] of [[cameraSel, 'videoinput'], [micSel, 'audioinput']] as const) {
      const current = sel.value;
      sel.replaceChildren(
        ...devices.filter((d) => d.kind === kind).map((d, i) => new Option(d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`, d.deviceId)),
      );
      if (current) sel.value = current;
    }
  }

  function render(): void {
    const published = state.phase !== 'idle' && state.phase !== 'starting';
    // Going live needs a joined socket and a broadcaster grant.
    goLive.disabled = state.phase !== 'idle' || !state.joined || !state.canPublish || state.refused;
    stop.disabled = !published;
    muteMic.disabled = muteCam.disabled = !published;
    muteMic.textContent = micMuted ? 'Unmute mic' : 'Mute mic';
    muteCam.textContent = camMuted ? 'Show camera' : 'Hide camera';
    state.live = state.phase === 'live';
    $('#live-badge').classList.toggle('hidden', !state.live);
    const ls = $('#live-state');
    ls.dataset.state = state.phase;
    ls.textContent = state.phase === 'failed' ? (state.error ?? 'Media connection failed') : PHASE_TEXT[state.phase];
  }

  function setPhase(phase: Phase, error: string | null = null): void {
    state.phase = phase;
    state.error = error;
    render();
  }

  // While published: watch the send transport and the bytes it sends.
  let lastBytes = 0;
  let connectingSince = 0;
  async function monitor(): Promise<void> {
    if (state.phase === 'idle' || state.phase === 'starting') return;
    const ice = stage.transportState.send;
    const bytes = await stage.bytesSent().catch(() => 0);
    const flowing = bytes > lastBytes || (micMuted && camMuted);
    lastBytes = bytes;
    if (ice === 'connected' && flowing) {
      connectingSince = 0;
      setPhase('live');
      return;
    }
    connectingSince ||= performance.now();
    if (ice === 'failed' || performance.now() - connectingSince > CONNECT_TIMEOUT_MS) {
      const host = location.hostname;
      setPhase(
        'failed',
        `Your video is not reaching the server (media connection ${ice}). Likely causes: the server announces an address ` +
          `this browser cannot reach (RTC_ANNOUNCED_ADDRESS on ${host}), a firewall blocks its UDP/TCP media port, or no TURN ` +
          `server is configured for this network. Retrying…`,
      );
    } else if (state.phase !== 'connecting') setPhase('connecting');
  }
  setInterval(() => void monitor(), 1000);
  stage.on('transport', ({ direction }) => direction === 'send' && void monitor());

  async function switchDevice(): Promise<void> {
    const s = await openDevices();
    if (state.phase !== 'idle' && state.phase !== 'starting') {
      await stage.publish('camera', s.getVideoTracks()[0]!);
      await stage.publish('mic', s.getAudioTracks()[0]!);
    }
  }
  cameraSel.addEventListener('change', () => void switchDevice().catch((e: unknown) => toast(String(e))));
  micSel.addEventListener('change', () => void switchDevice().catch((e: unknown) => toast(String(e))));

  goLive.addEventListener('click', async () => {
    setPhase('starting');
    try {
      const s = stream ?? (await openDevices());
      await stage.publish('camera', s.getVideoTracks()[0]!);
      await stage.publish('mic', s.getAudioTracks()[0]!);
      lastBytes = 0;
      connectingSince = performance.now();
      setPhase('connecting');
      void monitor();
    } catch (err) {
      await stage.unpublish('camera');
      await stage.unpublish('mic');
      setPhase('idle', err instanceof ServerError ? err.code : String(err));
      toast(err instanceof ServerError && err.code === 'stage-full' ? 'The stage is full (four broadcasters). Try again when someone leaves.' : `Could not go live: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  stop.addEventListener('click', async () => {
    await stage.unpublish('camera');
    await stage.unpublish('mic');
    micMuted = camMuted = false;
    setPhase('idle');
  });
  muteMic.addEventListener('click', async () => {
    micMuted = !micMuted;
    await stage.setMuted('mic', micMuted).catch((e: unknown) => toast(String(e)));
    render();
  });
  muteCam.addEventListener('click', async () => {
    camMuted = !camMuted;
    await stage.setMuted('camera', camMuted).catch((e: unknown) => toast(String(e)));
    render();
  });

  stage.on('viewers', ({ count }) => ($('#viewers').textContent = `👁 ${count}`));
  stage.on('joined', (info) => {
    $('#viewers').textContent = `👁 ${info.viewerCount}`;
    $('#me').textContent = info.name;
    state.canPublish = info.canPublish;
    state.joined = true;
    if (!info.canPublish) banner('This link is a viewer link: it cannot broadcast. Ask the host for a broadcaster link.');
    render();
  });
  stage.on('error', ({ message }) => toast(message));
  stage.on('joined', (info) => chat.onJoined(info));
  stage.on('reset', () => toast('Media server restarted, going live again…', 'info'));
  b.signaling.on('closing', ({ reason }) => toast(`Disconnected: ${reason}`));
  b.signaling.onState((s, detail) => {
    if (s !== 'open' && state.joined) {
      state.joined = false;
      render();
    }
    if (s === 'refused') {
      state.refused = true;
      banner(`This broadcaster link was refused: ${detail ?? ''}`);
      setStatus('refused', 'bad');
      render();
      return;
    }
    setStatus(s === 'open' ? 'connected' : s === 'connecting' ? (b.signaling.wasOpen ? 'reconnecting…' : 'connecting…') : `offline: ${detail ?? ''}`, s === 'open' ? 'ok' : s === 'connecting' ? 'warn' : 'bad');
  });
  b.signaling.onOpen = () => void stage.start().catch((err: unknown) => toast(`Could not join: ${err instanceof Error ? err.message : String(err)}`));
  if (b.routerRtpCapabilities) void stage.preload(b.routerRtpCapabilities).catch(() => undefined);
  b.signaling.connect();

  try {
    await openDevices();
    await listDevices();
  } catch (err) {
    toast(`Camera/microphone unavailable: ${err instanceof Error ? err.message : String(err)}`);
  }
  render();
  (window as unknown as { fourcast: unknown }).fourcast = { stage, signaling: b.signaling, state };
}

main().catch((err: unknown) => toast(`Fourcast could not start: ${err instanceof Error ? err.message : String(err)}`));
