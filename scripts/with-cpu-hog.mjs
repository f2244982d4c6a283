#!/usr/bin/env node
// Runs a command beside a CPU hog: one busy-looping process per core, at the
// same priority as the command, for as long as the command runs. CI runs the
// README's test command this way (issue 20: the suite went red when other work
// shared the machine), so a test that depends on wall-clock speed fails here
// first. Evidence that the hog really ran: the CPU seconds each hog process
// consumed, read from /proc before it is killed, are printed at the end (and
// the run fails if the hogs got none — a hog that silently did not run would
// make the "loaded" run an ordinary one).
//
//   node scripts/with-cpu-hog.mjs [--hogs N] -- <command> [args…]
//
// Exit status: the command's, or 1 if the hogs did not run.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

const argv = process.argv.slice(2)
const dash = argv.indexOf('--')
if (dash < 0 || dash === argv.length - 1) {
  console.error('usage: node scripts/with-cpu-hog.mjs [--hogs N] -- <command> [args…]')
  process.exit(2)
}
const options = argv.slice(0, dash)
const command = argv.slice(dash + 1)
let hogCount = availableParallelism()
for (let i = 0; i < options.length; i++) {
  if (options[i] === '--hogs' && /^\d+$/.test(options[i + 1] ?? '')) hogCount = Number(options[++i])
  else {
    console.error(`with-cpu-hog: unknown option ${options[i]}`)
    process.exit(2)
  }
}

// A busy loop that never yields; it ends when killed (or, as a safety net, after 3 hours).
const BUSY = 'const end = Date.now() + 3 * 3600e3; while (Date.now() < end) {}'
const hogs = Array.from({ length: hogCount }, () => spawn(process.execPath, ['-e', BUSY], { stdio: 'ignore' }))

/** CPU seconds (user + system) a process has consumed, from /proc/<pid>/stat; undefined where there is no /proc. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the command name; clock ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

function stopHogs() {
  const used = hogs.map((hog) => (hog.pid === undefined ? undefined : cpuSeconds(hog.pid)))
  for (const hog of hogs) hog.kill('SIGKILL')
  return used
}

console.log(`with-cpu-hog: ${hogCount} busy processes (pids ${hogs.map((h) => h.pid).join(', ')}) beside: ${command.join(' ')}`)
const started = Date.now()
const child = spawn(command[0], command.slice(1), { stdio: 'inherit' })
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    child.kill(signal)
    stopHogs()
  })
}
child.on('error', (error) => {
  console.error(`with-cpu-hog: cannot start ${command[0]}: ${error.message}`)
  stopHogs()
  process.exit(127)
})
child.on('exit', (code, signal) => {
  const used = stopHogs()
  const wall = (Date.now() - started) / 1000
  const shown = used.map((s) => (s === undefined ? '?' : `${s.toFixed(0)} s`)).join(', ')
  console.log(`with-cpu-hog: the command ran ${wall.toFixed(0)} s; the hogs used ${shown} of CPU`)
  const measured = used.filter((s) => s !== undefined)
  if (measured.length > 0 && wall > 10 && measured.every((s) => s < 1)) {
    console.error('with-cpu-hog: the hogs used no CPU — this was not a loaded run')
    process.exit(1)
  }
  process.exit(code ?? (signal === null ? 1 : 128))
})
