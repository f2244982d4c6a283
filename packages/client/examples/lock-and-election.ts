import { Election, LeaseSession, Mutex, SynodClient } from '@synod/client'

// The daemon's HTTP endpoints (any node: the client follows the leader and moves past dead nodes).
const endpoints = (process.env.SYNOD_ENDPOINTS ?? '127.0.0.1:8001').split(',')
const run = Date.now().toString(36) // fresh names per run
const until = async (done: () => boolean) => {
  for (let i = 0; i < 250 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
}
const agent = async (name: string) => {
  const client = new SynodClient(endpoints)
  // A lease kept alive in the background: if this agent dies or stalls, its lock and candidacy end with it.
  return { name, client, session: await LeaseSession.open(client, { ttlSeconds: 5 }) }
}
const [a, b] = await Promise.all([agent('agent-a'), agent('agent-b')])

// One owner of a task: a lock, and a fencing token that only grows.
const lockA = new Mutex(a.session, `locks/${run}/nightly-report/`)
const lockB = new Mutex(b.session, `locks/${run}/nightly-report/`)
const tokenA = await lockA.lock()
console.log(`${a.name} owns the task`)
const waitingB = lockB.lock() // queued behind agent-a: wakes only when agent-a's key goes
// Writes guarded by the fence land only while this hold is current (a stalled ex-owner's are refused).
const write = await a.client.txn({ compare: [lockA.fence()], success: [{ op: 'put', key: `reports/${run}`, value: a.name }] })
console.log(`${a.name} fenced write applied: ${write.succeeded}`)
await lockA.unlock()
const tokenB = await waitingB
console.log(`${b.name} owns the task next; its token is larger: ${tokenB > tokenA}`)
await lockB.unlock()

// One leader among services: campaign, observe, resign.
const prefix = `elections/${run}/scheduler/`
const electionA = new Election(a.session, prefix)
const electionB = new Election(b.session, prefix)
await electionA.campaign('agent-a at 10.0.0.1')
const seen: string[] = []
const stop = new AbortController()
const observing = Election.observe(a.client, prefix, (leader) => seen.push(leader?.value ?? '(none)'), stop.signal)
const electedB = electionB.campaign('agent-b at 10.0.0.2') // waits while agent-a leads
await until(() => seen.length > 0 && electionB.key !== undefined) // (so the example prints the same each run)
console.log(`leader: ${(await Election.leader(a.client, prefix))?.value}`)
await electionA.resign() // hands over to the next in line
await electedB
console.log(`leader after resign: ${(await Election.leader(a.client, prefix))?.value}`)
await electionB.resign()
await until(() => seen.at(-1) === '(none)')
stop.abort()
await observing
console.log(`observed: ${seen.join(' -> ')}`)
await Promise.all([a.session.close(), b.session.close()])
