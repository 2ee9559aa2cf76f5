// `npm run chat`: the gateway with the example chat app at http://localhost:4000/chat/,
// both built first when needed. Without OPENAI_API_KEY or OPENAI_BASE_URL the answers come
// from the offline simulator.
process.env.CHAT_UI = 'true';
await import('./build-if-needed.mjs');
await import('../dist/main.js');
