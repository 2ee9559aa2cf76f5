// `npm start` runs compiled JS with plain node; this compiles first only when dist/ is
// missing or older than a source file, so a second start costs nothing. With CHAT_UI on,
// it builds the example chat app (examples/chat/dist) the same way.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const output = join(root, 'dist', 'main.js');

function newest(path) {
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  let latest = 0;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/** Whether `output` is missing or older than any of `inputs` (files or folders). */
function stale(output, inputs) {
  return !existsSync(output) || statSync(output).mtimeMs < Math.max(...inputs.map(newest));
}

if (stale(output, [join(root, 'src'), join(root, 'tsconfig.json')])) {
  console.error('building dist/ ...');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], {
    stdio: 'inherit',
  });
}

// The values the gateway's config reads as true (src/config/table.ts).
const chatUi = ['true', '1', 'yes', 'on'].includes((process.env.CHAT_UI ?? '').trim().toLowerCase());
const chat = join(root, 'examples', 'chat');
const chatInputs = ['src', 'index.html', 'vite.config.ts', 'package.json'].map((name) => join(chat, name));
if (chatUi && stale(join(chat, 'dist', 'index.html'), chatInputs)) {
  console.error('building examples/chat/dist/ (CHAT_UI) ...');
  // The app's own Vite (the workspace may hold another version for vitest).
  const vite = createRequire(join(chat, 'package.json')).resolve('vite');
  const { build } = await import(pathToFileURL(vite).href);
  // Vite builds for whatever NODE_ENV says (development React under NODE_ENV=development);
  // the gateway serves a production build. Restored after: `npm run chat` runs the gateway
  // in this same process, and NODE_ENV=production changes its defaults.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ root: chat, mode: 'production', logLevel: 'warn' });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
}
