import { describeConformance } from '@synod/conformance/vitest'
import { raft } from '../src/index.js'

describeConformance({ factory: raft })
