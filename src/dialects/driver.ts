import { MigrationError, messageOf } from '../errors.js'

/**
 * Optional peer dependencies are imported on first use, each by a function of its dialect's `*-driver.ts` written
 *
 *   try { return driverOf(await import('postgres')) } catch (e) { throw driverMissing('postgres', 'PostgreSQL', e) }
 *
 * A literal specifier is what a bundler follows (`import(variable)` is followed by none, so it failed in every
 * bundle), and an import lexically inside `try` is what esbuild and webpack accept when the package is not
 * installed: a warning at build time, this error at run time. Each import lives in its own dialect's file, so a
 * bundle of one dialect never references another's driver (a CommonJS build is not tree-shaken).
 */
export const driverOf = <T>(mod: unknown): T => ((mod as { default?: T }).default ?? mod) as T

export const driverMissing = (pkg: string, database: string, e: unknown): MigrationError =>
  new MigrationError('DRIVER_MISSING', `${database} needs the "${pkg}" package: npm install ${pkg.replace(/(^@[^/]+\/[^/]+|^[^@/][^/]*).*$/, '$1')} (${messageOf(e)})`, {
    cause: e,
  })
