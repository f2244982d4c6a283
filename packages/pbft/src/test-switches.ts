/**
 * Test-only switches that turn one defence off, so a test can show that the attack it stops
 * succeeds without it (the package's rule for testing defences). Not exported from the package
 * entry; never set outside tests.
 */
export const unsafeTestSwitches = {
  /** Take a fetched batch body for a wanted slot even when it does not hash to the wanted digest. */
  skipBatchDigestCheck: false,
  /** Take a state chunk without checking it against the manifest's chunk digest. */
  skipChunkDigestCheck: false,
  /** Restore commit markers without the commits they were counted on (as before docs/adr/0032): after a restart no commit certificate of those slots can be served. */
  forgetStoredCommits: false,
  /** Re-send restored votes on every status of a peer that has not executed them, without the three-round bound. */
  unboundedRevote: false,
}
