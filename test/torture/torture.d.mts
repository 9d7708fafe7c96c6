// Types of torture.mjs for the vitest file (the engine is plain JavaScript so that `node` runs it as it is).
export interface TortureState {
  history: Map<string, string>
  markers: Map<string, number>
  nt: { start: number; end: number }
  index: 'none' | 'valid' | 'invalid'
  effects: Map<string, boolean | 'partial'>
  /** MySQL: the revisions run statement by statement, each statement's effect (true, false, 'partial', 'N×', null: none to look at) and the progress records. */
  steps?: Map<string, { effects: Array<boolean | string | null>; recorded: number; rows?: number; started?: boolean }>
}
export interface TortureResult {
  dialect: 'postgres' | 'sqlite' | 'mysql'
  seed: number
  trials: number
  violations: Array<{ trial: number | string; message: string }>
  /** The event logs of the trials with a violation (of every trial with `events`). */
  eventLogs: Record<number, string[]>
  stats: {
    trials: number
    processes: number
    killed: number
    stopped: number
    drops: { attempts: number; terminated: number; noSession: number }
    outcomes: { succeeded: number; killed: number; dirty: number; connectionLost: number; connectionLostIn0010: number; connectionLostUnconfirmed: number; aborted: number; other: number }
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
  dialect: 'postgres' | 'sqlite' | 'mysql'
  trials: number
  serverUrl?: string
  seed?: number
  maxMs?: number
  log?: (message: string) => void
  forceDirtyFirst?: boolean
  events?: boolean
}): Promise<TortureResult>
export function consistency(state: TortureState, when: string): string[]
export function finalChecks(
  state: TortureState,
  context: { fingerprint: string; expectedFingerprint: string; lockHeld: boolean | string | null; settled: boolean },
): string[]
export function summary(result: TortureResult): string
/** What one process of the kill phase ran into. */
export interface ProcessFaults {
  name: string
  killed: boolean
  stopped: boolean
  drops: number[]
}
export interface ProcessRun {
  code: number | null
  signal: string | null
  out: string
  error?: { code?: string; revision?: string; message: string }
}
/** A violation's message without names, paths and numbers, to count violations by kind. */
export function kindOf(message: string): string
export function outcomeIssues(run: ProcessRun, faults: ProcessFaults): string[]
export function lostReportIssues(name: string, error: ProcessRun['error'], state: TortureState, context?: { otherStarted?: boolean }): string[]
export function steppedIssues(id: string, step: { effects: Array<boolean | string | null>; recorded: number; rows?: number; started?: boolean }, recorded: string | undefined, when: string): string[]
