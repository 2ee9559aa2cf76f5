/**
 * What the ledger tests open, each closed after every test (gateways and fake upstreams
 * first, then ledgers, then their databases), and the ledger they drive by hand.
 */
import { afterEach } from 'vitest';
import { openDatabase, type Db } from '../src/accounts/db/index.js';
import { Ledger } from '../src/accounts/ledger.js';
import { createLogger } from '../src/observability/logger.js';
import type { FakeUpstream } from './fake-upstream.js';
import type { TestGateway } from './helpers.js';

export interface LedgerHarness {
  /** Push what a test starts itself; it is closed after the test. */
  open: { gateways: TestGateway[]; fakes: FakeUpstream[]; ledgers: Ledger[]; dbs: Db[] };
  database: (url: string) => Promise<Db>;
  /**
   * A ledger whose timer never fires in a test: it flushes when the test says so, and counts
   * as dead 300 ms after its last flush.
   */
  manualLedger: (db: Db) => Ledger;
}

export function useLedgerHarness(): LedgerHarness {
  const open: LedgerHarness['open'] = { gateways: [], fakes: [], ledgers: [], dbs: [] };
  afterEach(async () => {
    for (const gw of open.gateways.splice(0)) await gw.stop();
    for (const fake of open.fakes.splice(0)) await fake.close();
    for (const ledger of open.ledgers.splice(0)) await ledger.close().catch(() => undefined);
    for (const db of open.dbs.splice(0)) await db.close().catch(() => undefined);
  });
  return {
    open,
    database: async (url) => {
      const db = await openDatabase(url);
      open.dbs.push(db);
      return db;
    },
    manualLedger: (db) => {
      const ledger = new Ledger(db, createLogger('silent'), { flushIntervalMs: 3_600_000, maxPendingRows: 1000, staleAfterMs: 300 });
      open.ledgers.push(ledger);
      return ledger;
    },
  };
}
