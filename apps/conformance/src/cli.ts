#!/usr/bin/env node
// `synod-conformance`: the conformance matrix from the command line.
import { main } from './main.js'

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status
  },
  (error: unknown) => {
    process.stderr.write(`synod-conformance: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 3
  },
)
