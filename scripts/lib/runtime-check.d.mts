// Types of runtime-check.mjs (plain JavaScript so that setup can run it before `npm ci`).

export interface UwsBinaries {
  package: string;
  alias: string;
  version: string;
  nodeMajors: number[];
  /** "platform-arch" -> minimum glibc, null where there is no glibc (macOS, Windows). */
  platforms: Record<string, string | null>;
}

export interface PackageRef {
  package: string;
  alias: string;
  version: string;
}

export interface RuntimeCheck {
  ok: boolean;
  level: 'ok' | 'warn' | 'refused';
  node: string;
  major: number;
  glibc: string | null;
  platform: string;
  uws: PackageRef | null;
  fallbacks: PackageRef[];
  reasons: string[];
  warnings: string[];
  works: string[];
  advice: string[];
}

export interface DetectedRuntime {
  node: string;
  abi: string | null;
  glibc: string | null;
  glibcSource: string;
  platform: string;
  arch: string;
}

export const UWS_BINARIES: UwsBinaries[];
export const NODE_MINIMUM: Record<number, string>;
export const NODE_END_OF_LIFE: Record<number, string>;
export function compareVersions(a: string, b: string): -1 | 0 | 1;
export function whatWorks(platformKey: string): string[];
export function nodeLinesFor(platformKey: string, glibc: string | null): number[];
export function checkRuntime(input: { node: string; glibc: string | null; platform?: string; arch?: string; today?: Date }): RuntimeCheck;
export function detectRuntime(env?: Record<string, string | undefined>): DetectedRuntime;
export function formatCheck(detected: DetectedRuntime, result: RuntimeCheck): string[];
