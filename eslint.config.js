// ESLint flat config. Besides the usual TypeScript rules it enforces the one
// idea of docs/architecture.md ("The one idea"): protocol packages are deterministic, sans-I/O state
// machines. They reach time, randomness, timers and I/O only through the
// ProtocolContext the runtime hands them.
import { builtinModules } from 'node:module'
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/** Packages that are allowed to do I/O; every other folder in packages/ is a protocol. */
export const infrastructurePackages = [
  'core',
  'crypto',
  'storage',
  'kv',
  'client',
  'transport-memory',
  'transport-libp2p',
  'conformance',
]

const purityMessage = 'protocol code must be deterministic: use the ProtocolContext (docs/architecture.md, "The one idea")'

export const protocolPurityRules = {
  'no-restricted-globals': [
    'error',
    ...['Date', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'queueMicrotask',
      'process', 'performance', 'fetch', 'require', 'crypto', 'Buffer'].map((name) => ({
      name,
      message: `${name}: ${purityMessage}`,
    })),
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Math', property: 'random', message: `Math.random: ${purityMessage}` },
    { object: 'globalThis', message: `globalThis: ${purityMessage}` },
  ],
  'no-restricted-imports': [
    'error',
    {
      // Exact names for bare built-ins ('crypto', 'fs'), so packages such as '@synod/crypto' stay allowed.
      paths: builtinModules.filter((m) => !m.startsWith('_')).map((name) => ({ name, message: `node built-ins: ${purityMessage}` })),
      patterns: [{ group: ['node:*'], message: `node built-ins: ${purityMessage}` }],
    },
  ],
}

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', 'reports/**', 'bench-results/**', '**/fixtures/**', '**/.bundle/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        URL: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        performance: 'readonly',
        Buffer: 'readonly',
        structuredClone: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    ignores: infrastructurePackages.map((p) => `packages/${p}/src/**`),
    rules: protocolPurityRules,
  },
)
