import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

/** The gateway `vite dev` sends GraphQL (HTTP and WebSocket) to. */
const GATEWAY = process.env['GATEWAY_URL'] ?? 'http://localhost:4000';

/**
 * Writes a brotli and a gzip copy beside each text file of the build, so the gateway
 * (sirv) sends them precompressed to browsers that accept them, at no cost per request.
 */
function precompress(): Plugin {
  const brotli = promisify(brotliCompress);
  const gz = promisify(gzip);
  let outDir = 'dist';
  return {
    name: 'precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async writeBundle(_options, bundle) {
      const files = Object.keys(bundle).filter((name) => /\.(js|css|html|svg|json)$/.test(name));
      await Promise.all(
        files.map(async (name) => {
          const path = join(outDir, name);
          const content = await readFile(path);
          await writeFile(`${path}.br`, await brotli(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
          await writeFile(`${path}.gz`, await gz(content, { level: 9 }));
        }),
      );
    },
  };
}

export default defineConfig({
  // The gateway serves the built app at /chat/ (CHAT_UI=true).
  base: '/chat/',
  plugins: [react(), precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Brotli at its best takes a second or two on purpose (once per build, for every
    // visitor): no warning that a plugin took most of the build.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
  server: {
    // `npm run dev -w examples/chat`: the page on Vite, GraphQL on the gateway. The Host
    // header is left as the page's, so the gateway sees a same-origin WebSocket.
    proxy: { '/graphql': { target: GATEWAY, ws: true } },
  },
});
