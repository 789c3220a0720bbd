// Sandboxed preload: bundled to one CommonJS file by scripts/build-preload.mjs. Everything it exposes is in api.ts.
import { contextBridge, ipcRenderer } from 'electron';
import { buildApi } from './api.js';

contextBridge.exposeInMainWorld('spillway', buildApi(ipcRenderer));
