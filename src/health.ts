import type { MigrationError } from './errors.js'
import type { HealthSnapshot, MigrationStatus } from './types.js'

/** The state behind `health()`: a plain object the migrator updates and readers copy. */
export interface HealthState {
  status: MigrationStatus
  current: string | null
  target: string | null
  pending: string[]
  applying: { id: string; name: string; since: number } | null
  error: MigrationError | null
}

export const initialHealth = (): HealthState => ({ status: 'idle', current: null, target: null, pending: [], applying: null, error: null })

export function snapshot(s: HealthState, now = Date.now()): HealthSnapshot {
  return {
    status: s.status,
    ready: s.status === 'ready',
    current: s.current,
    target: s.target,
    pending: [...s.pending],
    applying: s.applying && { id: s.applying.id, name: s.applying.name, sinceMs: now - s.applying.since },
    error: s.error && { code: s.error.code, message: s.error.message },
  }
}
