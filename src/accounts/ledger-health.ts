/**
 * Whether the ledger can write to its database, for ledger.ts: the state it reports in
 * `health()`, logged once per change, and the check of a SQLite file at each flush (see
 * ledger.ts for why nothing is written while the file is deleted or replaced).
 */
import type { Logger } from 'pino';
import type { Db } from './db/index.js';

/** Why the ledger cannot write: the SQLite file is gone or another one is at its path, or writes fail. */
export type DatabaseProblem = 'missing' | 'replaced' | 'unwritable';

export interface LedgerHealth {
  /** Undefined when the last write (or file check) went well. */
  database: DatabaseProblem | undefined;
  pendingLedgerRows: number;
}

export class DatabaseWatch {
  /** Changed through `setProblem` only, which logs the change. */
  problem: DatabaseProblem | undefined;
  /** A reopen failed and was logged: the next failures (one a flush) are not. */
  private reopenFailed = false;

  constructor(
    private readonly database: Db,
    private readonly logger: Logger,
    /** The rows waiting to be written, for the log lines. */
    private readonly pendingRows: () => number,
  ) {}

  setProblem(problem: DatabaseProblem | undefined, error?: unknown): void {
    if (problem === this.problem) return;
    this.problem = problem;
    const context = { database: problem ?? 'ok', path: this.database.file?.path, pendingLedgerRows: this.pendingRows(), err: error };
    if (problem === undefined) this.logger.info(context, 'database usable again: writing the ledger rows kept in memory');
    else if (problem === 'unwritable') this.logger.error(context, 'ledger write failed; rows kept in memory until a write succeeds');
    else this.logger.error(context, `the database file was ${problem === 'missing' ? 'deleted' : 'replaced'} while running; ledger rows are kept in memory until a database file is at the path again`);
  }

  /** Whether writes may go to the database: checks a SQLite file, reopening a new one at its path. */
  async usable(): Promise<boolean> {
    const file = this.database.file;
    if (!file) return true;
    const state = file.check();
    if (state === 'missing') {
      this.setProblem('missing');
      return false;
    }
    if (state === 'same') {
      if (this.problem === 'missing' || this.problem === 'replaced') this.setProblem(undefined);
      return true;
    }
    // Another file at the path: restored after a deletion, or put in place of ours.
    if (this.problem !== 'missing') this.setProblem('replaced');
    try {
      await file.reopen();
      this.logger.warn({ path: file.path }, 'reopened the database file now at the path');
      this.reopenFailed = false;
      this.setProblem(undefined);
      return true;
    } catch (error) {
      if (!this.reopenFailed) this.logger.error({ err: error, path: file.path }, 'could not open the database file now at the path; retrying at each flush');
      this.reopenFailed = true;
      return false;
    }
  }
}
