import { defineConfig, type Options } from 'tsup'

type Plugin = NonNullable<Options['plugins']>[number]

/**
 * The CommonJS build is made as ESM chunks that tsup turns into CommonJS with sucrase, which writes
 * `await import("postgres")` as `await Promise.resolve().then(() => _interopRequireWildcard(require("postgres")))`:
 * the require() moves into an arrow function, out of the `try` around it, and esbuild and webpack then refuse to
 * bundle an app that lacks an optional driver (drizzle-orm, mysql2 …) instead of warning. So, before sucrase runs,
 * each import() of a package (a literal, bare name; never node: built-ins or our own chunks) becomes a require()
 * right where it stands, inside its try. Our loaders take a module's `default` or the module itself (driver.ts).
 * And sucrase's require() cannot load an ES module by its file URL, which is how a JS/TS revision file is imported
 * (src/revisions/load.ts): an import() of anything but a literal stays a native import(), out of sucrase's sight.
 */
const cjsImports: Plugin = {
  name: 'cjs-imports-in-place',
  renderChunk(code) {
    if (this.format !== 'cjs') return
    let out = code.replace(/\bimport\((["'])([a-z@][^"':]*)\1\)/g, 'Promise.resolve(require($1$2$1))')
    if (/\bimport\((?!["'])/.test(out))
      out = `const __importFile = new Function('url', 'return import(url)');\n${out.replace(/\bimport\((?!["'])/g, '__importFile(')}`
    return { code: out }
  },
}

// One copy of the library per format: the entry points share chunks. The CLI's shebang comes from src/cli.ts.
// drizzle-orm's adapters are imported (literal specifiers, see src/dialects/driver.ts) only when the app passes a drizzle
// `db`: it is the app's, never bundled here, as the drivers (peer dependencies, external by default) and libsql, the native
// driver @libsql/client brings (src/dialects/libsql-driver.ts).
const shared = { target: 'node20', sourcemap: false, splitting: true, external: [/^drizzle-orm(\/|$)/, 'libsql'] }

// boot-migrate/postgres, …/sqlite, …/mysql: the same API bound to one dialect, so that a bundle holds one database's code.
const library = {
  index: 'src/index.ts',
  testing: 'src/testing.ts',
  postgres: 'src/entries/postgres.ts',
  sqlite: 'src/entries/sqlite.ts',
  mysql: 'src/entries/mysql.ts',
}

export default defineConfig([
  {
    ...shared,
    entry: { ...library, cli: 'src/cli.ts' },
    format: ['esm'],
    // Stale chunks of an earlier build would ship too; each format cleans only its own files, so the two builds never race.
    clean: ['*.js', '*.d.ts'],
    dts: { entry: library },
  },
  {
    ...shared,
    entry: library,
    format: ['cjs'],
    plugins: [cjsImports],
    clean: ['*.cjs', '*.d.cts'],
    dts: { entry: library },
  },
])
