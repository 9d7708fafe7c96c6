import { defineConfig } from 'tsup'

// One copy of the library per format: the entry points share chunks. The CLI's shebang comes from src/cli.ts.
const shared = { target: 'node20', sourcemap: false, splitting: true } as const

export default defineConfig([
  {
    ...shared,
    entry: { index: 'src/index.ts', testing: 'src/testing.ts', cli: 'src/cli.ts' },
    format: ['esm'],
    // Stale chunks of an earlier build would ship too; each format cleans only its own files, so the two builds never race.
    clean: ['*.js', '*.d.ts'],
    dts: { entry: { index: 'src/index.ts', testing: 'src/testing.ts' } },
  },
  {
    ...shared,
    entry: { index: 'src/index.ts', testing: 'src/testing.ts' },
    format: ['cjs'],
    clean: ['*.cjs', '*.d.cts'],
    dts: { entry: { index: 'src/index.ts', testing: 'src/testing.ts' } },
  },
])
