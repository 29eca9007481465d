import { boot } from './lib/boot';
import { moveToStageNode, openOn } from './lib/stageNode';
import { ServerError } from './lib/signaling';
import { Stage } from './lib/stage';
import { joinWhenServerAllows } from './lib/busy';
import { TileGrid } from './lib/tiles';
import { ChatPanel } from './lib/chat';
import { HostInvitations } from './lib/invitations';
import { CallPanel } from './lib/calls';
import { showRecording } from './lib/recording';
import { $, banner, clearBanner, copyText, endedText, levelMeter, setStatus, statusFor, toast } from './lib/ui';

/**
 * Where going live stands. `live` only once the send transport is connected
 * and the server is receiving bytes: a badge that says LIVE while nothing
 * reaches the server is worse than none. `reconnecting`: the signaling
 * connection is down (server restarting, network); the page re-joins and
 * re-publishes by itself. `ended`: kicked, banned, room closed, or the link
 * was taken over by another tab — final.
 */
type Phase = 'idle' | 'starting' | 'connecting' | 'live' | 'reconnecting' | 'failed' | 'ended';
const PHASE_TEXT: Record<Phase, string> = {
  idle: 'Not live',
  starting: 'Starting camera and microphone…',
  connecting: 'Connecting media to the server…',
  live: 'Viewers receive your camera and microphone',
  reconnecting: 'Connection to the server lost — reconnecting; you will go live again by yourself',
  failed: '',
  ended: 'Not live',
};
/** Connecting for longer than this is reported as a failure (ICE keeps retrying). */
const CONNECT_TIMEOUT_MS = 10_000;

// Broadcaster page: choose camera and mic, preview, go live, stop, mute.
const QUALITY: Record<string, MediaTrackConstraints> = {
  // `?quality=low` keeps tests and weak machines light.
  low: { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } },
  hd: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
};
const DEVICE_KEY = 'fourcast.devices';

async function main(): Promise<void> {
  // Cluster mode: this room's stage may be on another node; go live there.
  if (await moveToStageNode(new URLSearchParams(location.search).get('room') ?? 'main-stage')) return;
  const b = await boot();
  b.signaling.on('stageMoved', ({ httpUrl }) => void openOn(httpUrl));
  $('#room-name').textContent = b.room;
  const quality = QUALITY[b.params.get('quality') ?? 'hd'] ?? QUALITY.hd!;
  const chat = new ChatPanel($('#side'), b.signaling);
  const stage = new Stage({
    signaling: b.signaling,
    receive: true,
    chatSince: () => chat.since(),
    chatEpoch: () => chat.currentEpoch(),
    iceServers: b.iceServers,
    ...(b.iceTransportPolicy ? { iceTransportPolicy: b.iceTransportPolicy } : {}),
  });
  const grid = new TileGrid($('#stage'), stage, 'You are the only broadcaster.');
  // Raised hands and invitations to the stage; invite buttons in the participant list.
  const requests = new HostInvitations($('#side'), b.signaling, chat);
  stage.on('joined', (info) => requests.onJoined(info));
  const call = new CallPanel(b.signaling, stage, { iceServers: b.iceServers, ...(b.iceTransportPolicy ? { iceTransportPolicy: b.iceTransportPolicy } : {}) }, chat);
  const state = {
    live: false,
    phase: 'idle' as Phase,
    error: null as string | null,
    joined: false,
    canPublish: true,
    refused: false,
    /** Why the session ended for good (kicked, banned, room-closed, replaced). */
    ended: null as string | null,
    /** This link is connected in another tab (join refused `in-use`). */
    inUse: false,
    /** All seats taken by others. */
    stageFull: false,
    /** A moderator muted the microphone: it stays muted. */
    moderatorMuted: false,
    micMuted: false,
    camMuted: false,
    /** Whether the camera/mic tracks are open (the camera light is on). */
    devicesOpen: false,
  };
  const preview = $('#preview') as HTMLVideoElement;
  const cameraSel = $('#camera') as HTMLSelectElement;
  const micSel = $('#mic') as HTMLSelectElement;
  const goLive = $('#go-live') as HTMLButtonElement;
  const stop = $('#stop') as HTMLButtonElement;
  const muteMic = $('#mute-mic') as HTMLButtonElement;
  const muteCam = $('#mute-cam') as HTMLButtonElement;
  const reason = $('#go-live-reason');
  const meter = levelMeter($('#mic-level'));
  let stream: MediaStream | undefined;

  const saved = (() => {
    try {
      return JSON.parse(localStorage.getItem(DEVICE_KEY) ?? '{}') as { camera?: string; mic?: string };
    } catch {
      return {};
    }
  })();
  const remember = () => localStorage.setItem(DEVICE_KEY, JSON.stringify({ camera: cameraSel.value, mic: micSel.value }));

  async function openDevices(): Promise<MediaStream> {
    closeDevices();
    const cam = cameraSel.value || saved.camera;
    const mic = micSel.value || saved.mic;
    const video: MediaTrackConstraints = { ...quality, ...(cam ? { deviceId: cam } : {}) };
    const audio: MediaTrackConstraints = mic ? { deviceId: mic } : {};
    stream = await navigator.mediaDevices.getUserMedia({ video, audio });
    preview.srcObject = stream;
    state.devicesOpen = true;
    meter.attach(stream);
    render();
    return stream;
  }

  /** Releases camera and microphone (the camera light goes off). */
  function closeDevices(): void {
    stream?.getTracks().forEach((t) => t.stop());
    stream = undefined;
    preview.srcObject = null;
    state.devicesOpen = false;
    meter.attach(undefined);
  }

  async function listDevices(): Promise<void> {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const inUse = { videoinput: stream?.getVideoTracks()[0]?.getSettings().deviceId, audioinput: stream?.getAudioTracks()[0]?.getSettings().deviceId };
    for (const [sel, kind] of [[cameraSel, 'videoinput'], [micSel, 'audioinput']] as const) {
      const current = sel.value || inUse[kind];
      sel.replaceChildren(
        ...devices.filter((d) => d.kind === kind).map((d, i) => new Option(d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`, d.deviceId)),
      );
      if (current) sel.value = current;
    }
  }

  const published = () => state.phase === 'connecting' || state.phase === 'live' || state.phase === 'failed' || state.phase === 'reconnecting';

  /** Why Go live is not possible right now, in words (null: it is). */
  function blocker(): string | null {
    if (state.ended) return state.ended;
    if (state.refused) return 'This link was refused (see above).';
    if (state.inUse) return 'This broadcaster link is open in another tab or window.';
    if (!state.canPublish) return 'This is a viewer link: it cannot broadcast.';
    if (!state.joined) return b.signaling.wasOpen ? 'Reconnecting to the server…' : 'Connecting to the server…';
    if (state.stageFull) return `The stage is full (${stage.maxPublishers} broadcasters). You will be told here when a seat frees up.`;
    return null;
  }

  function render(): void {
    const block = blocker();
    goLive.disabled = state.phase !== 'idle' || block !== null;
    reason.textContent = state.phase === 'idle' ? (block ?? '') : '';
    stop.disabled = !published() || state.ended !== null;
    muteMic.disabled = !published() || state.moderatorMuted || state.ended !== null;
    muteCam.disabled = !published() || state.ended !== null;
    // The buttons say what pressing them does, and aria-pressed says the current state.
    muteMic.textContent = state.moderatorMuted ? 'Muted by a moderator' : state.micMuted ? 'Unmute mic' : 'Mute mic';
    muteMic.setAttribute('aria-pressed', String(state.micMuted || state.moderatorMuted));
    muteCam.textContent = state.camMuted ? 'Show camera' : 'Hide camera';
    muteCam.setAttribute('aria-pressed', String(state.camMuted));
    state.live = state.phase === 'live';
    $('#live-badge').classList.toggle('hidden', !state.live);
    const ls = $('#live-state');
    ls.dataset.state = state.phase;
    const micOff = state.micMuted || state.moderatorMuted;
    ls.textContent =
      state.phase === 'failed'
        ? (state.error ?? 'Media connection failed')
        : state.phase === 'live' && (micOff || state.camMuted)
          ? state.camMuted && micOff
            ? 'Live, with your camera hidden and microphone muted'
            : state.camMuted
              ? 'Live: viewers hear you; your camera is hidden'
              : 'Live: viewers see you; your microphone is muted'
          : PHASE_TEXT[state.phase];
    const self = $('#self');
    self.dataset.camera = !state.devicesOpen ? 'closed' : state.camMuted ? 'off' : 'on';
    self.dataset.mic = state.micMuted || state.moderatorMuted ? 'muted' : 'on';
    $('#self-state').textContent = !state.devicesOpen ? 'Camera and microphone are off' : state.camMuted ? 'Camera hidden from viewers' : '';
    $('#self-mic').hidden = !(state.micMuted || state.moderatorMuted);
  }

  function setPhase(phase: Phase, error: string | null = null): void {
    if (phase !== state.phase) phaseChanges++;
    state.phase = phase;
    state.error = error;
    render();
  }

  // While published: watch the signaling connection, the send transport and the bytes it sends.
  let lastBytes = 0;
  let connectingSince = 0;
  /** Counts phase changes: a check that awaited across one (Stop pressed meanwhile) must not overwrite it. */
  let phaseChanges = 0;
  async function monitor(): Promise<void> {
    if (!published()) return;
    const seen = phaseChanges;
    if (!stage.online) {
      connectingSince = 0;
      if (state.phase !== 'reconnecting') setPhase('reconnecting');
      return;
    }
    const ice = stage.transportState.send;
    const bytes = await stage.bytesSent().catch(() => 0);
    if (seen !== phaseChanges || !published()) return;
    const flowing = bytes > lastBytes || ((state.micMuted || state.moderatorMuted) && state.camMuted);
    lastBytes = bytes;
    if (ice === 'connected' && flowing && stage.isLive) {
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
    remember();
    if (!state.devicesOpen && !published()) return;
    const s = await openDevices();
    if (published()) {
      await stage.publish('camera', s.getVideoTracks()[0]!);
      await stage.publish('mic', s.getAudioTracks()[0]!);
    }
    // A replaced track starts enabled: keep what the person chose.
    s.getVideoTracks().forEach((t) => (t.enabled = !state.camMuted));
    s.getAudioTracks().forEach((t) => (t.enabled = !(state.micMuted || state.moderatorMuted)));
  }
  cameraSel.addEventListener('change', () => void switchDevice().catch((e: unknown) => toast(String(e))));
  micSel.addEventListener('change', () => void switchDevice().catch((e: unknown) => toast(String(e))));

  goLive.addEventListener('click', async () => {
    setPhase('starting');
    try {
      // After Stop the tracks were released: open them again (fresh, enabled tracks).
      const s = stream && stream.getTracks().every((t) => t.readyState === 'live') ? stream : await openDevices();
      await listDevices().catch(() => undefined);
      s.getTracks().forEach((t) => (t.enabled = true));
      state.micMuted = state.camMuted = false;
      await stage.publish('camera', s.getVideoTracks()[0]!);
      await stage.publish('mic', s.getAudioTracks()[0]!);
      if (state.moderatorMuted) stage.markMuted('mic');
      lastBytes = 0;
      connectingSince = performance.now();
      setPhase('connecting');
      void monitor();
    } catch (err) {
      await stage.unpublish('camera');
      await stage.unpublish('mic');
      const full = err instanceof ServerError && err.code === 'stage-full';
      if (full) state.stageFull = true;
      setPhase('idle', err instanceof ServerError ? err.code : String(err));
      toast(full ? 'The stage is full (four broadcasters). You will be told when a seat frees up.' : `Could not go live: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  stop.addEventListener('click', async () => {
    await stage.unpublish('camera');
    await stage.unpublish('mic');
    state.micMuted = state.camMuted = false;
    // Stop means stop: the camera light goes off. Going live again opens fresh tracks.
    closeDevices();
    setPhase('idle');
  });
  muteMic.addEventListener('click', async () => {
    const want = !state.micMuted;
    try {
      await stage.setMuted('mic', want);
      state.micMuted = want;
    } catch (e) {
      toast(e instanceof ServerError ? e.message : String(e));
    }
    render();
  });
  muteCam.addEventListener('click', async () => {
    const want = !state.camMuted;
    try {
      await stage.setMuted('camera', want);
      state.camMuted = want;
    } catch (e) {
      toast(e instanceof ServerError ? e.message : String(e));
    }
    render();
  });
  $('#copy-link').addEventListener('click', () => {
    const url = new URL('watch.html', location.href);
    url.search = new URLSearchParams({ room: b.room }).toString();
    void copyText(url.href).then(
      () => toast('Viewer link copied', 'info'),
      () => toast(`Viewer link: ${url.href}`, 'info'),
    );
  });
  // Broadcasters (and admins) invite a guest: the server mints a publisher token for this room.
  $('#invite-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = ($('#guest-name') as HTMLInputElement).value.trim();
    if (!name) return;
    b.signaling.request('mintGuestLink', { name }).then(
      ({ token, room }) => {
        const url = new URL('broadcast.html', location.href);
        url.search = new URLSearchParams({ room, token }).toString();
        ($('#guest-link') as HTMLInputElement).value = url.href;
        $('#guest-output').hidden = false;
      },
      (err: unknown) => toast(err instanceof ServerError ? err.message : String(err)),
    );
  });
  $('#copy-guest').addEventListener('click', () => {
    const link = ($('#guest-link') as HTMLInputElement).value;
    void copyText(link).then(
      () => toast('Guest link copied', 'info'),
      () => ($('#guest-link') as HTMLInputElement).select(),
    );
  });
  $('#take-over').addEventListener('click', () => {
    state.inUse = false;
    $('#take-over').hidden = true;
    clearBanner();
    render();
    void join(true);
  });

  stage.on('viewers', ({ count }) => ($('#viewers').textContent = `${count} watching`));
  stage.on('joined', (info) => {
    $('#viewers').textContent = `${info.viewerCount} watching`;
    $('#me').textContent = info.name;
    state.canPublish = info.canPublish;
    state.joined = true;
    $('#invite').hidden = !info.canPublish;
    if (!info.canPublish) banner('This link is a viewer link: it cannot broadcast. Ask the host for a broadcaster link.');
    render();
  });
  stage.on('seats', ({ taken, max, freed }) => {
    const full = !stage.isLive && taken >= max;
    if (state.stageFull && !full && state.phase === 'idle') toast('A seat on stage is free: you can go live now.', 'info');
    else if (freed && state.phase === 'idle') toast('A seat on stage is free: you can go live now.', 'info');
    state.stageFull = full;
    render();
  });
  stage.on('error', ({ message }) => toast(message));
  stage.on('joined', (info) => chat.onJoined(info));
  showRecording(stage, b.signaling);
  stage.on('reset', () => toast('Media server restarted, going live again…', 'info'));
  b.signaling.on('draining', () => toast('This server is restarting; you will be reconnected and go live again by yourself.', 'info'));
  b.signaling.on('moderatorMuted', ({ reason: why }) => {
    state.moderatorMuted = true;
    stage.markMuted('mic');
    banner(`${why[0]!.toUpperCase()}${why.slice(1)}. It stays muted for this session.`, 'info');
    render();
  });
  b.signaling.onState((s, detail) => {
    if (s !== 'open' && state.joined) {
      state.joined = false;
      render();
    }
    if (s === 'refused') {
      state.refused = true;
      banner(`This broadcaster link was refused: ${detail ?? ''}`);
      setStatus('Refused', 'bad');
      render();
      return;
    }
    if (s === 'ended') {
      const ended = b.signaling.ended!;
      state.ended = endedText(ended.code, ended.reason);
      banner(state.ended);
      setStatus('Disconnected', 'bad');
      // Nothing goes out any more: media stopped, camera released, chat closed.
      stage.stop();
      closeDevices();
      chat.disable('Chat is closed for you');
      setPhase('ended');
      return;
    }
    const [text, kind] = statusFor(s, b.signaling.wasOpen, detail);
    setStatus(text, kind);
    void monitor();
  });

  let takeOverNext = false;
  const joinOrWait = joinWhenServerAllows(b.signaling, () => stage.start(takeOverNext));
  async function join(takeOver = false): Promise<void> {
    takeOverNext = takeOver;
    const err = await joinOrWait();
    if (err) {
      if (err instanceof ServerError && err.code === 'in-use') {
        state.inUse = true;
        banner('This broadcaster link is already open in another tab or window, which holds its seat on stage. Close that tab, or use this one instead.');
        $('#take-over').hidden = false;
        render();
        return;
      }
      toast(`Could not join: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  b.signaling.onOpen = () => void join();
  if (b.routerRtpCapabilities) void stage.preload(b.routerRtpCapabilities).catch(() => undefined);
  // Exposed before the socket opens: tests (and a curious person's console) may look as soon as Go live is enabled.
  (window as unknown as { fourcast: unknown }).fourcast = { stage, signaling: b.signaling, state, grid, meter, requests, call };
  b.signaling.connect();

  try {
    await openDevices();
    await listDevices();
    if (saved.camera && [...cameraSel.options].some((o) => o.value === saved.camera)) cameraSel.value = saved.camera;
    if (saved.mic && [...micSel.options].some((o) => o.value === saved.mic)) micSel.value = saved.mic;
  } catch (err) {
    toast(`Camera/microphone unavailable: ${err instanceof Error ? err.message : String(err)}`);
  }
  render();
}

main().catch((err: unknown) => toast(`Fourcast could not start: ${err instanceof Error ? err.message : String(err)}`));
