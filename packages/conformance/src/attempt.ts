import type { CommandResult } from '@synod/core'
import type { Simulation } from '@synod/transport-memory'

export type AttemptOutcome =
  | { readonly kind: 'ok'; readonly result: CommandResult }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'timeout' }

/** A client attempt against a virtual-time deadline: whichever of answer, error or timeout comes first. */
export function raceAttempt(sim: Simulation, attempt: Promise<CommandResult>, timeoutMs: number): Promise<AttemptOutcome> {
  return new Promise<AttemptOutcome>((resolve) => {
    let settled = false
    const timer = sim.schedule(Math.max(0, timeoutMs), () => {
      if (settled) return
      settled = true
      resolve({ kind: 'timeout' })
    })
    attempt.then(
      (result) => {
        if (settled) return
        settled = true
        sim.cancel(timer)
        resolve({ kind: 'ok', result })
      },
      (error: unknown) => {
        if (settled) return
        settled = true
        sim.cancel(timer)
        resolve({ kind: 'error', error })
      },
    )
  })
}
