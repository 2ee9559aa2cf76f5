/** Per-key limits and budgets kept in the gateway's memory (no REDIS_URL): see quota-cases.ts. */
import { quotaCases } from './quota-cases.js';

quotaCases();
