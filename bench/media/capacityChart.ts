// Chart of the media capacity bench: an SVG drawn here, turned into a PNG by
// headless Chromium (playwright-core, Debian's /usr/bin/chromium) or, when
// that is missing, by rsvg-convert (Debian's librsvg2-bin).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { chromium } from 'playwright-core';

interface StepLike {
  consumers: number;
  forwardedPps: number;
  lossAtBots: number;
  workerCpuTotal: number;
  botCpu: number;
  pass: boolean;
  keepUp?: number;
}
interface ScenarioLike {
  id: string;
  workers: number;
  steps: StepLike[];
  best: StepLike | undefined;
  firstFailure?: StepLike | undefined;
  stoppedBecause?: string;
}

/** Why the ramp ended, in one word under the bar. */
function endTag(s: ScenarioLike): string {
  if (s.firstFailure) return s.firstFailure.lossAtBots >= 0.005 ? 'then loss' : 'then lag';
  if (s.stoppedBecause?.startsWith('control plane')) return 'stalled';
  if (s.stoppedBecause?.startsWith('time budget')) return 'time up';
  return '';
}

const W = 1280;
const H = 860;
const PALETTE = ['#1f77b4', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A round tick step giving about five ticks up to `v`. */
function niceStep(v: number): number {
  const raw = Math.max(v, 1e-9) / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const step = niceStep(v);
  return Math.ceil(v / step - 1e-9) * step;
}

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
  title: string;
  yLabel: string;
  yMax: number;
  xMax: number;
  yFmt: (v: number) => string;
  series: { color: string; dashed?: boolean; points: { x: number; y: number; pass: boolean }[] }[];
  guide?: { y: number; label: string };
}

function linePanel(p: Panel): string {
  const out: string[] = [];
  const sx = (v: number) => p.x + (v / p.xMax) * p.w;
  const sy = (v: number) => p.y + p.h - (Math.min(v, p.yMax) / p.yMax) * p.h;
  out.push(`<text x="${p.x}" y="${p.y - 12}" font-size="15" font-weight="bold">${esc(p.title)}</text>`);
  const ys = niceStep(p.yMax);
  for (let yv = 0; yv <= p.yMax + 1e-9; yv += ys) {
    const y = sy(yv);
    out.push(`<line x1="${p.x}" x2="${p.x + p.w}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${p.x - 6}" y="${y + 4}" font-size="11" text-anchor="end">${esc(p.yFmt(yv))}</text>`);
  }
  const xs = niceStep(p.xMax);
  for (let xv = 0; xv <= p.xMax + 1e-9; xv += xs) {
    out.push(`<line x1="${sx(xv)}" x2="${sx(xv)}" y1="${p.y + p.h}" y2="${p.y + p.h + 4}" stroke="#999"/>`);
    out.push(`<text x="${sx(xv)}" y="${p.y + p.h + 16}" font-size="11" text-anchor="middle">${Math.round(xv)}</text>`);
  }
  out.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 34}" font-size="12" text-anchor="middle">consumers</text>`);
  out.push(`<text transform="translate(${p.x - 48} ${p.y + p.h / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(p.yLabel)}</text>`);
  if (p.guide && p.guide.y <= p.yMax) {
    const y = sy(p.guide.y);
    out.push(`<line x1="${p.x}" x2="${p.x + p.w}" y1="${y}" y2="${y}" stroke="#444" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${p.x + p.w - 4}" y="${y - 5}" font-size="11" text-anchor="end" fill="#444">${esc(p.guide.label)}</text>`);
  }
  for (const s of p.series) {
    if (s.points.length === 0) continue;
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''} points="${s.points.map((pt) => `${sx(pt.x).toFixed(1)},${sy(pt.y).toFixed(1)}`).join(' ')}"/>`);
    for (const pt of s.points) {
      if (s.dashed) continue;
      out.push(
        pt.pass
          ? `<circle cx="${sx(pt.x).toFixed(1)}" cy="${sy(pt.y).toFixed(1)}" r="3.5" fill="${s.color}"/>`
          : `<circle cx="${sx(pt.x).toFixed(1)}" cy="${sy(pt.y).toFixed(1)}" r="5" fill="white" stroke="${s.color}" stroke-width="2.5"/>`,
      );
    }
  }
  return out.join('\n');
}

function barPanel(x: number, y: number, w: number, h: number, scenarios: ScenarioLike[], colors: string[]): string {
  const out: string[] = [];
  const values = scenarios.map((s) => (s.best ? s.best.consumers / s.workers : 0));
  const goal = 1500;
  const max = niceMax(Math.max(goal, ...values) * 1.05);
  const sy = (v: number) => y + h - (v / max) * h;
  out.push(`<text x="${x}" y="${y - 12}" font-size="15" font-weight="bold">Consumers per worker (loss &lt; 0.5 %, keeping up)</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    out.push(`<line x1="${x}" x2="${x + w}" y1="${sy(v)}" y2="${sy(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x - 6}" y="${sy(v) + 4}" font-size="11" text-anchor="end">${Math.round(v)}</text>`);
  }
  const bw = w / Math.max(1, scenarios.length);
  scenarios.forEach((s, i) => {
    const v = values[i]!;
    const bx = x + i * bw + bw * 0.15;
    out.push(`<rect x="${bx}" y="${sy(v)}" width="${bw * 0.7}" height="${y + h - sy(v)}" fill="${colors[i]}"/>`);
    out.push(`<text x="${bx + bw * 0.35}" y="${sy(v) - 5}" font-size="12" text-anchor="middle">${Math.round(v)}</text>`);
    const tag = endTag(s);
    if (tag && v > max * 0.12) out.push(`<text x="${bx + bw * 0.35}" y="${y + h - 6}" font-size="9" text-anchor="middle" fill="white">${esc(tag)}</text>`);
    out.push(`<text transform="translate(${bx + bw * 0.35} ${y + h + 14}) rotate(25)" font-size="11">${esc(s.id)}</text>`);
  });
  out.push(`<line x1="${x}" x2="${x + w}" y1="${sy(goal)}" y2="${sy(goal)}" stroke="#444" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${x + w - 4}" y="${sy(goal) - 5}" font-size="11" text-anchor="end" fill="#444">goal ${goal} per worker</text>`);
  out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  return out.join('\n');
}

export function chartSvg(scenarios: ScenarioLike[], opts: { cores: number; lossLimit: number }): string {
  const colors = scenarios.map((_, i) => PALETTE[i % PALETTE.length]!);
  const xMax = niceMax(Math.max(100, ...scenarios.flatMap((s) => s.steps.map((x) => x.consumers))));
  const series = (f: (s: StepLike) => number) => scenarios.map((s, i) => ({ color: colors[i]!, points: s.steps.map((x) => ({ x: x.consumers, y: f(x), pass: x.pass })) }));
  const ppsMax = niceMax(Math.max(1, ...scenarios.flatMap((s) => s.steps.map((x) => x.forwardedPps / 1000))));
  const cpuMax = niceMax(Math.max(1, ...scenarios.flatMap((s) => s.steps.map((x) => Math.max(x.workerCpuTotal, x.botCpu) * 100))));
  const pw = 520;
  const ph = 270;
  const legend = scenarios
    .map((s, i) => `<g transform="translate(${70 + (i % 4) * 290} ${62 + Math.floor(i / 4) * 20})"><rect width="14" height="10" y="-9" fill="${colors[i]}"/><text x="20" font-size="13">${esc(s.id)}</text></g>`)
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="70" y="32" font-size="20" font-weight="bold">Fourcast media capacity on loopback (${opts.cores} cores): ~1 Mbps VP8 consumers</text>`,
    legend,
    `<text x="70" y="102" font-size="12" fill="#555">filled dot: step passed; hollow: loss ≥ ${opts.lossLimit * 100} % or the worker fell behind the source (ramp stops)</text>`,
    linePanel({ x: 90, y: 135, w: pw, h: ph, title: 'Forwarded packets/s (sum of consumer deltas)', yLabel: 'kpkt/s', yMax: ppsMax, xMax, yFmt: (v) => v.toFixed(0), series: series((x) => x.forwardedPps / 1000) }),
    linePanel({
      x: 720, y: 135, w: pw, h: ph, title: 'Loss at the bots (RTP sequence gaps; clipped at 5 %)', yLabel: 'loss %', yMax: 5, xMax, yFmt: (v) => v.toFixed(1),
      series: series((x) => x.lossAtBots * 100), guide: { y: opts.lossLimit * 100, label: `${opts.lossLimit * 100} % limit` },
    }),
    linePanel({
      x: 90, y: 500, w: pw, h: ph, title: 'CPU: mediasoup workers (solid), bots (dashed)', yLabel: '% of one core', yMax: cpuMax, xMax, yFmt: (v) => v.toFixed(0),
      series: [...series((x) => x.workerCpuTotal * 100), ...series((x) => x.botCpu * 100).map((s) => ({ ...s, dashed: true }))],
    }),
    barPanel(720, 500, pw, ph - 40, scenarios, colors),
    '</svg>',
  ].join('\n');
}

/** Writes `<base>.svg` and, when a renderer is at hand, `<base>.png`; returns whether the PNG was written. */
export async function renderChart(scenarios: ScenarioLike[], base: string, opts: { cores: number; lossLimit: number }): Promise<boolean> {
  const svg = chartSvg(scenarios, opts);
  fs.writeFileSync(`${base}.svg`, svg);
  const exe = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (fs.existsSync(exe)) {
    const browser = await chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage({ viewport: { width: W, height: H } });
      await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
      await page.screenshot({ path: `${base}.png`, clip: { x: 0, y: 0, width: W, height: H } });
      return true;
    } finally {
      await browser.close();
    }
  }
  const r = spawnSync('rsvg-convert', ['-o', `${base}.png`, `${base}.svg`]);
  return r.status === 0;
}
