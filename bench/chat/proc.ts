/** Readers for /proc: per-process CPU and RSS, machine-wide CPU. Linux only. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let clkTck: number | undefined;

/** Kernel clock ticks per second (the unit of /proc CPU times). */
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process (all its threads), µs; NaN when it is gone. */
export function processCpuUs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime (14th field), stime (15th)
    return (ticks * 1e6) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** Resident set size, bytes; NaN when the process is gone. */
export function processRssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export interface SystemCpu {
  /** Time of all CPUs in user and system mode (process context), µs. */
  busyUs: number;
  /** Time in interrupts and softirqs (loopback TCP delivery is mostly here), µs. */
  irqUs: number;
  /** Time the hypervisor ran something else while we wanted the CPU, µs. */
  stealUs: number;
}

export function systemCpu(): SystemCpu {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest times are already in user/nice)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = v;
    const us = 1e6 / ticksPerSecond();
    return { busyUs: (user + nice + system) * us, irqUs: (irq + softirq) * us, stealUs: steal * us };
  } catch {
    return { busyUs: Number.NaN, irqUs: Number.NaN, stealUs: Number.NaN };
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
