// Whether a process still exists — the runner's leftover sweep and the tests' "nothing outlives the run" checks.

/** Whether process `pid` still exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
