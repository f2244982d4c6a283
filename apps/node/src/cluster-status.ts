// `synod status --cluster`: one row per member — like `etcdctl endpoint
// status --cluster -w table` — gathered from each member's own /v1/status,
// with members that do not answer shown as down (and why) instead of failing.
import { formatTable } from './cluster.js'

/** What the table shows of one member. */
export interface MemberStatusRow {
  readonly id: string
  readonly http: string | null
  readonly up: boolean
  readonly role?: string
  readonly term?: number
  readonly leader?: boolean
  readonly commitIndex?: number
  readonly appliedIndex?: number
  /** How far this member's applied index is behind the highest commit index any member reported. */
  readonly lag?: number
  readonly error?: string
}

type StatusOf = (http: string) => Promise<Record<string, unknown>>

/**
 * Ask `first` (the node at --endpoint) for the membership, then every member
 * with an HTTP address for its status, in parallel. `statusOf(http)` is a
 * client call with the caller's credentials and a short timeout.
 */
export async function clusterStatus(firstHttp: string, statusOf: StatusOf): Promise<MemberStatusRow[]> {
  const first = await statusOf(firstHttp)
  const members = Array.isArray(first.members) ? (first.members as Array<{ id?: unknown; http?: unknown }>) : []
  const learners = Array.isArray(first.learners) ? (first.learners as unknown[]).filter((l): l is string => typeof l === 'string') : []
  const targets: Array<{ id: string; http: string | null }> = members.map((m) => ({ id: String(m.id), http: typeof m.http === 'string' ? m.http : null }))
  for (const id of learners) if (!targets.some((t) => t.id === id)) targets.push({ id, http: null })
  // The node we asked may not know its own HTTP address under the name we used: use the endpoint for it.
  for (const t of targets) if (t.id === first.id) t.http ??= firstHttp
  const answers = await Promise.all(
    targets.map(async (t) => {
      if (t.http === null) return { t, error: 'no HTTP address known' as string }
      try {
        return { t, status: t.id === first.id ? first : await statusOf(t.http) }
      } catch (error) {
        return { t, error: (error as Error).message.split('\n')[0]!.slice(0, 120) }
      }
    }),
  )
  const highestCommit = Math.max(0, ...answers.map((a) => ('status' in a && typeof a.status?.commitIndex === 'number' ? a.status.commitIndex : 0)))
  return answers.map(({ t, ...a }): MemberStatusRow => {
    if (!('status' in a) || a.status === undefined) return { id: t.id, http: t.http, up: false, error: 'error' in a ? a.error : 'no answer' }
    const s = a.status
    const applied = typeof s.appliedIndex === 'number' ? s.appliedIndex : undefined
    return {
      id: t.id,
      http: t.http,
      up: true,
      ...(typeof s.role === 'string' ? { role: s.role } : {}),
      ...(typeof s.term === 'number' ? { term: s.term } : {}),
      leader: s.leader === t.id,
      ...(typeof s.commitIndex === 'number' ? { commitIndex: s.commitIndex } : {}),
      ...(applied === undefined ? {} : { appliedIndex: applied, lag: highestCommit - applied }),
    }
  })
}

/** The table: member, address, up/down, role, term, commit, applied, lag (and why a member is down). */
export function formatClusterStatus(rows: readonly MemberStatusRow[]): string {
  const short = (id: string) => (id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id)
  const lines = formatTable(
    ['MEMBER', 'HTTP', 'STATE', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG'],
    rows.map((r) => [
      short(r.id),
      r.http ?? '-',
      r.up ? 'up' : 'down',
      r.up ? `${r.role ?? '?'}${r.leader === true ? ' *' : ''}` : '-',
      r.term === undefined ? '-' : String(r.term),
      r.commitIndex === undefined ? '-' : String(r.commitIndex),
      r.appliedIndex === undefined ? '-' : String(r.appliedIndex),
      r.lag === undefined ? '-' : String(r.lag),
    ]),
  )
  const down = rows.filter((r) => !r.up).map((r) => `  ${short(r.id)}: ${r.error ?? 'down'}`)
  return `${[...lines, ...(down.length === 0 ? [] : ['', 'down:', ...down])].join('\n')}\n`
}
