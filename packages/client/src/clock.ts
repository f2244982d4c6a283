// Time and timers for the client, through core's Clock contract (the package reaches no clock or timer
// directly). The client's timestamps are read by the nodes (signed-request timestamps, exactly-once
// sequence floors) and compared with HTTP dates: its clock counts milliseconds since the epoch.
import { type Clock, systemClock } from '@synod/core'

/** The system clock in epoch milliseconds; its timers keep the process alive (a pending request should). */
export const defaultClock: Clock = systemClock({ keepAlive: true, epoch: true })
