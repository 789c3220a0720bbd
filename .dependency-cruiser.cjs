/**
 * The process boundaries, checked on every `npm test` (`npm run lint:boundaries`): a folder is a process
 * boundary, and a stray import across one fails the build. See ../shared/STYLE.md, "The shape".
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'contract-is-a-leaf',
      comment: 'The contract owns the plain types it exposes; every other layer conforms to it, never the reverse.',
      severity: 'error',
      from: { path: '^electron/contract/' },
      to: { pathNot: '^electron/contract/' },
    },
    {
      name: 'renderer-sees-only-the-contract',
      comment: 'The renderer talks to the app through the contract alone (lib/api.ts); main-side code must not leak into it.',
      severity: 'error',
      from: { path: '^renderer/' },
      to: { path: '^electron/', pathNot: '^electron/contract/' },
    },
    {
      name: 'core-is-pure',
      comment: 'The routing core is pure TypeScript: no Node built-ins, no Electron, no llama.cpp, no drivers or services.',
      severity: 'error',
      from: { path: '^electron/core/' },
      to: { pathNot: '^electron/(core|contract)/' },
    },
    {
      name: 'only-the-inference-host-loads-llama',
      comment: 'node-llama-cpp is loaded only in the inference host process, so a native crash takes down nothing else.',
      severity: 'error',
      from: { path: '^electron/', pathNot: '^electron/inference/' },
      to: { path: 'node_modules/(node-llama-cpp|@node-llama-cpp)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'inference-knows-no-app',
      comment: 'The inference host knows the protocol and the core types, not the drivers or services that use it.',
      severity: 'error',
      from: { path: '^electron/inference/' },
      to: { path: '^electron/(drivers|services|main|server|preload)/' },
    },
    {
      name: 'drivers-know-no-app',
      comment: 'Drivers are the route’s entries; the services compose them, never the other way round.',
      severity: 'error',
      from: { path: '^electron/drivers/' },
      to: { path: '^electron/(services|main|server|preload)/' },
    },
    {
      name: 'services-know-no-adapter',
      comment: 'Services are implemented once; IPC (main), HTTP (server) and the preload are adapters over them.',
      severity: 'error',
      from: { path: '^electron/services/' },
      to: { path: '^electron/(main|server|preload)/' },
    },
    {
      name: 'server-is-not-desktop',
      comment: 'Headless mode never loads the desktop shell.',
      severity: 'error',
      from: { path: '^electron/server/' },
      to: { path: '^electron/(main|preload)/' },
    },
    {
      name: 'electron-only-in-the-shell',
      comment: 'Only the Electron main process and the preload import electron; everything else runs (and is tested) in Node.',
      severity: 'error',
      from: { path: '^electron/', pathNot: '^electron/(main|preload)/' },
      to: { path: '^electron$|node_modules/electron/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'preload-sees-only-the-contract',
      comment: 'The preload bridges exactly the contract and nothing else of main.',
      severity: 'error',
      from: { path: '^electron/preload/' },
      to: { path: '^electron/', pathNot: '^electron/(contract|preload)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^(electron|renderer)/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
