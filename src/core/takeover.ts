import type { Dialect } from '../dialects/dialect.js'
import { isMigrationError } from '../errors.js'
import type { Settings } from '../options.js'
import type { Revision } from '../revisions/revision.js'
import { TOOLS, toolOf } from '../tools/index.js'
import type { Edited, TablePlace, Tool, ToolHistory } from '../tools/tool.js'
import type { Executor } from './connection.js'

/** Another tool's history table, spelled for the dialect at hand. */
export interface ForeignHistory {
  tool: Tool
  history: ToolHistory
  at: TablePlace
}

/** The history table of the tool the revisions came from; undefined for boot-migrate's own revisions (or a tool that keeps none). */
export function foreignHistory(dialect: Dialect, settings: Settings, revisions: Revision[]): ForeignHistory | undefined {
  return placed(dialect, settings, toolOf(revisions))
}

function placed(dialect: Dialect, settings: Settings, tool: Tool | undefined): ForeignHistory | undefined {
  if (!tool?.history) return undefined
  const { schema, table } = tool.history.where(settings)
  const sql = dialect.sql
  return {
    tool,
    history: tool.history,
    at: {
      sql,
      table: sql.qualify(schema, table),
      schema: sql.schemas && schema !== undefined ? sql.quote(schema) : undefined,
      display: sql.schemas && schema !== undefined ? `${schema}.${table}` : table,
    },
  }
}

/** With takeover.keepHistory: the statement that keeps the revision's tool's table in step with ours, if any. */
export function keepRecord(dialect: Dialect, settings: Settings, rev: Revision, direction: 'up' | 'down'): Array<[string, unknown[]]> {
  if (!settings.takeover.keepHistory || !rev.origin) return []
  const f = placed(dialect, settings, TOOLS.find((t) => t.name === rev.origin!.tool))
  return f?.history.keep?.record(f.at, rev, direction) ?? []
}

/** With takeover.keepHistory: the tool's own DDL for its table, created with ours. */
export function keepCreate(dialect: Dialect, settings: Settings, revisions: Revision[]): string[] {
  if (!settings.takeover.keepHistory) return []
  const f = foreignHistory(dialect, settings, revisions)
  return f?.history.keep?.create(f.at) ?? []
}

/** What the first run would take over from the old tool's history: read only, for `status` before that run. */
export interface TakeoverPreview {
  tool: string
  table: string
  adopted: Revision[]
  edited: Edited[]
  /** Why the first run would refuse the takeover (ADOPTION_MISMATCH's message). */
  refused?: string
}

export async function previewTakeover(on: Executor, dialect: Dialect, settings: Settings, revisions: Revision[]): Promise<TakeoverPreview | undefined> {
  const f = foreignHistory(dialect, settings, revisions)
  if (!f) return undefined
  const rows = await f.history.read(on, f.at, (e) => dialect.classify(e) === 'missing-table')
  if (!rows?.length) return undefined
  const base = { tool: f.tool.name, table: f.at.display }
  try {
    const { adopted, edited } = f.history.adopt(rows, revisions, f.at)
    if (settings.takeover.strict && edited.length)
      return { ...base, adopted: [], edited, refused: `takeover.strict refuses files changed after ${f.tool.name} applied them` }
    return { ...base, adopted, edited }
  } catch (e) {
    if (!isMigrationError(e, 'ADOPTION_MISMATCH')) throw e
    return { ...base, adopted: [], edited: [], refused: e.message }
  }
}
