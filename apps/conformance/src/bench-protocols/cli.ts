#!/usr/bin/env node
import { benchMain } from './main.js'

process.exitCode = await benchMain(process.argv.slice(2))
