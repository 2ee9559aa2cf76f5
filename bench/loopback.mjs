/**
 * Preloaded into the Portkey gateway (`node --import ./bench/loopback.mjs …`): its
 * start-server.js calls @hono/node-server's serve({ port }) with no hostname, which would
 * listen on every interface. This pins every TCP listen in that process to 127.0.0.1, so
 * the peer runs on loopback only, as the benchmark requires.
 */
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): replace or insert the host.
    const host = args[1];
    if (typeof host === 'string') args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  } else if (first && typeof first === 'object' && !Array.isArray(first) && 'port' in first) {
    args[0] = { ...first, host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
