import type { Dialect } from '../dialects/dialect.js'
import type { Settings } from '../options.js'
import type { Revision } from '../revisions/revision.js'
import { TOOLS, toolOf } from '../tools/index.js'
import type { TablePlace, Tool, ToolHistory } from '../tools/tool.js'

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
