import { el } from './ui';
import type { Stage } from './stage';

interface Tile {
  root: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement;
  name: HTMLElement;
  level: HTMLElement;
  state: HTMLElement;
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
    stage.on('publisherJoined', ({ peerId, name }) => this.ensure(peerId, name));
    stage.on('publisherLeft', ({ peerId }) => this.remove(peerId));
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
    stage.on('trackPaused', ({ peerId, paused }) => this.tiles.get(peerId)?.root.classList.toggle('muted', paused));
    stage.on('speaker', ({ peerId }) => {
      for (const [id, t] of this.tiles) t.root.classList.toggle('speaking', id === peerId);
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
    stage.on('transport', () => this.evaluate());
    stage.onConnectivity(() => this.evaluate());
  }

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
    const meter = el('span', 'meter');
    const level = el('span', 'level');
    meter.append(level);
    caption.append(nameEl, meter);
    const state = el('span', 'tile-state', STATE_TEXT.connecting);
    state.setAttribute('role', 'status');
    root.dataset.state = 'connecting';
    root.append(video, audio, state, caption);
    tile = { root, video, audio, name: nameEl, level, state, frames: 0, lastFrameAt: 0, videoSince: 0, createdAt: performance.now() };
    this.tiles.set(peerId, tile);
    this.root.append(root);
    this.resize.observe(root);
    this.renderEmpty();
    return tile;
  }

  private remove(peerId: string): void {
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

/** Small tiles take the lowest layer; a big tile the top one. */
function layerFor(width: number): 0 | 1 | 2 {
  if (width < 240) return 0;
  if (width < 560) return 1;
  return 2;
}
