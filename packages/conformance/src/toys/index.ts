export {
  acksBeforePersistingToy,
  commitsWithoutQuorumToy,
  CORRECT_TOY,
  divergentCommitToy,
  fixedLeaderToy,
  forgetsOnRestartToy,
  staleReadsToy,
  toyProtocol,
} from './toy-log.js'
export type { ToyFlaws } from './toy-log.js'
