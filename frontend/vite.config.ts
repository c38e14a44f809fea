import { fileURLToPath, URL } from 'node:url'

import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'

// The API server during `npm run dev` (start one with `trafficatlas demo`).
const apiTarget = process.env.TRAFFICATLAS_API ?? 'http://127.0.0.1:8650'

export default defineConfig({
  plugins: [vue()],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  build: {
    // Served by the Python package (src/trafficatlas/web/mount.py).
    outDir: fileURLToPath(new URL('../src/trafficatlas/web/dist', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': { target: apiTarget, ws: true, changeOrigin: false },
      '/metrics': { target: apiTarget },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
    restoreMocks: true,
  },
})
