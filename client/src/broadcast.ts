import { boot } from './lib/boot';
import { ServerError } from './lib/signaling';
import { Stage } from './lib/stage';
import { TileGrid } from './lib/tiles';
import { ChatPanel } from './lib/chat';
import { $, setStatus, toast } from './lib/ui';

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
  const state = { live: false, error: null as string | null };
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
    goLive.disabled = state.live;
    stop.disabled = !state.live;
    muteMic.disabled = muteCam.disabled = !state.live;
    muteMic.textContent = micMuted ? 'Unmute mic' : 'Mute mic';
    muteCam.textContent = camMuted ? 'Show camera' : 'Hide camera';
    $('#live-badge').classList.toggle('hidden', !state.live);
  }

  async function switchDevice(): Promise<void> {
    const s = await openDevices();
    if (state.live) {
      await stage.publish('camera', s.getVideoTracks()[0]!);
      await stage.publish('mic', s.getAudioTracks()[0]!);
    }
  }
  cameraSel.addEventListener('change', () => void switchDevice().catch((e: unknown) => toast(String(e))));
  micSel.addEventListener('change', () => void switchDevice().catch((e: unknown) => toast(String(e))));

  goLive.addEventListener('click', async () => {
    goLive.disabled = true;
    try {
      const s = stream ?? (await openDevices());
      await stage.publish('camera', s.getVideoTracks()[0]!);
      await stage.publish('mic', s.getAudioTracks()[0]!);
      state.live = true;
      state.error = null;
    } catch (err) {
      await stage.unpublish('camera');
      await stage.unpublish('mic');
      state.error = err instanceof ServerError ? err.code : String(err);
      toast(err instanceof ServerError && err.code === 'stage-full' ? 'The stage is full (four broadcasters). Try again when someone leaves.' : `Could not go live: ${err instanceof Error ? err.message : String(err)}`);
    }
    render();
  });
  stop.addEventListener('click', async () => {
    await stage.unpublish('camera');
    await stage.unpublish('mic');
    state.live = false;
    micMuted = camMuted = false;
    render();
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
    if (!info.canPublish) toast('This link cannot broadcast: ask the host for a broadcaster link.');
  });
  stage.on('error', ({ message }) => toast(message));
  stage.on('joined', (info) => chat.onJoined(info));
  stage.on('reset', () => toast('Media server restarted, going live again…', 'info'));
  b.signaling.on('closing', ({ reason }) => toast(`Disconnected: ${reason}`));
  b.signaling.onState((s, detail) => setStatus(s === 'open' ? 'connected' : s === 'connecting' ? 'connecting…' : `offline: ${detail ?? ''}`, s === 'open' ? 'ok' : s === 'connecting' ? 'warn' : 'bad'));
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
