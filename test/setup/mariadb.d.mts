export declare const freePort: () => Promise<number>
export declare function findMariadb():
  | { server: string; kind: 'mariadb' | 'mysql'; installDb?: string; version: string }
  | { reason: string }
export declare function startMariadb(
  port?: number,
  options?: { args?: string[] },
): Promise<{ url: string; restart(): Promise<void>; stop(): Promise<void> } | undefined>
