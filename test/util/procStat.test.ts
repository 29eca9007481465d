import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { procCpu } from '../../src/util/procStat.js';
import { processVerdict } from '../../src/media/workerPool.js';

/**
 * What the worker pool reads of a worker that does not answer: its CPU time and state from
 * /proc. Real processes stand for the two cases: one spinning (a saturated worker) and one
 * stopped (a wedged one).
 */

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function start(code: string): ChildProcess {
  const c = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  children.push(c);
  return c;
}

/** Share of one core a process used over `ms`, and its state at the end, as the pool computes them. */
async function observe(pid: number, ms: number): Promise<{ share: number; state: string }> {
  const a = procCpu(pid)!;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const b = procCpu(pid)!;
  return { share: (b.seconds - a.seconds) / ((performance.now() - t0) / 1000), state: b.state };
}

describe('procCpu and the verdict on a worker that does not answer', () => {
  it('reads this process: CPU seconds grow with work, state running', () => {
    const a = procCpu(process.pid)!;
    const end = performance.now() + 200;
    while (performance.now() < end) {
      /* spin */
    }
    const b = procCpu(process.pid)!;
    expect(b.state).toBe('R');
    expect(b.seconds - a.seconds).toBeGreaterThanOrEqual(0.1);
  });

  it('a spinning process is busy; the same process stopped is wedged; a gone one reads as undefined', async () => {
    const c = start('for (;;) {}');
    await new Promise((r) => setTimeout(r, 300));
    const spinning = await observe(c.pid!, 1000);
    expect(spinning.share).toBeGreaterThan(0.5);
    expect(processVerdict(spinning.state, spinning.share)).toBe('busy');

    c.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 100));
    const stopped = await observe(c.pid!, 500);
    expect(stopped.state).toBe('T');
    expect(stopped.share).toBeLessThan(0.05);
    expect(processVerdict(stopped.state, stopped.share)).toBe('wedged');

    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    expect(procCpu(c.pid!)).toBeUndefined();
  });

  it('an idle (sleeping) process is wedged, not busy: it is not working on anything', async () => {
    const c = start('setInterval(() => {}, 1000)');
    await new Promise((r) => setTimeout(r, 300));
    const idle = await observe(c.pid!, 500);
    expect(idle.state).toBe('S');
    expect(processVerdict(idle.state, idle.share)).toBe('wedged');
  });

  it('a stopped process that somehow shows CPU is still wedged: the state wins', () => {
    expect(processVerdict('T', 1)).toBe('wedged');
    expect(processVerdict('Z', 1)).toBe('wedged');
    expect(processVerdict('R', 0.49)).toBe('wedged');
    expect(processVerdict('S', 0.9)).toBe('busy');
  });
});
