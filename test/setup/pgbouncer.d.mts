export declare function pgbouncerBinary(): string | undefined
export declare function startPgbouncer(
  serverUrl: string,
  settings?: Record<string, string | number>,
): Promise<{ url(database: string): string; admin: string; log(): string; stop(): Promise<void> }>
