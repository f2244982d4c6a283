export declare const DEFAULT_BUNDLE: string
export declare function bundleDaemon(out?: string): Promise<{ protocols: string[]; ms: number }>
