// How both browser tests bundle: for the browser, as one ES module in memory, from the packages'
// sources (the `@synod/source` export condition), with esbuild's own logging off (errors are thrown).
import type { BuildOptions } from 'esbuild'

export const BROWSER_BUILD = {
  bundle: true,
  platform: 'browser',
  format: 'esm',
  write: false,
  logLevel: 'silent',
  conditions: ['@synod/source'],
} as const satisfies BuildOptions
