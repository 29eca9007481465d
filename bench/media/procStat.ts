import fs from 'node:fs';
import os from 'node:os';

import { procCpu } from '../../src/util/procStat.js';

/** CPU seconds (user + system) a process has used so far (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  return procCpu(pid)?.seconds ?? 0;
}

export function rssBytes(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Share of one core each pid used over `ms`. */
export async function cpuShare(pids: number[], ms: number): Promise<number[]> {
  const a = pids.map(cpuSeconds);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const wall = (performance.now() - t0) / 1000;
  return pids.map((pid, i) => (cpuSeconds(pid) - a[i]!) / wall);
}

export function machine() {
  return { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() };
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
