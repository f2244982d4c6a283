// Hash functions from @synod/crypto (an allowed dependency of protocol packages: pure functions).
export { hmacSha256, sha256 } from '@synod/crypto'
