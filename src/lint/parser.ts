import { MigrationError, messageOf } from '../errors.js'

/** The part of libpg-query the linter uses: PostgreSQL's own parser, compiled to WASM. */
export interface PgParser {
  parseSync(sql: string): { stmts?: Array<{ stmt: Node }> }
}

/** A node of libpg-query's AST: `{ TypeName: { …fields } }`. Typed loosely: the linter reads a few fields of a few nodes. */
export type Node = Record<string, any>

let loaded: Promise<PgParser> | undefined

/**
 * Imported on first use only, by the linter: the boot path never loads it (the package is an optional peer, a
 * devDependency in the projects that lint). A literal specifier inside `try`, as the drivers (src/dialects/driver.ts).
 */
export function loadParser(): Promise<PgParser> {
  return (loaded ??= (async () => {
    try {
      const mod = (await import('libpg-query')) as unknown as PgParser & { loadModule?: () => Promise<void>; default?: PgParser }
      await mod.loadModule?.()
      return typeof mod.parseSync === 'function' ? mod : mod.default!
    } catch (e) {
      loaded = undefined
      throw new MigrationError(
        'DRIVER_MISSING',
        `The unsafe-DDL linter needs the "libpg-query" package (PostgreSQL's parser): npm install --save-dev libpg-query (${messageOf(e)})`,
        { cause: e },
      )
    }
  })())
}
