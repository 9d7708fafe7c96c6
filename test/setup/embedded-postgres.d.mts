export declare const freePort: () => Promise<number>
export declare function startEmbeddedPostgres(
  port?: number,
  options?: { settings?: Record<string, string | number> },
): Promise<{ url: string; restart(): Promise<void>; stop(): Promise<void> }>
