/**
 * Configuration from the environment: defaults, upstream selection, one error listing every
 * bad variable, and the real `main` process (exit code 1 on bad config, a start-up log line
 * that never shows the key, a clean exit on SIGTERM).
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { eventually } from './helpers.js';
import { freePort, jsonLines, startMain } from './process.js';


function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('with an empty environment uses the built-in simulator on port 4000 and the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      port: 4000,
      host: undefined,
      upstream: { kind: 'simulator' },
      defaultModel: 'simulator',
      upstreamTimeoutMs: 60_000,
      upstreamIdleTimeoutMs: 30_000,
      clientStallTimeoutMs: 60_000,
      upstreamMaxRetries: 2,
      upstreamMaxEventBytes: 4_194_304,
      upstreamMaxBodyBytes: 33_554_432,
      simulatorTokenDelayMs: 40,
      logLevel: 'info',
      chatUi: false,
      logPrompts: false,
      limits: {
        maxDepth: 6,
        maxAliases: 15,
        maxCost: 5000,
        maxTokens: 1000,
        maxDirectives: 50,
        hideSuggestions: false,
        introspection: true,
        graphiql: true,
        maxBodyBytes: 1_048_576,
        sseReservationTimeoutMs: 30_000,
        batchLimit: 0,
        allowedOrigins: [],
        trustProxy: false,
        trustedDocumentsFile: undefined,
        trustedDocumentsOnly: false,
      },
      websocket: {
        maxPayloadBytes: 1_048_576,
        connectionInitTimeoutMs: 3_000,
        maxSubscriptionsPerSocket: 100,
        maxSocketsPerClient: 100,
      },
      fallback: { models: [], upstream: undefined },
      upstreamMaxConcurrency: 1_000,
      upstreamQueueLimit: 1_000,
      upstreamQueueTimeoutMs: 10_000,
      upstreamStartsPerTurn: 16,
      compiledSubscriptions: true,
      shutdownGraceMs: 10_000,
      workers: 1,
      metrics: true,
      otlpTracesEndpoint: undefined,
      databaseUrl: 'file:./data/gateway.db',
      requireAuth: false,
      ledgerFlushMs: 1_000,
      ledgerMaxPendingRows: 100_000,
      keyCacheTtlMs: 2_000,
      modelPrices: {},
      reserveCompletionTokens: 1_024,
      unpricedModels: 'refuse',
      maxIdentifierChars: 256,
      multipartHeartbeatMs: 5_000,
      redisUrl: undefined,
      redisFailureMode: 'open',
      redisKeyPrefix: 'llmgw:',
      redisLeaseMs: 30_000,
      redisCommandTimeoutMs: 1_000,
      responseCacheTtlSeconds: 0,
      cacheScope: 'key',
      responseCacheMaxEntries: 10_000,
      responseCacheMaxBytes: 67_108_864,
      responseCacheMaxEntryBytes: 1_048_576,
    });
  });

  it('reads UNPRICED_MODELS, CLIENT_STALL_TIMEOUT_MS and MAX_IDENTIFIER_CHARS, refusing values it cannot read', () => {
    expect(loadConfig({ UNPRICED_MODELS: 'Allow', CLIENT_STALL_TIMEOUT_MS: '5000', MAX_IDENTIFIER_CHARS: '64' })).toMatchObject({
      unpricedModels: 'allow',
      clientStallTimeoutMs: 5_000,
      maxIdentifierChars: 64,
    });
    expect(() => loadConfig({ MAX_IDENTIFIER_CHARS: '8' })).toThrow(/MAX_IDENTIFIER_CHARS must be an integer from 16/);
    expect(() => loadConfig({ UNPRICED_MODELS: 'maybe' })).toThrow(/UNPRICED_MODELS must be one of refuse, allow, got "maybe"/);
    expect(() => loadConfig({ CLIENT_STALL_TIMEOUT_MS: '0' })).toThrow(/CLIENT_STALL_TIMEOUT_MS must be an integer from 1/);
  });

  it('requires gateway keys by default only in production; GATEWAY_REQUIRE_AUTH overrides it either way', () => {
    expect(loadConfig({}).requireAuth).toBe(false);
    expect(loadConfig({ NODE_ENV: 'development' }).requireAuth).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production' }).requireAuth).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', GATEWAY_REQUIRE_AUTH: 'false' }).requireAuth).toBe(false);
    expect(loadConfig({ GATEWAY_REQUIRE_AUTH: 'true' }).requireAuth).toBe(true);
  });

  it('validates LEDGER_MAX_PENDING_ROWS', () => {
    expect(loadConfig({ LEDGER_MAX_PENDING_ROWS: '10' }).ledgerMaxPendingRows).toBe(10);
    for (const bad of ['0', '-1', '1.5', 'many']) {
      expect(configError({ LEDGER_MAX_PENDING_ROWS: bad }).problems, bad).toEqual([expect.stringMatching(new RegExp(`^LEDGER_MAX_PENDING_ROWS .*"${bad.replace('.', '\\.')}"`))]);
    }
  });

  it('takes METRICS_TOKEN (unset by default), refuses a short or spaced one without quoting it', () => {
    expect(loadConfig({}).metricsToken).toBeUndefined();
    expect(loadConfig({ METRICS_TOKEN: 'a-long-enough-token-42' }).metricsToken).toBe('a-long-enough-token-42');
    for (const bad of ['short-token', 'has a space in it 123456']) {
      const problems = configError({ METRICS_TOKEN: bad }).problems;
      expect(problems).toEqual([expect.stringContaining('METRICS_TOKEN')]);
      expect(problems.join('\n')).not.toContain(bad);
    }
  });

  it('hides field suggestions by default only in production', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).limits.hideSuggestions).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', GRAPHQL_HIDE_SUGGESTIONS: 'false' }).limits.hideSuggestions).toBe(false);
  });

  it('reads the hardening settings', () => {
    const config = loadConfig({
      ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:3000',
      FALLBACK_MODELS: 'gpt-4o-mini,gpt-3.5-turbo',
      OPENAI_API_KEY: 'sk-x',
      FALLBACK_OPENAI_BASE_URL: 'http://localhost:11434/v1',
      FALLBACK_MODEL: 'llama3.1',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      GRAPHIQL: 'off',
    });
    expect(config.limits.allowedOrigins).toEqual(['https://app.example.com', 'http://localhost:3000']);
    expect(config.fallback).toEqual({
      models: ['gpt-4o-mini', 'gpt-3.5-turbo'],
      upstream: { baseURL: 'http://localhost:11434/v1', apiKey: undefined, model: 'llama3.1' },
    });
    expect(config.otlpTracesEndpoint).toBe('http://collector:4318/v1/traces');
    expect(config.limits.graphiql).toBe(false);
  });

  it('refuses fallbacks without a real upstream and booleans it cannot read', () => {
    expect(() => loadConfig({ FALLBACK_MODELS: 'gpt-4o' })).toThrow(/FALLBACK_MODELS needs a real upstream/);
    expect(() => loadConfig({ METRICS: 'maybe' })).toThrow(/METRICS must be true or false, got "maybe"/);
  });

  it('treats blank variables as unset', () => {
    const config = loadConfig({ PORT: '  ', OPENAI_API_KEY: '', LOG_LEVEL: ' ', HOST: '' });
    expect(config.port).toBe(4000);
    expect(config.upstream).toEqual({ kind: 'simulator' });
    expect(config.logLevel).toBe('info');
    expect(config.host).toBeUndefined();
  });

  it('with OPENAI_API_KEY uses OpenAI itself with default model gpt-4o-mini', () => {
    const config = loadConfig({ OPENAI_API_KEY: 'sk-test-config' });
    expect(config.upstream).toEqual({ kind: 'openai', apiKey: 'sk-test-config', baseURL: undefined });
    expect(config.defaultModel).toBe('gpt-4o-mini');
  });

  it('with only OPENAI_BASE_URL (Ollama style) uses that OpenAI-compatible server without a key', () => {
    const config = loadConfig({ OPENAI_BASE_URL: 'http://localhost:11434/v1' });
    expect(config.upstream).toEqual({ kind: 'openai', apiKey: undefined, baseURL: 'http://localhost:11434/v1' });
    expect(config.defaultModel).toBe('gpt-4o-mini');
  });

  it('lets DEFAULT_MODEL override the model used when a request names none', () => {
    expect(loadConfig({ DEFAULT_MODEL: 'llama3.2' }).defaultModel).toBe('llama3.2');
    expect(loadConfig({ OPENAI_API_KEY: 'sk-test-config', DEFAULT_MODEL: 'gpt-4.1' }).defaultModel).toBe('gpt-4.1');
  });

  it('accepts the bounds of PORT and rejects one past them', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ PORT: '65535' }).port).toBe(65_535);
    expect(configError({ PORT: '65536' }).problems).toEqual([expect.stringContaining('PORT')]);
  });

  it('rejects a base URL that is not http(s)', () => {
    expect(configError({ OPENAI_BASE_URL: 'ftp://models.example.com/v1' }).problems).toEqual([
      expect.stringContaining('OPENAI_BASE_URL'),
    ]);
  });

  it('reports every bad variable in one ConfigError', () => {
    const error = configError({
      PORT: 'abc',
      UPSTREAM_TIMEOUT_MS: '-5',
      OPENAI_BASE_URL: 'not-a-url',
      LOG_LEVEL: 'loud',
      UPSTREAM_MAX_RETRIES: '1.5',
    });

    expect(error.name).toBe('ConfigError');
    expect(error.problems).toHaveLength(5);
    for (const name of ['PORT', 'UPSTREAM_TIMEOUT_MS', 'OPENAI_BASE_URL', 'LOG_LEVEL', 'UPSTREAM_MAX_RETRIES']) {
      const mentions = error.problems.filter((p) => p.startsWith(`${name} `));
      expect(mentions, `problems naming ${name}: ${JSON.stringify(error.problems)}`).toHaveLength(1);
      expect(error.message).toContain(mentions[0]);
    }
    // Each problem quotes the offending value, so the fix is obvious from the log.
    for (const value of ['"abc"', '"-5"', '"not-a-url"', '"loud"', '"1.5"']) {
      expect(error.problems.some((p) => p.includes(value)), value).toBe(true);
    }
  });

  it('reads the advanced upstream size caps, with ranges; unset, they are 4 MiB and 32 MiB', () => {
    const config = loadConfig({ UPSTREAM_MAX_EVENT_BYTES: '1048576', UPSTREAM_MAX_BODY_BYTES: '2048' });
    expect(config.upstreamMaxEventBytes).toBe(1_048_576);
    expect(config.upstreamMaxBodyBytes).toBe(2_048);
    expect(loadConfig({}).upstreamMaxEventBytes).toBe(4_194_304);
    expect(loadConfig({}).upstreamMaxBodyBytes).toBe(33_554_432);
    let error: ConfigError | undefined;
    try {
      loadConfig({ UPSTREAM_MAX_EVENT_BYTES: '1000', UPSTREAM_MAX_BODY_BYTES: '4GB' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.problems).toEqual([
      'UPSTREAM_MAX_EVENT_BYTES must be an integer from 1024 to 1073741824, got "1000"',
      'UPSTREAM_MAX_BODY_BYTES must be an integer from 1024 to 1073741824, got "4GB"',
    ]);
  });
});

// ---------------------------------------------------------------------------
// The real process
// ---------------------------------------------------------------------------


let fake: FakeUpstream;

beforeAll(async () => {
  fake = await startFakeUpstream();
});

afterAll(async () => {
  await fake?.close();
});

// Concurrent: most of each test is Node starting up.
describe.concurrent('main process', () => {
  it('exits with code 1 and names the bad variable on stderr, without a stack trace', async ({ expect }) => {
    const run = startMain({ PORT: 'abc' });

    expect(await run.exit).toBe(1);
    expect(run.stderr).toContain('PORT');
    expect(run.stderr).toContain('"abc"');
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.stdout).not.toContain('listening');
  });

  it('exits with code 1 and a one-line reason when the port is taken, without a stack trace', async ({ expect }) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    try {
      const run = startMain({ PORT: String(address.port), HOST: '127.0.0.1' });
      expect(await run.exit).toBe(1);
      const fatal = jsonLines(run.stdout).find((l) => l['level'] === 60);
      expect(String(fatal?.['msg'])).toMatch(/could not start: .*EADDRINUSE/);
      expect(`${run.stdout}${run.stderr}`).not.toMatch(/^\s+at /m);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it('starts, logs where it listens and which upstream it uses without the key, serves /health, and exits 0 on SIGTERM', async ({ expect }) => {
    const secret = 'sk-secret-XYZ';
    const port = await freePort();
    fake.script({ fault: { kind: 'unauthorized' } });
    const run = startMain({ PORT: String(port), HOST: '127.0.0.1', OPENAI_API_KEY: secret, OPENAI_BASE_URL: fake.url });

    const isListening = (l: Record<string, unknown>): boolean => String(l['msg']).includes('listening');
    await eventually(
      () => jsonLines(run.stdout).some(isListening) || run.child.exitCode !== null,
      'a "listening" log line or the process exiting',
      30_000,
    ).catch(() => undefined); // the assertion below reports what the process wrote instead
    const listening = jsonLines(run.stdout).find(isListening);
    expect(listening, `no "listening" line; stdout: ${run.stdout}\nstderr: ${run.stderr}`).toBeDefined();
    expect(listening?.['url']).toBe(`http://127.0.0.1:${port}/graphql`);
    expect(String(listening?.['upstream'])).toContain(fake.url);
    expect(String(listening?.['msg'])).not.toContain('SIMULATOR');
    expect(listening?.['defaultModel']).toBe('gpt-4o-mini');

    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);

    // The fake answers 401 with a message quoting the key: it must reach neither the client nor the logs.
    const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { complete(input: { prompt: "hi" }) { text } }' }),
    });
    const body = await response.text();
    expect(body).toContain('UPSTREAM_AUTH_FAILED');
    expect(body).not.toContain(secret);
    expect(fake.requests.at(-1)?.headers['authorization']).toBe(`Bearer ${secret}`);

    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(jsonLines(run.stdout).some((l) => l['msg'] === 'shutting down' && l['signal'] === 'SIGTERM')).toBe(true);
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  });
});
