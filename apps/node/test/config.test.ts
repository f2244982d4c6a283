import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError } from '@synod/core'
import { mergeConfig, parseHostPort, readConfigFile, validateConfig } from '../src/config.js'
import { daemonProtocolOptions } from '../src/protocols.js'

const key = 'ab'.repeat(32)
const valid = {
  protocol: 'raft',
  dataDir: '/tmp/n1',
  listen: ['/ip4/127.0.0.1/tcp/7001'],
  http: '127.0.0.1:8001',
  members: [{ id: 'peerA', publicKey: key, addrs: ['/ip4/127.0.0.1/tcp/7001'], http: '127.0.0.1:8001' }],
}
const dir = mkdtempSync(join(tmpdir(), 'synod-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).field
  }
  throw new Error('expected a ConfigError')
}

describe('node configuration', () => {
  it('accepts a valid config and fills defaults', () => {
    const config = validateConfig(valid)
    expect(config.keyFile).toBe('/tmp/n1/node.key')
    expect(config.requestTimeoutMs).toBe(5000)
    expect(config.maxPendingRequests).toBe(1024)
    expect(config.logLevel).toBe('info')
    expect(config.join).toBe(false)
  })

  it('quotaBackendBytes (default 2 GiB), maxSessions and maxSessionsPerClient from the file, the environment or the flag', () => {
    expect(validateConfig(valid)).toMatchObject({ quotaBackendBytes: 2 * 1024 ** 3, maxSessions: 10_000, maxSessionsPerClient: 256 })
    expect(validateConfig({ ...valid, quotaBackendBytes: 4096 }).quotaBackendBytes).toBe(4096)
    expect(validateConfig(mergeConfig(valid, { SYNOD_QUOTA_BACKEND_BYTES: '8192', SYNOD_MAX_SESSIONS: '50' }, {}))).toMatchObject({
      quotaBackendBytes: 8192,
      maxSessions: 50,
    })
    expect(validateConfig(mergeConfig(valid, { SYNOD_QUOTA_BACKEND_BYTES: '8192' }, { quotaBackendBytes: '100' })).quotaBackendBytes).toBe(100)
    expect(fieldOf(() => validateConfig({ ...valid, quotaBackendBytes: 0 }))).toBe('quotaBackendBytes')
    expect(fieldOf(() => validateConfig({ ...valid, maxSessionsPerClient: 'many' }))).toBe('maxSessionsPerClient')
  })

  it('takes join as a boolean from the file or as SYNOD_JOIN, and nothing else', () => {
    expect(validateConfig({ ...valid, join: true }).join).toBe(true)
    expect(validateConfig(mergeConfig(valid, { SYNOD_JOIN: '1' }, {})).join).toBe(true)
    expect(validateConfig(mergeConfig(valid, { SYNOD_JOIN: 'false' }, {})).join).toBe(false)
    expect(fieldOf(() => validateConfig({ ...valid, join: 'yes' }))).toBe('join')
  })

  it('names the bad field', () => {
    expect(fieldOf(() => validateConfig({ ...valid, protocol: 'Raft!' }))).toBe('protocol')
    expect(fieldOf(() => validateConfig({ ...valid, listen: ['tcp://nope'] }))).toBe('listen[0]')
    expect(fieldOf(() => validateConfig({ ...valid, http: 'localhost' }))).toBe('http')
    expect(fieldOf(() => validateConfig({ ...valid, members: [] }))).toBe('members')
    expect(fieldOf(() => validateConfig({ ...valid, members: [{ ...valid.members[0], publicKey: 'xyz' }] }))).toBe('members[0].publicKey')
    expect(fieldOf(() => validateConfig({ ...valid, members: [{ ...valid.members[0], extra: 1 }] }))).toBe('members[0].extra')
    expect(fieldOf(() => validateConfig({ ...valid, members: [valid.members[0], valid.members[0]] }))).toBe('members[1].id')
    expect(fieldOf(() => validateConfig({ ...valid, logLevel: 'loud' }))).toBe('logLevel')
    expect(fieldOf(() => validateConfig({ ...valid, requestTimeoutMs: -5 }))).toBe('requestTimeoutMs')
    expect(fieldOf(() => validateConfig({ ...valid, maxPendingRequests: 0 }))).toBe('maxPendingRequests')
    expect(fieldOf(() => validateConfig({ ...valid, colour: 'blue' }))).toBe('colour')
  })

  it('bounds HTTP sessions: maxAuthSessions (100,000) and authSessionTtlMs (1 h), positive integers', () => {
    expect(validateConfig(valid)).toMatchObject({ maxAuthSessions: 100_000, authSessionTtlMs: 3_600_000 })
    expect(validateConfig({ ...valid, maxAuthSessions: 10, authSessionTtlMs: 60_000 })).toMatchObject({ maxAuthSessions: 10, authSessionTtlMs: 60_000 })
    expect(fieldOf(() => validateConfig({ ...valid, maxAuthSessions: 0 }))).toBe('maxAuthSessions')
    expect(fieldOf(() => validateConfig({ ...valid, authSessionTtlMs: 'long' }))).toBe('authSessionTtlMs')
  })

  it('takes maxPendingRequests from the file or SYNOD_MAX_PENDING_REQUESTS', () => {
    expect(validateConfig({ ...valid, maxPendingRequests: 64 }).maxPendingRequests).toBe(64)
    expect(validateConfig(mergeConfig(valid, { SYNOD_MAX_PENDING_REQUESTS: '128' }, {})).maxPendingRequests).toBe(128)
  })

  it("runs Raft with etcd's timing unless the config sets it", () => {
    expect(daemonProtocolOptions('raft', {})).toEqual({ heartbeatIntervalMs: 100, electionTimeoutMs: 1000 })
    expect(daemonProtocolOptions('raft', { electionTimeoutMs: 3000, preVote: true })).toEqual({
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 3000,
      preVote: true,
    })
    expect(daemonProtocolOptions('pbft', { viewChangeTimeoutMs: 500 })).toEqual({ viewChangeTimeoutMs: 500 })
  })

  it('layers file < environment < flags', () => {
    const merged = mergeConfig(valid, { SYNOD_HTTP: '127.0.0.1:9000', SYNOD_LOG_LEVEL: 'debug' }, { logLevel: 'warn', protocol: undefined })
    const config = validateConfig(merged)
    expect(config.http).toBe('127.0.0.1:9000')
    expect(config.logLevel).toBe('warn')
    expect(config.protocol).toBe('raft')
    expect(validateConfig(mergeConfig(valid, { SYNOD_LISTEN: '/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2' }, {})).listen).toHaveLength(2)
  })

  it('reports unreadable and invalid files clearly', () => {
    expect(() => readConfigFile(join(dir, 'missing.json'))).toThrow(/cannot read config file .*ENOENT/)
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '{ "protocol": ')
    expect(() => readConfigFile(bad)).toThrow(/not valid JSON/)
    const list = join(dir, 'list.json')
    writeFileSync(list, '[]')
    expect(() => readConfigFile(list)).toThrow(/must hold a JSON object/)
    const good = join(dir, 'good.json')
    writeFileSync(good, JSON.stringify({ ...valid, dataDir: 'data' }))
    const { raw, baseDir } = readConfigFile(good)
    expect(validateConfig(raw, baseDir).dataDir).toBe(join(dir, 'data'))
  })

  it('parses host:port', () => {
    expect(parseHostPort('127.0.0.1:80', 'http')).toEqual({ host: '127.0.0.1', port: 80 })
    expect(() => parseHostPort('127.0.0.1:99999', 'http')).toThrow(ConfigError)
  })
})
