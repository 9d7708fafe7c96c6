// Types of torture.mjs for the vitest file (the engine is plain JavaScript so that `node` runs it as it is).
export interface TortureState {
  history: Map<string, string>
  markers: Map<string, number>
  nt: { start: number; end: number }
  index: 'none' | 'valid' | 'invalid'
  effects: Map<string, boolean | 'partial'>
}
export interface TortureResult {
  dialect: 'postgres' | 'sqlite'
  seed: number
  trials: number
  violations: Array<{ trial: number | string; message: string }>
  stats: {
    trials: number
    processes: number
    killed: number
    dirty: number
    resolvedApplied: number
    resolvedRolledBack: number
    settledFirst: number
    prefixed: number
    staleLockFolders: number
    afterKills: { none: number; some: number; all: number }
  }
  durationMs: number
}
export function runTorture(options: {
  dialect: 'postgres' | 'sqlite'
  trials: number
  serverUrl?: string
  seed?: number
  maxMs?: number
  log?: (message: string) => void
  forceDirtyFirst?: boolean
}): Promise<TortureResult>
export function consistency(state: TortureState, when: string): string[]
export function finalChecks(
  state: TortureState,
  context: { fingerprint: string; expectedFingerprint: string; lockHeld: boolean | string | null; settled: boolean },
): string[]
export function summary(result: TortureResult): string
