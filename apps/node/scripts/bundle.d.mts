export declare const DEFAULT_BUNDLE: string
export declare const PUBLISHED_BUNDLE: string
export declare function bundleDaemon(out?: string, options?: { published?: boolean }): Promise<{ protocols: string[]; ms: number }>
