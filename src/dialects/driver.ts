import { MigrationError, messageOf } from '../errors.js'

/** Imports an optional peer dependency on first use, so a bundle carries only the driver it needs. */
const loaded = new Map<string, unknown>()

export async function loadDriver<T>(pkg: string, database: string): Promise<T> {
  if (loaded.has(pkg)) return loaded.get(pkg) as T
  try {
    const mod = (await import(pkg)) as { default?: T }
    loaded.set(pkg, mod.default ?? mod)
    return (mod.default ?? mod) as T
  } catch (e) {
    throw new MigrationError('DRIVER_MISSING', `${database} needs the "${pkg}" package: npm install ${pkg} (${messageOf(e)})`, { cause: e })
  }
}
