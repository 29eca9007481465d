import fs from 'node:fs';

/** USER_HZ: the unit of /proc/<pid>/stat CPU times on every Linux architecture Node runs on. */
const TICK = 100;

export interface ProcCpu {
  /** CPU seconds (user + system) the process has used so far. */
  seconds: number;
  /** Its scheduler state: R running, S sleeping, D disk wait, T stopped, t traced, Z zombie… */
  state: string;
}

/** CPU time and state of a process from /proc/<pid>/stat; undefined when it is gone (or not Linux). */
export function procCpu(pid: number): ProcCpu | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', seconds: (Number(fields[11]) + Number(fields[12])) / TICK };
}
