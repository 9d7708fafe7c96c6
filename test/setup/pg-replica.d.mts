export declare function replicaBinaries(): string | undefined
export declare function replicaSkip(): string | undefined
export declare function startPgReplica(): Promise<{ url: string; standby: string; stop(): Promise<void> }>
