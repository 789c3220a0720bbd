// Lets node's test runner import Svelte 5 rune modules (`*.svelte.ts`): strip the types with esbuild, then
// compile the runes with Svelte's own compiler, exactly as Vite does for the app.
import { register } from 'node:module';

register('./svelte-loader.mjs', import.meta.url);
