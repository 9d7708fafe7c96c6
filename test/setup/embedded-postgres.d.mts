export declare const freePort: () => Promise<number>
export declare function startEmbeddedPostgres(port?: number): Promise<{ url: string; stop(): Promise<void> }>
