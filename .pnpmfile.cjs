// Hooks for pnpm (>= 10.28). beforePacking shapes the package.json that goes
// into a tarball on `pnpm pack` / `pnpm publish`; the package.json in the
// repository stays as it is.
//
// The lockfile records this file's checksum: after editing it, run `pnpm install` and commit the lockfile.
//
// devDependencies name private workspace tooling (@synod/bench-kit,
// @synod/tsconfig, @synod/protocol-test-kit, ...) that is never published, and
// scripts only make sense inside the monorepo: neither belongs in a published
// manifest. tooling/publish-check checks the published manifests.
/* global module */
module.exports = {
  hooks: {
    beforePacking(pkg) {
      delete pkg.devDependencies
      delete pkg.scripts
      return pkg
    },
  },
}
