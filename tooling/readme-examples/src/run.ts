// Runs one example the way a reader would: node + tsx, with the workspace's
// source condition so @synod/* imports resolve to src (no build needed).
import { execFile } from 'node:child_process'

export interface RunResult {
  readonly ok: boolean
  readonly stdout: string
  /** Why it failed (exit code, signal, timeout) and its stderr; '' when ok. */
  readonly failure: string
}

export const DEFAULT_TIMEOUT_MS = 90_000

export function exampleCommand(file: string): string[] {
  return ['--conditions=@synod/source', '--import', import.meta.resolve('tsx'), file]
}

export function runExample(file: string, cwd: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RunResult> {
  // Colours would make the output depend on the environment (CI sets FORCE_COLOR).
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  delete env.FORCE_COLOR
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      exampleCommand(file),
      { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) return resolve({ ok: true, stdout, failure: '' })
        const killed = error.killed === true || error.signal === 'SIGKILL'
        const why = killed ? `did not finish within ${timeoutMs} ms` : `exited with ${error.code ?? error.signal ?? 'an error'}`
        resolve({ ok: false, stdout, failure: `${why}${stderr.trim() === '' ? '' : `; stderr:\n${stderr.trimEnd()}`}` })
      },
    )
  })
}
