/** Types for build/after-pack.mjs (electron-builder loads the .mjs; tests import it). */
export interface AsarEntry {
  path: string;
  unpacked: boolean;
}
/** Every file path in an asar archive, with whether it lives in app.asar.unpacked. */
export function asarEntries(asarPath: string): AsarEntry[];
/** What is wrong with a packed app's resources folder for <os>-<arch>; empty when nothing is. */
export function packedAppProblems(resourcesDir: string, os: string, arch: string): string[];
/** electron-builder's afterPack hook. */
export default function afterPack(context: {
  appOutDir: string;
  electronPlatformName: string;
  arch: number;
  packager: { appInfo: { productFilename: string } };
}): Promise<void>;
