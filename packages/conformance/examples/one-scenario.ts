import { commitsWithoutQuorumToy, describeFailures, fixedLeaderToy, runScenario, scenarioByName } from '@synod/conformance'

const scenario = scenarioByName('leader-crash')!
const result = await runScenario({ factory: fixedLeaderToy, scenario, seed: 17 })
console.log(`${result.reproduce}: ${result.verdict}`)

// A toy that commits without a quorum: the checkers catch it, and the report says how to replay the run.
const broken = await runScenario({ factory: commitsWithoutQuorumToy, scenario, seed: 17 })
if (broken.verdict !== 'ok') console.log(describeFailures(broken).split('\n').slice(0, 3).join('\n'))
console.log(broken.reproduce)
