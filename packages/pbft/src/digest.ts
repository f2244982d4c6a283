// The one import of @synod/crypto (an allowed dependency of protocol packages: pure
// hash functions). The purity rule's pattern for the node builtin `crypto` also
// matches the package name `@synod/crypto`, hence the scoped exemption.
export { hmacSha256, sha256 } from '@synod/crypto'
