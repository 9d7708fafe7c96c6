import type { Logger, StatusReport } from '../types.js'

/** Colours only on a terminal that wants them; stderr and stdout are asked separately. */
const paint = (stream: NodeJS.WriteStream) => (code: number) => (s: string) => (stream.isTTY && !process.env.NO_COLOR ? `\x1b[${code}m${s}\x1b[0m` : s)
const out = paint(process.stdout)
export const [green, yellow, red, dim] = [out(32), out(33), out(31), out(2)]
export const redErr = paint(process.stderr)(31)

export function table(rows: string[][]): string {
  const width = (c: string) => c.replace(/\x1b\[\d+m/g, '').length
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => width(r[i]!))))
  return rows.map((r) => r.map((c, i) => c + ' '.repeat(widths[i]! - width(c))).join('  ').trimEnd()).join('\n')
}

export function statusText(s: StatusReport): string {
  const state = (x: StatusReport['revisions'][number]) =>
    x.state === 'applied'
      ? x.checksumMismatch
        ? red('edited!')
        : green('applied')
      : x.state === 'running'
        ? red('dirty')
        : x.outOfOrder
          ? yellow('out-of-order')
          : x.phase === 'contract'
            ? yellow('pending (contract)')
            : yellow('pending')
  const contract = s.revisions.filter((x) => x.state === 'pending' && x.phase === 'contract').map((x) => x.id)
  const rows = [
    ['id', 'name', 'state', 'applied at', 'ms', 'applied by'],
    ...s.revisions.map((x) => [x.id, x.source ? x.name : `${x.name} ${dim('(not in this code)')}`, state(x), x.appliedAt ?? '', x.durationMs?.toString() ?? '', x.appliedBy ?? '']),
  ]
  const t = s.takeover
  const takeover = !t
    ? ''
    : t.refused
      ? `\n${red(`the first run will refuse to take over ${t.tool}'s history (${t.table}): ${t.refused}`)}`
      : `\n${t.tool}'s history (${t.table}) is taken over on the first run: ${t.adopted.length} revision(s) recorded as applied without running` +
        (t.edited.length ? yellow(`; changed since ${t.tool} applied them: ${t.edited.join(', ')}`) : '')
  return `${table(rows)}\n\ncurrent ${s.current ?? 'none'}, head ${s.head ?? 'none'}, ${s.pending.length} pending${contract.length ? ` (contract: ${contract.join(', ')}: applied by \`up --contract\`)` : ''}${s.dirty.length ? red(`, dirty: ${s.dirty.join(', ')}`) : ''}${takeover}`
}

/** A progress line shown in place on a terminal: cleared before any other line is written to stderr. */
let live = false
export function liveLine(text: string) {
  process.stderr.write(`\r\x1b[K${text}`)
  live = true
}
export function clearLive() {
  if (live) process.stderr.write('\r\x1b[K')
  live = false
}
/** A whole line on stderr. */
export function errLine(text: string) {
  clearLive()
  process.stderr.write(`${text}\n`)
}

/** One JSON object per line on stderr: logs and events in --json mode, so stdout stays one document. */
export const jsonLine = (o: Record<string, unknown>) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...o })}\n`)

/**
 * The CLI's logger: lines on stderr (JSON lines with --json), never on stdout, which carries the data.
 * The final error is printed once by the CLI, so the migrator's own line for it (it carries a `code`) is left out.
 */
export function cliLogger(json: boolean): Logger {
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, message: string) => {
      if (level === 'error' && fields.code !== undefined) return
      if (level === 'debug' && !process.env.BOOT_MIGRATE_DEBUG) return
      const { name: _name, ...rest } = fields
      if (json) jsonLine({ level, message, ...rest })
      else errLine(`[boot-migrate] ${level === 'warn' || level === 'error' ? `${level}: ` : ''}${message}`)
    }
  // A `child` makes the migrator pass (fields, message), as to pino.
  const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger }
  return logger as unknown as Logger
}
