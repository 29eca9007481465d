import { el } from './ui';
import type { Stage, TileStats } from './stage';

interface Tile {
  root: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement;
  name: HTMLElement;
  level: HTMLElement;
  state: HTMLElement;
  avatar: HTMLElement;
  micOff: HTMLElement;
  speaking: HTMLElement;
  quality: HTMLElement;
  statsBox: HTMLElement;
  /** Counters at the last sample, for rates. */
  lastStats: (TileStats & { at: number }) | undefined;
  /** Frames presented so far, and when the count last grew. */
  frames: number;
  lastFrameAt: number;
  /** When the tile got its current video track (0: none). */
  videoSince: number;
  createdAt: number;
}

/**
 * What a tile tells the viewer instead of a black box. `live` hides the label.
 * `no-media`: a track that delivers no frames (the broadcaster's network, or
 * a blocked media port on this side).
 */
export type TileState = 'connecting' | 'live' | 'reconnecting' | 'no-media' | 'camera-off' | 'audio-only';
const STATE_TEXT: Record<TileState, string> = {
  connecting: 'Connecting…',
  live: '',
  reconnecting: 'Reconnecting…',
  'no-media': 'No video is arriving',
  'camera-off': 'Camera off',
  'audio-only': 'Audio only',
};
/** A track silent this long is reported as `no-media`, not `connecting`. */
const NO_MEDIA_MS = 6000;

/**
 * The 2×2 stage grid: one tile per broadcaster, with name, speaking highlight
 * and audio level. Tiles report their size so the stage can pick a simulcast layer.
 */
export class TileGrid {
  private readonly tiles = new Map<string, Tile>();
  private readonly resize = new ResizeObserver((entries) => {
    for (const e of entries) {
      const peerId = (e.target as HTMLElement).dataset.peer;
      if (peerId) this.stage.setPreferredLayer(peerId, layerFor(e.contentRect.width));
    }
  });
  /** Resolves the first time any tile renders a frame. */
  readonly firstFrame: Promise<number>;
  private resolveFirstFrame!: (t: number) => void;

  constructor(
    private readonly root: HTMLElement,
    private readonly stage: Stage,
    private readonly emptyText: string,
  ) {
    this.firstFrame = new Promise((r) => (this.resolveFirstFrame = r));
    stage.on('publisherJoined', ({ peerId, name, guest }) => {
      const tile = this.ensure(peerId, name);
      // A viewer invited onto the stage is a guest, not a host.
      tile.root.querySelector('.host-badge')!.textContent = guest ? 'Guest' : 'Host';
      tile.root.dataset.guest = String(Boolean(guest));
    });
    stage.on('publisherLeft', ({ peerId }) => this.remove(peerId));
    // Every (re)join: the server's list is the truth. A tile whose broadcaster
    // left while this page was offline (or before a server restart) goes.
    stage.on('joined', (info) => {
      const live = new Set(info.publishers.map((p) => p.peerId));
      for (const id of [...this.tiles.keys()]) if (!live.has(id)) this.remove(id);
    });
    stage.on('stopped', () => this.clear());
    stage.on('track', ({ peerId, kind, track }) => {
      const tile = this.ensure(peerId, stage.publishers.get(peerId)?.name ?? '…');
      const media = kind === 'video' ? tile.video : tile.audio;
      media.srcObject = new MediaStream([track]);
      void media.play().catch(() => undefined);
      if (kind === 'video') {
        tile.videoSince = performance.now();
        tile.frames = 0;
        tile.root.classList.remove('no-video');
        tile.video.requestVideoFrameCallback?.(() => this.resolveFirstFrame(performance.now()));
        this.stage.setPreferredLayer(peerId, layerFor(tile.root.clientWidth));
      }
    });
    stage.on('trackEnded', ({ peerId, kind }) => {
      const tile = this.tiles.get(peerId);
      if (!tile) return;
      (kind === 'video' ? tile.video : tile.audio).srcObject = null;
      if (kind === 'video') {
        tile.root.classList.add('no-video');
        tile.videoSince = 0;
      }
    });
    stage.on('trackPaused', () => this.evaluate());
    stage.on('speaker', ({ peerId }) => {
      this.speaker = peerId;
      this.evaluate();
    });
    stage.on('levels', ({ levels }) => {
      for (const [id, t] of this.tiles) {
        const v = levels.find((l) => l.peerId === id)?.volume;
        // dBov -70..0 → 0..100 %
        t.level.style.width = v === undefined ? '0%' : `${Math.max(0, Math.min(100, ((v + 70) / 70) * 100))}%`;
      }
    });
    this.renderEmpty();
    // Frames are sampled twice a second; connection changes show at once.
    window.setInterval(() => this.evaluate(), 500);
    window.setInterval(() => void this.sampleQuality(), 2000);
    stage.on('transport', () => this.evaluate());
    stage.onConnectivity(() => this.evaluate());
  }

  private speaker: string | null = null;

  /** Each tile's state, from the socket, the receive transport and the frames actually presented. */
  private evaluate(): void {
    const now = performance.now();
    const recv = this.stage.transportState.recv;
    for (const [peerId, t] of this.tiles) {
      const frames = t.video.srcObject ? (t.video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0) : 0;
      if (frames > t.frames) t.lastFrameAt = now;
      t.frames = frames;
      const video = this.stage.producerOf(peerId, 'video');
      let state: TileState;
      if (!this.stage.online || recv === 'disconnected' || recv === 'failed') state = 'reconnecting';
      else if (!video) state = this.stage.producerOf(peerId, 'audio') ? 'audio-only' : now - t.createdAt > NO_MEDIA_MS ? 'no-media' : 'connecting';
      else if (video.paused) state = 'camera-off';
      else if (t.videoSince && now - t.lastFrameAt < 2000) state = 'live';
      else state = now - Math.max(t.videoSince, t.createdAt) > NO_MEDIA_MS ? 'no-media' : 'connecting';
      if (t.root.dataset.state !== state) {
        t.root.dataset.state = state;
        t.state.textContent = STATE_TEXT[state];
      }
      // Microphone and camera are separate: a muted mic is its own indicator, with words for screen readers.
      const audio = this.stage.producerOf(peerId, 'audio');
      const mic = !audio ? 'none' : audio.paused ? 'muted' : 'on';
      if (t.root.dataset.mic !== mic) {
        t.root.dataset.mic = mic;
        t.micOff.hidden = mic === 'on';
        t.micOff.lastElementChild!.textContent = mic === 'none' ? 'No microphone' : 'Microphone muted';
      }
      t.root.dataset.camera = video ? (video.paused ? 'off' : 'on') : 'none';
      // A muted (or unreachable) broadcaster is never shown as speaking.
      const speaking = this.speaker === peerId && mic === 'on' && state !== 'reconnecting';
      t.root.classList.toggle('speaking', speaking);
      t.speaking.hidden = !speaking;
    }
  }

  /** Pinned tile: shown first and across the whole grid. */
  private pinned: string | undefined;

  private pin(peerId: string | undefined): void {
    this.pinned = this.pinned === peerId ? undefined : peerId;
    for (const [id, t] of this.tiles) {
      const on = id === this.pinned;
      t.root.classList.toggle('pinned', on);
      const b = t.root.querySelector<HTMLButtonElement>('.pin');
      if (b) {
        b.setAttribute('aria-pressed', String(on));
        b.title = on ? 'Unpin' : 'Pin: show this one large';
      }
    }
    if (this.pinned) this.root.dataset.pinned = this.pinned;
    else delete this.root.dataset.pinned;
  }

  /** Connection quality per tile (loss and round trip, as received here), and the numbers behind it. */
  private async sampleQuality(): Promise<void> {
    if (this.tiles.size === 0 || !this.stage.online) return;
    const { rttMs, peers } = await this.stage.receiveStats();
    const now = performance.now();
    for (const [peerId, t] of this.tiles) {
      const cur = peers[peerId];
      if (!cur) {
        t.quality.hidden = true;
        t.lastStats = undefined;
        continue;
      }
      const prev = t.lastStats;
      t.lastStats = { ...cur, at: now };
      if (!prev) continue;
      const secs = Math.max(0.001, (now - prev.at) / 1000);
      const received = cur.packetsReceived - prev.packetsReceived;
      const lost = Math.max(0, cur.packetsLost - prev.packetsLost);
      const lossPct = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
      const kbps = Math.round(((cur.videoBytes - prev.videoBytes + cur.audioBytes - prev.audioBytes) * 8) / secs / 1000);
      // Nothing expected (camera off and mic muted): no verdict rather than a false "poor".
      const video = this.stage.producerOf(peerId, 'video');
      const audio = this.stage.producerOf(peerId, 'audio');
      const expecting = (video && !video.paused) || (audio && !audio.paused);
      if (received === 0 && !expecting) {
        t.quality.hidden = true;
        continue;
      }
      const level: 'good' | 'fair' | 'poor' = lossPct > 5 || (rttMs ?? 0) > 400 || received === 0 ? 'poor' : lossPct > 1 || (rttMs ?? 0) > 200 ? 'fair' : 'good';
      t.quality.hidden = false;
      t.quality.dataset.quality = level;
      t.quality.textContent = { good: 'Good', fair: 'Fair', poor: 'Poor' }[level];
      t.quality.title = `Connection ${level}: ${lossPct.toFixed(1)} % loss${rttMs === null ? '' : `, ${rttMs} ms round trip`}`;
      const rows: [string, string][] = [
        ['Bitrate', `${kbps} kbit/s`],
        ['Video', cur.frameWidth ? `${cur.frameWidth}×${cur.frameHeight} @ ${Math.round(cur.fps)} fps` : 'none'],
        ['Layer', cur.layer === null ? '–' : `${cur.layer + 1} of 3`],
        ['Round trip', rttMs === null ? '–' : `${rttMs} ms`],
        ['Loss', `${lossPct.toFixed(1)} %`],
        ['Jitter', `${cur.jitterMs} ms`],
      ];
      t.statsBox.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', undefined, k), el('dd', undefined, v)]));
      t.root.dataset.kbps = String(kbps);
    }
  }

  get size(): number {
    return this.tiles.size;
  }

  clear(): void {
    for (const id of [...this.tiles.keys()]) this.remove(id);
  }

  private ensure(peerId: string, name: string): Tile {
    let tile = this.tiles.get(peerId);
    if (tile) {
      tile.name.textContent = name;
      tile.avatar.textContent = initials(name);
      tile.root.setAttribute('aria-label', name);
      return tile;
    }
    const root = el('figure', 'tile no-video');
    root.dataset.peer = peerId;
    const video = el('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound comes from the <audio> element
    const audio = el('audio');
    audio.autoplay = true;
    const caption = el('figcaption');
    const nameEl = el('span', 'name', name);
    const host = el('span', 'host-badge', 'Host');
    const speakingEl = el('span', 'speaking-label', 'Speaking');
    speakingEl.hidden = true;
    const micOff = el('span', 'mic-off');
    micOff.append(el('span', 'mic-text', 'Microphone muted'));
    micOff.hidden = true;
    const meter = el('span', 'meter');
    meter.setAttribute('aria-hidden', 'true');
    const level = el('span', 'level');
    meter.append(level);
    const quality = el('span', 'quality');
    quality.hidden = true;
    caption.append(nameEl, host, micOff, speakingEl, quality, meter);
    const statsBox = el('dl', 'stats-overlay');
    statsBox.hidden = true;
    statsBox.setAttribute('aria-label', `Connection statistics for ${name}`);
    const tools = this.toolbar(peerId, name, audio, root, statsBox);
    // Shown instead of the picture when the camera is off (no frozen last frame).
    const avatar = el('span', 'avatar', initials(name));
    avatar.setAttribute('aria-hidden', 'true');
    const state = el('span', 'tile-state', STATE_TEXT.connecting);
    state.setAttribute('role', 'status');
    root.dataset.state = 'connecting';
    root.setAttribute('aria-label', name);
    root.append(video, audio, avatar, state, statsBox, tools, caption);
    tile = {
      root,
      video,
      audio,
      name: nameEl,
      level,
      state,
      avatar,
      micOff,
      speaking: speakingEl,
      quality,
      statsBox,
      lastStats: undefined,
      frames: 0,
      lastFrameAt: 0,
      videoSince: 0,
      createdAt: performance.now(),
    };
    this.tiles.set(peerId, tile);
    this.root.append(root);
    this.resize.observe(root);
    this.renderEmpty();
    return tile;
  }

  /** Per tile: mute / volume for this page only, pin, full screen, stats. */
  private toolbar(peerId: string, name: string, audio: HTMLAudioElement, root: HTMLElement, statsBox: HTMLElement): HTMLElement {
    const tools = el('div', 'tile-tools');
    // Short words, not icons: they need no icon font and read the same to everyone.
    const button = (cls: string, text: string, label: string, onClick: (b: HTMLButtonElement) => void) => {
      const b = el('button', `tool ${cls}`, text);
      b.type = 'button';
      b.title = label;
      b.setAttribute('aria-label', `${label} (${name})`);
      b.addEventListener('click', () => onClick(b));
      return b;
    };
    const mute = button('mute', 'Mute', 'Mute for me', (b) => {
      audio.muted = !audio.muted;
      b.setAttribute('aria-pressed', String(audio.muted));
      b.textContent = audio.muted ? 'Muted' : 'Mute';
      b.title = audio.muted ? 'Unmute for me' : 'Mute for me';
    });
    mute.setAttribute('aria-pressed', 'false');
    const volume = el('input', 'volume');
    volume.type = 'range';
    volume.min = '0';
    volume.max = '1';
    volume.step = '0.05';
    volume.value = '1';
    volume.setAttribute('aria-label', `Volume of ${name}`);
    volume.addEventListener('input', () => (audio.volume = Number(volume.value)));
    const pin = button('pin', 'Pin', 'Pin: show this one large', () => this.pin(peerId));
    pin.setAttribute('aria-pressed', 'false');
    const full = button('fullscreen', 'Full', 'Full screen', () => {
      if (document.fullscreenElement === root) void document.exitFullscreen();
      else void root.requestFullscreen?.().catch(() => undefined);
    });
    const stats = button('stats', 'Stats', 'Connection statistics', (b) => {
      statsBox.hidden = !statsBox.hidden;
      b.setAttribute('aria-pressed', String(!statsBox.hidden));
    });
    stats.setAttribute('aria-pressed', 'false');
    tools.append(mute, volume, pin, full, stats);
    return tools;
  }

  private remove(peerId: string): void {
    if (this.pinned === peerId) this.pin(peerId);
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    this.resize.unobserve(tile.root);
    tile.video.srcObject = null;
    tile.audio.srcObject = null;
    tile.root.remove();
    this.tiles.delete(peerId);
    this.renderEmpty();
  }

  private renderEmpty(): void {
    this.root.dataset.count = String(this.tiles.size);
    const empty = this.root.querySelector<HTMLElement>('.empty');
    if (this.tiles.size === 0) {
      if (!empty) this.root.append(el('p', 'empty', this.emptyText));
    } else empty?.remove();
  }
}

/** "Ada Lovelace" → "AL"; "alice" → "A". */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/u).filter(Boolean);
  const letters = words.length > 1 ? [words[0]!, words.at(-1)!] : words.slice(0, 1);
  return letters.map((w) => [...w][0] ?? '').join('').toUpperCase() || '?';
}

/**
 * The smallest simulcast layer at least as wide as the tile's device pixels. A broadcaster's
 * 1280-wide camera sends 320, 640 and 1280 (SIMULCAST in stage.ts): a tile of the 2×2 grid on
 * a laptop (~620 px) asks for the 640 layer, about 0.4 of the top layer's bitrate; the
 * bandwidth estimate may still go lower.
 */
function layerFor(cssWidth: number): 0 | 1 | 2 {
  const px = cssWidth * (window.devicePixelRatio || 1);
  if (px <= 320) return 0;
  if (px <= 640) return 1;
  return 2;
}
